//! Writes. A local write and a change pulled from the server go through the same `apply`, so
//! both replicas build their rows the same way; a local write also appends to the outbox, in the
//! same transaction.

use fit_core::ids::{ChangeId, CitizenId, TeamId, VisitId, WorkerId};
use fit_core::merge::{FieldWrite, Merge, Version, merge_lww};
use fit_core::response::{ResponseValue, ValidResponse};
use fit_core::{Hlc, ScaleSet};
use fit_protocol::{Change, ChangeBody, Checked, Entity, FieldName, FieldValue, SCHEMA_VERSION};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::db::{clear_meta, set_meta};
use crate::restamp::remember_received;
use crate::{Store, StoreError};

/// One sync answer as the store applies it.
#[derive(Debug, Clone, Copy)]
pub struct SyncPage<'a> {
    /// The outbox entries up to this sequence number are on the server.
    pub acknowledged_seq: Option<u64>,
    pub changes: &'a [Change],
    /// Citizens who left this device's caseload.
    pub removed: &'a [CitizenId],
    /// The stream and its position after this page.
    pub cursor: Option<(&'a str, u64)>,
    /// The page reaches the end of the server's log (an answer without `more`). Citizens who
    /// left are erased only then: until then the citizen may have been assigned back in a page
    /// still to come, which brings its history again, but the device's own changes only when it
    /// has not had them.
    pub at_end: bool,
}

impl Default for SyncPage<'_> {
    fn default() -> Self {
        SyncPage { acknowledged_seq: None, changes: &[], removed: &[], cursor: None, at_end: true }
    }
}

