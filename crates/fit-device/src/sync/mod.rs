//! The sync engine. A run (`round::SyncRun`) is a state machine over the device: it builds the
//! first request from the store, reads each answer (refusals, re-stamping, revocation), builds
//! the next request before the answer is committed, and commits the answer (acknowledged outbox
//! entries, the pulled page and the cursor) in one transaction. `SyncClient` drives it over a
//! `Transport`: HTTP in the app, an in-process network with faults in the simulation.
//! `run_background` repeats runs on a timer and when woken, with exponential backoff and jitter
//! after failures, honouring Retry-After.

mod round;
mod transport;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use fit_protocol::sync::{PROTOCOL_VERSION, PULL_CHANGES_MAX, PUSH_CHANGES_MAX};
use fit_protocol::{EnrollRequest, EnrollResponse, ErrorCode, ServerClock, SyncResponse};
use fit_store::SyncPage;
use rand::RngExt;
use serde::Serialize;
use tokio::sync::{Notify, watch};
use ts_rs::TS;

use self::round::{Next, Outgoing, SyncRun};
pub use self::transport::{Get, Http, Post, Reply, Transport};
use crate::{AppError, Device, DeviceError};

/// The stream name of the server's change log in the device's cursor table.
const CURSOR_STREAM: &str = "server";

/// How the engine behaves.
#[derive(Debug, Clone, Copy)]
pub struct SyncConfig {
    pub push_batch_max: usize,
    pub pull_limit: u32,
    /// Sync at least this often while running, even without local writes.
    pub interval: Duration,
    /// The first wait after a failure; it doubles up to `backoff_max`, with jitter.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    pub request_timeout: Duration,
    /// Send to `http://` servers on other machines too (a test network without TLS; never in
    /// the field). Plain HTTP to this machine (loopback) is always allowed.
    pub allow_plain_http: bool,
}

impl Default for SyncConfig {
    fn default() -> SyncConfig {
        SyncConfig {
            push_batch_max: PUSH_CHANGES_MAX,
            pull_limit: u32::try_from(PULL_CHANGES_MAX).unwrap_or(u32::MAX),
            interval: Duration::from_secs(60),
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(5 * 60),
            request_timeout: Duration::from_secs(30),
            allow_plain_http: false,
        }
    }
}

/// Why a sync did not complete, in words a worker understands.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("no connection to the server")]
    Offline(String),
    /// An answer that is not what the protocol says: a proxy's page, or a body cut short.
    #[error("the server's answer could not be read; trying again later")]
    Garbled(String),
    /// A server address the device does not send to: a stranger on the path could read the
    /// data and forge the answers (a revocation among them).
    #[error("the server must be reached over https:// (plain http:// only on this machine): {0}")]
    Insecure(String),
    /// This device could not put its own request together.
    #[error("the app could not prepare the sync: {0}")]
    Internal(String),
    #[error("the server is busy; trying again later")]
    Busy { retry_after: Option<Duration> },
    #[error("the app must be updated before it can sync (the server speaks protocol {min} to {max})")]
    Unsupported { min: u32, max: u32 },
    #[error("this device has been revoked; its local data has been erased")]
    Revoked,
    #[error("the server refused the data: {message}")]
    Refused { code: ErrorCode, message: String },
    /// Changes stamped too far ahead of the server's clock: `sync_now` stamps them again.
    #[error("this device's clock is ahead of the server's; set the device's date and time")]
    ClockAhead(ServerClock),
    #[error("this device is not enrolled with a server")]
    NotEnrolled,
    #[error(transparent)]
    Device(#[from] DeviceError),
}

impl From<fit_store::StoreError> for SyncError {
    fn from(error: fit_store::StoreError) -> SyncError {
        SyncError::Device(DeviceError::Store(error))
    }
}

