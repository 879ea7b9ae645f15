//! The pure FIT domain: scales and their packs, response validation and scoring,
//! interpretation (trajectory and alerts), ids, the hybrid logical clock and merge rules.
//!
//! Nothing here does I/O, reads the clock or is async: time, randomness and file contents
//! come in as arguments, so every rule can be tested as a table and replayed from a seed.

pub mod hlc;
pub mod ids;
pub mod interpret;
pub mod merge;
pub mod pack;
pub mod plan;
pub mod response;
pub mod scale;
pub mod text;

pub use hlc::{Hlc, HlcClock, HlcError};
pub use ids::IdGenerator;
pub use interpret::{AgeBand, Alert, AlertCode, Trajectory, VisitScores, interpret};
pub use pack::{PackError, PackProblem, ScaleSet};
pub use plan::{Measured, PlanInput, Schedule, VisitKind, VisitPlan, visit_plan, wellbeing_applies};
pub use response::{
    CorrectionReason, MarkedBy, NotGivenReason, PaperDateError, RawAnswer, ResponseContent, ResponseError,
    ResponseInput, Total, ValidResponse, check_paper_date, validate_response,
};
pub use scale::{Scale, ScaleCode, ScaleKind};
pub use text::{Lang, Text};
