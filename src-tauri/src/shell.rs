//! What the shell adds to the app's service (`fit_device::app::App`): opening it from the
//! command line's options, running its actions off the async runtime, and spawning its
//! background work with the sync status sent to the window as events.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use fit_device::ErrorCode;
use fit_device::app::{App, AppError};
use fit_device::sync::SyncConfig;
use tauri::{AppHandle, Emitter, Manager, Runtime};

use crate::Cli;
use crate::speech::DeviceSpeech;

/// The event the UI listens to for the sync status line and progress bar.
pub const SYNC_STATUS_EVENT: &str = "sync-status";

/// Opens the app's service over the device directory, with the sync retry of the command line
/// and the device's speech engine (started when read-aloud is first asked for).
pub fn open(data_dir: &Path, cli: &Cli) -> Result<Arc<App>, AppError> {
    let backoff_max = Duration::from_secs(cli.sync_retry_max_seconds.max(1));
    let interval = Duration::from_secs(cli.sync_interval_seconds.max(1));
    let config = SyncConfig { backoff_max, interval, allow_plain_http: cli.allow_plain_http, ..SyncConfig::default() };
    let speech = Arc::new(DeviceSpeech::default());
    let mut app = App::open(data_dir, config)?.with_speech(speech);
    if let Some(seconds) = cli.auto_lock_seconds {
        app = app.with_idle_limit(Duration::from_secs(seconds.max(1)));
    }
    Ok(Arc::new(app))
}

/// Runs `action` on a blocking thread: the store does disk I/O and unlocking runs Argon2id,
/// neither of which may stall the UI or the async runtime.
pub async fn blocking<T: Send + 'static>(
    app: &Arc<App>,
    action: impl FnOnce(&App) -> Result<T, AppError> + Send + 'static,
) -> Result<T, AppError> {
    let app = app.clone();
    tauri::async_runtime::spawn_blocking(move || action(&app))
        .await
        .map_err(|_| AppError::new(ErrorCode::AppInternal, "the app hit an internal error; nothing was saved"))?
}

/// Spawns the background work: the idle lock, the nightly window, the sync status events and the
/// sync engine.
/// A device set up from the command line (the demo) is set up first, before the window asks
/// where it stands.
pub fn start<R: Runtime>(handle: &AppHandle<R>, cli: &Cli) {
    let app = handle.state::<Arc<App>>().inner().clone();
    tauri::async_runtime::spawn(app.clone().run_idle_lock());
    tauri::async_runtime::spawn(app.clone().run_nightly());
    let window = handle.clone();
    tauri::async_runtime::spawn(app.clone().watch_sync(move |view| {
        // The window may be gone while the app shuts down; there is nobody to tell then.
        let _ = window.emit(SYNC_STATUS_EVENT, view);
    }));
    if let (Some(server), Some(code), Some(pin)) = (&cli.server, &cli.enroll_code, &cli.pin) {
        // A certificate asked for and not readable enrolls nothing: never without the pin.
        match cli.server_certificate.as_deref().map(std::fs::read_to_string).transpose() {
            Err(error) => eprintln!("the server certificate cannot be read: {error}"),
            Ok(certificate) => {
                let set_up = app.set_up_enrolled(pin, server, code, certificate.as_deref());
                if let Err(error) = tauri::async_runtime::block_on(set_up) {
                    eprintln!("setting up from the command line failed: {}", error.code);
                }
            }
        }
    }
    tauri::async_runtime::spawn(app.run_sync());
}
