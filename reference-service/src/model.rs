//! Domain types shared by the storage, cache and HTTP layers.
//!
//! Invariant: these are validated values. Anything built from request input goes through the
//! `parse`/`validate` functions in `routes` first, so a `NewItem` always has a title of sane
//! length and an importance in 0..=100.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The value among `all` whose stored name (by `name_of`) is exactly `name`.
fn by_name<T: Copy>(all: &[T], name_of: fn(T) -> &'static str, name: &str) -> Option<T> {
    all.iter().copied().find(|&value| name_of(value) == name)
}

/// Plan tier of an account; decides its rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    /// No API key: limited per IP address.
    Anonymous,
    /// Free plan.
    Free,
    /// Pro plan.
    Pro,
    /// Enterprise plan.
    Enterprise,
}

impl Plan {
    /// Every plan, lowest tier first.
    const ALL: [Plan; 4] = [Plan::Anonymous, Plan::Free, Plan::Pro, Plan::Enterprise];

    /// The name stored in the database and used in metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Anonymous => "anonymous",
            Plan::Free => "free",
            Plan::Pro => "pro",
            Plan::Enterprise => "enterprise",
        }
    }
}

impl FromStr for Plan {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        by_name(&Plan::ALL, Plan::as_str, s).ok_or_else(|| format!("unknown plan `{s}`"))
    }
}

/// A customer account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Primary key.
    pub id: i64,
    /// Display name.
    pub name: String,
    /// Login e-mail.
    pub email: String,
    /// Plan tier.
    pub plan: Plan,
}

/// Life-cycle state of an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemStatus {
    /// Waiting for review.
    Pending,
    /// Live.
    Active,
    /// Kept but hidden.
    Archived,
}

impl ItemStatus {
    /// Every status.
    const ALL: [ItemStatus; 3] = [
        ItemStatus::Pending,
        ItemStatus::Active,
        ItemStatus::Archived,
    ];

    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            ItemStatus::Pending => "pending",
            ItemStatus::Active => "active",
            ItemStatus::Archived => "archived",
        }
    }
}

impl FromStr for ItemStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        by_name(&ItemStatus::ALL, ItemStatus::as_str, s)
            .ok_or_else(|| format!("unknown status `{s}` (expected pending, active or archived)"))
    }
}

impl fmt::Display for ItemStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An item owned by an account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// Primary key.
    pub id: i64,
    /// Owning account.
    pub account_id: i64,
    /// Title.
    pub title: String,
    /// Category id (see `/api/reference/categories`).
    pub category_id: i32,
    /// Importance score, 0..=100.
    pub importance: i32,
    /// Search keywords.
    pub keywords: Vec<String>,
    /// Status.
    pub status: ItemStatus,
    /// Creation time; with `id`, the keyset pagination key.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// A validated item to insert.
#[derive(Debug, Clone, PartialEq)]
pub struct NewItem {
    /// Owning account.
    pub account_id: i64,
    /// Title, 1..=200 characters.
    pub title: String,
    /// Category id.
    pub category_id: i32,
    /// Importance, 0..=100.
    pub importance: i32,
    /// Keywords (at most 20).
    pub keywords: Vec<String>,
    /// Initial status.
    pub status: ItemStatus,
}

/// A validated partial update; `None` leaves a field unchanged.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ItemPatch {
    /// New title.
    pub title: Option<String>,
    /// New category.
    pub category_id: Option<i32>,
    /// New importance.
    pub importance: Option<i32>,
    /// New keywords.
    pub keywords: Option<Vec<String>>,
    /// New status.
    pub status: Option<ItemStatus>,
}

/// Optional filters of the item list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ItemFilter {
    /// Only this status.
    pub status: Option<ItemStatus>,
    /// Only this category.
    pub category_id: Option<i32>,
    /// Only items carrying this keyword (GIN index).
    pub keyword: Option<String>,
}

impl ItemFilter {
    /// A stable string for cache keys.
    pub fn cache_key(&self) -> String {
        format!(
            "s={}:c={}:k={}",
            self.status.map(ItemStatus::as_str).unwrap_or("*"),
            self.category_id
                .map(|c| c.to_string())
                .unwrap_or_else(|| "*".into()),
            self.keyword.as_deref().unwrap_or("*"),
        )
    }
}

/// Keyset position: the `(created_at, id)` of the last row of the previous page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// `created_at` of the last row, in microseconds since the Unix epoch.
    pub created_at_micros: i64,
    /// `id` of the last row.
    pub id: i64,
}

/// Reference data: an item category.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Category {
    /// Id used by items.
    pub id: i32,
    /// URL-safe name.
    pub slug: String,
    /// Display name.
    pub name: String,
}

/// The expensive per-account aggregate behind `/api/accounts/{id}/stats`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountStats {
    /// Account id.
    pub account_id: i64,
    /// Items in total.
    pub items: i64,
    /// Items pending.
    pub pending: i64,
    /// Items active.
    pub active: i64,
    /// Items archived.
    pub archived: i64,
    /// Mean importance of the account's items.
    pub mean_importance: f64,
    /// Median importance of all items in the account's categories (the comparison baseline).
    pub category_median_importance: f64,
    /// Distinct keywords the account uses.
    pub distinct_keywords: i64,
    /// Items created in the last 30 days.
    pub created_last_30_days: i64,
    /// 0..=100: share of active items, weighted by importance against the category baseline.
    pub health_score: f64,
}
