//! A deterministic simulation of sync: 3–8 devices and a server in one process, every decision
//! (work, sync order, clock skews, faults) drawn from one seeded RNG, and the sync invariants
//! checked once everything has settled.
//!
//! The parts are the real ones: each device is a `fit_device::Device` over its own SQLCipher
//! store, synced by the real `SyncClient` (its overlapped rounds, its reading of refusals, its
//! re-stamping), and the server is `fit_server::app` over a SQLite file, called in process with
//! `oneshot`, so every request passes the same layers, checks and store as over HTTP. Only the
//! network and the clocks are simulated (`network`): a request may be lost, its answer may be
//! lost, it may arrive twice, or arrive late after newer ones; the server may restart between
//! requests or die inside a request's transaction; a device may crash between a local write and
//! a sync; device clocks run with skews of up to a year either way and jump backwards.
//!
//! The work (visits, responses, notes, goals, profile edits, caseload moves) includes corrections
//! of responses (new marks, not given, withdrawn; now and then on two devices at once), and the
//! server is given new versions of the ORS pack now and then, which devices fetch when they sync;
//! `Config::corrections_and_packs` off leaves both out.
//!
//! After the scheduled steps every clock is put right, the server's clock moves past anything a
//! device wrote a year ahead, and every device syncs until nothing moves. Then (`oracle`): each
//! device holds exactly what the server's log says for its worker's caseload; every response,
//! visit and note recorded on a device is in the log exactly once, and nothing else is; every
//! replica holds every version of every response and agrees on the current one; every device uses
//! the server's last ORS pack; every device's sequence is acknowledged in full; the conflict log
//! holds exactly the concurrent edits by the `base` rule; and no field edit is lost silently.
//! A failure names the seed and the command that replays it with the same configuration.
//!
//! The seed decides everything the simulation chooses. Ids made inside a `Device` draw their
//! random bits from the operating system, so they differ between runs; no choice depends on
//! their order, so a seed replays the same run (up to which of two writes with equal HLCs wins).

mod device;
mod network;
mod oracle;
mod server;

use std::ops::{Range, RangeInclusive};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use fit_core::ids::{CitizenId, GoalId, NoteId, ResponseId, TeamId, VisitId, WorkerId};
use fit_core::response::{CorrectionReason, MarkedBy, NotGivenReason, RawAnswer, ResponseContent, ResponseInput};
use fit_core::{IdGenerator, ScaleSet};
use fit_device::Correction;
use fit_device::sync::{SyncConfig, SyncError};
use fit_protocol::{ChangeBody, Entity, FieldName};
use fit_server::secret_hash;
use fit_server::store::{CitizenProfile, ServerStore};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::device::SimDevice;
use crate::network::{Network, SimTransport};
use crate::server::{SERVER_URL, SimServer};

pub(crate) type SimResult<T> = Result<T, String>;

/// The simulation's time at the start: 2026-11-23.
const START_MS: u64 = 1_795_392_000_000;
const HOUR_MS: u64 = 3_600_000;
const DAY_MS: u64 = 24 * HOUR_MS;
const YEAR_MS: u64 = 365 * DAY_MS;
/// Rounds of "every device syncs until done" before the run must have settled.
const QUIESCE_ROUNDS_MAX: usize = 20;
/// Sync runs one device may need to be done (a run ends early when the clock is refused).
const RUNS_TO_DONE_MAX: usize = 20;

/// How big a run is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Scheduled steps (work, syncs, faults) before quiescence.
    pub steps: usize,
    pub devices: RangeInclusive<usize>,
    pub workers: RangeInclusive<usize>,
    pub citizens: RangeInclusive<usize>,
    /// Inject faults and clock jumps; without, devices and the network behave.
    pub faults: bool,
    /// Corrections of responses among the work, and new ORS packs installed on the server (on
    /// by default). Off, the work is as it was before them, so the seeds kept as regressions
    /// from that time replay the runs that found their bugs.
    pub corrections_and_packs: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            steps: 120,
            devices: 3..=8,
            workers: 2..=3,
            citizens: 3..=6,
            faults: true,
            corrections_and_packs: true,
        }
    }
}

