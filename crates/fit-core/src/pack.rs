//! Content packs: scale definitions as FHIR R4 Questionnaire-shaped JSON, parsed and checked.
//!
//! A pack is data, not code, because ORS/SRS wording is licensed: the repository ships short
//! labels, and a municipality's server distributes the licensed full text as another pack of the
//! same code. A broken pack is refused with an error that names the file and the field.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use crate::scale::{
    AnswerKind, AnswerOption, Coding, ExpectedBand, ExpectedTrajectory, Item, ItemId,
    NO_IMPROVEMENT_AFTER_VISITS_DEFAULT, Population, Scale, ScaleCode, ScaleKind,
};
use crate::text::{Lang, Text};

/// The packs built into every device and server; `scales/` at the repository root holds them.
pub const BUILT_IN_PACKS: [(&str, &str); 6] = [
    ("scales/ors.json", include_str!("../../../scales/ors.json")),
    ("scales/srs.json", include_str!("../../../scales/srs.json")),
    ("scales/cors.json", include_str!("../../../scales/cors.json")),
    ("scales/csrs.json", include_str!("../../../scales/csrs.json")),
    ("scales/gsrs.json", include_str!("../../../scales/gsrs.json")),
    ("scales/who5.json", include_str!("../../../scales/who5.json")),
];

const EXT_PREFIX: &str = "urn:fit-field:extension:";
const FHIR_EXT: &str = "http://hl7.org/fhir/StructureDefinition/";

