//! The app's one service: what the shell calls and spawns, with no Tauri in sight. One method
//! per screen action over the shared `Device`, the `{code, message}` error of the app boundary,
//! citizen mode, the settings, read-aloud, and the background work (the sync engine, its status
//! for the UI, the nightly window) as futures the shell only has to spawn.
//!
//! The lock is enforced here too: the worker's idle time is measured by the service (every
//! worker action resets it) and `run_idle_lock` locks the device when it runs out, whatever the
//! window does. A locked device keeps its store open for the sync engine while the app runs
//! (`Device`'s two locks), so it sends and receives unattended, at the nightly window too.
//!
//! Citizen mode is enforced here, not only in the UI: while it is on, every worker action is
//! refused with `citizen_mode.active`, so a citizen holding the device cannot reach another
//! citizen's record however the screen is poked. Only the worker's PIN turns it off. Read-aloud
//! is not a worker action: it speaks what the screen shows, so citizen mode may use it.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use fit_core::ids::{CitizenId, GoalId, GroupId, NoteId, ResponseId, VisitId};
use fit_core::response::{MarkedBy, NotGivenReason, RawAnswer, ResponseContent, ResponseInput};
use fit_core::{Lang, Scale, ScaleCode};
use fit_protocol::ErrorCode;
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, watch};
use ts_rs::TS;

pub use crate::AppError;
use crate::settings::{AppSettings, SettingsFile};
use crate::speech::{self, Speech, SpeechError};
use crate::sync::{self, SyncClient, SyncConfig, SyncError, SyncStatus};
use crate::{
    CaseloadLine, CitizenPage, Clock, Correction, Device, DeviceConfig, DeviceError, GroupPage, SyncCounters,
    SystemClock,
};

/// The nightly task looks at the clock and the settings at least this often, so a device that
/// slept through the night, or a clock that was set, is noticed within minutes.
const NIGHTLY_CHECK_MAX: Duration = Duration::from_secs(10 * 60);

/// The idle lock looks at the clock and the settings at least this often, so a shorter setting
/// is taken up within seconds.
const IDLE_CHECK_MAX: Duration = Duration::from_secs(5);

impl From<DeviceError> for AppError {
    fn from(error: DeviceError) -> AppError {
        AppError::new(error.code(), error.to_string())
    }
}

impl From<SyncError> for AppError {
    fn from(error: SyncError) -> AppError {
        AppError::new(error.code(), error.to_string())
    }
}

impl From<SpeechError> for AppError {
    fn from(error: SpeechError) -> AppError {
        AppError::new(error.code(), error.to_string())
    }
}

/// Where the app stands, for choosing the first screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct AppStatus {
    pub set_up: bool,
    pub unlocked: bool,
    pub enrolled: bool,
    pub worker_name: Option<String>,
    pub team_name: Option<String>,
    pub citizen_mode: Option<CitizenMode>,
    /// Wrong PINs left at the unlock screen before the local data (unsynced visits included) is
    /// erased, for the unlock screen; None before set-up and while unlocked.
    pub pin_attempts_left: Option<u32>,
    /// The server withdrew this device and its store was erased: it must be enrolled again.
    pub withdrawn: bool,
}

/// The one scale a citizen is filling in, at one visit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct CitizenMode {
    pub visit: VisitId,
    /// Whose visit: the worker's view returns to it when citizen mode ends.
    pub citizen: CitizenId,
    pub scale: ScaleCode,
    /// True once the citizen's answer (or "not given") is recorded; only handing back is left.
    pub done: bool,
    /// Wrong PINs left at the hand-back before the app locks (`CITIZEN_MODE_PIN_TRIES`).
    pub pin_tries_left: u32,
}

/// Wrong PINs allowed when the worker takes the device back from citizen mode; then the app
/// locks, and only the unlock screen's tries count towards the wipe. So whoever holds the
/// device in citizen mode can never erase it by guessing.
pub const CITIZEN_MODE_PIN_TRIES: u32 = 3;

/// The citizen's answer in citizen mode: tenths per item, or why it was not given.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, TS)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum CitizenAnswer {
    Given { answers: Vec<(String, i64)> },
    NotGiven { reason: NotGivenReason },
}

