//! Changes: the units of sync. Immutable facts (a visit started or closed, a response, a note
//! version) are created once and never edited; a correction is a new fact that names the one it
//! supersedes. Mutable fields (citizen profile, goals) travel as last-writer-wins field writes.

use fit_core::ScaleSet;
use fit_core::hlc::Hlc;
use fit_core::ids::{ChangeId, CitizenId, DeviceId, GoalId, GroupId, NoteId, ResponseId, VisitId, WorkerId};
use fit_core::ids::{IdError, check_v7};
use fit_core::merge::Version;
use fit_core::response::{
    CorrectionReason, ResponseContent, ResponseError, ResponseInput, ValidResponse, validate_response,
};
use fit_core::scale::ScaleCode;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::SCHEMA_VERSION;
use crate::error::ErrorCode;

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

/// What `Change::check` found wrong with a change. Each has its stable code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeError {
    #[error("schema version {0} is not {SCHEMA_VERSION}")]
    SchemaUnsupported(u32),
    #[error(transparent)]
    InvalidId(#[from] IdError),
    #[error(transparent)]
    Response(#[from] ResponseError),
    #[error("a note needs text, at most {NOTE_LEN_MAX} characters")]
    NoteInvalid,
    #[error(
        "a scale version is 1 to {SCALE_VERSION_LEN_MAX} letters, digits, '.', '_' or '-', starting with a letter or digit"
    )]
    ScaleVersionInvalid,
    #[error(transparent)]
    Field(#[from] FieldError),
    #[error("{0}")]
    Correction(&'static str),
}

impl ChangeError {
    pub fn code(&self) -> ErrorCode {
        match self {
            ChangeError::SchemaUnsupported(_) => ErrorCode::ChangeSchemaUnsupported,
            ChangeError::InvalidId(_) => ErrorCode::ChangeInvalidId,
            ChangeError::Response(error) => ErrorCode::from(error),
            ChangeError::ScaleVersionInvalid => ErrorCode::ResponseInvalidScaleVersion,
            ChangeError::NoteInvalid => ErrorCode::NoteInvalid,
            ChangeError::Field(_) => ErrorCode::FieldInvalid,
            ChangeError::Correction(_) => ErrorCode::ResponseCorrectionInvalid,
        }
    }
}

/// What a change holds once checked: a response scored by its scale, a field value checked for
/// its field, or nothing more to say (visits and notes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checked {
    Response(ValidResponse),
    Field(FieldValue),
    Fact,
}

impl Change {
    /// The one check of a change's content, wherever a change is made or received: the device
    /// before it writes, the device's store when it applies one, the server when it accepts a
    /// batch, the exports when they read the log. What it cannot know (the sending device, the
    /// sequence, the clock, what is stored) is the caller's to check.
    pub fn check(&self, scales: &ScaleSet) -> Result<Checked, ChangeError> {
        if self.schema_version != SCHEMA_VERSION {
            return Err(ChangeError::SchemaUnsupported(self.schema_version));
        }
        for id in self.ids() {
            check_v7(id)?;
        }
        self.body.check(scales)
    }

    /// Every id a change carries.
    fn ids(&self) -> Vec<uuid::Uuid> {
        let mut ids = vec![self.id.as_uuid(), self.device.as_uuid(), self.citizen().as_uuid()];
        match &self.body {
            ChangeBody::VisitStarted { visit, worker, group, .. } => {
                ids.extend([visit.as_uuid(), worker.as_uuid()]);
                ids.extend(group.map(|g| g.as_uuid()));
            }
            ChangeBody::VisitClosed { visit, .. } => ids.push(visit.as_uuid()),
            ChangeBody::ResponseRecorded { response, visit, supersedes, .. } => {
                ids.extend([response.as_uuid(), visit.as_uuid()]);
                ids.extend(supersedes.map(|s| s.as_uuid()));
            }
            ChangeBody::NoteWritten { note, visit, supersedes, .. } => {
                ids.push(note.as_uuid());
                ids.extend(visit.map(|v| v.as_uuid()));
                ids.extend(supersedes.map(|s| s.as_uuid()));
            }
            ChangeBody::FieldSet { entity: Entity::Goal { goal, .. }, .. } => ids.push(goal.as_uuid()),
            ChangeBody::FieldSet { entity: Entity::Citizen { .. }, .. } => {}
        }
        ids
    }
}

