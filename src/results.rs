//! `RunResults`: the on-disk contract every later command reads.
//!
//! Invariant: this is the only serialized run format. It carries `schema_version`; a change that
//! removes or renames a field bumps it, and `schemas/results.schema.json` is updated in the same
//! change (a test validates real output against it). Histograms are stored losslessly
//! (HdrHistogram V2 + DEFLATE, base64) so runs can be merged and compared exactly.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer as _, V2DeflateSerializer};
use serde::{Deserialize, Serialize};

/// Version of the results file format written by this build.
pub const SCHEMA_VERSION: u32 = 2;

/// The oldest version this build reads. Version 1 kept one latency histogram per scope, failed
/// requests included; read as version 2 it has no failed histogram and its latency is that mix.
pub const OLDEST_READABLE: u32 = 1;

/// Everything one run measured, as written to `OUT/results.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunResults {
    /// Format version; see [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Version of kneepoint that wrote the file.
    pub kneepoint_version: String,
    /// Unique id of this run (shared by every shard of a distributed run).
    pub run_id: String,
    /// Which scenario ran.
    pub scenario: ScenarioInfo,
    /// Base URL the load went to.
    pub target: String,
    /// How the target was provided: `external`, `embedded` or `docker`.
    pub backend: String,
    /// Wall-clock start, RFC 3339.
    pub started_at: jiff::Timestamp,
    /// Wall-clock end (or time of the last write for a partial file), RFC 3339.
    pub ended_at: jiff::Timestamp,
    /// Seconds of measured load (ended_at − started_at, sub-second precision).
    pub duration_s: f64,
    /// How the run ended.
    pub status: RunStatus,
    /// The load profile as configured.
    pub profile: LoadProfile,
    /// Stages as they actually ran (a partial file has fewer).
    pub stages: Vec<StageRecord>,
    /// Per scope: overall first, then transactions, then requests.
    pub scopes: Vec<ScopeResults>,
    /// Per-second series of the overall scope, for charts.
    pub series: Vec<SecondSample>,
    /// Open-model arrival accounting; `None` for a closed model.
    pub arrivals: Option<ArrivalStats>,
    /// One verdict per SLA in the scenario.
    pub slas: Vec<SlaVerdict>,
    /// Server-side metrics scraped during the run (empty when none were scraped).
    #[serde(default)]
    pub server_metrics: Vec<ServerSeries>,
    /// The generator's own health (CPU, scheduling lag, sockets) and whether it limited the
    /// run; absent in files that did not measure it.
    #[serde(default)]
    pub generator: Option<GeneratorHealth>,
    /// Shards merged into this file (1 for an ordinary run).
    #[serde(default = "one")]
    pub shards: u32,
    /// Which shard of a distributed run this file holds; absent for an ordinary or merged run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardInfo>,
    /// The inputs a merged file was made from (in shard order when they are shards); empty for
    /// a file that was not merged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged_from: Vec<MergedInput>,
}

/// Identity of one shard of a distributed run (`--shard INDEX/COUNT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardInfo {
    /// 1-based shard number.
    pub index: u32,
    /// How many shards the run was split into.
    pub count: u32,
}

/// One input of a merged results file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MergedInput {
    /// The input's run id.
    pub run_id: String,
    /// Its shard identity, when it was a shard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardInfo>,
    /// Its wall-clock start.
    pub started_at: jiff::Timestamp,
    /// How it ended.
    pub status: RunStatus,
    /// Requests in its overall scope.
    pub requests: u64,
}

fn one() -> u32 {
    1
}

/// Identity of the scenario that ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioInfo {
    /// `name` from the scenario (or the file stem).
    pub name: String,
    /// Path as given on the command line.
    pub path: String,
    /// SHA-256 of the scenario file's bytes, hex.
    pub sha256: String,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case", deny_unknown_fields)]
pub enum RunStatus {
    /// Still running: the file is a checkpoint written after a stage.
    InProgress,
    /// Every stage ran to its end (or the iteration cap was reached).
    Completed,
    /// Stopped early because an SLA marked `abort = true` was already lost.
    Aborted {
        /// Which SLA and why.
        reason: String,
    },
    /// Stopped by Ctrl-C / SIGTERM.
    Interrupted,
    /// The run failed (target unreachable, stack died); what was measured is kept.
    Failed {
        /// What went wrong.
        reason: String,
    },
}

