use rand::SeedableRng;
use rand::rngs::StdRng;
use rstest::rstest;
use serde_json::json;

use super::*;
use crate::ids::IdGenerator;
use crate::pack::parse_pack;
use crate::response::{MarkedBy, RawAnswer, ResponseContent, ResponseInput, validate_response};

/// What a visit held, written the way a worker would say it: totals in tenths.
#[derive(Clone, Copy)]
enum Held {
    /// An ORS (or CORS) total, spread evenly over the four lines.
    Outcome(&'static str, i64),
    /// An SRS whose four items are given.
    Alliance([i64; 4]),
    /// A WHO-5 raw total, 0–25.
    Who5(i64),
    OutcomeNotGiven,
    /// An outcome response taken back (recorded for the wrong citizen, or twice).
    OutcomeWithdrawn,
}

use Held::*;

fn ors(total: i64) -> Held {
    Outcome("ors", total)
}

fn srs_total(total: i64) -> Held {
    Alliance(even(total))
}

/// Four items as even as tenths allow, adding up to `total`.
fn even(total: i64) -> [i64; 4] {
    let (base, remainder) = (total / 4, total % 4);
    std::array::from_fn(|i| base + i64::from((i as i64) < remainder))
}

fn spread(total: i64, parts: usize, max: i64) -> Vec<i64> {
    let mut values = vec![0; parts];
    let mut left = total;
    for v in &mut values {
        *v = left.min(max);
        left -= *v;
    }
    assert_eq!(left, 0, "{total} does not fit {parts} items of at most {max}");
    values
}

fn response(scales: &ScaleSet, given: Held) -> ValidResponse {
    let (scale, values) = match given {
        Outcome(scale, total) => (scale, even(total).to_vec()),
        Alliance(items) => ("srs", items.to_vec()),
        Who5(raw) => ("who5", spread(raw, 5, 5)),
        OutcomeNotGiven => {
            let input = ResponseInput {
                scale: "ors".into(),
                content: ResponseContent::NotGiven { reason: NotGivenReason::Declined },
            };
            return validate_response(scales, &input).unwrap();
        }
        OutcomeWithdrawn => {
            let input = ResponseInput { scale: "ors".into(), content: ResponseContent::Withdrawn {} };
            return validate_response(scales, &input).unwrap();
        }
    };
    let items = &scales.find(scale).unwrap().items;
    let answers = items.iter().zip(values).map(|(i, v)| RawAnswer { item: i.id.0.clone(), value: json!(v) }).collect();
    let input = ResponseInput {
        scale: scale.into(),
        content: ResponseContent::Given { marked_by: MarkedBy::CitizenOnDevice, answers },
    };
    validate_response(scales, &input).unwrap()
}

fn visits(scales: &ScaleSet, history: &[&[Held]]) -> Vec<VisitScores> {
    let mut ids = IdGenerator::new(StdRng::seed_from_u64(11));
    history
        .iter()
        .enumerate()
        .map(|(n, held)| VisitScores {
            visit: ids.next(1_795_392_000_000 + n as u64 * 86_400_000),
            responses: held.iter().map(|g| response(scales, *g)).collect(),
        })
        .collect()
}

fn check_with(scales: &ScaleSet, age: AgeBand, history: &[&[Held]]) -> Trajectory {
    interpret(scales, age, &visits(scales, history))
}

/// Interprets the history of an adult with the built-in packs.
fn check(history: &[&[Held]]) -> Trajectory {
    check_with(&ScaleSet::built_in().unwrap(), AgeBand::Adult, history)
}

fn codes(t: &Trajectory) -> Vec<&'static str> {
    t.alerts.iter().map(|a| a.code.as_str()).collect()
}

#[rstest]
#[case::adult_at_24_9_is_below_25(AgeBand::Adult, "ors", 249, true)]
#[case::adult_at_25_0_is_not(AgeBand::Adult, "ors", 250, false)]
#[case::adolescent_at_27_9_is_below_28(AgeBand::Adolescent, "ors", 279, true)]
#[case::adolescent_at_28_0_is_not(AgeBand::Adolescent, "ors", 280, false)]
#[case::adolescent_at_25_0_is_below_28(AgeBand::Adolescent, "ors", 250, true)]
#[case::child_on_cors_at_31_9_is_below_32(AgeBand::Child, "cors", 319, true)]
#[case::child_on_cors_at_32_0_is_not(AgeBand::Child, "cors", 320, false)]
#[case::cors_uses_the_child_cutoff_whatever_the_age_band(AgeBand::Adult, "cors", 300, true)]
fn the_outcome_cutoff_depends_on_the_age_band_and_the_scale(
    #[case] age: AgeBand,
    #[case] scale: &'static str,
    #[case] total: i64,
    #[case] below: bool,
) {
    let t = check_with(&ScaleSet::built_in().unwrap(), age, &[&[Outcome(scale, total)]]);
    assert_eq!(t.has_alert(AlertCode::OrsBelowCutoff), below, "{:?}", t.alerts);
}