/// The sync status with the device's own counters, as the sync line and the sync screen show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct SyncView {
    #[serde(flatten)]
    pub status: SyncStatus,
    /// None while the app is locked.
    pub pending_changes: Option<u64>,
    pub oldest_pending_age_ms: Option<u64>,
}

/// The app for as long as it runs: the shared device, citizen mode, the settings and the sync
/// engine's handles. The shell holds one in an `Arc` and calls nothing else.
pub struct App {
    device: Arc<Mutex<Device>>,
    /// The device's clock, so the nightly task reads the time without waiting for the device.
    clock: Arc<dyn Clock>,
    citizen_mode: Mutex<Option<CitizenMode>>,
    client: SyncClient,
    settings_file: SettingsFile,
    settings: Mutex<AppSettings>,
    settings_changed: Notify,
    /// Wakes the sync engine: after a write, an unlock, an enrollment, "sync now" and at the
    /// nightly window. It also starts the engine when it is not running.
    wake: Arc<Notify>,
    /// Ends the sync engine's current run. Nothing asks for that yet: it ends with the app.
    shutdown: Arc<Notify>,
    /// What the sync engine publishes after every step; the sync line shows it.
    status: watch::Sender<SyncStatus>,
    /// The device's speech engine, when the shell brought one (`with_speech`).
    speech: Option<Arc<dyn Speech>>,
    /// When the worker last acted (device clock, ms): the idle lock counts from there.
    last_active_ms: AtomicU64,
    /// The idle time after which the device locks, in place of the settings' minutes (tests and
    /// demonstrations; `with_idle_limit`).
    idle_limit: Option<Duration>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("device", &self.device)
            .field("citizen_mode", &self.citizen_mode)
            .field("settings", &self.settings)
            .field("speech", &self.speech)
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every write is a SQLite transaction, so a panic under the lock leaves nothing half-done.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl App {
    /// The app of the device directory `dir`: its store (locked) and its settings file.
    pub fn open(dir: &Path, sync: SyncConfig) -> Result<App, AppError> {
        let device = Device::open(DeviceConfig::new(dir), Arc::new(SystemClock))?;
        App::new(device, SettingsFile::new(dir), sync)
    }

    /// The app over a device opened already: tests pass one with a cheap PIN hash and a
    /// clock of their own.
    pub fn new(device: Device, settings_file: SettingsFile, sync: SyncConfig) -> Result<App, AppError> {
        Ok(App {
            clock: device.clock.clone(),
            device: Arc::new(Mutex::new(device)),
            citizen_mode: Mutex::new(None),
            client: SyncClient::new(sync)?,
            settings: Mutex::new(settings_file.load()),
            settings_file,
            settings_changed: Notify::new(),
            wake: Arc::new(Notify::new()),
            shutdown: Arc::new(Notify::new()),
            status: watch::channel(SyncStatus::default()).0,
            speech: None,
            last_active_ms: AtomicU64::new(0),
            idle_limit: None,
        })
    }

    /// The app reading aloud through `speech`; without it, read-aloud is not offered.
    pub fn with_speech(mut self, speech: Arc<dyn Speech>) -> App {
        self.speech = Some(speech);
        self
    }

    /// The app locking after `limit` without a worker's action, whatever the settings say.
    pub fn with_idle_limit(mut self, limit: Duration) -> App {
        self.idle_limit = Some(limit);
        self
    }

    /// Refuses a worker action while a citizen holds the device. Every worker action goes
    /// through here, the settings included, and counts as the worker's activity.
    fn check_worker(&self) -> Result<(), AppError> {
        if lock(&self.citizen_mode).is_some() {
            return Err(AppError::new(
                ErrorCode::CitizenModeActive,
                "the citizen is filling in a scale: the worker's PIN is needed to leave",
            ));
        }
        self.touch();
        Ok(())
    }

    /// The worker acted now: the idle lock counts from here.
    fn touch(&self) {
        self.last_active_ms.store(self.clock.now_ms(), Ordering::Relaxed);
    }

    /// The worker is using the app without a command (reading, typing a note): the window says
    /// so now and then, so the idle lock does not take a half-written note. Refused while locked
    /// or in citizen mode, like any worker action.
    pub fn note_activity(&self) -> Result<(), AppError> {
        drop(self.worker()?);
        Ok(())
    }

    /// "Sync now": a worker's button, so refused while locked (the engine runs on by itself).
    pub fn sync_now(&self) -> Result<(), AppError> {
        drop(self.worker()?);
        self.wake_sync();
        Ok(())
    }

    /// The idle time after which the device locks.
    fn idle_limit(&self) -> Duration {
        self.idle_limit.unwrap_or_else(|| Duration::from_secs(u64::from(self.settings().auto_lock_minutes) * 60))
    }

    /// Locks the device if the worker has been idle for the idle limit; returns how long until
    /// the next look. Never while a citizen holds the device: citizen mode is left only with
    /// the PIN anyway, and a lock would take the scale from the citizen's hands.
    pub fn idle_check(&self) -> Duration {
        let limit = self.idle_limit();
        let limit_ms = u64::try_from(limit.as_millis()).unwrap_or(u64::MAX);
        let idle_ms = self.clock.now_ms().saturating_sub(self.last_active_ms.load(Ordering::Relaxed));
        // Citizen mode first, then the device: the order `leave_citizen_mode` takes them in.
        if lock(&self.citizen_mode).is_some() {
            return limit.min(IDLE_CHECK_MAX);
        }
        let mut device = lock(&self.device);
        if !device.is_unlocked() {
            return limit.min(IDLE_CHECK_MAX);
        }
        if idle_ms >= limit_ms {
            device.lock();
            return limit.min(IDLE_CHECK_MAX);
        }
        Duration::from_millis(limit_ms - idle_ms).min(IDLE_CHECK_MAX)
    }

    /// Locks the device after the idle limit without a worker's action, for as long as the app
    /// runs: spawn it once.
    pub async fn run_idle_lock(self: Arc<Self>) {
        loop {
            let wait = self.idle_check();
            tokio::time::sleep(wait).await;
        }
    }

    /// The device for a worker action: refused while a citizen holds it, and while the app is
    /// locked (one rule for every worker command; the store would refuse most of them too).
    fn worker(&self) -> Result<MutexGuard<'_, Device>, AppError> {
        self.check_worker()?;
        let device = lock(&self.device);
        if !device.is_unlocked() {
            return Err(DeviceError::Locked.into());
        }
        Ok(device)
    }

