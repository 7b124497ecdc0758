//! Capacity: measured load steps → scalability fit, knee, max sustainable throughput.
//!
//! Job: turn the steps of a stepped-load search (or points from a CSV) into a
//! [`CapacityReport`] — the `capacity.json` format — with a Universal Scalability Law fit
//! ([`usl`]), the knee of the throughput curve ([`knee`]), the highest throughput that met every
//! SLA, and a Little's-law consistency check per step. [`search`] drives the steps through a
//! [`StepRunner`]; [`crate::step_runner`] implements it on the run engine, outside these models.
//!
//! Invariant: no I/O and no clock here, and nothing of kneepoint's is imported but `results` and `error`
//! (the step runner that runs load lives in `crate::step_runner`). Files are
//! read and written by the caller (the search hands each updated report to a callback); time
//! caps use the elapsed time each step reports.

pub mod knee;
pub mod points;
pub mod search;
pub mod summary;
pub mod usl;

use serde::{Deserialize, Serialize};

use crate::results::{RunResults, SlaVerdict};

pub use knee::{Knee, KneeOptions, NoKnee, kneedle};
pub use search::{
    Growth, SearchError, SearchOptions, StepError, StepRunner, StepSpec, StopReason, search,
};
pub use usl::{Estimate, FitError, FitOptions, FittedPoint, LoadPoint, Peak, UslFit, fit_usl};

/// Version of the `capacity.json` format written by this build.
pub const CAPACITY_SCHEMA_VERSION: u32 = 1;

/// Whether steps add users (closed model) or arrivals per second (open model).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SearchModel {
    /// Each step runs a fixed number of looping users.
    Closed,
    /// Each step offers a fixed arrival rate.
    Open,
}

impl SearchModel {
    /// Unit of a step's load, for people.
    pub fn load_unit(self) -> &'static str {
        match self {
            Self::Closed => "users",
            Self::Open => "arrivals/s",
        }
    }
}

/// What one step measured (during its hold, after the warm-up).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepMeasurement {
    /// Achieved throughput, requests per second.
    pub throughput_rps: f64,
    /// Mean requests in flight, when the engine measured it (otherwise the load is used).
    pub concurrency: Option<f64>,
    /// Median latency, ms.
    pub p50_ms: Option<f64>,
    /// 95th percentile latency, ms.
    pub p95_ms: Option<f64>,
    /// 99th percentile latency, ms.
    pub p99_ms: Option<f64>,
    /// Mean latency, ms (what Little's law needs).
    pub mean_ms: Option<f64>,
    /// Mean think time between a user's requests, ms (0 when none).
    pub think_ms: f64,
    /// Errors / requests.
    pub error_rate: f64,
    /// Requests measured.
    pub requests: u64,
    /// Every SLA's verdict for this step.
    pub slas: Vec<SlaVerdict>,
    /// Wall time the step took including warm-up, seconds.
    pub elapsed_s: f64,
    /// The step's full results (histograms, errors), when it came from a run.
    pub results: Option<Box<RunResults>>,
    /// Why the generator, not the target, limited this step (its latency and throughput are
    /// the generator's); `None` when it did not, or was not measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator_bound: Option<String>,
}

impl StepMeasurement {
    /// Numbers of a step from the results of its hold period (overall scope).
    pub fn from_results(results: RunResults, elapsed_s: f64) -> Self {
        let ms = |us: u64| {
            #[allow(clippy::cast_precision_loss)] // latencies are far below 2^52 µs
            let v = us as f64 / 1000.0;
            v
        };
        let overall = results.overall();
        let (throughput_rps, error_rate, requests, p50, p95, p99, mean) =
            overall.map_or((0.0, 0.0, 0, None, None, None, None), |s| {
                let l = &s.stats.latency_us;
                (
                    s.stats.throughput_rps,
                    s.stats.error_rate,
                    s.stats.requests,
                    Some(ms(l.p50)),
                    Some(ms(l.p95)),
                    Some(ms(l.p99)),
                    Some(l.mean / 1000.0),
                )
            });
        let think_ms = match &results.profile {
            crate::results::LoadProfile::Closed {
                think_time_us: Some((lo, hi)),
                ..
            } => ms(lo.saturating_add(*hi)) / 2.0,
            _ => 0.0,
        };
        Self {
            throughput_rps,
            concurrency: None,
            p50_ms: p50,
            p95_ms: p95,
            p99_ms: p99,
            mean_ms: mean,
            think_ms,
            error_rate,
            requests,
            slas: results.slas.clone(),
            elapsed_s,
            generator_bound: results
                .generator
                .as_ref()
                .filter(|g| g.bound)
                .map(|g| g.reasons.join("; ")),
            results: Some(Box::new(results)),
        }
    }

