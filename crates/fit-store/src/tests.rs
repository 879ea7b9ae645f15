use fit_core::ids::{ChangeId, CitizenId, DeviceId, GoalId, TeamId, VisitId, WorkerId};
use fit_core::response::{MarkedBy, RawAnswer};
use fit_core::{Hlc, IdGenerator, ScaleSet};
use fit_protocol::{Change, ChangeBody, Entity, ErrorCode, FieldName, ResponseContent, SCHEMA_VERSION};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::json;

use super::*;
use crate::keys::{create_key, unlock};

const NOW: u64 = 1_795_392_000_000;
const PIN: &str = "246810";
const DRIFT: u64 = fit_core::hlc::MAX_DRIFT_MS_DEFAULT;

fn policy() -> UnlockPolicy {
    UnlockPolicy { kdf: KdfCost::FOR_TESTS, ..UnlockPolicy::default() }
}

struct Fixture {
    _dir: tempfile::TempDir,
    paths: StorePaths,
    store: Store,
    ids: IdGenerator<StdRng>,
    scales: ScaleSet,
    worker: WorkerId,
    citizen: CitizenId,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let paths = StorePaths::new(dir.path());
    let key = create_key(&paths, PIN, &policy()).unwrap();
    let mut ids = IdGenerator::new(StdRng::seed_from_u64(5));
    let mut store = Store::create(&paths, &key, ids.next(NOW), DRIFT).unwrap();
    let (team, worker, citizen): (TeamId, WorkerId, CitizenId) = (ids.next(NOW), ids.next(NOW), ids.next(NOW));
    store.set_worker(team, "Team Nord", worker, "Worker One").unwrap();
    store.assign_citizen(worker, citizen).unwrap();
    Fixture { _dir: dir, paths, store, ids, scales: ScaleSet::built_in().unwrap(), worker, citizen }
}

impl Fixture {
    fn commit(&mut self, body: ChangeBody) -> Result<Change, StoreError> {
        let id: ChangeId = self.ids.next(NOW);
        self.store.commit_local(&self.scales, NOW, id, body)
    }

    fn start_visit(&mut self) -> VisitId {
        let visit = self.ids.next(NOW);
        self.commit(ChangeBody::VisitStarted {
            visit,
            citizen: self.citizen,
            worker: self.worker,
            started_at_ms: NOW,
            group: None,
        })
        .unwrap();
        visit
    }

    fn ors(&mut self, visit: VisitId, values: [i64; 4]) -> Result<Change, StoreError> {
        let items = ["individually", "interpersonally", "socially", "overall"];
        let answers = items.iter().zip(values).map(|(i, v)| RawAnswer { item: (*i).into(), value: json!(v) }).collect();
        let response = self.ids.next(NOW);
        self.commit(ChangeBody::ResponseRecorded {
            response,
            visit,
            citizen: self.citizen,
            scale: fit_core::ScaleCode::parse("ors").unwrap(),
            scale_version: "short-labels-1".into(),
            answered: ResponseContent::Given { marked_by: MarkedBy::CitizenOnDevice, answers },
            recorded_at_ms: NOW,
            supersedes: None,
            correction: None,
        })
    }
}

#[test]
fn the_device_migrations_are_valid() {
    MIGRATIONS.validate().unwrap();
}

#[test]
fn the_schema_matches_its_snapshot() {
    let f = fixture();
    insta::assert_snapshot!(schema_sql(&f.store).unwrap().join(";\n\n"));
}

#[test]
fn a_local_write_commits_its_row_and_its_outbox_entry_together() {
    let mut f = fixture();
    let visit = f.start_visit();
    let change = f.ors(visit, [50, 60, 70, 80]).unwrap();
    assert_eq!(change.seq, 2);
    assert_eq!(f.store.pending_count().unwrap(), 2);
    let history = f.store.history(f.worker, Some(f.citizen)).unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].response.total().unwrap().score, 260);
    let outbox = f.store.outbox(0, 10).unwrap();
    assert_eq!(outbox.iter().map(|c| c.seq).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(outbox[1], change);
    assert_eq!(outbox[1].schema_version, SCHEMA_VERSION);
}

