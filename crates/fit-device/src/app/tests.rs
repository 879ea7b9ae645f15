use super::*;
use crate::ManualClock;
use crate::settings::NightlyWindow;
use fit_core::Lang;
use fit_store::{KdfCost, UnlockPolicy};

const PIN: &str = "246810";

/// 2026-01-01 00:00 UTC: 01:00 in Copenhagen, an hour before the default nightly window.
const NEW_YEAR_MS: u64 = 1_767_225_600_000;
const MINUTE_MS: u64 = 60_000;

fn app_at(dir: &std::path::Path, clock: Arc<ManualClock>) -> App {
    let config = DeviceConfig {
        unlock: UnlockPolicy { kdf: KdfCost::FOR_TESTS, delay_base_ms: 0, ..UnlockPolicy::default() },
        ..DeviceConfig::new(dir)
    };
    let device = Device::open(config, clock).unwrap_or_else(|e| panic!("{e}"));
    ok(App::new(device, SettingsFile::new(dir), SyncConfig::default()))
}

fn app_in(dir: &std::path::Path) -> App {
    app_at(dir, Arc::new(ManualClock::new(NEW_YEAR_MS)))
}

fn ok<T>(result: Result<T, AppError>) -> T {
    result.unwrap_or_else(|e| panic!("{e}"))
}

/// A set-up device with one citizen in its worker's caseload.
fn with_citizen(app: &App) -> CitizenId {
    ok(app.set_up(PIN));
    let mut device = lock(&app.device);
    let store = device.store_mut().unwrap_or_else(|e| panic!("{e}"));
    let (team, worker): (fit_core::ids::TeamId, fit_core::ids::WorkerId) =
        (uuid::Uuid::now_v7().into(), uuid::Uuid::now_v7().into());
    let citizen: CitizenId = uuid::Uuid::now_v7().into();
    store.set_worker(team, "Team", worker, "Worker").unwrap_or_else(|e| panic!("{e}"));
    store.assign_citizen(worker, citizen).unwrap_or_else(|e| panic!("{e}"));
    citizen
}

#[test]
fn citizen_mode_refuses_worker_actions_until_the_worker_pin() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let app = app_in(dir.path());
    let citizen = with_citizen(&app);
    let visit = ok(app.start_visit(citizen));
    ok(app.enter_citizen_mode(visit, "ors"));
    assert_eq!(app.caseload().map_err(|e| e.code.as_str()).err(), Some("citizen_mode.active"));
    assert_eq!(app.citizen(citizen).map_err(|e| e.code.as_str()).err(), Some("citizen_mode.active"));
    assert_eq!(app.close_visit(visit).map_err(|e| e.code.as_str()).err(), Some("citizen_mode.active"));
    assert!(app.scale("ors").is_ok(), "the scale itself is not personal data");

    let answers = ["individually", "interpersonally", "socially", "overall"].map(|i| (i.to_owned(), 55)).to_vec();
    ok(app.record_citizen_answer(CitizenAnswer::Given { answers: answers.clone() }));
    let again = app.record_citizen_answer(CitizenAnswer::Given { answers });
    assert_eq!(again.map_err(|e| e.code.as_str()).err(), Some("citizen_mode.done"));

    assert_eq!(app.leave_citizen_mode("000000").map_err(|e| e.code.as_str()).err(), Some("pin.wrong"));
    assert!(app.status().citizen_mode.is_some(), "a wrong PIN leaves citizen mode on");
    ok(app.leave_citizen_mode(PIN));
    assert!(app.status().citizen_mode.is_none());
    let page = ok(app.citizen(citizen));
    assert_eq!(page.open_visit, Some(visit));
    assert_eq!(page.trajectory.points.len(), 1);
}

