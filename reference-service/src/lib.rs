//! kneepoint's reference target: an axum service with the architecture performance guides
//! describe — a pooled PostgreSQL store, Redis cache-aside with tag invalidation, a prioritised
//! job queue with retry policies, tiered distributed rate limits — and every feature visible to
//! a load test through headers (`X-Cache`, `X-RateLimit-*`, `X-Response-Time`), status codes and
//! Prometheus metrics.
//!
//! Storage, cache, queue and limiter sit behind the [`Store`], [`Cache`], [`JobQueue`] and
//! [`Limiter`] traits; [`AppState::connect`] wires the PostgreSQL + Redis implementations and
//! [`AppState::from_parts`] accepts any others; [`embedded::connect`] wires the embedded ones
//! (SQLite and in-process cache, limiter and queue), for running without either server.
//!
//! ```no_run
//! use clap::Parser;
//! use reference_service::{AppState, Config, app};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let config = Config::parse_from(["reference-service", "--seed-items", "1000"]);
//! let state = AppState::connect(&config).await?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! axum::serve(listener, app(state)).await?;
//! # Ok(()) }
//! ```

pub mod cache;
pub mod config;
pub mod embedded;
pub mod error;
pub mod limiter;
pub mod metrics;
mod middleware;
pub mod model;
pub mod queue;
mod routes;
pub mod seed;
pub mod server;
pub mod state;
pub mod store;

pub use cache::{Cache, CacheLayer};
pub use config::{Config, RateLimitMode};
pub use error::ApiError;
pub use limiter::Limiter;
pub use middleware::Caller;
pub use queue::JobQueue;
pub use state::{AppState, Parts, StartupError};
pub use store::Store;

/// The service's router with all routes and middleware, bound to `state`.
pub fn app(state: AppState) -> axum::Router {
    routes::router(state)
}
