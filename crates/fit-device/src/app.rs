//! What the app shell calls: one method per screen action over a shared `Device`, the
//! `{code, message}` error of the app boundary, and citizen mode.
//!
//! Citizen mode is enforced here, not only in the UI: while it is on, every worker action is
//! refused with `citizen_mode.active`, so a citizen holding the device cannot reach another
//! citizen's record however the screen is poked. Only the worker's PIN turns it off.

use std::sync::{Arc, Mutex, MutexGuard};

use fit_core::ids::{CitizenId, GoalId, NoteId, ResponseId, VisitId};
use fit_core::response::{MarkedBy, NotGivenReason, RawAnswer, ResponseContent, ResponseInput};
use fit_core::{Scale, ScaleCode};
use fit_protocol::ErrorCode;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

pub use crate::AppError;
use crate::sync::{SyncClient, SyncError};
use crate::{CaseloadLine, CitizenPage, Device, DeviceError, SyncCounters};

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

/// Where the app stands, for choosing the first screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct AppStatus {
    pub set_up: bool,
    pub unlocked: bool,
    pub enrolled: bool,
    pub worker_name: Option<String>,
    pub team_name: Option<String>,
    pub citizen_mode: Option<CitizenMode>,
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
}

/// The citizen's answer in citizen mode: tenths per item, or why it was not given.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, TS)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum CitizenAnswer {
    Given { answers: Vec<(String, i64)> },
    NotGiven { reason: NotGivenReason },
}

/// The shared device and the citizen-mode state: what the shell holds for the app's lifetime.
#[derive(Debug)]
pub struct AppSession {
    device: Arc<Mutex<Device>>,
    citizen_mode: Mutex<Option<CitizenMode>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every write is a SQLite transaction, so a panic under the lock leaves nothing half-done.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl AppSession {
    pub fn new(device: Device) -> AppSession {
        AppSession { device: Arc::new(Mutex::new(device)), citizen_mode: Mutex::new(None) }
    }

    /// The device, for the sync engine.
    pub fn device(&self) -> &Arc<Mutex<Device>> {
        &self.device
    }

    /// The device for a worker action: refused while a citizen holds it.
    fn worker(&self) -> Result<MutexGuard<'_, Device>, AppError> {
        if lock(&self.citizen_mode).is_some() {
            return Err(AppError::new(
                ErrorCode::CitizenModeActive,
                "the citizen is filling in a scale: the worker's PIN is needed to leave",
            ));
        }
        Ok(lock(&self.device))
    }

    pub fn status(&self) -> AppStatus {
        let device = lock(&self.device);
        let identity = device.store().ok().and_then(|s| s.identity().ok().flatten());
        let enrolled = device.store().ok().and_then(|s| s.sync_settings().ok().flatten()).is_some();
        AppStatus {
            set_up: device.is_set_up(),
            unlocked: device.is_unlocked(),
            enrolled,
            worker_name: identity.as_ref().map(|i| i.worker_name.clone()),
            team_name: identity.map(|i| i.team_name),
            citizen_mode: lock(&self.citizen_mode).clone(),
        }
    }

    /// Creates the encrypted store of a new device with the worker's chosen PIN.
    pub fn set_up(&self, pin: &str) -> Result<(), AppError> {
        self.worker()?.set_up(pin)?;
        Ok(())
    }

    /// Unlocks with the worker's PIN; a wrong one is counted and delayed.
    pub fn unlock(&self, pin: &str) -> Result<(), AppError> {
        lock(&self.device).unlock(pin)?;
        Ok(())
    }

    /// Locks the app. Citizen mode survives a lock: unlocking returns to it.
    pub fn lock(&self) {
        lock(&self.device).lock();
    }

    pub fn change_pin(&self, old_pin: &str, new_pin: &str) -> Result<(), AppError> {
        self.worker()?.change_pin(old_pin, new_pin)?;
        Ok(())
    }

