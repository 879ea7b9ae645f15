//! Accepting a pushed batch: which of its changes are new, which are replays the log holds
//! (acknowledged again, stored once), which refuse the whole batch (a replay with other content,
//! a reused id, a gap, a citizen out of scope), and what the new ones add to the log: the next
//! positions, the field versions they win by last-writer-wins, and the concurrent edits they
//! make, kept for the conflict log. The server's own changes (a citizen's profile from an admin
//! command) go to the log through the same `plan_log`.
//!
//! A backend asks `reads` what to read for a batch, reads it into `Known`, calls `plan_push`, and
//! writes the `LogPlan`; it decides nothing itself.

use std::collections::{HashMap, HashSet};

use fit_core::Hlc;
use fit_core::hlc::{HlcClock, MAX_DRIFT_MS_DEFAULT};
use fit_core::ids::{ChangeId, CitizenId, DeviceId, WorkerId};
use fit_core::merge::{FieldWrite, Version, merge_lww};
use fit_protocol::{Change, ChangeBody, Entity, FieldName, SCHEMA_VERSION};

use super::refs::{self, Record, RecordKey};
use super::{LOG_INT_MAX, Refusal};

/// One last-writer-wins register, keyed as the store keys it: an entity and one of its fields.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldKey {
    /// `citizen` or `goal`.
    pub entity: &'static str,
    pub entity_id: String,
    pub field: &'static str,
}

impl FieldKey {
    pub fn of(entity: &Entity, field: FieldName) -> FieldKey {
        let (kind, id) = match entity {
            Entity::Citizen { citizen } => ("citizen", citizen.to_string()),
            Entity::Goal { goal, .. } => ("goal", goal.to_string()),
        };
        FieldKey { entity: kind, entity_id: id, field: field.as_str() }
    }
}

/// The version a field holds, and the change that wrote it (named in the conflict log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    pub version: Version,
    pub change: ChangeId,
}

/// Two edits of one field made without either seeing the other: both are kept for a team lead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConflictRow {
    pub field: FieldKey,
    pub citizen: CitizenId,
    pub winner: ChangeId,
    pub loser: ChangeId,
}

/// A change to append to the log at its position.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogRow<'c> {
    pub position: u64,
    pub change: &'c Change,
}

/// What new changes add to the log. The backend writes it as it is, in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct LogPlan<'c> {
    /// The changes in order, at consecutive positions.
    pub rows: Vec<LogRow<'c>>,
    /// The versions to upsert: one per field, the last winner among the changes.
    pub fields: Vec<(FieldKey, Held)>,
    /// In the order they were found.
    pub conflicts: Vec<ConflictRow>,
    /// The first position after the rows, so the log ends just before it.
    pub next_position: u64,
    /// When the server received the changes (and found the conflicts).
    pub at_ms: u64,
}

/// What `plan_push` needs from the log, found from the batch alone: a backend reads these, and
/// nothing else, before it plans.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reads {
    /// Sequence numbers the device pushed before: the log's changes under them.
    pub replayed_seqs: Vec<u64>,
    /// The ids of the other changes: those the log holds already.
    pub new_ids: Vec<ChangeId>,
    /// Their citizens, each once: those the worker has now, or had.
    pub citizens: Vec<CitizenId>,
    /// The fields they write, each once: the versions held.
    pub fields: Vec<FieldKey>,
    /// The records they refer to or make, each once: those the server holds.
    pub records: Vec<RecordKey>,
}

/// What a backend read for `Reads`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Known {
    /// The log's changes from the device under `replayed_seqs`. One that no longer decodes is left
    /// out: it is not the same change, so its replay is a conflict.
    pub stored: HashMap<u64, Change>,
    /// Those of `new_ids` the log holds.
    pub used_ids: HashSet<ChangeId>,
    /// Those of `citizens` that are the worker's now, or were: changes recorded before a citizen
    /// moved to another worker are still accepted, so nothing recorded is lost.
    pub in_scope: HashSet<CitizenId>,
    /// The versions held by those of `fields` that have one.
    pub held: HashMap<FieldKey, Held>,
    /// Those of `records` the server holds.
    pub records: HashMap<RecordKey, Record>,
    /// Those of `citizens` the worker had but has no longer, and when the last of them left.
    pub left_at_ms: HashMap<CitizenId, u64>,
}

/// A pushed batch (checked already for everything that needs no storage) and what is known of it.
#[derive(Debug)]
pub struct PushInput<'c> {
    pub batch: &'c [Change],
    /// The last sequence number the server holds from the device.
    pub last_seq: u64,
    pub known: Known,
    /// The log's next free position.
    pub next_position: u64,
    pub now_ms: u64,
    /// The worker of the device that pushed the batch.
    pub worker: WorkerId,
}

/// How long after a citizen left a worker that worker's changes for the citizen may be stamped
/// (by HLC) and still be logged: an hour, for a device clock a little ahead. A change stamped
/// later is not lost but set aside for the administrator.
pub const AFTER_MOVE_GRACE_MS: u64 = 60 * 60 * 1000;