impl Store {
    /// Records a local write: its domain rows and its outbox entry commit together or not at all.
    /// For a field write, `base` is filled in with the version the field holds now.
    pub fn commit_local(
        &mut self,
        scales: &ScaleSet,
        now_ms: u64,
        id: ChangeId,
        body: ChangeBody,
    ) -> Result<Change, StoreError> {
        let mut clock = self.hlc.clone();
        let tx = self.conn.transaction()?;
        let body = match body {
            ChangeBody::FieldSet { entity, field, value, .. } => {
                let base = field_version(&tx, &entity, field)?;
                ChangeBody::FieldSet { entity, field, value, base }
            }
            other => other,
        };
        // An edit comes after the version it replaces, whatever this device's clock says. A clock
        // far behind cannot observe pulled versions (they lie beyond its drift), and an edit
        // ordered before its own base would lose to it on every replica, silently.
        if let ChangeBody::FieldSet { base: Some(base), .. } = &body {
            let _ = clock.observe(base.hlc, base.hlc.wall_ms);
        }
        let hlc = clock.tick(now_ms);
        let mut change = Change {
            id,
            device: self.device,
            seq: 0,
            hlc,
            device_time_ms: now_ms,
            schema_version: SCHEMA_VERSION,
            body,
        };
        apply(&tx, scales, &change)?;
        let body_json = serde_json::to_string(&change.body).map_err(|e| StoreError::Invalid(e.to_string()))?;
        exec(
            &tx,
            "INSERT INTO outbox (change_id, citizen_id, hlc_wall_ms, hlc_counter, device_time_ms, schema_version, body)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                change.id.to_string(),
                change.citizen().to_string(),
                sql_u64(hlc.wall_ms)?,
                hlc.counter,
                sql_u64(now_ms)?,
                change.schema_version,
                body_json
            ],
        )?;
        change.seq = u64::try_from(tx.last_insert_rowid()).map_err(|_| StoreError::Damaged("outbox seq".into()))?;
        save_hlc(&tx, hlc)?;
        tx.commit()?;
        self.hlc = clock;
        Ok(change)
    }

    /// Applies changes pulled from the server in one transaction, together with the new cursor
    /// position of `stream`, so a page and its cursor commit or fail together. Changes this
    /// device made itself are skipped: they are in place already.
    pub fn apply_pulled(
        &mut self,
        scales: &ScaleSet,
        now_ms: u64,
        changes: &[Change],
        cursor: Option<(&str, u64)>,
    ) -> Result<(), StoreError> {
        self.apply_sync_page(scales, now_ms, &SyncPage { changes, cursor, ..SyncPage::default() })
    }

    /// Applies the answer to a sync in one transaction: drops the outbox entries the server
    /// acknowledged, applies the pulled page, takes the `removed` citizens out of the caseload
    /// (erasing each once nothing of theirs is pending, at the end of the log) and moves the
    /// cursor. The citizens of pulled changes are in this device's caseload: the server sends
    /// nothing else. This device's own changes may come back (a citizen's history after it is
    /// assigned again); applying a change twice changes nothing.
    pub fn apply_sync_page(&mut self, scales: &ScaleSet, now_ms: u64, page: &SyncPage<'_>) -> Result<(), StoreError> {
        // The page in one go; when a change of it is refused, the page again with each change
        // on its own, the refused ones set aside in the quarantine.
        match self.apply_page(scales, now_ms, page, false) {
            Err(error) if error.is_refusal() => self.apply_page(scales, now_ms, page, true),
            other => other,
        }
    }

    fn apply_page(
        &mut self,
        scales: &ScaleSet,
        now_ms: u64,
        page: &SyncPage<'_>,
        isolate: bool,
    ) -> Result<(), StoreError> {
        let SyncPage { acknowledged_seq, changes, removed, cursor, at_end } = *page;
        let mut clock = self.hlc.clone();
        let worker = self.worker_id()?;
        let mut tx = self.conn.transaction()?;
        if let Some(seq) = acknowledged_seq {
            exec(&tx, "DELETE FROM outbox WHERE seq <= ?1", [sql_u64(seq)?])?;
        }
        for change in changes {
            exec(&tx, "DELETE FROM leaving_citizens WHERE citizen_id = ?1", [change.citizen().to_string()])?;
            if let Some(worker) = worker {
                ensure_citizen(&tx, change.citizen())?;
                exec(
                    &tx,
                    "INSERT INTO caseload (worker_id, citizen_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                    params![worker.to_string(), change.citizen().to_string()],
                )?;
            }
            // The server checked the drift when it accepted the change; a clock this device
            // cannot follow must not stop the change from applying, only from moving our clock.
            let _ = clock.observe(change.hlc, now_ms);
            if isolate {
                apply_or_quarantine(&mut tx, scales, change, now_ms)?;
            } else {
                apply(&tx, scales, change)?;
            }
        }
        for citizen in removed {
            exec(
                &tx,
                "INSERT INTO leaving_citizens (citizen_id) VALUES (?1) ON CONFLICT DO NOTHING",
                [citizen.to_string()],
            )?;
            exec(&tx, "DELETE FROM caseload WHERE citizen_id = ?1", [citizen.to_string()])?;
        }
        // A re-stamp must come after every stamp received, an edit that lost here and left no
        // version behind included (`restamp`).
        if let Some(latest) = changes.iter().map(|change| change.hlc).max() {
            remember_received(&tx, latest)?;
        }
        if at_end {
            erase_leaving_citizens(&tx)?;
        }
        if let Some((stream, position)) = cursor {
            exec(
                &tx,
                "INSERT INTO sync_cursors (stream, position) VALUES (?1, ?2)
                 ON CONFLICT (stream) DO UPDATE SET position = excluded.position",
                params![stream, sql_u64(position)?],
            )?;
        }
        save_hlc(&tx, clock.last())?;
        tx.commit()?;
        self.hlc = clock;
        Ok(())
    }

    /// Remembers where and how this device syncs; the token is stored encrypted with the rest.
    /// `certificate` (PEM) is the one the server must present from now on, when the device was
    /// enrolled with one; enrolling again without one forgets it.
    pub fn set_sync_settings(
        &mut self,
        server_url: &str,
        token: &str,
        certificate: Option<&str>,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        set_meta(&tx, "server_url", server_url)?;
        set_meta(&tx, "device_token", token)?;
        match certificate {
            Some(pem) => set_meta(&tx, "server_certificate", pem)?,
            None => clear_meta(&tx, "server_certificate")?,
        }
        tx.commit()?;
        Ok(())
    }

    /// Replaces the device token with the one the server issued in a sync answer (token
    /// rotation), encrypted with the rest. Committed before the answer's page, so the device never
    /// counts a round done while it still holds a token the server is retiring.
    pub fn set_device_token(&mut self, token: &str) -> Result<(), StoreError> {
        set_meta(&self.conn, "device_token", token)
    }

    /// Notes that the server no longer speaks this app's protocol (`None` clears it).
    /// Marks quarantined changes as reported to the server (at `now_ms`).
    pub fn set_quarantine_reported(&mut self, changes: &[ChangeId], now_ms: u64) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        for change in changes {
            exec(
                &tx,
                "UPDATE quarantine SET reported_at_ms = ?1 WHERE change_id = ?2 AND reported_at_ms IS NULL",
                params![sql_u64(now_ms)?, change.to_string()],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    pub fn set_sync_blocked(&mut self, reason: Option<&str>) -> Result<(), StoreError> {
        match reason {
            Some(reason) => set_meta(&self.conn, "sync_blocked", reason),
            None => clear_meta(&self.conn, "sync_blocked"),
        }
    }

    pub fn set_last_sync(&mut self, now_ms: u64) -> Result<(), StoreError> {
        set_meta(&self.conn, "last_sync_ms", &now_ms.to_string())
    }

    /// Records who this device belongs to (known at enrollment).
    pub fn set_worker(
        &mut self,
        team: TeamId,
        team_name: &str,
        worker: WorkerId,
        name: &str,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        exec(
            &tx,
            "INSERT INTO teams (id, name) VALUES (?1, ?2) ON CONFLICT (id) DO UPDATE SET name = excluded.name",
            params![team.to_string(), team_name],
        )?;
        exec(
            &tx,
            "INSERT INTO workers (id, team_id, display_name) VALUES (?1, ?2, ?3)
             ON CONFLICT (id) DO UPDATE SET team_id = excluded.team_id, display_name = excluded.display_name",
            params![worker.to_string(), team.to_string(), name],
        )?;
        set_meta(&tx, "worker_id", &worker.to_string())?;
        tx.commit()?;
        Ok(())
    }

    /// Puts a citizen in this device's caseload (the assignment is the server's; it arrives by sync).
    pub fn assign_citizen(&mut self, worker: WorkerId, citizen: CitizenId) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        ensure_citizen(&tx, citizen)?;
        exec(
            &tx,
            "INSERT INTO caseload (worker_id, citizen_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            params![worker.to_string(), citizen.to_string()],
        )?;
        tx.commit()?;
        Ok(())
    }
}

