//! Cache-aside: miss then hit, tag invalidation on writes, pattern invalidation, bypass, and
//! graceful degradation when Redis is down or slow.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use reference_service::cache::Namespace;
use serde_json::json;

use crate::support::{self, Backend, Reply, TestApp};

const KEY: (&str, &str) = ("x-api-key", "kp_free_demo");

async fn create_item(app: &TestApp, title: &str) -> Reply {
    let reply = app
        .post(
            "/api/items",
            &[KEY],
            json!({"title": title, "category_id": 3, "keywords": ["alpha"]}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    reply
}

on_both_backends!(item_read_hits_after_miss_and_a_write_invalidates_its_tags);
async fn item_read_hits_after_miss_and_a_write_invalidates_its_tags(backend: Backend) {
    let app = support::start_on(backend, |_| {}).await;
    let created = create_item(&app, "Cache probe").await;
    let id = created.body["id"].as_i64().expect("id");
    let account = created.body["account_id"].as_i64().expect("account");
    let uri = format!("/api/items/{id}");
    let stats_uri = format!("/api/accounts/{account}/stats");

    let first = app.get(&uri).await;
    assert_eq!(
        (first.status, first.header("x-cache")),
        (StatusCode::OK, Some("MISS"))
    );
    let second = app.get(&uri).await;
    assert_eq!(second.header("x-cache"), Some("HIT"));
    assert_eq!(second.body, first.body);
    assert_eq!(
        app.x_cache("/api/items?limit=5").await.as_deref(),
        Some("MISS")
    );
    assert_eq!(
        app.x_cache("/api/items?limit=5").await.as_deref(),
        Some("HIT")
    );
    assert_eq!(app.x_cache(&stats_uri).await.as_deref(), Some("MISS"));
    let stats = app.get(&stats_uri).await;
    assert_eq!(stats.header("x-cache"), Some("HIT"));

    let patched = app
        .patch(
            &uri,
            &[KEY],
            json!({"title": "Renamed", "status": "active"}),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);

    // Every entry tagged item:{id}, items:list or account:{owner} is gone.
    let after = app.get(&uri).await;
    assert_eq!(after.header("x-cache"), Some("MISS"));
    assert_eq!(after.body["title"], "Renamed");
    let list = app.get("/api/items?limit=5").await;
    assert_eq!(list.header("x-cache"), Some("MISS"));
    assert_eq!(
        list.body["data"][0]["title"], "Renamed",
        "newest item leads the list"
    );
    let stats_after = app.get(&stats_uri).await;
    assert_eq!(stats_after.header("x-cache"), Some("MISS"));
    assert_eq!(
        stats_after.body["active"].as_i64(),
        stats.body["active"].as_i64().map(|n| n + 1)
    );

    // A create invalidates the lists too.
    assert_eq!(
        app.x_cache("/api/items?limit=5").await.as_deref(),
        Some("HIT")
    );
    create_item(&app, "Newest").await;
    let list = app.get("/api/items?limit=5").await;
    assert_eq!(
        (
            list.header("x-cache"),
            list.body["data"][0]["title"].as_str()
        ),
        (Some("MISS"), Some("Newest"))
    );
}

on_both_backends!(reference_data_is_cached_and_no_cache_bypasses_the_read);
async fn reference_data_is_cached_and_no_cache_bypasses_the_read(backend: Backend) {
    let app = support::start_on(backend, |_| {}).await;
    let first = app.get("/api/reference/categories").await;
    assert_eq!(first.header("x-cache"), Some("MISS"));
    assert_eq!(first.body["data"].as_array().map(Vec::len), Some(12));
    assert_eq!(
        app.x_cache("/api/reference/categories").await.as_deref(),
        Some("HIT")
    );
    let bypass = app
        .get_with(
            "/api/reference/categories",
            &[("cache-control", "no-cache")],
        )
        .await;
    assert_eq!(bypass.header("x-cache"), Some("MISS"));
    assert_eq!(bypass.body, first.body);
}

on_both_backends!(pattern_invalidation_drops_matching_keys_only);
async fn pattern_invalidation_drops_matching_keys_only(backend: Backend) {
    let app = support::start_on(backend, |_| {}).await;
    for id in [1, 2, 3] {
        app.get(&format!("/api/items/{id}")).await;
    }
    app.get("/api/reference/categories").await;
    let removed = app
        .state
        .cache()
        .invalidate_pattern(Namespace::Item, "*")
        .await;
    assert_eq!(removed, 3);
    assert_eq!(app.x_cache("/api/items/2").await.as_deref(), Some("MISS"));
    assert_eq!(
        app.x_cache("/api/reference/categories").await.as_deref(),
        Some("HIT")
    );
}

on_both_backends!(missing_items_are_404_and_not_cached);
async fn missing_items_are_404_and_not_cached(backend: Backend) {
    let app = support::start_on(backend, |_| {}).await;
    let reply = app.get("/api/items/99999999").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.error_code(), "not_found");
    assert_eq!(app.x_cache("/api/items/99999999").await.as_deref(), None);
}

#[tokio::test]
async fn redis_down_reads_and_writes_still_answer_correctly() {
    let mut app = support::start(|_| {}).await;
    let created = create_item(&app, "Survivor").await;
    let id = created.body["id"].as_i64().expect("id");
    let uri = format!("/api/items/{id}");
    let cached = app.get(&uri).await;
    assert_eq!(cached.header("x-cache"), Some("MISS"));
    let list_before = app.get("/api/items?limit=3").await;

    app.redis().stop();
    let started = Instant::now();
    let read = app.get(&uri).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.header("x-cache"), Some("MISS"));
    assert_eq!(read.body, cached.body);
    let list = app.get("/api/items?limit=3").await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.body["data"], list_before.body["data"]);
    let patched = app.patch(&uri, &[KEY], json!({"importance": 99})).await;
    assert_eq!(patched.status, StatusCode::OK);
    let reread = app.get(&uri).await;
    assert_eq!(
        reread.body["importance"], 99,
        "reads go to PostgreSQL, so the write is visible"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "degraded requests stay fast: {:?}",
        started.elapsed()
    );

    let metrics = app.get("/metrics").await;
    assert!(
        metrics
            .text
            .contains("redis_degraded_total{component=\"cache\""),
        "{}",
        metrics.text
    );
    assert!(
        metrics.text.contains("redis_up{component=\"cache\"} 0"),
        "{}",
        metrics.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_slow_reads_fall_back_within_the_timeout() {
    let mut app = support::start(|c| c.redis_timeout_ms = 100).await;
    app.get("/api/items/5").await;
    let client = redis::Client::open(app.redis().url.as_str()).expect("client");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    // DEBUG SLEEP blocks the whole Redis server, as an overloaded one would.
    let sleeper = tokio::spawn(async move {
        let _: Result<String, _> = redis::cmd("DEBUG")
            .arg("SLEEP")
            .arg(2)
            .query_async(&mut conn)
            .await;
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let reply = app.get("/api/items/5").await;
    let elapsed = started.elapsed();
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["id"], 5);
    assert_eq!(reply.header("x-cache"), Some("MISS"));
    assert!(
        elapsed < Duration::from_millis(1_500),
        "fell back after the timeout, not after Redis: {elapsed:?}"
    );
    sleeper.await.expect("sleeper");
}
