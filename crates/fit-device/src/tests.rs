use std::sync::Arc;

use fit_core::ids::{CitizenId, TeamId, WorkerId};
use fit_core::interpret::AlertCode;
use fit_core::response::{MarkedBy, NotGivenReason, RawAnswer, ResponseContent, ResponseInput};
use fit_store::{KdfCost, UnlockPolicy};
use serde_json::json;

use super::*;
use crate::demo::DemoSpec;

const NOW: u64 = 1_795_392_000_000;
const PIN: &str = "135790";

struct Fixture {
    _dir: tempfile::TempDir,
    device: Device,
    clock: Arc<ManualClock>,
    citizen: CitizenId,
}

fn config(dir: &std::path::Path) -> DeviceConfig {
    DeviceConfig {
        unlock: UnlockPolicy { kdf: KdfCost::FOR_TESTS, ..UnlockPolicy::default() },
        ..DeviceConfig::new(dir)
    }
}

/// A set-up, unlocked device with one citizen (with two earlier visits) in its caseload.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(NOW));
    let mut device = Device::open(config(dir.path()), clock.clone()).unwrap();
    device.set_up(PIN).unwrap();
    let (team, worker): (TeamId, WorkerId) = (device.ids.next(NOW), device.ids.next(NOW));
    device.store_mut().unwrap().set_worker(team, "Team Syd", worker, "Worker").unwrap();
    let spec = DemoSpec { citizens: 1, visits_per_citizen: 2, seed: 1, start_ms: NOW - 30 * 86_400_000 };
    let citizen = device.load_demo(spec).unwrap()[0];
    Fixture { _dir: dir, device, clock, citizen }
}

fn ors(values: [i64; 4]) -> ResponseInput {
    let items = ["individually", "interpersonally", "socially", "overall"];
    given("ors", &items, &values)
}

fn srs(values: [i64; 4]) -> ResponseInput {
    let items = ["relationship", "goals-and-topics", "approach-or-method", "overall"];
    given("srs", &items, &values)
}

fn given(scale: &str, items: &[&str], values: &[i64]) -> ResponseInput {
    let answers = items.iter().zip(values).map(|(i, v)| RawAnswer { item: (*i).into(), value: json!(v) }).collect();
    ResponseInput {
        scale: scale.into(),
        content: ResponseContent::Given { marked_by: MarkedBy::CitizenOnDevice, answers },
    }
}

#[test]
fn a_whole_visit_is_recorded_and_read_back_with_its_alerts() {
    let mut f = fixture();
    let visit = f.device.start_visit(f.citizen).unwrap();
    f.device.record_response(visit, ors([30, 40, 50, 60])).unwrap();
    f.device.record_response(visit, srs([95, 85, 95, 95])).unwrap();
    f.device.add_note(f.citizen, Some(visit), "Talte om at komme ud at gå", None).unwrap();
    let goal = f.device.set_goal(f.citizen, None, Some("Gå en tur hver dag"), None).unwrap();
    f.device.close_visit(visit).unwrap();

    let view = f.device.citizen_view(f.citizen).unwrap();
    assert_eq!(view.visits.len(), 3);
    assert!(view.visits.last().unwrap().closed_at_ms.is_some());
    assert_eq!(view.trajectory.outcome.as_ref().unwrap().latest_tenths, 180);
    assert!(view.trajectory.has_alert(AlertCode::OrsBelowCutoff));
    assert!(view.trajectory.has_alert(AlertCode::SrsItemLow));
    assert_eq!(view.notes[0].body, "Talte om at komme ud at gå");
    assert_eq!((view.goals[0].id, view.goals[0].status.as_str()), (goal, "active"));

    // Start, two responses, a note, a goal title and the close: six changes wait to sync.
    let entry = &f.device.caseload_overview().unwrap()[0];
    assert_eq!((entry.last_ors_tenths, entry.pending_changes), (Some(180), 6));
    assert!(entry.alerts.contains(&AlertCode::OrsBelowCutoff));
}

#[test]
fn the_caseload_shows_the_trend_of_the_last_ors() {
    let mut f = fixture();
    let before = f.device.caseload_overview().unwrap()[0].last_ors_tenths.unwrap();
    let visit = f.device.start_visit(f.citizen).unwrap();
    let higher = (before + 40).min(400);
    let base = higher / 4;
    f.device.record_response(visit, ors([base, base, base, higher - 3 * base])).unwrap();
    let entry = &f.device.caseload_overview().unwrap()[0];
    assert_eq!(entry.last_ors_tenths, Some(higher));
    assert_eq!(entry.trend, Some(if higher > before { Trend::Up } else { Trend::Flat }));
}

