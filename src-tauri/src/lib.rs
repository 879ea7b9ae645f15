//! The Tauri shell of FIT Field: only wiring. It opens the app's service
//! (`fit_device::app::App`) as managed state, spawns its background work (the sync engine, its
//! status events, the nightly window), brings the device's speech engine for read-aloud
//! (`speech`), and hands the UI one command per action, each a one-liner over the service.
//! Every command answers `{code, message}` on failure; no panic reaches the UI.

#[macro_use]
mod command_list;
#[cfg(test)]
mod bindings;
mod commands;
mod shell;
mod speech;

use std::path::PathBuf;

use clap::Parser;
use tauri::{Manager, Runtime};

/// Settings the app takes on its command line. The end-to-end tests and the demo pass them this
/// way, because the app inherits the WebDriver server's environment, not the test's.
#[derive(Debug, Clone, Parser)]
#[command(name = "fit-app", about = "FIT Field: feedback-informed treatment for home support")]
pub struct Cli {
    /// Where the encrypted store and the settings live (default: the platform's app data folder).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// With --enroll-code and --pin: set up and enroll a new device with this server at start.
    #[arg(long)]
    pub server: Option<String>,
    /// A one-time enrollment code from the server's administrator.
    #[arg(long)]
    pub enroll_code: Option<String>,
    /// The server's certificate (a PEM file) to pin when enrolling from the command line: the
    /// server must present it, and no other certificate authority is trusted.
    #[arg(long)]
    pub server_certificate: Option<PathBuf>,
    /// The PIN of a device set up from the command line (demo only: it is visible to `ps`).
    #[arg(long)]
    pub pin: Option<String>,
    /// The longest wait between retries while the server is unreachable.
    #[arg(long, default_value_t = 300)]
    pub sync_retry_max_seconds: u64,
    /// How often a connected device syncs when nothing wakes it sooner.
    #[arg(long, default_value_t = 60)]
    pub sync_interval_seconds: u64,
    /// Lock after this many seconds without the worker's action, in place of the settings'
    /// minutes (tests and demonstrations).
    #[arg(long)]
    pub auto_lock_seconds: Option<u64>,
    /// Sync with an http:// server on another machine (a test network without TLS; never in the
    /// field). Plain HTTP to this machine is always allowed.
    #[arg(long)]
    pub allow_plain_http: bool,
}

/// Every command the UI may invoke, by name.
pub const COMMANDS: &[&str] = app_commands!(command_names);

/// The invoke handler over every command of the list.
macro_rules! handler {
    ($($command:ident),* $(,)?) => {
        tauri::generate_handler![$(commands::$command),*]
    };
}

/// Builds and runs the app with `builder`; tests can pass a mock builder.
pub fn run_app<R: Runtime>(builder: tauri::Builder<R>, cli: Cli) -> Result<(), tauri::Error> {
    builder
        .setup(move |app| {
            let data_dir = match &cli.data_dir {
                Some(dir) => dir.clone(),
                None => app.path().app_data_dir()?,
            };
            app.manage(shell::open(&data_dir, &cli)?);
            shell::start(app.handle(), &cli);
            Ok(())
        })
        .invoke_handler(app_commands!(handler))
        .run(tauri::generate_context!())
}

/// The entry point of every platform: the desktop binary calls it, Android and iOS start here.
#[cfg_attr(mobile, tauri::mobile_entry_point)]
pub fn run() {
    // Unknown arguments (a launcher's own) must not stop the app: it starts with the defaults.
    let cli = Cli::try_parse().unwrap_or_else(|_| Cli::parse_from(["fit-app"]));
    if let Err(error) = run_app(tauri::Builder::default(), cli) {
        eprintln!("FIT Field could not start: {error}");
        std::process::exit(1);
    }
}
