//! The one error type of the device services, with stable codes for the `{code, message}`
//! boundary. Messages are for a worker to read and carry no personal data.

use fit_core::response::ResponseError;
use fit_store::{KeyError, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("the app is locked: enter your PIN")]
    Locked,
    #[error("this device is not enrolled to a worker yet")]
    NotEnrolled,
    #[error("this citizen is not in your caseload")]
    NotInCaseload,
    #[error("the visit was not found")]
    VisitNotFound,
    #[error("the visit is closed")]
    VisitClosed,
    #[error("{0}")]
    Response(#[from] ResponseError),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("the device cannot do this right now: {0}")]
    Unavailable(String),
}

impl From<KeyError> for DeviceError {
    fn from(error: KeyError) -> DeviceError {
        DeviceError::Store(StoreError::Key(error))
    }
}

impl DeviceError {
    pub fn code(&self) -> &'static str {
        match self {
            DeviceError::Locked => "device.locked",
            DeviceError::NotEnrolled => "device.not_enrolled",
            DeviceError::NotInCaseload => "citizen.not_in_caseload",
            DeviceError::VisitNotFound => "visit.not_found",
            DeviceError::VisitClosed => "visit.closed",
            DeviceError::Response(e) => e.code(),
            DeviceError::Invalid(_) => "input.invalid",
            DeviceError::Store(e) => e.code(),
            DeviceError::Unavailable(_) => "device.unavailable",
        }
    }
}
