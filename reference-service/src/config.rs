//! Service configuration from flags and environment variables.
//!
//! Invariant: every tunable the issue names (pool sizes, timeouts, limits, seed volume, bind
//! address) is here with a default that is safe on a laptop: bind to loopback, limits on.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Parser, ValueEnum};

/// Whether rate limits are enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RateLimitMode {
    /// Limits are enforced and reported in `X-RateLimit-*` headers.
    On,
    /// Limits are lifted (raw-capacity load tests); no rate-limit headers are sent.
    Off,
}

/// Configuration of the reference service (flags override environment variables).
#[derive(Debug, Clone, Parser)]
#[command(
    name = "reference-service",
    version,
    about = "kneepoint reference target: axum + PostgreSQL + Redis"
)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "BIND_ADDR", default_value = "127.0.0.1:8080")]
    pub bind_addr: SocketAddr,

    /// PostgreSQL connection URL.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    pub database_url: String,

    /// Redis connection URL.
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    pub redis_url: String,

    /// Maximum connections in the PostgreSQL pool.
    #[arg(long, env = "DB_POOL_MAX", default_value_t = 20)]
    pub db_pool_max: u32,

    /// Connections the PostgreSQL pool keeps open when idle.
    #[arg(long, env = "DB_POOL_MIN", default_value_t = 2)]
    pub db_pool_min: u32,

    /// How long a request waits for a pooled connection before failing, in milliseconds.
    #[arg(long, env = "DB_ACQUIRE_TIMEOUT_MS", default_value_t = 5_000)]
    pub db_acquire_timeout_ms: u64,

    /// Idle connections above the minimum are closed after this many seconds.
    #[arg(long, env = "DB_IDLE_TIMEOUT_SECS", default_value_t = 30)]
    pub db_idle_timeout_secs: u64,

    /// PostgreSQL `statement_timeout`, in milliseconds.
    #[arg(long, env = "DB_STATEMENT_TIMEOUT_MS", default_value_t = 30_000)]
    pub db_statement_timeout_ms: u64,

    /// Statements slower than this are logged at WARN, in milliseconds.
    #[arg(long, env = "DB_SLOW_QUERY_MS", default_value_t = 200)]
    pub db_slow_query_ms: u64,

    /// Prefix of every Redis key the service writes.
    #[arg(long, env = "CACHE_PREFIX", default_value = "rs")]
    pub cache_prefix: String,

    /// Timeout of a single Redis command; past it the request falls back to PostgreSQL.
    #[arg(long, env = "REDIS_TIMEOUT_MS", default_value_t = 100)]
    pub redis_timeout_ms: u64,

    /// After a Redis failure, Redis is bypassed for this long instead of paying the timeout
    /// on every request.
    #[arg(long, env = "REDIS_RETRY_AFTER_MS", default_value_t = 1_000)]
    pub redis_retry_after_ms: u64,

    /// Whether rate limits are enforced (`off` lifts them for raw-capacity tests).
    #[arg(long, env = "RATE_LIMITS", value_enum, default_value_t = RateLimitMode::On)]
    pub rate_limits: RateLimitMode,

    /// Requests per minute for anonymous clients, per IP address.
    #[arg(long, env = "RATE_LIMIT_ANONYMOUS", default_value_t = 20)]
    pub rate_limit_anonymous: u32,

    /// Requests per minute for a free-plan API key.
    #[arg(long, env = "RATE_LIMIT_FREE", default_value_t = 100)]
    pub rate_limit_free: u32,

    /// Requests per minute for a pro-plan API key.
    #[arg(long, env = "RATE_LIMIT_PRO", default_value_t = 1_000)]
    pub rate_limit_pro: u32,

    /// Requests per minute for an enterprise-plan API key.
    #[arg(long, env = "RATE_LIMIT_ENTERPRISE", default_value_t = 10_000)]
    pub rate_limit_enterprise: u32,

    /// Requests per hour to `/api/auth/*`, per IP address.
    #[arg(long, env = "RATE_LIMIT_AUTH", default_value_t = 5)]
    pub rate_limit_auth: u32,

    /// Export jobs per hour, per client.
    #[arg(long, env = "RATE_LIMIT_EXPORT", default_value_t = 10)]
    pub rate_limit_export: u32,

    /// Number of queue workers.
    #[arg(long, env = "QUEUE_WORKERS", default_value_t = 4)]
    pub queue_workers: usize,

    /// How often an idle worker polls for due jobs, in milliseconds.
    #[arg(long, env = "QUEUE_POLL_MS", default_value_t = 200)]
    pub queue_poll_ms: u64,

    /// Multiplier applied to every retry backoff (1.0 = real time; tests use tiny values).
    #[arg(long, env = "QUEUE_TIME_SCALE", default_value_t = 1.0)]
    pub queue_time_scale: f64,

    /// Completed jobs are deleted this many seconds after they finish (0 = at once).
    #[arg(long, env = "QUEUE_COMPLETED_RETENTION_SECS", default_value_t = 300)]
    pub queue_completed_retention_secs: u64,

    /// On shutdown, in-flight jobs get this long to finish before they are requeued, in ms.
    #[arg(long, env = "QUEUE_SHUTDOWN_GRACE_MS", default_value_t = 10_000)]
    pub queue_shutdown_grace_ms: u64,

    /// Items to seed at start-up when the database holds none (0 = do not seed).
    #[arg(long, env = "SEED_ITEMS", default_value_t = 100_000)]
    pub seed_items: u64,

    /// Seed of the deterministic data generator.
    #[arg(long, env = "SEED", default_value_t = 42)]
    pub seed: u64,

    /// Requests slower than this are logged at WARN, in milliseconds.
    #[arg(long, env = "SLOW_REQUEST_MS", default_value_t = 1_000)]
    pub slow_request_ms: u64,
}

impl Config {
    /// The defaults, as if started with no flags (environment variables still apply).
    pub fn from_env() -> Config {
        Config::parse_from(["reference-service"])
    }

    pub(crate) fn redis_timeout(&self) -> Duration {
        Duration::from_millis(self.redis_timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_documented_contract() {
        let config = Config::try_parse_from(["reference-service", "--bind-addr", "127.0.0.1:8080"])
            .expect("defaults parse");
        assert_eq!(config.db_pool_max, 20);
        assert_eq!(config.db_pool_min, 2);
        assert_eq!(config.db_acquire_timeout_ms, 5_000);
        assert_eq!(config.db_idle_timeout_secs, 30);
        assert_eq!(config.db_statement_timeout_ms, 30_000);
        assert_eq!(config.rate_limit_free, 100);
        assert_eq!(config.rate_limit_pro, 1_000);
        assert_eq!(config.rate_limit_enterprise, 10_000);
    }

    #[test]
    fn rate_limits_can_be_lifted() {
        let config = Config::try_parse_from(["reference-service", "--rate-limits", "off"])
            .expect("flag parses");
        assert_eq!(config.rate_limits, RateLimitMode::Off);
    }
}