#[rstest]
#[case::up_4_9_is_no_reliable_change(200, 249, OutcomeChange::NoReliableChange)]
#[case::up_5_0_is_a_reliable_improvement(200, 250, OutcomeChange::ReliableImprovement)]
#[case::down_4_9_is_no_reliable_change(200, 151, OutcomeChange::NoReliableChange)]
#[case::down_5_0_is_a_reliable_deterioration(200, 150, OutcomeChange::ReliableDeterioration)]
fn a_change_of_5_from_the_first_score_is_reliable(
    #[case] first: i64,
    #[case] latest: i64,
    #[case] change: OutcomeChange,
) {
    let t = check(&[&[ors(first)], &[ors(latest)]]);
    let summary = t.outcome.as_ref().unwrap();
    assert_eq!((summary.change, summary.change_tenths), (change, latest - first));
    let deteriorated = change == OutcomeChange::ReliableDeterioration;
    assert_eq!(t.has_alert(AlertCode::OrsReliableDeterioration), deteriorated);
}

#[test]
fn the_change_is_measured_from_the_first_score_not_the_previous_one() {
    let t = check(&[&[ors(200)], &[ors(230)], &[ors(252)]]);
    assert_eq!(t.outcome.unwrap().change, OutcomeChange::ReliableImprovement);
}

#[rstest]
#[case::improved_across_the_cutoff(200, 250, true)]
#[case::crossed_the_cutoff_but_not_reliably(210, 250, false)]
#[case::improved_reliably_but_stayed_below(150, 249, false)]
#[case::improved_reliably_but_started_above(260, 310, false)]
fn clinically_significant_change_is_a_reliable_improvement_across_the_cutoff(
    #[case] first: i64,
    #[case] latest: i64,
    #[case] significant: bool,
) {
    let t = check(&[&[ors(first)], &[ors(latest)]]);
    assert_eq!(t.outcome.unwrap().clinically_significant, significant);
}

#[test]
fn the_reliable_change_band_surrounds_the_first_score_and_stays_on_the_scale() {
    let summary = check(&[&[ors(200)]]).outcome.unwrap();
    assert_eq!((summary.band_low_tenths, summary.band_high_tenths), (150, 250));
    let near_the_top = check(&[&[ors(380)]]).outcome.unwrap();
    assert_eq!((near_the_top.band_low_tenths, near_the_top.band_high_tenths), (330, 400));
    let near_the_bottom = check(&[&[ors(20)]]).outcome.unwrap();
    assert_eq!(near_the_bottom.band_low_tenths, 0);
}

fn flat_history(measurements: usize) -> Vec<&'static [Held]> {
    vec![&[Outcome("ors", 200)] as &[Held]; measurements]
}

#[test]
fn no_alert_for_lack_of_improvement_after_five_measurements() {
    assert!(!check(&flat_history(5)).has_alert(AlertCode::OrsNoReliableImprovement));
}

#[test]
fn no_reliable_improvement_after_six_measurements_raises_an_alert() {
    let t = check(&flat_history(6));
    assert!(t.has_alert(AlertCode::OrsNoReliableImprovement));
    let alert = t.alerts.iter().find(|a| a.code == AlertCode::OrsNoReliableImprovement).unwrap();
    assert_eq!(alert.text.get(Lang::Da), "Ingen pålidelig forbedring efter 6 målinger (ændring 0,0; 5,0 kræves)");
    assert_eq!(alert.visit, t.points[5].visit);
}

#[test]
fn a_reliable_improvement_by_the_sixth_measurement_raises_no_such_alert() {
    let mut history = flat_history(5);
    history.push(&[Outcome("ors", 250)]);
    assert!(!check(&history).has_alert(AlertCode::OrsNoReliableImprovement));
}

#[test]
fn visits_where_the_outcome_scale_was_not_given_do_not_count_as_measurements() {
    let mut history = flat_history(5);
    history.insert(2, &[OutcomeNotGiven]);
    let t = check(&history);
    assert_eq!(t.outcome.as_ref().unwrap().measurements, 5);
    assert!(!t.has_alert(AlertCode::OrsNoReliableImprovement));
    assert!(matches!(t.points[2].outcome, Some(Measure::NotGiven { reason: NotGivenReason::Declined, .. })));
}

