//! The network shell around `app`: the server's own accept loop over HTTP/1.1, optionally behind
//! TLS (rustls), with what keeps slow and hostile clients from starving the devices of a
//! municipality: a cap on open connections, in all and per address (the excess closed at once,
//! so the process never runs out of file descriptors and one client cannot take them all), a header-read timeout (which also closes a kept-alive connection
//! left idle), a deadline for a whole request with its body, a cap on requests under way (`503
//! server.busy`), and per-address and per-token rate limits on enroll and sync (`429
//! rate.limited`). In process (fit-sim) the router runs without this shell.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
pub use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tower::ServiceExt;

use crate::store::ServerStore;
use crate::{ApiError, AppState, app, bearer};

/// How much the server takes from the network before it sheds. Rates are requests a minute
/// (that many at once, then one every 60/n s); 0 turns a limit off.
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// Time for a request's headers to arrive; also how long a kept-alive connection may sit
    /// idle before its next request, and the time for a TLS handshake.
    pub header_timeout: Duration,
    /// Time for a whole request, its body included, from its headers to the answer.
    pub request_timeout: Duration,
    /// Open connections; the excess are closed as soon as they are accepted.
    pub max_connections: usize,
    /// Open connections from one address (an IPv6 /64 as one), so one client cannot take them
    /// all; 0 turns it off (behind a proxy, whose connections all come from one address).
    pub max_connections_per_ip: usize,
    /// Requests under way; the excess get `503 server.busy` with Retry-After.
    pub max_in_flight: usize,
    /// Enrollments a minute from one address (an IPv6 /64 counts as one).
    pub enroll_per_ip: u32,
    /// Syncs a minute from one address: generous, since a municipality's devices may share one.
    pub sync_per_ip: u32,
    /// Syncs a minute with one token: a device back-filling a large caseload pulls page after page.
    pub sync_per_token: u32,
}

impl Default for NetConfig {
    fn default() -> NetConfig {
        NetConfig {
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            max_connections: 512,
            max_connections_per_ip: 64,
            max_in_flight: 128,
            enroll_per_ip: 10,
            sync_per_ip: 600,
            sync_per_token: 120,
        }
    }
}

impl NetConfig {
    /// Limits no test or benchmark on one machine reaches, with the timeouts kept: for
    /// harnesses that hammer the server from 127.0.0.1 with many devices.
    pub fn generous() -> NetConfig {
        NetConfig {
            max_connections: 4096,
            max_connections_per_ip: 0,
            max_in_flight: 4096,
            enroll_per_ip: 0,
            sync_per_ip: 0,
            sync_per_token: 0,
            ..NetConfig::default()
        }
    }
}

impl NetConfig {
    /// Refuses a configuration that would refuse everything: a zero timeout or cap.
    pub fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(!self.header_timeout.is_zero(), "the header timeout must be at least a second");
        anyhow::ensure!(!self.request_timeout.is_zero(), "the request timeout must be at least a second");
        anyhow::ensure!(self.max_connections > 0, "at least one connection must be allowed");
        anyhow::ensure!(self.max_in_flight > 0, "at least one request under way must be allowed");
        Ok(())
    }
}

/// What the shell refused since the server started: rising counts are an overload or an attack.
#[derive(Debug, Default)]
pub struct Shed {
    /// Connections closed at once because the cap was reached.
    pub connections: AtomicU64,
    /// Requests answered `503 server.busy`.
    pub busy: AtomicU64,
    /// Requests answered `429 rate.limited`.
    pub rate_limited: AtomicU64,
    /// Requests answered `408 request.timeout`.
    pub timed_out: AtomicU64,
}

