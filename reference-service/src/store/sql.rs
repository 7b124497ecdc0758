//! What the PostgreSQL and SQLite stores share: the SQL they both run word for word (SQLite
//! reads `$1`-style parameters too), the item listing built for either driver, the rows they
//! both decode, and the error sorting.

use std::marker::PhantomData;
use std::str::FromStr;

use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Pool, QueryBuilder, Type};

use super::{StatsFigures, StoreError};
use crate::model::{Account, Category, Item, ItemFilter, Plan};

/// The columns of an item, in the order of both stores' `ItemRow`.
pub(crate) const ITEM_COLUMNS: &str =
    "id, account_id, title, category_id, importance, keywords, status, created_at, updated_at";
/// Head of the count matching an item listing's filters.
pub(crate) const COUNT_FILTERED_ITEMS: &str = "SELECT count(*) FROM items WHERE TRUE";

/// `SELECT` of the items meeting `condition` (an item listing passes `TRUE` and appends its
/// filters as ` AND …` clauses).
pub(crate) fn select_items(condition: &str) -> String {
    format!("SELECT {ITEM_COLUMNS} FROM items WHERE {condition}")
}

/// How a database matches "the item carries this keyword": the SQL before and after the bound
/// keyword.
pub(crate) type KeywordMatch = (&'static str, &'static str);

/// Appends the list filters as ` AND …` clauses.
pub(crate) fn push_filter<'a, DB>(
    query: &mut QueryBuilder<'a, DB>,
    filter: &'a ItemFilter,
    keyword_match: KeywordMatch,
) where
    DB: Database,
    &'a str: Encode<'a, DB> + Type<DB>,
    i32: Encode<'a, DB> + Type<DB>,
{
    if let Some(status) = filter.status {
        query.push(" AND status = ").push_bind(status.as_str());
    }
    if let Some(category) = filter.category_id {
        query.push(" AND category_id = ").push_bind(category);
    }
    if let Some(keyword) = &filter.keyword {
        let (before, after) = keyword_match;
        query.push(before).push_bind(keyword.as_str()).push(after);
    }
}

/// Appends the keyset condition (rows before `after`, a `(created_at, id)` pair in the
/// database's time type), newest-first order and the limit.
pub(crate) fn push_keyset<'a, DB, T>(
    query: &mut QueryBuilder<'a, DB>,
    after: Option<(T, i64)>,
    limit: u32,
) where
    DB: Database,
    T: 'a + Encode<'a, DB> + Type<DB>,
    i64: Encode<'a, DB> + Type<DB>,
{
    if let Some((created_at, id)) = after {
        query
            .push(" AND (created_at, id) < (")
            .push_bind(created_at)
            .push(", ")
            .push_bind(id)
            .push(")");
    }
    push_newest_first(query, i64::from(limit));
}

/// Appends newest-first order, the limit and the offset of an offset page.
pub(crate) fn push_page<'a, DB>(query: &mut QueryBuilder<'a, DB>, page: u64, per_page: u32)
where
    DB: Database,
    i64: Encode<'a, DB> + Type<DB>,
{
    push_newest_first(query, i64::from(per_page));
    query
        .push(" OFFSET ")
        .push_bind(page_offset(page, per_page));
}

fn push_newest_first<'a, DB>(query: &mut QueryBuilder<'a, DB>, limit: i64)
where
    DB: Database,
    i64: Encode<'a, DB> + Type<DB>,
{
    query
        .push(" ORDER BY created_at DESC, id DESC LIMIT ")
        .push_bind(limit);
}

/// Sorts a driver error into "database unreachable" or "query failed".
pub(crate) fn classify(context: &'static str, source: sqlx::Error) -> StoreError {
    if is_unreachable(&source) {
        StoreError::Unavailable(source)
    } else {
        StoreError::Query { context, source }
    }
}

/// Whether a driver error means the database could not be reached at all (as opposed to a
/// statement that failed); the job queue sorts its errors by the same rule.
pub(crate) fn is_unreachable(error: &sqlx::Error) -> bool {
    matches!(
        error,
        sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
    )
}

/// Converts fetched rows into domain values, failing on the first that does not decode.
fn decode_all<R, T>(rows: Vec<R>) -> Result<Vec<T>, StoreError>
where
    T: TryFrom<R, Error = StoreError>,
{
    rows.into_iter().map(T::try_from).collect()
}

/// The row offset of 1-based page `page` of `per_page` rows (saturating).
fn page_offset(page: u64, per_page: u32) -> i64 {
    i64::try_from(page.saturating_sub(1).saturating_mul(u64::from(per_page))).unwrap_or(i64::MAX)
}

