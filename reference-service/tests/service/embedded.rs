//! What only the embedded backend has: its readiness report, its seeding, its throwaway
//! database file. Everything else runs on both backends in the other modules.

use std::time::Instant;

use axum::http::StatusCode;
use reference_service::store::{SqliteStore, Store};
use reference_service::{Config, seed};

use crate::support::{self, Backend};

#[tokio::test]
async fn ready_names_the_embedded_parts() {
    let app = support::start_on(Backend::Embedded, |_| {}).await;
    let ready = app.get("/ready").await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.text);
    assert_eq!(
        ready.body["checks"],
        serde_json::json!({"sqlite": "ok", "memory_cache": "ok", "queue": "ok"})
    );
    app.state.shutdown().await;
    let stopping = app.get("/ready").await;
    assert_eq!(stopping.status, StatusCode::SERVICE_UNAVAILABLE);
    let message = stopping.body["error"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(
        message.contains("queue") && !message.contains("sqlite"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeding_is_batched_deterministic_and_runs_once() {
    let mut config = Config::from_env();
    config.db_pool_max = 4;
    let store = SqliteStore::open_temp(&config).await.expect("open");
    store.migrate().await.expect("migrate");
    let started = Instant::now();
    // 12 345 rows: two full batches of 5 000 and a partial one.
    let added = seed::seed_if_empty(&store, 3, 12_345).await.expect("seed");
    let elapsed = started.elapsed();
    assert_eq!(added, 12_345);
    assert_eq!(store.count_items().await.expect("count"), 12_345);
    assert_eq!(
        seed::seed_if_empty(&store, 3, 12_345).await.expect("again"),
        0,
        "a seeded database is left alone"
    );
    // Ids are dense and in generation order, as with PostgreSQL's COPY.
    let first = store.item(1).await.expect("item").expect("id 1");
    let last = store.item(12_345).await.expect("item").expect("last id");
    let mut expected = Vec::new();
    seed::items_in_batches(3, 12_345, seed::accounts(3, 12_345).len() as i64, |batch| {
        expected.extend(batch);
        Ok::<(), ()>(())
    })
    .expect("generate");
    assert_eq!(
        (first.title.as_str(), last.title.as_str()),
        (
            expected[0].item.title.as_str(),
            expected[12_344].item.title.as_str()
        )
    );
    assert_eq!(first.keywords, expected[0].item.keywords);
    assert_eq!(first.created_at, expected[0].created_at);
    assert!(
        elapsed.as_secs() < 30,
        "seeding 12 345 rows took {elapsed:?}"
    );
}

#[tokio::test]
async fn the_database_file_goes_with_the_store() {
    let store = SqliteStore::open_temp(&Config::from_env())
        .await
        .expect("open");
    store.migrate().await.expect("migrate");
    let path = store.path().to_owned();
    assert!(path.exists(), "{}", path.display());
    drop(store);
    assert!(!path.exists(), "{} left behind", path.display());
    assert!(
        path.parent().is_some_and(|dir| !dir.exists()),
        "temp directory left behind"
    );
}
