//! The municipal server: `app(state)` builds the router, `serve(listener, state, shutdown)` runs
//! it. Handlers are thin: they authenticate, check input with fit-core and fit-protocol, and call
//! the store; every refusal is a 4xx with `{code, message}` and changes nothing.

pub mod check;
mod error;
pub mod export;
pub mod net;
pub mod rules;
pub mod store;

use std::future::Future;
use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use fit_core::hlc::{Hlc, HlcClock, MAX_DRIFT_MS_DEFAULT};
use fit_core::ids::check_v7;
use fit_core::pack::Admitted;
use fit_protocol::sync::{
    BODY_BYTES_MAX, BODY_DECOMPRESSED_BYTES_MAX, ENROLLMENT_CODE_LEN_MAX, PROTOCOL_VERSION, PROTOCOL_VERSION_MIN,
    QuarantineReport,
};
use fit_protocol::{EnrollRequest, EnrollResponse, ErrorCode, SyncRequest, SyncResponse, VersionRange};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tower_http::compression::CompressionLayer;
use tower_http::decompression::RequestDecompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;

pub use error::ApiError;
use rules::packs::{Served, StoredPack};
use store::{DeviceAuth, ServerStore};

/// Milliseconds since the Unix epoch; a function so tests can set the server's time.
pub type NowMs = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The operating system's clock.
pub fn system_now() -> NowMs {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0)
    })
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState<S> {
    pub store: S,
    /// The scale packs served and checked against (`rules::packs::served`), read from the store
    /// at the first request and again whenever a sync finds their tag changed (`install-pack`
    /// runs as another process).
    pub packs: Arc<std::sync::RwLock<Option<Arc<Served>>>>,
    pub now_ms: NowMs,
    pub max_drift_ms: u64,
    /// The protocol versions this server accepts: a municipality can retire old app versions.
    pub protocols: VersionRange,
    /// Requests refused for want of a valid token or enrollment code, since the server started.
    pub refused: Arc<Refused>,
    /// Timeouts and limits of the network shell (`serve`); not used in process.
    pub net: net::NetConfig,
    /// What the network shell shed, since the server started.
    pub shed: Arc<net::Shed>,
    /// How often device tokens rotate and how long a replaced one still works.
    pub tokens: rules::token::TokenPolicy,
}

/// Counts of refused credentials: a rising count is someone guessing.
#[derive(Debug, Default)]
pub struct Refused {
    pub tokens: std::sync::atomic::AtomicU64,
    pub enrollments: std::sync::atomic::AtomicU64,
}

/// Counts and logs a refused credential: the code and the path only, never the token, the code
/// tried or anything about a person.
fn count_refusal(counter: &std::sync::atomic::AtomicU64, path: &str, error: &ApiError) {
    let count = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
    tracing::warn!(path, code = %error.code(), count, "refused credentials");
}

impl<S> std::fmt::Debug for AppState<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("max_drift_ms", &self.max_drift_ms).finish_non_exhaustive()
    }
}

impl<S: ServerStore> AppState<S> {
    /// A state over `store` with the built-in scales, the system clock and the default drift.
    pub fn new(store: S) -> anyhow::Result<AppState<S>> {
        Ok(AppState {
            store,
            packs: Arc::default(),
            now_ms: system_now(),
            max_drift_ms: MAX_DRIFT_MS_DEFAULT,
            protocols: VersionRange { min: PROTOCOL_VERSION_MIN, max: PROTOCOL_VERSION },
            refused: Arc::default(),
            net: net::NetConfig::default(),
            shed: Arc::default(),
            tokens: rules::token::TokenPolicy::default(),
        })
    }
}