/// An `accounts` row as both stores select it.
#[derive(FromRow)]
pub(crate) struct AccountRow {
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

/// A `categories` row: id, slug, name.
type CategoryRow = (i32, String, String);

/// The stats query's one row: items, pending, active, archived, mean importance, category
/// median importance, distinct keywords, items created in the last 30 days.
pub(crate) type StatsRow = (i64, i64, i64, i64, f64, f64, i64, i64);

impl From<StatsRow> for StatsFigures {
    fn from(row: StatsRow) -> Self {
        let (items, pending, active, archived, mean, median, distinct_keywords, recent) = row;
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
    }
}

/// The lookups both stores run word for word (each one a [`Store`](super::Store) method), on
/// the pool a store reads from; `R` is the store's item row.
pub(crate) struct Reads<'p, DB: Database, R> {
    pool: &'p Pool<DB>,
    item_row: PhantomData<R>,
}

// What the lookups need of a driver and its rows; PostgreSQL and SQLite provide all of it.
impl<'p, DB, R> Reads<'p, DB, R>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'r> AccountRow: FromRow<'r, DB::Row>,
    for<'r> CategoryRow: FromRow<'r, DB::Row>,
    for<'r> (i64,): FromRow<'r, DB::Row>,
    for<'r> R: FromRow<'r, DB::Row> + Send + Unpin,
    Item: TryFrom<R, Error = StoreError>,
{
    /// Reads from `pool`.
    pub(crate) fn new(pool: &'p Pool<DB>) -> Self {
        Reads {
            pool,
            item_row: PhantomData,
        }
    }

    pub(crate) async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(self.pool)
            .await
            .map(|_| ())
            .map_err(|e| classify("ping", e))
    }

    pub(crate) async fn item(&self, id: i64) -> Result<Option<Item>, StoreError> {
        let row: Option<R> = sqlx::query_as(&select_items("id = $1"))
            .bind(id)
            .fetch_optional(self.pool)
            .await
            .map_err(|e| classify("item by id", e))?;
        row.map(Item::try_from).transpose()
    }

    pub(crate) async fn categories(&self) -> Result<Vec<Category>, StoreError> {
        let rows: Vec<CategoryRow> =
            sqlx::query_as("SELECT id, slug, name FROM categories ORDER BY id")
                .fetch_all(self.pool)
                .await
                .map_err(|e| classify("categories", e))?;
        Ok(rows
            .into_iter()
            .map(|(id, slug, name)| Category { id, slug, name })
            .collect())
    }

    pub(crate) async fn account_by_api_key(
        &self,
        api_key: &str,
    ) -> Result<Option<Account>, StoreError> {
        let row: Option<AccountRow> =
            sqlx::query_as("SELECT id, name, email, plan FROM accounts WHERE api_key = $1")
                .bind(api_key)
                .fetch_optional(self.pool)
                .await
                .map_err(|e| classify("account by api key", e))?;
        row.map(Account::try_from).transpose()
    }

    pub(crate) async fn account_by_login(
        &self,
        email: &str,
        password_hash: &str,
    ) -> Result<Option<Account>, StoreError> {
        let row: Option<AccountRow> = sqlx::query_as(
            "SELECT id, name, email, plan FROM accounts WHERE email = $1 AND password_hash = $2",
        )
        .bind(email)
        .bind(password_hash)
        .fetch_optional(self.pool)
        .await
        .map_err(|e| classify("account by login", e))?;
        row.map(Account::try_from).transpose()
    }

    /// Runs an item listing built by the caller and decodes its rows.
    pub(crate) async fn fetch_items<'a>(
        &self,
        query: &'a mut QueryBuilder<'a, DB>,
        context: &'static str,
    ) -> Result<Vec<Item>, StoreError> {
        let rows: Vec<R> = query
            .build_query_as()
            .fetch_all(self.pool)
            .await
            .map_err(|e| classify(context, e))?;
        decode_all(rows)
    }

    /// Runs a `count(*)` built by the caller.
    pub(crate) async fn fetch_count<'a>(
        &self,
        query: &'a mut QueryBuilder<'a, DB>,
        context: &'static str,
    ) -> Result<i64, StoreError> {
        let (n,): (i64,) = query
            .build_query_as()
            .fetch_one(self.pool)
            .await
            .map_err(|e| classify(context, e))?;
        Ok(n)
    }

    pub(crate) async fn count_items(&self) -> Result<i64, StoreError> {
        let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM items")
            .fetch_one(self.pool)
            .await
            .map_err(|e| classify("count items", e))?;
        Ok(n)
    }

    pub(crate) async fn count_account_items(&self, account_id: i64) -> Result<i64, StoreError> {
        let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM items WHERE account_id = $1")
            .bind(account_id)
            .fetch_one(self.pool)
            .await
            .map_err(|e| classify("count account items", e))?;
        Ok(n)
    }
}