#[test]
fn twenty_wrong_pins_at_the_citizen_mode_door_erase_nothing() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let app = app_in(dir.path());
    let citizen = with_citizen(&app);
    let visit = ok(app.start_visit(citizen));
    let pending = ok(app.sync_counters()).pending_changes;
    let max_failures = UnlockPolicy::default().max_failures;
    assert_eq!(lock(&app.device).pin_attempts_left(), Some(max_failures));
    assert_eq!(app.status().pin_attempts_left, None, "the unlock screen's, shown only there");
    let mut wrong = 0;
    while wrong < 20 {
        ok(app.enter_citizen_mode(visit, "ors"));
        for left in (0..CITIZEN_MODE_PIN_TRIES).rev() {
            let refused = app.leave_citizen_mode("000000").err().map(|e| e.code);
            wrong += 1;
            if left > 0 {
                assert_eq!(refused, Some(ErrorCode::PinWrong));
                assert_eq!(app.status().citizen_mode.map(|m| m.pin_tries_left), Some(left));
            } else {
                assert_eq!(refused, Some(ErrorCode::CitizenModeLocked), "the last try locks the app");
            }
        }
        let status = app.status();
        assert!(!status.unlocked && status.citizen_mode.is_none(), "{status:?}");
        assert_eq!(status.pin_attempts_left, Some(max_failures), "nothing counts towards the wipe");
        ok(app.unlock(PIN));
    }
    assert!(wrong >= 20);
    // Everything is still there, the unsynced visit included, and it is still open.
    assert_eq!(ok(app.sync_counters()).pending_changes, pending);
    assert_eq!(ok(app.citizen(citizen)).open_visit, Some(visit));

    // The unlock screen counts, and says how many tries are left.
    app.lock();
    assert_eq!(app.unlock("000000").err().map(|e| e.code), Some(ErrorCode::PinWrong));
    assert_eq!(app.status().pin_attempts_left, Some(max_failures - 1));
    ok(app.unlock(PIN));
    assert_eq!(lock(&app.device).pin_attempts_left(), Some(max_failures), "a right PIN resets the count");
}

#[test]
fn a_refused_answer_keeps_citizen_mode_open_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let app = app_in(dir.path());
    let citizen = with_citizen(&app);
    let visit = ok(app.start_visit(citizen));
    ok(app.enter_citizen_mode(visit, "srs"));
    let pending = ok(app.sync_counters()).pending_changes;
    let out_of_range = CitizenAnswer::Given { answers: vec![("relationship".into(), 101)] };
    assert!(app.record_citizen_answer(out_of_range).is_err());
    assert_eq!(ok(app.sync_counters()).pending_changes, pending);
    ok(app.record_citizen_answer(CitizenAnswer::NotGiven { reason: NotGivenReason::Declined }));
    assert_eq!(ok(app.sync_counters()).pending_changes, pending + 1);
}

#[test]
fn bad_input_gets_a_code_and_a_message() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let app = app_in(dir.path());
    let citizen = with_citizen(&app);
    let error = app.add_note(citizen, None, "   ").err().unwrap_or_else(|| panic!("an empty note"));
    assert_eq!(error.code, "note.invalid");
    assert_eq!(app.scale("nope").map_err(|e| e.code.as_str()).err(), Some("scale.unknown"));
    let json = serde_json::to_value(&error).unwrap_or_else(|e| panic!("{e}"));
    let message = "a note needs text, at most 10000 characters";
    assert_eq!(json, serde_json::json!({"code": "note.invalid", "message": message}));
}

#[test]
fn settings_are_a_worker_action_refused_in_citizen_mode() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let app = app_in(dir.path());
    let citizen = with_citizen(&app);
    let english = AppSettings { lang: Lang::En, ..AppSettings::default() };
    assert_eq!(ok(app.save_settings(english)), english);
    let visit = ok(app.start_visit(citizen));
    ok(app.enter_citizen_mode(visit, "ors"));

    let danish = AppSettings::default();
    assert_eq!(app.save_settings(danish).map_err(|e| e.code.as_str()).err(), Some("citizen_mode.active"));
    assert_eq!(app.settings(), english, "a refused change leaves the settings as they were");
    assert_eq!(SettingsFile::new(dir.path()).load(), english, "and the file too");

    ok(app.leave_citizen_mode(PIN));
    ok(app.save_settings(danish));
    assert_eq!(SettingsFile::new(dir.path()).load(), danish);
}

