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
use sqlx::query_builder::Separated;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{ConnectOptions, FromRow, QueryBuilder, Sqlite, SqliteConnection, Transaction};
use tempfile::TempDir;

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

/// The keyword table's primary key (keyword, item_id) plays PostgreSQL's GIN index.
const KEYWORD_MATCH: KeywordMatch = (
    " AND id IN (SELECT item_id FROM item_keywords WHERE keyword = ",
    ")",
);
/// Rows per multi-row `INSERT` while seeding (9 parameters each, far below SQLite's limit).
const SEED_ROWS_PER_STATEMENT: usize = 1_000;
/// Keyword rows per multi-row `INSERT` (2 parameters each).
const KEYWORD_ROWS_PER_STATEMENT: usize = 4_000;
const INSERT_KEYWORDS: &str = "INSERT OR IGNORE INTO item_keywords (item_id, keyword) ";
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

fn keywords_json(keywords: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(keywords).map_err(|e| StoreError::Corrupt(format!("keywords: {e}")))
}

/// The keyset position of a cursor, in this store's time encoding.
fn keyset(after: Option<Cursor>) -> Option<(i64, i64)> {
    after.map(|cursor| (cursor.created_at_micros, cursor.id))
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
    insert_rows(
        conn,
        INSERT_KEYWORDS,
        keywords,
        KEYWORD_ROWS_PER_STATEMENT,
        "insert keywords",
        |mut row, keyword| {
            row.push_bind(item_id).push_bind(keyword.as_str());
        },
    )
    .await
}

/// Inserts `rows` with multi-row `INSERT`s of at most `per_statement` rows each; `head` names
/// the table and columns and `push_row` binds the values of one row.
async fn insert_rows<'a, T>(
    conn: &mut SqliteConnection,
    head: &str,
    rows: &'a [T],
    per_statement: usize,
    context: &'static str,
    mut push_row: impl FnMut(Separated<'_, 'a, Sqlite, &'static str>, &'a T),
) -> Result<(), StoreError> {
    for chunk in rows.chunks(per_statement) {
        let mut insert = QueryBuilder::<Sqlite>::new(head);
        insert.push_values(chunk, &mut push_row);
        insert
            .build()
            .execute(&mut *conn)
            .await
            .map_err(|e| classify(context, e))?;
    }
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

    /// The lookups this store shares with the other SQL store.
    fn reads(&self) -> Reads<'_, Sqlite, ItemRow> {
        Reads::new(&self.reader)
    }

    /// Starts a transaction on the writer connection.
    async fn begin(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        self.writer.begin().await.map_err(|e| classify("begin", e))
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
        self.reads().ping().await
    }

    fn pool_stats(&self) -> Option<PoolStats> {
        Some(PoolStats {
            size: self.reader.size() + self.writer.size(),
            idle: (self.reader.num_idle() + self.writer.num_idle()) as u32,
            max: self.reader_max + 1,
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
        push_keyset(&mut query, keyset(after), limit);
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
        let now = now_micros();
        let mut tx = self.begin().await?;
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
        let mut tx = self.begin().await?;
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
        let row: Option<StatsRow> = sqlx::query_as(
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
        self.reads().count_items().await
    }

    async fn insert_seed_accounts(&self, accounts: &[SeedAccount]) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let now = now_micros();
        insert_rows(
            &mut tx,
            "INSERT INTO accounts (id, name, email, plan, api_key, password_hash, created_at) ",
            accounts,
            SEED_ROWS_PER_STATEMENT,
            "insert seed accounts",
            |mut row, a| {
                row.push_bind(a.id)
                    .push_bind(a.name.as_str())
                    .push_bind(a.email.as_str())
                    .push_bind(a.plan.as_str())
                    .push_bind(a.api_key.as_str())
                    .push_bind(a.password_hash.as_str())
                    .push_bind(now);
            },
        )
        .await?;
        tx.commit().await.map_err(|e| classify("commit", e))?;
        Ok(())
    }

    async fn insert_seed_items(&self, items: &[SeedItem]) -> Result<(), StoreError> {
        // One transaction per batch; ids are assigned here (the writer is the only connection
        // that writes, so max(id) cannot move underneath) to fill the keyword table in bulk too.
        let mut tx = self.begin().await?;
        let (max_id,): (i64,) = sqlx::query_as("SELECT COALESCE(max(id), 0) FROM items")
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| classify("max item id", e))?;
        let mut rows = Vec::with_capacity(items.len());
        let mut keywords = Vec::new();
        for (n, SeedItem { item, created_at }) in items.iter().enumerate() {
            let id = max_id + 1 + n as i64;
            for keyword in &item.keywords {
                keywords.push((id, keyword.as_str()));
            }
            rows.push((
                id,
                item,
                created_at.timestamp_micros(),
                keywords_json(&item.keywords)?,
            ));
        }
        insert_rows(
            &mut tx,
            &format!("INSERT INTO items ({ITEM_COLUMNS}) "),
            &rows,
            SEED_ROWS_PER_STATEMENT,
            "insert seed items",
            |mut row, (id, item, created, keywords)| {
                row.push_bind(*id)
                    .push_bind(item.account_id)
                    .push_bind(item.title.as_str())
                    .push_bind(item.category_id)
                    .push_bind(item.importance)
                    .push_bind(keywords.as_str())
                    .push_bind(item.status.as_str())
                    .push_bind(*created)
                    .push_bind(*created);
            },
        )
        .await?;
        insert_rows(
            &mut tx,
            INSERT_KEYWORDS,
            &keywords,
            KEYWORD_ROWS_PER_STATEMENT,
            "insert seed keywords",
            |mut row, (id, keyword)| {
                row.push_bind(*id).push_bind(*keyword);
            },
        )
        .await?;
        tx.commit().await.map_err(|e| classify("commit", e))?;
        Ok(())
    }

    async fn account_items_after(
        &self,
        account_id: i64,
        after: Option<Cursor>,
        limit: u32,
    ) -> Result<Vec<Item>, StoreError> {
        let mut query = QueryBuilder::new(select_items("account_id = "));
        query.push_bind(account_id);
        push_keyset(&mut query, keyset(after), limit);
        self.reads().fetch_items(&mut query, "account items").await
    }

    async fn count_account_items(&self, account_id: i64) -> Result<i64, StoreError> {
        self.reads().count_account_items(account_id).await
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
                "SELECT {ITEM_COLUMNS} FROM items WHERE TRUE AND (created_at, id) < (5, 5) \
                 ORDER BY created_at DESC, id DESC LIMIT 50"
            ),
        )
        .await;
        assert!(keyset.contains("items_created_id_idx"), "{keyset}");
        assert!(!keyset.contains("TEMP B-TREE"), "keyset sorts: {keyset}");
        let pending = plan(
            &store,
            &format!(
                "SELECT {ITEM_COLUMNS} FROM items WHERE TRUE AND status = 'pending' \
                 ORDER BY created_at DESC, id DESC LIMIT 50"
            ),
        )
        .await;
        assert!(pending.contains("items_pending_idx"), "{pending}");
        let keyword = plan(
            &store,
            "SELECT count(*) FROM items WHERE TRUE AND id IN \
             (SELECT item_id FROM item_keywords WHERE keyword = 'alpha')",
        )
        .await;
        assert!(
            keyword.contains("item_keywords") && !keyword.contains("SCAN item_keywords"),
            "{keyword}"
        );
    }
}