    /// A worker's write; the sync engine is woken to send it when it can.
    fn write<T>(&self, action: impl FnOnce(&mut Device) -> Result<T, DeviceError>) -> Result<T, AppError> {
        let written = action(&mut *self.worker()?)?;
        self.wake_sync();
        Ok(written)
    }

    pub fn status(&self) -> AppStatus {
        // Citizen mode first, then the device: the order `leave_citizen_mode` takes them in.
        let citizen_mode = lock(&self.citizen_mode).clone();
        let device = lock(&self.device);
        let identity = device.store().ok().and_then(|s| s.identity().ok().flatten());
        // Whether it is enrolled is known while locked too: the sync engine runs on.
        let enrolled = device.replica().ok().and_then(|s| s.sync_settings().ok().flatten()).is_some();
        AppStatus {
            set_up: device.is_set_up(),
            unlocked: device.is_unlocked(),
            enrolled,
            worker_name: identity.as_ref().map(|i| i.worker_name.clone()),
            team_name: identity.map(|i| i.team_name),
            citizen_mode,
            // Read from the key files only when the unlock screen needs it: the window asks
            // for the status every few seconds to follow the lock.
            pin_attempts_left: if device.is_unlocked() { None } else { device.pin_attempts_left() },
            withdrawn: !device.is_set_up() && device.was_withdrawn(),
        }
    }

    /// Creates the encrypted store of a new device with the worker's chosen PIN.
    pub fn set_up(&self, pin: &str) -> Result<(), AppError> {
        // A device not set up is locked, and has nothing to show: setting up is not refused.
        self.check_worker()?;
        lock(&self.device).set_up(pin)?;
        Ok(())
    }

    /// Unlocks with the worker's PIN; a wrong one is counted and delayed. An enrolled device
    /// syncs at once: the worker may have been offline while it was locked.
    pub fn unlock(&self, pin: &str) -> Result<(), AppError> {
        lock(&self.device).unlock(pin)?;
        self.touch();
        self.wake_sync();
        Ok(())
    }

    /// Locks the app: the worker's view, while the sync engine goes on. Citizen mode survives a
    /// lock: unlocking returns to it.
    pub fn lock(&self) {
        lock(&self.device).lock();
    }

