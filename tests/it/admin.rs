//! Administration against a real server on loopback, on every backend: enrollment codes that are
//! revoked, expired or too long-lived; a deactivated worker's devices; device tokens that rotate
//! (a lost answer, an overlapping request, the old token after its grace period); the audit log.
//! The same story runs on SQLite and PostgreSQL and both must tell it in the same words; then a
//! real device rotates its token through the product's `SyncClient` over a relay that loses the
//! answer carrying the new token.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use fit_core::ids::{DeviceId, WorkerId};
use fit_device::SystemClock;
use fit_device::sync::{SyncClient, SyncConfig, SyncError};
use fit_protocol::{Change, ErrorCode};
use fit_server::rules::token::TokenPolicy;
use fit_server::secret_hash;
use fit_server::store::{CodeRef, ServerStore, StoreError};
use fit_tests::app::now_ms;
use fit_tests::app::{enrolled_device, set_up_device};
use fit_tests::server::{LiveServer, Relay, create_caseload, new_id};
use serde_json::{Value, json};

const NOW: u64 = 1_795_392_000_000;
const HOUR: u64 = 3_600_000;
const POLICY: TokenPolicy = TokenPolicy { rotate_after_ms: HOUR, grace_ms: 10 * 60_000 };

struct Story<S: ServerStore> {
    server: LiveServer<S>,
    clock: Arc<AtomicU64>,
    http: reqwest::Client,
    lines: Vec<String>,
}

impl<S: ServerStore> Story<S> {
    async fn start(store: S) -> Story<S> {
        let clock = Arc::new(AtomicU64::new(NOW));
        let time = clock.clone();
        let server = LiveServer::start_with(store, None, None, move |state| {
            state.now_ms = Arc::new(move || time.load(Ordering::SeqCst));
            state.tokens = POLICY;
        })
        .await
        .unwrap();
        Story { server, clock, http: reqwest::Client::new(), lines: Vec::new() }
    }

    fn now(&self) -> u64 {
        self.clock.load(Ordering::SeqCst)
    }

    fn advance(&self, ms: u64) {
        self.clock.fetch_add(ms, Ordering::SeqCst);
    }

    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        let mut request = self.http.post(format!("{}{path}", self.server.url())).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
    }

    /// Enrolls `device` with `code`; notes the answer; returns the token if there is one.
    async fn enroll(&mut self, what: &str, code: &str, device: DeviceId) -> Option<String> {
        let (status, body) =
            self.post("/api/v1/enroll", None, json!({"protocol": 1, "code": code, "device": device})).await;
        self.lines.push(format!("{what}: {status} {}", body["code"].as_str().unwrap_or("ok")));
        body["token"].as_str().map(str::to_owned)
    }

    /// Syncs with `token`; notes the status, the code, how many changes came and whether a new
    /// token did; returns the answer.
    async fn sync(&mut self, what: &str, token: &str, push: &[Change]) -> Value {
        let body = json!({"protocol": 1, "push": push, "cursor": 0, "pull_limit": 100});
        let (status, answer) = self.post("/api/v1/sync", Some(token), body).await;
        let changes = answer["changes"].as_array().map_or(0, Vec::len);
        let new_token = if answer["new_token"].is_string() { "a new token" } else { "no new token" };
        let code = answer["code"].as_str().unwrap_or("ok");
        self.lines.push(format!("{what}: {status} {code}, {changes} changes, {new_token}"));
        answer
    }

    async fn code(&self, worker: WorkerId, valid_ms: u64) -> (String, Result<uuid::Uuid, StoreError>) {
        let code = uuid::Uuid::now_v7().simple().to_string();
        let id =
            self.server.store.create_enrollment_code(secret_hash(&code), worker, self.now(), self.now() + valid_ms);
        (code, id.await)
    }

    fn note<T>(&mut self, what: &str, result: Result<T, StoreError>) {
        let said = result.map_or_else(|e| e.code().as_str().to_owned(), |_| "ok".to_owned());
        self.lines.push(format!("{what}: {said}"));
    }
}