/// Erases every row of the citizens who left this device's caseload and have nothing pending.
/// The read audit stays: it records what this device showed, not the citizen's record.
/// Applies a pulled change on its own (in a savepoint); a change this store refuses goes to the
/// quarantine with its code and reason instead, and nothing of it stays applied.
fn apply_or_quarantine(
    tx: &mut Transaction<'_>,
    scales: &ScaleSet,
    change: &Change,
    now_ms: u64,
) -> Result<(), StoreError> {
    let savepoint = tx.savepoint()?;
    match apply(&savepoint, scales, change) {
        Ok(()) => Ok(savepoint.commit()?),
        Err(error) if error.is_refusal() => {
            drop(savepoint);
            exec(
                tx,
                "INSERT INTO quarantine (change_id, citizen_id, change_json, code, reason, quarantined_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (change_id) DO NOTHING",
                params![
                    change.id.to_string(),
                    change.citizen().to_string(),
                    serde_json::to_string(change).map_err(|e| StoreError::Invalid(e.to_string()))?,
                    error.code().as_str(),
                    error.to_string(),
                    sql_u64(now_ms)?,
                ],
            )?;
            Ok(())
        }
        Err(error) => Err(error),
    }
}

fn erase_leaving_citizens(tx: &Transaction<'_>) -> Result<(), StoreError> {
    let leaving: Vec<String> = {
        let mut statement = tx.prepare(
            "SELECT citizen_id FROM leaving_citizens l
              WHERE NOT EXISTS (SELECT 1 FROM outbox o WHERE o.citizen_id = l.citizen_id)",
        )?;
        statement.query_map([], |row| row.get(0))?.collect::<Result<_, _>>()?
    };
    for citizen in leaving {
        for sql in [
            "DELETE FROM field_versions WHERE entity = 'goal' AND entity_id IN (SELECT id FROM goals WHERE citizen_id = ?1)",
            "DELETE FROM field_versions WHERE entity = 'citizen' AND entity_id = ?1",
            "DELETE FROM goals WHERE citizen_id = ?1",
            "DELETE FROM notes WHERE citizen_id = ?1",
            "DELETE FROM responses WHERE citizen_id = ?1",
            "DELETE FROM visits WHERE citizen_id = ?1",
            "DELETE FROM citizen_summaries WHERE citizen_id = ?1",
            "DELETE FROM quarantine WHERE citizen_id = ?1",
            "DELETE FROM caseload WHERE citizen_id = ?1",
            "DELETE FROM citizens WHERE id = ?1",
            "DELETE FROM leaving_citizens WHERE citizen_id = ?1",
        ] {
            exec(tx, sql, [&citizen])?;
        }
    }
    Ok(())
}