    pub fn change_pin(&self, old_pin: &str, new_pin: &str) -> Result<(), AppError> {
        self.worker()?.change_pin(old_pin, new_pin)?;
        Ok(())
    }

    /// Trades a one-time code for a device token at `server_url`, then pulls the caseload. With
    /// `certificate` (PEM), the server must present that certificate from now on.
    pub async fn enroll(&self, server_url: &str, code: &str, certificate: Option<&str>) -> Result<(), AppError> {
        drop(self.worker()?);
        let url = server_url.trim();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(AppError::new(
                ErrorCode::InputInvalid,
                "the server address must start with https:// or http://",
            ));
        }
        self.client.enroll(&self.device, url, code, certificate).await?;
        // The first pull brings the caseload; offline, the background sync brings it later.
        match self.client.sync_now(&self.device, |_| {}).await {
            Ok(_) => {}
            Err(error) if error.is_transient() => {}
            Err(other) => return Err(other.into()),
        }
        self.wake_sync();
        Ok(())
    }

    /// Sets up, enrolls and unlocks a new device in one step (the demo and the command line).
    /// Does nothing to a device that is set up already.
    pub async fn set_up_enrolled(
        &self,
        pin: &str,
        server_url: &str,
        code: &str,
        certificate: Option<&str>,
    ) -> Result<(), AppError> {
        if lock(&self.device).is_set_up() {
            return Ok(());
        }
        self.set_up(pin)?;
        self.enroll(server_url, code, certificate).await
    }

    pub fn caseload(&self) -> Result<Vec<CaseloadLine>, AppError> {
        Ok(self.worker()?.caseload_overview()?)
    }

    pub fn citizen(&self, citizen: CitizenId) -> Result<CitizenPage, AppError> {
        Ok(self.worker()?.citizen_view(citizen)?)
    }

    /// A scale's definition (items and their labels): no personal data, so citizen mode may read it.
    pub fn scale(&self, code: &str) -> Result<Scale, AppError> {
        let device = lock(&self.device);
        device
            .scales()
            .find(code)
            .cloned()
            .ok_or_else(|| AppError::new(ErrorCode::ScaleUnknown, format!("no scale with the code {code:?}")))
    }

    pub fn start_visit(&self, citizen: CitizenId) -> Result<VisitId, AppError> {
        self.write(|device| device.start_visit(citizen))
    }

    /// Records a scale the worker marks: not given (with the reason), or the answers the citizen
    /// gave aloud. Marks the citizen placed on the device come from citizen mode only, and
    /// paper forms and corrections have their own commands, so the record says who marked.
    pub fn record_response(&self, visit: VisitId, input: ResponseInput) -> Result<ResponseId, AppError> {
        match &input.content {
            ResponseContent::Given { marked_by: MarkedBy::ReadAloudVerbal, .. } | ResponseContent::NotGiven { .. } => {
                self.write(|device| device.record_response(visit, input))
            }
            _ => Err(AppError::new(
                ErrorCode::InputInvalid,
                "the worker records answers given aloud or a scale not given; the citizen's own marks come from citizen mode",
            )),
        }
    }

    /// Corrects a response with a new version (`Device::correct_response`).
    pub fn correct_response(&self, response: ResponseId, correction: Correction) -> Result<ResponseId, AppError> {
        self.write(|device| device.correct_response(response, correction))
    }

    /// Enters a paper form with the date written on it (`Device::record_paper`).
    pub fn record_paper(
        &self,
        citizen: CitizenId,
        paper_day: &str,
        scale: &str,
        answers: Vec<(String, i64)>,
    ) -> Result<ResponseId, AppError> {
        self.write(|device| device.record_paper(citizen, paper_day, scale, answers))
    }

    pub fn close_visit(&self, visit: VisitId) -> Result<(), AppError> {
        self.write(|device| device.close_visit(visit))
    }

    /// Cancels a visit started by mistake, or its group session (`Device::cancel_visit`).
    pub fn cancel_visit(&self, visit: VisitId) -> Result<(), AppError> {
        self.write(|device| device.cancel_visit(visit))
    }

    /// Starts a group session with the citizens present (`Device::start_group_visit`).
    pub fn start_group_visit(&self, citizens: &[CitizenId]) -> Result<GroupId, AppError> {
        self.write(|device| device.start_group_visit(citizens))
    }

    pub fn group(&self, group: GroupId) -> Result<GroupPage, AppError> {
        Ok(self.worker()?.group_view(group)?)
    }

    pub fn close_group_visit(&self, group: GroupId) -> Result<(), AppError> {
        self.write(|device| device.close_group_visit(group))
    }

    pub fn add_note(&self, citizen: CitizenId, visit: Option<VisitId>, body: &str) -> Result<NoteId, AppError> {
        self.write(|device| device.add_note(citizen, visit, body, None))
    }

    pub fn set_goal(
        &self,
        citizen: CitizenId,
        goal: Option<GoalId>,
        title: Option<&str>,
        status: Option<&str>,
    ) -> Result<GoalId, AppError> {
        self.write(|device| device.set_goal(citizen, goal, title, status))
    }

    pub fn delete_goal(&self, citizen: CitizenId, goal: GoalId) -> Result<(), AppError> {
        self.write(|device| device.delete_goal(citizen, goal))
    }

    pub fn sync_counters(&self) -> Result<SyncCounters, AppError> {
        Ok(lock(&self.device).sync_counters()?)
    }

    /// Hands the device to the citizen for one scale at an open visit.
    pub fn enter_citizen_mode(&self, visit: VisitId, scale: &str) -> Result<CitizenMode, AppError> {
        let mut device = self.worker()?;
        let scale = device
            .scales()
            .find(scale)
            .map(|s| s.code.clone())
            .ok_or_else(|| AppError::new(ErrorCode::ScaleUnknown, format!("no scale with the code {scale:?}")))?;
        let row = device.store_mut()?.visit(visit).map_err(DeviceError::from)?.ok_or(DeviceError::VisitNotFound)?;
        if row.closed_at_ms.is_some() {
            return Err(DeviceError::VisitClosed.into());
        }
        let mode =
            CitizenMode { visit, citizen: row.citizen, scale, done: false, pin_tries_left: CITIZEN_MODE_PIN_TRIES };
        // Citizen mode is taken before the device everywhere else (`leave_citizen_mode`).
        drop(device);
        *lock(&self.citizen_mode) = Some(mode.clone());
        Ok(mode)
    }

    /// Records the citizen's answer in citizen mode. Only once: a second answer needs the
    /// worker (who can leave citizen mode and start it again).
    pub fn record_citizen_answer(&self, answer: CitizenAnswer) -> Result<ResponseId, AppError> {
        let mut mode = lock(&self.citizen_mode);
        let current =
            mode.as_mut().ok_or_else(|| AppError::new(ErrorCode::CitizenModeOff, "citizen mode is not on"))?;
        if current.done {
            return Err(AppError::new(ErrorCode::CitizenModeDone, "the answer is recorded: hand the device back"));
        }
        let content = match answer {
            CitizenAnswer::Given { answers } => ResponseContent::Given {
                marked_by: MarkedBy::CitizenOnDevice,
                answers: answers.into_iter().map(|(item, value)| RawAnswer { item, value: value.into() }).collect(),
            },
            CitizenAnswer::NotGiven { reason } => ResponseContent::NotGiven { reason },
        };
        let input = ResponseInput { scale: current.scale.to_string(), content };
        let response = lock(&self.device).record_response(current.visit, input)?;
        current.done = true;
        self.wake_sync();
        Ok(response)
    }

    /// Leaves citizen mode with the worker's PIN. A wrong PIN here does not count towards the
    /// wipe: after `CITIZEN_MODE_PIN_TRIES` wrong ones the app locks instead (citizen mode
    /// ends, the visit stays open), and the unlock screen counts from there.
    pub fn leave_citizen_mode(&self, pin: &str) -> Result<(), AppError> {
        let mut mode = lock(&self.citizen_mode);
        let Some(current) = mode.as_mut() else {
            return Ok(());
        };
        let mut device = lock(&self.device);
        if device.pin_matches(pin)? {
            *mode = None;
            return Ok(());
        }
        current.pin_tries_left = current.pin_tries_left.saturating_sub(1);
        if current.pin_tries_left > 0 {
            let left = current.pin_tries_left;
            return Err(AppError::new(
                ErrorCode::PinWrong,
                format!("wrong PIN; {left} tries left before the app locks"),
            ));
        }
        *mode = None;
        device.lock();
        Err(AppError::new(
            ErrorCode::CitizenModeLocked,
            "too many wrong PINs: the app is locked; unlock it with the PIN",
        ))
    }

    /// Whether read-aloud can be offered: an engine was brought and it started.
    pub fn speech_available(&self) -> bool {
        self.speech.as_ref().is_some_and(|speech| speech.is_available())
    }

    /// Reads `text` aloud in `lang` (the language the screen shows it in), interrupting what
    /// is being read. Allowed in citizen mode and outside it alike: it speaks only what the
    /// caller passes, and reads nothing of the device.
    pub fn speak(&self, text: &str, lang: Lang) -> Result<(), AppError> {
        let speech = self.speech.as_ref().ok_or(SpeechError::Unavailable)?;
        speech.speak(speech::spoken_text(text)?, lang)?;
        Ok(())
    }

    /// Stops reading aloud; with no engine there is nothing to stop.
    pub fn stop_speech(&self) -> Result<(), AppError> {
        match &self.speech {
            Some(speech) => Ok(speech.stop()?),
            None => Ok(()),
        }
    }

    pub fn settings(&self) -> AppSettings {
        *lock(&self.settings)
    }

    /// Saves the settings; a worker action, so refused while a citizen holds the device.
    pub fn save_settings(&self, settings: AppSettings) -> Result<AppSettings, AppError> {
        drop(self.worker()?);
        // Held across the write, so the file and what the app goes by cannot disagree.
        let mut current = lock(&self.settings);
        self.settings_file.save(&settings)?;
        *current = settings;
        self.settings_changed.notify_one();
        Ok(settings)
    }

    /// The sync view for the window. While locked the window shows nothing of the device, not
    /// even how much waits to be sent.
    pub fn sync_view(&self) -> SyncView {
        let counters = {
            let device = lock(&self.device);
            if device.is_unlocked() { device.sync_counters().ok() } else { None }
        };
        SyncView {
            status: self.status.borrow().clone(),
            pending_changes: counters.map(|c| c.pending_changes),
            oldest_pending_age_ms: counters.and_then(|c| c.oldest_pending_age_ms),
        }
    }

    /// Asks the sync engine for a round now ("sync now"), starting it if it is not running.
    pub fn wake_sync(&self) {
        self.wake.notify_one();
    }

    /// The sync engine, for as long as the app runs: spawn it once. It starts once the device is
    /// enrolled and unlocked, and keeps running while the app is locked: the store stays open for
    /// it until the app ends. When it stops (the device was revoked, or the server no longer speaks this
    /// app's protocol) it waits for the next wake-up and looks again: a revoked device is not
    /// enrolled any more, and a blocked one tries one round, so "sync now" shows whether the
    /// server has come back to a protocol the app speaks.
    pub async fn run_sync(self: Arc<Self>) {
        loop {
            if self.status().enrolled {
                let (device, client) = (self.device.clone(), self.client.clone());
                let status = self.status.clone();
                sync::run_background(device, client, self.wake.clone(), self.shutdown.clone(), status).await;
            }
            self.wake.notified().await;
        }
    }

    /// Calls `show` with the sync view whenever the sync status changes, for as long as the app
    /// runs: the shell sends it to the window.
    pub async fn watch_sync(self: Arc<Self>, mut show: impl FnMut(SyncView)) {
        let mut changes = self.status.subscribe();
        while changes.changed().await.is_ok() {
            show(self.sync_view());
        }
    }

    /// Wakes the sync engine at the nightly window of the settings, for as long as the app runs;
    /// a change of the settings is taken up at once.
    pub async fn run_nightly(self: Arc<Self>) {
        loop {
            let (wait, next) = self.nightly_wait();
            tokio::select! {
                () = tokio::time::sleep(wait) => {
                    if next.is_some_and(|at| self.clock.now_ms() >= at) {
                        self.wake_sync();
                    }
                }
                () = self.settings_changed.notified() => {}
            }
        }
    }

    /// How long the nightly task sleeps, and the nightly sync it sleeps towards (none while
    /// switched off).
    fn nightly_wait(&self) -> (Duration, Option<u64>) {
        let now = self.clock.now_ms();
        let next = self.settings().nightly.next_after(now);
        let wait = next.map_or(NIGHTLY_CHECK_MAX, |at| Duration::from_millis(at.saturating_sub(now)));
        (wait.min(NIGHTLY_CHECK_MAX), next)
    }
}

#[cfg(test)]
mod tests;