#[test]
fn an_invalid_response_is_refused_with_its_code_and_writes_nothing() {
    let mut f = fixture();
    let visit = f.device.start_visit(f.citizen).unwrap();
    let pending = f.device.sync_counters().unwrap().pending_changes;
    let error = f.device.record_response(visit, ors([30, 40, 50, 101])).unwrap_err();
    assert_eq!(error.code(), "response.out_of_range");
    let error = f.device.record_response(visit, given("ors", &["individually"], &[50])).unwrap_err();
    assert_eq!(error.code(), "response.missing_item");
    assert_eq!(f.device.sync_counters().unwrap().pending_changes, pending);
}

#[test]
fn a_scale_not_given_is_recorded_with_its_reason() {
    let mut f = fixture();
    let visit = f.device.start_visit(f.citizen).unwrap();
    let input =
        ResponseInput { scale: "ors".into(), content: ResponseContent::NotGiven { reason: NotGivenReason::TooUnwell } };
    f.device.record_response(visit, input).unwrap();
    let view = f.device.citizen_view(f.citizen).unwrap();
    let last = view.trajectory.points.last().unwrap();
    assert!(matches!(
        last.outcome,
        Some(fit_core::interpret::Measure::NotGiven { reason: NotGivenReason::TooUnwell, .. })
    ));
}

#[test]
fn a_closed_visit_takes_no_more_responses() {
    let mut f = fixture();
    let visit = f.device.start_visit(f.citizen).unwrap();
    f.device.close_visit(visit).unwrap();
    assert_eq!(f.device.record_response(visit, ors([50, 50, 50, 50])).unwrap_err().code(), "visit.closed");
    assert_eq!(f.device.close_visit(visit).unwrap_err().code(), "visit.closed");
}

/// The last change the device wrote.
fn last_written(f: &Fixture) -> ChangeBody {
    f.device.store().unwrap().outbox(0, 10_000).unwrap().pop().expect("a change").body
}

#[test]
fn a_visit_started_by_mistake_is_cancelled_and_counts_as_no_visit() {
    let mut f = fixture();
    let before = f.device.citizen_view(f.citizen).unwrap();
    let visit = f.device.start_visit(f.citizen).unwrap();
    let pending = f.device.sync_counters().unwrap().pending_changes;
    f.device.cancel_visit(visit).unwrap();
    assert_eq!(f.device.sync_counters().unwrap().pending_changes, pending + 1, "one change: the cancellation");
    assert!(
        matches!(last_written(&f), ChangeBody::VisitClosed { visit: v, cancelled: true, .. } if v == visit),
        "a close marked cancelled, sent like any other"
    );
    let after = f.device.citizen_view(f.citizen).unwrap();
    assert!(after.open_visit.is_none() && after.visit_plan.is_none());
    assert_eq!(after.visits, before.visits, "no visit more");
    assert_eq!(after.trajectory.points.len(), before.trajectory.points.len());
    assert!(f.device.caseload_overview().unwrap().iter().all(|l| l.open_visit.is_none()));
    assert_eq!(f.device.record_response(visit, ors([50, 50, 50, 50])).unwrap_err().code(), "visit.closed");
    assert_eq!(f.device.cancel_visit(visit).unwrap_err().code(), "visit.closed");
}

#[test]
fn a_visit_with_anything_recorded_is_closed_not_cancelled() {
    let mut f = fixture();
    let not_given =
        ResponseInput { scale: "ors".into(), content: ResponseContent::NotGiven { reason: NotGivenReason::Declined } };
    for recorded in ["a response", "a scale not given", "a note"] {
        let visit = f.device.start_visit(f.citizen).unwrap();
        match recorded {
            "a response" => f.device.record_response(visit, ors([50, 50, 50, 50])).map(drop).unwrap(),
            "a scale not given" => f.device.record_response(visit, not_given.clone()).map(drop).unwrap(),
            _ => f.device.add_note(f.citizen, Some(visit), "Talte om ugen.", None).map(drop).unwrap(),
        }
        let pending = f.device.sync_counters().unwrap().pending_changes;
        assert_eq!(f.device.cancel_visit(visit).unwrap_err().code(), "visit.not_empty", "{recorded}");
        assert_eq!(f.device.sync_counters().unwrap().pending_changes, pending, "nothing is written");
        assert_eq!(f.device.citizen_view(f.citizen).unwrap().open_visit, Some(visit), "still open");
        f.device.close_visit(visit).unwrap();
    }
}