/// A pack that could not be used: which file, which field, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {field}: {problem}")]
pub struct PackError {
    /// The name the pack was loaded under, usually its path.
    pub file: String,
    /// The JSON path of the field, e.g. `item[2].linkId`; `.` for the whole document.
    pub field: String,
    pub problem: PackProblem,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackProblem {
    #[error("not valid JSON: {0}")]
    Syntax(String),
    #[error("missing")]
    Missing,
    #[error("wrong type: {0}")]
    WrongType(String),
    #[error("expected {expected}, found {found}")]
    Invalid { expected: String, found: String },
    #[error("the item id {0:?} is used twice")]
    DuplicateItem(String),
    #[error("the scale code {0:?} is loaded twice")]
    DuplicateScale(String),
    #[error("not supported: {0}")]
    Unsupported(String),
    /// A pack of an installed scale under the installed version, with other content: a new
    /// content needs a new version, or devices could not tell the two apart.
    #[error("the version {0:?} is installed already with other content")]
    VersionReused(String),
    /// A new version of an installed scale that changes what its recorded responses mean (its
    /// kind, population, items or scoring).
    #[error("may not change from the installed pack's {installed} (found {found})")]
    Changed { installed: String, found: String },
}

impl PackProblem {
    /// True for the refusals of the version rules (`ScaleSet::admit`), false for a pack broken
    /// in itself.
    pub fn is_version_rule(&self) -> bool {
        matches!(self, PackProblem::VersionReused(_) | PackProblem::Changed { .. })
    }
}

// ---- The FHIR R4 shapes we read. Unknown fields are ignored: a vendor's pack may carry more. ----

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Questionnaire {
    resource_type: String,
    id: String,
    version: String,
    title: String,
    #[serde(rename = "_title")]
    title_element: Option<Element>,
    description: Option<String>,
    #[serde(rename = "_description")]
    description_element: Option<Element>,
    status: String,
    language: String,
    copyright: Option<String>,
    #[serde(default)]
    extension: Vec<Extension>,
    item: Vec<QuestionnaireItem>,
}

#[derive(Deserialize)]
struct Element {
    #[serde(default)]
    extension: Vec<Extension>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Extension {
    url: String,
    #[serde(default)]
    extension: Vec<Extension>,
    value_code: Option<String>,
    value_string: Option<String>,
    value_integer: Option<i64>,
    value_decimal: Option<f64>,
    value_boolean: Option<bool>,
    value_coding: Option<FhirCoding>,
    value_codeable_concept: Option<CodeableConcept>,
}

#[derive(Deserialize)]
struct CodeableConcept {
    #[serde(default)]
    coding: Vec<FhirCoding>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct QuestionnaireItem {
    link_id: String,
    text: String,
    #[serde(rename = "_text")]
    text_element: Option<Element>,
    #[serde(rename = "type")]
    item_type: String,
    #[serde(default)]
    extension: Vec<Extension>,
    #[serde(default)]
    answer_option: Vec<FhirAnswerOption>,
    #[serde(default)]
    item: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FhirAnswerOption {
    value_coding: FhirCoding,
    #[serde(default)]
    extension: Vec<Extension>,
}

#[derive(Deserialize)]
struct FhirCoding {
    system: Option<String>,
    code: String,
    display: Option<String>,
    #[serde(rename = "_display")]
    display_element: Option<Element>,
}

/// Parses one pack. `file` names it in errors; `bytes` is its content.
pub fn parse_pack(file: &str, bytes: &[u8]) -> Result<Scale, PackError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let questionnaire: Questionnaire =
        serde_path_to_error::deserialize(&mut deserializer).map_err(|e| shape_error(file, e))?;
    deserializer.end().map_err(|e| PackError {
        file: file.to_owned(),
        field: ".".to_owned(),
        problem: PackProblem::Syntax(e.to_string()),
    })?;
    Checker { file }.scale(questionnaire)
}

fn shape_error(file: &str, error: serde_path_to_error::Error<serde_json::Error>) -> PackError {
    let path = error.path().to_string();
    let inner = error.inner();
    let message = inner.to_string();
    let (field, problem) = if inner.is_syntax() || inner.is_eof() || inner.is_io() {
        // A document cut short has no field to name ("?"): it is the whole document that is
        // broken, and the message gives the line and column.
        let path = if path == "?" { ".".to_owned() } else { path };
        (path, PackProblem::Syntax(message))
    } else if let Some(name) = missing_field_name(&message) {
        let field = if path == "." { name.to_owned() } else { format!("{path}.{name}") };
        (field, PackProblem::Missing)
    } else {
        (path, PackProblem::WrongType(message))
    };
    PackError { file: file.to_owned(), field, problem }
}

/// serde_json reports a missing field as "missing field `name` at line …"; the path it gives is
/// the parent's, so the name is taken from the message to point at the field itself.
fn missing_field_name(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("missing field `")?;
    rest.split('`').next()
}

/// Turns a decimal with at most one digit after the point into tenths: 2.5 → 25, 2.55 → none.
fn decimal_to_tenths(value: f64) -> Option<i64> {
    let scaled = value * 10.0;
    let rounded = scaled.round();
    // Packs hold small numbers; a tolerance far below 0.1 tells 2.5 (25.000…01) from 2.55.
    ((scaled - rounded).abs() < 1e-6 && rounded.abs() < 1e12).then_some(rounded as i64)
}

/// What a scale's pack extensions say, checked.
struct ScaleExtensions {
    kind: ScaleKind,
    population: Population,
    full_text: bool,
    score_multiplier: i64,
    no_improvement_after_visits: u32,
    total_code: Option<Coding>,
    expected_trajectory: Option<ExpectedTrajectory>,
}

struct Checker<'a> {
    file: &'a str,
}

impl Checker<'_> {
    fn error(&self, field: impl Into<String>, problem: PackProblem) -> PackError {
        PackError { file: self.file.to_owned(), field: field.into(), problem }
    }

    fn invalid(&self, field: impl Into<String>, expected: &str, found: impl std::fmt::Debug) -> PackError {
        self.error(field, PackProblem::Invalid { expected: expected.to_owned(), found: format!("{found:?}") })
    }

