//! Worker pool: claims jobs, runs their handler, applies the retry policy, shuts down gracefully.
//!
//! Invariant: on shutdown no new job is claimed; an in-flight job either finishes within the
//! grace period or is requeued without losing an attempt.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::Value;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::{ClaimedJob, JobQueue, QueueError};
use crate::metrics as m;

/// Runs one kind of job.
#[async_trait]
pub trait JobHandler: Send + Sync {
    /// Runs one attempt; `Err` carries the message recorded in the job's history.
    async fn run(&self, job: &ClaimedJob, ctx: &JobContext) -> Result<Value, String>;
}

/// What a handler may do besides computing its result.
pub struct JobContext {
    queue: Arc<dyn JobQueue>,
    id: Uuid,
}

impl JobContext {
    /// Records progress (0..=100) of the running attempt.
    pub async fn progress(&self, percent: u8) -> Result<(), QueueError> {
        self.queue.set_progress(self.id, percent).await
    }
}

/// Handlers by job kind.
#[derive(Clone, Default)]
pub struct Handlers(HashMap<String, Arc<dyn JobHandler>>);

impl Handlers {
    /// No handlers.
    pub fn new() -> Handlers {
        Handlers::default()
    }

    /// Adds (or replaces) the handler of `kind`.
    pub fn with(mut self, kind: &str, handler: Arc<dyn JobHandler>) -> Handlers {
        self.0.insert(kind.to_owned(), handler);
        self
    }
}

/// Worker pool settings.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerOptions {
    /// Concurrent workers.
    pub workers: usize,
    /// Idle polling interval (enqueues in this process wake workers at once).
    pub poll: Duration,
    /// Multiplier on every backoff (1.0 = real time).
    pub time_scale: f64,
    /// How long completed jobs are kept.
    pub completed_retention: Duration,
    /// How long in-flight jobs may run on after shutdown starts.
    pub shutdown_grace: Duration,
    /// Active jobs whose lock is older than this are assumed orphaned and requeued.
    pub stale_after: Duration,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            workers: 4,
            poll: Duration::from_millis(200),
            time_scale: 1.0,
            completed_retention: Duration::from_secs(300),
            shutdown_grace: Duration::from_secs(10),
            stale_after: Duration::from_secs(300),
        }
    }
}

/// Running workers plus a housekeeping task.
pub struct WorkerPool {
    stop: watch::Sender<bool>,
    wake: Arc<Notify>,
    alive: Arc<AtomicUsize>,
    beat: Arc<AtomicU64>,
    origin: Instant,
    workers: usize,
    poll: Duration,
    handles: Mutex<Vec<JoinHandle<()>>>,
}

struct Alive(Arc<AtomicUsize>);

impl Drop for Alive {
    fn drop(&mut self) {
        let left = self.0.fetch_sub(1, Ordering::SeqCst).saturating_sub(1);
        metrics::gauge!(m::QUEUE_WORKERS).set(left as f64);
    }
}

impl WorkerPool {
    /// Starts `options.workers` workers on `queue`. Must run inside a Tokio runtime.
    pub fn start(
        queue: Arc<dyn JobQueue>,
        handlers: Handlers,
        options: WorkerOptions,
    ) -> Arc<WorkerPool> {
        let (stop, _) = watch::channel(false);
        let pool = Arc::new(WorkerPool {
            stop,
            wake: Arc::new(Notify::new()),
            alive: Arc::new(AtomicUsize::new(0)),
            beat: Arc::new(AtomicU64::new(0)),
            origin: Instant::now(),
            workers: options.workers,
            poll: options.poll,
            handles: Mutex::new(Vec::new()),
        });
        let mut handles = Vec::new();
        for n in 0..options.workers {
            pool.alive.fetch_add(1, Ordering::SeqCst);
            let worker = Worker {
                name: format!("worker-{}-{n}", std::process::id()),
                queue: queue.clone(),
                handlers: handlers.clone(),
                options: options.clone(),
                stop: pool.stop.subscribe(),
                wake: pool.wake.clone(),
                beat: pool.beat.clone(),
                origin: pool.origin,
                alive: Alive(pool.alive.clone()),
            };
            handles.push(tokio::spawn(worker.run()));
        }
        metrics::gauge!(m::QUEUE_WORKERS).set(options.workers as f64);
        handles.push(tokio::spawn(housekeeping(
            queue,
            options,
            pool.stop.subscribe(),
        )));
        if let Ok(mut slot) = pool.handles.lock() {
            *slot = handles;
        }
        pool
    }

    /// Wakes an idle worker (called after an enqueue).
    pub fn notify(&self) {
        self.wake.notify_one();
    }

    /// `Ok` when every worker runs and one has looked for work recently.
    pub fn check(&self) -> Result<(), String> {
        let alive = self.alive.load(Ordering::SeqCst);
        if alive < self.workers {
            return Err(format!("{alive} of {} queue workers running", self.workers));
        }
        if self.workers > 0 {
            let now = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
            let last = self.beat.load(Ordering::Relaxed);
            let allowed = u64::try_from((self.poll * 2).as_millis())
                .unwrap_or(u64::MAX)
                .max(30_000);
            if now.saturating_sub(last) > allowed {
                return Err(format!("queue workers silent for {} ms", now - last));
            }
        }
        if *self.stop.borrow() {
            return Err("queue workers stopping".to_owned());
        }
        Ok(())
    }