impl SyncError {
    pub fn code(&self) -> ErrorCode {
        match self {
            SyncError::Offline(_) => ErrorCode::SyncOffline,
            SyncError::Garbled(_) => ErrorCode::SyncGarbledAnswer,
            SyncError::Internal(_) => ErrorCode::AppInternal,
            SyncError::Insecure(_) => ErrorCode::SyncInsecureUrl,
            SyncError::Busy { .. } => ErrorCode::SyncBusy,
            SyncError::Unsupported { .. } => ErrorCode::ProtocolUnsupported,
            SyncError::Revoked => ErrorCode::DeviceRevoked,
            SyncError::Refused { code, .. } => *code,
            SyncError::ClockAhead(_) => ErrorCode::ChangeClockAhead,
            SyncError::NotEnrolled => ErrorCode::DeviceNotEnrolled,
            SyncError::Device(e) => e.code(),
        }
    }

    /// Worth trying again later by itself (as opposed to needing a person).
    pub fn is_transient(&self) -> bool {
        matches!(self, SyncError::Offline(_) | SyncError::Garbled(_) | SyncError::Busy { .. })
    }
}

/// Progress of one sync run, for the progress bar.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, TS)]
pub struct SyncProgress {
    pub sent: u64,
    /// Pending changes when the run started.
    pub to_send: u64,
    pub received: u64,
    /// Pending changes stamped again after the server said this device's clock is ahead.
    pub restamped: u64,
}

/// What the sync status line shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, TS)]
pub struct SyncStatus {
    pub online: bool,
    pub running: bool,
    pub progress: SyncProgress,
    pub last_sync_ms: Option<u64>,
    /// The last run's failure: the UI shows the code's text.
    pub last_error: Option<AppError>,
    pub blocked: Option<String>,
}

fn lock(device: &Mutex<Device>) -> MutexGuard<'_, Device> {
    // A panic while holding the lock cannot leave the store half-written (SQLite transactions
    // roll back), so a poisoned lock is safe to take over.
    device.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Device {
    /// Commits a sync answer: a new device token first (requests built from now on send it),
    /// then the acknowledged entries leave the outbox and the page and cursor apply.
    fn finish_sync(&mut self, response: &SyncResponse) -> Result<(), DeviceError> {
        let now = self.clock.now_ms();
        let changes: Vec<_> = response.changes.iter().map(|c| c.change.clone()).collect();
        let store = self.store.as_mut().ok_or(DeviceError::Locked)?;
        // A token that could not be a token is not stored: the old one keeps working, and a
        // faulty answer must not lock the device out.
        if let Some(token) = response.new_token.as_deref().filter(|t| is_token(t)) {
            store.set_device_token(token)?;
        }
        // A schedule the device could not follow is not kept: the one it had stays.
        if let Some(schedule) = response.wellbeing_schedule.filter(|s| s.check().is_ok()) {
            store.set_wellbeing_schedule(&schedule)?;
        }
        let page = SyncPage {
            acknowledged_seq: Some(response.acknowledged_seq),
            changes: &changes,
            removed: &response.removed_citizens,
            cursor: Some((CURSOR_STREAM, response.cursor)),
            at_end: !response.more,
        };
        store.apply_sync_page(&self.scales, now, &page)?;
        store.set_last_sync(now)?;
        Ok(())
    }

    /// Stamps again the pending changes the server refused as too far ahead of its clock (see
    /// `fit_store::Store::restamp_ahead`); returns how many.
    fn restamp_ahead(&mut self, server: ServerClock) -> Result<usize, DeviceError> {
        Ok(self.replica_mut()?.restamp_ahead(server)?)
    }

    /// Erases the local store after the server said the device is revoked, locked or not, and
    /// leaves a mark that says only that (no name, no server): the first screen then tells
    /// whoever holds the device that it was withdrawn and must be enrolled again.
    fn wipe_after_revoke(&mut self) -> Result<(), DeviceError> {
        self.close();
        self.scales = crate::packs::scales_with(&[])?;
        fit_store::keys::wipe(&self.paths).map_err(|e| DeviceError::Unavailable(e.to_string()))?;
        std::fs::write(self.withdrawn_mark(), b"withdrawn\n").map_err(|e| DeviceError::Unavailable(e.to_string()))
    }
}