    fn scale(&self, q: Questionnaire) -> Result<Scale, PackError> {
        if q.resource_type != "Questionnaire" {
            return Err(self.invalid("resourceType", "\"Questionnaire\"", &q.resource_type));
        }
        let code =
            ScaleCode::parse(&q.id).ok_or_else(|| self.invalid("id", "a scale code of a-z, 0-9 and -", &q.id))?;
        if q.version.trim().is_empty() {
            return Err(self.invalid("version", "a non-empty version", &q.version));
        }
        if !matches!(q.status.as_str(), "draft" | "active" | "retired" | "unknown") {
            return Err(self.invalid("status", "draft, active, retired or unknown", &q.status));
        }
        let lang = Lang::from_code(&q.language).ok_or_else(|| self.invalid("language", "da or en", &q.language))?;
        let title = self.text(lang, &q.title, q.title_element.as_ref(), "_title")?;
        let stem = match &q.description {
            Some(d) => Some(self.text(lang, d, q.description_element.as_ref(), "_description")?),
            None => None,
        };
        let ext = self.scale_extensions(&q.extension)?;
        let items = self.items(lang, &q.item)?;
        let scale = Scale {
            code,
            version: q.version,
            title,
            stem,
            kind: ext.kind,
            population: ext.population,
            items,
            score_multiplier: ext.score_multiplier,
            full_text: ext.full_text,
            copyright: q.copyright,
            no_improvement_after_visits: ext.no_improvement_after_visits,
            expected_trajectory: ext.expected_trajectory,
            total_code: ext.total_code,
        };
        self.fits_its_kind(&scale)?;
        Ok(scale)
    }

    /// What the pack's own extensions say about the scale.
    fn scale_extensions(&self, list: &[Extension]) -> Result<ScaleExtensions, PackError> {
        let ext = Extensions { checker: self, list, path: "extension".to_owned() };
        let kind = match ext.code("scale-kind")? {
            Some((_, "outcome")) => ScaleKind::Outcome,
            Some((_, "alliance")) => ScaleKind::Alliance,
            Some((_, "wellbeing")) => ScaleKind::Wellbeing,
            Some((field, other)) => return Err(self.invalid(field, "outcome, alliance or wellbeing", other)),
            None => return Err(self.error(format!("extension[{EXT_PREFIX}scale-kind]"), PackProblem::Missing)),
        };
        let population = match ext.code("population")? {
            None | Some((_, "adult")) => Population::Adult,
            Some((_, "child")) => Population::Child,
            Some((_, "group")) => Population::Group,
            Some((field, other)) => return Err(self.invalid(field, "adult, child or group", other)),
        };
        let score_multiplier = match ext.integer("score-multiplier")? {
            None => 1,
            Some((_, m)) if (1..=100).contains(&m) => m,
            Some((field, m)) => return Err(self.invalid(field, "a multiplier from 1 to 100", m)),
        };
        let no_improvement_after_visits = match ext.integer("no-improvement-after-visits")? {
            None => NO_IMPROVEMENT_AFTER_VISITS_DEFAULT,
            Some((_, n)) if (2..=100).contains(&n) => n as u32,
            Some((field, n)) => return Err(self.invalid(field, "a number of visits from 2 to 100", n)),
        };
        let expected_trajectory = match ext.find(&format!("{EXT_PREFIX}expected-trajectory")) {
            None => None,
            Some((field, e)) => Some(self.expected_trajectory(&field, e)?),
        };
        Ok(ScaleExtensions {
            kind,
            population,
            full_text: ext.boolean("full-text")?.unwrap_or(false),
            score_multiplier,
            no_improvement_after_visits,
            total_code: self.total_code(&ext)?,
            expected_trajectory,
        })
    }

    /// The code of the total score in another terminology, when the pack names one.
    fn total_code(&self, ext: &Extensions<'_>) -> Result<Option<Coding>, PackError> {
        let Some((field, e)) = ext.find(&format!("{EXT_PREFIX}total-code")) else { return Ok(None) };
        let coding =
            e.value_coding.as_ref().ok_or_else(|| self.error(format!("{field}.valueCoding"), PackProblem::Missing))?;
        let system = coding
            .system
            .clone()
            .ok_or_else(|| self.error(format!("{field}.valueCoding.system"), PackProblem::Missing))?;
        Ok(Some(Coding { system, code: coding.code.clone() }))
    }

