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

use super::{OffsetPage, PoolStats, StatsFigures, Store, StoreError};
use crate::config::Config;
use crate::model::{
    Account, AccountStats, Category, Cursor, Item, ItemFilter, ItemPatch, ItemStatus, NewItem, Plan,
};
use crate::seed::{SeedAccount, SeedItem};

const ITEM_COLUMNS: &str =
    "id, account_id, title, category_id, importance, keywords, status, created_at, updated_at";

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

#[derive(FromRow)]
struct AccountRow {
    id: i64,
    name: String,
    email: String,
    plan: String,
}

impl TryFrom<AccountRow> for Account {
    type Error = StoreError;

    fn try_from(row: AccountRow) -> Result<Self, Self::Error> {
        Ok(Account {
            id: row.id,
            name: row.name,
            email: row.email,
            plan: Plan::from_str(&row.plan).map_err(StoreError::Corrupt)?,
        })
    }
}

/// Sorts a driver error into "database unreachable" or "query failed".
pub(crate) fn classify(context: &'static str, source: sqlx::Error) -> StoreError {
    match source {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_) => StoreError::Unavailable(source),
        source => StoreError::Query { context, source },
    }
}

fn items(rows: Vec<ItemRow>) -> Result<Vec<Item>, StoreError> {
    rows.into_iter().map(Item::try_from).collect()
}

fn push_filter<'a>(query: &mut QueryBuilder<'a, Postgres>, filter: &'a ItemFilter) {
    if let Some(status) = filter.status {
        query.push(" AND status = ").push_bind(status.as_str());
    }
    if let Some(category) = filter.category_id {
        query.push(" AND category_id = ").push_bind(category);
    }
    if let Some(keyword) = &filter.keyword {
        query
            .push(" AND keywords @> ARRAY[")
            .push_bind(keyword.as_str())
            .push("]::text[]");
    }
}