#[test]
fn a_refused_write_leaves_neither_a_row_nor_an_outbox_entry() {
    let mut f = fixture();
    let visit = f.start_visit();
    let before = (f.store.pending_count().unwrap(), f.store.domain_ids().unwrap(), f.store.hlc().last());
    assert!(matches!(f.ors(visit, [50, 60, 70, 101]), Err(StoreError::Change(_))));
    let unknown_visit = f.ids.next(NOW);
    assert!(matches!(f.ors(unknown_visit, [50, 60, 70, 80]), Err(StoreError::NotFound(_))));
    assert_eq!((f.store.pending_count().unwrap(), f.store.domain_ids().unwrap(), f.store.hlc().last()), before);
}

#[test]
fn outbox_sequence_numbers_keep_growing_after_entries_are_removed() {
    let mut f = fixture();
    f.start_visit();
    f.store.conn.execute("DELETE FROM outbox", []).unwrap();
    let visit = f.start_visit();
    assert_eq!(f.ors(visit, [1, 2, 3, 4]).unwrap().seq, 3);
}

#[test]
fn every_local_write_gets_a_later_hlc_even_when_the_clock_stands_still() {
    let mut f = fixture();
    f.start_visit();
    f.start_visit();
    let outbox = f.store.outbox(0, 10).unwrap();
    assert!(outbox[1].hlc > outbox[0].hlc);
    assert_eq!(outbox[0].hlc.wall_ms, outbox[1].hlc.wall_ms);
}

#[test]
fn a_field_write_records_the_version_it_was_based_on() {
    let mut f = fixture();
    let goal: GoalId = f.ids.next(NOW);
    let entity = Entity::Goal { goal, citizen: f.citizen };
    let first = f
        .commit(ChangeBody::FieldSet { entity, field: FieldName::Title, value: json!("Sove bedre"), base: None })
        .unwrap();
    let second = f
        .commit(ChangeBody::FieldSet { entity, field: FieldName::Title, value: json!("Sove hele natten"), base: None })
        .unwrap();
    let ChangeBody::FieldSet { base, .. } = second.body else { panic!("field set") };
    assert_eq!(base, Some(fit_core::merge::Version { hlc: first.hlc, device: f.store.device_id() }));
    assert_eq!(f.store.goals(f.citizen).unwrap()[0].title, "Sove hele natten");
}

#[test]
fn an_older_pulled_field_write_does_not_replace_a_newer_one() {
    let mut f = fixture();
    let goal: GoalId = f.ids.next(NOW);
    let entity = Entity::Goal { goal, citizen: f.citizen };
    f.commit(ChangeBody::FieldSet { entity, field: FieldName::Title, value: json!("Nyere"), base: None }).unwrap();
    let other_device: DeviceId = f.ids.next(NOW);
    let older = Change {
        id: f.ids.next(NOW),
        device: other_device,
        seq: 1,
        hlc: Hlc::new(NOW - 60_000, 0),
        device_time_ms: NOW - 60_000,
        schema_version: SCHEMA_VERSION,
        body: ChangeBody::FieldSet { entity, field: FieldName::Title, value: json!("Ældre"), base: None },
    };
    f.store.apply_pulled(&f.scales, NOW, &[older], Some(("main", 7))).unwrap();
    assert_eq!(f.store.goals(f.citizen).unwrap()[0].title, "Nyere");
}

#[test]
fn a_deleted_goal_stays_deleted() {
    let mut f = fixture();
    let goal: GoalId = f.ids.next(NOW);
    let entity = Entity::Goal { goal, citizen: f.citizen };
    f.commit(ChangeBody::FieldSet { entity, field: FieldName::Title, value: json!("Gå en tur"), base: None }).unwrap();
    f.commit(ChangeBody::FieldSet { entity, field: FieldName::Deleted, value: json!(true), base: None }).unwrap();
    assert!(f.store.goals(f.citizen).unwrap().is_empty());
    let undelete =
        f.commit(ChangeBody::FieldSet { entity, field: FieldName::Deleted, value: json!(false), base: None });
    assert!(matches!(undelete, Err(StoreError::Change(_))));
}