#[test]
fn a_citizen_outside_the_caseload_cannot_be_read_or_written() {
    let mut f = fixture();
    let stranger: CitizenId = f.device.ids.next(NOW);
    assert_eq!(f.device.citizen_view(stranger).unwrap_err().code(), "citizen.not_in_caseload");
    assert_eq!(f.device.start_visit(stranger).unwrap_err().code(), "citizen.not_in_caseload");
    assert_eq!(f.device.add_note(stranger, None, "x", None).unwrap_err().code(), "citizen.not_in_caseload");
}

#[test]
fn reading_a_citizen_is_logged_in_the_audit_log() {
    let f = fixture();
    f.device.citizen_view(f.citizen).unwrap();
    let audit = f.device.store().unwrap().read_audit().unwrap();
    assert_eq!(audit, [(f.citizen, "citizen_view".to_owned(), NOW)]);
}

#[test]
fn a_locked_device_answers_nothing_until_unlocked() {
    let mut f = fixture();
    f.device.lock();
    assert_eq!(f.device.caseload_overview().unwrap_err().code(), "device.locked");
    assert_eq!(f.device.start_visit(f.citizen).unwrap_err().code(), "device.locked");
    assert_eq!(f.device.unlock("000000").unwrap_err().code(), "pin.wrong");
    assert!(!f.device.is_unlocked());
    assert_eq!(f.device.unlock(PIN).unwrap_err().code(), "pin.too_soon");
    f.clock.advance(1_000);
    f.device.unlock(PIN).unwrap();
    assert_eq!(f.device.caseload_overview().unwrap().len(), 1);
}

#[test]
fn the_age_of_the_oldest_unsynced_change_grows_with_the_clock() {
    let mut f = fixture();
    assert_eq!(f.device.sync_counters().unwrap(), SyncCounters { pending_changes: 0, oldest_pending_age_ms: None });
    f.device.start_visit(f.citizen).unwrap();
    f.clock.advance(90_000);
    f.device.start_visit(f.citizen).unwrap();
    assert_eq!(
        f.device.sync_counters().unwrap(),
        SyncCounters { pending_changes: 2, oldest_pending_age_ms: Some(90_000) }
    );
}

#[test]
fn a_goal_with_a_bad_status_writes_nothing() {
    let mut f = fixture();
    let error = f.device.set_goal(f.citizen, None, Some("Ny bolig"), Some("maybe")).unwrap_err();
    assert_eq!(error.code(), "input.invalid");
    assert!(f.device.citizen_view(f.citizen).unwrap().goals.is_empty());
    assert_eq!(f.device.sync_counters().unwrap().pending_changes, 0);
}

#[test]
fn a_new_note_version_replaces_the_old_one_in_the_record() {
    let mut f = fixture();
    let first = f.device.add_note(f.citizen, None, "Første udkast", None).unwrap();
    f.device.add_note(f.citizen, None, "Rettet note", Some(first)).unwrap();
    let notes = f.device.citizen_view(f.citizen).unwrap().notes;
    assert_eq!(notes.iter().map(|n| n.body.as_str()).collect::<Vec<_>>(), ["Rettet note"]);
}

fn who5(values: [i64; 5]) -> ResponseInput {
    given("who5", &["cheerful", "calm", "active", "rested", "interest"], &values)
}

fn codes(scales: &[PlannedScale]) -> Vec<(String, bool)> {
    scales.iter().map(|s| (s.scale.to_string(), s.done)).collect()
}