fn cursor_time(cursor: Cursor) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(cursor.created_at_micros).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "cursor time {} out of range",
            cursor.created_at_micros
        ))
    })
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

    /// The underlying pool (the PostgreSQL job queue shares it).
    pub fn pool(&self) -> &PgPool {
        &self.pool
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
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(|e| classify("ping", e))
    }

    fn pool_stats(&self) -> Option<PoolStats> {
        Some(PoolStats {
            size: self.pool.size(),
            idle: self.pool.num_idle() as u32,
            max: self.max,
        })
    }

    async fn item(&self, id: i64) -> Result<Option<Item>, StoreError> {
        let row: Option<ItemRow> =
            sqlx::query_as(&format!("SELECT {ITEM_COLUMNS} FROM items WHERE id = $1"))
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| classify("item by id", e))?;
        row.map(Item::try_from).transpose()
    }

    async fn items_after(
        &self,
        after: Option<Cursor>,
        limit: u32,
        filter: &ItemFilter,
    ) -> Result<Vec<Item>, StoreError> {
        let mut query =
            QueryBuilder::<Postgres>::new(format!("SELECT {ITEM_COLUMNS} FROM items WHERE TRUE"));
        push_filter(&mut query, filter);
        if let Some(cursor) = after {
            query
                .push(" AND (created_at, id) < (")
                .push_bind(cursor_time(cursor)?)
                .push(", ")
                .push_bind(cursor.id)
                .push(")");
        }
        query
            .push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .push_bind(i64::from(limit));
        let rows: Vec<ItemRow> = query
            .build_query_as()
            .fetch_all(&self.pool)
            .await
            .map_err(|e| classify("items after cursor", e))?;
        items(rows)
    }

    async fn items_page(
        &self,
        page: u64,
        per_page: u32,
        filter: &ItemFilter,
    ) -> Result<OffsetPage, StoreError> {
        let offset = i64::try_from(page.saturating_sub(1).saturating_mul(u64::from(per_page)))
            .unwrap_or(i64::MAX);
        let mut query =
            QueryBuilder::<Postgres>::new(format!("SELECT {ITEM_COLUMNS} FROM items WHERE TRUE"));
        push_filter(&mut query, filter);
        query
            .push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .push_bind(i64::from(per_page))
            .push(" OFFSET ")
            .push_bind(offset);
        let rows: Vec<ItemRow> = query
            .build_query_as()
            .fetch_all(&self.pool)
            .await
            .map_err(|e| classify("items page", e))?;
        let mut count = QueryBuilder::<Postgres>::new("SELECT count(*) FROM items WHERE TRUE");
        push_filter(&mut count, filter);
        let (total,): (i64,) = count
            .build_query_as()
            .fetch_one(&self.pool)
            .await
            .map_err(|e| classify("items count", e))?;
        Ok(OffsetPage {
            items: items(rows)?,
            total,
        })
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
        let row: Option<(i64, i64, i64, i64, f64, f64, i64, i64)> = sqlx::query_as(
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
        Ok(row.map(
            |(items, pending, active, archived, mean, median, distinct_keywords, recent)| {
                StatsFigures {
                    items,
                    pending,
                    active,
                    archived,
                    mean_importance: mean,
                    category_median_importance: median,
                    distinct_keywords,
                    created_last_30_days: recent,
                }
                .into_stats(account_id)
            },
        ))
    }

    async fn categories(&self) -> Result<Vec<Category>, StoreError> {
        let rows: Vec<(i32, String, String)> =
            sqlx::query_as("SELECT id, slug, name FROM categories ORDER BY id")
                .fetch_all(&self.pool)
                .await
                .map_err(|e| classify("categories", e))?;
        Ok(rows
            .into_iter()
            .map(|(id, slug, name)| Category { id, slug, name })
            .collect())
    }

    async fn account_by_api_key(&self, api_key: &str) -> Result<Option<Account>, StoreError> {
        let row: Option<AccountRow> =
            sqlx::query_as("SELECT id, name, email, plan FROM accounts WHERE api_key = $1")
                .bind(api_key)
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| classify("account by api key", e))?;
        row.map(Account::try_from).transpose()
    }

    async fn account_by_login(
        &self,
        email: &str,
        password_hash: &str,
    ) -> Result<Option<Account>, StoreError> {
        let row: Option<AccountRow> = sqlx::query_as(
            "SELECT id, name, email, plan FROM accounts WHERE email = $1 AND password_hash = $2",
        )
        .bind(email)
        .bind(password_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| classify("account by login", e))?;
        row.map(Account::try_from).transpose()
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
        let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM items")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| classify("count items", e))?;
        Ok(n)
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
        let mut copy = self
            .pool
            .copy_in_raw("COPY accounts (id, name, email, plan, api_key, password_hash) FROM STDIN")
            .await
            .map_err(|e| classify("copy accounts", e))?;
        copy.send(body.into_bytes())
            .await
            .map_err(|e| classify("copy accounts", e))?;
        copy.finish()
            .await
            .map_err(|e| classify("copy accounts", e))?;
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
        for i in items {
            let ts = i.created_at.to_rfc3339();
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
        let mut copy = self
            .pool
            .copy_in_raw("COPY items (account_id, title, category_id, importance, keywords, status, created_at, updated_at) FROM STDIN")
            .await
            .map_err(|e| classify("copy items", e))?;
        copy.send(body.into_bytes())
            .await
            .map_err(|e| classify("copy items", e))?;
        copy.finish().await.map_err(|e| classify("copy items", e))?;
        Ok(())
    }

    async fn account_items_after(
        &self,
        account_id: i64,
        after: Option<Cursor>,
        limit: u32,
    ) -> Result<Vec<Item>, StoreError> {
        let mut query = QueryBuilder::<Postgres>::new(format!(
            "SELECT {ITEM_COLUMNS} FROM items WHERE account_id = "
        ));
        query.push_bind(account_id);
        if let Some(cursor) = after {
            query
                .push(" AND (created_at, id) < (")
                .push_bind(cursor_time(cursor)?)
                .push(", ")
                .push_bind(cursor.id)
                .push(")");
        }
        query
            .push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .push_bind(i64::from(limit));
        let rows: Vec<ItemRow> = query
            .build_query_as()
            .fetch_all(&self.pool)
            .await
            .map_err(|e| classify("account items", e))?;
        items(rows)
    }

    async fn count_account_items(&self, account_id: i64) -> Result<i64, StoreError> {
        let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM items WHERE account_id = $1")
            .bind(account_id)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| classify("count account items", e))?;
        Ok(n)
    }
}
