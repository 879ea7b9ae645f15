//! The real app under WebDriver: a virtual display (Xvfb), a speech-dispatcher of its own (the
//! engine read-aloud speaks through), tauri-driver (which starts WebKitWebDriver, which starts
//! the app) and a thirtyfour session, with helpers to find, click and type by `data-testid`, and
//! to save screenshots under `target/screenshots/`. Also a
//! seeding device that puts a citizen with history on a server, as another device would.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use fit_core::ids::{ChangeId, CitizenId};
use fit_core::response::{MarkedBy, RawAnswer, ResponseContent, ResponseInput};
use fit_device::sync::{SyncClient, SyncConfig};
use fit_device::{Device, DeviceConfig, SystemClock};
use fit_protocol::{ChangeBody, Entity, FieldName};
use fit_store::{KdfCost, UnlockPolicy};
use thirtyfour::prelude::*;

use crate::repo_root;
use crate::server::{Caseload, LiveServer, enrollment_code};
use crate::speech::SpeechDispatcher;

/// How long a screen may take to show what a test waits for. Generous: a debug build on two
/// busy cores, and Argon2id at full cost on every PIN.
pub const WAIT: Duration = Duration::from_secs(60);

/// The app binary `cargo build -p fit-app` makes (scripts/install-app-deps.sh builds it).
pub fn app_binary() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| repo_root().join("target"), PathBuf::from);
    target.join("debug").join("fit-app")
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Stops a child with SIGTERM, so tauri-driver can stop WebKitWebDriver (a SIGKILL would orphan
/// it on its port), then waits for it.
pub(crate) fn terminate(child: &mut Child) {
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A virtual X display for the app's window.
#[derive(Debug)]
struct Display {
    number: u32,
    child: Child,
}

impl Display {
    fn start() -> anyhow::Result<Display> {
        // A display number no other test or session uses: derived from the port the OS hands out.
        let number = 200 + u32::from(free_port()?) % 5000;
        let child = Command::new("Xvfb")
            .arg(format!(":{number}"))
            .args(["-screen", "0", "1280x800x24", "-nolisten", "tcp"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("Xvfb is missing: run scripts/install-app-deps.sh")?;
        let socket = PathBuf::from(format!("/tmp/.X11-unix/X{number}"));
        let deadline = Instant::now() + Duration::from_secs(20);
        while !socket.exists() {
            if Instant::now() > deadline {
                bail!("Xvfb did not start on :{number}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Display { number, child })
    }
}

impl Drop for Display {
    fn drop(&mut self) {
        terminate(&mut self.child);
    }
}

/// The app, started by tauri-driver on its own display, and the WebDriver session driving it.
#[derive(Debug)]
pub struct RealApp {
    pub driver: Option<WebDriver>,
    pub data_dir: tempfile::TempDir,
    tauri_driver: Child,
    display: Display,
    /// The app's speech engine: the app never reaches the machine's own, or another test's.
    speech: SpeechDispatcher,
    screenshots: PathBuf,
    /// Every tap made through `click` and `tap_line`, for counting what a task costs.
    taps: std::sync::atomic::AtomicU32,
}

impl RealApp {
    /// Starts the app with `args` (besides its data directory, a new temporary one).
    pub async fn start(args: &[String]) -> anyhow::Result<RealApp> {
        let binary = app_binary();
        if !binary.exists() {
            bail!("{} is missing: build it with `cargo build -p fit-app`", binary.display());
        }
        let display = Display::start()?;
        let speech = SpeechDispatcher::start()?;
        let data_dir = tempfile::tempdir()?;
        let (port, native_port) = (free_port()?, free_port()?);
        let log = std::fs::File::create(std::env::temp_dir().join(format!("tauri-driver-{port}.log")))?;
        let tauri_driver = Command::new("tauri-driver")
            .args(["--port", &port.to_string(), "--native-port", &native_port.to_string()])
            .env("DISPLAY", format!(":{}", display.number))
            // WebKitGTK's sandbox and GPU paths do not work on a virtual display as root.
            .env("WEBKIT_DISABLE_COMPOSITING_MODE", "1")
            .env("SPEECHD_ADDRESS", speech.address())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("tauri-driver is missing: run scripts/install-app-deps.sh")?;
        let mut app = RealApp {
            driver: None,
            data_dir,
            tauri_driver,
            display,
            speech,
            screenshots: repo_root().join("target").join("screenshots"),
            taps: Default::default(),
        };
        let mut all_args = vec!["--data-dir".to_owned(), app.data_dir.path().display().to_string()];
        all_args.extend(args.iter().cloned());
        let mut caps = Capabilities::new();
        caps.set("browserName", "wry")?;
        caps.set("tauri:options", serde_json::json!({ "application": binary, "args": all_args }))?;
        let url = format!("http://127.0.0.1:{port}");
        // tauri-driver takes a moment to listen.
        let deadline = Instant::now() + Duration::from_secs(30);
        let driver = loop {
            match WebDriver::new(url.clone(), caps.clone()).await {
                Ok(driver) => break driver,
                Err(error) if Instant::now() > deadline => return Err(error).context("no WebDriver session"),
                Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        };
        app.driver = Some(driver);
        std::fs::create_dir_all(&app.screenshots)?;
        Ok(app)
    }

    /// The speech-dispatcher the app reads aloud through.
    pub fn speech(&self) -> &SpeechDispatcher {
        &self.speech
    }

    pub fn driver(&self) -> &WebDriver {
        self.driver.as_ref().unwrap_or_else(|| unreachable!("the session is set in start"))
    }

    /// Waits until an element matching `css` is shown.
    pub async fn wait_css(&self, css: &str) -> anyhow::Result<WebElement> {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(element) = self.driver().find(By::Css(css)).await
                && element.is_displayed().await.unwrap_or(false)
            {
                return Ok(element);
            }
            if Instant::now() > deadline {
                let shot = self.screenshot(&format!("failed-waiting-{}", sanitize(css))).await;
                bail!("nothing matching {css:?} showed within {WAIT:?} (screenshot: {shot:?})");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits for the element with `data-testid="<id>"`.
    pub async fn find(&self, id: &str) -> anyhow::Result<WebElement> {
        self.wait_css(&format!("[data-testid=\"{id}\"]")).await
    }

    /// Waits until the element with `data-testid="<id>"` is gone or hidden.
    pub async fn wait_gone(&self, id: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + WAIT;
        loop {
            let shown = match self.driver().find(By::Css(format!("[data-testid=\"{id}\"]"))).await {
                Ok(element) => element.is_displayed().await.unwrap_or(false),
                Err(_) => false,
            };
            if !shown {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("{id} was still shown after {WAIT:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn click(&self, id: &str) -> anyhow::Result<()> {
        self.click_css(&format!("[data-testid=\"{id}\"]"), id).await
    }

    /// Taps the element `id` inside the element `container` (one item of a scale on one screen).
    pub async fn click_in(&self, container: &str, id: &str) -> anyhow::Result<()> {
        self.click_css(&format!("[data-testid=\"{container}\"] [data-testid=\"{id}\"]"), id).await
    }

    async fn click_css(&self, css: &str, id: &str) -> anyhow::Result<()> {
        let element = self.wait_css(css).await?;
        let deadline = Instant::now() + WAIT;
        while !element.is_enabled().await? {
            if Instant::now() > deadline {
                bail!("{id} stayed disabled");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // To the middle of the screen, as a worker scrolls to what they tap: at an edge, the sticky
        // header would take the tap.
        self.driver().execute("arguments[0].scrollIntoView({ block: 'center' });", vec![element.to_json()?]).await?;
        element.click().await?;
        self.taps.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    /// How many taps `click` and `tap_line` have made so far.
    pub fn taps(&self) -> u32 {
        self.taps.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub async fn type_into(&self, id: &str, text: &str) -> anyhow::Result<()> {
        let element = self.find(id).await?;
        element.clear().await?;
        element.send_keys(text).await?;
        Ok(())
    }

    /// Taps the scale's line at `fraction` of its length (0.0 left end, 1.0 right end), as a
    /// citizen's finger would.
    pub async fn tap_line(&self, fraction: f64) -> anyhow::Result<()> {
        self.tap_line_at("[data-testid=\"vas-line\"]", fraction).await
    }

    /// Taps the line inside the element with `data-testid="<container>"` (one item of a scale
    /// the worker marks) at `fraction` of its length.
    pub async fn tap_line_in(&self, container: &str, fraction: f64) -> anyhow::Result<()> {
        self.tap_line_at(&format!("[data-testid=\"{container}\"] [data-testid=\"vas-line\"]"), fraction).await
    }

    /// Sets the value of a form field whose own picker WebDriver cannot type into (a date), as
    /// a choice in the picker would: the value, then the input event.
    pub async fn set_value(&self, id: &str, value: &str) -> anyhow::Result<()> {
        let element = self.find(id).await?;
        let script = "arguments[0].value = arguments[1];
             arguments[0].dispatchEvent(new Event('input', { bubbles: true }));
             arguments[0].dispatchEvent(new Event('change', { bubbles: true }));";
        self.driver().execute(script, vec![element.to_json()?, serde_json::json!(value)]).await?;
        Ok(())
    }

    async fn tap_line_at(&self, css: &str, fraction: f64) -> anyhow::Result<()> {
        let line = self.wait_css(css).await?;
        // A scale the worker marks is longer than the screen: the line is brought into view first,
        // as the worker would scroll to it.
        self.driver().execute("arguments[0].scrollIntoView({ block: 'center' });", vec![line.to_json()?]).await?;
        let rect = line.rect().await?;
        let x = (rect.width * (fraction - 0.5)).round() as i64;
        self.driver().action_chain().move_to_element_with_offset(&line, x, 0).click().perform().await?;
        self.taps.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    /// The value the line holds now, in tenths (None without a mark).
    pub async fn line_value(&self) -> anyhow::Result<Option<i64>> {
        let value = self.find("vas-line").await?.attr("data-value").await?.unwrap_or_default();
        Ok(value.parse().ok())
    }

    /// The value the line inside the element `container` holds now, in tenths (None without a mark).
    pub async fn line_value_in(&self, container: &str) -> anyhow::Result<Option<i64>> {
        let line = self.wait_css(&format!("[data-testid=\"{container}\"] [data-testid=\"vas-line\"]")).await?;
        Ok(line.attr("data-value").await?.unwrap_or_default().parse().ok())
    }

    /// Whether the element `id` inside the element `container` can be used now.
    pub async fn enabled_in(&self, container: &str, id: &str) -> anyhow::Result<bool> {
        Ok(self.wait_css(&format!("[data-testid=\"{container}\"] [data-testid=\"{id}\"]")).await?.is_enabled().await?)
    }

    /// Saves a screenshot of the app's display as `target/screenshots/<name>.png`, after checking
    /// the screen's accessibility with axe-core (`accessibility`): every screen the E2E passes is
    /// photographed, so every one is checked, and a serious or critical violation fails the test.
    /// Taken with ImageMagick from the X display: WebKitWebDriver's own screenshot command ends
    /// its process now and then on this WebKitGTK (2.50) under Xvfb.
    pub async fn screenshot(&self, name: &str) -> anyhow::Result<PathBuf> {
        let found = self.accessibility().await?;
        let line = format!(
            "{name}: {} serious or critical, {} other violations{}\n",
            found.serious.len(),
            found.other.len(),
            if found.other.is_empty() { String::new() } else { format!(" ({})", found.other.join("; ")) }
        );
        std::fs::create_dir_all(&self.screenshots)?;
        use std::io::Write as _;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.screenshots.join("axe.txt"))?
            .write_all(line.as_bytes())?;
        if !found.serious.is_empty() {
            bail!("{name}: serious or critical accessibility violations: {}", found.serious.join("; "));
        }
        let path = self.screenshots.join(format!("{name}.png"));
        // Let the last input paint first.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let status = Command::new("import")
            .args(["-display", &format!(":{}", self.display.number), "-window", "root"])
            .arg(&path)
            .status()
            .context("ImageMagick's import is missing: run scripts/install-app-deps.sh")?;
        if !status.success() {
            bail!("import could not take {name}");
        }
        Ok(path)
    }

    /// Runs axe-core (the npm package in ui/node_modules, the version the UI's lockfile pins)
    /// inside the web view on the screen as it is, for the WCAG 2.1 A and AA rules.
    pub async fn accessibility(&self) -> anyhow::Result<Accessibility> {
        let source = std::fs::read_to_string(crate::repo_root().join("ui/node_modules/axe-core/axe.min.js"))
            .context("axe-core is missing: run npm ci in ui/")?;
        self.driver().execute(&source, Vec::new()).await?;
        let script = r#"
            const done = arguments[arguments.length - 1];
            const describe = (v) => `${v.id} (${v.impact}) at ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`;
            axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] }, resultTypes: ['violations'] })
              .then((r) => done({
                serious: r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map(describe),
                other: r.violations.filter((v) => v.impact !== 'serious' && v.impact !== 'critical').map(describe),
              }))
              .catch((e) => done({ serious: [`axe could not run: ${e}`], other: [] }));
        "#;
        let answer = self.driver().execute_async(script, Vec::new()).await?;
        let list = |key: &str| -> Vec<String> {
            let items = answer.json()[key].as_array().cloned().unwrap_or_default();
            items.iter().map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned)).collect()
        };
        if !answer.json().is_object() {
            bail!("axe-core gave no answer: {}", answer.json());
        }
        Ok(Accessibility { serious: list("serious"), other: list("other") })
    }

    /// Invokes an app command from the page, as any script in the window could, and returns
    /// what it answered or the error it rejected with.
    pub async fn invoke_from_page(&self, command: &str) -> anyhow::Result<serde_json::Value> {
        self.invoke_with(command, serde_json::json!({})).await
    }

    /// Invokes `command` with `args` from the page, as the UI would.
    pub async fn invoke_with(&self, command: &str, args: serde_json::Value) -> anyhow::Result<serde_json::Value> {
        let script = format!(
            "const done = arguments[arguments.length - 1];
             window.__TAURI_INTERNALS__.invoke({command:?}, arguments[0])
               .then((value) => done({{ ok: value }}), (error) => done({{ error }}));"
        );
        Ok(self.driver().execute_async(script, vec![args]).await?.json().clone())
    }

    /// Ends the session (which closes the app) and stops tauri-driver and the display.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(driver) = self.driver.take() {
            driver.quit().await?;
        }
        Ok(())
    }
}

impl Drop for RealApp {
    fn drop(&mut self) {
        terminate(&mut self.tauri_driver);
    }
}

fn sanitize(text: &str) -> String {
    text.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect()
}

/// A worker's other device, used to put a citizen with a history on the server the way real
/// data arrives there: recorded on a device and pushed through sync.
#[derive(Debug)]
pub struct SeedingDevice {
    _dir: tempfile::TempDir,
    pub device: Mutex<Device>,
}

pub const SEED_PIN: &str = "135792";

/// What axe-core found on one screen: serious or critical violations, and the rest.
#[derive(Debug, Clone, Default)]
pub struct Accessibility {
    pub serious: Vec<String>,
    pub other: Vec<String>,
}

/// A device in `dir`, set up with `pin`, its PIN derived at the tests' low Argon2id cost.
pub fn set_up_device(dir: &Path, pin: &str, clock: Arc<dyn fit_device::Clock>) -> anyhow::Result<Mutex<Device>> {
    let config = DeviceConfig {
        unlock: UnlockPolicy { kdf: KdfCost::FOR_TESTS, ..UnlockPolicy::default() },
        ..DeviceConfig::new(dir)
    };
    let mut device = Device::open(config, clock)?;
    device.set_up(pin)?;
    Ok(Mutex::new(device))
}

/// The PIN of the devices `enrolled_device` sets up.
pub const DEVICE_PIN: &str = "975310";

/// A new device set up in a temporary directory and enrolled for `worker` at `server` through
/// `client` (the app's HTTP transport, or a test's own); it has not synced yet.
pub async fn enrolled_device<S: fit_server::store::ServerStore, T: fit_device::sync::Transport>(
    server: &LiveServer<S>,
    worker: fit_core::ids::WorkerId,
    client: &SyncClient<T>,
) -> anyhow::Result<(tempfile::TempDir, Mutex<Device>)> {
    let dir = tempfile::tempdir()?;
    let device = set_up_device(dir.path(), DEVICE_PIN, Arc::new(SystemClock))?;
    let code = enrollment_code(&server.store, worker, now_ms()).await?;
    client.enroll(&device, &server.url(), &code, None).await?;
    Ok((dir, device))
}

pub fn now_ms() -> u64 {
    u64::try_from(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0),
    )
    .unwrap_or(u64::MAX)
}

impl SeedingDevice {
    pub async fn enroll(server: &LiveServer, caseload: Caseload) -> anyhow::Result<SeedingDevice> {
        let dir = tempfile::tempdir()?;
        let device = set_up_device(dir.path(), SEED_PIN, Arc::new(SystemClock))?;
        let code = enrollment_code(&server.store, caseload.worker, now_ms()).await?;
        SyncClient::new(SyncConfig::default())?.enroll(&device, &server.url(), &code, None).await?;
        Ok(SeedingDevice { _dir: dir, device })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Device> {
        self.device.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn device_id(&self) -> anyhow::Result<fit_core::ids::DeviceId> {
        Ok(self.lock().store_mut()?.device_id())
    }

    /// Names the citizen and records one visit with every ORS and SRS item at the given tenths,
    /// then pushes it all to the server.
    pub async fn seed_citizen(
        &self,
        caseload: Caseload,
        citizen: CitizenId,
        name: &str,
        ors_item_tenths: i64,
        srs_item_tenths: i64,
    ) -> anyhow::Result<()> {
        {
            let mut device = self.lock();
            let scales = device.scales().clone();
            let store = device.store_mut()?;
            store.assign_citizen(caseload.worker, citizen)?;
            let id = ChangeId::from(uuid::Uuid::now_v7());
            let body = ChangeBody::FieldSet {
                entity: Entity::Citizen { citizen },
                field: FieldName::DisplayName,
                value: name.into(),
                base: None,
            };
            store.commit_local(&scales, now_ms(), id, body)?;
        }
        self.seed_visit(citizen, ors_item_tenths, srs_item_tenths).await
    }

    /// Records one visit of `citizen` with every ORS and SRS item at the given tenths, then
    /// pushes it to the server.
    pub async fn seed_visit(
        &self,
        citizen: CitizenId,
        ors_item_tenths: i64,
        srs_item_tenths: i64,
    ) -> anyhow::Result<()> {
        {
            let mut device = self.lock();
            let visit = device.start_visit(citizen)?;
            for (scale, items, tenths) in [
                ("ors", ["individually", "interpersonally", "socially", "overall"], ors_item_tenths),
                ("srs", ["relationship", "goals-and-topics", "approach-or-method", "overall"], srs_item_tenths),
            ] {
                let answers = items.iter().map(|i| RawAnswer { item: (*i).into(), value: tenths.into() }).collect();
                let content = ResponseContent::Given { marked_by: MarkedBy::CitizenOnDevice, answers };
                device.record_response(visit, ResponseInput { scale: scale.into(), content })?;
            }
            device.close_visit(visit)?;
        }
        SyncClient::new(SyncConfig::default())?.sync_now(&self.device, |_| {}).await?;
        Ok(())
    }
}

/// Where the screenshots of the end-to-end tests go.
pub fn screenshot_dir() -> PathBuf {
    repo_root().join("target").join("screenshots")
}

/// True when `path` is a PNG file of some size (a screenshot that was really taken).
pub fn is_png(path: &Path) -> bool {
    std::fs::read(path).is_ok_and(|bytes| bytes.len() > 1000 && bytes.starts_with(b"\x89PNG"))
}