pub(crate) fn save_hlc(tx: &Transaction<'_>, hlc: Hlc) -> Result<(), StoreError> {
    set_meta(tx, "hlc_wall_ms", &hlc.wall_ms.to_string())?;
    set_meta(tx, "hlc_counter", &hlc.counter.to_string())
}

/// Runs one statement through the connection's statement cache: sync applies thousands of
/// changes a page, and preparing the same SQL again for each costs more than running it.
pub(crate) fn exec<P: rusqlite::Params>(conn: &rusqlite::Connection, sql: &str, params: P) -> rusqlite::Result<usize> {
    conn.prepare_cached(sql)?.execute(params)
}

/// SQLite integers are signed 64-bit; times in milliseconds fit until the year 292 million.
pub(crate) fn sql_u64(value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::Invalid(format!("{value} is too large to store")))
}

fn ensure_citizen(tx: &Connection, citizen: CitizenId) -> Result<(), StoreError> {
    exec(tx, "INSERT INTO citizens (id) VALUES (?1) ON CONFLICT DO NOTHING", [citizen.to_string()])?;
    Ok(())
}

/// Applies one change to the domain tables, and drops the citizen's cached caseload line. The
/// change is checked first (`Change::check`), whether it was made here or pulled.
pub(crate) fn apply(tx: &Connection, scales: &ScaleSet, change: &Change) -> Result<(), StoreError> {
    exec(tx, "DELETE FROM citizen_summaries WHERE citizen_id = ?1", [change.citizen().to_string()])?;
    match (&change.body, change.check(scales)?) {
        (ChangeBody::VisitStarted { visit, citizen, worker, started_at_ms, group }, _) => {
            ensure_citizen(tx, *citizen)?;
            exec(
                tx,
                "INSERT INTO visits (id, citizen_id, worker_id, started_at_ms, group_id) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (id) DO NOTHING",
                params![
                    visit.to_string(),
                    citizen.to_string(),
                    worker.to_string(),
                    sql_u64(*started_at_ms)?,
                    group.map(|g| g.to_string())
                ],
            )?;
            Ok(())
        }
        (ChangeBody::VisitClosed { visit, citizen, closed_at_ms, cancelled }, _) => {
            apply_visit_closed(tx, *visit, *citizen, *closed_at_ms, *cancelled)
        }
        (ChangeBody::ResponseRecorded { .. }, Checked::Response(valid)) => apply_response(tx, change, &valid),
        (ChangeBody::NoteWritten { note, citizen, visit, body, written_at_ms, supersedes }, _) => {
            exec(
                tx,
                "INSERT INTO notes (id, citizen_id, visit_id, body, written_at_ms, supersedes, hlc_wall_ms, hlc_counter)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (id) DO NOTHING",
                params![
                    note.to_string(),
                    citizen.to_string(),
                    visit.map(|v| v.to_string()),
                    body,
                    sql_u64(*written_at_ms)?,
                    supersedes.map(|s| s.to_string()),
                    sql_u64(change.hlc.wall_ms)?,
                    change.hlc.counter,
                ],
            )?;
            Ok(())
        }
        (ChangeBody::FieldSet { entity, field, base, .. }, Checked::Field(value)) => {
            apply_field(tx, change, entity, *field, *base, &value)
        }
        (_, checked) => Err(StoreError::Invalid(format!("a change checked as {checked:?}"))),
    }
}