    /// Every item, each linkId once.
    fn items(&self, lang: Lang, list: &[QuestionnaireItem]) -> Result<Vec<Item>, PackError> {
        if list.is_empty() {
            return Err(self.invalid("item", "at least one item", "none"));
        }
        let mut seen = BTreeSet::new();
        let mut items = Vec::with_capacity(list.len());
        for (index, item) in list.iter().enumerate() {
            let path = format!("item[{index}]");
            if !seen.insert(item.link_id.as_str()) {
                return Err(self.error(format!("{path}.linkId"), PackProblem::DuplicateItem(item.link_id.clone())));
            }
            items.push(self.item(lang, &path, item)?);
        }
        Ok(items)
    }

    /// The published cutoffs and thresholds assume a 0–40 total of 0–10 lines for ORS-like and
    /// SRS-like scales, and a 0–100 score for WHO-5; a pack that breaks that would be misread.
    fn fits_its_kind(&self, scale: &Scale) -> Result<(), PackError> {
        match scale.kind {
            ScaleKind::Outcome | ScaleKind::Alliance => {
                for (index, item) in scale.items.iter().enumerate() {
                    if item.answer != (AnswerKind::Vas { min_tenths: 0, max_tenths: 100 }) {
                        return Err(self.invalid(
                            format!("item[{index}]"),
                            "a 0-10 line (type decimal, minValue 0, maxValue 10) for an outcome or alliance scale",
                            &item.answer,
                        ));
                    }
                }
                if scale.items.len() != 4 {
                    return Err(self.invalid("item", "four items for an outcome or alliance scale", scale.items.len()));
                }
                if scale.score_multiplier != 1 {
                    return Err(self.invalid(
                        "extension",
                        "no score multiplier on a 0-40 scale",
                        scale.score_multiplier,
                    ));
                }
            }
            ScaleKind::Wellbeing => {
                let (_, raw_max) = scale.raw_range();
                if scale.is_vas() || raw_max * scale.score_multiplier != 100 {
                    return Err(self.invalid(
                        "item",
                        "choice items whose maximum total times the score multiplier is 100",
                        raw_max * scale.score_multiplier,
                    ));
                }
            }
        }
        Ok(())
    }

    fn item(&self, lang: Lang, path: &str, item: &QuestionnaireItem) -> Result<Item, PackError> {
        if item.link_id.trim().is_empty() {
            return Err(self.invalid(format!("{path}.linkId"), "a non-empty id", &item.link_id));
        }
        let text = self.text(lang, &item.text, item.text_element.as_ref(), &format!("{path}._text"))?;
        let help = self.help(lang, path, &item.item)?;
        let ext = Extensions { checker: self, list: &item.extension, path: format!("{path}.extension") };
        let answer = match item.item_type.as_str() {
            "decimal" => {
                let min = ext.fhir_decimal_tenths("minValue")?;
                let max = ext.fhir_decimal_tenths("maxValue")?;
                match ext.find(&format!("{FHIR_EXT}maxDecimalPlaces")) {
                    Some((_, e)) if e.value_integer == Some(1) => {}
                    Some((field, e)) => {
                        return Err(self.invalid(format!("{field}.valueInteger"), "1", e.value_integer));
                    }
                    None => {
                        return Err(
                            self.error(format!("{path}.extension[{FHIR_EXT}maxDecimalPlaces]"), PackProblem::Missing)
                        );
                    }
                }
                if min >= max || min < 0 {
                    return Err(self.invalid(format!("{path}.extension"), "0 <= minValue < maxValue", (min, max)));
                }
                AnswerKind::Vas { min_tenths: min, max_tenths: max }
            }
            "choice" => {
                if item.answer_option.is_empty() {
                    return Err(self.invalid(format!("{path}.answerOption"), "at least one option", "none"));
                }
                let mut values = BTreeSet::new();
                let mut options = Vec::with_capacity(item.answer_option.len());
                for (index, option) in item.answer_option.iter().enumerate() {
                    let option_path = format!("{path}.answerOption[{index}]");
                    let value = self.option_value(&option_path, option)?;
                    if !values.insert(value) {
                        return Err(self.invalid(option_path, "a value no other option has", value));
                    }
                    let coding = &option.value_coding;
                    let display = coding.display.as_deref().unwrap_or(&coding.code);
                    let text = self.text(
                        lang,
                        display,
                        coding.display_element.as_ref(),
                        &format!("{option_path}.valueCoding._display"),
                    )?;
                    options.push(AnswerOption { value, text });
                }
                AnswerKind::Choice { options }
            }
            other => {
                return Err(self.error(
                    format!("{path}.type"),
                    PackProblem::Unsupported(format!("item type {other:?} (use decimal or choice)")),
                ));
            }
        };
        Ok(Item { id: ItemId(item.link_id.clone()), text, help, answer })
    }

