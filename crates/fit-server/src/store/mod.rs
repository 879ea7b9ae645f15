//! The server's storage behind one narrow trait, so the backend is chosen in `main` and one
//! conformance story runs over every backend. SQLite is the embedded default. The sync rules are
//! not here but in `crate::rules`: a backend reads what they need and writes what they plan.

mod error;
pub mod postgres;
pub mod sqlite;

use std::future::Future;

use fit_core::ids::{CitizenId, DeviceId, TeamId, WorkerId};
use fit_protocol::{
    Change, ChangeBody, Entity, ErrorCode, FieldName, LoggedChange, PROTOCOL_VERSION, SyncRequest, SyncResponse,
};

pub use self::error::StoreError;
use crate::rules::packs::StoredPack;
use crate::rules::pull::Page;
use crate::rules::token::{Presented, TokenPolicy};

/// The device a request was authenticated as, and which of its tokens it presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceAuth {
    pub device: DeviceId,
    pub worker: WorkerId,
    pub token: TokenUse,
}

/// Which token a request presented, and since when the device's current token has been in use
/// (what `rules::token::rotation_due` decides on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenUse {
    pub presented: Presented,
    pub current_since_ms: u64,
}

/// An enrollment code, named by its id or by the code itself (as its hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeRef {
    Id(uuid::Uuid),
    Hash(String),
}

/// An enrollment code as the administrator sees it (never the code: only its hash is kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeInfo {
    /// None for a code made before codes had ids.
    pub id: Option<uuid::Uuid>,
    pub worker: WorkerId,
    pub created_at_ms: u64,
    pub expires_at_ms: u64,
    pub used_at_ms: Option<u64>,
    pub revoked_at_ms: Option<u64>,
}

/// One line of the audit log: who (an administrator, or a device's id), did what, to what
/// (ids only), when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub at_ms: u64,
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

/// A change set aside: acknowledged to its device, kept out of the log.
#[derive(Debug, Clone, PartialEq)]
pub struct SetAsideChange {
    pub change: Change,
    /// `SetAsideReason::as_str`.
    pub reason: String,
    pub received_at_ms: u64,
}

/// A citizen's profile as the administrator enters it. The server writes it as its own field
/// changes, so it reaches devices through the log like any edit and merges with edits made there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CitizenProfile {
    pub display_name: String,
    pub birth_year: Option<i64>,
    /// `child`, `adolescent` or `adult`.
    pub age_band: String,
    pub case_reference: Option<String>,
    /// The day the support started (`YYYY-MM-DD`): a paper form dated before it is refused.
    pub support_started: Option<String>,
}

impl CitizenProfile {
    /// An adult known by `display_name` only.
    pub fn adult(display_name: &str) -> CitizenProfile {
        CitizenProfile {
            display_name: display_name.to_owned(),
            birth_year: None,
            age_band: "adult".into(),
            case_reference: None,
            support_started: None,
        }
    }

