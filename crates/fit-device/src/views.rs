//! What the services return: plain data for the screens.

use fit_core::ids::{CitizenId, GroupId, VisitId};
use fit_core::interpret::{Alert, AlertCode, Measure, Severity, TrajectoryPoint};
use fit_core::scale::ScaleKind;
use fit_core::{Measured, ScaleCode, Text, Trajectory};
use fit_store::{CitizenRow, CitizenSummary, GoalRow, NoteRow, ResponseRow, VisitRow};
use serde::Serialize;
use ts_rs::TS;

/// The direction of the last ORS against the one before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Trend {
    Up,
    Down,
    Flat,
}

/// One line of the caseload screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct CaseloadLine {
    pub citizen: CitizenRow,
    pub last_ors_tenths: Option<i64>,
    pub trend: Option<Trend>,
    /// The most serious first.
    pub alerts: Vec<AlertCode>,
    /// The most serious of the alerts, if any: the caseload is ordered by it.
    pub attention: Option<Severity>,
    pub pending_changes: u64,
    /// When the well-being scale is next due (device time; at or before now: due at the next
    /// visit). None where the citizen is not given one.
    pub wellbeing_due_ms: Option<u64>,
    /// A visit started and not closed yet, and the group session it is part of, if any: the
    /// card offers to continue it.
    pub open_visit: Option<VisitId>,
    pub open_group: Option<GroupId>,
}

impl CaseloadLine {
    pub(crate) fn new(
        citizen: CitizenRow,
        summary: &CitizenSummary,
        pending_changes: u64,
        wellbeing_due_ms: Option<u64>,
        open: Option<(VisitId, Option<GroupId>)>,
    ) -> CaseloadLine {
        let trend = match (summary.last_outcome_tenths, summary.previous_outcome_tenths) {
            (Some(last), Some(previous)) => Some(match last.cmp(&previous) {
                std::cmp::Ordering::Greater => Trend::Up,
                std::cmp::Ordering::Less => Trend::Down,
                std::cmp::Ordering::Equal => Trend::Flat,
            }),
            _ => None,
        };
        CaseloadLine {
            citizen,
            last_ors_tenths: summary.last_outcome_tenths,
            trend,
            // The most serious first: the card shows the first, the rest one tap away.
            alerts: {
                let mut alerts = summary.alerts.clone();
                alerts.sort_by_key(|a| std::cmp::Reverse(a.severity()));
                alerts
            },
            attention: summary.alerts.iter().map(|a| a.severity()).max(),
            pending_changes,
            wellbeing_due_ms,
            open_visit: open.map(|(visit, _)| visit),
            open_group: open.and_then(|(_, group)| group),
        }
    }
}

/// What the caseload line needs from a trajectory: the last two outcome totals and the alerts,
/// and what the well-being schedule counts from.
pub(crate) fn summarize(trajectory: &Trajectory, measured: Measured) -> CitizenSummary {
    let mut outcomes = trajectory.points.iter().rev().filter_map(|p| match &p.outcome {
        Some(Measure::Given { total, .. }) => Some(total.score),
        _ => None,
    });
    let mut alerts: Vec<_> = trajectory.alerts.iter().map(|a| a.code).collect();
    alerts.dedup();
    CitizenSummary { last_outcome_tenths: outcomes.next(), previous_outcome_tenths: outcomes.next(), alerts, measured }
}

/// A citizen's page: profile, trajectory with alerts, visits (oldest first), notes and goals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct CitizenPage {
    pub citizen: CitizenRow,
    pub trajectory: Trajectory,
    pub visits: Vec<VisitRow>,
    pub notes: Vec<NoteRow>,
    pub goals: Vec<GoalRow>,
    /// A visit started and not closed yet, if any: the page offers to continue it.
    pub open_visit: Option<VisitId>,
    /// The scales of the open visit and which are recorded: the visit flow steps through them.
    pub visit_plan: Option<VisitProgress>,
    /// When the well-being scale is next due, as on the caseload line.
    pub wellbeing_due_ms: Option<u64>,
    /// Every response, corrected ones included, by visit: the history with its corrections.
    pub responses: Vec<ResponseRow>,
    /// The scales that apply to this citizen (a visit's plan with well-being), in the order a
    /// visit gives them: what a paper form may be, and the titles of the responses.
    pub scales: Vec<PlannedScale>,
}

/// A group session: the citizens present, each with their own visit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct GroupPage {
    pub group: GroupId,
    pub started_at_ms: u64,
    /// By name.
    pub members: Vec<GroupMember>,
}

/// One citizen present at a group session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct GroupMember {
    pub citizen: CitizenId,
    pub display_name: String,
    pub visit: VisitId,
    /// The scales of their visit and which are recorded; None once their visit is closed.
    pub plan: Option<VisitProgress>,
    /// What this visit measured of them, once something is recorded.
    pub point: Option<TrajectoryPoint>,
    /// Their current alerts.
    pub alerts: Vec<Alert>,
}

/// One scale of a visit's plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct PlannedScale {
    pub scale: ScaleCode,
    pub title: Text,
    pub kind: ScaleKind,
    /// True once a response (given or not) is recorded for it at this visit.
    pub done: bool,
}

/// The scales of an open visit in the order they are given (`fit_core::visit_plan`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct VisitProgress {
    pub visit: VisitId,
    /// Given when the visit starts, before the worker and citizen look at the trajectory.
    pub start: Vec<PlannedScale>,
    /// Given at the end of the visit.
    pub end: Vec<PlannedScale>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
pub struct SyncCounters {
    pub pending_changes: u64,
    /// How long the oldest unsynced change has waited, if any.
    pub oldest_pending_age_ms: Option<u64>,
}