    /// An item's help text, FHIR's way: one nested item of type `display` whose item control is
    /// `help`. Nothing else may be nested in an item.
    fn help(&self, lang: Lang, path: &str, nested: &[serde_json::Value]) -> Result<Option<Text>, PackError> {
        let [only] = nested else {
            if nested.is_empty() {
                return Ok(None);
            }
            let problem = PackProblem::Unsupported("nested items other than one help text".into());
            return Err(self.error(format!("{path}.item"), problem));
        };
        let field = format!("{path}.item[0]");
        let display: QuestionnaireItem = serde_json::from_value(only.clone())
            .map_err(|e| self.invalid(field.clone(), "a help item (linkId, type display, text)", e.to_string()))?;
        if display.item_type != "display" {
            return Err(self.invalid(format!("{field}.type"), "\"display\"", &display.item_type));
        }
        if !display.item.is_empty() || !display.answer_option.is_empty() {
            return Err(self.invalid(field, "a help text with nothing nested and no options", "more"));
        }
        let ext = Extensions { checker: self, list: &display.extension, path: format!("{field}.extension") };
        let control = ext.find(&format!("{FHIR_EXT}questionnaire-itemControl"));
        let codes = control.as_ref().and_then(|(_, e)| e.value_codeable_concept.as_ref()).map(|c| &c.coding);
        if !codes.is_some_and(|coding| coding.iter().any(|c| c.code == "help")) {
            return Err(self.invalid(format!("{field}.extension"), "the item control \"help\"", "none"));
        }
        Ok(Some(self.text(lang, &display.text, display.text_element.as_ref(), &format!("{field}._text"))?))
    }

    /// An option's value is its ordinalValue extension, or else its code read as an integer.
    fn option_value(&self, path: &str, option: &FhirAnswerOption) -> Result<i64, PackError> {
        let ext = Extensions { checker: self, list: &option.extension, path: format!("{path}.extension") };
        match ext.find(&format!("{FHIR_EXT}ordinalValue")) {
            Some((field, e)) => {
                let value =
                    e.value_decimal.ok_or_else(|| self.error(format!("{field}.valueDecimal"), PackProblem::Missing))?;
                if value.fract() != 0.0 || !(-1e9..=1e9).contains(&value) {
                    return Err(self.invalid(format!("{field}.valueDecimal"), "a whole number", value));
                }
                Ok(value as i64)
            }
            None => option.value_coding.code.parse().map_err(|_| {
                self.invalid(
                    format!("{path}.valueCoding.code"),
                    "an integer code or an ordinalValue",
                    &option.value_coding.code,
                )
            }),
        }
    }