/// Whether a token from the server looks like one: what a bearer header can carry, not empty,
/// not absurdly long.
fn is_token(token: &str) -> bool {
    (1..=256).contains(&token.len()) && token.bytes().all(|b| b.is_ascii_graphic())
}

/// Runs sync for a device over a transport (HTTP unless told otherwise).
#[derive(Debug, Clone)]
pub struct SyncClient<T = Http> {
    transport: T,
    config: SyncConfig,
}

impl SyncClient {
    /// A client over HTTP.
    pub fn new(config: SyncConfig) -> Result<SyncClient, SyncError> {
        Ok(SyncClient::over(Http::new(config.request_timeout, config.allow_plain_http)?, config))
    }
}

impl<T: Transport> SyncClient<T> {
    pub fn over(transport: T, config: SyncConfig) -> SyncClient<T> {
        SyncClient { transport, config }
    }

    /// Enrolls an unlocked, set-up device with `server_url` using a one-time code. With
    /// `certificate` (PEM: the server's own, or the municipality's CA), the server must present
    /// it at enrollment and at every sync after; no other certificate authority is trusted.
    pub async fn enroll(
        &self,
        device: &Mutex<Device>,
        server_url: &str,
        code: &str,
        certificate: Option<&str>,
    ) -> Result<EnrollResponse, SyncError> {
        let server_url = server_url.trim_end_matches('/').to_owned();
        let certificate = certificate.map(str::trim).filter(|pem| !pem.is_empty());
        if let Some(pem) = certificate {
            transport::check_pin(&server_url, pem)?;
        }
        let request = {
            let device = lock(device);
            EnrollRequest {
                protocol: PROTOCOL_VERSION,
                code: code.trim().to_owned(),
                device: device.store()?.device_id(),
            }
        };
        let post =
            Post::new(format!("{server_url}/api/v1/enroll"), None, &request)?.pinned(certificate.map(str::to_owned));
        let response: EnrollResponse = transport::read_reply(&self.transport.post(post).await?)?;
        let mut device = lock(device);
        let store = device.store_mut()?;
        store.set_worker(response.team, &response.team_name, response.worker, &response.worker_name)?;
        store.set_sync_settings(&server_url, &response.token, certificate)?;
        Ok(response)
    }

    /// Syncs until nothing is left to push or pull, reporting progress after every round trip.
    /// Returns the number of round trips.
    ///
    /// Rounds overlap: once an answer arrives, the next request (the outbox entries after the
    /// acknowledged ones, the answer's cursor) goes out before the answer is committed, so the
    /// device commits while the server works. Nothing is lost if the device stops in between:
    /// the entries are still in the outbox and the cursor where it was, and the server recognises
    /// entries it has stored already.
    pub async fn sync_now(
        &self,
        device: &Mutex<Device>,
        mut progress: impl FnMut(SyncProgress),
    ) -> Result<u32, SyncError> {
        let (mut run, first) = SyncRun::start(&lock(device), self.config)?;
        let mut round = self.send(first);
        loop {
            let (pushed, answer) = round.await.map_err(|e| SyncError::Internal(e.to_string()))?;
            // The device is locked for the reading only: the match below locks it again to commit.
            let next = run.answered(&mut lock(device), pushed, answer)?;
            match next {
                Next::Send(request) => {
                    progress(run.progress());
                    round = self.send(request);
                }
                Next::Commit { response, next } => {
                    let next = next.map(|request| self.send(request));
                    run.commit(&mut lock(device), pushed, &response)?;
                    progress(run.progress());
                    match next {
                        Some(next) => round = next,
                        None => {
                            // The server's packs changed since this device fetched them: one
                            // more request, after the run's changes are committed.
                            let fetch = run.packs_fetch(&lock(device))?;
                            if let Some(fetch) = fetch {
                                let answer = self.transport.get(fetch.get.clone()).await;
                                run.packs_answered(&mut lock(device), fetch, answer)?;
                            }
                            return Ok(run.round_trips());
                        }
                    }
                }
            }
        }
    }

