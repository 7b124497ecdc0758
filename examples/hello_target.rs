//! A minimal loopback HTTP target for generator benchmarks: `GET /` answers `ok` at once;
//! `GET /delay/{ms}` after sleeping `ms` milliseconds (a path of known latency);
//! `GET /freeze/{period_ms}/{freeze_ms}` after 1 ms, except that in the middle of every period
//! (counted from the first request to it) the path freezes for `freeze_ms` and answers every
//! request that arrived meanwhile when the freeze ends — wrk2's stall test, with the analytic
//! answer p95 ≈ F/2, p99 ≈ 0.9 F at a 10 % freeze share.
//!
//! `cargo run --release --example hello_target -- 127.0.0.1:18080`

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::{Router, routing::get};
use tokio::time::Instant;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18080".into());
    let first: Arc<OnceLock<Instant>> = Arc::default();
    let app = Router::new()
        .route("/", get(|| async { "ok" }))
        .route(
            "/delay/{ms}",
            get(|Path(ms): Path<u64>| async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                "ok"
            }),
        )
        .route("/freeze/{period_ms}/{freeze_ms}", get(freeze))
        .with_state(first);
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!(
        "hello_target listening on http://{}",
        listener.local_addr()?
    );
    axum::serve(listener, app).await
}

async fn freeze(
    State(first): State<Arc<OnceLock<Instant>>>,
    Path((period_ms, freeze_ms)): Path<(u64, u64)>,
) -> &'static str {
    let now = Instant::now();
    let first = *first.get_or_init(|| now);
    let period = period_ms.max(1);
    let freeze = freeze_ms.min(period);
    let since = u64::try_from(now.duration_since(first).as_millis()).unwrap_or(u64::MAX);
    let (start, into) = ((period - freeze) / 2, since % period);
    if (start..start + freeze).contains(&into) {
        tokio::time::sleep(Duration::from_millis(start + freeze - into)).await;
    } else {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    "ok"
}
