//! What a change refers to, and whether those references hold: a response belongs to a visit of
//! its own citizen, a correction supersedes a record of the same citizen,
//! a goal stays with the citizen it was made for, and a worker starts visits in their own name.
//! A device refuses to apply a change whose references do not hold (it would stall on it), so the
//! server refuses such a change before it reaches the log.
//!
//! The records a change can refer to are kept apart from the log (`records`), one row per visit,
//! response, note and goal, written as the changes that make them are logged.

use fit_core::ids::{CitizenId, GoalId, NoteId, ResponseId, VisitId, WorkerId};
use fit_protocol::{Change, ChangeBody, Entity};

use super::Refusal;

/// A record one change makes and others refer to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordKey {
    Visit(VisitId),
    Response(ResponseId),
    Note(NoteId),
    Goal(GoalId),
}

impl RecordKey {
    /// The `kind` column of the records table.
    pub fn kind(&self) -> &'static str {
        match self {
            RecordKey::Visit(_) => "visit",
            RecordKey::Response(_) => "response",
            RecordKey::Note(_) => "note",
            RecordKey::Goal(_) => "goal",
        }
    }

    /// The `id` column of the records table.
    pub fn id(&self) -> String {
        match self {
            RecordKey::Visit(id) => id.to_string(),
            RecordKey::Response(id) => id.to_string(),
            RecordKey::Note(id) => id.to_string(),
            RecordKey::Goal(id) => id.to_string(),
        }
    }

    /// The key a row of the records table names, if its kind and id are ones the server writes.
    pub fn parse(kind: &str, id: &str) -> Option<RecordKey> {
        match kind {
            "visit" => id.parse().ok().map(RecordKey::Visit),
            "response" => id.parse().ok().map(RecordKey::Response),
            "note" => id.parse().ok().map(RecordKey::Note),
            "goal" => id.parse().ok().map(RecordKey::Goal),
            _ => None,
        }
    }
}

impl std::fmt::Display for RecordKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind(), self.id())
    }
}

/// A record as the server holds it: whose it is, and whether the change that made it was set
/// aside (see `push::SetAsideReason`) rather than logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    pub citizen: CitizenId,
    /// The worker who started it (visits only).
    pub worker: Option<WorkerId>,
    pub set_aside: bool,
}

/// The records `body` refers to or makes, each once: what a backend reads for it.
pub fn keys(body: &ChangeBody) -> Vec<RecordKey> {
    let mut keys = match body {
        ChangeBody::VisitStarted { visit, .. } | ChangeBody::VisitClosed { visit, .. } => {
            vec![RecordKey::Visit(*visit)]
        }
        ChangeBody::ResponseRecorded { response, visit, supersedes, .. } => {
            let mut keys = vec![RecordKey::Response(*response), RecordKey::Visit(*visit)];
            keys.extend(supersedes.map(RecordKey::Response));
            keys
        }
        ChangeBody::NoteWritten { note, visit, supersedes, .. } => {
            let mut keys = vec![RecordKey::Note(*note)];
            keys.extend(visit.map(RecordKey::Visit));
            keys.extend(supersedes.map(RecordKey::Note));
            keys
        }
        ChangeBody::FieldSet { entity: Entity::Goal { goal, .. }, .. } => vec![RecordKey::Goal(*goal)],
        ChangeBody::FieldSet { entity: Entity::Citizen { .. }, .. } => vec![],
    };
    keys.dedup();
    keys
}

/// The record `change` makes, if it makes one the server does not hold yet (`known` says what
/// it holds).
pub fn made(change: &Change, set_aside: bool, known: impl Fn(&RecordKey) -> bool) -> Option<(RecordKey, Record)> {
    let citizen = change.citizen();
    let (key, worker) = match &change.body {
        ChangeBody::VisitStarted { visit, worker, .. } => (RecordKey::Visit(*visit), Some(*worker)),
        ChangeBody::ResponseRecorded { response, .. } => (RecordKey::Response(*response), None),
        ChangeBody::NoteWritten { note, .. } => (RecordKey::Note(*note), None),
        ChangeBody::FieldSet { entity: Entity::Goal { goal, .. }, .. } => (RecordKey::Goal(*goal), None),
        ChangeBody::VisitClosed { .. } | ChangeBody::FieldSet { entity: Entity::Citizen { .. }, .. } => return None,
    };
    (!known(&key)).then_some((key, Record { citizen, worker, set_aside }))
}

/// Whether a record `change` refers to was set aside: then the change is set aside too, so that
/// a device's later work on a set-aside visit neither stalls it nor reaches the log alone.
pub fn follows_set_aside(change: &Change, record: impl Fn(&RecordKey) -> Option<Record>) -> bool {
    keys(&change.body).iter().filter_map(record).any(|held| held.set_aside)
}

/// Checks the references of change `index` (of `worker`'s device) against the records held.
pub fn check(
    index: usize,
    change: &Change,
    worker: WorkerId,
    record: impl Fn(&RecordKey) -> Option<Record>,
) -> Result<(), Refusal> {
    let citizen = change.citizen();
    // The record must exist and be this citizen's. A visit another worker started is one a device
    // holds when the citizen moved to its worker (back-fill), and may be closed or added to.
    let owned = |key: RecordKey| match record(&key) {
        None => Err(Refusal::UnknownReference { index, what: key.to_string() }),
        Some(held) if held.citizen != citizen => Err(Refusal::ForeignReference { index, what: key.to_string() }),
        Some(_) => Ok(()),
    };
    // A record this change makes may exist already only as the same citizen's (a goal edited
    // again, a change sent again under another id).
    let fresh_or_own = |key: RecordKey| match record(&key) {
        Some(held) if held.citizen != citizen => Err(Refusal::ForeignReference { index, what: key.to_string() }),
        _ => Ok(()),
    };
    match &change.body {
        ChangeBody::VisitStarted { visit, worker: named, .. } => {
            if *named != worker {
                return Err(Refusal::WrongWorker { index });
            }
            match record(&RecordKey::Visit(*visit)) {
                Some(held) if held.citizen != citizen || held.worker != Some(worker) => {
                    Err(Refusal::ForeignReference { index, what: RecordKey::Visit(*visit).to_string() })
                }
                _ => Ok(()),
            }
        }
        ChangeBody::VisitClosed { visit, .. } => owned(RecordKey::Visit(*visit)),
        ChangeBody::ResponseRecorded { response, visit, supersedes, .. } => {
            fresh_or_own(RecordKey::Response(*response))?;
            owned(RecordKey::Visit(*visit))?;
            supersedes.map_or(Ok(()), |earlier| owned(RecordKey::Response(earlier)))
        }
        ChangeBody::NoteWritten { note, visit, supersedes, .. } => {
            fresh_or_own(RecordKey::Note(*note))?;
            visit.map_or(Ok(()), |visit| owned(RecordKey::Visit(visit)))?;
            supersedes.map_or(Ok(()), |earlier| owned(RecordKey::Note(earlier)))
        }
        ChangeBody::FieldSet { entity: Entity::Goal { goal, .. }, .. } => fresh_or_own(RecordKey::Goal(*goal)),
        ChangeBody::FieldSet { entity: Entity::Citizen { .. }, .. } => Ok(()),
    }
}
