//! Shared application state: the four backends behind their traits, plus configuration.
//!
//! Invariant: handlers reach storage, cache, queue and limiter only through the trait objects
//! held here, so a different set of backends (an embedded variant) needs no route changes.

use std::sync::Arc;
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusHandle;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::cache::{Breaker, Cache, CacheLayer, RedisCache};
use crate::config::{Config, RateLimitMode};
use crate::limiter::{Limiter, Quotas, RedisLimiter};
use crate::queue::{ExportHandler, Handlers, JobQueue, PgQueue, WorkerOptions, WorkerPool};
use crate::seed;
use crate::store::{PgStore, Store, StoreError};

/// Start-up failure.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// PostgreSQL could not be prepared (connection, migrations, seeding).
    #[error("cannot prepare the database")]
    Store(#[from] StoreError),
    /// The Redis URL is invalid.
    #[error("invalid redis url `{url}`")]
    Redis {
        /// The URL as given.
        url: String,
        /// The client error.
        #[source]
        source: redis::RedisError,
    },
    /// The listener could not be bound or the server failed.
    #[error("cannot serve on {addr}")]
    Serve {
        /// The bind address.
        addr: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// The backends an [`AppState`] is built from.
pub struct Parts {
    /// Storage.
    pub store: Arc<dyn Store>,
    /// Cache backend.
    pub cache: Arc<dyn Cache>,
    /// Job queue.
    pub queue: Arc<dyn JobQueue>,
    /// Rate limiter backend (unused when limits are off).
    pub limiter: Arc<dyn Limiter>,
    /// Job handlers; the export handler on `store` when `None`.
    pub handlers: Option<Handlers>,
}

pub(crate) struct Inner {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) cache: CacheLayer,
    pub(crate) queue: Arc<dyn JobQueue>,
    pub(crate) limiter: Option<Arc<dyn Limiter>>,
    pub(crate) limiter_breaker: Breaker,
    pub(crate) quotas: Quotas,
    pub(crate) workers: Arc<WorkerPool>,
    pub(crate) config: Config,
    pub(crate) metrics: PrometheusHandle,
}

/// Cheaply clonable state handed to every handler.
#[derive(Clone)]
pub struct AppState {
    pub(crate) inner: Arc<Inner>,
}

impl AppState {
    /// Connects to PostgreSQL and Redis, runs migrations, seeds an empty database with
    /// `config.seed_items` items and starts the queue workers.
    ///
    /// Redis is connected lazily: the service starts (degraded) while Redis is down.
    /// PostgreSQL is retried for up to 30 s, since containers may start in any order.
    pub async fn connect(config: &Config) -> Result<AppState, StartupError> {
        let store = PgStore::connect_lazy(config)?;
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            match store.migrate().await {
                Ok(()) => break,
                Err(StoreError::Migrate(sqlx::migrate::MigrateError::Execute(
                    sqlx::Error::PoolTimedOut | sqlx::Error::Io(_),
                )))
                | Err(StoreError::Unavailable(_))
                    if std::time::Instant::now() < deadline =>
                {
                    tracing::warn!("postgres not reachable yet, retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(error) => return Err(error.into()),
            }
        }
        seed::seed_if_empty(&store, config.seed, config.seed_items).await?;
        let conn = redis_manager(config)?;
        let queue = Arc::new(PgQueue::new(store.pool().clone()));
        let parts = Parts {
            store: Arc::new(store),
            cache: Arc::new(RedisCache::new(conn.clone())),
            queue,
            limiter: Arc::new(RedisLimiter::new(conn, &config.cache_prefix)),
            handlers: None,
        };
        Ok(AppState::from_parts(parts, config.clone()))
    }

    /// Builds the state from ready backends and starts the queue workers (needs a Tokio runtime).
    pub fn from_parts(parts: Parts, config: Config) -> AppState {
        let handlers = parts.handlers.unwrap_or_else(|| {
            Handlers::new().with("export", Arc::new(ExportHandler::new(parts.store.clone())))
        });
        let workers = WorkerPool::start(parts.queue.clone(), handlers, worker_options(&config));
        let retry = Duration::from_millis(config.redis_retry_after_ms);
        let inner = Inner {
            cache: CacheLayer::new(
                parts.cache,
                &config.cache_prefix,
                config.redis_timeout(),
                retry,
            ),
            store: parts.store,
            queue: parts.queue,
            limiter: (config.rate_limits == RateLimitMode::On).then_some(parts.limiter),
            limiter_breaker: Breaker::new("rate_limit", retry),
            quotas: Quotas::from_config(&config),
            workers,
            metrics: crate::metrics::handle(),
            config,
        };
        AppState {
            inner: Arc::new(inner),
        }
    }

    /// Storage.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// Cache-aside layer.
    pub fn cache(&self) -> &CacheLayer {
        &self.inner.cache
    }

    /// Job queue.
    pub fn queue(&self) -> &Arc<dyn JobQueue> {
        &self.inner.queue
    }

    /// Queue workers.
    pub fn workers(&self) -> &Arc<WorkerPool> {
        &self.inner.workers
    }

    /// Configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Stops the queue workers gracefully (in-flight jobs finish or are requeued).
    pub async fn shutdown(&self) {
        self.inner.workers.shutdown().await;
    }
}

/// Queue settings from the configuration.
pub fn worker_options(config: &Config) -> WorkerOptions {
    WorkerOptions {
        workers: config.queue_workers,
        poll: Duration::from_millis(config.queue_poll_ms),
        time_scale: config.queue_time_scale,
        completed_retention: Duration::from_secs(config.queue_completed_retention_secs),
        shutdown_grace: Duration::from_millis(config.queue_shutdown_grace_ms),
        ..WorkerOptions::default()
    }
}

/// A lazily connecting Redis connection manager with short timeouts.
pub fn redis_manager(config: &Config) -> Result<ConnectionManager, StartupError> {
    let client =
        redis::Client::open(config.redis_url.as_str()).map_err(|source| StartupError::Redis {
            url: config.redis_url.clone(),
            source,
        })?;
    let timeout = config.redis_timeout();
    let manager_config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_millis(200));
    ConnectionManager::new_lazy_with_config(client, manager_config).map_err(|source| {
        StartupError::Redis {
            url: config.redis_url.clone(),
            source,
        }
    })
}
