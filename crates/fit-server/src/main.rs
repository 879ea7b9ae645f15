//! `fit-server`: the municipal server binary. `serve` runs the sync API; the other subcommands
//! are the administrator's: teams, workers, citizens, caseloads, enrollment codes, devices.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use fit_core::ids::{CitizenId, DeviceId, TeamId, WorkerId};
use fit_server::store::ServerStore;
use fit_server::store::sqlite::SqliteStore;
use fit_server::{AppState, secret_hash, serve, system_now};
use tokio::net::TcpListener;

#[derive(Debug, Parser)]
#[command(name = "fit-server", about = "FIT Field municipal server", version)]
struct Cli {
    /// The SQLite database file (created when missing).
    #[arg(long, global = true, default_value = "fit-server.db")]
    database: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the sync API.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
    },
    /// Create a team; prints its id.
    CreateTeam { name: String },
    /// Create a worker in a team; prints its id.
    CreateWorker { team: TeamId, name: String },
    /// Create a citizen in a team; prints its id. Profile fields come from the worker's device.
    CreateCitizen { team: TeamId },
    /// Put a citizen in a worker's caseload (moving it from any other).
    Assign { citizen: CitizenId, worker: WorkerId },
    /// Create a one-time enrollment code for a worker; prints the code.
    EnrollmentCode {
        worker: WorkerId,
        /// Hours the code stays valid.
        #[arg(long, default_value_t = 72)]
        valid_hours: u64,
    },
    /// List enrolled devices.
    Devices,
    /// Revoke a device: it gets `device.revoked` and wipes itself at its next sync.
    Revoke { device: DeviceId },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let store = SqliteStore::open(&cli.database).with_context(|| format!("cannot open {}", cli.database.display()))?;
    let now = system_now();
    let new_id = || uuid::Uuid::now_v7();
    let mut out = std::io::stdout().lock();
    use std::io::Write;
    match cli.command {
        Command::Serve { listen } => {
            let listener = TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
            tracing::info!(address = %listener.local_addr()?, "serving");
            serve(listener, AppState::new(store)?, shutdown_signal()).await?;
            tracing::info!("stopped");
        }
        Command::CreateTeam { name } => {
            let team = TeamId::from(new_id());
            store.create_team(team, name).await?;
            writeln!(out, "{team}")?;
        }
        Command::CreateWorker { team, name } => {
            let worker = WorkerId::from(new_id());
            store.create_worker(worker, team, name).await?;
            writeln!(out, "{worker}")?;
        }
        Command::CreateCitizen { team } => {
            let citizen = CitizenId::from(new_id());
            store.create_citizen(citizen, team).await?;
            writeln!(out, "{citizen}")?;
        }
        Command::Assign { citizen, worker } => store.assign(citizen, worker, now()).await?,
        Command::EnrollmentCode { worker, valid_hours } => {
            let mut secret = [0u8; 10];
            getrandom::fill(&mut secret).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
            let code = hex::encode(secret);
            let expires = now().saturating_add(valid_hours.saturating_mul(3_600_000));
            store.create_enrollment_code(secret_hash(&code), worker, now(), expires).await?;
            writeln!(out, "{code}")?;
        }
        Command::Devices => {
            for d in store.devices().await? {
                let state = if d.revoked_at_ms.is_some() { "revoked" } else { "active" };
                writeln!(out, "{}\t{}\t{state}\tlast seq {}", d.device, d.worker, d.last_seq)?;
            }
        }
        Command::Revoke { device } => store.revoke(device, now()).await?,
    }
    Ok(())
}

/// Ctrl-C or SIGTERM: stop taking requests and finish the ones under way.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
