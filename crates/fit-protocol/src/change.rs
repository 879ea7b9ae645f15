//! Changes: the units of sync. Immutable facts (a visit started or closed, a response, a note
//! version) are created once and never edited; a correction is a new fact that names the one it
//! supersedes. Mutable fields (citizen profile, goals) travel as last-writer-wins field writes.

use fit_core::hlc::Hlc;
use fit_core::ids::{ChangeId, CitizenId, DeviceId, GoalId, NoteId, ResponseId, VisitId, WorkerId};
use fit_core::merge::Version;
use fit_core::response::{MarkedBy, NotGivenReason, RawAnswer};
use fit_core::scale::ScaleCode;
use serde::{Deserialize, Serialize};

/// One change as recorded in a device's outbox and sent in a batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Change {
    pub id: ChangeId,
    pub device: DeviceId,
    /// The device's outbox sequence number: starts at 1 and only grows.
    pub seq: u64,
    pub hlc: Hlc,
    /// The device's wall clock when it recorded the change (kept for audit; ordering uses `hlc`).
    pub device_time_ms: u64,
    pub schema_version: u32,
    pub body: ChangeBody,
}

impl Change {
    /// The citizen the change is about: it decides which devices may receive it.
    pub fn citizen(&self) -> CitizenId {
        self.body.citizen()
    }
}

/// What happened. Every variant names its citizen, because sync scope is the caseload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ChangeBody {
    VisitStarted {
        visit: VisitId,
        citizen: CitizenId,
        worker: WorkerId,
        started_at_ms: u64,
    },
    VisitClosed {
        visit: VisitId,
        citizen: CitizenId,
        closed_at_ms: u64,
    },
    /// A filled-in or not-given scale. The answers are sent as recorded; the receiver checks them
    /// again with fit-core before it stores them.
    ResponseRecorded {
        response: ResponseId,
        visit: VisitId,
        citizen: CitizenId,
        scale: ScaleCode,
        scale_version: String,
        answered: Answered,
        recorded_at_ms: u64,
        supersedes: Option<ResponseId>,
    },
    NoteWritten {
        note: NoteId,
        citizen: CitizenId,
        visit: Option<VisitId>,
        body: String,
        written_at_ms: u64,
        supersedes: Option<NoteId>,
    },
    /// A last-writer-wins write of one field. `value` null is a delete (a tombstone).
    FieldSet {
        entity: Entity,
        field: FieldName,
        value: serde_json::Value,
        base: Option<Version>,
    },
}

impl ChangeBody {
    pub fn citizen(&self) -> CitizenId {
        match self {
            ChangeBody::VisitStarted { citizen, .. }
            | ChangeBody::VisitClosed { citizen, .. }
            | ChangeBody::ResponseRecorded { citizen, .. }
            | ChangeBody::NoteWritten { citizen, .. } => *citizen,
            ChangeBody::FieldSet { entity, .. } => entity.citizen(),
        }
    }
}

/// The answers of a response as sent: given with marks, or not given with a reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Answered {
    Given { marked_by: MarkedBy, answers: Vec<RawAnswer> },
    NotGiven { reason: NotGivenReason },
}

/// The record a field belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Entity {
    Citizen { citizen: CitizenId },
    Goal { goal: GoalId, citizen: CitizenId },
}

impl Entity {
    pub fn citizen(&self) -> CitizenId {
        match self {
            Entity::Citizen { citizen } | Entity::Goal { citizen, .. } => *citizen,
        }
    }
}

/// The mutable fields. A closed list, so a change can never write an arbitrary column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldName {
    /// Citizen: a pseudonymous display name (never a CPR number).
    DisplayName,
    /// Citizen: year of birth, when known.
    BirthYear,
    /// Citizen: child, adolescent or adult; decides the ORS cutoff.
    AgeBand,
    /// Citizen: the municipality's case reference.
    CaseReference,
    /// Goal: what the citizen wants to reach.
    Title,
    /// Goal: active, achieved or dropped.
    Status,
    /// Goal: true once deleted. A tombstone, so an older edit cannot bring the goal back.
    Deleted,
}

