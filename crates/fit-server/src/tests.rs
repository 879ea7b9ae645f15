//! Router tests without sockets, over a real SQLite store in a temporary directory.

use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use fit_core::Hlc;
use fit_core::ids::{CitizenId, DeviceId, GoalId, TeamId, WorkerId};
use fit_core::merge::Version;
use fit_protocol::{Change, ChangeBody, Entity, FieldName};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use super::*;
use crate::store::CitizenProfile;
use crate::store::sqlite::SqliteStore;

const NOW: u64 = 1_795_392_000_000;

fn id<T: From<uuid::Uuid>>() -> T {
    T::from(uuid::Uuid::now_v7())
}

struct Server {
    _dir: tempfile::TempDir,
    state: AppState<SqliteStore>,
    worker: WorkerId,
    citizen: CitizenId,
    team: TeamId,
}

async fn server() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("server.db")).unwrap();
    let mut state = AppState::new(store).unwrap();
    state.now_ms = Arc::new(|| NOW);
    let (team, worker, citizen) = (id(), id(), id());
    state.store.create_team(team, "Team Øst".into()).await.unwrap();
    state.store.create_worker(worker, team, "Worker".into()).await.unwrap();
    state.store.create_citizen(citizen, team, CitizenProfile::adult("Anna"), NOW).await.unwrap();
    state.store.assign(citizen, worker, NOW).await.unwrap();
    Server { _dir: dir, state, worker, citizen, team }
}

impl Server {
    async fn call(&self, method: &str, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(path).header("content-type", "application/json");
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let response =
            app(self.state.clone()).oneshot(request.body(Body::from(body.to_string())).unwrap()).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    async fn code_for(&self, worker: WorkerId, expires_at_ms: u64) -> String {
        let code = uuid::Uuid::now_v7().simple().to_string();
        self.state.store.create_enrollment_code(secret_hash(&code), worker, NOW, expires_at_ms).await.unwrap();
        code
    }

    /// Enrolls a new device of `worker`; returns its id and token.
    async fn enroll(&self, worker: WorkerId) -> (DeviceId, String) {
        let device: DeviceId = id();
        let code = self.code_for(worker, NOW + 60_000).await;
        let (status, body) =
            self.call("POST", "/api/v1/enroll", None, json!({"protocol": 1, "code": code, "device": device})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        (device, body["token"].as_str().unwrap().to_owned())
    }

    async fn sync(&self, token: &str, push: &[Change], cursor: u64) -> (StatusCode, Value) {
        self.call(
            "POST",
            "/api/v1/sync",
            Some(token),
            json!({"protocol": 1, "push": push, "cursor": cursor, "pull_limit": 100}),
        )
        .await
    }
}

fn change(device: DeviceId, seq: u64, body: ChangeBody) -> Change {
    fit_protocol::demo::change(device, seq, NOW, body)
}

fn visit_and_ors(device: DeviceId, citizen: CitizenId, worker: WorkerId, first_seq: u64, score: i64) -> Vec<Change> {
    fit_protocol::demo::visit_with_ors(device, citizen, worker, (first_seq, NOW), score)
}

#[tokio::test]
async fn a_sync_without_a_valid_token_is_refused_before_its_body_is_read_and_counted() {
    let s = server().await;
    for token in [None, Some("not-a-token")] {
        let (status, body) = s.call("POST", "/api/v1/sync", token, json!("not a sync request")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(body["code"], "auth.required");
    }
    let (status, _) = s
        .call("POST", "/api/v1/enroll", None, json!({"protocol": 1, "code": "guess", "device": id::<DeviceId>()}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let refused = &s.state.refused;
    let counts = (refused.tokens.load(Ordering::Relaxed), refused.enrollments.load(Ordering::Relaxed));
    assert_eq!(counts, (2, 1), "every refused credential is counted");
}

#[tokio::test]
async fn health_answers_with_the_protocol_versions_it_speaks() {
    let s = server().await;
    let (status, body) = s.call("GET", "/api/v1/health", None, Value::Null).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"status": "ok", "protocol": {"min": 1, "max": 1}}));
}

#[tokio::test]
async fn an_unknown_path_gets_a_404_with_a_code() {
    let s = server().await;
    let (status, body) = s.call("GET", "/api/v1/nothing-here", None, Value::Null).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("route.not_found")));
}

