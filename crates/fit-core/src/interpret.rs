//! Interpretation: from a citizen's scored visits to a trajectory (a point per visit) and the
//! alerts a worker should see now, with the published numbers of the scales.
//!
//! The output is data for the screen: machine codes the UI can switch on, and texts in Danish
//! and English. Alerts are about the latest measurement of each kind, because they ask the worker
//! to act at the next visit; the history stays visible in the points.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::ids::VisitId;
use crate::pack::ScaleSet;
use crate::response::{Answer, NotGivenReason, ResponseValue, Total, ValidResponse};
use crate::scale::{Population, Scale, ScaleCode, ScaleKind};
use crate::text::{Lang, Text, format_tenths};

/// ORS clinical cutoff for adults: 25.0 (Miller & Duncan).
pub const ORS_CUTOFF_ADULT_TENTHS: i64 = 250;
/// ORS clinical cutoff for adolescents 13–17: 28.0.
pub const ORS_CUTOFF_ADOLESCENT_TENTHS: i64 = 280;
/// CORS clinical cutoff for children 6–12: 32.0.
pub const CORS_CUTOFF_TENTHS: i64 = 320;
/// A change of 5.0 or more on a 0–40 outcome scale is a reliable change.
pub const RELIABLE_CHANGE_TENTHS: i64 = 50;
/// An SRS total below 36.0 is a concern.
pub const SRS_TOTAL_CONCERN_BELOW_TENTHS: i64 = 360;
/// An SRS item below 9.0 is a concern.
pub const SRS_ITEM_CONCERN_BELOW_TENTHS: i64 = 90;
/// An SRS drop of 1.0 or more since the previous visit is a concern.
pub const SRS_DROP_CONCERN_TENTHS: i64 = 10;
/// A WHO-5 score below 50 suggests poor well-being.
pub const WHO5_POOR_BELOW: i64 = 50;
/// A WHO-5 score of 28 or below suggests likely depression.
pub const WHO5_DEPRESSION_AT_OR_BELOW: i64 = 28;
/// A WHO-5 change of 10 or more is meaningful.
pub const WHO5_MEANINGFUL_CHANGE: i64 = 10;

/// The citizen's age band, which decides the ORS cutoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum AgeBand {
    /// 6–12 years.
    Child,
    /// 13–17 years.
    Adolescent,
    /// 18 years and over.
    Adult,
}

/// The clinical cutoff of an outcome scale for a citizen: CORS (a scale for children) and
/// children 6–12 use 32.0, adolescents 28.0, adults 25.0.
pub fn outcome_cutoff_tenths(population: Population, age: AgeBand) -> i64 {
    match (population, age) {
        (Population::Child, _) | (_, AgeBand::Child) => CORS_CUTOFF_TENTHS,
        (_, AgeBand::Adolescent) => ORS_CUTOFF_ADOLESCENT_TENTHS,
        (_, AgeBand::Adult) => ORS_CUTOFF_ADULT_TENTHS,
    }
}

/// The responses of one visit, in the order the visits happened. When a visit holds more than
/// one response of a kind (a correction), the last one counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitScores {
    pub visit: VisitId,
    pub responses: Vec<ValidResponse>,
}

/// One scale at one visit, as drawn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Measure {
    /// `lowest_item` is the lowest answer, in the item's unit (tenths on a line); `items` every
    /// answer, for the breakdown of a total into its items.
    Given {
        scale: ScaleCode,
        total: Total,
        lowest_item: i64,
        items: Vec<Answer>,
    },
    NotGiven {
        scale: ScaleCode,
        reason: NotGivenReason,
    },
}

impl Measure {
    /// The measure of a response; a withdrawn one measured nothing.
    fn from_response(response: &ValidResponse) -> Option<Measure> {
        match &response.value {
            ResponseValue::Given { total, answers, .. } => Some(Measure::Given {
                scale: response.scale.clone(),
                total: *total,
                lowest_item: response.lowest_answer().map(|a| a.value).unwrap_or(0),
                items: answers.clone(),
            }),
            ResponseValue::NotGiven { reason } => {
                Some(Measure::NotGiven { scale: response.scale.clone(), reason: *reason })
            }
            ResponseValue::Withdrawn => None,
        }
    }
}

