//! Table tests of accepting a batch: replays, conflicts, gaps, scope, the field merge, and the
//! server's own changes.

use std::collections::{HashMap, HashSet};

use fit_core::Hlc;
use fit_core::ids::{ChangeId, CitizenId, DeviceId, GoalId};
use fit_core::merge::Version;
use fit_protocol::{Change, ChangeBody, Entity, FieldName, SCHEMA_VERSION};
use rstest::rstest;
use serde_json::json;

use super::*;
use crate::rules::Refusal;

const NOW: u64 = 1_795_392_000_000;

/// A v7 id whose random part is `n` throughout: the same every run, so a table can name it.
fn id<T: From<uuid::Uuid>>(n: u8) -> T {
    T::from(uuid::Builder::from_unix_timestamp_millis(NOW, &[n; 10]).into_uuid())
}

fn device() -> DeviceId {
    id(1)
}

fn anna() -> CitizenId {
    id(3)
}

fn stranger() -> CitizenId {
    id(4)
}

/// The change with this seq in the device's outbox: a visit with `citizen`, id `100 + seq`.
fn visit(seq: u64, citizen: CitizenId) -> Change {
    let n = u8::try_from(seq).unwrap();
    Change {
        id: id(100 + n),
        device: device(),
        seq,
        hlc: Hlc::new(NOW, u32::from(n)),
        device_time_ms: NOW,
        schema_version: SCHEMA_VERSION,
        body: ChangeBody::VisitStarted { visit: id(50 + n), citizen, worker: id(9), started_at_ms: NOW, group: None },
    }
}

fn run(seqs: std::ops::RangeInclusive<u64>) -> Vec<Change> {
    seqs.map(|seq| visit(seq, anna())).collect()
}

/// A batch, the device's last seq, and what the log holds.
#[derive(Debug)]
struct Push {
    last_seq: u64,
    batch: Vec<Change>,
    known: Known,
}

fn push(last_seq: u64, batch: Vec<Change>, stored: Vec<Change>) -> Push {
    let stored = stored.into_iter().map(|change| (change.seq, change)).collect();
    Push { last_seq, batch, known: Known { stored, in_scope: HashSet::from([anna()]), ..Known::default() } }
}

fn changed(mut change: Change) -> Change {
    change.device_time_ms += 1;
    change
}

fn with_id(mut change: Change, id: ChangeId) -> Change {
    change.id = id;
    change
}

fn used(mut push: Push, id: ChangeId) -> Push {
    push.known.used_ids.insert(id);
    push
}

fn at_device_time(mut change: Change, device_time_ms: u64) -> Change {
    change.device_time_ms = device_time_ms;
    change
}

type Planned = Result<(u64, Vec<(u64, u64)>), Refusal>;

#[rstest]
#[case::a_new_run_takes_the_next_positions(push(0, run(1..=2), vec![]), Ok((2, vec![(10, 1), (11, 2)])))]
#[case::the_same_batch_again_is_acknowledged_and_stored_once(
    push(2, run(1..=2), run(1..=2)),
    Ok((2, vec![]))
)]
#[case::a_replay_then_new_changes_stores_the_new_ones(push(1, run(1..=3), run(1..=1)), Ok((3, vec![(10, 2), (11, 3)])))]
#[case::a_replay_with_other_content_is_a_conflict(
    push(1, run(1..=2), vec![changed(visit(1, anna()))]),
    Err(Refusal::ChangedReplay { seq: 1 })
)]
#[case::a_replay_of_a_change_the_log_cannot_read_is_a_conflict(
    push(1, run(1..=1), vec![]),
    Err(Refusal::ChangedReplay { seq: 1 })
)]
#[case::a_gap_before_the_batch_is_refused(
    push(1, run(3..=4), vec![]),
    Err(Refusal::SequenceGap { index: 0, expected: 2, got: 3 })
)]
#[case::a_gap_after_replays_names_its_change(
    push(2, vec![visit(2, anna()), visit(4, anna())], run(2..=2)),
    Err(Refusal::SequenceGap { index: 1, expected: 3, got: 4 })
)]
#[case::a_new_change_under_an_id_the_log_holds_is_a_conflict(
    used(push(0, run(1..=1), vec![]), id(101)),
    Err(Refusal::ReusedId { id: id(101) })
)]
#[case::one_id_twice_in_a_batch_is_a_conflict(
    push(0, vec![visit(1, anna()), with_id(visit(2, anna()), id(101))], vec![]),
    Err(Refusal::ReusedId { id: id(101) })
)]
#[case::a_citizen_out_of_scope_refuses_the_batch(
    push(0, vec![visit(1, anna()), visit(2, stranger())], vec![]),
    Err(Refusal::OutOfScope)
)]
#[case::a_number_the_log_cannot_hold_is_refused(
    push(0, vec![at_device_time(visit(1, anna()), u64::MAX)], vec![]),
    Err(Refusal::OutOfRange { index: 0, value: u64::MAX })
)]
#[case::an_empty_batch_acknowledges_what_the_server_holds(push(7, vec![], vec![]), Ok((7, vec![])))]
fn a_pushed_batch(#[case] push: Push, #[case] expected: Planned) {
    let input = PushInput {
        batch: &push.batch,
        last_seq: push.last_seq,
        known: push.known,
        next_position: 10,
        now_ms: NOW,
        worker: id(9),
    };
    let planned = plan_push(input).map(|plan| {
        assert_eq!(plan.log.next_position, 10 + plan.log.rows.len() as u64);
        (plan.acknowledged_seq, plan.log.rows.iter().map(|row| (row.position, row.change.seq)).collect())
    });
    assert_eq!(planned, expected);
}