/// The whole HTTP surface of the server.
pub fn app<S: ServerStore>(state: AppState<S>) -> Router {
    Router::new()
        .route("/api/v1/health", get(health::<S>))
        .route("/api/v1/enroll", post(enroll::<S>))
        .route("/api/v1/sync", post(sync::<S>))
        .route("/api/v1/scale-packs", get(scale_packs::<S>))
        .fallback(|| async { ApiError::NotFound })
        .with_state(state)
        // Inside out: the decompressed body is limited where it is read; the body on the wire is
        // limited before it is decompressed; refusals from the layers get our `{code, message}`.
        .layer(DefaultBodyLimit::max(BODY_DECOMPRESSED_BYTES_MAX))
        .layer(RequestDecompressionLayer::new().pass_through_unaccepted(false))
        .layer(RequestBodyLimitLayer::new(BODY_BYTES_MAX))
        .layer(axum::middleware::map_response(error_body_for_layers))
        .layer(CompressionLayer::new())
        .layer(TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
            // Method and path only: no query, no headers, no body (tokens and personal data stay out).
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path())
        }))
}

/// Gives the plain refusals of the layers and the router (body too large, unknown encoding, wrong
/// method) our error body.
async fn error_body_for_layers(response: axum::response::Response) -> axum::response::Response {
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/json"));
    match response.status() {
        StatusCode::PAYLOAD_TOO_LARGE if !is_json => ApiError::TooLarge.into_response(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE if !is_json => ApiError::UnsupportedEncoding.into_response(),
        StatusCode::METHOD_NOT_ALLOWED if !is_json => ApiError::MethodNotAllowed.into_response(),
        _ => response,
    }
}

/// The scale packs this server distributes (the built-in ones, each replaced by any licensed full
/// text or new version the municipality installed), as the pack files, with their tag as the
/// ETag; `304` when `If-None-Match` names the current tag.
async fn scale_packs<S: ServerStore>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
) -> Result<axum::response::Response, ApiError> {
    authenticate(&state, &headers, "/api/v1/scale-packs").await?;
    let served = refresh_packs(&state).await?;
    let etag = format!("\"{}\"", served.tag);
    let etag_value = HeaderValue::from_str(&etag).map_err(|e| ApiError::Internal(e.into()))?;
    let matches = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|tag| tag.trim().trim_start_matches("W/") == etag);
    if matches {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag_value)]).into_response());
    }
    let packs = served
        .files
        .iter()
        .map(|(_, text)| serde_json::from_str(text).map_err(|e| ApiError::Internal(e.into())))
        .collect::<Result<Vec<serde_json::Value>, _>>()?;
    Ok(([(header::ETAG, etag_value)], Json(packs)).into_response())
}

/// The packs in use: those read last, or read now at the first request.
async fn packs_in_use<S: ServerStore>(state: &AppState<S>) -> Result<Arc<Served>, ApiError> {
    let cached = state.packs.read().ok().and_then(|slot| slot.clone());
    match cached {
        Some(served) => Ok(served),
        None => refresh_packs(state).await,
    }
}

/// Reads the installed packs from the store and makes them the ones in use.
async fn refresh_packs<S: ServerStore>(state: &AppState<S>) -> Result<Arc<Served>, ApiError> {
    let installed = state.store.scale_packs().await?;
    let served = Arc::new(rules::packs::served(&installed).map_err(|e| ApiError::Internal(e.into()))?);
    if let Ok(mut slot) = state.packs.write() {
        *slot = Some(served.clone());
    }
    Ok(served)
}

