//! The storage's own error: a refusal with its stable code (nothing was written), or a fault with
//! its source. Storage knows no HTTP: the edge turns this into a status in one place
//! (`From<StoreError> for ApiError`).

use fit_protocol::ErrorCode;

use crate::rules::Refusal;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The request is refused as it stands; the message is for people.
    #[error("{message}")]
    Refused { code: ErrorCode, message: String },
    /// The storage could not do its part; the source says why, for the log (never for a device).
    #[error("the database failed")]
    Fault(#[source] anyhow::Error),
}

impl StoreError {
    pub fn refused(code: ErrorCode, message: impl Into<String>) -> StoreError {
        StoreError::Refused { code, message: message.into() }
    }

    /// A fault described in words: the database holds something it should not.
    pub fn fault(message: &str) -> StoreError {
        StoreError::Fault(anyhow::anyhow!("{message}"))
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            StoreError::Refused { code, .. } => *code,
            StoreError::Fault(_) => ErrorCode::ServerInternal,
        }
    }
}

impl From<Refusal> for StoreError {
    fn from(refusal: Refusal) -> StoreError {
        StoreError::Refused { code: refusal.code(), message: refusal.to_string() }
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(error: serde_json::Error) -> StoreError {
        StoreError::Fault(error.into())
    }
}