fn goal() -> GoalId {
    id(5)
}

fn version(device_n: u8, wall_ms: u64) -> Version {
    Version { hlc: Hlc::new(wall_ms, 0), device: id(device_n) }
}

/// A write of the goal's title as change `n`, from device `device_n` at `wall_ms`, based on `base`.
fn title(n: u8, device_n: u8, wall_ms: u64, base: Option<Version>) -> Change {
    Change {
        id: id(n),
        device: id(device_n),
        seq: u64::from(n),
        hlc: Hlc::new(wall_ms, 0),
        device_time_ms: wall_ms,
        schema_version: SCHEMA_VERSION,
        body: ChangeBody::FieldSet {
            entity: Entity::Goal { goal: goal(), citizen: anna() },
            field: FieldName::Title,
            value: json!("Sleep better"),
            base,
        },
    }
}

fn held(n: u8, device_n: u8, wall_ms: u64) -> Option<Held> {
    Some(Held { version: version(device_n, wall_ms), change: id(n) })
}

#[rstest]
#[case::the_first_write_wins_without_conflict(None, vec![title(11, 1, 20, None)], Some(11), vec![])]
#[case::an_edit_based_on_the_version_held_wins_without_conflict(
    held(10, 1, 10),
    vec![title(11, 2, 20, Some(version(1, 10)))],
    Some(11),
    vec![]
)]
#[case::a_later_concurrent_edit_wins_and_both_are_kept(held(10, 1, 10), vec![title(11, 2, 20, None)], Some(11), vec![(11, 10)])]
#[case::an_earlier_concurrent_edit_loses_and_both_are_kept(
    held(10, 1, 30),
    vec![title(11, 2, 20, Some(version(2, 5)))],
    None,
    vec![(10, 11)]
)]
#[case::equal_clocks_are_ordered_by_device(held(10, 2, 20), vec![title(11, 1, 20, None)], None, vec![(10, 11)])]
#[case::two_edits_in_one_batch_upsert_the_field_once(
    None,
    vec![title(11, 1, 20, None), title(12, 1, 30, Some(version(1, 20)))],
    Some(12),
    vec![]
)]
#[case::concurrent_edits_in_one_batch_meet_each_other(
    None,
    vec![title(11, 1, 20, None), title(12, 2, 30, None)],
    Some(12),
    vec![(12, 11)]
)]
#[case::the_same_write_again_changes_nothing(held(11, 1, 20), vec![title(11, 1, 20, None)], None, vec![])]
fn a_field_write(
    #[case] held: Option<Held>,
    #[case] writes: Vec<Change>,
    #[case] upserted: Option<u8>,
    #[case] conflicts: Vec<(u8, u8)>,
) {
    let key = FieldKey::of(&Entity::Goal { goal: goal(), citizen: anna() }, FieldName::Title);
    let held: HashMap<FieldKey, Held> = held.into_iter().map(|h| (key.clone(), h)).collect();
    let plan = plan_log(&writes, held, 20, NOW);
    assert_eq!(
        plan.rows.iter().map(|row| row.position).collect::<Vec<_>>(),
        (20..20 + writes.len() as u64).collect::<Vec<_>>()
    );
    assert_eq!(
        plan.fields.iter().map(|(k, h)| (k.clone(), h.change)).collect::<Vec<_>>(),
        upserted.map(|n| (key.clone(), id(n))).into_iter().collect::<Vec<_>>()
    );
    let expected: Vec<ConflictRow> = conflicts
        .into_iter()
        .map(|(winner, loser)| ConflictRow {
            field: key.clone(),
            citizen: anna(),
            winner: id(winner),
            loser: id(loser),
        })
        .collect();
    assert_eq!(plan.conflicts, expected);
}

