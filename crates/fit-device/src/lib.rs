//! What the app can ask for, with no Tauri in sight: unlock with a PIN, the caseload overview,
//! a citizen's trajectory, the visit flow (start, responses, notes, goals, close), the sync
//! counters, and read-aloud through a speech engine the shell brings (`speech`). Each service
//! checks its input with fit-core and writes through fit-store, where every write lands with its
//! outbox entry in one transaction. `app::App` puts them, with citizen
//! mode, the settings and the sync engine, behind the one service the app's shell calls.

pub mod app;
mod clock;
pub mod demo;
mod error;
pub mod packs;
pub mod settings;
pub mod speech;
pub mod sync;
mod views;

use std::path::PathBuf;
use std::sync::Arc;

use fit_core::hlc::MAX_DRIFT_MS_DEFAULT;
use fit_core::ids::{ChangeId, CitizenId, DeviceId, GoalId, GroupId, NoteId, ResponseId, VisitId, WorkerId};
use fit_core::interpret::{Measure, VisitScores};
use fit_core::plan::{Measured, PlanInput, Schedule, VisitKind};
use fit_core::response::{
    CorrectionReason, MarkedBy, NotGivenReason, RawAnswer, ResponseContent, ResponseError, ResponseInput,
};
use fit_core::{AgeBand, IdGenerator, ScaleSet, Trajectory, interpret};
use fit_protocol::{ChangeBody, Entity, FieldName};
use fit_store::keys::{self, StorePaths, UnlockPolicy};
use fit_store::{HistoryRow, Store};
use rand::SeedableRng;
use rand::rngs::StdRng;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{AppError, DeviceError};
pub use fit_protocol::{ErrorCode, GoalStatus};
pub use fit_store::{CitizenRow, GoalRow, NoteRow, ResponseRow, ResponseStatus, VisitRow};
pub use views::{CaseloadLine, CitizenPage, GroupMember, GroupPage, PlannedScale, SyncCounters, Trend, VisitProgress};

/// Where the device keeps its store and how it behaves.
#[derive(Debug, Clone)]
pub struct DeviceConfig {
    pub dir: PathBuf,
    pub unlock: UnlockPolicy,
    pub max_drift_ms: u64,
}

impl DeviceConfig {
    pub fn new(dir: impl Into<PathBuf>) -> DeviceConfig {
        DeviceConfig { dir: dir.into(), unlock: UnlockPolicy::default(), max_drift_ms: MAX_DRIFT_MS_DEFAULT }
    }
}

/// One device's local replica and the services over it. Locked until `unlock`.
///
/// Two locks, one for each threat: the store is closed, its data key nowhere, until the first
/// unlock of the process (a device at rest leaks nothing without the PIN); `locked` then hides
/// the worker's view (every worker action is refused) while the store stays open for the sync
/// engine alone (`replica`), so a locked device still sends and receives, at night too.
pub struct Device {
    paths: StorePaths,
    config: DeviceConfig,
    scales: ScaleSet,
    clock: Arc<dyn Clock>,
    ids: IdGenerator<StdRng>,
    store: Option<Store>,
    /// The worker's view is locked; the store may still be open for sync.
    locked: bool,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device").field("dir", &self.config.dir).field("unlocked", &self.is_unlocked()).finish()
    }
}