    fn expected_trajectory(&self, field: &str, e: &Extension) -> Result<ExpectedTrajectory, PackError> {
        let mut bands = Vec::new();
        for (index, band) in e.extension.iter().enumerate() {
            let path = format!("{field}.extension[{index}]");
            if band.url != "band" {
                return Err(self.invalid(format!("{path}.url"), "\"band\"", &band.url));
            }
            let mut from = None;
            let mut to = None;
            let mut expected = Vec::new();
            for (j, part) in band.extension.iter().enumerate() {
                let part_path = format!("{path}.extension[{j}]");
                let tenths =
                    part.value_decimal.and_then(decimal_to_tenths).filter(|t| (0..=400).contains(t)).ok_or_else(
                        || {
                            self.invalid(
                                format!("{part_path}.valueDecimal"),
                                "a total from 0.0 to 40.0",
                                part.value_decimal,
                            )
                        },
                    )?;
                match part.url.as_str() {
                    "intakeFrom" => from = Some(tenths),
                    "intakeTo" => to = Some(tenths),
                    "expected" => expected.push(tenths),
                    other => {
                        return Err(self.invalid(
                            format!("{part_path}.url"),
                            "intakeFrom, intakeTo or expected",
                            other,
                        ));
                    }
                }
            }
            let from = from.ok_or_else(|| self.error(format!("{path}.extension[intakeFrom]"), PackProblem::Missing))?;
            let to = to.ok_or_else(|| self.error(format!("{path}.extension[intakeTo]"), PackProblem::Missing))?;
            if from > to || expected.is_empty() {
                return Err(self.invalid(path, "intakeFrom <= intakeTo and at least one expected total", (from, to)));
            }
            bands.push(ExpectedBand { intake_from_tenths: from, intake_to_tenths: to, expected_tenths: expected });
        }
        if bands.is_empty() {
            return Err(self.invalid(format!("{field}.extension"), "at least one band", "none"));
        }
        Ok(ExpectedTrajectory { bands })
    }

    /// A text in the pack's language plus its FHIR translations (only Danish and English are kept).
    fn text(&self, lang: Lang, primary: &str, element: Option<&Element>, path: &str) -> Result<Text, PackError> {
        if primary.trim().is_empty() {
            // The text itself is empty, not its `_text` element: name the field.
            let field = path.trim_start_matches('_').replace("._", ".");
            return Err(self.invalid(field, "a non-empty text", primary));
        }
        let mut text = Text { da: None, en: None };
        set_text(&mut text, lang, primary);
        for (index, e) in element.map(|e| e.extension.as_slice()).unwrap_or_default().iter().enumerate() {
            if e.url != format!("{FHIR_EXT}translation") {
                continue;
            }
            let part = |name: &str| e.extension.iter().find(|p| p.url == name);
            let lang_code = part("lang").and_then(|p| p.value_code.as_deref());
            let content = part("content").and_then(|p| p.value_string.as_deref());
            match (lang_code, content) {
                (Some(code), Some(content)) if !content.trim().is_empty() => {
                    if let Some(other) = Lang::from_code(code) {
                        set_text(&mut text, other, content);
                    }
                }
                _ => {
                    return Err(self.invalid(
                        format!("{path}.extension[{index}]"),
                        "a translation with lang and non-empty content",
                        "an incomplete translation",
                    ));
                }
            }
        }
        Ok(text)
    }
}

fn set_text(text: &mut Text, lang: Lang, value: &str) {
    let slot = match lang {
        Lang::Da => &mut text.da,
        Lang::En => &mut text.en,
    };
    *slot = Some(value.to_owned());
}

/// Reads the extensions of one element, naming each by its path for errors.
struct Extensions<'a> {
    checker: &'a Checker<'a>,
    list: &'a [Extension],
    path: String,
}

impl<'a> Extensions<'a> {
    fn find(&self, url: &str) -> Option<(String, &'a Extension)> {
        self.list.iter().enumerate().find(|(_, e)| e.url == url).map(|(i, e)| (format!("{}[{i}]", self.path), e))
    }

