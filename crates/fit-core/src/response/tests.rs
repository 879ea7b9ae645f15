use proptest::prelude::*;
use rstest::rstest;
use serde_json::{Value, json};

use super::*;

const ORS_ITEMS: [&str; 4] = ["individually", "interpersonally", "socially", "overall"];
const WHO5_ITEMS: [&str; 5] = ["cheerful", "calm", "active", "rested", "interest"];

fn scales() -> ScaleSet {
    ScaleSet::built_in().unwrap()
}

fn given(scale: &str, answers: &[(&str, Value)]) -> ResponseInput {
    ResponseInput {
        scale: scale.into(),
        content: ResponseContent::Given {
            marked_by: MarkedBy::CitizenOnDevice,
            answers: answers
                .iter()
                .map(|(item, value)| RawAnswer { item: (*item).into(), value: value.clone() })
                .collect(),
        },
    }
}

fn ors_with(values: [Value; 4]) -> ResponseInput {
    let answers: Vec<_> = ORS_ITEMS.iter().copied().zip(values).collect();
    given("ors", &answers)
}

/// Checks an ORS whose first item is `first` and the others 50: the error, or the total.
fn check_first_ors_item(first: Value) -> Result<i64, ResponseError> {
    validate_response(&scales(), &ors_with([first, json!(50), json!(50), json!(50)])).map(|r| r.total().unwrap().raw)
}

#[test]
fn an_out_of_range_error_says_the_item_the_value_and_the_range() {
    let error = check_first_ors_item(json!(101)).unwrap_err();
    assert_eq!(error.to_string(), "item \"individually\" must be from 0 to 100, got 101");
}

#[test]
fn an_unknown_item_is_refused() {
    let mut input = ors_with([json!(50), json!(50), json!(50), json!(50)]);
    if let ResponseContent::Given { answers, .. } = &mut input.content {
        answers.push(RawAnswer { item: "relationship".into(), value: json!(50) });
    }
    assert_eq!(validate_response(&scales(), &input), Err(ResponseError::UnknownItem { item: "relationship".into() }));
}

#[test]
fn an_item_answered_twice_is_refused() {
    let input = given("ors", &[("individually", json!(50)), ("individually", json!(60))]);
    assert_eq!(validate_response(&scales(), &input), Err(ResponseError::DuplicateItem { item: "individually".into() }));
}

#[test]
fn a_response_missing_an_item_is_refused_unless_marked_not_given() {
    let input = given("ors", &[("individually", json!(50)), ("interpersonally", json!(50)), ("socially", json!(50))]);
    assert_eq!(validate_response(&scales(), &input), Err(ResponseError::MissingItem { item: "overall".into() }));
}

#[test]
fn answers_may_come_in_any_order_and_are_kept_in_the_scale_order() {
    let input = given(
        "ors",
        &[("overall", json!(4)), ("socially", json!(3)), ("individually", json!(1)), ("interpersonally", json!(2))],
    );
    let response = validate_response(&scales(), &input).unwrap();
    let ResponseValue::Given { answers, .. } = response.value else { panic!("given") };
    let values: Vec<_> = answers.iter().map(|a| (a.item.0.as_str(), a.value)).collect();
    assert_eq!(values, [("individually", 1), ("interpersonally", 2), ("socially", 3), ("overall", 4)]);
}

#[test]
fn an_unknown_scale_is_refused() {
    let input = given("phq9", &[]);
    assert_eq!(validate_response(&scales(), &input), Err(ResponseError::UnknownScale("phq9".into())));
}

#[test]
fn an_srs_answer_sent_under_the_ors_code_is_refused_by_its_item_id() {
    let srs_items = ["relationship", "goals-and-topics", "approach-or-method", "overall"];
    let answers: Vec<_> = srs_items.iter().map(|i| (*i, json!(90))).collect();
    let error = validate_response(&scales(), &given("ors", &answers)).unwrap_err();
    assert_eq!(error, ResponseError::UnknownItem { item: "relationship".into() });
}

#[test]
fn a_scale_not_given_keeps_its_reason_and_has_no_total() {
    let input =
        ResponseInput { scale: "ors".into(), content: ResponseContent::NotGiven { reason: NotGivenReason::TooUnwell } };
    let response = validate_response(&scales(), &input).unwrap();
    assert_eq!(response.value, ResponseValue::NotGiven { reason: NotGivenReason::TooUnwell });
    assert_eq!(response.total(), None);
}

