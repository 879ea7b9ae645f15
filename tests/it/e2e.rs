//! The real app, driven through WebDriver (tauri-driver + WebKitWebDriver under Xvfb), against a
//! real fit-server on loopback: a whole visit recorded offline reaches the server by itself,
//! exactly once, with the WHO-5 the schedule asks for; citizen mode cannot be left without the
//! worker's PIN; a licensed pack installed on the server shows its full text after a sync, and
//! read-aloud speaks it through the device's speech engine (the harness's own speech-dispatcher,
//! whose log shows what its espeak-ng module was given), in Danish and then in English. Every
//! screen passed on the way is saved under target/screenshots/.

use fit_protocol::ChangeBody;
use fit_server::store::ServerStore;
use fit_tests::app::{RealApp, SeedingDevice, WAIT, is_png, now_ms};
use fit_tests::server::{LiveServer, create_caseload, enrollment_code};

const PIN: &str = "482615";
const ORS: [&str; 4] = ["individually", "interpersonally", "socially", "overall"];
const SRS: [&str; 4] = ["relationship", "goals-and-topics", "approach-or-method", "overall"];
const WHO5: [&str; 5] = ["cheerful", "calm", "active", "rested", "interest"];

/// The one step of the visit highlighted as current.
async fn current_step(app: &RealApp) -> String {
    let chips = "[data-testid^=\"chip-\"][aria-current=\"step\"]";
    let current = app.driver().find_all(thirtyfour::By::Css(chips)).await.unwrap();
    assert_eq!(current.len(), 1, "one step is current");
    current[0].attr("data-testid").await.unwrap().unwrap_or_default()
}

/// Whether citizen mode shows every item of the scale at once (a screen large enough), once its
/// first item shows.
async fn on_sheet(app: &RealApp, first: &str) -> bool {
    app.find(&format!("item-{first}")).await.unwrap();
    !app.driver().find_all(thirtyfour::By::Css("[data-testid=\"sheet\"]")).await.unwrap().is_empty()
}

/// Gives a choice scale (WHO-5) in citizen mode: no option is chosen at first, then one tap per
/// item on the option of `value` and confirm (on one screen where it is large enough, else item by
/// item with a review), and hand back with the worker's PIN. Returns the citizen's taps.
async fn choose_in_citizen_mode(app: &RealApp, items: &[&str], value: i64, shot: &str) -> u32 {
    app.find("citizen-mode").await.unwrap();
    let before = app.taps();
    let none_chosen = |container: String| async move {
        let css = format!("[data-testid=\"{container}\"] [data-testid=\"choices\"] input:checked");
        app.driver().find_all(thirtyfour::By::Css(css)).await.unwrap().is_empty()
    };
    if on_sheet(app, items[0]).await {
        app.screenshot(&format!("{shot}-item")).await.unwrap();
        for item in items {
            let container = format!("item-{item}");
            assert!(none_chosen(container.clone()).await, "no default answer on {item}");
            assert!(!app.find("confirm").await.unwrap().is_enabled().await.unwrap(), "no confirm without every answer");
            app.click_in(&container, &format!("choice-{value}")).await.unwrap();
        }
        app.click("confirm").await.unwrap();
        let citizen_taps = app.taps() - before;
        hand_back(app, &format!("{shot}-thanks")).await;
        return citizen_taps;
    }
    for (n, item) in items.iter().enumerate() {
        app.find(&format!("item-{item}")).await.unwrap();
        assert!(none_chosen(format!("item-{item}")).await, "no default answer on {item}");
        assert!(!app.find("next").await.unwrap().is_enabled().await.unwrap(), "no next without an answer");
        app.click(&format!("choice-{value}")).await.unwrap();
        next_item(app, n, shot).await;
    }
    confirm_and_hand_back(app, shot, before).await
}

/// Fills in the scale on screen in citizen mode: one tap per item at `fraction` of the line, then
/// confirm (every item on one screen where it is large enough, else item by item with a review),
/// and hands back with the worker's PIN. Returns the tenths placed per item and the citizen's
/// taps (marks, next, confirm).
async fn fill_in_citizen_mode(app: &RealApp, items: &[&str], fraction: f64, shot: &str) -> (Vec<i64>, u32) {
    app.find("citizen-mode").await.unwrap();
    let before = app.taps();
    let mut placed = Vec::new();
    if on_sheet(app, items[0]).await {
        app.screenshot(&format!("{shot}-item")).await.unwrap();
        for item in items {
            let container = format!("item-{item}");
            assert_eq!(app.line_value_in(&container).await.unwrap(), None, "no default mark on {item}");
            assert!(!app.enabled_in(&container, "vas-plus").await.unwrap(), "no mark by the ±0,1 door");
            assert!(!app.find("confirm").await.unwrap().is_enabled().await.unwrap(), "no confirm without every mark");
            app.tap_line_in(&container, fraction).await.unwrap();
            placed.push(app.line_value_in(&container).await.unwrap().expect("the tap placed a mark"));
        }
        app.screenshot(&format!("{shot}-marked")).await.unwrap();
        app.click("confirm").await.unwrap();
        let citizen_taps = app.taps() - before;
        hand_back(app, &format!("{shot}-thanks")).await;
        return (placed, citizen_taps);
    }
    for (n, item) in items.iter().enumerate() {
        app.find(&format!("item-{item}")).await.unwrap();
        assert_eq!(app.line_value().await.unwrap(), None, "no default mark on {item}");
        assert!(!app.find("vas-plus").await.unwrap().is_enabled().await.unwrap(), "no mark by the ±0,1 door");
        assert!(!app.find("next").await.unwrap().is_enabled().await.unwrap(), "no next without a mark");
        app.tap_line(fraction).await.unwrap();
        let value = app.line_value().await.unwrap().expect("the tap placed a mark");
        placed.push(value);
        next_item(app, n, shot).await;
    }
    (placed, confirm_and_hand_back(app, shot, before).await)
}

