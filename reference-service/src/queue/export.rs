//! The `export` job: walks one account's items in keyset pages and reports progress.
//!
//! Invariant: the export reads through the [`Store`] seam only, so it runs on any backend; its
//! result is a summary (rows, bytes, checksum), not a file, which keeps the demo self-contained.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{ClaimedJob, JobContext, JobHandler};
use crate::model::Cursor;
use crate::store::Store;

const PAGE: u32 = 500;

/// Exports the items of `payload.account_id` as JSON lines (counted and hashed).
pub struct ExportHandler {
    store: Arc<dyn Store>,
}

impl ExportHandler {
    /// An export handler reading from `store`.
    pub fn new(store: Arc<dyn Store>) -> ExportHandler {
        ExportHandler { store }
    }
}

#[async_trait]
impl JobHandler for ExportHandler {
    async fn run(&self, job: &ClaimedJob, ctx: &JobContext) -> Result<Value, String> {
        let account_id = job
            .payload
            .get("account_id")
            .and_then(Value::as_i64)
            .ok_or("payload has no integer `account_id`")?;
        let total = self
            .store
            .count_account_items(account_id)
            .await
            .map_err(|e| e.to_string())?;
        let mut hasher = Sha256::new();
        let (mut rows, mut bytes) = (0_i64, 0_usize);
        let mut cursor = None;
        loop {
            let page = self
                .store
                .account_items_after(account_id, cursor, PAGE)
                .await
                .map_err(|e| e.to_string())?;
            let Some(last) = page.last() else { break };
            cursor = Some(Cursor {
                created_at_micros: last.created_at.timestamp_micros(),
                id: last.id,
            });
            for item in &page {
                let line = serde_json::to_vec(item).map_err(|e| e.to_string())?;
                hasher.update(&line);
                bytes += line.len() + 1;
            }
            rows += page.len() as i64;
            let percent = if total == 0 {
                100
            } else {
                (rows * 100 / total).min(99)
            };
            ctx.progress(u8::try_from(percent).unwrap_or(99))
                .await
                .map_err(|e| e.to_string())?;
            if page.len() < PAGE as usize {
                break;
            }
        }
        let checksum: String = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(
            json!({ "account_id": account_id, "format": "jsonl", "rows": rows, "bytes": bytes, "sha256": checksum }),
        )
    }
}