/// One visit on the chart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct TrajectoryPoint {
    pub visit: VisitId,
    /// 1 for the first visit in the list.
    pub number: u32,
    pub outcome: Option<Measure>,
    pub alliance: Option<Measure>,
    pub wellbeing: Option<Measure>,
    /// From the pack's expected-trajectory table, when it has one that covers this point.
    pub expected_outcome_tenths: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeChange {
    ReliableImprovement,
    ReliableDeterioration,
    NoReliableChange,
}

/// Where the citizen stands on the outcome scale, from the first measurement to the latest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct OutcomeSummary {
    pub scale: ScaleCode,
    pub cutoff_tenths: i64,
    pub first_tenths: i64,
    pub latest_tenths: i64,
    pub change_tenths: i64,
    /// The reliable-change band around the first score, clipped to the scale: a later score
    /// outside it is a reliable change.
    pub band_low_tenths: i64,
    pub band_high_tenths: i64,
    pub change: OutcomeChange,
    /// A reliable improvement that crossed the cutoff from below.
    pub clinically_significant: bool,
    /// How many visits had the outcome scale given.
    pub measurements: u32,
}

/// What the worker should look at. The code is stable: the UI and exports switch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, TS)]
pub enum AlertCode {
    #[serde(rename = "ors.below_cutoff")]
    OrsBelowCutoff,
    #[serde(rename = "ors.reliable_deterioration")]
    OrsReliableDeterioration,
    #[serde(rename = "ors.no_reliable_improvement")]
    OrsNoReliableImprovement,
    #[serde(rename = "ors.below_expected")]
    OrsBelowExpected,
    #[serde(rename = "srs.total_low")]
    SrsTotalLow,
    #[serde(rename = "srs.item_low")]
    SrsItemLow,
    #[serde(rename = "srs.dropped")]
    SrsDropped,
    #[serde(rename = "who5.poor_wellbeing")]
    Who5PoorWellbeing,
    #[serde(rename = "who5.likely_depression")]
    Who5LikelyDepression,
    #[serde(rename = "who5.decline")]
    Who5Decline,
}

/// How much an alert asks of the worker: the caseload is ordered by it and the screens show it
/// by colour and icon. Serious: the citizen is getting worse, or not better where they should
/// be (reliable deterioration, no reliable improvement, WHO-5's likely depression). A notice is
/// something to talk about (below the cutoff, below the expected trajectory, the alliance, a
/// drop in well-being). The published rules decide whether an alert is raised; this only ranks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Notice,
    Serious,
}

