//! The municipal server: `app(state)` builds the router, `serve(listener, state, shutdown)` runs
//! it. Handlers are thin: they authenticate, check input with fit-core and fit-protocol, and call
//! the store; every refusal is a 4xx with `{code, message}` and changes nothing.

mod check;
mod error;
pub mod store;

use std::future::Future;
use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use fit_core::ScaleSet;
use fit_core::hlc::{Hlc, HlcClock, MAX_DRIFT_MS_DEFAULT};
use fit_core::ids::check_v7;
use fit_protocol::sync::{BODY_BYTES_MAX, ENROLLMENT_CODE_LEN_MAX, PROTOCOL_VERSION, PROTOCOL_VERSION_MIN};
use fit_protocol::{EnrollRequest, EnrollResponse, SyncRequest, SyncResponse, VersionRange};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;

pub use error::ApiError;
use store::ServerStore;

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
    pub scales: Arc<ScaleSet>,
    pub now_ms: NowMs,
    pub max_drift_ms: u64,
    /// The protocol versions this server accepts: a municipality can retire old app versions.
    pub protocols: VersionRange,
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
            scales: Arc::new(ScaleSet::built_in()?),
            now_ms: system_now(),
            max_drift_ms: MAX_DRIFT_MS_DEFAULT,
            protocols: VersionRange { min: PROTOCOL_VERSION_MIN, max: PROTOCOL_VERSION },
        })
    }
}

/// The whole HTTP surface of the server.
pub fn app<S: ServerStore>(state: AppState<S>) -> Router {
    Router::new()
        .route("/api/v1/health", get(health::<S>))
        .route("/api/v1/enroll", post(enroll::<S>))
        .route("/api/v1/sync", post(sync::<S>))
        .fallback(|| async { ApiError::NotFound })
        .layer(DefaultBodyLimit::max(BODY_BYTES_MAX))
        .with_state(state)
}

/// Serves `app` on `listener` until `shutdown` completes, then finishes the requests under way.
pub async fn serve<S: ServerStore>(
    listener: TcpListener,
    state: AppState<S>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(state)).with_graceful_shutdown(shutdown).await
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
    body.map(|Json(value)| value).map_err(|rejection| ApiError::Malformed(rejection.body_text()))
}

async fn enroll<S: ServerStore>(
    State(state): State<AppState<S>>,
    request: Result<Json<EnrollRequest>, JsonRejection>,
) -> Result<Json<EnrollResponse>, ApiError> {
    let request = body(request)?;
    check::check_protocol(request.protocol, state.protocols)?;
    if request.code.is_empty() || request.code.len() > ENROLLMENT_CODE_LEN_MAX {
        return Err(ApiError::invalid("enroll.code_invalid", "this enrollment code is not valid"));
    }
    check_v7(request.device.as_uuid()).map_err(|e| ApiError::invalid("enroll.device_invalid", e.to_string()))?;
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| ApiError::Internal(anyhow::anyhow!("no randomness: {e}")))?;
    let token = hex::encode(secret);
    let now = (state.now_ms)();
    let enrolled = state.store.enroll(secret_hash(&request.code), request.device, secret_hash(&token), now).await?;
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
    request: Result<Json<SyncRequest>, JsonRejection>,
) -> Result<Json<SyncResponse>, ApiError> {
    // The version first: a device that must be updated hears so whatever else is wrong.
    let request = body(request)?;
    check::check_protocol(request.protocol, state.protocols)?;
    let token = bearer(&headers).ok_or(ApiError::Unauthorized)?;
    let auth = state.store.authenticate(secret_hash(token)).await?;
    let now = (state.now_ms)();
    let clock = HlcClock::new(Hlc::ZERO, state.max_drift_ms);
    let pull_limit = check::check_sync_request(&request, auth.device, &state.scales, &clock, now, state.protocols)?;
    Ok(Json(state.store.sync(auth, request, pull_limit, now).await?))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let token = value.strip_prefix("Bearer ")?.trim();
    (!token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests;