#[tokio::test]
async fn an_enrollment_code_works_once_and_not_after_it_expires() {
    let s = server().await;
    let code = s.code_for(s.worker, NOW + 1).await;
    let request = json!({"protocol": 1, "code": code, "device": id::<DeviceId>()});
    let (status, body) = s.call("POST", "/api/v1/enroll", None, request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["worker"], json!(s.worker));
    assert_eq!(body["team"], json!(s.team));
    let again = json!({"protocol": 1, "code": code, "device": id::<DeviceId>()});
    assert_eq!(s.call("POST", "/api/v1/enroll", None, again).await.1["code"], "enroll.code_used");
    let expired = s.code_for(s.worker, NOW).await;
    let late = json!({"protocol": 1, "code": expired, "device": id::<DeviceId>()});
    assert_eq!(s.call("POST", "/api/v1/enroll", None, late).await.1["code"], "enroll.code_expired");
    let wrong = json!({"protocol": 1, "code": "not-a-code", "device": id::<DeviceId>()});
    assert_eq!(s.call("POST", "/api/v1/enroll", None, wrong).await.1["code"], "enroll.code_invalid");
}

#[tokio::test]
async fn a_sync_without_a_valid_token_is_refused() {
    let s = server().await;
    let (status, body) = s.sync("not-a-token", &[], 0).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("auth.required")));
}

fn pulled_changes(body: &Value) -> Vec<Change> {
    serde_json::from_value(body["changes"].as_array().unwrap().iter().map(|c| c["change"].clone()).collect()).unwrap()
}

/// The changes devices sent: without the profiles the server writes when a citizen is created.
fn without_profile(changes: &[Change]) -> Vec<Change> {
    changes
        .iter()
        .filter(|c| !matches!(c.body, ChangeBody::FieldSet { entity: Entity::Citizen { .. }, .. }))
        .cloned()
        .collect()
}

#[tokio::test]
async fn what_one_device_pushes_another_device_of_the_worker_pulls() {
    let s = server().await;
    let (a, token_a) = s.enroll(s.worker).await;
    let (_, token_b) = s.enroll(s.worker).await;
    let push = visit_and_ors(a, s.citizen, s.worker, 1, 60);
    let (status, body) = s.sync(&token_a, &push, 0).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["acknowledged_seq"], 2);
    assert_eq!(pulled_changes(&body).iter().filter(|c| c.device == a).count(), 0, "own changes are not sent back");
    let (_, pulled) = s.sync(&token_b, &[], 0).await;
    let got = pulled_changes(&pulled);
    assert_eq!(without_profile(&got), push);
    assert_eq!(got.len(), push.len() + 2, "the citizen's profile (name, age band) comes first");
    // Positions 1–2 the profile, 3 the assignment, 4–5 the push.
    assert_eq!((pulled["cursor"].as_u64(), pulled["more"].as_bool()), (Some(5), Some(false)));
    let (_, nothing) = s.sync(&token_b, &[], 5).await;
    assert_eq!((nothing["changes"].clone(), nothing["cursor"].as_u64()), (json!([]), Some(5)));
}

#[tokio::test]
async fn the_same_batch_twice_is_stored_once() {
    let s = server().await;
    let (a, token) = s.enroll(s.worker).await;
    let push = visit_and_ors(a, s.citizen, s.worker, 1, 60);
    s.sync(&token, &push, 0).await;
    let (status, body) = s.sync(&token, &push, 0).await;
    assert_eq!((status, body["acknowledged_seq"].as_u64()), (StatusCode::OK, Some(2)));
    assert_eq!(without_profile(&s.state.store.changes().await.unwrap()), push);
}

#[tokio::test]
async fn the_same_seq_with_other_content_is_a_conflict_and_changes_nothing() {
    let s = server().await;
    let (a, token) = s.enroll(s.worker).await;
    s.sync(&token, &visit_and_ors(a, s.citizen, s.worker, 1, 60), 0).await;
    let before = s.state.store.changes().await.unwrap();
    let replayed = visit_and_ors(a, s.citizen, s.worker, 1, 70);
    let (status, body) = s.sync(&token, &replayed, 0).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("change.conflict")));
    assert_eq!(s.state.store.changes().await.unwrap(), before);
}

#[tokio::test]
async fn a_batch_that_skips_sequence_numbers_is_refused_whole() {
    let s = server().await;
    let (a, token) = s.enroll(s.worker).await;
    let (status, body) = s.sync(&token, &visit_and_ors(a, s.citizen, s.worker, 3, 60), 0).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("batch.sequence_gap")));
    assert!(without_profile(&s.state.store.changes().await.unwrap()).is_empty());
}

