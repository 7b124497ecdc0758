//! What a scenario and `kneepoint compare` both speak of: the compared metrics and the settings
//! of a comparison as one source (a scenario's `[compare]` table, the flags) gives them.
//!
//! Invariant: this module imports nothing of kneepoint's, so the scenario model and the
//! comparison both read it downward; layering the settings onto a comparison's options is
//! `compare`'s business.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A compared metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Median latency.
    P50,
    /// 95th percentile latency.
    P95,
    /// 99th percentile latency.
    P99,
    /// Mean latency.
    Mean,
    /// Largest latency.
    Max,
    /// Completed requests (or transactions) per second.
    Throughput,
    /// Failed / completed.
    ErrorRate,
}

impl Metric {
    /// Every metric, in display order.
    pub const ALL: [Self; 7] = [
        Self::P50,
        Self::P95,
        Self::P99,
        Self::Mean,
        Self::Max,
        Self::Throughput,
        Self::ErrorRate,
    ];

    /// The key used in flags and files (`p95`, `error_rate`).
    pub fn key(self) -> &'static str {
        match self {
            Self::P50 => "p50",
            Self::P95 => "p95",
            Self::P99 => "p99",
            Self::Mean => "mean",
            Self::Max => "max",
            Self::Throughput => "throughput",
            Self::ErrorRate => "error_rate",
        }
    }

    /// The unit values of this metric are in.
    pub fn unit(self) -> Unit {
        match self {
            Self::Throughput => Unit::PerSecond,
            Self::ErrorRate => Unit::Ratio,
            _ => Unit::Microseconds,
        }
    }

    /// Whether values are latencies, to which a comparison's absolute latency floor applies.
    pub fn is_latency(self) -> bool {
        self.unit() == Unit::Microseconds
    }

    /// Whether a higher value is worse (latency, error rate) or better (throughput).
    pub fn higher_is_worse(self) -> bool {
        self != Self::Throughput
    }

    /// The quantile of a percentile metric.
    pub(crate) fn quantile(self) -> Option<f64> {
        match self {
            Self::P50 => Some(0.50),
            Self::P95 => Some(0.95),
            Self::P99 => Some(0.99),
            _ => None,
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// An unknown metric name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown metric `{0}`; expected one of p50, p95, p99, mean, max, throughput, error_rate")]
pub struct UnknownMetric(pub String);

impl FromStr for Metric {
    type Err = UnknownMetric;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let key = s.trim().to_ascii_lowercase().replace('-', "_");
        Self::ALL
            .into_iter()
            .find(|m| m.key() == key || (key == "errors" && *m == Self::ErrorRate))
            .ok_or_else(|| UnknownMetric(s.to_owned()))
    }
}

/// Unit of a metric's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Microseconds.
    Microseconds,
    /// Per second.
    PerSecond,
    /// A fraction between 0 and 1.
    Ratio,
}

impl Unit {
    /// A value for people: `12.3 ms`, `850 µs`, `512.4/s`, `0.12 %`.
    pub fn format(self, v: f64) -> String {
        match self {
            Self::Microseconds if v.abs() >= 1_000_000.0 => format!("{:.2} s", v / 1e6),
            Self::Microseconds if v.abs() >= 1_000.0 => format!("{:.1} ms", v / 1e3),
            Self::Microseconds => format!("{v:.0} µs"),
            Self::PerSecond => format!("{v:.1}/s"),
            Self::Ratio => format!("{:.2} %", v * 100.0),
        }
    }

    /// A signed difference for people: `+1.2 ms`, `−0.05 %`.
    pub fn format_delta(self, v: f64) -> String {
        let sign = if v < 0.0 { "−" } else { "+" };
        format!("{sign}{}", self.format(v.abs()))
    }
}

/// Settings of a comparison as one source gives them: every field optional.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CompareSettings {
    /// Noise floor of every metric (0.05 = 5 %).
    pub noise_floor: Option<f64>,
    /// Noise floors of single metrics (applied after [`Self::noise_floor`]).
    pub noise_floors: BTreeMap<Metric, f64>,
    /// Absolute noise floor of latency metrics.
    pub min_latency_change: Option<Duration>,
    /// Largest allowed relative regression, per metric.
    pub budgets: BTreeMap<Metric, f64>,
    /// Two-sided confidence of the intervals.
    pub confidence: Option<f64>,
    /// Metrics that take part in the gate (replaces the lower layer's list).
    pub gate: Option<Vec<Metric>>,
    /// Gate request scopes too.
    pub gate_requests: Option<bool>,
    /// Compare intended-start latency.
    pub intended: Option<bool>,
    /// Bootstrap replicates per percentile.
    pub resamples: Option<usize>,
    /// Seed of the bootstrap.
    pub seed: Option<u64>,
}

impl CompareSettings {
    /// Whether no field is set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Fewest bootstrap replicates a comparison accepts.
pub const MIN_RESAMPLES: usize = 100;