impl RunStatus {
    /// The state as results files spell it (`in_progress`, `completed`, `aborted`, …).
    pub fn state(&self) -> &'static str {
        match self {
            Self::InProgress => "in_progress",
            Self::Completed => "completed",
            Self::Aborted { .. } => "aborted",
            Self::Interrupted => "interrupted",
            Self::Failed { .. } => "failed",
        }
    }
}

/// The configured load, in a form a report can describe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "snake_case", deny_unknown_fields)]
pub enum LoadProfile {
    /// Closed model: a number of users loop over transactions.
    Closed {
        /// Stages in order.
        stages: Vec<ProfileStage>,
        /// Think time after each transaction, µs range.
        think_time_us: Option<(u64, u64)>,
        /// Stop after this many transaction iterations in total.
        max_iterations: Option<u64>,
    },
    /// Open model: arrivals per second, independent of response times.
    Open {
        /// Stages in order (`target` = arrivals per second).
        stages: Vec<ProfileStage>,
        /// What one arrival is.
        unit: ArrivalUnit,
        /// Cap on concurrently in-flight arrivals.
        max_in_flight: u32,
        /// Stop after this many arrivals in total.
        max_iterations: Option<u64>,
    },
}

/// What an open-model arrival starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArrivalUnit {
    /// One arrival = one whole transaction (all its requests).
    Iterations,
    /// One arrival = one request (transactions are walked request by request).
    Requests,
}

/// One configured stage: ramp linearly to `target` over `ramp_s`, then hold it for `hold_s`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileStage {
    /// Optional stage name from the scenario.
    pub name: Option<String>,
    /// Users (closed) or arrivals per second (open).
    pub target: f64,
    /// Ramp seconds.
    pub ramp_s: f64,
    /// Hold seconds.
    pub hold_s: f64,
}

/// A stage as it ran, with its own per-scope results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageRecord {
    /// 0-based index into the profile's stages.
    pub index: usize,
    /// Stage name, or `stage N` (1-based).
    pub name: String,
    /// Seconds since the run start.
    pub start_s: f64,
    /// Seconds since the run start.
    pub end_s: f64,
    /// Users or arrivals/s at the end of the stage.
    pub target: f64,
    /// Per-scope results of this stage alone.
    pub scopes: Vec<ScopeResults>,
}

/// The name of the one [`ScopeKind::Overall`] scope of a run.
pub const OVERALL_SCOPE: &str = "overall";

/// What a scope aggregates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScopeKind {
    /// Every request of the run.
    Overall,
    /// One transaction: its latency is the whole transaction, first request to last byte.
    Transaction,
    /// One named request (across the transactions that use it).
    Request,
}

/// Results for one scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeResults {
    /// Overall, transaction or request.
    pub kind: ScopeKind,
    /// `overall`, the transaction name, or `transaction/request` name.
    pub name: String,
    /// Headline numbers.
    pub stats: ScopeStats,
    /// HTTP status counts (`"200"` → n); requests with no response are absent.
    pub status_codes: BTreeMap<String, u64>,
    /// Error counts by kind with sample messages.
    pub errors: Vec<ErrorCount>,
    /// Latency histogram (µs) of the successful responses, measured from the actual send.
    pub histogram: SerializedHistogram,
    /// Latency histogram (µs) of the failed requests (any error kind); absent when none failed.
    #[serde(default)]
    pub failed_histogram: Option<SerializedHistogram>,
    /// Open model only: latency of the successful responses measured from the intended start
    /// (coordinated-omission correct).
    pub intended_histogram: Option<SerializedHistogram>,
}

/// Headline numbers of a scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeStats {
    /// Requests (or transactions for a transaction scope) completed, failed ones included.
    pub requests: u64,
    /// Those that failed (any error kind).
    pub errors: u64,
    /// errors / requests (0 when there were none).
    pub error_rate: f64,
    /// requests / measured duration.
    pub throughput_rps: f64,
    /// Latency of the successful responses (what percentiles, SLAs, compare and capacity use).
    pub latency_us: LatencySummary,
    /// Latency of the failed requests, apart; absent when none failed.
    #[serde(default)]
    pub failed_latency_us: Option<LatencySummary>,
    /// Open model: successful responses, from the intended start.
    pub intended_latency_us: Option<LatencySummary>,
}

/// Latency percentiles in whole microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencySummary {
    /// Smallest.
    pub min: u64,
    /// Arithmetic mean (fractional µs).
    pub mean: f64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 95th percentile.
    pub p95: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p99_9: u64,
    /// Largest.
    pub max: u64,
}