#[tokio::test]
async fn a_change_for_another_workers_citizen_is_refused_and_the_batch_with_it() {
    let s = server().await;
    let other_worker: WorkerId = id();
    let stranger: CitizenId = id();
    s.state.store.create_worker(other_worker, s.team, "Other".into()).await.unwrap();
    s.state.store.create_citizen(stranger, s.team, CitizenProfile::adult("Bo"), NOW).await.unwrap();
    s.state.store.assign(stranger, other_worker, NOW).await.unwrap();
    let (a, token) = s.enroll(s.worker).await;
    let mut push = visit_and_ors(a, s.citizen, s.worker, 1, 60);
    push.extend(visit_and_ors(a, stranger, s.worker, 3, 60));
    let (status, body) = s.sync(&token, &push, 0).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::FORBIDDEN, Some("citizen.out_of_scope")));
    assert!(without_profile(&s.state.store.changes().await.unwrap()).is_empty());
    let (other_device, other_token) = s.enroll(other_worker).await;
    s.sync(&other_token, &visit_and_ors(other_device, stranger, other_worker, 1, 50), 0).await;
    let (_, pulled) = s.sync(&token, &[], 0).await;
    assert!(
        pulled_changes(&pulled).iter().all(|c| c.body.citizen() == s.citizen),
        "a device never receives another worker's citizen"
    );
}

#[tokio::test]
async fn a_revoked_device_is_told_so() {
    let s = server().await;
    let (a, token) = s.enroll(s.worker).await;
    s.state.store.revoke(a, NOW).await.unwrap();
    let (status, body) = s.sync(&token, &[], 0).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("device.revoked")));
}

#[tokio::test]
async fn an_unsupported_protocol_version_gets_the_supported_range() {
    let s = server().await;
    let (_, token) = s.enroll(s.worker).await;
    let request = json!({"protocol": 2, "push": [], "cursor": 0, "pull_limit": 10});
    let (status, body) = s.call("POST", "/api/v1/sync", Some(&token), request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        (body["code"].clone(), body["supported"].clone()),
        (json!("protocol.unsupported"), json!({"min": 1, "max": 1}))
    );
}

#[tokio::test]
async fn an_out_of_range_score_is_refused_with_the_response_code() {
    let s = server().await;
    let (a, token) = s.enroll(s.worker).await;
    let (status, body) = s.sync(&token, &visit_and_ors(a, s.citizen, s.worker, 1, 101), 0).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("response.out_of_range")));
    assert!(body["message"].as_str().unwrap().starts_with("change 1:"), "{body}");
}

#[tokio::test]
async fn a_malformed_body_is_a_400_with_a_code() {
    let s = server().await;
    let (_, token) = s.enroll(s.worker).await;
    let (status, body) = s.call("POST", "/api/v1/sync", Some(&token), json!({"protocol": "one"})).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("request.malformed")));
}

#[tokio::test]
async fn concurrent_edits_of_one_field_are_kept_in_the_conflict_log() {
    let s = server().await;
    let (a, token_a) = s.enroll(s.worker).await;
    let (b, token_b) = s.enroll(s.worker).await;
    let goal: GoalId = id();
    let entity = Entity::Goal { goal, citizen: s.citizen };
    let set = |device, seq, hlc: u64, title: &str, base: Option<Version>| Change {
        hlc: Hlc::new(hlc, 0),
        ..change(device, seq, ChangeBody::FieldSet { entity, field: FieldName::Title, value: json!(title), base })
    };
    let first = set(a, 1, NOW, "Finde et job", None);
    s.sync(&token_a, std::slice::from_ref(&first), 0).await;
    let base = Some(Version { hlc: first.hlc, device: a });
    let edit_a = set(a, 2, NOW + 10, "Finde et deltidsjob", base);
    let edit_b = set(b, 1, NOW + 20, "Starte på uddannelse", base);
    s.sync(&token_a, std::slice::from_ref(&edit_a), 0).await;
    s.sync(&token_b, std::slice::from_ref(&edit_b), 0).await;
    let conflicts = s.state.store.conflicts().await.unwrap();
    assert_eq!(conflicts.len(), 1);
    assert_eq!(
        (conflicts[0].winner.clone(), conflicts[0].loser.clone()),
        (edit_b.id.to_string(), edit_a.id.to_string())
    );
}

