//! The server's sync rules, apart from any database: whether a pushed batch is accepted and what
//! it adds to the log (`push`), and what a pull page holds (`pull`). Each rule is a function of
//! the data a backend has read, returning a plan that the backend writes as it is: nothing here
//! does I/O, reads a clock or awaits, so the SQLite and PostgreSQL backends cannot come to
//! disagree, and the rules are table-tested without a database. The administrator's rules live
//! here too: who is served (`admit`), what a code enrolls (`admit_enrollment`, `code_expiry`),
//! what a pull leaves in the audit log (`pull_audit`), device tokens (`token`), and which scale
//! packs are served (`packs`).

pub mod packs;
pub mod pull;
pub mod push;
pub mod refs;
pub mod token;

use std::collections::BTreeSet;

use fit_core::ids::ChangeId;
use fit_protocol::{ErrorCode, SyncResponse};

/// The largest number the log holds: both backends keep signed 64-bit integers.
pub const LOG_INT_MAX: u64 = i64::MAX as u64;

/// Why the rules refuse a request. Each has its stable code; the messages are the ones devices
/// have always received (the malformed-input corpus holds them to it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("a valid device token is needed")]
    UnknownDevice,
    #[error("this device has been revoked")]
    Revoked,
    /// A sequence number the log holds, sent again with other content.
    #[error("seq {seq} was sent before with other content")]
    ChangedReplay { seq: u64 },
    /// A new change under an id the log (or the batch) holds already.
    #[error("change id {id} was sent before with other content")]
    ReusedId { id: ChangeId },
    #[error("change {index}: expected seq {expected}, got {got}: changes are missing before it")]
    SequenceGap { index: usize, expected: u64, got: u64 },
    #[error("this citizen is not in the caseload of this device's worker")]
    OutOfScope,
    #[error("change {index}: {value} is too large")]
    OutOfRange { index: usize, value: u64 },
    /// A change that names a visit, response or note the server does not hold.
    #[error("change {index}: {what} is not known to the server")]
    UnknownReference { index: usize, what: String },
    /// A change that names another citizen's record, or another worker's visit.
    #[error("change {index}: {what} belongs to another citizen or worker")]
    ForeignReference { index: usize, what: String },
    #[error("the cursor {cursor} lies past the end of the server's log ({log_end})")]
    CursorPastEnd { cursor: u64, log_end: u64 },
    /// A visit started in the name of another worker.
    #[error("change {index}: a visit is started in the name of the device's own worker")]
    WrongWorker { index: usize },
    #[error("this enrollment code is not valid")]
    EnrollCodeInvalid,
    #[error("this enrollment code has been used already")]
    EnrollCodeUsed,
    #[error("this enrollment code has expired")]
    EnrollCodeExpired,
    #[error("this enrollment code has been revoked")]
    EnrollCodeRevoked,
    #[error("this device is enrolled already")]
    EnrollDeviceExists,
    /// The device's worker no longer works here: nothing is accepted or sent, nothing is erased.
    #[error("this device's worker has been deactivated; the work on the device is kept, ask the administrator")]
    WorkerDeactivated,
    #[error("an enrollment code is valid for 1 to {ENROLLMENT_CODE_VALID_HOURS_MAX} hours")]
    CodeValidity,
}