/// What happened. Every variant names its citizen, because sync scope is the caseload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ChangeBody {
    /// A visit of one citizen. At a group session each citizen present has a visit of their
    /// own (every change names one citizen), and the visits share the session's `group`.
    VisitStarted {
        visit: VisitId,
        citizen: CitizenId,
        worker: WorkerId,
        started_at_ms: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group: Option<GroupId>,
    },
    /// A visit ends. `cancelled`: it was started by mistake and nothing was recorded at it, so it
    /// counts as no visit (absent when false, so a close reads and writes as before).
    VisitClosed {
        visit: VisitId,
        citizen: CitizenId,
        closed_at_ms: u64,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        cancelled: bool,
    },
    /// A filled-in or not-given scale. The answers are sent as recorded; the receiver checks them
    /// again with fit-core before it stores them.
    ResponseRecorded {
        response: ResponseId,
        visit: VisitId,
        citizen: CitizenId,
        scale: ScaleCode,
        scale_version: String,
        answered: ResponseContent,
        recorded_at_ms: u64,
        /// The response this one corrects, of the same citizen: it stays in the history, and this
        /// one is the current version.
        supersedes: Option<ResponseId>,
        /// Why the response it supersedes is corrected: present exactly when `supersedes` is.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        correction: Option<CorrectionReason>,
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
    FieldSet { entity: Entity, field: FieldName, value: serde_json::Value, base: Option<Version> },
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

impl ChangeBody {
    /// The content rules of a change body (see `Change::check`), for a body not yet stamped as
    /// a change: a device checks every body of a multi-change edit before it writes the first.
    pub fn check(&self, scales: &ScaleSet) -> Result<Checked, ChangeError> {
        match self {
            ChangeBody::ResponseRecorded { scale, scale_version, answered, supersedes, correction, .. } => {
                if !is_scale_version(scale_version) {
                    return Err(ChangeError::ScaleVersionInvalid);
                }
                check_correction(supersedes.is_some(), *correction, answered)?;
                let input = ResponseInput { scale: scale.to_string(), content: answered.clone() };
                Ok(Checked::Response(validate_response(scales, &input)?))
            }
            ChangeBody::NoteWritten { body, .. } => {
                if !is_text(body, NOTE_LEN_MAX) {
                    return Err(ChangeError::NoteInvalid);
                }
                Ok(Checked::Fact)
            }
            ChangeBody::FieldSet { entity, field, value, .. } => Ok(Checked::Field(field.check(entity, value)?)),
            ChangeBody::VisitStarted { .. } | ChangeBody::VisitClosed { .. } => Ok(Checked::Fact),
        }
    }
}

/// A correction names the response it supersedes and why, or neither; a wrong mark is replaced
/// by marks (or "not given"), and only a wrong citizen or a response entered twice is withdrawn.
fn check_correction(
    supersedes: bool,
    correction: Option<CorrectionReason>,
    answered: &ResponseContent,
) -> Result<(), ChangeError> {
    let withdrawn = matches!(answered, ResponseContent::Withdrawn {});
    match correction {
        None if supersedes => Err(ChangeError::Correction("a correction needs its reason")),
        None if withdrawn => Err(ChangeError::Correction("only a correction withdraws a response")),
        None => Ok(()),
        Some(_) if !supersedes => Err(ChangeError::Correction("a correction names the response it supersedes")),
        Some(reason) if reason.withdraws() != withdrawn => Err(ChangeError::Correction(if withdrawn {
            "a wrong mark is corrected with the right marks, not withdrawn"
        } else {
            "a response for the wrong citizen or entered twice is withdrawn"
        })),
        Some(_) => Ok(()),
    }
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
    /// Citizen: the day the citizen's support started (`YYYY-MM-DD`); a paper form dated before
    /// it is refused.
    SupportStarted,
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
/// Longest scale version: a pack's version is a short tag (`short-labels-1`).
pub const SCALE_VERSION_LEN_MAX: usize = 64;

/// Characters that show nothing: zero-width characters, the byte-order mark, and the
/// direction controls. Written out rather than taken from a Unicode table because these are the
/// ones that make an empty or misleading text look like something (a name of only U+200B, a
/// reference reversed by U+202E); letters, marks and digits of every script stay allowed.
const INVISIBLE: &[char] = &[
    '\u{00AD}', '\u{034F}', '\u{061C}', '\u{115F}', '\u{1160}', '\u{180E}', '\u{200B}', '\u{200C}', '\u{200D}',
    '\u{200E}', '\u{200F}', '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2060}', '\u{2061}',
    '\u{2062}', '\u{2063}', '\u{2064}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}', '\u{3164}', '\u{FEFF}',
    '\u{FFA0}',
];

/// A text a person wrote: in Unicode's composed form (NFC, as the device writes it), at most
/// `max` characters, with something visible in it, and no direction control (which can make a
/// text read otherwise than it is stored).
pub fn is_text(text: &str, max: usize) -> bool {
    let direction_control = |c: &char| matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
    text.chars().count() <= max
        && text.chars().any(|c| !c.is_whitespace() && !c.is_control() && !INVISIBLE.contains(&c))
        && !text.chars().any(|c| direction_control(&c))
        && unicode_normalization::is_nfc(text)
}

/// A text as a device writes it: trimmed, in composed form (NFC), so that what a person typed
/// passes `is_text` whenever it has something visible in it.
pub fn written_text(text: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    text.trim().nfc().collect()
}

/// A text shaped like a Danish CPR number (DDMMYY-NNNN, with or without the dash, the first six
/// digits a day and a month): refused where only a pseudonym or a case number belongs.
pub fn looks_like_cpr(text: &str) -> bool {
    let text = text.trim();
    if !text.is_ascii() {
        return false;
    }
    let digits = match (text.len(), text.as_bytes().get(6)) {
        (11, Some(b'-')) => format!("{}{}", &text[..6], &text[7..]),
        (10, _) => text.to_owned(),
        _ => return false,
    };
    let number = |range: std::ops::Range<usize>| digits[range].parse::<u32>().unwrap_or(0);
    digits.chars().all(|c| c.is_ascii_digit()) && (1..=31).contains(&number(0..2)) && (1..=12).contains(&number(2..4))
}

fn is_scale_version(version: &str) -> bool {
    version.len() <= SCALE_VERSION_LEN_MAX
        && version.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && version.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Where a goal stands: the values of its `status` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum GoalStatus {
    Active,
    Achieved,
    Dropped,
}

impl GoalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            GoalStatus::Active => "active",
            GoalStatus::Achieved => "achieved",
            GoalStatus::Dropped => "dropped",
        }
    }
}

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
            FieldName::DisplayName
            | FieldName::BirthYear
            | FieldName::AgeBand
            | FieldName::CaseReference
            | FieldName::SupportStarted => EntityKind::Citizen,
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
            Value::String(s) if is_text(s, max) => Ok(FieldValue::Text(s.clone())),
            _ => invalid(expected),
        };
        let not_cpr = |checked: Result<FieldValue, FieldError>| match checked {
            Ok(FieldValue::Text(s)) if looks_like_cpr(&s) => invalid("a pseudonym or case number, never a CPR number"),
            other => other,
        };
        match self {
            FieldName::DisplayName => not_cpr(text(DISPLAY_NAME_LEN_MAX, "a visible name of at most 120 characters")),
            FieldName::Title => text(GOAL_TITLE_LEN_MAX, "a visible title of at most 500 characters"),
            FieldName::CaseReference => match value {
                Value::Null => Ok(FieldValue::Null),
                _ => not_cpr(text(CASE_REFERENCE_LEN_MAX, "null or a visible reference of at most 64 characters")),
            },
            FieldName::BirthYear => match value {
                Value::Null => Ok(FieldValue::Null),
                Value::Number(n) => match n.as_i64().filter(|y| (1900..=2200).contains(y)) {
                    Some(year) => Ok(FieldValue::Integer(year)),
                    None => invalid("null or a year from 1900 to 2200"),
                },
                _ => invalid("null or a year from 1900 to 2200"),
            },
            FieldName::SupportStarted => match value {
                Value::Null => Ok(FieldValue::Null),
                Value::String(day) if parse_day(day).is_some() => Ok(FieldValue::Text(day.clone())),
                _ => invalid("null or a day as YYYY-MM-DD from 1900 to 2200"),
            },
            FieldName::AgeBand => match value.as_str() {
                Some(band @ ("child" | "adolescent" | "adult")) => Ok(FieldValue::Text(band.to_owned())),
                _ => invalid("child, adolescent or adult"),
            },
            FieldName::Status => match GoalStatus::deserialize(value) {
                Ok(status) => Ok(FieldValue::Text(status.as_str().to_owned())),
                Err(_) => invalid("active, achieved or dropped"),
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
            FieldName::SupportStarted => "support_started",
            FieldName::Title => "title",
            FieldName::Status => "status",
            FieldName::Deleted => "deleted",
        }
    }
}