    fn ours(&self, name: &str) -> Option<(String, &'a Extension)> {
        self.find(&format!("{EXT_PREFIX}{name}"))
    }

    fn code(&self, name: &str) -> Result<Option<(String, &'a str)>, PackError> {
        let Some((field, e)) = self.ours(name) else { return Ok(None) };
        let code = e
            .value_code
            .as_deref()
            .ok_or_else(|| self.checker.error(format!("{field}.valueCode"), PackProblem::Missing))?;
        Ok(Some((format!("{field}.valueCode"), code)))
    }

    fn integer(&self, name: &str) -> Result<Option<(String, i64)>, PackError> {
        let Some((field, e)) = self.ours(name) else { return Ok(None) };
        let value =
            e.value_integer.ok_or_else(|| self.checker.error(format!("{field}.valueInteger"), PackProblem::Missing))?;
        Ok(Some((format!("{field}.valueInteger"), value)))
    }

    fn boolean(&self, name: &str) -> Result<Option<bool>, PackError> {
        let Some((field, e)) = self.ours(name) else { return Ok(None) };
        e.value_boolean
            .map(Some)
            .ok_or_else(|| self.checker.error(format!("{field}.valueBoolean"), PackProblem::Missing))
    }

    fn fhir_decimal_tenths(&self, name: &str) -> Result<i64, PackError> {
        let (field, e) = self
            .find(&format!("{FHIR_EXT}{name}"))
            .ok_or_else(|| self.checker.error(format!("{}[{FHIR_EXT}{name}]", self.path), PackProblem::Missing))?;
        let value =
            e.value_decimal.ok_or_else(|| self.checker.error(format!("{field}.valueDecimal"), PackProblem::Missing))?;
        decimal_to_tenths(value).ok_or_else(|| {
            self.checker.invalid(format!("{field}.valueDecimal"), "a number with at most one decimal", value)
        })
    }
}

/// The scales a replica knows, by code.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScaleSet {
    scales: BTreeMap<ScaleCode, Scale>,
}

impl ScaleSet {
    /// Parses a set of packs given as (name, content). Two packs of the same code are an error.
    pub fn from_packs<'a>(packs: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Result<ScaleSet, PackError> {
        let mut set = ScaleSet::default();
        for (file, bytes) in packs {
            let scale = parse_pack(file, bytes)?;
            if set.scales.contains_key(&scale.code) {
                return Err(PackError {
                    file: file.to_owned(),
                    field: "id".to_owned(),
                    problem: PackProblem::DuplicateScale(scale.code.to_string()),
                });
            }
            set.scales.insert(scale.code.clone(), scale);
        }
        Ok(set)
    }

    /// The packs shipped with the product: WHO-5 in full, ORS/SRS/CORS/CSRS/GSRS as short labels.
    pub fn built_in() -> Result<ScaleSet, PackError> {
        ScaleSet::from_packs(BUILT_IN_PACKS.iter().map(|(file, json)| (*file, json.as_bytes())))
    }

    /// Installs a scale, replacing one of the same code (a licensed pack replacing short labels).
    /// It checks nothing: a pack from outside comes in through `admit`.
    pub fn install(&mut self, scale: Scale) -> Option<Scale> {
        self.scales.insert(scale.code.clone(), scale)
    }

    /// The one rule of admitting a pack from outside (a server's `install-pack`, a device's sync)
    /// into this set: every check of `parse_pack`, then, for a code the set holds, the version
    /// rules. The same version with the same content is `Unchanged`; the same version with other
    /// content is refused (`VersionReused`, field `version`); a new version must keep what the
    /// recorded responses of the scale mean: its kind, population, items (ids, in order, and their
    /// answers' ranges or option values) and score multiplier (`Changed`, naming the field). The
    /// set is not changed: `admit_and_install` installs what is admitted.
    pub fn admit(&self, file: &str, bytes: &[u8]) -> Result<Admission, PackError> {
        let scale = parse_pack(file, bytes)?;
        let Some(installed) = self.scales.get(&scale.code) else { return Ok(Admission::New(scale)) };
        if installed.version == scale.version {
            if *installed == scale {
                return Ok(Admission::Unchanged);
            }
            return Err(PackError {
                file: file.to_owned(),
                field: "version".to_owned(),
                problem: PackProblem::VersionReused(scale.version),
            });
        }
        keeps_meaning(file, installed, &scale)?;
        Ok(Admission::Update { replaces: installed.version.clone(), scale })
    }

    /// `admit`, then installs the scale admitted; returns what was done.
    pub fn admit_and_install(&mut self, file: &str, bytes: &[u8]) -> Result<Admitted, PackError> {
        let admitted = match self.admit(file, bytes)? {
            Admission::Unchanged => Admitted::Unchanged,
            Admission::New(scale) => {
                let code = scale.code.clone();
                self.install(scale);
                Admitted::New(code)
            }
            Admission::Update { scale, replaces } => {
                let code = scale.code.clone();
                self.install(scale);
                Admitted::Updated { code, replaces }
            }
        };
        Ok(admitted)
    }

    pub fn get(&self, code: &ScaleCode) -> Option<&Scale> {
        self.scales.get(code)
    }

    /// Looks a scale up by the text of its code.
    pub fn find(&self, code: &str) -> Option<&Scale> {
        self.scales.get(&ScaleCode::parse(code)?)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Scale> {
        self.scales.values()
    }
}