/// On from item `n` (the first is photographed).
async fn next_item(app: &RealApp, n: usize, shot: &str) {
    if n == 0 {
        app.screenshot(&format!("{shot}-item")).await.unwrap();
    }
    app.click("next").await.unwrap();
}

/// The citizen confirms in the review, and the worker takes the device back; returns the
/// citizen's taps since `before`.
async fn confirm_and_hand_back(app: &RealApp, shot: &str, before: u32) -> u32 {
    app.find("review").await.unwrap();
    app.screenshot(&format!("{shot}-review")).await.unwrap();
    app.click("confirm").await.unwrap();
    let citizen_taps = app.taps() - before;
    hand_back(app, &format!("{shot}-thanks")).await;
    citizen_taps
}

/// The worker takes the device back: the thanks screen asks for the PIN at once.
async fn hand_back(app: &RealApp, shot: &str) {
    app.find("thanks").await.unwrap();
    app.type_into("worker-pin", PIN).await.unwrap();
    app.screenshot(shot).await.unwrap();
    app.click("leave").await.unwrap();
    app.wait_gone("citizen-mode").await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_visit_recorded_offline_reaches_the_server_by_itself_exactly_once() {
    let server = LiveServer::start(|_| {}).await.unwrap();
    let caseload = create_caseload(&server.store, now_ms()).await.unwrap();
    // The citizen's first visit, from the worker's other device: ORS 32.0 and SRS 38.0.
    let seeder = SeedingDevice::enroll(&server, caseload).await.unwrap();
    seeder.seed_citizen(caseload, caseload.citizen, "Borger A", 80, 95).await.unwrap();
    let seed_device = seeder.device_id().unwrap();
    let code = enrollment_code(&server.store, caseload.worker, now_ms()).await.unwrap();

    let app = RealApp::start(&["--sync-retry-max-seconds".into(), "2".into()]).await.unwrap();

    // Enroll and choose the PIN.
    app.type_into("server-url", &server.url()).await.unwrap();
    app.type_into("enroll-code", &code).await.unwrap();
    app.type_into("new-pin", PIN).await.unwrap();
    app.type_into("new-pin-again", PIN).await.unwrap();
    app.screenshot("01-enroll").await.unwrap();
    app.click("enroll").await.unwrap();
    let citizen_card = format!("citizen-{}", caseload.citizen);
    app.find(&citizen_card).await.unwrap();
    app.screenshot("02-caseload").await.unwrap();

    // The server goes away: the whole visit happens offline.
    let addr = server.addr;
    let data = server.stop().await;

    app.click(&citizen_card).await.unwrap();
    app.find("chart-ors").await.unwrap();
    app.screenshot("03-citizen").await.unwrap();
    let visit_start = app.taps();
    app.click("start-visit").await.unwrap();
    app.find("step-ors").await.unwrap();
    app.screenshot("04-visit-start").await.unwrap();

    app.click("hand-over").await.unwrap();
    // The citizen reads the scale's Danish name and a help in plain words under each item.
    app.find("item-individually").await.unwrap();
    let title = app.driver().find(thirtyfour::By::Css("[data-testid=\"citizen-mode\"] h1")).await.unwrap();
    assert_eq!(title.text().await.unwrap(), "Sådan går det (ORS)");
    assert!(!app.find("item-help").await.unwrap().text().await.unwrap().is_empty(), "the item's help shows");
    let (ors, ors_citizen_taps) = fill_in_citizen_mode(&app, &ORS, 0.2, "05-citizen-ors").await;
    // WHO-5 is due (never measured, the default schedule): it follows the ORS, six options per
    // item and none chosen.
    app.find("step-who5").await.unwrap();
    let who5_start = app.taps();
    app.click("hand-over").await.unwrap();
    // Its options are in the app's colour, not the browser's default blue.
    let radio = app.wait_css("[data-testid=\"citizen-mode\"] input[type=\"radio\"]").await.unwrap();
    let accent =
        app.driver().execute("return getComputedStyle(arguments[0]).accentColor;", vec![radio.to_json().unwrap()]);
    let accent = accent.await.unwrap().json().as_str().unwrap_or_default().to_owned();
    assert!(accent.starts_with("rgb"), "the options' colour is set: {accent}");
    let who5_citizen_taps = choose_in_citizen_mode(&app, &WHO5, 3, "05b-citizen-who5").await;
    let who5_worker_taps = app.taps() - who5_start - who5_citizen_taps;
    // Back in the worker's view: the new ORS is on the chart, with the alerts it raises.
    app.find("visit-review").await.unwrap();
    let ors_total: i64 = ors.iter().sum();
    assert!((70..=90).contains(&ors_total), "four taps at a fifth of the line: {ors:?}");
    app.wait_css("[data-testid=\"visit-review\"] [data-code=\"ors.below_cutoff\"]").await.unwrap();
    // The next action is in view after the hand-back, though the charts are above it, and the
    // step shown is the one highlighted.
    assert!(in_view(&app, "hand-over").await, "the next action is in view");
    assert_eq!(current_step(&app).await, "chip-review");
    // The citizen sees this step too: no clinical words unless the worker unfolds them.
    let review = app.find("visit-review").await.unwrap().to_json().unwrap();
    // innerText: what is rendered, so a folded-away part counts only once unfolded.
    let shown = app.driver().execute("return arguments[0].innerText;", vec![review]).await.unwrap();
    let shared = shown.json().as_str().unwrap_or_default().to_owned();
    assert!(!shared.contains("klinisk"), "the shared step shows no clinical label: {shared}");
    app.screenshot("06-visit-review").await.unwrap();
    // On a phone too: the next action in view, the chart not hidden behind it.
    app.driver().set_window_rect(0, 0, 390, 780).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(in_view(&app, "hand-over").await, "the next action is in view on a phone");
    app.screenshot("06b-phone-visit-review").await.unwrap();
    app.driver().set_window_rect(0, 0, 1280, 800).await.unwrap();

    app.click("hand-over").await.unwrap();
    // One word for the meeting: the visit ("besøget"), as the step says.
    app.find("item-relationship").await.unwrap();
    let asked = app.find("citizen-mode").await.unwrap().text().await.unwrap();
    assert!(asked.contains("besøget") && !asked.contains("samtalen"), "{asked}");
    let (srs, srs_citizen_taps) = fill_in_citizen_mode(&app, &SRS, 0.9, "07-citizen-srs").await;
    assert!(srs.iter().all(|v| (85..=95).contains(v)), "taps at nine tenths: {srs:?}");
    app.find("step-close").await.unwrap();
    assert_eq!(current_step(&app).await, "chip-close");
    assert!(in_view(&app, "close-visit").await, "the close is in view after the last hand-back");
    app.type_into("visit-note", "Talked about the week; next visit Thursday.").await.unwrap();
    app.screenshot("08-visit-close").await.unwrap();
    app.click("close-visit").await.unwrap();
    app.find("start-visit").await.unwrap();
    wait_text(&app, "notice", "gemt på enheden").await;
    app.screenshot("08b-visit-saved").await.unwrap();
    // The worker's taps for the whole visit, besides the citizen's own (marks, next, confirm).
    let worker_taps = app.taps() - visit_start - ors_citizen_taps - who5_citizen_taps - srs_citizen_taps;
    println!("worker taps: {worker_taps} for a visit with ORS, WHO-5, SRS and a note ({who5_worker_taps} for WHO-5)");
    assert!(
        worker_taps - who5_worker_taps <= 6,
        "a visit with ORS, SRS and a note: {worker_taps} - {who5_worker_taps}"
    );
    // The citizen's: every item on one screen (1280×800), one mark per item and one confirm.
    println!("citizen taps: ORS {ors_citizen_taps}, WHO-5 {who5_citizen_taps}, SRS {srs_citizen_taps}");
    assert_eq!((ors_citizen_taps, who5_citizen_taps, srs_citizen_taps), (5, 6, 5), "one mark per item, one confirm");

    // The caseload shows the alert, and the changes wait on the device.
    app.click("nav-caseload").await.unwrap();
    // One calm line per citizen: the most serious alert (a reliable deterioration), and how many more.
    let card = format!("[data-testid=\"{citizen_card}\"]");
    app.wait_css(&format!("{card} [data-severity=\"serious\"][data-code=\"ors.reliable_deterioration\"]"))
        .await
        .unwrap();
    let lines =
        app.driver().find_all(thirtyfour::By::Css(format!("{card} [data-testid=\"attention\"]"))).await.unwrap();
    assert_eq!(lines.len(), 1, "one line of alerts on the card");
    // One word for reliable change, on the badge as in the texts.
    let said = lines[0].text().await.unwrap();
    assert!(said.contains("Pålidelig") && !said.to_lowercase().contains("sikker"), "{said}");
    app.screenshot("09-caseload-alert").await.unwrap();
    app.click("nav-sync").await.unwrap();
    app.find("sync-status").await.unwrap();
    app.screenshot("10-sync-offline").await.unwrap();

    // The server comes back on the same address; the app syncs by itself.
    let server = LiveServer::start_in(data, Some(addr), |_| {}).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    let mine = loop {
        let changes = server.store.changes().await.unwrap();
        // The app's device is the one that started a visit, other than the seeding device.
        let app_device = changes
            .iter()
            .find(|c| c.device != seed_device && matches!(c.body, ChangeBody::VisitStarted { .. }))
            .map(|c| c.device);
        let mine: Vec<_> = changes.into_iter().filter(|c| Some(c.device) == app_device).collect();
        if mine.iter().any(|c| matches!(c.body, ChangeBody::VisitClosed { .. })) {
            break mine;
        }
        assert!(std::time::Instant::now() < deadline, "the app did not sync within 90 s");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    };
    app.wait_css("[data-testid=\"sync-pending\"]").await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while app.find("sync-pending").await.unwrap().text().await.unwrap() != "0" {
        assert!(std::time::Instant::now() < deadline, "the sync screen kept showing pending changes");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    app.screenshot("11-sync-done").await.unwrap();

    // Exactly that visit, once: one start, three responses (the ORS, WHO-5 and SRS), one note,
    // one close, and nothing else from this device.
    let started: Vec<_> = mine
        .iter()
        .filter_map(|c| if let ChangeBody::VisitStarted { visit, .. } = &c.body { Some(*visit) } else { None })
        .collect();
    assert_eq!(started.len(), 1, "one visit: {mine:#?}");
    let visit = started[0];
    let mut responses: Vec<(String, Vec<i64>)> = mine
        .iter()
        .filter_map(|c| match &c.body {
            ChangeBody::ResponseRecorded {
                visit: v,
                scale,
                answered: fit_protocol::ResponseContent::Given { answers, .. },
                ..
            } if *v == visit => Some((scale.to_string(), answers.iter().map(|a| a.value.as_i64().unwrap()).collect())),
            _ => None,
        })
        .collect();
    responses.sort();
    assert_eq!(responses, vec![("ors".to_owned(), ors), ("srs".to_owned(), srs), ("who5".to_owned(), vec![3; 5])]);
    let notes =
        mine.iter().filter(|c| matches!(&c.body, ChangeBody::NoteWritten { visit: Some(v), .. } if *v == visit));
    assert_eq!(notes.count(), 1);
    let closes = mine.iter().filter(|c| matches!(&c.body, ChangeBody::VisitClosed { visit: v, .. } if *v == visit));
    assert_eq!(closes.count(), 1);
    assert_eq!(mine.len(), 6, "start, ORS, WHO-5, SRS, note, close: {mine:#?}");
    let mut ids: Vec<_> = mine.iter().map(|c| c.id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), mine.len(), "no change twice");

    app.stop().await.unwrap();
    for shot in
        ["01-enroll", "02-caseload", "05-citizen-ors-item", "05b-citizen-who5-item", "06-visit-review", "11-sync-done"]
    {
        assert!(is_png(&fit_tests::app::screenshot_dir().join(format!("{shot}.png"))), "{shot}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn citizen_mode_cannot_be_left_without_the_worker_pin() {
    let server = LiveServer::start(|_| {}).await.unwrap();
    let caseload = create_caseload(&server.store, now_ms()).await.unwrap();
    let seeder = SeedingDevice::enroll(&server, caseload).await.unwrap();
    seeder.seed_citizen(caseload, caseload.citizen, "Borger B", 60, 90).await.unwrap();
    // A licence holder's full ORS text, installed on the server: the app fetches it at its first
    // sync and shows it in place of the short labels.
    let full_text = "Hvordan har jeg det med mig selv (licenseret fuld tekst)";
    let licensed = fit_tests::licensed_ors("licensed-e2e", full_text);
    fit_server::install_pack(&server.store, "licensed/ors.json", &licensed, now_ms()).await.unwrap();
    let code = enrollment_code(&server.store, caseload.worker, now_ms()).await.unwrap();
    // Set up and enrolled from the command line; the PIN is entered on the lock screen later.
    let args = ["--server", &server.url(), "--enroll-code", &code, "--pin", PIN].map(String::from);
    let app = RealApp::start(&args).await.unwrap();

    let citizen_card = format!("citizen-{}", caseload.citizen);
    app.click(&citizen_card).await.unwrap();
    // A visit started by mistake is cancelled, once confirmed: it counts as no visit, and the
    // cancellation reaches the server.
    app.click("start-visit").await.unwrap();
    app.find("step-ors").await.unwrap();
    assert_eq!(current_step(&app).await, "chip-ors");
    app.click("cancel-visit").await.unwrap();
    app.find("cancel-visit-yes").await.unwrap();
    app.screenshot("17-visit-cancel-ask").await.unwrap();
    app.click("cancel-visit-yes").await.unwrap();
    wait_text(&app, "notice", "annulleret").await;
    app.find("start-visit").await.unwrap();
    app.screenshot("17b-visit-cancelled").await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !server.store.changes().await.unwrap().iter().any(
        |c| matches!(c.body, ChangeBody::VisitClosed { cancelled: true, citizen, .. } if citizen == caseload.citizen),
    ) {
        assert!(std::time::Instant::now() < deadline, "the cancellation did not reach the server");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    app.click("start-visit").await.unwrap();
    app.click("hand-over").await.unwrap();
    // The item shows once the scale and the speech engine's answer are both in.
    app.find("item-individually").await.unwrap();
    let heading = app.driver().find(thirtyfour::By::Css("[data-testid=\"item-individually\"] h2")).await.unwrap();
    assert_eq!(heading.text().await.unwrap(), full_text, "the licensed pack's wording, after the sync");
    // The item shows with read-aloud: the device's speech engine answered.
    app.find("read-aloud").await.unwrap();
    app.screenshot("11b-citizen-mode-licensed-pack").await.unwrap();

    // Read-aloud reaches the device's speech engine: the introduction and the item as shown,
    // with a Danish voice, and espeak-ng begins to speak it.
    app.click("read-aloud").await.unwrap();
    let spoken = app.speech().wait_spoken("Hvordan har jeg det med mig selv", WAIT).await.unwrap();
    let said = "Hvordan har du haft det den sidste uge, også i dag? Hvordan har jeg det med mig selv";
    assert!(spoken.text.starts_with(said), "the introduction, then the item: {spoken:?}");
    assert!(spoken.voice.starts_with("Danish"), "a Danish voice: {spoken:?}");
    app.tap_line(0.5).await.unwrap();

    // No navigation in citizen mode, and nothing of the worker's view answers from the page.
    assert!(app.driver().find(thirtyfour::By::Css("nav")).await.is_err(), "no navigation shows");
    let answer = app.invoke_from_page("list_caseload").await.unwrap();
    assert_eq!(answer["error"]["code"], "citizen_mode.active", "{answer}");

    // Reloading the page does not leave it.
    app.driver().refresh().await.unwrap();
    app.find("citizen-mode").await.unwrap();

    // A wrong PIN does not leave it.
    app.click("worker").await.unwrap();
    app.type_into("worker-pin", "000000").await.unwrap();
    app.click("leave").await.unwrap();
    wait_text(&app, "error", "2 forsøg tilbage").await;
    app.screenshot("12-citizen-mode-wrong-pin").await.unwrap();
    assert!(app.find("citizen-mode").await.is_ok());
    let answer = app.invoke_from_page("list_caseload").await.unwrap();
    assert_eq!(answer["error"]["code"], "citizen_mode.active", "{answer}");

    // Cancelling returns to the scale, still in citizen mode.
    app.click("cancel-leave").await.unwrap();
    app.find("vas-line").await.unwrap();

    // The worker's PIN leaves it, back to the visit.
    app.click("worker").await.unwrap();
    app.type_into("worker-pin", PIN).await.unwrap();
    app.click("leave").await.unwrap();
    app.wait_gone("citizen-mode").await.unwrap();
    app.find("step-ors").await.unwrap();
    let answer = app.invoke_from_page("list_caseload").await.unwrap();
    assert!(answer["ok"].is_array(), "{answer}");

    // Three wrong PINs at the hand-back lock the app and erase nothing: only the unlock screen
    // counts towards the wipe.
    app.click("hand-over").await.unwrap();
    app.click("worker").await.unwrap();
    for left in [2, 1] {
        app.type_into("worker-pin", "000000").await.unwrap();
        app.click("leave").await.unwrap();
        wait_text(&app, "error", &format!("{left} forsøg tilbage")).await;
    }
    app.type_into("worker-pin", "000000").await.unwrap();
    app.click("leave").await.unwrap();
    app.find("lock-notice").await.unwrap();
    let status = app.invoke_from_page("get_status").await.unwrap();
    assert_eq!(status["ok"]["unlocked"], false, "{status}");
    assert_eq!(status["ok"]["pin_attempts_left"], 10, "no try counted towards the wipe: {status}");
    app.screenshot("12b-citizen-mode-locked").await.unwrap();
    app.type_into("unlock-pin", PIN).await.unwrap();
    app.click("unlock").await.unwrap();
    app.find("step-ors").await.unwrap();

    // The rest of the screens, for the record: settings in English, the lock screen, and
    // citizen mode and the citizen page at a phone's size.
    app.click("nav-settings").await.unwrap();
    // The language applies as it is chosen, with no button to press.
    app.click("lang-en").await.unwrap();
    app.wait_css("[data-testid=\"nav-settings\"]:not(:empty)").await.unwrap();
    assert_eq!(app.find("nav-settings").await.unwrap().text().await.unwrap(), "Settings");
    app.screenshot("13-settings-english").await.unwrap();
    app.click("lock").await.unwrap();
    app.find("unlock-pin").await.unwrap();
    app.screenshot("14-lock").await.unwrap();
    app.type_into("unlock-pin", PIN).await.unwrap();
    app.click("unlock").await.unwrap();
    app.click("nav-caseload").await.unwrap();
    app.click(&citizen_card).await.unwrap();
    app.driver().set_window_rect(0, 0, 390, 780).await.unwrap();
    app.find("chart-ors").await.unwrap();
    // The chart is drawn again for the narrow screen, not kept at the wide one's width.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let fits = "const r = document.querySelector('[data-testid=\"chart-ors\"] canvas').getBoundingClientRect(); \
                return r.width > 0 && r.right <= document.documentElement.clientWidth;";
    while !app.driver().execute(fits, Vec::new()).await.unwrap().json().as_bool().unwrap_or(false) {
        assert!(std::time::Instant::now() < deadline, "the chart runs off the phone's screen");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    app.screenshot("15-phone-citizen").await.unwrap();
    app.click("start-visit").await.unwrap();
    app.click("hand-over").await.unwrap();
    app.find("vas-line").await.unwrap();
    assert!(in_view(&app, "next").await, "next is in view on the phone");
    app.screenshot("16-phone-citizen-mode").await.unwrap();
    // In English, read-aloud reads the English text with an English voice.
    app.click("read-aloud").await.unwrap();
    let spoken = app.speech().wait_spoken("How have you been doing over the last week", WAIT).await.unwrap();
    assert!(spoken.voice.starts_with("English"), "an English voice: {spoken:?}");
    // One item at a time on the phone; turned to a large screen, every item shows at once with the
    // mark already placed kept, and one confirm ends the scale.
    app.tap_line(0.3).await.unwrap();
    let first = app.line_value().await.unwrap();
    app.driver().set_window_rect(0, 0, 1280, 800).await.unwrap();
    app.find("sheet").await.unwrap();
    assert_eq!(app.line_value_in("item-individually").await.unwrap(), first, "the mark is kept");
    for item in &ORS[1..] {
        app.tap_line_in(&format!("item-{item}"), 0.6).await.unwrap();
    }
    app.click("confirm").await.unwrap();
    hand_back(&app, "16b-turned-citizen-mode-thanks").await;
    app.stop().await.unwrap();
    drop(server);
}

/// Taps every line of the scale the worker marks (`ScaleMarks`) at `fraction`, then saves.
async fn mark_all(app: &RealApp, items: &[&str], fraction: f64) {
    app.find("scale-marks").await.unwrap();
    for item in items {
        app.tap_line_in(&format!("marks-item-{item}"), fraction).await.unwrap();
    }
}

/// What the ORS chart draws: the visits' labels and their totals (empty where none).
async fn ors_chart(app: &RealApp) -> (Vec<String>, Vec<String>) {
    let chart = app.find("chart-ors").await.unwrap();
    let split = |text: Option<String>| text.unwrap_or_default().split('|').map(String::from).collect::<Vec<_>>();
    (split(chart.attr("data-labels").await.unwrap()), split(chart.attr("data-values").await.unwrap()))
}

/// Waits until the ORS chart draws `count` visits, and returns what it draws.
async fn wait_ors_chart(app: &RealApp, count: usize, check: impl Fn(&[String]) -> bool) -> (Vec<String>, Vec<String>) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let (labels, values) = ors_chart(app).await;
        if labels.len() == count && check(&values) {
            return (labels, values);
        }
        assert!(std::time::Instant::now() < deadline, "the chart drew {labels:?} {values:?}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_paper_form_a_scale_read_aloud_and_a_correction_reach_the_server_as_marked() {
    let server = LiveServer::start(|_| {}).await.unwrap();
    let caseload = create_caseload(&server.store, now_ms()).await.unwrap();
    let seeder = SeedingDevice::enroll(&server, caseload).await.unwrap();
    // Today's visit from another device: ORS 32.0.
    seeder.seed_citizen(caseload, caseload.citizen, "Borger C", 80, 95).await.unwrap();
    let seed_device = seeder.device_id().unwrap();
    let code = enrollment_code(&server.store, caseload.worker, now_ms()).await.unwrap();
    let args = ["--server", &server.url(), "--enroll-code", &code, "--pin", PIN].map(String::from);
    let app = RealApp::start(&args).await.unwrap();
    app.click(&format!("citizen-{}", caseload.citizen)).await.unwrap();
    wait_ors_chart(&app, 1, |v| v == ["32"]).await;

    // A goal is removed only once the worker confirms it.
    app.type_into("new-goal", "Sove bedre").await.unwrap();
    app.click("add-goal").await.unwrap();
    app.click("remove-goal").await.unwrap();
    app.find("confirm-remove-goal").await.unwrap();
    wait_text(&app, "goals", "Sove bedre").await;
    app.screenshot("19-confirm-remove-goal").await.unwrap();
    app.click("remove-goal-yes").await.unwrap();
    app.wait_gone("confirm-remove-goal").await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let goals = app.find("goals").await.unwrap().text().await.unwrap();
        if !goals.contains("Sove bedre") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "removed once confirmed: {goals}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }

    // A paper ORS dated 20 days back: a point of its own, before today's, at the paper's day.
    let paper_day = chrono::Local::now().date_naive() - chrono::Duration::days(20);
    app.click("paper-entry").await.unwrap();
    app.set_value("paper-date", &paper_day.format("%Y-%m-%d").to_string()).await.unwrap();
    mark_all(&app, &ORS, 0.5).await;
    app.screenshot("20-paper-form").await.unwrap();
    app.click("save-marks").await.unwrap();
    app.find("paper-saved").await.unwrap();
    let (labels, values) = wait_ors_chart(&app, 2, |v| v[1] == "32").await;
    let paper_total: f64 = values[0].parse().unwrap();
    assert!((18.0..=22.0).contains(&paper_total), "four marks at the middle: {values:?}");
    assert!(labels[0].starts_with(&format!("{}.", chrono::Datelike::day(&paper_day))), "{labels:?}");
    app.screenshot("21-paper-in-chart").await.unwrap();

    // The paper form had wrong marks: corrected, the chart shows the new version.
    let paper_row =
        app.driver().find(thirtyfour::By::XPath("//li[@data-current='true' and contains(., 'papir')]")).await.unwrap();
    paper_row.find(thirtyfour::By::Css("[data-testid=\"correct\"]")).await.unwrap().click().await.unwrap();
    app.find("correct-form").await.unwrap();
    mark_all(&app, &ORS, 0.8).await;
    app.screenshot("22-correction").await.unwrap();
    app.click("save-marks").await.unwrap();
    let (_, values) = wait_ors_chart(&app, 2, |v| v[0].parse::<f64>().is_ok_and(|t| t > 30.0)).await;
    assert_eq!(values[1], "32", "the other visit is untouched");
    app.wait_css("li.response.old").await.unwrap();
    app.screenshot("23-corrected-history").await.unwrap();
    // The ORS total broken into its four areas, one tap away.
    app.click("chart-breakdown").await.unwrap();
    let items = app.find("chart-ors-items").await.unwrap().attr("data-items").await.unwrap().unwrap_or_default();
    assert_eq!(items.split('|').count(), 4, "the four areas: {items}");
    assert!(items.starts_with("individually:"), "{items}");
    app.screenshot("23b-chart-areas").await.unwrap();

    // A visit whose ORS the citizen answers aloud and the worker marks.
    app.click("start-visit").await.unwrap();
    app.find("step-ors").await.unwrap();
    app.click("read-aloud-marks").await.unwrap();
    mark_all(&app, &ORS, 0.7).await;
    app.screenshot("24-read-aloud-marks").await.unwrap();
    app.click("save-marks").await.unwrap();
    app.find("step-who5").await.unwrap();
    // The caseload card shows the visit under way.
    app.click("nav-caseload").await.unwrap();
    app.wait_css(&format!("[data-testid=\"citizen-{}\"] [data-testid=\"open-visit\"]", caseload.citizen))
        .await
        .unwrap();
    app.screenshot("25-caseload-open-visit").await.unwrap();

    // All of it reaches the server by itself, marked as it was given.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mine = loop {
        let changes = server.store.changes().await.unwrap();
        let mine: Vec<_> = changes.into_iter().filter(|c| c.device != seed_device).collect();
        let responses = mine.iter().filter(|c| matches!(c.body, ChangeBody::ResponseRecorded { .. })).count();
        if responses == 3 {
            break mine;
        }
        assert!(std::time::Instant::now() < deadline, "the app did not sync its three responses within 60 s");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    };
    let marked = |by: fit_core::MarkedBy| {
        mine.iter()
            .filter(|c| {
                matches!(&c.body, ChangeBody::ResponseRecorded {
                    answered: fit_protocol::ResponseContent::Given { marked_by, .. }, ..
                } if *marked_by == by)
            })
            .count()
    };
    assert_eq!(marked(fit_core::MarkedBy::TranscribedFromPaper), 2, "the paper form and its correction");
    assert_eq!(marked(fit_core::MarkedBy::ReadAloudVerbal), 1);
    let paper_visit = mine.iter().find_map(|c| match c.body {
        ChangeBody::VisitStarted { started_at_ms, .. } if started_at_ms < now_ms() - 19 * 86_400_000 => {
            Some(started_at_ms)
        }
        _ => None,
    });
    assert!(paper_visit.is_some(), "the paper form's visit is at the paper's day: {mine:#?}");

    // The export sees the current version of the paper form, with its trail.
    let scales = fit_core::ScaleSet::built_in().unwrap();
    let mut csv = Vec::new();
    let rows = fit_server::export::responses_csv(&scales, &server.store.changes().await.unwrap(), &mut csv).unwrap();
    let csv = String::from_utf8(csv).unwrap();
    assert_eq!(rows, 4, "today's ORS and SRS, the paper ORS in its current version, the ORS read aloud:\n{csv}");
    let corrected: Vec<_> = csv.lines().filter(|l| l.contains("transcribed_from_paper")).collect();
    assert_eq!(corrected.len(), 1, "{csv}");
    assert!(corrected[0].contains(",wrong_mark,") && corrected[0].contains(":wrong_mark"), "{csv}");
    app.stop().await.unwrap();
}

/// Whether the element `id` is wholly inside the window as it is scrolled now.
async fn in_view(app: &RealApp, id: &str) -> bool {
    let element = app.find(id).await.unwrap();
    let script = "const r = arguments[0].getBoundingClientRect(); \
                  return r.top >= 0 && r.bottom <= window.innerHeight;";
    let answer = app.driver().execute(script, vec![element.to_json().unwrap()]).await.unwrap();
    answer.json().as_bool().unwrap_or(false)
}

/// Waits until the step on screen is `name`'s turn (the screen shows the next step once what
/// was given is recorded).
async fn whose_turn(app: &RealApp, name: &str) {
    wait_text(app, "hand-over", name).await;
}

/// Waits until the element `id` says `needle`.
async fn wait_text(app: &RealApp, id: &str, needle: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        // The element is drawn anew as the screen changes: a stale one is read again.
        let text = match app.find(id).await {
            Ok(element) => element.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if text.contains(needle) {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{id} should say {needle:?}, but says {text:?}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_group_visit_with_three_citizens_records_three_group_scales_given_in_turn() {
    const GSRS: [&str; 4] = SRS;
    let server = LiveServer::start(|_| {}).await.unwrap();
    let caseload = create_caseload(&server.store, now_ms()).await.unwrap();
    let mut citizens = vec![caseload.citizen];
    for name in ["Bo", "Carl"] {
        let citizen: fit_core::ids::CitizenId = fit_tests::server::new_id();
        let profile = fit_server::store::CitizenProfile::adult(name);
        server.store.create_citizen(citizen, caseload.team, profile, now_ms()).await.unwrap();
        server.store.assign(citizen, caseload.worker, now_ms()).await.unwrap();
        citizens.push(citizen);
    }
    let code = enrollment_code(&server.store, caseload.worker, now_ms()).await.unwrap();
    let args = ["--server", &server.url(), "--enroll-code", &code, "--pin", PIN].map(String::from);
    let app = RealApp::start(&args).await.unwrap();
    for citizen in &citizens {
        app.find(&format!("citizen-{citizen}")).await.unwrap();
    }

    // The worker ticks the three present and starts the group visit.
    app.click("group-visit").await.unwrap();
    for citizen in &citizens {
        app.click(&format!("pick-{citizen}")).await.unwrap();
    }
    app.screenshot("30-group-pick").await.unwrap();
    app.click("start-group").await.unwrap();
    app.find("group-members").await.unwrap();
    app.screenshot("31-group-start").await.unwrap();

    // Each gives the start's scales in turn, by name order: the ORS, and WHO-5, which the
    // schedule asks of everyone at a first visit. Anna gives both on the device; Bo answers the
    // ORS aloud with the worker marking and does not want WHO-5; Carl wants neither.
    whose_turn(&app, "Anna").await;
    app.find("step-ors").await.unwrap();
    app.click("hand-over").await.unwrap();
    fill_in_citizen_mode(&app, &ORS, 0.6, "32-group-citizen-ors").await;
    whose_turn(&app, "Anna").await;
    app.find("step-who5").await.unwrap();
    app.click("hand-over").await.unwrap();
    choose_in_citizen_mode(&app, &WHO5, 3, "32-group-citizen-who5").await;
    whose_turn(&app, "Bo").await;
    app.click("read-aloud-marks").await.unwrap();
    mark_all(&app, &ORS, 0.4).await;
    app.click("save-marks").await.unwrap();
    for (name, scale) in [("Bo", "who5"), ("Carl", "ors"), ("Carl", "who5")] {
        whose_turn(&app, name).await;
        app.find(&format!("step-{scale}")).await.unwrap();
        app.click("not-given").await.unwrap();
        app.click("save-not-given").await.unwrap();
    }

    // After the session, each gives the GSRS in turn in citizen mode.
    app.find("group-after-session").await.unwrap();
    app.screenshot("33-group-after-session").await.unwrap();
    for (name, fraction) in [("Anna", 0.9), ("Bo", 0.7)] {
        whose_turn(&app, name).await;
        app.find("step-gsrs").await.unwrap();
        app.click("hand-over").await.unwrap();
        fill_in_citizen_mode(&app, &GSRS, fraction, &format!("34-group-gsrs-{}", name.to_lowercase())).await;
    }
    // Carl gives his on a phone, one item at a time, and changes one mark from the review: only
    // that item is asked again, with its mark kept.
    whose_turn(&app, "Carl").await;
    app.driver().set_window_rect(0, 0, 390, 780).await.unwrap();
    app.click("hand-over").await.unwrap();
    app.find("citizen-mode").await.unwrap();
    for item in GSRS {
        app.find(&format!("item-{item}")).await.unwrap();
        app.tap_line(0.5).await.unwrap();
        app.click("next").await.unwrap();
    }
    app.find("review").await.unwrap();
    app.click("change-goals-and-topics").await.unwrap();
    app.find("item-goals-and-topics").await.unwrap();
    let kept = app.line_value().await.unwrap();
    assert!(kept.is_some_and(|v| (45..=55).contains(&v)), "the mark is kept: {kept:?}");
    app.screenshot("34-group-gsrs-carl-change").await.unwrap();
    app.tap_line(0.3).await.unwrap();
    app.click("next").await.unwrap();
    app.find("review").await.unwrap();
    app.click("confirm").await.unwrap();
    hand_back(&app, "34-group-gsrs-carl-thanks").await;
    app.driver().set_window_rect(0, 0, 1280, 800).await.unwrap();
    app.find("close-group").await.unwrap();
    let steps = app.driver().find_all(thirtyfour::By::Css("[data-testid^=\"member-\"]")).await.unwrap();
    assert_eq!(steps.len(), 3);
    for member in steps {
        assert_eq!(member.attr("data-step").await.unwrap().as_deref(), Some("close"));
    }
    app.screenshot("35-group-close").await.unwrap();
    // The same screen on a phone: one member under the other.
    app.driver().set_window_rect(0, 0, 400, 780).await.unwrap();
    app.screenshot("36-group-close-phone").await.unwrap();
    app.driver().set_window_rect(0, 0, 1280, 800).await.unwrap();
    app.click("close-group").await.unwrap();
    app.find("caseload").await.unwrap();

    // Three visits of one group reach the server, each with its citizen's own GSRS.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let changes = loop {
        let changes = server.store.changes().await.unwrap();
        let closed = changes.iter().filter(|c| matches!(c.body, ChangeBody::VisitClosed { .. })).count();
        if closed == 3 {
            break changes;
        }
        assert!(std::time::Instant::now() < deadline, "the app did not sync the group visit within 60 s");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    };
    let groups: Vec<_> = changes
        .iter()
        .filter_map(|c| match c.body {
            ChangeBody::VisitStarted { citizen, group, visit, .. } => Some((citizen, group, visit)),
            _ => None,
        })
        .collect();
    assert_eq!(groups.len(), 3);
    assert!(groups.iter().all(|(_, g, _)| g.is_some() && *g == groups[0].1), "one group: {groups:?}");
    let gsrs: Vec<_> = changes
        .iter()
        .filter_map(|c| match &c.body {
            ChangeBody::ResponseRecorded {
                citizen,
                visit,
                scale,
                answered: fit_protocol::ResponseContent::Given { marked_by, answers },
                ..
            } if scale.as_str() == "gsrs" => Some((*citizen, *visit, *marked_by, answers.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(gsrs.len(), 3, "{gsrs:?}");
    for citizen in &citizens {
        let (_, visit, by, _) = gsrs.iter().find(|(c, ..)| c == citizen).expect("each citizen's own GSRS");
        assert_eq!(*by, fit_core::MarkedBy::CitizenOnDevice);
        assert!(groups.contains(&(*citizen, groups[0].1, *visit)), "at the citizen's own visit of the group");
    }
    // Carl's changed mark is the one recorded, and his other marks are as first placed.
    let (.., carls) = gsrs.iter().find(|(c, ..)| *c == citizens[2]).expect("Carl's GSRS");
    let value = |item: &str| carls.iter().find(|a| a.item == item).and_then(|a| a.value.as_i64()).unwrap_or(-1);
    assert!((25..=35).contains(&value("goals-and-topics")), "{carls:?}");
    assert!((45..=55).contains(&value("relationship")), "{carls:?}");
    app.stop().await.unwrap();
}