impl LatencySummary {
    /// Summarise a histogram of µs values.
    pub fn from_histogram(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        Self {
            min: h.min(),
            mean: h.mean(),
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p95: h.value_at_quantile(0.95),
            p99: h.value_at_quantile(0.99),
            p99_9: h.value_at_quantile(0.999),
            max: h.max(),
        }
    }
}

/// Kinds of failure a request can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Could not connect (refused, DNS, TLS).
    Connect,
    /// No complete response within the request timeout.
    Timeout,
    /// A status the checks did not accept (by default: 4xx/5xx).
    Status,
    /// A check on the body, a JSON path or a capture failed.
    Check,
    /// Anything else while sending or reading (reset, body decode, bad template output).
    Other,
}

impl ErrorKind {
    /// Every kind, in order.
    pub const ALL: [Self; 5] = [
        Self::Connect,
        Self::Timeout,
        Self::Status,
        Self::Check,
        Self::Other,
    ];

    /// The kind as results files spell it (`connect`, `timeout`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Timeout => "timeout",
            Self::Status => "status",
            Self::Check => "check",
            Self::Other => "other",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Count of one error kind with a few sample messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorCount {
    /// The kind.
    pub kind: ErrorKind,
    /// How many.
    pub count: u64,
    /// Up to five distinct messages.
    pub samples: Vec<String>,
}

/// One second of the overall scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecondSample {
    /// Whole seconds since the run start.
    pub t: u32,
    /// Requests completed in this second.
    pub requests: u64,
    /// Of which failed.
    pub errors: u64,
    /// Median latency of this second (µs; 0 when no request).
    pub p50_us: u64,
    /// 95th percentile of this second (µs).
    pub p95_us: u64,
    /// 99th percentile of this second (µs).
    pub p99_us: u64,
    /// Active users (closed) or configured arrival rate (open) at the end of this second.
    pub load: f64,
    /// Open model: arrivals that started late in this second.
    #[serde(default)]
    pub late: u64,
}

/// One second of the generator's own health.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthSecond {
    /// Whole seconds since the run start (as in the recorder's series: the second `[t, t + 1)`).
    pub t: u32,
    /// Process CPU over the second, as a fraction of the available cores (may exceed 1 slightly
    /// through tick rounding); `None` where it cannot be read.
    pub cpu: Option<f64>,
    /// 99th percentile of the probe's wake-up lag in this second (µs).
    pub lag_p99_us: u64,
    /// Worst wake-up lag in this second, including a wake-up still overdue (µs).
    pub lag_max_us: u64,
    /// Sockets open at the end of the second; `None` where they cannot be counted.
    pub connections: Option<u64>,
    /// Time the process's threads spent ready to run but waiting for a CPU in this second, as a
    /// fraction of the second (summed over threads, so it can exceed 1); `None` where it
    /// cannot be read. On a shared host this is the generator's own delay, inside every timing.
    #[serde(default)]
    pub wait: Option<f64>,
    /// How busy the host's CPUs were in this second (all processes, 0–1); `None` where it
    /// cannot be read.
    #[serde(default)]
    pub host_busy: Option<f64>,
}

/// The whole run's verdict on the generator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeneratorHealth {
    /// Cores the process could use.
    pub cores: usize,
    /// Whether the generator, not only the target, limited the run: its latencies include its
    /// own queueing.
    pub bound: bool,
    /// Why, one sentence per broken rule (empty when not bound).
    pub reasons: Vec<String>,
    /// Mean CPU fraction over the measured seconds.
    pub cpu_mean: Option<f64>,
    /// 99th percentile of the probe's lag over the measured seconds (µs).
    pub lag_p99_us: u64,
    /// Worst lag over the measured seconds, a wake-up still overdue included (µs).
    pub lag_max_us: u64,
    /// Every second, the first included.
    pub series: Vec<HealthSecond>,
}

/// Open-model arrival accounting: nothing scheduled is silently dropped.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArrivalStats {
    /// Arrivals the schedule asked for.
    pub scheduled: u64,
    /// Arrivals that were started.
    pub started: u64,
    /// Started more than the lateness tolerance after their intended time.
    pub late: u64,
    /// Never started (in-flight cap reached until the run ended).
    pub missed: u64,
    /// Largest start lag seen, µs.
    pub max_lag_us: u64,
}

