//! The wire types of FIT Field sync. A device records every local write as a `Change` in its
//! outbox; the same `Change` is what it sends to the server and what other devices pull.

pub mod change;
pub mod demo;
pub mod error;
pub mod sync;

pub use change::{
    Change, ChangeBody, ChangeError, Checked, Entity, FieldError, FieldName, FieldValue, GoalStatus, is_text,
    looks_like_cpr, parse_day, written_text,
};
pub use error::ErrorCode;
pub use fit_core::response::ResponseContent;
pub use sync::{
    EnrollRequest, EnrollResponse, ErrorBody, LoggedChange, PROTOCOL_VERSION, ServerClock, SyncRequest, SyncResponse,
    VersionRange,
};

/// The version of the change format; stored with every outbox entry so a device that is
/// updated with entries still pending knows what they were written under.
pub const SCHEMA_VERSION: u32 = 1;