#[test]
fn the_nightly_task_sleeps_towards_the_window_ten_minutes_at_a_time() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let clock = Arc::new(ManualClock::new(NEW_YEAR_MS));
    let app = app_at(dir.path(), clock.clone());
    ok(app.set_up(PIN));
    // The default window, 02:00 in Copenhagen, is an hour away: the task looks again in ten minutes.
    let window = NEW_YEAR_MS + 60 * MINUTE_MS;
    assert_eq!(app.nightly_wait(), (NIGHTLY_CHECK_MAX, Some(window)));
    clock.set(window - 4 * MINUTE_MS);
    assert_eq!(app.nightly_wait(), (Duration::from_millis(4 * MINUTE_MS), Some(window)));

    // A saved window counts at once: 01:58 in Copenhagen is two minutes after 01:56.
    let settings = app.settings();
    let earlier = NightlyWindow { minute_of_day: 60 + 58, ..settings.nightly };
    ok(app.save_settings(AppSettings { nightly: earlier, ..settings }));
    assert_eq!(app.nightly_wait(), (Duration::from_millis(2 * MINUTE_MS), Some(window - 2 * MINUTE_MS)));
    let off = NightlyWindow { enabled: false, ..settings.nightly };
    ok(app.save_settings(AppSettings { nightly: off, ..settings }));
    assert_eq!(app.nightly_wait(), (NIGHTLY_CHECK_MAX, None));
}

#[tokio::test]
async fn a_write_wakes_the_sync_engine_and_a_refused_one_does_not() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let app = app_in(dir.path());
    let citizen = with_citizen(&app);
    let woken = || tokio::time::timeout(Duration::from_millis(20), app.wake.notified());
    assert!(woken().await.is_err(), "setting up is not a write to send");
    ok(app.start_visit(citizen));
    assert!(woken().await.is_ok());
    assert!(app.add_note(citizen, None, "   ").is_err());
    assert!(woken().await.is_err());
}

#[test]
fn the_sync_view_is_the_status_with_the_counters_beside_it() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let app = app_in(dir.path());
    let citizen = with_citizen(&app);
    ok(app.start_visit(citizen));
    let view = serde_json::to_value(app.sync_view()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(view["online"], false);
    assert_eq!(view["progress"]["restamped"], 0);
    assert_eq!(view["pending_changes"], ok(app.sync_counters()).pending_changes);
    app.lock();
    let view = serde_json::to_value(app.sync_view()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(view["pending_changes"], serde_json::Value::Null, "unknown while the app is locked");
}

/// A speech engine that speaks nothing and writes down every request, in order: the stand-in
/// for the device's engine, behind the same trait.
#[derive(Debug, Default)]
struct Recorder {
    heard: Mutex<Vec<Heard>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Heard {
    Spoken(String, Lang),
    Stopped,
}

impl Speech for Recorder {
    fn is_available(&self) -> bool {
        true
    }

    fn speak(&self, text: &str, lang: Lang) -> Result<(), SpeechError> {
        lock(&self.heard).push(Heard::Spoken(text.to_owned(), lang));
        Ok(())
    }

    fn stop(&self) -> Result<(), SpeechError> {
        lock(&self.heard).push(Heard::Stopped);
        Ok(())
    }
}

#[test]
fn citizen_mode_reads_aloud_what_it_is_given_in_the_language_it_is_given() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let recorder = Arc::new(Recorder::default());
    let app = app_in(dir.path()).with_speech(recorder.clone());
    let citizen = with_citizen(&app);
    let visit = ok(app.start_visit(citizen));
    ok(app.enter_citizen_mode(visit, "who5"));
    assert_eq!(app.caseload().map_err(|e| e.code.as_str()).err(), Some("citizen_mode.active"));

    assert!(app.speech_available(), "read-aloud is offered in citizen mode");
    ok(app.speak("  Jeg har været glad og i godt humør. Hele tiden. Aldrig.\n", Lang::Da));
    ok(app.stop_speech());
    ok(app.speak("I have felt cheerful and in good spirits.", Lang::En));
    let nothing = app.speak(" \n", Lang::Da);
    assert_eq!(nothing.map_err(|e| e.code.as_str()).err(), Some("input.invalid"));
    let too_long = app.speak(&"a".repeat(speech::SPEECH_TEXT_CHARS_MAX + 1), Lang::Da);
    assert_eq!(too_long.map_err(|e| e.code.as_str()).err(), Some("input.invalid"));

    assert_eq!(
        *lock(&recorder.heard),
        [
            Heard::Spoken("Jeg har været glad og i godt humør. Hele tiden. Aldrig.".into(), Lang::Da),
            Heard::Stopped,
            Heard::Spoken("I have felt cheerful and in good spirits.".into(), Lang::En),
        ],
        "trimmed, in the language asked for; a refused text reaches no engine"
    );
}

#[test]
fn without_a_speech_engine_read_aloud_is_not_offered_and_says_so() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let app = app_in(dir.path());
    assert!(!app.speech_available());
    assert_eq!(app.speak("Hej", Lang::Da).map_err(|e| e.code.as_str()).err(), Some("speech.unavailable"));
    ok(app.stop_speech());
}

