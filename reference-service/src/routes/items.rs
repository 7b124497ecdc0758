//! `/api/items`: cursor and offset listing, read by id (cache-aside), create and update
//! (which invalidate by tag).
//!
//! Invariant: a write invalidates the tags `item:{id}`, `items:list` and `account:{owner}`, so
//! no cached read of those shows the old row once the write has answered.

use std::future::Future;

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{found, read_through};
use crate::cache::{Namespace, Ttl};
use crate::error::ApiError;
use crate::middleware::Caller;
use crate::model::{Cursor, Item, ItemFilter, ItemPatch, ItemStatus, NewItem};
use crate::state::AppState;

const MAX_LIMIT: i64 = 100;
const DEFAULT_LIMIT: i64 = 50;
const MAX_PAGE: i64 = 10_000_000;
const LIST_TAG: &str = "items:list";

/// Query string as typed; every field is text so that bad numbers become our own 400.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawListParams {
    cursor: Option<String>,
    limit: Option<String>,
    page: Option<String>,
    per_page: Option<String>,
    status: Option<String>,
    category: Option<String>,
    keyword: Option<String>,
}

/// A validated listing request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ListQuery {
    /// Keyset form.
    Cursor {
        after: Option<Cursor>,
        limit: u32,
        filter: ItemFilter,
    },
    /// Legacy offset form.
    Offset {
        page: u64,
        per_page: u32,
        filter: ItemFilter,
    },
}

fn int(name: &str, raw: &str) -> Result<i64, ApiError> {
    raw.trim()
        .parse::<i64>()
        .map_err(|_| ApiError::BadRequest(format!("`{name}` must be an integer, got `{raw}`")))
}

/// An optional integer parameter: `default` when absent, clamped to `1..=max`.
fn clamped(name: &str, raw: Option<&str>, default: i64, max: i64) -> Result<i64, ApiError> {
    Ok(raw
        .map(|value| int(name, value))
        .transpose()?
        .unwrap_or(default)
        .clamp(1, max))
}

/// Encodes a keyset position as an opaque URL-safe token.
pub(crate) fn encode_cursor(cursor: Cursor) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{}", cursor.created_at_micros, cursor.id))
}

/// Decodes a token made by [`encode_cursor`].
pub(crate) fn decode_cursor(token: &str) -> Result<Cursor, ApiError> {
    let bad = || {
        ApiError::BadRequest("malformed `cursor` (use the `next_cursor` of a previous page)".into())
    };
    let bytes = URL_SAFE_NO_PAD.decode(token.trim()).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (micros, id) = text.split_once(':').ok_or_else(bad)?;
    let cursor = Cursor {
        created_at_micros: micros.parse().map_err(|_| bad())?,
        id: id.parse().map_err(|_| bad())?,
    };
    // Reject positions whose time PostgreSQL cannot represent, rather than failing in the query.
    chrono::DateTime::from_timestamp_micros(cursor.created_at_micros).ok_or_else(bad)?;
    Ok(cursor)
}

/// An optional `status` parameter or field.
fn parse_status(raw: Option<&str>) -> Result<Option<ItemStatus>, ApiError> {
    raw.map(str::parse::<ItemStatus>)
        .transpose()
        .map_err(ApiError::BadRequest)
}

fn filter(raw: &RawListParams) -> Result<ItemFilter, ApiError> {
    let status = parse_status(raw.status.as_deref())?;
    let category_id = match raw.category.as_deref() {
        Some(c) => Some(
            i32::try_from(int("category", c)?)
                .map_err(|_| ApiError::BadRequest(format!("`category` out of range: `{c}`")))?,
        ),
        None => None,
    };
    let keyword = match raw.keyword.as_deref().map(str::trim) {
        Some(k) if k.is_empty() || k.len() > 50 => {
            return Err(ApiError::BadRequest(
                "`keyword` must be 1 to 50 characters".into(),
            ));
        }
        Some(k) => Some(k.to_lowercase()),
        None => None,
    };
    Ok(ItemFilter {
        status,
        category_id,
        keyword,
    })
}

