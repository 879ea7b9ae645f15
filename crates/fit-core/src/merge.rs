//! Merge rules for mutable fields (citizen profile fields, goals, visit fields before close):
//! per-field last-writer-wins registers ordered by (HLC, device id), with concurrent edits
//! detected so they can be kept in a conflict log instead of being silently dropped.
//!
//! Immutable facts (responses, closed visits, note versions) need no merge: they are only ever
//! added, and deduplicated by id.

use serde::{Deserialize, Serialize};

use crate::hlc::Hlc;
use crate::ids::DeviceId;

/// The version of a field value: when (HLC) and where (device) it was written.
/// Versions are totally ordered; the device id breaks ties between equal HLCs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Version {
    pub hlc: Hlc,
    pub device: DeviceId,
}

/// A write to one field: its version, and the version the writer saw when it edited
/// (`None` when the field had no value on the writer's replica). A delete is a write too:
/// the store keeps it as a tombstone so an older write cannot bring the value back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldWrite {
    pub version: Version,
    pub base: Option<Version>,
}

/// What to do with an incoming write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Merge {
    /// The same write again: nothing to do.
    Duplicate,
    /// The incoming write wins and replaces the current value.
    Apply { concurrent: bool },
    /// The current value wins and stays.
    Keep { concurrent: bool },
}

impl Merge {
    /// True when the two writes were made without either seeing the other: the loser belongs in the
    /// conflict log.
    pub fn is_concurrent(self) -> bool {
        matches!(self, Merge::Apply { concurrent: true } | Merge::Keep { concurrent: true })
    }

    pub fn applies(self) -> bool {
        matches!(self, Merge::Apply { .. })
    }
}

/// Decides between the current version of a field and an incoming write.
///
/// The later version wins, whatever the order of arrival, so every replica that has seen the
/// same writes holds the same value. The writes were concurrent when the incoming one was not
/// based on the current one; this is exact where writes arrive in causal order, as on the
/// server: a device pushes its own writes in sequence, and an edit based on another device's
/// write can only be made after that write reached the server.
pub fn merge_lww(current: Option<Version>, incoming: FieldWrite) -> Merge {
    let Some(current) = current else {
        return Merge::Apply { concurrent: false };
    };
    if current == incoming.version {
        return Merge::Duplicate;
    }
    let concurrent = incoming.base != Some(current);
    if incoming.version > current { Merge::Apply { concurrent } } else { Merge::Keep { concurrent } }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn device(n: u8) -> DeviceId {
        DeviceId::from(uuid::Builder::from_unix_timestamp_millis(1, &[n; 10]).into_uuid())
    }

    fn version(wall_ms: u64, device_n: u8) -> Version {
        Version { hlc: Hlc::new(wall_ms, 0), device: device(device_n) }
    }

    #[test]
    fn the_first_write_to_a_field_applies() {
        let write = FieldWrite { version: version(10, 1), base: None };
        assert_eq!(merge_lww(None, write), Merge::Apply { concurrent: false });
    }

    #[test]
    fn an_edit_based_on_the_current_value_applies_without_conflict() {
        let current = version(10, 1);
        let write = FieldWrite { version: version(20, 2), base: Some(current) };
        assert_eq!(merge_lww(Some(current), write), Merge::Apply { concurrent: false });
    }

    #[test]
    fn concurrent_edits_are_flagged_and_the_later_one_wins_whichever_arrives_first() {
        let base = version(10, 1);
        let a = FieldWrite { version: version(20, 1), base: Some(base) };
        let b = FieldWrite { version: version(30, 2), base: Some(base) };
        assert_eq!(merge_lww(Some(a.version), b), Merge::Apply { concurrent: true });
        assert_eq!(merge_lww(Some(b.version), a), Merge::Keep { concurrent: true });
    }

    #[test]
    fn equal_clocks_are_ordered_by_device_id() {
        let a = FieldWrite { version: version(20, 1), base: None };
        let b = FieldWrite { version: version(20, 2), base: None };
        assert!(merge_lww(Some(a.version), b).applies());
        assert!(!merge_lww(Some(b.version), a).applies());
    }

    #[test]
    fn the_same_write_twice_is_a_duplicate() {
        let a = FieldWrite { version: version(20, 1), base: None };
        assert_eq!(merge_lww(Some(a.version), a), Merge::Duplicate);
    }

    fn write() -> impl Strategy<Value = FieldWrite> {
        (0u64..50, 0u32..3, 0u8..4).prop_map(|(wall, counter, dev)| FieldWrite {
            version: Version { hlc: Hlc::new(wall, counter), device: device(dev) },
            base: None,
        })
    }

    proptest! {
        #[test]
        fn replicas_that_apply_the_same_writes_in_any_order_hold_the_same_version(
            writes in prop::collection::vec(write(), 1..20),
            order in prop::collection::vec(any::<prop::sample::Index>(), 20),
        ) {
            let apply_all = |sequence: &[FieldWrite]| {
                sequence.iter().fold(None, |current, w| {
                    if merge_lww(current, *w).applies() { Some(w.version) } else { current }
                })
            };
            let mut shuffled = writes.clone();
            for (i, index) in order.iter().enumerate().take(shuffled.len()) {
                let j = index.index(shuffled.len());
                shuffled.swap(i, j);
            }
            let expected = writes.iter().map(|w| w.version).max();
            prop_assert_eq!(apply_all(&writes), expected);
            prop_assert_eq!(apply_all(&shuffled), expected);
        }
    }
}
