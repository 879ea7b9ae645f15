//! The scale packs this device received from its server (`scale_packs`): one per code, the one
//! in use, and the tag of the server's packs it last fetched. Which packs may come in is decided
//! by fit-core (`ScaleSet::admit`), by the device's services, before anything is stored here.

use rusqlite::params;

use crate::db::set_meta;
use crate::write::sql_u64;
use crate::{Store, StoreError};

/// A pack as stored: its code, version and the pack file's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPack {
    pub code: String,
    pub version: String,
    pub pack: String,
}

impl Store {
    /// Every pack received, by code.
    pub fn scale_packs(&self) -> Result<Vec<StoredPack>, StoreError> {
        let mut statement = self.conn.prepare("SELECT code, version, pack FROM scale_packs ORDER BY code")?;
        let rows = statement
            .query_map([], |row| Ok(StoredPack { code: row.get(0)?, version: row.get(1)?, pack: row.get(2)? }))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The tag of the server's packs this device fetched last, if it ever did.
    pub fn packs_tag(&self) -> Result<Option<String>, StoreError> {
        self.meta("packs_tag")
    }

    /// Stores the packs admitted from a fetch (each replacing its code's) and the tag fetched,
    /// in one transaction. When a pack came in, every cached caseload line is forgotten
    /// (`citizen_summaries`): they were computed with the scales it replaces.
    pub fn install_scale_packs(&mut self, packs: &[StoredPack], tag: &str, now_ms: u64) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        for pack in packs {
            tx.execute(
                "INSERT INTO scale_packs (code, version, pack, installed_at_ms) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (code) DO UPDATE SET version = excluded.version, pack = excluded.pack,
                     installed_at_ms = excluded.installed_at_ms",
                params![pack.code, pack.version, pack.pack, sql_u64(now_ms)?],
            )?;
        }
        if !packs.is_empty() {
            tx.execute("DELETE FROM citizen_summaries", [])?;
        }
        set_meta(&tx, "packs_tag", tag)?;
        tx.commit()?;
        Ok(())
    }
}