/// The story; returns what happened, line by line, in words that name no id or token.
async fn story<S: ServerStore>(store: S) -> Vec<String> {
    let mut s = Story::start(store).await;
    let store = s.server.store.clone();
    let caseload = create_caseload(&store, NOW).await.unwrap();
    let device: DeviceId = new_id();
    let (code, _) = s.code(caseload.worker, HOUR).await;
    let first = s.enroll("enroll", &code, device).await.unwrap();
    s.sync("first pull", &first, &[]).await;

    // An hour on, the token is due: the answer carries the next one, and carries the same one
    // again when the device, having lost it, asks with the old token.
    s.advance(HOUR);
    let rotated = s.sync("the token is due", &first, &[]).await["new_token"].as_str().unwrap().to_owned();
    let again = s.sync("the answer was lost: the old token still works", &first, &[]).await;
    assert_eq!(again["new_token"].as_str(), Some(rotated.as_str()), "a lost answer gets the same new token");
    s.sync("the new token, first used", &rotated, &[]).await;
    s.advance(60_000);
    s.sync("an overlapping request with the old token, in the grace period", &first, &[]).await;
    s.advance(POLICY.grace_ms);
    s.sync("the old token after the grace period", &first, &[]).await;
    s.sync("the new token still", &rotated, &[]).await;

    // Codes: revoked by id and by the code, expired, too long-lived, unknown.
    let (by_id, id) = s.code(caseload.worker, HOUR).await;
    s.note("revoke a code by its id", store.revoke_enrollment_code(CodeRef::Id(id.unwrap()), s.now()).await);
    s.enroll("enroll with a code revoked by id", &by_id, new_id()).await;
    let (by_code, _) = s.code(caseload.worker, HOUR).await;
    s.note(
        "revoke a code by itself",
        store.revoke_enrollment_code(CodeRef::Hash(secret_hash(&by_code)), s.now()).await,
    );
    s.enroll("enroll with a code revoked by itself", &by_code, new_id()).await;
    s.note("revoke an unknown code", store.revoke_enrollment_code(CodeRef::Id(new_id::<uuid::Uuid>()), s.now()).await);
    let (expired, _) = s.code(caseload.worker, 1).await;
    s.advance(1);
    s.enroll("enroll with an expired code", &expired, new_id()).await;
    let too_long = s.code(caseload.worker, 168 * HOUR + 1).await.1;
    s.note("a code valid for a week and a millisecond", too_long);
    let week = s.code(caseload.worker, 168 * HOUR).await.1;
    s.note("a code valid for a week", week);

    // The worker is deactivated: the device is refused and keeps its work; no code is made or
    // used for the worker; once active again, the device's work arrives.
    let (before, _) = s.code(caseload.worker, HOUR).await;
    s.note("deactivate the worker", store.set_worker_active(caseload.worker, false, s.now()).await);
    let work = fit_protocol::demo::visit_with_ors(device, caseload.citizen, caseload.worker, (1, s.now()), 60);
    s.sync("a deactivated worker's device", &rotated, &work).await;
    let during = s.code(caseload.worker, HOUR).await.1;
    s.note("a code for a deactivated worker", during);
    s.enroll("enroll with a code made before the deactivation", &before, new_id()).await;
    s.note("deactivate an unknown worker", store.set_worker_active(new_id(), false, s.now()).await);
    s.note("reactivate the worker", store.set_worker_active(caseload.worker, true, s.now()).await);
    let answer = s.sync("the device of a reactivated worker", &rotated, &work).await;
    assert_eq!(answer["acknowledged_seq"], json!(work.len()), "the work kept on the device arrives");
    let held = store.changes().await.unwrap().iter().filter(|c| c.device == device).count();
    s.lines.push(format!("changes from the device on the server: {held}"));

    // The team's well-being schedule reaches the device with the last page of a sync.
    s.lines.push(format!("the schedule before one is set: {}", answer["wellbeing_schedule"]));
    let monthly = fit_core::Schedule { at_first_visit: true, every_days: Some(28) };
    s.note("set the team's schedule", store.set_team_schedule(caseload.team, monthly).await);
    s.note("a schedule for an unknown team", store.set_team_schedule(new_id(), monthly).await);
    let answer = s.sync("a sync after the schedule is set", &rotated, &[]).await;
    s.lines.push(format!("the schedule sent: {}", answer["wellbeing_schedule"]));

    // The audit log: every non-empty pull, by device and citizen ids; no name anywhere.
    let log = store.audit_log().await.unwrap();
    for entry in &log {
        assert!(!entry.subject.contains("Anna") && !entry.subject.contains("Worker"), "{entry:?}");
        let actor = if entry.actor == device.to_string() { "the device" } else { entry.actor.as_str() };
        let subject = entry.subject.replace(&caseload.citizen.to_string(), "CITIZEN");
        s.lines.push(format!("audit: {actor} {} {subject}", entry.action));
    }
    s.server.shut_down().await;
    s.lines
}

