//! The sync engine: a pure step that builds the next request from the store, one HTTP round
//! trip, and a step that commits the answer (acknowledged outbox entries, the pulled page and
//! the cursor) in one transaction. `run_background` repeats it on a timer and when woken, with
//! exponential backoff and jitter after failures, honouring Retry-After.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use fit_protocol::sync::{PROTOCOL_VERSION, PULL_CHANGES_MAX, PUSH_CHANGES_MAX};
use fit_protocol::{EnrollRequest, EnrollResponse, ErrorBody, ErrorCode, ServerClock, SyncRequest, SyncResponse};
use rand::RngExt;
use serde::Serialize;
use tokio::sync::{Notify, watch};
use ts_rs::TS;

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
    /// The next request: the oldest unacknowledged outbox entries and the cursor, with the
    /// server's URL and this device's token. Public for transports other than `SyncClient`
    /// (the simulation drives devices and the server in one process).
    pub fn next_sync_request(&self, config: &SyncConfig) -> Result<(String, String, SyncRequest), SyncError> {
        let cursor = self.store()?.cursor(CURSOR_STREAM)?;
        self.sync_request_after(config, 0, cursor)
    }

    /// A request pushing the outbox entries after `acknowledged_seq` and pulling past `cursor`:
    /// the round after an answer not yet committed (`SyncClient::sync_now` sends it while it
    /// commits that answer).
    fn sync_request_after(
        &self,
        config: &SyncConfig,
        acknowledged_seq: u64,
        cursor: u64,
    ) -> Result<(String, String, SyncRequest), SyncError> {
        let store = self.store()?;
        if let Some(reason) = store.sync_blocked()? {
            return Err(SyncError::Refused { code: ErrorCode::ProtocolUnsupported, message: reason });
        }
        let (url, token) = store.sync_settings()?.ok_or(SyncError::NotEnrolled)?;
        let limit = u32::try_from(config.push_batch_max).unwrap_or(u32::MAX);
        let push = store.outbox(acknowledged_seq, limit)?;
        Ok((url, token, SyncRequest { protocol: PROTOCOL_VERSION, push, cursor, pull_limit: config.pull_limit }))
    }

    /// Commits a sync answer: acknowledged entries leave the outbox, the page and cursor apply.
    pub fn finish_sync(&mut self, response: &SyncResponse) -> Result<(), DeviceError> {
        let now = self.clock.now_ms();
        let changes: Vec<_> = response.changes.iter().map(|c| c.change.clone()).collect();
        let store = self.store.as_mut().ok_or(DeviceError::Locked)?;
        // Citizens who left are erased only at the end of the log: one may be assigned back in a
        // page still to come, and this device's changes about it must still be here then.
        store.apply_sync_page(
            &self.scales,
            now,
            Some(response.acknowledged_seq),
            &changes,
            &response.removed_citizens,
            Some((CURSOR_STREAM, response.cursor)),
            !response.more,
        )?;
        store.set_last_sync(now)?;
        Ok(())
    }

    /// Stamps again the pending changes the server refused as too far ahead of its clock (see
    /// `fit_store::Store::restamp_ahead`); returns how many.
    pub fn restamp_ahead(&mut self, server: ServerClock) -> Result<usize, DeviceError> {
        Ok(self.store_mut()?.restamp_ahead(server)?)
    }

    /// Erases the local store after the server said the device is revoked.
    pub fn wipe_after_revoke(&mut self) -> Result<(), DeviceError> {
        self.store = None;
        fit_store::keys::wipe(&self.paths).map_err(|e| DeviceError::Unavailable(e.to_string()))
    }
}

/// Request bodies larger than this are sent zstd-compressed.
const COMPRESS_FROM_BYTES: usize = 1024;

/// Talks to the server over HTTP.
#[derive(Debug, Clone)]
pub struct SyncClient {
    http: reqwest::Client,
    config: SyncConfig,
}

impl SyncClient {
    pub fn new(config: SyncConfig) -> Result<SyncClient, SyncError> {
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .build()
            .map_err(|e| SyncError::Internal(e.to_string()))?;
        Ok(SyncClient { http, config })
    }