#[test]
fn a_batch_reads_the_replays_and_for_the_new_changes_their_ids_citizens_and_fields() {
    let batch =
        vec![visit(1, anna()), visit(2, anna()), visit(3, stranger()), title(4, 1, NOW, None), visit(5, anna())];
    let reads = reads(&batch, 1);
    assert_eq!(reads.replayed_seqs, [1]);
    assert_eq!(reads.new_ids, [id(102), id(103), id(4), id(105)]);
    assert_eq!(reads.citizens, [anna(), stranger()]);
    assert_eq!(reads.fields, [FieldKey { entity: "goal", entity_id: goal().to_string(), field: "title" }]);
}

#[rstest]
#[case::the_clock_ticks_on_within_a_millisecond(NOW, [(5, Hlc::new(NOW, 3)), (6, Hlc::new(NOW, 4))])]
#[case::a_later_millisecond_starts_the_counter_again(NOW + 1, [(5, Hlc::new(NOW + 1, 0)), (6, Hlc::new(NOW + 1, 1))])]
#[case::a_clock_gone_back_keeps_counting_after_the_last_stamp(NOW - 1, [(5, Hlc::new(NOW, 3)), (6, Hlc::new(NOW, 4))])]
fn the_servers_own_changes_take_its_next_seqs_and_clock(#[case] now_ms: u64, #[case] expected: [(u64, Hlc); 2]) {
    let identity = ServerIdentity { device: id(7), last_seq: 4, hlc: Hlc::new(NOW, 2) };
    let entity = Entity::Citizen { citizen: anna() };
    let bodies = [FieldName::DisplayName, FieldName::AgeBand]
        .map(|field| ChangeBody::FieldSet { entity, field, value: json!("x"), base: None })
        .to_vec();
    let mut n = 20;
    let (changes, after) = server_changes(
        identity,
        bodies,
        || {
            n += 1;
            id(n)
        },
        now_ms,
    );
    assert_eq!(changes.iter().map(|c| (c.seq, c.hlc)).collect::<Vec<_>>(), expected);
    assert!(changes.iter().all(|c| c.device == id(7) && c.device_time_ms == now_ms));
    assert_eq!(changes.iter().map(|c| c.id).collect::<Vec<_>>(), [id(21), id(22)]);
    assert_eq!(after, ServerIdentity { last_seq: 6, hlc: expected[1].1, ..identity });

    // They merge like any device's writes: two new fields, no conflict.
    let plan = plan_log(&changes, HashMap::new(), 3, now_ms);
    assert_eq!((plan.rows.len(), plan.fields.len(), plan.conflicts.len(), plan.next_position), (2, 2, 0, 5));
}

mod references {
    //! What a change refers to must be held, be its citizen's, and (for a visit it adds to or
    //! closes) its worker's; a former worker's changes stamped after the move are set aside.

    use fit_core::ids::{ResponseId, VisitId, WorkerId};
    use fit_core::response::{NotGivenReason, ResponseContent};
    use fit_core::scale::ScaleCode;

    use super::*;
    use crate::rules::refs::{Record, RecordKey};

    fn me() -> WorkerId {
        id(9)
    }

    fn colleague() -> WorkerId {
        id(8)
    }

    fn at(seq: u64, at_ms: u64, body: ChangeBody) -> Change {
        let n = u8::try_from(seq).unwrap();
        Change {
            id: id(100 + n),
            device: device(),
            seq,
            hlc: Hlc::new(at_ms, 0),
            device_time_ms: at_ms,
            schema_version: SCHEMA_VERSION,
            body,
        }
    }

