//! In-process backend of the job queue (the embedded variant): the same states, priorities,
//! delays, history and counters as the PostgreSQL table, held in memory.
//!
//! Invariant: every operation runs under one short lock and never awaits while holding it, so a
//! job is claimed by at most one worker and a claim always takes the most urgent due job (lowest
//! rank, then earliest run time, then enqueue order). Jobs do not survive the process, which is
//! what an embedded, throwaway stack wants.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{ClaimedJob, JobInfo, JobQueue, JobStatus, NewJob, Priority, QueueError, QueueStats};

/// Where a stored job stands; `delayed` is derived from `run_at`, as in the PostgreSQL table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Waiting,
    Active,
    Completed,
    Failed,
}

#[derive(Debug, Clone)]
struct Record {
    kind: String,
    payload: Value,
    priority: Priority,
    state: State,
    attempts: u32,
    max_attempts: u32,
    run_at: DateTime<Utc>,
    /// Enqueue order, the last tie-breaker of claims.
    seq: u64,
    locked_by: Option<String>,
    locked_at: Option<DateTime<Utc>>,
    progress: u8,
    last_error: Option<String>,
    history: Vec<Value>,
    result: Option<Value>,
    created_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
}

/// Claim order of a waiting job: rank, due time (µs), enqueue order.
type WaitKey = (i16, i64, u64, Uuid);

#[derive(Debug, Default)]
struct Jobs {
    records: HashMap<Uuid, Record>,
    /// Exactly the jobs in state `Waiting`, in claim order.
    waiting: BTreeSet<WaitKey>,
    /// Completed jobs per priority rank, counted before they are purged.
    completed: [i64; 5],
    seq: u64,
}

impl Jobs {
    fn wait_key(id: Uuid, record: &Record) -> WaitKey {
        (
            record.priority.rank(),
            record.run_at.timestamp_micros(),
            record.seq,
            id,
        )
    }

    /// Moves an active job back to waiting, due at `run_at`.
    fn make_waiting(&mut self, id: Uuid, run_at: DateTime<Utc>) {
        if let Some(record) = self.records.get_mut(&id) {
            record.state = State::Waiting;
            record.run_at = run_at;
            record.locked_by = None;
            record.locked_at = None;
            let key = Self::wait_key(id, record);
            self.waiting.insert(key);
        }
    }

    /// The record of an active job, or `None` (the job is gone or no longer active).
    fn active(&mut self, id: Uuid) -> Option<&mut Record> {
        self.records
            .get_mut(&id)
            .filter(|record| record.state == State::Active)
    }
}