/// A day written as `YYYY-MM-DD` (exactly that form), from 1900 to 2200.
pub fn parse_day(text: &str) -> Option<chrono::NaiveDate> {
    let day = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    // chrono accepts "2024-1-5"; the one written form keeps a field's value comparable as text.
    (day.format("%Y-%m-%d").to_string() == text && (1900..=2200).contains(&chrono::Datelike::year(&day))).then_some(day)
}

#[cfg(test)]
mod text_tests {
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case::a_name("Anna Hansen", true)]
    #[case::danish("Søren Ærø", true)]
    #[case::another_script("Юлия", true)]
    #[case::blank(" \n\t", false)]
    #[case::zero_width("\u{200B}\u{FEFF}", false)]
    #[case::direction_marks_only("\u{200F}\u{2066}\u{2069}", false)]
    #[case::reversed("Anna \u{202E}nessuH", false)]
    #[case::decomposed("Bo\u{0308}rge", false)]
    #[case::too_long(&"n".repeat(121), false)]
    fn a_text_is_visible_composed_and_within_its_limit(#[case] text: &str, #[case] valid: bool) {
        assert_eq!(is_text(text, DISPLAY_NAME_LEN_MAX), valid, "{text:?}");
    }

    #[test]
    fn a_device_writes_what_was_typed_composed_and_trimmed() {
        assert_eq!(written_text("  Bo\u{0308}rge \n"), "Börge");
        assert!(is_text(&written_text("  Bo\u{0308}rge \n"), DISPLAY_NAME_LEN_MAX));
    }

    #[rstest]
    #[case("010190-1234", true)]
    #[case("0101901234", true)]
    #[case(" 010190-1234 ", true)]
    #[case("SAG-2026-0001", false)]
    #[case("01019-01234", false)]
    #[case("010190--1234", false)]
    #[case("01019012345", false)]
    #[case("2026000123", false)]
    #[case("311299-9999", true)]
    #[case("320190-1234", false)]
    #[case("æææææ-", false)]
    fn a_cpr_shaped_text_is_recognised(#[case] text: &str, #[case] cpr: bool) {
        assert_eq!(looks_like_cpr(text), cpr, "{text:?}");
    }

    #[rstest]
    #[case("short-labels-1", true)]
    #[case("2.0_da", true)]
    #[case("", false)]
    #[case("-1", false)]
    #[case("=HYPERLINK(\"x\")", false)]
    #[case(&"v".repeat(65), false)]
    fn a_scale_version_is_a_short_tag(#[case] version: &str, #[case] valid: bool) {
        assert_eq!(is_scale_version(version), valid, "{version:?}");
    }
}