impl Refusal {
    pub fn code(&self) -> ErrorCode {
        match self {
            Refusal::UnknownDevice => ErrorCode::AuthRequired,
            Refusal::Revoked => ErrorCode::DeviceRevoked,
            Refusal::ChangedReplay { .. } | Refusal::ReusedId { .. } => ErrorCode::ChangeConflict,
            Refusal::SequenceGap { .. } => ErrorCode::BatchSequenceGap,
            Refusal::OutOfScope => ErrorCode::CitizenOutOfScope,
            Refusal::OutOfRange { .. } => ErrorCode::RequestOutOfRange,
            Refusal::UnknownReference { .. } => ErrorCode::ReferenceUnknown,
            Refusal::ForeignReference { .. } => ErrorCode::ReferenceForeign,
            Refusal::WrongWorker { .. } => ErrorCode::VisitWrongWorker,
            Refusal::CursorPastEnd { .. } => ErrorCode::SyncCursorPastEnd,
            Refusal::EnrollCodeInvalid => ErrorCode::EnrollCodeInvalid,
            Refusal::EnrollCodeUsed => ErrorCode::EnrollCodeUsed,
            Refusal::EnrollCodeExpired => ErrorCode::EnrollCodeExpired,
            Refusal::EnrollCodeRevoked => ErrorCode::EnrollCodeRevoked,
            Refusal::EnrollDeviceExists => ErrorCode::EnrollDeviceExists,
            Refusal::WorkerDeactivated => ErrorCode::WorkerDeactivated,
            Refusal::CodeValidity => ErrorCode::AdminCodeValidity,
        }
    }
}

/// The longest an enrollment code stays valid: a week. A code is a credential in a message or on
/// paper; one that lives for months is one someone else finds.
pub const ENROLLMENT_CODE_VALID_HOURS_MAX: u64 = 7 * 24;
const HOUR_MS: u64 = 3_600_000;

/// A device's row as a backend read it: what the caller needs from it, whether the device has
/// been revoked, and whether its worker has been deactivated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceRow<T> {
    pub data: T,
    pub revoked: bool,
    pub worker_deactivated: bool,
}

/// Only a device the server knows and has not revoked, of a worker who is active, is served. A
/// revoked one is told so, so that it wipes itself (a stolen device must not upload); a
/// deactivated worker's device is told so too, and keeps what it holds: it may hold work not yet
/// synced, which must not vanish because someone left (revoke the device to erase it).
pub fn admit<T>(row: Option<DeviceRow<T>>) -> Result<T, Refusal> {
    match row {
        None => Err(Refusal::UnknownDevice),
        Some(DeviceRow { revoked: true, .. }) => Err(Refusal::Revoked),
        Some(DeviceRow { worker_deactivated: true, .. }) => Err(Refusal::WorkerDeactivated),
        Some(DeviceRow { data, .. }) => Ok(data),
    }
}

/// When a code made at `now_ms` for `valid_hours` expires: from 1 hour to a week.
pub fn code_expiry(now_ms: u64, valid_hours: u64) -> Result<u64, Refusal> {
    if !(1..=ENROLLMENT_CODE_VALID_HOURS_MAX).contains(&valid_hours) {
        return Err(Refusal::CodeValidity);
    }
    now_ms.checked_add(valid_hours * HOUR_MS).ok_or(Refusal::CodeValidity)
}

/// Whether a code may be stored: for an active worker, and expiring at most a week after it is
/// made (the store holds to this whoever calls it, not only the command line).
pub fn admit_code(created_at_ms: u64, expires_at_ms: u64, worker_deactivated: bool) -> Result<(), Refusal> {
    if worker_deactivated {
        return Err(Refusal::WorkerDeactivated);
    }
    let longest = created_at_ms.saturating_add(ENROLLMENT_CODE_VALID_HOURS_MAX * HOUR_MS);
    if expires_at_ms > longest { Err(Refusal::CodeValidity) } else { Ok(()) }
}

/// What the audit log says about a page sent to a device: how many changes and which citizens
/// (ids only, never a name or a note), or nothing when the page was empty.
pub fn pull_audit(response: &SyncResponse) -> Option<String> {
    if response.changes.is_empty() {
        return None;
    }
    let citizens: BTreeSet<String> = response.changes.iter().map(|c| c.change.citizen().to_string()).collect();
    let ids: Vec<String> = citizens.into_iter().collect();
    Some(format!("{} changes about {} citizens: {}", response.changes.len(), ids.len(), ids.join(",")))
}

