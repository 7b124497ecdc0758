//! The HTTP surface: one module per resource, assembled into a router by [`router`].
//!
//! Invariant: input is parsed into validated domain types here (parse, then promote); malformed
//! input is a 400 JSON error, never a 500.

mod accounts;
mod items;
mod jobs;
mod ops;

use std::fmt::Display;
use std::future::Future;

use axum::http::{HeaderMap, HeaderValue, header};
use axum::routing::{get, post};
use axum::{Json, Router, middleware};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::cache::{CacheStatus, Namespace, Ttl};
use crate::error::ApiError;
use crate::middleware::{rate_limit, track};
use crate::state::AppState;

/// All routes, with middleware, bound to `state`.
pub(crate) fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/api/items", get(items::list).post(items::create))
        .route(
            "/api/items/{id}",
            get(items::show).put(items::update).patch(items::update),
        )
        .route("/api/accounts/{id}/stats", get(accounts::stats))
        .route("/api/reference/categories", get(accounts::categories))
        .route("/api/auth/login", post(accounts::login))
        .route("/api/exports", post(jobs::export))
        .route("/api/jobs/{id}", get(jobs::show))
        .route("/api/queue/stats", get(jobs::stats))
        .route_layer(middleware::from_fn_with_state(state.clone(), rate_limit));
    Router::new()
        .route("/health", get(ops::health))
        .route("/ready", get(ops::ready))
        .route("/metrics", get(ops::metrics))
        .merge(api)
        .fallback(ops::not_found)
        .layer(middleware::from_fn_with_state(state.clone(), track))
        .with_state(state)
}

/// `Cache-Control: no-cache` on a request skips the cache read (the value is still refreshed).
fn bypass_cache(headers: &HeaderMap) -> bool {
    headers
        .get(header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|d| d.trim().eq_ignore_ascii_case("no-cache"))
        })
}

/// The `X-Cache` header pair.
fn x_cache(status: CacheStatus) -> [(&'static str, HeaderValue); 1] {
    [("x-cache", HeaderValue::from_static(status.as_str()))]
}

/// Answers a read through the cache: the value kept under `key` in `namespace`, else what
/// `load` returns, kept for `ttl` under `tags`; as JSON with its `X-Cache` header.
async fn read_through<T, F, Fut>(
    state: &AppState,
    headers: &HeaderMap,
    namespace: Namespace,
    key: &str,
    ttl: Ttl,
    tags: &[String],
    load: F,
) -> Result<([(&'static str, HeaderValue); 1], Json<T>), ApiError>
where
    T: Serialize + DeserializeOwned,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, ApiError>>,
{
    let (value, status) = state
        .cache()
        .get_or_set(namespace, key, ttl, tags, bypass_cache(headers), load)
        .await?;
    Ok((x_cache(status), Json(value)))
}

/// The value of a lookup by id, or a 404 naming `what` and `id`.
fn found<T>(value: Option<T>, what: &str, id: impl Display) -> Result<T, ApiError> {
    value.ok_or_else(|| ApiError::NotFound(format!("{what} {id}")))
}