#[cfg(test)]
mod correction_tests {
    use fit_core::response::{MarkedBy, NotGivenReason};
    use rstest::rstest;

    use super::*;

    fn response(supersedes: bool, correction: Option<CorrectionReason>, answered: ResponseContent) -> ChangeBody {
        let id = |n: u128| uuid::Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 | n);
        ChangeBody::ResponseRecorded {
            response: id(1).into(),
            visit: id(2).into(),
            citizen: id(3).into(),
            scale: ScaleCode::parse("ors").unwrap(),
            scale_version: "1".into(),
            answered,
            recorded_at_ms: 1,
            supersedes: supersedes.then(|| id(4).into()),
            correction,
        }
    }

    fn marks() -> ResponseContent {
        let answers = ["individually", "interpersonally", "socially", "overall"]
            .map(|item| fit_core::RawAnswer { item: item.into(), value: 50.into() })
            .to_vec();
        ResponseContent::Given { marked_by: MarkedBy::ReadAloudVerbal, answers }
    }

    /// A correction names what it supersedes and why, and its content fits its reason.
    #[rstest]
    #[case::a_plain_response(false, None, marks(), true)]
    #[case::a_wrong_mark_corrected(true, Some(CorrectionReason::WrongMark), marks(), true)]
    #[case::a_wrong_mark_now_not_given(
        true,
        Some(CorrectionReason::WrongMark),
        ResponseContent::NotGiven { reason: NotGivenReason::Other },
        true
    )]
    #[case::a_wrong_citizen_withdrawn(true, Some(CorrectionReason::WrongCitizen), ResponseContent::Withdrawn {}, true)]
    #[case::entered_twice_withdrawn(true, Some(CorrectionReason::EnteredTwice), ResponseContent::Withdrawn {}, true)]
    #[case::a_correction_without_its_reason(true, None, marks(), false)]
    #[case::a_reason_without_what_it_corrects(false, Some(CorrectionReason::WrongMark), marks(), false)]
    #[case::a_withdrawal_that_corrects_nothing(false, None, ResponseContent::Withdrawn {}, false)]
    #[case::a_wrong_mark_withdrawn(true, Some(CorrectionReason::WrongMark), ResponseContent::Withdrawn {}, false)]
    #[case::a_wrong_citizen_given_marks(true, Some(CorrectionReason::WrongCitizen), marks(), false)]
    fn a_correction_fits_its_reason(
        #[case] supersedes: bool,
        #[case] correction: Option<CorrectionReason>,
        #[case] answered: ResponseContent,
        #[case] valid: bool,
    ) {
        let scales = ScaleSet::built_in().unwrap();
        match response(supersedes, correction, answered).check(&scales) {
            Ok(_) => assert!(valid, "accepted"),
            Err(error) => {
                assert!(!valid, "refused: {error}");
                assert_eq!(error.code(), ErrorCode::ResponseCorrectionInvalid);
            }
        }
    }

    #[test]
    fn a_response_without_a_correction_reads_and_writes_as_before() {
        let body = response(false, None, marks());
        let json = serde_json::to_value(&body).unwrap();
        assert!(json.get("correction").is_none(), "no correction field unless it is one: {json}");
        let back: ChangeBody = serde_json::from_value(json).unwrap();
        assert_eq!(back, body);
    }
}

