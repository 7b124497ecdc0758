//! Account stats (the cached expensive aggregate), reference data and login.
//!
//! Invariant: login is never cached and always draws from the strict `auth` rate-limit class.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use rand::Rng;
use serde::Deserialize;
use serde_json::json;

use super::{found, read_through};
use crate::cache::{Namespace, Ttl};
use crate::error::ApiError;
use crate::seed::hash_password;
use crate::state::AppState;

/// Session lifetime in seconds.
const SESSION_TTL_SECS: i64 = 3_600;

pub(crate) async fn stats(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<i64>, PathRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Path(id) =
        path.map_err(|_| ApiError::BadRequest("account id must be an integer".into()))?;
    let store = state.store().clone();
    read_through(
        &state,
        &headers,
        Namespace::AccountStats,
        &id.to_string(),
        Ttl::FiveMinutes,
        &[format!("account:{id}")],
        || async move { found(store.account_stats(id).await?, "account", id) },
    )
    .await
}

pub(crate) async fn categories(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let store = state.store().clone();
    let (x_cache, Json(categories)) = read_through(
        &state,
        &headers,
        Namespace::Reference,
        "categories",
        Ttl::OneDay,
        &["reference".to_owned()],
        || async move { Ok(store.categories().await?) },
    )
    .await?;
    Ok((x_cache, Json(json!({ "data": categories }))))
}

/// Body of `POST /api/auth/login`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Login {
    email: String,
    password: String,
}

pub(crate) async fn login(
    State(state): State<AppState>,
    body: Result<Json<Login>, JsonRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Json(login) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let email = login.email.trim().to_lowercase();
    let account = state
        .store()
        .account_by_login(&email, &hash_password(&email, &login.password))
        .await?
        .ok_or_else(|| ApiError::Unauthorized("wrong e-mail or password".into()))?;
    let bytes: [u8; 24] = rand::rng().random();
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    state
        .store()
        .create_session(&token, account.id, SESSION_TTL_SECS)
        .await?;
    Ok(Json(json!({
        "token": token,
        "token_type": "Bearer",
        "expires_in": SESSION_TTL_SECS,
        "account": { "id": account.id, "plan": account.plan },
    })))
}