#[test]
fn an_open_visit_offers_the_scales_of_its_plan_and_shows_what_is_recorded() {
    let mut f = fixture();
    // The demo visits gave no well-being scale: the default schedule asks for it now.
    let line = &f.device.caseload_overview().unwrap()[0];
    assert!(line.wellbeing_due_ms.is_some_and(|due| due <= NOW), "{line:?}");
    let visit = f.device.start_visit(f.citizen).unwrap();
    assert_eq!(f.device.caseload_overview().unwrap()[0].open_visit, Some(visit), "the card shows it");
    let plan = f.device.citizen_view(f.citizen).unwrap().visit_plan.unwrap();
    assert_eq!(plan.visit, visit);
    assert_eq!(codes(&plan.start), [("ors".into(), false), ("who5".into(), false)]);
    assert_eq!(codes(&plan.end), [("srs".into(), false)]);

    f.device.record_response(visit, ors([30, 40, 50, 60])).unwrap();
    f.device.record_response(visit, who5([3, 3, 2, 4, 3])).unwrap();
    let page = f.device.citizen_view(f.citizen).unwrap();
    let plan = page.visit_plan.unwrap();
    // Giving WHO-5 does not take it off this visit's plan; the next one is 12 weeks on.
    assert_eq!(codes(&plan.start), [("ors".into(), true), ("who5".into(), true)]);
    assert_eq!(page.wellbeing_due_ms, Some(page.visits.last().unwrap().started_at_ms + 84 * fit_core::plan::DAY_MS));
    let point = page.trajectory.points.iter().find(|p| p.visit == visit).unwrap();
    assert!(point.wellbeing.is_some());
    f.device.record_response(visit, srs([95, 85, 95, 95])).unwrap();
    assert!(f.device.citizen_view(f.citizen).unwrap().visit_plan.unwrap().end[0].done);
    f.device.close_visit(visit).unwrap();
    assert_eq!(f.device.citizen_view(f.citizen).unwrap().visit_plan, None, "no open visit");
    assert_eq!(f.device.caseload_overview().unwrap()[0].open_visit, None);

    // The next visit, a week on, is not given WHO-5; the caseload shows when it is due.
    f.clock.set(NOW + 7 * fit_core::plan::DAY_MS);
    let line = &f.device.caseload_overview().unwrap()[0];
    assert_eq!(line.wellbeing_due_ms, Some(NOW + 84 * fit_core::plan::DAY_MS));
    f.device.start_visit(f.citizen).unwrap();
    let plan = f.device.citizen_view(f.citizen).unwrap().visit_plan.unwrap();
    assert_eq!(codes(&plan.start), [("ors".into(), false)]);
}

#[test]
fn the_team_schedule_from_the_server_decides_when_well_being_is_due() {
    let mut f = fixture();
    let never_again = fit_core::Schedule { at_first_visit: false, every_days: Some(365) };
    f.device.store_mut().unwrap().set_wellbeing_schedule(&never_again).unwrap();
    let page = f.device.citizen_view(f.citizen).unwrap();
    let first = page.visits[0].started_at_ms;
    assert_eq!(page.wellbeing_due_ms, Some(first + 365 * fit_core::plan::DAY_MS));
    f.device.start_visit(f.citizen).unwrap();
    let plan = f.device.citizen_view(f.citizen).unwrap().visit_plan.unwrap();
    assert_eq!(codes(&plan.start), [("ors".into(), false)], "not due before a year has passed");
}

#[test]
fn a_child_is_given_the_childrens_scales_and_no_well_being() {
    let mut f = fixture();
    let entity = fit_protocol::Entity::Citizen { citizen: f.citizen };
    f.device
        .commit(ChangeBody::FieldSet { entity, field: FieldName::AgeBand, value: json!("child"), base: None })
        .unwrap();
    assert_eq!(f.device.caseload_overview().unwrap()[0].wellbeing_due_ms, None);
    f.device.start_visit(f.citizen).unwrap();
    let page = f.device.citizen_view(f.citizen).unwrap();
    let plan = page.visit_plan.unwrap();
    assert_eq!(codes(&plan.start), [("cors".into(), false)]);
    assert_eq!(codes(&plan.end), [("csrs".into(), false)]);
    assert_eq!(page.wellbeing_due_ms, None);
}

/// A day `days` before the device's today, as written on a paper form.
fn day_before(days: i64) -> String {
    (local_day(NOW) - chrono::Duration::days(days)).format("%Y-%m-%d").to_string()
}

const ORS_ITEMS: [&str; 4] = ["individually", "interpersonally", "socially", "overall"];

fn marks(values: [i64; 4]) -> Vec<(String, i64)> {
    ORS_ITEMS.iter().zip(values).map(|(i, v)| ((*i).to_owned(), v)).collect()
}