/// What to do with an accepted batch.
#[derive(Debug, Clone, PartialEq)]
pub struct PushPlan<'c> {
    /// The batch's new changes (none when it is a replay).
    pub log: LogPlan<'c>,
    /// The sequence number to acknowledge, and to keep as the device's last.
    pub acknowledged_seq: u64,
    /// The new changes acknowledged but kept out of the log, for the administrator.
    pub set_aside: Vec<SetAside<'c>>,
    /// The records the new changes make (logged or set aside), to add to the records table.
    pub records: Vec<(RecordKey, Record)>,
}

/// Why a change is acknowledged (so its device moves on) but kept out of the log: nobody's
/// device receives it, and the administrator sees it (`fit-server set-aside`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetAsideReason {
    /// A former worker's change for a citizen recorded (by its HLC) after the citizen moved to
    /// another worker.
    AfterMove,
    /// A change that refers to a record whose change was set aside.
    FollowsSetAside,
}

impl SetAsideReason {
    /// The `reason` column.
    pub fn as_str(self) -> &'static str {
        match self {
            SetAsideReason::AfterMove => "after_move",
            SetAsideReason::FollowsSetAside => "follows_set_aside",
        }
    }
}

/// A change set aside, and why.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SetAside<'c> {
    pub change: &'c Change,
    pub reason: SetAsideReason,
}

/// The fields `changes` write, each once, in the order first written.
pub fn written_fields<'c>(changes: impl IntoIterator<Item = &'c Change>) -> Vec<FieldKey> {
    let mut seen = HashSet::new();
    changes
        .into_iter()
        .filter_map(|change| match &change.body {
            ChangeBody::FieldSet { entity, field, .. } => Some(FieldKey::of(entity, *field)),
            _ => None,
        })
        .filter(|key| seen.insert(key.clone()))
        .collect()
}

/// What to read for `batch` from a device whose last sequence number is `last_seq`.
pub fn reads(batch: &[Change], last_seq: u64) -> Reads {
    let (replayed, new): (Vec<&Change>, Vec<&Change>) = batch.iter().partition(|change| change.seq <= last_seq);
    let mut seen = HashSet::new();
    let mut seen_records = HashSet::new();
    Reads {
        replayed_seqs: replayed.iter().map(|change| change.seq).collect(),
        new_ids: new.iter().map(|change| change.id).collect(),
        citizens: new.iter().map(|change| change.citizen()).filter(|citizen| seen.insert(*citizen)).collect(),
        fields: written_fields(new.iter().copied()),
        records: new
            .iter()
            .flat_map(|change| refs::keys(&change.body))
            .filter(|key| seen_records.insert(*key))
            .collect(),
    }
}

/// Accepts a batch all or nothing. In order, each change is either the replay of one the server
/// holds (or the batch holds) under its sequence number, which must be the same change, or the
/// next in the device's sequence, under an id not used before, about a citizen in scope, whose
/// references hold. The new ones go to the log from the next position, except those set aside
/// (`SetAsideReason`); the acknowledged sequence is the batch's last.
pub fn plan_push(input: PushInput<'_>) -> Result<PushPlan<'_>, Refusal> {
    let PushInput { batch, mut last_seq, mut known, next_position, now_ms, worker } = input;
    let (mut new, mut accepted, mut set_aside, mut records) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut ids = HashSet::new();
    for (index, change) in batch.iter().enumerate() {
        if change.seq <= last_seq {
            let earlier = new.iter().find(|earlier: &&&Change| earlier.seq == change.seq).copied();
            if earlier.or(known.stored.get(&change.seq)) != Some(change) {
                return Err(Refusal::ChangedReplay { seq: change.seq });
            }
            continue;
        }
        // `last_seq` comes from a signed column, so the next one always exists.
        let expected = last_seq.saturating_add(1);
        if change.seq != expected {
            return Err(Refusal::SequenceGap { index, expected, got: change.seq });
        }
        if known.used_ids.contains(&change.id) || !ids.insert(change.id) {
            return Err(Refusal::ReusedId { id: change.id });
        }
        if !known.in_scope.contains(&change.citizen()) {
            return Err(Refusal::OutOfScope);
        }
        if let Some(value) =
            [change.seq, change.hlc.wall_ms, change.device_time_ms].into_iter().find(|v| *v > LOG_INT_MAX)
        {
            return Err(Refusal::OutOfRange { index, value });
        }
        let reason = set_aside_reason(change, &known);
        if reason.is_none() {
            refs::check(index, change, worker, |key| known.records.get(key).copied())?;
        }
        if let Some((key, record)) = refs::made(change, reason.is_some(), |key| known.records.contains_key(key)) {
            known.records.insert(key, record);
            records.push((key, record));
        }
        match reason {
            Some(reason) => set_aside.push(SetAside { change, reason }),
            None => accepted.push(change),
        }
        new.push(change);
        last_seq = change.seq;
    }
    let log = plan_log(accepted, known.held, next_position, now_ms);
    Ok(PushPlan { log, acknowledged_seq: last_seq, set_aside, records })
}

/// A citizen assigned back to a worker who had them: the changes that worker's devices made while
/// the citizen was away, set aside then, join the log now, in `changes`' order, before the
/// assignment's position, so the worker's every device receives them with the citizen's history
/// (its own devices included: they are back-filled). What to log, and the records no longer set
/// aside.
pub fn plan_release<'c>(
    changes: &'c [Change],
    held: HashMap<FieldKey, Held>,
    next_position: u64,
    now_ms: u64,
) -> (LogPlan<'c>, Vec<RecordKey>) {
    let records = changes.iter().filter_map(|change| refs::made(change, false, |_| false)).map(|(key, _)| key);
    (plan_log(changes, held, next_position, now_ms), records.collect())
}

