//! Where the engine's requests go. A `Transport` carries one POST (or one GET: the scale packs)
//! and brings back the status, the Retry-After and the body; what a reply means (the protocol's statuses and error codes) is
//! read here once, by `read_reply`, for every transport. `Http` is the transport the app ships
//! (reqwest); the simulation has one that carries requests to the server in process through a
//! network that loses, repeats and delays them.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fit_protocol::{ErrorBody, ErrorCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::SyncError;

/// Request bodies larger than this are sent zstd-compressed.
const COMPRESS_FROM_BYTES: usize = 1024;

/// One request as the engine puts it together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Post {
    pub url: String,
    /// The device's bearer token; none when enrolling.
    pub token: Option<String>,
    /// The body as JSON, before any compression.
    pub json: Vec<u8>,
    /// The server certificate (PEM) the device was enrolled with: the server must present it,
    /// and no certificate authority is trusted besides.
    pub pin: Option<String>,
}

impl Post {
    pub(crate) fn new<Q: Serialize>(url: String, token: Option<&str>, body: &Q) -> Result<Post, SyncError> {
        let json = serde_json::to_vec(body).map_err(|e| SyncError::Internal(e.to_string()))?;
        Ok(Post { url, token: token.map(str::to_owned), json, pin: None })
    }

    pub(crate) fn pinned(self, pin: Option<String>) -> Post {
        Post { pin, ..self }
    }

    /// The body as it travels, with its `Content-Encoding`. Batches are repetitive JSON: zstd
    /// makes them several times smaller on slow mobile links. Small requests go plain.
    pub fn wire_body(&self) -> Result<(Option<&'static str>, Vec<u8>), SyncError> {
        if self.json.len() <= COMPRESS_FROM_BYTES {
            return Ok((None, self.json.clone()));
        }
        let packed = zstd::bulk::compress(&self.json, 3).map_err(|e| SyncError::Internal(e.to_string()))?;
        Ok((Some("zstd"), packed))
    }
}

/// A GET as the engine puts it together: the server's scale packs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Get {
    pub url: String,
    pub token: String,
    /// The tag of the packs the device has: the server answers `304` if they are current.
    pub if_none_match: Option<String>,
    /// As `Post::pin`.
    pub pin: Option<String>,
}

/// What came back for a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub retry_after: Option<Duration>,
    pub body: Vec<u8>,
}

/// Carries requests to the server. `post` is `SyncError::Offline` when no whole reply came back
/// (no connection, a timeout, a body that broke off); any reply that did come is `Ok`, whatever
/// its status.
pub trait Transport: Clone + Send + Sync + 'static {
    fn post(&self, post: Post) -> impl Future<Output = Result<Reply, SyncError>> + Send;

    /// Carries one GET, like `post`. A transport that carries none answers
    /// `Offline`, and the device keeps the packs it has.
    fn get(&self, get: Get) -> impl Future<Output = Result<Reply, SyncError>> + Send {
        let _ = get;
        async { Err(SyncError::Offline("this transport carries no GET".into())) }
    }
}

/// The protocol's meaning of a reply: the answer on success, else the refusal it stands for.
pub(crate) fn read_reply<A: DeserializeOwned>(reply: &Reply) -> Result<A, SyncError> {
    if (200..300).contains(&reply.status) {
        // A body that arrives and is not the protocol's JSON is a proxy's page or the like.
        return serde_json::from_slice(&reply.body).map_err(|e| SyncError::Garbled(e.to_string()));
    }
    let error: Option<ErrorBody> = serde_json::from_slice(&reply.body).ok();
    let (code, message) = error.as_ref().map_or((ErrorCode::Unknown, ""), |e| (e.code, e.message.as_str()));
    Err(match (reply.status, code) {
        (_, ErrorCode::DeviceRevoked) => SyncError::Revoked,
        (422, ErrorCode::ChangeClockAhead) if let Some(clock) = error.as_ref().and_then(|e| e.clock) => {
            SyncError::ClockAhead(clock)
        }
        (_, ErrorCode::ProtocolUnsupported) => {
            let range = error.as_ref().and_then(|e| e.supported);
            SyncError::Unsupported { min: range.map_or(0, |r| r.min), max: range.map_or(0, |r| r.max) }
        }
        // A request that timed out on a slow link, a limit, a busy or failing server: later.
        (408 | 429 | 500..=599, _) => SyncError::Busy { retry_after: reply.retry_after },
        _ => SyncError::Refused { code, message: message.to_owned() },
    })
}

/// The transport over HTTPS, with a timeout on every request. Plain HTTP goes only to this
/// machine, unless `allow_plain_http` (a test network). A request with a pinned certificate
/// (`Post::pin`) goes over a client that trusts that certificate only.
#[derive(Debug, Clone)]
pub struct Http {
    client: reqwest::Client,
    timeout: Duration,
    allow_plain_http: bool,
    /// The client for the last pinned certificate, kept so its connections are reused.
    pinned: Arc<Mutex<Option<(String, reqwest::Client)>>>,
}

impl Http {
    pub fn new(timeout: Duration, allow_plain_http: bool) -> Result<Http, SyncError> {
        let client =
            reqwest::Client::builder().timeout(timeout).build().map_err(|e| SyncError::Internal(e.to_string()))?;
        Ok(Http { client, timeout, allow_plain_http, pinned: Arc::default() })
    }