#[test]
fn pulled_changes_and_their_cursor_commit_together_and_move_the_clock_past_a_change_that_cannot_apply() {
    let mut f = fixture();
    let other_device: DeviceId = f.ids.next(NOW);
    let visit: VisitId = f.ids.next(NOW);
    let ahead = Hlc::new(NOW + 60_000, 3);
    let started = Change {
        id: f.ids.next(NOW),
        device: other_device,
        seq: 1,
        hlc: ahead,
        device_time_ms: NOW,
        schema_version: SCHEMA_VERSION,
        body: ChangeBody::VisitStarted { visit, citizen: f.citizen, worker: f.worker, started_at_ms: NOW, group: None },
    };
    let mut broken = started.clone();
    broken.id = f.ids.next(NOW);
    broken.body =
        ChangeBody::VisitClosed { visit: f.ids.next(NOW), citizen: f.citizen, closed_at_ms: NOW, cancelled: false };
    f.store.apply_pulled(&f.scales, NOW, &[started, broken.clone()], Some(("main", 9))).unwrap();
    assert!(f.store.visit(visit).unwrap().is_some());
    let quarantined = f.store.quarantined().unwrap();
    assert_eq!(quarantined.len(), 1, "the change that could not apply is set aside, not the page");
    assert_eq!(quarantined[0].change, broken);
    assert_eq!(quarantined[0].code, ErrorCode::StoreNotFound);
    assert!(f.store.hlc().last() > ahead);
    let cursor: i64 =
        f.store.conn.query_row("SELECT position FROM sync_cursors WHERE stream = 'main'", [], |r| r.get(0)).unwrap();
    assert_eq!(cursor, 9);
    assert_eq!(f.store.pending_count().unwrap(), 0, "pulled changes are not pushed back");
}

#[test]
fn the_database_file_holds_none_of_the_plaintext() {
    let mut f = fixture();
    let entity = Entity::Citizen { citizen: f.citizen };
    let name = "Kirsten Plaintextsen";
    f.commit(ChangeBody::FieldSet { entity, field: FieldName::DisplayName, value: json!(name), base: None }).unwrap();
    let note = f.ids.next(NOW);
    let body = "Talte om søvnproblemer og naboen";
    f.commit(ChangeBody::NoteWritten {
        note,
        citizen: f.citizen,
        visit: None,
        body: body.into(),
        written_at_ms: NOW,
        supersedes: None,
    })
    .unwrap();
    assert_eq!(f.store.citizen(f.citizen).unwrap().unwrap().display_name, name);
    drop(f.store);
    let mut on_disk = Vec::new();
    for entry in std::fs::read_dir(&f.paths.dir).unwrap() {
        on_disk.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    assert!(on_disk.len() > 4096);
    for secret in [name, body, "Plaintextsen", "CREATE TABLE", "SQLite format 3"] {
        let found = on_disk.windows(secret.len()).any(|w| w == secret.as_bytes());
        assert!(!found, "{secret:?} is readable on disk");
    }
}

#[test]
fn the_database_does_not_open_without_the_key_or_with_another_key() {
    let f = fixture();
    drop(f.store);
    let plain = rusqlite::Connection::open(f.paths.database()).unwrap();
    assert!(plain.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0)).is_err());
    let other = tempfile::tempdir().unwrap();
    let other_key = create_key(&StorePaths::new(other.path()), PIN, &policy()).unwrap();
    assert!(matches!(Store::open(&f.paths, &other_key, DRIFT), Err(StoreError::WrongKey)));
    let right_key = unlock(&f.paths, PIN, NOW, &policy()).unwrap();
    assert!(Store::open(&f.paths, &right_key, DRIFT).is_ok());
}