/// Why `install_pack` installed nothing.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// The pack is refused by fit-core's rule: the error names the file and the field.
    #[error(transparent)]
    Pack(#[from] fit_core::PackError),
    #[error(transparent)]
    Store(#[from] store::StoreError),
}

impl InstallError {
    pub fn code(&self) -> ErrorCode {
        match self {
            InstallError::Pack(error) => ErrorCode::from(error),
            InstallError::Store(error) => error.code(),
        }
    }
}

/// `fit-server install-pack`: admits the pack `file` holds (`bytes`) into the packs served now by
/// fit-core's one rule (`ScaleSet::admit`: every check of the built-in packs, and the version
/// rules) and stores it; a pack refused, or the very pack served already, stores nothing. A
/// version installed before (and since replaced) may come back with the content it had, never
/// with other content (`pack.version_reused`). Devices receive it at their next sync.
pub async fn install_pack<S: ServerStore>(
    store: &S,
    file: &str,
    bytes: &[u8],
    now_ms: u64,
) -> Result<Admitted, InstallError> {
    let installed = store.scale_packs().await?;
    let mut served = rules::packs::served(&installed)?;
    let admitted = served.scales.admit_and_install(file, bytes)?;
    let Some(scale) = (match &admitted {
        Admitted::Unchanged => None,
        Admitted::New(code) | Admitted::Updated { code, .. } => served.scales.get(code),
    }) else {
        return Ok(admitted);
    };
    for earlier in installed.iter().filter(|p| p.code == scale.code.as_str() && p.version == scale.version) {
        let was = fit_core::pack::parse_pack(&earlier.file, earlier.pack.as_bytes())?;
        if was != *scale {
            return Err(InstallError::Pack(fit_core::PackError {
                file: file.to_owned(),
                field: "version".to_owned(),
                problem: fit_core::PackProblem::VersionReused(scale.version.clone()),
            }));
        }
    }
    let text = String::from_utf8(bytes.to_vec()).map_err(|e| {
        InstallError::Pack(fit_core::PackError {
            file: file.to_owned(),
            field: ".".to_owned(),
            problem: fit_core::PackProblem::Syntax(e.to_string()),
        })
    })?;
    let pack =
        StoredPack { code: scale.code.to_string(), version: scale.version.clone(), file: file.to_owned(), pack: text };
    store.install_pack(pack, now_ms).await?;
    Ok(admitted)
}

/// Serves `app` in plain HTTP on `listener`, with the timeouts and limits of `state.net`, until
/// `shutdown` completes, then finishes the requests under way (`net::serve_with` for TLS).
pub async fn serve<S: ServerStore>(
    listener: TcpListener,
    state: AppState<S>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    net::serve_with(listener, state, None, shutdown).await
}

/// SHA-256 in hex: tokens and enrollment codes are stored only like this.
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[derive(Debug, Serialize)]
struct Health {
    status: &'static str,
    protocol: VersionRange,
}

async fn health<S: ServerStore>(State(state): State<AppState<S>>) -> Json<Health> {
    Json(Health { status: "ok", protocol: state.protocols })
}

fn body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    body.map(|Json(value)| value).map_err(|rejection| {
        // A limit hit while the body streams in arrives wrapped in the body's own errors (the
        // decompression layer's): look for it along the chain of sources.
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&rejection);
        let mut over_limit = rejection.status() == StatusCode::PAYLOAD_TOO_LARGE;
        while let Some(error) = source {
            over_limit |= error.is::<http_body_util::LengthLimitError>();
            source = error.source();
        }
        if over_limit { ApiError::TooLarge } else { ApiError::Malformed(rejection.body_text()) }
    })
}

async fn enroll<S: ServerStore>(
    State(state): State<AppState<S>>,
    request: Result<Json<EnrollRequest>, JsonRejection>,
) -> Result<Json<EnrollResponse>, ApiError> {
    let request = body(request)?;
    check::check_protocol(request.protocol, state.protocols)?;
    if request.code.is_empty() || request.code.len() > ENROLLMENT_CODE_LEN_MAX {
        return Err(ApiError::invalid(ErrorCode::EnrollCodeInvalid, "this enrollment code is not valid"));
    }
    check_v7(request.device.as_uuid()).map_err(|e| ApiError::invalid(ErrorCode::EnrollDeviceInvalid, e.to_string()))?;
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| ApiError::Internal(anyhow::anyhow!("no randomness: {e}")))?;
    let token = hex::encode(secret);
    let now = (state.now_ms)();
    let enrolled = state
        .store
        .enroll(secret_hash(&request.code), request.device, secret_hash(&token), now)
        .await
        .map_err(ApiError::from)
        .inspect_err(|error| count_refusal(&state.refused.enrollments, "/api/v1/enroll", error))?;
    Ok(Json(EnrollResponse {
        protocol: PROTOCOL_VERSION,
        token,
        worker: enrolled.worker,
        worker_name: enrolled.worker_name,
        team: enrolled.team,
        team_name: enrolled.team_name,
    }))
}

