//! Stamping pending changes again after the server refused them as too far ahead of its clock.
//!
//! A device whose clock ran ahead (a wrong date, a dead clock battery set to a future year)
//! stamps its writes with that time, and its HLC stays there after the clock is put right. The
//! server refuses changes stamped more than its drift allows ahead of its own clock, so without
//! this the outbox would wait, unsent, until the server's clock caught up: up to a year.
//!
//! A change stamped past `server time + max drift` was never accepted (the server's clock only
//! moves forward, so it was too far ahead at every earlier attempt too), and nobody else has seen
//! it. But a request that carried it may still be on its way, and would be accepted once the
//! server's clock has moved far enough; the stamp must then be the one it carried. So only changes
//! stamped more than `RESTAMP_MARGIN_MS` past that limit are stamped again: no request is in
//! flight that long (the sync client gives up after 30 s). They get new stamps from the server's
//! time, after every stamp this device keeps or has received, in the order they had. Changes
//! within the margin are pushed once the server's clock has caught up with them, within the hour.
//! Every field keeps the same winner on this device: the old stamps were above everything else it
//! holds or received, and so are the new ones. "Received" matters: a pulled edit that lost here to
//! an edit stamped far ahead leaves no version in any table, yet the server holds it; were the new
//! stamp below it, the server would keep that edit and this device its own. So the store
//! remembers the latest stamp it has received (`remember_received`, with every pulled page).
//! A later pending edit based on a version re-stamped here gets the new version as its base, so
//! the server does not mistake it for a concurrent edit.

use std::collections::HashMap;

use fit_core::Hlc;
use fit_core::hlc::HlcClock;
use fit_protocol::{Change, ChangeBody, ServerClock};
use rusqlite::{OptionalExtension, Transaction, params};

use crate::db::{get_meta, set_meta};
use crate::write::{entity_key, save_hlc, sql_u64};
use crate::{Store, StoreError, damaged};

/// How far past the server's limit a change must be stamped to be stamped again: longer than
/// any request can be on its way.
pub const RESTAMP_MARGIN_MS: u64 = 60 * 60 * 1000;

impl Store {
    /// Stamps again every pending change stamped more than `RESTAMP_MARGIN_MS` past what
    /// `server`'s clock accepts; returns how many (0: none is that far ahead, wait for the
    /// server's clock to catch up).
    pub fn restamp_ahead(&mut self, server: ServerClock) -> Result<usize, StoreError> {
        let limit = server.server_time_ms.saturating_add(server.max_drift_ms).saturating_add(RESTAMP_MARGIN_MS);
        let ahead: Vec<_> = self.outbox(0, u32::MAX)?.into_iter().filter(|change| change.hlc.wall_ms > limit).collect();
        if ahead.is_empty() {
            return Ok(0);
        }
        let tx = self.conn.transaction()?;
        let mut clock = HlcClock::new(latest_kept_stamp(&tx, limit)?, self.hlc.max_drift_ms());
        let mut renamed: HashMap<Hlc, Hlc> = HashMap::new();
        for mut change in ahead {
            let old = change.hlc;
            if let ChangeBody::FieldSet { base: Some(base), .. } = &mut change.body {
                if base.device == self.device
                    && let Some(stamp) = renamed.get(&base.hlc)
                {
                    base.hlc = *stamp;
                }
                // An edit comes after the version it replaced, as in `commit_local`: that
                // version may be held nowhere now (this edit replaced it), so the stamps this
                // device keeps do not cover it.
                let _ = clock.observe(base.hlc, base.hlc.wall_ms);
            }
            let new = clock.tick(server.server_time_ms);
            renamed.insert(old, new);
            change.hlc = new;
            restamp_rows(&tx, &change, old)?;
        }
        save_hlc(&tx, clock.last())?;
        tx.commit()?;
        let stamped = renamed.len();
        self.hlc = clock;
        Ok(stamped)
    }
}

/// The latest stamp at or below `limit` that this device keeps, in its outbox or its rows, or has
/// received: the new stamps come after it.
fn latest_kept_stamp(tx: &Transaction<'_>, limit: u64) -> Result<Hlc, StoreError> {
    let kept = latest_stored_stamp(tx, limit)?;
    Ok(match received_stamp(tx)? {
        Some(received) if received.wall_ms <= limit => kept.max(received),
        _ => kept,
    })
}

