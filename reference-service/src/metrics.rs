//! Metric names and the Prometheus recorder.
//!
//! Invariant: names here are a public contract (documented in the README and scraped by
//! kneepoint); change them only together with the docs. The recorder is process-global and
//! installed once, so several `AppState`s in one process (tests) share it.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Histogram of request durations in seconds, by `route`, `method`, `status`.
pub const HTTP_DURATION: &str = "http_request_duration_seconds";
/// Requests answered, by `route`, `method`, `status`.
pub const HTTP_REQUESTS: &str = "http_requests_total";
/// Requests slower than the slow-request threshold, by `route`.
pub const HTTP_SLOW: &str = "http_slow_requests_total";
/// Cache hits, by `namespace`.
pub const CACHE_HITS: &str = "cache_hits_total";
/// Cache misses (including bypass and degraded reads), by `namespace`.
pub const CACHE_MISSES: &str = "cache_misses_total";
/// Cache entries removed by invalidation, by `kind` (`tag`, `pattern`).
pub const CACHE_INVALIDATIONS: &str = "cache_invalidations_total";
/// Pool connections, by `state` (`idle`, `in_use`).
pub const DB_POOL_CONNECTIONS: &str = "db_pool_connections";
/// Open pool connections.
pub const DB_POOL_SIZE: &str = "db_pool_size";
/// Configured pool maximum.
pub const DB_POOL_MAX: &str = "db_pool_max_connections";
/// Jobs in the queue, by `priority` and `state` (`waiting`, `delayed`, `active`, `failed`).
pub const QUEUE_DEPTH: &str = "queue_depth";
/// Job attempts finished, by `priority` and `outcome` (`completed`, `retried`, `dead`, `requeued`).
pub const QUEUE_JOBS: &str = "queue_jobs_total";
/// Queue workers running.
pub const QUEUE_WORKERS: &str = "queue_workers_alive";
/// Requests rejected with 429, by `class` (`anonymous`, `free`, `pro`, `enterprise`, `auth`, `export`).
pub const RATE_LIMIT_REJECTIONS: &str = "rate_limit_rejections_total";
/// Requests let through because the limiter backend was down, by `class`.
pub const RATE_LIMIT_FAIL_OPEN: &str = "rate_limit_fail_open_total";
/// Redis failures and timeouts, by `component` (`cache`, `rate_limit`) and `reason`.
pub const REDIS_DEGRADED: &str = "redis_degraded_total";
/// Redis calls skipped while a component runs degraded, by `component`.
pub const REDIS_BYPASSED: &str = "redis_bypassed_total";
/// 1 when the last Redis call of a `component` succeeded, 0 after a failure.
pub const REDIS_UP: &str = "redis_up";
/// Resident set size of the process.
pub const PROCESS_RSS: &str = "process_resident_memory_bytes";
/// CPU time used by the process (user + system).
pub const PROCESS_CPU: &str = "process_cpu_seconds_total";

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process-wide Prometheus handle, installing the recorder on first use.
pub fn handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let buckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
            let builder = PrometheusBuilder::new().set_buckets_for_metric(Matcher::Full(HTTP_DURATION.to_owned()), &buckets);
            // Another recorder may already be installed (an embedding program); then we keep a
            // private recorder whose output is still served at /metrics.
            let builder = match builder {
                Ok(b) => b,
                Err(_) => PrometheusBuilder::new(),
            };
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics shows only what reaches this one");
            }
            describe();
            handle
        })
        .clone()
}

/// Help text of the plain counters.
const COUNTERS: [(&str, &str); 10] = [
    (HTTP_REQUESTS, "HTTP requests answered"),
    (
        HTTP_SLOW,
        "HTTP requests slower than the slow-request threshold",
    ),
    (CACHE_HITS, "cache hits by namespace"),
    (CACHE_MISSES, "cache misses by namespace"),
    (CACHE_INVALIDATIONS, "cache entries removed by invalidation"),
    (QUEUE_JOBS, "job attempts by priority and outcome"),
    (
        RATE_LIMIT_REJECTIONS,
        "requests rejected by the rate limiter",
    ),
    (
        RATE_LIMIT_FAIL_OPEN,
        "requests allowed because the limiter was unavailable",
    ),
    (REDIS_DEGRADED, "redis failures and timeouts"),
    (REDIS_BYPASSED, "redis calls skipped while degraded"),
];

/// Help text of the plain gauges.
const GAUGES: [(&str, &str); 6] = [
    (DB_POOL_CONNECTIONS, "database pool connections by state"),
    (DB_POOL_SIZE, "open database pool connections"),
    (DB_POOL_MAX, "configured database pool maximum"),
    (QUEUE_DEPTH, "jobs by priority and state"),
    (QUEUE_WORKERS, "queue workers running"),
    (REDIS_UP, "1 when redis answered the last call"),
];

fn describe() {
    metrics::describe_histogram!(
        HTTP_DURATION,
        metrics::Unit::Seconds,
        "HTTP request duration"
    );
    for (name, help) in COUNTERS {
        metrics::describe_counter!(name, help);
    }
    for (name, help) in GAUGES {
        metrics::describe_gauge!(name, help);
    }
    metrics::describe_gauge!(PROCESS_RSS, metrics::Unit::Bytes, "resident set size");
    metrics::describe_gauge!(PROCESS_CPU, metrics::Unit::Seconds, "CPU time used");
}

/// Samples RSS and CPU time from `/proc/self` (Linux only; elsewhere nothing is recorded).
pub(crate) fn record_process() {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return;
    };
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15 and
    // rss is field 24 (1-based, counting pid as 1).
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<f64>().ok());
    // Linux reports CPU time in clock ticks (USER_HZ, 100 on every mainstream build) and RSS in
    // pages (4 KiB on x86_64 and most aarch64 kernels).
    if let (Some(utime), Some(stime)) = (field(14), field(15)) {
        metrics::gauge!(PROCESS_CPU).set((utime + stime) / 100.0);
    }
    if let Some(pages) = field(24) {
        metrics::gauge!(PROCESS_RSS).set(pages * 4096.0);
    }
}
