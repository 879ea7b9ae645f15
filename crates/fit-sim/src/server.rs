//! The simulated server: the real router (`fit_server::app`) over the real SQLite store, called
//! in process with `oneshot`, so every request goes through the same layers, checks and store
//! as over HTTP. It can restart (drop the store, open the same file) and crash inside a batch
//! transaction (the request runs, but the database comes back as it was before it).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, header};
use fit_device::sync::{Get, Post, Reply};
use fit_server::AppState;
use fit_server::rules::token::TokenPolicy;
use fit_server::store::sqlite::SqliteStore;
use tower::ServiceExt;

use crate::SimResult;

/// The URL devices are enrolled with; every request to it goes to this server.
pub(crate) const SERVER_URL: &str = "sim://server";

pub(crate) struct SimServer {
    dir: PathBuf,
    /// Which database file is current: a crash inside a transaction continues on a copy taken
    /// before it.
    generation: u32,
    store: Option<SqliteStore>,
    router: Option<Router>,
    now_ms: Arc<AtomicU64>,
}

/// Tokens rotate every half hour of simulated time, so every run rotates them many times under
/// its faults (lost answers, late and doubled requests, crashes). The interval stays above the
/// longest a request is delayed (`network::IN_FLIGHT_MAX_MS`), as the real one (a week) is far
/// above a client's timeout: a request with a token two rotations old is never under way.
const TOKENS: TokenPolicy = TokenPolicy { rotate_after_ms: 30 * 60 * 1000, grace_ms: 60 * 60 * 1000 };

impl SimServer {
    pub fn start(dir: PathBuf, now_ms: Arc<AtomicU64>) -> SimResult<SimServer> {
        let mut server = SimServer { dir, generation: 0, store: None, router: None, now_ms };
        server.open()?;
        Ok(server)
    }

    fn path(&self, generation: u32) -> PathBuf {
        self.dir.join(format!("server-{generation}.db"))
    }

    fn open(&mut self) -> SimResult<()> {
        let store = SqliteStore::open(&self.path(self.generation)).map_err(|e| format!("server open: {e:#}"))?;
        let mut state = AppState::new(store.clone()).map_err(|e| format!("server state: {e:#}"))?;
        let now = self.now_ms.clone();
        state.now_ms = Arc::new(move || now.load(Ordering::SeqCst));
        state.tokens = TOKENS;
        self.router = Some(fit_server::app(state));
        self.store = Some(store);
        Ok(())
    }

    pub fn store(&self) -> SimResult<&SqliteStore> {
        self.store.as_ref().ok_or_else(|| "the server is down".to_owned())
    }

    /// The server's HTTP side, to deliver a request to.
    pub fn router(&self) -> SimResult<Router> {
        self.router.clone().ok_or_else(|| "the server is down".to_owned())
    }

    /// Stops the server between requests and starts it again on the same database file.
    pub fn restart(&mut self) -> SimResult<()> {
        self.router = None;
        self.store = None;
        self.open()
    }

    /// Before a request to a server that will die inside the request's transaction: a copy of
    /// the database as it is (`VACUUM INTO` while the writer is idle), which `crash` goes back
    /// to, as SQLite's recovery leaves it when a transaction never commits.
    pub fn snapshot(&self) -> SimResult<()> {
        let conn = rusqlite::Connection::open(self.path(self.generation)).map_err(|e| e.to_string())?;
        let before = self.path(self.generation + 1);
        let target = before.to_str().ok_or("a temporary path that is not UTF-8")?;
        conn.execute("VACUUM INTO ?1", [target]).map_err(|e| format!("snapshot: {e}"))?;
        Ok(())
    }

    /// The server dies and starts again on the copy of the last `snapshot`.
    pub fn crash(&mut self) -> SimResult<()> {
        self.router = None;
        self.store = None;
        self.generation += 1;
        self.open()
    }
}

/// Delivers a GET (the scale packs) through the whole router, with the token and the tag the
/// device holds, as `Http` sends it.
pub(crate) async fn deliver_get(router: Router, path: &str, get: &Get) -> SimResult<Reply> {
    let mut request =
        Request::builder().method("GET").uri(path).header(header::AUTHORIZATION, format!("Bearer {}", get.token));
    if let Some(tag) = &get.if_none_match {
        request = request.header(header::IF_NONE_MATCH, format!("\"{tag}\""));
    }
    let request = request.body(Body::empty()).map_err(|e| e.to_string())?;
    read(router.oneshot(request).await).await
}

/// Delivers a request through the whole router, with the body as the device's client sends it
/// (compressed when large), and reads the reply as a transport would.
pub(crate) async fn deliver(router: Router, path: &str, post: &Post) -> SimResult<Reply> {
    let mut request = Request::builder().method("POST").uri(path).header(header::CONTENT_TYPE, "application/json");
    if let Some(token) = &post.token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let (encoding, body) = post.wire_body().map_err(|e| e.to_string())?;
    if let Some(encoding) = encoding {
        request = request.header(header::CONTENT_ENCODING, encoding);
    }
    let request = request.body(Body::from(body)).map_err(|e| e.to_string())?;
    read(router.oneshot(request).await).await
}

/// Reads a reply as a transport would.
async fn read(response: Result<axum::response::Response, std::convert::Infallible>) -> SimResult<Reply> {
    let Ok(response) = response;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .map(Duration::from_secs);
    let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.map_err(|e| e.to_string())?;
    Ok(Reply { status, retry_after, body: body.to_vec() })
}
