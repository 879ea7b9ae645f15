//! The error vocabulary of FIT Field: every code a server, a device or the app's boundary can
//! answer, one enum serialised as the stable strings of `docs/protocol.md`. The server maps its
//! refusals to these, the device maps the server's answers from them, and the UI has a text in
//! Danish and English for each.

use fit_core::response::ResponseError;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// Declares `ErrorCode` from one list of variants and their codes, so the enum, its strings and
/// the list of every code cannot drift apart. (strum could give the strings and the list, but
/// serde would then need every code written a second time.)
macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident = $code:literal,)*) => {
        /// A stable error code. On the wire and at the app's boundary it is the string.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, TS)]
        pub enum ErrorCode {
            $($(#[$doc])* #[serde(rename = $code)] $variant,)*
            /// A code this build does not know (a newer server's): the message says what it is.
            #[serde(other, rename = "unknown")]
            Unknown,
        }

        impl ErrorCode {
            /// Every code this build knows, in the order declared.
            pub const ALL: &[ErrorCode] = &[$(ErrorCode::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)*
                    ErrorCode::Unknown => "unknown",
                }
            }
        }
    };
}

error_codes! {
    // The HTTP surface.
    RouteNotFound = "route.not_found",
    RouteMethodNotAllowed = "route.method_not_allowed",
    RequestMalformed = "request.malformed",
    RequestTooLarge = "request.too_large",
    RequestEncodingUnsupported = "request.encoding_unsupported",
    /// A number in a request that does not fit the store (a time past the year 292 million).
    RequestOutOfRange = "request.out_of_range",
    ProtocolUnsupported = "protocol.unsupported",
    AuthRequired = "auth.required",
    DeviceRevoked = "device.revoked",
    ServerInternal = "server.internal",
    /// The server is at its limit of requests under way: try again after Retry-After.
    ServerBusy = "server.busy",
    /// Too many requests from one address or one device: try again after Retry-After.
    RateLimited = "rate.limited",
    /// A request (its body included) that did not arrive in time.
    RequestTimeout = "request.timeout",
    // Enrollment.
    EnrollCodeInvalid = "enroll.code_invalid",
    EnrollCodeUsed = "enroll.code_used",
    EnrollCodeExpired = "enroll.code_expired",
    EnrollCodeRevoked = "enroll.code_revoked",
    EnrollDeviceExists = "enroll.device_exists",
    EnrollDeviceInvalid = "enroll.device_invalid",
    // A pushed batch and its changes.
    BatchTooLarge = "batch.too_large",
    BatchSequenceGap = "batch.sequence_gap",
    ChangeWrongDevice = "change.wrong_device",
    ChangeInvalidSeq = "change.invalid_seq",
    ChangeSchemaUnsupported = "change.schema_unsupported",
    ChangeClockAhead = "change.clock_ahead",
    ChangeInvalidId = "change.invalid_id",
    /// The same sequence number or change id sent before with other content.
    ChangeConflict = "change.conflict",
    CitizenOutOfScope = "citizen.out_of_scope",
    /// A change naming a visit, response or note the server does not hold.
    ReferenceUnknown = "reference.unknown",
    /// A change naming another citizen's record or another worker's visit.
    ReferenceForeign = "reference.foreign",
    /// A visit started in the name of another worker.
    VisitWrongWorker = "visit.wrong_worker",
    /// A time in a change too far from the server's clock to be true (before 2020, or further
    /// ahead than a wrong device clock explains).
    ChangeTimeImplausible = "change.time_implausible",
    /// A pull cursor past the end of the server's log.
    SyncCursorPastEnd = "sync.cursor_past_end",
    NoteInvalid = "note.invalid",
    FieldInvalid = "field.invalid",
    ResponseUnknownScale = "response.unknown_scale",
    ResponseUnknownItem = "response.unknown_item",
    ResponseDuplicateItem = "response.duplicate_item",
    ResponseMissingItem = "response.missing_item",
    ResponseNotAnInteger = "response.not_an_integer",
    ResponseOutOfRange = "response.out_of_range",
    ResponseNotAnOption = "response.not_an_option",
    ResponseInvalidScaleVersion = "response.invalid_scale_version",
    /// A correction without its reason or the response it supersedes, or one whose content does
    /// not fit its reason (a wrong mark withdrawn, a wrong citizen given marks).
    ResponseCorrectionInvalid = "response.correction_invalid",
    /// A correction of a response the device does not hold, or of one already corrected.
    ResponseNotCorrectable = "response.not_correctable",
    /// The date on a paper form is after today.
    PaperDateFuture = "paper.date_future",
    /// The date on a paper form is more than 90 days back.
    PaperDateTooOld = "paper.date_too_old",
    /// The date on a paper form is before the citizen's support started.
    PaperDateBeforeSupport = "paper.date_before_support",
    // Scale packs (`fit-server install-pack`, and the packs a device fetches at sync).
    /// A pack broken in itself: the message names the file and the field.
    PackInvalid = "pack.invalid",
    /// A pack under the version of the installed pack of its scale, with other content.
    PackVersionReused = "pack.version_reused",
    /// A new version of an installed scale that changes its kind, population, items or scoring.
    PackChanged = "pack.changed",
    // The administrator's commands.
    AdminConstraint = "admin.constraint",
    DeviceUnknown = "device.unknown",
    /// An enrollment code valid for less than an hour or more than a week.
    AdminCodeValidity = "admin.code_validity",
    WorkerUnknown = "worker.unknown",
    TeamUnknown = "team.unknown",
    /// The device's worker has been deactivated: sync stops, the device keeps its data.
    WorkerDeactivated = "worker.deactivated",
    // The device's sync engine.
    SyncOffline = "sync.offline",
    SyncBusy = "sync.busy",
    /// An answer that is not what the protocol says (not JSON, or cut short).
    SyncGarbledAnswer = "sync.garbled_answer",
    /// A server address the device will not send to: plain `http://` to another machine.
    SyncInsecureUrl = "sync.insecure_url",
    DeviceNotEnrolled = "device.not_enrolled",
    // The device's services.
    DeviceLocked = "device.locked",
    DeviceUnavailable = "device.unavailable",
    CitizenNotInCaseload = "citizen.not_in_caseload",
    VisitNotFound = "visit.not_found",
    VisitClosed = "visit.closed",
    VisitNotEmpty = "visit.not_empty",
    InputInvalid = "input.invalid",
    ScaleUnknown = "scale.unknown",
    // The device's store and its key.
    StoreNotSetUp = "store.not_set_up",
    StoreAlreadySetUp = "store.already_set_up",
    StoreWiped = "store.wiped",
    StoreDamaged = "store.damaged",
    StoreIo = "store.io",
    StoreWrongKey = "store.wrong_key",
    StoreDatabase = "store.database",
    StoreInvalid = "store.invalid",
    StoreNotFound = "store.not_found",
    StoreRolledBack = "store.rolled_back",
    PinTooShort = "pin.too_short",
    PinWrong = "pin.wrong",
    PinTooSoon = "pin.too_soon",
    // Citizen mode and the app shell.
    CitizenModeActive = "citizen_mode.active",
    CitizenModeOff = "citizen_mode.off",
    CitizenModeDone = "citizen_mode.done",
    /// Too many wrong PINs at the hand-back from citizen mode: the app locked (nothing erased).
    CitizenModeLocked = "citizen_mode.locked",
    AppInternal = "app.internal",
    /// The device has no speech engine that can read aloud (none installed, or it did not start).
    SpeechUnavailable = "speech.unavailable",
    /// The web view could not reach the app's commands (said by the UI itself).
    AppIpc = "app.ipc",
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl From<&ResponseError> for ErrorCode {
    fn from(error: &ResponseError) -> ErrorCode {
        match error {
            ResponseError::UnknownScale(_) => ErrorCode::ResponseUnknownScale,
            ResponseError::UnknownItem { .. } => ErrorCode::ResponseUnknownItem,
            ResponseError::DuplicateItem { .. } => ErrorCode::ResponseDuplicateItem,
            ResponseError::MissingItem { .. } => ErrorCode::ResponseMissingItem,
            ResponseError::NotAnInteger { .. } => ErrorCode::ResponseNotAnInteger,
            ResponseError::OutOfRange { .. } => ErrorCode::ResponseOutOfRange,
            ResponseError::NotAnOption { .. } => ErrorCode::ResponseNotAnOption,
        }
    }
}

impl From<&fit_core::PaperDateError> for ErrorCode {
    fn from(error: &fit_core::PaperDateError) -> ErrorCode {
        match error {
            fit_core::PaperDateError::Future => ErrorCode::PaperDateFuture,
            fit_core::PaperDateError::TooOld => ErrorCode::PaperDateTooOld,
            fit_core::PaperDateError::BeforeSupport => ErrorCode::PaperDateBeforeSupport,
        }
    }
}

impl From<&fit_core::PackError> for ErrorCode {
    fn from(error: &fit_core::PackError) -> ErrorCode {
        match error.problem {
            fit_core::PackProblem::VersionReused(_) => ErrorCode::PackVersionReused,
            fit_core::PackProblem::Changed { .. } => ErrorCode::PackChanged,
            _ => ErrorCode::PackInvalid,
        }
    }
}

#[cfg(test)]
mod tests {
    use fit_core::ScaleSet;
    use fit_core::response::{MarkedBy, RawAnswer, ResponseContent, ResponseInput, validate_response};
    use rstest::rstest;
    use serde_json::{Value, json};

    use super::*;

    #[test]
    fn every_code_round_trips_through_its_string() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), *code);
        }
        let mut strings: Vec<_> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        strings.sort_unstable();
        strings.dedup();
        assert_eq!(strings.len(), ErrorCode::ALL.len(), "every code is a different string");
    }

    #[test]
    fn a_code_from_a_newer_server_reads_as_unknown() {
        assert_eq!(serde_json::from_str::<ErrorCode>("\"team.gone\"").unwrap(), ErrorCode::Unknown);
    }

    fn check_first_ors_item(first: Value) -> Result<i64, ErrorCode> {
        let answers = ["individually", "interpersonally", "socially", "overall"]
            .into_iter()
            .zip([first, json!(50), json!(50), json!(50)])
            .map(|(item, value)| RawAnswer { item: item.into(), value })
            .collect();
        let input = ResponseInput {
            scale: "ors".into(),
            content: ResponseContent::Given { marked_by: MarkedBy::CitizenOnDevice, answers },
        };
        let scales = ScaleSet::built_in().unwrap();
        validate_response(&scales, &input).map(|r| r.total().unwrap().raw).map_err(|e| ErrorCode::from(&e))
    }

    #[rstest]
    #[case::zero_is_the_lowest_mark(json!(0), Ok(150))]
    #[case::one_hundred_tenths_is_the_highest_mark(json!(100), Ok(250))]
    #[case::minus_one_is_below_the_line(json!(-1), Err("response.out_of_range"))]
    #[case::one_hundred_and_one_tenths_is_beyond_the_line(json!(101), Err("response.out_of_range"))]
    #[case::a_number_too_large_for_any_integer_is_out_of_range(json!(u64::MAX), Err("response.out_of_range"))]
    #[case::ten_and_a_half_as_a_float_is_not_tenths(json!(10.5), Err("response.not_an_integer"))]
    #[case::a_whole_float_is_refused_too(json!(57.0), Err("response.not_an_integer"))]
    #[case::a_number_in_a_string_is_refused(json!("57"), Err("response.not_an_integer"))]
    #[case::null_is_refused(json!(null), Err("response.not_an_integer"))]
    #[case::a_boolean_is_refused(json!(true), Err("response.not_an_integer"))]
    fn a_vas_answer_must_be_integer_tenths_from_0_to_100(#[case] value: Value, #[case] expected: Result<i64, &str>) {
        assert_eq!(check_first_ors_item(value).map_err(ErrorCode::as_str), expected);
    }

    #[test]
    fn a_who5_answer_that_is_not_an_option_has_its_code() {
        let answers = ["cheerful", "calm", "active", "rested", "interest"]
            .into_iter()
            .zip([5, 5, 6, 5, 5])
            .map(|(item, value)| RawAnswer { item: item.into(), value: value.into() })
            .collect();
        let input = ResponseInput {
            scale: "who5".into(),
            content: ResponseContent::Given { marked_by: MarkedBy::CitizenOnDevice, answers },
        };
        let error = validate_response(&ScaleSet::built_in().unwrap(), &input).unwrap_err();
        assert_eq!(ErrorCode::from(&error), "response.not_an_option");
    }
}
