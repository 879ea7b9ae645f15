//! Sync benchmarks. FIT Field (a real device → fit-server, SQLite) against the CouchDB
//! replication protocol (PouchDB 9.0.0 → pouchdb-server 4.2.0, the Community Health Toolkit's
//! stack) on the same records, on loopback, in one run: push, initial pull, a sync with nothing
//! to do, bytes on the wire per record; and a nightly burst of many devices at once on SQLite
//! and PostgreSQL. Timed runs go direct; bytes and requests are counted in one more run per
//! size through the same TCP proxy for both sides (`bench/proxy.mjs`).
//!
//! Durability, both sides: the device store is SQLCipher in WAL mode with `synchronous=FULL`,
//! the server's SQLite the same, PostgreSQL with `fsync` and `synchronous_commit` on;
//! PouchDB and pouchdb-server write LevelDB with `sync: true` (`bench/durability.mjs`).

pub mod burst;
pub mod ours;
pub mod peer;
pub mod records;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// PouchDB's best batch size for push and pull on these records (bench/README.md: 250–1000 are
/// within noise, 100, its default, is clearly slower).
pub const PEER_BATCH: usize = 500;

#[derive(Debug, Clone)]
pub struct Options {
    /// Record counts for push, pull and the no-op sync.
    pub sizes: Vec<usize>,
    /// Timed runs per size and side; the table shows medians.
    pub runs: usize,
    pub burst_devices: usize,
    pub burst_changes: usize,
    /// Run the burst on PostgreSQL too (a throwaway cluster with fsync on).
    pub postgres: bool,
    /// Run the peer beside FIT Field (off only to profile FIT Field alone: no ratios).
    pub peer: bool,
    /// The folder with the Node side (peer.mjs, proxy.mjs, node_modules).
    pub bench_dir: PathBuf,
}

/// One line of bench/results.json. `ratio` is ours / peer from the same run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub scenario: String,
    pub n: usize,
    pub ours: f64,
    pub peer: Option<f64>,
    pub unit: String,
    pub ratio: Option<f64>,
}