impl AlertCode {
    pub fn severity(self) -> Severity {
        match self {
            AlertCode::OrsReliableDeterioration
            | AlertCode::OrsNoReliableImprovement
            | AlertCode::Who5LikelyDepression => Severity::Serious,
            AlertCode::OrsBelowCutoff
            | AlertCode::OrsBelowExpected
            | AlertCode::SrsTotalLow
            | AlertCode::SrsItemLow
            | AlertCode::SrsDropped
            | AlertCode::Who5PoorWellbeing
            | AlertCode::Who5Decline => Severity::Notice,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AlertCode::OrsBelowCutoff => "ors.below_cutoff",
            AlertCode::OrsReliableDeterioration => "ors.reliable_deterioration",
            AlertCode::OrsNoReliableImprovement => "ors.no_reliable_improvement",
            AlertCode::OrsBelowExpected => "ors.below_expected",
            AlertCode::SrsTotalLow => "srs.total_low",
            AlertCode::SrsItemLow => "srs.item_low",
            AlertCode::SrsDropped => "srs.dropped",
            AlertCode::Who5PoorWellbeing => "who5.poor_wellbeing",
            AlertCode::Who5LikelyDepression => "who5.likely_depression",
            AlertCode::Who5Decline => "who5.decline",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Alert {
    pub code: AlertCode,
    /// `code.severity()`, for the screens.
    pub severity: Severity,
    /// The visit whose measurement raised it.
    pub visit: VisitId,
    pub text: Text,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Trajectory {
    pub points: Vec<TrajectoryPoint>,
    pub outcome: Option<OutcomeSummary>,
    pub alerts: Vec<Alert>,
}

impl Trajectory {
    pub fn has_alert(&self, code: AlertCode) -> bool {
        self.alerts.iter().any(|a| a.code == code)
    }
}

/// Builds the trajectory and the current alerts of one citizen from their visits in order.
/// Responses to scales missing from `scales` are drawn but add no alerts that need the scale.
pub fn interpret(scales: &ScaleSet, age: AgeBand, visits: &[VisitScores]) -> Trajectory {
    let mut points = Vec::with_capacity(visits.len());
    let mut outcome_series: Vec<(VisitId, &ValidResponse)> = Vec::new();
    let mut alliance_series: Vec<(VisitId, &ValidResponse)> = Vec::new();
    let mut wellbeing_series: Vec<(VisitId, &ValidResponse)> = Vec::new();

    for (index, visit) in visits.iter().enumerate() {
        // A withdrawn response is no measurement: the one before it at the visit, if any, counts.
        let latest_of = |kind| visit.responses.iter().rev().find(|r| r.kind == kind && !r.is_withdrawn());
        let outcome = latest_of(ScaleKind::Outcome);
        let alliance = latest_of(ScaleKind::Alliance);
        let wellbeing = latest_of(ScaleKind::Wellbeing);
        for (series, response) in
            [(&mut outcome_series, outcome), (&mut alliance_series, alliance), (&mut wellbeing_series, wellbeing)]
        {
            if let Some(r) = response.filter(|r| r.total().is_some()) {
                series.push((visit.visit, r));
            }
        }
        let expected =
            outcome.filter(|r| r.total().is_some()).and_then(|r| expected_outcome(scales, &outcome_series, r));
        points.push(TrajectoryPoint {
            visit: visit.visit,
            number: u32::try_from(index + 1).unwrap_or(u32::MAX),
            outcome: outcome.and_then(Measure::from_response),
            alliance: alliance.and_then(Measure::from_response),
            wellbeing: wellbeing.and_then(Measure::from_response),
            expected_outcome_tenths: expected,
        });
    }

    let mut alerts = Vec::new();
    let outcome = outcome_summary(scales, age, &outcome_series, &points, &mut alerts);
    alliance_alerts(scales, &alliance_series, &mut alerts);
    wellbeing_alerts(&wellbeing_series, &mut alerts);
    Trajectory { points, outcome, alerts }
}

/// The expected total for the latest given outcome measurement in `series`, if the pack has a table.
fn expected_outcome(scales: &ScaleSet, series: &[(VisitId, &ValidResponse)], latest: &ValidResponse) -> Option<i64> {
    let table = scales.get(&latest.scale)?.expected_trajectory.as_ref()?;
    let intake = series.first()?.1.total()?.score;
    table.expected(intake, series.len().checked_sub(1)?)
}

fn outcome_summary(
    scales: &ScaleSet,
    age: AgeBand,
    series: &[(VisitId, &ValidResponse)],
    points: &[TrajectoryPoint],
    alerts: &mut Vec<Alert>,
) -> Option<OutcomeSummary> {
    let (_, first) = series.first()?;
    let (latest_visit, latest) = series.last()?;
    let scale = scales.get(&latest.scale);
    let population = scale.map_or(Population::Adult, |s| s.population);
    let cutoff = outcome_cutoff_tenths(population, age);
    let first_tenths = first.total()?.score;
    let latest_tenths = latest.total()?.score;
    let change_tenths = latest_tenths - first_tenths;
    let change = if change_tenths >= RELIABLE_CHANGE_TENTHS {
        OutcomeChange::ReliableImprovement
    } else if change_tenths <= -RELIABLE_CHANGE_TENTHS {
        OutcomeChange::ReliableDeterioration
    } else {
        OutcomeChange::NoReliableChange
    };
    let summary = OutcomeSummary {
        scale: latest.scale.clone(),
        cutoff_tenths: cutoff,
        first_tenths,
        latest_tenths,
        change_tenths,
        band_low_tenths: (first_tenths - RELIABLE_CHANGE_TENTHS).max(0),
        band_high_tenths: (first_tenths + RELIABLE_CHANGE_TENTHS).min(400),
        change,
        clinically_significant: change == OutcomeChange::ReliableImprovement
            && first_tenths < cutoff
            && latest_tenths >= cutoff,
        measurements: u32::try_from(series.len()).unwrap_or(u32::MAX),
    };
    let after =
        scale.map_or(crate::scale::NO_IMPROVEMENT_AFTER_VISITS_DEFAULT, |s: &Scale| s.no_improvement_after_visits);
    let expected = points.iter().rev().find(|p| p.visit == *latest_visit).and_then(|p| p.expected_outcome_tenths);
    outcome_alerts(&summary, *latest_visit, after, expected, alerts);
    Some(summary)
}

/// The alerts an outcome summary raises at its latest visit: below the cutoff, a reliable
/// deterioration, no reliable improvement after `after` measurements, below the expected score.
fn outcome_alerts(
    summary: &OutcomeSummary,
    visit: VisitId,
    after: u32,
    expected: Option<i64>,
    alerts: &mut Vec<Alert>,
) {
    let name = summary.scale.as_str().to_uppercase();
    let (latest_tenths, cutoff, measurements) = (summary.latest_tenths, summary.cutoff_tenths, summary.measurements);
    let t = |tenths| (format_tenths(tenths, Lang::Da), format_tenths(tenths, Lang::En));
    let mut alert = |code, da: String, en: String| {
        alerts.push(Alert { code, severity: code.severity(), visit, text: Text::new(da, en) })
    };
    if latest_tenths < cutoff {
        let ((v_da, v_en), (c_da, c_en)) = (t(latest_tenths), t(cutoff));
        alert(
            AlertCode::OrsBelowCutoff,
            format!("{name} {v_da} er under den kliniske grænse på {c_da}"),
            format!("{name} {v_en} is below the clinical cutoff of {c_en}"),
        );
    }
    if summary.change == OutcomeChange::ReliableDeterioration {
        let ((d_da, d_en), (r_da, r_en)) = (t(-summary.change_tenths), t(RELIABLE_CHANGE_TENTHS));
        alert(
            AlertCode::OrsReliableDeterioration,
            format!("{name} er faldet {d_da} point siden første måling (pålidelig forværring ved {r_da} eller mere)"),
            format!("{name} has fallen {d_en} points since the first score (reliable deterioration at {r_en} or more)"),
        );
    }
    if summary.change == OutcomeChange::NoReliableChange && measurements >= after {
        let ((c_da, c_en), (r_da, r_en)) = (t(summary.change_tenths), t(RELIABLE_CHANGE_TENTHS));
        alert(
            AlertCode::OrsNoReliableImprovement,
            format!("Ingen pålidelig forbedring efter {measurements} målinger (ændring {c_da}; {r_da} kræves)"),
            format!("No reliable improvement after {measurements} measurements (change {c_en}; {r_en} needed)"),
        );
    }
    if let Some(expected) = expected.filter(|e| latest_tenths < *e) {
        let ((v_da, v_en), (e_da, e_en)) = (t(latest_tenths), t(expected));
        alert(
            AlertCode::OrsBelowExpected,
            format!("{name} {v_da} er under det forventede {e_da} ved måling {measurements}"),
            format!("{name} {v_en} is below the expected {e_en} at measurement {measurements}"),
        );
    }
}

fn alliance_alerts(scales: &ScaleSet, series: &[(VisitId, &ValidResponse)], alerts: &mut Vec<Alert>) {
    let Some((visit, latest)) = series.last() else { return };
    let visit = *visit;
    let name = latest.scale.as_str().to_uppercase();
    let Some(total) = latest.total().map(|t| t.score) else { return };
    let t = |tenths| (format_tenths(tenths, Lang::Da), format_tenths(tenths, Lang::En));

    if total < SRS_TOTAL_CONCERN_BELOW_TENTHS {
        let ((v_da, v_en), (c_da, c_en)) = (t(total), t(SRS_TOTAL_CONCERN_BELOW_TENTHS));
        alerts.push(Alert {
            code: AlertCode::SrsTotalLow,
            severity: AlertCode::SrsTotalLow.severity(),
            visit,
            text: Text::new(
                format!("{name} {v_da} er under {c_da}: tal med borgeren om samarbejdet"),
                format!("{name} {v_en} is below {c_en}: talk with the citizen about how you work together"),
            ),
        });
    }
    if let ResponseValue::Given { answers, .. } = &latest.value {
        let scale = scales.get(&latest.scale);
        // One alert naming every low item: four alerts for one visit would bury the others.
        let low: Vec<_> = answers
            .iter()
            .filter(|a| a.value < SRS_ITEM_CONCERN_BELOW_TENTHS)
            .map(|answer| {
                let label = scale.and_then(|s| s.item(&answer.item.0)).map(|i| &i.text);
                let in_lang = |lang| label.map_or(answer.item.0.as_str(), |text| text.get(lang)).to_owned();
                (in_lang(Lang::Da), in_lang(Lang::En), t(answer.value))
            })
            .collect();
        let (c_da, c_en) = t(SRS_ITEM_CONCERN_BELOW_TENTHS);
        let text = match low.as_slice() {
            [] => None,
            [(l_da, l_en, (v_da, v_en))] => Some(Text::new(
                format!("{name}-punktet «{l_da}» er {v_da}, under {c_da}"),
                format!("The {name} item “{l_en}” is {v_en}, below {c_en}"),
            )),
            several => {
                let list_da: Vec<_> = several.iter().map(|(l, _, (v, _))| format!("«{l}» {v}")).collect();
                let list_en: Vec<_> = several.iter().map(|(_, l, (_, v))| format!("“{l}” {v}")).collect();
                Some(Text::new(
                    format!("{name}-punkter under {c_da}: {}", list_da.join(", ")),
                    format!("{name} items below {c_en}: {}", list_en.join(", ")),
                ))
            }
        };
        if let Some(text) = text {
            alerts.push(Alert { code: AlertCode::SrsItemLow, severity: AlertCode::SrsItemLow.severity(), visit, text });
        }
    }
    if let Some(previous) = series.len().checked_sub(2).and_then(|i| series[i].1.total()) {
        let drop = previous.score - total;
        if drop >= SRS_DROP_CONCERN_TENTHS {
            let (d_da, d_en) = t(drop);
            alerts.push(Alert {
                code: AlertCode::SrsDropped,
                severity: AlertCode::SrsDropped.severity(),
                visit,
                text: Text::new(
                    format!("{name} er faldet {d_da} point siden sidste besøg"),
                    format!("{name} has dropped {d_en} points since the previous visit"),
                ),
            });
        }
    }
}

fn wellbeing_alerts(series: &[(VisitId, &ValidResponse)], alerts: &mut Vec<Alert>) {
    let Some((visit, latest)) = series.last() else { return };
    let visit = *visit;
    let Some(score) = latest.total().map(|t| t.score) else { return };
    if score <= WHO5_DEPRESSION_AT_OR_BELOW {
        alerts.push(Alert {
            code: AlertCode::Who5LikelyDepression,
            severity: AlertCode::Who5LikelyDepression.severity(),
            visit,
            text: Text::new(
                format!("WHO-5 er {score} ({WHO5_DEPRESSION_AT_OR_BELOW} eller under): mulig depression, overvej udredning"),
                format!("WHO-5 is {score} ({WHO5_DEPRESSION_AT_OR_BELOW} or below): likely depression, consider an assessment"),
            ),
        });
    } else if score < WHO5_POOR_BELOW {
        alerts.push(Alert {
            code: AlertCode::Who5PoorWellbeing,
            severity: AlertCode::Who5PoorWellbeing.severity(),
            visit,
            text: Text::new(
                format!("WHO-5 er {score} (under {WHO5_POOR_BELOW}): dårlig trivsel"),
                format!("WHO-5 is {score} (below {WHO5_POOR_BELOW}): poor well-being"),
            ),
        });
    }
    if let Some(previous) = series.len().checked_sub(2).and_then(|i| series[i].1.total()).map(|t| t.score) {
        let drop = previous - score;
        if drop >= WHO5_MEANINGFUL_CHANGE {
            alerts.push(Alert {
                code: AlertCode::Who5Decline,
                severity: AlertCode::Who5Decline.severity(),
                visit,
                text: Text::new(
                    format!("WHO-5 er faldet {drop} point siden sidste måling"),
                    format!("WHO-5 has fallen {drop} points since the previous measurement"),
                ),
            });
        }
    }
}

#[cfg(test)]
mod tests;