    /// `change` as a device whose clock ran a year ahead sends it after stamping it again from
    /// the server's time (`at_ms`): its device time stays where that clock was.
    fn stamped_again(mut change: Change, at_ms: u64) -> Change {
        const YEAR_MS: u64 = 365 * 24 * 3_600_000;
        change.device_time_ms = change.hlc.wall_ms.max(at_ms) + YEAR_MS;
        change.hlc = Hlc::new(at_ms, 0);
        change
    }

    fn started(seq: u64, visit: VisitId, worker: WorkerId) -> Change {
        at(seq, NOW, ChangeBody::VisitStarted { visit, citizen: anna(), worker, started_at_ms: NOW, group: None })
    }

    fn closed(seq: u64, visit: VisitId) -> Change {
        at(seq, NOW, ChangeBody::VisitClosed { visit, citizen: anna(), closed_at_ms: NOW, cancelled: false })
    }

    fn response(seq: u64, visit: VisitId, supersedes: Option<ResponseId>) -> Change {
        let body = ChangeBody::ResponseRecorded {
            response: id(60 + u8::try_from(seq).unwrap()),
            visit,
            citizen: anna(),
            scale: ScaleCode::parse("ors").unwrap(),
            scale_version: "1".into(),
            answered: ResponseContent::NotGiven { reason: NotGivenReason::Declined },
            recorded_at_ms: NOW,
            supersedes,
            correction: supersedes.map(|_| fit_core::CorrectionReason::WrongMark),
        };
        at(seq, NOW, body)
    }

    fn note(seq: u64, at_ms: u64, visit: Option<VisitId>) -> Change {
        let body = ChangeBody::NoteWritten {
            note: id(70 + u8::try_from(seq).unwrap()),
            citizen: anna(),
            visit,
            body: "x".into(),
            written_at_ms: at_ms,
            supersedes: None,
        };
        at(seq, at_ms, body)
    }

    fn goal_of_anna(seq: u64) -> Change {
        let entity = Entity::Goal { goal: goal(), citizen: anna() };
        at(seq, NOW, ChangeBody::FieldSet { entity, field: FieldName::Title, value: json!("x"), base: None })
    }

    fn record(citizen: CitizenId, worker: Option<WorkerId>) -> Record {
        Record { citizen, worker, set_aside: false }
    }

    /// Anna's visit 20 by me, Anna's visit 21 by a colleague, a stranger's visit 22 and response
    /// 23 and goal 5, Anna's visit 24 set aside.
    fn known() -> Known {
        let records = HashMap::from([
            (RecordKey::Visit(id(20)), record(anna(), Some(me()))),
            (RecordKey::Visit(id(21)), record(anna(), Some(colleague()))),
            (RecordKey::Visit(id(22)), record(stranger(), Some(me()))),
            (RecordKey::Response(id(23)), record(stranger(), None)),
            (RecordKey::Goal(goal()), record(stranger(), None)),
            (RecordKey::Visit(id(24)), Record { set_aside: true, ..record(anna(), Some(me())) }),
        ]);
        Known { in_scope: HashSet::from([anna()]), records, ..Known::default() }
    }

    fn moved_at(left_at_ms: u64) -> Known {
        Known { left_at_ms: HashMap::from([(anna(), left_at_ms)]), ..known() }
    }

    fn unknown(index: usize, what: RecordKey) -> Refusal {
        Refusal::UnknownReference { index, what: what.to_string() }
    }

    fn foreign(index: usize, what: RecordKey) -> Refusal {
        Refusal::ForeignReference { index, what: what.to_string() }
    }

    /// The seqs logged and the seqs set aside.
    type Outcome = Result<(Vec<u64>, Vec<(u64, SetAsideReason)>), Refusal>;

