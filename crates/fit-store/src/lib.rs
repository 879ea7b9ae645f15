//! The device store: the local replica of a worker's caseload in an encrypted SQLite file.
//!
//! While offline, the device is the source of truth. Every local write commits its domain rows
//! and its outbox entry in one transaction; the outbox is what sync pushes. The database is
//! SQLCipher, keyed with a data key that only exists in memory while the store is unlocked.

mod db;
mod identity;
pub mod keys;
mod packs;
mod read;
mod restamp;
mod write;

use fit_core::hlc::HlcClock;
use fit_core::ids::{DeviceId, WorkerId};
use fit_protocol::{ChangeError, ErrorCode};
use rusqlite::Connection;

pub use db::{MIGRATIONS, schema_sql};
pub use identity::Identity;
pub use keys::{DataKey, KdfCost, KeyError, StorePaths, UnlockPolicy};
pub use packs::StoredPack;
pub use read::{
    CitizenRow, CitizenSummary, GoalRow, HistoryRow, NoteRow, QuarantinedChange, ResponseRow, ResponseStatus, VisitRow,
};
pub use restamp::RESTAMP_MARGIN_MS;
pub use write::SyncPage;

/// What went wrong in the store. `code` gives a stable code for the `{code, message}` boundary.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("the database cannot be opened with this key, or it is not a FIT Field database")]
    WrongKey,
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database migration: {0}")]
    Migration(#[from] rusqlite_migration::Error),
    #[error("stored data is damaged: {0}")]
    Damaged(String),
    #[error("{0}")]
    Invalid(String),
    #[error("not found: {0}")]
    NotFound(String),
    /// A change that does not pass `Change::check`.
    #[error(transparent)]
    Change(#[from] ChangeError),
}

impl StoreError {
    /// The change is refused (it fails the check, names what this store does not hold, or
    /// breaks a constraint), as opposed to the store failing.
    pub fn is_refusal(&self) -> bool {
        match self {
            StoreError::Change(_) | StoreError::NotFound(_) | StoreError::Invalid(_) => true,
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                e.code == rusqlite::ErrorCode::ConstraintViolation
            }
            _ => false,
        }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            StoreError::Key(KeyError::NotSetUp) => ErrorCode::StoreNotSetUp,
            StoreError::Key(KeyError::AlreadySetUp) => ErrorCode::StoreAlreadySetUp,
            StoreError::Key(KeyError::PinTooShort) => ErrorCode::PinTooShort,
            StoreError::Key(KeyError::WrongPin { .. }) => ErrorCode::PinWrong,
            StoreError::Key(KeyError::TooSoon { .. }) => ErrorCode::PinTooSoon,
            StoreError::Key(KeyError::Wiped) => ErrorCode::StoreWiped,
            StoreError::Key(KeyError::RolledBack { .. }) => ErrorCode::StoreRolledBack,
            StoreError::Key(KeyError::Damaged(_)) | StoreError::Damaged(_) => ErrorCode::StoreDamaged,
            StoreError::Key(KeyError::Io(_)) => ErrorCode::StoreIo,
            StoreError::WrongKey => ErrorCode::StoreWrongKey,
            StoreError::Sqlite(_) | StoreError::Migration(_) => ErrorCode::StoreDatabase,
            StoreError::Invalid(_) => ErrorCode::StoreInvalid,
            StoreError::NotFound(_) => ErrorCode::StoreNotFound,
            StoreError::Change(error) => error.code(),
        }
    }
}

/// An open, unlocked store. Dropping it closes the database; the key is not kept.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    device: DeviceId,
    hlc: HlcClock,
}

impl Store {
    pub fn device_id(&self) -> DeviceId {
        self.device
    }

    /// The worker this device belongs to, once known.
    pub fn worker_id(&self) -> Result<Option<WorkerId>, StoreError> {
        self.meta("worker_id")?.map(|text| text.parse().map_err(|_| damaged("worker_id"))).transpose()
    }

    pub fn hlc(&self) -> &HlcClock {
        &self.hlc
    }
}

fn damaged(what: &str) -> StoreError {
    StoreError::Damaged(format!("{what} could not be read"))
}

#[cfg(test)]
mod tests;