/// What the story must say, line by line (the same on every backend).
const EXPECTED: &[&str] = &[
    "enroll: 200 ok",
    "first pull: 200 ok, 2 changes, no new token",
    "the token is due: 200 ok, 2 changes, a new token",
    "the answer was lost: the old token still works: 200 ok, 2 changes, a new token",
    "the new token, first used: 200 ok, 2 changes, no new token",
    "an overlapping request with the old token, in the grace period: 200 ok, 2 changes, no new token",
    "the old token after the grace period: 401 auth.required, 0 changes, no new token",
    "the new token still: 200 ok, 2 changes, no new token",
    "revoke a code by its id: ok",
    "enroll with a code revoked by id: 422 enroll.code_revoked",
    "revoke a code by itself: ok",
    "enroll with a code revoked by itself: 422 enroll.code_revoked",
    "revoke an unknown code: enroll.code_invalid",
    "enroll with an expired code: 422 enroll.code_expired",
    "a code valid for a week and a millisecond: admin.code_validity",
    "a code valid for a week: ok",
    "deactivate the worker: ok",
    "a deactivated worker's device: 403 worker.deactivated, 0 changes, no new token",
    "a code for a deactivated worker: worker.deactivated",
    "enroll with a code made before the deactivation: 403 worker.deactivated",
    "deactivate an unknown worker: worker.unknown",
    "reactivate the worker: ok",
    "the device of a reactivated worker: 200 ok, 2 changes, no new token",
    "changes from the device on the server: 2",
    "the schedule before one is set: null",
    "set the team's schedule: ok",
    "a schedule for an unknown team: team.unknown",
    "a sync after the schedule is set: 200 ok, 2 changes, no new token",
    "the schedule sent: {\"at_first_visit\":true,\"every_days\":28}",
];

fn check(lines: &[String]) {
    let (told, audit) = lines.split_at(EXPECTED.len().min(lines.len()));
    assert_eq!(told, EXPECTED, "the story as told:\n{}", lines.join("\n"));
    let pulls = audit.iter().filter(|l| l.starts_with("audit: the device pull 2 changes about 1 citizens: CITIZEN"));
    // Eight answers sent the profile's two changes; the refused requests sent nothing.
    assert_eq!(pulls.count(), 8, "every non-empty pull is audited:\n{}", audit.join("\n"));
    assert_eq!(audit.len(), 8, "and nothing else is:\n{}", audit.join("\n"));
}

#[tokio::test]
async fn administration_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = fit_server::store::sqlite::SqliteStore::open(&dir.path().join("server.db")).unwrap();
    check(&story(store).await);
}

#[tokio::test]
async fn administration_on_postgres_tells_the_sqlite_story() {
    let cluster = fit_tests::postgres::TempCluster::shared()
        .unwrap_or_else(|e| panic!("cannot start a PostgreSQL test cluster: {e:#}"));
    let url = cluster.create_database("administration").await.unwrap_or_else(|e| panic!("{e:#}\n{}", cluster.log()));
    let postgres = story(fit_server::store::postgres::PgStore::connect(&url).await.unwrap()).await;
    let dir = tempfile::tempdir().unwrap();
    let sqlite = story(fit_server::store::sqlite::SqliteStore::open(&dir.path().join("server.db")).unwrap()).await;
    assert_eq!(postgres, sqlite, "both backends answer alike");
    check(&postgres);
}

