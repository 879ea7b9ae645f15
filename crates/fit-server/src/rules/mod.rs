//! The server's sync rules, apart from any database: whether a pushed batch is accepted and what
//! it adds to the log (`push`), and what a pull page holds (`pull`). Each rule is a function of
//! the data a backend has read, returning a plan that the backend writes as it is: nothing here
//! does I/O, reads a clock or awaits, so the SQLite and PostgreSQL backends cannot come to
//! disagree, and the rules are table-tested without a database.

pub mod pull;
pub mod push;
pub mod refs;

use fit_core::ids::ChangeId;
use fit_protocol::ErrorCode;

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
    #[error("this device is enrolled already")]
    EnrollDeviceExists,
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
            Refusal::EnrollDeviceExists => ErrorCode::EnrollDeviceExists,
        }
    }
}

/// A device's row as a backend read it: what the caller needs from it, and whether the device
/// has been revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceRow<T> {
    pub data: T,
    pub revoked: bool,
}

/// Only a device the server knows and has not revoked is served; a revoked one is told so, so
/// that it wipes itself (a stolen device must not upload).
pub fn admit<T>(row: Option<DeviceRow<T>>) -> Result<T, Refusal> {
    match row {
        None => Err(Refusal::UnknownDevice),
        Some(DeviceRow { revoked: true, .. }) => Err(Refusal::Revoked),
        Some(DeviceRow { data, revoked: false }) => Ok(data),
    }
}

/// An enrollment code as a backend read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnrollmentCode<T> {
    /// The worker the code enrolls a device for.
    pub worker: T,
    pub expires_at_ms: u64,
    pub used: bool,
}

/// A code enrolls one device, before it expires, and a device is enrolled once: the worker to
/// enroll for, or why not.
pub fn admit_enrollment<T>(code: Option<EnrollmentCode<T>>, device_known: bool, now_ms: u64) -> Result<T, Refusal> {
    match code {
        None => Err(Refusal::EnrollCodeInvalid),
        Some(EnrollmentCode { used: true, .. }) => Err(Refusal::EnrollCodeUsed),
        Some(code) if code.expires_at_ms <= now_ms => Err(Refusal::EnrollCodeExpired),
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
    #[case::revoked(Some(DeviceRow { data: 7, revoked: true }), Err(Refusal::Revoked))]
    #[case::enrolled(Some(DeviceRow { data: 7, revoked: false }), Ok(7))]
    fn only_a_known_device_that_is_not_revoked_is_served(
        #[case] row: Option<DeviceRow<u64>>,
        #[case] expected: Result<u64, Refusal>,
    ) {
        assert_eq!(admit(row), expected);
    }

    const CODE: EnrollmentCode<u64> = EnrollmentCode { worker: 7, expires_at_ms: 1_000, used: false };

    #[rstest]
    #[case::unknown_code(None, false, 10, Err(Refusal::EnrollCodeInvalid))]
    #[case::used(Some(EnrollmentCode { used: true, ..CODE }), false, 10, Err(Refusal::EnrollCodeUsed))]
    #[case::expired(Some(CODE), false, 1_000, Err(Refusal::EnrollCodeExpired))]
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
