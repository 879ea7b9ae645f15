//! Responses: checking a filled-in (or not given) scale against its definition, and scoring it.
//!
//! Answers arrive as JSON values because that is what a device or the wire hands over; anything
//! that is not exactly an integer in range for a known item of the scale is refused with a typed
//! error, so no float, string or stray item ever reaches a store.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::pack::ScaleSet;
use crate::scale::{AnswerKind, ItemId, Scale, ScaleCode, ScaleKind};

/// Who placed the marks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum MarkedBy {
    /// The citizen held the device and placed the marks.
    CitizenOnDevice,
    /// The worker read the items aloud and placed the marks the citizen said.
    ReadAloudVerbal,
    /// Copied from a paper form the citizen filled in.
    TranscribedFromPaper,
}

/// Why a scale was not given at a visit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum NotGivenReason {
    Declined,
    TooUnwell,
    NoTime,
    Other,
}

/// Why a recorded response is corrected. A wrong mark is replaced by the right marks (or by
/// "not given"); a response recorded for the wrong citizen, or entered twice, is withdrawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum CorrectionReason {
    WrongMark,
    WrongCitizen,
    EnteredTwice,
}

impl CorrectionReason {
    /// True when the correction withdraws the response rather than replacing its marks.
    pub fn withdraws(self) -> bool {
        matches!(self, CorrectionReason::WrongCitizen | CorrectionReason::EnteredTwice)
    }
}

/// How far back a paper form may be dated when it is transcribed: a form older than this is
/// too late to say how the citizen is doing now, and is refused rather than drawn as news.
pub const PAPER_DAYS_BACK_MAX: i64 = 90;

/// What is wrong with the date written on a paper form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PaperDateError {
    #[error("the date on the paper is after today")]
    Future,
    #[error("the date on the paper is more than {PAPER_DAYS_BACK_MAX} days ago")]
    TooOld,
    #[error("the date on the paper is before the citizen's support started")]
    BeforeSupport,
}

/// Checks the date written on a paper form. Days are whole days of the device's calendar,
/// counted from any fixed day (the caller's): `paper` the form's, `today` the device's, and
/// `support_started` the day the citizen's support started, when the device knows it.
pub fn check_paper_date(paper: i64, today: i64, support_started: Option<i64>) -> Result<(), PaperDateError> {
    if paper > today {
        return Err(PaperDateError::Future);
    }
    if today - paper > PAPER_DAYS_BACK_MAX {
        return Err(PaperDateError::TooOld);
    }
    if support_started.is_some_and(|start| paper < start) {
        return Err(PaperDateError::BeforeSupport);
    }
    Ok(())
}

/// One answer as handed over: an item id and whatever value came with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct RawAnswer {
    pub item: String,
    /// Any JSON on the wire, so a wrong unit is refused with its own error; the UI sends a number.
    #[ts(type = "number")]
    pub value: serde_json::Value,
}

/// The answers of a response as handed over or sent: given with marks, or not given with a
/// reason; or, in a correction only, withdrawn (the response it supersedes should not have been
/// recorded). The same type on the device, on the wire and on the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ResponseContent {
    Given { marked_by: MarkedBy, answers: Vec<RawAnswer> },
    NotGiven { reason: NotGivenReason },
    Withdrawn {},
}

/// A response as handed over, before it is checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct ResponseInput {
    pub scale: String,
    pub content: ResponseContent,
}

/// One checked answer: VAS items in tenths (0–100), option items as the option's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct Answer {
    pub item: ItemId,
    pub value: i64,
}

/// The total of a response. For ORS-like scales both are tenths (0–400 = 0.0–40.0);
/// for WHO-5 `raw` is 0–25 and `score` 0–100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Total {
    pub raw: i64,
    pub score: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseValue {
    Given {
        marked_by: MarkedBy,
        answers: Vec<Answer>,
        total: Total,
    },
    NotGiven {
        reason: NotGivenReason,
    },
    /// A correction that takes back the response it supersedes: no measurement at all.
    Withdrawn,
}

/// A response that has been checked against its scale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidResponse {
    pub scale: ScaleCode,
    pub kind: ScaleKind,
    pub value: ResponseValue,
}

impl ValidResponse {
    /// True when this response takes back the one it supersedes (`ResponseContent::Withdrawn`).
    pub fn is_withdrawn(&self) -> bool {
        self.value == ResponseValue::Withdrawn
    }

    pub fn total(&self) -> Option<Total> {
        match &self.value {
            ResponseValue::Given { total, .. } => Some(*total),
            ResponseValue::NotGiven { .. } | ResponseValue::Withdrawn => None,
        }
    }

