//! The SQLite backend, the embedded default: one connection on its own thread, so there is one
//! writer, and group commit: requests that arrive while a transaction runs are applied together,
//! each inside its own savepoint (all or nothing per request), under one fsync. What a sync
//! accepts and sends is decided by `crate::rules`; this file reads what the rules need and
//! writes what they plan.

use std::collections::HashMap;
use std::path::Path;
use std::sync::LazyLock;

use fit_core::Hlc;
use fit_core::ids::{CitizenId, DeviceId, TeamId, WorkerId};
use fit_core::merge::Version;
use fit_protocol::{Change, ChangeBody, ErrorCode, SyncRequest, SyncResponse};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use rusqlite_migration::{M, Migrations};
use tokio::sync::{mpsc, oneshot};

use super::{
    AuditEntry, AuthRow, CitizenProfile, CodeInfo, CodeRef, Conflict, DeviceAuth, DeviceInfo, Enrolled, ServerStore,
    SetAsideChange, StoreError, TokenUse,
};
use crate::rules::packs::StoredPack;
use crate::rules::pull::{CitizenScan, Departure, Page, PageRow, cut_page, merge_citizens};
use crate::rules::push::{self, FieldKey, Held, Known, LogPlan, PushInput, Reads, ServerIdentity, SetAside};
use crate::rules::refs::{Record, RecordKey};
use crate::rules::token::{self, Presented, TokenPolicy, Tokens};
use crate::rules::{self, DeviceRow};

static MIGRATIONS: LazyLock<Migrations<'static>> = LazyLock::new(|| {
    Migrations::new(vec![
        M::up(include_str!("../../../../migrations/server-sqlite/0001_initial.sql")),
        M::up(include_str!("../../../../migrations/server-sqlite/0003_references.sql")),
        M::up(include_str!("../../../../migrations/server-sqlite/0004_administration.sql")),
        M::up(include_str!("../../../../migrations/server-sqlite/0005_scale_packs.sql")),
        M::up(include_str!("../../../../migrations/server-sqlite/0006_team_schedule.sql")),
    ])
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
        work: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
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

fn internal(message: &str) -> StoreError {
    StoreError::fault(message)
}

fn db(error: rusqlite::Error) -> StoreError {
    StoreError::Fault(error.into())
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

fn sql_u64(value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::refused(ErrorCode::RequestOutOfRange, format!("{value} is too large")))
}

fn to_u64(value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| internal("a negative number in the database"))
}

fn parse_id<T: std::str::FromStr>(text: &str) -> Result<T, StoreError> {
    text.parse().map_err(|_| internal("a malformed id in the database"))
}

