//! Who this device belongs to, for the app's header: the worker's and the team's names as the
//! server gave them at enrollment.

use rusqlite::OptionalExtension;

use crate::{Store, StoreError};

/// The enrolled worker and team, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub worker_name: String,
    pub team_name: String,
}

impl Store {
    /// The enrolled worker's and team's names; `None` before enrollment.
    pub fn identity(&self) -> Result<Option<Identity>, StoreError> {
        let Some(worker) = self.worker_id()? else { return Ok(None) };
        Ok(self
            .conn
            .query_row(
                "SELECT w.display_name, t.name FROM workers w JOIN teams t ON t.id = w.team_id WHERE w.id = ?1",
                [worker.to_string()],
                |row| Ok(Identity { worker_name: row.get(0)?, team_name: row.get(1)? }),
            )
            .optional()?)
    }
}

impl Store {
    /// The team's well-being schedule as the server last sent it; `None` until it has.
    pub fn wellbeing_schedule(&self) -> Result<Option<fit_core::Schedule>, StoreError> {
        self.meta(SCHEDULE_KEY)?
            .map(|json| serde_json::from_str(&json).map_err(|e| StoreError::Damaged(e.to_string())))
            .transpose()
    }

    pub fn set_wellbeing_schedule(&self, schedule: &fit_core::Schedule) -> Result<(), StoreError> {
        let json = serde_json::to_string(schedule).map_err(|e| StoreError::Invalid(e.to_string()))?;
        self.set_meta(SCHEDULE_KEY, &json)
    }
}

const SCHEDULE_KEY: &str = "wellbeing_schedule";
