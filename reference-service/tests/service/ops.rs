//! Health, readiness, metrics and response-time headers.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::json;

use crate::support::{self, Backend, eventually};

on_both_backends!(health_is_ok_and_every_response_has_a_response_time);
async fn health_is_ok_and_every_response_has_a_response_time(backend: Backend) {
    let app = support::start_on(backend, |_| {}).await;
    let health = app.get("/health").await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.body["status"], "ok");
    for reply in [
        health,
        app.get("/api/items/1").await,
        app.get("/nowhere").await,
    ] {
        let value = reply.header("x-response-time").expect("X-Response-Time");
        assert!(
            value.ends_with("ms") && value.trim_end_matches("ms").parse::<f64>().is_ok(),
            "{value}"
        );
    }
}

on_both_backends!(unknown_route_is_a_json_404);
async fn unknown_route_is_a_json_404(backend: Backend) {
    let app = support::start_on(backend, |_| {}).await;
    let reply = app.get("/api/nothing/here").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.error_code(), "not_found");
}

#[tokio::test]
async fn ready_is_503_naming_postgres_when_it_stops() {
    let mut app = support::start(|_| {}).await;
    let ready = app.get("/ready").await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.text);
    assert_eq!(ready.body["checks"]["postgres"], "ok");

    app.postgres().stop();
    let reply = app.get("/ready").await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.error_code(), "not_ready");
    let message = reply.body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("postgres"), "{message}");
    assert!(!message.contains("redis"), "redis is still up: {message}");
    // Liveness does not depend on the database.
    assert_eq!(app.get("/health").await.status, StatusCode::OK);
    // A read that needs the database answers 503, not 500.
    let item = app
        .get_with("/api/items/1", &[("cache-control", "no-cache")])
        .await;
    assert_eq!(
        item.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        item.text
    );
}

#[tokio::test]
async fn ready_is_503_naming_redis_when_it_stops() {
    let mut app = support::start(|_| {}).await;
    app.redis().stop();
    let reply = app.get("/ready").await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    let message = reply.body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("redis") && !message.contains("postgres"),
        "{message}"
    );
}

on_both_backends!(
    metrics_expose_every_family,
    flavor = "multi_thread",
    worker_threads = 2
);
async fn metrics_expose_every_family(backend: Backend) {
    let mut app = support::start_on(backend, |c| {
        c.rate_limits = reference_service::RateLimitMode::On;
        c.rate_limit_auth = 1;
        c.queue_completed_retention_secs = 0;
    })
    .await;
    // Cache miss then hit.
    assert_eq!(app.x_cache("/api/items/1").await.as_deref(), Some("MISS"));
    assert_eq!(app.x_cache("/api/items/1").await.as_deref(), Some("HIT"));
    // A rate-limit rejection.
    let login = json!({"email": "free@example.test", "password": "kneepoint"});
    assert_eq!(
        app.post("/api/auth/login", &[], login.clone()).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.post("/api/auth/login", &[], login).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    // A job outcome.
    let export = app.request_export(None).await;
    assert_eq!(export.status, StatusCode::ACCEPTED, "{}", export.text);
    let queue = app.state.queue().clone();
    eventually(Duration::from_secs(20), || {
        let queue = queue.clone();
        async move {
            queue
                .stats()
                .await
                .ok()
                .filter(|s| s.iter().any(|q| q.completed > 0))
        }
    })
    .await;
    // A Redis degradation event (the embedded cache has no server to lose).
    if backend == Backend::Postgres {
        app.redis().stop();
        assert_eq!(app.get("/api/items/2").await.status, StatusCode::OK);
    }

    let metrics = app.get("/metrics").await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert!(
        metrics
            .header("content-type")
            .unwrap_or_default()
            .starts_with("text/plain")
    );
    let mut families = vec![
        "http_request_duration_seconds_bucket{",
        "http_requests_total{",
        "cache_hits_total{namespace=\"item\"}",
        "cache_misses_total{namespace=\"item\"}",
        "db_pool_connections{state=\"idle\"}",
        "db_pool_connections{state=\"in_use\"}",
        "db_pool_size",
        "db_pool_max_connections",
        "queue_depth{priority=\"critical\",state=\"waiting\"}",
        "queue_jobs_total{priority=\"normal\",outcome=\"completed\"}",
        "rate_limit_rejections_total{class=\"auth\"}",
        "process_resident_memory_bytes",
    ];
    if backend == Backend::Postgres {
        families.push("redis_degraded_total{component=\"cache\"");
    }
    for family in families {
        assert!(
            metrics.text.contains(family),
            "/metrics lacks `{family}`:\n{}",
            metrics.text
        );
    }
    assert!(
        metrics.text.contains("route=\"/api/items/{id}\""),
        "route label is the matched path"
    );
}

async fn raw_get(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    response.to_lowercase()
}

on_both_backends!(
    serves_over_tcp_with_per_ip_limits_and_stops_gracefully,
    flavor = "multi_thread",
    worker_threads = 2
);
async fn serves_over_tcp_with_per_ip_limits_and_stops_gracefully(backend: Backend) {
    let app = support::start_on(backend, |c| {
        c.rate_limits = reference_service::RateLimitMode::On
    })
    .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(reference_service::server::serve(
        listener,
        app.state.clone(),
        async {
            let _ = stopped.await;
        },
    ));
    let first = raw_get(addr, "/api/items/1").await;
    assert!(first.starts_with("http/1.1 200"), "{first}");
    assert!(
        first.contains("x-ratelimit-limit: 20") && first.contains("x-ratelimit-remaining: 19"),
        "{first}"
    );
    // The peer address is the bucket: a second request from 127.0.0.1 draws from the same one.
    let second = raw_get(addr, "/api/items/1").await;
    assert!(second.contains("x-ratelimit-remaining: 18"), "{second}");
    assert!(app.state.workers().check().is_ok());

    stop.send(()).expect("server still running");
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("stops in time")
        .expect("task")
        .expect("serve");
    assert!(
        app.state.workers().check().is_err(),
        "workers stop with the server"
    );
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "listener closed"
    );
}
