//! FIT Field's side: a real device (its outbox full) syncing with a real fit-server on loopback
//! through the product's own sync client, exactly as the app does.

use std::sync::Mutex;
use std::time::Instant;

use anyhow::Context;
use fit_core::ids::TeamId;
use fit_device::Device;
use fit_device::sync::{SyncClient, SyncConfig};
use fit_localhost::LiveServer;
use fit_server::secret_hash;
use fit_server::store::sqlite::SqliteStore;
use fit_server::store::{CitizenProfile, ServerStore};

use crate::peer::{Counts, Proxy};
use crate::records::{Template, new_device};

/// One run: a fresh server, the full device pushes, a fresh device pulls, then syncs again.
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    pub push_seconds: f64,
    pub pull_seconds: f64,
    pub noop_requests: u32,
    /// Bytes and requests on the wire, when the run went through the counting proxy.
    pub counted: Option<Counted>,
}

#[derive(Debug, Clone, Copy)]
pub struct Counted {
    pub push: Counts,
    pub pull: Counts,
    pub noop: Counts,
}

/// Puts the template's worker and citizens on `store`, as the administrator's commands do.
pub async fn seed<S: ServerStore>(store: &S, template: &Template, now_ms: u64) -> anyhow::Result<()> {
    let team = TeamId::from(uuid::Uuid::now_v7());
    store.create_team(team, "Bostøtten Nord".into()).await?;
    store.create_worker(template.worker, team, "Medarbejder".into()).await?;
    for (n, citizen) in template.citizens.iter().enumerate() {
        store.create_citizen(*citizen, team, CitizenProfile::adult(&format!("Borger {n:03}")), now_ms).await?;
        store.assign(*citizen, template.worker, now_ms).await?;
    }
    Ok(())
}

async fn enroll(
    client: &SyncClient,
    device: &Mutex<Device>,
    store: &SqliteStore,
    template: &Template,
    url: &str,
) -> anyhow::Result<()> {
    let code = uuid::Uuid::now_v7().simple().to_string();
    let now = crate::now_ms();
    store.create_enrollment_code(secret_hash(&code), template.worker, now, now + 3_600_000).await?;
    client.enroll(device, url, &code, None).await?;
    Ok(())
}

/// One run over loopback; through the counting proxy when `bench_dir` is given.
pub async fn run_once(template: &Template, counting_with: Option<&std::path::Path>) -> anyhow::Result<Measured> {
    let server = LiveServer::start(|_| {}).await?;
    seed(&server.store, template, crate::now_ms()).await?;
    let mut proxy = match counting_with {
        Some(bench_dir) => Some(Proxy::start(bench_dir, server.addr.port()).await?),
        None => None,
    };
    let url = proxy.as_ref().map_or_else(|| server.url(), |p| p.url());
    let client = SyncClient::new(SyncConfig::default())?;
    let dirs = tempfile::tempdir()?;

    let full = Mutex::new(template.copy_device(&dirs.path().join("full"))?);
    enroll(&client, &full, &server.store, template, &url).await?;
    take(&mut proxy).await?;
    let started = Instant::now();
    client.sync_now(&full, |_| {}).await.context("push")?;
    let push_seconds = started.elapsed().as_secs_f64();
    let push = take(&mut proxy).await?;
    let pending = lock(&full).sync_counters()?.pending_changes;
    anyhow::ensure!(pending == 0, "{pending} changes still pending after the push");

    let fresh = Mutex::new(new_device(&dirs.path().join("fresh"))?);
    enroll(&client, &fresh, &server.store, template, &url).await?;
    take(&mut proxy).await?;
    let mut received = 0;
    let started = Instant::now();
    client.sync_now(&fresh, |p| received = p.received).await.context("pull")?;
    let pull_seconds = started.elapsed().as_secs_f64();
    let pull = take(&mut proxy).await?;
    anyhow::ensure!(received >= template.n as u64, "the fresh device received {received} of {} changes", template.n);

    let noop_requests = client.sync_now(&fresh, |_| {}).await.context("no-op sync")?;
    let noop = take(&mut proxy).await?;
    if let Some(proxy) = proxy {
        proxy.stop().await?;
    }
    drop(server.stop().await);
    let counted = match (push, pull, noop) {
        (Some(push), Some(pull), Some(noop)) => Some(Counted { push, pull, noop }),
        _ => None,
    };
    Ok(Measured { push_seconds, pull_seconds, noop_requests, counted })
}

async fn take(proxy: &mut Option<Proxy>) -> anyhow::Result<Option<Counts>> {
    match proxy {
        Some(proxy) => Ok(Some(proxy.take().await?)),
        None => Ok(None),
    }
}

fn lock(device: &Mutex<Device>) -> std::sync::MutexGuard<'_, Device> {
    device.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
