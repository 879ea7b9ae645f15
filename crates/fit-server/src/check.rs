//! Checks of a sync request that need no storage: protocol version, sizes, that a batch is one
//! device's unbroken run of sequence numbers, HLC drift, and each change's content through
//! `Change::check`. Anything refused here is refused before a transaction starts.

use fit_core::ScaleSet;
use fit_core::hlc::{HlcClock, HlcError};
use fit_core::ids::DeviceId;
use fit_protocol::sync::{PULL_CHANGES_MAX, PUSH_CHANGES_MAX, QUARANTINE_REPORT_MAX};
use fit_protocol::{Change, ChangeBody, ServerClock, SyncRequest, VersionRange};

use crate::error::ApiError;
use fit_protocol::ErrorCode;

/// Checks the protocol version a request states against the versions this server accepts.
pub fn check_protocol(protocol: u32, accepted: VersionRange) -> Result<(), ApiError> {
    if (accepted.min..=accepted.max).contains(&protocol) {
        Ok(())
    } else {
        Err(ApiError::ProtocolUnsupported { requested: protocol, supported: accepted })
    }
}

/// Checks a sync request from `device` at server time `now_ms`; returns the pull limit to use.
pub fn check_sync_request(
    request: &SyncRequest,
    device: DeviceId,
    scales: &ScaleSet,
    clock: &HlcClock,
    now_ms: u64,
    accepted: VersionRange,
) -> Result<usize, ApiError> {
    check_protocol(request.protocol, accepted)?;
    if request.push.len() > PUSH_CHANGES_MAX {
        return Err(ApiError::invalid(
            ErrorCode::BatchTooLarge,
            format!("at most {PUSH_CHANGES_MAX} changes per batch"),
        ));
    }
    if request.quarantined.len() > QUARANTINE_REPORT_MAX {
        return Err(ApiError::invalid(
            ErrorCode::BatchTooLarge,
            format!("at most {QUARANTINE_REPORT_MAX} quarantined changes per report"),
        ));
    }
    for pair in request.push.windows(2) {
        if pair[0].seq.checked_add(1) != Some(pair[1].seq) {
            return Err(ApiError::invalid(
                ErrorCode::BatchSequenceGap,
                format!("change seq {} follows seq {}: a batch is an unbroken run", pair[1].seq, pair[0].seq),
            ));
        }
    }
    for (index, change) in request.push.iter().enumerate() {
        check_change(change, device, scales, clock, now_ms).map_err(|e| e.in_change(index))?;
    }
    let limit = usize::try_from(request.pull_limit).unwrap_or(usize::MAX).clamp(1, PULL_CHANGES_MAX);
    Ok(limit)
}

fn check_change(
    change: &Change,
    device: DeviceId,
    scales: &ScaleSet,
    clock: &HlcClock,
    now_ms: u64,
) -> Result<(), ApiError> {
    if change.device != device {
        return Err(ApiError::invalid(ErrorCode::ChangeWrongDevice, "a device may only push its own changes"));
    }
    if change.seq == 0 {
        return Err(ApiError::invalid(ErrorCode::ChangeInvalidSeq, "sequence numbers start at 1"));
    }
    change.check(scales)?;
    clock.check_drift(change.hlc, now_ms).map_err(|e| {
        let max_drift_ms = match e {
            HlcError::TooFarAhead { max_drift_ms, .. } => max_drift_ms,
        };
        ApiError::ClockAhead { message: e.to_string(), clock: ServerClock { server_time_ms: now_ms, max_drift_ms } }
    })?;
    check_times(change, now_ms)
}

/// The earliest time a change can carry: 2020-01-01 UTC, before any FIT Field device recorded.
pub const TIME_MIN_MS: u64 = 1_577_836_800_000;

/// How far past the server's clock a time in a change may lie. A device's clock can be wrong
/// by a year (a clock set in the wrong year); what it recorded is kept with its times as the
/// device read them, so only times no clock explains are refused.
pub const TIME_AHEAD_MAX_MS: u64 = 400 * 24 * 60 * 60 * 1000;

/// Every time a change carries (its HLC, its device's clock, the times in its body) lies within
/// `TIME_MIN_MS` and `TIME_AHEAD_MAX_MS` past `now_ms`.
fn check_times(change: &Change, now_ms: u64) -> Result<(), ApiError> {
    let body = match &change.body {
        ChangeBody::VisitStarted { started_at_ms: at, .. }
        | ChangeBody::VisitClosed { closed_at_ms: at, .. }
        | ChangeBody::ResponseRecorded { recorded_at_ms: at, .. }
        | ChangeBody::NoteWritten { written_at_ms: at, .. } => Some(*at),
        ChangeBody::FieldSet { .. } => None,
    };
    let latest = now_ms.saturating_add(TIME_AHEAD_MAX_MS);
    let times = [change.hlc.wall_ms, change.device_time_ms].into_iter().chain(body);
    match times.into_iter().find(|at| !(TIME_MIN_MS..=latest).contains(at)) {
        None => Ok(()),
        Some(at) => Err(ApiError::invalid(
            ErrorCode::ChangeTimeImplausible,
            format!("the time {at} (ms since 1970) is before 2020 or more than 400 days past the server's clock"),
        )),
    }
}
