//! The PostgreSQL backend, for a municipality that runs its registry on PostgreSQL: the same
//! semantics as the SQLite backend (`sqlite.rs` is the reference), over a deadpool pool of
//! tokio-postgres connections. Every trait method is one transaction.
//!
//! Positions: the change log and the caseload events share one sequence of log positions, taken
//! as one past the largest of both tables. Every writing transaction first takes one transaction
//! advisory lock (`WRITE_LOCK`), so writers run one at a time, positions commit in the order they
//! are taken, and a reader never sees position N+1 before N (a device whose cursor passed N+1
//! would never receive N). A sync's read of its page happens under the same lock, after its push.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use anyhow::Context;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime, Transaction};
use fit_core::Hlc;
use fit_core::hlc::HlcClock;
use fit_core::ids::{CitizenId, DeviceId, TeamId, WorkerId};
use fit_core::merge::{FieldWrite, Version, merge_lww};
use fit_protocol::{
    Change, ChangeBody, Entity, LoggedChange, PROTOCOL_VERSION, SCHEMA_VERSION, SyncRequest, SyncResponse,
};
use tokio_postgres::NoTls;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::{CitizenProfile, Conflict, DeviceAuth, DeviceInfo, Enrolled, ServerStore};
use crate::error::ApiError;
use fit_protocol::ErrorCode;

/// The migrations, in order, under refinery's names (`V<version>__<name>`).
const MIGRATIONS: &[(&str, &str)] =
    &[("V1__initial", include_str!("../../../../migrations/server-postgres/0001_initial.sql"))];

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

type TxFuture<'t, T> = Pin<Box<dyn Future<Output = Result<T, ApiError>> + Send + 't>>;

