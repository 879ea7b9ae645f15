//! The nightly burst: many devices each push a batch to fit-server at the same moment, over
//! loopback HTTP, with the body a device sends (JSON, zstd-compressed past 1 KiB) and a pull
//! page as a device asks for one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use fit_core::ids::{CitizenId, DeviceId, TeamId, WorkerId};
use fit_localhost::LiveServer;
use fit_protocol::sync::{PROTOCOL_VERSION, PULL_CHANGES_MAX};
use fit_protocol::{SyncRequest, SyncResponse};
use fit_server::secret_hash;
use fit_server::store::{CitizenProfile, ServerStore};

use crate::records::caseload_changes;

#[derive(Debug, Clone, Copy)]
pub struct BurstResult {
    pub changes_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// `devices` devices, one worker and citizen each, push `changes` changes each, all at once.
pub async fn run<S: ServerStore>(store: S, devices: usize, changes: usize) -> anyhow::Result<BurstResult> {
    let now = crate::now_ms();
    let team = TeamId::from(uuid::Uuid::now_v7());
    store.create_team(team, "Bostøtten Nord".into()).await?;
    let mut bodies = Vec::with_capacity(devices);
    for n in 0..devices {
        bodies.push(enrolled_batch(&store, team, n, changes, now).await?);
    }
    let server = LiveServer::start_with(store, None, None, |_| {}).await?;
    let url = format!("{}/api/v1/sync", server.url());
    let client =
        reqwest::Client::builder().pool_max_idle_per_host(devices).timeout(Duration::from_secs(120)).build()?;
    let gate = Arc::new(tokio::sync::Barrier::new(devices + 1));
    let mut tasks = tokio::task::JoinSet::new();
    for (token, body) in bodies {
        let (client, url, gate) = (client.clone(), url.clone(), gate.clone());
        tasks.spawn(async move {
            gate.wait().await;
            let started = Instant::now();
            let answer = client
                .post(&url)
                .bearer_auth(token)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(reqwest::header::CONTENT_ENCODING, "zstd")
                .body(body)
                .send()
                .await?
                .error_for_status()?;
            let response: SyncResponse = answer.json().await?;
            anyhow::Ok((started, Instant::now(), response.acknowledged_seq))
        });
    }
    gate.wait().await;
    let mut latencies = Vec::with_capacity(devices);
    let (mut first, mut last) = (None::<Instant>, None::<Instant>);
    while let Some(joined) = tasks.join_next().await {
        let (started, finished, acknowledged) = joined.context("a device task failed")??;
        anyhow::ensure!(acknowledged == changes as u64, "a device's batch was acknowledged up to {acknowledged}");
        latencies.push(finished.duration_since(started).as_secs_f64() * 1000.0);
        first = Some(first.map_or(started, |f| f.min(started)));
        last = Some(last.map_or(finished, |l| l.max(finished)));
    }
    drop(server.shut_down().await);
    let wall = match (first, last) {
        (Some(first), Some(last)) => last.duration_since(first).as_secs_f64(),
        _ => anyhow::bail!("no device ran"),
    };
    latencies.sort_by(f64::total_cmp);
    Ok(BurstResult {
        changes_per_second: (devices * changes) as f64 / wall,
        p50_ms: crate::percentile(&latencies, 0.50),
        p99_ms: crate::percentile(&latencies, 0.99),
    })
}

/// Device `n` with a worker and a citizen of its own, enrolled: its token and its batch of
/// `changes` changes, compressed as the device's client sends it.
async fn enrolled_batch<S: ServerStore>(
    store: &S,
    team: TeamId,
    n: usize,
    changes: usize,
    now: u64,
) -> anyhow::Result<(String, Vec<u8>)> {
    let worker = WorkerId::from(uuid::Uuid::now_v7());
    let citizen = CitizenId::from(uuid::Uuid::now_v7());
    let device = DeviceId::from(uuid::Uuid::now_v7());
    store.create_worker(worker, team, format!("Medarbejder {n}")).await?;
    store.create_citizen(citizen, team, CitizenProfile::adult(&format!("Borger {n}")), now).await?;
    store.assign(citizen, worker, now).await?;
    let code = format!("burst-code-{n}-{}", uuid::Uuid::now_v7().simple());
    let token = format!("burst-token-{n}-{}", uuid::Uuid::now_v7().simple());
    store.create_enrollment_code(secret_hash(&code), worker, now, now + 3_600_000).await?;
    store.enroll(secret_hash(&code), device, secret_hash(&token), now).await?;
    let push = caseload_changes(changes, worker, device, &[citizen], n as u64, now);
    let request = SyncRequest {
        protocol: PROTOCOL_VERSION,
        push,
        cursor: 0,
        pull_limit: u32::try_from(PULL_CHANGES_MAX).unwrap_or(u32::MAX),
        quarantined: Vec::new(),
    };
    let json = serde_json::to_vec(&request)?;
    Ok((token, zstd::bulk::compress(&json, 3)?))
}
