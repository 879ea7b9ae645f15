//! The benchmark harness at N = 100, once, so it cannot rot: both sides move every record, the
//! table has every scenario, and a sync with nothing to do is one request.

use std::path::PathBuf;

use fit_bench::{Options, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_harness_runs_every_scenario_at_n_100() {
    let options = Options {
        sizes: vec![100],
        runs: 1,
        burst_devices: 8,
        burst_changes: 20,
        postgres: true,
        peer: true,
        bench_dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../bench"),
    };
    let rows = run(&options, |step| eprintln!("fit-bench: {step}")).await.unwrap();
    let scenarios: Vec<&str> = rows.iter().map(|r| r.scenario.as_str()).collect();
    for expected in [
        "push",
        "pull",
        "push_bytes_per_record",
        "pull_bytes_per_record",
        "noop_requests",
        "noop_bytes",
        "burst_sqlite_throughput",
        "burst_sqlite_p99",
        "burst_postgresql_throughput",
        "burst_postgresql_p99",
    ] {
        assert!(scenarios.contains(&expected), "no {expected} in {scenarios:?}");
    }
    for row in &rows {
        assert!(row.ours.is_finite() && row.ours > 0.0, "{row:?}");
        if let Some(peer) = row.peer {
            assert!(peer.is_finite() && peer > 0.0, "{row:?}");
        }
    }
    let noop = rows.iter().find(|r| r.scenario == "noop_requests").unwrap();
    assert_eq!(noop.ours, 1.0, "a sync with nothing to do is one request");
    eprintln!("{}", fit_bench::table(&rows));
}
