//! Sync v1: one request pushes the next batch of a device's outbox and pulls the next page of
//! the server's change log past the device's cursor. A sync with nothing to do is one small
//! request. Every request states its protocol version; the server answers a version it does not
//! speak with `protocol.unsupported` and the range it does.

use fit_core::ids::{ChangeId, CitizenId, DeviceId, TeamId, WorkerId};
use serde::{Deserialize, Serialize};

use crate::change::Change;
use crate::error::ErrorCode;

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;
/// The oldest protocol version this build's server still accepts.
pub const PROTOCOL_VERSION_MIN: u32 = 1;

/// Changes in one pushed batch: a night's work for one worker fits in a few batches, and a
/// batch applies in one server transaction, so it stays well under the request size limits.
pub const PUSH_CHANGES_MAX: usize = 500;
/// Changes in one pulled page, for the same reasons.
pub const PULL_CHANGES_MAX: usize = 1_000;
/// Largest request body on the wire (compressed).
pub const BODY_BYTES_MAX: usize = 1024 * 1024;
/// Largest request body after decompression: bounds what a zstd bomb can expand to.
pub const BODY_DECOMPRESSED_BYTES_MAX: usize = 8 * 1024 * 1024;
/// Longest one-time enrollment code.
pub const ENROLLMENT_CODE_LEN_MAX: usize = 64;

/// What a device sends to sync.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncRequest {
    pub protocol: u32,
    /// The next changes of the outbox, in sequence order, starting right after the last one the
    /// server acknowledged. May be empty.
    pub push: Vec<Change>,
    /// The device's position in the server's change log: it has applied everything up to here.
    pub cursor: u64,
    /// How many changes the device wants at most in this page (capped at `PULL_CHANGES_MAX`).
    pub pull_limit: u32,
    /// Changes the device pulled and could not apply (set aside in its quarantine), reported once
    /// so the administrator hears of them; at most `QUARANTINE_REPORT_MAX`. Left out when empty,
    /// so a device with nothing to report sends what earlier devices sent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quarantined: Vec<QuarantineReport>,
}

/// A pulled change a device could not apply: its id and the device's code for why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuarantineReport {
    pub change: ChangeId,
    pub code: ErrorCode,
}

/// Most quarantined changes one sync request reports.
pub const QUARANTINE_REPORT_MAX: usize = 100;

/// One change in the server's log, at its position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoggedChange {
    pub position: u64,
    pub change: Change,
}

/// What the server answers to a sync.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncResponse {
    pub protocol: u32,
    /// Every outbox entry up to this sequence number is stored on the server; the device may
    /// drop them. Zero when the server holds nothing from this device.
    pub acknowledged_seq: u64,
    /// Changes past the request's cursor that this device's worker may see.
    pub changes: Vec<LoggedChange>,
    /// The position to send as `cursor` next time; commit it with the changes.
    pub cursor: u64,
    /// True when more changes wait past `cursor`: sync again without waiting.
    pub more: bool,
    /// Citizens that left this worker's caseload: the device removes them once nothing for them
    /// is pending.
    pub removed_citizens: Vec<CitizenId>,
    /// The server's clock, so a device can tell how far off its own is.
    pub server_time_ms: u64,
    /// A new device token, when the one this request used is due to be replaced: the device
    /// stores it before it commits this answer and sends it from the next request on. The old
    /// token works until the new one is first used, and for a grace period after. Absent most of
    /// the time; a device that does not know the field keeps its token, which keeps working.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_token: Option<String>,
    /// The well-being schedule of the worker's team, when the team has set one: the device
    /// keeps it and the caseload's due dates and the visits' plans follow it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wellbeing_schedule: Option<fit_core::Schedule>,
    /// On the last page of a run (`more` false): the tag of the scale packs the server serves
    /// (`GET /api/v1/scale-packs`, whose ETag it is). A device whose stored tag differs fetches
    /// the packs; one whose tag is the same makes no other request. Absent from a server that
    /// predates packs, and on pages with more to come.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packs_tag: Option<String>,
}

/// A device trades a one-time enrollment code for a device token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    pub protocol: u32,
    pub code: String,
    pub device: DeviceId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollResponse {
    pub protocol: u32,
    /// The bearer token for every later request. The server keeps only its hash.
    pub token: String,
    pub worker: WorkerId,
    pub worker_name: String,
    pub team: TeamId,
    pub team_name: String,
}

/// Every error at the boundary: a stable code to switch on and a sentence to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
    /// With `protocol.unsupported`: the versions the server speaks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supported: Option<VersionRange>,
    /// With `change.clock_ahead`: the server's clock and how far ahead of it a change may be.
    /// A change stamped past that was never accepted, so the device may stamp it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<ServerClock>,
}

/// The server's clock when it refused a change stamped too far ahead of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerClock {
    pub server_time_ms: u64,
    pub max_drift_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionRange {
    pub min: u32,
    pub max: u32,
}

#[cfg(test)]
mod tests {
    use fit_core::Hlc;
    use fit_core::ids::{ChangeId, VisitId};

    use super::*;
    use crate::change::ChangeBody;

    fn uuid(n: u8) -> uuid::Uuid {
        uuid::Builder::from_unix_timestamp_millis(1_795_392_000_000, &[n; 10]).into_uuid()
    }

    #[test]
    fn a_sync_request_reads_as_documented() {
        let request = SyncRequest {
            protocol: PROTOCOL_VERSION,
            push: vec![Change {
                id: ChangeId::from(uuid(1)),
                device: DeviceId::from(uuid(2)),
                seq: 1,
                hlc: Hlc::new(1_795_392_000_000, 0),
                device_time_ms: 1_795_392_000_000,
                schema_version: crate::SCHEMA_VERSION,
                body: ChangeBody::VisitClosed {
                    visit: VisitId::from(uuid(3)),
                    citizen: CitizenId::from(uuid(4)),
                    closed_at_ms: 1_795_392_000_000,
                    cancelled: false,
                },
            }],
            cursor: 41,
            pull_limit: 500,
            quarantined: Vec::new(),
        };
        insta::assert_json_snapshot!(request);
        let text = serde_json::to_string(&request).unwrap();
        assert_eq!(serde_json::from_str::<SyncRequest>(&text).unwrap(), request);
    }

    #[test]
    fn an_unknown_field_in_a_request_is_refused() {
        let text = r#"{"protocol":1,"push":[],"cursor":0,"pull_limit":10,"admin":true}"#;
        assert!(serde_json::from_str::<SyncRequest>(text).is_err());
    }

    #[test]
    fn an_unknown_field_inside_a_change_body_is_refused() {
        let body = r#"{"type":"visit_closed","visit":"01a205b3-d000-7303-8303-030303030303",
            "citizen":"01a205b3-d000-7404-8404-040404040404","closed_at_ms":1,"worker":"x"}"#;
        assert!(serde_json::from_str::<ChangeBody>(body).is_err());
        let without_extra = body.replace(r#","worker":"x""#, "");
        assert!(serde_json::from_str::<ChangeBody>(&without_extra).is_ok());
    }
}
