//! What a comparison says, as `compare.json` stores it: per scope and metric the two values,
//! the difference with its interval and the verdict, and the summary a gate reads.

use serde::{Deserialize, Serialize};

use super::{CompareOptions, Interval, Metric, RunResults, RunStatus, ScopeKind, Unit};

/// Outcome of one metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Worse beyond the noise floor, and significant.
    Regression,
    /// Better beyond the noise floor, and significant.
    Improvement,
    /// Within the noise floor or not significant.
    NoChange,
}

/// How a metric counts for the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Gate {
    /// Informational only.
    NotGated,
    /// Gated and within its budget.
    Pass,
    /// Gated and regressed beyond its budget.
    Fail,
}

/// How the interval of a metric was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Bootstrap of the percentile from the histograms (exact order-statistic draws).
    Bootstrap,
    /// Welch's t interval on the mean latency.
    WelchMean,
    /// Welch's t interval on requests per second.
    WelchPerSecond,
    /// Newcombe's hybrid score interval for a difference of proportions.
    Newcombe,
    /// No interval: the metric (max) has no useful sampling distribution, or a run is empty.
    None,
}

/// One metric of one scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricComparison {
    /// Which metric.
    pub metric: Metric,
    /// Unit of the values.
    pub unit: Unit,
    /// Baseline value.
    pub baseline: f64,
    /// Candidate value.
    pub candidate: f64,
    /// `candidate − baseline`.
    pub delta: f64,
    /// `delta / baseline`; `None` when the baseline is 0 (and the candidate not).
    pub relative: Option<f64>,
    /// Confidence interval of `delta`.
    pub interval: Option<Interval>,
    /// Confidence level of `interval` (above [`CompareOptions::confidence`] when simultaneous).
    pub confidence: f64,
    /// `interval / baseline` (the baseline taken as fixed), for display.
    pub relative_interval: Option<Interval>,
    /// How the interval was computed.
    pub method: Method,
    /// Whether the interval excludes zero; `None` without an interval.
    pub significant: Option<bool>,
    /// Noise floor applied.
    pub noise_floor: f64,
    /// Absolute noise floor applied, in [`Self::unit`] (latency metrics only): `|delta|` must
    /// exceed it too for a regression or improvement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_change: Option<f64>,
    /// Budget applied (largest allowed relative regression), if any.
    pub budget: Option<f64>,
    /// Regression, improvement or no change.
    pub verdict: Verdict,
    /// Role in the gate.
    pub gate: Gate,
}

impl MetricComparison {
    /// Whether this metric takes part in the gate.
    pub fn gated(&self) -> bool {
        self.gate != Gate::NotGated
    }
}

/// One point of the overlaid percentile curves (for charts).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    /// Quantile in [0, 1].
    pub quantile: f64,
    /// Baseline latency at that quantile, µs.
    pub baseline_us: u64,
    /// Candidate latency at that quantile, µs.
    pub candidate_us: u64,
}

/// Quantiles of the percentile curves: dense in the tail, where runs differ. Quantile 0 reads
/// the smallest bucket (its highest equivalent value), like every other point.
pub(super) const CURVE_QUANTILES: [f64; 14] = [
    0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.975, 0.99, 0.995, 0.999, 0.9995, 0.9999, 1.0,
];

/// One scope present in both runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScopeComparison {
    /// Overall, transaction or request.
    pub kind: ScopeKind,
    /// Scope name.
    pub name: String,
    /// Baseline requests (or transactions).
    pub baseline_count: u64,
    /// Candidate requests (or transactions).
    pub candidate_count: u64,
    /// Whether this scope's metrics are gated.
    pub gated: bool,
    /// Whether latency is the intended-start one (see [`CompareOptions::intended`]).
    pub intended: bool,
    /// One entry per metric, in [`Metric::ALL`] order.
    pub metrics: Vec<MetricComparison>,
    /// Both percentile curves, for charts.
    pub curve: Vec<CurvePoint>,
}

/// A scope present in one run only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeRef {
    /// Overall, transaction or request.
    pub kind: ScopeKind,
    /// Scope name.
    pub name: String,
    /// Requests (or transactions) it saw.
    pub count: u64,
}

/// Identity of a compared run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRef {
    /// Run id.
    pub run_id: String,
    /// Wall-clock start.
    pub started_at: jiff::Timestamp,
    /// Measured seconds.
    pub duration_s: f64,
    /// SHA-256 of the scenario file.
    pub scenario_sha256: String,
    /// Whether the run completed.
    pub completed: bool,
    /// Where it was read from (set by the caller that read it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl RunRef {
    pub(super) fn of(r: &RunResults) -> Self {
        Self {
            run_id: r.run_id.clone(),
            started_at: r.started_at,
            duration_s: r.duration_s,
            scenario_sha256: r.scenario.sha256.clone(),
            completed: r.status == RunStatus::Completed,
            source: None,
        }
    }
}

/// Totals over the gated metrics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Whether no gated regression exceeds its budget.
    pub passed: bool,
    /// Gated metrics.
    pub gated: usize,
    /// Gated regressions beyond their budget.
    pub failed: usize,
    /// Gated regressions within their budget.
    pub regressions_within_budget: usize,
    /// Gated improvements.
    pub improvements: usize,
}

/// The result of [`compare`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// Scenario name (the same in both runs).
    pub scenario: String,
    /// The reference run.
    pub baseline: RunRef,
    /// The run under test.
    pub candidate: RunRef,
    /// Settings used.
    pub options: CompareOptions,
    /// The gate's outcome.
    pub summary: Summary,
    /// Scopes in both runs, in the candidate's order (overall, transactions, requests).
    pub scopes: Vec<ScopeComparison>,
    /// Scopes only the baseline has.
    pub only_in_baseline: Vec<ScopeRef>,
    /// Scopes only the candidate has.
    pub only_in_candidate: Vec<ScopeRef>,
    /// Things that weaken the comparison (different scenario file, incomplete run, …).
    pub warnings: Vec<String>,
    /// Where settings other than the defaults came from, lowest layer first (a scenario's
    /// `[compare]` table, then flags); set by the caller that gathered them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub settings_from: Vec<String>,
}

impl Comparison {
    /// Every gated metric with its scope.
    pub fn gated(&self) -> impl Iterator<Item = (&ScopeComparison, &MetricComparison)> {
        self.scopes
            .iter()
            .flat_map(|s| s.metrics.iter().map(move |m| (s, m)))
            .filter(|(_, m)| m.gated())
    }
}
