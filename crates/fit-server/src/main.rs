//! `fit-server`: the municipal server binary. `serve` runs the sync API; the other subcommands
//! are the administrator's: teams, workers, citizens, caseloads, enrollment codes, devices, the
//! CSV export, and a demo caseload for trying the product.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use fit_core::ids::{CitizenId, DeviceId, TeamId, WorkerId};
use fit_core::pack::Admitted;
use fit_protocol::demo::{DemoSpec, WEEK_MS, demo_visits};
use fit_protocol::sync::PUSH_CHANGES_MAX;
use fit_protocol::{ErrorCode, PROTOCOL_VERSION, SyncRequest};
use fit_server::net::{self, NetConfig};
use fit_server::rules::token::TokenPolicy;
use fit_server::store::postgres::PgStore;
use fit_server::store::sqlite::SqliteStore;
use fit_server::store::{CitizenProfile, CodeInfo, CodeRef, ServerStore, StoreError};
use fit_server::{AppState, NowMs, export, rules, secret_hash, system_now};
use tokio::net::TcpListener;

#[derive(Debug, Parser)]
#[command(name = "fit-server", about = "FIT Field municipal server", version)]
struct Cli {
    /// The database: a SQLite file (created when missing), or a `postgres://` URL.
    #[arg(long, global = true, default_value = "fit-server.db")]
    database: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the sync API: over TLS with --tls-cert and --tls-key, else plain HTTP (on this
    /// machine, or behind a proxy that terminates TLS).
    Serve(ServeArgs),
    /// Create a team; prints its id.
    CreateTeam { name: String },
    /// Create a worker in a team; prints its id.
    CreateWorker { team: TeamId, name: String },
    /// Create a citizen in a team; prints its id. Use a pseudonymous name, never a CPR number.
    CreateCitizen {
        team: TeamId,
        /// The name workers see on their devices.
        #[arg(long)]
        name: String,
        /// child, adolescent or adult: decides the ORS cutoff.
        #[arg(long, default_value = "adult")]
        age_band: String,
        #[arg(long)]
        birth_year: Option<i64>,
        /// The municipality's case reference.
        #[arg(long)]
        case_reference: Option<String>,
        /// The day the support started, YYYY-MM-DD (default: today). A paper form dated before
        /// it cannot be entered.
        #[arg(long)]
        support_started: Option<String>,
    },
    /// Set when a team's citizens are given the well-being scale (WHO-5): at the first visit
    /// (unless --not-at-first-visit) and again every --every-days days (1 to 3650; without it,
    /// only at the first visit). Devices follow it from their next sync.
    SetSchedule {
        team: TeamId,
        #[arg(long)]
        every_days: Option<u32>,
        #[arg(long)]
        not_at_first_visit: bool,
    },
    /// Put a citizen in a worker's caseload (moving it from any other).
    Assign { citizen: CitizenId, worker: WorkerId },
    /// Create a one-time enrollment code for a worker; prints the code (and its id on stderr).
    EnrollmentCode {
        worker: WorkerId,
        /// Hours the code stays valid: 1 to 168 (a week).
        #[arg(long, default_value_t = 72)]
        valid_hours: u64,
    },
    /// List enrollment codes: id, worker, created, expires, state (never the code itself).
    Codes,
    /// Revoke an enrollment code, named by its id or by the code: it enrolls nothing from then on.
    RevokeCode { code: String },
    /// List enrolled devices.
    Devices,
    /// List the changes acknowledged but kept out of the log (a former worker's, recorded after
    /// the citizen moved): when, why, the device, the citizen and the kind; no content.
    SetAside,
    /// Revoke a device: it gets `device.revoked` and wipes itself at its next sync.
    Revoke { device: DeviceId },
    /// Deactivate a worker: their devices stop syncing (`worker.deactivated`; their unsynced work
    /// stays on them) and no enrollment code can be made for them.
    DeactivateWorker { worker: WorkerId },
    /// Make a deactivated worker active again: their devices sync again, pending work included.
    ReactivateWorker { worker: WorkerId },
    /// List the audit log: time (ms), actor, action, subject (ids only).
    Audit,
    /// Export every response as CSV (to a file, or to standard output).
    ExportCsv {
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Install a scale pack (a licence holder's full ORS/SRS text, or a new scale) after the
    /// checks every pack passes; devices fetch it at their next sync. A broken pack is refused
    /// with the file and the field, and nothing is installed.
    InstallPack { file: PathBuf },
    /// Seed a demo team, worker and citizens with weeks of visits; prints
    /// `{"code": ..., "worker": ...}`: an enrollment code for the demo worker.
    Demo {
        #[arg(long, default_value_t = 5)]
        citizens: usize,
        #[arg(long, default_value_t = 8)]
        visits: usize,
    },
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The server's certificate chain (PEM); with --tls-key, the server speaks HTTPS itself.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of the certificate (PEM).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Seconds for a request's headers (and for an idle kept-alive connection, and a TLS handshake).
    #[arg(long, default_value_t = NetConfig::default().header_timeout.as_secs())]
    header_timeout: u64,
    /// Seconds for a whole request, its body included.
    #[arg(long, default_value_t = NetConfig::default().request_timeout.as_secs())]
    request_timeout: u64,
    /// Open connections at most; the excess are closed at once. Keep it under the file limit.
    #[arg(long, default_value_t = NetConfig::default().max_connections)]
    max_connections: usize,
    /// Open connections from one address at most (0: no limit; behind a proxy all come from it).
    #[arg(long, default_value_t = NetConfig::default().max_connections_per_ip)]
    max_connections_per_ip: usize,
    /// Requests under way at most; the excess get 503 server.busy.
    #[arg(long, default_value_t = NetConfig::default().max_in_flight)]
    max_in_flight: usize,
    /// Enrollments a minute from one address (0: no limit).
    #[arg(long, default_value_t = NetConfig::default().enroll_per_ip)]
    enroll_per_ip: u32,
    /// Syncs a minute from one address (0: no limit; behind a proxy every request comes from it).
    #[arg(long, default_value_t = NetConfig::default().sync_per_ip)]
    sync_per_ip: u32,
    /// Syncs a minute with one device token (0: no limit).
    #[arg(long, default_value_t = NetConfig::default().sync_per_token)]
    sync_per_token: u32,
}

impl ServeArgs {
    fn net(&self) -> NetConfig {
        NetConfig {
            header_timeout: Duration::from_secs(self.header_timeout),
            request_timeout: Duration::from_secs(self.request_timeout),
            max_connections: self.max_connections,
            max_connections_per_ip: self.max_connections_per_ip,
            max_in_flight: self.max_in_flight,
            enroll_per_ip: self.enroll_per_ip,
            sync_per_ip: self.sync_per_ip,
            sync_per_token: self.sync_per_token,
        }
    }
}

/// Serves until Ctrl-C or SIGTERM, over TLS when a certificate and key are given.
async fn run_serve<S: ServerStore>(store: S, args: ServeArgs) -> anyhow::Result<()> {
    args.net().check()?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(net::tls_acceptor(cert, key)?),
        _ => None,
    };
    let listen = args.listen;
    let listener = TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(address = %listener.local_addr()?, scheme, "serving");
    let mut state = AppState::new(store)?;
    state.net = args.net();
    net::serve_with(listener, state, tls, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    if cli.database.starts_with("postgres://") || cli.database.starts_with("postgresql://") {
        // The URL may hold a password: it stays out of the messages.
        let store = PgStore::connect(&cli.database).await.context("cannot open the PostgreSQL database")?;
        return run(store, cli.command).await;
    }
    let path = PathBuf::from(&cli.database);
    let store = SqliteStore::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
    run(store, cli.command).await
}

async fn run<S: ServerStore>(store: S, command: Command) -> anyhow::Result<()> {
    let now = system_now();
    let mut out = std::io::stdout().lock();
    if let Command::Serve(args) = command {
        return run_serve(store, args).await;
    }
    let action = action_name(&command);
    let subject = match command {
        Command::Codes | Command::Devices | Command::SetAside | Command::Audit => {
            list(&store, &command, &mut out).await?
        }
        command => change(&store, command, &now, &mut out).await?,
    };
    // Every administrator's command leaves a line, with ids and counts only.
    store.audit("admin".into(), action.into(), subject, now()).await?;
    Ok(())
}

/// The audit log's name for a command: its name on the command line.
fn action_name(command: &Command) -> &'static str {
    match command {
        Command::Serve { .. } => "serve",
        Command::CreateTeam { .. } => "create-team",
        Command::CreateWorker { .. } => "create-worker",
        Command::CreateCitizen { .. } => "create-citizen",
        Command::SetSchedule { .. } => "set-schedule",
        Command::Assign { .. } => "assign",
        Command::EnrollmentCode { .. } => "enrollment-code",
        Command::Codes => "codes",
        Command::RevokeCode { .. } => "revoke-code",
        Command::Devices => "devices",
        Command::SetAside => "set-aside",
        Command::Revoke { .. } => "revoke",
        Command::DeactivateWorker { .. } => "deactivate-worker",
        Command::ReactivateWorker { .. } => "reactivate-worker",
        Command::Audit => "audit",
        Command::ExportCsv { .. } => "export-csv",
        Command::InstallPack { .. } => "install-pack",
        Command::Demo { .. } => "demo",
    }
}

/// The commands that only read; returns what the audit log says they showed.
async fn list<S: ServerStore>(store: &S, command: &Command, out: &mut impl Write) -> anyhow::Result<String> {
    let shown = match command {
        Command::Codes => {
            let codes = store.enrollment_codes().await?;
            let now = system_now()();
            for c in &codes {
                let id = c.id.map_or_else(|| "-".to_owned(), |id| id.to_string());
                let state = code_state(c, now);
                writeln!(out, "{id}\t{}\t{}\t{}\t{state}", c.worker, c.created_at_ms, c.expires_at_ms)?;
            }
            codes.len()
        }
        Command::Devices => {
            let devices = store.devices().await?;
            for d in &devices {
                let state = if d.revoked_at_ms.is_some() { "revoked" } else { "active" };
                writeln!(out, "{}\t{}\t{state}\tlast seq {}", d.device, d.worker, d.last_seq)?;
            }
            devices.len()
        }
        Command::SetAside => {
            let set_aside = store.set_aside().await?;
            for aside in &set_aside {
                let change = &aside.change;
                let kind = fit_server::store::kind(&change.body);
                writeln!(
                    out,
                    "{}\t{}\tdevice {} seq {}\tcitizen {}\t{kind}",
                    aside.received_at_ms,
                    aside.reason,
                    change.device,
                    change.seq,
                    change.citizen()
                )?;
            }
            set_aside.len()
        }
        _ => {
            let entries = store.audit_log().await?;
            for e in &entries {
                writeln!(out, "{}\t{}\t{}\t{}", e.at_ms, e.actor, e.action, e.subject)?;
            }
            entries.len()
        }
    };
    Ok(format!("{shown} rows"))
}

fn code_state(code: &CodeInfo, now_ms: u64) -> &'static str {
    if code.revoked_at_ms.is_some() {
        "revoked"
    } else if code.used_at_ms.is_some() {
        "used"
    } else if code.expires_at_ms <= now_ms {
        "expired"
    } else {
        "unused"
    }
}

/// The commands that change something; returns the ids the audit log names.
async fn change<S: ServerStore>(
    store: &S,
    command: Command,
    now: &NowMs,
    out: &mut impl Write,
) -> anyhow::Result<String> {
    let new_id = uuid::Uuid::now_v7;
    Ok(match command {
        Command::CreateTeam { name } => {
            let team = TeamId::from(new_id());
            store.create_team(team, name).await?;
            writeln!(out, "{team}")?;
            format!("team {team}")
        }
        Command::CreateWorker { team, name } => {
            let worker = WorkerId::from(new_id());
            store.create_worker(worker, team, name).await?;
            writeln!(out, "{worker}")?;
            format!("worker {worker} in team {team}")
        }
        Command::CreateCitizen { team, name, age_band, birth_year, case_reference, support_started } => {
            let citizen = CitizenId::from(new_id());
            let support_started = Some(support_started.unwrap_or_else(|| day_of(now())));
            let profile = CitizenProfile { display_name: name, birth_year, age_band, case_reference, support_started };
            store.create_citizen(citizen, team, profile, now()).await?;
            writeln!(out, "{citizen}")?;
            format!("citizen {citizen} in team {team}")
        }
        Command::Assign { citizen, worker } => {
            store.assign(citizen, worker, now()).await?;
            format!("citizen {citizen} to worker {worker}")
        }
        Command::EnrollmentCode { worker, valid_hours } => {
            let (code, id) = enrollment_code(store, worker, valid_hours, now).await?;
            writeln!(out, "{code}")?;
            eprintln!("code id {id}");
            format!("code {id} for worker {worker}, {valid_hours} h")
        }
        Command::RevokeCode { code } => {
            let named = match uuid::Uuid::parse_str(&code) {
                Ok(id) => CodeRef::Id(id),
                Err(_) => CodeRef::Hash(secret_hash(code.trim())),
            };
            let subject = match &named {
                CodeRef::Id(id) => format!("code {id}"),
                CodeRef::Hash(_) => "a code named by itself".to_owned(),
            };
            store.revoke_enrollment_code(named, now()).await?;
            subject
        }
        other => change_more(store, other, now, out).await?,
    })
}

async fn change_more<S: ServerStore>(
    store: &S,
    command: Command,
    now: &NowMs,
    out: &mut impl Write,
) -> anyhow::Result<String> {
    Ok(match command {
        Command::Revoke { device } => {
            store.revoke(device, now()).await?;
            format!("device {device}")
        }
        Command::SetSchedule { team, every_days, not_at_first_visit } => {
            let schedule = fit_core::Schedule { at_first_visit: !not_at_first_visit, every_days };
            if let Err(problem) = schedule.check() {
                return Err(StoreError::refused(ErrorCode::InputInvalid, problem).into());
            }
            store.set_team_schedule(team, schedule).await?;
            let every = every_days.map_or_else(|| "never again".to_owned(), |d| format!("every {d} days"));
            format!("team {team}: well-being at the first visit {}, then {every}", !not_at_first_visit)
        }
        Command::DeactivateWorker { worker } => {
            store.set_worker_active(worker, false, now()).await?;
            format!("worker {worker}")
        }
        Command::ReactivateWorker { worker } => {
            store.set_worker_active(worker, true, now()).await?;
            format!("worker {worker}")
        }
        Command::ExportCsv { out: file } => {
            let changes = store.changes().await?;
            // The packs served now: a response of an installed scale is exported like any other.
            let scales = rules::packs::served(&store.scale_packs().await?)?.scales;
            let rows = match &file {
                Some(path) => {
                    let file =
                        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
                    export::responses_csv(&scales, &changes, std::io::BufWriter::new(file))?
                }
                None => export::responses_csv(&scales, &changes, out)?,
            };
            tracing::info!(rows, "exported responses");
            format!("{rows} responses")
        }
        Command::InstallPack { file } => {
            let bytes = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let name = file.display().to_string();
            let admitted = fit_server::install_pack(store, &name, &bytes, now()).await?;
            let said = match admitted {
                Admitted::New(code) => format!("pack {code}: a new scale"),
                Admitted::Updated { code, replaces } => format!("pack {code}: replaces version {replaces}"),
                Admitted::Unchanged => "pack: installed already, unchanged".to_owned(),
            };
            writeln!(out, "{said}")?;
            said
        }
        Command::Demo { citizens, visits } => {
            let (code, worker) = seed_demo(store, citizens, visits, now).await?;
            writeln!(out, "{}", serde_json::json!({ "code": code, "worker": worker }))?;
            format!("{citizens} citizens, {visits} visits each")
        }
        _ => anyhow::bail!("not a command that changes anything"),
    })
}

/// A new code for `worker`, valid for `valid_hours` (1 to a week: `rules::code_expiry`), and its id.
async fn enrollment_code<S: ServerStore>(
    store: &S,
    worker: WorkerId,
    valid_hours: u64,
    now: &NowMs,
) -> anyhow::Result<(String, uuid::Uuid)> {
    let mut secret = [0u8; 10];
    getrandom::fill(&mut secret).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let code = hex::encode(secret);
    let created = now();
    let expires = rules::code_expiry(created, valid_hours).map_err(StoreError::from)?;
    let id = store.create_enrollment_code(secret_hash(&code), worker, created, expires).await?;
    Ok((code, id))
}

/// A demo caseload entered the way real data is: citizens from the admin commands, visits
/// pushed by a (demo) device through the same sync as any device's.
async fn seed_demo<S: ServerStore>(
    store: &S,
    citizens: usize,
    visits: usize,
    now: &NowMs,
) -> anyhow::Result<(String, String)> {
    let team = TeamId::from(uuid::Uuid::now_v7());
    store.create_team(team, "Bostøtten Nord".into()).await?;
    let worker = WorkerId::from(uuid::Uuid::now_v7());
    let worker_name = "Demo-medarbejder".to_owned();
    store.create_worker(worker, team, worker_name.clone()).await?;
    let start_ms = now().saturating_sub(visits as u64 * WEEK_MS);
    let names = ["Anna K.", "Bo L.", "Carla M.", "Dennis N.", "Eva O.", "Frank P.", "Gitte R.", "Hassan S."];
    let mut ids = Vec::new();
    for n in 0..citizens {
        let citizen = CitizenId::from(uuid::Uuid::now_v7());
        let name = names.get(n).map_or_else(|| format!("Borger {}", n + 1), |name| (*name).to_owned());
        let profile = CitizenProfile {
            display_name: name,
            birth_year: None,
            age_band: "adult".into(),
            case_reference: None,
            support_started: Some(day_of(start_ms)),
        };
        store.create_citizen(citizen, team, profile, now()).await?;
        store.assign(citizen, worker, now()).await?;
        ids.push(citizen);
    }
    // The demo device that recorded the history, enrolled like any other.
    let device = DeviceId::from(uuid::Uuid::now_v7());
    let (code, _) = enrollment_code(store, worker, 1, now).await?;
    store.enroll(secret_hash(&code), device, secret_hash(&code), now()).await?;
    let auth = store.authenticate(secret_hash(&code), now(), TokenPolicy::default()).await?;
    let changes =
        demo_visits(DemoSpec { citizens, visits_per_citizen: visits, seed: 7, start_ms }, worker, device, &ids);
    for batch in changes.chunks(PUSH_CHANGES_MAX) {
        let request = SyncRequest {
            protocol: PROTOCOL_VERSION,
            push: batch.to_vec(),
            cursor: 0,
            pull_limit: 1,
            quarantined: vec![],
        };
        store.sync(auth, request, 1, now()).await?;
    }
    store.revoke(device, now()).await?;
    Ok((enrollment_code(store, worker, 72, now).await?.0, worker_name))
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

/// The day (UTC) of a time in milliseconds, as `YYYY-MM-DD`.
fn day_of(ms: u64) -> String {
    i64::try_from(ms)
        .ok()
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| "1970-01-01".into())
}