/// What a run did, for the summary line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub seed: u64,
    pub devices: usize,
    pub workers: usize,
    pub citizens: usize,
    pub round_trips: u64,
    pub local_writes: u64,
    pub responses: usize,
    pub conflicts: usize,
    pub log_changes: usize,
    /// Changes acknowledged but kept out of the log (a former worker's, stamped after a move).
    pub set_aside: usize,
    pub caseload_moves: u64,
    pub faults: Faults,
}

/// The faults a run injected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Faults {
    pub lost_requests: u64,
    pub lost_responses: u64,
    pub duplicated: u64,
    pub reordered: u64,
    pub server_restarts: u64,
    pub crashes_in_transaction: u64,
    pub device_crashes: u64,
    pub clock_jumps: u64,
    /// Batches the server refused because a device's clock ran too far ahead (`change.clock_ahead`).
    pub clock_refusals: u64,
    /// Pending changes devices stamped again after such a refusal.
    pub restamped: u64,
    /// Times a device, its clock put right, had to wait (at most an hour) for the server's clock
    /// to pass changes less than the re-stamp margin too far ahead.
    pub waited_for_server_clock: u64,
    /// Answers that carried a rotated device token (heard or not).
    pub tokens_sent: u64,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let x = &self.faults;
        write!(
            f,
            "seed {}: {} devices, {} workers, {} citizens; {} writes, {} responses, {} log changes, {} set aside, \
             {} conflicts, {} moves; {} round trips; faults: {} lost requests, {} lost answers, {} duplicated, {} reordered, \
             {} restarts, {} crashes in a transaction, {} device crashes, {} clock jumps, {} clock refusals \
             ({} changes stamped again, {} waits for the server's clock); {} answers with a new token",
            self.seed,
            self.devices,
            self.workers,
            self.citizens,
            self.local_writes,
            self.responses,
            self.log_changes,
            self.set_aside,
            self.conflicts,
            self.caseload_moves,
            self.round_trips,
            x.lost_requests,
            x.lost_responses,
            x.duplicated,
            x.reordered,
            x.server_restarts,
            x.crashes_in_transaction,
            x.device_crashes,
            x.clock_jumps,
            x.clock_refusals,
            x.restamped,
            x.waited_for_server_clock,
            x.tokens_sent
        )
    }
}

/// A run that broke an invariant (or could not run): the seed, the configuration it ran with and
/// what went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub seed: u64,
    pub config: Config,
    pub message: String,
}

impl Failure {
    /// The command that runs this seed again with the same configuration: the binary's options
    /// for what differs from `Config::default()`. The sizes (devices, workers, citizens) have no
    /// option; a configuration that changed them is named after the command.
    pub fn replay_command(&self) -> String {
        let defaults = Config::default();
        let config = &self.config;
        let mut command = format!("cargo run -p fit-sim --release -- --seed {}", self.seed);
        if config.steps != defaults.steps {
            command.push_str(&format!(" --steps {}", config.steps));
        }
        if !config.faults {
            command.push_str(" --calm");
        }
        if !config.corrections_and_packs {
            command.push_str(" --no-corrections-and-packs");
        }
        if (&config.devices, &config.workers, &config.citizens)
            != (&defaults.devices, &defaults.workers, &defaults.citizens)
        {
            command.push_str(&format!(
                " (with devices {:?}, workers {:?}, citizens {:?}: set in `Config`)",
                config.devices, config.workers, config.citizens
            ));
        }
        command
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "seed {} failed: {}\n  replay: {}", self.seed, self.message, self.replay_command())
    }
}

impl std::error::Error for Failure {}

/// Runs one seeded simulation and checks the invariants at quiescence.
pub fn run(seed: u64, config: &Config) -> Result<Report, Failure> {
    let failure = |message: String| Failure { seed, config: config.clone(), message };
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| failure(e.to_string()))?;
    runtime
        .block_on(async {
            let mut sim = Sim::set_up(seed, config).await?;
            sim.run().await?;
            sim.quiesce().await?;
            sim.check().await?;
            Ok(sim.report)
        })
        .map_err(failure)
}

