//! A hybrid logical clock (HLC): physical milliseconds plus a counter, so that every event on a
//! device gets a timestamp larger than every event it has seen, whatever its wall clock says.
//!
//! Clocks lie: a device may be reset to 1970 or set to 2099. Going backwards is harmless here
//! (the clock keeps its last value and counts up). Going forwards is bounded when timestamps from
//! elsewhere are observed: one more than `max_drift_ms` ahead of the observer's clock is refused,
//! so a single wrong clock cannot drag every replica into the future.

use serde::{Deserialize, Serialize};

/// One HLC timestamp. Ordered by wall time, then counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
pub struct Hlc {
    /// Milliseconds since the Unix epoch, as the clock believed at the event.
    pub wall_ms: u64,
    /// Events within the same millisecond, or while the wall clock stood still or went back.
    pub counter: u32,
}

impl Hlc {
    pub const ZERO: Hlc = Hlc { wall_ms: 0, counter: 0 };

    pub fn new(wall_ms: u64, counter: u32) -> Hlc {
        Hlc { wall_ms, counter }
    }

    /// The smallest timestamp after this one.
    fn successor(self) -> Hlc {
        match self.counter.checked_add(1) {
            Some(counter) => Hlc { wall_ms: self.wall_ms, counter },
            // Four billion events in one millisecond cannot happen in practice; if they did,
            // borrowing a millisecond keeps the order strict instead of wrapping around.
            None => Hlc { wall_ms: self.wall_ms.saturating_add(1), counter: 0 },
        }
    }
}

/// The default bound on how far ahead of our clock another clock may be: 6 hours.
/// Hours, not milliseconds: tablets drift and time zones get mixed up, and an edit from a device
/// a few hours off must still sync; a device years off must not win every edit after it.
pub const MAX_DRIFT_MS_DEFAULT: u64 = 6 * 60 * 60 * 1000;

/// Why a timestamp from elsewhere was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HlcError {
    #[error(
        "timestamp {remote_wall_ms} ms is {ahead_ms} ms ahead of this clock ({now_unix_ms} ms); at most {max_drift_ms} ms is allowed"
    )]
    TooFarAhead { remote_wall_ms: u64, now_unix_ms: u64, ahead_ms: u64, max_drift_ms: u64 },
}

/// The clock of one replica (a device or the server).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HlcClock {
    last: Hlc,
    max_drift_ms: u64,
}

impl HlcClock {
    /// A clock that continues after `last` (Hlc::ZERO for a new replica).
    pub fn new(last: Hlc, max_drift_ms: u64) -> HlcClock {
        HlcClock { last, max_drift_ms }
    }

    /// The last timestamp this clock gave out or observed; persist it to continue after a restart.
    pub fn last(&self) -> Hlc {
        self.last
    }

    pub fn max_drift_ms(&self) -> u64 {
        self.max_drift_ms
    }

    /// A timestamp for a local event (a write, or a message about to be sent).
    pub fn tick(&mut self, now_unix_ms: u64) -> Hlc {
        let next = if now_unix_ms > self.last.wall_ms { Hlc::new(now_unix_ms, 0) } else { self.last.successor() };
        self.last = next;
        next
    }

    /// Checks that a timestamp from elsewhere is at most `max_drift_ms` ahead of `now_unix_ms`.
    pub fn check_drift(&self, remote: Hlc, now_unix_ms: u64) -> Result<(), HlcError> {
        let ahead_ms = remote.wall_ms.saturating_sub(now_unix_ms);
        if ahead_ms > self.max_drift_ms {
            return Err(HlcError::TooFarAhead {
                remote_wall_ms: remote.wall_ms,
                now_unix_ms,
                ahead_ms,
                max_drift_ms: self.max_drift_ms,
            });
        }
        Ok(())
    }

    /// Takes in a timestamp received from elsewhere and returns one after both it and every
    /// earlier local event. A timestamp too far ahead is refused and leaves the clock unchanged.
    pub fn observe(&mut self, remote: Hlc, now_unix_ms: u64) -> Result<Hlc, HlcError> {
        self.check_drift(remote, now_unix_ms)?;
        let latest_seen = self.last.max(remote);
        let next = if now_unix_ms > latest_seen.wall_ms { Hlc::new(now_unix_ms, 0) } else { latest_seen.successor() };
        self.last = next;
        Ok(next)
    }
}

#[cfg(test)]
mod tests;
