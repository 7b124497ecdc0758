//! The embedded variant: the whole service in one process, without PostgreSQL or Redis —
//! SQLite (a temporary file in WAL mode) for the store, and an in-process cache, rate limiter and
//! job queue.
//!
//! Invariant: only the backends differ. Routes, middleware, the cache-aside layer, quotas, retry
//! policies and metrics are the same code as with PostgreSQL and Redis, so a load test sees the
//! same API, headers and metric names. State lives and dies with the process (the database file
//! is deleted when the store is dropped).

use std::sync::Arc;

use crate::cache::MemoryCache;
use crate::config::Config;
use crate::limiter::MemoryLimiter;
use crate::queue::MemoryQueue;
use crate::seed;
use crate::state::{AppState, Parts, StartupError};
use crate::store::{SqliteStore, Store};

/// Opens a fresh SQLite database, runs its migrations, seeds it with `config.seed_items` items
/// (from `config.seed`) and builds the in-process cache, limiter and queue.
///
/// Of the configuration, the pool, timeout, seed, queue and rate-limit settings apply;
/// `database_url`, `redis_url` and the Redis timeouts are not used by these backends.
pub async fn embedded_parts(config: &Config) -> Result<Parts, StartupError> {
    let store = SqliteStore::open_temp(config).await?;
    store.migrate().await?;
    seed::seed_if_empty(&store, config.seed, config.seed_items).await?;
    Ok(Parts {
        store: Arc::new(store),
        cache: Arc::new(MemoryCache::default()),
        queue: Arc::new(MemoryQueue::new()),
        limiter: Arc::new(MemoryLimiter::new()),
        handlers: None,
    })
}

/// [`embedded_parts`] wired into an [`AppState`] with its queue workers started (needs a Tokio
/// runtime): the embedded counterpart of [`AppState::connect`].
pub async fn connect(config: &Config) -> Result<AppState, StartupError> {
    let parts = embedded_parts(config).await?;
    Ok(AppState::from_parts(parts, config.clone()))
}