fn apply_visit_closed(
    tx: &Connection,
    visit: VisitId,
    citizen: CitizenId,
    closed_at_ms: u64,
    cancelled: bool,
) -> Result<(), StoreError> {
    // Two devices may close the same visit before either hears of the other: every replica
    // keeps the earliest close, whatever order the closes arrive in.
    let updated = exec(
        tx,
        "UPDATE visits SET closed_at_ms = ?1
          WHERE id = ?2 AND citizen_id = ?3 AND (closed_at_ms IS NULL OR closed_at_ms > ?1)",
        params![sql_u64(closed_at_ms)?, visit.to_string(), citizen.to_string()],
    )?;
    if updated == 0 {
        // Closed already (the same change again) is fine; no such visit is not.
        let closed = tx
            .query_row(
                "SELECT 1 FROM visits WHERE id = ?1 AND citizen_id = ?2 AND closed_at_ms IS NOT NULL",
                params![visit.to_string(), citizen.to_string()],
                |_| Ok(()),
            )
            .optional()?;
        if closed.is_none() {
            return Err(StoreError::NotFound(format!("open visit {visit}")));
        }
    }
    // A cancellation stays, whichever close came first: the visit was started by mistake.
    if cancelled {
        exec(tx, "UPDATE visits SET cancelled = 1 WHERE id = ?1", params![visit.to_string()])?;
    }
    Ok(())
}

fn apply_response(tx: &Connection, change: &Change, valid: &ValidResponse) -> Result<(), StoreError> {
    let ChangeBody::ResponseRecorded {
        response,
        visit,
        citizen,
        scale,
        scale_version,
        recorded_at_ms,
        supersedes,
        correction,
        ..
    } = &change.body
    else {
        return Err(StoreError::Invalid("not a response".into()));
    };
    let visit_citizen: Option<String> = tx
        .prepare_cached("SELECT citizen_id FROM visits WHERE id = ?1")?
        .query_row([visit.to_string()], |row| row.get(0))
        .optional()?;
    if visit_citizen.as_deref() != Some(citizen.to_string().as_str()) {
        return Err(StoreError::NotFound(format!("visit {visit} of this citizen")));
    }
    // A correction supersedes a response of the same citizen (the server refuses any other, as
    // `reference.foreign`); one this device does not hold is refused by the foreign key.
    if let Some(earlier) = supersedes {
        let earlier_citizen: Option<String> = tx
            .prepare_cached("SELECT citizen_id FROM responses WHERE id = ?1")?
            .query_row([earlier.to_string()], |row| row.get(0))
            .optional()?;
        if earlier_citizen.is_some_and(|c| c != citizen.to_string()) {
            return Err(StoreError::Invalid(format!("response {earlier} is another citizen's")));
        }
    }
    let (status, marked_by, reason, answers, total) = match &valid.value {
        ResponseValue::Given { marked_by, answers, total } => {
            let answers = serde_json::to_string(answers).map_err(|e| StoreError::Invalid(e.to_string()))?;
            ("given", Some(enum_text(marked_by)?), None, Some(answers), Some(*total))
        }
        ResponseValue::NotGiven { reason } => ("not_given", None, Some(enum_text(reason)?), None, None),
        ResponseValue::Withdrawn => ("withdrawn", None, None, None, None),
    };
    exec(
        tx,
        "INSERT INTO responses (id, visit_id, citizen_id, scale, scale_version, kind, status, marked_by,
            not_given_reason, answers, total_raw, total_score, recorded_at_ms, supersedes, correction,
            hlc_wall_ms, hlc_counter)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)
         ON CONFLICT (id) DO NOTHING",
        params![
            response.to_string(),
            visit.to_string(),
            citizen.to_string(),
            scale.as_str(),
            scale_version,
            enum_text(&valid.kind)?,
            status,
            marked_by,
            reason,
            answers,
            total.map(|t| t.raw),
            total.map(|t| t.score),
            sql_u64(*recorded_at_ms)?,
            supersedes.map(|s| s.to_string()),
            correction.map(|c| enum_text(&c)).transpose()?,
            sql_u64(change.hlc.wall_ms)?,
            change.hlc.counter,
        ],
    )?;
    Ok(())
}