/// An enrollment code as a backend read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnrollmentCode<T> {
    /// The worker the code enrolls a device for.
    pub worker: T,
    pub expires_at_ms: u64,
    pub used: bool,
    pub revoked: bool,
    pub worker_deactivated: bool,
}

/// A code enrolls one device, before it expires or is revoked, for a worker who is active, and a
/// device is enrolled once: the worker to enroll for, or why not.
pub fn admit_enrollment<T>(code: Option<EnrollmentCode<T>>, device_known: bool, now_ms: u64) -> Result<T, Refusal> {
    match code {
        None => Err(Refusal::EnrollCodeInvalid),
        Some(EnrollmentCode { revoked: true, .. }) => Err(Refusal::EnrollCodeRevoked),
        Some(EnrollmentCode { used: true, .. }) => Err(Refusal::EnrollCodeUsed),
        Some(code) if code.expires_at_ms <= now_ms => Err(Refusal::EnrollCodeExpired),
        Some(EnrollmentCode { worker_deactivated: true, .. }) => Err(Refusal::WorkerDeactivated),
        Some(_) if device_known => Err(Refusal::EnrollDeviceExists),
        Some(code) => Ok(code.worker),
    }
}

/// Whether assigning a citizen to `worker` moves it: assigning it to the worker who has it
/// changes nothing (no caseload event, no log position).
pub fn assignment_moves(previous: Option<&str>, worker: &str) -> bool {
    previous != Some(worker)
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case::unknown(None, Err(Refusal::UnknownDevice))]
    #[case::revoked(Some(DeviceRow { data: 7, revoked: true, worker_deactivated: false }), Err(Refusal::Revoked))]
    #[case::revoked_and_deactivated(Some(DeviceRow { data: 7, revoked: true, worker_deactivated: true }), Err(Refusal::Revoked))]
    #[case::deactivated(Some(DeviceRow { data: 7, revoked: false, worker_deactivated: true }), Err(Refusal::WorkerDeactivated))]
    #[case::enrolled(Some(DeviceRow { data: 7, revoked: false, worker_deactivated: false }), Ok(7))]
    fn only_a_known_device_that_is_not_revoked_is_served(
        #[case] row: Option<DeviceRow<u64>>,
        #[case] expected: Result<u64, Refusal>,
    ) {
        assert_eq!(admit(row), expected);
    }

    const CODE: EnrollmentCode<u64> =
        EnrollmentCode { worker: 7, expires_at_ms: 1_000, used: false, revoked: false, worker_deactivated: false };

    #[rstest]
    #[case::unknown_code(None, false, 10, Err(Refusal::EnrollCodeInvalid))]
    #[case::used(Some(EnrollmentCode { used: true, ..CODE }), false, 10, Err(Refusal::EnrollCodeUsed))]
    #[case::expired(Some(CODE), false, 1_000, Err(Refusal::EnrollCodeExpired))]
    #[case::revoked(Some(EnrollmentCode { revoked: true, ..CODE }), false, 10, Err(Refusal::EnrollCodeRevoked))]
    #[case::revoked_and_used(Some(EnrollmentCode { revoked: true, used: true, ..CODE }), false, 10, Err(Refusal::EnrollCodeRevoked))]
    #[case::worker_deactivated(Some(EnrollmentCode { worker_deactivated: true, ..CODE }), false, 10, Err(Refusal::WorkerDeactivated))]
    #[case::device_known(Some(CODE), true, 10, Err(Refusal::EnrollDeviceExists))]
    #[case::fresh(Some(CODE), false, 999, Ok(7))]
    fn a_code_enrolls_one_new_device_before_it_expires(
        #[case] code: Option<EnrollmentCode<u64>>,
        #[case] device_known: bool,
        #[case] now_ms: u64,
        #[case] expected: Result<u64, Refusal>,
    ) {
        assert_eq!(admit_enrollment(code, device_known, now_ms), expected);
    }

    #[rstest]
    #[case::zero_hours(0, Err(Refusal::CodeValidity))]
    #[case::one_hour(1, Ok(HOUR_MS))]
    #[case::a_week(168, Ok(168 * HOUR_MS))]
    #[case::a_week_and_an_hour(169, Err(Refusal::CodeValidity))]
    #[case::overflowing(u64::MAX, Err(Refusal::CodeValidity))]
    fn a_code_is_valid_for_an_hour_to_a_week(#[case] hours: u64, #[case] expected: Result<u64, Refusal>) {
        assert_eq!(code_expiry(0, hours), expected);
    }

    #[rstest]
    #[case::a_week(168 * HOUR_MS, false, Ok(()))]
    #[case::born_expired(0, false, Ok(()))]
    #[case::a_week_and_a_millisecond(168 * HOUR_MS + 1, false, Err(Refusal::CodeValidity))]
    #[case::for_a_deactivated_worker(HOUR_MS, true, Err(Refusal::WorkerDeactivated))]
    fn the_store_keeps_only_codes_of_a_week_at_most_for_active_workers(
        #[case] expires: u64,
        #[case] deactivated: bool,
        #[case] expected: Result<(), Refusal>,
    ) {
        assert_eq!(admit_code(0, expires, deactivated), expected);
    }

    #[test]
    fn a_pull_is_audited_by_counts_and_citizen_ids_only() {
        let id = |n: u8| uuid::Builder::from_unix_timestamp_millis(1_795_392_000_000, &[n; 10]).into_uuid();
        let (device, worker) = (id(1).into(), id(2).into());
        let (anna, bo): (fit_core::ids::CitizenId, fit_core::ids::CitizenId) = (id(3).into(), id(4).into());
        let mut changes = fit_protocol::demo::visit_with_ors(device, bo, worker, (1, 1_795_392_000_000), 60);
        changes.extend(fit_protocol::demo::visit_with_ors(device, anna, worker, (3, 1_795_392_000_000), 70));
        let logged = changes.into_iter().enumerate();
        let mut response = SyncResponse {
            protocol: 1,
            acknowledged_seq: 0,
            changes: logged.map(|(i, change)| fit_protocol::LoggedChange { position: i as u64 + 1, change }).collect(),
            cursor: 4,
            more: false,
            removed_citizens: Vec::new(),
            server_time_ms: 0,
            new_token: None,
            wellbeing_schedule: None,
            packs_tag: None,
        };
        let (first, second) = if anna.to_string() < bo.to_string() { (anna, bo) } else { (bo, anna) };
        assert_eq!(pull_audit(&response), Some(format!("4 changes about 2 citizens: {first},{second}")));
        response.changes.clear();
        assert_eq!(pull_audit(&response), None, "an empty page leaves no line");
    }

    #[test]
    fn assigning_a_citizen_to_the_worker_who_has_it_moves_nothing() {
        assert!(!assignment_moves(Some("w1"), "w1"));
        assert!(assignment_moves(Some("w1"), "w2"));
        assert!(assignment_moves(None, "w1"));
    }

    #[rstest]
    #[case(Refusal::UnknownDevice, "auth.required", "a valid device token is needed")]
    #[case(Refusal::Revoked, "device.revoked", "this device has been revoked")]
    #[case(Refusal::ChangedReplay { seq: 3 }, "change.conflict", "seq 3 was sent before with other content")]
    #[case(
        Refusal::SequenceGap { index: 2, expected: 4, got: 6 },
        "batch.sequence_gap",
        "change 2: expected seq 4, got 6: changes are missing before it"
    )]
    #[case(Refusal::OutOfScope, "citizen.out_of_scope", "this citizen is not in the caseload of this device's worker")]
    #[case(Refusal::OutOfRange { index: 0, value: u64::MAX }, "request.out_of_range", "change 0: 18446744073709551615 is too large")]
    fn each_refusal_has_its_code_and_message(#[case] refusal: Refusal, #[case] code: &str, #[case] message: &str) {
        assert_eq!((refusal.code().as_str(), refusal.to_string().as_str()), (code, message));
    }
}
