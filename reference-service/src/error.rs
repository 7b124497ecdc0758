//! The one HTTP error type: every failing handler returns an [`ApiError`], which becomes
//! `{"error": {"code", "message"}}` with the matching status.
//!
//! Invariant: internal details (SQL errors, Redis errors) are logged, never sent to the client;
//! bad input is a 4xx, never a 500.

use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::queue::QueueError;
use crate::store::StoreError;

/// An error answered to an HTTP client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed or out-of-range input.
    #[error("{0}")]
    BadRequest(String),
    /// Missing or invalid credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// The caller may not touch this resource.
    #[error("{0}")]
    Forbidden(String),
    /// No such resource.
    #[error("{0} not found")]
    NotFound(String),
    /// Over the rate limit; retry after the given delay.
    #[error("rate limit exceeded, retry in {} s", retry_after.as_secs())]
    RateLimited {
        /// When the next request would be allowed.
        retry_after: Duration,
    },
    /// A dependency is down; the named part is reported to the client.
    #[error("{component} unavailable")]
    Unavailable {
        /// The failing part (`postgres`, `redis`, `queue`).
        component: &'static str,
    },
    /// `/ready`: the named parts are down.
    #[error("not ready: {0}")]
    NotReady(String),
    /// Storage failed.
    #[error("storage error")]
    Store(#[from] StoreError),
    /// The job queue failed.
    #[error("queue error")]
    Queue(#[from] QueueError),
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ApiError::Unavailable { .. } => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::NotReady(_) => (StatusCode::SERVICE_UNAVAILABLE, "not_ready"),
            ApiError::Store(StoreError::Unavailable(_))
            | ApiError::Queue(QueueError::Unavailable(_)) => {
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
            }
            ApiError::Store(_) | ApiError::Queue(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = match &self {
            ApiError::Store(StoreError::Unavailable(_))
            | ApiError::Queue(QueueError::Unavailable(_)) => "postgres unavailable".to_owned(),
            ApiError::Store(_) | ApiError::Queue(_) => "internal error".to_owned(),
            other => other.to_string(),
        };
        if status.is_server_error() {
            // The client gets a generic message; the cause chain goes to the log.
            tracing::error!(error = ?self, "request failed");
        }
        let mut response = (
            status,
            Json(json!({ "error": { "code": code, "message": message } })),
        )
            .into_response();
        if let ApiError::RateLimited { retry_after } = self {
            let secs = u64::try_from(retry_after.as_millis().div_ceil(1_000))
                .unwrap_or(u64::MAX)
                .max(1);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