#[test]
fn idle_time_locks_the_app_whatever_the_window_does() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let clock = Arc::new(ManualClock::new(NEW_YEAR_MS));
    let app = app_at(dir.path(), clock.clone());
    let citizen = with_citizen(&app);
    let limit = MINUTE_MS * u64::from(app.settings().auto_lock_minutes);
    ok(app.caseload());
    clock.advance(limit - 1);
    assert_eq!(app.idle_check(), Duration::from_millis(1), "sleeps until the limit");
    assert!(app.status().unlocked);
    // A worker action, or the window saying the worker is using it, counts from now.
    ok(app.note_activity());
    clock.advance(limit - 1);
    app.idle_check();
    assert!(app.status().unlocked);
    clock.advance(1);
    app.idle_check();
    assert!(!app.status().unlocked, "locked after the idle limit");
    assert_eq!(app.caseload().map_err(|e| e.code.as_str()).err(), Some("device.locked"));
    assert_eq!(app.note_activity().map_err(|e| e.code.as_str()).err(), Some("device.locked"));

    // Never while a citizen holds the device.
    ok(app.unlock(PIN));
    let visit = ok(app.start_visit(citizen));
    ok(app.enter_citizen_mode(visit, "ors"));
    clock.advance(limit * 3);
    app.idle_check();
    assert!(app.status().unlocked, "citizen mode is not locked under the citizen's hands");
}

#[test]
fn a_shorter_idle_limit_is_taken_up_at_once() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let clock = Arc::new(ManualClock::new(NEW_YEAR_MS));
    let app = app_at(dir.path(), clock.clone()).with_idle_limit(Duration::from_secs(2));
    with_citizen(&app);
    ok(app.caseload());
    assert_eq!(app.idle_check(), Duration::from_secs(2));
    clock.advance(2_000);
    app.idle_check();
    assert!(!app.status().unlocked);
}

#[test]
fn a_locked_app_keeps_its_store_open_for_sync_and_a_wrong_pin_does_not_close_it() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let app = app_in(dir.path());
    let citizen = with_citizen(&app);
    let visit = ok(app.start_visit(citizen));
    app.lock();
    let status = app.status();
    assert!(!status.unlocked && status.worker_name.is_none(), "nothing of the worker's view shows: {status:?}");
    assert_eq!(app.citizen(citizen).map_err(|e| e.code.as_str()).err(), Some("device.locked"));
    assert_eq!(app.close_visit(visit).map_err(|e| e.code.as_str()).err(), Some("device.locked"));
    // The sync engine still reads what waits to be sent; the window is not told.
    assert_eq!(ok(app.sync_counters()).pending_changes, 1);
    assert_eq!(app.sync_view().pending_changes, None);
    assert_eq!(app.unlock("000000").map_err(|e| e.code.as_str()).err(), Some("pin.wrong"));
    assert!(lock(&app.device).is_open(), "a wrong PIN does not stop the locked device's sync");
    ok(app.unlock(PIN));
    ok(app.close_visit(visit));
}