/// A field write wins or loses by the last-writer-wins rule against the version held.
fn apply_field(
    tx: &Connection,
    change: &Change,
    entity: &Entity,
    field: FieldName,
    base: Option<Version>,
    value: &FieldValue,
) -> Result<(), StoreError> {
    let current = field_version(tx, entity, field)?;
    let version = Version { hlc: change.hlc, device: change.device };
    if let Merge::Apply { .. } = merge_lww(current, FieldWrite { version, base }) {
        write_field(tx, entity, field, value)?;
        let (kind, id) = entity_key(entity);
        exec(
            tx,
            "INSERT INTO field_versions (entity, entity_id, field, hlc_wall_ms, hlc_counter, device_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (entity, entity_id, field) DO UPDATE SET hlc_wall_ms = excluded.hlc_wall_ms,
                hlc_counter = excluded.hlc_counter, device_id = excluded.device_id",
            params![
                kind,
                id,
                field.as_str(),
                sql_u64(version.hlc.wall_ms)?,
                version.hlc.counter,
                version.device.to_string()
            ],
        )?;
    }
    Ok(())
}

/// The text serde gives a unit enum variant: the same words in the database as on the wire.
fn enum_text<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(text)) => Ok(text),
        _ => Err(StoreError::Invalid("not a unit enum".into())),
    }
}

pub(crate) fn entity_key(entity: &Entity) -> (&'static str, String) {
    match entity {
        Entity::Citizen { citizen } => ("citizen", citizen.to_string()),
        Entity::Goal { goal, .. } => ("goal", goal.to_string()),
    }
}

pub(crate) fn field_version(
    tx: &rusqlite::Connection,
    entity: &Entity,
    field: FieldName,
) -> Result<Option<Version>, StoreError> {
    let (kind, id) = entity_key(entity);
    let row: Option<(i64, u32, String)> = tx
        .prepare_cached(
            "SELECT hlc_wall_ms, hlc_counter, device_id FROM field_versions
             WHERE entity = ?1 AND entity_id = ?2 AND field = ?3",
        )?
        .query_row(params![kind, id, field.as_str()], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .optional()?;
    row.map(|(wall, counter, device)| {
        Ok(Version {
            hlc: Hlc::new(u64::try_from(wall).map_err(|_| StoreError::Damaged("field version".into()))?, counter),
            device: device.parse().map_err(|_| StoreError::Damaged("field version device".into()))?,
        })
    })
    .transpose()
}

fn write_field(tx: &Connection, entity: &Entity, field: FieldName, value: &FieldValue) -> Result<(), StoreError> {
    let value = match value {
        FieldValue::Text(text) => rusqlite::types::Value::Text(text.clone()),
        FieldValue::Integer(n) => rusqlite::types::Value::Integer(*n),
        FieldValue::Bool(b) => rusqlite::types::Value::Integer(i64::from(*b)),
        FieldValue::Null => rusqlite::types::Value::Null,
    };
    // Column names come from the closed FieldName list, never from input.
    match entity {
        Entity::Citizen { citizen } => {
            ensure_citizen(tx, *citizen)?;
            let sql = format!("UPDATE citizens SET {} = ?1 WHERE id = ?2", field.as_str());
            exec(tx, &sql, params![value, citizen.to_string()])?;
        }
        Entity::Goal { goal, citizen } => {
            ensure_citizen(tx, *citizen)?;
            exec(
                tx,
                "INSERT INTO goals (id, citizen_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                params![goal.to_string(), citizen.to_string()],
            )?;
            let sql = format!("UPDATE goals SET {} = ?1 WHERE id = ?2", field.as_str());
            exec(tx, &sql, params![value, goal.to_string()])?;
        }
    }
    Ok(())
}