impl Device {
    /// Opens the device's store directory, locked.
    pub fn open(config: DeviceConfig, clock: Arc<dyn Clock>) -> Result<Device, DeviceError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| DeviceError::Unavailable(e.to_string()))?;
        let scales = ScaleSet::built_in().map_err(|e| DeviceError::Unavailable(e.to_string()))?;
        Ok(Device {
            paths: StorePaths::new(&config.dir),
            config,
            scales,
            clock,
            ids: IdGenerator::new(StdRng::from_seed(seed)),
            store: None,
            locked: true,
        })
    }

    pub fn is_set_up(&self) -> bool {
        self.paths.is_set_up()
    }

    /// Whether the store was erased because the server withdrew the device (until it is set up
    /// again).
    pub fn was_withdrawn(&self) -> bool {
        self.withdrawn_mark().exists()
    }

    fn withdrawn_mark(&self) -> std::path::PathBuf {
        self.config.dir.join("withdrawn")
    }

    pub fn is_unlocked(&self) -> bool {
        self.store.is_some() && !self.locked
    }

    /// Whether the store is open (unlocked once since the process started), for the sync engine.
    pub fn is_open(&self) -> bool {
        self.store.is_some()
    }

    pub fn scales(&self) -> &ScaleSet {
        &self.scales
    }

    /// Creates the encrypted store of a new device, protected by `pin`, and leaves it unlocked.
    pub fn set_up(&mut self, pin: &str) -> Result<DeviceId, DeviceError> {
        let key = keys::create_key(&self.paths, pin, &self.config.unlock)?;
        let device: DeviceId = self.ids.next(self.clock.now_ms());
        self.store = Some(Store::create(&self.paths, &key, device, self.config.max_drift_ms)?);
        self.locked = false;
        // Enrolled again: no longer the withdrawn device. A mark that cannot be removed only
        // shows the notice once more.
        let _ = std::fs::remove_file(self.withdrawn_mark());
        Ok(device)
    }

    /// Unlocks with the worker's PIN. A wrong PIN is counted; too many wipe the local store. A
    /// store open already (the app locked while running) stays open: a wrong PIN does not stop
    /// its sync.
    pub fn unlock(&mut self, pin: &str) -> Result<(), DeviceError> {
        let key = match keys::unlock(&self.paths, pin, self.clock.now_ms(), &self.config.unlock) {
            Ok(key) => key,
            Err(error) => {
                if !self.paths.is_set_up() {
                    // Wiped: the open connection must not outlive its files.
                    self.store = None;
                }
                return Err(error.into());
            }
        };
        if self.store.is_none() {
            let store = Store::open(&self.paths, &key, self.config.max_drift_ms)?;
            // The scales in use: the built-in packs and those the server sent (`packs`).
            self.scales = packs::scales_of(&store)?;
            self.store = Some(store);
        }
        self.locked = false;
        Ok(())
    }

    /// Whether `pin` is the worker's, on an unlocked device, without counting towards the wipe
    /// (`keys::pin_opens`): leaving citizen mode bounds its own tries and then locks.
    pub fn pin_matches(&self, pin: &str) -> Result<bool, DeviceError> {
        self.store()?;
        Ok(keys::pin_opens(&self.paths, pin)?)
    }

    /// Wrong PINs left at the unlock screen before the local data is erased; None before set-up.
    pub fn pin_attempts_left(&self) -> Option<u32> {
        keys::attempts_left(&self.paths, &self.config.unlock).ok()
    }

    /// Locks the worker's view. The store stays open for the sync engine while the process runs;
    /// it closes, and its key is dropped, when the process ends (or `close`).
    pub fn lock(&mut self) {
        self.locked = true;
    }

    /// Locks and closes the database, dropping the data key: only the PIN opens it again.
    pub fn close(&mut self) {
        self.locked = true;
        self.store = None;
    }

    pub fn change_pin(&mut self, old_pin: &str, new_pin: &str) -> Result<(), DeviceError> {
        keys::change_pin(&self.paths, old_pin, new_pin, self.clock.now_ms(), &self.config.unlock)?;
        Ok(())
    }

    /// Direct access to the unlocked store, for setting up a device.
    pub fn store_mut(&mut self) -> Result<&mut Store, DeviceError> {
        if self.locked {
            return Err(DeviceError::Locked);
        }
        self.store.as_mut().ok_or(DeviceError::Locked)
    }

    /// The store for a worker's action: refused while locked.
    fn store(&self) -> Result<&Store, DeviceError> {
        if self.locked {
            return Err(DeviceError::Locked);
        }
        self.store.as_ref().ok_or(DeviceError::Locked)
    }

    /// The open store whether the worker's view is locked or not: for the sync engine only, which
    /// shows nothing and sends only what the server holds the right to.
    pub(crate) fn replica(&self) -> Result<&Store, DeviceError> {
        self.store.as_ref().ok_or(DeviceError::Locked)
    }

    fn replica_mut(&mut self) -> Result<&mut Store, DeviceError> {
        self.store.as_mut().ok_or(DeviceError::Locked)
    }

    fn worker(&self) -> Result<WorkerId, DeviceError> {
        self.store()?.worker_id()?.ok_or(DeviceError::NotEnrolled)
    }

    fn check_caseload(&self, citizen: CitizenId) -> Result<WorkerId, DeviceError> {
        let worker = self.worker()?;
        if !self.store()?.is_in_caseload(worker, citizen)? {
            return Err(DeviceError::NotInCaseload);
        }
        Ok(worker)
    }

    fn open_visit(&self, visit: VisitId) -> Result<VisitRow, DeviceError> {
        let row = self.store()?.visit(visit)?.ok_or(DeviceError::VisitNotFound)?;
        self.check_caseload(row.citizen)?;
        if row.closed_at_ms.is_some() {
            return Err(DeviceError::VisitClosed);
        }
        Ok(row)
    }

    fn commit(&mut self, body: ChangeBody) -> Result<(), DeviceError> {
        let now = self.clock.now_ms();
        let id: ChangeId = self.ids.next(now);
        let store = self.store.as_mut().ok_or(DeviceError::Locked)?;
        store.commit_local(&self.scales, now, id, body)?;
        Ok(())
    }

    /// Every citizen in the caseload with the last ORS, its trend, open alerts and pending changes.
    /// Each line is cached in the store until the next change about its citizen.
    pub fn caseload_overview(&self) -> Result<Vec<CaseloadLine>, DeviceError> {
        let worker = self.worker()?;
        let store = self.store()?;
        let citizens = store.caseload(worker)?;
        let mut summaries = store.summaries(worker)?;
        let pending = store.pending_by_citizen()?;
        let open = store.open_visits()?;
        let schedule = self.schedule()?;
        let mut computed = Vec::new();
        let mut entries = Vec::with_capacity(citizens.len());
        for citizen in citizens {
            let summary = match summaries.remove(&citizen.id) {
                Some(summary) => summary,
                None => {
                    let history = store.history(worker, Some(citizen.id))?;
                    let visits = store.visits(citizen.id)?;
                    let trajectory = interpret(&self.scales, citizen.age_band, &visit_scores(&visits, history));
                    let summary = views::summarize(&trajectory, measured(&visits, &trajectory));
                    computed.push((citizen.id, summary.clone()));
                    summary
                }
            };
            let pending_changes = pending.get(&citizen.id).copied().unwrap_or(0);
            let due = self.wellbeing_due_ms(citizen.age_band, &summary.measured, &schedule);
            let open_visit = open.get(&citizen.id).copied();
            entries.push(CaseloadLine::new(citizen, &summary, pending_changes, due, open_visit));
        }
        store.save_summaries(&computed)?;
        // What needs attention first: serious, then a notice, then the rest, each by name (the
        // order the store gives, which a stable sort keeps).
        entries.sort_by_key(|line| std::cmp::Reverse(line.attention));
        Ok(entries)
    }

    /// A citizen's record: profile, trajectory with alerts, visits, notes and goals.
    /// The read is logged in the device's audit log.
    pub fn citizen_view(&self, citizen: CitizenId) -> Result<CitizenPage, DeviceError> {
        let worker = self.check_caseload(citizen)?;
        let store = self.store()?;
        let profile = store.citizen(citizen)?.ok_or(DeviceError::NotInCaseload)?;
        let age = profile.age_band;
        let visits = store.visits(citizen)?;
        let history = store.history(worker, Some(citizen))?;
        let scores = visit_scores(&visits, history);
        let trajectory = interpret(&self.scales, profile.age_band, &scores);
        store.audit_read(citizen, Some(worker), "citizen_view", self.clock.now_ms())?;
        let open = visits.iter().rev().find(|v| v.closed_at_ms.is_none());
        let schedule = self.schedule()?;
        let visit_plan =
            open.map(|open| self.progress(profile.age_band, open, &visits, &scores, &trajectory, &schedule));
        let wellbeing_due_ms = self.wellbeing_due_ms(profile.age_band, &measured(&visits, &trajectory), &schedule);
        Ok(CitizenPage {
            open_visit: open.map(|v| v.id),
            citizen: profile,
            trajectory,
            visits,
            notes: store.notes(citizen)?,
            goals: store.goals(citizen)?,
            visit_plan,
            wellbeing_due_ms,
            responses: store.responses(citizen)?,
            scales: self.applicable_scales(age),
        })
    }

    /// Every scale a visit may give a citizen of this age band (well-being included).
    fn applicable_scales(&self, age: AgeBand) -> Vec<PlannedScale> {
        let plan = fit_core::visit_plan(&self.scales, PlanInput { age, visit: VisitKind::Single, wellbeing_due: true });
        plan.start
            .into_iter()
            .chain(plan.end)
            .filter_map(|code| self.scales.get(&code))
            .map(|scale| PlannedScale {
                scale: scale.code.clone(),
                title: scale.title.clone(),
                kind: scale.kind,
                done: false,
            })
            .collect()
    }

    /// The team's well-being schedule, or the default until the server has sent one.
    fn schedule(&self) -> Result<Schedule, DeviceError> {
        Ok(self.store()?.wellbeing_schedule()?.unwrap_or_default())
    }

    fn wellbeing_due_ms(&self, age: AgeBand, measured: &Measured, schedule: &Schedule) -> Option<u64> {
        fit_core::wellbeing_applies(&self.scales, age).then(|| measured.next_due_ms(schedule)).flatten()
    }

    /// The plan of an open visit (`fit_core::visit_plan`) and what is recorded of it. Whether
    /// well-being is due is decided from the visits before this one, so giving it does not
    /// take it off the plan.
    fn progress(
        &self,
        age: AgeBand,
        open: &VisitRow,
        visits: &[VisitRow],
        scores: &[VisitScores],
        trajectory: &Trajectory,
        schedule: &Schedule,
    ) -> VisitProgress {
        let before = Measured::of(
            visit_measures(visits, trajectory)
                .filter(|(v, _)| v.id != open.id && v.started_at_ms <= open.started_at_ms)
                .map(|(v, given)| (v.started_at_ms, given)),
        );
        let wellbeing_due = before.is_due(schedule, open.started_at_ms);
        let visit = if open.group.is_some() { VisitKind::Group } else { VisitKind::Single };
        let plan = fit_core::visit_plan(&self.scales, PlanInput { age, visit, wellbeing_due });
        let recorded: Vec<_> = scores
            .iter()
            .filter(|s| s.visit == open.id)
            .flat_map(|s| s.responses.iter().map(|r| r.scale.clone()))
            .collect();
        let planned = |codes: Vec<fit_core::ScaleCode>| -> Vec<PlannedScale> {
            codes
                .into_iter()
                .filter_map(|code| self.scales.get(&code))
                .map(|scale| PlannedScale {
                    done: recorded.contains(&scale.code),
                    scale: scale.code.clone(),
                    title: scale.title.clone(),
                    kind: scale.kind,
                })
                .collect()
        };
        VisitProgress { visit: open.id, start: planned(plan.start), end: planned(plan.end) }
    }

    pub fn start_visit(&mut self, citizen: CitizenId) -> Result<VisitId, DeviceError> {
        let worker = self.check_caseload(citizen)?;
        let now = self.clock.now_ms();
        let visit: VisitId = self.ids.next(now);
        self.commit(ChangeBody::VisitStarted { visit, citizen, worker, started_at_ms: now, group: None })?;
        Ok(visit)
    }

    /// Starts a group session: a visit for each citizen present (every change names one
    /// citizen), sharing the session's id, so each gives the group's scales in turn. Two to
    /// `GROUP_SIZE_MAX` different citizens of the caseload; anything else writes nothing.
    pub fn start_group_visit(&mut self, citizens: &[CitizenId]) -> Result<GroupId, DeviceError> {
        let distinct: std::collections::BTreeSet<_> = citizens.iter().collect();
        if distinct.len() != citizens.len() || !(2..=GROUP_SIZE_MAX).contains(&citizens.len()) {
            return Err(DeviceError::Invalid(format!(
                "a group visit has 2 to {GROUP_SIZE_MAX} different citizens, not {} with {} different",
                citizens.len(),
                distinct.len()
            )));
        }
        let mut worker = None;
        for citizen in citizens {
            worker = Some(self.check_caseload(*citizen)?);
        }
        let worker = worker.ok_or(DeviceError::NotInCaseload)?;
        let now = self.clock.now_ms();
        let group: GroupId = self.ids.next(now);
        for &citizen in citizens {
            let visit: VisitId = self.ids.next(now);
            self.commit(ChangeBody::VisitStarted { visit, citizen, worker, started_at_ms: now, group: Some(group) })?;
        }
        Ok(group)
    }

    /// A group session as the worker runs it: each citizen present with the plan of their visit
    /// (`VisitKind::Group`: the group alliance scale at the end) and what is recorded, their
    /// point of this visit and their alerts. Each member's read is logged in the audit log.
    pub fn group_view(&self, group: GroupId) -> Result<GroupPage, DeviceError> {
        let worker = self.worker()?;
        let store = self.store()?;
        let visits = store.group_visits(group)?;
        let started_at_ms = visits.iter().map(|v| v.started_at_ms).min().ok_or(DeviceError::VisitNotFound)?;
        let schedule = self.schedule()?;
        let mut members = Vec::with_capacity(visits.len());
        for visit in visits {
            // A member who has left the caseload since is not shown to this worker.
            if !store.is_in_caseload(worker, visit.citizen)? {
                continue;
            }
            let profile = store.citizen(visit.citizen)?.ok_or(DeviceError::NotInCaseload)?;
            let all = store.visits(visit.citizen)?;
            let scores = visit_scores(&all, store.history(worker, Some(visit.citizen))?);
            let trajectory = interpret(&self.scales, profile.age_band, &scores);
            store.audit_read(visit.citizen, Some(worker), "group_view", self.clock.now_ms())?;
            let plan = visit
                .closed_at_ms
                .is_none()
                .then(|| self.progress(profile.age_band, &visit, &all, &scores, &trajectory, &schedule));
            members.push(GroupMember {
                point: trajectory.points.iter().find(|p| p.visit == visit.id).cloned(),
                alerts: trajectory.alerts,
                display_name: profile.display_name,
                citizen: visit.citizen,
                visit: visit.id,
                plan,
            });
        }
        Ok(GroupPage { group, started_at_ms, members })
    }

    /// Closes every visit of a group session still open.
    pub fn close_group_visit(&mut self, group: GroupId) -> Result<(), DeviceError> {
        let visits = self.store()?.group_visits(group)?;
        if visits.is_empty() {
            return Err(DeviceError::VisitNotFound);
        }
        for visit in visits.iter().filter(|v| v.closed_at_ms.is_none()) {
            self.close_visit(visit.id)?;
        }
        Ok(())
    }

    /// Records a filled-in or not-given scale at an open visit.
    /// The answers are checked (`Change::check`) when the change is written.
    pub fn record_response(&mut self, visit: VisitId, input: ResponseInput) -> Result<ResponseId, DeviceError> {
        let row = self.open_visit(visit)?;
        let scale = self.scales.find(&input.scale).ok_or_else(|| ResponseError::UnknownScale(input.scale.clone()))?;
        let (scale, scale_version) = (scale.code.clone(), scale.version.clone());
        let now = self.clock.now_ms();
        let response: ResponseId = self.ids.next(now);
        self.commit(ChangeBody::ResponseRecorded {
            response,
            visit,
            citizen: row.citizen,
            scale,
            scale_version,
            answered: input.content,
            recorded_at_ms: now,
            supersedes: None,
            correction: None,
        })?;
        Ok(response)
    }

    /// Corrects a response in force with a new one that supersedes it, at the same visit, of the
    /// same citizen and scale: the right marks (placed as the original's were), "not given", or
    /// withdrawn (recorded for the wrong citizen, or twice). The corrected one stays in the
    /// history. A response already corrected is refused: its latest version is the one to correct.
    pub fn correct_response(
        &mut self,
        response: ResponseId,
        correction: Correction,
    ) -> Result<ResponseId, DeviceError> {
        let earlier =
            self.store()?.response(response)?.ok_or(DeviceError::NotCorrectable("the response was not found"))?;
        self.check_caseload(earlier.citizen)?;
        if earlier.superseded_by.is_some() {
            return Err(DeviceError::NotCorrectable("the response is corrected already: correct its latest version"));
        }
        let (reason, answered) = match correction {
            Correction::Marks { answers } => {
                // The right marks are the same person's answer: who placed the wrong ones placed these.
                let marked_by = earlier.marked_by.unwrap_or(MarkedBy::ReadAloudVerbal);
                (CorrectionReason::WrongMark, ResponseContent::Given { marked_by, answers: raw_answers(answers) })
            }
            Correction::NotGiven { reason } => (CorrectionReason::WrongMark, ResponseContent::NotGiven { reason }),
            Correction::Withdraw { reason } if reason.withdraws() => (reason, ResponseContent::Withdrawn {}),
            Correction::Withdraw { .. } => {
                return Err(DeviceError::Invalid("a wrong mark is corrected with the right marks".into()));
            }
        };
        let scale =
            self.scales.get(&earlier.scale).ok_or_else(|| ResponseError::UnknownScale(earlier.scale.to_string()))?;
        let scale_version = scale.version.clone();
        let now = self.clock.now_ms();
        let id: ResponseId = self.ids.next(now);
        self.commit(ChangeBody::ResponseRecorded {
            response: id,
            visit: earlier.visit,
            citizen: earlier.citizen,
            scale: earlier.scale,
            scale_version,
            answered,
            recorded_at_ms: now,
            supersedes: Some(response),
            correction: Some(reason),
        })?;
        Ok(id)
    }

    /// Enters a scale the citizen filled in on paper, dated `paper_day` (`YYYY-MM-DD`, the date
    /// written on the form): a visit of its own at that day, closed, with the response marked
    /// as transcribed. The date may not be after today, more than 90 days back, or before the
    /// citizen's support started (`fit_core::check_paper_date`). Another form of the same day
    /// joins the paper visit of that day.
    pub fn record_paper(
        &mut self,
        citizen: CitizenId,
        paper_day: &str,
        scale: &str,
        answers: Vec<(String, i64)>,
    ) -> Result<ResponseId, DeviceError> {
        let worker = self.check_caseload(citizen)?;
        let profile = self.store()?.citizen(citizen)?.ok_or(DeviceError::NotInCaseload)?;
        let day = fit_protocol::parse_day(paper_day)
            .ok_or_else(|| DeviceError::Invalid(format!("{paper_day:?} is not a date (YYYY-MM-DD)")))?;
        let now = self.clock.now_ms();
        let today = local_day(now);
        let started = profile.support_started.as_deref().and_then(fit_protocol::parse_day);
        let number = |d: chrono::NaiveDate| i64::from(chrono::Datelike::num_days_from_ce(&d));
        fit_core::check_paper_date(number(day), number(today), started.map(number))?;
        let scale = self.scales.find(scale).ok_or_else(|| ResponseError::UnknownScale(scale.to_owned()))?;
        let (scale, scale_version) = (scale.code.clone(), scale.version.clone());
        let answered =
            ResponseContent::Given { marked_by: MarkedBy::TranscribedFromPaper, answers: raw_answers(answers) };
        let at = paper_visit_ms(day);
        let existing = self.store()?.visits(citizen)?.into_iter().find(|v| v.started_at_ms == at && v.worker == worker);
        let response: ResponseId = self.ids.next(now);
        let visit = existing.as_ref().map_or_else(|| self.ids.next(now), |v| v.id);
        let body = ChangeBody::ResponseRecorded {
            response,
            visit,
            citizen,
            scale,
            scale_version,
            answered,
            recorded_at_ms: now,
            supersedes: None,
            correction: None,
        };
        // Check the answers before the visit is written, so a wrong form leaves nothing behind.
        body.check(&self.scales).map_err(|e| match e {
            fit_protocol::ChangeError::Response(r) => DeviceError::Response(r),
            other => DeviceError::Invalid(other.to_string()),
        })?;
        if existing.is_none() {
            self.commit(ChangeBody::VisitStarted { visit, citizen, worker, started_at_ms: at, group: None })?;
            self.commit(ChangeBody::VisitClosed { visit, citizen, closed_at_ms: at, cancelled: false })?;
        }
        self.commit(body)?;
        Ok(response)
    }

    pub fn close_visit(&mut self, visit: VisitId) -> Result<(), DeviceError> {
        let row = self.open_visit(visit)?;
        let closed_at_ms = self.clock.now_ms().max(row.started_at_ms);
        self.commit(ChangeBody::VisitClosed { visit, citizen: row.citizen, closed_at_ms, cancelled: false })
    }

    /// Cancels a visit started by mistake: closed as cancelled, it counts as no visit on every
    /// replica. A visit of a group session cancels the session (each citizen's visit). Only while
    /// nothing is recorded at it (no response, not-given included, and no note): what was recorded
    /// is never taken back this way; else `VisitNotEmpty`, and nothing is written. The close is a
    /// change like any other, synced or not yet: the outbox stays gapless, and a batch already on
    /// its way to the server with the visit's start is answered by the cancellation after it.
    pub fn cancel_visit(&mut self, visit: VisitId) -> Result<(), DeviceError> {
        let row = self.open_visit(visit)?;
        let session = match row.group {
            Some(group) => {
                self.store()?.group_visits(group)?.into_iter().filter(|v| v.closed_at_ms.is_none()).collect()
            }
            None => vec![row],
        };
        for member in &session {
            self.check_caseload(member.citizen)?;
            if self.store()?.visit_has_records(member.id)? {
                return Err(DeviceError::VisitNotEmpty);
            }
        }
        let now = self.clock.now_ms();
        for member in session {
            let closed_at_ms = now.max(member.started_at_ms);
            self.commit(ChangeBody::VisitClosed {
                visit: member.id,
                citizen: member.citizen,
                closed_at_ms,
                cancelled: true,
            })?;
        }
        Ok(())
    }

    /// Adds a note, or a new version of one (`supersedes`).
    pub fn add_note(
        &mut self,
        citizen: CitizenId,
        visit: Option<VisitId>,
        body: &str,
        supersedes: Option<NoteId>,
    ) -> Result<NoteId, DeviceError> {
        self.check_caseload(citizen)?;
        if let Some(visit) = visit
            && self.store()?.visit(visit)?.is_none_or(|v| v.citizen != citizen)
        {
            return Err(DeviceError::VisitNotFound);
        }
        let now = self.clock.now_ms();
        let note: NoteId = self.ids.next(now);
        let body = fit_protocol::written_text(body);
        self.commit(ChangeBody::NoteWritten { note, citizen, visit, body, written_at_ms: now, supersedes })?;
        Ok(note)
    }

    /// Creates a goal (`goal` None) or edits one; only the fields given are written.
    pub fn set_goal(
        &mut self,
        citizen: CitizenId,
        goal: Option<GoalId>,
        title: Option<&str>,
        status: Option<&str>,
    ) -> Result<GoalId, DeviceError> {
        self.check_caseload(citizen)?;
        let goal = match goal {
            Some(goal) => goal,
            None if title.is_some() => self.ids.next(self.clock.now_ms()),
            None => return Err(DeviceError::Invalid("a new goal needs a title".into())),
        };
        let entity = Entity::Goal { goal, citizen };
        let fields = [(FieldName::Title, title), (FieldName::Status, status)];
        for (field, value) in fields.into_iter().filter_map(|(f, v)| v.map(|v| (f, v))) {
            let value = serde_json::Value::String(fit_protocol::written_text(value));
            // Check before writing anything, so a bad status does not leave half a goal behind.
            field.check(&entity, &value).map_err(|e| DeviceError::Invalid(e.to_string()))?;
        }
        for (field, value) in fields.into_iter().filter_map(|(f, v)| v.map(|v| (f, v))) {
            let value = serde_json::Value::String(fit_protocol::written_text(value));
            self.commit(ChangeBody::FieldSet { entity, field, value, base: None })?;
        }
        Ok(goal)
    }

    pub fn delete_goal(&mut self, citizen: CitizenId, goal: GoalId) -> Result<(), DeviceError> {
        self.check_caseload(citizen)?;
        let entity = Entity::Goal { goal, citizen };
        self.commit(ChangeBody::FieldSet { entity, field: FieldName::Deleted, value: true.into(), base: None })
    }

    /// How much is waiting to sync, and for how long.
    /// What waits to be sent: counts and an age, no personal data, so known while locked too.
    pub fn sync_counters(&self) -> Result<SyncCounters, DeviceError> {
        let store = self.replica()?;
        let oldest = store.oldest_pending_ms()?;
        Ok(SyncCounters {
            pending_changes: store.pending_count()?,
            oldest_pending_age_ms: oldest.map(|t| self.clock.now_ms().saturating_sub(t)),
        })
    }
}

