//! The PostgreSQL store against a throwaway cluster (`fit_tests::postgres::TempCluster`), behind
//! a real server on loopback: the same requests get the same answers as from the SQLite store
//! (positions, cursors, pages, error codes), writes from many devices at once commit their log
//! positions in order, and a restarted server keeps everything.

use std::collections::BTreeSet;
use std::sync::Arc;

use fit_core::Hlc;
use fit_core::ids::{CitizenId, DeviceId, GoalId, TeamId, WorkerId};
use fit_core::merge::Version;
use fit_protocol::{Change, ChangeBody, Entity, FieldName};
use fit_server::secret_hash;
use fit_server::store::postgres::PgStore;
use fit_server::store::sqlite::SqliteStore;
use fit_server::store::{CitizenProfile, ServerStore};
use fit_tests::postgres::TempCluster;
use fit_tests::server::{LiveServer, new_id};
use serde_json::{Value, json};

const NOW: u64 = 1_795_392_000_000;

/// The shared test cluster and a new database in it; fails the test, saying why, when
/// PostgreSQL cannot start.
async fn pg_store(database: &str) -> (Arc<TempCluster>, String, PgStore) {
    let cluster = TempCluster::shared().unwrap_or_else(|e| panic!("cannot start a PostgreSQL test cluster: {e:#}"));
    let url = cluster.create_database(database).await.unwrap_or_else(|e| panic!("{e:#}\n{}", cluster.log()));
    let store = PgStore::connect(&url).await.unwrap_or_else(|e| panic!("{e:#}\n{}", cluster.log()));
    (cluster, url, store)
}

async fn server<S: ServerStore>(store: S) -> LiveServer<S> {
    LiveServer::start_with(store, None, None, |state| state.now_ms = Arc::new(|| NOW)).await.unwrap()
}

/// One device's view of the server: plain HTTP, as a device speaks it.
struct Http {
    base: String,
    client: reqwest::Client,
}

impl Http {
    fn new<S: ServerStore>(server: &LiveServer<S>) -> Http {
        Http { base: server.url(), client: reqwest::Client::new() }
    }

    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        let mut request = self.client.post(format!("{}{path}", self.base)).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn enroll(&self, code: &str, device: DeviceId) -> (u16, Value) {
        self.post("/api/v1/enroll", None, json!({"protocol": 1, "code": code, "device": device})).await
    }

    async fn sync(&self, token: &str, push: &[Change], cursor: u64, pull_limit: u64) -> (u16, Value) {
        let body = json!({"protocol": 1, "push": push, "cursor": cursor, "pull_limit": pull_limit});
        self.post("/api/v1/sync", Some(token), body).await
    }
}

async fn code_for<S: ServerStore>(store: &S, worker: WorkerId, expires_at_ms: u64) -> String {
    let code = uuid::Uuid::now_v7().simple().to_string();
    store.create_enrollment_code(secret_hash(&code), worker, NOW, expires_at_ms).await.unwrap();
    code
}

fn change(device: DeviceId, seq: u64, body: ChangeBody) -> Change {
    fit_protocol::demo::change(device, seq, NOW, body)
}

fn visit_and_ors(device: DeviceId, citizen: CitizenId, worker: WorkerId, first_seq: u64, score: i64) -> Vec<Change> {
    fit_protocol::demo::visit_with_ors(device, citizen, worker, (first_seq, NOW), score)
}

fn title(
    device: DeviceId,
    seq: u64,
    citizen: CitizenId,
    goal: GoalId,
    hlc: u64,
    text: &str,
    base: Option<Version>,
) -> Change {
    let body = ChangeBody::FieldSet {
        entity: Entity::Goal { goal, citizen },
        field: FieldName::Title,
        value: json!(text),
        base,
    };
    Change { hlc: Hlc::new(hlc, 0), ..change(device, seq, body) }
}

/// Everything a run decides in advance, so two stores get exactly the same requests.
struct Script {
    team: TeamId,
    workers: [WorkerId; 2],
    /// Anna and Bo with the first worker, Carla with the second.
    citizens: [CitizenId; 3],
    /// A and B of the first worker, C of the second, and one that enrolls twice.
    devices: [DeviceId; 4],
    first_visit: Vec<Change>,
    other_content: Vec<Change>,
    /// A goal's first title, then two concurrent edits of it: A's, and B's (later, so it wins).
    goal_titles: [Change; 3],
    gap: Vec<Change>,
    stranger: Vec<Change>,
    carla_visit: Vec<Change>,
    carla_late_visit: Vec<Change>,
}