/// Validates listing parameters: numbers out of range are clamped, malformed ones are a 400.
pub(crate) fn parse_list(raw: &RawListParams) -> Result<ListQuery, ApiError> {
    let filter = filter(raw)?;
    let offset_form = raw.page.is_some() || raw.per_page.is_some();
    if offset_form {
        if raw.cursor.is_some() {
            return Err(ApiError::BadRequest(
                "use either `cursor`/`limit` or `page`/`per_page`, not both".into(),
            ));
        }
        let page = clamped("page", raw.page.as_deref(), 1, MAX_PAGE)?;
        let per_page = clamped(
            "per_page",
            raw.per_page.as_deref(),
            DEFAULT_LIMIT,
            MAX_LIMIT,
        )?;
        return Ok(ListQuery::Offset {
            page: page as u64,
            per_page: per_page as u32,
            filter,
        });
    }
    let limit = clamped("limit", raw.limit.as_deref(), DEFAULT_LIMIT, MAX_LIMIT)?;
    let after = raw
        .cursor
        .as_deref()
        .filter(|c| !c.is_empty())
        .map(decode_cursor)
        .transpose()?;
    Ok(ListQuery::Cursor {
        after,
        limit: limit as u32,
        filter,
    })
}

/// Keyset page.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct CursorPage {
    data: Vec<Item>,
    next_cursor: Option<String>,
    has_more: bool,
}

/// Offset page.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct OffsetPageBody {
    data: Vec<Item>,
    page: u64,
    per_page: u32,
    total: i64,
    total_pages: i64,
}

/// Reads one page of the item list through the cache; every page lives for a minute and goes
/// with the list tag that item writes invalidate.
async fn list_page<T, F, Fut>(
    state: &AppState,
    headers: &HeaderMap,
    key: &str,
    load: F,
) -> Result<Response, ApiError>
where
    T: Serialize + DeserializeOwned,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, ApiError>>,
{
    let tags = [LIST_TAG.to_owned()];
    let page = read_through(
        state,
        headers,
        Namespace::ItemList,
        key,
        Ttl::OneMinute,
        &tags,
        load,
    )
    .await?;
    Ok(page.into_response())
}

pub(crate) async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<RawListParams>, QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Query(raw) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let parsed = parse_list(&raw)?;
    let store = state.store().clone();
    let response = match parsed {
        ListQuery::Cursor {
            after,
            limit,
            filter,
        } => {
            let key = format!(
                "c:{}:{limit}:{}",
                after.map(encode_cursor).unwrap_or_default(),
                filter.cache_key()
            );
            list_page(&state, &headers, &key, || async move {
                // One row more than asked tells whether another page exists.
                let mut rows = store.items_after(after, limit + 1, &filter).await?;
                let has_more = rows.len() > limit as usize;
                rows.truncate(limit as usize);
                let next_cursor = if has_more {
                    rows.last().map(|last| {
                        encode_cursor(Cursor {
                            created_at_micros: last.created_at.timestamp_micros(),
                            id: last.id,
                        })
                    })
                } else {
                    None
                };
                Ok(CursorPage {
                    data: rows,
                    next_cursor,
                    has_more,
                })
            })
            .await?
        }
        ListQuery::Offset {
            page,
            per_page,
            filter,
        } => {
            let key = format!("o:{page}:{per_page}:{}", filter.cache_key());
            list_page(&state, &headers, &key, || async move {
                let found = store.items_page(page, per_page, &filter).await?;
                let total_pages = (found.total + i64::from(per_page) - 1) / i64::from(per_page);
                Ok(OffsetPageBody {
                    data: found.items,
                    page,
                    per_page,
                    total: found.total,
                    total_pages,
                })
            })
            .await?
        }
    };
    Ok(response)
}

