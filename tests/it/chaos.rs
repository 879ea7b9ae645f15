//! Chaos against the real binary: the `fit-server` process that cargo builds, on loopback, with
//! 24 devices recording visits and syncing at once (a nightly burst), killed with SIGKILL at
//! random moments a dozen times and started again on the same database and port. At the end
//! every device has synced, holds exactly its worker's caseload as the server has it, and the
//! server holds exactly the union of what the devices recorded, each response once.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fit_core::ids::{CitizenId, ResponseId, TeamId, WorkerId};
use fit_core::response::{MarkedBy, RawAnswer, ResponseContent, ResponseInput};
use fit_device::sync::{SyncClient, SyncConfig};
use fit_device::{Device, DeviceConfig, SystemClock};
use fit_protocol::{Change, ChangeBody};
use fit_server::secret_hash;
use fit_server::store::sqlite::SqliteStore;
use fit_server::store::{CitizenProfile, ServerStore};
use fit_store::{KdfCost, UnlockPolicy};
use fit_tests::app::now_ms;
use fit_tests::server::new_id;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

const WORKERS: usize = 4;
const DEVICES_PER_WORKER: usize = 6;
const CITIZENS_PER_WORKER: usize = 3;
const KILLS: usize = 12;
const PIN: &str = "864201";

/// The `fit-server` binary of the profile these tests were built in, built now if needed (cargo
/// builds a package's binaries only for its own integration tests).
fn server_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/it-<hash>
    let profile_dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
    let target_dir = profile_dir.parent().unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .args(["build", "--quiet", "-p", "fit-server", "--bin", "fit-server"])
        .env("CARGO_TARGET_DIR", target_dir)
        .current_dir(fit_tests::repo_root());
    if profile_dir.file_name().is_some_and(|name| name == "release") {
        build.arg("--release");
    }
    assert!(build.status().unwrap().success(), "cannot build fit-server");
    profile_dir.join("fit-server")
}

/// The server process, started again on the same database and port after every kill.
struct ServerProcess {
    binary: PathBuf,
    database: PathBuf,
    addr: SocketAddr,
    log: PathBuf,
    child: Option<Child>,
    http: reqwest::Client,
}

impl ServerProcess {
    async fn start(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        let child = Command::new(&self.binary)
            .arg("--database")
            .arg(&self.database)
            .args(["serve", "--listen", &self.addr.to_string()])
            // 24 tablets on one address, enrolling and syncing in a burst: no per-address or
            // per-token limits (their own tests have them).
            .args([
                "--enroll-per-ip",
                "0",
                "--sync-per-ip",
                "0",
                "--sync-per-token",
                "0",
                "--max-connections-per-ip",
                "0",
            ])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let health = format!("http://{}/api/v1/health", self.addr);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.http.get(&health).send().await.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("fit-server exited with {status}:\n{}", std::fs::read_to_string(&self.log).unwrap_or_default());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("fit-server did not answer health checks:\n{}", std::fs::read_to_string(&self.log).unwrap_or_default());
    }

    /// SIGKILL: no shutdown, no flush, whatever was under way.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

fn scale(code: &str, rng: &mut StdRng) -> ResponseInput {
    let items: &[&str] = match code {
        "ors" => &["individually", "interpersonally", "socially", "overall"],
        _ => &["relationship", "goals-and-topics", "approach-or-method", "overall"],
    };
    let answers =
        items.iter().map(|i| RawAnswer { item: (*i).into(), value: rng.random_range(0..=100).into() }).collect();
    ResponseInput {
        scale: code.into(),
        content: ResponseContent::Given { marked_by: MarkedBy::CitizenOnDevice, answers },
    }
}

/// One device: what it recorded, counted as it went.
struct Tablet {
    worker: usize,
    device: Arc<Mutex<Device>>,
    writes: AtomicU64,
    responses: Mutex<Vec<ResponseId>>,
    _dir: tempfile::TempDir,
}

/// Records visits and syncs until `stop`, as a worker's device does during a nightly burst.
/// Returns how many syncs completed and how many failed (the server down or killed mid-request).
async fn work(
    tablet: Arc<Tablet>,
    citizens: Vec<CitizenId>,
    client: SyncClient,
    stop: Arc<AtomicBool>,
    seed: u64,
) -> (u32, u32) {
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut synced, mut failed) = (0u32, 0u32);
    while !stop.load(Ordering::SeqCst) {
        {
            let citizen = citizens[rng.random_range(0..citizens.len())];
            let mut device = tablet.device.lock().unwrap();
            let visit = device.start_visit(citizen).unwrap();
            let ors = device.record_response(visit, scale("ors", &mut rng)).unwrap();
            let srs = device.record_response(visit, scale("srs", &mut rng)).unwrap();
            device.close_visit(visit).unwrap();
            tablet.writes.fetch_add(4, Ordering::SeqCst);
            tablet.responses.lock().unwrap().extend([ors, srs]);
        }
        // While the server is down the device keeps working offline; errors here are expected.
        match client.sync_now(&tablet.device, |_| {}).await {
            Ok(_) => synced += 1,
            Err(_) => failed += 1,
        }
        tokio::time::sleep(Duration::from_millis(rng.random_range(5..40))).await;
    }
    (synced, failed)
}

