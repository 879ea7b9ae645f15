//! Devices syncing with a real server on loopback: offline work on two devices converges, a
//! lost answer never duplicates a response, a clock a year ahead holds nothing back, revocation
//! wipes, a version mismatch keeps the outbox, the app's service sends a visit by itself, and a
//! change in the log that no device can apply stalls no device.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fit_core::response::{MarkedBy, RawAnswer, ResponseContent, ResponseInput};
use fit_device::app::App;
use fit_device::settings::SettingsFile;
use fit_device::sync::{SyncClient, SyncConfig, SyncError};
use fit_device::{Clock, Device, DeviceConfig, ManualClock, SystemClock};
use fit_protocol::{ChangeBody, VersionRange};
use fit_server::store::ServerStore;
use fit_store::{KdfCost, UnlockPolicy};
use fit_tests::app::{now_ms, set_up_device};
use fit_tests::server::{Caseload, LiveServer, Relay, create_caseload, enrollment_code, new_id};

const PIN: &str = "975310";

struct TestDevice {
    _dir: tempfile::TempDir,
    device: Mutex<Device>,
}

/// A set-up device enrolled with `server_url` for the caseload's worker.
async fn enrolled_device(server: &LiveServer, server_url: &str, caseload: Caseload, client: &SyncClient) -> TestDevice {
    enrolled_device_with_clock(server, server_url, caseload, client, Arc::new(SystemClock)).await
}

async fn enrolled_device_with_clock(
    server: &LiveServer,
    server_url: &str,
    caseload: Caseload,
    client: &SyncClient,
    clock: Arc<dyn Clock>,
) -> TestDevice {
    let dir = tempfile::tempdir().unwrap();
    let device = set_up_device(dir.path(), PIN, clock).unwrap();
    let code = enrollment_code(&server.store, caseload.worker, now_ms()).await.unwrap();
    let enrolled = client.enroll(&device, server_url, &code, None).await.unwrap();
    assert_eq!(enrolled.worker, caseload.worker);
    // The first sync brings the caseload: the citizen's profile and history.
    client.sync_now(&device, |_| {}).await.unwrap();
    TestDevice { _dir: dir, device }
}

/// A server with one worker's caseload, and `N` of the worker's devices enrolled with it (each
/// synced once).
async fn field<const N: usize>() -> (LiveServer, Caseload, SyncClient, [TestDevice; N]) {
    let server = LiveServer::start(|_| {}).await.unwrap();
    let caseload = create_caseload(&server.store, now_ms()).await.unwrap();
    let client = client();
    let mut devices = Vec::with_capacity(N);
    for _ in 0..N {
        devices.push(enrolled_device(&server, &server.url(), caseload, &client).await);
    }
    let Ok(devices) = <[TestDevice; N]>::try_from(devices) else { unreachable!("N devices were enrolled") };
    (server, caseload, client, devices)
}

fn ors(value: i64) -> ResponseInput {
    let items = ["individually", "interpersonally", "socially", "overall"];
    let answers = items.iter().map(|i| RawAnswer { item: (*i).into(), value: value.into() }).collect();
    ResponseInput {
        scale: "ors".into(),
        content: ResponseContent::Given { marked_by: MarkedBy::CitizenOnDevice, answers },
    }
}

/// Records a visit with an ORS on the device, offline: nothing leaves the device.
fn record_visit(device: &Mutex<Device>, caseload: Caseload, value: i64) {
    let mut device = device.lock().unwrap();
    let visit = device.start_visit(caseload.citizen).unwrap();
    device.record_response(visit, ors(value)).unwrap();
    device.close_visit(visit).unwrap();
}

fn client() -> SyncClient {
    SyncClient::new(SyncConfig::default()).unwrap()
}

/// What devices sent: the server's own profile changes left out.
fn device_changes(changes: Vec<fit_protocol::Change>) -> Vec<fit_protocol::Change> {
    changes.into_iter().filter(|c| !matches!(c.body, ChangeBody::FieldSet { .. })).collect()
}

fn responses_on_server(changes: &[fit_protocol::Change]) -> Vec<String> {
    let mut ids: Vec<_> = changes
        .iter()
        .filter_map(|c| match &c.body {
            ChangeBody::ResponseRecorded { response, .. } => Some(response.to_string()),
            _ => None,
        })
        .collect();
    ids.sort();
    ids
}