/// Runs the seeds of `seeds` on every core; `done` hears each run as it ends. The results come
/// back in seed order.
pub fn run_seeds(
    seeds: Range<u64>,
    config: &Config,
    done: impl Fn(&Result<Report, Failure>) + Sync,
) -> Vec<Result<Report, Failure>> {
    let next = AtomicU64::new(seeds.start);
    let results = Mutex::new(Vec::new());
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let seed = next.fetch_add(1, Ordering::SeqCst);
                    if seed >= seeds.end {
                        return;
                    }
                    let result = run(seed, config);
                    done(&result);
                    results.lock().unwrap_or_else(|p| p.into_inner()).push((seed, result));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_else(|p| p.into_inner());
    results.sort_by_key(|(seed, _)| *seed);
    results.into_iter().map(|(_, result)| result).collect()
}

/// Where the stores of a run live: in memory (/dev/shm) when the machine has it.
fn temp_dir() -> SimResult<tempfile::TempDir> {
    let shm = Path::new("/dev/shm");
    let builder = tempfile::Builder::new().prefix("fit-sim-").to_owned();
    let dir = if shm.is_dir() { builder.tempdir_in(shm) } else { builder.tempdir() };
    dir.map_err(|e| format!("temporary directory: {e}"))
}

pub(crate) struct Sim {
    seed: u64,
    config: Config,
    rng: StdRng,
    ids: IdGenerator<StdRng>,
    scales: ScaleSet,
    now: Arc<AtomicU64>,
    /// The network and the server behind it.
    net: Arc<Mutex<Network>>,
    workers: Vec<WorkerId>,
    citizens: Vec<CitizenId>,
    /// The worker each citizen is assigned to now.
    assignment: Vec<usize>,
    devices: Vec<SimDevice>,
    /// Every goal created, with its citizen, in creation order.
    goals: Vec<(GoalId, usize)>,
    /// Every visit started, with its citizen, in creation order.
    visits: Vec<(VisitId, usize)>,
    responses: Vec<ResponseId>,
    notes: Vec<(NoteId, usize)>,
    /// How many new versions of the ORS pack the server was given.
    packs_installed: u32,
    report: Report,
    /// Print every event to standard error (`FIT_SIM_TRACE=1`), to follow a failing seed.
    trace: bool,
    // Last, so the stores close before their directory goes.
    _dir: tempfile::TempDir,
}

const NOTE_TEXTS: &[&str] = &[
    "Talte om ugen.",
    "Aftalt at ringe til lægen.",
    "God energi i dag.",
    "Vil gerne tale om søvn næste gang.",
    "Kort besøg.",
];
const GOAL_TITLES: &[&str] =
    &["Sove bedre", "Gå en tur hver dag", "Handle ind selv", "Ringe til søsteren", "Lave mad to gange om ugen"];
const GOAL_STATUSES: &[&str] = &["active", "achieved", "dropped"];
const ORS_ITEMS: &[&str] = &["individually", "interpersonally", "socially", "overall"];
const SRS_ITEMS: &[&str] = &["relationship", "goals-and-topics", "approach-or-method", "overall"];

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// The team a run starts with, on the server: workers, and citizens each assigned to one.
struct Team {
    workers: Vec<WorkerId>,
    citizens: Vec<CitizenId>,
    assignment: Vec<usize>,
}

impl Team {
    async fn create(
        server: &SimServer,
        rng: &mut StdRng,
        ids: &mut IdGenerator<StdRng>,
        config: &Config,
    ) -> SimResult<Team> {
        let team: TeamId = ids.next(START_MS);
        let store = server.store()?.clone();
        store.create_team(team, "Bostøtten Sim".into()).await.map_err(err)?;
        let workers: Vec<WorkerId> =
            (0..rng.random_range(config.workers.clone())).map(|_| ids.next(START_MS)).collect();
        for (n, worker) in workers.iter().enumerate() {
            store.create_worker(*worker, team, format!("Medarbejder {n}")).await.map_err(err)?;
        }
        let mut citizens = Vec::new();
        let mut assignment = Vec::new();
        for n in 0..rng.random_range(config.citizens.clone()) {
            let citizen: CitizenId = ids.next(START_MS);
            let profile = CitizenProfile {
                display_name: format!("Borger {n}"),
                birth_year: rng.random_bool(0.5).then(|| rng.random_range(1940..=2005)),
                age_band: "adult".into(),
                case_reference: None,
                support_started: None,
            };
            store.create_citizen(citizen, team, profile, START_MS).await.map_err(err)?;
            let worker = rng.random_range(0..workers.len());
            store.assign(citizen, workers[worker], START_MS).await.map_err(err)?;
            citizens.push(citizen);
            assignment.push(worker);
        }
        Ok(Team { workers, citizens, assignment })
    }
}