impl Script {
    fn new() -> Script {
        let workers = [new_id(), new_id()];
        let citizens = [new_id(), new_id(), new_id()];
        let devices = [new_id(), new_id(), new_id(), new_id()];
        let [anna, _, carla] = citizens;
        let [a, b, ..] = devices;
        let goal: GoalId = new_id();
        let first = title(a, 3, anna, goal, NOW, "Finde et job", None);
        let base = Some(Version { hlc: first.hlc, device: a });
        let edit_a = title(a, 4, anna, goal, NOW + 10, "Finde et deltidsjob", base);
        let edit_b = title(b, 1, anna, goal, NOW + 20, "Starte på uddannelse", base);
        let mut stranger = visit_and_ors(a, anna, workers[0], 3, 50);
        stranger.extend(visit_and_ors(a, carla, workers[0], 5, 50));
        Script {
            team: new_id(),
            workers,
            citizens,
            devices,
            first_visit: visit_and_ors(devices[0], citizens[0], workers[0], 1, 60),
            other_content: visit_and_ors(devices[0], citizens[0], workers[0], 1, 70),
            goal_titles: [first, edit_a, edit_b],
            gap: visit_and_ors(a, anna, workers[0], 5, 50),
            stranger,
            carla_visit: visit_and_ors(devices[2], citizens[2], workers[1], 1, 40),
            carla_late_visit: visit_and_ors(devices[2], citizens[2], workers[1], 3, 45),
        }
    }

    /// A response with what differs between two stores taken out: the server's own changes
    /// (the citizens' profiles) carry its random device id and fresh change ids.
    fn normalize(&self, mut value: Value) -> Value {
        let known: Vec<Value> = self.devices.iter().map(|d| json!(d)).collect();
        let mut strip = |change: &mut Value| {
            if !known.contains(&change["device"]) {
                change["device"] = json!("server");
                change["id"] = json!("server-made");
            }
        };
        if let Some(changes) = value.get_mut("changes").and_then(Value::as_array_mut) {
            changes.iter_mut().for_each(|logged| strip(&mut logged["change"]));
        } else if let Some(changes) = value.as_array_mut() {
            changes.iter_mut().for_each(&mut strip);
        }
        value
    }
}

/// Positions of the changes in a sync answer.
fn positions(body: &Value) -> Vec<u64> {
    body["changes"].as_array().unwrap().iter().map(|c| c["position"].as_u64().unwrap()).collect()
}