/// Sets the day the citizen's support started, as the server sends it; `edit` orders the
/// server's edits (the later wins).
fn support_started(f: &mut Fixture, day: &str, edit: u32) {
    let device: fit_core::ids::DeviceId = f.device.ids.next(NOW);
    let change = fit_protocol::Change {
        id: f.device.ids.next(NOW),
        device,
        seq: 1,
        hlc: fit_core::Hlc { wall_ms: NOW, counter: edit },
        device_time_ms: NOW,
        schema_version: fit_protocol::SCHEMA_VERSION,
        body: ChangeBody::FieldSet {
            entity: Entity::Citizen { citizen: f.citizen },
            field: FieldName::SupportStarted,
            value: json!(day),
            base: None,
        },
    };
    let scales = f.device.scales.clone();
    f.device.store_mut().unwrap().apply_pulled(&scales, NOW, &[change], None).unwrap();
}

#[test]
fn a_paper_form_is_dated_by_the_paper_and_refused_outside_its_window() {
    let mut f = fixture();
    support_started(&mut f, &day_before(60), 0);
    let pending = f.device.sync_counters().unwrap().pending_changes;
    let refusals = [
        (day_before(-1), "paper.date_future"),
        (day_before(61), "paper.date_before_support"),
        ("2026-13-01".to_owned(), "input.invalid"),
    ];
    for (day, code) in refusals {
        let error = f.device.record_paper(f.citizen, &day, "ors", marks([50, 50, 50, 50])).unwrap_err();
        assert_eq!(error.code(), code, "{day}");
    }
    let error = f.device.record_paper(f.citizen, &day_before(10), "ors", marks([50, 50, 50, 101])).unwrap_err();
    assert_eq!(error.code(), "response.out_of_range");
    assert_eq!(f.device.sync_counters().unwrap().pending_changes, pending, "a refused form writes nothing");

    // Support started long ago: the 90-day bound holds, at its boundary.
    support_started(&mut f, "2000-01-01", 1);
    let error = f.device.record_paper(f.citizen, &day_before(91), "ors", marks([50, 50, 50, 50])).unwrap_err();
    assert_eq!(error.code(), "paper.date_too_old");
    f.device.record_paper(f.citizen, &day_before(90), "ors", marks([10, 10, 10, 10])).unwrap();
    f.device
        .record_paper(f.citizen, &day_before(0), "srs", {
            let items = ["relationship", "goals-and-topics", "approach-or-method", "overall"];
            items.iter().map(|i| ((*i).to_owned(), 95)).collect()
        })
        .unwrap();
    // The same day's second form joins that day's paper visit.
    f.device
        .record_paper(f.citizen, &day_before(90), "srs", {
            let items = ["relationship", "goals-and-topics", "approach-or-method", "overall"];
            items.iter().map(|i| ((*i).to_owned(), 90)).collect()
        })
        .unwrap();

    let view = f.device.citizen_view(f.citizen).unwrap();
    assert_eq!(view.visits.len(), 4, "two demo visits and two paper visits");
    // The trajectory orders by the visit's date: the form from 90 days back comes first.
    let first = &view.trajectory.points[0];
    assert!(matches!(first.outcome, Some(Measure::Given { total: fit_core::Total { score: 40, .. }, .. })));
    assert!(matches!(first.alliance, Some(Measure::Given { total: fit_core::Total { score: 360, .. }, .. })));
    assert!(view.visits.iter().all(|v| v.closed_at_ms.is_some()), "a paper visit is closed");
    let paper: Vec<_> = view.responses.iter().filter(|r| r.marked_by == Some(MarkedBy::TranscribedFromPaper)).collect();
    assert_eq!(paper.len(), 3);
    assert_eq!(view.visits[0].started_at_ms, paper_visit_ms(local_day(NOW) - chrono::Duration::days(90)));
}

