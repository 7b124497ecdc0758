//! Operations endpoints: liveness, readiness, Prometheus metrics, and the JSON 404.
//!
//! Invariant: `/health` depends on nothing; `/ready` checks every dependency within a bounded
//! time and names each failing part; `/metrics` never fails because a dependency is down.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::json;

use crate::error::ApiError;
use crate::metrics as m;
use crate::state::AppState;

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

pub(crate) async fn health() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

pub(crate) async fn ready(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let database = match tokio::time::timeout(CHECK_TIMEOUT, state.store().ping()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err("timed out".to_owned()),
    };
    let cache = state.cache().ping().await.map_err(|e| e.to_string());
    let queue = state.workers().check();
    // Each part is named after its backend (`postgres` or `sqlite`, `redis` or `memory_cache`).
    let checks = [
        (state.store().name(), database),
        (state.cache().backend_name(), cache),
        ("queue", queue),
    ];
    let failing: Vec<String> = checks
        .iter()
        .filter_map(|(name, r)| r.as_ref().err().map(|e| format!("{name} ({e})")))
        .collect();
    if !failing.is_empty() {
        return Err(ApiError::NotReady(failing.join(", ")));
    }
    let names: serde_json::Map<String, serde_json::Value> = checks
        .iter()
        .map(|(name, _)| ((*name).to_owned(), json!("ok")))
        .collect();
    Ok(Json(json!({ "status": "ready", "checks": names })))
}

pub(crate) async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    if let Some(pool) = state.store().pool_stats() {
        metrics::gauge!(m::DB_POOL_CONNECTIONS, "state" => "idle").set(f64::from(pool.idle));
        metrics::gauge!(m::DB_POOL_CONNECTIONS, "state" => "in_use")
            .set(f64::from(pool.size.saturating_sub(pool.idle)));
        metrics::gauge!(m::DB_POOL_SIZE).set(f64::from(pool.size));
        metrics::gauge!(m::DB_POOL_MAX).set(f64::from(pool.max));
    }
    // Queue depth needs a query; a scrape must still answer when the database is slow or down.
    if let Ok(Ok(queues)) =
        tokio::time::timeout(Duration::from_secs(1), state.queue().stats()).await
    {
        for q in queues {
            let p = q.queue.as_str();
            metrics::gauge!(m::QUEUE_DEPTH, "priority" => p, "state" => "waiting")
                .set(q.waiting as f64);
            metrics::gauge!(m::QUEUE_DEPTH, "priority" => p, "state" => "delayed")
                .set(q.delayed as f64);
            metrics::gauge!(m::QUEUE_DEPTH, "priority" => p, "state" => "active")
                .set(q.active as f64);
            metrics::gauge!(m::QUEUE_DEPTH, "priority" => p, "state" => "failed")
                .set(q.failed as f64);
        }
    }
    m::record_process();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.inner.metrics.render(),
    )
}

pub(crate) async fn not_found() -> ApiError {
    ApiError::NotFound("route".into())
}
