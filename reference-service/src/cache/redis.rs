//! Redis backend of the cache: values with `EX`, tag sets as Redis sets.
//!
//! Invariant: a tag set lives at least as long as the longest entry added to it, so tag
//! invalidation never misses a live entry.

use std::time::Duration;

use async_trait::async_trait;
use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};

use super::{Cache, CacheError};

const SET_WITH_TAGS: &str = r"
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
local ttl = tonumber(ARGV[2])
for i = 2, #KEYS do
  redis.call('SADD', KEYS[i], KEYS[1])
  if redis.call('TTL', KEYS[i]) < ttl then redis.call('EXPIRE', KEYS[i], ttl) end
end
return 1
";

const INVALIDATE_TAGS: &str = r"
local n = 0
for i = 1, #KEYS do
  local members = redis.call('SMEMBERS', KEYS[i])
  for _, k in ipairs(members) do n = n + redis.call('DEL', k) end
  redis.call('DEL', KEYS[i])
end
return n
";

/// [`Cache`] on Redis through a reconnecting connection manager.
#[derive(Clone)]
pub struct RedisCache {
    conn: ConnectionManager,
    set_script: Script,
    invalidate_script: Script,
}

impl RedisCache {
    /// Wraps a connection manager.
    pub fn new(conn: ConnectionManager) -> RedisCache {
        RedisCache {
            conn,
            set_script: Script::new(SET_WITH_TAGS),
            invalidate_script: Script::new(INVALIDATE_TAGS),
        }
    }
}

#[async_trait]
impl Cache for RedisCache {
    fn name(&self) -> &'static str {
        "redis"
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        let mut conn = self.conn.clone();
        conn.get(key).await.map_err(CacheError::Backend)
    }

    async fn set(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
        tags: &[String],
    ) -> Result<(), CacheError> {
        let mut conn = self.conn.clone();
        let mut invocation = self.set_script.key(key);
        for tag in tags {
            invocation.key(tag);
        }
        invocation.arg(value).arg(ttl.as_secs().max(1));
        let _: i64 = invocation
            .invoke_async(&mut conn)
            .await
            .map_err(CacheError::Backend)?;
        Ok(())
    }

    async fn invalidate_tags(&self, tags: &[String]) -> Result<u64, CacheError> {
        if tags.is_empty() {
            return Ok(0);
        }
        let mut conn = self.conn.clone();
        let mut invocation = self.invalidate_script.prepare_invoke();
        for tag in tags {
            invocation.key(tag);
        }
        invocation
            .invoke_async(&mut conn)
            .await
            .map_err(CacheError::Backend)
    }

    async fn invalidate_pattern(&self, pattern: &str) -> Result<u64, CacheError> {
        let mut conn = self.conn.clone();
        let mut cursor: u64 = 0;
        let mut removed = 0;
        loop {
            // SCAN, not KEYS: it does not block Redis on a large keyspace.
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(500)
                .query_async(&mut conn)
                .await
                .map_err(CacheError::Backend)?;
            if !keys.is_empty() {
                let n: u64 = conn.del(&keys).await.map_err(CacheError::Backend)?;
                removed += n;
            }
            if next == 0 {
                return Ok(removed);
            }
            cursor = next;
        }
    }

    async fn ping(&self) -> Result<(), CacheError> {
        let mut conn = self.conn.clone();
        let _: String = redis::cmd("PING")
            .query_async(&mut conn)
            .await
            .map_err(CacheError::Backend)?;
        Ok(())
    }
}