impl Sim {
    async fn set_up(seed: u64, config: &Config) -> SimResult<Sim> {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut ids = IdGenerator::new(StdRng::seed_from_u64(seed ^ 0x05ee_d1d5));
        let dir = temp_dir()?;
        let now = Arc::new(AtomicU64::new(START_MS));
        let server = SimServer::start(dir.path().to_owned(), now.clone())?;
        let team = Team::create(&server, &mut rng, &mut ids, config).await?;
        let device_count = rng.random_range(config.devices.clone());
        let net = Network::new(server, seed, now.clone(), device_count, team.citizens.clone());
        let mut sim = Sim {
            seed,
            config: config.clone(),
            rng,
            ids,
            scales: ScaleSet::built_in().map_err(err)?,
            now,
            net: Arc::new(Mutex::new(net)),
            workers: team.workers,
            citizens: team.citizens,
            assignment: team.assignment,
            devices: Vec::new(),
            goals: Vec::new(),
            visits: Vec::new(),
            responses: Vec::new(),
            notes: Vec::new(),
            packs_installed: 0,
            report: Report { seed, devices: device_count, ..Report::default() },
            trace: std::env::var_os("FIT_SIM_TRACE").is_some(),
            _dir: dir,
        };
        sim.report.workers = sim.workers.len();
        sim.report.citizens = sim.citizens.len();
        for d in 0..device_count {
            sim.add_device(d)?;
            sim.enroll(d).await?;
        }
        Ok(sim)
    }

    /// Device `d`: every worker has a device; the rest go to workers at random.
    fn add_device(&mut self, d: usize) -> SimResult<()> {
        let worker = if d < self.workers.len() { d } else { self.rng.random_range(0..self.workers.len()) };
        // Small batches and pages, so one sync is many round trips and histories span pages.
        let sync = SyncConfig {
            push_batch_max: self.rng.random_range(1..=8),
            pull_limit: self.rng.random_range(1..=12),
            ..SyncConfig::default()
        };
        let transport = SimTransport { net: self.net.clone(), device: d };
        let dir = self._dir.path().join(format!("device-{d}"));
        let mut device = SimDevice::create(dir, worker, START_MS, transport, sync)?;
        if self.config.faults {
            device.skew_ms = self.rng.random_range(-2 * HOUR_MS as i64..=2 * HOUR_MS as i64);
        }
        device.set_time(START_MS);
        self.devices.push(device);
        Ok(())
    }

    /// The network and the server behind it.
    fn net(&self) -> MutexGuard<'_, Network> {
        self.net.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn now_ms(&self) -> u64 {
        self.now.load(Ordering::SeqCst)
    }

    fn trace(&self, event: impl FnOnce() -> String) {
        if self.trace {
            eprintln!("[{}] {}", self.now_ms(), event());
        }
    }

    /// Moves the simulation's time on, and every device clock with it.
    fn advance(&mut self, by_ms: u64) {
        let now = self.now.fetch_add(by_ms, Ordering::SeqCst) + by_ms;
        for device in &self.devices {
            device.set_time(now);
        }
    }

    /// Enrolls device `d` with a one-time code, through its client and the network.
    async fn enroll(&mut self, d: usize) -> SimResult<()> {
        let now = self.now_ms();
        let worker = self.workers[self.devices[d].worker];
        let code = format!("sim-{}-{d}", self.seed);
        let store = self.net().server.store()?.clone();
        store.create_enrollment_code(secret_hash(&code), worker, now, now + HOUR_MS).await.map_err(err)?;
        let device = &self.devices[d];
        device
            .client
            .enroll(&device.device, SERVER_URL, &code, None)
            .await
            .map_err(|e| format!("enrolling device {d}: {e}"))?;
        Ok(())
    }

    async fn run(&mut self) -> SimResult<()> {
        // Everyone pulls their caseload first, so there is work to do from the start.
        for d in 0..self.devices.len() {
            self.sync_until_done(d).await?;
        }
        for step in 0..self.config.steps {
            let by = self.rng.random_range(1_000..=600_000);
            self.advance(by);
            self.step().await.map_err(|e| format!("step {step}: {e}"))?;
        }
        Ok(())
    }