/// Longest pseudonymous display name, in characters.
pub const DISPLAY_NAME_LEN_MAX: usize = 120;
/// Longest case reference: municipal case numbers are short.
pub const CASE_REFERENCE_LEN_MAX: usize = 64;
/// Longest goal title, in characters: a sentence or two.
pub const GOAL_TITLE_LEN_MAX: usize = 500;
/// Longest note, in characters: a visit note is short; this bounds a row, not a writer.
pub const NOTE_LEN_MAX: usize = 10_000;

/// Which kind of record a field belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntityKind {
    Citizen,
    Goal,
}

/// A field value that has been checked for its field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldValue {
    Text(String),
    Integer(i64),
    Bool(bool),
    Null,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    #[error("the field {field} does not belong to a {entity}")]
    WrongEntity { field: &'static str, entity: &'static str },
    #[error("the field {field} needs {expected}")]
    Invalid { field: &'static str, expected: &'static str },
}

impl FieldName {
    pub fn entity_kind(self) -> EntityKind {
        match self {
            FieldName::DisplayName | FieldName::BirthYear | FieldName::AgeBand | FieldName::CaseReference => {
                EntityKind::Citizen
            }
            FieldName::Title | FieldName::Status | FieldName::Deleted => EntityKind::Goal,
        }
    }

    /// Checks that `value` is a valid value of this field on `entity`.
    pub fn check(self, entity: &Entity, value: &serde_json::Value) -> Result<FieldValue, FieldError> {
        use serde_json::Value;
        let field = self.as_str();
        let entity_kind = match entity {
            Entity::Citizen { .. } => EntityKind::Citizen,
            Entity::Goal { .. } => EntityKind::Goal,
        };
        if entity_kind != self.entity_kind() {
            let entity = if entity_kind == EntityKind::Citizen { "citizen" } else { "goal" };
            return Err(FieldError::WrongEntity { field, entity });
        }
        let invalid = |expected| Err(FieldError::Invalid { field, expected });
        let text = |max: usize, expected| match value {
            Value::String(s) if !s.trim().is_empty() && s.chars().count() <= max => Ok(FieldValue::Text(s.clone())),
            _ => invalid(expected),
        };
        match self {
            FieldName::DisplayName => text(DISPLAY_NAME_LEN_MAX, "a non-empty name of at most 120 characters"),
            FieldName::Title => text(GOAL_TITLE_LEN_MAX, "a non-empty title of at most 500 characters"),
            FieldName::CaseReference => match value {
                Value::Null => Ok(FieldValue::Null),
                _ => text(CASE_REFERENCE_LEN_MAX, "null or a reference of at most 64 characters"),
            },
            FieldName::BirthYear => match value {
                Value::Null => Ok(FieldValue::Null),
                Value::Number(n) => match n.as_i64().filter(|y| (1900..=2200).contains(y)) {
                    Some(year) => Ok(FieldValue::Integer(year)),
                    None => invalid("null or a year from 1900 to 2200"),
                },
                _ => invalid("null or a year from 1900 to 2200"),
            },
            FieldName::AgeBand => match value.as_str() {
                Some(band @ ("child" | "adolescent" | "adult")) => Ok(FieldValue::Text(band.to_owned())),
                _ => invalid("child, adolescent or adult"),
            },
            FieldName::Status => match value.as_str() {
                Some(status @ ("active" | "achieved" | "dropped")) => Ok(FieldValue::Text(status.to_owned())),
                _ => invalid("active, achieved or dropped"),
            },
            FieldName::Deleted => match value {
                Value::Bool(true) => Ok(FieldValue::Bool(true)),
                _ => invalid("true (a deleted goal stays deleted)"),
            },
        }
    }
}

impl FieldName {
    pub fn as_str(self) -> &'static str {
        match self {
            FieldName::DisplayName => "display_name",
            FieldName::BirthYear => "birth_year",
            FieldName::AgeBand => "age_band",
            FieldName::CaseReference => "case_reference",
            FieldName::Title => "title",
            FieldName::Status => "status",
            FieldName::Deleted => "deleted",
        }
    }
}