    /// Sends a sync request on a task of its own, so it travels while the caller works; the
    /// answer comes with the number of changes the request pushed.
    fn send(&self, outgoing: Outgoing) -> tokio::task::JoinHandle<(u64, Result<SyncResponse, SyncError>)> {
        let transport = self.transport.clone();
        tokio::spawn(async move {
            let pushed = outgoing.pushed();
            let url = format!("{}/api/v1/sync", outgoing.url);
            let answer = match Post::new(url, Some(&outgoing.token), &outgoing.request) {
                Ok(post) => {
                    transport.post(post.pinned(outgoing.pin)).await.and_then(|reply| transport::read_reply(&reply))
                }
                Err(error) => Err(error),
            };
            (pushed, answer)
        })
    }
}

/// The wait before retry number `attempt` (1 = the first retry): doubling from the base, capped,
/// with "full jitter" so a fleet of devices that failed together does not retry together.
pub fn backoff_delay(config: &SyncConfig, attempt: u32, jitter_unit: f64) -> Duration {
    let ceiling = config.backoff_base.saturating_mul(1u32 << attempt.saturating_sub(1).min(20)).min(config.backoff_max);
    ceiling.mul_f64(jitter_unit.clamp(0.0, 1.0)).max(config.backoff_base / 2)
}

/// Syncs whenever woken (after a local write), every `interval`, and after failures with
/// backoff, until `shutdown` is notified. The status is published on `status`.
pub async fn run_background<T: Transport>(
    device: Arc<Mutex<Device>>,
    client: SyncClient<T>,
    wake: Arc<Notify>,
    shutdown: Arc<Notify>,
    status: watch::Sender<SyncStatus>,
) {
    let mut failures: u32 = 0;
    loop {
        status.send_modify(|s| s.running = true);
        let result = client.sync_now(&device, |p| status.send_modify(|s| s.progress = p)).await;
        let mut wait = client.config.interval;
        let last_sync_ms = lock(&device).replica().ok().and_then(|s| s.last_sync_ms().ok().flatten());
        match &result {
            Ok(_) => failures = 0,
            Err(error) if error.is_transient() => {
                failures = failures.saturating_add(1);
                let jitter = rand::rng().random_range(0.0..1.0);
                wait = backoff_delay(&client.config, failures, jitter);
                if let SyncError::Busy { retry_after: Some(after) } = error {
                    wait = wait.max(*after);
                }
            }
            Err(_) => {}
        }
        status.send_modify(|s| {
            s.running = false;
            s.online = !matches!(result, Err(SyncError::Offline(_)));
            s.last_sync_ms = last_sync_ms;
            s.last_error = result.as_ref().err().map(|e| AppError::new(e.code(), e.to_string()));
            s.blocked = match &result {
                Err(e @ SyncError::Unsupported { .. }) => Some(e.to_string()),
                _ => None,
            };
        });
        if matches!(result, Err(SyncError::Revoked | SyncError::Unsupported { .. })) {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = wake.notified() => {}
            () = shutdown.notified() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_can_be_a_bearer_token_is_stored_as_one() {
        assert!(is_token(&"ab12".repeat(16)));
        assert!(!is_token(""), "an empty token would lock the device out");
        assert!(!is_token("two words"));
        assert!(!is_token("line\nbreak"));
        assert!(!is_token(&"a".repeat(257)));
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_its_maximum() {
        let config = SyncConfig::default();
        assert_eq!(backoff_delay(&config, 1, 1.0), Duration::from_secs(1));
        assert_eq!(backoff_delay(&config, 4, 1.0), Duration::from_secs(8));
        assert_eq!(backoff_delay(&config, 30, 1.0), Duration::from_secs(300));
        assert_eq!(backoff_delay(&config, 30, 0.5), Duration::from_secs(150));
        assert_eq!(backoff_delay(&config, 30, 0.0), Duration::from_millis(500), "never a tight loop");
    }
}
