//! Storage seam: the [`Store`] trait and its PostgreSQL implementation.
//!
//! Invariant: handlers only talk to `dyn Store`, so an embedded backend can replace PostgreSQL
//! without touching routes. Every query is parameterised; list queries fetch a page in one
//! statement (no N+1).

mod postgres;
mod sql;
mod sqlite;

use async_trait::async_trait;

pub use postgres::PgStore;
pub(crate) use sql::is_unreachable;
pub use sqlite::SqliteStore;

use crate::model::{Account, AccountStats, Category, Cursor, Item, ItemFilter, ItemPatch, NewItem};
use crate::seed::{SeedAccount, SeedItem};

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached (connection refused, pool timeout).
    #[error("database unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// A query failed.
    #[error("query failed: {context}")]
    Query {
        /// What was being done.
        context: &'static str,
        /// The driver error.
        #[source]
        source: sqlx::Error,
    },
    /// Migrations failed.
    #[error("migrations failed")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    /// Stored data did not decode into a domain type.
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

/// Connection-pool occupancy, exported as metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Open connections.
    pub size: u32,
    /// Open connections not in use.
    pub idle: u32,
    /// Configured maximum.
    pub max: u32,
}

/// One page of the legacy offset listing.
#[derive(Debug, Clone, PartialEq)]
pub struct OffsetPage {
    /// Rows of the page.
    pub items: Vec<Item>,
    /// Rows matching the filter.
    pub total: i64,
}

/// The figures behind `/api/accounts/{id}/stats`, as each database computes them; the health
/// score is derived from them in one place so that every backend reports the same.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct StatsFigures {
    pub(crate) items: i64,
    pub(crate) pending: i64,
    pub(crate) active: i64,
    pub(crate) archived: i64,
    pub(crate) mean_importance: f64,
    pub(crate) category_median_importance: f64,
    pub(crate) distinct_keywords: i64,
    pub(crate) created_last_30_days: i64,
}

impl StatsFigures {
    pub(crate) fn into_stats(self, account_id: i64) -> AccountStats {
        let active_share = if self.items == 0 {
            0.0
        } else {
            self.active as f64 / self.items as f64
        };
        let relative = if self.category_median_importance <= 0.0 {
            1.0
        } else {
            (self.mean_importance / self.category_median_importance).min(1.0)
        };
        AccountStats {
            account_id,
            items: self.items,
            pending: self.pending,
            active: self.active,
            archived: self.archived,
            mean_importance: self.mean_importance,
            category_median_importance: self.category_median_importance,
            distinct_keywords: self.distinct_keywords,
            created_last_30_days: self.created_last_30_days,
            health_score: (100.0 * active_share * relative * 10.0).round() / 10.0,
        }
    }
}

/// Persistent storage of accounts, items, sessions and reference data.
#[async_trait]
pub trait Store: Send + Sync {
    /// What the database is, as `/ready` names it: `postgres`, `sqlite`.
    fn name(&self) -> &'static str;
    /// Applies pending migrations.
    async fn migrate(&self) -> Result<(), StoreError>;
    /// Checks that the database answers.
    async fn ping(&self) -> Result<(), StoreError>;
    /// Pool occupancy, when the backend has a pool.
    fn pool_stats(&self) -> Option<PoolStats>;

    /// One item.
    async fn item(&self, id: i64) -> Result<Option<Item>, StoreError>;
    /// Up to `limit` items after `after`, newest first (keyset on `(created_at, id)`).
    async fn items_after(
        &self,
        after: Option<Cursor>,
        limit: u32,
        filter: &ItemFilter,
    ) -> Result<Vec<Item>, StoreError>;
    /// Page `page` (1-based) of `per_page` items, newest first, with the total count.
    async fn items_page(
        &self,
        page: u64,
        per_page: u32,
        filter: &ItemFilter,
    ) -> Result<OffsetPage, StoreError>;
    /// Inserts an item.
    async fn create_item(&self, item: &NewItem) -> Result<Item, StoreError>;
    /// Updates an item; `None` when it does not exist.
    async fn update_item(&self, id: i64, patch: &ItemPatch) -> Result<Option<Item>, StoreError>;
    /// The expensive per-account aggregate; `None` when the account does not exist.
    async fn account_stats(&self, account_id: i64) -> Result<Option<AccountStats>, StoreError>;
    /// Reference data.
    async fn categories(&self) -> Result<Vec<Category>, StoreError>;

    /// The account owning an API key.
    async fn account_by_api_key(&self, api_key: &str) -> Result<Option<Account>, StoreError>;
    /// The account whose e-mail and password hash match.
    async fn account_by_login(
        &self,
        email: &str,
        password_hash: &str,
    ) -> Result<Option<Account>, StoreError>;
    /// Stores a session token valid for `ttl_secs`.
    async fn create_session(
        &self,
        token: &str,
        account_id: i64,
        ttl_secs: i64,
    ) -> Result<(), StoreError>;
    /// The account of an unexpired session token.
    async fn account_by_session(&self, token: &str) -> Result<Option<Account>, StoreError>;

    /// Number of items stored (seeding runs only on an empty database).
    async fn count_items(&self) -> Result<i64, StoreError>;
    /// Bulk-inserts seed accounts, keeping their ids.
    async fn insert_seed_accounts(&self, accounts: &[SeedAccount]) -> Result<(), StoreError>;
    /// Bulk-inserts seed items.
    async fn insert_seed_items(&self, items: &[SeedItem]) -> Result<(), StoreError>;
    /// Streams through one account's items in pages (used by the export job).
    async fn account_items_after(
        &self,
        account_id: i64,
        after: Option<Cursor>,
        limit: u32,
    ) -> Result<Vec<Item>, StoreError>;
    /// Items owned by one account.
    async fn count_account_items(&self, account_id: i64) -> Result<i64, StoreError>;
}