#[test]
fn a_correction_replaces_a_response_in_the_chart_and_keeps_it_in_the_history() {
    let mut f = fixture();
    let visit = f.device.start_visit(f.citizen).unwrap();
    let wrong = f.device.record_response(visit, ors([10, 10, 10, 10])).unwrap();
    let right = f.device.correct_response(wrong, Correction::Marks { answers: marks([80, 80, 80, 80]) }).unwrap();
    let view = f.device.citizen_view(f.citizen).unwrap();
    assert_eq!(view.trajectory.outcome.as_ref().unwrap().latest_tenths, 320);
    let old = view.responses.iter().find(|r| r.id == wrong).unwrap();
    let new = view.responses.iter().find(|r| r.id == right).unwrap();
    assert_eq!(old.superseded_by, Some(right));
    assert_eq!((new.supersedes, new.correction), (Some(wrong), Some(CorrectionReason::WrongMark)));
    assert_eq!(new.marked_by, Some(MarkedBy::CitizenOnDevice), "the same person's marks");

    // The old version is history: only the latest may be corrected, and a correction of a
    // correction is one.
    assert_eq!(
        f.device.correct_response(wrong, Correction::Marks { answers: marks([1, 1, 1, 1]) }).unwrap_err().code(),
        "response.not_correctable"
    );
    let again = f.device.correct_response(right, Correction::Marks { answers: marks([70, 70, 70, 70]) }).unwrap();
    assert_eq!(f.device.citizen_view(f.citizen).unwrap().trajectory.outcome.unwrap().latest_tenths, 280);

    // A wrong mark is not withdrawn; entered twice is.
    let refused =
        f.device.correct_response(again, Correction::Withdraw { reason: CorrectionReason::WrongMark }).unwrap_err();
    assert_eq!(refused.code(), "input.invalid");
    f.device.correct_response(again, Correction::Withdraw { reason: CorrectionReason::EnteredTwice }).unwrap();
    let view = f.device.citizen_view(f.citizen).unwrap();
    let point = view.trajectory.points.iter().find(|p| p.visit == visit).unwrap();
    assert_eq!(point.outcome, None, "the visit's only outcome response is taken back");
    assert_eq!(view.responses.iter().filter(|r| r.visit == visit).count(), 4, "every version stays");
    let unknown: ResponseId = f.device.ids.next(NOW);
    assert_eq!(
        f.device.correct_response(unknown, Correction::Marks { answers: marks([1, 1, 1, 1]) }).unwrap_err().code(),
        "response.not_correctable"
    );
}

#[test]
fn a_scale_marked_by_mistake_is_corrected_to_not_given() {
    let mut f = fixture();
    let visit = f.device.start_visit(f.citizen).unwrap();
    let wrong = f.device.record_response(visit, ors([10, 10, 10, 10])).unwrap();
    let reason = NotGivenReason::TooUnwell;
    let right = f.device.correct_response(wrong, Correction::NotGiven { reason }).unwrap();
    let view = f.device.citizen_view(f.citizen).unwrap();
    let point = view.trajectory.points.iter().find(|p| p.visit == visit).unwrap();
    assert!(matches!(point.outcome, Some(fit_core::interpret::Measure::NotGiven { .. })), "{point:?}");
    let new = view.responses.iter().find(|r| r.id == right).unwrap();
    assert_eq!((new.status, new.correction), (ResponseStatus::NotGiven, Some(CorrectionReason::WrongMark)));
    assert!(view.visit_plan.unwrap().start[0].done, "the scale stays recorded at the visit");
}

/// A device with three citizens in its caseload, each with two earlier visits.
fn three_citizens() -> (Fixture, Vec<CitizenId>) {
    let mut f = fixture();
    let spec = DemoSpec { citizens: 2, visits_per_citizen: 2, seed: 2, start_ms: NOW - 30 * 86_400_000 };
    let mut citizens = f.device.load_demo(spec).unwrap();
    citizens.insert(0, f.citizen);
    (f, citizens)
}