impl PgStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/name`), brings its
    /// schema to the latest migration, and makes the pool.
    pub async fn connect(url: &str) -> anyhow::Result<PgStore> {
        let mut config: tokio_postgres::Config = url.parse().context("the PostgreSQL URL is not valid")?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        config.application_name("fit-server");
        migrate(&config).await?;
        let manager = Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .context("cannot make the PostgreSQL connection pool")?;
        Ok(PgStore { pool })
    }

    async fn client(&self) -> Result<Object, ApiError> {
        self.pool.get().await.map_err(|e| ApiError::Internal(anyhow::anyhow!("no PostgreSQL connection: {e}")))
    }

    /// Runs `work` in a transaction that holds the write lock, and commits it if `work` succeeds.
    async fn write<T: Send>(
        &self,
        work: impl for<'t> FnOnce(&'t Transaction<'t>) -> TxFuture<'t, T> + Send,
    ) -> Result<T, ApiError> {
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
    ) -> Result<T, ApiError> {
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
async fn migrate(config: &tokio_postgres::Config) -> anyhow::Result<()> {
    let mut config = config.clone();
    // Quiet: refinery's `CREATE TABLE IF NOT EXISTS` would log a notice at every start.
    config.options("-c client_min_messages=warning");
    let (mut client, connection) = config.connect(NoTls).await.context("cannot connect to PostgreSQL")?;
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

fn internal(message: &str) -> ApiError {
    ApiError::Internal(anyhow::anyhow!("{message}"))
}

/// A database error as a server fault. Only the SQLSTATE, the message and the schema names go
/// into the error (and so into the log): PostgreSQL's detail can quote a failing row, which may
/// hold personal data.
fn db(error: tokio_postgres::Error) -> ApiError {
    match error.as_db_error() {
        Some(e) => ApiError::Internal(anyhow::anyhow!(
            "PostgreSQL error {} in {}.{}: {}",
            e.code().code(),
            e.table().unwrap_or("-"),
            e.constraint().or(e.column()).unwrap_or("-"),
            e.message()
        )),
        None => ApiError::Internal(anyhow::anyhow!("PostgreSQL: {error}")),
    }
}

fn sql_u64(value: u64) -> Result<i64, ApiError> {
    i64::try_from(value).map_err(|_| ApiError::invalid(ErrorCode::RequestOutOfRange, format!("{value} is too large")))
}

fn to_u64(value: i64) -> Result<u64, ApiError> {
    u64::try_from(value).map_err(|_| internal("a negative number in the database"))
}

fn to_u32(value: i64) -> Result<u32, ApiError> {
    u32::try_from(value).map_err(|_| internal("a counter out of range in the database"))
}

fn parse_id<T: std::str::FromStr>(text: &str) -> Result<T, ApiError> {
    text.parse().map_err(|_| internal("a malformed id in the database"))
}

fn parse_change(text: &str) -> Result<Change, ApiError> {
    serde_json::from_str(text).map_err(|e| ApiError::Internal(e.into()))
}

/// A column of `row`, or a server fault when its type is not the one expected (never a panic).
fn get<'r, T: tokio_postgres::types::FromSql<'r>>(row: &'r Row, index: usize) -> Result<T, ApiError> {
    row.try_get(index).map_err(db)
}

type Params<'p> = &'p [&'p (dyn ToSql + Sync)];

async fn execute(tx: &Transaction<'_>, sql: &str, params: Params<'_>) -> Result<u64, ApiError> {
    let statement = tx.prepare_cached(sql).await.map_err(db)?;
    tx.execute(&statement, params).await.map_err(db)
}

async fn query(tx: &Transaction<'_>, sql: &str, params: Params<'_>) -> Result<Vec<Row>, ApiError> {
    let statement = tx.prepare_cached(sql).await.map_err(db)?;
    tx.query(&statement, params).await.map_err(db)
}

async fn query_opt(tx: &Transaction<'_>, sql: &str, params: Params<'_>) -> Result<Option<Row>, ApiError> {
    let statement = tx.prepare_cached(sql).await.map_err(db)?;
    tx.query_opt(&statement, params).await.map_err(db)
}

async fn query_one(tx: &Transaction<'_>, sql: &str, params: Params<'_>) -> Result<Row, ApiError> {
    let statement = tx.prepare_cached(sql).await.map_err(db)?;
    tx.query_one(&statement, params).await.map_err(db)
}

/// An insert from an admin command: a duplicate id, or a reference to something missing, is the
/// administrator's mistake, not a fault (as `sqlite::insert`: any integrity constraint).
async fn insert(tx: &Transaction<'_>, sql: &str, params: Params<'_>) -> Result<(), ApiError> {
    let statement = tx.prepare_cached(sql).await.map_err(db)?;
    match tx.execute(&statement, params).await {
        Ok(_) => Ok(()),
        Err(e) if e.code().is_some_and(|code| code.code().starts_with("23")) => Err(ApiError::invalid(
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
    ) -> Result<Enrolled, ApiError> {
        self.write(move |tx| Box::pin(enroll_in(tx, code_hash, device, token_hash, now_ms))).await
    }

    async fn authenticate(&self, token_hash: String) -> Result<DeviceAuth, ApiError> {
        self.read(move |tx| {
            Box::pin(async move {
                let row = query_opt(
                    tx,
                    "SELECT id, worker_id, revoked_at_ms FROM devices WHERE token_hash = $1",
                    &[&token_hash],
                )
                .await?;
                let Some(row) = row else { return Err(ApiError::Unauthorized) };
                if get::<Option<i64>>(&row, 2)?.is_some() {
                    return Err(ApiError::Revoked);
                }
                Ok(DeviceAuth { device: parse_id(get(&row, 0)?)?, worker: parse_id(get(&row, 1)?)? })
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
    ) -> Result<SyncResponse, ApiError> {
        self.write(move |tx| Box::pin(async move { sync_in(tx, auth, &request, pull_limit, now_ms).await })).await
    }

    async fn create_team(&self, team: TeamId, name: String) -> Result<(), ApiError> {
        self.write(move |tx| {
            Box::pin(async move {
                insert(tx, "INSERT INTO teams (id, name) VALUES ($1, $2)", &[&team.to_string(), &name]).await
            })
        })
        .await
    }

    async fn create_worker(&self, worker: WorkerId, team: TeamId, name: String) -> Result<(), ApiError> {
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
    ) -> Result<(), ApiError> {
        let fields = profile.fields(citizen)?;
        self.write(move |tx| {
            Box::pin(async move {
                insert(
                    tx,
                    "INSERT INTO citizens (id, team_id) VALUES ($1, $2)",
                    &[&citizen.to_string(), &team.to_string()],
                )
                .await?;
                for body in fields {
                    log_server_change(tx, body, now_ms).await?;
                }
                Ok(())
            })
        })
        .await
    }

    async fn assign(&self, citizen: CitizenId, worker: WorkerId, now_ms: u64) -> Result<(), ApiError> {
        self.write(move |tx| Box::pin(assign_in(tx, citizen, worker, now_ms))).await
    }

    async fn create_enrollment_code(
        &self,
        code_hash: String,
        worker: WorkerId,
        now_ms: u64,
        expires_at_ms: u64,
    ) -> Result<(), ApiError> {
        self.write(move |tx| {
            Box::pin(async move {
                insert(
                    tx,
                    "INSERT INTO enrollment_codes (code_hash, worker_id, created_at_ms, expires_at_ms)
                     VALUES ($1, $2, $3, $4)",
                    &[&code_hash, &worker.to_string(), &sql_u64(now_ms)?, &sql_u64(expires_at_ms)?],
                )
                .await
            })
        })
        .await
    }

    async fn devices(&self) -> Result<Vec<DeviceInfo>, ApiError> {
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

    async fn revoke(&self, device: DeviceId, now_ms: u64) -> Result<(), ApiError> {
        self.write(move |tx| {
            Box::pin(async move {
                let changed = execute(
                    tx,
                    "UPDATE devices SET revoked_at_ms = coalesce(revoked_at_ms, $1) WHERE id = $2",
                    &[&sql_u64(now_ms)?, &device.to_string()],
                )
                .await?;
                if changed == 0 { Err(ApiError::invalid(ErrorCode::DeviceUnknown, "no such device")) } else { Ok(()) }
            })
        })
        .await
    }

    async fn changes(&self) -> Result<Vec<Change>, ApiError> {
        self.read(|tx| {
            Box::pin(async move {
                let rows = query(tx, "SELECT change FROM change_log ORDER BY position", &[]).await?;
                rows.iter().map(|row| parse_change(get(row, 0)?)).collect()
            })
        })
        .await
    }

    async fn conflicts(&self) -> Result<Vec<Conflict>, ApiError> {
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

    async fn audit(&self, actor: String, action: String, subject: String, now_ms: u64) -> Result<(), ApiError> {
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
) -> Result<Enrolled, ApiError> {
    let code = query_opt(
        tx,
        "SELECT worker_id, expires_at_ms, used_at_ms FROM enrollment_codes WHERE code_hash = $1",
        &[&code_hash],
    )
    .await?;
    let Some(code) = code else {
        return Err(ApiError::invalid(ErrorCode::EnrollCodeInvalid, "this enrollment code is not valid"));
    };
    let worker: String = get(&code, 0)?;
    if get::<Option<i64>>(&code, 2)?.is_some() {
        return Err(ApiError::invalid(ErrorCode::EnrollCodeUsed, "this enrollment code has been used already"));
    }
    if to_u64(get(&code, 1)?)? <= now_ms {
        return Err(ApiError::invalid(ErrorCode::EnrollCodeExpired, "this enrollment code has expired"));
    }
    let device = device.to_string();
    if query_opt(tx, "SELECT 1 FROM devices WHERE id = $1", &[&device]).await?.is_some() {
        return Err(ApiError::invalid(ErrorCode::EnrollDeviceExists, "this device is enrolled already"));
    }
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

async fn assign_in(tx: &Transaction<'_>, citizen: CitizenId, worker: WorkerId, now_ms: u64) -> Result<(), ApiError> {
    let citizen = citizen.to_string();
    let worker = worker.to_string();
    let previous: Option<String> =
        match query_opt(tx, "SELECT worker_id FROM caseload WHERE citizen_id = $1", &[&citizen]).await? {
            Some(row) => Some(get(&row, 0)?),
            None => None,
        };
    if previous.as_deref() == Some(worker.as_str()) {
        return Ok(());
    }
    let position = next_position(tx).await?;
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

async fn sync_in(
    tx: &Transaction<'_>,
    auth: DeviceAuth,
    request: &SyncRequest,
    limit: usize,
    now_ms: u64,
) -> Result<SyncResponse, ApiError> {
    let device = auth.device.to_string();
    let state = query_opt(tx, "SELECT last_seq, revoked_at_ms FROM devices WHERE id = $1", &[&device]).await?;
    let Some(state) = state else { return Err(ApiError::Unauthorized) };
    if get::<Option<i64>>(&state, 1)?.is_some() {
        return Err(ApiError::Revoked);
    }
    let last_seq = to_u64(get(&state, 0)?)?;

    let last_seq = push_batch(tx, auth, &request.push, last_seq, now_ms).await?;
    execute(
        tx,
        "UPDATE devices SET last_seq = $1, last_sync_ms = $2 WHERE id = $3",
        &[&sql_u64(last_seq)?, &sql_u64(now_ms)?, &device],
    )
    .await?;

    let page = pull_page(tx, &auth, request.cursor, limit).await?;
    let mut changes = Vec::with_capacity(page.rows.len());
    for row in page.rows {
        if row.send {
            changes.push(LoggedChange { position: to_u64(row.position)?, change: parse_change(&row.change)? });
        }
    }
    Ok(SyncResponse {
        protocol: PROTOCOL_VERSION,
        acknowledged_seq: last_seq,
        changes,
        cursor: page.cursor,
        more: page.more,
        removed_citizens: page.removed,
        server_time_ms: now_ms,
    })
}

/// The next position in the log: one past the largest of the change log and the caseload
/// events. Writers hold `WRITE_LOCK`, so two transactions never take the same position.
async fn next_position(tx: &Transaction<'_>) -> Result<i64, ApiError> {
    let row = query_one(
        tx,
        "SELECT greatest(coalesce((SELECT max(position) FROM change_log), 0),
                         coalesce((SELECT max(position) FROM caseload_events), 0)) + 1",
        &[],
    )
    .await?;
    get(&row, 0)
}

struct PageRow {
    key: i64,
    position: i64,
    change: String,
    /// False for the device's own changes, which it holds already (unless back-filled).
    send: bool,
}

struct Page {
    rows: Vec<PageRow>,
    cursor: u64,
    more: bool,
    removed: Vec<CitizenId>,
}

/// The rows of the page past `cursor` with keys up to `key_max`, at most `fetch` of them.
async fn page_rows(
    tx: &Transaction<'_>,
    auth: &DeviceAuth,
    cursor: i64,
    key_max: i64,
    fetch: i64,
) -> Result<Vec<PageRow>, ApiError> {
    let worker = auth.worker.to_string();
    let device = auth.device.to_string();
    let rows = query(
        tx,
        "SELECT key, position, device_id, change, backfill FROM (
            SELECT l.position AS key, l.position, l.device_id, l.change, false AS backfill
              FROM caseload c JOIN change_log l ON l.citizen_id = c.citizen_id AND l.position > $2
             WHERE c.worker_id = $1 AND c.assigned_position <= $2
            UNION ALL
            SELECT greatest(l.position, c.assigned_position), l.position, l.device_id, l.change,
                   l.position < c.assigned_position
              FROM caseload c JOIN change_log l ON l.citizen_id = c.citizen_id
             WHERE c.worker_id = $1 AND c.assigned_position > $2) AS page
         WHERE key <= $3 ORDER BY key, position LIMIT $4",
        &[&worker, &cursor, &key_max, &fetch],
    )
    .await?;
    rows.iter()
        .map(|row| {
            let origin: &str = get(row, 2)?;
            let backfill: bool = get(row, 4)?;
            Ok(PageRow {
                key: get(row, 0)?,
                position: get(row, 1)?,
                change: get(row, 3)?,
                send: backfill || origin != device,
            })
        })
        .collect()
}

/// A page of what the worker may see past `cursor`, in the order of `key` (as `sqlite::pull_page`):
/// - for a citizen assigned at or before the cursor, its changes past the cursor (key = position);
/// - for a citizen assigned after the cursor, its whole history, which the device has not had
///   (key = the later of the position and the assignment's position).
///
/// A page never splits the rows of one key, because the cursor moves to a key; a history longer
/// than the page limit comes whole in a page of its own.
async fn pull_page(tx: &Transaction<'_>, auth: &DeviceAuth, cursor: u64, limit: usize) -> Result<Page, ApiError> {
    // The checks keep the limit at 1 or more; a 0 here would only mean "one".
    let limit = limit.max(1);
    let cursor_sql = sql_u64(cursor)?;
    let limit_sql = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut rows = page_rows(tx, auth, cursor_sql, i64::MAX, limit_sql.saturating_add(1)).await?;
    let more = rows.len() > limit;
    if more {
        let split_key = rows[limit - 1].key;
        if rows[limit].key == split_key {
            if rows[0].key == split_key {
                rows = page_rows(tx, auth, cursor_sql, split_key, i64::MAX).await?;
            } else {
                rows.retain(|row| row.key < split_key);
            }
        } else {
            rows.truncate(limit);
        }
    }
    // Past the page: a complete answer moves the cursor to the end of the log, so the next
    // round starts there; a partial one to the last key sent.
    let new_cursor = match (more, rows.last()) {
        (true, Some(row)) => row.key,
        _ => next_position(tx).await? - 1,
    }
    .max(cursor_sql);
    let worker = auth.worker.to_string();
    // In the order the citizens left (SQLite's DISTINCT gives no order of its own).
    let removed = query(
        tx,
        "SELECT e.citizen_id FROM caseload_events e
          WHERE e.previous_worker_id = $1 AND e.position > $2 AND e.position <= $3
            AND NOT EXISTS (SELECT 1 FROM caseload c WHERE c.citizen_id = e.citizen_id AND c.worker_id = $1)
          GROUP BY e.citizen_id ORDER BY min(e.position)",
        &[&worker, &cursor_sql, &new_cursor],
    )
    .await?
    .iter()
    .map(|row| parse_id(get(row, 0)?))
    .collect::<Result<_, _>>()?;
    Ok(Page { rows, cursor: to_u64(new_cursor)?, more, removed })
}

/// Writes a change the server makes itself (a profile from an admin command) under its own
/// device id, sequence and clock, through the same log and merge as a device's change.
async fn log_server_change(tx: &Transaction<'_>, body: ChangeBody, now_ms: u64) -> Result<(), ApiError> {
    let row = query_one(tx, "SELECT device_id, last_seq, hlc_wall_ms, hlc_counter FROM server_identity", &[]).await?;
    let device: DeviceId = parse_id(get(&row, 0)?)?;
    let mut clock =
        HlcClock::new(Hlc::new(to_u64(get(&row, 2)?)?, to_u32(get(&row, 3)?)?), fit_core::hlc::MAX_DRIFT_MS_DEFAULT);
    let hlc = clock.tick(now_ms);
    let seq = to_u64(get(&row, 1)?)? + 1;
    let change = Change {
        id: uuid::Uuid::now_v7().into(),
        device,
        seq,
        hlc,
        device_time_ms: now_ms,
        schema_version: SCHEMA_VERSION,
        body,
    };
    execute(
        tx,
        "UPDATE server_identity SET last_seq = $1, hlc_wall_ms = $2, hlc_counter = $3",
        &[&sql_u64(seq)?, &sql_u64(hlc.wall_ms)?, &i64::from(hlc.counter)],
    )
    .await?;
    store_change(tx, &change, now_ms).await
}

/// Stores a pushed batch, recognising changes already stored, and returns the sequence number
/// acknowledged. The checks are those of `sqlite::push_one`, in the same order and with the same
/// errors; what they need from the database is read for the whole batch at once, and the new
/// rows go in with one statement, so a batch costs a few round trips, not several per change.
async fn push_batch(
    tx: &Transaction<'_>,
    auth: DeviceAuth,
    push: &[Change],
    mut last_seq: u64,
    now_ms: u64,
) -> Result<u64, ApiError> {
    if push.is_empty() {
        return Ok(last_seq);
    }
    let ids: Vec<String> = push.iter().map(|change| change.id.to_string()).collect();
    let used: HashSet<String> = query(tx, "SELECT change_id FROM change_log WHERE change_id = ANY($1)", &[&ids])
        .await?
        .iter()
        .map(|row| get(row, 0))
        .collect::<Result<_, _>>()?;
    let citizens: Vec<String> =
        push.iter().map(|change| change.citizen().to_string()).collect::<HashSet<_>>().into_iter().collect();
    // In scope: the worker's citizen now, or one that was; a device's changes recorded before a
    // citizen moved to another worker are still accepted, so nothing recorded is lost.
    let in_scope: HashSet<String> = query(
        tx,
        "SELECT citizen_id FROM caseload WHERE worker_id = $1 AND citizen_id = ANY($2)
         UNION SELECT citizen_id FROM caseload_events WHERE worker_id = $1 AND citizen_id = ANY($2)",
        &[&auth.worker.to_string(), &citizens],
    )
    .await?
    .iter()
    .map(|row| get(row, 0))
    .collect::<Result<_, _>>()?;
    let mut rows = LogRows::default();
    let mut position = next_position(tx).await?;
    for (index, change) in push.iter().enumerate() {
        let new =
            check_pushed(tx, auth, change, last_seq, &used, &in_scope, &rows).await.map_err(|e| e.in_change(index))?;
        if new {
            if let ChangeBody::FieldSet { entity, field, base, .. } = &change.body {
                merge_field(tx, change, entity, field.as_str(), *base, &change.citizen().to_string(), now_ms)
                    .await
                    .map_err(|e| e.in_change(index))?;
            }
            rows.add(change, position, now_ms)?;
            position += 1;
        }
        last_seq = last_seq.max(change.seq);
    }
    rows.insert(tx).await?;
    Ok(last_seq)
}

/// Whether a pushed change is new; a change stored before (in the log, or earlier in this
/// batch) is recognised when it is the same, and refused when its content differs.
async fn check_pushed(
    tx: &Transaction<'_>,
    auth: DeviceAuth,
    change: &Change,
    last_seq: u64,
    used: &HashSet<String>,
    in_scope: &HashSet<String>,
    batch: &LogRows,
) -> Result<bool, ApiError> {
    if change.seq <= last_seq {
        let same = match batch.by_seq.get(&change.seq) {
            Some(earlier) => earlier == change,
            None => {
                let stored = query_opt(
                    tx,
                    "SELECT change FROM change_log WHERE device_id = $1 AND seq = $2",
                    &[&auth.device.to_string(), &sql_u64(change.seq)?],
                )
                .await?;
                let stored: Option<String> = stored.map(|row| get(&row, 0)).transpose()?;
                stored.as_deref().map(serde_json::from_str::<Change>).transpose().ok().flatten().as_ref()
                    == Some(change)
            }
        };
        return if same {
            Ok(false)
        } else {
            Err(ApiError::Conflict(format!("seq {} was sent before with other content", change.seq)))
        };
    }
    if change.seq != last_seq + 1 {
        return Err(ApiError::invalid(
            ErrorCode::BatchSequenceGap,
            format!("expected seq {}, got {}: changes are missing before it", last_seq + 1, change.seq),
        ));
    }
    let id = change.id.to_string();
    if used.contains(&id) || batch.ids.contains(&id) {
        return Err(ApiError::Conflict(format!("change id {} was sent before with other content", change.id)));
    }
    if !in_scope.contains(&change.citizen().to_string()) {
        return Err(ApiError::OutOfScope);
    }
    Ok(true)
}

/// Merges a change's field write, if any, and appends the change to the log at the next position.
async fn store_change(tx: &Transaction<'_>, change: &Change, now_ms: u64) -> Result<(), ApiError> {
    if let ChangeBody::FieldSet { entity, field, base, .. } = &change.body {
        merge_field(tx, change, entity, field.as_str(), *base, &change.citizen().to_string(), now_ms).await?;
    }
    let mut rows = LogRows::default();
    rows.add(change, next_position(tx).await?, now_ms)?;
    rows.insert(tx).await
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
    /// The batch's changes by sequence number and their ids, to recognise one sent twice in a batch.
    by_seq: HashMap<u64, Change>,
    ids: HashSet<String>,
}

impl LogRows {
    fn add(&mut self, change: &Change, position: i64, now_ms: u64) -> Result<(), ApiError> {
        self.change.push(serde_json::to_string(change).map_err(|e| ApiError::Internal(e.into()))?);
        self.kind.push(match &change.body {
            ChangeBody::VisitStarted { .. } => "visit_started",
            ChangeBody::VisitClosed { .. } => "visit_closed",
            ChangeBody::ResponseRecorded { .. } => "response_recorded",
            ChangeBody::NoteWritten { .. } => "note_written",
            ChangeBody::FieldSet { .. } => "field_set",
        });
        self.change_id.push(change.id.to_string());
        self.device_id.push(change.device.to_string());
        self.seq.push(sql_u64(change.seq)?);
        self.citizen_id.push(change.citizen().to_string());
        self.hlc_wall_ms.push(sql_u64(change.hlc.wall_ms)?);
        self.hlc_counter.push(i64::from(change.hlc.counter));
        self.device_time_ms.push(sql_u64(change.device_time_ms)?);
        self.received_at_ms.push(sql_u64(now_ms)?);
        self.schema_version.push(i64::from(change.schema_version));
        self.position.push(position);
        self.by_seq.insert(change.seq, change.clone());
        self.ids.insert(change.id.to_string());
        Ok(())
    }

    async fn insert(&self, tx: &Transaction<'_>) -> Result<(), ApiError> {
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

/// Last writer wins per field; a write not based on the version held is concurrent with it and
/// goes to the conflict log with the winner.
async fn merge_field(
    tx: &Transaction<'_>,
    change: &Change,
    entity: &Entity,
    field: &str,
    base: Option<Version>,
    citizen: &str,
    now_ms: u64,
) -> Result<(), ApiError> {
    let (kind, id) = match entity {
        Entity::Citizen { citizen } => ("citizen", citizen.to_string()),
        Entity::Goal { goal, .. } => ("goal", goal.to_string()),
    };
    let current = query_opt(
        tx,
        "SELECT hlc_wall_ms, hlc_counter, device_id, change_id FROM field_versions
         WHERE entity = $1 AND entity_id = $2 AND field = $3",
        &[&kind, &id, &field],
    )
    .await?;
    let current = match current {
        Some(row) => {
            let version = Version {
                hlc: Hlc::new(to_u64(get(&row, 0)?)?, to_u32(get(&row, 1)?)?),
                device: parse_id(get(&row, 2)?)?,
            };
            Some((version, get::<String>(&row, 3)?))
        }
        None => None,
    };
    let incoming = Version { hlc: change.hlc, device: change.device };
    let merge = merge_lww(current.as_ref().map(|(version, _)| *version), FieldWrite { version: incoming, base });
    if merge.is_concurrent()
        && let Some((_, current_change)) = &current
    {
        let (winner, loser) = if merge.applies() {
            (change.id.to_string(), current_change.clone())
        } else {
            (current_change.clone(), change.id.to_string())
        };
        execute(
            tx,
            "INSERT INTO conflicts (entity, entity_id, citizen_id, field, winner_change, loser_change, detected_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[&kind, &id, &citizen, &field, &winner, &loser, &sql_u64(now_ms)?],
        )
        .await?;
    }
    if merge.applies() {
        execute(
            tx,
            "INSERT INTO field_versions (entity, entity_id, field, hlc_wall_ms, hlc_counter, device_id, change_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (entity, entity_id, field) DO UPDATE SET hlc_wall_ms = excluded.hlc_wall_ms,
                hlc_counter = excluded.hlc_counter, device_id = excluded.device_id, change_id = excluded.change_id",
            &[
                &kind,
                &id,
                &field,
                &sql_u64(incoming.hlc.wall_ms)?,
                &i64::from(incoming.hlc.counter),
                &change.device.to_string(),
                &change.id.to_string(),
            ],
        )
        .await?;
    }
    Ok(())
}
