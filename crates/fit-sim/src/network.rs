//! The simulated network between the devices and the server: the transport each device's real
//! `SyncClient` runs over. For every sync request it draws a fault from its own seeded RNG: the
//! request is lost, its answer is lost, it arrives twice, it is delayed and arrives later after
//! newer ones (or never), or the server dies inside its transaction. The device hears what a
//! device over HTTP would: a reply, or no connection.
//!
//! Every answer the server gives, heard or not, is checked on the way: a batch the server
//! accepted is acknowledged in full, and the only refusal is of changes that really are stamped
//! too far ahead of the server's clock. What breaks that ends the run (`take_broken`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use fit_core::hlc::MAX_DRIFT_MS_DEFAULT;
use fit_core::ids::CitizenId;
use fit_device::sync::{Get, Post, Reply, SyncError, Transport};
use fit_protocol::{ErrorBody, ErrorCode, SyncRequest, SyncResponse};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::server::{SERVER_URL, SimServer, deliver, deliver_get};
use crate::{Faults, SimResult, err};

const SYNC_PATH: &str = "/api/v1/sync";
/// A delayed request arrives within this long or never: a sync client gives up after 30 s and
/// its connection goes, so the server cannot read the request later. Far below the hour after
/// which a device stamps again what the server refused as ahead of its clock.
const IN_FLIGHT_MAX_MS: u64 = 15 * 60 * 1000;
/// Round trips one sync run may take (small batches and pages make many).
const TRIPS_PER_RUN_MAX: usize = 2_000;

#[derive(Debug, Clone, Copy)]
enum Fault {
    None,
    LostRequest,
    LostResponse,
    Duplicate,
    Delay,
    CrashInTransaction,
}

pub(crate) struct Network {
    pub server: SimServer,
    rng: StdRng,
    now: Arc<AtomicU64>,
    /// Draw a fault for every sync request (else the network behaves).
    faulty: bool,
    /// Requests still travelling, per device: when each was sent, and the request.
    delayed: Vec<Vec<(u64, Post)>>,
    pub faults: Faults,
    pub round_trips: u64,
    /// Since `start_run`: round trips, whether anything moved, and what broke an invariant.
    run_trips: usize,
    moved: bool,
    broken: Option<String>,
    /// For the trace: the citizens in the simulation's order.
    citizens: Vec<CitizenId>,
    trace: bool,
}