#[test]
fn a_withdrawn_response_measures_nothing_and_the_one_before_it_at_the_visit_counts() {
    // Withdrawn alone: the visit has no outcome point, and the first score is the next visit's.
    let t = check(&[&[OutcomeWithdrawn], &[ors(200)], &[ors(260)]]);
    assert_eq!(t.points[0].outcome, None);
    let summary = t.outcome.as_ref().unwrap();
    assert_eq!((summary.first_tenths, summary.latest_tenths, summary.measurements), (200, 260, 2));
    // Entered twice: the second is withdrawn, so the first is the visit's measure.
    let t = check(&[&[ors(150), OutcomeWithdrawn]]);
    assert!(matches!(t.points[0].outcome, Some(Measure::Given { total: Total { score: 150, .. }, .. })));
    assert!(t.has_alert(AlertCode::OrsBelowCutoff));
}

#[test]
fn the_number_of_visits_before_the_no_improvement_alert_comes_from_the_pack() {
    let mut pack: serde_json::Value = serde_json::from_str(crate::pack::BUILT_IN_PACKS[0].1).unwrap();
    pack["extension"][3]["valueInteger"] = json!(3);
    let mut scales = ScaleSet::built_in().unwrap();
    scales.install(parse_pack("ors.json", pack.to_string().as_bytes()).unwrap());
    let t = check_with(&scales, AgeBand::Adult, &flat_history(3));
    assert!(t.has_alert(AlertCode::OrsNoReliableImprovement));
}

#[test]
fn a_deterioration_is_not_also_reported_as_no_improvement() {
    let mut history = flat_history(6);
    history.push(&[Outcome("ors", 140)]);
    assert_eq!(codes(&check(&history)), ["ors.below_cutoff", "ors.reliable_deterioration"]);
}

#[rstest]
#[case::total_35_9_is_a_concern(359, true)]
#[case::total_36_0_is_not(360, false)]
fn an_srs_total_below_36_is_a_concern(#[case] total: i64, #[case] concern: bool) {
    let t = check(&[&[srs_total(total)]]);
    assert_eq!(t.has_alert(AlertCode::SrsTotalLow), concern);
}

#[rstest]
#[case::item_at_8_9_is_a_concern(89, true)]
#[case::item_at_9_0_is_not(90, false)]
fn an_srs_item_below_9_is_a_concern(#[case] item: i64, #[case] concern: bool) {
    let t = check(&[&[Alliance([100, item, 100, 100])]]);
    assert_eq!(t.has_alert(AlertCode::SrsItemLow), concern);
}

#[test]
fn an_srs_item_alert_names_the_item_in_both_languages() {
    let t = check(&[&[Alliance([100, 85, 100, 100])]]);
    let alert = t.alerts.iter().find(|a| a.code == AlertCode::SrsItemLow).unwrap();
    assert_eq!(alert.text.get(Lang::Da), "SRS-punktet «Mål og emner» er 8,5, under 9,0");
    assert_eq!(alert.text.get(Lang::En), "The SRS item “Goals and Topics” is 8.5, below 9.0");
}

#[test]
fn several_low_srs_items_make_one_alert_that_names_them_all() {
    let t = check(&[&[Alliance([85, 100, 70, 100])]]);
    let low: Vec<_> = t.alerts.iter().filter(|a| a.code == AlertCode::SrsItemLow).collect();
    assert_eq!(low.len(), 1);
    assert_eq!(low[0].text.get(Lang::Da), "SRS-punkter under 9,0: «Relation» 8,5, «Tilgang eller metode» 7,0");
    assert_eq!(low[0].text.get(Lang::En), "SRS items below 9.0: “Relationship” 8.5, “Approach or Method” 7.0");
}

#[rstest]
#[case::a_drop_of_1_0_is_a_concern(395, 385, true)]
#[case::a_drop_of_0_9_is_not(395, 386, false)]
#[case::a_rise_is_not(380, 395, false)]
fn an_srs_drop_of_1_since_the_previous_visit_is_a_concern(
    #[case] previous: i64,
    #[case] latest: i64,
    #[case] concern: bool,
) {
    let t = check(&[&[srs_total(previous)], &[srs_total(latest)]]);
    assert_eq!(t.has_alert(AlertCode::SrsDropped), concern);
}

#[test]
fn the_first_srs_cannot_have_dropped() {
    assert!(codes(&check(&[&[srs_total(370)]])).is_empty());
}

#[rstest]
#[case::raw_7_is_28_and_likely_depression(7, Some(AlertCode::Who5LikelyDepression))]
#[case::raw_8_is_32_and_poor_wellbeing(8, Some(AlertCode::Who5PoorWellbeing))]
#[case::raw_12_is_48_and_poor_wellbeing(12, Some(AlertCode::Who5PoorWellbeing))]
#[case::raw_13_is_52_and_fine(13, None)]
fn who5_thresholds_are_below_50_and_28_or_below(#[case] raw: i64, #[case] alert: Option<AlertCode>) {
    let t = check(&[&[Who5(raw)]]);
    assert_eq!(t.alerts.first().map(|a| a.code), alert);
    assert!(t.alerts.len() <= 1, "one well-being alert at most: {:?}", codes(&t));
}

