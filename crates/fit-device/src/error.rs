//! The one error type of the device services, with stable codes for the `{code, message}`
//! boundary. Messages are for a worker to read and carry no personal data.

use fit_core::response::ResponseError;
use fit_protocol::ErrorCode;
use fit_store::{KeyError, StoreError};
use ts_rs::TS;

/// The error every app command returns: a stable code the UI switches on and a message in
/// plain words. Messages carry no personal data.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, thiserror::Error, TS)]
#[error("{code}: {message}")]
pub struct AppError {
    pub code: ErrorCode,
    pub message: String,
}

impl AppError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> AppError {
        AppError { code, message: message.into() }
    }
}

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
    #[error("something is recorded at the visit: it is closed, not cancelled")]
    VisitNotEmpty,
    #[error("{0}")]
    Response(#[from] ResponseError),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("the device cannot do this right now: {0}")]
    Unavailable(String),
    #[error("{0}")]
    NotCorrectable(&'static str),
    #[error(transparent)]
    PaperDate(#[from] fit_core::PaperDateError),
}

impl From<KeyError> for DeviceError {
    fn from(error: KeyError) -> DeviceError {
        DeviceError::Store(StoreError::Key(error))
    }
}

impl DeviceError {
    pub fn code(&self) -> ErrorCode {
        match self {
            DeviceError::Locked => ErrorCode::DeviceLocked,
            DeviceError::NotEnrolled => ErrorCode::DeviceNotEnrolled,
            DeviceError::NotInCaseload => ErrorCode::CitizenNotInCaseload,
            DeviceError::VisitNotFound => ErrorCode::VisitNotFound,
            DeviceError::VisitClosed => ErrorCode::VisitClosed,
            DeviceError::VisitNotEmpty => ErrorCode::VisitNotEmpty,
            DeviceError::Response(e) => ErrorCode::from(e),
            DeviceError::Invalid(_) => ErrorCode::InputInvalid,
            DeviceError::Store(e) => e.code(),
            DeviceError::Unavailable(_) => ErrorCode::DeviceUnavailable,
            DeviceError::NotCorrectable(_) => ErrorCode::ResponseNotCorrectable,
            DeviceError::PaperDate(e) => ErrorCode::from(e),
        }
    }
}
