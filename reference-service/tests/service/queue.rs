//! The job queue: retry policies and backoff schedules, dead letters, completed-job removal,
//! delayed jobs, priority order, exclusive claims, graceful shutdown and the HTTP surface.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::http::{Method, StatusCode};
use chrono::{DateTime, Utc};
use reference_service::queue::{
    ClaimedJob, Handlers, JobContext, JobHandler, JobInfo, JobQueue, JobStatus, NewJob, Priority,
    WorkerOptions, WorkerPool,
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{self, Backend, TestApp, eventually};

struct AlwaysFails;

#[async_trait]
impl JobHandler for AlwaysFails {
    async fn run(&self, job: &ClaimedJob, _ctx: &JobContext) -> Result<Value, String> {
        Err(format!("attempt {} failed", job.attempt))
    }
}

struct Sleeps(Duration);

#[async_trait]
impl JobHandler for Sleeps {
    async fn run(&self, _job: &ClaimedJob, ctx: &JobContext) -> Result<Value, String> {
        ctx.progress(50).await.map_err(|e| e.to_string())?;
        tokio::time::sleep(self.0).await;
        Ok(json!({"slept_ms": self.0.as_millis() as u64}))
    }
}

/// Enqueues `job`, which must succeed; returns its id.
async fn enqueue(queue: &Arc<dyn JobQueue>, job: NewJob) -> Uuid {
    queue.enqueue(&job).await.expect("enqueue")
}

fn job(kind: &str, priority: Priority) -> NewJob {
    NewJob {
        kind: kind.into(),
        payload: json!({}),
        priority,
        delay: Duration::ZERO,
    }
}

/// A service whose own workers are off, so that tests choose the handlers.
async fn app_without_workers(backend: Backend) -> TestApp {
    support::start_on(backend, |c| c.queue_workers = 0).await
}

fn pool(app: &TestApp, handlers: Handlers, options: WorkerOptions) -> Arc<WorkerPool> {
    WorkerPool::start(app.state.queue().clone(), handlers, options)
}

async fn wait_for(app: &TestApp, id: Uuid, status: JobStatus, limit: Duration) -> JobInfo {
    let queue = app.state.queue().clone();
    eventually(limit, || {
        let queue = queue.clone();
        async move {
            queue
                .job(id)
                .await
                .ok()
                .flatten()
                .filter(|j| j.status == status)
        }
    })
    .await
}

on_both_backends!(
    each_retry_policy_gives_its_attempt_count_and_backoff_schedule,
    flavor = "multi_thread",
    worker_threads = 2
);
async fn each_retry_policy_gives_its_attempt_count_and_backoff_schedule(backend: Backend) {
    let app = app_without_workers(backend).await;
    // The slowest schedule (very low: 30 s × (2^14 − 1) in all) runs in about half a second.
    let scale = 1e-6;
    let workers = pool(
        &app,
        Handlers::new().with("fail", Arc::new(AlwaysFails)),
        WorkerOptions {
            workers: 5,
            poll: Duration::from_millis(5),
            time_scale: scale,
            ..WorkerOptions::default()
        },
    );
    let mut ids = Vec::new();
    for priority in Priority::ALL {
        ids.push((
            priority,
            enqueue(app.state.queue(), job("fail", priority)).await,
        ));
    }
    workers.notify();
    for (priority, id) in ids {
        let policy = priority.policy();
        let info = wait_for(&app, id, JobStatus::Failed, Duration::from_secs(30)).await;
        assert_eq!(info.attempts, policy.max_attempts, "{priority:?}");
        assert_eq!(
            info.last_error.as_deref(),
            Some(format!("attempt {} failed", policy.max_attempts).as_str())
        );
        let history = info.history.as_array().cloned().unwrap_or_default();
        assert_eq!(
            history.len() as u32,
            policy.max_attempts,
            "{priority:?}: one entry per attempt"
        );
        let backoffs: Vec<Option<u64>> = history.iter().map(|h| h["backoff_ms"].as_u64()).collect();
        let mut expected: Vec<Option<u64>> = (0..policy.max_attempts - 1)
            .map(|k| Some(policy.base.as_millis() as u64 * (1 << k)))
            .collect();
        expected.push(None);
        assert_eq!(
            backoffs, expected,
            "{priority:?}: base × 2^(attempt−1), none after the last"
        );
        // The real gaps honour the scaled schedule.
        let times: Vec<DateTime<Utc>> = history
            .iter()
            .filter_map(|h| h["at"].as_str()?.parse().ok())
            .collect();
        assert_eq!(times.len(), history.len());
        for (k, pair) in times.windows(2).enumerate() {
            let gap = (pair[1] - pair[0]).to_std().unwrap_or_default();
            let scaled = Duration::from_millis(expected[k].unwrap_or(0)).mul_f64(scale);
            assert!(
                gap >= scaled,
                "{priority:?} attempt {}: gap {gap:?} < backoff {scaled:?}",
                k + 2
            );
        }
    }
    workers.shutdown().await;
}

on_both_backends!(dead_letters_are_kept_and_completed_jobs_removed);
async fn dead_letters_are_kept_and_completed_jobs_removed(backend: Backend) {
    let app = app_without_workers(backend).await;
    let handlers = Handlers::new()
        .with("fail", Arc::new(AlwaysFails))
        .with("ok", Arc::new(Sleeps(Duration::ZERO)));
    let workers = pool(
        &app,
        handlers,
        WorkerOptions {
            workers: 2,
            poll: Duration::from_millis(10),
            time_scale: 1e-4,
            completed_retention: Duration::ZERO,
            ..WorkerOptions::default()
        },
    );
    let queue = app.state.queue().clone();
    let dead = enqueue(&queue, job("fail", Priority::Critical)).await;
    let done = enqueue(&queue, job("ok", Priority::High)).await;
    let unknown = enqueue(&queue, job("no-such-kind", Priority::Low)).await;
    workers.notify();
    let info = wait_for(&app, dead, JobStatus::Failed, Duration::from_secs(20)).await;
    assert_eq!(info.attempts, 3);
    let info = wait_for(&app, unknown, JobStatus::Failed, Duration::from_secs(20)).await;
    assert!(info.last_error.unwrap_or_default().contains("no handler"));
    eventually(Duration::from_secs(20), || {
        let queue = queue.clone();
        async move { matches!(queue.job(done).await, Ok(None)).then_some(()) }
    })
    .await;
    let stats = queue.stats().await.expect("stats");
    let by = |p: Priority| {
        stats
            .iter()
            .find(|s| s.queue == p)
            .cloned()
            .expect("queue row")
    };
    assert_eq!(
        (
            by(Priority::Critical).failed,
            by(Priority::High).completed,
            by(Priority::Low).failed
        ),
        (1, 1, 1)
    );
    workers.shutdown().await;
    // Dead letters survive housekeeping.
    assert_eq!(
        queue.job(dead).await.expect("job").map(|j| j.status),
        Some(JobStatus::Failed)
    );
}

on_both_backends!(delayed_jobs_wait_and_urgent_jobs_are_claimed_first);
async fn delayed_jobs_wait_and_urgent_jobs_are_claimed_first(backend: Backend) {
    let app = app_without_workers(backend).await;
    let queue = app.state.queue().clone();
    let low = enqueue(&queue, job("x", Priority::VeryLow)).await;
    let critical = enqueue(&queue, job("x", Priority::Critical)).await;
    let delayed = enqueue(
        &queue,
        NewJob {
            delay: Duration::from_millis(400),
            ..job("x", Priority::Critical)
        },
    )
    .await;
    assert_eq!(
        queue.job(delayed).await.expect("job").map(|j| j.status),
        Some(JobStatus::Delayed)
    );
    let stats = queue.stats().await.expect("stats");
    assert_eq!(stats[0].queue, Priority::Critical);
    assert_eq!(
        (stats[0].waiting, stats[0].delayed, stats[4].waiting),
        (1, 1, 1)
    );

    let first = queue.claim("t").await.expect("claim").expect("a job");
    assert_eq!((first.id, first.attempt), (critical, 1));
    assert_eq!(
        queue.claim("t").await.expect("claim").map(|j| j.id),
        Some(low),
        "the delayed job is not due yet"
    );
    assert_eq!(queue.claim("t").await.expect("claim"), None);
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(
        queue.claim("t").await.expect("claim").map(|j| j.id),
        Some(delayed)
    );
    let stats = queue.stats().await.expect("stats");
    assert_eq!(stats.iter().map(|s| s.active).sum::<i64>(), 3);
}

on_both_backends!(
    concurrent_claims_never_share_a_job,
    flavor = "multi_thread",
    worker_threads = 2
);
async fn concurrent_claims_never_share_a_job(backend: Backend) {
    let app = app_without_workers(backend).await;
    let queue = app.state.queue().clone();
    for _ in 0..40 {
        enqueue(&queue, job("x", Priority::Normal)).await;
    }
    let mut tasks = Vec::new();
    for n in 0..6 {
        let queue = queue.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(job) = queue.claim(&format!("w{n}")).await.expect("claim") {
                got.push(job.id);
            }
            got
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("task"));
    }
    let unique: HashSet<Uuid> = all.iter().copied().collect();
    assert_eq!((all.len(), unique.len()), (40, 40));
}

