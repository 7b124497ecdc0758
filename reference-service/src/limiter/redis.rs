//! GCRA (generic cell rate algorithm) in one Redis Lua script.
//!
//! Invariant: time comes from the Redis server (`TIME`), so instances with skewed clocks share
//! one schedule; all arithmetic is in integers (time is scaled by the limit) so the boundary is
//! exact: a fresh key admits exactly `limit` requests in a burst.

use async_trait::async_trait;
use redis::Script;
use redis::aio::ConnectionManager;

use super::{Decision, LimitError, Limiter, Quota};

// Time unit: milliseconds × limit. One request costs `period_ms` units; the bucket holds
// `period_ms × limit` units. TAT (theoretical arrival time) is stored relative to now.
// Milliseconds since 2025-01-01 keep the scaled clock below 2^53 for limits up to ~100 000.
const GCRA: &str = r"
local t = redis.call('TIME')
local now_ms = (tonumber(t[1]) - 1735689600) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1])
local period_ms = tonumber(ARGV[2])
local now = now_ms * limit
local window = period_ms * limit
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + period_ms
if new_tat - now > window then
  local retry_units = new_tat - now - window
  return {0, 0, math.ceil((tat - now) / limit), math.ceil(retry_units / limit)}
end
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / limit) + 1)
local remaining = math.floor((window - (new_tat - now)) / period_ms)
return {1, remaining, math.ceil((new_tat - now) / limit), 0}
";

/// [`Limiter`] on Redis.
#[derive(Clone)]
pub struct RedisLimiter {
    conn: ConnectionManager,
    script: Script,
    prefix: String,
}

impl RedisLimiter {
    /// A limiter whose keys start with `prefix:rl:`.
    pub fn new(conn: ConnectionManager, prefix: &str) -> RedisLimiter {
        RedisLimiter {
            conn,
            script: Script::new(GCRA),
            prefix: prefix.to_owned(),
        }
    }
}

#[async_trait]
impl Limiter for RedisLimiter {
    async fn check(&self, key: &str, quota: Quota) -> Result<Decision, LimitError> {
        let mut conn = self.conn.clone();
        let period_ms = u64::try_from(quota.period.as_millis()).unwrap_or(u64::MAX);
        let (allowed, remaining, reset_ms, retry_ms): (i64, i64, i64, i64) = self
            .script
            .key(format!("{}:rl:{key}", self.prefix))
            .arg(quota.limit.max(1))
            .arg(period_ms)
            .invoke_async(&mut conn)
            .await
            .map_err(LimitError::Backend)?;
        let ms = |v: i64| std::time::Duration::from_millis(u64::try_from(v).unwrap_or(0));
        Ok(Decision {
            allowed: allowed == 1,
            limit: quota.limit,
            remaining: u32::try_from(remaining).unwrap_or(0),
            reset: ms(reset_ms),
            retry_after: ms(retry_ms),
        })
    }
}