#[test]
fn a_who5_score_of_28_says_so_in_danish() {
    let t = check(&[&[Who5(7)]]);
    assert_eq!(t.alerts[0].text.get(Lang::Da), "WHO-5 er 28 (28 eller under): mulig depression, overvej udredning");
}

#[rstest]
#[case::a_fall_of_12_is_meaningful(15, 12, true)]
#[case::a_fall_of_8_is_not(15, 13, false)]
#[case::a_rise_of_12_is_not_a_decline(15, 18, false)]
fn a_who5_fall_of_10_or_more_is_meaningful(#[case] previous_raw: i64, #[case] latest_raw: i64, #[case] alert: bool) {
    let t = check(&[&[Who5(previous_raw)], &[Who5(latest_raw)]]);
    assert_eq!(t.has_alert(AlertCode::Who5Decline), alert);
}

#[test]
fn an_alert_below_cutoff_gives_the_score_with_a_decimal_comma_in_danish_and_a_point_in_english() {
    let t = check(&[&[ors(225)]]);
    assert_eq!(t.alerts[0].text.get(Lang::Da), "ORS 22,5 er under den kliniske grænse på 25,0");
    assert_eq!(t.alerts[0].text.get(Lang::En), "ORS 22.5 is below the clinical cutoff of 25.0");
}

#[test]
fn alerts_come_from_the_latest_measurement_only() {
    let t = check(&[&[ors(200)], &[ors(260)]]);
    assert!(!t.has_alert(AlertCode::OrsBelowCutoff));
}

#[test]
fn a_citizen_without_visits_has_an_empty_trajectory() {
    let t = check(&[]);
    assert_eq!((t.points.len(), t.outcome, t.alerts.len()), (0, None, 0));
}

#[test]
fn every_visit_is_a_point_even_without_scores() {
    let t = check(&[&[ors(200)], &[], &[ors(210), srs_total(380)]]);
    let numbers: Vec<_> = t.points.iter().map(|p| (p.number, p.outcome.is_some(), p.alliance.is_some())).collect();
    assert_eq!(numbers, [(1, true, false), (2, false, false), (3, true, true)]);
}

fn scales_with_expected_trajectory() -> ScaleSet {
    let mut pack: serde_json::Value = serde_json::from_str(crate::pack::BUILT_IN_PACKS[0].1).unwrap();
    pack["extension"].as_array_mut().unwrap().push(json!({
        "url": "urn:fit-field:extension:expected-trajectory",
        "extension": [{ "url": "band", "extension": [
            { "url": "intakeFrom", "valueDecimal": 0 }, { "url": "intakeTo", "valueDecimal": 24.9 },
            { "url": "expected", "valueDecimal": 20.0 }, { "url": "expected", "valueDecimal": 22.0 },
            { "url": "expected", "valueDecimal": 24.0 }
        ]}]
    }));
    let mut scales = ScaleSet::built_in().unwrap();
    scales.install(parse_pack("licensed/ors.json", pack.to_string().as_bytes()).unwrap());
    scales
}

#[test]
fn with_an_expected_trajectory_each_point_carries_its_expected_total() {
    let t = check_with(
        &scales_with_expected_trajectory(),
        AgeBand::Adult,
        &[&[ors(200)], &[OutcomeNotGiven], &[ors(230)], &[ors(250)]],
    );
    let expected: Vec<_> = t.points.iter().map(|p| p.expected_outcome_tenths).collect();
    assert_eq!(expected, [Some(200), None, Some(220), Some(240)]);
    assert!(!t.has_alert(AlertCode::OrsBelowExpected));
}

#[test]
fn below_the_expected_trajectory_raises_an_alert() {
    let t = check_with(&scales_with_expected_trajectory(), AgeBand::Adult, &[&[ors(200)], &[ors(215)]]);
    assert!(t.has_alert(AlertCode::OrsBelowExpected));
}

#[test]
fn without_an_expected_trajectory_nothing_is_expected() {
    let t = check(&[&[ors(200)], &[ors(150)]]);
    assert!(t.points.iter().all(|p| p.expected_outcome_tenths.is_none()));
    assert!(!t.has_alert(AlertCode::OrsBelowExpected));
}

#[test]
fn a_visit_with_ors_srs_and_who5_reads_as_the_worker_sees_it() {
    let t = check(&[
        &[ors(180), srs_total(380), Who5(10)],
        &[ors(195), srs_total(370)],
        &[ors(170), Alliance([95, 80, 90, 90]), Who5(6)],
    ]);
    // Visit ids come from a seeded generator, so the snapshot is stable.
    insta::assert_json_snapshot!(t);
}