    /// The lowest answer and its item, if given.
    pub fn lowest_answer(&self) -> Option<&Answer> {
        match &self.value {
            ResponseValue::Given { answers, .. } => answers.iter().min_by_key(|a| a.value),
            ResponseValue::NotGiven { .. } | ResponseValue::Withdrawn => None,
        }
    }
}

/// What is wrong with a response. `fit_protocol::ErrorCode` gives each its stable code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    #[error("unknown scale {0:?}")]
    UnknownScale(String),
    #[error("item {item:?} is not part of this scale")]
    UnknownItem { item: String },
    #[error("item {item:?} is answered more than once")]
    DuplicateItem { item: String },
    #[error("item {item:?} is not answered")]
    MissingItem { item: String },
    #[error("item {item:?} needs a whole number, got {found}")]
    NotAnInteger { item: String, found: String },
    #[error("item {item:?} must be from {min} to {max}, got {found}")]
    OutOfRange { item: String, found: String, min: i64, max: i64 },
    #[error("item {item:?} must be one of {allowed:?}, got {found}")]
    NotAnOption { item: String, found: i64, allowed: Vec<i64> },
}

/// Checks a response against the scale it names and scores it.
pub fn validate_response(scales: &ScaleSet, input: &ResponseInput) -> Result<ValidResponse, ResponseError> {
    let scale = scales.find(&input.scale).ok_or_else(|| ResponseError::UnknownScale(input.scale.clone()))?;
    let value = match &input.content {
        ResponseContent::NotGiven { reason } => ResponseValue::NotGiven { reason: *reason },
        ResponseContent::Withdrawn {} => ResponseValue::Withdrawn,
        ResponseContent::Given { marked_by, answers } => {
            let answers = check_answers(scale, answers)?;
            let total = score(scale, &answers);
            ResponseValue::Given { marked_by: *marked_by, answers, total }
        }
    };
    Ok(ValidResponse { scale: scale.code.clone(), kind: scale.kind, value })
}

/// Checks every answer and returns them in the scale's item order.
fn check_answers(scale: &Scale, raw: &[RawAnswer]) -> Result<Vec<Answer>, ResponseError> {
    let mut by_item: BTreeMap<&str, i64> = BTreeMap::new();
    for answer in raw {
        let item = scale.item(&answer.item).ok_or_else(|| ResponseError::UnknownItem { item: answer.item.clone() })?;
        if by_item.contains_key(answer.item.as_str()) {
            return Err(ResponseError::DuplicateItem { item: answer.item.clone() });
        }
        let value = check_value(&item.id, &item.answer, item.range(), &answer.value)?;
        by_item.insert(answer.item.as_str(), value);
    }
    scale
        .items
        .iter()
        .map(|item| match by_item.get(item.id.0.as_str()) {
            Some(value) => Ok(Answer { item: item.id.clone(), value: *value }),
            None => Err(ResponseError::MissingItem { item: item.id.0.clone() }),
        })
        .collect()
}

fn check_value(
    item: &ItemId,
    kind: &AnswerKind,
    (min, max): (i64, i64),
    value: &serde_json::Value,
) -> Result<i64, ResponseError> {
    let item = item.0.clone();
    let number = match value {
        serde_json::Value::Number(n) => n,
        other => return Err(ResponseError::NotAnInteger { item, found: other.to_string() }),
    };
    // A float is refused even when whole (10.0): answers are integer tenths or option values,
    // and a float on the wire means the sender has the unit wrong.
    if number.is_f64() {
        return Err(ResponseError::NotAnInteger { item, found: number.to_string() });
    }
    let Some(value) = number.as_i64() else {
        return Err(ResponseError::OutOfRange { item, found: number.to_string(), min, max });
    };
    match kind {
        AnswerKind::Vas { .. } if !(min..=max).contains(&value) => {
            Err(ResponseError::OutOfRange { item, found: value.to_string(), min, max })
        }
        AnswerKind::Choice { options } if !options.iter().any(|o| o.value == value) => {
            Err(ResponseError::NotAnOption { item, found: value, allowed: options.iter().map(|o| o.value).collect() })
        }
        _ => Ok(value),
    }
}

/// The total: the sum of the answers, and that times the scale's multiplier.
pub fn score(scale: &Scale, answers: &[Answer]) -> Total {
    let raw = answers.iter().map(|a| a.value).sum();
    Total { raw, score: raw * scale.score_multiplier }
}

#[cfg(test)]
mod tests;