    async fn step(&mut self) -> SimResult<()> {
        let faults = self.config.faults;
        let d = self.rng.random_range(0..self.devices.len());
        match self.rng.random_range(0..100) {
            0..40 => self.work(d),
            40..72 => self.sync_run(d, faults).await.map(|_| ()),
            72..78 => {
                // A burst: every device one round trip, in a random order.
                let mut order: Vec<usize> = (0..self.devices.len()).collect();
                for i in (1..order.len()).rev() {
                    order.swap(i, self.rng.random_range(0..=i));
                }
                for d in order {
                    self.sync_run(d, faults).await?;
                }
                Ok(())
            }
            78..82 => self.move_citizen().await,
            82..87 if faults => self.clock_jump(d),
            87..91 if faults => Network::deliver_delayed(&self.net, d).await,
            91..94 if faults => {
                self.trace(|| "the server restarts".into());
                let mut net = self.net();
                net.faults.server_restarts += 1;
                net.server.restart()
            }
            94..97 if faults => {
                self.trace(|| format!("device {d} crashes and restarts"));
                self.net().faults.device_crashes += 1;
                self.devices[d].crash_and_restart()
            }
            97 if self.config.corrections_and_packs => self.install_pack().await,
            _ => self.sync_run(d, faults).await.map(|_| ()),
        }
    }

    /// One sync run of device `d` by its client, over a network with faults when `faulty`:
    /// the error that ended it, if it is one a network with faults explains (no connection, or
    /// the device's clock refused); any other ends the simulation.
    async fn sync_run(&mut self, d: usize, faulty: bool) -> SimResult<Option<SyncError>> {
        self.net().start_run(faulty);
        let mut restamped = 0;
        let device = &self.devices[d];
        let result = device.client.sync_now(&device.device, |p| restamped = p.restamped).await;
        self.trace(|| format!("device {d} ran a sync: {result:?}, {restamped} changes stamped again"));
        let mut net = self.net();
        net.faults.restamped += restamped;
        if let Some(broken) = net.take_broken() {
            return Err(broken);
        }
        match result {
            Ok(_) => Ok(None),
            Err(error @ (SyncError::Offline(_) | SyncError::ClockAhead(_))) => Ok(Some(error)),
            Err(error) => Err(format!("device {d}: the sync failed: {error}")),
        }
    }

    /// Syncs device `d` without faults until it has nothing to push and the server nothing more
    /// to give; returns whether anything moved.
    async fn sync_until_done(&mut self, d: usize) -> SimResult<bool> {
        let mut moved = false;
        let mut refused_in_a_row = 0;
        for _ in 0..RUNS_TO_DONE_MAX {
            let ended_by = self.sync_run(d, false).await?;
            moved |= self.net().run_moved();
            match ended_by {
                None if self.devices[d].pending()? == 0 => return Ok(moved),
                None => refused_in_a_row = 0,
                Some(SyncError::ClockAhead(_)) => {
                    // The run stamped again what it could; changes less than the margin (an hour)
                    // too far ahead go once the server's clock catches up.
                    refused_in_a_row += 1;
                    if refused_in_a_row > 2 {
                        return Err(format!("device {d}: refused {refused_in_a_row} times in a row as ahead"));
                    }
                    self.net().faults.waited_for_server_clock += 1;
                    self.advance(fit_store::RESTAMP_MARGIN_MS);
                }
                Some(other) => return Err(format!("device {d}: a sync without faults failed: {other}")),
            }
        }
        Err(format!("device {d} still has work after {RUNS_TO_DONE_MAX} sync runs"))
    }

    fn clock_jump(&mut self, d: usize) -> SimResult<()> {
        self.net().faults.clock_jumps += 1;
        let hour = HOUR_MS as i64;
        let device = &mut self.devices[d];
        device.skew_ms = match self.rng.random_range(0..100) {
            0..30 => -(YEAR_MS as i64),
            30..40 => YEAR_MS as i64,
            40..70 => device.skew_ms - self.rng.random_range(hour..=30 * 24 * hour),
            _ => self.rng.random_range(-2 * hour..=2 * hour),
        };
        device.set_time(self.now.load(Ordering::SeqCst));
        let skew = device.skew_ms;
        self.trace(|| format!("device {d} clock skew {skew} ms"));
        Ok(())
    }

