//! Checks of a sync request that need no storage: protocol version, sizes, that a batch is one
//! device's unbroken run of sequence numbers, HLC drift, and each change's content through
//! `Change::check`. Anything refused here is refused before a transaction starts.

use fit_core::ScaleSet;
use fit_core::hlc::{HlcClock, HlcError};
use fit_core::ids::DeviceId;
use fit_protocol::sync::{PULL_CHANGES_MAX, PUSH_CHANGES_MAX};
use fit_protocol::{Change, ServerClock, SyncRequest, VersionRange};

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
    Ok(())
}