/// Runs the script against `store` behind a real server, checking each answer, and returns the
/// transcript of every answer and of the store's state, for comparing two stores.
async fn run_script<S: ServerStore>(store: S, script: &Script) -> Vec<(String, u16, Value)> {
    let server = server(store).await;
    let store = &server.store;
    let http = Http::new(&server);
    let mut transcript = Vec::new();
    let [anna, bo, carla] = script.citizens;
    let [mette, jonas] = script.workers;
    let [a, b, c, twice] = script.devices;
    macro_rules! record {
        ($step:expr, $answer:expr) => {{
            let (status, body): (u16, Value) = $answer;
            transcript.push(($step.to_owned(), status, script.normalize(body.clone())));
            (status, body)
        }};
    }

    // The administrator's set-up, and the mistakes an administrator can make.
    store.create_team(script.team, "Team Nord".into()).await.unwrap();
    store.create_worker(mette, script.team, "Mette".into()).await.unwrap();
    store.create_worker(jonas, script.team, "Jonas".into()).await.unwrap();
    for (citizen, name, worker) in [(anna, "Anna", mette), (bo, "Bo", mette), (carla, "Carla", jonas)] {
        store.create_citizen(citizen, script.team, CitizenProfile::adult(name), NOW).await.unwrap();
        store.assign(citizen, worker, NOW).await.unwrap();
    }
    store.assign(anna, mette, NOW).await.unwrap(); // Already hers: no new position.
    let mistakes = [
        store.create_team(script.team, "Again".into()).await,
        store.create_worker(new_id(), new_id(), "No team".into()).await,
        store.assign(new_id(), mette, NOW).await,
        store.create_citizen(anna, script.team, CitizenProfile::adult("Anna"), NOW).await,
    ];
    for mistake in mistakes {
        assert_eq!(mistake.unwrap_err().code(), "admin.constraint");
    }
    assert_eq!(store.revoke(new_id(), NOW).await.unwrap_err().code(), "device.unknown");

    // Enrollment: once per code, not after it expires, not for a device enrolled already.
    let code = code_for(store, mette, NOW + 60_000).await;
    let (status, enrolled_a) = record!("enroll a", http.enroll(&code, a).await);
    assert_eq!(status, 200, "{enrolled_a}");
    assert_eq!((&enrolled_a["worker"], &enrolled_a["worker_name"]), (&json!(mette), &json!("Mette")));
    let token_a = enrolled_a["token"].as_str().unwrap().to_owned();
    transcript.last_mut().unwrap().2["token"] = json!("random");
    let refusals = [
        ("used", code.clone(), twice, "enroll.code_used"),
        ("expired", code_for(store, mette, NOW).await, twice, "enroll.code_expired"),
        ("unknown", "not-a-code".to_owned(), twice, "enroll.code_invalid"),
        ("device exists", code_for(store, mette, NOW + 60_000).await, a, "enroll.device_exists"),
    ];
    for (what, code, device, expected) in refusals {
        let (status, body) = record!(format!("enroll {what}"), http.enroll(&code, device).await);
        assert_eq!((status, body["code"].as_str()), (422, Some(expected)));
    }
    let token = |body: &Value| body["token"].as_str().unwrap().to_owned();
    let token_b = token(&http.enroll(&code_for(store, mette, NOW + 60_000).await, b).await.1);
    let token_c = token(&http.enroll(&code_for(store, jonas, NOW + 60_000).await, c).await.1);

    // Push, pull by another device of the worker; own changes are not sent back.
    let (status, body) = record!("a pushes a visit", http.sync(&token_a, &script.first_visit, 0, 100).await);
    assert_eq!((status, body["acknowledged_seq"].as_u64()), (200, Some(2)), "{body}");
    assert!(body["changes"].as_array().unwrap().iter().all(|c| c["change"]["device"] != json!(a)));
    // Positions: each citizen's two profile fields and assignment (1–9), then the visit (10–11).
    let (_, pulled) = record!("b pulls all", http.sync(&token_b, &[], 0, 100).await);
    assert_eq!((pulled["cursor"].as_u64(), pulled["more"].as_bool()), (Some(11), Some(false)));
    let pulled_citizens: BTreeSet<String> =
        pulled["changes"].as_array().unwrap().iter().map(|c| c["change"]["body"]["citizen"].to_string()).collect();
    assert_eq!(pulled_citizens.len(), 2, "Mette's two citizens, never Carla");

    // The same batch again is stored once; other content under the same seq or id is a conflict;
    // a gap in the sequence and a citizen of another worker refuse the whole batch.
    let (status, body) = record!("a pushes again", http.sync(&token_a, &script.first_visit, 0, 100).await);
    assert_eq!((status, body["acknowledged_seq"].as_u64()), (200, Some(2)));
    let (status, body) = record!("other content", http.sync(&token_a, &script.other_content, 0, 100).await);
    assert_eq!((status, body["code"].as_str()), (409, Some("change.conflict")));
    let reused_id = Change { seq: 3, ..script.other_content[0].clone() };
    let reused_id = Change { id: script.first_visit[0].id, ..reused_id };
    let (status, body) = record!("reused id", http.sync(&token_a, &[reused_id], 0, 100).await);
    assert_eq!((status, body["code"].as_str()), (409, Some("change.conflict")));
    let (status, body) = record!("gap", http.sync(&token_a, &script.gap, 0, 100).await);
    assert_eq!((status, body["code"].as_str()), (422, Some("batch.sequence_gap")));
    let (status, body) = record!("out of scope", http.sync(&token_a, &script.stranger, 0, 100).await);
    assert_eq!((status, body["code"].as_str()), (403, Some("citizen.out_of_scope")));
    assert_eq!(store.changes().await.unwrap().len(), 8, "6 profile fields and the visit, nothing refused");

    // Concurrent edits of a goal's title: the later one wins, the other goes to the conflict log.
    let [first, edit_a, edit_b] = &script.goal_titles;
    record!("goal", http.sync(&token_a, std::slice::from_ref(first), 11, 100).await);
    record!("edit a", http.sync(&token_a, std::slice::from_ref(edit_a), 12, 100).await);
    let (status, body) = record!("edit b", http.sync(&token_b, std::slice::from_ref(edit_b), 11, 100).await);
    assert_eq!((status, positions(&body)), (200, vec![12, 13]), "{body}");
    let conflicts = store.conflicts().await.unwrap();
    assert_eq!(conflicts.len(), 1);
    assert_eq!(
        (conflicts[0].winner.clone(), conflicts[0].loser.clone()),
        (edit_b.id.to_string(), edit_a.id.to_string())
    );

    // Jonas's device records Carla's history.
    let (status, _) = record!("c pushes", http.sync(&token_c, &script.carla_visit, 0, 100).await);
    assert_eq!(status, 200);

    // Pages of two for a new device: a key group is never split, the cursor moves to the last
    // key sent while there is more, and to the end of the log after the last page.
    let d: DeviceId = script.devices[3];
    let token_d = token(&http.enroll(&code_for(store, mette, NOW + 60_000).await, d).await.1);
    let (mut cursor, mut seen) = (0, Vec::new());
    for page in 0.. {
        let (status, body) = record!(format!("d page {page}"), http.sync(&token_d, &[], cursor, 2).await);
        assert_eq!(status, 200);
        let got = positions(&body);
        assert!(got.len() <= 2 && got.iter().all(|p| *p > cursor), "page {page}: {got:?} past {cursor}");
        seen.extend(got);
        let next = body["cursor"].as_u64().unwrap();
        if !body["more"].as_bool().unwrap() {
            assert_eq!(next, 16, "the end of the log");
            break;
        }
        assert!(next > cursor, "a page with more moves the cursor");
        cursor = next;
    }
    assert_eq!(seen, [1, 2, 4, 5, 10, 11, 12, 13, 14], "Mette's citizens' changes, each once, in order");

    // Carla moves to Mette, while Jonas's device still holds a visit with her: that visit is
    // accepted, Carla leaves Jonas's device, and Mette's device receives her whole history.
    store.assign(carla, mette, NOW).await.unwrap();
    let (status, body) = record!("c pushes late", http.sync(&token_c, &script.carla_late_visit, 16, 100).await);
    assert_eq!((status, body["removed_citizens"].clone()), (200, json!([carla])), "{body}");
    let (_, body) = record!("d back-fill", http.sync(&token_d, &[], 16, 100).await);
    assert_eq!(
        positions(&body),
        [7, 8, 15, 16, 18, 19],
        "Carla's profile, the visit before and the one after the move"
    );
    assert_eq!(body["cursor"].as_u64(), Some(19));
    let (_, body) = record!("d again", http.sync(&token_d, &[], 19, 100).await);
    assert_eq!(positions(&body), Vec::<u64>::new());

    // A revoked device hears so.
    store.revoke(c, NOW).await.unwrap();
    let (status, body) = record!("c revoked", http.sync(&token_c, &[], 19, 100).await);
    assert_eq!((status, body["code"].as_str()), (401, Some("device.revoked")));

    let changes = serde_json::to_value(store.changes().await.unwrap()).unwrap();
    transcript.push(("changes".into(), 0, script.normalize(changes)));
    let devices: Vec<_> =
        store.devices().await.unwrap().into_iter().map(|d| (d.device, d.worker, d.last_seq, d.revoked_at_ms)).collect();
    transcript.push(("devices".into(), 0, json!(devices)));
    let conflicts: Vec<_> =
        store.conflicts().await.unwrap().into_iter().map(|c| (c.citizen, c.field, c.winner, c.loser)).collect();
    transcript.push(("conflicts".into(), 0, json!(conflicts)));
    store.audit("admin".into(), "export_csv".into(), "3 responses".into(), NOW).await.unwrap();
    transcript
}