/// The most citizens one group visit may have: a group session of a bostøtte team, with room.
pub const GROUP_SIZE_MAX: usize = 12;

/// How a worker corrects a response (`Device::correct_response`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Correction {
    /// The marks were wrong: these are the right ones, item by item (tenths or option values).
    Marks { answers: Vec<(String, i64)> },
    /// The scale was not given after all.
    NotGiven { reason: NotGivenReason },
    /// Recorded for the wrong citizen, or twice: the response is taken back.
    Withdraw { reason: CorrectionReason },
}

fn raw_answers(answers: Vec<(String, i64)>) -> Vec<RawAnswer> {
    answers.into_iter().map(|(item, value)| RawAnswer { item, value: value.into() }).collect()
}

/// The device's own calendar day at `now_ms` (its time zone): a paper form dated "today" in
/// Denmark is today here, also in the hours when the UTC date is still yesterday.
fn local_day(now_ms: u64) -> chrono::NaiveDate {
    let utc = i64::try_from(now_ms).ok().and_then(chrono::DateTime::from_timestamp_millis).unwrap_or_default();
    utc.with_timezone(&chrono::Local).date_naive()
}

/// When a paper visit of `day` is placed: noon of that day on the device's clock, so it sorts
/// among the visits of its day and on its day in any Danish time.
fn paper_visit_ms(day: chrono::NaiveDate) -> u64 {
    let noon = day.and_hms_opt(12, 0, 0).unwrap_or_default();
    let local = noon.and_local_timezone(chrono::Local).earliest().map(|t| t.timestamp_millis());
    local.and_then(|ms| u64::try_from(ms).ok()).unwrap_or(0)
}

