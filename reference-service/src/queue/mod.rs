//! Prioritised job queue: five priorities with their retry policies, delayed jobs, dead letters,
//! progress and stats, behind the [`JobQueue`] trait; [`WorkerPool`] runs the jobs.
//!
//! Invariant: a job is claimed by at most one worker at a time (`FOR UPDATE SKIP LOCKED` in the
//! PostgreSQL backend); a failed attempt is either rescheduled after
//! `base × 2^(attempt−1)` (scaled by the configurable time base) or, once the policy's attempts
//! are spent, kept as a dead letter. Completed jobs are removed after a retention period.

mod export;
mod memory;
mod postgres;
mod worker;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

pub use export::ExportHandler;
pub use memory::MemoryQueue;
pub use postgres::PgQueue;
pub use worker::{Handlers, JobContext, JobHandler, WorkerOptions, WorkerPool};

/// A queue failure.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The backing database cannot be reached.
    #[error("queue backend unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// A queue statement failed.
    #[error("queue operation failed: {context}")]
    Backend {
        /// What was being done.
        context: &'static str,
        /// The driver error.
        #[source]
        source: sqlx::Error,
    },
    /// A stored job did not decode.
    #[error("corrupt job row: {0}")]
    Corrupt(String),
}

/// Job priority; each priority is its own queue with its own retry policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// Claimed first; 3 attempts, 2 s base backoff.
    Critical,
    /// 5 attempts, 5 s base.
    High,
    /// 5 attempts, 10 s base.
    Normal,
    /// 10 attempts, 15 s base.
    Low,
    /// 15 attempts, 30 s base.
    VeryLow,
}

impl Priority {
    /// All priorities, most urgent first.
    pub const ALL: [Priority; 5] = [
        Priority::Critical,
        Priority::High,
        Priority::Normal,
        Priority::Low,
        Priority::VeryLow,
    ];

    /// Queue name (metric label, API field).
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Critical => "critical",
            Priority::High => "high",
            Priority::Normal => "normal",
            Priority::Low => "low",
            Priority::VeryLow => "very_low",
        }
    }

    /// Rank stored in the database (0 = most urgent).
    pub fn rank(self) -> i16 {
        match self {
            Priority::Critical => 0,
            Priority::High => 1,
            Priority::Normal => 2,
            Priority::Low => 3,
            Priority::VeryLow => 4,
        }
    }

    /// Inverse of [`Priority::rank`].
    pub fn from_rank(rank: i16) -> Option<Priority> {
        Priority::ALL.get(usize::try_from(rank).ok()?).copied()
    }

    /// The retry policy of this priority.
    pub fn policy(self) -> RetryPolicy {
        let (max_attempts, base_secs) = match self {
            Priority::Critical => (3, 2),
            Priority::High => (5, 5),
            Priority::Normal => (5, 10),
            Priority::Low => (10, 15),
            Priority::VeryLow => (15, 30),
        };
        RetryPolicy {
            max_attempts,
            base: Duration::from_secs(base_secs),
        }
    }
}

impl FromStr for Priority {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Priority::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| {
                format!("unknown priority `{s}` (expected critical, high, normal, low or very_low)")
            })
    }
}

/// How often and how patiently a job is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included.
    pub max_attempts: u32,
    /// Backoff after the first failed attempt.
    pub base: Duration,
}

impl RetryPolicy {
    /// Nominal delay after failed attempt `attempt` (1-based): `base × 2^(attempt−1)`;
    /// `None` when no attempt is left.
    pub fn backoff(&self, attempt: u32) -> Option<Duration> {
        if attempt == 0 || attempt >= self.max_attempts {
            return None;
        }
        let factor = 2u32.checked_pow(attempt - 1)?;
        self.base.checked_mul(factor)
    }
}

/// A job to enqueue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    /// Handler name.
    pub kind: String,
    /// Handler input.
    pub payload: Value,
    /// Queue.
    pub priority: Priority,
    /// Delay before the first attempt (delayed job).
    pub delay: Duration,
}

/// A job claimed by a worker for one attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedJob {
    /// Job id.
    pub id: Uuid,
    /// Handler name.
    pub kind: String,
    /// Handler input.
    pub payload: Value,
    /// Queue.
    pub priority: Priority,
    /// This attempt's number (1-based).
    pub attempt: u32,
    /// Attempts allowed in total.
    pub max_attempts: u32,
}

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// Due, waiting for a worker.
    Waiting,
    /// Waiting for its run time (delayed or backing off).
    Delayed,
    /// Being run.
    Active,
    /// Finished successfully (kept only for the retention period).
    Completed,
    /// Out of attempts: a dead letter, kept.
    Failed,
}