#[test]
fn a_wrong_pin_waits_longer_each_time_and_the_right_one_resets_the_count() {
    let f = fixture();
    let p = policy();
    let wrong = unlock(&f.paths, "000000", NOW, &p).unwrap_err();
    assert!(matches!(wrong, KeyError::WrongPin { attempts_left: 9, retry_after_ms: 1_000 }), "{wrong:?}");
    let too_soon = unlock(&f.paths, PIN, NOW + 999, &p).unwrap_err();
    assert!(matches!(too_soon, KeyError::TooSoon { retry_after_ms: 1 }), "{too_soon:?}");
    let wrong = unlock(&f.paths, "000000", NOW + 1_000, &p).unwrap_err();
    assert!(matches!(wrong, KeyError::WrongPin { attempts_left: 8, retry_after_ms: 2_000 }), "{wrong:?}");
    unlock(&f.paths, PIN, NOW + 3_000, &p).unwrap();
    let wrong = unlock(&f.paths, "000000", NOW + 3_000, &p).unwrap_err();
    assert!(matches!(wrong, KeyError::WrongPin { attempts_left: 9, .. }), "{wrong:?}");
}

#[test]
fn too_many_wrong_pins_wipe_the_local_store() {
    let f = fixture();
    drop(f.store);
    let p = UnlockPolicy { max_failures: 3, ..policy() };
    let mut now = NOW;
    for _ in 0..2 {
        assert!(matches!(unlock(&f.paths, "111111", now, &p), Err(KeyError::WrongPin { .. })));
        now += 60_000;
    }
    assert!(matches!(unlock(&f.paths, "111111", now, &p), Err(KeyError::Wiped)));
    let left: Vec<_> = std::fs::read_dir(&f.paths.dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.is_empty(), "{left:?}");
    assert!(matches!(unlock(&f.paths, PIN, now, &p), Err(KeyError::NotSetUp)));
}

#[test]
fn changing_the_pin_keeps_the_data_and_retires_the_old_pin() {
    let mut f = fixture();
    let visit = f.start_visit();
    drop(f.store);
    let p = policy();
    let db_before = std::fs::read(f.paths.database()).unwrap();
    keys::change_pin(&f.paths, PIN, "13579135", NOW, &p).unwrap();
    assert_eq!(std::fs::read(f.paths.database()).unwrap(), db_before, "the database is not re-encrypted");
    assert!(matches!(unlock(&f.paths, PIN, NOW, &p), Err(KeyError::WrongPin { .. })));
    let key = unlock(&f.paths, "13579135", NOW + 1_000, &p).unwrap();
    let store = Store::open(&f.paths, &key, DRIFT).unwrap();
    assert!(store.visit(visit).unwrap().is_some());
}

#[test]
fn a_short_pin_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(create_key(&StorePaths::new(dir.path()), "1234", &policy()), Err(KeyError::PinTooShort)));
}

#[test]
fn the_delay_doubles_up_to_its_maximum() {
    let p = UnlockPolicy::default();
    let delays: Vec<_> = [1, 2, 3, 9, 30].iter().map(|n| p.delay_ms(*n)).collect();
    assert_eq!(delays, [1_000, 2_000, 4_000, 256_000, 900_000]);
}

