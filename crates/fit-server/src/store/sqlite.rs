//! The SQLite backend, the embedded default: one connection on its own thread, so there is one
//! writer, and group commit: requests that arrive while a transaction runs are applied together,
//! each inside its own savepoint (all or nothing per request), under one fsync.

use std::collections::HashMap;
use std::path::Path;
use std::sync::LazyLock;

use fit_core::Hlc;
use fit_core::hlc::HlcClock;
use fit_core::ids::{CitizenId, DeviceId, TeamId, WorkerId};
use fit_core::merge::{FieldWrite, Version, merge_lww};
use fit_protocol::{
    Change, ChangeBody, Entity, LoggedChange, PROTOCOL_VERSION, SCHEMA_VERSION, SyncRequest, SyncResponse,
};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use rusqlite_migration::{M, Migrations};
use tokio::sync::{mpsc, oneshot};

use super::{CitizenProfile, Conflict, DeviceAuth, DeviceInfo, Enrolled, ServerStore};
use crate::error::ApiError;
use fit_protocol::ErrorCode;

static MIGRATIONS: LazyLock<Migrations<'static>> = LazyLock::new(|| {
    Migrations::new(vec![M::up(include_str!("../../../../migrations/server-sqlite/0001_initial.sql"))])
});

/// Requests applied in one transaction at most: bounds the latency one commit adds to the first.
const GROUP_COMMIT_MAX: usize = 64;
/// Requests waiting for the writer: past this, callers wait for room (back-pressure).
const QUEUE_LEN_MAX: usize = 1_024;
const BUSY_TIMEOUT_MS: u64 = 5_000;

/// A unit of work for the writer thread: runs inside a savepoint and says whether it succeeded;
/// its reply is sent only once the transaction holding it has committed.
type Job = Box<dyn FnOnce(&Connection) -> (bool, Box<dyn FnOnce(bool) + Send>) + Send>;

#[derive(Debug, Clone)]
pub struct SqliteStore {
    jobs: mpsc::Sender<Job>,
}

impl SqliteStore {
    /// Opens (or creates) the database at `path` and starts its writer thread.
    pub fn open(path: &Path) -> anyhow::Result<SqliteStore> {
        let mut conn = Connection::open(path)?;
        // A batch runs the same few statements for each of its changes: keep them prepared.
        conn.set_prepared_statement_cache_capacity(64);
        let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
        anyhow::ensure!(mode.eq_ignore_ascii_case("wal"), "journal mode is {mode}, not WAL");
        // FULL: an acknowledged change survives power loss; group commit pays the fsync once per group.
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS))?;
        MIGRATIONS.to_latest(&mut conn)?;
        conn.execute(
            "INSERT INTO server_identity (singleton, device_id) VALUES (1, ?1) ON CONFLICT DO NOTHING",
            [uuid::Uuid::now_v7().to_string()],
        )?;
        let (jobs, receiver) = mpsc::channel(QUEUE_LEN_MAX);
        std::thread::Builder::new().name("fit-server-sqlite".into()).spawn(move || run_writer(conn, receiver))?;
        Ok(SqliteStore { jobs })
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let result = work(conn);
            let ok = result.is_ok();
            let send: Box<dyn FnOnce(bool) + Send> = Box::new(move |committed| {
                let _ = reply.send(if committed { result } else { Err(internal("the transaction did not commit")) });
            });
            (ok, send)
        });
        self.jobs.send(job).await.map_err(|_| internal("the database writer has stopped"))?;
        answer.await.map_err(|_| internal("the database writer dropped a request"))?
    }
}

fn internal(message: &str) -> ApiError {
    ApiError::Internal(anyhow::anyhow!("{message}"))
}

fn db(error: rusqlite::Error) -> ApiError {
    ApiError::Internal(error.into())
}

