//! PostgreSQL implementation of [`Store`] on a sqlx pool.
//!
//! Invariant: the pool honours the configured size and timeouts, every session runs with the
//! configured `statement_timeout`, and statements slower than the threshold are logged.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolCopyExt, PgPoolOptions};
use sqlx::{ConnectOptions, FromRow, Postgres, QueryBuilder};

use super::sql::{
    AccountRow, COUNT_FILTERED_ITEMS, ITEM_COLUMNS, KeywordMatch, Reads, StatsRow, classify,
    push_filter, push_keyset, push_page, select_items,
};
use super::{OffsetPage, PoolStats, StatsFigures, Store, StoreError};
use crate::config::Config;
use crate::model::{
    Account, AccountStats, Category, Cursor, Item, ItemFilter, ItemPatch, ItemStatus, NewItem,
};
use crate::seed::{SeedAccount, SeedItem};

/// The GIN-indexed array containment.
const KEYWORD_MATCH: KeywordMatch = (" AND keywords @> ARRAY[", "]::text[]");

/// [`Store`] on PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    max: u32,
}

#[derive(FromRow)]
struct ItemRow {
    id: i64,
    account_id: i64,
    title: String,
    category_id: i32,
    importance: i32,
    keywords: Vec<String>,
    status: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<ItemRow> for Item {
    type Error = StoreError;

    fn try_from(row: ItemRow) -> Result<Self, Self::Error> {
        Ok(Item {
            id: row.id,
            account_id: row.account_id,
            title: row.title,
            category_id: row.category_id,
            importance: row.importance,
            keywords: row.keywords,
            status: ItemStatus::from_str(&row.status).map_err(StoreError::Corrupt)?,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// The keyset position of a cursor, in PostgreSQL's time type.
fn keyset(after: Option<Cursor>) -> Result<Option<(DateTime<Utc>, i64)>, StoreError> {
    after
        .map(|cursor| {
            DateTime::from_timestamp_micros(cursor.created_at_micros)
                .map(|time| (time, cursor.id))
                .ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "cursor time {} out of range",
                        cursor.created_at_micros
                    ))
                })
        })
        .transpose()
}

impl PgStore {
    /// Builds the pool from the configuration. Connections are opened lazily, so this only
    /// fails on a malformed URL; [`Store::migrate`] is the first real contact.
    pub fn connect_lazy(config: &Config) -> Result<PgStore, StoreError> {
        let options = PgConnectOptions::from_str(&config.database_url)
            .map_err(StoreError::Unavailable)?
            .options([(
                "statement_timeout",
                format!("{}ms", config.db_statement_timeout_ms),
            )])
            .log_statements(log::LevelFilter::Trace)
            .log_slow_statements(
                log::LevelFilter::Warn,
                Duration::from_millis(config.db_slow_query_ms),
            );
        let pool = PgPoolOptions::new()
            .max_connections(config.db_pool_max)
            .min_connections(config.db_pool_min)
            .acquire_timeout(Duration::from_millis(config.db_acquire_timeout_ms))
            .idle_timeout(Duration::from_secs(config.db_idle_timeout_secs))
            .connect_lazy_with(options);
        Ok(PgStore {
            pool,
            max: config.db_pool_max,
        })
    }

    /// The lookups this store shares with the other SQL store.
    fn reads(&self) -> Reads<'_, Postgres, ItemRow> {
        Reads::new(&self.pool)
    }

    /// The underlying pool (the PostgreSQL job queue shares it).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Runs one `COPY … FROM STDIN` statement with `body` (COPY text format) as its input.
    async fn copy_in(
        &self,
        statement: &str,
        body: String,
        context: &'static str,
    ) -> Result<(), StoreError> {
        let mut copy = self
            .pool
            .copy_in_raw(statement)
            .await
            .map_err(|e| classify(context, e))?;
        copy.send(body.into_bytes())
            .await
            .map_err(|e| classify(context, e))?;
        copy.finish().await.map_err(|e| classify(context, e))?;
        Ok(())
    }
}