on_both_backends!(
    shutdown_finishes_short_jobs_and_requeues_long_ones,
    flavor = "multi_thread",
    worker_threads = 2
);
async fn shutdown_finishes_short_jobs_and_requeues_long_ones(backend: Backend) {
    let app = app_without_workers(backend).await;
    let queue = app.state.queue().clone();
    let handlers = Handlers::new()
        .with("short", Arc::new(Sleeps(Duration::from_millis(300))))
        .with("long", Arc::new(Sleeps(Duration::from_secs(30))));
    let workers = pool(
        &app,
        handlers,
        WorkerOptions {
            workers: 2,
            poll: Duration::from_millis(10),
            shutdown_grace: Duration::from_millis(800),
            ..WorkerOptions::default()
        },
    );
    let short = enqueue(&queue, job("short", Priority::High)).await;
    let long = enqueue(&queue, job("long", Priority::High)).await;
    workers.notify();
    let running = wait_for(&app, long, JobStatus::Active, Duration::from_secs(10)).await;
    assert_eq!(running.attempts, 1);
    wait_for(&app, short, JobStatus::Active, Duration::from_secs(10)).await;
    assert!(workers.check().is_ok());
    workers.shutdown().await;
    assert!(workers.check().is_err(), "a stopped pool is not ready");
    let short = queue
        .job(short)
        .await
        .expect("job")
        .expect("kept for the retention period");
    assert_eq!((short.status, short.progress), (JobStatus::Completed, 100));
    assert_eq!(short.result, Some(json!({"slept_ms": 300})));
    let long = queue.job(long).await.expect("job").expect("requeued");
    assert_eq!(
        (long.status, long.attempts),
        (JobStatus::Waiting, 0),
        "the interrupted attempt is not counted"
    );
}

