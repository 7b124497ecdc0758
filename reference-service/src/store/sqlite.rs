//! SQLite implementation of [`Store`] (the embedded variant), on sqlx with WAL.
//!
//! Invariants: the same queries as the PostgreSQL store (keyset pagination on `(created_at, id)`
//! with row-value comparisons, offset pages with a total, the same filters and the same stats
//! aggregate), answering with identical values. Writes go through a pool of exactly one
//! connection, so they never contend for SQLite's single write lock and never see `SQLITE_BUSY`;
//! reads use a pool of read-only connections that WAL lets run beside the writer. Times are
//! stored as microseconds since the Unix epoch and "now" comes from this process's clock.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{ConnectOptions, FromRow, QueryBuilder, Sqlite, SqliteConnection};
use tempfile::TempDir;

use super::postgres::classify;
use super::{OffsetPage, PoolStats, StatsFigures, Store, StoreError};
use crate::config::Config;
use crate::model::{
    Account, AccountStats, Category, Cursor, Item, ItemFilter, ItemPatch, ItemStatus, NewItem, Plan,
};
use crate::seed::{SeedAccount, SeedItem};

const ITEM_COLUMNS: &str =
    "id, account_id, title, category_id, importance, keywords, status, created_at, updated_at";
/// Rows per multi-row `INSERT` while seeding (9 parameters each, far below SQLite's limit).
const SEED_ROWS_PER_STATEMENT: usize = 1_000;
/// Keyword rows per multi-row `INSERT` (2 parameters each).
const KEYWORD_ROWS_PER_STATEMENT: usize = 4_000;
const THIRTY_DAYS_MICROS: i64 = 30 * 24 * 3_600 * 1_000_000;

/// [`Store`] on SQLite.
#[derive(Debug)]
pub struct SqliteStore {
    reader: SqlitePool,
    writer: SqlitePool,
    reader_max: u32,
    path: PathBuf,
    // Declared last: the directory (and the database in it) goes after the pools.
    _dir: Option<TempDir>,
}

#[derive(FromRow)]
struct ItemRow {
    id: i64,
    account_id: i64,
    title: String,
    category_id: i32,
    importance: i32,
    keywords: String,
    status: String,
    created_at: i64,
    updated_at: i64,
}

fn time(micros: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(micros)
        .ok_or_else(|| StoreError::Corrupt(format!("time {micros} µs out of range")))
}

fn now_micros() -> i64 {
    Utc::now().timestamp_micros()
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
            keywords: serde_json::from_str(&row.keywords)
                .map_err(|e| StoreError::Corrupt(format!("keywords of item {}: {e}", row.id)))?,
            status: ItemStatus::from_str(&row.status).map_err(StoreError::Corrupt)?,
            created_at: time(row.created_at)?,
            updated_at: time(row.updated_at)?,
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

fn items(rows: Vec<ItemRow>) -> Result<Vec<Item>, StoreError> {
    rows.into_iter().map(Item::try_from).collect()
}

fn keywords_json(keywords: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(keywords).map_err(|e| StoreError::Corrupt(format!("keywords: {e}")))
}

fn push_filter<'a>(query: &mut QueryBuilder<'a, Sqlite>, filter: &'a ItemFilter) {
    if let Some(status) = filter.status {
        query.push(" AND status = ").push_bind(status.as_str());
    }
    if let Some(category) = filter.category_id {
        query.push(" AND category_id = ").push_bind(category);
    }
    if let Some(keyword) = &filter.keyword {
        // The keyword table's primary key (keyword, item_id) plays PostgreSQL's GIN index.
        query
            .push(" AND id IN (SELECT item_id FROM item_keywords WHERE keyword = ")
            .push_bind(keyword.as_str())
            .push(")");
    }
}

fn push_keyset(query: &mut QueryBuilder<'_, Sqlite>, after: Option<Cursor>, limit: u32) {
    if let Some(cursor) = after {
        query
            .push(" AND (created_at, id) < (")
            .push_bind(cursor.created_at_micros)
            .push(", ")
            .push_bind(cursor.id)
            .push(")");
    }
    query
        .push(" ORDER BY created_at DESC, id DESC LIMIT ")
        .push_bind(i64::from(limit));
}