fn who5(values: [i64; 5]) -> Result<ValidResponse, ResponseError> {
    let answers: Vec<_> = WHO5_ITEMS.iter().copied().zip(values.map(|v| json!(v))).collect();
    validate_response(&scales(), &given("who5", &answers))
}

#[rstest]
#[case::all_at_no_time(0, 0)]
#[case::raw_7_is_28(7, 28)]
#[case::raw_12_is_48(12, 48)]
#[case::all_of_the_time(25, 100)]
fn a_who5_score_is_the_raw_sum_times_four(#[case] raw: i64, #[case] score: i64) {
    // Spread `raw` over five items of at most 5 each.
    let mut values = [0; 5];
    let mut left = raw;
    for v in &mut values {
        *v = left.min(5);
        left -= *v;
    }
    assert_eq!(who5(values).unwrap().total(), Some(Total { raw, score }));
}

#[test]
fn a_who5_answer_that_is_not_an_option_is_refused() {
    let error = who5([5, 5, 6, 5, 5]).unwrap_err();
    assert_eq!(error, ResponseError::NotAnOption { item: "active".into(), found: 6, allowed: vec![5, 4, 3, 2, 1, 0] });
}

#[test]
fn a_response_round_trips_through_json() {
    let response = validate_response(&scales(), &ors_with([json!(57), json!(31), json!(100), json!(0)])).unwrap();
    let text = serde_json::to_string(&response).unwrap();
    assert_eq!(serde_json::from_str::<ValidResponse>(&text).unwrap(), response);
}

#[test]
fn a_withdrawal_checks_against_its_scale_and_has_no_total() {
    let input = ResponseInput { scale: "ors".into(), content: ResponseContent::Withdrawn {} };
    let response = validate_response(&scales(), &input).unwrap();
    assert!(response.is_withdrawn());
    assert_eq!(response.total(), None);
    let unknown = ResponseInput { scale: "nope".into(), content: ResponseContent::Withdrawn {} };
    assert_eq!(validate_response(&scales(), &unknown), Err(ResponseError::UnknownScale("nope".into())));
    assert!(CorrectionReason::WrongCitizen.withdraws() && CorrectionReason::EnteredTwice.withdraws());
    assert!(!CorrectionReason::WrongMark.withdraws());
}

/// The paper's date at each boundary: today, 90 days back, the day support started; one day past
/// each is refused with its reason.
#[rstest]
#[case::today(1000, 1000, None, Ok(()))]
#[case::tomorrow(1001, 1000, None, Err(PaperDateError::Future))]
#[case::ninety_days_back(910, 1000, None, Ok(()))]
#[case::ninety_one_days_back(909, 1000, None, Err(PaperDateError::TooOld))]
#[case::the_day_support_started(950, 1000, Some(950), Ok(()))]
#[case::the_day_before_support(949, 1000, Some(950), Err(PaperDateError::BeforeSupport))]
#[case::future_before_too_old(2000, 1000, Some(950), Err(PaperDateError::Future))]
#[case::too_old_and_before_support(800, 1000, Some(950), Err(PaperDateError::TooOld))]
fn a_paper_date_is_checked_at_each_boundary(
    #[case] paper: i64,
    #[case] today: i64,
    #[case] support_started: Option<i64>,
    #[case] expected: Result<(), PaperDateError>,
) {
    assert_eq!(check_paper_date(paper, today, support_started), expected);
}

proptest! {
    #[test]
    fn a_total_is_always_the_sum_of_its_items(values in prop::array::uniform4(0i64..=100)) {
        let response = validate_response(&scales(), &ors_with(values.map(|v| json!(v)))).unwrap();
        let total = response.total().unwrap();
        prop_assert_eq!(total.raw, values.iter().sum::<i64>());
        prop_assert!((0..=400).contains(&total.score));
    }

    #[test]
    fn a_who5_score_is_always_four_times_the_raw_sum(values in prop::array::uniform5(0i64..=5)) {
        let total = who5(values).unwrap().total().unwrap();
        prop_assert_eq!(total.raw, values.iter().sum::<i64>());
        prop_assert_eq!(total.score, 4 * total.raw);
    }

    #[test]
    fn any_value_outside_the_line_is_refused_and_names_the_item(value in prop_oneof![i64::MIN..0, 101i64..]) {
        let error = check_first_ors_item(json!(value)).unwrap_err();
        prop_assert!(matches!(error, ResponseError::OutOfRange { .. }), "{error:?}");
        prop_assert!(error.to_string().contains("individually"));
    }
}