async fn sync<S: ServerStore>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    request: axum::extract::Request,
) -> Result<Json<SyncResponse>, ApiError> {
    // The token first: a stranger's body is never decompressed or parsed. Then the version, so
    // a device that must be updated hears so whatever else is wrong with its request.
    let auth = authenticate(&state, &headers, "/api/v1/sync").await?;
    let request = body(Json::<SyncRequest>::from_request(request, &state).await)?;
    check::check_protocol(request.protocol, state.protocols)?;
    let now = (state.now_ms)();
    let clock = HlcClock::new(Hlc::ZERO, state.max_drift_ms);
    let packs = packs_in_use(&state).await?;
    let pull_limit = check::check_sync_request(&request, auth.device, &packs.scales, &clock, now, state.protocols)?;
    let reports = request.quarantined.clone();
    let mut response = state.store.sync(auth, request, pull_limit, now).await?;
    if response.packs_tag.as_ref().is_some_and(|tag| *tag != packs.tag) {
        // A pack was installed since they were read: the next request is checked against it.
        if let Err(error) = refresh_packs(&state).await {
            tracing::warn!(code = %error.code(), "the scale packs were not read again");
        }
    }
    report_quarantine(&state, auth, &reports, now).await?;
    if !response.more {
        response.wellbeing_schedule = state.store.team_schedule(auth.worker).await?;
    }
    if rules::token::rotation_due(auth.token.presented, auth.token.current_since_ms, now, &state.tokens) {
        response.new_token = next_token(&state, &headers, auth).await;
    }
    Ok(Json(response))
}

/// Changes a device pulled and could not apply reach the administrator: each in the audit log
/// (the device, the change id and the device's code; no content), and a warning in the log.
async fn report_quarantine<S: ServerStore>(
    state: &AppState<S>,
    auth: DeviceAuth,
    reports: &[QuarantineReport],
    now_ms: u64,
) -> Result<(), ApiError> {
    if reports.is_empty() {
        return Ok(());
    }
    tracing::warn!(device = %auth.device, changes = reports.len(), "a device could not apply pulled changes");
    for report in reports {
        let subject = format!("change {}: {}", report.change, report.code.as_str());
        state.store.audit(format!("device {}", auth.device), "quarantined".into(), subject, now_ms).await?;
    }
    Ok(())
}

/// The device's next token, issued once and sent again with every answer to the old token until
/// the new one is used (`rules::token`). A failure here costs only the rotation, which the next
/// sync tries again: the answer goes out without it.
async fn next_token<S: ServerStore>(state: &AppState<S>, headers: &HeaderMap, auth: DeviceAuth) -> Option<String> {
    let token = bearer(headers)?;
    let mut salt = [0u8; 32];
    getrandom::fill(&mut salt).ok()?;
    let fresh_salt = hex::encode(salt);
    let fresh_hash = secret_hash(&rules::token::next_token(&fresh_salt, token));
    match state.store.rotate_token(auth.device, secret_hash(token), fresh_salt, fresh_hash).await {
        Ok(salt) => salt.map(|salt| rules::token::next_token(&salt, token)),
        Err(error) => {
            tracing::warn!(code = %ApiError::from(error).code(), "a device token was not rotated");
            None
        }
    }
}

/// The device a request's bearer token belongs to; a missing, unknown or revoked token is
/// counted and logged.
async fn authenticate<S: ServerStore>(
    state: &AppState<S>,
    headers: &HeaderMap,
    path: &str,
) -> Result<DeviceAuth, ApiError> {
    let result = match bearer(headers) {
        Some(token) => {
            let now = (state.now_ms)();
            state.store.authenticate(secret_hash(token), now, state.tokens).await.map_err(ApiError::from)
        }
        None => Err(ApiError::Unauthorized),
    };
    result.inspect_err(|error| count_refusal(&state.refused.tokens, path, error))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let token = value.strip_prefix("Bearer ")?.trim();
    (!token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests;