    /// Whether every SLA held (true when there are none).
    pub fn sla_passed(&self) -> bool {
        self.slas.iter().all(|s| s.passed)
    }
}

/// One completed step as kept in `capacity.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// 0-based step number.
    pub index: usize,
    /// Load the step ran at (users or arrivals per second).
    pub load: f64,
    /// Warm-up before measuring, seconds.
    pub warmup_s: f64,
    /// Measured hold, seconds.
    pub hold_s: f64,
    /// Whether every SLA held.
    pub sla_passed: bool,
    /// What it measured.
    pub measured: StepMeasurement,
}

impl StepRecord {
    /// The concurrency the fit uses: users (closed), or mean in flight (open: measured, or
    /// throughput × mean latency by Little's law, falling back to the offered rate).
    pub fn fit_load(&self, model: SearchModel) -> f64 {
        match model {
            SearchModel::Closed => self.load,
            SearchModel::Open => self
                .measured
                .concurrency
                .or_else(|| {
                    self.measured
                        .mean_ms
                        .map(|r| self.measured.throughput_rps * r / 1000.0)
                })
                .filter(|n| *n > 0.0)
                .unwrap_or(self.load),
        }
    }
}

/// Result of trying to fit the USL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum FitOutcome {
    /// The data support a fit.
    Fitted(Box<UslFit>),
    /// They do not; `reason` says why.
    CannotFit {
        /// Plain-language reason.
        reason: String,
    },
}

impl FitOutcome {
    /// The fit, if there is one.
    pub fn fit(&self) -> Option<&UslFit> {
        match self {
            Self::Fitted(f) => Some(f),
            Self::CannotFit { .. } => None,
        }
    }
}

/// Highest throughput that met every SLA.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MaxSustainable {
    /// Step (index) that achieved it.
    pub step: usize,
    /// Its load.
    pub load: f64,
    /// Its measured throughput, req/s (the conservative figure plans should use).
    pub measured_rps: f64,
    /// First step that breached an SLA, if any.
    pub first_failing_step: Option<usize>,
    /// Estimated load where the first SLA gives way, between the two steps.
    pub estimated_load: Option<f64>,
    /// Throughput at that load (from the USL fit, or linear between the steps).
    pub estimated_rps: Option<f64>,
    /// SLA that limits (breaks first), when known.
    pub limited_by: Option<String>,
    /// How the estimate was made, or why there is none.
    pub note: String,
}

/// Little's law check for one closed-model step: users ≈ X · (R + Z).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LittleCheck {
    /// Step index.
    pub step: usize,
    /// Users configured (or concurrency measured).
    pub users: f64,
    /// X · (R + Z): the users the measured throughput and latency imply.
    pub implied: f64,
    /// implied / users.
    pub ratio: f64,
    /// Within the tolerance.
    pub consistent: bool,
}

/// Analysis settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AnalysisOptions {
    /// USL fit acceptance.
    pub fit: FitOptions,
    /// Kneedle sensitivity.
    pub knee: KneeOptions,
    /// Relative difference between users and X·(R+Z) that is flagged (0.2 = 20 %).
    pub little_tolerance: f64,
    /// Points of the fitted curve kept for plots.
    pub curve_points: usize,
}

impl Default for AnalysisOptions {
    fn default() -> Self {
        Self {
            fit: FitOptions::default(),
            knee: KneeOptions::default(),
            little_tolerance: 0.2,
            curve_points: 60,
        }
    }
}