impl Row {
    fn new(scenario: &str, n: usize, ours: f64, peer: Option<f64>, unit: &str) -> Row {
        let ratio = peer.filter(|p| *p > 0.0).map(|p| ours / p);
        Row { scenario: scenario.into(), n, ours, peer, unit: unit.into(), ratio }
    }
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The median of `values` (the mean of the middle two for an even count).
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// The nearest-rank percentile `q` (0..=1) of `sorted` values.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Runs every scenario; `progress` hears what is running.
pub async fn run(options: &Options, progress: impl Fn(&str)) -> anyhow::Result<Vec<Row>> {
    peer::check_installed(&options.bench_dir)?;
    let mut rows = Vec::new();
    let peer_server = if options.peer { Some(peer::PeerServer::start(&options.bench_dir).await?) } else { None };
    let result = sync_scenarios(options, peer_server.as_ref(), &progress, &mut rows).await;
    if let Some(peer_server) = peer_server {
        peer_server.stop().await?;
    }
    result?;

    for postgres in [false, true] {
        if postgres && !options.postgres {
            continue;
        }
        let (name, mut results) = (if postgres { "postgresql" } else { "sqlite" }, Vec::new());
        for run in 0..options.runs {
            progress(&format!(
                "burst on {name}: {} devices × {} changes, run {}",
                options.burst_devices,
                options.burst_changes,
                run + 1
            ));
            let result = if postgres {
                let cluster = fit_localhost::postgres::TempCluster::start_with(true)?;
                let url = cluster.create_database("fit_bench").await?;
                let store = fit_server::store::postgres::PgStore::connect(&url).await?;
                burst::run(store, options.burst_devices, options.burst_changes).await?
            } else {
                let dir = tempfile::tempdir()?;
                let store = fit_server::store::sqlite::SqliteStore::open(&dir.path().join("server.db"))?;
                burst::run(store, options.burst_devices, options.burst_changes).await?
            };
            results.push(result);
        }
        let n = options.burst_devices * options.burst_changes;
        let pick = |f: fn(&burst::BurstResult) -> f64| median(&results.iter().map(f).collect::<Vec<_>>());
        rows.push(Row::new(&format!("burst_{name}_throughput"), n, pick(|r| r.changes_per_second), None, "changes/s"));
        rows.push(Row::new(&format!("burst_{name}_p50"), n, pick(|r| r.p50_ms), None, "ms"));
        rows.push(Row::new(&format!("burst_{name}_p99"), n, pick(|r| r.p99_ms), None, "ms"));
    }
    Ok(rows)
}

async fn sync_scenarios(
    options: &Options,
    peer_server: Option<&peer::PeerServer>,
    progress: &impl Fn(&str),
    rows: &mut Vec<Row>,
) -> anyhow::Result<()> {
    let bench_dir = &options.bench_dir;
    for &n in &options.sizes {
        progress(&format!("{n} records: recording them on a device"));
        let template = records::Template::build(n, now_ms())?;
        let (mut ours_push, mut ours_pull, mut peer_push, mut peer_pull) = (vec![], vec![], vec![], vec![]);
        for run in 0..options.runs {
            progress(&format!("{n} records: run {} of {}", run + 1, options.runs));
            let ours = ours::run_once(&template, None).await?;
            ours_push.push(n as f64 / ours.push_seconds);
            ours_pull.push(n as f64 / ours.pull_seconds);
            let Some(peer_server) = peer_server else { continue };
            let url = peer_server.url(&format!("fit_{n}_{run}"));
            let push = peer::run(bench_dir, "push", &url, Some(&template.records), PEER_BATCH, false).await?;
            anyhow::ensure!(push.records == n as u64, "the peer pushed {} of {n} records", push.records);
            let pull = peer::run(bench_dir, "pull", &url, None, PEER_BATCH, false).await?;
            anyhow::ensure!(pull.records == n as u64, "the peer pulled {} of {n} records", pull.records);
            peer_push.push(n as f64 / push.seconds);
            peer_pull.push(n as f64 / pull.seconds);
        }
        let peer_median = |values: &[f64]| peer_server.map(|_| median(values));
        rows.push(Row::new("push", n, median(&ours_push), peer_median(&peer_push), "records/s"));
        rows.push(Row::new("pull", n, median(&ours_pull), peer_median(&peer_pull), "records/s"));

        progress(&format!("{n} records: counting bytes and requests"));
        let counted = ours::run_once(&template, Some(bench_dir)).await?.counted;
        let ours = counted.ok_or_else(|| anyhow::anyhow!("the counting run counted nothing"))?;
        let (mut push, mut pull, mut noop) = (None, None, None);
        if let Some(peer_server) = peer_server {
            let url = peer_server.url(&format!("fit_{n}_counted"));
            let counts = |run: peer::PeerRun| run.counts().ok_or_else(|| anyhow::anyhow!("the peer counted nothing"));
            push = Some(counts(peer::run(bench_dir, "push", &url, Some(&template.records), PEER_BATCH, true).await?)?);
            pull = Some(counts(peer::run(bench_dir, "pull", &url, None, PEER_BATCH, true).await?)?);
            noop = Some(counts(peer::run(bench_dir, "noop", &url, None, PEER_BATCH, true).await?)?);
        }
        let per_record = |c: peer::Counts| c.bytes() as f64 / n as f64;
        rows.push(Row::new("push_bytes_per_record", n, per_record(ours.push), push.map(per_record), "bytes"));
        rows.push(Row::new("pull_bytes_per_record", n, per_record(ours.pull), pull.map(per_record), "bytes"));
        let requests = |c: peer::Counts| c.requests as f64;
        rows.push(Row::new("noop_requests", n, requests(ours.noop), noop.map(requests), "requests"));
        rows.push(Row::new("noop_bytes", n, ours.noop.bytes() as f64, noop.map(|c| c.bytes() as f64), "bytes"));
    }
    Ok(())
}

/// The table `make bench` prints and BENCHMARKS.md shows.
pub fn table(rows: &[Row]) -> String {
    let mut out =
        String::from("| scenario | n | FIT Field | PouchDB | unit | ours/peer |\n|---|---:|---:|---:|---|---:|\n");
    for row in rows {
        let peer = row.peer.map_or("–".to_owned(), number);
        let ratio = row.ratio.map_or("–".to_owned(), |r| format!("{r:.2}"));
        out.push_str(&format!(
            "| {} | {} | {} | {peer} | {} | {ratio} |\n",
            row.scenario,
            row.n,
            number(row.ours),
            row.unit
        ));
    }
    out
}

fn number(value: f64) -> String {
    if value >= 100.0 { format!("{value:.0}") } else { format!("{value:.2}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_percentiles() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        let sorted: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&sorted, 0.5), 50.0);
        assert_eq!(percentile(&sorted, 0.99), 99.0);
        assert_eq!(percentile(&[7.0], 0.99), 7.0);
    }

    #[test]
    fn the_ratio_is_ours_over_the_peers() {
        let row = Row::new("push", 10, 3000.0, Some(1500.0), "records/s");
        assert_eq!(row.ratio, Some(2.0));
        assert_eq!(Row::new("burst", 10, 1.0, None, "ms").ratio, None);
    }
}