#[async_trait]
impl Store for PgStore {
    fn name(&self) -> &'static str {
        "postgres"
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("./migrations")
            .run(&self.pool)
            .await
            .map_err(StoreError::Migrate)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.reads().ping().await
    }

    fn pool_stats(&self) -> Option<PoolStats> {
        Some(PoolStats {
            size: self.pool.size(),
            idle: self.pool.num_idle() as u32,
            max: self.max,
        })
    }

    async fn item(&self, id: i64) -> Result<Option<Item>, StoreError> {
        self.reads().item(id).await
    }

    async fn items_after(
        &self,
        after: Option<Cursor>,
        limit: u32,
        filter: &ItemFilter,
    ) -> Result<Vec<Item>, StoreError> {
        let mut query = QueryBuilder::new(select_items("TRUE"));
        push_filter(&mut query, filter, KEYWORD_MATCH);
        push_keyset(&mut query, keyset(after)?, limit);
        self.reads()
            .fetch_items(&mut query, "items after cursor")
            .await
    }

    async fn items_page(
        &self,
        page: u64,
        per_page: u32,
        filter: &ItemFilter,
    ) -> Result<OffsetPage, StoreError> {
        let mut query = QueryBuilder::new(select_items("TRUE"));
        push_filter(&mut query, filter, KEYWORD_MATCH);
        push_page(&mut query, page, per_page);
        let items = self.reads().fetch_items(&mut query, "items page").await?;
        let mut count = QueryBuilder::new(COUNT_FILTERED_ITEMS);
        push_filter(&mut count, filter, KEYWORD_MATCH);
        let total = self.reads().fetch_count(&mut count, "items count").await?;
        Ok(OffsetPage { items, total })
    }

    async fn create_item(&self, item: &NewItem) -> Result<Item, StoreError> {
        let row: ItemRow = sqlx::query_as(&format!(
            "INSERT INTO items (account_id, title, category_id, importance, keywords, status) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING {ITEM_COLUMNS}"
        ))
        .bind(item.account_id)
        .bind(&item.title)
        .bind(item.category_id)
        .bind(item.importance)
        .bind(&item.keywords)
        .bind(item.status.as_str())
        .fetch_one(&self.pool)
        .await
        .map_err(|e| classify("create item", e))?;
        Item::try_from(row)
    }

    async fn update_item(&self, id: i64, patch: &ItemPatch) -> Result<Option<Item>, StoreError> {
        let row: Option<ItemRow> = sqlx::query_as(&format!(
            "UPDATE items SET title = COALESCE($2, title), category_id = COALESCE($3, category_id), \
             importance = COALESCE($4, importance), keywords = COALESCE($5, keywords), \
             status = COALESCE($6, status), updated_at = now() WHERE id = $1 RETURNING {ITEM_COLUMNS}"
        ))
        .bind(id)
        .bind(patch.title.as_deref())
        .bind(patch.category_id)
        .bind(patch.importance)
        .bind(patch.keywords.as_deref())
        .bind(patch.status.map(ItemStatus::as_str))
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| classify("update item", e))?;
        row.map(Item::try_from).transpose()
    }

    async fn account_stats(&self, account_id: i64) -> Result<Option<AccountStats>, StoreError> {
        // Deliberately heavy: the baseline median scans every item of the account's categories.
        let row: Option<StatsRow> = sqlx::query_as(
            "WITH acct AS (SELECT id FROM accounts WHERE id = $1),
                  mine AS (SELECT status, importance, category_id, keywords, created_at FROM items WHERE account_id = $1),
                  baseline AS (
                      SELECT COALESCE(percentile_cont(0.5) WITHIN GROUP (ORDER BY i.importance), 0)::float8 AS median
                      FROM items i WHERE i.category_id IN (SELECT DISTINCT category_id FROM mine))
             SELECT
                 (SELECT count(*) FROM mine),
                 (SELECT count(*) FROM mine WHERE status = 'pending'),
                 (SELECT count(*) FROM mine WHERE status = 'active'),
                 (SELECT count(*) FROM mine WHERE status = 'archived'),
                 (SELECT COALESCE(avg(importance), 0)::float8 FROM mine),
                 (SELECT median FROM baseline),
                 (SELECT count(DISTINCT k) FROM mine, unnest(mine.keywords) AS k),
                 (SELECT count(*) FROM mine WHERE created_at > now() - interval '30 days')
             FROM acct",
        )
        .bind(account_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| classify("account stats", e))?;
        Ok(row.map(|row| StatsFigures::from(row).into_stats(account_id)))
    }

    async fn categories(&self) -> Result<Vec<Category>, StoreError> {
        self.reads().categories().await
    }

    async fn account_by_api_key(&self, api_key: &str) -> Result<Option<Account>, StoreError> {
        self.reads().account_by_api_key(api_key).await
    }

    async fn account_by_login(
        &self,
        email: &str,
        password_hash: &str,
    ) -> Result<Option<Account>, StoreError> {
        self.reads().account_by_login(email, password_hash).await
    }

    async fn create_session(
        &self,
        token: &str,
        account_id: i64,
        ttl_secs: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO sessions (token, account_id, expires_at) VALUES ($1, $2, now() + make_interval(secs => $3))")
            .bind(token)
            .bind(account_id)
            .bind(ttl_secs as f64)
            .execute(&self.pool)
            .await
            .map_err(|e| classify("create session", e))?;
        Ok(())
    }

    async fn account_by_session(&self, token: &str) -> Result<Option<Account>, StoreError> {
        let row: Option<AccountRow> = sqlx::query_as(
            "SELECT a.id, a.name, a.email, a.plan FROM sessions s JOIN accounts a ON a.id = s.account_id \
             WHERE s.token = $1 AND s.expires_at > now()",
        )
        .bind(token)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| classify("account by session", e))?;
        row.map(Account::try_from).transpose()
    }

    async fn count_items(&self) -> Result<i64, StoreError> {
        self.reads().count_items().await
    }

    async fn insert_seed_accounts(&self, accounts: &[SeedAccount]) -> Result<(), StoreError> {
        let mut body = String::with_capacity(accounts.len() * 120);
        for a in accounts {
            body.push_str(&format!(
                "{}\t{}\t{}\t{}\t{}\t{}\n",
                a.id,
                a.name,
                a.email,
                a.plan.as_str(),
                a.api_key,
                a.password_hash
            ));
        }
        self.copy_in(
            "COPY accounts (id, name, email, plan, api_key, password_hash) FROM STDIN",
            body,
            "copy accounts",
        )
        .await?;
        sqlx::query("SELECT setval('accounts_id_seq', (SELECT max(id) FROM accounts))")
            .execute(&self.pool)
            .await
            .map_err(|e| classify("account sequence", e))?;
        Ok(())
    }

    async fn insert_seed_items(&self, items: &[SeedItem]) -> Result<(), StoreError> {
        // COPY text format; seed titles and keywords come from a fixed alphabet, so nothing needs
        // escaping.
        let mut body = String::with_capacity(items.len() * 120);
        for SeedItem {
            item: i,
            created_at,
        } in items
        {
            let ts = created_at.to_rfc3339();
            body.push_str(&format!(
                "{}\t{}\t{}\t{}\t{{{}}}\t{}\t{}\t{}\n",
                i.account_id,
                i.title,
                i.category_id,
                i.importance,
                i.keywords.join(","),
                i.status.as_str(),
                ts,
                ts
            ));
        }
        self.copy_in(
            "COPY items (account_id, title, category_id, importance, keywords, status, created_at, updated_at) FROM STDIN",
            body,
            "copy items",
        )
        .await
    }

    async fn account_items_after(
        &self,
        account_id: i64,
        after: Option<Cursor>,
        limit: u32,
    ) -> Result<Vec<Item>, StoreError> {
        let mut query = QueryBuilder::new(select_items("account_id = "));
        query.push_bind(account_id);
        push_keyset(&mut query, keyset(after)?, limit);
        self.reads().fetch_items(&mut query, "account items").await
    }

    async fn count_account_items(&self, account_id: i64) -> Result<i64, StoreError> {
        self.reads().count_account_items(account_id).await
    }
}