/// A job as reported by `GET /api/jobs/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobInfo {
    /// Job id.
    pub id: Uuid,
    /// Handler name.
    pub kind: String,
    /// Queue.
    pub priority: Priority,
    /// Status.
    pub status: JobStatus,
    /// Attempts started so far.
    pub attempts: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// Progress of the current or last attempt, 0..=100.
    pub progress: u8,
    /// Error of the last failed attempt.
    pub last_error: Option<String>,
    /// Handler output, once completed.
    pub result: Option<Value>,
    /// One entry per failed attempt: `{attempt, error, backoff_ms, at}` (`backoff_ms` nominal,
    /// `null` for the final one).
    pub history: Value,
    /// Next (or last) run time.
    pub run_at: DateTime<Utc>,
    /// Enqueue time.
    pub created_at: DateTime<Utc>,
    /// Completion or burial time.
    pub finished_at: Option<DateTime<Utc>>,
}

/// Counts of one queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueStats {
    /// Queue (priority).
    pub queue: Priority,
    /// Due jobs not yet claimed.
    pub waiting: i64,
    /// Jobs being run.
    pub active: i64,
    /// Jobs completed since the database was created.
    pub completed: i64,
    /// Dead letters.
    pub failed: i64,
    /// Jobs waiting for a later run time.
    pub delayed: i64,
}

/// Storage and scheduling of jobs.
#[async_trait]
pub trait JobQueue: Send + Sync {
    /// Adds a job; returns its id.
    async fn enqueue(&self, job: &NewJob) -> Result<Uuid, QueueError>;
    /// Claims the most urgent due job, if any, for `worker`.
    async fn claim(&self, worker: &str) -> Result<Option<ClaimedJob>, QueueError>;
    /// Marks a job done; with a zero `retention` it is deleted at once.
    async fn complete(
        &self,
        id: Uuid,
        result: &Value,
        retention: Duration,
    ) -> Result<(), QueueError>;
    /// Records a failed attempt and reschedules the job after `delay`; `nominal_backoff` (the
    /// unscaled policy value) goes into the job history.
    async fn retry(
        &self,
        id: Uuid,
        error: &str,
        delay: Duration,
        nominal_backoff: Duration,
    ) -> Result<(), QueueError>;
    /// Records the final failed attempt and keeps the job as a dead letter.
    async fn bury(&self, id: Uuid, error: &str) -> Result<(), QueueError>;
    /// Puts an interrupted job back, not counting the attempt (graceful shutdown).
    async fn requeue(&self, id: Uuid) -> Result<(), QueueError>;
    /// Records progress (0..=100); also refreshes the job's lock.
    async fn set_progress(&self, id: Uuid, progress: u8) -> Result<(), QueueError>;
    /// One job.
    async fn job(&self, id: Uuid) -> Result<Option<JobInfo>, QueueError>;
    /// Counts per queue, most urgent first.
    async fn stats(&self) -> Result<Vec<QueueStats>, QueueError>;
    /// Requeues active jobs whose lock is older than `older_than` (a crashed worker's).
    async fn recover_stale(&self, older_than: Duration) -> Result<u64, QueueError>;
    /// Deletes completed jobs finished more than `older_than` ago.
    async fn purge_completed(&self, older_than: Duration) -> Result<u64, QueueError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(priority: Priority, attempts: u32, base_secs: u64) {
        let policy = priority.policy();
        assert_eq!(policy.max_attempts, attempts, "{priority:?} attempts");
        let schedule: Vec<u64> = (1..attempts)
            .map(|a| policy.backoff(a).map(|d| d.as_secs()).unwrap_or(0))
            .collect();
        let expected: Vec<u64> = (0..attempts - 1).map(|i| base_secs << i).collect();
        assert_eq!(schedule, expected, "{priority:?} schedule");
        assert_eq!(
            policy.backoff(attempts),
            None,
            "{priority:?}: no retry after the last attempt"
        );
    }

    #[test]
    fn retry_policies_match_the_spec() {
        check(Priority::Critical, 3, 2);
        check(Priority::High, 5, 5);
        check(Priority::Normal, 5, 10);
        check(Priority::Low, 10, 15);
        check(Priority::VeryLow, 15, 30);
    }

    #[test]
    fn priority_names_round_trip() {
        for p in Priority::ALL {
            assert_eq!(p.as_str().parse::<Priority>(), Ok(p));
            assert_eq!(Priority::from_rank(p.rank()), Some(p));
        }
        assert!("urgent".parse::<Priority>().is_err());
        assert_eq!(Priority::from_rank(5), None);
    }
}
