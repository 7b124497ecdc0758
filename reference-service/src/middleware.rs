//! Request middleware: timing and metrics for every response, and caller identification plus
//! rate limiting for `/api` routes.
//!
//! Invariant: every response gets `X-Response-Time`; every `/api` response gets the
//! `X-RateLimit-*` headers of the bucket it drew from (when limits are on), and a rejected
//! request never reaches its handler.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::limiter::{Class, Decision};
use crate::metrics as m;
use crate::model::{Account, Plan};
use crate::state::AppState;

/// Who is calling: an account (API key or bearer token) or an anonymous address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The authenticated account, if any.
    pub account: Option<Account>,
    /// The peer address (`local` when unknown, e.g. in-process tests).
    pub ip: String,
}

impl Caller {
    /// The account, or 401.
    pub fn require(&self) -> Result<&Account, ApiError> {
        self.account.as_ref().ok_or_else(|| {
            ApiError::Unauthorized(
                "this route needs an `X-API-Key` or `Authorization: Bearer` token".into(),
            )
        })
    }

    fn plan(&self) -> Plan {
        self.account
            .as_ref()
            .map(|a| a.plan)
            .unwrap_or(Plan::Anonymous)
    }

    fn bucket(&self) -> String {
        match &self.account {
            Some(account) => format!("acct:{}", account.id),
            None => format!("ip:{}", self.ip),
        }
    }
}

/// Records duration and count by route and status, adds `X-Response-Time`, logs slow requests.
pub(crate) async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = request.method().as_str().to_owned();
    let mut response = next.run(request).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16().to_string();
    let labels = [
        ("route", route.clone()),
        ("method", method.clone()),
        ("status", status),
    ];
    metrics::histogram!(m::HTTP_DURATION, &labels).record(elapsed.as_secs_f64());
    metrics::counter!(m::HTTP_REQUESTS, &labels).increment(1);
    if let Ok(value) = HeaderValue::from_str(&format!("{:.3}ms", elapsed.as_secs_f64() * 1_000.0)) {
        response.headers_mut().insert("x-response-time", value);
    }
    if elapsed >= Duration::from_millis(state.inner.config.slow_request_ms) {
        metrics::counter!(m::HTTP_SLOW, "route" => route.clone()).increment(1);
        tracing::warn!(%route, %method, elapsed_ms = elapsed.as_millis() as u64, "slow request");
    }
    response
}

async fn identify(state: &AppState, headers: &HeaderMap, ip: String) -> Result<Caller, ApiError> {
    let store = &state.inner.store;
    if let Some(key) = headers.get("x-api-key") {
        let key = key
            .to_str()
            .map_err(|_| ApiError::Unauthorized("malformed `X-API-Key`".into()))?;
        let account = store.account_by_api_key(key).await?;
        return known(account, "unknown API key", ip);
    }
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::Unauthorized("expected `Authorization: Bearer <token>`".into())
            })?;
        let account = store.account_by_session(token).await?;
        return known(account, "unknown or expired token", ip);
    }
    Ok(Caller { account: None, ip })
}

/// The caller holding a credential: its account, or a 401 saying `unknown` when the credential
/// matches none.
fn known(account: Option<Account>, unknown: &str, ip: String) -> Result<Caller, ApiError> {
    let account = account.ok_or_else(|| ApiError::Unauthorized(unknown.into()))?;
    Ok(Caller {
        account: Some(account),
        ip,
    })
}

fn class_of(method: &Method, path: &str, caller: &Caller) -> Class {
    if path.starts_with("/api/auth/") {
        Class::Auth
    } else if method == Method::POST && path == "/api/exports" {
        Class::Export
    } else {
        Class::Plan(caller.plan())
    }
}

fn put_headers(headers: &mut HeaderMap, decision: &Decision) {
    headers.insert("x-ratelimit-limit", HeaderValue::from(decision.limit));
    headers.insert(
        "x-ratelimit-remaining",
        HeaderValue::from(decision.remaining),
    );
    headers.insert(
        "x-ratelimit-reset",
        HeaderValue::from(decision.reset.as_millis().div_ceil(1_000) as u64),
    );
}

/// Identifies the caller, applies the rate limit of its bucket and adds the `X-RateLimit-*`
/// headers.
pub(crate) async fn rate_limit(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let ip = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "local".to_owned());
    let caller = match identify(&state, request.headers(), ip).await {
        Ok(caller) => caller,
        Err(error) => return error.into_response(),
    };
    let class = class_of(request.method(), request.uri().path(), &caller);
    let bucket = match class {
        Class::Auth => format!("auth:ip:{}", caller.ip),
        other => format!("{}:{}", other.as_str(), caller.bucket()),
    };
    request.extensions_mut().insert(caller);
    let Some(limiter) = state.inner.limiter.clone() else {
        return next.run(request).await;
    };
    let quota = state.inner.quotas.quota(class);
    let inner = &state.inner;
    let decision = inner
        .limiter_breaker
        .call(inner.config.redis_timeout(), limiter.check(&bucket, quota))
        .await;
    let decision = match decision {
        Some(decision) => decision,
        None => {
            // Fail open: a limiter outage must not take the service down with it.
            metrics::counter!(m::RATE_LIMIT_FAIL_OPEN, "class" => class.as_str()).increment(1);
            Decision {
                allowed: true,
                limit: quota.limit,
                remaining: quota.limit,
                reset: Duration::ZERO,
                retry_after: Duration::ZERO,
            }
        }
    };
    let mut response = if decision.allowed {
        next.run(request).await
    } else {
        metrics::counter!(m::RATE_LIMIT_REJECTIONS, "class" => class.as_str()).increment(1);
        ApiError::RateLimited {
            retry_after: decision.retry_after,
        }
        .into_response()
    };
    put_headers(response.headers_mut(), &decision);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_classes() {
        let anon = Caller {
            account: None,
            ip: "1.2.3.4".into(),
        };
        assert_eq!(
            class_of(&Method::POST, "/api/auth/login", &anon),
            Class::Auth
        );
        assert_eq!(
            class_of(&Method::POST, "/api/exports", &anon),
            Class::Export
        );
        assert_eq!(
            class_of(&Method::GET, "/api/items", &anon),
            Class::Plan(Plan::Anonymous)
        );
        let pro = Caller {
            account: Some(Account {
                id: 2,
                name: "p".into(),
                email: "p@x".into(),
                plan: Plan::Pro,
            }),
            ip: "1.2.3.4".into(),
        };
        assert_eq!(
            class_of(&Method::GET, "/api/items", &pro),
            Class::Plan(Plan::Pro)
        );
        assert_eq!(pro.bucket(), "acct:2");
        assert_eq!(anon.bucket(), "ip:1.2.3.4");
    }
}