/// Replaces the keyword rows of one item.
async fn write_keywords(
    conn: &mut SqliteConnection,
    item_id: i64,
    keywords: &[String],
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM item_keywords WHERE item_id = ?")
        .bind(item_id)
        .execute(&mut *conn)
        .await
        .map_err(|e| classify("delete keywords", e))?;
    if keywords.is_empty() {
        return Ok(());
    }
    let mut insert =
        QueryBuilder::<Sqlite>::new("INSERT OR IGNORE INTO item_keywords (item_id, keyword) ");
    insert.push_values(keywords, |mut row, keyword| {
        row.push_bind(item_id).push_bind(keyword.as_str());
    });
    insert
        .build()
        .execute(&mut *conn)
        .await
        .map_err(|e| classify("insert keywords", e))?;
    Ok(())
}

impl SqliteStore {
    /// A fresh database in a new temporary directory, deleted when the store is dropped.
    pub async fn open_temp(config: &Config) -> Result<SqliteStore, StoreError> {
        let dir = tempfile::Builder::new()
            .prefix("kneepoint-embedded-")
            .tempdir()
            .map_err(|e| StoreError::Unavailable(sqlx::Error::Io(e)))?;
        let path = dir.path().join("reference.db");
        let mut store = SqliteStore::open(&path, config).await?;
        store._dir = Some(dir);
        Ok(store)
    }