/// Everything derived from the steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    /// USL fit or the reason there is none.
    pub fit: FitOutcome,
    /// Fitted curve with its confidence band, 0 … 1.25 × the highest load (empty without a fit).
    pub curve: Vec<FittedPoint>,
    /// Knee of the measured throughput curve.
    pub knee: Option<Knee>,
    /// Why there is no knee.
    pub knee_note: Option<String>,
    /// Highest throughput within every SLA.
    pub max_sustainable: Option<MaxSustainable>,
    /// Little's law per closed-model step.
    pub little: Vec<LittleCheck>,
    /// Things a reader must know (inconsistent steps, no SLAs, first step already failing…).
    pub warnings: Vec<String>,
}

/// The `capacity.json` document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapacityReport {
    /// Format version; see [`CAPACITY_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Version of kneepoint that wrote it.
    pub kneepoint_version: String,
    /// Scenario name, or the points file.
    pub scenario: String,
    /// `search` or `points`.
    pub source: String,
    /// Closed or open steps.
    pub model: SearchModel,
    /// Search settings, for a search.
    pub settings: Option<search::SearchSettings>,
    /// Completed steps in order.
    pub steps: Vec<StepRecord>,
    /// Fit, knee, max sustainable throughput.
    pub analysis: Analysis,
    /// Why the search stopped; `None` while it runs.
    pub stop: Option<StopReason>,
}

impl CapacityReport {
    /// A report over `steps`, analysed now.
    pub fn new(
        scenario: impl Into<String>,
        source: impl Into<String>,
        model: SearchModel,
        steps: Vec<StepRecord>,
        opts: &AnalysisOptions,
    ) -> Self {
        let analysis = analyze(&steps, model, opts);
        Self {
            schema_version: CAPACITY_SCHEMA_VERSION,
            kneepoint_version: env!("CARGO_PKG_VERSION").into(),
            scenario: scenario.into(),
            source: source.into(),
            model,
            settings: None,
            steps,
            analysis,
            stop: None,
        }
    }

    /// The throughput one instance sustains within its SLAs, for planning: the measured max
    /// sustainable throughput, else (no SLAs were checked) the best measured throughput.
    pub fn capacity_rps(&self) -> Option<f64> {
        self.analysis
            .max_sustainable
            .as_ref()
            .map(|m| m.measured_rps)
            .filter(|r| *r > 0.0)
    }
}