fn item_id(path: Result<Path<i64>, PathRejection>) -> Result<i64, ApiError> {
    let Path(id) = path.map_err(|_| ApiError::BadRequest("item id must be an integer".into()))?;
    Ok(id)
}

pub(crate) async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<i64>, PathRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let id = item_id(path)?;
    let store = state.store().clone();
    read_through(
        &state,
        &headers,
        Namespace::Item,
        &id.to_string(),
        Ttl::FifteenMinutes,
        &[format!("item:{id}")],
        || async move { found(store.item(id).await?, "item", id) },
    )
    .await
}

/// Body of `POST /api/items` and `PUT /api/items/{id}`; `PATCH` accepts any subset.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ItemBody {
    title: Option<String>,
    category_id: Option<i32>,
    importance: Option<i32>,
    keywords: Option<Vec<String>>,
    status: Option<String>,
}

fn validate(body: ItemBody) -> Result<ItemPatch, ApiError> {
    let title = match body.title.map(|t| t.trim().to_owned()) {
        Some(t) if t.is_empty() || t.chars().count() > 200 => {
            return Err(ApiError::BadRequest(
                "`title` must be 1 to 200 characters".into(),
            ));
        }
        other => other,
    };
    if let Some(c) = body.category_id
        && !(1..=12).contains(&c)
    {
        return Err(ApiError::BadRequest(format!(
            "unknown `category_id` {c} (see /api/reference/categories)"
        )));
    }
    if let Some(i) = body.importance
        && !(0..=100).contains(&i)
    {
        return Err(ApiError::BadRequest(format!(
            "`importance` must be 0 to 100, got {i}"
        )));
    }
    let keywords = match body.keywords {
        Some(k) if k.len() > 20 || k.iter().any(|w| w.trim().is_empty() || w.len() > 50) => {
            return Err(ApiError::BadRequest(
                "`keywords`: at most 20, each 1 to 50 characters".into(),
            ));
        }
        Some(k) => Some(k.into_iter().map(|w| w.trim().to_lowercase()).collect()),
        None => None,
    };
    let status = parse_status(body.status.as_deref())?;
    Ok(ItemPatch {
        title,
        category_id: body.category_id,
        importance: body.importance,
        keywords,
        status,
    })
}

fn json_body(body: Result<Json<ItemBody>, JsonRejection>) -> Result<ItemBody, ApiError> {
    body.map(|Json(b)| b)
        .map_err(|e| ApiError::BadRequest(e.body_text()))
}

async fn invalidate_for(state: &AppState, item: &Item) {
    let tags = [
        format!("item:{}", item.id),
        LIST_TAG.to_owned(),
        format!("account:{}", item.account_id),
    ];
    state.cache().invalidate_tags(&tags).await;
}

pub(crate) async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<ItemBody>, JsonRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let account = caller.require()?;
    let patch = validate(json_body(body)?)?;
    let (Some(title), Some(category_id)) = (patch.title, patch.category_id) else {
        return Err(ApiError::BadRequest(
            "`title` and `category_id` are required".into(),
        ));
    };
    let new = NewItem {
        account_id: account.id,
        title,
        category_id,
        importance: patch.importance.unwrap_or(50),
        keywords: patch.keywords.unwrap_or_default(),
        status: patch.status.unwrap_or(ItemStatus::Pending),
    };
    let item = state.store().create_item(&new).await?;
    invalidate_for(&state, &item).await;
    Ok((StatusCode::CREATED, Json(item)))
}

/// Checks that a change fits its method: `PUT` replaces every field, `PATCH` changes at least
/// one.
fn check_method(method: &Method, patch: &ItemPatch) -> Result<(), ApiError> {
    if method == Method::PUT {
        if patch.title.is_none()
            || patch.category_id.is_none()
            || patch.importance.is_none()
            || patch.keywords.is_none()
            || patch.status.is_none()
        {
            return Err(ApiError::BadRequest("PUT needs every field: title, category_id, importance, keywords, status (use PATCH for a subset)".into()));
        }
    } else if *patch == ItemPatch::default() {
        return Err(ApiError::BadRequest("nothing to change".into()));
    }
    Ok(())
}

