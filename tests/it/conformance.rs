//! The conformance story: one day in a team, told against a real server on loopback with real
//! devices, the same story for every server backend. It checks the sync invariants end to end:
//! offline work converges, concurrent edits converge and are logged, a lost answer duplicates
//! nothing, devices see only their worker's caseload, a moved citizen leaves the old devices
//! after their pending changes are pushed and arrives with its whole history on the new ones,
//! the CSV export holds every response once, and a revoked device wipes itself.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use fit_core::ids::{CitizenId, ResponseId, TeamId, WorkerId};
use fit_core::response::{MarkedBy, RawAnswer, ResponseContent, ResponseInput};
use fit_device::sync::{SyncClient, SyncConfig, SyncError};
use fit_device::{Device, DeviceError, SystemClock};
use fit_protocol::ChangeBody;
use fit_server::secret_hash;
use fit_server::store::{CitizenProfile, ServerStore};
use fit_tests::app::now_ms;
use fit_tests::app::set_up_device;
use fit_tests::server::{LiveServer, Relay, new_id};

const PIN: &str = "975310";

struct Tablet {
    _dir: tempfile::TempDir,
    device: Mutex<Device>,
}

impl Tablet {
    fn caseload(&self) -> BTreeSet<(CitizenId, String)> {
        let device = self.device.lock().unwrap();
        device.caseload_overview().unwrap().into_iter().map(|e| (e.citizen.id, e.citizen.display_name)).collect()
    }

    fn visits(&self, citizen: CitizenId) -> Vec<String> {
        let device = self.device.lock().unwrap();
        let mut ids: Vec<_> = device.citizen_view(citizen).unwrap().visits.iter().map(|v| v.id.to_string()).collect();
        ids.sort();
        ids
    }

    fn goal_titles(&self, citizen: CitizenId) -> Vec<String> {
        let device = self.device.lock().unwrap();
        device.citizen_view(citizen).unwrap().goals.into_iter().map(|g| g.title).collect()
    }

    fn pending(&self) -> u64 {
        self.device.lock().unwrap().sync_counters().unwrap().pending_changes
    }

    /// A visit with an ORS and an SRS, recorded offline; returns the two response ids.
    fn visit(&self, citizen: CitizenId, ors: i64, srs: i64) -> [ResponseId; 2] {
        let mut device = self.device.lock().unwrap();
        let visit = device.start_visit(citizen).unwrap();
        let first = device.record_response(visit, scale("ors", ors)).unwrap();
        let second = device.record_response(visit, scale("srs", srs)).unwrap();
        device.add_note(citizen, Some(visit), "Talte om ugen.", None).unwrap();
        device.close_visit(visit).unwrap();
        [first, second]
    }
}

fn scale(code: &str, value: i64) -> ResponseInput {
    let items: &[&str] = match code {
        "ors" => &["individually", "interpersonally", "socially", "overall"],
        _ => &["relationship", "goals-and-topics", "approach-or-method", "overall"],
    };
    let answers = items.iter().map(|i| RawAnswer { item: (*i).into(), value: value.into() }).collect();
    ResponseInput {
        scale: code.into(),
        content: ResponseContent::Given { marked_by: MarkedBy::CitizenOnDevice, answers },
    }
}

/// A set-up device enrolled with `url` for `worker`, after its first sync.
async fn tablet<S: ServerStore>(store: &S, url: &str, worker: WorkerId, client: &SyncClient) -> Tablet {
    let dir = tempfile::tempdir().unwrap();
    let device = set_up_device(dir.path(), PIN, Arc::new(SystemClock)).unwrap();
    let code = uuid::Uuid::now_v7().simple().to_string();
    store.create_enrollment_code(secret_hash(&code), worker, now_ms(), now_ms() + 3_600_000).await.unwrap();
    client.enroll(&device, url, &code, None).await.unwrap();
    client.sync_now(&device, |_| {}).await.unwrap();
    Tablet { _dir: dir, device }
}

/// Every response id on the server, with how often it is there.
async fn responses_on<S: ServerStore>(store: &S) -> Vec<String> {
    let mut ids: Vec<_> = store
        .changes()
        .await
        .unwrap()
        .iter()
        .filter_map(|c| match &c.body {
            ChangeBody::ResponseRecorded { response, .. } => Some(response.to_string()),
            _ => None,
        })
        .collect();
    ids.sort();
    ids
}

