//! A real fit-server on 127.0.0.1:0 with its SQLite store in a temporary directory (or over any
//! other store), stopped gracefully.

use std::net::SocketAddr;
use std::sync::Arc;

use fit_server::AppState;
use fit_server::net::{NetConfig, TlsAcceptor};
use fit_server::store::ServerStore;
use fit_server::store::sqlite::SqliteStore;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// A running server over a store of kind `S` (SQLite by default). Dropping it stops it.
#[derive(Debug)]
pub struct LiveServer<S: ServerStore = SqliteStore> {
    pub addr: SocketAddr,
    pub store: S,
    shutdown: Arc<Notify>,
    task: Option<JoinHandle<std::io::Result<()>>>,
    dir: Option<tempfile::TempDir>,
}

impl LiveServer<SqliteStore> {
    /// Starts a server; `configure` may change its state (for example the accepted protocols).
    pub async fn start(configure: impl FnOnce(&mut AppState<SqliteStore>)) -> anyhow::Result<LiveServer> {
        LiveServer::start_in(tempfile::tempdir()?, None, configure).await
    }

    /// Starts a server on the data in `dir`, on `addr` if given (a restart on the same address).
    pub async fn start_in(
        dir: tempfile::TempDir,
        addr: Option<SocketAddr>,
        configure: impl FnOnce(&mut AppState<SqliteStore>),
    ) -> anyhow::Result<LiveServer> {
        let store = SqliteStore::open(&dir.path().join("server.db"))?;
        LiveServer::start_with(store, Some(dir), addr, configure).await
    }

    /// Stops taking requests, waits for the ones under way, and hands back the data directory.
    pub async fn stop(self) -> tempfile::TempDir {
        self.shut_down().await.unwrap_or_else(|| unreachable!("a SQLite server always keeps its directory"))
    }
}

impl<S: ServerStore> LiveServer<S> {
    /// Starts a server over `store` on `addr` if given; `keep` is a directory the server's data
    /// lives in, handed back when it stops.
    pub async fn start_with(
        store: S,
        keep: Option<tempfile::TempDir>,
        addr: Option<SocketAddr>,
        configure: impl FnOnce(&mut AppState<S>),
    ) -> anyhow::Result<LiveServer<S>> {
        LiveServer::start_tls(store, keep, addr, None, configure).await
    }

    /// `start_with`, over TLS when `tls` is given (the address is then `https://localhost:port`).
    pub async fn start_tls(
        store: S,
        keep: Option<tempfile::TempDir>,
        addr: Option<SocketAddr>,
        tls: Option<TlsAcceptor>,
        configure: impl FnOnce(&mut AppState<S>),
    ) -> anyhow::Result<LiveServer<S>> {
        let mut state = AppState::new(store.clone())?;
        // Tests and benchmarks drive many devices from 127.0.0.1: limits they would trip are off
        // unless `configure` sets them (the timeouts stay).
        state.net = NetConfig::generous();
        configure(&mut state);
        let listener = TcpListener::bind(addr.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)))).await?;
        let addr = listener.local_addr()?;
        let shutdown = Arc::new(Notify::new());
        let stop = shutdown.clone();
        let task =
            tokio::spawn(fit_server::net::serve_with(listener, state, tls, async move { stop.notified().await }));
        Ok(LiveServer { addr, store, shutdown, task: Some(task), dir: keep })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops taking requests, waits for the ones under way, and hands back the directory it kept.
    pub async fn shut_down(mut self) -> Option<tempfile::TempDir> {
        self.shutdown.notify_one();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.dir.take()
    }
}

impl<S: ServerStore> Drop for LiveServer<S> {
    fn drop(&mut self) {
        self.shutdown.notify_one();
    }
}
