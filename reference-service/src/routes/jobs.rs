//! Export jobs, job status and queue stats.
//!
//! Invariant: `POST /api/exports` only enqueues (202 + job id); the work happens in the queue
//! workers, so the request's latency does not depend on the export's size.

use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::found;
use crate::error::ApiError;
use crate::middleware::Caller;
use crate::queue::{NewJob, Priority};
use crate::state::AppState;

/// Optional body of `POST /api/exports`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExportRequest {
    priority: Option<String>,
    delay_ms: Option<u64>,
}

pub(crate) async fn export(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let account = caller.require()?;
    // An empty body is allowed: every field has a default.
    let request: ExportRequest = if body.iter().all(u8::is_ascii_whitespace) {
        ExportRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::BadRequest(format!("invalid export request: {e}")))?
    };
    let priority = request
        .priority
        .as_deref()
        .map(str::parse::<Priority>)
        .transpose()
        .map_err(ApiError::BadRequest)?
        .unwrap_or(Priority::Normal);
    let delay = Duration::from_millis(request.delay_ms.unwrap_or(0).min(86_400_000));
    let job = NewJob {
        kind: "export".into(),
        payload: json!({ "account_id": account.id }),
        priority,
        delay,
    };
    let id = state.queue().enqueue(&job).await?;
    state.workers().notify();
    let location = format!("/api/jobs/{id}");
    let mut response = (
        StatusCode::ACCEPTED,
        Json(json!({ "job_id": id, "status_url": location, "priority": priority })),
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

pub(crate) async fn show(
    State(state): State<AppState>,
    path: Result<Path<Uuid>, PathRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Path(id) = path.map_err(|_| ApiError::BadRequest("job id must be a UUID".into()))?;
    let job = state.queue().job(id).await?;
    Ok(Json(found(job, "job", id)?))
}

pub(crate) async fn stats(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let queues = state.queue().stats().await?;
    Ok(Json(json!({ "queues": queues })))
}