fn lock(net: &Mutex<Network>) -> MutexGuard<'_, Network> {
    net.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Network {
    pub fn new(server: SimServer, seed: u64, now: Arc<AtomicU64>, devices: usize, citizens: Vec<CitizenId>) -> Self {
        Network {
            server,
            rng: StdRng::seed_from_u64(seed ^ 0x4e77_0a11),
            now,
            faulty: false,
            delayed: vec![Vec::new(); devices],
            faults: Faults::default(),
            round_trips: 0,
            run_trips: 0,
            moved: false,
            broken: None,
            citizens,
            trace: std::env::var_os("FIT_SIM_TRACE").is_some(),
        }
    }

    fn now_ms(&self) -> u64 {
        self.now.load(Ordering::SeqCst)
    }

    fn trace(&self, event: impl FnOnce() -> String) {
        if self.trace {
            eprintln!("[{}] {}", self.now_ms(), event());
        }
    }

    /// Before a device's sync run.
    pub fn start_run(&mut self, faulty: bool) {
        self.faulty = faulty;
        self.run_trips = 0;
        self.moved = false;
    }

    /// Whether anything moved in the run: a change pushed or pulled, or a citizen removed.
    pub fn run_moved(&self) -> bool {
        self.moved
    }

    pub fn take_broken(&mut self) -> Option<String> {
        self.broken.take()
    }

    pub fn has_delayed(&self, d: usize) -> bool {
        !self.delayed[d].is_empty()
    }

    fn draw_fault(&mut self) -> Fault {
        if !self.faulty {
            return Fault::None;
        }
        match self.rng.random_range(0..100) {
            0..6 => Fault::LostRequest,
            6..12 => Fault::LostResponse,
            12..17 => Fault::Duplicate,
            17..22 => Fault::Delay,
            22..25 => Fault::CrashInTransaction,
            _ => Fault::None,
        }
    }

    /// Checks an answer the server gave to `request` of device `d`, whether or not the device
    /// hears it.
    fn check(&mut self, d: usize, request: &SyncRequest, answer: &Reply) -> SimResult<()> {
        if answer.status == 200 {
            let response: SyncResponse = serde_json::from_slice(&answer.body).map_err(err)?;
            if let Some(last) = request.push.last()
                && response.acknowledged_seq < last.seq
            {
                return Err(format!(
                    "device {d}: the server accepted a batch up to seq {} but acknowledged {}",
                    last.seq, response.acknowledged_seq
                ));
            }
            self.faults.tokens_sent += u64::from(response.new_token.is_some());
            return Ok(());
        }
        let error: ErrorBody = serde_json::from_slice(&answer.body)
            .map_err(|_| format!("device {d}: status {} without an error body", answer.status))?;
        let now = self.now_ms();
        let ahead = request.push.iter().any(|c| c.hlc.wall_ms.saturating_sub(now) > MAX_DRIFT_MS_DEFAULT);
        if answer.status == 422 && error.code == ErrorCode::ChangeClockAhead && ahead && error.clock.is_some() {
            self.faults.clock_refusals += 1;
            return Ok(());
        }
        Err(format!("device {d}: the server answered {} {}: {}", answer.status, error.code, error.message))
    }

    /// The device hears `answer`.
    fn heard(&mut self, d: usize, fault: Fault, request: &SyncRequest, answer: &Reply) {
        let Ok(response) = serde_json::from_slice::<SyncResponse>(&answer.body) else {
            self.trace(|| format!("device {d} sync ({fault:?}): refused"));
            return;
        };
        self.moved |= !request.push.is_empty() || !response.changes.is_empty() || !response.removed_citizens.is_empty();
        self.trace(|| {
            format!(
                "device {d} sync ({fault:?}): push {:?} cursor {} -> ack {} pulled {:?} cursor {} more {} removed {:?}",
                (request.push.first().map(|c| c.seq), request.push.last().map(|c| c.seq)),
                request.cursor,
                response.acknowledged_seq,
                response.changes.iter().map(|c| c.position).collect::<Vec<_>>(),
                response.cursor,
                response.more,
                response.removed_citizens.iter().map(|c| self.citizens.iter().position(|x| x == c)).collect::<Vec<_>>()
            )
        });
    }

    /// Delivers the oldest request of device `d` still in the network; its answer goes nowhere.
    pub async fn deliver_delayed(net: &Mutex<Network>, d: usize) -> SimResult<()> {
        let (post, router) = {
            let mut net = lock(net);
            if net.delayed[d].is_empty() {
                return Ok(());
            }
            let (sent_at, post) = net.delayed[d].remove(0);
            if net.now_ms().saturating_sub(sent_at) > IN_FLIGHT_MAX_MS {
                net.trace(|| format!("device {d}: a delayed request never arrives"));
                net.faults.lost_requests += 1;
                return Ok(());
            }
            net.trace(|| format!("device {d}: a delayed request arrives"));
            (post, net.server.router()?)
        };
        let request: SyncRequest = serde_json::from_slice(&post.json).map_err(err)?;
        let answer = deliver(router, SYNC_PATH, &post).await?;
        lock(net).check(d, &request, &answer)
    }
}

/// Device `d`'s way to the server.
#[derive(Clone)]
pub(crate) struct SimTransport {
    pub net: Arc<Mutex<Network>>,
    pub device: usize,
}

