//! A minimal loopback HTTP target for generator benchmarks: `GET /` answers `ok` at once;
//! `GET /delay/{ms}` after sleeping `ms` milliseconds (a path of known latency).
//!
//! `cargo run --release --example hello_target -- 127.0.0.1:18080`

use std::time::Duration;

use axum::extract::Path;
use axum::{Router, routing::get};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18080".into());
    let app = Router::new().route("/", get(|| async { "ok" })).route(
        "/delay/{ms}",
        get(|Path(ms): Path<u64>| async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            "ok"
        }),
    );
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!(
        "hello_target listening on http://{}",
        listener.local_addr()?
    );
    axum::serve(listener, app).await
}
