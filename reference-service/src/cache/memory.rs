//! In-process backend of the cache (the embedded variant): a moka cache with a TTL per entry
//! and a byte budget, plus tag sets kept beside it.
//!
//! Invariants, as in the Redis backend: a tag set lives at least as long as the longest entry
//! added to it, so tag invalidation never misses a live entry; and storing an entry with its
//! tags is atomic with respect to invalidating a tag (both run under the tag lock, and moka's
//! synchronous API never awaits), so an invalidation cannot slip between the two halves of a
//! set. Pattern invalidation matches Redis glob syntax (`*`, `?`, `[...]`, `\`).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use moka::Expiry;
use moka::sync::Cache as Moka;

use super::{Cache, CacheError};

/// Expired tag sets are dropped at most this often.
const SWEEP_EVERY: Duration = Duration::from_secs(30);

#[derive(Clone)]
struct Entry {
    value: Arc<[u8]>,
    ttl: Duration,
}

/// Each entry expires after its own TTL, counted again from every overwrite (Redis `SET EX`).
struct PerEntryTtl;

impl Expiry<String, Entry> for PerEntryTtl {
    fn expire_after_create(&self, _key: &String, value: &Entry, _at: Instant) -> Option<Duration> {
        Some(value.ttl)
    }

    fn expire_after_update(
        &self,
        _key: &String,
        value: &Entry,
        _at: Instant,
        _left: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

struct TagSet {
    keys: HashSet<String>,
    expires: Instant,
}

struct Tags {
    sets: HashMap<String, TagSet>,
    next_sweep: Instant,
}

/// [`Cache`] in process memory.
pub struct MemoryCache {
    entries: Moka<String, Entry>,
    tags: Mutex<Tags>,
}

impl MemoryCache {
    /// Default byte budget (keys plus values): 256 MiB.
    pub const DEFAULT_MAX_BYTES: u64 = 256 * 1024 * 1024;

    /// A cache holding at most about `max_bytes` of keys and values; least valuable entries
    /// are evicted first when it is full.
    pub fn new(max_bytes: u64) -> MemoryCache {
        let entries = Moka::builder()
            .max_capacity(max_bytes)
            .weigher(|key: &String, entry: &Entry| {
                u32::try_from(key.len() + entry.value.len()).unwrap_or(u32::MAX)
            })
            .expire_after(PerEntryTtl)
            .build();
        MemoryCache {
            entries,
            tags: Mutex::new(Tags {
                sets: HashMap::new(),
                next_sweep: Instant::now() + SWEEP_EVERY,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Tags> {
        // Every update leaves the index usable, so a poisoned lock is still fine.
        self.tags
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Entries currently held (expired ones may count until moka's next maintenance).
    pub fn entry_count(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.entry_count()
    }
}

impl Default for MemoryCache {
    fn default() -> Self {
        MemoryCache::new(MemoryCache::DEFAULT_MAX_BYTES)
    }
}

#[async_trait]
impl Cache for MemoryCache {
    fn name(&self) -> &'static str {
        "memory_cache"
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        Ok(self.entries.get(key).map(|entry| entry.value.to_vec()))
    }

    async fn set(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
        tags: &[String],
    ) -> Result<(), CacheError> {
        let ttl = ttl.max(Duration::from_secs(1));
        let now = Instant::now();
        let mut index = self.lock();
        for tag in tags {
            let set = index.sets.entry(tag.clone()).or_insert_with(|| TagSet {
                keys: HashSet::new(),
                expires: now,
            });
            set.keys.insert(key.to_owned());
            set.expires = set.expires.max(now + ttl);
        }
        self.entries.insert(
            key.to_owned(),
            Entry {
                value: Arc::from(value),
                ttl,
            },
        );
        if now >= index.next_sweep {
            index.sets.retain(|_, set| set.expires > now);
            index.next_sweep = now + SWEEP_EVERY;
        }
        Ok(())
    }

    async fn invalidate_tags(&self, tags: &[String]) -> Result<u64, CacheError> {
        let mut index = self.lock();
        let mut removed = 0;
        for tag in tags {
            let Some(set) = index.sets.remove(tag) else {
                continue;
            };
            for key in &set.keys {
                if self.entries.remove(key).is_some() {
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }

    async fn invalidate_pattern(&self, pattern: &str) -> Result<u64, CacheError> {
        let pattern: Vec<char> = pattern.chars().collect();
        let matching: Vec<Arc<String>> = self
            .entries
            .iter()
            .filter(|(key, _)| glob_match(&pattern, key))
            .map(|(key, _)| key)
            .collect();
        let mut removed = 0;
        for key in matching {
            if self.entries.remove(key.as_str()).is_some() {
                removed += 1;
            }
        }
        Ok(removed)
    }

    async fn ping(&self) -> Result<(), CacheError> {
        Ok(())
    }
}

/// Redis glob matching: `*` any run, `?` one character, `[abc]`, `[^a-z]` classes, `\x` a
/// literal `x`. Backtracks only to the last `*`, so it runs in O(pattern × text).
fn glob_match(pattern: &[char], text: &str) -> bool {
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        let step = match pattern.get(p) {
            Some('*') => {
                star = Some((p, t));
                p += 1;
                continue;
            }
            Some('?') => Some(p + 1),
            Some('[') => class_match(pattern, p, text[t]),
            Some('\\') if p + 1 < pattern.len() => (pattern[p + 1] == text[t]).then_some(p + 2),
            Some(&c) => (c == text[t]).then_some(p + 1),
            None => None,
        };
        match (step, star) {
            (Some(next), _) => {
                p = next;
                t += 1;
            }
            (None, Some((star_p, star_t))) => {
                // Let the last `*` swallow one more character and retry from there.
                p = star_p + 1;
                t = star_t + 1;
                star = Some((star_p, star_t + 1));
            }
            (None, None) => return false,
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

/// Matches `c` against the class opening at `pattern[open]`; the index after the class on a
/// match. An unterminated class matches nothing.
fn class_match(pattern: &[char], open: usize, c: char) -> Option<usize> {
    let mut i = open + 1;
    let negate = pattern.get(i) == Some(&'^');
    if negate {
        i += 1;
    }
    let mut hit = false;
    let mut first = true;
    loop {
        let current = *pattern.get(i)?;
        if current == ']' && !first {
            break;
        }
        first = false;
        if current == '\\' {
            i += 1;
            hit |= pattern.get(i) == Some(&c);
            i += 1;
        } else if pattern.get(i + 1) == Some(&'-') && pattern.get(i + 2).is_some_and(|&e| e != ']')
        {
            let (lo, hi) = (current, pattern[i + 2]);
            let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
            hit |= (lo..=hi).contains(&c);
            i += 3;
        } else {
            hit |= current == c;
            i += 1;
        }
    }
    (hit != negate).then_some(i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(pattern: &str, text: &str, expect: bool) {
        let chars: Vec<char> = pattern.chars().collect();
        assert_eq!(glob_match(&chars, text), expect, "`{pattern}` vs `{text}`");
    }

    #[test]
    fn glob_follows_redis_syntax() {
        check("rs:item:*", "rs:item:12", true);
        check("rs:item:*", "rs:item_list:1", false);
        check("rs:item:*", "rs:item:", true);
        check("*", "", true);
        check("a*b*c", "axxbyyc", true);
        check("a*b*c", "axxbyy", false);
        check("h?llo", "hello", true);
        check("h?llo", "hllo", false);
        check("h[ae]llo", "hallo", true);
        check("h[^e]llo", "hello", false);
        check("h[a-c]llo", "hbllo", true);
        check("h[c-a]llo", "hbllo", true);
        check("h\\*llo", "h*llo", true);
        check("h\\*llo", "hallo", false);
        check("rs:item:1", "rs:item:12", false);
    }

    fn tags(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    #[tokio::test]
    async fn tags_drop_every_entry_they_cover_once() {
        let cache = MemoryCache::default();
        let ttl = Duration::from_secs(60);
        cache
            .set("a", b"1", ttl, &tags(&["t1", "t2"]))
            .await
            .expect("set");
        cache
            .set("b", b"2", ttl, &tags(&["t2"]))
            .await
            .expect("set");
        cache
            .set("c", b"3", ttl, &tags(&["t3"]))
            .await
            .expect("set");
        assert_eq!(
            cache
                .invalidate_tags(&tags(&["t1", "t2"]))
                .await
                .expect("invalidate"),
            2
        );
        assert_eq!(cache.get("a").await.expect("get"), None);
        assert_eq!(cache.get("b").await.expect("get"), None);
        assert_eq!(cache.get("c").await.expect("get"), Some(b"3".to_vec()));
        // The set went with its entries.
        assert_eq!(
            cache.invalidate_tags(&tags(&["t2"])).await.expect("again"),
            0
        );
    }

    #[tokio::test]
    async fn entries_expire_after_their_own_ttl_and_overwrites_renew_it() {
        let cache = MemoryCache::default();
        cache
            .set("short", b"x", Duration::from_secs(1), &[])
            .await
            .expect("set");
        cache
            .set("long", b"y", Duration::from_secs(60), &[])
            .await
            .expect("set");
        assert!(cache.get("short").await.expect("get").is_some());
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        assert_eq!(cache.get("short").await.expect("get"), None);
        assert_eq!(cache.get("long").await.expect("get"), Some(b"y".to_vec()));
    }

    #[tokio::test]
    async fn pattern_invalidation_counts_matching_keys() {
        let cache = MemoryCache::default();
        let ttl = Duration::from_secs(60);
        for key in ["rs:item:1", "rs:item:2", "rs:item_list:x", "rs:reference:c"] {
            cache.set(key, b"v", ttl, &[]).await.expect("set");
        }
        assert_eq!(
            cache
                .invalidate_pattern("rs:item:*")
                .await
                .expect("pattern"),
            2
        );
        assert_eq!(cache.get("rs:item:1").await.expect("get"), None);
        assert!(cache.get("rs:item_list:x").await.expect("get").is_some());
        assert_eq!(cache.entry_count(), 2);
    }

    #[tokio::test]
    async fn the_byte_budget_bounds_the_cache() {
        let cache = MemoryCache::new(10_000);
        let value = vec![7u8; 1_000];
        for n in 0..100 {
            cache
                .set(&format!("k{n}"), &value, Duration::from_secs(60), &[])
                .await
                .expect("set");
        }
        assert!(cache.entry_count() <= 10, "{} entries", cache.entry_count());
    }
}
