//! GCRA (generic cell rate algorithm) in process memory: the embedded variant of the Redis
//! limiter, with the same integer arithmetic, so headers and the 429 boundary are identical.
//!
//! Invariant: a check reads and writes its bucket under the bucket's shard lock, so concurrent
//! requests never exceed the quota: a fresh key admits exactly `limit` requests in a burst, then
//! one per `period / limit`. Time is a monotonic clock in milliseconds, as in the Lua script.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{Decision, LimitError, Limiter, Quota};

const SHARDS: usize = 16;
/// Full (idle) buckets are dropped every this many checks, bounding memory by the number of
/// recently active clients.
const PRUNE_EVERY: u32 = 4_096;

/// One key's state. `tat` (theoretical arrival time) is in units of milliseconds × limit, like
/// the Redis script's; a key checked with another quota starts afresh.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    limit: u64,
    period_ms: u64,
    tat: u64,
}

type Shard = HashMap<String, Bucket>;

/// [`Limiter`] in process memory.
#[derive(Debug)]
pub struct MemoryLimiter {
    origin: Instant,
    hasher: RandomState,
    shards: Vec<Mutex<Shard>>,
    checks: AtomicU32,
}

impl Default for MemoryLimiter {
    fn default() -> Self {
        MemoryLimiter::new()
    }
}

impl MemoryLimiter {
    /// A limiter with no buckets.
    pub fn new() -> MemoryLimiter {
        MemoryLimiter {
            origin: Instant::now(),
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            checks: AtomicU32::new(0),
        }
    }

    fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
        // Buckets are plain numbers updated in one assignment; a poisoned lock is still sound.
        shard
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn shard(&self, key: &str) -> MutexGuard<'_, Shard> {
        let index = (self.hasher.hash_one(key) % SHARDS as u64) as usize;
        Self::lock(&self.shards[index])
    }

    /// Drops buckets that are full again: they behave exactly like absent ones.
    fn prune(&self, now_ms: u64) {
        for shard in &self.shards {
            Self::lock(shard).retain(|_, b| b.tat > now_ms.saturating_mul(b.limit));
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards.iter().map(|s| Self::lock(s).len()).sum()
    }

    /// The check at a given clock reading (milliseconds since `origin`), for tests.
    fn check_at(&self, key: &str, quota: Quota, now_ms: u64) -> Decision {
        let limit = u64::from(quota.limit.max(1));
        let period_ms = u64::try_from(quota.period.as_millis()).unwrap_or(u64::MAX);
        let now = now_ms.saturating_mul(limit);
        let window = period_ms.saturating_mul(limit);
        if self.checks.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            self.prune(now_ms);
        }
        let mut shard = self.shard(key);
        let stored = shard
            .get(key)
            .filter(|b| b.limit == limit && b.period_ms == period_ms)
            .map_or(0, |b| b.tat);
        let tat = stored.max(now);
        let new_tat = tat.saturating_add(period_ms);
        let ms = |units: u64| Duration::from_millis(units.div_ceil(limit));
        if new_tat - now > window {
            return Decision {
                allowed: false,
                limit: quota.limit,
                remaining: 0,
                reset: ms(tat - now),
                retry_after: ms(new_tat - now - window),
            };
        }
        shard.insert(
            key.to_owned(),
            Bucket {
                limit,
                period_ms,
                tat: new_tat,
            },
        );
        let remaining = (window - (new_tat - now)) / period_ms.max(1);
        Decision {
            allowed: true,
            limit: quota.limit,
            remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
            reset: ms(new_tat - now),
            retry_after: Duration::ZERO,
        }
    }
}

#[async_trait]
impl Limiter for MemoryLimiter {
    async fn check(&self, key: &str, quota: Quota) -> Result<Decision, LimitError> {
        let now_ms = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        Ok(self.check_at(key, quota, now_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE_20: Quota = Quota {
        limit: 20,
        period: Duration::from_secs(60),
    };

    #[test]
    fn a_fresh_key_admits_exactly_the_limit_then_one_per_interval() {
        let limiter = MemoryLimiter::new();
        for n in 0..20u32 {
            let d = limiter.check_at("k", MINUTE_20, 1_000);
            assert!(d.allowed, "request {n}");
            assert_eq!(d.remaining, 19 - n);
            // Each request adds one emission interval (3 s) to the time until full again.
            assert_eq!(d.reset, Duration::from_secs(3 * u64::from(n + 1)));
        }
        let denied = limiter.check_at("k", MINUTE_20, 1_000);
        assert!(!denied.allowed);
        assert_eq!(
            (denied.remaining, denied.retry_after, denied.reset),
            (0, Duration::from_secs(3), Duration::from_secs(60))
        );
        // 2.999 s later still nothing; at 3 s one request.
        assert!(!limiter.check_at("k", MINUTE_20, 3_999).allowed);
        let again = limiter.check_at("k", MINUTE_20, 4_000);
        assert!(again.allowed);
        assert_eq!(again.remaining, 0);
        assert!(!limiter.check_at("k", MINUTE_20, 4_000).allowed);
        // Other keys are independent.
        assert_eq!(limiter.check_at("other", MINUTE_20, 4_000).remaining, 19);
    }

    #[test]
    fn a_full_bucket_is_pruned_and_behaves_as_new() {
        let limiter = MemoryLimiter::new();
        for n in 0..1_000 {
            limiter.check_at(&format!("idle{n}"), MINUTE_20, 0);
        }
        assert_eq!(limiter.len(), 1_000);
        // A minute later every idle bucket is full again; the next prune drops them all.
        for _ in 0..PRUNE_EVERY {
            limiter.check_at("busy", MINUTE_20, 120_000);
        }
        assert_eq!(limiter.len(), 1, "only the busy bucket is kept");
        assert_eq!(limiter.check_at("idle7", MINUTE_20, 120_000).remaining, 19);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_checks_never_exceed_the_limit() {
        let limiter = std::sync::Arc::new(MemoryLimiter::new());
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let limiter = limiter.clone();
            tasks.push(tokio::spawn(async move {
                let mut allowed = 0;
                for _ in 0..50 {
                    let quota = Quota {
                        limit: 100,
                        period: Duration::from_secs(3_600),
                    };
                    if limiter
                        .check("shared", quota)
                        .await
                        .is_ok_and(|d| d.allowed)
                    {
                        allowed += 1;
                    }
                }
                allowed
            }));
        }
        let mut total = 0;
        for task in tasks {
            total += task.await.unwrap_or(0);
        }
        assert_eq!(total, 100);
    }
}
