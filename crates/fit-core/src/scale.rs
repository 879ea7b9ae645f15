//! Scale definitions: what a questionnaire asks and how it is scored.
//! They come from content packs (see `pack`), never from code, because the wording is licensed.

use std::fmt;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::text::Text;

/// The code of a scale: `ors`, `srs`, `cors`, `csrs`, `gsrs`, `who5`, or that of a pack installed later.
/// Lower-case ASCII letters, digits and `-`, 1 to 32 characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, TS)]
#[serde(try_from = "String", into = "String")]
#[ts(type = "string")]
pub struct ScaleCode(String);

/// Long enough for any scale name, short enough to be an index key and a log-safe token.
pub const SCALE_CODE_LEN_MAX: usize = 32;

impl ScaleCode {
    pub fn parse(code: &str) -> Option<ScaleCode> {
        let valid = !code.is_empty()
            && code.len() <= SCALE_CODE_LEN_MAX
            && code.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        valid.then(|| ScaleCode(code.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ScaleCode {
    type Error = String;
    fn try_from(code: String) -> Result<ScaleCode, String> {
        ScaleCode::parse(&code).ok_or_else(|| format!("not a scale code: {code:?}"))
    }
}

impl From<ScaleCode> for String {
    fn from(code: ScaleCode) -> String {
        code.0
    }
}

impl fmt::Display for ScaleCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a scale measures, which decides how it is interpreted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum ScaleKind {
    /// How life is going (ORS, CORS): given at the start of a visit.
    Outcome,
    /// How the visit went (SRS, CSRS, GSRS): given at the end.
    Alliance,
    /// Well-being (WHO-5).
    Wellbeing,
}

/// Whom a scale is made for. Decides the clinical cutoff of an outcome scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum Population {
    Adult,
    Child,
    Group,
}

/// The id of an item within its scale (FHIR `linkId`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, TS)]
#[serde(transparent)]
pub struct ItemId(pub String);

impl fmt::Display for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How an item is answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum AnswerKind {
    /// A visual analogue line; the answer is integer tenths from `min_tenths` to `max_tenths`.
    Vas { min_tenths: i64, max_tenths: i64 },
    /// A choice among options; the answer is the value of the chosen option.
    Choice { options: Vec<AnswerOption> },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct AnswerOption {
    pub value: i64,
    pub text: Text,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Item {
    pub id: ItemId,
    pub text: Text,
    /// A short help in plain words under the item (the pack's nested `display` item of control
    /// `help`): what the item is about, in the project's own words where the pack has no licence.
    #[serde(default)]
    pub help: Option<Text>,
    pub answer: AnswerKind,
}

impl Item {
    /// The smallest and largest answer this item takes.
    pub fn range(&self) -> (i64, i64) {
        match &self.answer {
            AnswerKind::Vas { min_tenths, max_tenths } => (*min_tenths, *max_tenths),
            AnswerKind::Choice { options } => {
                let values = options.iter().map(|o| o.value);
                (values.clone().min().unwrap_or(0), values.max().unwrap_or(0))
            }
        }
    }
}

/// Expected scores per visit for citizens who start in a given band. Vendors' curves are
/// proprietary, so no pack in the repository carries one; a licensed pack may.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ExpectedTrajectory {
    pub bands: Vec<ExpectedBand>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ExpectedBand {
    /// First-visit totals from `intake_from_tenths` to `intake_to_tenths`, both included.
    pub intake_from_tenths: i64,
    pub intake_to_tenths: i64,
    /// The expected total at the first, second, … measurement.
    pub expected_tenths: Vec<i64>,
}

impl ExpectedTrajectory {
    /// The expected total at measurement `index` (0 = the first) for a citizen whose first total
    /// was `intake_tenths`, if the table covers it.
    pub fn expected(&self, intake_tenths: i64, index: usize) -> Option<i64> {
        let band = self.bands.iter().find(|b| (b.intake_from_tenths..=b.intake_to_tenths).contains(&intake_tenths))?;
        band.expected_tenths.get(index).copied()
    }
}

/// A code for the total score in another terminology (WHO-5's total is SNOMED CT 1144665009).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Coding {
    pub system: String,
    pub code: String,
}

/// A scale as the product uses it, parsed and checked from a pack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Scale {
    pub code: ScaleCode,
    /// The pack's version: a licensed pack replaces the built-in short labels of the same code.
    pub version: String,
    pub title: Text,
    /// Words shown before every item ("I de sidste 2 uger…"), when the scale has them.
    pub stem: Option<Text>,
    pub kind: ScaleKind,
    pub population: Population,
    pub items: Vec<Item>,
    /// The total score is the sum of the answers times this (WHO-5: 4, giving 0–100).
    pub score_multiplier: i64,
    /// True when the pack carries the scale's full wording, not only short labels.
    pub full_text: bool,
    pub copyright: Option<String>,
    /// After this many measurements without reliable improvement, the worker is alerted.
    pub no_improvement_after_visits: u32,
    pub expected_trajectory: Option<ExpectedTrajectory>,
    pub total_code: Option<Coding>,
}

/// Measurements without reliable improvement before an alert, when the pack does not say.
pub const NO_IMPROVEMENT_AFTER_VISITS_DEFAULT: u32 = 6;

impl Scale {
    pub fn item(&self, id: &str) -> Option<&Item> {
        self.items.iter().find(|i| i.id.0 == id)
    }

    /// True for scales answered on a line in tenths (ORS, SRS, …); false for option scales.
    pub fn is_vas(&self) -> bool {
        self.items.iter().all(|i| matches!(i.answer, AnswerKind::Vas { .. }))
    }

    /// The smallest and largest raw total (the sum of the answers).
    pub fn raw_range(&self) -> (i64, i64) {
        self.items.iter().map(Item::range).fold((0, 0), |(lo, hi), (a, b)| (lo + a, hi + b))
    }
}