/// An SLA's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaVerdict {
    /// Display name (given, or derived like `overall p95 < 200ms`).
    pub name: String,
    /// Scope name (`overall`, a transaction, or `transaction/request`).
    pub scope: String,
    /// Metric key: p50, p90, p95, p99, p99.9, max, mean, error_rate, throughput, or a server series.
    pub metric: String,
    /// `<`, `<=`, `>`, `>=`.
    pub comparison: String,
    /// Threshold in the metric's base unit (µs for latency, ratio for rates, per second for throughput).
    pub threshold: f64,
    /// Measured value in the same unit; `None` when the scope saw no traffic.
    pub actual: Option<f64>,
    /// Human unit of `threshold`/`actual`: `us`, `ratio`, `per_s`, or the series' unit.
    pub unit: String,
    /// Threshold as written in the scenario (`200ms`, `0.1%`).
    pub threshold_text: String,
    /// Whether it held.
    pub passed: bool,
    /// Whether a breach stops the run early.
    pub abort: bool,
}

/// [`SlaVerdict::unit`] of latencies: microseconds.
pub const UNIT_MICROS: &str = "us";
/// [`SlaVerdict::unit`] of error rates: a fraction.
pub const UNIT_RATIO: &str = "ratio";
/// [`SlaVerdict::unit`] of throughput: per second.
pub const UNIT_PER_SECOND: &str = "per_s";

/// A server-side metric series scraped during the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSeries {
    /// Display name, e.g. `cache_hit_ratio`.
    pub name: String,
    /// Unit (`ratio`, `count`, `bytes`, `seconds`).
    pub unit: String,
    /// (seconds since run start, value).
    pub points: Vec<(f64, f64)>,
}

/// A histogram of µs latencies, stored as base64 of HdrHistogram V2 + DEFLATE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SerializedHistogram(pub String);

/// Errors converting histograms or reading/writing results files.
#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    /// A histogram could not be encoded.
    #[error("cannot encode histogram: {0}")]
    Encode(String),
    /// A stored histogram is not valid base64 / HdrHistogram data.
    #[error("stored histogram is corrupt: {0}")]
    Decode(String),
    /// Reading a results file failed.
    #[error("cannot read `{}`", path.display())]
    Read {
        /// File.
        path: PathBuf,
        /// Cause.
        #[source]
        source: io::Error,
    },
    /// A results file is not valid JSON of this schema.
    #[error("`{}` is not a kneepoint results file: {source}", path.display())]
    Parse {
        /// File.
        path: PathBuf,
        /// Cause.
        #[source]
        source: serde_json::Error,
    },
    /// A results file from an unsupported schema version.
    #[error(
        "`{}` has schema_version {found}; this kneepoint reads versions {OLDEST_READABLE} to {SCHEMA_VERSION}",
        path.display()
    )]
    Version {
        /// File.
        path: PathBuf,
        /// Version found.
        found: u64,
    },
    /// Writing a results file failed.
    #[error("cannot write `{}`", path.display())]
    Write {
        /// File.
        path: PathBuf,
        /// Cause.
        #[source]
        source: io::Error,
    },
}

/// Range of values a latency histogram holds: 1 µs to 1 hour, 3 significant digits.
pub const HISTOGRAM_MAX_US: u64 = 3_600_000_000;

/// A fresh latency histogram (µs, 1 µs … 1 h, 3 significant digits).
pub fn new_histogram() -> Histogram<u64> {
    // Bounds are constants that HdrHistogram accepts; failure here is a programming error.
    #[allow(clippy::unwrap_used)]
    Histogram::new_with_bounds(1, HISTOGRAM_MAX_US, 3).unwrap()
}

/// Record a duration in whole µs; values beyond the range are clamped, never dropped.
pub fn record(h: &mut Histogram<u64>, d: Duration) {
    let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1);
    h.saturating_record(us);
}

impl SerializedHistogram {
    /// Encode a histogram.
    pub fn encode(h: &Histogram<u64>) -> Result<Self, ResultsError> {
        let mut buf = Vec::new();
        V2DeflateSerializer::new()
            .serialize(h, &mut buf)
            .map_err(|e| ResultsError::Encode(format!("{e:?}")))?;
        Ok(Self(base64::engine::general_purpose::STANDARD.encode(buf)))
    }

    /// Decode into a histogram.
    pub fn decode(&self) -> Result<Histogram<u64>, ResultsError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&self.0)
            .map_err(|e| ResultsError::Decode(e.to_string()))?;
        Deserializer::new()
            .deserialize(&mut bytes.as_slice())
            .map_err(|e| ResultsError::Decode(format!("{e:?}")))
    }
}

impl RunResults {
    /// The overall scope (always present in a file this build wrote).
    pub fn overall(&self) -> Option<&ScopeResults> {
        self.scopes.iter().find(|s| s.kind == ScopeKind::Overall)
    }

