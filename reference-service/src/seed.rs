//! Deterministic demo data: accounts with known credentials and a configurable volume of items.
//!
//! Invariant: the same `(seed, items)` always produces the same rows, so load-test runs against
//! freshly seeded databases are comparable. The first three accounts are fixed demo logins.

use chrono::{DateTime, Duration as ChronoDuration, TimeZone, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sha2::{Digest, Sha256};

use crate::model::{ItemStatus, NewItem, Plan};
use crate::store::{Store, StoreError};

/// The password of every seeded account.
pub const DEMO_PASSWORD: &str = "kneepoint";

/// Demo accounts created first: `(email, plan, api key)`.
pub const DEMO_ACCOUNTS: [(&str, Plan, &str); 3] = [
    ("free@example.test", Plan::Free, "kp_free_demo"),
    ("pro@example.test", Plan::Pro, "kp_pro_demo"),
    (
        "enterprise@example.test",
        Plan::Enterprise,
        "kp_enterprise_demo",
    ),
];

const KEYWORDS: [&str; 40] = [
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet",
    "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango",
    "uniform", "victor", "whiskey", "xray", "yankee", "zulu", "amber", "cobalt", "indigo", "jade",
    "onyx", "ruby", "slate", "topaz", "umber", "violet", "azure", "coral", "ivory", "olive",
];
const ADJECTIVES: [&str; 12] = [
    "Quick", "Quiet", "Bright", "Heavy", "Small", "Vintage", "Modern", "Rustic", "Compact",
    "Deluxe", "Classic", "Portable",
];
const NOUNS: [&str; 12] = [
    "Lamp", "Kettle", "Notebook", "Guitar", "Racket", "Backpack", "Puzzle", "Drill", "Planter",
    "Camera", "Chair", "Atlas",
];
const CATEGORIES: i32 = 12;
const BATCH: usize = 5_000;

/// A seeded account row.
#[derive(Debug, Clone, PartialEq)]
pub struct SeedAccount {
    /// Primary key (1-based, dense).
    pub id: i64,
    /// Display name.
    pub name: String,
    /// Login e-mail.
    pub email: String,
    /// Plan tier.
    pub plan: Plan,
    /// API key.
    pub api_key: String,
    /// Hash of [`DEMO_PASSWORD`].
    pub password_hash: String,
}

/// A seeded item row: the item (category 1..=12, keywords from a fixed vocabulary that needs
/// no quoting in COPY) and its creation time, which seeding sets instead of the database.
#[derive(Debug, Clone, PartialEq)]
pub struct SeedItem {
    /// The item's fields.
    pub item: NewItem,
    /// Creation time, spread over the year before 2026-01-01.
    pub created_at: DateTime<Utc>,
}

/// Hashes a password for storage (salted SHA-256; a demo, not a password manager).
pub fn hash_password(email: &str, password: &str) -> String {
    let digest = Sha256::digest(format!("kneepoint-reference:{email}:{password}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Accounts for `items` items: one per hundred items, at least the demo ones plus seven.
pub fn accounts(seed: u64, items: u64) -> Vec<SeedAccount> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0xacc0_0000);
    let count = (items / 100).max(10);
    (1..=count as i64)
        .map(|id| {
            let (email, plan, api_key) = match DEMO_ACCOUNTS.get((id - 1) as usize) {
                Some((email, plan, key)) => ((*email).to_owned(), *plan, (*key).to_owned()),
                None => {
                    let plan = match rng.random_range(0..10) {
                        0..=5 => Plan::Free,
                        6..=8 => Plan::Pro,
                        _ => Plan::Enterprise,
                    };
                    let key = format!("kp_{}_{:016x}", plan.as_str(), rng.random::<u64>());
                    (format!("user{id}@example.test"), plan, key)
                }
            };
            SeedAccount {
                id,
                name: format!("Account {id}"),
                password_hash: hash_password(&email, DEMO_PASSWORD),
                email,
                plan,
                api_key,
            }
        })
        .collect()
}

/// Generates item `index` of the stream for `seed`; `rng` carries the stream state.
fn item(rng: &mut StdRng, accounts: i64) -> SeedItem {
    let base = Utc
        .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_else(Utc::now);
    let adjective = ADJECTIVES[rng.random_range(0..ADJECTIVES.len())];
    let noun = NOUNS[rng.random_range(0..NOUNS.len())];
    let keyword_count = rng.random_range(1..=4);
    let mut keywords: Vec<String> = (0..keyword_count)
        .map(|_| KEYWORDS[rng.random_range(0..KEYWORDS.len())].to_owned())
        .collect();
    keywords.sort();
    keywords.dedup();
    let status = match rng.random_range(0..20) {
        0 => ItemStatus::Pending,
        1..=2 => ItemStatus::Archived,
        _ => ItemStatus::Active,
    };
    // Microsecond offsets keep (created_at, id) mostly unique but allow ties, which the keyset
    // order must break by id.
    let offset_micros = rng.random_range(0..365 * 24 * 3_600 * 1_000_000_i64);
    SeedItem {
        item: NewItem {
            account_id: rng.random_range(1..=accounts),
            title: format!("{adjective} {noun} {}", rng.random_range(1..10_000)),
            category_id: rng.random_range(1..=CATEGORIES),
            importance: rng.random_range(0..=100),
            keywords,
            status,
        },
        created_at: base - ChronoDuration::microseconds(offset_micros),
    }
}

/// Generates all `count` items for `seed`, in batches handed to `sink`.
pub fn items_in_batches<E>(
    seed: u64,
    count: u64,
    accounts: i64,
    mut sink: impl FnMut(Vec<SeedItem>) -> Result<(), E>,
) -> Result<(), E> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut left = count;
    while left > 0 {
        let n = left.min(BATCH as u64);
        sink((0..n).map(|_| item(&mut rng, accounts)).collect())?;
        left -= n;
    }
    Ok(())
}

/// Seeds `items` items (and their accounts) when the store holds no items; returns rows added.
pub async fn seed_if_empty(store: &dyn Store, seed: u64, items: u64) -> Result<u64, StoreError> {
    if items == 0 || store.count_items().await? > 0 {
        return Ok(0);
    }
    let started = std::time::Instant::now();
    let accounts = accounts(seed, items);
    store.insert_seed_accounts(&accounts).await?;
    let mut batches = Vec::new();
    items_in_batches(seed, items, accounts.len() as i64, |batch| {
        batches.push(batch);
        Ok::<(), StoreError>(())
    })?;
    for batch in &batches {
        store.insert_seed_items(batch).await?;
    }
    tracing::info!(
        items,
        accounts = accounts.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "seeded database"
    );
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(seed: u64, count: u64) -> Vec<SeedItem> {
        let mut all = Vec::new();
        items_in_batches(seed, count, 10, |b| {
            all.extend(b);
            Ok::<(), ()>(())
        })
        .expect("infallible sink");
        all
    }

    #[test]
    fn same_seed_same_rows() {
        assert_eq!(collect(7, 50), collect(7, 50));
        assert_ne!(collect(7, 50), collect(8, 50));
    }

    #[test]
    fn rows_are_in_range() {
        for SeedItem { item, .. } in collect(1, 2_000) {
            assert!((1..=10).contains(&item.account_id));
            assert!((0..=100).contains(&item.importance));
            assert!((1..=CATEGORIES).contains(&item.category_id));
            assert!(!item.keywords.is_empty());
        }
    }

    #[test]
    fn demo_accounts_come_first() {
        let accounts = accounts(42, 100_000);
        assert_eq!(accounts.len(), 1_000);
        assert_eq!(accounts[0].api_key, "kp_free_demo");
        assert_eq!(accounts[2].plan, Plan::Enterprise);
        assert_eq!(
            accounts[0].password_hash,
            hash_password("free@example.test", DEMO_PASSWORD)
        );
    }
}