fn run_writer(mut conn: Connection, mut receiver: mpsc::Receiver<Job>) {
    while let Some(first) = receiver.blocking_recv() {
        let mut group = vec![first];
        while group.len() < GROUP_COMMIT_MAX {
            match receiver.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let mut replies = Vec::with_capacity(group.len());
        let committed = (|| -> rusqlite::Result<()> {
            let mut tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            for job in group.drain(..) {
                let savepoint = tx.savepoint()?;
                let (ok, reply) = job(&savepoint);
                if ok {
                    savepoint.commit()?
                } else {
                    savepoint.finish()?
                }
                replies.push(reply);
            }
            tx.commit()
        })();
        if let Err(error) = &committed {
            tracing::error!(error = %error, "a group commit failed");
        }
        // Jobs that never ran (the group failed before them) are dropped: their callers see an error.
        for reply in replies {
            reply(committed.is_ok());
        }
    }
}

fn sql_u64(value: u64) -> Result<i64, ApiError> {
    i64::try_from(value).map_err(|_| ApiError::invalid(ErrorCode::RequestOutOfRange, format!("{value} is too large")))
}

fn to_u64(value: i64) -> Result<u64, ApiError> {
    u64::try_from(value).map_err(|_| internal("a negative number in the database"))
}

fn parse_id<T: std::str::FromStr>(text: &str) -> Result<T, ApiError> {
    text.parse().map_err(|_| internal("a malformed id in the database"))
}

impl ServerStore for SqliteStore {
    async fn enroll(
        &self,
        code_hash: String,
        device: DeviceId,
        token_hash: String,
        now_ms: u64,
    ) -> Result<Enrolled, ApiError> {
        self.run(move |conn| {
            let code: Option<(String, i64, Option<i64>)> = conn
                .query_row(
                    "SELECT worker_id, expires_at_ms, used_at_ms FROM enrollment_codes WHERE code_hash = ?1",
                    [&code_hash],
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
                )
                .optional()
                .map_err(db)?;
            let Some((worker, expires_at_ms, used_at_ms)) = code else {
                return Err(ApiError::invalid(ErrorCode::EnrollCodeInvalid, "this enrollment code is not valid"));
            };
            if used_at_ms.is_some() {
                return Err(ApiError::invalid(ErrorCode::EnrollCodeUsed, "this enrollment code has been used already"));
            }
            if to_u64(expires_at_ms)? <= now_ms {
                return Err(ApiError::invalid(ErrorCode::EnrollCodeExpired, "this enrollment code has expired"));
            }
            let exists = conn
                .query_row("SELECT 1 FROM devices WHERE id = ?1", [device.to_string()], |_| Ok(()))
                .optional()
                .map_err(db)?;
            if exists.is_some() {
                return Err(ApiError::invalid(ErrorCode::EnrollDeviceExists, "this device is enrolled already"));
            }
            conn.execute("UPDATE enrollment_codes SET used_at_ms = ?1 WHERE code_hash = ?2", params![sql_u64(now_ms)?, code_hash])
                .map_err(db)?;
            conn.execute(
                "INSERT INTO devices (id, worker_id, token_hash, enrolled_at_ms) VALUES (?1, ?2, ?3, ?4)",
                params![device.to_string(), worker, token_hash, sql_u64(now_ms)?],
            )
            .map_err(db)?;
            let (worker_name, team, team_name): (String, String, String) = conn
                .query_row(
                    "SELECT w.display_name, t.id, t.name FROM workers w JOIN teams t ON t.id = w.team_id WHERE w.id = ?1",
                    [&worker],
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
                )
                .map_err(db)?;
            Ok(Enrolled { worker: parse_id(&worker)?, worker_name, team: parse_id(&team)?, team_name })
        })
        .await
    }

    async fn authenticate(&self, token_hash: String) -> Result<DeviceAuth, ApiError> {
        self.run(move |conn| {
            let row: Option<(String, String, Option<i64>)> = conn
                .query_row(
                    "SELECT id, worker_id, revoked_at_ms FROM devices WHERE token_hash = ?1",
                    [&token_hash],
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
                )
                .optional()
                .map_err(db)?;
            match row {
                None => Err(ApiError::Unauthorized),
                Some((_, _, Some(_))) => Err(ApiError::Revoked),
                Some((device, worker, None)) => {
                    Ok(DeviceAuth { device: parse_id(&device)?, worker: parse_id(&worker)? })
                }
            }
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
        self.run(move |conn| sync_in(conn, auth, &request, pull_limit, now_ms)).await
    }

    async fn create_team(&self, team: TeamId, name: String) -> Result<(), ApiError> {
        self.run(move |conn| {
            insert(conn, "INSERT INTO teams (id, name) VALUES (?1, ?2)", params![team.to_string(), name])
        })
        .await
    }

    async fn create_worker(&self, worker: WorkerId, team: TeamId, name: String) -> Result<(), ApiError> {
        self.run(move |conn| {
            insert(
                conn,
                "INSERT INTO workers (id, team_id, display_name) VALUES (?1, ?2, ?3)",
                params![worker.to_string(), team.to_string(), name],
            )
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
        self.run(move |conn| {
            insert(
                conn,
                "INSERT INTO citizens (id, team_id) VALUES (?1, ?2)",
                params![citizen.to_string(), team.to_string()],
            )?;
            for body in fields {
                log_server_change(conn, body, now_ms)?;
            }
            Ok(())
        })
        .await
    }

    async fn assign(&self, citizen: CitizenId, worker: WorkerId, now_ms: u64) -> Result<(), ApiError> {
        self.run(move |conn| {
            let previous: Option<String> = conn
                .query_row("SELECT worker_id FROM caseload WHERE citizen_id = ?1", [citizen.to_string()], |row| {
                    row.get(0)
                })
                .optional()
                .map_err(db)?;
            if previous.as_deref() == Some(worker.to_string().as_str()) {
                return Ok(());
            }
            let position = next_position(conn)?;
            insert(
                conn,
                "INSERT INTO caseload_events (position, citizen_id, worker_id, previous_worker_id, at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![position, citizen.to_string(), worker.to_string(), previous, sql_u64(now_ms)?],
            )?;
            insert(
                conn,
                "INSERT INTO caseload (citizen_id, worker_id, assigned_at_ms, assigned_position) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (citizen_id) DO UPDATE SET worker_id = excluded.worker_id,
                    assigned_at_ms = excluded.assigned_at_ms, assigned_position = excluded.assigned_position",
                params![citizen.to_string(), worker.to_string(), sql_u64(now_ms)?, position],
            )
        })
        .await
    }

    async fn create_enrollment_code(
        &self,
        code_hash: String,
        worker: WorkerId,
        now_ms: u64,
        expires_at_ms: u64,
    ) -> Result<(), ApiError> {
        self.run(move |conn| {
            insert(
                conn,
                "INSERT INTO enrollment_codes (code_hash, worker_id, created_at_ms, expires_at_ms) VALUES (?1, ?2, ?3, ?4)",
                params![code_hash, worker.to_string(), sql_u64(now_ms)?, sql_u64(expires_at_ms)?],
            )
        })
        .await
    }

    async fn devices(&self) -> Result<Vec<DeviceInfo>, ApiError> {
        self.run(|conn| {
            let mut statement = conn
                .prepare("SELECT id, worker_id, enrolled_at_ms, revoked_at_ms, last_seq FROM devices ORDER BY enrolled_at_ms, id")
                .map_err(db)?;
            let rows = statement
                .query_map([], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, i64>(2)?,
                        row.get::<_, Option<i64>>(3)?,
                        row.get::<_, i64>(4)?,
                    ))
                })
                .map_err(db)?;
            rows.map(|row| {
                let (device, worker, enrolled, revoked, last_seq) = row.map_err(db)?;
                Ok(DeviceInfo {
                    device: parse_id(&device)?,
                    worker: parse_id(&worker)?,
                    enrolled_at_ms: to_u64(enrolled)?,
                    revoked_at_ms: revoked.map(to_u64).transpose()?,
                    last_seq: to_u64(last_seq)?,
                })
            })
            .collect()
        })
        .await
    }

    async fn revoke(&self, device: DeviceId, now_ms: u64) -> Result<(), ApiError> {
        self.run(move |conn| {
            let changed = conn
                .execute(
                    "UPDATE devices SET revoked_at_ms = coalesce(revoked_at_ms, ?1) WHERE id = ?2",
                    params![sql_u64(now_ms)?, device.to_string()],
                )
                .map_err(db)?;
            if changed == 0 { Err(ApiError::invalid(ErrorCode::DeviceUnknown, "no such device")) } else { Ok(()) }
        })
        .await
    }

    async fn changes(&self) -> Result<Vec<Change>, ApiError> {
        self.run(|conn| {
            let mut statement = conn.prepare("SELECT change FROM change_log ORDER BY position").map_err(db)?;
            let rows = statement.query_map([], |row| row.get::<_, String>(0)).map_err(db)?;
            rows.map(|row| serde_json::from_str(&row.map_err(db)?).map_err(|e| ApiError::Internal(e.into()))).collect()
        })
        .await
    }

    async fn audit(&self, actor: String, action: String, subject: String, now_ms: u64) -> Result<(), ApiError> {
        self.run(move |conn| {
            conn.execute(
                "INSERT INTO audit_log (actor, action, subject, at_ms) VALUES (?1, ?2, ?3, ?4)",
                params![actor, action, subject, sql_u64(now_ms)?],
            )
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn conflicts(&self) -> Result<Vec<Conflict>, ApiError> {
        self.run(|conn| {
            let mut statement = conn
                .prepare("SELECT citizen_id, entity_id, field, winner_change, loser_change FROM conflicts ORDER BY id")
                .map_err(db)?;
            let rows = statement
                .query_map([], |row| Ok((row.get::<_, String>(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?)))
                .map_err(db)?;
            rows.map(|row| {
                let (citizen, entity_id, field, winner, loser) = row.map_err(db)?;
                Ok(Conflict { citizen: parse_id(&citizen)?, entity_id, field, winner, loser })
            })
            .collect()
        })
        .await
    }
}

/// An insert from an admin command: a duplicate id is the administrator's mistake, not a fault.
fn insert(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<(), ApiError> {
    match conn.execute(sql, params) {
        Ok(_) => Ok(()),
        Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::ConstraintViolation => Err(
            ApiError::invalid(ErrorCode::AdminConstraint, "that already exists, or refers to something that does not"),
        ),
        Err(e) => Err(db(e)),
    }
}

fn sync_in(
    conn: &Connection,
    auth: DeviceAuth,
    request: &SyncRequest,
    limit: usize,
    now_ms: u64,
) -> Result<SyncResponse, ApiError> {
    let device = auth.device.to_string();
    let state: Option<(i64, Option<i64>)> = conn
        .query_row("SELECT last_seq, revoked_at_ms FROM devices WHERE id = ?1", [&device], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .optional()
        .map_err(db)?;
    let mut last_seq = match state {
        None => return Err(ApiError::Unauthorized),
        Some((_, Some(_))) => return Err(ApiError::Revoked),
        Some((last_seq, None)) => to_u64(last_seq)?,
    };

    let mut batch = Batch { position: next_position(conn)?, in_scope: HashMap::new() };
    for (index, change) in request.push.iter().enumerate() {
        push_one(conn, auth, change, last_seq, &mut batch, now_ms).map_err(|e| e.in_change(index))?;
        last_seq = last_seq.max(change.seq);
    }
    conn.execute(
        "UPDATE devices SET last_seq = ?1, last_sync_ms = ?2 WHERE id = ?3",
        params![sql_u64(last_seq)?, sql_u64(now_ms)?, device],
    )
    .map_err(db)?;

    let page = pull_page(conn, &auth, request.cursor, limit)?;
    let mut changes = Vec::with_capacity(page.rows.len());
    for row in page.rows {
        if let Some(change) = row.change {
            let change = serde_json::from_str(&change).map_err(|e| ApiError::Internal(e.into()))?;
            changes.push(LoggedChange { position: to_u64(row.position)?, change });
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
/// events. There is one writer, so two transactions never take the same position.
fn next_position(conn: &Connection) -> Result<i64, ApiError> {
    conn.prepare_cached(
        "SELECT max(coalesce((SELECT max(position) FROM change_log), 0),
                    coalesce((SELECT max(position) FROM caseload_events), 0)) + 1",
    )
    .and_then(|mut s| s.query_row([], |row| row.get(0)))
    .map_err(db)
}

struct PageRow {
    key: i64,
    position: i64,
    /// The change as logged; `None` for the device's own changes, which it holds already
    /// (unless back-filled), and which the page therefore does not carry.
    change: Option<String>,
}

struct Page {
    rows: Vec<PageRow>,
    cursor: u64,
    more: bool,
    removed: Vec<CitizenId>,
}

/// One citizen's changes in position order, from the index `change_log_by_citizen`.
struct CitizenRows<'s> {
    rows: rusqlite::Rows<'s>,
    /// The assignment's position when it lies past the cursor: the whole history is sent.
    backfill_until: Option<i64>,
}

impl CitizenRows<'_> {
    /// The next row's key and position, and its body when the device is to receive it.
    fn next(&mut self, device: &str) -> Result<Option<PageRow>, ApiError> {
        let Some(row) = self.rows.next().map_err(db)? else { return Ok(None) };
        let position: i64 = row.get(0).map_err(db)?;
        let backfill = self.backfill_until.is_some_and(|assigned| position < assigned);
        let key = self.backfill_until.map_or(position, |assigned| position.max(assigned));
        // The body is read only when it is sent: SQLite reads a column when it is asked for.
        let send = backfill || row.get_ref(1).map_err(db)?.as_str().map_err(|e| db(e.into()))? != device;
        let change = if send { Some(row.get(2).map_err(db)?) } else { None };
        Ok(Some(PageRow { key, position, change }))
    }
}

/// A page of what the worker may see past `cursor`, in the order of (key, position):
/// - for a citizen assigned at or before the cursor, its changes past the cursor (key = position);
/// - for a citizen assigned after the cursor, its whole history, which the device has not had
///   (key = the later of the position and the assignment's position).
///
/// Each citizen's rows come in that order from the index, so a page is a merge of one index
/// range per citizen of the caseload: it reads the rows it sends and one more per citizen, not
/// everything past the cursor (an initial pull stays linear in the caseload's size).
///
/// A page never splits the rows of one key, because the cursor moves to a key; a history longer
/// than the page limit comes whole in a page of its own.
fn pull_page(conn: &Connection, auth: &DeviceAuth, cursor: u64, limit: usize) -> Result<Page, ApiError> {
    let worker = auth.worker.to_string();
    let device = auth.device.to_string();
    let cursor_sql = sql_u64(cursor)?;
    let caseload: Vec<(String, i64)> = conn
        .prepare_cached("SELECT citizen_id, assigned_position FROM caseload WHERE worker_id = ?1")
        .and_then(|mut s| s.query_map([&worker], |row| Ok((row.get(0)?, row.get(1)?)))?.collect())
        .map_err(db)?;
    let mut statements = caseload
        .iter()
        .map(|_| {
            conn.prepare_cached(
                "SELECT position, device_id, change FROM change_log
                  WHERE citizen_id = ?1 AND position > ?2 ORDER BY position",
            )
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(db)?;
    let mut streams = statements
        .iter_mut()
        .zip(&caseload)
        .map(|(statement, (citizen, assigned))| {
            let backfill_until = (*assigned > cursor_sql).then_some(*assigned);
            let after = if backfill_until.is_some() { 0 } else { cursor_sql };
            Ok(CitizenRows { rows: statement.query(params![citizen, after]).map_err(db)?, backfill_until })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let mut heads = std::collections::BinaryHeap::new();
    for (index, stream) in streams.iter_mut().enumerate() {
        if let Some(row) = stream.next(&device)? {
            heads.push(std::cmp::Reverse(Head(row, index)));
        }
    }
    let mut next = || -> Result<Option<PageRow>, ApiError> {
        let Some(std::cmp::Reverse(Head(row, index))) = heads.pop() else { return Ok(None) };
        if let Some(following) = streams[index].next(&device)? {
            heads.push(std::cmp::Reverse(Head(following, index)));
        }
        Ok(Some(row))
    };

    let limit = limit.max(1);
    let mut rows: Vec<PageRow> = Vec::with_capacity(limit.min(4_096));
    let mut more = false;
    while let Some(row) = next()? {
        if rows.len() < limit {
            rows.push(row);
            continue;
        }
        more = true;
        let split_key = rows[limit - 1].key;
        if row.key == split_key {
            if rows[0].key == split_key {
                // One key longer than a page (a citizen's history): it comes whole.
                rows.push(row);
                while let Some(row) = next()? {
                    if row.key != split_key {
                        break;
                    }
                    rows.push(row);
                }
            } else {
                rows.retain(|row| row.key < split_key);
            }
        }
        break;
    }
    // A complete answer moves the cursor to the end of the log, so the next round starts
    // there; a partial one to the last key sent.
    let new_cursor = match (more, rows.last()) {
        (true, Some(row)) => row.key,
        _ => next_position(conn)? - 1,
    }
    .max(cursor_sql);
    let mut statement = conn
        .prepare_cached(
            "SELECT e.citizen_id FROM caseload_events e
              WHERE e.previous_worker_id = ?1 AND e.position > ?2 AND e.position <= ?3
                AND NOT EXISTS (SELECT 1 FROM caseload c WHERE c.citizen_id = e.citizen_id AND c.worker_id = ?1)
              GROUP BY e.citizen_id ORDER BY min(e.position)",
        )
        .map_err(db)?;
    let removed = statement
        .query_map(params![worker, cursor_sql, new_cursor], |row| row.get::<_, String>(0))
        .map_err(db)?
        .map(|id| parse_id(&id.map_err(db)?))
        .collect::<Result<_, _>>()?;
    Ok(Page { rows, cursor: to_u64(new_cursor)?, more, removed })
}

/// A stream's next row in the merge, ordered by (key, position); positions are unique.
struct Head(PageRow, usize);

impl PartialEq for Head {
    fn eq(&self, other: &Head) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}

impl Eq for Head {}

impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Head) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Head {
    fn cmp(&self, other: &Head) -> std::cmp::Ordering {
        (self.0.key, self.0.position).cmp(&(other.0.key, other.0.position))
    }
}

/// Writes a change the server makes itself (a profile from an admin command) under its own
/// device id, sequence and clock, through the same log and merge as a device's change.
fn log_server_change(conn: &Connection, body: ChangeBody, now_ms: u64) -> Result<(), ApiError> {
    let (device, last_seq, wall, counter): (String, i64, i64, u32) = conn
        .query_row("SELECT device_id, last_seq, hlc_wall_ms, hlc_counter FROM server_identity", [], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })
        .map_err(db)?;
    let mut clock = HlcClock::new(Hlc::new(to_u64(wall)?, counter), fit_core::hlc::MAX_DRIFT_MS_DEFAULT);
    let hlc = clock.tick(now_ms);
    let seq = to_u64(last_seq)? + 1;
    let change = Change {
        id: uuid::Uuid::now_v7().into(),
        device: parse_id(&device)?,
        seq,
        hlc,
        device_time_ms: now_ms,
        schema_version: SCHEMA_VERSION,
        body,
    };
    conn.execute(
        "UPDATE server_identity SET last_seq = ?1, hlc_wall_ms = ?2, hlc_counter = ?3",
        params![sql_u64(seq)?, sql_u64(hlc.wall_ms)?, hlc.counter],
    )
    .map_err(db)?;
    store_change(conn, &change, next_position(conn)?, now_ms)
}

/// What a batch's changes share: the next log position (there is one writer), and which
/// citizens are in the worker's scope (the caseload does not change within the transaction).
struct Batch {
    position: i64,
    in_scope: HashMap<String, bool>,
}

/// Stores one pushed change, or recognises it as one already stored.
fn push_one(
    conn: &Connection,
    auth: DeviceAuth,
    change: &Change,
    last_seq: u64,
    batch: &mut Batch,
    now_ms: u64,
) -> Result<(), ApiError> {
    if change.seq <= last_seq {
        let stored: Option<String> = conn
            .query_row(
                "SELECT change FROM change_log WHERE device_id = ?1 AND seq = ?2",
                params![auth.device.to_string(), sql_u64(change.seq)?],
                |row| row.get(0),
            )
            .optional()
            .map_err(db)?;
        let same =
            stored.as_deref().map(serde_json::from_str::<Change>).transpose().ok().flatten().as_ref() == Some(change);
        return if same {
            Ok(())
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
    let id_used = conn
        .prepare_cached("SELECT 1 FROM change_log WHERE change_id = ?1")
        .and_then(|mut s| s.query_row([change.id.to_string()], |_| Ok(())).optional())
        .map_err(db)?;
    if id_used.is_some() {
        return Err(ApiError::Conflict(format!("change id {} was sent before with other content", change.id)));
    }
    let citizen = change.citizen().to_string();
    let in_scope = match batch.in_scope.get(&citizen) {
        Some(known) => *known,
        None => {
            // In scope: the worker's citizen now, or one that was; a device's changes recorded
            // before a citizen moved to another worker are still accepted, so nothing recorded is lost.
            let found = conn
                .prepare_cached(
                    "SELECT 1 FROM caseload WHERE citizen_id = ?1 AND worker_id = ?2
                     UNION ALL SELECT 1 FROM caseload_events WHERE citizen_id = ?1 AND worker_id = ?2 LIMIT 1",
                )
                .and_then(|mut s| s.query_row(params![citizen, auth.worker.to_string()], |_| Ok(())).optional())
                .map_err(db)?
                .is_some();
            batch.in_scope.insert(citizen, found);
            found
        }
    };
    if !in_scope {
        return Err(ApiError::OutOfScope);
    }
    store_change(conn, change, batch.position, now_ms)?;
    batch.position += 1;
    Ok(())
}

/// Merges a change's field write, if any, and appends the change to the log at `position`, the
/// next one.
fn store_change(conn: &Connection, change: &Change, position: i64, now_ms: u64) -> Result<(), ApiError> {
    let json = serde_json::to_string(change).map_err(|e| ApiError::Internal(e.into()))?;
    let citizen = change.citizen().to_string();
    if let ChangeBody::FieldSet { entity, field, base, .. } = &change.body {
        merge_field(conn, change, entity, field.as_str(), *base, &citizen, now_ms)?;
    }
    let kind = match &change.body {
        ChangeBody::VisitStarted { .. } => "visit_started",
        ChangeBody::VisitClosed { .. } => "visit_closed",
        ChangeBody::ResponseRecorded { .. } => "response_recorded",
        ChangeBody::NoteWritten { .. } => "note_written",
        ChangeBody::FieldSet { .. } => "field_set",
    };
    let values =
        (sql_u64(change.seq)?, sql_u64(change.hlc.wall_ms)?, sql_u64(change.device_time_ms)?, sql_u64(now_ms)?);
    let (seq, wall_ms, device_time_ms, received_at_ms) = values;
    conn.prepare_cached(
        "INSERT INTO change_log (change_id, device_id, seq, citizen_id, kind, hlc_wall_ms, hlc_counter, device_time_ms,
            received_at_ms, schema_version, change, position)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )
    .and_then(|mut s| {
        s.execute(params![
            change.id.to_string(),
            change.device.to_string(),
            seq,
            citizen,
            kind,
            wall_ms,
            change.hlc.counter,
            device_time_ms,
            received_at_ms,
            change.schema_version,
            json,
            position
        ])
    })
    .map_err(db)?;
    Ok(())
}

/// Last writer wins per field; a write not based on the version held is concurrent with it and
/// goes to the conflict log with the winner.
fn merge_field(
    conn: &Connection,
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
    let current: Option<(i64, u32, String, String)> = conn
        .query_row(
            "SELECT hlc_wall_ms, hlc_counter, device_id, change_id FROM field_versions
             WHERE entity = ?1 AND entity_id = ?2 AND field = ?3",
            params![kind, id, field],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
        )
        .optional()
        .map_err(db)?;
    let current_version = current
        .as_ref()
        .map(|(wall, counter, device, _)| {
            Ok::<_, ApiError>(Version { hlc: Hlc::new(to_u64(*wall)?, *counter), device: parse_id(device)? })
        })
        .transpose()?;
    let incoming = Version { hlc: change.hlc, device: change.device };
    let merge = merge_lww(current_version, FieldWrite { version: incoming, base });
    if merge.is_concurrent()
        && let Some((_, _, _, current_change)) = &current
    {
        let (winner, loser) = if merge.applies() {
            (change.id.to_string(), current_change.clone())
        } else {
            (current_change.clone(), change.id.to_string())
        };
        conn.execute(
            "INSERT INTO conflicts (entity, entity_id, citizen_id, field, winner_change, loser_change, detected_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![kind, id, citizen, field, winner, loser, sql_u64(now_ms)?],
        )
        .map_err(db)?;
    }
    if merge.applies() {
        conn.execute(
            "INSERT INTO field_versions (entity, entity_id, field, hlc_wall_ms, hlc_counter, device_id, change_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (entity, entity_id, field) DO UPDATE SET hlc_wall_ms = excluded.hlc_wall_ms,
                hlc_counter = excluded.hlc_counter, device_id = excluded.device_id, change_id = excluded.change_id",
            params![
                kind,
                id,
                field,
                sql_u64(incoming.hlc.wall_ms)?,
                incoming.hlc.counter,
                change.device.to_string(),
                change.id.to_string()
            ],
        )
        .map_err(db)?;
    }
    Ok(())
}