on_both_backends!(export_endpoint_answers_202_and_the_job_reports_progress);
async fn export_endpoint_answers_202_and_the_job_reports_progress(backend: Backend) {
    let app = support::start_on(backend, |_| {}).await;
    let anonymous = app.call(Method::POST, "/api/exports", &[], None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let bad = app
        .request_export(Some(json!({"priority": "urgent"})))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    let accepted = app.request_export(Some(json!({"priority": "high"}))).await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED, "{}", accepted.text);
    let id = accepted.body["job_id"].as_str().expect("job id").to_owned();
    assert_eq!(
        accepted.header("location"),
        Some(format!("/api/jobs/{id}").as_str())
    );
    let done = eventually(Duration::from_secs(20), || {
        let uri = format!("/api/jobs/{id}");
        let app = &app;
        async move {
            let reply = app.get(&uri).await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
            (reply.body["status"] == "completed").then_some(reply.body)
        }
    })
    .await;
    assert_eq!(
        (
            done["progress"].as_u64(),
            done["attempts"].as_u64(),
            done["priority"].as_str()
        ),
        (Some(100), Some(1), Some("high"))
    );
    let stats = app.get("/api/accounts/2/stats").await;
    assert_eq!(
        done["result"]["rows"], stats.body["items"],
        "the export covers every item of the account"
    );

    let queues = app.get("/api/queue/stats").await;
    let high = queues.body["queues"]
        .as_array()
        .and_then(|q| q.iter().find(|q| q["queue"] == "high").cloned())
        .expect("high queue");
    assert_eq!(high["completed"], 1);
    for field in ["waiting", "active", "failed", "delayed"] {
        assert_eq!(high[field], 0, "{field}");
    }
    assert_eq!(
        app.get(&format!("/api/jobs/{}", Uuid::new_v4()))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}