fn visit_ids(device: &Mutex<Device>, caseload: Caseload) -> Vec<String> {
    let device = device.lock().unwrap();
    let mut ids: Vec<_> =
        device.citizen_view(caseload.citizen).unwrap().visits.iter().map(|v| v.id.to_string()).collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn offline_work_on_two_devices_converges_after_both_sync() {
    let (server, caseload, client, [a, b]) = field::<2>().await;
    record_visit(&a.device, caseload, 40);
    record_visit(&a.device, caseload, 45);
    record_visit(&b.device, caseload, 70);

    for device in [&a.device, &b.device, &a.device] {
        client.sync_now(device, |_| {}).await.unwrap();
    }
    assert_eq!(visit_ids(&a.device, caseload), visit_ids(&b.device, caseload));
    assert_eq!(visit_ids(&a.device, caseload).len(), 3);
    let view_a = a.device.lock().unwrap().citizen_view(caseload.citizen).unwrap();
    let view_b = b.device.lock().unwrap().citizen_view(caseload.citizen).unwrap();
    assert_eq!(view_a.trajectory, view_b.trajectory);
    assert_eq!(responses_on_server(&server.store.changes().await.unwrap()).len(), 3);
    for device in [&a.device, &b.device] {
        assert_eq!(device.lock().unwrap().sync_counters().unwrap().pending_changes, 0);
    }
}

#[tokio::test]
async fn a_visit_cancelled_after_its_start_synced_counts_as_no_visit_on_every_device() {
    let (server, caseload, client, [a, b]) = field::<2>().await;
    record_visit(&a.device, caseload, 40);
    let mistaken = a.device.lock().unwrap().start_visit(caseload.citizen).unwrap();
    // The start reaches the server and the other device before the worker sees the mistake.
    for device in [&a.device, &b.device] {
        client.sync_now(device, |_| {}).await.unwrap();
    }
    assert_eq!(visit_ids(&b.device, caseload).len(), 2);
    a.device.lock().unwrap().cancel_visit(mistaken).unwrap();
    for device in [&a.device, &b.device] {
        client.sync_now(device, |_| {}).await.unwrap();
    }
    let logged = server.store.changes().await.unwrap();
    let cancelled = logged
        .iter()
        .filter(|c| matches!(c.body, ChangeBody::VisitClosed { visit, cancelled: true, .. } if visit == mistaken))
        .count();
    assert_eq!(cancelled, 1, "the cancellation is logged once");
    for device in [&a.device, &b.device] {
        assert_eq!(visit_ids(device, caseload).len(), 1, "the cancelled visit is no visit");
        let view = device.lock().unwrap().citizen_view(caseload.citizen).unwrap();
        assert!(view.open_visit.is_none());
        assert_eq!(view.trajectory.points.len(), 1);
    }
}

#[tokio::test]
async fn a_locked_device_sends_its_visits_and_receives_another_devices_without_an_unlock() {
    let (server, caseload, client, [a, b]) = field::<2>().await;
    record_visit(&a.device, caseload, 40);
    record_visit(&b.device, caseload, 70);
    client.sync_now(&b.device, |_| {}).await.unwrap();
    // The worker locks the device (or it locked itself) before it had a connection.
    a.device.lock().unwrap().lock();
    client.sync_now(&a.device, |_| {}).await.unwrap();
    assert_eq!(responses_on_server(&server.store.changes().await.unwrap()).len(), 2, "the locked device's visit is in");
    {
        let device = a.device.lock().unwrap();
        assert!(!device.is_unlocked(), "still locked");
        assert_eq!(device.sync_counters().unwrap().pending_changes, 0);
        assert_eq!(device.citizen_view(caseload.citizen).unwrap_err().code(), "device.locked", "nothing shows");
    }
    a.device.lock().unwrap().unlock(PIN).unwrap();
    let visits = visit_ids(&a.device, caseload);
    assert_eq!(visits.len(), 2);
    assert!(visit_ids(&b.device, caseload).iter().all(|v| visits.contains(v)), "the other device's visit came in");
}

#[tokio::test]
async fn a_lost_answer_makes_the_device_push_again_and_nothing_is_duplicated() {
    let server = LiveServer::start(|_| {}).await.unwrap();
    let relay = Relay::start(server.addr).await.unwrap();
    let caseload = create_caseload(&server.store, now_ms()).await.unwrap();
    let client = client();
    let a = enrolled_device(&server, &relay.url(), caseload, &client).await;
    record_visit(&a.device, caseload, 55);

    relay.lose_next_answer.store(true, std::sync::atomic::Ordering::SeqCst);
    let lost = client.sync_now(&a.device, |_| {}).await.unwrap_err();
    assert!(matches!(lost, SyncError::Busy { .. }), "{lost:?}");
    assert_eq!(responses_on_server(&server.store.changes().await.unwrap()).len(), 1, "the server stored the batch");
    assert_eq!(a.device.lock().unwrap().sync_counters().unwrap().pending_changes, 3, "the device never heard so");

    client.sync_now(&a.device, |_| {}).await.unwrap();
    assert_eq!(a.device.lock().unwrap().sync_counters().unwrap().pending_changes, 0);
    let changes = device_changes(server.store.changes().await.unwrap());
    assert_eq!(changes.len(), 3, "visit started, response, visit closed: once each");
    assert_eq!(responses_on_server(&changes).len(), 1);
}

#[tokio::test]
async fn a_device_whose_clock_runs_a_year_ahead_gets_its_visits_in_without_waiting_a_year() {
    const YEAR_MS: u64 = 365 * 24 * 3_600_000;
    let server = LiveServer::start(|_| {}).await.unwrap();
    let caseload = create_caseload(&server.store, now_ms()).await.unwrap();
    let client = client();
    let ahead = Arc::new(ManualClock::new(now_ms() + YEAR_MS));
    let a = enrolled_device_with_clock(&server, &server.url(), caseload, &client, ahead.clone()).await;
    let b = enrolled_device(&server, &server.url(), caseload, &client).await;
    record_visit(&a.device, caseload, 40);

    // Refused as too far ahead of the server's clock, stamped again from it, and sent.
    client.sync_now(&a.device, |_| {}).await.unwrap();
    assert_eq!(a.device.lock().unwrap().sync_counters().unwrap().pending_changes, 0);
    let stored = device_changes(server.store.changes().await.unwrap());
    assert_eq!(stored.len(), 3, "visit started, response, visit closed: once each");
    assert!(stored.iter().all(|c| c.hlc.wall_ms <= now_ms() + 6 * 3_600_000), "stamped from the server's clock");

    // The clock is still wrong: the next visit goes the same way.
    ahead.advance(60_000);
    record_visit(&a.device, caseload, 45);
    client.sync_now(&a.device, |_| {}).await.unwrap();
    client.sync_now(&b.device, |_| {}).await.unwrap();
    assert_eq!(visit_ids(&b.device, caseload), visit_ids(&a.device, caseload));
    assert_eq!(visit_ids(&b.device, caseload).len(), 2);
    assert_eq!(responses_on_server(&server.store.changes().await.unwrap()).len(), 2);
}

#[tokio::test]
async fn a_revoked_device_wipes_its_local_store() {
    let (server, caseload, client, [a]) = field::<1>().await;
    record_visit(&a.device, caseload, 30);
    let device_id = a.device.lock().unwrap().store_mut().unwrap().device_id();
    server.store.revoke(device_id, now_ms()).await.unwrap();

    let error = client.sync_now(&a.device, |_| {}).await.unwrap_err();
    assert!(matches!(error, SyncError::Revoked), "{error:?}");
    {
        let device = a.device.lock().unwrap();
        assert!(!device.is_unlocked());
        assert!(!device.is_set_up(), "the key file and the database are gone");
    }
    assert!(device_changes(server.store.changes().await.unwrap()).is_empty(), "a revoked device uploads nothing");
    assert!(a.device.lock().unwrap().was_withdrawn(), "the first screen can say why");
}

#[tokio::test]
async fn a_locked_device_revoked_on_the_server_wipes_itself_at_its_next_sync() {
    let (server, caseload, client, [a]) = field::<1>().await;
    record_visit(&a.device, caseload, 30);
    let device_id = a.device.lock().unwrap().store_mut().unwrap().device_id();
    a.device.lock().unwrap().lock();
    server.store.revoke(device_id, now_ms()).await.unwrap();
    let error = client.sync_now(&a.device, |_| {}).await.unwrap_err();
    assert!(matches!(error, SyncError::Revoked), "{error:?}");
    let device = a.device.lock().unwrap();
    assert!(!device.is_set_up() && !device.is_open(), "the files are gone and nothing is open");
    assert!(device.was_withdrawn());
    assert!(
        std::fs::read_dir(a._dir.path()).unwrap().all(|e| {
            let name = e.unwrap().file_name();
            name == "withdrawn"
        }),
        "nothing but the mark is left"
    );
}

#[tokio::test]
async fn a_server_that_no_longer_speaks_the_apps_protocol_blocks_sync_and_keeps_the_outbox() {
    let newer = VersionRange { min: 2, max: 2 };
    let (server, caseload, client, [a]) = field::<1>().await;
    record_visit(&a.device, caseload, 30);
    let address = server.addr;
    let data = server.stop().await;
    // The municipality upgrades the server on the same address and data, and retires protocol 1.
    let upgraded = LiveServer::start_in(data, Some(address), move |state| state.protocols = newer).await.unwrap();

    let error = client.sync_now(&a.device, |_| {}).await.unwrap_err();
    assert!(matches!(error, SyncError::Unsupported { min: 2, max: 2 }), "{error:?}");
    assert_eq!(a.device.lock().unwrap().sync_counters().unwrap().pending_changes, 3);
    let again = client.sync_now(&a.device, |_| {}).await.unwrap_err();
    assert_eq!(again.code(), "protocol.unsupported", "sync stays blocked until the app is updated");
    assert!(device_changes(upgraded.store.changes().await.unwrap()).is_empty());
}

/// The app's service with its background work spawned, as the shell runs it: a visit recorded
/// after enrolling reaches the server with no "sync now", and the sync line hears of it.
#[tokio::test(flavor = "multi_thread")]
async fn the_apps_sync_engine_sends_a_visit_by_itself_and_reports_it() {
    let server = LiveServer::start(|_| {}).await.unwrap();
    let caseload = create_caseload(&server.store, now_ms()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = DeviceConfig {
        unlock: UnlockPolicy { kdf: KdfCost::FOR_TESTS, ..UnlockPolicy::default() },
        ..DeviceConfig::new(dir.path())
    };
    let device = Device::open(config, Arc::new(SystemClock)).unwrap();
    let app = Arc::new(App::new(device, SettingsFile::new(dir.path()), SyncConfig::default()).unwrap());
    let (views_tx, mut views) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(app.clone().watch_sync(move |view| {
        let _ = views_tx.send(view);
    }));
    tokio::spawn(app.clone().run_sync());
    let code = enrollment_code(&server.store, caseload.worker, now_ms()).await.unwrap();
    app.set_up_enrolled(PIN, &server.url(), &code, None).await.unwrap();

    let visit = app.start_visit(caseload.citizen).unwrap();
    // Through the app the worker records answers given aloud; the citizen's own come from citizen mode.
    let mut answered = ors(60);
    if let ResponseContent::Given { marked_by, .. } = &mut answered.content {
        *marked_by = MarkedBy::ReadAloudVerbal;
    }
    app.record_response(visit, answered).unwrap();
    app.close_visit(visit).unwrap();
    // Far less than the engine's one-minute timer: the writes woke it.
    let deadline = Instant::now() + Duration::from_secs(30);
    while responses_on_server(&server.store.changes().await.unwrap()).is_empty() {
        assert!(Instant::now() < deadline, "the visit did not reach the server by itself");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    loop {
        let view = tokio::time::timeout_at(deadline.into(), views.recv()).await.unwrap().unwrap();
        if !view.status.running && view.pending_changes == Some(0) {
            assert!(view.status.online && view.status.last_error.is_none(), "{view:?}");
            break;
        }
    }
}

/// Writes `bodies` straight into the log of a stopped server's database, as changes of a device
/// the server has never seen: what a buggy or hostile device could have got past the server.
fn write_into_log(db: &std::path::Path, citizen: fit_core::ids::CitizenId, bodies: Vec<ChangeBody>) {
    let conn = rusqlite::Connection::open(db).unwrap();
    let writer: fit_core::ids::DeviceId = new_id();
    for (n, body) in bodies.into_iter().enumerate() {
        let change = fit_protocol::demo::change(writer, n as u64 + 1, now_ms(), body);
        let kind = serde_json::to_value(&change.body).unwrap()["type"].as_str().unwrap().to_owned();
        conn.execute(
            "INSERT INTO change_log (position, change_id, device_id, seq, citizen_id, kind, hlc_wall_ms, hlc_counter,
                device_time_ms, received_at_ms, schema_version, change)
             VALUES ((SELECT MAX(p) + 1 FROM (SELECT MAX(position) AS p FROM change_log
                      UNION ALL SELECT MAX(position) FROM caseload_events)),
                     ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?6, ?6, ?8, ?9)",
            rusqlite::params![
                change.id.to_string(),
                writer.to_string(),
                change.seq as i64,
                citizen.to_string(),
                kind,
                change.hlc.wall_ms as i64,
                change.hlc.counter,
                change.schema_version,
                serde_json::to_string(&change).unwrap(),
            ],
        )
        .unwrap();
    }
}

#[tokio::test]
async fn a_change_no_device_can_apply_stalls_no_device() {
    let (server, caseload, client, [a]) = field::<1>().await;
    record_visit(&a.device, caseload, 40);
    client.sync_now(&a.device, |_| {}).await.unwrap();

    // A visit closed that no device has, a start in the year 292 million, a note without text.
    let (addr, citizen, worker) = (server.addr, caseload.citizen, caseload.worker);
    let dir = server.stop().await;
    let poison = vec![
        ChangeBody::VisitClosed { visit: new_id(), citizen, closed_at_ms: now_ms(), cancelled: false },
        ChangeBody::VisitStarted { visit: new_id(), citizen, worker, started_at_ms: 1 << 63, group: None },
        ChangeBody::NoteWritten {
            note: new_id(),
            citizen,
            visit: None,
            body: String::new(),
            written_at_ms: now_ms(),
            supersedes: None,
        },
        ChangeBody::ResponseRecorded {
            response: new_id(),
            visit: new_id(),
            citizen,
            scale: fit_core::ScaleCode::parse("ors").unwrap(),
            scale_version: "short-labels-1".into(),
            answered: ResponseContent::NotGiven { reason: fit_core::response::NotGivenReason::Declined },
            recorded_at_ms: now_ms(),
            supersedes: None,
            correction: None,
        },
    ];
    write_into_log(&dir.path().join("server.db"), citizen, poison);
    let server = LiveServer::start_in(dir, Some(addr), |_| {}).await.unwrap();

    // The device that was there, with new work, and one enrolled afterwards both get through.
    record_visit(&a.device, caseload, 55);
    client.sync_now(&a.device, |_| {}).await.unwrap();
    let b = enrolled_device(&server, &server.url(), caseload, &client).await;
    for device in [&a.device, &b.device] {
        let mut device = device.lock().unwrap();
        assert_eq!(device.sync_counters().unwrap().pending_changes, 0);
        let set_aside = device.store_mut().unwrap().quarantined().unwrap();
        assert_eq!(set_aside.len(), 4, "each change it cannot apply is set aside, nothing else");
    }
    assert_eq!(visit_ids(&a.device, caseload), visit_ids(&b.device, caseload));
    assert_eq!(visit_ids(&b.device, caseload).len(), 2);

    // Each device reports what it set aside on its next sync, once; the server audits it.
    for _ in 0..2 {
        client.sync_now(&a.device, |_| {}).await.unwrap();
        client.sync_now(&b.device, |_| {}).await.unwrap();
    }
    let dir = server.stop().await;
    let conn = rusqlite::Connection::open(dir.path().join("server.db")).unwrap();
    let reported: i64 =
        conn.query_row("SELECT count(*) FROM audit_log WHERE action = 'quarantined'", [], |row| row.get(0)).unwrap();
    assert_eq!(reported, 8, "four changes from each of two devices, each reported once");
}

#[tokio::test]
async fn a_device_sends_nothing_in_plain_http_to_another_machine_and_believes_no_answer_from_it() {
    let (_server, caseload, client, [a]) = field::<1>().await;
    record_visit(&a.device, caseload, 40);
    // Whatever sits at a plain-HTTP address of another machine could forge `device.revoked`.
    {
        let mut device = a.device.lock().unwrap();
        let store = device.store_mut().unwrap();
        let (_, token) = store.sync_settings().unwrap().unwrap();
        store.set_sync_settings("http://fit.kommune.example", &token, None).unwrap();
    }
    let error = client.sync_now(&a.device, |_| {}).await.unwrap_err();
    assert!(matches!(error, SyncError::Insecure(_)), "{error:?}");
    assert_eq!(error.code(), fit_protocol::ErrorCode::SyncInsecureUrl);
    let device = a.device.lock().unwrap();
    assert!(device.is_unlocked(), "nothing was wiped");
    assert_eq!(device.sync_counters().unwrap().pending_changes, 3, "the visit waits in the outbox");
}