#[test]
fn changes_this_device_cannot_apply_are_set_aside_and_erased_with_their_citizen() {
    let mut f = fixture();
    let other: DeviceId = f.ids.next(NOW);
    let (visit, unknown_visit): (VisitId, VisitId) = (f.ids.next(NOW), f.ids.next(NOW));
    let pulled = |f: &mut Fixture, seq: u64, body: ChangeBody| Change {
        id: f.ids.next(NOW),
        device: other,
        seq,
        hlc: Hlc::new(NOW, seq as u32),
        device_time_ms: NOW,
        schema_version: SCHEMA_VERSION,
        body,
    };
    let (citizen, worker) = (f.citizen, f.worker);
    let note_id = f.ids.next(NOW);
    let page = [
        pulled(&mut f, 1, ChangeBody::VisitStarted { visit, citizen, worker, started_at_ms: NOW, group: None }),
        // A visit closed that this device has never heard of, a start in the year 292 million,
        // and a note with no text: each refused here, none stops the page.
        pulled(
            &mut f,
            2,
            ChangeBody::VisitClosed { visit: unknown_visit, citizen, closed_at_ms: NOW, cancelled: false },
        ),
        pulled(
            &mut f,
            3,
            ChangeBody::VisitStarted { visit: unknown_visit, citizen, worker, started_at_ms: 1 << 63, group: None },
        ),
        pulled(
            &mut f,
            4,
            ChangeBody::NoteWritten {
                note: note_id,
                citizen,
                visit: None,
                body: String::new(),
                written_at_ms: NOW,
                supersedes: None,
            },
        ),
        pulled(&mut f, 5, ChangeBody::VisitClosed { visit, citizen, closed_at_ms: NOW + 1, cancelled: false }),
    ];
    f.store.apply_pulled(&f.scales, NOW, &page, Some(("main", 5))).unwrap();
    let row = f.store.visit(visit).unwrap().unwrap();
    assert_eq!(row.closed_at_ms, Some(NOW + 1), "the changes around the refused ones applied");
    assert!(f.store.visit(unknown_visit).unwrap().is_none());
    let set_aside: Vec<_> = f.store.quarantined().unwrap().into_iter().map(|q| (q.change.seq, q.code)).collect();
    assert_eq!(
        set_aside,
        [(2, ErrorCode::StoreNotFound), (3, ErrorCode::StoreInvalid), (4, ErrorCode::NoteInvalid)],
        "each with why"
    );
    // The same page again (an answer heard twice) sets nothing aside twice.
    f.store.apply_pulled(&f.scales, NOW, &page, Some(("main", 5))).unwrap();
    assert_eq!(f.store.quarantined().unwrap().len(), 3);

    let moved = [f.citizen];
    let page = SyncPage { removed: &moved, cursor: Some(("main", 6)), ..SyncPage::default() };
    f.store.apply_sync_page(&f.scales, NOW, &page).unwrap();
    assert!(f.store.quarantined().unwrap().is_empty(), "a citizen who left leaves nothing behind");
}

#[test]
fn a_citizen_moved_away_leaves_the_caseload_at_once_and_is_erased_once_nothing_is_pending() {
    let mut f = fixture();
    let visit = f.start_visit();
    f.ors(visit, [50, 50, 50, 50]).unwrap();
    let pending = f.store.outbox(0, 100).unwrap();
    let last_seq = pending.last().unwrap().seq;

    // The answer that moves the citizen does not yet acknowledge the pending changes.
    let moved = [f.citizen];
    let page = SyncPage { removed: &moved, cursor: Some(("main", 20)), ..SyncPage::default() };
    f.store.apply_sync_page(&f.scales, NOW, &page).unwrap();
    assert!(f.store.caseload(f.worker).unwrap().is_empty(), "gone from the caseload screen at once");
    assert!(f.store.visit(visit).unwrap().is_some(), "kept while its changes wait to be pushed");
    assert_eq!(f.store.outbox(0, 100).unwrap().len(), 2);

    // The next answer acknowledges them: now the citizen's rows are erased.
    let page = SyncPage { acknowledged_seq: Some(last_seq), cursor: Some(("main", 21)), ..SyncPage::default() };
    f.store.apply_sync_page(&f.scales, NOW, &page).unwrap();
    assert!(f.store.visit(visit).unwrap().is_none());
    assert!(f.store.citizen(f.citizen).unwrap().is_none());
    assert!(f.store.history(f.worker, Some(f.citizen)).unwrap().is_empty());
}

#[test]
fn a_change_applied_twice_changes_nothing() {
    let mut f = fixture();
    let visit = f.start_visit();
    let ors = f.ors(visit, [50, 60, 70, 80]).unwrap();
    let closed =
        f.commit(ChangeBody::VisitClosed { visit, citizen: f.citizen, closed_at_ms: NOW, cancelled: false }).unwrap();
    let own = f.store.outbox(0, 100).unwrap();
    // A citizen's history comes back whole when it is assigned to this worker again.
    f.store.apply_pulled(&f.scales, NOW, &own, Some(("main", 3))).unwrap();
    f.store.apply_pulled(&f.scales, NOW, &[ors, closed], Some(("main", 3))).unwrap();
    assert_eq!(f.store.history(f.worker, Some(f.citizen)).unwrap().len(), 1);
    assert_eq!(f.store.visit(visit).unwrap().unwrap().closed_at_ms, Some(NOW));
}

