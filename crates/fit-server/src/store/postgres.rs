//! The PostgreSQL backend, for a municipality that runs its registry on PostgreSQL: the same
//! semantics as the SQLite backend (both follow `crate::rules`), over a deadpool pool of
//! tokio-postgres connections. Every trait method is one transaction.
//!
//! Positions: the change log and the caseload events share one sequence of log positions, taken
//! as one past the largest of both tables. Every writing transaction first takes one transaction
//! advisory lock (`WRITE_LOCK`), so writers run one at a time, positions commit in the order they
//! are taken, and a reader never sees position N+1 before N (a device whose cursor passed N+1
//! would never receive N). A sync's read of its page happens under the same lock, after its push.
//!
//! What a sync accepts and sends is decided by `crate::rules`; this file reads what the rules
//! need (for a whole batch in one query each) and writes what they plan.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use anyhow::Context;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime, Transaction};
use fit_core::Hlc;
use fit_core::ids::{CitizenId, DeviceId, TeamId, WorkerId};
use fit_core::merge::Version;
use fit_protocol::{Change, ChangeBody, ErrorCode, SyncRequest, SyncResponse};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::{
    AuditEntry, AuthRow, CitizenProfile, CodeInfo, CodeRef, Conflict, DeviceAuth, DeviceInfo, Enrolled, ServerStore,
    SetAsideChange, StoreError, TokenUse,
};
use crate::rules::packs::StoredPack;
use crate::rules::pull::{CitizenScan, Departure, Page, PageCut, PageRow};
use crate::rules::push::{self, FieldKey, Held, Known, LogPlan, PushInput, Reads, ServerIdentity, SetAside};
use crate::rules::refs::{Record, RecordKey};
use crate::rules::token::{self, Presented, TokenPolicy, Tokens};
use crate::rules::{self, DeviceRow};

mod tls;
use tls::SslMode;

/// The migrations, in order, under refinery's names (`V<version>__<name>`).
const MIGRATIONS: &[(&str, &str)] = &[
    ("V1__initial", include_str!("../../../../migrations/server-postgres/0001_initial.sql")),
    ("V3__references", include_str!("../../../../migrations/server-postgres/0003_references.sql")),
    ("V4__administration", include_str!("../../../../migrations/server-postgres/0004_administration.sql")),
    ("V5__scale_packs", include_str!("../../../../migrations/server-postgres/0005_scale_packs.sql")),
    ("V6__team_schedule", include_str!("../../../../migrations/server-postgres/0006_team_schedule.sql")),
];

/// The advisory lock every writing transaction holds (and the migrations, at session level):
/// "fit_log" in ASCII.
const WRITE_LOCK: i64 = 0x0066_6974_5f6c_6f67;

/// Connections in the pool. Writers take turns on the lock; readers (authentication, exports)
/// run beside them.
const POOL_SIZE: usize = 16;
const POOL_WAIT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The connection settings stay out: they may hold a password.
        let status = self.pool.status();
        f.debug_struct("PgStore").field("size", &status.size).field("max_size", &status.max_size).finish()
    }
}

type TxFuture<'t, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 't>>;