/// Why a new change is set aside rather than logged, if it is: a former worker's change for a
/// citizen recorded after the citizen left them (by the change's HLC, allowed
/// `AFTER_MOVE_GRACE_MS`), or one that refers to a set-aside record.
///
/// The HLC alone decides. A device stamps its own writes no earlier than its clock, so its
/// device time adds nothing, except for a change it stamped again after the server refused it as
/// too far ahead (protocol rule 9): that device time is the clock the refusal proved wrong (a
/// year ahead, say), while the new stamp, taken from the server's time after the write, bounds
/// when the change was recorded. Believing that device time would set aside work recorded
/// before the move, while a later edit based on it is logged on a version the log lacks.
fn set_aside_reason(change: &Change, known: &Known) -> Option<SetAsideReason> {
    if let Some(left_at_ms) = known.left_at_ms.get(&change.citizen()) {
        let bound = left_at_ms.saturating_add(AFTER_MOVE_GRACE_MS);
        if change.hlc.wall_ms > bound {
            return Some(SetAsideReason::AfterMove);
        }
    }
    refs::follows_set_aside(change, |key| known.records.get(key).copied()).then_some(SetAsideReason::FollowsSetAside)
}

/// Plans appending `changes`, in order, from `next_position`. A field write is merged with the
/// version held (`held`, as read, then as the earlier changes leave it): the later (HLC, device)
/// wins, and a write not based on the version held was made without seeing it, so both go to the
/// conflict log with the winner named.
pub fn plan_log<'c>(
    changes: impl IntoIterator<Item = &'c Change>,
    mut held: HashMap<FieldKey, Held>,
    next_position: u64,
    at_ms: u64,
) -> LogPlan<'c> {
    let mut plan = LogPlan { rows: Vec::new(), fields: Vec::new(), conflicts: Vec::new(), next_position, at_ms };
    // The fields won, each once, in the order first won.
    let (mut won, mut order) = (HashSet::new(), Vec::new());
    for change in changes {
        if let ChangeBody::FieldSet { entity, field, base, .. } = &change.body {
            let key = FieldKey::of(entity, *field);
            let incoming = Held { version: Version { hlc: change.hlc, device: change.device }, change: change.id };
            let current = held.get(&key).copied();
            let merge = merge_lww(current.map(|c| c.version), FieldWrite { version: incoming.version, base: *base });
            if merge.is_concurrent()
                && let Some(current) = current
            {
                let (winner, loser) =
                    if merge.applies() { (change.id, current.change) } else { (current.change, change.id) };
                plan.conflicts.push(ConflictRow { field: key.clone(), citizen: entity.citizen(), winner, loser });
            }
            if merge.applies() {
                if won.insert(key.clone()) {
                    order.push(key.clone());
                }
                held.insert(key, incoming);
            }
        }
        plan.rows.push(LogRow { position: plan.next_position, change });
        plan.next_position += 1;
    }
    plan.fields = order.into_iter().filter_map(|key| held.remove(&key).map(|h| (key, h))).collect();
    plan
}

/// The server's identity as stored: the device id its own changes carry, its last sequence
/// number and its clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerIdentity {
    pub device: DeviceId,
    pub last_seq: u64,
    pub hlc: Hlc,
}

/// The server's own changes carrying `bodies`: the next sequence numbers of its identity, its
/// clock ticked at `now_ms`, ids from `new_id` (the rules make none); and the identity to store
/// after them. They go to the log through `plan_log`, as a device's would.
pub fn server_changes(
    identity: ServerIdentity,
    bodies: Vec<ChangeBody>,
    mut new_id: impl FnMut() -> ChangeId,
    now_ms: u64,
) -> (Vec<Change>, ServerIdentity) {
    let mut clock = HlcClock::new(identity.hlc, MAX_DRIFT_MS_DEFAULT);
    let mut after = identity;
    let changes = bodies
        .into_iter()
        .map(|body| {
            after.last_seq += 1;
            after.hlc = clock.tick(now_ms);
            Change {
                id: new_id(),
                device: identity.device,
                seq: after.last_seq,
                hlc: after.hlc,
                device_time_ms: now_ms,
                schema_version: SCHEMA_VERSION,
                body,
            }
        })
        .collect();
    (changes, after)
}

#[cfg(test)]
mod tests;