impl ServerStore for SqliteStore {
    async fn enroll(
        &self,
        code_hash: String,
        device: DeviceId,
        token_hash: String,
        now_ms: u64,
    ) -> Result<Enrolled, StoreError> {
        self.run(move |conn| {
            type CodeRow = (String, i64, Option<i64>, Option<i64>, Option<i64>);
            let code: Option<CodeRow> = conn
                .query_row(
                    "SELECT c.worker_id, c.expires_at_ms, c.used_at_ms, c.revoked_at_ms, w.deactivated_at_ms
                       FROM enrollment_codes c JOIN workers w ON w.id = c.worker_id WHERE c.code_hash = ?1",
                    [&code_hash],
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?)),
                )
                .optional()
                .map_err(db)?;
            let code = code
                .map(|(worker, expires_at_ms, used_at_ms, revoked_at_ms, deactivated_at_ms)| {
                    Ok::<_, StoreError>(rules::EnrollmentCode {
                        worker,
                        expires_at_ms: to_u64(expires_at_ms)?,
                        used: used_at_ms.is_some(),
                        revoked: revoked_at_ms.is_some(),
                        worker_deactivated: deactivated_at_ms.is_some(),
                    })
                })
                .transpose()?;
            let device_known = conn
                .query_row("SELECT 1 FROM devices WHERE id = ?1", [device.to_string()], |_| Ok(()))
                .optional()
                .map_err(db)?
                .is_some();
            let worker = rules::admit_enrollment(code, device_known, now_ms)?;
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

    async fn authenticate(
        &self,
        token_hash: String,
        now_ms: u64,
        policy: TokenPolicy,
    ) -> Result<DeviceAuth, StoreError> {
        self.run(move |conn| {
            let row = conn
                .query_row(
                    "SELECT d.id, d.worker_id, d.revoked_at_ms, w.deactivated_at_ms, d.token_hash, d.next_token_hash,
                            d.previous_token_hash, d.previous_token_until_ms,
                            coalesce(d.token_issued_at_ms, d.enrolled_at_ms)
                       FROM devices d JOIN workers w ON w.id = d.worker_id
                      WHERE d.token_hash = ?1 OR d.next_token_hash = ?1 OR d.previous_token_hash = ?1",
                    [&token_hash],
                    auth_row,
                )
                .optional()
                .map_err(db)?;
            let ((device, worker, since), presented) = token::admit_token(row, &token_hash, now_ms)?;
            let mut current_since_ms = to_u64(since)?;
            if presented == Presented::Next {
                promote(conn, &device, &token_hash, now_ms, &policy)?;
                current_since_ms = now_ms;
            }
            let token = TokenUse { presented, current_since_ms };
            Ok(DeviceAuth { device: parse_id(&device)?, worker: parse_id(&worker)?, token })
        })
        .await
    }

    async fn rotate_token(
        &self,
        device: DeviceId,
        current_hash: String,
        fresh_salt: String,
        next_hash: String,
    ) -> Result<Option<String>, StoreError> {
        self.run(move |conn| {
            let device = device.to_string();
            let issued: Option<Option<String>> = conn
                .query_row(
                    "SELECT next_token_salt FROM devices WHERE id = ?1 AND token_hash = ?2",
                    [&device, &current_hash],
                    |row| row.get(0),
                )
                .optional()
                .map_err(db)?;
            let Some(issued) = issued else { return Ok(None) };
            let (salt, store) = token::rotation_salt(issued, fresh_salt);
            if store {
                conn.execute(
                    "UPDATE devices SET next_token_hash = ?1, next_token_salt = ?2 WHERE id = ?3",
                    [&next_hash, &salt, &device],
                )
                .map_err(db)?;
            }
            Ok(Some(salt))
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
        self.run(move |conn| sync_in(conn, auth, &request, pull_limit, now_ms)).await
    }

    async fn create_team(&self, team: TeamId, name: String) -> Result<(), StoreError> {
        self.run(move |conn| {
            insert(conn, "INSERT INTO teams (id, name) VALUES (?1, ?2)", params![team.to_string(), name])
        })
        .await
    }

    async fn create_worker(&self, worker: WorkerId, team: TeamId, name: String) -> Result<(), StoreError> {
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
    ) -> Result<(), StoreError> {
        let fields = profile.fields(citizen)?;
        self.run(move |conn| {
            insert(
                conn,
                "INSERT INTO citizens (id, team_id) VALUES (?1, ?2)",
                params![citizen.to_string(), team.to_string()],
            )?;
            log_server_changes(conn, fields, now_ms)
        })
        .await
    }

    async fn assign(&self, citizen: CitizenId, worker: WorkerId, now_ms: u64) -> Result<(), StoreError> {
        self.run(move |conn| {
            let previous: Option<String> = conn
                .query_row("SELECT worker_id FROM caseload WHERE citizen_id = ?1", [citizen.to_string()], |row| {
                    row.get(0)
                })
                .optional()
                .map_err(db)?;
            if !rules::assignment_moves(previous.as_deref(), &worker.to_string()) {
                return Ok(());
            }
            release_set_aside(conn, citizen, worker, now_ms)?;
            let position = sql_u64(next_position(conn)?)?;
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
    ) -> Result<uuid::Uuid, StoreError> {
        self.run(move |conn| {
            let deactivated: Option<Option<i64>> = conn
                .query_row("SELECT deactivated_at_ms FROM workers WHERE id = ?1", [worker.to_string()], |row| {
                    row.get(0)
                })
                .optional()
                .map_err(db)?;
            rules::admit_code(now_ms, expires_at_ms, deactivated.flatten().is_some())?;
            let id = uuid::Uuid::now_v7();
            insert(
                conn,
                "INSERT INTO enrollment_codes (code_hash, worker_id, created_at_ms, expires_at_ms, id)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![code_hash, worker.to_string(), sql_u64(now_ms)?, sql_u64(expires_at_ms)?, id.to_string()],
            )?;
            Ok(id)
        })
        .await
    }

    async fn revoke_enrollment_code(&self, code: CodeRef, now_ms: u64) -> Result<(), StoreError> {
        self.run(move |conn| {
            let (column, key) = match code {
                CodeRef::Id(id) => ("id", id.to_string()),
                CodeRef::Hash(hash) => ("code_hash", hash),
            };
            let sql =
                format!("UPDATE enrollment_codes SET revoked_at_ms = coalesce(revoked_at_ms, ?1) WHERE {column} = ?2");
            let changed = conn.execute(&sql, params![sql_u64(now_ms)?, key]).map_err(db)?;
            if changed == 0 { Err(super::no_such_code()) } else { Ok(()) }
        })
        .await
    }

    async fn enrollment_codes(&self) -> Result<Vec<CodeInfo>, StoreError> {
        self.run(|conn| {
            let mut statement = conn
                .prepare(
                    "SELECT id, worker_id, created_at_ms, expires_at_ms, used_at_ms, revoked_at_ms
                       FROM enrollment_codes ORDER BY created_at_ms, code_hash",
                )
                .map_err(db)?;
            let rows = statement
                .query_map([], |row| {
                    Ok((
                        row.get::<_, Option<String>>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, i64>(2)?,
                        row.get::<_, i64>(3)?,
                        row.get::<_, Option<i64>>(4)?,
                        row.get::<_, Option<i64>>(5)?,
                    ))
                })
                .map_err(db)?;
            rows.map(|row| {
                let (id, worker, created, expires, used, revoked) = row.map_err(db)?;
                Ok(CodeInfo {
                    id: id.as_deref().map(parse_id).transpose()?,
                    worker: parse_id(&worker)?,
                    created_at_ms: to_u64(created)?,
                    expires_at_ms: to_u64(expires)?,
                    used_at_ms: used.map(to_u64).transpose()?,
                    revoked_at_ms: revoked.map(to_u64).transpose()?,
                })
            })
            .collect()
        })
        .await
    }

    async fn set_worker_active(&self, worker: WorkerId, active: bool, now_ms: u64) -> Result<(), StoreError> {
        self.run(move |conn| {
            let changed = if active {
                conn.execute("UPDATE workers SET deactivated_at_ms = NULL WHERE id = ?1", [worker.to_string()])
            } else {
                conn.execute(
                    "UPDATE workers SET deactivated_at_ms = coalesce(deactivated_at_ms, ?1) WHERE id = ?2",
                    params![sql_u64(now_ms)?, worker.to_string()],
                )
            }
            .map_err(db)?;
            if changed == 0 { Err(super::no_such_worker()) } else { Ok(()) }
        })
        .await
    }

    async fn set_team_schedule(&self, team: TeamId, schedule: fit_core::Schedule) -> Result<(), StoreError> {
        self.run(move |conn| {
            let changed = conn
                .execute(
                    "UPDATE teams SET wellbeing_at_first_visit = ?1, wellbeing_every_days = ?2 WHERE id = ?3",
                    params![schedule.at_first_visit, schedule.every_days, team.to_string()],
                )
                .map_err(db)?;
            if changed == 0 { Err(super::no_such_team()) } else { Ok(()) }
        })
        .await
    }

    async fn team_schedule(&self, worker: WorkerId) -> Result<Option<fit_core::Schedule>, StoreError> {
        self.run(move |conn| {
            let row: Option<(Option<bool>, Option<u32>)> = conn
                .query_row(
                    "SELECT t.wellbeing_at_first_visit, t.wellbeing_every_days
                     FROM workers w JOIN teams t ON t.id = w.team_id WHERE w.id = ?1",
                    [worker.to_string()],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()
                .map_err(db)?;
            Ok(row.and_then(|(first, every_days)| {
                first.map(|at_first_visit| fit_core::Schedule { at_first_visit, every_days })
            }))
        })
        .await
    }

    async fn audit_log(&self) -> Result<Vec<AuditEntry>, StoreError> {
        self.run(|conn| {
            let mut statement =
                conn.prepare("SELECT actor, action, subject, at_ms FROM audit_log ORDER BY id").map_err(db)?;
            let rows = statement
                .query_map([], |row| Ok((row.get::<_, String>(0)?, row.get(1)?, row.get(2)?, row.get::<_, i64>(3)?)))
                .map_err(db)?;
            rows.map(|row| {
                let (actor, action, subject, at_ms) = row.map_err(db)?;
                Ok(AuditEntry { actor, action, subject, at_ms: to_u64(at_ms)? })
            })
            .collect()
        })
        .await
    }

    async fn devices(&self) -> Result<Vec<DeviceInfo>, StoreError> {
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

    async fn revoke(&self, device: DeviceId, now_ms: u64) -> Result<(), StoreError> {
        self.run(move |conn| {
            let changed = conn
                .execute(
                    "UPDATE devices SET revoked_at_ms = coalesce(revoked_at_ms, ?1) WHERE id = ?2",
                    params![sql_u64(now_ms)?, device.to_string()],
                )
                .map_err(db)?;
            if changed == 0 { Err(StoreError::refused(ErrorCode::DeviceUnknown, "no such device")) } else { Ok(()) }
        })
        .await
    }

    async fn changes(&self) -> Result<Vec<Change>, StoreError> {
        self.run(|conn| {
            let mut statement = conn.prepare("SELECT change FROM change_log ORDER BY position").map_err(db)?;
            let rows = statement.query_map([], |row| row.get::<_, String>(0)).map_err(db)?;
            rows.map(|row| Ok(serde_json::from_str(&row.map_err(db)?)?)).collect()
        })
        .await
    }

    async fn set_aside(&self) -> Result<Vec<SetAsideChange>, StoreError> {
        self.run(|conn| {
            let mut statement = conn
                .prepare("SELECT change, reason, received_at_ms FROM set_aside_changes ORDER BY received_at_ms, device_id, seq")
                .map_err(db)?;
            let rows = statement
                .query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, i64>(2)?)))
                .map_err(db)?;
            rows.map(|row| {
                let (change, reason, received_at_ms) = row.map_err(db)?;
                Ok(SetAsideChange { change: serde_json::from_str(&change)?, reason, received_at_ms: to_u64(received_at_ms)? })
            })
            .collect()
        })
        .await
    }

    async fn scale_packs(&self) -> Result<Vec<StoredPack>, StoreError> {
        self.run(|conn| {
            let mut statement =
                conn.prepare("SELECT code, version, file, pack FROM scale_packs ORDER BY id").map_err(db)?;
            let rows = statement
                .query_map([], |row| {
                    Ok(StoredPack { code: row.get(0)?, version: row.get(1)?, file: row.get(2)?, pack: row.get(3)? })
                })
                .map_err(db)?;
            rows.map(|row| row.map_err(db)).collect()
        })
        .await
    }

    async fn install_pack(&self, pack: StoredPack, now_ms: u64) -> Result<(), StoreError> {
        self.run(move |conn| {
            insert(
                conn,
                "INSERT INTO scale_packs (code, version, file, pack, installed_at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![pack.code, pack.version, pack.file, pack.pack, sql_u64(now_ms)?],
            )
        })
        .await
    }

    async fn audit(&self, actor: String, action: String, subject: String, now_ms: u64) -> Result<(), StoreError> {
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

    async fn conflicts(&self) -> Result<Vec<Conflict>, StoreError> {
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

/// A device's row as `authenticate` reads it: who it is, whether it is served, and its tokens.
fn auth_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<AuthRow> {
    let device_row = DeviceRow {
        data: (row.get(0)?, row.get(1)?, row.get(8)?),
        revoked: row.get::<_, Option<i64>>(2)?.is_some(),
        worker_deactivated: row.get::<_, Option<i64>>(3)?.is_some(),
    };
    let tokens = Tokens {
        current: row.get(4)?,
        next: row.get(5)?,
        previous: row.get(6)?,
        // A negative time cannot be stored by this server; read as long past, it admits nothing.
        previous_until_ms: row.get::<_, Option<i64>>(7)?.map(|until| u64::try_from(until).unwrap_or(0)),
    };
    Ok((device_row, tokens))
}

/// The device's next token becomes its current one; the one it replaces is kept through the
/// grace period (`rules::token`). Only if `next_hash` is still the next token: two requests with
/// it promote once.
fn promote(
    conn: &Connection,
    device: &str,
    next_hash: &str,
    now_ms: u64,
    policy: &TokenPolicy,
) -> Result<(), StoreError> {
    let until = sql_u64(token::previous_until(now_ms, policy))?;
    conn.execute(
        "UPDATE devices SET previous_token_hash = token_hash, previous_token_until_ms = ?1, token_hash = next_token_hash,
                token_issued_at_ms = ?2, next_token_hash = NULL, next_token_salt = NULL
          WHERE id = ?3 AND next_token_hash = ?4",
        params![until, sql_u64(now_ms)?, device, next_hash],
    )
    .map_err(db)?;
    Ok(())
}

/// An insert from an admin command: a duplicate id is the administrator's mistake, not a fault.
fn insert(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<(), StoreError> {
    match conn.execute(sql, params) {
        Ok(_) => Ok(()),
        Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::ConstraintViolation => {
            Err(StoreError::refused(
                ErrorCode::AdminConstraint,
                "that already exists, or refers to something that does not",
            ))
        }
        Err(e) => Err(db(e)),
    }
}

/// A sync in one savepoint: the device's state, the batch (read what the rules need, plan, write
/// the plan), then the page past the cursor.
fn sync_in(
    conn: &Connection,
    auth: DeviceAuth,
    request: &SyncRequest,
    limit: usize,
    now_ms: u64,
) -> Result<SyncResponse, StoreError> {
    let device = auth.device.to_string();
    let state: Option<(i64, Option<i64>, Option<i64>)> = conn
        .prepare_cached(
            "SELECT d.last_seq, d.revoked_at_ms, w.deactivated_at_ms
               FROM devices d JOIN workers w ON w.id = d.worker_id WHERE d.id = ?1",
        )
        .and_then(|mut s| s.query_row([&device], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?))).optional())
        .map_err(db)?;
    let state = state.map(|(last_seq, revoked, deactivated)| DeviceRow {
        data: last_seq,
        revoked: revoked.is_some(),
        worker_deactivated: deactivated.is_some(),
    });
    let last_seq = to_u64(rules::admit(state)?)?;

    let next_position = next_position(conn)?;
    rules::pull::check_cursor(request.cursor, next_position - 1)?;
    let known = read_known(conn, auth, &push::reads(&request.push, last_seq))?;
    let input = PushInput { batch: &request.push, last_seq, known, next_position, now_ms, worker: auth.worker };
    let plan = push::plan_push(input)?;
    write_log(conn, &plan.log)?;
    write_records(conn, &plan.records)?;
    write_set_aside(conn, &plan.set_aside, now_ms)?;
    let values = params![sql_u64(plan.acknowledged_seq)?, sql_u64(now_ms)?, device];
    conn.prepare_cached("UPDATE devices SET last_seq = ?1, last_sync_ms = ?2 WHERE id = ?3")
        .and_then(|mut s| s.execute(values))
        .map_err(db)?;

    // There is one writer: the log ends where the plan left it.
    let page = pull_page(conn, &auth, request.cursor, limit, plan.log.next_position - 1)?;
    let mut response = super::answer(page, plan.acknowledged_seq, now_ms)?;
    if !response.more {
        response.packs_tag = Some(packs_tag(conn)?);
    }
    if let Some(subject) = rules::pull_audit(&response) {
        let at_ms = sql_u64(now_ms)?;
        conn.prepare_cached("INSERT INTO audit_log (actor, action, subject, at_ms) VALUES (?1, 'pull', ?2, ?3)")
            .and_then(|mut s| s.execute(params![device, subject, at_ms]))
            .map_err(db)?;
    }
    Ok(response)
}

/// The tag of the packs served now (`rules::packs::current_tag`), from the versions installed.
fn packs_tag(conn: &Connection) -> Result<String, StoreError> {
    let mut statement = conn.prepare_cached("SELECT code, version FROM scale_packs ORDER BY id").map_err(db)?;
    let rows = statement.query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))).map_err(db)?;
    let installed = rows.collect::<Result<Vec<_>, _>>().map_err(db)?;
    Ok(rules::packs::current_tag(installed.iter().map(|(code, version)| (code.as_str(), version.as_str()))))
}

/// The next position in the log: one past the largest of the change log and the caseload
/// events. There is one writer, so two transactions never take the same position.
fn next_position(conn: &Connection) -> Result<u64, StoreError> {
    let next: i64 = conn
        .prepare_cached(
            "SELECT max(coalesce((SELECT max(position) FROM change_log), 0),
                        coalesce((SELECT max(position) FROM caseload_events), 0)) + 1",
        )
        .and_then(|mut s| s.query_row([], |row| row.get(0)))
        .map_err(db)?;
    to_u64(next)
}

/// Reads what the rules need to plan a batch, as `reads` lists it: a few index lookups each.
fn read_known(conn: &Connection, auth: DeviceAuth, reads: &Reads) -> Result<Known, StoreError> {
    let device = auth.device.to_string();
    let mut known = Known::default();
    // A change set aside is the device's as much as a logged one: its replay is the same change.
    let mut stored = conn
        .prepare_cached(
            "SELECT change FROM change_log WHERE device_id = ?1 AND seq = ?2
             UNION ALL SELECT change FROM set_aside_changes WHERE device_id = ?1 AND seq = ?2",
        )
        .map_err(db)?;
    for seq in &reads.replayed_seqs {
        let text: Option<String> =
            stored.query_row(params![device, sql_u64(*seq)?], |row| row.get(0)).optional().map_err(db)?;
        if let Some(change) = text.and_then(|text| serde_json::from_str(&text).ok()) {
            known.stored.insert(*seq, change);
        }
    }
    let mut used = conn
        .prepare_cached(
            "SELECT 1 FROM change_log WHERE change_id = ?1 UNION ALL SELECT 1 FROM set_aside_changes WHERE change_id = ?1",
        )
        .map_err(db)?;
    for id in &reads.new_ids {
        if used.exists([id.to_string()]).map_err(db)? {
            known.used_ids.insert(*id);
        }
    }
    read_scope(conn, auth, reads, &mut known)?;
    known.held = read_held(conn, &reads.fields)?;
    known.records = read_records(conn, &reads.records)?;
    Ok(known)
}

/// Which of the batch's citizens the worker has now or had, and when those they had left them.
fn read_scope(conn: &Connection, auth: DeviceAuth, reads: &Reads, known: &mut Known) -> Result<(), StoreError> {
    let worker = auth.worker.to_string();
    let mut scope = conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM caseload WHERE citizen_id = ?1 AND worker_id = ?2),
                    EXISTS (SELECT 1 FROM caseload_events WHERE citizen_id = ?1 AND worker_id = ?2),
                    (SELECT max(at_ms) FROM caseload_events WHERE citizen_id = ?1 AND previous_worker_id = ?2)",
        )
        .map_err(db)?;
    for citizen in &reads.citizens {
        let (now, had, left): (bool, bool, Option<i64>) = scope
            .query_row(params![citizen.to_string(), worker], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .map_err(db)?;
        if now || had {
            known.in_scope.insert(*citizen);
        }
        if let (false, true, Some(left)) = (now, had, left) {
            known.left_at_ms.insert(*citizen, to_u64(left)?);
        }
    }
    Ok(())
}

/// The records of `keys` the server holds.
fn read_records(conn: &Connection, keys: &[RecordKey]) -> Result<HashMap<RecordKey, Record>, StoreError> {
    let mut statement = conn
        .prepare_cached("SELECT citizen_id, worker_id, set_aside FROM records WHERE kind = ?1 AND id = ?2")
        .map_err(db)?;
    let mut records = HashMap::new();
    for key in keys {
        let row: Option<(String, Option<String>, bool)> = statement
            .query_row(params![key.kind(), key.id()], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .optional()
            .map_err(db)?;
        if let Some((citizen, worker, set_aside)) = row {
            let worker = worker.as_deref().map(parse_id).transpose()?;
            records.insert(*key, Record { citizen: parse_id(&citizen)?, worker, set_aside });
        }
    }
    Ok(records)
}

/// Adds the records a batch made.
fn write_records(conn: &Connection, records: &[(RecordKey, Record)]) -> Result<(), StoreError> {
    let mut insert = conn
        .prepare_cached(
            "INSERT INTO records (kind, id, citizen_id, worker_id, set_aside) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT DO NOTHING",
        )
        .map_err(db)?;
    for (key, record) in records {
        let worker = record.worker.map(|w| w.to_string());
        insert
            .execute(params![key.kind(), key.id(), record.citizen.to_string(), worker, record.set_aside])
            .map_err(db)?;
    }
    Ok(())
}

/// Logs the changes `worker`'s devices had set aside for `citizen` (`push::plan_release`).
fn release_set_aside(conn: &Connection, citizen: CitizenId, worker: WorkerId, now_ms: u64) -> Result<(), StoreError> {
    let texts: Vec<String> = conn
        .prepare_cached(
            "SELECT s.change FROM set_aside_changes s JOIN devices d ON d.id = s.device_id
              WHERE s.citizen_id = ?1 AND d.worker_id = ?2 ORDER BY s.device_id, s.seq",
        )
        .and_then(|mut s| s.query_map(params![citizen.to_string(), worker.to_string()], |row| row.get(0))?.collect())
        .map_err(db)?;
    if texts.is_empty() {
        return Ok(());
    }
    let changes = texts.iter().map(|text| serde_json::from_str(text)).collect::<Result<Vec<Change>, _>>()?;
    let held = read_held(conn, &push::written_fields(&changes))?;
    let (plan, records) = push::plan_release(&changes, held, next_position(conn)?, now_ms);
    write_log(conn, &plan)?;
    for change in &changes {
        conn.prepare_cached("DELETE FROM set_aside_changes WHERE change_id = ?1")
            .and_then(|mut s| s.execute([change.id.to_string()]))
            .map_err(db)?;
    }
    for key in records {
        conn.prepare_cached("UPDATE records SET set_aside = 0 WHERE kind = ?1 AND id = ?2")
            .and_then(|mut s| s.execute(params![key.kind(), key.id()]))
            .map_err(db)?;
    }
    Ok(())
}

/// Keeps the changes set aside, for the administrator.
fn write_set_aside(conn: &Connection, set_aside: &[SetAside<'_>], now_ms: u64) -> Result<(), StoreError> {
    let mut insert = conn
        .prepare_cached(
            "INSERT INTO set_aside_changes (device_id, seq, change_id, citizen_id, reason, received_at_ms, change)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .map_err(db)?;
    for SetAside { change, reason } in set_aside {
        insert
            .execute(params![
                change.device.to_string(),
                sql_u64(change.seq)?,
                change.id.to_string(),
                change.citizen().to_string(),
                reason.as_str(),
                sql_u64(now_ms)?,
                serde_json::to_string(change)?
            ])
            .map_err(db)?;
    }
    Ok(())
}

/// The versions the fields `keys` hold, for those that have one.
fn read_held(conn: &Connection, keys: &[FieldKey]) -> Result<HashMap<FieldKey, Held>, StoreError> {
    let mut statement = conn
        .prepare_cached(
            "SELECT hlc_wall_ms, hlc_counter, device_id, change_id FROM field_versions
             WHERE entity = ?1 AND entity_id = ?2 AND field = ?3",
        )
        .map_err(db)?;
    let mut held = HashMap::new();
    for key in keys {
        let row: Option<(i64, u32, String, String)> = statement
            .query_row(params![key.entity, key.entity_id, key.field], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })
            .optional()
            .map_err(db)?;
        if let Some((wall, counter, device, change)) = row {
            let version = Version { hlc: Hlc::new(to_u64(wall)?, counter), device: parse_id(&device)? };
            held.insert(key.clone(), Held { version, change: parse_id(&change)? });
        }
    }
    Ok(held)
}

/// Writes what the rules planned for new changes: the log rows, the field versions won, the
/// conflicts (through cached statements: a batch runs the same three for each change).
fn write_log(conn: &Connection, plan: &LogPlan<'_>) -> Result<(), StoreError> {
    let at_ms = sql_u64(plan.at_ms)?;
    insert_rows(conn, plan, at_ms)?;
    upsert_fields(conn, plan)?;
    for c in &plan.conflicts {
        conn.prepare_cached(
            "INSERT INTO conflicts (entity, entity_id, citizen_id, field, winner_change, loser_change, detected_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .and_then(|mut s| {
            let (winner, loser) = (c.winner.to_string(), c.loser.to_string());
            s.execute(params![
                c.field.entity,
                c.field.entity_id,
                c.citizen.to_string(),
                c.field.field,
                winner,
                loser,
                at_ms
            ])
        })
        .map_err(db)?;
    }
    Ok(())
}

fn insert_rows(conn: &Connection, plan: &LogPlan<'_>, at_ms: i64) -> Result<(), StoreError> {
    let mut log = conn
        .prepare_cached(
            "INSERT INTO change_log (change_id, device_id, seq, citizen_id, kind, hlc_wall_ms, hlc_counter,
                device_time_ms, received_at_ms, schema_version, change, position)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )
        .map_err(db)?;
    for row in &plan.rows {
        let change = row.change;
        let (seq, wall_ms, device_time_ms) =
            (sql_u64(change.seq)?, sql_u64(change.hlc.wall_ms)?, sql_u64(change.device_time_ms)?);
        log.execute(params![
            change.id.to_string(),
            change.device.to_string(),
            seq,
            change.citizen().to_string(),
            super::kind(&change.body),
            wall_ms,
            change.hlc.counter,
            device_time_ms,
            at_ms,
            change.schema_version,
            serde_json::to_string(change)?,
            sql_u64(row.position)?
        ])
        .map_err(db)?;
    }
    Ok(())
}

fn upsert_fields(conn: &Connection, plan: &LogPlan<'_>) -> Result<(), StoreError> {
    let mut field = conn
        .prepare_cached(
            "INSERT INTO field_versions (entity, entity_id, field, hlc_wall_ms, hlc_counter, device_id, change_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (entity, entity_id, field) DO UPDATE SET hlc_wall_ms = excluded.hlc_wall_ms,
                hlc_counter = excluded.hlc_counter, device_id = excluded.device_id, change_id = excluded.change_id",
        )
        .map_err(db)?;
    for (key, held) in &plan.fields {
        let Version { hlc, device } = held.version;
        field
            .execute(params![
                key.entity,
                key.entity_id,
                key.field,
                sql_u64(hlc.wall_ms)?,
                hlc.counter,
                device.to_string(),
                held.change.to_string()
            ])
            .map_err(db)?;
    }
    Ok(())
}

/// Logs the server's own changes (a profile from an admin command) under its identity, through
/// the same plan as a device's changes.
fn log_server_changes(conn: &Connection, bodies: Vec<ChangeBody>, now_ms: u64) -> Result<(), StoreError> {
    let (device, last_seq, wall, counter): (String, i64, i64, u32) = conn
        .query_row("SELECT device_id, last_seq, hlc_wall_ms, hlc_counter FROM server_identity", [], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })
        .map_err(db)?;
    let identity = ServerIdentity {
        device: parse_id(&device)?,
        last_seq: to_u64(last_seq)?,
        hlc: Hlc::new(to_u64(wall)?, counter),
    };
    let (changes, after) = push::server_changes(identity, bodies, || uuid::Uuid::now_v7().into(), now_ms);
    conn.execute(
        "UPDATE server_identity SET last_seq = ?1, hlc_wall_ms = ?2, hlc_counter = ?3",
        params![sql_u64(after.last_seq)?, sql_u64(after.hlc.wall_ms)?, after.hlc.counter],
    )
    .map_err(db)?;
    let held = read_held(conn, &push::written_fields(&changes))?;
    write_log(conn, &push::plan_log(&changes, held, next_position(conn)?, now_ms))
}