    /// The field changes that carry this profile, each checked as a device's would be.
    pub fn fields(&self, citizen: CitizenId) -> Result<Vec<ChangeBody>, StoreError> {
        let entity = Entity::Citizen { citizen };
        let values = [
            (FieldName::DisplayName, serde_json::json!(self.display_name)),
            (FieldName::AgeBand, serde_json::json!(self.age_band)),
            (FieldName::BirthYear, serde_json::json!(self.birth_year)),
            (FieldName::CaseReference, serde_json::json!(self.case_reference)),
            (FieldName::SupportStarted, serde_json::json!(self.support_started)),
        ];
        values
            .into_iter()
            .filter(|(_, value)| !value.is_null())
            .map(|(field, value)| {
                field
                    .check(&entity, &value)
                    .map_err(|e| StoreError::refused(ErrorCode::FieldInvalid, e.to_string()))?;
                Ok(ChangeBody::FieldSet { entity, field, value, base: None })
            })
            .collect()
    }
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
    ) -> impl Future<Output = Result<Enrolled, StoreError>> + Send;

    /// The device a token (by hash) belongs to; an unknown token, a replaced one past its grace
    /// period, a revoked device or a deactivated worker's is refused. The first use of a device's
    /// next token makes it the current one (`rules::token`).
    fn authenticate(
        &self,
        token_hash: String,
        now_ms: u64,
        policy: TokenPolicy,
    ) -> impl Future<Output = Result<DeviceAuth, StoreError>> + Send;

    /// Issues the next token of a device whose current token is `current_hash`: stores
    /// `next_hash` made with `fresh_salt` unless a next token was issued already, and returns the
    /// salt in force (the caller derives the token from it), or `None` when `current_hash` is no
    /// longer the device's current token.
    fn rotate_token(
        &self,
        device: DeviceId,
        current_hash: String,
        fresh_salt: String,
        next_hash: String,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;

    /// Applies a checked batch all or nothing and reads the next page past the cursor.
    fn sync(
        &self,
        auth: DeviceAuth,
        request: SyncRequest,
        pull_limit: usize,
        now_ms: u64,
    ) -> impl Future<Output = Result<SyncResponse, StoreError>> + Send;

    fn create_team(&self, team: TeamId, name: String) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn create_worker(
        &self,
        worker: WorkerId,
        team: TeamId,
        name: String,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Creates a citizen and logs its profile as the server's own changes.
    fn create_citizen(
        &self,
        citizen: CitizenId,
        team: TeamId,
        profile: CitizenProfile,
        now_ms: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Puts a citizen in a worker's caseload, taking it out of any other, at a new log position:
    /// the new worker's devices then receive the citizen's whole history, and the old worker's
    /// devices hear that the citizen left (after their pending changes for it are pushed).
    fn assign(
        &self,
        citizen: CitizenId,
        worker: WorkerId,
        now_ms: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Stores a code (by hash) for an active worker, valid for a week at most
    /// (`rules::admit_code`); returns the code's id.
    fn create_enrollment_code(
        &self,
        code_hash: String,
        worker: WorkerId,
        now_ms: u64,
        expires_at_ms: u64,
    ) -> impl Future<Output = Result<uuid::Uuid, StoreError>> + Send;
    /// Revokes a code: it enrolls nothing from now on (`enroll.code_revoked`).
    fn revoke_enrollment_code(&self, code: CodeRef, now_ms: u64)
    -> impl Future<Output = Result<(), StoreError>> + Send;
    fn enrollment_codes(&self) -> impl Future<Output = Result<Vec<CodeInfo>, StoreError>> + Send;
    /// Deactivates a worker (their devices are refused with `worker.deactivated` and no code
    /// enrolls for them) or makes them active again.
    fn set_worker_active(
        &self,
        worker: WorkerId,
        active: bool,
        now_ms: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Sets a team's well-being schedule (checked by the caller with `Schedule::check`).
    fn set_team_schedule(
        &self,
        team: TeamId,
        schedule: fit_core::Schedule,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The well-being schedule of a worker's team; `None` while the team has not set one.
    fn team_schedule(
        &self,
        worker: WorkerId,
    ) -> impl Future<Output = Result<Option<fit_core::Schedule>, StoreError>> + Send;
    fn devices(&self) -> impl Future<Output = Result<Vec<DeviceInfo>, StoreError>> + Send;
    fn revoke(&self, device: DeviceId, now_ms: u64) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The audit log, oldest first.
    fn audit_log(&self) -> impl Future<Output = Result<Vec<AuditEntry>, StoreError>> + Send;
    /// Every change in the log, in order (for exports and for tests that compare stores).
    fn changes(&self) -> impl Future<Output = Result<Vec<Change>, StoreError>> + Send;
    fn conflicts(&self) -> impl Future<Output = Result<Vec<Conflict>, StoreError>> + Send;
    /// The changes acknowledged but kept out of the log (`rules::push::SetAsideReason`), in the
    /// order received, for the administrator.
    fn set_aside(&self) -> impl Future<Output = Result<Vec<SetAsideChange>, StoreError>> + Send;
    /// Every scale pack installed, oldest first (`rules::packs::served` makes the current ones).
    fn scale_packs(&self) -> impl Future<Output = Result<Vec<StoredPack>, StoreError>> + Send;
    /// Stores a pack admitted by `fit_core::ScaleSet::admit` (see `crate::install_pack`).
    fn install_pack(&self, pack: StoredPack, now_ms: u64) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Records who did what to which record (exports, admin commands). `subject` names no person.
    fn audit(
        &self,
        actor: String,
        action: String,
        subject: String,
        now_ms: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// A device's row as `authenticate` reads it in either backend: (device id, worker id, since when
/// its token is current) with whether it is served, and its tokens.
pub(crate) type AuthRow = (crate::rules::DeviceRow<(String, String, i64)>, crate::rules::token::Tokens);

pub(crate) fn no_such_code() -> StoreError {
    StoreError::refused(ErrorCode::EnrollCodeInvalid, "no such enrollment code")
}

pub(crate) fn no_such_team() -> StoreError {
    StoreError::refused(ErrorCode::TeamUnknown, "no such team")
}

pub(crate) fn no_such_worker() -> StoreError {
    StoreError::refused(ErrorCode::WorkerUnknown, "no such worker")
}

/// The `kind` column of the change log: the body's type, as on the wire.
pub fn kind(body: &ChangeBody) -> &'static str {
    match body {
        ChangeBody::VisitStarted { .. } => "visit_started",
        ChangeBody::VisitClosed { .. } => "visit_closed",
        ChangeBody::ResponseRecorded { .. } => "response_recorded",
        ChangeBody::NoteWritten { .. } => "note_written",
        ChangeBody::FieldSet { .. } => "field_set",
    }
}

/// The answer to a sync: the sequence acknowledged and the page, its bodies (the changes as
/// logged, in JSON) decoded.
pub(crate) fn answer(page: Page<String>, acknowledged_seq: u64, now_ms: u64) -> Result<SyncResponse, StoreError> {
    let changes = page
        .rows
        .into_iter()
        .filter_map(|row| Some((row.position, row.body?)))
        .map(|(position, body)| Ok(LoggedChange { position, change: serde_json::from_str(&body)? }))
        .collect::<Result<_, StoreError>>()?;
    Ok(SyncResponse {
        protocol: PROTOCOL_VERSION,
        acknowledged_seq,
        changes,
        cursor: page.cursor,
        more: page.more,
        removed_citizens: page.removed,
        server_time_ms: now_ms,
        new_token: None,
        wellbeing_schedule: None,
        packs_tag: None,
    })
}