    /// Stops claiming, lets in-flight jobs finish within the grace period (requeueing the rest)
    /// and waits for every worker.
    pub async fn shutdown(&self) {
        self.stop.send_replace(true);
        let handles = match self.handles.lock() {
            Ok(mut slot) => std::mem::take(&mut *slot),
            Err(_) => Vec::new(),
        };
        for handle in handles {
            if let Err(error) = handle.await {
                tracing::error!(%error, "queue worker ended abnormally");
            }
        }
    }
}

struct Worker {
    name: String,
    queue: Arc<dyn JobQueue>,
    handlers: Handlers,
    options: WorkerOptions,
    stop: watch::Receiver<bool>,
    wake: Arc<Notify>,
    beat: Arc<AtomicU64>,
    origin: Instant,
    #[allow(dead_code)] // Held for its Drop: counts the worker out when the task ends.
    alive: Alive,
}

impl Worker {
    async fn run(mut self) {
        while !*self.stop.borrow() {
            self.beat.store(
                u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX),
                Ordering::Relaxed,
            );
            match self.queue.claim(&self.name).await {
                Ok(Some(job)) => self.attempt(job).await,
                Ok(None) => self.idle().await,
                Err(error) => {
                    tracing::warn!(worker = %self.name, %error, "cannot claim jobs");
                    self.idle().await;
                }
            }
        }
    }

    async fn idle(&mut self) {
        tokio::select! {
            _ = tokio::time::sleep(self.options.poll) => {}
            _ = self.wake.notified() => {}
            _ = self.stop.changed() => {}
        }
    }

    async fn attempt(&mut self, job: ClaimedJob) {
        let priority = job.priority.as_str();
        let Some(handler) = self.handlers.0.get(&job.kind).cloned() else {
            let error = format!("no handler for job kind `{}`", job.kind);
            self.settle(self.queue.bury(job.id, &error).await, "bury");
            metrics::counter!(m::QUEUE_JOBS, "priority" => priority, "outcome" => "dead")
                .increment(1);
            return;
        };
        let ctx = JobContext {
            queue: self.queue.clone(),
            id: job.id,
        };
        let run = handler.run(&job, &ctx);
        tokio::pin!(run);
        let deadline = grace_deadline(self.stop.clone(), self.options.shutdown_grace);
        tokio::pin!(deadline);
        let outcome = tokio::select! {
            outcome = &mut run => Some(outcome),
            _ = &mut deadline => None,
        };
        match outcome {
            None => {
                tracing::info!(job = %job.id, "shutdown grace expired, requeueing job");
                self.settle(self.queue.requeue(job.id).await, "requeue");
                metrics::counter!(m::QUEUE_JOBS, "priority" => priority, "outcome" => "requeued")
                    .increment(1);
            }
            Some(Ok(result)) => {
                self.settle(
                    self.queue
                        .complete(job.id, &result, self.options.completed_retention)
                        .await,
                    "complete",
                );
                metrics::counter!(m::QUEUE_JOBS, "priority" => priority, "outcome" => "completed")
                    .increment(1);
            }
            Some(Err(error)) => match job.priority.policy().backoff(job.attempt) {
                Some(nominal) if job.attempt < job.max_attempts => {
                    let delay = nominal.mul_f64(self.options.time_scale.max(0.0));
                    self.settle(
                        self.queue.retry(job.id, &error, delay, nominal).await,
                        "retry",
                    );
                    metrics::counter!(m::QUEUE_JOBS, "priority" => priority, "outcome" => "retried").increment(1);
                }
                _ => {
                    tracing::warn!(job = %job.id, kind = %job.kind, attempts = job.attempt, %error, "job failed for good");
                    self.settle(self.queue.bury(job.id, &error).await, "bury");
                    metrics::counter!(m::QUEUE_JOBS, "priority" => priority, "outcome" => "dead")
                        .increment(1);
                }
            },
        }
    }

    fn settle(&self, result: Result<(), QueueError>, what: &str) {
        if let Err(error) = result {
            // The job stays active; stale-lock recovery puts it back later.
            tracing::error!(worker = %self.name, %error, what, "cannot record job outcome");
        }
    }
}

/// Resolves `grace` after shutdown starts; never while the pool runs.
async fn grace_deadline(mut stop: watch::Receiver<bool>, grace: Duration) {
    if stop.wait_for(|stopping| *stopping).await.is_err() {
        // The pool is gone without a stop signal: never cut the job short.
        std::future::pending::<()>().await;
    }
    tokio::time::sleep(grace).await;
}

async fn housekeeping(
    queue: Arc<dyn JobQueue>,
    options: WorkerOptions,
    mut stop: watch::Receiver<bool>,
) {
    let period = options.poll.max(Duration::from_millis(100)) * 5;
    while !*stop.borrow() {
        if let Err(error) = queue.purge_completed(options.completed_retention).await {
            tracing::debug!(%error, "cannot purge completed jobs");
        }
        match queue.recover_stale(options.stale_after).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(jobs = n, "requeued jobs with stale locks"),
            Err(error) => tracing::debug!(%error, "cannot recover stale jobs"),
        }
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = stop.changed() => {}
        }
    }
}