#[test]
fn changes_stamped_far_ahead_of_the_server_are_stamped_again_in_order_and_nothing_else_is() {
    const YEAR: u64 = 365 * 24 * 3_600_000;
    let mut f = fixture();
    let visit = f.start_visit();
    let goal: GoalId = f.ids.next(NOW);
    let entity = Entity::Goal { goal, citizen: f.citizen };
    let title = |value: &str| ChangeBody::FieldSet { entity, field: FieldName::Title, value: json!(value), base: None };
    f.commit(title("Sove bedre")).unwrap();
    // The clock jumps a year ahead: every write from here is stamped there.
    let at = |f: &mut Fixture, body: ChangeBody| {
        let id = f.ids.next(NOW);
        f.store.commit_local(&f.scales, NOW + YEAR, id, body).unwrap()
    };
    let (note, citizen) = (f.ids.next(NOW), f.citizen);
    at(
        &mut f,
        ChangeBody::NoteWritten {
            note,
            citizen,
            visit: Some(visit),
            body: "Talte om søvn".into(),
            written_at_ms: NOW,
            supersedes: None,
        },
    );
    at(&mut f, title("Sove hele natten"));
    at(&mut f, title("Sove syv timer"));
    let before = f.store.outbox(0, 10).unwrap();
    assert!(before[2].hlc.wall_ms >= NOW + YEAR);

    let server = fit_protocol::ServerClock { server_time_ms: NOW + 600_000, max_drift_ms: DRIFT };
    assert_eq!(f.store.restamp_ahead(server).unwrap(), 3);
    let after = f.store.outbox(0, 10).unwrap();
    assert_eq!(after[..2], before[..2], "changes the server may hold keep their stamps");
    assert!(after.windows(2).all(|w| w[0].hlc < w[1].hlc), "the order is kept");
    assert!(after.iter().all(|c| c.hlc.wall_ms <= server.server_time_ms + DRIFT), "the server accepts them now");
    for (old, new) in before.iter().zip(&after).skip(2) {
        assert_eq!((old.id, old.seq, old.device_time_ms), (new.id, new.seq, new.device_time_ms));
    }
    let me = f.store.device_id();
    let ChangeBody::FieldSet { base, .. } = &after[4].body else { panic!("field set") };
    assert_eq!(*base, Some(fit_core::merge::Version { hlc: after[3].hlc, device: me }), "the base follows");
    let ChangeBody::FieldSet { base, .. } = &after[3].body else { panic!("field set") };
    assert_eq!(*base, Some(fit_core::merge::Version { hlc: after[1].hlc, device: me }), "a kept base stays");
    let held = write::field_version(&f.store.conn, &entity, FieldName::Title).unwrap();
    assert_eq!(held, Some(fit_core::merge::Version { hlc: after[4].hlc, device: me }));
    assert_eq!(f.store.goals(f.citizen).unwrap()[0].title, "Sove syv timer");
    let note_hlc: (i64, u32) = f
        .store
        .conn
        .query_row("SELECT hlc_wall_ms, hlc_counter FROM notes WHERE id = ?1", [note.to_string()], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!((note_hlc.0 as u64, note_hlc.1), (after[2].hlc.wall_ms, after[2].hlc.counter));
    assert_eq!(f.store.hlc().last(), after[4].hlc, "later writes follow the new stamps");

    assert_eq!(f.store.restamp_ahead(server).unwrap(), 0, "nothing is ahead any more");
}

#[test]
fn a_change_less_than_the_margin_too_far_ahead_keeps_its_stamp() {
    let mut f = fixture();
    let id = f.ids.next(NOW);
    let body = ChangeBody::VisitStarted {
        visit: f.ids.next(NOW),
        citizen: f.citizen,
        worker: f.worker,
        started_at_ms: NOW,
        group: None,
    };
    // A request carrying it may still be on its way, and be accepted within the hour.
    f.store.commit_local(&f.scales, NOW + DRIFT + RESTAMP_MARGIN_MS / 2, id, body).unwrap();
    let before = f.store.outbox(0, 10).unwrap();
    let server = fit_protocol::ServerClock { server_time_ms: NOW, max_drift_ms: DRIFT };
    assert_eq!(f.store.restamp_ahead(server).unwrap(), 0);
    assert_eq!(f.store.outbox(0, 10).unwrap(), before);
}

/// Another device's write of `field`, stamped 5 hours ahead of the server (within the drift).
fn other_devices_edit(f: &mut Fixture, entity: Entity, field: FieldName, value: &str) -> Change {
    Change {
        id: f.ids.next(NOW),
        device: f.ids.next(NOW),
        seq: 1,
        hlc: Hlc::new(NOW + 5 * 3_600_000, 0),
        device_time_ms: NOW,
        schema_version: SCHEMA_VERSION,
        body: ChangeBody::FieldSet { entity, field, value: json!(value), base: None },
    }
}

#[test]
fn an_edit_stamped_again_still_comes_after_the_version_it_replaced() {
    const YEAR: u64 = 365 * 24 * 3_600_000;
    let mut f = fixture();
    let goal: GoalId = f.ids.next(NOW);
    let entity = Entity::Goal { goal, citizen: f.citizen };
    // Another device's title, stamped 5 hours ahead of the server (within the drift).
    let other = other_devices_edit(&mut f, entity, FieldName::Title, "Sove bedre");
    f.store.apply_pulled(&f.scales, NOW, std::slice::from_ref(&other), Some(("main", 3))).unwrap();
    // This device, a year ahead, replaces it: the field now holds only this device's version.
    let id = f.ids.next(NOW);
    let body = ChangeBody::FieldSet { entity, field: FieldName::Title, value: json!("Sove hele natten"), base: None };
    f.store.commit_local(&f.scales, NOW + YEAR, id, body).unwrap();

    let server = fit_protocol::ServerClock { server_time_ms: NOW, max_drift_ms: DRIFT };
    assert_eq!(f.store.restamp_ahead(server).unwrap(), 1);
    let edit = &f.store.outbox(0, 10).unwrap()[0];
    assert!(edit.hlc > other.hlc, "the edit must not lose to the version it replaced");
    assert_eq!(f.store.goals(f.citizen).unwrap()[0].title, "Sove hele natten");
}

#[test]
fn an_edit_stamped_again_still_wins_over_a_pulled_edit_it_beat() {
    const YEAR: u64 = 365 * 24 * 3_600_000;
    let mut f = fixture();
    let citizen = f.citizen;
    let entity = Entity::Citizen { citizen };
    // This device, its clock a year ahead, sets the case reference: stamped a year ahead.
    let id = f.ids.next(NOW);
    let mine = ChangeBody::FieldSet { entity, field: FieldName::CaseReference, value: json!("SAG-314"), base: None };
    f.store.commit_local(&f.scales, NOW + YEAR, id, mine).unwrap();
    // Another device's edit of the same field, 5 hours ahead of the server (within the drift),
    // is pulled before this device's edit is pushed: it loses to the stamp a year ahead, so this
    // device keeps no trace of its version.
    let other = other_devices_edit(&mut f, entity, FieldName::CaseReference, "SAG-368");
    f.store.apply_pulled(&f.scales, NOW, std::slice::from_ref(&other), Some(("main", 1))).unwrap();
    assert_eq!(f.store.citizen(citizen).unwrap().unwrap().case_reference.as_deref(), Some("SAG-314"));

    // The server refuses the edit as ahead; stamped again from the server's time, it must still
    // come after the pulled edit, or the server (which holds that edit) keeps the other value
    // while this device keeps its own.
    let server = fit_protocol::ServerClock { server_time_ms: NOW, max_drift_ms: DRIFT };
    assert_eq!(f.store.restamp_ahead(server).unwrap(), 1);
    let edit = &f.store.outbox(0, 10).unwrap()[0];
    assert!(edit.hlc > other.hlc, "the edit stamped again must still win over the edit it beat here");
    assert!(edit.hlc.wall_ms <= server.server_time_ms + DRIFT, "the server accepts it now");
    let held = write::field_version(&f.store.conn, &entity, FieldName::CaseReference).unwrap();
    assert_eq!(held, Some(fit_core::merge::Version { hlc: edit.hlc, device: f.store.device_id() }));
}