/// The latest stamp at or below `limit` in the outbox or the rows.
fn latest_stored_stamp(tx: &Transaction<'_>, limit: u64) -> Result<Hlc, StoreError> {
    let kept: Option<(i64, u32)> = tx
        .query_row(
            "SELECT hlc_wall_ms, hlc_counter FROM (
                 SELECT hlc_wall_ms, hlc_counter FROM outbox
                 UNION ALL SELECT hlc_wall_ms, hlc_counter FROM field_versions
                 UNION ALL SELECT hlc_wall_ms, hlc_counter FROM responses
                 UNION ALL SELECT hlc_wall_ms, hlc_counter FROM notes)
              WHERE hlc_wall_ms <= ?1 ORDER BY hlc_wall_ms DESC, hlc_counter DESC LIMIT 1",
            [sql_u64(limit)?],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?;
    match kept {
        Some((wall, counter)) => {
            Ok(Hlc::new(u64::try_from(wall).map_err(|_| StoreError::Damaged("hlc".into()))?, counter))
        }
        None => Ok(Hlc::ZERO),
    }
}

/// Writes a pending change's new stamp (`change.hlc`; it had `old`) to its outbox entry and to
/// the row it made.
fn restamp_rows(tx: &Transaction<'_>, change: &Change, old: Hlc) -> Result<(), StoreError> {
    let new = change.hlc;
    let body = serde_json::to_string(&change.body).map_err(|e| StoreError::Invalid(e.to_string()))?;
    tx.execute(
        "UPDATE outbox SET hlc_wall_ms = ?1, hlc_counter = ?2, body = ?3 WHERE seq = ?4",
        params![sql_u64(new.wall_ms)?, new.counter, body, sql_u64(change.seq)?],
    )?;
    match &change.body {
        ChangeBody::ResponseRecorded { response, .. } => {
            tx.execute(
                "UPDATE responses SET hlc_wall_ms = ?1, hlc_counter = ?2 WHERE id = ?3",
                params![sql_u64(new.wall_ms)?, new.counter, response.to_string()],
            )?;
        }
        ChangeBody::NoteWritten { note, .. } => {
            tx.execute(
                "UPDATE notes SET hlc_wall_ms = ?1, hlc_counter = ?2 WHERE id = ?3",
                params![sql_u64(new.wall_ms)?, new.counter, note.to_string()],
            )?;
        }
        ChangeBody::FieldSet { entity, field, .. } => {
            // Only where this write still holds the field: a later one may have won it.
            let (kind, id) = entity_key(entity);
            tx.execute(
                "UPDATE field_versions SET hlc_wall_ms = ?1, hlc_counter = ?2
                  WHERE entity = ?3 AND entity_id = ?4 AND field = ?5
                    AND device_id = ?6 AND hlc_wall_ms = ?7 AND hlc_counter = ?8",
                params![
                    sql_u64(new.wall_ms)?,
                    new.counter,
                    kind,
                    id,
                    field.as_str(),
                    change.device.to_string(),
                    sql_u64(old.wall_ms)?,
                    old.counter
                ],
            )?;
        }
        ChangeBody::VisitStarted { .. } | ChangeBody::VisitClosed { .. } => {}
    }
    Ok(())
}

const RECEIVED_WALL_KEY: &str = "hlc_received_wall_ms";
const RECEIVED_COUNTER_KEY: &str = "hlc_received_counter";

/// Remembers `stamp`, the latest of a pulled page, if it is the latest this device has received.
/// Its clock cannot stand in for this: a clock that ran far ahead has no trace of what it
/// observed below its own stamps, and a re-stamp must come after those too.
pub(crate) fn remember_received(tx: &Transaction<'_>, stamp: Hlc) -> Result<(), StoreError> {
    if received_stamp(tx)?.is_some_and(|held| held >= stamp) {
        return Ok(());
    }
    set_meta(tx, RECEIVED_WALL_KEY, &stamp.wall_ms.to_string())?;
    set_meta(tx, RECEIVED_COUNTER_KEY, &stamp.counter.to_string())
}

/// The latest stamp this device has received in a pulled page, if any.
fn received_stamp(tx: &Transaction<'_>) -> Result<Option<Hlc>, StoreError> {
    let wall = get_meta(tx, RECEIVED_WALL_KEY)?.map(|t| t.parse::<u64>()).transpose().map_err(|_| damaged("hlc"))?;
    let counter =
        get_meta(tx, RECEIVED_COUNTER_KEY)?.map(|t| t.parse::<u32>()).transpose().map_err(|_| damaged("hlc"))?;
    Ok(wall.map(|wall| Hlc::new(wall, counter.unwrap_or(0))))
}