impl PgStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/name`, with
    /// `?sslmode=…&sslrootcert=…` as libpq reads them, see `tls`), brings its schema to the latest
    /// migration, and makes the pool.
    pub async fn connect(url: &str) -> anyhow::Result<PgStore> {
        let tls::Connection { mut config, tls, mode } = tls::connection(url)?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        config.application_name("fit-server");
        migrate(&config, tls.clone(), mode).await?;
        let manager = Manager::from_config(config, tls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .context("cannot make the PostgreSQL connection pool")?;
        Ok(PgStore { pool })
    }

    async fn client(&self) -> Result<Object, StoreError> {
        self.pool.get().await.map_err(|e| StoreError::Fault(anyhow::anyhow!("no PostgreSQL connection: {e}")))
    }

    /// Runs `work` in a transaction that holds the write lock, and commits it if `work` succeeds.
    async fn write<T: Send>(
        &self,
        work: impl for<'t> FnOnce(&'t Transaction<'t>) -> TxFuture<'t, T> + Send,
    ) -> Result<T, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db)?;
        execute(&tx, "SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK]).await?;
        let value = work(&tx).await?;
        tx.commit().await.map_err(db)?;
        Ok(value)
    }

    /// Runs `work` in a read-only transaction.
    async fn read<T: Send>(
        &self,
        work: impl for<'t> FnOnce(&'t Transaction<'t>) -> TxFuture<'t, T> + Send,
    ) -> Result<T, StoreError> {
        let mut client = self.client().await?;
        let tx = client.build_transaction().read_only(true).start().await.map_err(db)?;
        let value = work(&tx).await?;
        tx.commit().await.map_err(db)?;
        Ok(value)
    }
}

/// Applies the migrations on a connection of its own, holding the write lock for the session,
/// so two servers starting on one database migrate one after the other and no write runs meanwhile.
/// Closing the connection releases the lock, also when a migration fails.
async fn migrate(
    config: &tokio_postgres::Config,
    tls: tokio_postgres_rustls::MakeRustlsConnect,
    mode: SslMode,
) -> anyhow::Result<()> {
    let mut config = config.clone();
    // Quiet: refinery's `CREATE TABLE IF NOT EXISTS` would log a notice at every start.
    config.options("-c client_min_messages=warning");
    let (mut client, connection) =
        config.connect(tls).await.with_context(|| format!("cannot connect to PostgreSQL (sslmode={mode})"))?;
    let connection = tokio::spawn(connection);
    client.execute("SELECT pg_advisory_lock($1)", &[&WRITE_LOCK]).await.context("cannot take the migration lock")?;
    let migrations = MIGRATIONS
        .iter()
        .map(|(name, sql)| refinery::Migration::unapplied(name, sql))
        .collect::<Result<Vec<_>, _>>()
        .context("a migration is not well named")?;
    let report = refinery::Runner::new(&migrations)
        .run_async(&mut client)
        .await
        .context("cannot migrate the PostgreSQL database")?;
    for migration in report.applied_migrations() {
        tracing::info!(migration = %migration, "applied a migration");
    }
    client
        .execute(
            "INSERT INTO server_identity (singleton, device_id) VALUES (1, $1) ON CONFLICT DO NOTHING",
            &[&uuid::Uuid::now_v7().to_string()],
        )
        .await
        .context("cannot set the server's identity")?;
    drop(client);
    // The connection ends once the client is gone; its error, if any, no longer matters.
    let _ = connection.await;
    Ok(())
}

fn internal(message: &str) -> StoreError {
    StoreError::fault(message)
}

/// A database error as a server fault. Only the SQLSTATE, the message and the schema names go
/// into the error (and so into the log): PostgreSQL's detail can quote a failing row, which may
/// hold personal data.
fn db(error: tokio_postgres::Error) -> StoreError {
    match error.as_db_error() {
        Some(e) => StoreError::Fault(anyhow::anyhow!(
            "PostgreSQL error {} in {}.{}: {}",
            e.code().code(),
            e.table().unwrap_or("-"),
            e.constraint().or(e.column()).unwrap_or("-"),
            e.message()
        )),
        None => StoreError::Fault(anyhow::anyhow!("PostgreSQL: {error}")),
    }
}

fn sql_u64(value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::refused(ErrorCode::RequestOutOfRange, format!("{value} is too large")))
}

fn to_u64(value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| internal("a negative number in the database"))
}

fn to_u32(value: i64) -> Result<u32, StoreError> {
    u32::try_from(value).map_err(|_| internal("a counter out of range in the database"))
}

fn parse_id<T: std::str::FromStr>(text: &str) -> Result<T, StoreError> {
    text.parse().map_err(|_| internal("a malformed id in the database"))
}

fn parse_change(text: &str) -> Result<Change, StoreError> {
    Ok(serde_json::from_str(text)?)
}

/// A column of `row`, or a server fault when its type is not the one expected (never a panic).
fn get<'r, T: tokio_postgres::types::FromSql<'r>>(row: &'r Row, index: usize) -> Result<T, StoreError> {
    row.try_get(index).map_err(db)
}

type Params<'p> = &'p [&'p (dyn ToSql + Sync)];

async fn execute(tx: &Transaction<'_>, sql: &str, params: Params<'_>) -> Result<u64, StoreError> {
    let statement = tx.prepare_cached(sql).await.map_err(db)?;
    tx.execute(&statement, params).await.map_err(db)
}

async fn query(tx: &Transaction<'_>, sql: &str, params: Params<'_>) -> Result<Vec<Row>, StoreError> {
    let statement = tx.prepare_cached(sql).await.map_err(db)?;
    tx.query(&statement, params).await.map_err(db)
}

async fn query_opt(tx: &Transaction<'_>, sql: &str, params: Params<'_>) -> Result<Option<Row>, StoreError> {
    let statement = tx.prepare_cached(sql).await.map_err(db)?;
    tx.query_opt(&statement, params).await.map_err(db)
}

async fn query_one(tx: &Transaction<'_>, sql: &str, params: Params<'_>) -> Result<Row, StoreError> {
    let statement = tx.prepare_cached(sql).await.map_err(db)?;
    tx.query_one(&statement, params).await.map_err(db)
}

/// An insert from an admin command: a duplicate id, or a reference to something missing, is the
/// administrator's mistake, not a fault (as `sqlite::insert`: any integrity constraint).
async fn insert(tx: &Transaction<'_>, sql: &str, params: Params<'_>) -> Result<(), StoreError> {
    let statement = tx.prepare_cached(sql).await.map_err(db)?;
    match tx.execute(&statement, params).await {
        Ok(_) => Ok(()),
        Err(e) if e.code().is_some_and(|code| code.code().starts_with("23")) => Err(StoreError::refused(
            ErrorCode::AdminConstraint,
            "that already exists, or refers to something that does not",
        )),
        Err(e) => Err(db(e)),
    }
}

impl ServerStore for PgStore {
    async fn enroll(
        &self,
        code_hash: String,
        device: DeviceId,
        token_hash: String,
        now_ms: u64,
    ) -> Result<Enrolled, StoreError> {
        self.write(move |tx| Box::pin(enroll_in(tx, code_hash, device, token_hash, now_ms))).await
    }

    async fn authenticate(
        &self,
        token_hash: String,
        now_ms: u64,
        policy: TokenPolicy,
    ) -> Result<DeviceAuth, StoreError> {
        let hash = token_hash.clone();
        let (device, worker, since, presented) = self
            .read(move |tx| {
                Box::pin(async move {
                    let row = query_opt(
                        tx,
                        "SELECT d.id, d.worker_id, d.revoked_at_ms, w.deactivated_at_ms, d.token_hash,
                                d.next_token_hash, d.previous_token_hash, d.previous_token_until_ms,
                                coalesce(d.token_issued_at_ms, d.enrolled_at_ms)
                           FROM devices d JOIN workers w ON w.id = d.worker_id
                          WHERE d.token_hash = $1 OR d.next_token_hash = $1 OR d.previous_token_hash = $1",
                        &[&hash],
                    )
                    .await?;
                    let row = row.as_ref().map(auth_row).transpose()?;
                    let ((device, worker, since), presented) = token::admit_token(row, &hash, now_ms)?;
                    Ok((device, worker, to_u64(since)?, presented))
                })
            })
            .await?;
        let mut current_since_ms = since;
        if presented == Presented::Next {
            let (device, until) = (device.clone(), sql_u64(token::previous_until(now_ms, &policy))?);
            self.write(move |tx| Box::pin(async move { promote(tx, &device, &token_hash, until, now_ms).await }))
                .await?;
            current_since_ms = now_ms;
        }
        let token = TokenUse { presented, current_since_ms };
        Ok(DeviceAuth { device: parse_id(&device)?, worker: parse_id(&worker)?, token })
    }

    async fn rotate_token(
        &self,
        device: DeviceId,
        current_hash: String,
        fresh_salt: String,
        next_hash: String,
    ) -> Result<Option<String>, StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                let device = device.to_string();
                let row = query_opt(
                    tx,
                    "SELECT next_token_salt FROM devices WHERE id = $1 AND token_hash = $2",
                    &[&device, &current_hash],
                )
                .await?;
                let Some(row) = row else { return Ok(None) };
                let (salt, store) = token::rotation_salt(get(&row, 0)?, fresh_salt);
                if store {
                    execute(
                        tx,
                        "UPDATE devices SET next_token_hash = $1, next_token_salt = $2 WHERE id = $3",
                        &[&next_hash, &salt, &device],
                    )
                    .await?;
                }
                Ok(Some(salt))
            })
        })
        .await
    }

    async fn sync(
        &self,
        auth: DeviceAuth,
        request: SyncRequest,
        pull_limit: usize,
        now_ms: u64,
    ) -> Result<SyncResponse, StoreError> {
        self.write(move |tx| Box::pin(async move { sync_in(tx, auth, &request, pull_limit, now_ms).await })).await
    }

    async fn create_team(&self, team: TeamId, name: String) -> Result<(), StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                insert(tx, "INSERT INTO teams (id, name) VALUES ($1, $2)", &[&team.to_string(), &name]).await
            })
        })
        .await
    }

    async fn create_worker(&self, worker: WorkerId, team: TeamId, name: String) -> Result<(), StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                insert(
                    tx,
                    "INSERT INTO workers (id, team_id, display_name) VALUES ($1, $2, $3)",
                    &[&worker.to_string(), &team.to_string(), &name],
                )
                .await
            })
        })
        .await
    }

    async fn create_citizen(
        &self,
        citizen: CitizenId,
        team: TeamId,
        profile: CitizenProfile,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        let fields = profile.fields(citizen)?;
        self.write(move |tx| {
            Box::pin(async move {
                insert(
                    tx,
                    "INSERT INTO citizens (id, team_id) VALUES ($1, $2)",
                    &[&citizen.to_string(), &team.to_string()],
                )
                .await?;
                log_server_changes(tx, fields, now_ms).await
            })
        })
        .await
    }

    async fn assign(&self, citizen: CitizenId, worker: WorkerId, now_ms: u64) -> Result<(), StoreError> {
        self.write(move |tx| Box::pin(assign_in(tx, citizen, worker, now_ms))).await
    }

    async fn create_enrollment_code(
        &self,
        code_hash: String,
        worker: WorkerId,
        now_ms: u64,
        expires_at_ms: u64,
    ) -> Result<uuid::Uuid, StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                let worker = worker.to_string();
                let row = query_opt(tx, "SELECT deactivated_at_ms FROM workers WHERE id = $1", &[&worker]).await?;
                let deactivated = match row {
                    Some(row) => get::<Option<i64>>(&row, 0)?.is_some(),
                    None => false,
                };
                rules::admit_code(now_ms, expires_at_ms, deactivated)?;
                let id = uuid::Uuid::now_v7();
                insert(
                    tx,
                    "INSERT INTO enrollment_codes (code_hash, worker_id, created_at_ms, expires_at_ms, id)
                     VALUES ($1, $2, $3, $4, $5)",
                    &[&code_hash, &worker, &sql_u64(now_ms)?, &sql_u64(expires_at_ms)?, &id.to_string()],
                )
                .await?;
                Ok(id)
            })
        })
        .await
    }

    async fn revoke_enrollment_code(&self, code: CodeRef, now_ms: u64) -> Result<(), StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                let (column, key) = match code {
                    CodeRef::Id(id) => ("id", id.to_string()),
                    CodeRef::Hash(hash) => ("code_hash", hash),
                };
                let sql = format!(
                    "UPDATE enrollment_codes SET revoked_at_ms = coalesce(revoked_at_ms, $1) WHERE {column} = $2"
                );
                let changed = execute(tx, &sql, &[&sql_u64(now_ms)?, &key]).await?;
                if changed == 0 { Err(super::no_such_code()) } else { Ok(()) }
            })
        })
        .await
    }

    async fn enrollment_codes(&self) -> Result<Vec<CodeInfo>, StoreError> {
        self.read(|tx| {
            Box::pin(async move {
                let rows = query(
                    tx,
                    "SELECT id, worker_id, created_at_ms, expires_at_ms, used_at_ms, revoked_at_ms
                       FROM enrollment_codes ORDER BY created_at_ms, code_hash COLLATE \"C\"",
                    &[],
                )
                .await?;
                rows.iter()
                    .map(|row| {
                        Ok(CodeInfo {
                            id: get::<Option<&str>>(row, 0)?.map(parse_id).transpose()?,
                            worker: parse_id(get(row, 1)?)?,
                            created_at_ms: to_u64(get(row, 2)?)?,
                            expires_at_ms: to_u64(get(row, 3)?)?,
                            used_at_ms: get::<Option<i64>>(row, 4)?.map(to_u64).transpose()?,
                            revoked_at_ms: get::<Option<i64>>(row, 5)?.map(to_u64).transpose()?,
                        })
                    })
                    .collect()
            })
        })
        .await
    }

    async fn set_worker_active(&self, worker: WorkerId, active: bool, now_ms: u64) -> Result<(), StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                let worker = worker.to_string();
                let changed = if active {
                    execute(tx, "UPDATE workers SET deactivated_at_ms = NULL WHERE id = $1", &[&worker]).await?
                } else {
                    execute(
                        tx,
                        "UPDATE workers SET deactivated_at_ms = coalesce(deactivated_at_ms, $1) WHERE id = $2",
                        &[&sql_u64(now_ms)?, &worker],
                    )
                    .await?
                };
                if changed == 0 { Err(super::no_such_worker()) } else { Ok(()) }
            })
        })
        .await
    }

    async fn set_team_schedule(&self, team: TeamId, schedule: fit_core::Schedule) -> Result<(), StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                let every_days = schedule.every_days.map(i64::from);
                let changed = execute(
                    tx,
                    "UPDATE teams SET wellbeing_at_first_visit = $1, wellbeing_every_days = $2 WHERE id = $3",
                    &[&schedule.at_first_visit, &every_days, &team.to_string()],
                )
                .await?;
                if changed == 0 { Err(super::no_such_team()) } else { Ok(()) }
            })
        })
        .await
    }

    async fn team_schedule(&self, worker: WorkerId) -> Result<Option<fit_core::Schedule>, StoreError> {
        self.read(move |tx| {
            Box::pin(async move {
                let row = query_opt(
                    tx,
                    "SELECT t.wellbeing_at_first_visit, t.wellbeing_every_days
                     FROM workers w JOIN teams t ON t.id = w.team_id WHERE w.id = $1",
                    &[&worker.to_string()],
                )
                .await?;
                let Some(row) = row else { return Ok(None) };
                let first: Option<bool> = get(&row, 0)?;
                let every_days: Option<i64> = get(&row, 1)?;
                let every_days = every_days.map(to_u32).transpose()?;
                Ok(first.map(|at_first_visit| fit_core::Schedule { at_first_visit, every_days }))
            })
        })
        .await
    }

    async fn audit_log(&self) -> Result<Vec<AuditEntry>, StoreError> {
        self.read(|tx| {
            Box::pin(async move {
                let rows = query(tx, "SELECT actor, action, subject, at_ms FROM audit_log ORDER BY id", &[]).await?;
                rows.iter()
                    .map(|row| {
                        Ok(AuditEntry {
                            actor: get(row, 0)?,
                            action: get(row, 1)?,
                            subject: get(row, 2)?,
                            at_ms: to_u64(get(row, 3)?)?,
                        })
                    })
                    .collect()
            })
        })
        .await
    }

    async fn devices(&self) -> Result<Vec<DeviceInfo>, StoreError> {
        self.read(|tx| {
            Box::pin(async move {
                // COLLATE "C": ids in byte order, as SQLite orders them, whatever the database's locale.
                let rows = query(
                    tx,
                    "SELECT id, worker_id, enrolled_at_ms, revoked_at_ms, last_seq FROM devices
                     ORDER BY enrolled_at_ms, id COLLATE \"C\"",
                    &[],
                )
                .await?;
                rows.iter()
                    .map(|row| {
                        Ok(DeviceInfo {
                            device: parse_id(get(row, 0)?)?,
                            worker: parse_id(get(row, 1)?)?,
                            enrolled_at_ms: to_u64(get(row, 2)?)?,
                            revoked_at_ms: get::<Option<i64>>(row, 3)?.map(to_u64).transpose()?,
                            last_seq: to_u64(get(row, 4)?)?,
                        })
                    })
                    .collect()
            })
        })
        .await
    }

    async fn revoke(&self, device: DeviceId, now_ms: u64) -> Result<(), StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                let changed = execute(
                    tx,
                    "UPDATE devices SET revoked_at_ms = coalesce(revoked_at_ms, $1) WHERE id = $2",
                    &[&sql_u64(now_ms)?, &device.to_string()],
                )
                .await?;
                if changed == 0 { Err(StoreError::refused(ErrorCode::DeviceUnknown, "no such device")) } else { Ok(()) }
            })
        })
        .await
    }

    async fn changes(&self) -> Result<Vec<Change>, StoreError> {
        self.read(|tx| {
            Box::pin(async move {
                let rows = query(tx, "SELECT change FROM change_log ORDER BY position", &[]).await?;
                rows.iter().map(|row| parse_change(get(row, 0)?)).collect()
            })
        })
        .await
    }

    async fn set_aside(&self) -> Result<Vec<SetAsideChange>, StoreError> {
        self.read(|tx| {
            Box::pin(async move {
                let sql = "SELECT change, reason, received_at_ms FROM set_aside_changes
                            ORDER BY received_at_ms, device_id, seq";
                let rows = query(tx, sql, &[]).await?;
                rows.iter()
                    .map(|row| {
                        Ok(SetAsideChange {
                            change: parse_change(get(row, 0)?)?,
                            reason: get::<String>(row, 1)?,
                            received_at_ms: to_u64(get(row, 2)?)?,
                        })
                    })
                    .collect()
            })
        })
        .await
    }

    async fn conflicts(&self) -> Result<Vec<Conflict>, StoreError> {
        self.read(|tx| {
            Box::pin(async move {
                let rows = query(
                    tx,
                    "SELECT citizen_id, entity_id, field, winner_change, loser_change FROM conflicts ORDER BY id",
                    &[],
                )
                .await?;
                rows.iter()
                    .map(|row| {
                        Ok(Conflict {
                            citizen: parse_id(get(row, 0)?)?,
                            entity_id: get(row, 1)?,
                            field: get(row, 2)?,
                            winner: get(row, 3)?,
                            loser: get(row, 4)?,
                        })
                    })
                    .collect()
            })
        })
        .await
    }

    async fn scale_packs(&self) -> Result<Vec<StoredPack>, StoreError> {
        self.read(|tx| {
            Box::pin(async move {
                let rows = query(tx, "SELECT code, version, file, pack FROM scale_packs ORDER BY id", &[]).await?;
                rows.iter()
                    .map(|row| {
                        Ok(StoredPack {
                            code: get(row, 0)?,
                            version: get(row, 1)?,
                            file: get(row, 2)?,
                            pack: get(row, 3)?,
                        })
                    })
                    .collect()
            })
        })
        .await
    }

    async fn install_pack(&self, pack: StoredPack, now_ms: u64) -> Result<(), StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                execute(
                    tx,
                    "INSERT INTO scale_packs (code, version, file, pack, installed_at_ms) VALUES ($1, $2, $3, $4, $5)",
                    &[&pack.code, &pack.version, &pack.file, &pack.pack, &sql_u64(now_ms)?],
                )
                .await?;
                Ok(())
            })
        })
        .await
    }

    async fn audit(&self, actor: String, action: String, subject: String, now_ms: u64) -> Result<(), StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                execute(
                    tx,
                    "INSERT INTO audit_log (actor, action, subject, at_ms) VALUES ($1, $2, $3, $4)",
                    &[&actor, &action, &subject, &sql_u64(now_ms)?],
                )
                .await?;
                Ok(())
            })
        })
        .await
    }
}

async fn enroll_in(
    tx: &Transaction<'_>,
    code_hash: String,
    device: DeviceId,
    token_hash: String,
    now_ms: u64,
) -> Result<Enrolled, StoreError> {
    let code = query_opt(
        tx,
        "SELECT c.worker_id, c.expires_at_ms, c.used_at_ms, c.revoked_at_ms, w.deactivated_at_ms
           FROM enrollment_codes c JOIN workers w ON w.id = c.worker_id WHERE c.code_hash = $1",
        &[&code_hash],
    )
    .await?;
    let code = code
        .map(|row| {
            Ok::<_, StoreError>(rules::EnrollmentCode {
                worker: get::<String>(&row, 0)?,
                expires_at_ms: to_u64(get(&row, 1)?)?,
                used: get::<Option<i64>>(&row, 2)?.is_some(),
                revoked: get::<Option<i64>>(&row, 3)?.is_some(),
                worker_deactivated: get::<Option<i64>>(&row, 4)?.is_some(),
            })
        })
        .transpose()?;
    let device = device.to_string();
    let device_known = query_opt(tx, "SELECT 1 FROM devices WHERE id = $1", &[&device]).await?.is_some();
    let worker = rules::admit_enrollment(code, device_known, now_ms)?;
    let now = sql_u64(now_ms)?;
    execute(tx, "UPDATE enrollment_codes SET used_at_ms = $1 WHERE code_hash = $2", &[&now, &code_hash]).await?;
    execute(
        tx,
        "INSERT INTO devices (id, worker_id, token_hash, enrolled_at_ms) VALUES ($1, $2, $3, $4)",
        &[&device, &worker, &token_hash, &now],
    )
    .await?;
    let row = query_one(
        tx,
        "SELECT w.display_name, t.id, t.name FROM workers w JOIN teams t ON t.id = w.team_id WHERE w.id = $1",
        &[&worker],
    )
    .await?;
    Ok(Enrolled {
        worker: parse_id(&worker)?,
        worker_name: get(&row, 0)?,
        team: parse_id(get(&row, 1)?)?,
        team_name: get(&row, 2)?,
    })
}

async fn assign_in(tx: &Transaction<'_>, citizen: CitizenId, worker: WorkerId, now_ms: u64) -> Result<(), StoreError> {
    let citizen = citizen.to_string();
    let worker = worker.to_string();
    let previous: Option<String> =
        match query_opt(tx, "SELECT worker_id FROM caseload WHERE citizen_id = $1", &[&citizen]).await? {
            Some(row) => Some(get(&row, 0)?),
            None => None,
        };
    if !rules::assignment_moves(previous.as_deref(), &worker) {
        return Ok(());
    }
    release_set_aside(tx, &citizen, &worker, now_ms).await?;
    let position = sql_u64(next_position(tx).await?)?;
    let now = sql_u64(now_ms)?;
    insert(
        tx,
        "INSERT INTO caseload_events (position, citizen_id, worker_id, previous_worker_id, at_ms)
         VALUES ($1, $2, $3, $4, $5)",
        &[&position, &citizen, &worker, &previous, &now],
    )
    .await?;
    insert(
        tx,
        "INSERT INTO caseload (citizen_id, worker_id, assigned_at_ms, assigned_position) VALUES ($1, $2, $3, $4)
         ON CONFLICT (citizen_id) DO UPDATE SET worker_id = excluded.worker_id,
            assigned_at_ms = excluded.assigned_at_ms, assigned_position = excluded.assigned_position",
        &[&citizen, &worker, &now, &position],
    )
    .await
}

/// A sync in one transaction under the write lock: the device's state, the batch (read what the
/// rules need, plan, write the plan), then the page past the cursor.
async fn sync_in(
    tx: &Transaction<'_>,
    auth: DeviceAuth,
    request: &SyncRequest,
    limit: usize,
    now_ms: u64,
) -> Result<SyncResponse, StoreError> {
    let device = auth.device.to_string();
    let state = query_opt(
        tx,
        "SELECT d.last_seq, d.revoked_at_ms, w.deactivated_at_ms
           FROM devices d JOIN workers w ON w.id = d.worker_id WHERE d.id = $1",
        &[&device],
    )
    .await?;
    let state = state
        .map(|row| {
            Ok::<_, StoreError>(DeviceRow {
                data: get::<i64>(&row, 0)?,
                revoked: get::<Option<i64>>(&row, 1)?.is_some(),
                worker_deactivated: get::<Option<i64>>(&row, 2)?.is_some(),
            })
        })
        .transpose()?;
    let last_seq = to_u64(rules::admit(state)?)?;

    let next_position = next_position(tx).await?;
    rules::pull::check_cursor(request.cursor, next_position - 1)?;
    let known = read_known(tx, auth, &push::reads(&request.push, last_seq)).await?;
    let input = PushInput { batch: &request.push, last_seq, known, next_position, now_ms, worker: auth.worker };
    let plan = push::plan_push(input)?;
    write_log(tx, &plan.log).await?;
    write_records(tx, &plan.records).await?;
    write_set_aside(tx, &plan.set_aside, now_ms).await?;
    execute(
        tx,
        "UPDATE devices SET last_seq = $1, last_sync_ms = $2 WHERE id = $3",
        &[&sql_u64(plan.acknowledged_seq)?, &sql_u64(now_ms)?, &device],
    )
    .await?;

    // Under the write lock: the log ends where the plan left it.
    let page = pull_page(tx, &auth, request.cursor, limit, plan.log.next_position - 1).await?;
    let mut response = super::answer(page, plan.acknowledged_seq, now_ms)?;
    if !response.more {
        let rows = query(tx, "SELECT code, version FROM scale_packs ORDER BY id", &[]).await?;
        let installed = rows
            .iter()
            .map(|row| Ok((get::<String>(row, 0)?, get::<String>(row, 1)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        response.packs_tag =
            Some(rules::packs::current_tag(installed.iter().map(|(code, version)| (code.as_str(), version.as_str()))));
    }
    if let Some(subject) = rules::pull_audit(&response) {
        execute(
            tx,
            "INSERT INTO audit_log (actor, action, subject, at_ms) VALUES ($1, 'pull', $2, $3)",
            &[&device, &subject, &sql_u64(now_ms)?],
        )
        .await?;
    }
    Ok(response)
}

/// A device's row as `authenticate` reads it: who it is, whether it is served, and its tokens.
fn auth_row(row: &Row) -> Result<AuthRow, StoreError> {
    let device_row = DeviceRow {
        data: (get(row, 0)?, get(row, 1)?, get(row, 8)?),
        revoked: get::<Option<i64>>(row, 2)?.is_some(),
        worker_deactivated: get::<Option<i64>>(row, 3)?.is_some(),
    };
    let tokens = Tokens {
        current: get(row, 4)?,
        next: get(row, 5)?,
        previous: get(row, 6)?,
        // A negative time cannot be stored by this server; read as long past, it admits nothing.
        previous_until_ms: get::<Option<i64>>(row, 7)?.map(|until| u64::try_from(until).unwrap_or(0)),
    };
    Ok((device_row, tokens))
}

/// The device's next token becomes its current one (as `sqlite::promote`): only if `next_hash`
/// is still the next token, so two requests with it promote once.
async fn promote(
    tx: &Transaction<'_>,
    device: &str,
    next_hash: &str,
    previous_until: i64,
    now_ms: u64,
) -> Result<(), StoreError> {
    execute(
        tx,
        "UPDATE devices SET previous_token_hash = token_hash, previous_token_until_ms = $1,
                token_hash = next_token_hash, token_issued_at_ms = $2, next_token_hash = NULL, next_token_salt = NULL
          WHERE id = $3 AND next_token_hash = $4",
        &[&previous_until, &sql_u64(now_ms)?, &device, &next_hash],
    )
    .await?;
    Ok(())
}

/// The next position in the log: one past the largest of the change log and the caseload
/// events. Writers hold `WRITE_LOCK`, so two transactions never take the same position.
async fn next_position(tx: &Transaction<'_>) -> Result<u64, StoreError> {
    let row = query_one(
        tx,
        "SELECT greatest(coalesce((SELECT max(position) FROM change_log), 0),
                         coalesce((SELECT max(position) FROM caseload_events), 0)) + 1",
        &[],
    )
    .await?;
    to_u64(get(&row, 0)?)
}

fn sql_all(values: &[u64]) -> Result<Vec<i64>, StoreError> {
    values.iter().map(|value| sql_u64(*value)).collect()
}

fn texts<T: ToString>(values: &[T]) -> Vec<String> {
    values.iter().map(ToString::to_string).collect()
}

/// Reads what the rules need to plan a batch, as `reads` lists it: one query for each kind of
/// thing, for the whole batch, so a batch costs a few round trips, not several per change.
async fn read_known(tx: &Transaction<'_>, auth: DeviceAuth, reads: &Reads) -> Result<Known, StoreError> {
    let mut known = Known::default();
    if !reads.replayed_seqs.is_empty() {
        // A change set aside is the device's as much as a logged one: its replay is the same change.
        let sql = "SELECT seq, change FROM change_log WHERE device_id = $1 AND seq = ANY($2)
                   UNION ALL SELECT seq, change FROM set_aside_changes WHERE device_id = $1 AND seq = ANY($2)";
        for row in query(tx, sql, &[&auth.device.to_string(), &sql_all(&reads.replayed_seqs)?]).await? {
            if let Ok(change) = serde_json::from_str(get(&row, 1)?) {
                known.stored.insert(to_u64(get(&row, 0)?)?, change);
            }
        }
    }
    if !reads.new_ids.is_empty() {
        let sql = "SELECT change_id FROM change_log WHERE change_id = ANY($1)
                   UNION SELECT change_id FROM set_aside_changes WHERE change_id = ANY($1)";
        let rows = query(tx, sql, &[&texts(&reads.new_ids)]).await?;
        known.used_ids = rows.iter().map(|row| parse_id(get(row, 0)?)).collect::<Result<_, _>>()?;
    }
    read_scope(tx, auth, reads, &mut known).await?;
    known.held = read_held(tx, &reads.fields).await?;
    known.records = read_records(tx, &reads.records).await?;
    Ok(known)
}

/// Which of the batch's citizens the worker has now or had, and when those they had left them.
async fn read_scope(
    tx: &Transaction<'_>,
    auth: DeviceAuth,
    reads: &Reads,
    known: &mut Known,
) -> Result<(), StoreError> {
    if reads.citizens.is_empty() {
        return Ok(());
    }
    let rows = query(
        tx,
        "SELECT c.id,
                EXISTS (SELECT 1 FROM caseload WHERE citizen_id = c.id AND worker_id = $1),
                EXISTS (SELECT 1 FROM caseload_events WHERE citizen_id = c.id AND worker_id = $1),
                (SELECT max(at_ms) FROM caseload_events WHERE citizen_id = c.id AND previous_worker_id = $1)
           FROM UNNEST($2::text[]) AS c (id)",
        &[&auth.worker.to_string(), &texts(&reads.citizens)],
    )
    .await?;
    for row in rows {
        let citizen = parse_id(get(&row, 0)?)?;
        let (now, had, left): (bool, bool, Option<i64>) = (get(&row, 1)?, get(&row, 2)?, get(&row, 3)?);
        if now || had {
            known.in_scope.insert(citizen);
        }
        if let (false, true, Some(left)) = (now, had, left) {
            known.left_at_ms.insert(citizen, to_u64(left)?);
        }
    }
    Ok(())
}

/// The records of `keys` the server holds, in one query.
async fn read_records(tx: &Transaction<'_>, keys: &[RecordKey]) -> Result<HashMap<RecordKey, Record>, StoreError> {
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let kinds: Vec<&str> = keys.iter().map(RecordKey::kind).collect();
    let rows = query(
        tx,
        "SELECT r.kind, r.id, r.citizen_id, r.worker_id, r.set_aside
           FROM UNNEST($1::text[], $2::text[]) AS k (kind, id)
           JOIN records r ON r.kind = k.kind AND r.id = k.id",
        &[&kinds, &keys.iter().map(RecordKey::id).collect::<Vec<_>>()],
    )
    .await?;
    let mut records = HashMap::new();
    for row in rows {
        let key = RecordKey::parse(get(&row, 0)?, get(&row, 1)?).ok_or_else(|| internal("a record's key"))?;
        let worker = get::<Option<&str>>(&row, 3)?.map(parse_id).transpose()?;
        records.insert(key, Record { citizen: parse_id(get(&row, 2)?)?, worker, set_aside: get(&row, 4)? });
    }
    Ok(records)
}

/// Adds the records a batch made.
async fn write_records(tx: &Transaction<'_>, records: &[(RecordKey, Record)]) -> Result<(), StoreError> {
    if records.is_empty() {
        return Ok(());
    }
    let kinds: Vec<&str> = records.iter().map(|(key, _)| key.kind()).collect();
    let ids: Vec<String> = records.iter().map(|(key, _)| key.id()).collect();
    let citizens: Vec<String> = records.iter().map(|(_, record)| record.citizen.to_string()).collect();
    let workers: Vec<Option<String>> = records.iter().map(|(_, record)| record.worker.map(|w| w.to_string())).collect();
    let set_aside: Vec<bool> = records.iter().map(|(_, record)| record.set_aside).collect();
    execute(
        tx,
        "INSERT INTO records (kind, id, citizen_id, worker_id, set_aside)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::bool[])
         ON CONFLICT DO NOTHING",
        &[&kinds, &ids, &citizens, &workers, &set_aside],
    )
    .await?;
    Ok(())
}

/// Logs the changes `worker`'s devices had set aside for `citizen` (`push::plan_release`).
async fn release_set_aside(tx: &Transaction<'_>, citizen: &str, worker: &str, now_ms: u64) -> Result<(), StoreError> {
    let rows = query(
        tx,
        "SELECT s.change FROM set_aside_changes s JOIN devices d ON d.id = s.device_id
          WHERE s.citizen_id = $1 AND d.worker_id = $2 ORDER BY s.device_id, s.seq",
        &[&citizen, &worker],
    )
    .await?;
    if rows.is_empty() {
        return Ok(());
    }
    let changes = rows.iter().map(|row| parse_change(get(row, 0)?)).collect::<Result<Vec<Change>, _>>()?;
    let held = read_held(tx, &push::written_fields(&changes)).await?;
    let (plan, records) = push::plan_release(&changes, held, next_position(tx).await?, now_ms);
    write_log(tx, &plan).await?;
    execute(
        tx,
        "DELETE FROM set_aside_changes WHERE change_id = ANY($1)",
        &[&texts(&changes.iter().map(|c| c.id).collect::<Vec<_>>())],
    )
    .await?;
    let kinds: Vec<&str> = records.iter().map(RecordKey::kind).collect();
    let ids: Vec<String> = records.iter().map(RecordKey::id).collect();
    execute(
        tx,
        "UPDATE records r SET set_aside = false FROM UNNEST($1::text[], $2::text[]) AS k (kind, id)
          WHERE r.kind = k.kind AND r.id = k.id",
        &[&kinds, &ids],
    )
    .await?;
    Ok(())
}

/// Keeps the changes set aside, for the administrator.
async fn write_set_aside(tx: &Transaction<'_>, set_aside: &[SetAside<'_>], now_ms: u64) -> Result<(), StoreError> {
    for SetAside { change, reason } in set_aside {
        execute(
            tx,
            "INSERT INTO set_aside_changes (device_id, seq, change_id, citizen_id, reason, received_at_ms, change)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &change.device.to_string(),
                &sql_u64(change.seq)?,
                &change.id.to_string(),
                &change.citizen().to_string(),
                &reason.as_str(),
                &sql_u64(now_ms)?,
                &serde_json::to_string(change)?,
            ],
        )
        .await?;
    }
    Ok(())
}

/// The versions the fields `keys` hold, for those that have one, in one query.
async fn read_held(tx: &Transaction<'_>, keys: &[FieldKey]) -> Result<HashMap<FieldKey, Held>, StoreError> {
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let entity: Vec<&str> = keys.iter().map(|key| key.entity).collect();
    let entity_id: Vec<&str> = keys.iter().map(|key| key.entity_id.as_str()).collect();
    let field: Vec<&str> = keys.iter().map(|key| key.field).collect();
    let rows = query(
        tx,
        "SELECT k.i, f.hlc_wall_ms, f.hlc_counter, f.device_id, f.change_id
           FROM UNNEST($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS k (entity, entity_id, field, i)
           JOIN field_versions f ON f.entity = k.entity AND f.entity_id = k.entity_id AND f.field = k.field",
        &[&entity, &entity_id, &field],
    )
    .await?;
    let mut held = HashMap::new();
    for row in rows {
        let index = usize::try_from(get::<i64>(&row, 0)? - 1).map_err(|_| internal("a key out of range"))?;
        let key = keys.get(index).ok_or_else(|| internal("a key out of range"))?;
        let version =
            Version { hlc: Hlc::new(to_u64(get(&row, 1)?)?, to_u32(get(&row, 2)?)?), device: parse_id(get(&row, 3)?)? };
        held.insert(key.clone(), Held { version, change: parse_id(get(&row, 4)?)? });
    }
    Ok(held)
}

/// Writes what the rules planned for new changes: the log rows and the field versions won with
/// one statement each (`UNNEST`), then the conflicts, which are rare.
async fn write_log(tx: &Transaction<'_>, plan: &LogPlan<'_>) -> Result<(), StoreError> {
    LogRows::of(plan)?.insert(tx).await?;
    if !plan.fields.is_empty() {
        let mut columns = FieldRows::default();
        for (key, held) in &plan.fields {
            columns.add(key, held)?;
        }
        columns.upsert(tx).await?;
    }
    let at_ms = sql_u64(plan.at_ms)?;
    for c in &plan.conflicts {
        execute(
            tx,
            "INSERT INTO conflicts (entity, entity_id, citizen_id, field, winner_change, loser_change, detected_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &c.field.entity,
                &c.field.entity_id,
                &c.citizen.to_string(),
                &c.field.field,
                &c.winner.to_string(),
                &c.loser.to_string(),
                &at_ms,
            ],
        )
        .await?;
    }
    Ok(())
}

/// Rows for the change log, column by column, inserted with one statement (`UNNEST`).
#[derive(Default)]
struct LogRows {
    change_id: Vec<String>,
    device_id: Vec<String>,
    seq: Vec<i64>,
    citizen_id: Vec<String>,
    kind: Vec<&'static str>,
    hlc_wall_ms: Vec<i64>,
    hlc_counter: Vec<i64>,
    device_time_ms: Vec<i64>,
    received_at_ms: Vec<i64>,
    schema_version: Vec<i64>,
    change: Vec<String>,
    position: Vec<i64>,
}

impl LogRows {
    fn of(plan: &LogPlan<'_>) -> Result<LogRows, StoreError> {
        let mut rows = LogRows::default();
        let received_at_ms = sql_u64(plan.at_ms)?;
        for row in &plan.rows {
            let change = row.change;
            rows.change.push(serde_json::to_string(change)?);
            rows.kind.push(super::kind(&change.body));
            rows.change_id.push(change.id.to_string());
            rows.device_id.push(change.device.to_string());
            rows.seq.push(sql_u64(change.seq)?);
            rows.citizen_id.push(change.citizen().to_string());
            rows.hlc_wall_ms.push(sql_u64(change.hlc.wall_ms)?);
            rows.hlc_counter.push(i64::from(change.hlc.counter));
            rows.device_time_ms.push(sql_u64(change.device_time_ms)?);
            rows.received_at_ms.push(received_at_ms);
            rows.schema_version.push(i64::from(change.schema_version));
            rows.position.push(sql_u64(row.position)?);
        }
        Ok(rows)
    }

    async fn insert(&self, tx: &Transaction<'_>) -> Result<(), StoreError> {
        if self.position.is_empty() {
            return Ok(());
        }
        execute(
            tx,
            "INSERT INTO change_log (change_id, device_id, seq, citizen_id, kind, hlc_wall_ms, hlc_counter,
                device_time_ms, received_at_ms, schema_version, change, position)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::bigint[],
                $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::text[], $12::bigint[])",
            &[
                &self.change_id,
                &self.device_id,
                &self.seq,
                &self.citizen_id,
                &self.kind,
                &self.hlc_wall_ms,
                &self.hlc_counter,
                &self.device_time_ms,
                &self.received_at_ms,
                &self.schema_version,
                &self.change,
                &self.position,
            ],
        )
        .await?;
        Ok(())
    }
}

/// Field versions, column by column, upserted with one statement (`UNNEST`; the plan has each
/// field once, as one statement may not update a row twice).
#[derive(Default)]
struct FieldRows<'k> {
    entity: Vec<&'static str>,
    entity_id: Vec<&'k str>,
    field: Vec<&'static str>,
    hlc_wall_ms: Vec<i64>,
    hlc_counter: Vec<i64>,
    device_id: Vec<String>,
    change_id: Vec<String>,
}

impl<'k> FieldRows<'k> {
    fn add(&mut self, key: &'k FieldKey, held: &Held) -> Result<(), StoreError> {
        self.entity.push(key.entity);
        self.entity_id.push(&key.entity_id);
        self.field.push(key.field);
        self.hlc_wall_ms.push(sql_u64(held.version.hlc.wall_ms)?);
        self.hlc_counter.push(i64::from(held.version.hlc.counter));
        self.device_id.push(held.version.device.to_string());
        self.change_id.push(held.change.to_string());
        Ok(())
    }

    async fn upsert(&self, tx: &Transaction<'_>) -> Result<(), StoreError> {
        execute(
            tx,
            "INSERT INTO field_versions (entity, entity_id, field, hlc_wall_ms, hlc_counter, device_id, change_id)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::text[], $7::text[])
             ON CONFLICT (entity, entity_id, field) DO UPDATE SET hlc_wall_ms = excluded.hlc_wall_ms,
                hlc_counter = excluded.hlc_counter, device_id = excluded.device_id, change_id = excluded.change_id",
            &[
                &self.entity,
                &self.entity_id,
                &self.field,
                &self.hlc_wall_ms,
                &self.hlc_counter,
                &self.device_id,
                &self.change_id,
            ],
        )
        .await?;
        Ok(())
    }
}

/// Logs the server's own changes (a profile from an admin command) under its identity, through
/// the same plan as a device's changes.
async fn log_server_changes(tx: &Transaction<'_>, bodies: Vec<ChangeBody>, now_ms: u64) -> Result<(), StoreError> {
    let row = query_one(tx, "SELECT device_id, last_seq, hlc_wall_ms, hlc_counter FROM server_identity", &[]).await?;
    let identity = ServerIdentity {
        device: parse_id(get(&row, 0)?)?,
        last_seq: to_u64(get(&row, 1)?)?,
        hlc: Hlc::new(to_u64(get(&row, 2)?)?, to_u32(get(&row, 3)?)?),
    };
    let (changes, after) = push::server_changes(identity, bodies, || uuid::Uuid::now_v7().into(), now_ms);
    execute(
        tx,
        "UPDATE server_identity SET last_seq = $1, hlc_wall_ms = $2, hlc_counter = $3",
        &[&sql_u64(after.last_seq)?, &sql_u64(after.hlc.wall_ms)?, &i64::from(after.hlc.counter)],
    )
    .await?;
    let held = read_held(tx, &push::written_fields(&changes)).await?;
    write_log(tx, &push::plan_log(&changes, held, next_position(tx).await?, now_ms)).await
}

/// The rows of the page past `cursor` with keys up to `key_max`, at most `fetch` of them, in
/// (key, position) order. PostgreSQL merges the citizens' rows itself; the key it orders by is
/// `CitizenScan::key`, and the rows are made by `CitizenScan::row`.
async fn page_rows(
    tx: &Transaction<'_>,
    auth: &DeviceAuth,
    cursor: u64,
    key_max: i64,
    fetch: i64,
) -> Result<Vec<PageRow<String>>, StoreError> {
    let worker = auth.worker.to_string();
    let device = auth.device.to_string();
    let rows = query(
        tx,
        "SELECT position, assigned_position, device_id, change FROM (
            SELECT l.position AS key, l.position, c.assigned_position, l.device_id, l.change
              FROM caseload c JOIN change_log l ON l.citizen_id = c.citizen_id AND l.position > $2
             WHERE c.worker_id = $1 AND c.assigned_position <= $2
            UNION ALL
            SELECT greatest(l.position, c.assigned_position), l.position, c.assigned_position, l.device_id, l.change
              FROM caseload c JOIN change_log l ON l.citizen_id = c.citizen_id
             WHERE c.worker_id = $1 AND c.assigned_position > $2) AS page
         WHERE key <= $3 ORDER BY key, position LIMIT $4",
        &[&worker, &sql_u64(cursor)?, &key_max, &fetch],
    )
    .await?;
    rows.iter()
        .map(|row| {
            let scan = CitizenScan::new(to_u64(get(row, 1)?)?, cursor);
            let own = get::<&str>(row, 2)? == device;
            scan.row(to_u64(get(row, 0)?)?, own, || get::<String>(row, 3))
        })
        .collect()
}

/// The page past `cursor` (`crate::rules::pull`): the first `limit` rows and one more, and when
/// the limit falls in the page's first key (a history longer than a page), every row of it.
async fn pull_page(
    tx: &Transaction<'_>,
    auth: &DeviceAuth,
    cursor: u64,
    limit: usize,
    log_end: u64,
) -> Result<Page<String>, StoreError> {
    let cursor_sql = sql_u64(cursor)?;
    let fetch = i64::try_from(limit.max(1)).unwrap_or(i64::MAX).saturating_add(1);
    let mut cut = PageCut::new(limit);
    for row in page_rows(tx, auth, cursor, i64::MAX, fetch).await? {
        if !cut.offer(row) {
            break;
        }
    }
    if let Some(key) = cut.open_key() {
        cut = PageCut::new(limit);
        for row in page_rows(tx, auth, cursor, sql_u64(key)?, i64::MAX).await? {
            cut.offer(row);
        }
    }
    let departures = query(
        tx,
        "SELECT e.position, e.citizen_id,
                EXISTS (SELECT 1 FROM caseload c WHERE c.citizen_id = e.citizen_id AND c.worker_id = $1)
           FROM caseload_events e WHERE e.previous_worker_id = $1 AND e.position > $2 ORDER BY e.position",
        &[&auth.worker.to_string(), &cursor_sql],
    )
    .await?
    .iter()
    .map(|row| Ok(Departure { position: to_u64(get(row, 0)?)?, citizen: parse_id(get(row, 1)?)?, back: get(row, 2)? }))
    .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(Page::new(cut.finish(), cursor, log_end, &departures))
}
