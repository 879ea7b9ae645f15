//! Opening the encrypted database: key, PRAGMAs and migrations.

use std::sync::LazyLock;

use fit_core::hlc::{Hlc, HlcClock};
use fit_core::ids::DeviceId;
use rusqlite::{Connection, OptionalExtension, params};
use rusqlite_migration::{M, Migrations};

use crate::keys::{DataKey, StorePaths};
use crate::{Store, StoreError, damaged};

/// The device migrations, embedded at compile time, in order. Append only.
pub static MIGRATIONS: LazyLock<Migrations<'static>> = LazyLock::new(|| {
    Migrations::new(vec![
        M::up(include_str!("../../../migrations/device/0001_initial.sql")),
        M::up(include_str!("../../../migrations/device/0002_quarantine.sql")),
        M::up(include_str!("../../../migrations/device/0003_quarantine_reported.sql")),
        M::up(include_str!("../../../migrations/device/0004_summary_schedule.sql")),
        M::up(include_str!("../../../migrations/device/0005_corrections_support_started.sql")),
        M::up(include_str!("../../../migrations/device/0006_group_visits.sql")),
        M::up(include_str!("../../../migrations/device/0007_cancelled_visits.sql")),
    ])
});

/// 32 MiB of decrypted pages: a caseload of 60 citizens with 200 visits each is about 10 MiB.
const CACHE_SIZE_KIB: i64 = 32 * 1024;

/// Waits this long for a lock held by another connection before failing.
const BUSY_TIMEOUT_MS: u32 = 5_000;

impl Store {
    /// Creates the database of a new store, keyed with `key`, for device `device`.
    pub fn create(paths: &StorePaths, key: &DataKey, device: DeviceId, max_drift_ms: u64) -> Result<Store, StoreError> {
        let mut store = Store::open(paths, key, max_drift_ms)?;
        if store.meta("device_id")?.is_some() {
            return Err(StoreError::Invalid("the database already belongs to a device".into()));
        }
        store.set_meta("device_id", &device.to_string())?;
        store.device = device;
        Ok(store)
    }

    /// Opens the database with `key` and brings its schema up to date.
    pub fn open(paths: &StorePaths, key: &DataKey, max_drift_ms: u64) -> Result<Store, StoreError> {
        let mut conn = Connection::open(paths.database())?;
        // Applying a pulled page runs a dozen statements per change; keep them all prepared.
        conn.set_prepared_statement_cache_capacity(64);
        conn.pragma_update(None, "key", key.sqlcipher_pragma_value().as_str())?;
        // The first read decrypts page 1: a wrong key fails here, before anything is written.
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |row| row.get::<_, i64>(0))
            .map_err(|_| StoreError::WrongKey)?;
        let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Damaged(format!("journal mode is {mode}, not WAL")));
        }
        // FULL: a commit survives power loss, not only a crash of the app; a response is a fact
        // that exists nowhere else until it syncs.
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Decrypting a page costs more than reading it: keep a caseload's pages decrypted in
        // memory (negative = KiB) instead of SQLite's 2 MB default.
        conn.pragma_update(None, "cache_size", -CACHE_SIZE_KIB)?;
        conn.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS.into()))?;
        MIGRATIONS.to_latest(&mut conn)?;

        let mut store =
            Store { conn, device: DeviceId::from(uuid::Uuid::nil()), hlc: HlcClock::new(Hlc::ZERO, max_drift_ms) };
        if let Some(device) = store.meta("device_id")? {
            store.device = device.parse().map_err(|_| damaged("device_id"))?;
        }
        let wall = store.meta("hlc_wall_ms")?.map(|t| t.parse::<u64>()).transpose().map_err(|_| damaged("hlc"))?;
        let counter = store.meta("hlc_counter")?.map(|t| t.parse::<u32>()).transpose().map_err(|_| damaged("hlc"))?;
        store.hlc = HlcClock::new(Hlc::new(wall.unwrap_or(0), counter.unwrap_or(0)), max_drift_ms);
        Ok(store)
    }

    pub(crate) fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        get_meta(&self.conn, key)
    }

    pub(crate) fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        set_meta(&self.conn, key, value)
    }
}

pub(crate) fn get_meta(conn: &Connection, key: &str) -> Result<Option<String>, StoreError> {
    Ok(conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |row| row.get(0)).optional()?)
}

pub(crate) fn set_meta(conn: &Connection, key: &str, value: &str) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

pub(crate) fn clear_meta(conn: &Connection, key: &str) -> Result<(), StoreError> {
    conn.execute("DELETE FROM meta WHERE key = ?1", [key])?;
    Ok(())
}

/// The schema as SQLite stores it, one statement per entry, sorted: for the snapshot test.
pub fn schema_sql(store: &Store) -> Result<Vec<String>, StoreError> {
    let mut statement = store
        .conn
        .prepare("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY name")?;
    let rows = statement.query_map([], |row| row.get::<_, String>(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}