/// A real device through a relay: the answer carrying its new token is lost; the next sync gets
/// it again, the device stores it and uses it, and the old token then dies.
#[tokio::test]
async fn a_device_rotates_its_token_through_a_lost_answer() {
    let policy = TokenPolicy { rotate_after_ms: 0, grace_ms: 1 };
    let server = LiveServer::start(move |state| state.tokens = policy).await.unwrap();
    let relay = Relay::start(server.addr).await.unwrap();
    let caseload = create_caseload(&server.store, now_ms()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let device = set_up_device(dir.path(), "975310", Arc::new(SystemClock)).unwrap();
    let client = SyncClient::new(SyncConfig::default()).unwrap();
    let code = fit_tests::server::enrollment_code(&server.store, caseload.worker, now_ms()).await.unwrap();
    client.enroll(&device, &relay.url(), &code, None).await.unwrap();
    let token = || device.lock().unwrap().store_mut().unwrap().sync_settings().unwrap().unwrap().1;
    let enrolled = token();

    relay.lose_next_answer.store(true, Ordering::SeqCst);
    assert!(matches!(client.sync_now(&device, |_| {}).await, Err(SyncError::Offline(_) | SyncError::Busy { .. })));
    assert_eq!(token(), enrolled, "a lost answer changes nothing on the device");
    client.sync_now(&device, |_| {}).await.unwrap();
    let rotated = token();
    assert_ne!(rotated, enrolled, "the answer heard carried the new token, stored");
    // The next run presents the new token (and is handed the one after it, every time here).
    client.sync_now(&device, |_| {}).await.unwrap();
    std::thread::sleep(std::time::Duration::from_millis(5));
    let http = reqwest::Client::new();
    let body = json!({"protocol": 1, "push": [], "cursor": 0, "pull_limit": 10});
    let old = http.post(format!("{}/api/v1/sync", server.url())).bearer_auth(&enrolled).json(&body).send().await;
    let old = old.unwrap();
    assert_eq!(old.status(), 401, "the enrollment token is dead once its successors are in use");
    let answer: Value = old.json().await.unwrap();
    assert_eq!(answer["code"], ErrorCode::AuthRequired.as_str());
    assert_eq!(device.lock().unwrap().sync_counters().unwrap().pending_changes, 0);
    client.sync_now(&device, |_| {}).await.unwrap();
}

/// A real device of a worker who is deactivated: sync is refused with its own code, the device
/// keeps its data and its pending visit (nothing is erased), and once the worker is active again
/// the visit arrives.
#[tokio::test]
async fn a_deactivated_workers_device_keeps_its_work_until_the_worker_is_back() {
    let server = LiveServer::start(|_| {}).await.unwrap();
    let caseload = create_caseload(&server.store, now_ms()).await.unwrap();
    let client = SyncClient::new(SyncConfig::default()).unwrap();
    let (_dir, device) = enrolled_device(&server, caseload.worker, &client).await.unwrap();
    client.sync_now(&device, |_| {}).await.unwrap();
    let visit = device.lock().unwrap().start_visit(caseload.citizen).unwrap();
    device.lock().unwrap().close_visit(visit).unwrap();
    let pending = || device.lock().unwrap().sync_counters().unwrap().pending_changes;
    assert_eq!(pending(), 2);

    server.store.set_worker_active(caseload.worker, false, now_ms()).await.unwrap();
    let refused = client.sync_now(&device, |_| {}).await.unwrap_err();
    assert_eq!(refused.code(), ErrorCode::WorkerDeactivated, "{refused}");
    assert!(!refused.is_transient(), "a person must act; the device does not hammer the server");
    assert!(device.lock().unwrap().is_set_up(), "nothing is erased");
    assert_eq!(pending(), 2, "the visit waits on the device");
    assert_eq!(device.lock().unwrap().caseload_overview().unwrap().len(), 1, "the caseload is still there");

    server.store.set_worker_active(caseload.worker, true, now_ms()).await.unwrap();
    client.sync_now(&device, |_| {}).await.unwrap();
    assert_eq!(pending(), 0);
    let held = server.store.changes().await.unwrap().iter().filter(|c| c.citizen() == caseload.citizen).count();
    assert_eq!(held, 4, "the profile's two changes and the visit's two");
}

/// A team's well-being schedule, set on the server, reaches a real device at its next sync, and
/// the caseload's due date and the visit's plan follow it.
#[tokio::test]
async fn a_team_schedule_set_on_the_server_reaches_the_device_at_its_next_sync() {
    let server = LiveServer::start(|_| {}).await.unwrap();
    let caseload = create_caseload(&server.store, now_ms()).await.unwrap();
    let client = SyncClient::new(SyncConfig::default()).unwrap();
    let (_dir, device) = enrolled_device(&server, caseload.worker, &client).await.unwrap();
    client.sync_now(&device, |_| {}).await.unwrap();
    // No visit yet and the default schedule: due at the first visit.
    let due = || device.lock().unwrap().caseload_overview().unwrap()[0].wellbeing_due_ms;
    assert!(due().is_some_and(|at| at <= now_ms()));

    // The team measures only from four weeks after the first visit.
    let later = fit_core::Schedule { at_first_visit: false, every_days: Some(28) };
    server.store.set_team_schedule(caseload.team, later).await.unwrap();
    client.sync_now(&device, |_| {}).await.unwrap();
    let stored = device.lock().unwrap().store_mut().unwrap().wellbeing_schedule().unwrap();
    assert_eq!(stored, Some(later));
    let visit = device.lock().unwrap().start_visit(caseload.citizen).unwrap();
    let page = device.lock().unwrap().citizen_view(caseload.citizen).unwrap();
    let plan = page.visit_plan.unwrap();
    assert_eq!(plan.visit, visit);
    let start: Vec<String> = plan.start.iter().map(|s| s.scale.to_string()).collect();
    assert_eq!(start, ["ors"], "not at the first visit by this team's schedule");
    let first = page.visits[0].started_at_ms;
    assert_eq!(page.wellbeing_due_ms, Some(first + 28 * fit_core::plan::DAY_MS));
}
