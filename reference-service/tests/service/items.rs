//! Item listing (cursor and offset), validation, writes and auth.

use std::collections::HashSet;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{self, Backend, SEED_ITEMS};

fn ids(page: &Value) -> Vec<i64> {
    page["data"]
        .as_array()
        .map(|rows| rows.iter().filter_map(|r| r["id"].as_i64()).collect())
        .unwrap_or_default()
}

on_both_backends!(
    cursor_walk_sees_every_row_once_while_rows_are_inserted,
    flavor = "multi_thread",
    worker_threads = 2
);
async fn cursor_walk_sees_every_row_once_while_rows_are_inserted(backend: Backend) {
    let app = support::start_on(backend, |_| {}).await;
    let before: HashSet<i64> = {
        let all = app.get("/api/items?page=1&per_page=100").await;
        assert_eq!(all.body["total"], SEED_ITEMS);
        let mut set = HashSet::new();
        for page in 1..=SEED_ITEMS.div_ceil(100) {
            set.extend(ids(&app
                .get(&format!("/api/items?page={page}&per_page=100"))
                .await
                .body));
        }
        set
    };
    assert_eq!(before.len() as u64, SEED_ITEMS);

    let writer = {
        let router = app.router.clone();
        tokio::spawn(async move {
            for n in 0..40 {
                let body = json!({"title": format!("Inserted {n}"), "category_id": 1});
                let reply = support::call(
                    &router,
                    Method::POST,
                    "/api/items",
                    &[("x-api-key", "kp_pro_demo")],
                    Some(body),
                )
                .await;
                assert_eq!(reply.status, StatusCode::CREATED);
                tokio::task::yield_now().await;
            }
        })
    };
    let mut seen = Vec::new();
    let mut uri = "/api/items?limit=7".to_owned();
    loop {
        let page = app.get(&uri).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        let rows = ids(&page.body);
        assert!(rows.len() <= 7);
        seen.extend(rows);
        match page.body["next_cursor"].as_str() {
            Some(cursor) => {
                assert_eq!(page.body["has_more"], true);
                uri = format!("/api/items?limit=7&cursor={cursor}");
            }
            None => {
                assert_eq!(page.body["has_more"], false);
                break;
            }
        }
    }
    writer.await.expect("writer");
    let unique: HashSet<i64> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "no row appears twice");
    let missing: Vec<&i64> = before.difference(&unique).collect();
    assert!(missing.is_empty(), "rows skipped by the walk: {missing:?}");
}

on_both_backends!(offset_and_cursor_pages_agree);
async fn offset_and_cursor_pages_agree(backend: Backend) {
    let app = support::start_on(backend, |_| {}).await;
    let offset = app.get("/api/items?page=3&per_page=10").await;
    assert_eq!(offset.body["page"], 3);
    assert_eq!(offset.body["per_page"], 10);
    assert_eq!(offset.body["total"], SEED_ITEMS);
    assert_eq!(offset.body["total_pages"], SEED_ITEMS.div_ceil(10));
    let first = app.get("/api/items?limit=20").await;
    let cursor = first.body["next_cursor"]
        .as_str()
        .expect("more pages")
        .to_owned();
    let third = app
        .get(&format!("/api/items?limit=10&cursor={cursor}"))
        .await;
    assert_eq!(ids(&third.body), ids(&offset.body));
    let beyond = app.get("/api/items?page=1000&per_page=100").await;
    assert_eq!(beyond.status, StatusCode::OK);
    assert_eq!(ids(&beyond.body), Vec::<i64>::new());
}

on_both_backends!(list_parameters_are_clamped_or_rejected_as_json_400);
async fn list_parameters_are_clamped_or_rejected_as_json_400(backend: Backend) {
    let app = support::start_on(backend, |_| {}).await;
    assert_eq!(ids(&app.get("/api/items?limit=1000").await.body).len(), 100);
    assert_eq!(ids(&app.get("/api/items?limit=0").await.body).len(), 1);
    assert_eq!(ids(&app.get("/api/items").await.body).len(), 50);
    assert_eq!(
        app.get("/api/items?page=0&per_page=0").await.body["per_page"],
        1
    );
    for uri in [
        "/api/items?limit=ten",
        "/api/items?limit=1e3",
        "/api/items?cursor=not-a-cursor",
        "/api/items?cursor=MTIzOmFiYw",
        "/api/items?page=two",
        "/api/items?page=1&cursor=abc",
        "/api/items?per_page=-",
        "/api/items?status=deleted",
        "/api/items?category=x",
        "/api/items/abc",
        "/api/items/99999999999999999999999",
        "/api/jobs/not-a-uuid",
        "/api/accounts/x/stats",
    ] {
        let reply = app.get(uri).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{uri}: {}",
            reply.text
        );
        assert_eq!(reply.error_code(), "bad_request", "{uri}");
        assert!(
            reply.body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{uri}"
        );
    }
}

