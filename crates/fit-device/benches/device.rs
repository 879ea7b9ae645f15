//! Device benchmarks on a real SQLCipher store with synchronous=FULL:
//! recording a response (target p99 ≤ 10 ms), a citizen's trajectory with 500 visits (≤ 20 ms),
//! and the caseload overview for 60 citizens × 200 visits (≤ 50 ms).
//! Run with `cargo bench -p fit-device --bench device`.
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use fit_core::ids::{TeamId, WorkerId};
use fit_core::response::{MarkedBy, RawAnswer, ResponseContent, ResponseInput};
use fit_device::demo::DemoSpec;
use fit_device::{Device, DeviceConfig, SystemClock};

const START_MS: u64 = 1_700_000_000_000;

/// A device with the production key costs, set up in a temporary directory, with a demo caseload.
fn device(dir: &std::path::Path, citizens: usize, visits: usize) -> Device {
    let mut device = Device::open(DeviceConfig::new(dir), Arc::new(SystemClock)).unwrap();
    device.set_up("bench-pin-2468").unwrap();
    let team: TeamId = uuid::Uuid::now_v7().into();
    let worker: WorkerId = uuid::Uuid::now_v7().into();
    device.store_mut().unwrap().set_worker(team, "Team", worker, "Worker").unwrap();
    device.load_demo(DemoSpec { citizens, visits_per_citizen: visits, seed: 42, start_ms: START_MS }).unwrap();
    device
}

fn ors() -> ResponseInput {
    let items = ["individually", "interpersonally", "socially", "overall"];
    let answers =
        items.iter().zip([57, 31, 80, 64]).map(|(i, v)| RawAnswer { item: (*i).into(), value: v.into() }).collect();
    ResponseInput {
        scale: "ors".into(),
        content: ResponseContent::Given { marked_by: MarkedBy::CitizenOnDevice, answers },
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn record_response(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut device = device(dir.path(), 1, 10);
    let citizen = device.caseload_overview().unwrap()[0].citizen.id;
    let visit = device.start_visit(citizen).unwrap();
    let mut samples = Vec::new();
    c.bench_function("record_response (SQLCipher, synchronous=FULL)", |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                let started = Instant::now();
                device.record_response(visit, ors()).unwrap();
                let took = started.elapsed();
                samples.push(took);
                total += took;
            }
            total
        })
    });
    samples.sort();
    println!(
        "record_response over {} writes: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (target p99 ≤ 10 ms)",
        samples.len(),
        percentile(&samples, 0.50).as_secs_f64() * 1e3,
        percentile(&samples, 0.99).as_secs_f64() * 1e3,
        samples.last().unwrap().as_secs_f64() * 1e3,
    );
}

fn trajectory_500_visits(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let device = device(dir.path(), 1, 500);
    let citizen = device.caseload_overview().unwrap()[0].citizen.id;
    c.bench_function("citizen_view with 500 visits (target ≤ 20 ms)", |b| {
        b.iter(|| {
            let view = device.citizen_view(citizen).unwrap();
            assert_eq!(view.trajectory.points.len(), 500);
        })
    });
}

fn caseload_60_by_200(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut device = device(dir.path(), 60, 200);
    // The first overview after a large sync computes every line; later ones read the cache and
    // recompute only the citizens that changed. Both are measured.
    let started = Instant::now();
    device.caseload_overview().unwrap();
    println!("caseload_overview 60 × 200, first after loading: {:.1} ms", started.elapsed().as_secs_f64() * 1e3);
    let citizen = device.caseload_overview().unwrap()[0].citizen.id;
    let visit = device.start_visit(citizen).unwrap();
    let mut after_visit = Vec::new();
    for _ in 0..20 {
        device.record_response(visit, ors()).unwrap();
        let started = Instant::now();
        device.caseload_overview().unwrap();
        after_visit.push(started.elapsed());
    }
    after_visit.sort();
    println!(
        "caseload_overview 60 × 200 right after a response (one line recomputed): p50 {:.2} ms, max {:.2} ms",
        percentile(&after_visit, 0.5).as_secs_f64() * 1e3,
        after_visit.last().unwrap().as_secs_f64() * 1e3
    );
    c.bench_function("caseload_overview 60 citizens × 200 visits (target ≤ 50 ms)", |b| {
        b.iter(|| {
            let overview = device.caseload_overview().unwrap();
            assert_eq!(overview.len(), 60);
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(5));
    targets = record_response, trajectory_500_visits, caseload_60_by_200
}
criterion_main!(benches);