/// What `ScaleSet::admit` found a pack to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// A scale the set does not have.
    New(Scale),
    /// A new version of a scale the set has, replacing the version named.
    Update { scale: Scale, replaces: String },
    /// The very scale the set has, version and content: nothing to do.
    Unchanged,
}

/// What `ScaleSet::admit_and_install` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admitted {
    New(ScaleCode),
    Updated { code: ScaleCode, replaces: String },
    Unchanged,
}

/// A new version of `installed` keeps what its recorded responses mean: they are checked and
/// scored against whichever version a replica holds.
fn keeps_meaning(file: &str, installed: &Scale, scale: &Scale) -> Result<(), PackError> {
    let changed = |field: String, was: &dyn std::fmt::Debug, now: &dyn std::fmt::Debug| PackError {
        file: file.to_owned(),
        field,
        problem: PackProblem::Changed { installed: format!("{was:?}"), found: format!("{now:?}") },
    };
    let ext = |name: &str| format!("extension[{EXT_PREFIX}{name}]");
    if installed.kind != scale.kind {
        return Err(changed(ext("scale-kind"), &installed.kind, &scale.kind));
    }
    if installed.population != scale.population {
        return Err(changed(ext("population"), &installed.population, &scale.population));
    }
    if installed.score_multiplier != scale.score_multiplier {
        return Err(changed(ext("score-multiplier"), &installed.score_multiplier, &scale.score_multiplier));
    }
    if installed.items.len() != scale.items.len() {
        return Err(changed("item".to_owned(), &installed.items.len(), &scale.items.len()));
    }
    for (index, (was, now)) in installed.items.iter().zip(&scale.items).enumerate() {
        if was.id != now.id {
            return Err(changed(format!("item[{index}].linkId"), &was.id.0, &now.id.0));
        }
        match (&was.answer, &now.answer) {
            (AnswerKind::Choice { options: a }, AnswerKind::Choice { options: b }) => {
                let values = |o: &[AnswerOption]| o.iter().map(|o| o.value).collect::<BTreeSet<_>>();
                if values(a) != values(b) {
                    return Err(changed(format!("item[{index}].answerOption"), &values(a), &values(b)));
                }
            }
            (a, b) if a != b => return Err(changed(format!("item[{index}].type"), a, b)),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