fn tempdir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    let builder = tempfile::Builder::new().prefix("fit-chaos-").to_owned();
    if shm.is_dir() { builder.tempdir_in(shm) } else { builder.tempdir() }.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_converge_and_nothing_is_lost_while_the_server_is_killed_again_and_again() {
    let seed = std::env::var("FIT_CHAOS_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(now_ms);
    println!("chaos seed {seed} (replay the schedule with FIT_CHAOS_SEED={seed})");
    let mut rng = StdRng::seed_from_u64(seed);
    let started = Instant::now();
    let dir = tempdir();
    let database = dir.path().join("server.db");

    // The administrator's set-up, on the database before it is served.
    let team: TeamId = new_id();
    let workers: Vec<WorkerId> = (0..WORKERS).map(|_| new_id()).collect();
    let mut caseloads: Vec<Vec<CitizenId>> = Vec::new();
    let mut codes = Vec::new();
    {
        let store = SqliteStore::open(&database).unwrap();
        store.create_team(team, "Bostøtten Nat".into()).await.unwrap();
        for (w, worker) in workers.iter().enumerate() {
            store.create_worker(*worker, team, format!("Medarbejder {w}")).await.unwrap();
            let mut caseload = Vec::new();
            for c in 0..CITIZENS_PER_WORKER {
                let citizen: CitizenId = new_id();
                let profile = CitizenProfile::adult(&format!("Borger {w}-{c}"));
                store.create_citizen(citizen, team, profile, now_ms()).await.unwrap();
                store.assign(citizen, *worker, now_ms()).await.unwrap();
                caseload.push(citizen);
            }
            caseloads.push(caseload);
            for d in 0..DEVICES_PER_WORKER {
                let code = format!("chaos-{seed}-{w}-{d}");
                store
                    .create_enrollment_code(secret_hash(&code), *worker, now_ms(), now_ms() + 3_600_000)
                    .await
                    .unwrap();
                codes.push((w, code));
            }
        }
    }

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut server = ServerProcess {
        binary: server_binary(),
        database: database.clone(),
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        log: dir.path().join("server.log"),
        child: None,
        http: reqwest::Client::new(),
    };
    println!("chaos: server built and set up in {:.1} s", started.elapsed().as_secs_f64());
    server.start().await;
    let url = format!("http://{}", server.addr);
    let config = SyncConfig {
        push_batch_max: 16,
        pull_limit: 64,
        request_timeout: Duration::from_secs(5),
        ..SyncConfig::default()
    };
    let client = SyncClient::new(config).unwrap();

    let mut tablets = Vec::new();
    for (worker, code) in &codes {
        let device_dir = tempfile::tempdir_in(dir.path()).unwrap();
        let device_config = DeviceConfig {
            unlock: UnlockPolicy { kdf: KdfCost::FOR_TESTS, ..UnlockPolicy::default() },
            ..DeviceConfig::new(device_dir.path())
        };
        let mut device = Device::open(device_config, Arc::new(SystemClock)).unwrap();
        device.set_up(PIN).unwrap();
        let device = Arc::new(Mutex::new(device));
        client.enroll(&device, &url, code, None).await.unwrap();
        client.sync_now(&device, |_| {}).await.unwrap();
        tablets.push(Arc::new(Tablet {
            worker: *worker,
            device,
            writes: AtomicU64::new(0),
            responses: Mutex::new(Vec::new()),
            _dir: device_dir,
        }));
    }

    println!("chaos: {} devices enrolled at {:.1} s", tablets.len(), started.elapsed().as_secs_f64());
    // The burst: every device records and syncs at once while the server is killed at random.
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = tablets
        .iter()
        .enumerate()
        .map(|(n, tablet)| {
            let citizens = caseloads[tablet.worker].clone();
            tokio::spawn(work(tablet.clone(), citizens, client.clone(), stop.clone(), seed.wrapping_add(n as u64)))
        })
        .collect();
    let mut logged_between_kills = Vec::new();
    for _ in 0..KILLS {
        tokio::time::sleep(Duration::from_millis(rng.random_range(150..700))).await;
        server.kill();
        logged_between_kills.push(SqliteStore::open(&database).unwrap().changes().await.unwrap().len());
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..150))).await;
        server.start().await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);
    let (mut synced, mut failed) = (0, 0);
    for task in tasks {
        let (ok, err) = task.await.unwrap();
        (synced, failed) = (synced + ok, failed + err);
    }
    println!("chaos: {synced} syncs completed, {failed} cut off or refused by a dead server");
    assert!(failed > 0, "the kills should cut syncs off");
    assert!(
        logged_between_kills.windows(2).filter(|w| w[1] > w[0]).count() >= KILLS / 2,
        "the server should take changes between most kills: log sizes {logged_between_kills:?}"
    );

    println!(
        "chaos: {KILLS} kills done at {:.1} s; log sizes {logged_between_kills:?}",
        started.elapsed().as_secs_f64()
    );
    // Quiet again: every device syncs until it has nothing left and has pulled everything.
    for _ in 0..2 {
        for tablet in &tablets {
            client.sync_now(&tablet.device, |_| {}).await.unwrap();
        }
    }
    server.kill();
    println!("chaos: converged at {:.1} s", started.elapsed().as_secs_f64());

    let store = SqliteStore::open(&database).unwrap();
    let log: Vec<Change> = store.changes().await.unwrap();
    let enrolled = store.devices().await.unwrap();
    let mut recorded: Vec<String> = tablets
        .iter()
        .flat_map(|t| t.responses.lock().unwrap().iter().map(ToString::to_string).collect::<Vec<_>>())
        .collect();
    recorded.sort();
    let mut logged: Vec<String> = log
        .iter()
        .filter_map(|c| match &c.body {
            ChangeBody::ResponseRecorded { response, .. } => Some(response.to_string()),
            _ => None,
        })
        .collect();
    logged.sort();
    assert_eq!(logged.len(), recorded.len(), "the server holds every response recorded, each once, and no other");
    assert_eq!(logged, recorded);

    for (n, tablet) in tablets.iter().enumerate() {
        let mut device = tablet.device.lock().unwrap();
        assert_eq!(device.sync_counters().unwrap().pending_changes, 0, "device {n} has nothing pending");
        let store = device.store_mut().unwrap();
        let id = store.device_id();
        let info = enrolled.iter().find(|i| i.device == id).unwrap();
        assert_eq!(info.last_seq, tablet.writes.load(Ordering::SeqCst), "device {n}: every write acknowledged once");
        // The device holds exactly its worker's caseload as the server's log has it.
        let caseload: BTreeSet<CitizenId> = caseloads[tablet.worker].iter().copied().collect();
        let mut expected: Vec<String> = log
            .iter()
            .filter(|c| caseload.contains(&c.citizen()))
            .filter_map(|c| match &c.body {
                ChangeBody::ResponseRecorded { response, .. } => Some(response.to_string()),
                ChangeBody::VisitStarted { visit, .. } => Some(visit.to_string()),
                _ => None,
            })
            .collect();
        expected.sort();
        let mut held = store.domain_ids().unwrap();
        held.sort();
        assert_eq!(held.len(), expected.len(), "device {n} converged to its worker's caseload");
        assert_eq!(held, expected);
    }
    println!(
        "chaos: {} devices, {KILLS} SIGKILLs, {} responses, {} changes in the log, {:.1} s",
        tablets.len(),
        recorded.len(),
        log.len(),
        started.elapsed().as_secs_f64()
    );
}
