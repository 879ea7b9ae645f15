//! The one error type of the HTTP boundary, mapped to a status and a `{code, message}` body in
//! one place. Server faults get a generic body: details go to the log, without personal data.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use fit_protocol::ErrorBody;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("no such endpoint")]
    NotFound,
    #[error("the server had a problem; try again later")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn status_code(&self) -> StatusCode {
        match self {
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::NotFound => "route.not_found",
            ApiError::Internal(_) => "server.internal",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(error) = &self {
            tracing::error!(error = %error, "request failed");
        }
        let body = ErrorBody { code: self.code().to_owned(), message: self.to_string(), supported: None };
        (self.status_code(), Json(body)).into_response()
    }
}
