//! Ids: UUIDv7 newtypes made on the device from a time and a random source passed in.
//!
//! UUIDv7 puts the creation time in the top 48 bits, so ids sort roughly by creation and index
//! well; the remaining 74 bits are random, so two devices never need to agree before creating.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::{Uuid, Version};

/// Makes UUIDv7 ids from the time and the random source it is given.
///
/// The shell passes the operating system's random generator; tests and the simulation
/// pass a seeded one, so the same seed makes the same ids.
#[derive(Debug)]
pub struct IdGenerator<R> {
    random: R,
}

impl<R: rand_core::Rng> IdGenerator<R> {
    pub fn new(random: R) -> IdGenerator<R> {
        IdGenerator { random }
    }

    /// A new id of type `T` for an entity created at `now_unix_ms`.
    pub fn next<T: From<Uuid>>(&mut self, now_unix_ms: u64) -> T {
        let mut bytes = [0u8; 10];
        self.random.fill_bytes(&mut bytes);
        T::from(uuid::Builder::from_unix_timestamp_millis(now_unix_ms, &bytes).into_uuid())
    }
}

/// Why a string is not an id of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("not a UUID: {0}")]
    Malformed(String),
    #[error("not a version 7 UUID: {0}")]
    NotVersion7(String),
}

/// Parses a UUID and checks that it is a version 7 UUID, as every id made on a device is.
pub fn parse_v7(text: &str) -> Result<Uuid, IdError> {
    let uuid = Uuid::parse_str(text).map_err(|_| IdError::Malformed(text.to_owned()))?;
    check_v7(uuid)
}

/// Checks that a UUID is a version 7 UUID.
pub fn check_v7(uuid: Uuid) -> Result<Uuid, IdError> {
    match uuid.get_version() {
        Some(Version::SortRand) => Ok(uuid),
        _ => Err(IdError::NotVersion7(uuid.to_string())),
    }
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ts_rs::TS)]
        #[serde(transparent)]
        #[ts(type = "string")]
        pub struct $name(Uuid);

        impl $name {
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                $name(uuid)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(text: &str) -> Result<Self, IdError> {
                parse_v7(text).map($name)
            }
        }
    };
}

id_type!(
    /// A person receiving support.
    CitizenId
);
id_type!(
    /// A support worker.
    WorkerId
);
id_type!(
    /// A bostøtte unit.
    TeamId
);
id_type!(
    /// An enrolled tablet, phone or laptop.
    DeviceId
);
id_type!(
    /// One meeting between a worker and a citizen.
    VisitId
);
id_type!(
    /// A group visit: the visits of the citizens present at one group session, each a visit of
    /// its own, share it.
    GroupId
);
id_type!(
    /// One filled-in (or not given) scale.
    ResponseId
);
id_type!(
    /// One version of a note; a new version supersedes the old.
    NoteId
);
id_type!(
    /// A goal agreed with a citizen.
    GoalId
);
id_type!(
    /// One unit of sync.
    ChangeId
);

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn ids_are_version_7_and_carry_the_time_they_were_made_at() {
        let mut ids = IdGenerator::new(StdRng::seed_from_u64(7));
        let visit: VisitId = ids.next(1_763_900_000_000);
        let uuid = visit.as_uuid();
        assert_eq!(uuid.get_version(), Some(Version::SortRand));
        let (seconds, _) = uuid.get_timestamp().unwrap().to_unix();
        assert_eq!(seconds, 1_763_900_000);
    }

    #[test]
    fn the_same_seed_makes_the_same_ids_and_another_seed_other_ids() {
        let make = |seed| {
            let mut ids = IdGenerator::new(StdRng::seed_from_u64(seed));
            (0..3).map(|_| ids.next::<CitizenId>(1_000)).collect::<Vec<_>>()
        };
        assert_eq!(make(1), make(1));
        assert_ne!(make(1), make(2));
        let batch = make(1);
        assert_ne!(batch[0], batch[1]);
    }

    #[test]
    fn an_id_parses_from_its_text_and_a_non_v7_uuid_is_refused() {
        let mut ids = IdGenerator::new(StdRng::seed_from_u64(3));
        let id: ResponseId = ids.next(5_000);
        assert_eq!(id.to_string().parse::<ResponseId>(), Ok(id));
        let v4 = "3f1c1f7e-5a8b-4c7e-9d2f-1b2c3d4e5f60";
        assert_eq!(v4.parse::<ResponseId>(), Err(IdError::NotVersion7(v4.into())));
        assert!(matches!("not-an-id".parse::<ResponseId>(), Err(IdError::Malformed(_))));
    }
}