    /// Trades a one-time code for a device token at `server_url`, then pulls the caseload.
    pub async fn enroll(&self, client: &SyncClient, server_url: &str, code: &str) -> Result<(), AppError> {
        drop(self.worker()?);
        let url = server_url.trim();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(AppError::new(
                ErrorCode::InputInvalid,
                "the server address must start with https:// or http://",
            ));
        }
        client.enroll(&self.device, url, code).await?;
        // The first pull brings the caseload; offline, the background sync brings it later.
        match client.sync_now(&self.device, |_| {}).await {
            Ok(_) => Ok(()),
            Err(error) if error.is_transient() => Ok(()),
            Err(other) => Err(other.into()),
        }
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
        Ok(self.worker()?.start_visit(citizen)?)
    }

    /// Records a scale the worker marks: not given (with the reason), or answers read aloud.
    pub fn record_response(&self, visit: VisitId, input: ResponseInput) -> Result<ResponseId, AppError> {
        Ok(self.worker()?.record_response(visit, input)?)
    }

    pub fn close_visit(&self, visit: VisitId) -> Result<(), AppError> {
        Ok(self.worker()?.close_visit(visit)?)
    }

    pub fn add_note(&self, citizen: CitizenId, visit: Option<VisitId>, body: &str) -> Result<NoteId, AppError> {
        Ok(self.worker()?.add_note(citizen, visit, body, None)?)
    }

    pub fn set_goal(
        &self,
        citizen: CitizenId,
        goal: Option<GoalId>,
        title: Option<&str>,
        status: Option<&str>,
    ) -> Result<GoalId, AppError> {
        Ok(self.worker()?.set_goal(citizen, goal, title, status)?)
    }

    pub fn delete_goal(&self, citizen: CitizenId, goal: GoalId) -> Result<(), AppError> {
        Ok(self.worker()?.delete_goal(citizen, goal)?)
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
        let mode = CitizenMode { visit, citizen: row.citizen, scale, done: false };
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
        Ok(response)
    }

    /// Leaves citizen mode with the worker's PIN. A wrong PIN counts like any other.
    pub fn leave_citizen_mode(&self, pin: &str) -> Result<(), AppError> {
        let mut mode = lock(&self.citizen_mode);
        if mode.is_none() {
            return Ok(());
        }
        lock(&self.device).verify_pin(pin)?;
        *mode = None;
        Ok(())
    }

    /// Sets up, enrolls and unlocks a new device in one step (the demo and the command line).
    /// Does nothing to a device that is set up already.
    pub async fn set_up_enrolled(
        &self,
        client: &SyncClient,
        pin: &str,
        server_url: &str,
        code: &str,
    ) -> Result<(), AppError> {
        if lock(&self.device).is_set_up() {
            return Ok(());
        }
        self.set_up(pin)?;
        self.enroll(client, server_url, code).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DeviceConfig, ManualClock};
    use fit_store::{KdfCost, UnlockPolicy};

    const PIN: &str = "246810";

    fn session(dir: &std::path::Path) -> AppSession {
        let config = DeviceConfig {
            unlock: UnlockPolicy { kdf: KdfCost::FOR_TESTS, delay_base_ms: 0, ..UnlockPolicy::default() },
            ..DeviceConfig::new(dir)
        };
        let device =
            Device::open(config, Arc::new(ManualClock::new(1_767_225_600_000))).unwrap_or_else(|e| panic!("{e}"));
        AppSession::new(device)
    }

    fn ok<T>(result: Result<T, AppError>) -> T {
        result.unwrap_or_else(|e| panic!("{e}"))
    }

    /// A set-up device with one citizen in its worker's caseload.
    fn with_citizen(session: &AppSession) -> CitizenId {
        ok(session.set_up(PIN));
        let mut device = lock(&session.device);
        let store = device.store_mut().unwrap_or_else(|e| panic!("{e}"));
        let (team, worker): (fit_core::ids::TeamId, fit_core::ids::WorkerId) =
            (uuid::Uuid::now_v7().into(), uuid::Uuid::now_v7().into());
        let citizen: CitizenId = uuid::Uuid::now_v7().into();
        store.set_worker(team, "Team", worker, "Worker").unwrap_or_else(|e| panic!("{e}"));
        store.assign_citizen(worker, citizen).unwrap_or_else(|e| panic!("{e}"));
        citizen
    }

    #[test]
    fn citizen_mode_refuses_worker_actions_until_the_worker_pin() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let session = session(dir.path());
        let citizen = with_citizen(&session);
        let visit = ok(session.start_visit(citizen));
        ok(session.enter_citizen_mode(visit, "ors"));
        assert_eq!(session.caseload().map_err(|e| e.code.as_str()).err(), Some("citizen_mode.active"));
        assert_eq!(session.citizen(citizen).map_err(|e| e.code.as_str()).err(), Some("citizen_mode.active"));
        assert_eq!(session.close_visit(visit).map_err(|e| e.code.as_str()).err(), Some("citizen_mode.active"));
        assert!(session.scale("ors").is_ok(), "the scale itself is not personal data");

        let answers = ["individually", "interpersonally", "socially", "overall"].map(|i| (i.to_owned(), 55)).to_vec();
        ok(session.record_citizen_answer(CitizenAnswer::Given { answers: answers.clone() }));
        let again = session.record_citizen_answer(CitizenAnswer::Given { answers });
        assert_eq!(again.map_err(|e| e.code.as_str()).err(), Some("citizen_mode.done"));

        assert_eq!(session.leave_citizen_mode("000000").map_err(|e| e.code.as_str()).err(), Some("pin.wrong"));
        assert!(session.status().citizen_mode.is_some(), "a wrong PIN leaves citizen mode on");
        ok(session.leave_citizen_mode(PIN));
        assert!(session.status().citizen_mode.is_none());
        let page = ok(session.citizen(citizen));
        assert_eq!(page.open_visit, Some(visit));
        assert_eq!(page.trajectory.points.len(), 1);
    }

    #[test]
    fn a_refused_answer_keeps_citizen_mode_open_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let session = session(dir.path());
        let citizen = with_citizen(&session);
        let visit = ok(session.start_visit(citizen));
        ok(session.enter_citizen_mode(visit, "srs"));
        let pending = ok(session.sync_counters()).pending_changes;
        let out_of_range = CitizenAnswer::Given { answers: vec![("relationship".into(), 101)] };
        assert!(session.record_citizen_answer(out_of_range).is_err());
        assert_eq!(ok(session.sync_counters()).pending_changes, pending);
        ok(session.record_citizen_answer(CitizenAnswer::NotGiven { reason: NotGivenReason::Declined }));
        assert_eq!(ok(session.sync_counters()).pending_changes, pending + 1);
    }

    #[test]
    fn bad_input_gets_a_code_and_a_message() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let session = session(dir.path());
        let citizen = with_citizen(&session);
        let error = session.add_note(citizen, None, "   ").err().unwrap_or_else(|| panic!("an empty note"));
        assert_eq!(error.code, "note.invalid");
        assert_eq!(session.scale("nope").map_err(|e| e.code.as_str()).err(), Some("scale.unknown"));
        let json = serde_json::to_value(&error).unwrap_or_else(|e| panic!("{e}"));
        let message = "a note needs text, at most 10000 characters";
        assert_eq!(json, serde_json::json!({"code": "note.invalid", "message": message}));
    }
}
