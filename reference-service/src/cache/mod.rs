//! Cache-aside on a key-value backend: get-or-set with TTL tiers, namespaces, tag and pattern
//! invalidation, hit/miss counters and graceful degradation.
//!
//! Invariant: the cache is an optimisation only. Any backend error or timeout turns into a
//! miss (the loader runs against the database), is counted in `redis_degraded_total`, and makes
//! the layer bypass the backend for a short while instead of paying the timeout on every request.

mod memory;
mod redis;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use self::memory::MemoryCache;
pub use self::redis::RedisCache;
use crate::metrics as m;

/// A cache backend failure.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The backend answered with an error or could not be reached.
    #[error("cache backend failed")]
    Backend(#[source] ::redis::RedisError),
    /// The backend did not answer in time.
    #[error("cache backend timed out after {0:?}")]
    Timeout(Duration),
}

/// A key-value store with expiry and tag sets. Keys, tags and patterns arrive fully prefixed.
#[async_trait]
pub trait Cache: Send + Sync {
    /// What the backend is, as `/ready` names it: `redis`, `memory_cache`.
    fn name(&self) -> &'static str;
    /// The value under `key`, if present.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError>;
    /// Stores `value` for `ttl` and adds `key` to each tag set.
    async fn set(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
        tags: &[String],
    ) -> Result<(), CacheError>;
    /// Deletes every key in the given tag sets, and the sets; returns keys deleted.
    async fn invalidate_tags(&self, tags: &[String]) -> Result<u64, CacheError>;
    /// Deletes every key matching a glob pattern; returns keys deleted.
    async fn invalidate_pattern(&self, pattern: &str) -> Result<u64, CacheError>;
    /// Checks that the backend answers.
    async fn ping(&self) -> Result<(), CacheError>;
}

/// Cache namespaces; each has its own hit/miss counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Namespace {
    /// Single items by id.
    Item,
    /// Item list pages.
    ItemList,
    /// Per-account stats.
    AccountStats,
    /// Reference data.
    Reference,
}

impl Namespace {
    /// Label value and key segment.
    pub fn as_str(self) -> &'static str {
        match self {
            Namespace::Item => "item",
            Namespace::ItemList => "item_list",
            Namespace::AccountStats => "account_stats",
            Namespace::Reference => "reference",
        }
    }
}

/// TTL tiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ttl {
    /// 60 s: lists, which every write invalidates anyway.
    OneMinute,
    /// 5 min: expensive aggregates.
    FiveMinutes,
    /// 15 min: single entities.
    FifteenMinutes,
    /// 1 h: slowly changing data.
    OneHour,
    /// 24 h: reference data.
    OneDay,
}

impl Ttl {
    /// The tier as a duration.
    pub fn duration(self) -> Duration {
        Duration::from_secs(match self {
            Ttl::OneMinute => 60,
            Ttl::FiveMinutes => 300,
            Ttl::FifteenMinutes => 900,
            Ttl::OneHour => 3_600,
            Ttl::OneDay => 86_400,
        })
    }
}

/// Whether a value came from the cache (`X-Cache`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    /// Served from the cache.
    Hit,
    /// Loaded from the database (and stored, when the cache is up).
    Miss,
}

impl CacheStatus {
    /// The `X-Cache` header value.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheStatus::Hit => "HIT",
            CacheStatus::Miss => "MISS",
        }
    }
}

/// Shared health of a Redis-backed component: after a failure it is bypassed for a while.
#[derive(Debug)]
pub struct Breaker {
    component: &'static str,
    origin: Instant,
    open_until_ms: AtomicU64,
    retry_after: Duration,
}