/// `PUT` and `PATCH` of one of the caller's items.
pub(crate) async fn update(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    method: Method,
    path: Result<Path<i64>, PathRejection>,
    body: Result<Json<ItemBody>, JsonRejection>,
) -> Result<Json<Item>, ApiError> {
    let id = item_id(path)?;
    let patch = validate(json_body(body)?)?;
    check_method(&method, &patch)?;
    let account = caller.require()?;
    let existing = found(state.store().item(id).await?, "item", id)?;
    if existing.account_id != account.id {
        return Err(ApiError::Forbidden(format!(
            "item {id} belongs to another account"
        )));
    }
    let item = found(state.store().update_item(id, &patch).await?, "item", id)?;
    invalidate_for(&state, &item).await;
    Ok(Json(item))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(pairs: &[(&str, &str)]) -> RawListParams {
        let mut r = RawListParams::default();
        for (k, v) in pairs {
            let v = Some((*v).to_owned());
            match *k {
                "cursor" => r.cursor = v,
                "limit" => r.limit = v,
                "page" => r.page = v,
                "per_page" => r.per_page = v,
                "status" => r.status = v,
                "category" => r.category = v,
                "keyword" => r.keyword = v,
                other => panic!("unknown test key {other}"),
            }
        }
        r
    }

    #[track_caller]
    fn check(pairs: &[(&str, &str)], expect: Result<ListQuery, &str>) {
        match (parse_list(&raw(pairs)), expect) {
            (Ok(got), Ok(want)) => assert_eq!(got, want),
            (Err(ApiError::BadRequest(msg)), Err(fragment)) => {
                assert!(msg.contains(fragment), "`{msg}` lacks `{fragment}`")
            }
            (got, want) => panic!("got {got:?}, want {want:?}"),
        }
    }

    fn cursor_q(limit: u32) -> Result<ListQuery, &'static str> {
        Ok(ListQuery::Cursor {
            after: None,
            limit,
            filter: ItemFilter::default(),
        })
    }

    fn offset_q(page: u64, per_page: u32) -> Result<ListQuery, &'static str> {
        Ok(ListQuery::Offset {
            page,
            per_page,
            filter: ItemFilter::default(),
        })
    }

    #[test]
    fn limits_are_clamped() {
        check(&[], cursor_q(50));
        check(&[("limit", "0")], cursor_q(1));
        check(&[("limit", "-3")], cursor_q(1));
        check(&[("limit", "1000")], cursor_q(100));
        check(&[("page", "0")], offset_q(1, 50));
        check(
            &[("page", "99999999999"), ("per_page", "500")],
            offset_q(MAX_PAGE as u64, 100),
        );
    }

    #[test]
    fn malformed_parameters_are_rejected() {
        check(&[("limit", "ten")], Err("`limit` must be an integer"));
        check(&[("page", "1.5")], Err("`page` must be an integer"));
        check(&[("per_page", "")], Err("`per_page` must be an integer"));
        check(&[("cursor", "%%%")], Err("malformed `cursor`"));
        check(&[("cursor", "bm90LWEtY3Vyc29y")], Err("malformed `cursor`"));
        check(&[("cursor", "abc"), ("page", "2")], Err("not both"));
        check(&[("status", "deleted")], Err("unknown status"));
        check(&[("category", "99999999999")], Err("out of range"));
        check(&[("keyword", " ")], Err("`keyword`"));
    }

    #[test]
    fn cursor_round_trips() {
        let c = Cursor {
            created_at_micros: 1_700_000_000_123_456,
            id: 42,
        };
        assert_eq!(decode_cursor(&encode_cursor(c)).ok(), Some(c));
        check(
            &[("cursor", &encode_cursor(c)), ("limit", "10")],
            Ok(ListQuery::Cursor {
                after: Some(c),
                limit: 10,
                filter: ItemFilter::default(),
            }),
        );
    }
}
