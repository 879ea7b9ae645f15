//! The registry's CSV export of every response: one row per response in its current version, in
//! log order, with the answers as recorded and the totals scored again by fit-core, and the trail
//! of the versions it corrected. Identifiers only, no names.

use std::collections::{HashMap, HashSet};
use std::io::Write;

use fit_core::ScaleSet;
use fit_core::ids::ResponseId;
use fit_core::response::CorrectionReason;
use fit_core::response::ResponseValue;
use fit_core::scale::AnswerKind;
use fit_protocol::{Change, ChangeBody, Checked};
use serde::Serialize;

/// One exported row. Lines are in centimetres with one decimal (a point, for spreadsheets in any
/// locale); option answers and WHO-5 scores are whole numbers.
#[derive(Debug, Serialize)]
struct Row<'a> {
    response_id: String,
    citizen_id: String,
    visit_id: String,
    device_id: String,
    recorded_at: String,
    scale: &'a str,
    scale_version: std::borrow::Cow<'a, str>,
    marked_by: &'a str,
    not_given_reason: &'a str,
    total: String,
    total_raw: String,
    answers: String,
    /// `given`, `not_given`, or `withdrawn` (a correction took the response back).
    status: &'a str,
    supersedes: String,
    /// Why the version it supersedes was corrected.
    correction: &'a str,
    /// The earlier versions, oldest first, each as `id:reason` (the reason it was corrected).
    trail: String,
}

/// A text cell a spreadsheet will not run: one that starts like a formula (`= + - @`, a tab or a
/// carriage return) gets a leading apostrophe. The check refuses such scale versions already;
/// this keeps the export safe for a log written before it did.
fn inert(text: &str) -> std::borrow::Cow<'_, str> {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{text}"))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// The corrections in a log: for each response that corrects another, the one it supersedes and why.
struct Corrections(HashMap<ResponseId, (ResponseId, CorrectionReason)>);

impl Corrections {
    fn of(changes: &[Change]) -> Corrections {
        Corrections(
            changes
                .iter()
                .filter_map(|change| match &change.body {
                    ChangeBody::ResponseRecorded {
                        response, supersedes: Some(earlier), correction: Some(why), ..
                    } => Some((*response, (*earlier, *why))),
                    _ => None,
                })
                .collect(),
        )
    }

    /// The versions `response` corrected, oldest first, each with the reason it was corrected.
    fn trail(&self, response: ResponseId) -> Vec<(ResponseId, CorrectionReason)> {
        let mut trail = Vec::new();
        let mut at = response;
        // The server logs a correction only of a response it holds, so a chain ends; the bound
        // keeps a damaged log from looping.
        while let Some((earlier, why)) = self.0.get(&at).copied() {
            if trail.len() > self.0.len() {
                break;
            }
            trail.push((earlier, why));
            at = earlier;
        }
        trail.reverse();
        trail
    }
}

/// Writes the CSV of every response in `changes` to `out` in its current version: a response
/// another one corrects is not a row of its own, but part of the trail of the one in force.
/// Returns the number of rows.
pub fn responses_csv(scales: &ScaleSet, changes: &[Change], out: impl Write) -> anyhow::Result<usize> {
    let mut writer = csv::Writer::from_writer(out);
    let mut rows = 0;
    let corrections = Corrections::of(changes);
    let superseded: HashSet<ResponseId> = corrections.0.values().map(|(earlier, _)| *earlier).collect();
    for change in changes {
        let ChangeBody::ResponseRecorded {
            response,
            visit,
            citizen,
            scale,
            scale_version,
            recorded_at_ms,
            supersedes,
            correction,
            ..
        } = &change.body
        else {
            continue;
        };
        if superseded.contains(response) {
            continue;
        }
        let Checked::Response(valid) =
            change.check(scales).map_err(|e| anyhow::anyhow!("response {response} in the log does not check: {e}"))?
        else {
            anyhow::bail!("response {response} in the log checks as another kind of change");
        };
        let tenths = |value: i64| format!("{}.{}", value / 10, value % 10);
        let (marked_by, reason, total, total_raw, answers, status) = match &valid.value {
            ResponseValue::Given { marked_by, answers, total } => {
                let line = scales
                    .get(&valid.scale)
                    .is_some_and(|s| s.items.iter().all(|item| matches!(item.answer, AnswerKind::Vas { .. })));
                let answers = answers
                    .iter()
                    .map(|a| format!("{}={}", a.item.0, if line { tenths(a.value) } else { a.value.to_string() }))
                    .collect::<Vec<_>>()
                    .join(";");
                let (total, raw) = if line {
                    (tenths(total.score), tenths(total.raw))
                } else {
                    (total.score.to_string(), total.raw.to_string())
                };
                (marked_by_text(*marked_by), "", total, raw, answers, "given")
            }
            ResponseValue::NotGiven { reason } => {
                ("", reason_text(*reason), String::new(), String::new(), String::new(), "not_given")
            }
            ResponseValue::Withdrawn => ("", "", String::new(), String::new(), String::new(), "withdrawn"),
        };
        let trail = corrections
            .trail(*response)
            .into_iter()
            .map(|(id, why)| format!("{id}:{}", correction_text(why)))
            .collect::<Vec<_>>()
            .join(";");
        let recorded_at = i64::try_from(*recorded_at_ms)
            .ok()
            .and_then(chrono::DateTime::from_timestamp_millis)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .unwrap_or_default();
        writer.serialize(Row {
            response_id: response.to_string(),
            citizen_id: citizen.to_string(),
            visit_id: visit.to_string(),
            device_id: change.device.to_string(),
            recorded_at,
            scale: scale.as_str(),
            scale_version: inert(scale_version),
            marked_by,
            not_given_reason: reason,
            total,
            total_raw,
            answers,
            status,
            supersedes: supersedes.map(|s| s.to_string()).unwrap_or_default(),
            correction: correction.map(correction_text).unwrap_or_default(),
            trail,
        })?;
        rows += 1;
    }
    writer.flush()?;
    Ok(rows)
}

fn marked_by_text(marked_by: fit_core::response::MarkedBy) -> &'static str {
    use fit_core::response::MarkedBy;
    match marked_by {
        MarkedBy::CitizenOnDevice => "citizen_on_device",
        MarkedBy::ReadAloudVerbal => "read_aloud_verbal",
        MarkedBy::TranscribedFromPaper => "transcribed_from_paper",
    }
}

fn correction_text(reason: CorrectionReason) -> &'static str {
    match reason {
        CorrectionReason::WrongMark => "wrong_mark",
        CorrectionReason::WrongCitizen => "wrong_citizen",
        CorrectionReason::EnteredTwice => "entered_twice",
    }
}

fn reason_text(reason: fit_core::response::NotGivenReason) -> &'static str {
    use fit_core::response::NotGivenReason;
    match reason {
        NotGivenReason::Declined => "declined",
        NotGivenReason::TooUnwell => "too_unwell",
        NotGivenReason::NoTime => "no_time",
        NotGivenReason::Other => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::inert;

    #[test]
    fn a_cell_that_starts_like_a_formula_is_made_inert() {
        for formula in ["=HYPERLINK(\"http://x\")", "+1", "-1+2", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(inert(formula), format!("'{formula}"));
        }
        assert_eq!(inert("short-labels-1"), "short-labels-1");
    }
}