impl Breaker {
    /// A closed breaker for `component` (`cache`, `rate_limit`).
    pub fn new(component: &'static str, retry_after: Duration) -> Breaker {
        Breaker {
            component,
            origin: Instant::now(),
            open_until_ms: AtomicU64::new(0),
            retry_after,
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether calls should skip the backend right now.
    pub fn is_open(&self) -> bool {
        self.now_ms() < self.open_until_ms.load(Ordering::Relaxed)
    }

    /// Records a failure: counts it and opens the breaker.
    pub fn trip(&self, reason: &'static str) {
        metrics::counter!(m::REDIS_DEGRADED, "component" => self.component, "reason" => reason)
            .increment(1);
        metrics::gauge!(m::REDIS_UP, "component" => self.component).set(0.0);
        let until = self
            .now_ms()
            .saturating_add(u64::try_from(self.retry_after.as_millis()).unwrap_or(u64::MAX));
        self.open_until_ms.store(until, Ordering::Relaxed);
        tracing::warn!(
            component = self.component,
            reason,
            "redis degraded, bypassing it for a while"
        );
    }

    /// Records a success.
    pub fn ok(&self) {
        metrics::gauge!(m::REDIS_UP, "component" => self.component).set(1.0);
    }

    /// Runs a backend call under the timeout; `None` when skipped, failed or timed out.
    pub async fn call<T, E, F>(&self, timeout: Duration, call: F) -> Option<T>
    where
        F: Future<Output = Result<T, E>>,
        E: std::fmt::Display,
    {
        if self.is_open() {
            metrics::counter!(m::REDIS_BYPASSED, "component" => self.component).increment(1);
            return None;
        }
        match tokio::time::timeout(timeout, call).await {
            Ok(Ok(value)) => {
                self.ok();
                Some(value)
            }
            Ok(Err(error)) => {
                tracing::debug!(component = self.component, %error, "redis call failed");
                self.trip("error");
                None
            }
            Err(_) => {
                self.trip("timeout");
                None
            }
        }
    }
}

/// Cache-aside over any [`Cache`] backend, with metrics and degradation.
#[derive(Clone)]
pub struct CacheLayer {
    backend: Arc<dyn Cache>,
    prefix: String,
    timeout: Duration,
    breaker: Arc<Breaker>,
}

impl CacheLayer {
    /// Wraps a backend; keys get `prefix:` in front, calls time out after `timeout`.
    pub fn new(
        backend: Arc<dyn Cache>,
        prefix: &str,
        timeout: Duration,
        retry_after: Duration,
    ) -> CacheLayer {
        CacheLayer {
            backend,
            prefix: prefix.to_owned(),
            timeout,
            breaker: Arc::new(Breaker::new("cache", retry_after)),
        }
    }

    fn key(&self, namespace: Namespace, key: &str) -> String {
        format!("{}:{}:{}", self.prefix, namespace.as_str(), key)
    }

    fn tag_key(&self, tag: &str) -> String {
        format!("{}:tag:{}", self.prefix, tag)
    }

    /// Returns the cached value of `key`, or runs `load`, stores its result with `ttl` under the
    /// given tags and returns it. With `bypass` (a `Cache-Control: no-cache` request) the read is
    /// skipped but the fresh value is stored. Loader errors are returned and never cached.
    pub async fn get_or_set<T, E, F, Fut>(
        &self,
        namespace: Namespace,
        key: &str,
        ttl: Ttl,
        tags: &[String],
        bypass: bool,
        load: F,
    ) -> Result<(T, CacheStatus), E>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let full_key = self.key(namespace, key);
        let cached = match bypass {
            true => None,
            false => self
                .breaker
                .call(self.timeout, self.backend.get(&full_key))
                .await
                .flatten(),
        };
        // A value that no longer decodes (older layout) is treated as a miss and rewritten.
        if let Some(value) = cached.and_then(|bytes| serde_json::from_slice::<T>(&bytes).ok()) {
            metrics::counter!(m::CACHE_HITS, "namespace" => namespace.as_str()).increment(1);
            return Ok((value, CacheStatus::Hit));
        }
        metrics::counter!(m::CACHE_MISSES, "namespace" => namespace.as_str()).increment(1);
        let value = load().await?;
        if let Ok(bytes) = serde_json::to_vec(&value) {
            let tag_keys: Vec<String> = tags.iter().map(|t| self.tag_key(t)).collect();
            self.breaker
                .call(
                    self.timeout,
                    self.backend
                        .set(&full_key, &bytes, ttl.duration(), &tag_keys),
                )
                .await;
        }
        Ok((value, CacheStatus::Miss))
    }

    /// Drops every entry tagged with any of `tags`; returns how many went (0 when degraded).
    pub async fn invalidate_tags(&self, tags: &[String]) -> u64 {
        let tag_keys: Vec<String> = tags.iter().map(|t| self.tag_key(t)).collect();
        self.invalidate("tag", self.backend.invalidate_tags(&tag_keys))
            .await
    }

    /// Drops every entry of `namespace` whose key matches the glob `pattern`.
    pub async fn invalidate_pattern(&self, namespace: Namespace, pattern: &str) -> u64 {
        let full = self.key(namespace, pattern);
        self.invalidate("pattern", self.backend.invalidate_pattern(&full))
            .await
    }

    /// Runs one backend invalidation through the breaker and counts what it removed under
    /// `kind` (0 when degraded).
    async fn invalidate(
        &self,
        kind: &'static str,
        removal: impl Future<Output = Result<u64, CacheError>>,
    ) -> u64 {
        let removed = self.breaker.call(self.timeout, removal).await.unwrap_or(0);
        metrics::counter!(m::CACHE_INVALIDATIONS, "kind" => kind).increment(removed);
        removed
    }

    /// The backend's name (see [`Cache::name`]).
    pub fn backend_name(&self) -> &'static str {
        self.backend.name()
    }

    /// Checks the backend directly (no breaker), for `/ready`.
    pub async fn ping(&self) -> Result<(), CacheError> {
        match tokio::time::timeout(
            self.timeout.max(Duration::from_millis(500)),
            self.backend.ping(),
        )
        .await
        {
            Ok(result) => result,
            Err(_) => Err(CacheError::Timeout(self.timeout)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_tiers_are_the_documented_ones() {
        let secs: Vec<u64> = [
            Ttl::OneMinute,
            Ttl::FiveMinutes,
            Ttl::FifteenMinutes,
            Ttl::OneHour,
            Ttl::OneDay,
        ]
        .iter()
        .map(|t| t.duration().as_secs())
        .collect();
        assert_eq!(secs, [60, 300, 900, 3_600, 86_400]);
    }

    #[tokio::test]
    async fn breaker_opens_on_failure_and_skips_calls() {
        let breaker = Breaker::new("cache", Duration::from_secs(60));
        let failed: Option<()> = breaker
            .call(Duration::from_secs(1), async { Err::<(), _>("boom") })
            .await;
        assert!(failed.is_none());
        assert!(breaker.is_open());
        let mut ran = false;
        let skipped = breaker
            .call(Duration::from_secs(1), async {
                ran = true;
                Ok::<_, String>(1)
            })
            .await;
        assert_eq!(skipped, None);
        assert!(!ran, "an open breaker must not call the backend");
    }

    #[tokio::test]
    async fn breaker_times_out_slow_calls() {
        let breaker = Breaker::new("cache", Duration::from_millis(0));
        let slow = breaker
            .call(Duration::from_millis(10), async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                Ok::<_, String>(1)
            })
            .await;
        assert_eq!(slow, None);
    }
}