    /// Opens (creating if missing) the database at `path` in WAL mode. The pools are sized by
    /// `db_pool_max` (readers) and time out after `db_acquire_timeout_ms`; statements slower
    /// than `db_slow_query_ms` are logged.
    pub async fn open(path: &Path, config: &Config) -> Result<SqliteStore, StoreError> {
        let base = SqliteConnectOptions::new()
            .filename(path)
            .busy_timeout(Duration::from_millis(config.db_acquire_timeout_ms))
            .log_statements(log::LevelFilter::Trace)
            .log_slow_statements(
                log::LevelFilter::Warn,
                Duration::from_millis(config.db_slow_query_ms),
            );
        let acquire = Duration::from_millis(config.db_acquire_timeout_ms);
        // The writer creates the file and switches it to WAL (a persistent setting) before any
        // reader opens it. A throwaway database needs no fsync: synchronous = OFF.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(acquire)
            .connect_with(
                base.clone()
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Off),
            )
            .await
            .map_err(StoreError::Unavailable)?;
        let reader_max = config.db_pool_max.max(1);
        let reader = SqlitePoolOptions::new()
            .max_connections(reader_max)
            .min_connections(config.db_pool_min.min(reader_max))
            .acquire_timeout(acquire)
            .idle_timeout(Duration::from_secs(config.db_idle_timeout_secs))
            .connect_lazy_with(base.read_only(true));
        Ok(SqliteStore {
            reader,
            writer,
            reader_max,
            path: path.to_owned(),
            _dir: None,
        })
    }

    /// Where the database file is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("./migrations-sqlite")
            .run(&self.writer)
            .await
            .map_err(StoreError::Migrate)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
            .await
            .map(|_| ())
            .map_err(|e| classify("ping", e))
    }

    fn pool_stats(&self) -> Option<PoolStats> {
        Some(PoolStats {
            size: self.reader.size() + self.writer.size(),
            idle: (self.reader.num_idle() + self.writer.num_idle()) as u32,
            max: self.reader_max + 1,
        })
    }

    async fn item(&self, id: i64) -> Result<Option<Item>, StoreError> {
        let row: Option<ItemRow> =
            sqlx::query_as(&format!("SELECT {ITEM_COLUMNS} FROM items WHERE id = ?"))
                .bind(id)
                .fetch_optional(&self.reader)
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
            QueryBuilder::<Sqlite>::new(format!("SELECT {ITEM_COLUMNS} FROM items WHERE 1"));
        push_filter(&mut query, filter);
        push_keyset(&mut query, after, limit);
        let rows: Vec<ItemRow> = query
            .build_query_as()
            .fetch_all(&self.reader)
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
            QueryBuilder::<Sqlite>::new(format!("SELECT {ITEM_COLUMNS} FROM items WHERE 1"));
        push_filter(&mut query, filter);
        query
            .push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .push_bind(i64::from(per_page))
            .push(" OFFSET ")
            .push_bind(offset);
        let rows: Vec<ItemRow> = query
            .build_query_as()
            .fetch_all(&self.reader)
            .await
            .map_err(|e| classify("items page", e))?;
        let mut count = QueryBuilder::<Sqlite>::new("SELECT count(*) FROM items WHERE 1");
        push_filter(&mut count, filter);
        let (total,): (i64,) = count
            .build_query_as()
            .fetch_one(&self.reader)
            .await
            .map_err(|e| classify("items count", e))?;
        Ok(OffsetPage {
            items: items(rows)?,
            total,
        })
    }

    async fn create_item(&self, item: &NewItem) -> Result<Item, StoreError> {
        let now = now_micros();
        let mut tx = self
            .writer
            .begin()
            .await
            .map_err(|e| classify("begin", e))?;
        let row: ItemRow = sqlx::query_as(&format!(
            "INSERT INTO items (account_id, title, category_id, importance, keywords, status, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING {ITEM_COLUMNS}"
        ))
        .bind(item.account_id)
        .bind(&item.title)
        .bind(item.category_id)
        .bind(item.importance)
        .bind(keywords_json(&item.keywords)?)
        .bind(item.status.as_str())
        .bind(now)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| classify("create item", e))?;
        write_keywords(&mut tx, row.id, &item.keywords).await?;
        tx.commit().await.map_err(|e| classify("commit", e))?;
        Item::try_from(row)
    }

    async fn update_item(&self, id: i64, patch: &ItemPatch) -> Result<Option<Item>, StoreError> {
        let keywords = patch.keywords.as_deref().map(keywords_json).transpose()?;
        let mut tx = self
            .writer
            .begin()
            .await
            .map_err(|e| classify("begin", e))?;
        let row: Option<ItemRow> = sqlx::query_as(&format!(
            "UPDATE items SET title = COALESCE(?2, title), category_id = COALESCE(?3, category_id), \
             importance = COALESCE(?4, importance), keywords = COALESCE(?5, keywords), \
             status = COALESCE(?6, status), updated_at = ?7 WHERE id = ?1 RETURNING {ITEM_COLUMNS}"
        ))
        .bind(id)
        .bind(patch.title.as_deref())
        .bind(patch.category_id)
        .bind(patch.importance)
        .bind(keywords)
        .bind(patch.status.map(ItemStatus::as_str))
        .bind(now_micros())
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| classify("update item", e))?;
        if let (Some(row), Some(keywords)) = (&row, &patch.keywords) {
            write_keywords(&mut tx, row.id, keywords).await?;
        }
        tx.commit().await.map_err(|e| classify("commit", e))?;
        row.map(Item::try_from).transpose()
    }

    async fn account_stats(&self, account_id: i64) -> Result<Option<AccountStats>, StoreError> {
        // Deliberately heavy, like the PostgreSQL one: the baseline median reads every item of
        // the account's categories. SQLite has no percentile_cont, so the median is the mean of
        // the one or two middle rows of the sorted baseline.
        let row: Option<(i64, i64, i64, i64, f64, f64, i64, i64)> = sqlx::query_as(
            "WITH mine AS (SELECT id, status, importance, category_id, created_at FROM items WHERE account_id = ?1),
                  baseline AS (SELECT importance FROM items
                               WHERE category_id IN (SELECT DISTINCT category_id FROM mine)),
                  n AS (SELECT count(*) AS c FROM baseline)
             SELECT
                 (SELECT count(*) FROM mine),
                 (SELECT count(*) FROM mine WHERE status = 'pending'),
                 (SELECT count(*) FROM mine WHERE status = 'active'),
                 (SELECT count(*) FROM mine WHERE status = 'archived'),
                 (SELECT COALESCE(avg(importance), 0.0) FROM mine),
                 (SELECT COALESCE(avg(importance), 0.0) FROM
                     (SELECT importance FROM baseline ORDER BY importance
                      LIMIT 2 - (SELECT c FROM n) % 2 OFFSET ((SELECT c FROM n) - 1) / 2)),
                 (SELECT count(DISTINCT k.keyword) FROM item_keywords k
                  WHERE k.item_id IN (SELECT id FROM mine)),
                 (SELECT count(*) FROM mine WHERE created_at > ?2)
             FROM accounts WHERE id = ?1",
        )
        .bind(account_id)
        .bind(now_micros() - THIRTY_DAYS_MICROS)
        .fetch_optional(&self.reader)
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
                .fetch_all(&self.reader)
                .await
                .map_err(|e| classify("categories", e))?;
        Ok(rows
            .into_iter()
            .map(|(id, slug, name)| Category { id, slug, name })
            .collect())
    }

    async fn account_by_api_key(&self, api_key: &str) -> Result<Option<Account>, StoreError> {
        let row: Option<AccountRow> =
            sqlx::query_as("SELECT id, name, email, plan FROM accounts WHERE api_key = ?")
                .bind(api_key)
                .fetch_optional(&self.reader)
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
            "SELECT id, name, email, plan FROM accounts WHERE email = ? AND password_hash = ?",
        )
        .bind(email)
        .bind(password_hash)
        .fetch_optional(&self.reader)
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
        let expires = now_micros().saturating_add(ttl_secs.saturating_mul(1_000_000));
        sqlx::query("INSERT INTO sessions (token, account_id, expires_at) VALUES (?, ?, ?)")
            .bind(token)
            .bind(account_id)
            .bind(expires)
            .execute(&self.writer)
            .await
            .map_err(|e| classify("create session", e))?;
        Ok(())
    }

    async fn account_by_session(&self, token: &str) -> Result<Option<Account>, StoreError> {
        let row: Option<AccountRow> = sqlx::query_as(
            "SELECT a.id, a.name, a.email, a.plan FROM sessions s JOIN accounts a ON a.id = s.account_id \
             WHERE s.token = ? AND s.expires_at > ?",
        )
        .bind(token)
        .bind(now_micros())
        .fetch_optional(&self.reader)
        .await
        .map_err(|e| classify("account by session", e))?;
        row.map(Account::try_from).transpose()
    }

    async fn count_items(&self) -> Result<i64, StoreError> {
        let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM items")
            .fetch_one(&self.reader)
            .await
            .map_err(|e| classify("count items", e))?;
        Ok(n)
    }

    async fn insert_seed_accounts(&self, accounts: &[SeedAccount]) -> Result<(), StoreError> {
        let mut tx = self
            .writer
            .begin()
            .await
            .map_err(|e| classify("begin", e))?;
        let now = now_micros();
        for chunk in accounts.chunks(SEED_ROWS_PER_STATEMENT) {
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO accounts (id, name, email, plan, api_key, password_hash, created_at) ",
            );
            insert.push_values(chunk, |mut row, a| {
                row.push_bind(a.id)
                    .push_bind(a.name.as_str())
                    .push_bind(a.email.as_str())
                    .push_bind(a.plan.as_str())
                    .push_bind(a.api_key.as_str())
                    .push_bind(a.password_hash.as_str())
                    .push_bind(now);
            });
            insert
                .build()
                .execute(&mut *tx)
                .await
                .map_err(|e| classify("insert seed accounts", e))?;
        }
        tx.commit().await.map_err(|e| classify("commit", e))?;
        Ok(())
    }

    async fn insert_seed_items(&self, items: &[SeedItem]) -> Result<(), StoreError> {
        // One transaction per batch; ids are assigned here (the writer is the only connection
        // that writes, so max(id) cannot move underneath) to fill the keyword table in bulk too.
        let mut tx = self
            .writer
            .begin()
            .await
            .map_err(|e| classify("begin", e))?;
        let (max_id,): (i64,) = sqlx::query_as("SELECT COALESCE(max(id), 0) FROM items")
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| classify("max item id", e))?;
        let mut rows = Vec::with_capacity(items.len());
        let mut keywords = Vec::new();
        for (n, item) in items.iter().enumerate() {
            let id = max_id + 1 + n as i64;
            for keyword in &item.keywords {
                keywords.push((id, keyword.as_str()));
            }
            rows.push((id, item, keywords_json(&item.keywords)?));
        }
        for chunk in rows.chunks(SEED_ROWS_PER_STATEMENT) {
            let mut insert =
                QueryBuilder::<Sqlite>::new(format!("INSERT INTO items ({ITEM_COLUMNS}) "));
            insert.push_values(chunk, |mut row, (id, item, keywords)| {
                let created = item.created_at.timestamp_micros();
                row.push_bind(*id)
                    .push_bind(item.account_id)
                    .push_bind(item.title.as_str())
                    .push_bind(item.category_id)
                    .push_bind(item.importance)
                    .push_bind(keywords.as_str())
                    .push_bind(item.status.as_str())
                    .push_bind(created)
                    .push_bind(created);
            });
            insert
                .build()
                .execute(&mut *tx)
                .await
                .map_err(|e| classify("insert seed items", e))?;
        }
        for chunk in keywords.chunks(KEYWORD_ROWS_PER_STATEMENT) {
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT OR IGNORE INTO item_keywords (item_id, keyword) ",
            );
            insert.push_values(chunk, |mut row, (id, keyword)| {
                row.push_bind(*id).push_bind(*keyword);
            });
            insert
                .build()
                .execute(&mut *tx)
                .await
                .map_err(|e| classify("insert seed keywords", e))?;
        }
        tx.commit().await.map_err(|e| classify("commit", e))?;
        Ok(())
    }

    async fn account_items_after(
        &self,
        account_id: i64,
        after: Option<Cursor>,
        limit: u32,
    ) -> Result<Vec<Item>, StoreError> {
        let mut query = QueryBuilder::<Sqlite>::new(format!(
            "SELECT {ITEM_COLUMNS} FROM items WHERE account_id = "
        ));
        query.push_bind(account_id);
        push_keyset(&mut query, after, limit);
        let rows: Vec<ItemRow> = query
            .build_query_as()
            .fetch_all(&self.reader)
            .await
            .map_err(|e| classify("account items", e))?;
        items(rows)
    }

    async fn count_account_items(&self, account_id: i64) -> Result<i64, StoreError> {
        let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM items WHERE account_id = ?")
            .bind(account_id)
            .fetch_one(&self.reader)
            .await
            .map_err(|e| classify("count account items", e))?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    async fn plan(store: &SqliteStore, sql: &str) -> String {
        let rows: Vec<(i64, i64, i64, String)> =
            sqlx::query_as(&format!("EXPLAIN QUERY PLAN {sql}"))
                .fetch_all(&store.reader)
                .await
                .expect("explain");
        rows.into_iter()
            .map(|(_, _, _, detail)| detail)
            .collect::<Vec<_>>()
            .join("; ")
    }

    #[tokio::test]
    async fn list_queries_use_their_indexes() {
        let config = Config::parse_from(["reference-service"]);
        let store = SqliteStore::open_temp(&config).await.expect("open");
        store.migrate().await.expect("migrate");
        let keyset = plan(
            &store,
            &format!(
                "SELECT {ITEM_COLUMNS} FROM items WHERE 1 AND (created_at, id) < (5, 5) \
                 ORDER BY created_at DESC, id DESC LIMIT 50"
            ),
        )
        .await;
        assert!(keyset.contains("items_created_id_idx"), "{keyset}");
        assert!(!keyset.contains("TEMP B-TREE"), "keyset sorts: {keyset}");
        let pending = plan(
            &store,
            &format!(
                "SELECT {ITEM_COLUMNS} FROM items WHERE 1 AND status = 'pending' \
                 ORDER BY created_at DESC, id DESC LIMIT 50"
            ),
        )
        .await;
        assert!(pending.contains("items_pending_idx"), "{pending}");
        let keyword = plan(
            &store,
            "SELECT count(*) FROM items WHERE 1 AND id IN \
             (SELECT item_id FROM item_keywords WHERE keyword = 'alpha')",
        )
        .await;
        assert!(
            keyword.contains("item_keywords") && !keyword.contains("SCAN item_keywords"),
            "{keyword}"
        );
    }
}
