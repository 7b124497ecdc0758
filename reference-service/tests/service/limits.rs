//! Rate limits: exact headers, the exact 429 boundary under concurrency, plan tiers, route
//! classes, fail-open and lifting the limits.

use axum::http::{Method, StatusCode};
use reference_service::RateLimitMode;
use serde_json::json;

use crate::support::{self, Backend, Reply};

fn limits_on(c: &mut reference_service::Config) {
    c.rate_limits = RateLimitMode::On;
}

#[track_caller]
fn check_headers(reply: &Reply, limit: u64, remaining: u64) {
    assert_eq!(reply.header_u64("x-ratelimit-limit"), limit);
    assert_eq!(reply.header_u64("x-ratelimit-remaining"), remaining);
}

on_both_backends!(headers_count_down_exactly);
async fn headers_count_down_exactly(backend: Backend) {
    let app = support::start_on(backend, limits_on).await;
    for remaining in (17..20).rev() {
        let reply = app.get("/api/reference/categories").await;
        assert_eq!(reply.status, StatusCode::OK);
        check_headers(&reply, 20, remaining);
        // GCRA: each request adds one emission interval (60 s / 20 = 3 s) to the time until the
        // bucket is full again.
        assert_eq!(reply.header_u64("x-ratelimit-reset"), 3 * (20 - remaining));
    }
    // Error responses count too and carry the headers.
    let missing = app.get("/api/items/99999999").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    check_headers(&missing, 20, 16);
    // Operations endpoints are not limited.
    assert!(
        app.get("/health")
            .await
            .header("x-ratelimit-limit")
            .is_none()
    );
}

on_both_backends!(
    exactly_the_limit_passes_under_concurrent_requests,
    flavor = "multi_thread",
    worker_threads = 2
);
async fn exactly_the_limit_passes_under_concurrent_requests(backend: Backend) {
    let app = support::start_on(backend, limits_on).await;
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let router = app.router.clone();
        tasks.push(tokio::spawn(async move {
            support::call(&router, Method::GET, "/api/reference/categories", &[], None).await
        }));
    }
    let mut ok = 0;
    let mut limited = 0;
    let mut remaining = Vec::new();
    for task in tasks {
        let reply = task.await.expect("request");
        match reply.status {
            StatusCode::OK => {
                ok += 1;
                remaining.push(reply.header_u64("x-ratelimit-remaining"));
            }
            StatusCode::TOO_MANY_REQUESTS => {
                limited += 1;
                assert_eq!(reply.error_code(), "rate_limited");
                check_headers(&reply, 20, 0);
                let retry = reply.header_u64("retry-after");
                assert!((1..=3).contains(&retry), "retry-after {retry}");
            }
            other => panic!("unexpected status {other}: {}", reply.text),
        }
    }
    assert_eq!((ok, limited), (20, 30));
    remaining.sort_unstable();
    assert_eq!(
        remaining,
        (0..20).collect::<Vec<u64>>(),
        "each allowed request saw a distinct remaining count"
    );
}

on_both_backends!(plans_get_their_own_limits_and_buckets);
async fn plans_get_their_own_limits_and_buckets(backend: Backend) {
    let app = support::start_on(backend, limits_on).await;
    for (key, limit) in [
        ("kp_free_demo", 100),
        ("kp_pro_demo", 1_000),
        ("kp_enterprise_demo", 10_000),
    ] {
        let reply = app.get_with("/api/items/1", &[("x-api-key", key)]).await;
        assert_eq!(reply.status, StatusCode::OK);
        check_headers(&reply, limit, limit - 1);
    }
    let anonymous = app.get("/api/items/1").await;
    check_headers(&anonymous, 20, 19);
}

on_both_backends!(auth_and_export_classes_are_stricter);
async fn auth_and_export_classes_are_stricter(backend: Backend) {
    let app = support::start_on(backend, |c| {
        c.rate_limits = RateLimitMode::On;
        c.rate_limit_export = 2;
    })
    .await;
    let login = json!({"email": "free@example.test", "password": "wrong"});
    for remaining in (0..5).rev() {
        let reply = app.post("/api/auth/login", &[], login.clone()).await;
        assert_eq!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "failed logins count against the limit"
        );
        check_headers(&reply, 5, remaining);
    }
    let blocked = app.login("free@example.test", "kneepoint").await;
    assert_eq!(blocked.status, StatusCode::TOO_MANY_REQUESTS);
    // One login per 720 s replenishes.
    let retry = blocked.header_u64("retry-after");
    assert!((700..=720).contains(&retry), "retry-after {retry}");

    for _ in 0..2 {
        let reply = app.request_export(None).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED);
    }
    let third = app.request_export(None).await;
    assert_eq!(third.status, StatusCode::TOO_MANY_REQUESTS);
    check_headers(&third, 2, 0);
    // The plan bucket is separate: reads still pass.
    let read = app
        .get_with("/api/items/1", &[("x-api-key", "kp_pro_demo")])
        .await;
    assert_eq!(read.status, StatusCode::OK);
    check_headers(&read, 1_000, 999);
}

#[tokio::test]
async fn limiter_fails_open_when_redis_is_down() {
    let mut app = support::start(|c| {
        c.rate_limits = RateLimitMode::On;
        c.rate_limit_anonymous = 2;
    })
    .await;
    app.redis().stop();
    for _ in 0..5 {
        let reply = app.get("/api/items/1").await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        check_headers(&reply, 2, 2);
    }
    let metrics = app.get("/metrics").await;
    assert!(
        metrics
            .text
            .contains("rate_limit_fail_open_total{class=\"anonymous\"}"),
        "{}",
        metrics.text
    );
    assert!(
        metrics
            .text
            .contains("redis_degraded_total{component=\"rate_limit\""),
        "{}",
        metrics.text
    );
}

on_both_backends!(limits_can_be_lifted);
async fn limits_can_be_lifted(backend: Backend) {
    let app = support::start_on(backend, |c| {
        c.rate_limits = RateLimitMode::Off;
        c.rate_limit_anonymous = 1;
    })
    .await;
    for _ in 0..10 {
        let reply = app.get("/api/reference/categories").await;
        assert_eq!(reply.status, StatusCode::OK);
        assert!(reply.header("x-ratelimit-limit").is_none());
    }
}
