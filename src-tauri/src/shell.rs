//! What the app holds for its lifetime: the session over the device, the sync engine's handles
//! and the settings; and the background tasks (the sync loop, its status events, the nightly
//! window).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fit_device::app::{AppError, AppSession};
use fit_device::settings::{AppSettings, SettingsFile};
use fit_device::sync::{SyncClient, SyncConfig, SyncStatus};
use fit_device::{Clock, Device, DeviceConfig, ErrorCode, SystemClock};
use serde::Serialize;
use tauri::{AppHandle, Emitter, Manager, Runtime};
use tokio::sync::{Notify, watch};

use crate::Cli;

/// The event the UI listens to for the sync status line and progress bar.
pub const SYNC_STATUS_EVENT: &str = "sync-status";
/// The nightly task looks at the clock and the settings at least this often.
const NIGHTLY_CHECK_MAX: Duration = Duration::from_secs(10 * 60);

/// The sync status with the device's own counters, as the UI shows it.
#[derive(Debug, Clone, Serialize)]
pub struct SyncView {
    #[serde(flatten)]
    pub status: SyncStatus,
    /// None while the app is locked.
    pub pending_changes: Option<u64>,
    pub oldest_pending_age_ms: Option<u64>,
}

#[derive(Debug)]
pub struct Shell {
    pub session: Arc<AppSession>,
    pub client: SyncClient,
    settings_file: SettingsFile,
    settings: Mutex<AppSettings>,
    settings_changed: Notify,
    wake: Arc<Notify>,
    shutdown: Arc<Notify>,
    status_tx: watch::Sender<SyncStatus>,
    sync_running: AtomicBool,
}

impl Shell {
    pub fn open(data_dir: &Path, cli: &Cli) -> Result<Shell, AppError> {
        let device = Device::open(DeviceConfig::new(data_dir), Arc::new(SystemClock))?;
        let config =
            SyncConfig { backoff_max: Duration::from_secs(cli.sync_retry_max_seconds.max(1)), ..SyncConfig::default() };
        let settings_file = SettingsFile::new(data_dir);
        Ok(Shell {
            session: Arc::new(AppSession::new(device)),
            client: SyncClient::new(config)?,
            settings: Mutex::new(settings_file.load()),
            settings_file,
            settings_changed: Notify::new(),
            wake: Arc::new(Notify::new()),
            shutdown: Arc::new(Notify::new()),
            status_tx: watch::channel(SyncStatus::default()).0,
            sync_running: AtomicBool::new(false),
        })
    }

    /// Runs `action` on a blocking thread: the store does disk I/O and unlocking runs Argon2id,
    /// neither of which may stall the UI or the async runtime.
    pub async fn blocking<T: Send + 'static>(
        &self,
        action: impl FnOnce(&AppSession) -> Result<T, AppError> + Send + 'static,
    ) -> Result<T, AppError> {
        let session = self.session.clone();
        tauri::async_runtime::spawn_blocking(move || action(&session))
            .await
            .map_err(|_| AppError::new(ErrorCode::AppInternal, "the app hit an internal error; nothing was saved"))?
    }

    /// Like `blocking`, for a write: the sync engine is woken to send it when it can.
    pub async fn write<T: Send + 'static>(
        &self,
        action: impl FnOnce(&AppSession) -> Result<T, AppError> + Send + 'static,
    ) -> Result<T, AppError> {
        let result = self.blocking(action).await;
        if result.is_ok() {
            self.wake.notify_one();
        }
        result
    }

    pub fn wake_sync(&self) {
        self.wake.notify_one();
    }

    pub fn sync_view(&self) -> SyncView {
        let counters = self.session.sync_counters().ok();
        SyncView {
            status: self.status_tx.borrow().clone(),
            pending_changes: counters.map(|c| c.pending_changes),
            oldest_pending_age_ms: counters.and_then(|c| c.oldest_pending_age_ms),
        }
    }

    pub fn settings(&self) -> AppSettings {
        *self.settings.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Saves the settings; a worker action, so refused while a citizen holds the device.
    pub fn save_settings(&self, settings: AppSettings) -> Result<AppSettings, AppError> {
        if self.session.status().citizen_mode.is_some() {
            return Err(AppError::new(ErrorCode::CitizenModeActive, "the worker's PIN is needed to change settings"));
        }
        self.settings_file.save(&settings)?;
        *self.settings.lock().unwrap_or_else(|p| p.into_inner()) = settings;
        self.settings_changed.notify_one();
        Ok(settings)
    }
}

/// Starts the background work: the nightly window, the sync status events, and the sync loop
/// once the device is enrolled and unlocked. A device set up from the command line (the demo)
/// is set up first, before the window asks where it stands.
pub fn start<R: Runtime>(app: AppHandle<R>, cli: Cli) {
    let handle = app.clone();
    tauri::async_runtime::spawn(async move { nightly(handle).await });
    let handle = app.clone();
    tauri::async_runtime::spawn(async move { emit_status(handle).await });
    if let (Some(server), Some(code), Some(pin)) = (&cli.server, &cli.enroll_code, &cli.pin) {
        let shell = app.state::<Shell>();
        let set_up = shell.session.set_up_enrolled(&shell.client, pin, server, code);
        if let Err(error) = tauri::async_runtime::block_on(set_up) {
            eprintln!("setting up from the command line failed: {}", error.code);
        }
    }
    ensure_sync(&app);
}

/// Starts the sync loop if the device is enrolled and it is not running yet. It keeps running
/// while the app is locked (its rounds fail until unlocked) and stops when the device is revoked.
pub fn ensure_sync<R: Runtime>(app: &AppHandle<R>) {
    let shell = app.state::<Shell>();
    if !shell.session.status().enrolled {
        return;
    }
    if shell.sync_running.swap(true, Ordering::SeqCst) {
        shell.wake_sync();
        return;
    }
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let shell = app.state::<Shell>();
        let device = shell.session.device().clone();
        fit_device::sync::run_background(
            device,
            shell.client.clone(),
            shell.wake.clone(),
            shell.shutdown.clone(),
            shell.status_tx.clone(),
        )
        .await;
        shell.sync_running.store(false, Ordering::SeqCst);
    });
}

/// Sends the sync status to the UI whenever it changes.
async fn emit_status<R: Runtime>(app: AppHandle<R>) {
    let mut changes = app.state::<Shell>().status_tx.subscribe();
    while changes.changed().await.is_ok() {
        let view = app.state::<Shell>().sync_view();
        // The window may be gone while the app shuts down; there is nobody to tell then.
        let _ = app.emit(SYNC_STATUS_EVENT, view);
    }
}

/// Wakes the sync loop at the nightly window of the settings, re-reading them when they change.
async fn nightly<R: Runtime>(app: AppHandle<R>) {
    let clock = SystemClock;
    loop {
        let shell = app.state::<Shell>();
        let now = clock.now_ms();
        let next = shell.settings().nightly.next_after(now);
        let wait = next.map_or(NIGHTLY_CHECK_MAX, |at| Duration::from_millis(at - now).min(NIGHTLY_CHECK_MAX));
        tokio::select! {
            () = tokio::time::sleep(wait) => {
                if next.is_some_and(|at| clock.now_ms() >= at) {
                    shell.wake_sync();
                }
            }
            () = shell.settings_changed.notified() => {}
        }
    }
}