    /// The client for a request: the plain one, or one that trusts only the pinned certificate.
    fn client_for(&self, pin: Option<&str>) -> Result<reqwest::Client, SyncError> {
        let Some(pem) = pin else { return Ok(self.client.clone()) };
        let mut cached = self.pinned.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((cached_pem, client)) = cached.as_ref()
            && cached_pem == pem
        {
            return Ok(client.clone());
        }
        let client = reqwest::Client::builder()
            .timeout(self.timeout)
            .tls_certs_only([read_certificate(pem)?])
            .build()
            .map_err(|e| SyncError::Internal(e.to_string()))?;
        *cached = Some((pem.to_owned(), client.clone()));
        Ok(client)
    }
}

/// A certificate to pin: the server's own (PEM), or a municipality's private CA. A certificate
/// from any public CA for the same name is then refused.
pub(crate) fn read_certificate(pem: &str) -> Result<reqwest::Certificate, SyncError> {
    if !pem.contains("-----BEGIN CERTIFICATE-----") {
        return Err(SyncError::Insecure("the server certificate is not a PEM certificate".into()));
    }
    reqwest::Certificate::from_pem(pem.as_bytes())
        .map_err(|e| SyncError::Insecure(format!("the server certificate cannot be read: {e}")))
}

/// Whether a pinned certificate can be used for `url`: only over TLS, where it is checked.
pub(crate) fn check_pin(url: &str, pem: &str) -> Result<(), SyncError> {
    read_certificate(pem)?;
    if !url.trim_start().to_ascii_lowercase().starts_with("https://") {
        return Err(SyncError::Insecure("a server certificate needs an https:// address".into()));
    }
    Ok(())
}

/// Whether the device sends to `url`: over TLS, or in plain HTTP to this machine (or anywhere
/// when `allow_plain_http`). Checked before anything is sent, so neither the data nor a token
/// crosses a network in the clear, and no answer from one (a forged revocation) is believed.
pub fn check_server_url(url: &str, allow_plain_http: bool) -> Result<(), SyncError> {
    let parsed = reqwest::Url::parse(url).map_err(|e| SyncError::Insecure(format!("not an address: {e}")))?;
    let host = parsed.host_str().unwrap_or("");
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback || allow_plain_http => Ok(()),
        "http" => Err(SyncError::Insecure(format!("http://{} is another machine", parsed.host_str().unwrap_or("")))),
        scheme => Err(SyncError::Insecure(format!("{scheme}:// is not a web address"))),
    }
}

impl Transport for Http {
    async fn get(&self, get: Get) -> Result<Reply, SyncError> {
        check_server_url(&get.url, self.allow_plain_http)?;
        let client = self.client_for(get.pin.as_deref())?;
        let mut request = client.get(&get.url).bearer_auth(&get.token);
        if let Some(tag) = &get.if_none_match {
            request = request.header(reqwest::header::IF_NONE_MATCH, format!("\"{tag}\""));
        }
        let response = request.send().await.map_err(|e| SyncError::Offline(e.without_url().to_string()))?;
        read_response(response).await
    }

    async fn post(&self, post: Post) -> Result<Reply, SyncError> {
        check_server_url(&post.url, self.allow_plain_http)?;
        let client = self.client_for(post.pin.as_deref())?;
        let (encoding, body) = post.wire_body()?;
        let mut request = client.post(&post.url).header(reqwest::header::CONTENT_TYPE, "application/json").body(body);
        if let Some(encoding) = encoding {
            request = request.header(reqwest::header::CONTENT_ENCODING, encoding);
        }
        if let Some(token) = &post.token {
            request = request.bearer_auth(token);
        }
        // The answer comes zstd-compressed when large: reqwest asks for it and unpacks it.
        let response = request.send().await.map_err(|e| SyncError::Offline(e.without_url().to_string()))?;
        read_response(response).await
    }
}

/// A response's status, Retry-After and body.
async fn read_response(response: reqwest::Response) -> Result<Reply, SyncError> {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body = match response.bytes().await {
        Ok(bytes) => bytes.to_vec(),
        // A refusal whose body broke off is still a refusal; an answer cut short is the network's doing.
        Err(_) if !(200..300).contains(&status) => Vec::new(),
        Err(e) => return Err(SyncError::Offline(e.without_url().to_string())),
    };
    Ok(Reply { status, retry_after, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_goes_only_to_this_machine() {
        for url in
            ["https://fit.kommune.dk/api/v1/sync", "http://127.0.0.1:8080", "http://localhost:3000", "http://[::1]:80"]
        {
            assert!(check_server_url(url, false).is_ok(), "{url}");
        }
        for url in
            ["http://fit.kommune.dk", "http://10.0.0.5:8080", "http://127.0.0.1.nip.io", "ftp://fit.kommune.dk", "fit"]
        {
            assert!(matches!(check_server_url(url, false), Err(SyncError::Insecure(_))), "{url}");
        }
        assert!(check_server_url("http://10.0.0.5:8080", true).is_ok(), "a test network, when allowed");
    }

    #[test]
    fn a_server_that_sheds_load_is_tried_again_after_its_retry_after() {
        for (status, code) in [(429, "rate.limited"), (503, "server.busy"), (408, "request.timeout"), (502, "")] {
            let body = format!(r#"{{"code":"{code}","message":"later"}}"#).into_bytes();
            let reply = Reply { status, retry_after: Some(Duration::from_secs(6)), body };
            match read_reply::<serde_json::Value>(&reply) {
                Err(SyncError::Busy { retry_after }) => {
                    assert_eq!(retry_after, Some(Duration::from_secs(6)), "{status}")
                }
                other => panic!("{status}: expected busy, got {other:?}"),
            }
        }
    }
}
