//! The one error type of the HTTP boundary, mapped to a status and a `{code, message}` body in
//! one place; the storage's errors become it here, in one `From`. Server faults get a generic
//! body: details go to the log, without personal data.

use axum::Json;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use fit_protocol::{ChangeError, ErrorBody, ErrorCode, ServerClock, VersionRange};

use crate::store::StoreError;

/// The Retry-After of a `503 server.busy`: a moment, since a slot frees as soon as a request ends.
const BUSY_RETRY_AFTER_S: u64 = 2;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("no such endpoint")]
    NotFound,
    #[error("this endpoint does not take that method")]
    MethodNotAllowed,
    #[error("the request body is not valid: {0}")]
    Malformed(String),
    #[error("protocol version {requested} is not supported; update the app")]
    ProtocolUnsupported { requested: u32, supported: VersionRange },
    #[error("{message}")]
    Invalid { code: ErrorCode, message: String },
    /// A change stamped further ahead of the server's clock than the drift allows.
    #[error("{message}")]
    ClockAhead { message: String, clock: ServerClock },
    #[error("the request body is too large: at most 1 MiB as sent and 8 MiB unpacked; send fewer changes at a time")]
    TooLarge,
    #[error("the request body's encoding is not supported; send JSON, plain or zstd-compressed")]
    UnsupportedEncoding,
    #[error("a valid device token is needed")]
    Unauthorized,
    #[error("this device has been revoked")]
    Revoked,
    #[error("{0}")]
    Conflict(String),
    #[error("this citizen is not in the caseload of this device's worker")]
    OutOfScope,
    #[error("the server is busy; try again in a moment")]
    Busy,
    #[error("too many requests; try again in {retry_after_s} s")]
    RateLimited { retry_after_s: u64 },
    #[error("the request did not arrive in time")]
    Timeout,
    /// The device's worker has been deactivated (see `rules::admit`).
    #[error("{0}")]
    WorkerDeactivated(String),
    #[error("the server had a problem; try again later")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn invalid(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError::Invalid { code, message: message.into() }
    }

    /// Names the change of a batch an error is about.
    pub fn in_change(self, index: usize) -> ApiError {
        match self {
            ApiError::Invalid { code, message } => {
                ApiError::Invalid { code, message: format!("change {index}: {message}") }
            }
            ApiError::ClockAhead { message, clock } => {
                ApiError::ClockAhead { message: format!("change {index}: {message}"), clock }
            }
            other => other,
        }
    }

    pub fn status_code(&self) -> StatusCode {
        match self {
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Malformed(_) | ApiError::ProtocolUnsupported { .. } => StatusCode::BAD_REQUEST,
            ApiError::Invalid { .. } | ApiError::ClockAhead { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unauthorized | ApiError::Revoked => StatusCode::UNAUTHORIZED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedEncoding => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::OutOfScope | ApiError::WorkerDeactivated(_) => StatusCode::FORBIDDEN,
            ApiError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Timeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::NotFound => ErrorCode::RouteNotFound,
            ApiError::MethodNotAllowed => ErrorCode::RouteMethodNotAllowed,
            ApiError::Malformed(_) => ErrorCode::RequestMalformed,
            ApiError::ProtocolUnsupported { .. } => ErrorCode::ProtocolUnsupported,
            ApiError::Invalid { code, .. } => *code,
            ApiError::ClockAhead { .. } => ErrorCode::ChangeClockAhead,
            ApiError::Unauthorized => ErrorCode::AuthRequired,
            ApiError::Revoked => ErrorCode::DeviceRevoked,
            ApiError::Conflict(_) => ErrorCode::ChangeConflict,
            ApiError::TooLarge => ErrorCode::RequestTooLarge,
            ApiError::UnsupportedEncoding => ErrorCode::RequestEncodingUnsupported,
            ApiError::OutOfScope => ErrorCode::CitizenOutOfScope,
            ApiError::Busy => ErrorCode::ServerBusy,
            ApiError::RateLimited { .. } => ErrorCode::RateLimited,
            ApiError::Timeout => ErrorCode::RequestTimeout,
            ApiError::WorkerDeactivated(_) => ErrorCode::WorkerDeactivated,
            ApiError::Internal(_) => ErrorCode::ServerInternal,
        }
    }
}

impl From<ChangeError> for ApiError {
    fn from(error: ChangeError) -> ApiError {
        ApiError::Invalid { code: error.code(), message: error.to_string() }
    }
}

/// The storage's refusals keep their code and message; the few codes with a status of their own
/// get it through their variant here.
impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        match error {
            StoreError::Refused { code, message } => match code {
                ErrorCode::AuthRequired => ApiError::Unauthorized,
                ErrorCode::DeviceRevoked => ApiError::Revoked,
                ErrorCode::ChangeConflict => ApiError::Conflict(message),
                ErrorCode::CitizenOutOfScope => ApiError::OutOfScope,
                ErrorCode::WorkerDeactivated => ApiError::WorkerDeactivated(message),
                code => ApiError::Invalid { code, message },
            },
            StoreError::Fault(source) => ApiError::Internal(source),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(error) = &self {
            tracing::error!(error = %error, "request failed");
        }
        let supported = match &self {
            ApiError::ProtocolUnsupported { supported, .. } => Some(*supported),
            _ => None,
        };
        let clock = match &self {
            ApiError::ClockAhead { clock, .. } => Some(*clock),
            _ => None,
        };
        // When to come back: the device's backoff waits at least this long.
        let retry_after_s = match &self {
            ApiError::RateLimited { retry_after_s } => Some(*retry_after_s),
            ApiError::Busy => Some(BUSY_RETRY_AFTER_S),
            _ => None,
        };
        let body = ErrorBody { code: self.code(), message: self.to_string(), supported, clock };
        let mut response = (self.status_code(), Json(body)).into_response();
        if let Some(seconds) = retry_after_s {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