/// Fit, knee, max sustainable throughput and Little's-law checks over `steps`.
pub fn analyze(steps: &[StepRecord], model: SearchModel, opts: &AnalysisOptions) -> Analysis {
    let points: Vec<LoadPoint> = steps
        .iter()
        .map(|s| LoadPoint {
            load: s.fit_load(model),
            throughput_rps: s.measured.throughput_rps,
        })
        .collect();
    let mut warnings = Vec::new();
    let fit = match fit_usl(&points, &opts.fit) {
        Ok(f) => FitOutcome::Fitted(Box::new(f)),
        Err(e) => FitOutcome::CannotFit {
            reason: e.to_string(),
        },
    };
    let max_load = points.iter().map(|p| p.load).fold(0.0, f64::max);
    let curve = fit
        .fit()
        .map(|f| f.curve(max_load * 1.25, opts.curve_points))
        .unwrap_or_default();
    let (knee, knee_note) = match kneedle(&points, &opts.knee) {
        Ok(k) => (Some(k), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let max_sustainable = max_sustainable(steps, model, fit.fit(), &mut warnings);
    let little = if model == SearchModel::Closed {
        little_checks(steps, opts.little_tolerance)
    } else {
        Vec::new()
    };
    for c in little.iter().filter(|c| !c.consistent) {
        let why = if c.ratio < 1.0 {
            "users were idle part of the time: the load generator may be saturated, or think time or connection waits are not accounted for"
        } else {
            "more requests in flight than users: retries, or latency under-measured"
        };
        warnings.push(format!(
            "step {}: Little's law gives {:.1} busy users for {:.0} configured ({:+.0} %); {why}",
            c.step,
            c.implied,
            c.users,
            (c.ratio - 1.0) * 100.0
        ));
    }
    Analysis {
        fit,
        curve,
        knee,
        knee_note,
        max_sustainable,
        little,
        warnings,
    }
}

fn little_checks(steps: &[StepRecord], tolerance: f64) -> Vec<LittleCheck> {
    steps
        .iter()
        .filter_map(|s| {
            let r = s.measured.mean_ms?;
            let users = s.measured.concurrency.unwrap_or(s.load);
            if users.is_nan() || users <= 0.0 {
                return None;
            }
            let implied = s.measured.throughput_rps * (r + s.measured.think_ms) / 1000.0;
            let ratio = implied / users;
            Some(LittleCheck {
                step: s.index,
                users,
                implied,
                ratio,
                consistent: (ratio - 1.0).abs() <= tolerance,
            })
        })
        .collect()
}

/// How far a failed SLA's actual value lies beyond its threshold, relative to the threshold.
pub(crate) fn breach_excess(v: &SlaVerdict) -> Option<f64> {
    if v.passed {
        return None;
    }
    let Some(actual) = v.actual else {
        return Some(f64::INFINITY);
    };
    if v.threshold.abs() < f64::EPSILON {
        return Some(f64::INFINITY);
    }
    let excess = match v.comparison.as_str() {
        ">" | ">=" => (v.threshold - actual) / v.threshold.abs(),
        _ => (actual - v.threshold) / v.threshold.abs(),
    };
    Some(excess.max(0.0))
}

fn max_sustainable(
    steps: &[StepRecord],
    model: SearchModel,
    fit: Option<&UslFit>,
    warnings: &mut Vec<String>,
) -> Option<MaxSustainable> {
    if steps.is_empty() {
        return None;
    }
    if steps.iter().all(|s| s.measured.slas.is_empty()) {
        warnings.push(
            "no SLAs were checked: the max sustainable throughput is the best measured throughput"
                .into(),
        );
    }
    let first_fail = steps.iter().position(|s| !s.sla_passed);
    let passing = &steps[..first_fail.unwrap_or(steps.len())];
    let Some(best) = passing.iter().max_by(|a, b| {
        a.measured
            .throughput_rps
            .total_cmp(&b.measured.throughput_rps)
    }) else {
        warnings.push(
            "the first step already breached an SLA: start the search at a lower load".into(),
        );
        return None;
    };
    let mut out = MaxSustainable {
        step: best.index,
        load: best.load,
        measured_rps: best.measured.throughput_rps,
        first_failing_step: first_fail.map(|i| steps[i].index),
        estimated_load: None,
        estimated_rps: None,
        limited_by: None,
        note: String::new(),
    };
    let Some(fail) = first_fail.map(|i| &steps[i]) else {
        out.note = "every step met the SLAs: capacity is at least this".into();
        return Some(out);
    };
    let Some(pass) = passing.last() else {
        return Some(out);
    };
    // The SLA that gives way first, by linear interpolation of each breached SLA's value
    // between the last passing step and the first failing one.
    let mut crossing: Option<(f64, String)> = None;
    for v in fail.measured.slas.iter().filter(|v| !v.passed) {
        let before = pass.measured.slas.iter().find(|p| p.name == v.name);
        let (Some(a0), Some(a1)) = (before.and_then(|b| b.actual), v.actual) else {
            continue;
        };
        if (a1 - a0).abs() < f64::EPSILON {
            continue;
        }
        let f = ((v.threshold - a0) / (a1 - a0)).clamp(0.0, 1.0);
        if crossing.as_ref().is_none_or(|(g, _)| f < *g) {
            crossing = Some((f, v.name.clone()));
        }
    }
    let Some((f, name)) = crossing else {
        out.note = format!(
            "step {} breached an SLA without a measured value to interpolate",
            fail.index
        );
        return Some(out);
    };
    let load = pass.load + f * (fail.load - pass.load);
    let linear = pass.measured.throughput_rps
        + f * (fail.measured.throughput_rps - pass.measured.throughput_rps);
    let (rps, how) = match (model, fit) {
        (SearchModel::Closed, Some(fit)) => (fit.throughput(load), "USL fit"),
        // Open steps are fitted on concurrency, not on the offered rate, so interpolate.
        (SearchModel::Open, _) | (SearchModel::Closed, None) => {
            (linear, "linear between the steps")
        }
    };
    out.estimated_load = Some(load);
    out.estimated_rps = Some(rps);
    out.limited_by = Some(name.clone());
    out.note = format!(
        "`{name}` gives way near load {load:.1} (interpolated between steps {} and {}); throughput there ≈ {rps:.1} req/s ({how})",
        pass.index, fail.index
    );
    Some(out)
}

#[cfg(test)]
mod tests;