fn delay_of(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// [`JobQueue`] in memory.
#[derive(Debug, Default)]
pub struct MemoryQueue {
    jobs: Mutex<Jobs>,
}

impl MemoryQueue {
    /// An empty queue.
    pub fn new() -> MemoryQueue {
        MemoryQueue::default()
    }

    fn lock(&self) -> MutexGuard<'_, Jobs> {
        // A panic while holding the lock leaves consistent data (every update is a few field
        // assignments), so a poisoned lock is still usable.
        self.jobs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl JobQueue for MemoryQueue {
    async fn enqueue(&self, job: &NewJob) -> Result<Uuid, QueueError> {
        let id = Uuid::new_v4();
        let now = Utc::now();
        let mut jobs = self.lock();
        jobs.seq += 1;
        let record = Record {
            kind: job.kind.clone(),
            payload: job.payload.clone(),
            priority: job.priority,
            state: State::Waiting,
            attempts: 0,
            max_attempts: job.priority.policy().max_attempts,
            run_at: now + delay_of(job.delay),
            seq: jobs.seq,
            locked_by: None,
            locked_at: None,
            progress: 0,
            last_error: None,
            history: Vec::new(),
            result: None,
            created_at: now,
            finished_at: None,
        };
        let key = Jobs::wait_key(id, &record);
        jobs.waiting.insert(key);
        jobs.records.insert(id, record);
        Ok(id)
    }

    async fn claim(&self, worker: &str) -> Result<Option<ClaimedJob>, QueueError> {
        let now = Utc::now();
        let now_micros = now.timestamp_micros();
        let mut jobs = self.lock();
        // Within one rank the set is ordered by due time, so the first entry of each rank is
        // the only candidate of that rank.
        let due = Priority::ALL.iter().find_map(|p| {
            let rank = p.rank();
            jobs.waiting
                .range((rank, i64::MIN, 0, Uuid::nil())..)
                .next()
                .filter(|key| key.0 == rank && key.1 <= now_micros)
                .copied()
        });
        let Some(key) = due else {
            return Ok(None);
        };
        jobs.waiting.remove(&key);
        let id = key.3;
        let Some(record) = jobs.records.get_mut(&id) else {
            return Err(QueueError::Corrupt(format!(
                "waiting job {id} has no record"
            )));
        };
        record.state = State::Active;
        record.attempts += 1;
        record.locked_by = Some(worker.to_owned());
        record.locked_at = Some(now);
        record.progress = 0;
        Ok(Some(ClaimedJob {
            id,
            kind: record.kind.clone(),
            payload: record.payload.clone(),
            priority: record.priority,
            attempt: record.attempts,
            max_attempts: record.max_attempts,
        }))
    }

    async fn complete(
        &self,
        id: Uuid,
        result: &Value,
        retention: Duration,
    ) -> Result<(), QueueError> {
        let now = Utc::now();
        let mut jobs = self.lock();
        let Some(record) = jobs.active(id) else {
            return Ok(());
        };
        let rank = record.priority.rank();
        if retention.is_zero() {
            jobs.records.remove(&id);
        } else {
            record.state = State::Completed;
            record.progress = 100;
            record.result = Some(result.clone());
            record.finished_at = Some(now);
            record.locked_by = None;
            record.locked_at = None;
        }
        if let Some(counter) = usize::try_from(rank)
            .ok()
            .and_then(|r| jobs.completed.get_mut(r))
        {
            *counter += 1;
        }
        Ok(())
    }

    async fn retry(
        &self,
        id: Uuid,
        error: &str,
        delay: Duration,
        nominal_backoff: Duration,
    ) -> Result<(), QueueError> {
        let now = Utc::now();
        let mut jobs = self.lock();
        let Some(record) = jobs.active(id) else {
            return Ok(());
        };
        record.last_error = Some(error.to_owned());
        let entry = json!({
            "attempt": record.attempts,
            "error": error,
            "backoff_ms": millis(nominal_backoff),
            "at": now,
        });
        record.history.push(entry);
        jobs.make_waiting(id, now + delay_of(delay));
        Ok(())
    }

    async fn bury(&self, id: Uuid, error: &str) -> Result<(), QueueError> {
        let now = Utc::now();
        let mut jobs = self.lock();
        let Some(record) = jobs.active(id) else {
            return Ok(());
        };
        record.state = State::Failed;
        record.finished_at = Some(now);
        record.locked_by = None;
        record.locked_at = None;
        record.last_error = Some(error.to_owned());
        let entry = json!({
            "attempt": record.attempts,
            "error": error,
            "backoff_ms": Value::Null,
            "at": now,
        });
        record.history.push(entry);
        Ok(())
    }

    async fn requeue(&self, id: Uuid) -> Result<(), QueueError> {
        let now = Utc::now();
        let mut jobs = self.lock();
        let Some(record) = jobs.active(id) else {
            return Ok(());
        };
        record.attempts = record.attempts.saturating_sub(1);
        jobs.make_waiting(id, now);
        Ok(())
    }

    async fn set_progress(&self, id: Uuid, progress: u8) -> Result<(), QueueError> {
        let now = Utc::now();
        let mut jobs = self.lock();
        if let Some(record) = jobs.active(id) {
            record.progress = progress.min(100);
            record.locked_at = Some(now);
        }
        Ok(())
    }

    async fn job(&self, id: Uuid) -> Result<Option<JobInfo>, QueueError> {
        let now = Utc::now();
        let jobs = self.lock();
        Ok(jobs.records.get(&id).map(|r| JobInfo {
            id,
            kind: r.kind.clone(),
            priority: r.priority,
            status: match r.state {
                State::Waiting if r.run_at > now => JobStatus::Delayed,
                State::Waiting => JobStatus::Waiting,
                State::Active => JobStatus::Active,
                State::Completed => JobStatus::Completed,
                State::Failed => JobStatus::Failed,
            },
            attempts: r.attempts,
            max_attempts: r.max_attempts,
            progress: r.progress,
            last_error: r.last_error.clone(),
            result: r.result.clone(),
            history: Value::Array(r.history.clone()),
            run_at: r.run_at,
            created_at: r.created_at,
            finished_at: r.finished_at,
        }))
    }

    async fn stats(&self) -> Result<Vec<QueueStats>, QueueError> {
        let now = Utc::now();
        let jobs = self.lock();
        let mut stats: Vec<QueueStats> = Priority::ALL
            .iter()
            .zip(jobs.completed)
            .map(|(&queue, completed)| QueueStats {
                queue,
                waiting: 0,
                active: 0,
                completed,
                failed: 0,
                delayed: 0,
            })
            .collect();
        for record in jobs.records.values() {
            let Some(row) = usize::try_from(record.priority.rank())
                .ok()
                .and_then(|r| stats.get_mut(r))
            else {
                continue;
            };
            match record.state {
                State::Waiting if record.run_at > now => row.delayed += 1,
                State::Waiting => row.waiting += 1,
                State::Active => row.active += 1,
                State::Failed => row.failed += 1,
                State::Completed => {}
            }
        }
        Ok(stats)
    }

    async fn recover_stale(&self, older_than: Duration) -> Result<u64, QueueError> {
        let now = Utc::now();
        let cutoff = now - delay_of(older_than);
        let mut jobs = self.lock();
        let stale: Vec<Uuid> = jobs
            .records
            .iter()
            .filter(|(_, r)| r.state == State::Active && r.locked_at.is_some_and(|t| t < cutoff))
            .map(|(id, _)| *id)
            .collect();
        for id in &stale {
            if let Some(record) = jobs.records.get_mut(id) {
                record.attempts = record.attempts.saturating_sub(1);
            }
            jobs.make_waiting(*id, now);
        }
        Ok(stale.len() as u64)
    }

    async fn purge_completed(&self, older_than: Duration) -> Result<u64, QueueError> {
        let cutoff = Utc::now() - delay_of(older_than);
        let mut jobs = self.lock();
        let before = jobs.records.len();
        jobs.records.retain(|_, r| {
            !(r.state == State::Completed && r.finished_at.is_some_and(|t| t < cutoff))
        });
        Ok((before - jobs.records.len()) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(priority: Priority, delay_ms: u64) -> NewJob {
        NewJob {
            kind: "x".into(),
            payload: json!({"n": 1}),
            priority,
            delay: Duration::from_millis(delay_ms),
        }
    }

    /// Enqueues a job of `priority` due in `delay_ms`, which must succeed; returns its id.
    async fn enqueue(queue: &MemoryQueue, priority: Priority, delay_ms: u64) -> Uuid {
        queue
            .enqueue(&job(priority, delay_ms))
            .await
            .expect("enqueue")
    }

    #[tokio::test]
    async fn claims_follow_rank_then_due_time_then_enqueue_order() {
        let queue = MemoryQueue::new();
        let low = enqueue(&queue, Priority::Low, 0).await;
        let high_a = enqueue(&queue, Priority::High, 0).await;
        let high_b = enqueue(&queue, Priority::High, 0).await;
        let later = enqueue(&queue, Priority::Critical, 60_000).await;
        let mut order = Vec::new();
        while let Some(claimed) = queue.claim("w").await.expect("claim") {
            assert_eq!(claimed.attempt, 1);
            order.push(claimed.id);
        }
        assert_eq!(order, [high_a, high_b, low]);
        let info = queue.job(later).await.expect("job").expect("exists");
        assert_eq!(info.status, JobStatus::Delayed);
    }

    #[tokio::test]
    async fn retry_history_bury_and_requeue_keep_the_table_semantics() {
        let queue = MemoryQueue::new();
        let id = enqueue(&queue, Priority::Critical, 0).await;
        queue.claim("w").await.expect("claim");
        queue
            .retry(id, "boom", Duration::ZERO, Duration::from_secs(2))
            .await
            .expect("retry");
        // Not active any more: a second outcome for the same attempt is ignored.
        queue.bury(id, "late").await.expect("bury");
        let info = queue.job(id).await.expect("job").expect("exists");
        assert_eq!((info.status, info.attempts), (JobStatus::Waiting, 1));
        assert_eq!(info.history[0]["backoff_ms"], 2_000);
        assert_eq!(info.last_error.as_deref(), Some("boom"));

        queue.claim("w").await.expect("claim");
        queue.requeue(id).await.expect("requeue");
        let info = queue.job(id).await.expect("job").expect("exists");
        assert_eq!(
            (info.status, info.attempts),
            (JobStatus::Waiting, 1),
            "interrupted attempt not counted"
        );

        queue.claim("w").await.expect("claim");
        queue.bury(id, "dead").await.expect("bury");
        let info = queue.job(id).await.expect("job").expect("exists");
        assert_eq!((info.status, info.attempts), (JobStatus::Failed, 2));
        assert_eq!(info.history[1]["backoff_ms"], Value::Null);
        let stats = queue.stats().await.expect("stats");
        assert_eq!((stats[0].failed, stats[0].waiting), (1, 0));
        assert_eq!(queue.claim("w").await.expect("claim"), None);
    }

    #[tokio::test]
    async fn stale_locks_are_recovered_and_completed_jobs_purged() {
        let queue = MemoryQueue::new();
        let a = enqueue(&queue, Priority::Normal, 0).await;
        let b = enqueue(&queue, Priority::Normal, 0).await;
        queue.claim("w").await.expect("claim");
        queue.claim("w").await.expect("claim");
        queue
            .complete(b, &json!({"ok": true}), Duration::from_secs(60))
            .await
            .expect("complete");
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(
            queue.recover_stale(Duration::ZERO).await.expect("recover"),
            1
        );
        let info = queue.job(a).await.expect("job").expect("exists");
        assert_eq!((info.status, info.attempts), (JobStatus::Waiting, 0));
        assert_eq!(
            queue.purge_completed(Duration::ZERO).await.expect("purge"),
            1
        );
        assert_eq!(queue.job(b).await.expect("job"), None);
        let stats = queue.stats().await.expect("stats");
        assert_eq!((stats[2].completed, stats[2].waiting), (1, 1));
    }
}