/// The page past `cursor` (`crate::rules::pull`), as a merge of one index range per citizen of
/// the caseload (`change_log_by_citizen`): it reads the rows it sends and one more per citizen,
/// not everything past the cursor, so an initial pull stays linear in the caseload's size.
fn pull_page(
    conn: &Connection,
    auth: &DeviceAuth,
    cursor: u64,
    limit: usize,
    log_end: u64,
) -> Result<Page<String>, StoreError> {
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
    let streams = statements
        .iter_mut()
        .zip(&caseload)
        .map(|(statement, (citizen, assigned))| {
            let scan = CitizenScan::new(to_u64(*assigned)?, cursor);
            let rows = statement.query(params![citizen, sql_u64(scan.after())?]).map_err(db)?;
            Ok(citizen_rows(rows, scan, &device))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let cut = cut_page(merge_citizens(streams), limit)?;
    let departures = conn
        .prepare_cached(
            "SELECT e.position, e.citizen_id,
                    EXISTS (SELECT 1 FROM caseload c WHERE c.citizen_id = e.citizen_id AND c.worker_id = ?1)
               FROM caseload_events e WHERE e.previous_worker_id = ?1 AND e.position > ?2 ORDER BY e.position",
        )
        .and_then(|mut s| {
            s.query_map(params![worker, cursor_sql], |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?, row.get(2)?))
            })?
            .collect::<Result<Vec<_>, _>>()
        })
        .map_err(db)?
        .into_iter()
        .map(|(position, citizen, back)| {
            Ok(Departure { position: to_u64(position)?, citizen: parse_id(&citizen)?, back })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(Page::new(cut, cursor, log_end, &departures))
}

/// One citizen's rows from its index range, as the page has them.
fn citizen_rows<'s>(
    mut rows: rusqlite::Rows<'s>,
    scan: CitizenScan,
    device: &'s str,
) -> impl Iterator<Item = Result<PageRow<String>, StoreError>> + 's {
    std::iter::from_fn(move || {
        let row = match rows.next() {
            Ok(row) => row?,
            Err(error) => return Some(Err(db(error))),
        };
        let read = || -> Result<PageRow<String>, StoreError> {
            let position = to_u64(row.get(0).map_err(db)?)?;
            let own = row.get_ref(1).map_err(db)?.as_str().map_err(|e| db(e.into()))? == device;
            // The body is read only when it is sent: SQLite reads a column when it is asked for.
            scan.row(position, own, || row.get(2).map_err(db))
        };
        Some(read())
    })
}