on_both_backends!(filters_use_status_category_and_keyword);
async fn filters_use_status_category_and_keyword(backend: Backend) {
    let app = support::start_on(backend, |_| {}).await;
    let pending = app.get("/api/items?status=pending&limit=100").await;
    let rows = pending.body["data"].as_array().cloned().unwrap_or_default();
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|r| r["status"] == "pending"));
    let tagged = app
        .get("/api/items?keyword=alpha&page=1&per_page=100")
        .await;
    let rows = tagged.body["data"].as_array().cloned().unwrap_or_default();
    assert!(!rows.is_empty());
    assert_eq!(tagged.body["total"].as_u64(), Some(rows.len() as u64));
    assert!(rows.iter().all(|r| {
        r["keywords"]
            .as_array()
            .is_some_and(|k| k.contains(&json!("alpha")))
    }));
    let category = app.get("/api/items?category=2&limit=100").await;
    let rows = category.body["data"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|r| r["category_id"] == 2));
}

on_both_backends!(writes_need_an_owner_and_valid_bodies);
async fn writes_need_an_owner_and_valid_bodies(backend: Backend) {
    let app = support::start_on(backend, |_| {}).await;
    let anonymous = app
        .post("/api/items", &[], json!({"title": "x", "category_id": 1}))
        .await;
    assert_eq!(
        (anonymous.status, anonymous.error_code()),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );
    let bad_key = app.get_with("/api/items/1", &[("x-api-key", "nope")]).await;
    assert_eq!(bad_key.status, StatusCode::UNAUTHORIZED);

    let login = app.login("pro@example.test", "kneepoint").await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.text);
    assert_eq!(login.body["token_type"], "Bearer");
    let bearer = format!("Bearer {}", login.body["token"].as_str().expect("token"));
    let wrong = app.login("pro@example.test", "guess").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);

    let created = app
        .post(
            "/api/items",
            &[("authorization", &bearer)],
            json!({"title": "Mine", "category_id": 4, "importance": 70}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(created.body["account_id"], login.body["account"]["id"]);
    let uri = format!("/api/items/{}", created.body["id"]);

    for (method, body) in [
        (Method::POST, json!({"title": "", "category_id": 1})),
        (Method::POST, json!({"title": "x", "category_id": 99})),
        (
            Method::POST,
            json!({"title": "x", "category_id": 1, "importance": 101}),
        ),
        (
            Method::POST,
            json!({"title": "x", "category_id": 1, "colour": "red"}),
        ),
        (Method::POST, json!({"category_id": 1})),
        (Method::PUT, json!({"title": "only a title"})),
        (Method::PATCH, json!({})),
        (Method::PATCH, json!({"status": "gone"})),
    ] {
        let target = if method == Method::POST {
            "/api/items"
        } else {
            uri.as_str()
        };
        let reply = app
            .call(
                method.clone(),
                target,
                &[("authorization", &bearer)],
                Some(body.clone()),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{method} {body}: {}",
            reply.text
        );
    }
    let not_json = app
        .call(
            Method::POST,
            "/api/items",
            &[
                ("authorization", &bearer),
                ("content-type", "application/json"),
            ],
            None,
        )
        .await;
    assert_eq!(not_json.status, StatusCode::BAD_REQUEST);

    let put = app
        .call(Method::PUT, &uri, &[("authorization", &bearer)], Some(json!({"title": "Replaced", "category_id": 5, "importance": 1, "keywords": ["Zeta"], "status": "archived"})))
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.text);
    assert_eq!(
        (put.body["title"].as_str(), put.body["keywords"][0].as_str()),
        (Some("Replaced"), Some("zeta"))
    );

    let other = app
        .patch(
            &uri,
            &[("x-api-key", "kp_free_demo")],
            json!({"title": "Stolen"}),
        )
        .await;
    assert_eq!(
        (other.status, other.error_code()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    let missing = app
        .patch(
            "/api/items/99999999",
            &[("authorization", &bearer)],
            json!({"title": "x"}),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

on_both_backends!(account_stats_are_an_aggregate_of_the_account);
async fn account_stats_are_an_aggregate_of_the_account(backend: Backend) {
    let app = support::start_on(backend, |_| {}).await;
    let stats = app.get("/api/accounts/1/stats").await;
    assert_eq!(stats.status, StatusCode::OK, "{}", stats.text);
    let total = stats.body["items"].as_i64().expect("items");
    let parts: i64 = ["pending", "active", "archived"]
        .iter()
        .filter_map(|k| stats.body[k].as_i64())
        .sum();
    assert_eq!(parts, total);
    let score = stats.body["health_score"].as_f64().expect("score");
    assert!((0.0..=100.0).contains(&score));
    assert_eq!(
        app.get("/api/accounts/999999/stats").await.status,
        StatusCode::NOT_FOUND
    );
}
