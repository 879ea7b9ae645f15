//! The municipal server: `app(state)` builds the router, `serve(listener, shutdown)` runs it.
//! Handlers are thin: they authenticate, check input with fit-core and fit-protocol, and call
//! the store; every refusal is a 4xx with `{code, message}`.

mod error;

use std::future::Future;

use axum::routing::get;
use axum::{Json, Router};
use fit_protocol::VersionRange;
use fit_protocol::sync::{PROTOCOL_VERSION, PROTOCOL_VERSION_MIN};
use serde::Serialize;
use tokio::net::TcpListener;

pub use error::ApiError;

/// What every handler shares.
#[derive(Debug, Clone, Default)]
pub struct AppState {}

/// The whole HTTP surface of the server.
pub fn app(state: AppState) -> Router {
    Router::new().route("/api/v1/health", get(health)).fallback(|| async { ApiError::NotFound }).with_state(state)
}

/// Serves `app` on `listener` until `shutdown` completes, then finishes the requests under way.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(state)).with_graceful_shutdown(shutdown).await
}

#[derive(Debug, Serialize)]
struct Health {
    status: &'static str,
    protocol: VersionRange,
}

async fn health() -> Json<Health> {
    Json(Health { status: "ok", protocol: VersionRange { min: PROTOCOL_VERSION_MIN, max: PROTOCOL_VERSION } })
}

#[cfg(test)]
mod tests;
