//! PostgreSQL backend of the job queue.
//!
//! Invariant: claiming is one `UPDATE … WHERE id = (SELECT … FOR UPDATE SKIP LOCKED)`, so
//! concurrent workers never receive the same job and never block on each other's locks.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{FromRow, PgPool};
use uuid::Uuid;

use super::{ClaimedJob, JobInfo, JobQueue, JobStatus, NewJob, Priority, QueueError, QueueStats};
use crate::store::is_unreachable;

/// [`JobQueue`] on PostgreSQL (shares the service's pool).
#[derive(Debug, Clone)]
pub struct PgQueue {
    pool: PgPool,
}

impl PgQueue {
    /// A queue on `pool`; the tables come from the service migrations.
    pub fn new(pool: PgPool) -> PgQueue {
        PgQueue { pool }
    }
}

fn classify(context: &'static str, source: sqlx::Error) -> QueueError {
    if is_unreachable(&source) {
        QueueError::Unavailable(source)
    } else {
        QueueError::Backend { context, source }
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn priority(rank: i16) -> Result<Priority, QueueError> {
    Priority::from_rank(rank).ok_or_else(|| QueueError::Corrupt(format!("priority rank {rank}")))
}

fn count(n: i32) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

#[derive(FromRow)]
struct JobRow {
    id: Uuid,
    kind: String,
    priority: i16,
    status: String,
    attempts: i32,
    max_attempts: i32,
    progress: i16,
    last_error: Option<String>,
    result: Option<Value>,
    history: Value,
    run_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
    /// `run_at` is still in the future.
    future: bool,
}

impl TryFrom<JobRow> for JobInfo {
    type Error = QueueError;

    fn try_from(row: JobRow) -> Result<Self, Self::Error> {
        let status = match row.status.as_str() {
            "waiting" if row.future => JobStatus::Delayed,
            "waiting" => JobStatus::Waiting,
            "active" => JobStatus::Active,
            "completed" => JobStatus::Completed,
            "failed" => JobStatus::Failed,
            other => return Err(QueueError::Corrupt(format!("status `{other}`"))),
        };
        Ok(JobInfo {
            id: row.id,
            kind: row.kind,
            priority: priority(row.priority)?,
            status,
            attempts: count(row.attempts),
            max_attempts: count(row.max_attempts),
            progress: u8::try_from(row.progress.clamp(0, 100)).unwrap_or(0),
            last_error: row.last_error,
            result: row.result,
            history: row.history,
            run_at: row.run_at,
            created_at: row.created_at,
            finished_at: row.finished_at,
        })
    }
}

#[async_trait]
impl JobQueue for PgQueue {
    async fn enqueue(&self, job: &NewJob) -> Result<Uuid, QueueError> {
        let id = Uuid::new_v4();
        sqlx::query(
            "INSERT INTO jobs (id, kind, payload, priority, status, max_attempts, run_at) \
             VALUES ($1, $2, $3, $4, 'waiting', $5, now() + make_interval(secs => $6))",
        )
        .bind(id)
        .bind(&job.kind)
        .bind(&job.payload)
        .bind(job.priority.rank())
        .bind(i32::try_from(job.priority.policy().max_attempts).unwrap_or(i32::MAX))
        .bind(secs(job.delay))
        .execute(&self.pool)
        .await
        .map_err(|e| classify("enqueue", e))?;
        Ok(id)
    }

    async fn claim(&self, worker: &str) -> Result<Option<ClaimedJob>, QueueError> {
        let row: Option<(Uuid, String, Value, i16, i32, i32)> = sqlx::query_as(
            "UPDATE jobs SET status = 'active', attempts = attempts + 1, locked_by = $1, locked_at = now(), progress = 0 \
             WHERE id = (SELECT id FROM jobs WHERE status = 'waiting' AND run_at <= now() \
                         ORDER BY priority, run_at LIMIT 1 FOR UPDATE SKIP LOCKED) \
             RETURNING id, kind, payload, priority, attempts, max_attempts",
        )
        .bind(worker)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| classify("claim", e))?;
        row.map(|(id, kind, payload, rank, attempts, max_attempts)| {
            Ok(ClaimedJob {
                id,
                kind,
                payload,
                priority: priority(rank)?,
                attempt: count(attempts),
                max_attempts: count(max_attempts),
            })
        })
        .transpose()
    }

    async fn complete(
        &self,
        id: Uuid,
        result: &Value,
        retention: Duration,
    ) -> Result<(), QueueError> {
        let sql = if retention.is_zero() {
            "WITH done AS (DELETE FROM jobs WHERE id = $1 AND status = 'active' RETURNING priority) \
             UPDATE job_counters SET completed = completed + 1 WHERE priority IN (SELECT priority FROM done)"
        } else {
            "WITH done AS (UPDATE jobs SET status = 'completed', progress = 100, result = $2, finished_at = now(), \
                               locked_by = NULL, locked_at = NULL \
                           WHERE id = $1 AND status = 'active' RETURNING priority) \
             UPDATE job_counters SET completed = completed + 1 WHERE priority IN (SELECT priority FROM done)"
        };
        let mut query = sqlx::query(sql).bind(id);
        if !retention.is_zero() {
            query = query.bind(result);
        }
        query
            .execute(&self.pool)
            .await
            .map_err(|e| classify("complete", e))?;
        Ok(())
    }

    async fn retry(
        &self,
        id: Uuid,
        error: &str,
        delay: Duration,
        nominal_backoff: Duration,
    ) -> Result<(), QueueError> {
        sqlx::query(
            "UPDATE jobs SET status = 'waiting', run_at = now() + make_interval(secs => $3), locked_by = NULL, locked_at = NULL, \
                 last_error = $2, \
                 history = history || jsonb_build_array(jsonb_build_object('attempt', attempts, 'error', $2::text, \
                     'backoff_ms', $4::bigint, 'at', now())) \
             WHERE id = $1 AND status = 'active'",
        )
        .bind(id)
        .bind(error)
        .bind(secs(delay))
        .bind(i64::try_from(nominal_backoff.as_millis()).unwrap_or(i64::MAX))
        .execute(&self.pool)
        .await
        .map_err(|e| classify("retry", e))?;
        Ok(())
    }

    async fn bury(&self, id: Uuid, error: &str) -> Result<(), QueueError> {
        sqlx::query(
            "UPDATE jobs SET status = 'failed', finished_at = now(), locked_by = NULL, locked_at = NULL, last_error = $2, \
                 history = history || jsonb_build_array(jsonb_build_object('attempt', attempts, 'error', $2::text, \
                     'backoff_ms', NULL, 'at', now())) \
             WHERE id = $1 AND status = 'active'",
        )
        .bind(id)
        .bind(error)
        .execute(&self.pool)
        .await
        .map_err(|e| classify("bury", e))?;
        Ok(())
    }

    async fn requeue(&self, id: Uuid) -> Result<(), QueueError> {
        sqlx::query(
            "UPDATE jobs SET status = 'waiting', attempts = GREATEST(attempts - 1, 0), run_at = now(), \
                 locked_by = NULL, locked_at = NULL WHERE id = $1 AND status = 'active'",
        )
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(|e| classify("requeue", e))?;
        Ok(())
    }

    async fn set_progress(&self, id: Uuid, progress: u8) -> Result<(), QueueError> {
        sqlx::query(
            "UPDATE jobs SET progress = $2, locked_at = now() WHERE id = $1 AND status = 'active'",
        )
        .bind(id)
        .bind(i16::from(progress.min(100)))
        .execute(&self.pool)
        .await
        .map_err(|e| classify("progress", e))?;
        Ok(())
    }

    async fn job(&self, id: Uuid) -> Result<Option<JobInfo>, QueueError> {
        let row: Option<JobRow> = sqlx::query_as(
            "SELECT id, kind, priority, status, attempts, max_attempts, progress, last_error, result, history, \
                    run_at, created_at, finished_at, run_at > now() AS future FROM jobs WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| classify("job", e))?;
        row.map(JobInfo::try_from).transpose()
    }

    async fn stats(&self) -> Result<Vec<QueueStats>, QueueError> {
        let rows: Vec<(i16, i64, i64, i64, i64, i64)> = sqlx::query_as(
            "SELECT c.priority, \
                    count(j.id) FILTER (WHERE j.status = 'waiting' AND j.run_at <= now()), \
                    count(j.id) FILTER (WHERE j.status = 'waiting' AND j.run_at > now()), \
                    count(j.id) FILTER (WHERE j.status = 'active'), \
                    count(j.id) FILTER (WHERE j.status = 'failed'), \
                    c.completed \
             FROM job_counters c LEFT JOIN jobs j ON j.priority = c.priority \
             GROUP BY c.priority, c.completed ORDER BY c.priority",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| classify("stats", e))?;
        rows.into_iter()
            .map(|(rank, waiting, delayed, active, failed, completed)| {
                Ok(QueueStats {
                    queue: priority(rank)?,
                    waiting,
                    active,
                    completed,
                    failed,
                    delayed,
                })
            })
            .collect()
    }

    async fn recover_stale(&self, older_than: Duration) -> Result<u64, QueueError> {
        let done = sqlx::query(
            "UPDATE jobs SET status = 'waiting', attempts = GREATEST(attempts - 1, 0), run_at = now(), locked_by = NULL, locked_at = NULL \
             WHERE status = 'active' AND locked_at < now() - make_interval(secs => $1)",
        )
        .bind(secs(older_than))
        .execute(&self.pool)
        .await
        .map_err(|e| classify("recover stale", e))?;
        Ok(done.rows_affected())
    }

    async fn purge_completed(&self, older_than: Duration) -> Result<u64, QueueError> {
        let done = sqlx::query("DELETE FROM jobs WHERE status = 'completed' AND finished_at < now() - make_interval(secs => $1)")
            .bind(secs(older_than))
            .execute(&self.pool)
            .await
            .map_err(|e| classify("purge completed", e))?;
        Ok(done.rows_affected())
    }
}
