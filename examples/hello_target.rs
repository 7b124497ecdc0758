//! A minimal loopback HTTP target for generator benchmarks: `GET /` answers `ok`.
//!
//! `cargo run --release --example hello_target -- 127.0.0.1:18080`

use axum::{Router, routing::get};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18080".into());
    let app = Router::new().route("/", get(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!(
        "hello_target listening on http://{}",
        listener.local_addr()?
    );
    axum::serve(listener, app).await
}