impl Server {
    /// A request with exact bytes and headers; the answer's status, headers and body bytes.
    async fn raw(&self, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> (StatusCode, HeaderMap, Vec<u8>) {
        let mut request = Request::builder().method("POST").uri(path).header("content-type", "application/json");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = app(self.state.clone()).oneshot(request.body(Body::from(body)).unwrap()).await.unwrap();
        let (parts, body) = response.into_parts();
        (parts.status, parts.headers, body.collect().await.unwrap().to_bytes().to_vec())
    }
}

fn sync_body(push: &[Change]) -> Vec<u8> {
    json!({"protocol": 1, "push": push, "cursor": 0, "pull_limit": 100}).to_string().into_bytes()
}

#[tokio::test]
async fn a_zstd_compressed_batch_is_taken_and_a_compressed_answer_given_to_who_asks() {
    let s = server().await;
    let (a, token) = s.enroll(s.worker).await;
    let push = visit_and_ors(a, s.citizen, s.worker, 1, 60);
    let packed = zstd::bulk::compress(&sync_body(&push), 3).unwrap();
    let auth = format!("Bearer {token}");
    let headers = [("authorization", auth.as_str()), ("content-encoding", "zstd"), ("accept-encoding", "zstd")];
    let (status, answer_headers, bytes) = s.raw("/api/v1/sync", &headers, packed).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&bytes));
    assert_eq!(without_profile(&s.state.store.changes().await.unwrap()), push);
    assert_eq!(answer_headers.get("content-encoding").map(|v| v.to_str().unwrap()), Some("zstd"));
    let answer: Value = serde_json::from_slice(&zstd::stream::decode_all(bytes.as_slice()).unwrap()).unwrap();
    assert_eq!(answer["acknowledged_seq"], 2);
}

#[tokio::test]
async fn a_body_too_large_on_the_wire_or_unpacked_is_refused_with_a_code_and_stores_nothing() {
    let s = server().await;
    let (_, token) = s.enroll(s.worker).await;
    let auth = format!("Bearer {token}");
    let too_long = vec![b' '; BODY_BYTES_MAX + 1];
    let (status, _, bytes) = s.raw("/api/v1/sync", &[("authorization", auth.as_str())], too_long).await;
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!((status, body["code"].as_str()), (StatusCode::PAYLOAD_TOO_LARGE, Some("request.too_large")));

    // 9 MiB of blanks packs into a few hundred bytes: the limit holds on what it unpacks to.
    let bomb = zstd::bulk::compress(&vec![b' '; 9 * 1024 * 1024], 19).unwrap();
    assert!(bomb.len() < 4096);
    let headers = [("authorization", auth.as_str()), ("content-encoding", "zstd")];
    let (status, _, bytes) = s.raw("/api/v1/sync", &headers, bomb).await;
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!((status, body["code"].as_str()), (StatusCode::PAYLOAD_TOO_LARGE, Some("request.too_large")));
    assert!(without_profile(&s.state.store.changes().await.unwrap()).is_empty());
}

#[tokio::test]
async fn an_unknown_or_broken_encoding_is_refused_with_a_code() {
    let s = server().await;
    let (_, token) = s.enroll(s.worker).await;
    let auth = format!("Bearer {token}");
    let headers = [("authorization", auth.as_str()), ("content-encoding", "br")];
    let (status, _, bytes) = s.raw("/api/v1/sync", &headers, sync_body(&[])).await;
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, Some("request.encoding_unsupported"))
    );
    let headers = [("authorization", auth.as_str()), ("content-encoding", "zstd")];
    let (status, _, bytes) = s.raw("/api/v1/sync", &headers, b"not zstd at all".to_vec()).await;
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("request.malformed")));
}

#[tokio::test]
async fn the_scale_packs_are_given_to_enrolled_devices_only() {
    let s = server().await;
    let (status, body) = s.call("GET", "/api/v1/scale-packs", None, Value::Null).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("auth.required")));
    let (_, token) = s.enroll(s.worker).await;
    let (status, body) = s.call("GET", "/api/v1/scale-packs", Some(&token), Value::Null).await;
    assert_eq!(status, StatusCode::OK);
    let packs = body.as_array().unwrap();
    assert_eq!(packs.len(), fit_core::pack::BUILT_IN_PACKS.len());
    assert!(packs.iter().all(|p| p["resourceType"] == "Questionnaire"));
}