    async fn move_citizen(&mut self) -> SimResult<()> {
        if self.workers.len() < 2 {
            return Ok(());
        }
        let c = self.rng.random_range(0..self.citizens.len());
        let mut worker = self.rng.random_range(0..self.workers.len() - 1);
        if worker >= self.assignment[c] {
            worker += 1;
        }
        let now = self.now_ms();
        let store = self.net().server.store()?.clone();
        store.assign(self.citizens[c], self.workers[worker], now).await.map_err(err)?;
        self.assignment[c] = worker;
        self.trace(|| format!("citizen {c} moves to worker {worker}"));
        self.report.caseload_moves += 1;
        Ok(())
    }

    /// The citizens in device `d`'s caseload as the device sees it, in the simulation's order.
    fn caseload_of(&mut self, d: usize) -> SimResult<Vec<usize>> {
        let worker = self.workers[self.devices[d].worker];
        let store = self.devices[d].store()?;
        let mut here = Vec::new();
        for (c, citizen) in self.citizens.iter().enumerate() {
            if store.is_in_caseload(worker, *citizen).map_err(err)? {
                here.push(c);
            }
        }
        Ok(here)
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> Option<T> {
        (!items.is_empty()).then(|| items[self.rng.random_range(0..items.len())])
    }

    /// One piece of work on device `d`, about a citizen in its caseload.
    fn work(&mut self, d: usize) -> SimResult<()> {
        let caseload = self.caseload_of(d)?;
        let Some(c) = self.pick(&caseload) else { return Ok(()) };
        let writes = self.devices[d].writes;
        let kind = self.rng.random_range(0..100);
        let result = match kind {
            0..34 if self.config.corrections_and_packs => self.visit(d, c),
            34..44 if self.config.corrections_and_packs => self.continue_visit(d, c),
            44..54 if self.config.corrections_and_packs => self.correct(d, c),
            0..40 => self.visit(d, c),
            40..50 => self.continue_visit(d, c),
            50..60 => self.note(d, c),
            60..85 => self.goal(d, c),
            _ => self.profile_edit(d, c),
        };
        let added = self.devices[d].writes - writes;
        self.trace(|| format!("device {d} work {kind} on citizen {c}: seqs up to {}, {added} new", writes + added));
        result.map_err(|e| format!("device {d}, citizen {c}: {e}"))
    }

    fn response_input(&mut self, scale: &str) -> ResponseInput {
        if self.rng.random_bool(0.08) {
            let reason =
                [NotGivenReason::Declined, NotGivenReason::TooUnwell, NotGivenReason::NoTime, NotGivenReason::Other]
                    [self.rng.random_range(0..4)];
            return ResponseInput { scale: scale.into(), content: ResponseContent::NotGiven { reason } };
        }
        let marked_by = [MarkedBy::CitizenOnDevice, MarkedBy::ReadAloudVerbal, MarkedBy::TranscribedFromPaper]
            [self.rng.random_range(0..3)];
        let items = if scale == "ors" { ORS_ITEMS } else { SRS_ITEMS };
        let answers = items
            .iter()
            .map(|item| RawAnswer { item: (*item).into(), value: self.rng.random_range(0..=100).into() })
            .collect();
        ResponseInput { scale: scale.into(), content: ResponseContent::Given { marked_by, answers } }
    }

    fn record(&mut self, d: usize, visit: VisitId, scale: &str) -> SimResult<()> {
        let input = self.response_input(scale);
        let response = self.devices[d].device().record_response(visit, input).map_err(err)?;
        self.devices[d].writes += 1;
        self.responses.push(response);
        Ok(())
    }

    /// A visit: ORS at the start, usually an SRS and sometimes a note, usually closed at once.
    fn visit(&mut self, d: usize, c: usize) -> SimResult<()> {
        let visit = self.devices[d].device().start_visit(self.citizens[c]).map_err(err)?;
        self.devices[d].writes += 1;
        self.visits.push((visit, c));
        self.record(d, visit, "ors")?;
        let minutes = self.rng.random_range(60_000..=3_600_000);
        self.advance(minutes);
        if self.rng.random_bool(0.75) {
            self.record(d, visit, "srs")?;
        }
        if self.rng.random_bool(0.4) {
            self.write_note(d, c, Some(visit))?;
        }
        if self.rng.random_bool(0.8) {
            self.devices[d].device().close_visit(visit).map_err(err)?;
            self.devices[d].writes += 1;
        }
        Ok(())
    }

    /// Picks up a visit of the citizen still open on this device (perhaps started on another
    /// device of the worker): an SRS, then it closes.
    fn continue_visit(&mut self, d: usize, c: usize) -> SimResult<()> {
        let mut open = Vec::new();
        for (visit, citizen) in self.visits.clone() {
            if citizen == c
                && let Some(row) = self.devices[d].store()?.visit(visit).map_err(err)?
                && row.closed_at_ms.is_none()
            {
                open.push(visit);
            }
        }
        let Some(visit) = self.pick(&open) else { return Ok(()) };
        if self.rng.random_bool(0.5) {
            self.record(d, visit, "srs")?;
        }
        self.devices[d].device().close_visit(visit).map_err(err)?;
        self.devices[d].writes += 1;
        Ok(())
    }

    /// A correction of a response in force on this device (perhaps corrected already on another
    /// device, which makes two versions of it): new marks, not given, or taken back.
    fn correct(&mut self, d: usize, c: usize) -> SimResult<()> {
        let held = self.devices[d].store()?.responses(self.citizens[c]).map_err(err)?;
        let in_force: std::collections::HashMap<ResponseId, fit_core::ScaleCode> =
            held.into_iter().filter(|r| r.superseded_by.is_none()).map(|r| (r.id, r.scale)).collect();
        // In the order they were recorded, so the seed, not the random ids, decides the pick.
        let candidates: Vec<ResponseId> = self.responses.iter().copied().filter(|r| in_force.contains_key(r)).collect();
        let Some(response) = self.pick(&candidates) else { return Ok(()) };
        let scale = in_force[&response].clone();
        let correction = match self.rng.random_range(0..10) {
            0..7 => {
                let items = if scale.as_str() == "ors" { ORS_ITEMS } else { SRS_ITEMS };
                let answers = items.iter().map(|item| ((*item).to_owned(), self.rng.random_range(0..=100))).collect();
                Correction::Marks { answers }
            }
            7 => Correction::NotGiven { reason: NotGivenReason::Other },
            8 => Correction::Withdraw { reason: CorrectionReason::WrongCitizen },
            _ => Correction::Withdraw { reason: CorrectionReason::EnteredTwice },
        };
        let corrected = self.devices[d].device().correct_response(response, correction).map_err(err)?;
        self.devices[d].writes += 1;
        self.responses.push(corrected);
        Ok(())
    }

    /// A municipality installs a new version of the ORS pack (a licence holder's text) on the
    /// server; devices fetch it at their next sync and record with it from then on.
    async fn install_pack(&mut self) -> SimResult<()> {
        self.packs_installed += 1;
        let version = format!("licensed-sim-{}", self.packs_installed);
        let pack = fit_protocol::demo::licensed_ors(&version, &format!("Mig selv ({version})"));
        self.trace(|| format!("the server installs the ORS pack {version}"));
        let store = self.net().server.store()?.clone();
        fit_server::install_pack(&store, "licensed/ors.json", &pack, self.now_ms()).await.map_err(err)?;
        Ok(())
    }

    fn write_note(&mut self, d: usize, c: usize, visit: Option<VisitId>) -> SimResult<()> {
        let text = NOTE_TEXTS[self.rng.random_range(0..NOTE_TEXTS.len())];
        // Sometimes a new version of a note in force on this device.
        let mut in_force = Vec::new();
        if self.rng.random_bool(0.3) {
            let here: Vec<NoteId> =
                self.devices[d].store()?.notes(self.citizens[c]).map_err(err)?.into_iter().map(|n| n.id).collect();
            in_force = self.notes.iter().filter(|(n, nc)| *nc == c && here.contains(n)).map(|(n, _)| *n).collect();
        }
        let supersedes = self.pick(&in_force);
        let note = self.devices[d].device().add_note(self.citizens[c], visit, text, supersedes).map_err(err)?;
        self.devices[d].writes += 1;
        self.notes.push((note, c));
        Ok(())
    }

    fn note(&mut self, d: usize, c: usize) -> SimResult<()> {
        self.write_note(d, c, None)
    }

    /// A new goal, or an edit of the title or status of one this device holds (concurrent with
    /// other devices' edits of the same goal whenever they have not synced in between).
    fn goal(&mut self, d: usize, c: usize) -> SimResult<()> {
        let citizen = self.citizens[c];
        let here: Vec<GoalId> =
            self.devices[d].store()?.goals(citizen).map_err(err)?.into_iter().map(|g| g.id).collect();
        let known: Vec<GoalId> =
            self.goals.iter().filter(|(g, gc)| *gc == c && here.contains(g)).map(|(g, _)| *g).collect();
        let title = GOAL_TITLES[self.rng.random_range(0..GOAL_TITLES.len())];
        let status = GOAL_STATUSES[self.rng.random_range(0..GOAL_STATUSES.len())];
        match (self.pick(&known), self.rng.random_range(0..100)) {
            (Some(goal), 0..10) => {
                self.devices[d].device().delete_goal(citizen, goal).map_err(err)?;
                self.devices[d].writes += 1;
            }
            (Some(goal), 10..45) => {
                self.devices[d].device().set_goal(citizen, Some(goal), Some(title), None).map_err(err)?;
                self.devices[d].writes += 1;
            }
            (Some(goal), 45..80) => {
                self.devices[d].device().set_goal(citizen, Some(goal), None, Some(status)).map_err(err)?;
                self.devices[d].writes += 1;
            }
            (Some(goal), _) => {
                self.devices[d].device().set_goal(citizen, Some(goal), Some(title), Some(status)).map_err(err)?;
                self.devices[d].writes += 2;
            }
            (None, _) => {
                let status = self.rng.random_bool(0.5).then_some(status);
                let goal = self.devices[d].device().set_goal(citizen, None, Some(title), status).map_err(err)?;
                self.devices[d].writes += 1 + u64::from(status.is_some());
                self.goals.push((goal, c));
            }
        }
        Ok(())
    }

    /// An edit of the citizen's profile on the device, concurrent with the server's own profile
    /// writes and with other devices' edits. The device has no service for it yet, so it is
    /// committed through the store as the services commit (`Store::commit_local`).
    fn profile_edit(&mut self, d: usize, c: usize) -> SimResult<()> {
        let citizen = self.citizens[c];
        let (field, value) = match self.rng.random_range(0..3) {
            0 => (
                FieldName::DisplayName,
                serde_json::json!(format!("Borger {c}{}", ["", " A.", " B."][self.rng.random_range(0..3)])),
            ),
            1 => (FieldName::CaseReference, serde_json::json!(format!("SAG-{}", self.rng.random_range(100..999)))),
            _ => (FieldName::BirthYear, serde_json::json!(self.rng.random_range(1940..=2005))),
        };
        let now = self.devices[d].now_ms();
        let id = self.ids.next(now);
        let body = ChangeBody::FieldSet { entity: Entity::Citizen { citizen }, field, value, base: None };
        let scales = &self.scales;
        self.devices[d].device().store_mut().map_err(err)?.commit_local(scales, now, id, body).map_err(err)?;
        self.devices[d].writes += 1;
        Ok(())
    }

    /// Puts every clock right, delivers what is still in the network, and syncs every device
    /// until nothing moves. The server's clock moves on only by minutes: a device that wrote a
    /// year ahead must get its changes in by stamping them again, not by waiting for the server.
    async fn quiesce(&mut self) -> SimResult<()> {
        for device in &mut self.devices {
            device.skew_ms = 0;
        }
        self.advance(60_000);
        for d in 0..self.devices.len() {
            while self.net().has_delayed(d) {
                Network::deliver_delayed(&self.net, d).await?;
            }
        }
        for _ in 0..QUIESCE_ROUNDS_MAX {
            let mut moved = false;
            for d in 0..self.devices.len() {
                moved |= self.sync_until_done(d).await?;
            }
            if !moved {
                return Ok(());
            }
        }
        Err(format!("the devices still exchange changes after {QUIESCE_ROUNDS_MAX} rounds"))
    }
}