/// The story; `store` backs the server listening on `addr`.
pub async fn story<S: ServerStore>(store: &S, addr: SocketAddr) {
    let url = format!("http://{addr}");
    let client = SyncClient::new(SyncConfig::default()).unwrap();
    let now = now_ms();

    // The administrator sets up a team: Mette has Anna and Bo, Jonas has Carla.
    let team: TeamId = new_id();
    let (mette, jonas): (WorkerId, WorkerId) = (new_id(), new_id());
    let (anna, bo, carla): (CitizenId, CitizenId, CitizenId) = (new_id(), new_id(), new_id());
    store.create_team(team, "Bostøtten Vest".into()).await.unwrap();
    store.create_worker(mette, team, "Mette".into()).await.unwrap();
    store.create_worker(jonas, team, "Jonas".into()).await.unwrap();
    for (citizen, name, worker) in [(anna, "Anna", mette), (bo, "Bo", mette), (carla, "Carla", jonas)] {
        store.create_citizen(citizen, team, CitizenProfile::adult(name), now).await.unwrap();
        store.assign(citizen, worker, now).await.unwrap();
    }
    assert_eq!(
        store.create_citizen(anna, team, CitizenProfile::adult("Anna"), now).await.unwrap_err().code(),
        "admin.constraint",
        "a citizen is created once"
    );

    // Mette has a tablet and a phone (the phone's link drops answers now and then); Jonas a tablet.
    let relay = Relay::start(addr).await.unwrap();
    let tablet_m = tablet(store, &url, mette, &client).await;
    let phone_m = tablet(store, &relay.url(), mette, &client).await;
    let tablet_j = tablet(store, &url, jonas, &client).await;
    let names = |list: &[(CitizenId, &str)]| list.iter().map(|(c, n)| (*c, (*n).to_owned())).collect::<BTreeSet<_>>();
    assert_eq!(tablet_m.caseload(), names(&[(anna, "Anna"), (bo, "Bo")]), "the caseload arrives with enrollment");
    assert_eq!(phone_m.caseload(), tablet_m.caseload());
    assert_eq!(tablet_j.caseload(), names(&[(carla, "Carla")]));

    // A day offline: visits on all three devices, then everyone syncs.
    let mut recorded = Vec::new();
    recorded.extend(tablet_m.visit(anna, 22, 95));
    recorded.extend(phone_m.visit(bo, 60, 100));
    recorded.extend(tablet_j.visit(carla, 70, 97));
    for device in [&tablet_m, &phone_m, &tablet_j, &tablet_m] {
        client.sync_now(&device.device, |_| {}).await.unwrap();
    }
    for citizen in [anna, bo] {
        assert_eq!(tablet_m.visits(citizen), phone_m.visits(citizen), "Mette's devices agree");
        assert_eq!(tablet_m.visits(citizen).len(), 1);
    }
    let overview = tablet_m.device.lock().unwrap().caseload_overview().unwrap();
    let anna_line = overview.iter().find(|e| e.citizen.id == anna).unwrap();
    assert!(!anna_line.alerts.is_empty(), "ORS 8.8 is under the cutoff: an alert on both of Mette's devices");

    // Scoping: neither side ever receives the other's citizens.
    assert!(matches!(tablet_j.device.lock().unwrap().citizen_view(anna), Err(DeviceError::NotInCaseload)));
    assert!(matches!(tablet_m.device.lock().unwrap().citizen_view(carla), Err(DeviceError::NotInCaseload)));

    // A goal, then two concurrent edits of its title: both devices end with the same title and
    // the server keeps the losing edit in the conflict log.
    let goal = tablet_m.device.lock().unwrap().set_goal(anna, None, Some("Sove bedre"), Some("active")).unwrap();
    client.sync_now(&tablet_m.device, |_| {}).await.unwrap();
    client.sync_now(&phone_m.device, |_| {}).await.unwrap();
    assert_eq!(phone_m.goal_titles(anna), ["Sove bedre"]);
    tablet_m.device.lock().unwrap().set_goal(anna, Some(goal), Some("Sove syv timer"), None).unwrap();
    phone_m.device.lock().unwrap().set_goal(anna, Some(goal), Some("Gå en tur hver dag"), None).unwrap();
    for device in [&tablet_m, &phone_m, &tablet_m] {
        client.sync_now(&device.device, |_| {}).await.unwrap();
    }
    assert_eq!(tablet_m.goal_titles(anna), phone_m.goal_titles(anna), "concurrent edits converge");
    let conflicts = store.conflicts().await.unwrap();
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    assert_eq!((conflicts[0].citizen, conflicts[0].field.as_str()), (anna, "title"));

    // The phone's answer is lost after the server stored its batch: it pushes again, and the
    // server holds each response once.
    recorded.extend(phone_m.visit(anna, 90, 97));
    relay.lose_next_answer.store(true, Ordering::SeqCst);
    assert!(matches!(client.sync_now(&phone_m.device, |_| {}).await, Err(SyncError::Busy { .. })));
    assert_eq!(phone_m.pending(), 5, "the phone never heard that the server has its visit");
    client.sync_now(&phone_m.device, |_| {}).await.unwrap();
    assert_eq!(phone_m.pending(), 0);

    // Bo moves to Jonas while Mette's tablet holds an unsynced visit with him. The visit is
    // pushed and kept; then Bo leaves both of Mette's devices and arrives on Jonas's tablet with
    // his whole history.
    recorded.extend(tablet_m.visit(bo, 65, 100));
    store.assign(bo, jonas, now_ms()).await.unwrap();
    for device in [&tablet_m, &phone_m, &tablet_j] {
        client.sync_now(&device.device, |_| {}).await.unwrap();
    }
    assert_eq!(tablet_m.pending(), 0, "the visit recorded before the move reached the server");
    assert_eq!(tablet_m.caseload(), names(&[(anna, "Anna")]));
    assert_eq!(phone_m.caseload(), names(&[(anna, "Anna")]));
    assert!(matches!(tablet_m.device.lock().unwrap().citizen_view(bo), Err(DeviceError::NotInCaseload)));
    assert_eq!(tablet_j.caseload(), names(&[(bo, "Bo"), (carla, "Carla")]));
    assert_eq!(tablet_j.visits(bo).len(), 2, "Bo's history: the phone's visit and the tablet's late one");
    let trajectory = tablet_j.device.lock().unwrap().citizen_view(bo).unwrap().trajectory;
    assert_eq!(trajectory.points.len(), 2);

    // Every response recorded anywhere is on the server exactly once, and in the CSV export.
    let mut expected: Vec<String> = recorded.iter().map(ToString::to_string).collect();
    expected.sort();
    assert_eq!(responses_on(store).await, expected);
    let mut csv = Vec::new();
    let scales = fit_core::ScaleSet::built_in().unwrap();
    let rows = fit_server::export::responses_csv(&scales, &store.changes().await.unwrap(), &mut csv).unwrap();
    assert_eq!(rows, expected.len());
    let csv = String::from_utf8(csv).unwrap();
    for id in &expected {
        assert_eq!(csv.matches(id.as_str()).count(), 1, "response {id} once in the export");
    }
    assert!(!csv.contains("Anna") && !csv.contains("Bo,"), "the export names no one");

    // Jonas's tablet is lost and revoked: at its next sync it wipes itself.
    let lost = tablet_j.device.lock().unwrap().store_mut().unwrap().device_id();
    store.revoke(lost, now_ms()).await.unwrap();
    assert!(matches!(client.sync_now(&tablet_j.device, |_| {}).await, Err(SyncError::Revoked)));
    assert!(!tablet_j.device.lock().unwrap().is_set_up(), "the key file and the database are gone");
}

#[tokio::test]
async fn conformance_story_on_sqlite() {
    let server = LiveServer::start(|_| {}).await.unwrap();
    story(&server.store, server.addr).await;
}

#[tokio::test]
async fn conformance_story_on_postgres() {
    let cluster = fit_tests::postgres::TempCluster::shared()
        .unwrap_or_else(|e| panic!("cannot start a PostgreSQL test cluster: {e:#}"));
    let url = cluster.create_database("conformance").await.unwrap_or_else(|e| panic!("{e:#}\n{}", cluster.log()));
    let store = fit_server::store::postgres::PgStore::connect(&url).await.unwrap();
    let server = LiveServer::start_with(store, None, None, |_| {}).await.unwrap();
    story(&server.store, server.addr).await;
}