/// GET with headers, for the scale packs' ETag.
async fn get_with(s: &Server, path: &str, headers: &[(&str, &str)]) -> (StatusCode, HeaderMap, Vec<u8>) {
    let mut request = Request::builder().method("GET").uri(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = app(s.state.clone()).oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
    let (parts, body) = response.into_parts();
    (parts.status, parts.headers, body.collect().await.unwrap().to_bytes().to_vec())
}

#[tokio::test]
async fn an_installed_pack_changes_the_tag_a_sync_carries_and_is_served_with_it_as_the_etag() {
    let s = server().await;
    let (_, token) = s.enroll(s.worker).await;
    let auth = format!("Bearer {token}");
    let (_, before) = s.sync(&token, &[], 0).await;
    let tag = before["packs_tag"].as_str().unwrap().to_owned();
    assert_eq!(tag, rules::packs::current_tag([]));
    let (status, headers, _) = get_with(&s, "/api/v1/scale-packs", &[("authorization", &auth)]).await;
    assert_eq!((status, headers["etag"].to_str().unwrap()), (StatusCode::OK, format!("\"{tag}\"").as_str()));
    let quoted = format!("\"{tag}\"");
    let (status, _, body) =
        get_with(&s, "/api/v1/scale-packs", &[("authorization", &auth), ("if-none-match", &quoted)]).await;
    assert_eq!((status, body.len()), (StatusCode::NOT_MODIFIED, 0));

    let mut pack: Value = serde_json::from_str(fit_core::pack::BUILT_IN_PACKS[1].1).unwrap();
    pack["version"] = json!("licensed-1");
    pack["extension"][2]["valueBoolean"] = json!(true);
    let admitted = install_pack(&s.state.store, "srs.json", pack.to_string().as_bytes(), NOW).await.unwrap();
    assert!(matches!(admitted, Admitted::Updated { .. }));
    let (_, after) = s.sync(&token, &[], 0).await;
    let new_tag = after["packs_tag"].as_str().unwrap().to_owned();
    assert_ne!(new_tag, tag);
    assert_eq!(new_tag, rules::packs::current_tag([("srs", "licensed-1")]));
    let (status, headers, body) =
        get_with(&s, "/api/v1/scale-packs", &[("authorization", &auth), ("if-none-match", &quoted)]).await;
    assert_eq!(status, StatusCode::OK, "the old tag is not current");
    assert_eq!(headers["etag"].to_str().unwrap(), format!("\"{new_tag}\""));
    let packs: Vec<Value> = serde_json::from_slice(&body).unwrap();
    assert!(packs.iter().any(|p| p["id"] == "srs" && p["version"] == "licensed-1"));
    assert!(s.state.packs.read().unwrap().as_ref().is_some_and(|served| served.tag == new_tag), "and in use");
}

#[tokio::test]
async fn a_citizen_moved_to_another_worker_is_removed_from_the_old_device_and_back_filled_on_the_new() {
    let s = server().await;
    let other: WorkerId = id();
    s.state.store.create_worker(other, s.team, "Other".into()).await.unwrap();
    let (a, token_a) = s.enroll(s.worker).await;
    let (_, token_b) = s.enroll(other).await;
    let (_, first) = s.sync(&token_a, &visit_and_ors(a, s.citizen, s.worker, 1, 60), 0).await;
    let cursor_a = first["cursor"].as_u64().unwrap();
    let (_, nothing) = s.sync(&token_b, &[], 0).await;
    assert_eq!(nothing["changes"], json!([]));
    let cursor_b = nothing["cursor"].as_u64().unwrap();

    s.state.store.assign(s.citizen, other, NOW).await.unwrap();
    // The old device may still push what it recorded before the move.
    let late = visit_and_ors(a, s.citizen, s.worker, 3, 70);
    let (status, moved) = s.sync(&token_a, &late, cursor_a).await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert_eq!(moved["removed_citizens"], json!([s.citizen]));
    assert_eq!(moved["changes"], json!([]));
    let (_, again) = s.sync(&token_a, &[], moved["cursor"].as_u64().unwrap()).await;
    assert_eq!(again["removed_citizens"], json!([]), "said once");

    // The new worker's device gets the whole history, its profile first.
    let (_, arrived) = s.sync(&token_b, &[], cursor_b).await;
    let got = pulled_changes(&arrived);
    assert_eq!(got.len(), 2 + 4, "{arrived}");
    assert!(matches!(got[0].body, ChangeBody::FieldSet { .. }));
    assert_eq!(arrived["more"], false);
    // And a device that cannot take it all in one page gets it in pages, without a gap.
    let (_, token_c) = s.enroll(other).await;
    let mut seen = Vec::new();
    let mut cursor = 0;
    loop {
        let (_, page) = s
            .call(
                "POST",
                "/api/v1/sync",
                Some(&token_c),
                json!({"protocol": 1, "push": [], "cursor": cursor, "pull_limit": 4}),
            )
            .await;
        seen.extend(pulled_changes(&page));
        cursor = page["cursor"].as_u64().unwrap();
        if page["more"] == false {
            break;
        }
    }
    assert_eq!(seen, got, "one citizen's history is never split into a gap");
}
