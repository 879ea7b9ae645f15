//! A real fit-server on 127.0.0.1:0 (`fit_localhost::LiveServer`), caseloads set up on it, and a
//! loopback relay in front of it that can lose the next answer, as a flaky network does.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use fit_core::ids::{CitizenId, TeamId, WorkerId};
use fit_server::secret_hash;
use fit_server::store::{CitizenProfile, ServerStore};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use fit_localhost::LiveServer;

/// A team with one worker and one citizen in the worker's caseload.
#[derive(Debug, Clone, Copy)]
pub struct Caseload {
    pub team: TeamId,
    pub worker: WorkerId,
    pub citizen: CitizenId,
}

pub fn new_id<T: From<uuid::Uuid>>() -> T {
    T::from(uuid::Uuid::now_v7())
}

pub async fn create_caseload<S: ServerStore>(store: &S, now_ms: u64) -> anyhow::Result<Caseload> {
    let caseload = Caseload { team: new_id(), worker: new_id(), citizen: new_id() };
    store.create_team(caseload.team, "Team Vest".into()).await?;
    store.create_worker(caseload.worker, caseload.team, "Worker".into()).await?;
    store.create_citizen(caseload.citizen, caseload.team, CitizenProfile::adult("Anna"), now_ms).await?;
    store.assign(caseload.citizen, caseload.worker, now_ms).await?;
    Ok(caseload)
}

/// A fresh one-time enrollment code for `worker`, valid for an hour.
pub async fn enrollment_code<S: ServerStore>(store: &S, worker: WorkerId, now_ms: u64) -> anyhow::Result<String> {
    let code = uuid::Uuid::now_v7().simple().to_string();
    store.create_enrollment_code(secret_hash(&code), worker, now_ms, now_ms + 3_600_000).await?;
    Ok(code)
}

/// Relays requests to `upstream`; when `lose_next_answer` is set, the next request still reaches
/// the server, but its answer is replaced by a 502, as a proxy that timed out would do.
#[derive(Debug)]
pub struct Relay {
    pub addr: SocketAddr,
    pub lose_next_answer: Arc<AtomicBool>,
    _task: JoinHandle<()>,
}

#[derive(Clone)]
struct RelayState {
    upstream: String,
    http: reqwest::Client,
    lose_next_answer: Arc<AtomicBool>,
}

impl Relay {
    pub async fn start(upstream: SocketAddr) -> anyhow::Result<Relay> {
        let lose_next_answer = Arc::new(AtomicBool::new(false));
        let state = RelayState {
            upstream: format!("http://{upstream}"),
            http: reqwest::Client::new(),
            lose_next_answer: lose_next_answer.clone(),
        };
        let app = axum::Router::new().fallback(relay).with_state(state);
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Relay { addr, lose_next_answer, _task: task })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

async fn relay(
    State(state): State<RelayState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let mut request = state.http.request(method, format!("{}{}", state.upstream, uri));
    for name in
        [axum::http::header::AUTHORIZATION, axum::http::header::CONTENT_TYPE, axum::http::header::CONTENT_ENCODING]
    {
        if let Some(value) = headers.get(&name) {
            request = request.header(name, value);
        }
    }
    let Ok(response) = request.body(body).send().await else {
        return (StatusCode::BAD_GATEWAY, Bytes::new()).into_response();
    };
    let status = response.status();
    let bytes = response.bytes().await.unwrap_or_default();
    if state.lose_next_answer.swap(false, Ordering::SeqCst) {
        return (StatusCode::BAD_GATEWAY, Bytes::new()).into_response();
    }
    (status, [(axum::http::header::CONTENT_TYPE, "application/json")], bytes).into_response()
}