#[tokio::test]
async fn postgres_answers_every_request_as_sqlite_does() {
    let script = Script::new();
    let dir = tempfile::tempdir().unwrap();
    let sqlite = run_script(SqliteStore::open(&dir.path().join("server.db")).unwrap(), &script).await;
    let (_cluster, _, store) = pg_store("same_answers").await;
    let postgres = run_script(store, &script).await;
    assert_eq!(postgres.len(), sqlite.len());
    for (pg, lite) in postgres.iter().zip(&sqlite) {
        assert_eq!(pg, lite, "PostgreSQL (left) and SQLite (right) differ at {}", lite.0);
    }
}

#[tokio::test]
async fn postgres_positions_commit_in_order_while_many_devices_push() {
    const DEVICES: usize = 6;
    const ROUNDS: u64 = 5;
    let (_cluster, _, store) = pg_store("concurrent_pushes").await;
    let server = server(store).await;
    let store = &server.store;
    let (team, worker, citizen): (TeamId, WorkerId, CitizenId) = (new_id(), new_id(), new_id());
    store.create_team(team, "Team".into()).await.unwrap();
    store.create_worker(worker, team, "Worker".into()).await.unwrap();
    store.create_citizen(citizen, team, CitizenProfile::adult("Anna"), NOW).await.unwrap();
    store.assign(citizen, worker, NOW).await.unwrap();
    let http = Arc::new(Http::new(&server));
    let mut enrolled = Vec::new();
    for _ in 0..=DEVICES {
        let device: DeviceId = new_id();
        let (_, body) = http.enroll(&code_for(store, worker, NOW + 60_000).await, device).await;
        enrolled.push((device, body["token"].as_str().unwrap().to_owned()));
    }
    let (_, reader_token) = enrolled.pop().unwrap();

    // The writers push two changes a round each; the reader pulls in pages of 3 all the while.
    let mut writers = Vec::new();
    for (device, token) in enrolled {
        let http = http.clone();
        writers.push(tokio::spawn(async move {
            for round in 0..ROUNDS {
                let push = visit_and_ors(device, citizen, worker, round * 2 + 1, 50);
                // Cursor 0: a writer takes a page too; only the reader's pages are checked.
                let (status, body) = http.sync(&token, &push, 0, 1).await;
                assert_eq!(status, 200, "{body}");
            }
        }));
    }
    let (mut cursor, mut seen) = (0, Vec::new());
    let mut writers_done = false;
    loop {
        let (status, body) = http.sync(&reader_token, &[], cursor, 3).await;
        assert_eq!(status, 200, "{body}");
        seen.extend(positions(&body));
        cursor = body["cursor"].as_u64().unwrap();
        if writers_done && !body["more"].as_bool().unwrap() {
            break;
        }
        writers_done = writers.iter().all(|w| w.is_finished());
    }
    for writer in writers {
        writer.await.unwrap();
    }
    // Positions 1–2 the profile, 3 the assignment, then the pushes.
    let total = 3 + DEVICES as u64 * ROUNDS * 2;
    let expected: Vec<u64> = (1..=total).filter(|p| *p != 3).collect();
    assert_eq!(seen, expected, "every change once, in order, none skipped by a cursor");
    assert_eq!(cursor, total);
}

