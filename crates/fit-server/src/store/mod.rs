//! The server's storage behind one narrow trait, so the backend is chosen in `main` and one
//! conformance story runs over every backend. SQLite is the embedded default.

pub mod postgres;
pub mod sqlite;

use std::future::Future;

use fit_core::ids::{CitizenId, DeviceId, TeamId, WorkerId};
use fit_protocol::{Change, SyncRequest, SyncResponse};

use crate::error::ApiError;

/// The device a request was authenticated as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceAuth {
    pub device: DeviceId,
    pub worker: WorkerId,
}

/// What enrollment tells a new device about its worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrolled {
    pub worker: WorkerId,
    pub worker_name: String,
    pub team: TeamId,
    pub team_name: String,
}

/// An enrolled device as the administrator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    pub device: DeviceId,
    pub worker: WorkerId,
    pub enrolled_at_ms: u64,
    pub revoked_at_ms: Option<u64>,
    pub last_seq: u64,
}

/// A concurrent edit kept for a team lead: the field, and the changes that won and lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub citizen: CitizenId,
    pub entity_id: String,
    pub field: String,
    pub winner: String,
    pub loser: String,
}

/// Storage of the server. Every method is one transaction.
pub trait ServerStore: Clone + Send + Sync + 'static {
    /// Trades an unused, unexpired enrollment code (by hash) for a device with a token (by hash).
    fn enroll(
        &self,
        code_hash: String,
        device: DeviceId,
        token_hash: String,
        now_ms: u64,
    ) -> impl Future<Output = Result<Enrolled, ApiError>> + Send;

    /// The device a token (by hash) belongs to; revoked devices get `ApiError::Revoked`.
    fn authenticate(&self, token_hash: String) -> impl Future<Output = Result<DeviceAuth, ApiError>> + Send;

    /// Applies a checked batch all or nothing and reads the next page past the cursor.
    fn sync(
        &self,
        auth: DeviceAuth,
        request: SyncRequest,
        pull_limit: usize,
        now_ms: u64,
    ) -> impl Future<Output = Result<SyncResponse, ApiError>> + Send;

    fn create_team(&self, team: TeamId, name: String) -> impl Future<Output = Result<(), ApiError>> + Send;
    fn create_worker(
        &self,
        worker: WorkerId,
        team: TeamId,
        name: String,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;
    fn create_citizen(&self, citizen: CitizenId, team: TeamId) -> impl Future<Output = Result<(), ApiError>> + Send;
    /// Puts a citizen in a worker's caseload (taking it out of any other).
    fn assign(
        &self,
        citizen: CitizenId,
        worker: WorkerId,
        now_ms: u64,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;
    fn create_enrollment_code(
        &self,
        code_hash: String,
        worker: WorkerId,
        now_ms: u64,
        expires_at_ms: u64,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;
    fn devices(&self) -> impl Future<Output = Result<Vec<DeviceInfo>, ApiError>> + Send;
    fn revoke(&self, device: DeviceId, now_ms: u64) -> impl Future<Output = Result<(), ApiError>> + Send;
    /// Every change in the log, in order (for exports and for tests that compare stores).
    fn changes(&self) -> impl Future<Output = Result<Vec<Change>, ApiError>> + Send;
    fn conflicts(&self) -> impl Future<Output = Result<Vec<Conflict>, ApiError>> + Send;
}
