//! The real app locked: the lock is the service's (the idle time locks it with no timer in the
//! window), a locked app answers no worker command however the page calls it, and a locked app
//! still sends the visits recorded before it locked and fetches another device's, with nobody
//! unlocking it.

use fit_protocol::ChangeBody;
use fit_server::store::ServerStore;
use fit_tests::app::{RealApp, SeedingDevice, now_ms};
use fit_tests::server::{LiveServer, create_caseload, enrollment_code};
use serde_json::{Value, json};

const PIN: &str = "482615";
/// The idle limit the app is started with: long enough for the harness's taps to follow each
/// other, short enough to wait for.
const IDLE_SECONDS: u64 = 8;

/// Every command the window may invoke: what the capability file grants it.
fn granted_commands() -> Vec<String> {
    let path = fit_tests::repo_root().join("src-tauri/capabilities/main.json");
    let capability: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    capability["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p.as_str()?.strip_prefix("allow-").map(|c| c.replace('-', "_")))
        .collect()
}

/// Arguments of the right shape for each command, naming records that need not exist: a locked
/// app must refuse before it looks.
fn arguments(command: &str) -> Value {
    let id = "01a25348-7630-7716-85ea-26f8a6fbaef2";
    let other = "01a25348-7638-74cb-940a-71f05358edd9";
    let not_given = json!({ "kind": "not_given", "reason": "declined" });
    match command {
        "enroll_device" => json!({ "server_url": "http://127.0.0.1:9", "code": "ABCD-EFGH", "certificate": null }),
        "change_pin" => json!({ "old_pin": "111111", "new_pin": "222222" }),
        "get_citizen" | "start_visit" => json!({ "citizen": id }),
        "record_response" => {
            json!({ "visit": id, "input": { "scale": "ors", "content": { "not_given": { "reason": "declined" } } } })
        }
        "correct_response" => json!({ "response": id, "correction": not_given }),
        "record_paper" => {
            json!({ "citizen": id, "paper_day": "2026-12-01", "scale": "ors", "answers": [["individually", 50]] })
        }
        "close_visit" | "cancel_visit" => json!({ "visit": id }),
        "start_group_visit" => json!({ "citizens": [id, other] }),
        "get_group" | "close_group_visit" => json!({ "group": id }),
        "add_note" => json!({ "citizen": id, "visit": null, "body": "En note." }),
        "set_goal" => json!({ "citizen": id, "goal": null, "title": "Et mål", "status": null }),
        "delete_goal" => json!({ "citizen": id, "goal": other }),
        "enter_citizen_mode" => json!({ "visit": id, "scale": "ors" }),
        "save_settings" => json!({ "settings": {
            "lang": "en", "auto_lock_minutes": 60,
            "nightly": { "enabled": false, "minute_of_day": 120, "utc_offset_minutes": 60 } } }),
        "set_up_device" | "unlock_app" | "leave_citizen_mode" => json!({ "pin": "000000" }),
        "get_scale" => json!({ "code": "ors" }),
        "record_citizen_answer" => json!({ "answer": not_given }),
        "speak_text" => json!({ "text": "Hej", "lang": "da" }),
        _ => json!({}),
    }
}

/// What a locked app answers besides "locked", and why each may answer: the lock screen's own
/// commands, what holds nothing of anyone, and citizen mode's (off while locked).
fn answered_while_locked(command: &str) -> Option<&'static str> {
    Some(match command {
        "get_status" | "lock_app" => "the lock screen's",
        // Not tried: a wrong PIN here counts towards the wipe.
        "unlock_app" => return None,
        "set_up_device" => "refused as set up already",
        "get_scale" | "get_settings" | "get_sync_status" => "nothing of anyone",
        "get_speech_available" | "speak_text" | "stop_speech" => "reads aloud what it is given",
        "record_citizen_answer" | "leave_citizen_mode" => "citizen mode is off",
        _ => return None,
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_locked_app_answers_no_worker_command_and_syncs_with_nobody_unlocking_it() {
    let server = LiveServer::start(|_| {}).await.unwrap();
    let caseload = create_caseload(&server.store, now_ms()).await.unwrap();
    let seeder = SeedingDevice::enroll(&server, caseload).await.unwrap();
    seeder.seed_citizen(caseload, caseload.citizen, "Borger L", 60, 90).await.unwrap();
    let code = enrollment_code(&server.store, caseload.worker, now_ms()).await.unwrap();
    let args = [
        "--server",
        &server.url(),
        "--enroll-code",
        &code,
        "--pin",
        PIN,
        "--auto-lock-seconds",
        &IDLE_SECONDS.to_string(),
        "--sync-retry-max-seconds",
        "2",
        "--sync-interval-seconds",
        "3",
    ]
    .map(String::from);
    let app = RealApp::start(&args).await.unwrap();
    let card = format!("citizen-{}", caseload.citizen);
    app.find(&card).await.unwrap();

    // Offline, the worker records a visit: every scale not given, then closed.
    let addr = server.addr;
    let data = server.stop().await;
    app.click(&card).await.unwrap();
    app.click("start-visit").await.unwrap();
    for scale in ["ors", "who5", "srs"] {
        app.find(&format!("step-{scale}")).await.unwrap();
        app.click("not-given").await.unwrap();
        app.click("save-not-given").await.unwrap();
    }
    app.click("close-visit").await.unwrap();
    app.find("start-visit").await.unwrap();

    // The worker leaves the device: the service locks it after the idle time, with no timer in
    // the window and no tap.
    let idle_from = std::time::Instant::now();
    app.find("unlock-pin").await.unwrap();
    let waited = idle_from.elapsed();
    println!("locked by the service after {waited:?} idle (limit {IDLE_SECONDS} s)");
    assert!(waited >= std::time::Duration::from_secs(IDLE_SECONDS - 2), "not before the idle limit: {waited:?}");
    let status = app.invoke_from_page("get_status").await.unwrap();
    assert_eq!(status["ok"]["unlocked"], false, "{status}");

    // Locked, it answers no worker command, however the page calls it.
    let commands = granted_commands();
    assert!(commands.len() > 25, "{commands:?}");
    for command in &commands {
        let answer = app.invoke_with(command, arguments(command)).await.unwrap();
        match answered_while_locked(command) {
            Some(_) => assert_ne!(answer["error"]["code"], "device.locked", "{command}: {answer}"),
            None if command == "unlock_app" => {}
            None => assert_eq!(answer["error"]["code"], "device.locked", "{command} answered while locked: {answer}"),
        }
        if command == "set_up_device" {
            assert_eq!(answer["error"]["code"], "store.already_set_up", "{answer}");
        }
    }
    let view = app.invoke_from_page("get_sync_status").await.unwrap();
    assert_eq!(view["ok"]["pending_changes"], Value::Null, "not even how much waits: {view}");

    // The server comes back, and another device of the worker records a visit meanwhile.
    let server = LiveServer::start_in(data, Some(addr), |_| {}).await.unwrap();
    seeder.seed_visit(caseload.citizen, 70, 95).await.unwrap();
    // The locked app sends its visit by itself.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let seed_device = seeder.device_id().unwrap();
    loop {
        let changes = server.store.changes().await.unwrap();
        let sent = changes.iter().any(|c| c.device != seed_device && matches!(c.body, ChangeBody::VisitClosed { .. }));
        if sent {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the locked app did not send its visit within 60 s");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    // And fetches the other device's: once its last sync is after the other device's visit.
    let seeded_at = now_ms();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let view = app.invoke_from_page("get_sync_status").await.unwrap();
        if view["ok"]["last_sync_ms"].as_u64().is_some_and(|at| at >= seeded_at) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the locked app did not sync again: {view}");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    app.find("locked-sync").await.unwrap();
    app.screenshot("40-locked-and-syncing").await.unwrap();
    let still = app.invoke_from_page("get_status").await.unwrap();
    assert_eq!(still["ok"]["unlocked"], false, "nobody unlocked it: {still}");

    // Offline again, the worker unlocks: the other device's visit is there, fetched while locked.
    let data = server.stop().await;
    app.type_into("unlock-pin", PIN).await.unwrap();
    app.click("unlock").await.unwrap();
    let page = app.invoke_with("get_citizen", json!({ "citizen": caseload.citizen.to_string() })).await.unwrap();
    let visits = page["ok"]["visits"].as_array().map_or(0, Vec::len);
    assert_eq!(visits, 3, "the seeded visit, the app's own and the other device's: {page}");

    // The device is lost, locked; the municipality withdraws it on the server. At its next
    // contact it erases its store, and the first screen says why.
    app.click("lock").await.unwrap();
    app.find("unlock-pin").await.unwrap();
    let server = LiveServer::start_in(data, Some(addr), |_| {}).await.unwrap();
    let changes = server.store.changes().await.unwrap();
    let app_device = changes
        .iter()
        .find(|c| c.device != seed_device && matches!(c.body, ChangeBody::VisitStarted { .. }))
        .map(|c| c.device)
        .expect("the app's visit");
    server.store.revoke(app_device, now_ms()).await.unwrap();
    app.find("withdrawn").await.unwrap();
    app.screenshot("41-withdrawn").await.unwrap();
    let left: Vec<String> = std::fs::read_dir(app.data_dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(left.iter().all(|name| !name.starts_with("fit-field")), "the store's files are gone: {left:?}");
    app.stop().await.unwrap();
}