#[tokio::test]
async fn postgres_keeps_everything_across_a_server_restart() {
    let (_cluster, url, store) = pg_store("restart").await;
    let first = server(store).await;
    let store = first.store.clone();
    let (team, worker, citizen): (TeamId, WorkerId, CitizenId) = (new_id(), new_id(), new_id());
    store.create_team(team, "Team".into()).await.unwrap();
    store.create_worker(worker, team, "Worker".into()).await.unwrap();
    store.create_citizen(citizen, team, CitizenProfile::adult("Anna"), NOW).await.unwrap();
    store.assign(citizen, worker, NOW).await.unwrap();
    let device: DeviceId = new_id();
    let http = Http::new(&first);
    let (_, body) = http.enroll(&code_for(&store, worker, NOW + 60_000).await, device).await;
    let token = body["token"].as_str().unwrap().to_owned();
    let push = visit_and_ors(device, citizen, worker, 1, 60);
    assert_eq!(http.sync(&token, &push, 0, 100).await.0, 200);
    let addr = first.addr;
    assert!(first.shut_down().await.is_none());
    drop(store);

    // A new store on the same database (the migrations run again and change nothing), and two
    // at once, as two servers starting together would.
    let (again, other) = tokio::join!(PgStore::connect(&url), PgStore::connect(&url));
    other.unwrap();
    let second =
        LiveServer::start_with(again.unwrap(), None, Some(addr), |s| s.now_ms = Arc::new(|| NOW)).await.unwrap();
    let http = Http::new(&second);
    let (status, body) = http.sync(&token, &push, 0, 100).await;
    assert_eq!((status, body["acknowledged_seq"].as_u64()), (200, Some(2)), "the token and the sequence survive");
    let stored = second.store.changes().await.unwrap();
    assert_eq!(stored.len(), 4, "two profile fields and the visit, once");
    assert_eq!(stored[2..], push[..]);
    let devices = second.store.devices().await.unwrap();
    assert_eq!((devices.len(), devices[0].device, devices[0].last_seq), (1, device, 2));
    let reader: DeviceId = new_id();
    let (_, body) = http.enroll(&code_for(&second.store, worker, NOW + 60_000).await, reader).await;
    let (_, pulled) = http.sync(body["token"].as_str().unwrap(), &[], 0, 100).await;
    assert_eq!(positions(&pulled), [1, 2, 4, 5]);
}
