//! Checks of a sync request that need no storage: protocol version, sizes, ids, HLC drift,
//! scores and fields, and that a batch is one device's unbroken run of sequence numbers.
//! Anything refused here is refused before a transaction starts.

use fit_core::ScaleSet;
use fit_core::hlc::{HlcClock, HlcError};
use fit_core::ids::{DeviceId, check_v7};
use fit_core::response::{ResponseContent, ResponseInput, validate_response};
use fit_protocol::change::NOTE_LEN_MAX;
use fit_protocol::sync::{PULL_CHANGES_MAX, PUSH_CHANGES_MAX};
use fit_protocol::{Answered, Change, ChangeBody, Entity, SCHEMA_VERSION, ServerClock, SyncRequest, VersionRange};
use uuid::Uuid;

use crate::error::ApiError;

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
        return Err(ApiError::invalid("batch.too_large", format!("at most {PUSH_CHANGES_MAX} changes per batch")));
    }
    for pair in request.push.windows(2) {
        if pair[1].seq != pair[0].seq + 1 {
            return Err(ApiError::invalid(
                "batch.sequence_gap",
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
        return Err(ApiError::invalid("change.wrong_device", "a device may only push its own changes"));
    }
    if change.seq == 0 {
        return Err(ApiError::invalid("change.invalid_seq", "sequence numbers start at 1"));
    }
    if change.schema_version != SCHEMA_VERSION {
        return Err(ApiError::invalid(
            "change.schema_unsupported",
            format!("schema version {} is not {SCHEMA_VERSION}", change.schema_version),
        ));
    }
    clock.check_drift(change.hlc, now_ms).map_err(|e| {
        let max_drift_ms = match e {
            HlcError::TooFarAhead { max_drift_ms, .. } => max_drift_ms,
        };
        ApiError::ClockAhead { message: e.to_string(), clock: ServerClock { server_time_ms: now_ms, max_drift_ms } }
    })?;
    for id in ids_of(change) {
        check_v7(id).map_err(|e| ApiError::invalid("change.invalid_id", e.to_string()))?;
    }
    match &change.body {
        ChangeBody::ResponseRecorded { scale, answered, .. } => {
            let content = match answered {
                Answered::Given { marked_by, answers } => {
                    ResponseContent::Given { marked_by: *marked_by, answers: answers.clone() }
                }
                Answered::NotGiven { reason } => ResponseContent::NotGiven { reason: *reason },
            };
            validate_response(scales, &ResponseInput { scale: scale.to_string(), content })
                .map_err(|e| ApiError::invalid(e.code(), e.to_string()))?;
        }
        ChangeBody::NoteWritten { body, .. } => {
            if body.trim().is_empty() || body.chars().count() > NOTE_LEN_MAX {
                return Err(ApiError::invalid(
                    "note.invalid",
                    format!("a note needs text, at most {NOTE_LEN_MAX} characters"),
                ));
            }
        }
        ChangeBody::FieldSet { entity, field, value, .. } => {
            field.check(entity, value).map_err(|e| ApiError::invalid("field.invalid", e.to_string()))?;
        }
        ChangeBody::VisitStarted { .. } | ChangeBody::VisitClosed { .. } => {}
    }
    Ok(())
}

/// Every id a change carries, for the UUIDv7 check.
fn ids_of(change: &Change) -> Vec<Uuid> {
    let mut ids = vec![change.id.as_uuid(), change.device.as_uuid(), change.citizen().as_uuid()];
    match &change.body {
        ChangeBody::VisitStarted { visit, worker, .. } => ids.extend([visit.as_uuid(), worker.as_uuid()]),
        ChangeBody::VisitClosed { visit, .. } => ids.push(visit.as_uuid()),
        ChangeBody::ResponseRecorded { response, visit, supersedes, .. } => {
            ids.extend([response.as_uuid(), visit.as_uuid()]);
            ids.extend(supersedes.map(|s| s.as_uuid()));
        }
        ChangeBody::NoteWritten { note, visit, supersedes, .. } => {
            ids.push(note.as_uuid());
            ids.extend(visit.map(|v| v.as_uuid()));
            ids.extend(supersedes.map(|s| s.as_uuid()));
        }
        ChangeBody::FieldSet { entity: Entity::Goal { goal, .. }, .. } => ids.push(goal.as_uuid()),
        ChangeBody::FieldSet { entity: Entity::Citizen { .. }, .. } => {}
    }
    ids
}