    /// A scope by name.
    pub fn scope(&self, name: &str) -> Option<&ScopeResults> {
        self.scopes.iter().find(|s| s.name == name)
    }

    /// Whether every SLA held.
    pub fn passed(&self) -> bool {
        self.slas.iter().all(|s| s.passed)
    }

    /// Parse results JSON, checking the schema version first for a clear message.
    pub fn from_json(path: &Path, text: &str) -> Result<Self, ResultsError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|source| ResultsError::Parse {
                path: path.to_owned(),
                source,
            })?;
        let found = value
            .get("schema_version")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0);
        if !(u64::from(OLDEST_READABLE)..=u64::from(SCHEMA_VERSION)).contains(&found) {
            return Err(ResultsError::Version {
                path: path.to_owned(),
                found,
            });
        }
        serde_json::from_value(value).map_err(|source| ResultsError::Parse {
            path: path.to_owned(),
            source,
        })
    }

    /// Read a results file, or `DIR/results.json` when given a run folder.
    pub fn read(path: &Path) -> Result<Self, ResultsError> {
        let file = if path.is_dir() {
            path.join("results.json")
        } else {
            path.to_owned()
        };
        let text = std::fs::read_to_string(&file).map_err(|source| ResultsError::Read {
            path: file.clone(),
            source,
        })?;
        Self::from_json(&file, &text)
    }

    /// Write through the one writer ([`crate::output`]): never half a file.
    pub fn write(&self, path: &Path) -> Result<(), ResultsError> {
        let write_err = |source| ResultsError::Write {
            path: path.to_owned(),
            source,
        };
        let json = serde_json::to_vec_pretty(self).map_err(|e| write_err(io::Error::other(e)))?;
        crate::output::write_file(path, &json).map_err(|e| match e {
            crate::output::WriteError::CreateDir { source, .. }
            | crate::output::WriteError::Write { source, .. } => write_err(source),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_1_files_are_read_without_the_failed_histograms() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/results/sample.json");
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("sample")).expect("json");
        v["schema_version"] = 1.into();
        for scope in v["scopes"].as_array_mut().expect("scopes") {
            let scope = scope.as_object_mut().expect("scope");
            scope.remove("failed_histogram");
            scope["stats"]
                .as_object_mut()
                .expect("stats")
                .remove("failed_latency_us");
        }
        v.as_object_mut().expect("run").remove("generator");
        let old = RunResults::from_json(&path, &v.to_string()).expect("version 1 reads");
        assert!(old.scopes.iter().all(|s| s.failed_histogram.is_none()));
        v["schema_version"] = 3.into();
        let err = RunResults::from_json(&path, &v.to_string()).expect_err("future version");
        assert!(err.to_string().contains("reads versions 1 to 2"), "{err}");
    }

    #[test]
    fn histogram_round_trips_exactly() {
        let mut h = new_histogram();
        for us in [1, 20_000, 20_013, 1_000_000, 59_000_000] {
            record(&mut h, Duration::from_micros(us));
        }
        record(&mut h, Duration::from_secs(7200)); // clamped, not dropped
        let back = SerializedHistogram::encode(&h)
            .and_then(|s| s.decode())
            .expect("round trip");
        assert_eq!(back, h);
        assert_eq!(back.len(), 6);
    }

    #[test]
    fn corrupt_histogram_is_an_error() {
        assert!(SerializedHistogram("not base64!".into()).decode().is_err());
        assert!(SerializedHistogram("AAAA".into()).decode().is_err());
    }

    #[test]
    fn state_and_kind_names_are_the_serialized_ones() {
        let reason = String::new();
        for status in [
            RunStatus::InProgress,
            RunStatus::Completed,
            RunStatus::Aborted {
                reason: reason.clone(),
            },
            RunStatus::Interrupted,
            RunStatus::Failed { reason },
        ] {
            let json = serde_json::to_value(&status).expect("json");
            assert_eq!(json["state"], status.state());
        }
        for kind in ErrorKind::ALL {
            let json = serde_json::to_value(kind).expect("json");
            assert_eq!(json, kind.as_str());
            assert_eq!(kind.to_string(), kind.as_str());
        }
    }

    #[test]
    fn older_schema_is_named() {
        let err = RunResults::from_json(Path::new("r.json"), r#"{"schema_version": 0}"#)
            .expect_err("version 0");
        assert!(err.to_string().contains("schema_version 0"), "{err}");
    }
}