impl Transport for SimTransport {
    /// The scale packs: delivered, or lost on the way there or back as a request may be (the
    /// device then keeps the packs it has and asks again after its next sync).
    async fn get(&self, get: Get) -> Result<Reply, SyncError> {
        let path = get.url.strip_prefix(SERVER_URL).unwrap_or_default().to_owned();
        let (lost, router) = {
            let mut net = lock(&self.net);
            // As often as a sync request or its answer is lost (12 in 100), in a run with faults.
            let lost = net.faulty && net.rng.random_range(0..100) < 12;
            match net.server.router() {
                Ok(router) => (lost, router),
                Err(_) => return Err(SyncError::Offline("the server is down".into())),
            }
        };
        if lost {
            lock(&self.net).trace(|| format!("device {}: a scale-pack request is lost", self.device));
            return Err(SyncError::Offline("the request was lost".into()));
        }
        match deliver_get(router, &path, &get).await {
            Ok(reply) => Ok(reply),
            Err(broken) => {
                lock(&self.net).broken.get_or_insert(broken);
                Err(SyncError::Offline("the simulation stops".into()))
            }
        }
    }

    async fn post(&self, post: Post) -> Result<Reply, SyncError> {
        match carry(&self.net, self.device, post).await {
            Ok(reply) => reply,
            Err(broken) => {
                lock(&self.net).broken.get_or_insert(broken);
                Err(SyncError::Offline("the simulation stops".into()))
            }
        }
    }
}

/// Carries one request of device `d`: what the device hears, or what broke an invariant. The
/// network's lock is never held while the server works.
async fn carry(net: &Mutex<Network>, d: usize, post: Post) -> SimResult<Result<Reply, SyncError>> {
    let path = post.url.strip_prefix(SERVER_URL).ok_or("a request to an unknown server")?.to_owned();
    if path != SYNC_PATH {
        let router = lock(net).server.router()?;
        return Ok(Ok(deliver(router, &path, &post).await?));
    }
    let request: SyncRequest = serde_json::from_slice(&post.json).map_err(err)?;
    let (fault, router) = {
        let mut net = lock(net);
        net.round_trips += 1;
        net.run_trips += 1;
        if net.run_trips > TRIPS_PER_RUN_MAX {
            return Err(format!("device {d} still has work after {TRIPS_PER_RUN_MAX} round trips"));
        }
        (net.draw_fault(), net.server.router()?)
    };
    let unheard = |what: &str| Ok(Err(SyncError::Offline(what.to_owned())));
    let answer = match fault {
        Fault::LostRequest => {
            let mut net = lock(net);
            net.trace(|| format!("device {d} sync: request lost"));
            net.faults.lost_requests += 1;
            return unheard("the request was lost");
        }
        Fault::Delay => {
            let mut net = lock(net);
            net.trace(|| format!("device {d} sync: request delayed"));
            net.faults.reordered += 1;
            let sent_at = net.now_ms();
            net.delayed[d].push((sent_at, post));
            return unheard("the request timed out");
        }
        Fault::CrashInTransaction => {
            lock(net).server.snapshot()?;
            let answer = deliver(router, SYNC_PATH, &post).await?;
            let mut net = lock(net);
            net.trace(|| format!("device {d} sync: the server dies inside the transaction"));
            net.faults.crashes_in_transaction += 1;
            net.server.crash()?;
            net.check(d, &request, &answer)?;
            return unheard("the connection broke");
        }
        Fault::LostResponse => {
            let answer = deliver(router, SYNC_PATH, &post).await?;
            let mut net = lock(net);
            net.trace(|| format!("device {d} sync: answer lost"));
            net.faults.lost_responses += 1;
            net.check(d, &request, &answer)?;
            return unheard("the answer was lost");
        }
        Fault::Duplicate => {
            let first = deliver(router.clone(), SYNC_PATH, &post).await?;
            let second = deliver(router, SYNC_PATH, &post).await?;
            let mut net = lock(net);
            net.faults.duplicated += 1;
            net.check(d, &request, &first)?;
            net.check(d, &request, &second)?;
            if net.rng.random_bool(0.5) { first } else { second }
        }
        Fault::None => {
            let answer = deliver(router, SYNC_PATH, &post).await?;
            lock(net).check(d, &request, &answer)?;
            answer
        }
    };
    lock(net).heard(d, fault, &request, &answer);
    Ok(Ok(answer))
}