/// Reads a PEM certificate chain and private key into a TLS acceptor for HTTP/1.1.
pub fn tls_acceptor(cert: &Path, key: &Path) -> anyhow::Result<TlsAcceptor> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .with_context(|| format!("cannot read the certificate chain in {}", cert.display()))?;
    anyhow::ensure!(!chain.is_empty(), "no certificate in {}", cert.display());
    let key = PrivateKeyDer::from_pem_file(key).with_context(|| format!("cannot read the key in {}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("the certificate and the key do not make a TLS identity")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Serves `app(state)` on `listener`, over TLS when `tls` is given, until `shutdown` completes;
/// then stops accepting, closes idle connections and finishes the requests under way.
pub async fn serve_with<S: ServerStore>(
    listener: TcpListener,
    state: AppState<S>,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let config = state.net.clone();
    let shed = state.shed.clone();
    let router = shell(app(state), &config, shed.clone());
    let connections = Arc::new(Semaphore::new(config.max_connections));
    let per_address = Arc::new(PerAddress::new(config.max_connections_per_ip));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    accept_failed(&error).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let place = per_address.take(peer.ip());
        let (Ok(permit), Some(place)) = (connections.clone().try_acquire_owned(), place) else {
            // Closed now, unanswered: holding it would spend a descriptor on a client we cannot serve.
            shed.connections.fetch_add(1, Ordering::Relaxed);
            drop(stream);
            continue;
        };
        let accepted = Accepted { stream, peer, router: router.clone(), tls: tls.clone(), watcher: graceful.watcher() };
        tokio::spawn(accepted.serve(config.header_timeout, (permit, place)));
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// A connection taken under the cap, with what it is served with.
struct Accepted {
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    router: Router,
    tls: Option<TlsAcceptor>,
    watcher: hyper_util::server::graceful::Watcher,
}

impl Accepted {
    /// Serves the connection to its end; `_places` hold its places under the caps until then.
    async fn serve(self, header_timeout: Duration, _places: (tokio::sync::OwnedSemaphorePermit, Place)) {
        let Accepted { stream, peer, router, tls, watcher } = self;
        // Answers are small and one per request: sent at once, not held back for more to write.
        let _ = stream.set_nodelay(true);
        let Some(tls) = tls else {
            return connection(stream, peer, router, header_timeout, watcher).await;
        };
        // A failed or stalled handshake (plain HTTP to the TLS port, a scanner) ends here.
        if let Ok(Ok(stream)) = tokio::time::timeout(header_timeout, tls.accept(stream)).await {
            connection(stream, peer, router, header_timeout, watcher).await;
        }
    }
}

/// Open connections per address, for the per-address cap.
struct PerAddress {
    max: usize,
    open: std::sync::Mutex<std::collections::HashMap<IpAddr, usize>>,
}

/// A connection's place under its address's cap, given back when dropped.
struct Place {
    key: Option<IpAddr>,
    of: Arc<PerAddress>,
}

impl PerAddress {
    fn new(max: usize) -> PerAddress {
        PerAddress { max, open: std::sync::Mutex::default() }
    }

    /// A place for one more connection from `ip`, or `None` when its address has all it may.
    fn take(self: &Arc<PerAddress>, ip: IpAddr) -> Option<Place> {
        if self.max == 0 {
            return Some(Place { key: None, of: self.clone() });
        }
        let key = address_key(ip);
        let mut open = self.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = open.entry(key).or_insert(0);
        (*count < self.max).then(|| {
            *count += 1;
            Place { key: Some(key), of: self.clone() }
        })
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let Some(key) = self.key else { return };
        let mut open = self.of.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = open.get_mut(&key) {
            *count -= 1;
            if *count == 0 {
                open.remove(&key);
            }
        }
    }
}

/// An accept that failed: out of descriptors, wait a moment for some to close instead of spinning.
async fn accept_failed(error: &std::io::Error) {
    tracing::warn!(error = %error, "accept failed");
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// One HTTP/1.1 connection: the peer's address goes with each request (for the rate limits).
async fn connection<IO: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    io: IO,
    peer: SocketAddr,
    router: Router,
    header_timeout: Duration,
    watcher: hyper_util::server::graceful::Watcher,
) {
    let service = hyper::service::service_fn(move |mut request: Request<hyper::body::Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        router.clone().oneshot(request.map(axum::body::Body::new))
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(header_timeout);
    let connection = builder.serve_connection(TokioIo::new(io), service);
    // A connection cut by a timeout or by the client is no fault of the server's.
    let _ = watcher.watch(connection).await;
}

/// The shell's layers around the router, outermost first: rate limits, the cap on requests
/// under way, the request deadline.
fn shell(router: Router, config: &NetConfig, shed: Arc<Shed>) -> Router {
    let limits = Arc::new(RateLimits::new(config));
    let in_flight = Arc::new(Semaphore::new(config.max_in_flight));
    let deadline = config.request_timeout;
    let (shed_deadline, shed_busy, shed_rate) = (shed.clone(), shed.clone(), shed);
    router
        .layer(axum::middleware::from_fn(move |request: Request, next: Next| {
            within_deadline(deadline, shed_deadline.clone(), request, next)
        }))
        .layer(axum::middleware::from_fn(move |request: Request, next: Next| {
            with_slot(in_flight.clone(), shed_busy.clone(), request, next)
        }))
        .layer(axum::middleware::from_fn(move |request: Request, next: Next| {
            within_rate(limits.clone(), shed_rate.clone(), request, next)
        }))
}

/// A request that has not been answered within the deadline (a body trickled in) is answered
/// `408` and its connection closed, since its body was not read to the end.
async fn within_deadline(deadline: Duration, shed: Arc<Shed>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(deadline, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            shed.timed_out.fetch_add(1, Ordering::Relaxed);
            let mut response = ApiError::Timeout.into_response();
            let close = axum::http::HeaderValue::from_static("close");
            response.headers_mut().insert(axum::http::header::CONNECTION, close);
            response
        }
    }
}

async fn with_slot(slots: Arc<Semaphore>, shed: Arc<Shed>, request: Request, next: Next) -> Response {
    match slots.try_acquire_owned() {
        Ok(_slot) => next.run(request).await,
        Err(_) => {
            shed.busy.fetch_add(1, Ordering::Relaxed);
            ApiError::Busy.into_response()
        }
    }
}

async fn within_rate(limits: Arc<RateLimits>, shed: Arc<Shed>, request: Request, next: Next) -> Response {
    match limits.check(&request) {
        Ok(()) => next.run(request).await,
        Err(error) => {
            shed.rate_limited.fetch_add(1, Ordering::Relaxed);
            error.into_response()
        }
    }
}

/// Keyed GCRA limiters (governor); `None` where the configuration turns a limit off.
struct RateLimits {
    enroll_per_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    sync_per_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    sync_per_token: Option<DefaultKeyedRateLimiter<[u8; 32]>>,
}

/// Keys kept before the idle ones are dropped: a flood of random tokens must not grow memory.
const KEYS_BEFORE_CLEANUP: usize = 65_536;

impl RateLimits {
    fn new(config: &NetConfig) -> RateLimits {
        fn limiter<K: std::hash::Hash + Eq + Clone>(per_minute: u32) -> Option<DefaultKeyedRateLimiter<K>> {
            NonZeroU32::new(per_minute).map(|n| governor::RateLimiter::dashmap(Quota::per_minute(n)))
        }
        RateLimits {
            enroll_per_ip: limiter(config.enroll_per_ip),
            sync_per_ip: limiter(config.sync_per_ip),
            sync_per_token: limiter(config.sync_per_token),
        }
    }

    /// Whether `request` is within its limits: enroll by address; sync and scale packs by
    /// address, then by token (hashed: the limiter keeps no token). Other paths and requests with no known peer
    /// (in process) are not limited here.
    fn check(&self, request: &Request) -> Result<(), ApiError> {
        let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|info| address_key(info.0.ip()));
        match request.uri().path() {
            "/api/v1/enroll" => peer.map_or(Ok(()), |ip| admit(self.enroll_per_ip.as_ref(), &ip)),
            // Scale packs are fetched with the device's token too, and share sync's allowance.
            "/api/v1/sync" | "/api/v1/scale-packs" => {
                peer.map_or(Ok(()), |ip| admit(self.sync_per_ip.as_ref(), &ip))?;
                match bearer(request.headers()) {
                    Some(token) => admit(self.sync_per_token.as_ref(), &Sha256::digest(token.as_bytes()).into()),
                    None => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }
}

/// Takes one request from `key`'s allowance, or says when the next one will be taken.
fn admit<K: std::hash::Hash + Eq + Clone>(
    limiter: Option<&DefaultKeyedRateLimiter<K>>,
    key: &K,
) -> Result<(), ApiError> {
    let Some(limiter) = limiter else { return Ok(()) };
    if limiter.len() > KEYS_BEFORE_CLEANUP {
        limiter.retain_recent();
    }
    limiter.check_key(key).map_err(|not_until| {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        // Whole seconds, rounded up, at least one: Retry-After has no fractions.
        ApiError::RateLimited { retry_after_s: (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1) }
    })
}

/// An IPv4 address as it is; an IPv6 address by its /64, which one client usually holds whole.
fn address_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        v4 @ IpAddr::V4(_) => v4,
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_client_counts_by_its_64_and_a_mapped_ipv4_as_itself() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(other));
        let mapped: IpAddr = "::ffff:10.0.0.7".parse().unwrap();
        assert_eq!(address_key(mapped), "10.0.0.7".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn past_the_allowance_a_key_is_told_when_to_come_back() {
        let limiter = governor::RateLimiter::dashmap(Quota::per_minute(NonZeroU32::new(2).unwrap()));
        let key: IpAddr = "10.0.0.7".parse().unwrap();
        assert!(admit(Some(&limiter), &key).is_ok());
        assert!(admit(Some(&limiter), &key).is_ok());
        match admit(Some(&limiter), &key) {
            // One request every 30 s comes back: the wait is up to 30 s, in whole seconds.
            Err(ApiError::RateLimited { retry_after_s }) => assert!((1..=30).contains(&retry_after_s)),
            other => panic!("expected a rate limit, got {other:?}"),
        }
        let other: IpAddr = "10.0.0.8".parse().unwrap();
        assert!(admit(Some(&limiter), &other).is_ok(), "another address has its own allowance");
        assert!(admit(None::<&DefaultKeyedRateLimiter<IpAddr>>, &key).is_ok(), "a limit turned off");
    }

    #[test]
    fn unreadable_tls_files_are_refused_with_the_file_named() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert, "not a certificate").unwrap();
        std::fs::write(&key, "not a key").unwrap();
        let error = tls_acceptor(&cert, &key).err().unwrap();
        assert!(format!("{error:#}").contains("cert.pem"), "{error:#}");
        let missing = tls_acceptor(&dir.path().join("none.pem"), &key).err().unwrap();
        assert!(format!("{missing:#}").contains("none.pem"), "{missing:#}");
    }
}