    #[rstest]
    #[case::my_visit_and_its_response_in_one_batch(
        vec![started(1, id(30), me()), response(2, id(30), None), closed(3, id(30))], known(),
        Ok((vec![1, 2, 3], vec![]))
    )]
    #[case::a_visit_in_another_workers_name(vec![started(1, id(30), colleague())], known(), Err(Refusal::WrongWorker { index: 0 }))]
    #[case::closing_a_visit_the_server_never_saw(vec![closed(1, id(30))], known(), Err(unknown(0, RecordKey::Visit(id(30)))))]
    #[case::closing_a_visit_a_colleague_started_for_the_citizen(vec![closed(1, id(21))], known(), Ok((vec![1], vec![])))]
    #[case::a_response_in_a_visit_a_colleague_started(vec![response(1, id(21), None)], known(), Ok((vec![1], vec![])))]
    #[case::a_response_in_another_citizens_visit(vec![response(1, id(22), None)], known(), Err(foreign(0, RecordKey::Visit(id(22)))))]
    #[case::a_response_superseding_another_citizens(
        vec![response(1, id(20), Some(id(23)))], known(), Err(foreign(0, RecordKey::Response(id(23))))
    )]
    #[case::a_response_superseding_one_never_seen(
        vec![response(1, id(20), Some(id(40)))], known(), Err(unknown(0, RecordKey::Response(id(40))))
    )]
    #[case::a_note_on_another_citizens_visit(vec![note(1, NOW, Some(id(22)))], known(), Err(foreign(0, RecordKey::Visit(id(22)))))]
    #[case::a_goal_of_another_citizen(vec![goal_of_anna(1)], known(), Err(foreign(0, RecordKey::Goal(goal()))))]
    #[case::restarting_another_citizens_visit(vec![started(1, id(22), me())], known(), Err(foreign(0, RecordKey::Visit(id(22)))))]
    #[case::a_former_workers_note_from_before_the_move(vec![note(1, NOW - 1, None)], moved_at(NOW), Ok((vec![1], vec![])))]
    #[case::a_former_workers_note_from_after_the_move_is_set_aside(
        vec![note(1, NOW + AFTER_MOVE_GRACE_MS + 1, None)], moved_at(NOW),
        Ok((vec![], vec![(1, SetAsideReason::AfterMove)]))
    )]
    #[case::a_former_workers_note_stamped_again_before_the_move_is_logged(
        vec![stamped_again(note(1, NOW - 1, None), NOW - 1)], moved_at(NOW), Ok((vec![1], vec![]))
    )]
    #[case::a_former_workers_note_stamped_again_after_the_move_is_set_aside(
        vec![stamped_again(note(1, NOW - 1, None), NOW + AFTER_MOVE_GRACE_MS + 1)], moved_at(NOW),
        Ok((vec![], vec![(1, SetAsideReason::AfterMove)]))
    )]
    #[case::work_on_a_set_aside_visit_is_set_aside(
        vec![response(1, id(24), None)], known(), Ok((vec![], vec![(1, SetAsideReason::FollowsSetAside)]))
    )]
    #[case::a_visit_set_aside_takes_its_response_along(
        vec![at(1, NOW + 2 * AFTER_MOVE_GRACE_MS, ChangeBody::VisitStarted { visit: id(30), citizen: anna(), worker: me(), started_at_ms: NOW, group: None }),
             response(2, id(30), None)],
        moved_at(NOW),
        Ok((vec![], vec![(1, SetAsideReason::AfterMove), (2, SetAsideReason::FollowsSetAside)]))
    )]
    fn a_changes_references(#[case] batch: Vec<Change>, #[case] known: Known, #[case] expected: Outcome) {
        let input = PushInput { batch: &batch, last_seq: 0, known, next_position: 10, now_ms: NOW, worker: me() };
        let outcome = plan_push(input).map(|plan| {
            assert_eq!(plan.acknowledged_seq, batch.len() as u64, "every new change is acknowledged");
            (
                plan.log.rows.iter().map(|row| row.change.seq).collect(),
                plan.set_aside.iter().map(|aside| (aside.change.seq, aside.reason)).collect(),
            )
        });
        assert_eq!(outcome, expected);
    }

    #[test]
    fn the_records_a_batch_makes_are_each_written_once() {
        let batch = vec![started(1, id(30), me()), response(2, id(30), None), goal_of_anna(3), goal_of_anna(4)];
        let known = Known { in_scope: HashSet::from([anna()]), ..Known::default() };
        let plan =
            plan_push(PushInput { batch: &batch, last_seq: 0, known, next_position: 1, now_ms: NOW, worker: me() })
                .unwrap();
        let keys: Vec<RecordKey> = plan.records.iter().map(|(key, _)| *key).collect();
        assert_eq!(keys, vec![RecordKey::Visit(id(30)), RecordKey::Response(id(62)), RecordKey::Goal(goal())]);
        assert_eq!(plan.records[0].1, record(anna(), Some(me())));
    }
}