    /// Enrolls an unlocked, set-up device with `server_url` using a one-time code.
    pub async fn enroll(
        &self,
        device: &Mutex<Device>,
        server_url: &str,
        code: &str,
    ) -> Result<EnrollResponse, SyncError> {
        let server_url = server_url.trim_end_matches('/').to_owned();
        let request = {
            let device = lock(device);
            EnrollRequest {
                protocol: PROTOCOL_VERSION,
                code: code.trim().to_owned(),
                device: device.store()?.device_id(),
            }
        };
        let response: EnrollResponse = self.post(&format!("{server_url}/api/v1/enroll"), None, &request).await?;
        let mut device = lock(device);
        let store = device.store_mut()?;
        store.set_worker(response.team, &response.team_name, response.worker, &response.worker_name)?;
        store.set_sync_settings(&server_url, &response.token)?;
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
        let mut report =
            SyncProgress { to_send: lock(device).sync_counters()?.pending_changes, ..SyncProgress::default() };
        let mut round_trips = 0;
        let mut restamped = false;
        let mut round = self.send(lock(device).next_sync_request(&self.config)?);
        loop {
            let (pushed, answer) = round.await.map_err(|e| SyncError::Internal(e.to_string()))?;
            round_trips += 1;
            let response = match answer {
                Ok(response) => response,
                Err(SyncError::Revoked) => {
                    lock(device).wipe_after_revoke()?;
                    return Err(SyncError::Revoked);
                }
                Err(SyncError::Unsupported { min, max }) => {
                    let reason =
                        format!("the server speaks protocol {min} to {max}; this app speaks {PROTOCOL_VERSION}");
                    // The outbox stays as it is: nothing pending is discarded.
                    lock(device).store_mut()?.set_sync_blocked(Some(&reason))?;
                    return Err(SyncError::Unsupported { min, max });
                }
                // Once per run: a second refusal means the server's clock or drift is not what it
                // said, and trying again at once would not help.
                Err(SyncError::ClockAhead(server)) if !restamped => {
                    restamped = true;
                    if lock(device).restamp_ahead(server)? == 0 {
                        return Err(SyncError::ClockAhead(server));
                    }
                    round = self.send(lock(device).next_sync_request(&self.config)?);
                    continue;
                }
                Err(other) => return Err(other),
            };
            // The next round, if there is one, before this answer is committed. A round that
            // pushed nothing ends the run at the end of the log even if a write came meanwhile:
            // the next run takes it.
            let next = if response.more || pushed > 0 {
                let next = lock(device).sync_request_after(&self.config, response.acknowledged_seq, response.cursor)?;
                (response.more || !next.2.push.is_empty()).then_some(next)
            } else {
                None
            };
            let next = next.map(|request| self.send(request));
            lock(device).finish_sync(&response)?;
            report.sent += pushed.min(response.acknowledged_seq);
            report.received += response.changes.len() as u64;
            progress(report);
            match next {
                Some(next) => round = next,
                None => return Ok(round_trips),
            }
        }
    }

    /// Sends a sync request on a task of its own, so it travels while the caller works; the
    /// answer comes with the number of changes the request pushed.
    fn send(
        &self,
        (url, token, request): (String, String, SyncRequest),
    ) -> tokio::task::JoinHandle<(u64, Result<SyncResponse, SyncError>)> {
        let client = self.clone();
        tokio::spawn(async move {
            let pushed = request.push.len() as u64;
            (pushed, client.post(&format!("{url}/api/v1/sync"), Some(&token), &request).await)
        })
    }

    async fn post<Q: Serialize, A: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        token: Option<&str>,
        body: &Q,
    ) -> Result<A, SyncError> {
        let json = serde_json::to_vec(body).map_err(|e| SyncError::Internal(e.to_string()))?;
        let mut request = self.http.post(url).header(reqwest::header::CONTENT_TYPE, "application/json");
        // Batches are repetitive JSON: zstd makes them several times smaller on slow mobile links.
        // Small requests go plain; the answer is compressed when large (reqwest asks for zstd).
        request = if json.len() > COMPRESS_FROM_BYTES {
            let packed = zstd::bulk::compress(&json, 3).map_err(|e| SyncError::Internal(e.to_string()))?;
            request.header(reqwest::header::CONTENT_ENCODING, "zstd").body(packed)
        } else {
            request.body(json)
        };
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(|e| SyncError::Offline(e.without_url().to_string()))?;
        let status = response.status();
        if status.is_success() {
            // A body that breaks off is the network's doing; one that arrives and is not the
            // protocol's JSON is the answer's.
            let bytes = response.bytes().await.map_err(|e| SyncError::Offline(e.without_url().to_string()))?;
            return serde_json::from_slice(&bytes).map_err(|e| SyncError::Garbled(e.to_string()));
        }
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let error: Option<ErrorBody> = response.json().await.ok();
        let (code, message) = error.as_ref().map_or((ErrorCode::Unknown, ""), |e| (e.code, e.message.as_str()));
        Err(match (status.as_u16(), code) {
            (_, ErrorCode::DeviceRevoked) => SyncError::Revoked,
            (422, ErrorCode::ChangeClockAhead) if let Some(clock) = error.as_ref().and_then(|e| e.clock) => {
                SyncError::ClockAhead(clock)
            }
            (_, ErrorCode::ProtocolUnsupported) => {
                let range = error.as_ref().and_then(|e| e.supported);
                SyncError::Unsupported { min: range.map_or(0, |r| r.min), max: range.map_or(0, |r| r.max) }
            }
            (429 | 502 | 503 | 504, _) | (500..=599, _) => SyncError::Busy { retry_after },
            _ => SyncError::Refused { code, message: message.to_owned() },
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
pub async fn run_background(
    device: Arc<Mutex<Device>>,
    client: SyncClient,
    wake: Arc<Notify>,
    shutdown: Arc<Notify>,
    status: watch::Sender<SyncStatus>,
) {
    let mut failures: u32 = 0;
    loop {
        status.send_modify(|s| s.running = true);
        let result = client.sync_now(&device, |p| status.send_modify(|s| s.progress = p)).await;
        let mut wait = client.config.interval;
        let last_sync_ms = lock(&device).store().ok().and_then(|s| s.last_sync_ms().ok().flatten());
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
    fn backoff_doubles_with_jitter_up_to_its_maximum() {
        let config = SyncConfig::default();
        assert_eq!(backoff_delay(&config, 1, 1.0), Duration::from_secs(1));
        assert_eq!(backoff_delay(&config, 4, 1.0), Duration::from_secs(8));
        assert_eq!(backoff_delay(&config, 30, 1.0), Duration::from_secs(300));
        assert_eq!(backoff_delay(&config, 30, 0.5), Duration::from_secs(150));
        assert_eq!(backoff_delay(&config, 30, 0.0), Duration::from_millis(500), "never a tight loop");
    }
}
