//! The simulated server: the real router (`fit_server::app`) over the real SQLite store, called
//! in process with `oneshot`, so every request goes through the same layers, checks and store
//! as over HTTP. It can restart (drop the store, open the same file) and crash inside a batch
//! transaction (the request runs, but the database comes back as it was before it).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, header};
use fit_server::AppState;
use fit_server::store::sqlite::SqliteStore;
use tower::ServiceExt;

use crate::SimResult;

/// Request bodies larger than this go zstd-compressed, as the device's sync client sends them.
const COMPRESS_FROM_BYTES: usize = 1024;

pub(crate) struct SimServer {
    dir: PathBuf,
    /// Which database file is current: a crash inside a transaction continues on a copy taken
    /// before it.
    generation: u32,
    store: Option<SqliteStore>,
    router: Option<Router>,
    now_ms: Arc<AtomicU64>,
}

/// An HTTP answer: status and body.
pub(crate) struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

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
        self.router = Some(fit_server::app(state));
        self.store = Some(store);
        Ok(())
    }

    pub fn store(&self) -> SimResult<&SqliteStore> {
        self.store.as_ref().ok_or_else(|| "the server is down".to_owned())
    }

    /// Stops the server between requests and starts it again on the same database file.
    pub fn restart(&mut self) -> SimResult<()> {
        self.router = None;
        self.store = None;
        self.open()
    }

    /// Delivers a request to a server that dies inside the request's transaction: the database
    /// after the restart is the one before the request (a copy taken with `VACUUM INTO` while
    /// the writer is idle), as SQLite's recovery leaves it when a transaction never commits.
    /// The answer is what the server would have said; the device never hears it.
    pub async fn crash_inside(&mut self, path: &str, token: &str, json: &[u8]) -> SimResult<Answer> {
        let before = self.path(self.generation + 1);
        {
            let conn = rusqlite::Connection::open(self.path(self.generation)).map_err(|e| e.to_string())?;
            let target = before.to_str().ok_or("a temporary path that is not UTF-8")?;
            conn.execute("VACUUM INTO ?1", [target]).map_err(|e| format!("snapshot: {e}"))?;
        }
        let answer = self.post(path, Some(token), json).await?;
        self.router = None;
        self.store = None;
        self.generation += 1;
        self.open()?;
        Ok(answer)
    }

    /// POSTs a JSON body through the whole router, compressed as the device client would.
    pub async fn post(&self, path: &str, token: Option<&str>, json: &[u8]) -> SimResult<Answer> {
        let router = self.router.clone().ok_or("the server is down")?;
        let mut request = Request::builder().method("POST").uri(path).header(header::CONTENT_TYPE, "application/json");
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = if json.len() > COMPRESS_FROM_BYTES {
            request = request.header(header::CONTENT_ENCODING, "zstd");
            zstd::bulk::compress(json, 3).map_err(|e| e.to_string())?
        } else {
            json.to_vec()
        };
        let request = request.body(Body::from(body)).map_err(|e| e.to_string())?;
        let Ok(response) = router.oneshot(request).await;
        let status = response.status().as_u16();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.map_err(|e| e.to_string())?;
        Ok(Answer { status, body: body.to_vec() })
    }
}