#[test]
fn a_group_visit_gives_each_citizen_present_the_group_scale_in_turn() {
    let (mut f, citizens) = three_citizens();
    let group = f.device.start_group_visit(&citizens).unwrap();
    assert!(f.device.caseload_overview().unwrap().iter().all(|l| l.open_group == Some(group)));
    let page = f.device.group_view(group).unwrap();
    assert_eq!(page.members.len(), 3);
    let names: Vec<_> = page.members.iter().map(|m| m.display_name.clone()).collect();
    assert!(names.is_sorted(), "by name: {names:?}");
    for member in &page.members {
        let plan = member.plan.as_ref().unwrap();
        assert_eq!(plan.visit, member.visit);
        assert_eq!(codes(&plan.start).first(), Some(&("ors".to_string(), false)));
        assert_eq!(codes(&plan.end), [("gsrs".into(), false)], "a group visit closes with the group scale");
        // Each citizen's own page shows the group visit as their open visit, with the same plan.
        let own = f.device.citizen_view(member.citizen).unwrap();
        assert_eq!(own.visit_plan.as_ref(), Some(plan));
        assert_eq!(own.visits.last().unwrap().group, Some(group));
    }

    let gsrs = |values: [i64; 4]| {
        given("gsrs", &["relationship", "goals-and-topics", "approach-or-method", "overall"], &values)
    };
    for (i, member) in page.members.iter().enumerate() {
        f.device.record_response(member.visit, gsrs([90, 80, 70, 60 + i as i64 * 10])).unwrap();
    }
    let page = f.device.group_view(group).unwrap();
    for (i, member) in page.members.iter().enumerate() {
        assert!(member.plan.as_ref().unwrap().end[0].done);
        let Some(fit_core::interpret::Measure::Given { total, .. }) = &member.point.as_ref().unwrap().alliance else {
            panic!("{member:?} has no alliance measure");
        };
        assert_eq!(total.score, 90 + 80 + 70 + 60 + i as i64 * 10, "each citizen's own answer");
    }
    f.device.close_group_visit(group).unwrap();
    let page = f.device.group_view(group).unwrap();
    assert!(page.members.iter().all(|m| m.plan.is_none()), "every visit is closed");
    assert!(f.device.citizen_view(citizens[0]).unwrap().open_visit.is_none());
}

#[test]
fn a_group_session_started_by_mistake_is_cancelled_for_everyone_present() {
    let (mut f, citizens) = three_citizens();
    let group = f.device.start_group_visit(&citizens).unwrap();
    let page = f.device.group_view(group).unwrap();
    f.device.cancel_visit(page.members[1].visit).unwrap();
    assert!(f.device.caseload_overview().unwrap().iter().all(|l| l.open_group.is_none() && l.open_visit.is_none()));
    assert_eq!(f.device.group_view(group).unwrap_err().code(), "visit.not_found", "no session left");
    for member in &page.members {
        assert!(f.device.citizen_view(member.citizen).unwrap().visits.iter().all(|v| v.id != member.visit));
    }
    // A session where anyone has recorded something is closed, not cancelled.
    let group = f.device.start_group_visit(&citizens).unwrap();
    let page = f.device.group_view(group).unwrap();
    f.device.record_response(page.members[2].visit, ors([50, 50, 50, 50])).unwrap();
    assert_eq!(f.device.cancel_visit(page.members[0].visit).unwrap_err().code(), "visit.not_empty");
    assert!(f.device.group_view(group).unwrap().members.iter().all(|m| m.plan.is_some()), "all still open");
}

#[test]
fn a_group_needs_two_to_twelve_different_citizens_of_the_caseload() {
    let (mut f, citizens) = three_citizens();
    let pending = f.device.sync_counters().unwrap().pending_changes;
    let stranger: CitizenId = f.device.ids.next(NOW);
    for bad in [
        vec![citizens[0]],
        vec![citizens[0], citizens[0]],
        vec![citizens[0], stranger],
        std::iter::repeat_n(citizens[1], GROUP_SIZE_MAX + 1).collect(),
    ] {
        assert!(f.device.start_group_visit(&bad).is_err(), "{bad:?}");
    }
    assert_eq!(f.device.sync_counters().unwrap().pending_changes, pending, "nothing is written");
    let unknown: GroupId = f.device.ids.next(NOW);
    assert!(f.device.group_view(unknown).is_err(), "an unknown group");
}

#[test]
fn the_caseload_is_ordered_by_what_needs_attention_first() {
    let (mut f, citizens) = three_citizens();
    // A citizen with a reliable deterioration (serious) and one with nothing recorded yet.
    let visit = f.device.start_visit(citizens[2]).unwrap();
    f.device.record_response(visit, ors([5, 5, 5, 5])).unwrap();
    let lines = f.device.caseload_overview().unwrap();
    let order: Vec<_> =
        lines.iter().map(|l| (std::cmp::Reverse(l.attention), l.citizen.display_name.clone())).collect();
    assert!(order.is_sorted(), "serious first, then notices, then the rest, each by name: {order:?}");
    assert_eq!(lines[0].attention, Some(fit_core::interpret::Severity::Serious), "{order:?}");
    for line in &lines {
        assert_eq!(line.attention, line.alerts.iter().map(|a| a.severity()).max());
    }
}