/// Every visit of a citizen in order, with the responses recorded at it.
fn visit_scores(visits: &[VisitRow], history: Vec<HistoryRow>) -> Vec<VisitScores> {
    let mut by_visit: std::collections::HashMap<VisitId, Vec<_>> = std::collections::HashMap::new();
    for row in history {
        by_visit.entry(row.visit).or_default().push(row.response);
    }
    visits.iter().map(|v| VisitScores { visit: v.id, responses: by_visit.remove(&v.id).unwrap_or_default() }).collect()
}

/// Each visit with whether its trajectory point (one per visit, in order) has a given
/// well-being measure: what `interpret` decided, not a second reading of the responses.
fn visit_measures<'a>(visits: &'a [VisitRow], trajectory: &Trajectory) -> impl Iterator<Item = (&'a VisitRow, bool)> {
    let given: std::collections::HashSet<VisitId> = trajectory
        .points
        .iter()
        .filter(|p| matches!(p.wellbeing, Some(Measure::Given { .. })))
        .map(|p| p.visit)
        .collect();
    visits.iter().map(move |v| (v, given.contains(&v.id)))
}

/// What the well-being schedule counts from, over all of a citizen's visits.
fn measured(visits: &[VisitRow], trajectory: &Trajectory) -> Measured {
    Measured::of(visit_measures(visits, trajectory).map(|(v, given)| (v.started_at_ms, given)))
}

#[cfg(test)]
mod tests;