#[cfg(test)]
mod group_tests {
    use super::*;

    fn v7(n: u128) -> uuid::Uuid {
        uuid::Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 | n)
    }

    fn visit_started(group: Option<uuid::Uuid>) -> Change {
        Change {
            id: v7(1).into(),
            device: v7(2).into(),
            seq: 1,
            hlc: Hlc { wall_ms: 1_795_392_000_000, counter: 0 },
            device_time_ms: 1_795_392_000_000,
            schema_version: SCHEMA_VERSION,
            body: ChangeBody::VisitStarted {
                visit: v7(3).into(),
                citizen: v7(4).into(),
                worker: v7(5).into(),
                started_at_ms: 1_795_392_000_000,
                group: group.map(Into::into),
            },
        }
    }

    #[test]
    fn a_visit_of_a_group_names_its_group_and_a_visit_of_one_citizen_has_no_group_field() {
        let scales = ScaleSet::built_in().unwrap();
        let single = visit_started(None);
        let json = serde_json::to_value(&single).unwrap();
        assert!(json["body"].get("group").is_none(), "{json}");
        assert_eq!(serde_json::from_value::<Change>(json).unwrap(), single);
        let grouped = visit_started(Some(v7(6)));
        let json = serde_json::to_value(&grouped).unwrap();
        assert_eq!(json["body"]["group"], v7(6).to_string());
        assert_eq!(serde_json::from_value::<Change>(json).unwrap(), grouped);
        assert!(grouped.check(&scales).is_ok());
    }

    #[test]
    fn a_group_id_that_is_not_a_uuid_v7_is_refused() {
        let scales = ScaleSet::built_in().unwrap();
        let error = visit_started(Some(uuid::Uuid::nil())).check(&scales).unwrap_err();
        assert_eq!(error.code(), ErrorCode::ChangeInvalidId);
    }
}
