//! Compare a baseline and a candidate run: per scope and metric, the difference with a confidence
//! interval and a verdict a release gate can trust.
//!
//! Invariant: no I/O and no clock; the same inputs and [`CompareOptions::seed`] give the same
//! [`Comparison`]. A verdict other than [`Verdict::NoChange`] needs both a change beyond the
//! metric's noise floor (for latency metrics, beyond [`CompareOptions::min_latency_change`] too)
//! and an interval that excludes zero (except `max`, which has no interval:
//! it is judged by the noise floor alone and is not gated unless given a budget). A metric with
//! too few observations for an interval (see [`stats`]) gets no verdict and is not gated.
//!
//! Statistical methods are described in [`stats`]. Scopes are matched by kind and name; those in
//! only one run are listed in the result. Request scopes are compared but, by default, not gated:
//! each gated metric is one more chance of a false alarm, and request scopes are the most numerous.
//! Latency comes from the actual-send histograms unless [`CompareOptions::intended`] asks for the
//! intended-start ones (open model, coordinated-omission corrected) and both runs have them.
//!
//! Measured on simulated runs (log-normal latencies with a 20 ms median, Poisson arrivals, 1 %
//! errors, overall plus two transactions, 18 gated metrics): A/A pairs fail the gate in 3.5 % of
//! 200 pairs of 20 s × 100/s runs and in 1 of 60 pairs of 60 s × 500/s runs. At 60 s × 500/s the
//! P95 interval is about ±3 % wide, so with the default 5 % noise floor a P95 regression is
//! flagged in 16 of 20 pairs at +6 % and in all at +6.5 %; without a noise floor, in all at +5 %.
//! At that median the 1 ms absolute floor is below the relative one for every latency metric;
//! it matters for sub-millisecond services, whose latencies move by tens of percent between
//! identical runs on a shared machine while their intervals stay narrow.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use rand::SeedableRng as _;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use crate::results::{ResultsError, RunResults, RunStatus, ScopeKind, ScopeResults};
use crate::values::trim_float;

mod junit;
mod markdown;
mod record;
use record::CURVE_QUANTILES;
mod settings;
pub mod stats;

pub use crate::settings::{CompareSettings, MIN_RESAMPLES, Metric, Unit, UnknownMetric};
pub use crate::values::{
    check_confidence, fraction_from_number, parse_fraction, parse_min_latency_change,
};
pub use junit::to_junit;
pub use markdown::to_markdown;
pub use record::{
    Comparison, CurvePoint, Gate, Method, MetricComparison, RunRef, ScopeComparison, ScopeRef,
    Summary, Verdict,
};
pub use stats::Interval;

/// Settings of a comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareOptions {
    /// Relative changes at or below this are never a regression or improvement (0.05 = 5 %).
    pub noise_floor: f64,
    /// Per-metric noise floors replacing [`Self::noise_floor`].
    pub noise_floors: BTreeMap<Metric, f64>,
    /// Absolute noise floor of latency metrics: a latency change at or below it is never a
    /// regression or improvement, however large relative to a fast baseline (1 ms; zero turns
    /// it off). Stored in `compare.json` as whole microseconds.
    #[serde(rename = "min_latency_change_us", with = "micros", default)]
    pub min_latency_change: Duration,
    /// Largest allowed relative regression per metric; a regression beyond it fails the gate.
    /// A gated metric without a budget fails the gate on any regression.
    pub budgets: BTreeMap<Metric, f64>,
    /// Two-sided confidence of the intervals (0.95).
    pub confidence: f64,
    /// Bootstrap replicates per percentile.
    pub resamples: usize,
    /// Seed of the bootstrap.
    pub seed: u64,
    /// Gate request scopes too (by default only overall and transactions are gated).
    pub gate_requests: bool,
    /// Metrics that take part in the gate (every metric but `max` by default); a metric with a
    /// budget is gated too. Fewer gated metrics also narrow the simultaneous intervals.
    pub gate_metrics: Vec<Metric>,
    /// Compare the intended-start (coordinated-omission corrected) latency of open-model runs
    /// when both runs have it; otherwise the latency from the actual send.
    pub intended: bool,
    /// Make the gated intervals simultaneous (Bonferroni): each gated metric's interval is at
    /// confidence `1 − (1 − confidence) / k` for `k` gated metrics, so the chance that noise
    /// alone fails the gate stays below `1 − confidence` however many metrics are gated.
    pub simultaneous: bool,
}

impl Default for CompareOptions {
    fn default() -> Self {
        Self {
            noise_floor: 0.05,
            noise_floors: BTreeMap::new(),
            min_latency_change: DEFAULT_MIN_LATENCY_CHANGE,
            budgets: BTreeMap::new(),
            confidence: 0.95,
            resamples: 1000,
            seed: 0x6b6e_6565_706f_696e,
            gate_requests: false,
            gate_metrics: Metric::ALL
                .into_iter()
                .filter(|m| *m != Metric::Max)
                .collect(),
            intended: false,
            simultaneous: true,
        }
    }
}

/// Default of [`CompareOptions::min_latency_change`]: sub-millisecond latencies move by tens of
/// percent between identical runs on a shared machine.
pub const DEFAULT_MIN_LATENCY_CHANGE: Duration = Duration::from_millis(1);

/// A [`Duration`] as whole microseconds in JSON.
mod micros {
    use std::time::Duration;

    use serde::{Deserialize as _, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_micros)
    }
}

/// An absolute latency floor for people: `1 ms`, `2.5 ms`, `250 µs`, `none`.
pub fn format_min_latency_change(d: Duration) -> String {
    let us = d.as_micros();
    if us == 0 {
        "none".to_owned()
    } else if us >= 1000 {
        #[allow(clippy::cast_precision_loss)]
        let ms = us as f64 / 1e3;
        format!("{} ms", trim_float(ms, 3))
    } else {
        format!("{us} µs")
    }
}

impl CompareOptions {
    /// Absolute noise floor of one metric in its unit (µs), for latency metrics only.
    pub fn min_change_of(&self, metric: Metric) -> Option<f64> {
        #[allow(clippy::cast_precision_loss)]
        metric
            .is_latency()
            .then_some(self.min_latency_change.as_micros() as f64)
    }

    /// Noise floor of one metric.
    pub fn noise_floor_of(&self, metric: Metric) -> f64 {
        self.noise_floors
            .get(&metric)
            .copied()
            .unwrap_or(self.noise_floor)
    }

    fn validate(&self) -> Result<(), CompareError> {
        let bad = |what: &str, value: f64| CompareError::Options(format!("{what} is {value}"));
        if !(self.confidence > 0.5 && self.confidence < 1.0) {
            return Err(bad(
                "confidence must lie between 0.5 and 1 (exclusive) but",
                self.confidence,
            ));
        }
        for (name, v) in std::iter::once(("noise floor", self.noise_floor))
            .chain(self.noise_floors.values().map(|v| ("noise floor", *v)))
            .chain(self.budgets.values().map(|v| ("budget", *v)))
        {
            if !(v.is_finite() && v >= 0.0) {
                return Err(bad(
                    &format!("a {name} must be a non-negative fraction but"),
                    v,
                ));
            }
        }
        if self.resamples < MIN_RESAMPLES {
            return Err(CompareError::Options(format!(
                "at least 100 resamples are needed but {} were asked for",
                self.resamples
            )));
        }
        Ok(())
    }
}

/// Which of the two runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The reference run.
    Baseline,
    /// The run under test.
    Candidate,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Baseline => "baseline",
            Self::Candidate => "candidate",
        })
    }
}

/// Why two runs cannot be compared.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    /// The runs are of different scenarios.
    #[error("the baseline ran scenario `{baseline}` but the candidate ran `{candidate}`")]
    ScenarioMismatch {
        /// Baseline scenario name.
        baseline: String,
        /// Candidate scenario name.
        candidate: String,
    },
    /// No scope (not even `overall`) is in both runs.
    #[error("the runs have no scope in common")]
    NoCommonScope,
    /// A stored histogram could not be decoded.
    #[error("the {side} histogram of scope `{scope}` cannot be read")]
    Decode {
        /// Which run.
        side: Side,
        /// Which scope.
        scope: String,
        /// Cause.
        #[source]
        source: ResultsError,
    },
    /// Options out of range.
    #[error("invalid compare options: {0}")]
    Options(String),
    /// A JUnit report could not be serialized.
    #[error("cannot write the JUnit report: {0}")]
    Junit(String),
}

/// Compare `candidate` against `baseline`.
pub fn compare(
    baseline: &RunResults,
    candidate: &RunResults,
    opts: &CompareOptions,
) -> Result<Comparison, CompareError> {
    opts.validate()?;
    if baseline.scenario.name != candidate.scenario.name {
        return Err(CompareError::ScenarioMismatch {
            baseline: baseline.scenario.name.clone(),
            candidate: candidate.scenario.name.clone(),
        });
    }
    let mut warnings = warnings(baseline, candidate);
    let rates = (PerSecond::of(baseline), PerSecond::of(candidate));
    let total = (
        baseline.overall().map_or(0, |s| s.stats.requests),
        candidate.overall().map_or(0, |s| s.stats.requests),
    );

    let same = |a: &ScopeResults, b: &ScopeResults| a.kind == b.kind && a.name == b.name;
    let gated_scopes = candidate
        .scopes
        .iter()
        .filter_map(|c| baseline.scopes.iter().find(|b| same(b, c)).map(|b| (b, c)))
        .filter(|(b, c)| gates_scope(b, c, opts))
        .count();
    let gated_per_scope = Metric::ALL
        .iter()
        .filter(|m| gates_metric(**m, opts))
        .count();
    let gated_confidence = if opts.simultaneous {
        #[allow(clippy::cast_precision_loss)]
        let k = (gated_scopes * gated_per_scope).max(1) as f64;
        1.0 - (1.0 - opts.confidence) / k
    } else {
        opts.confidence
    };
    let mut scopes = Vec::new();
    let mut only_in_candidate = Vec::new();
    for c in &candidate.scopes {
        match baseline.scopes.iter().find(|b| same(b, c)) {
            Some(b) => {
                if b.stats.requests == 0 || c.stats.requests == 0 {
                    let side = if b.stats.requests == 0 {
                        Side::Baseline
                    } else {
                        Side::Candidate
                    };
                    warnings.push(format!(
                        "scope `{}` saw no traffic in the {side} run; it is not gated",
                        c.name
                    ));
                }
                let ctx = ScopeContext {
                    rates: (&rates.0, &rates.1),
                    totals: total,
                    opts,
                    gated_confidence,
                };
                scopes.push(compare_scope(b, c, &ctx)?);
            }
            None => only_in_candidate.push(scope_ref(c)),
        }
    }
    let only_in_baseline = baseline
        .scopes
        .iter()
        .filter(|b| !candidate.scopes.iter().any(|c| same(b, c)))
        .map(scope_ref)
        .collect();
    if scopes.is_empty() {
        return Err(CompareError::NoCommonScope);
    }
    for s in scopes.iter().filter(|s| s.gated) {
        let unjudged: Vec<&str> = s
            .metrics
            .iter()
            .filter(|m| m.interval.is_none() && m.metric != Metric::Max)
            .filter(|m| gates_metric(m.metric, opts))
            .map(|m| m.metric.key())
            .collect();
        if !unjudged.is_empty() {
            warnings.push(format!(
                "scope `{}` has too few requests ({} vs {}) to judge {}; not gated",
                s.name,
                s.baseline_count,
                s.candidate_count,
                unjudged.join(", ")
            ));
        }
    }

    let gated: Vec<&MetricComparison> = scopes
        .iter()
        .flat_map(|s| &s.metrics)
        .filter(|m| m.gated())
        .collect();
    let failed = gated.iter().filter(|m| m.gate == Gate::Fail).count();
    let summary = Summary {
        passed: failed == 0,
        gated: gated.len(),
        failed,
        regressions_within_budget: gated
            .iter()
            .filter(|m| m.verdict == Verdict::Regression && m.gate == Gate::Pass)
            .count(),
        improvements: gated
            .iter()
            .filter(|m| m.verdict == Verdict::Improvement)
            .count(),
    };
    Ok(Comparison {
        scenario: candidate.scenario.name.clone(),
        baseline: RunRef::of(baseline),
        candidate: RunRef::of(candidate),
        options: opts.clone(),
        summary,
        scopes,
        only_in_baseline,
        only_in_candidate,
        warnings,
        settings_from: Vec::new(),
    })
}

fn scope_ref(s: &ScopeResults) -> ScopeRef {
    ScopeRef {
        kind: s.kind,
        name: s.name.clone(),
        count: s.stats.requests,
    }
}

fn warnings(baseline: &RunResults, candidate: &RunResults) -> Vec<String> {
    let mut out = Vec::new();
    if baseline.scenario.sha256 != candidate.scenario.sha256 {
        out.push(
            "the scenario file changed between the runs (different SHA-256): \
             differences may come from the scenario, not the target"
                .to_owned(),
        );
    }
    if baseline.profile != candidate.profile {
        out.push("the load profiles differ".to_owned());
    }
    for (side, r) in [(Side::Baseline, baseline), (Side::Candidate, candidate)] {
        if r.status != RunStatus::Completed {
            out.push(format!(
                "the {side} run did not complete ({})",
                status_text(&r.status)
            ));
        }
    }
    for (side, r) in [(Side::Baseline, baseline), (Side::Candidate, candidate)] {
        if let Some(g) = r.generator.as_ref().filter(|g| g.bound) {
            out.push(format!(
                "the {side} run was generator-bound ({}): its latencies include the generator's \
                 own queueing, so differences may be the generator's, not the target's",
                g.reasons.join("; ")
            ));
        }
    }
    let (db, dc) = (baseline.duration_s, candidate.duration_s);
    if db > 0.0 && dc > 0.0 && (db / dc - 1.0).abs() > 0.1 {
        out.push(format!(
            "the runs lasted {db:.0} s and {dc:.0} s: stages and warm-up weigh differently"
        ));
    }
    out
}

fn status_text(s: &RunStatus) -> String {
    match s {
        RunStatus::InProgress => "still in progress".to_owned(),
        RunStatus::Aborted { reason } | RunStatus::Failed { reason } => {
            format!("{}: {reason}", s.state())
        }
        RunStatus::Completed | RunStatus::Interrupted => s.state().to_owned(),
    }
}

/// Per-second request counts of a run's overall scope.
#[derive(Debug, Clone, Copy)]
struct PerSecond {
    mean: f64,
    variance: f64,
    seconds: f64,
}

impl PerSecond {
    fn of(r: &RunResults) -> Self {
        // The last second is usually cut short by the end of the run; it would read as a dip.
        #[allow(clippy::cast_precision_loss)]
        let full: Vec<f64> = r
            .series
            .iter()
            .filter(|s| f64::from(s.t) + 1.0 <= r.duration_s + 1e-6)
            .map(|s| s.requests as f64)
            .collect();
        #[allow(clippy::cast_precision_loss)]
        if let Some((mean, variance)) = stats::mean_variance(&full) {
            Self {
                mean,
                variance,
                seconds: full.len() as f64,
            }
        } else {
            // Without a series, count as a Poisson process: the variance equals the mean.
            let requests = r.overall().map_or(0, |s| s.stats.requests) as f64;
            let seconds = r.duration_s.max(1.0);
            Self {
                mean: requests / seconds,
                variance: requests / seconds,
                seconds,
            }
        }
    }

    /// The per-second sample of a scope holding `share` of the overall requests.
    fn scope(self, share: f64) -> stats::MeanSample {
        // Each overall request falls in the scope with probability `share`; by the law of total
        // variance the scope's per-second count has variance s²·Var(N) + s(1 − s)·E(N).
        let s = share.clamp(0.0, 1.0);
        stats::MeanSample {
            variance: s * s * self.variance + s * (1.0 - s) * self.mean,
            n: self.seconds,
        }
    }
}

struct ScopeContext<'a> {
    rates: (&'a PerSecond, &'a PerSecond),
    totals: (u64, u64),
    opts: &'a CompareOptions,
    gated_confidence: f64,
}

/// Request scopes only on request; never a scope without traffic on one side, whose latencies
/// are not comparable (the scope is still listed, with a warning).
fn gates_scope(b: &ScopeResults, c: &ScopeResults, opts: &CompareOptions) -> bool {
    (b.kind != ScopeKind::Request || opts.gate_requests)
        && b.stats.requests > 0
        && c.stats.requests > 0
}

/// Max has no interval, so by default only an explicit budget makes it part of the gate.
fn gates_metric(metric: Metric, opts: &CompareOptions) -> bool {
    opts.gate_metrics.contains(&metric) || opts.budgets.contains_key(&metric)
}

fn compare_scope(
    b: &ScopeResults,
    c: &ScopeResults,
    ctx: &ScopeContext<'_>,
) -> Result<ScopeComparison, CompareError> {
    let intended =
        ctx.opts.intended && b.intended_histogram.is_some() && c.intended_histogram.is_some();
    let decode = |side: Side, s: &ScopeResults| {
        let h = match (&s.intended_histogram, intended) {
            (Some(h), true) => h,
            _ => &s.histogram,
        };
        h.decode().map_err(|source| CompareError::Decode {
            side,
            scope: s.name.clone(),
            source,
        })
    };
    let (hb, hc) = (decode(Side::Baseline, b)?, decode(Side::Candidate, c)?);
    let (eb, ec) = (
        stats::Empirical::from_histogram(&hb),
        stats::Empirical::from_histogram(&hc),
    );
    let opts = ctx.opts;
    let gated_scope = gates_scope(b, c, opts);
    let mut rng = StdRng::seed_from_u64(opts.seed ^ fnv1a(&b.name));

    let mut metrics = Vec::with_capacity(Metric::ALL.len());
    for metric in Metric::ALL {
        let gated = gated_scope && gates_metric(metric, opts);
        let confidence = if gated {
            ctx.gated_confidence
        } else {
            opts.confidence
        };
        #[allow(clippy::cast_precision_loss)]
        let (vb, vc, interval, method) = match metric {
            Metric::P50 | Metric::P95 | Metric::P99 => {
                let q = metric.quantile().unwrap_or(0.5);
                let v = |h: &hdrhistogram::Histogram<u64>| {
                    if h.is_empty() {
                        0.0
                    } else {
                        h.value_at_quantile(q) as f64
                    }
                };
                let (vb, vc) = (v(&hb), v(&hc));
                let i = stats::quantile_difference(
                    &eb,
                    &ec,
                    q,
                    vc - vb,
                    confidence,
                    opts.resamples,
                    &mut rng,
                );
                (vb, vc, i, Method::Bootstrap)
            }
            Metric::Mean => {
                let sample = |e: &stats::Empirical| stats::MeanSample {
                    variance: e.variance(),
                    n: e.len() as f64,
                };
                let (mb, mc) = (eb.mean(), ec.mean());
                let enough = eb.len().min(ec.len()) >= stats::MIN_FOR_MEAN;
                let i =
                    stats::welch(mc - mb, sample(&eb), sample(&ec), confidence).filter(|_| enough);
                (mb, mc, i, Method::WelchMean)
            }
            Metric::Max => (hb.max() as f64, hc.max() as f64, None, Method::None),
            Metric::Throughput => {
                let share = |n: u64, total: u64| {
                    if total == 0 {
                        1.0
                    } else {
                        n as f64 / total as f64
                    }
                };
                let sb = ctx.rates.0.scope(share(b.stats.requests, ctx.totals.0));
                let sc = ctx.rates.1.scope(share(c.stats.requests, ctx.totals.1));
                let (tb, tc) = (b.stats.throughput_rps, c.stats.throughput_rps);
                let i = stats::welch(tc - tb, sb, sc, confidence);
                (tb, tc, i, Method::WelchPerSecond)
            }
            Metric::ErrorRate => {
                let rate = |s: &ScopeResults| {
                    if s.stats.requests == 0 {
                        0.0
                    } else {
                        s.stats.errors as f64 / s.stats.requests as f64
                    }
                };
                let i = stats::newcombe(
                    b.stats.errors,
                    b.stats.requests,
                    c.stats.errors,
                    c.stats.requests,
                    confidence,
                );
                (rate(b), rate(c), i, Method::Newcombe)
            }
        };
        let method = if interval.is_some() {
            method
        } else {
            Method::None
        };
        let budget = opts.budgets.get(&metric).copied();
        // A metric without an interval cannot be judged, so it takes no part in the gate (max
        // aside, which never has one and is judged on its noise floor when budgeted).
        let gated = gated && (interval.is_some() || metric == Metric::Max);
        metrics.push(judge(
            Judged {
                metric,
                baseline: vb,
                candidate: vc,
                interval,
                confidence,
                method,
                noise_floor: opts.noise_floor_of(metric),
                min_change: opts.min_change_of(metric),
                budget,
            },
            gated,
        ));
    }

    let curve = if hb.is_empty() || hc.is_empty() {
        Vec::new()
    } else {
        CURVE_QUANTILES
            .iter()
            .map(|&q| CurvePoint {
                quantile: q,
                baseline_us: eb.quantile(q),
                candidate_us: ec.quantile(q),
            })
            .collect()
    };
    Ok(ScopeComparison {
        kind: c.kind,
        name: c.name.clone(),
        baseline_count: b.stats.requests,
        candidate_count: c.stats.requests,
        gated: gated_scope,
        intended,
        metrics,
        curve,
    })
}

struct Judged {
    metric: Metric,
    baseline: f64,
    candidate: f64,
    interval: Option<Interval>,
    confidence: f64,
    method: Method,
    noise_floor: f64,
    min_change: Option<f64>,
    budget: Option<f64>,
}

/// Verdict and gate of one metric.
fn judge(j: Judged, gated: bool) -> MetricComparison {
    let delta = j.candidate - j.baseline;
    let relative = if j.baseline != 0.0 {
        Some(delta / j.baseline.abs())
    } else if delta == 0.0 {
        Some(0.0)
    } else {
        None
    };
    let significant = j.interval.map(|i| i.excludes_zero());
    // A change from zero (new errors) is beyond any relative floor. A latency change must also
    // exceed the absolute floor, so a budget never fails on a change below it either.
    let beyond_floor = relative.is_none_or(|r| r.abs() > j.noise_floor)
        && j.min_change.is_none_or(|m| delta.abs() > m);
    // Without an interval (too few observations on a side) nothing is established, except for
    // `max`, which never has one and is judged on the noise floor alone.
    let established = significant.unwrap_or(j.metric == Metric::Max);
    let verdict = if !beyond_floor || !established {
        Verdict::NoChange
    } else if (delta > 0.0) == j.metric.higher_is_worse() {
        Verdict::Regression
    } else {
        Verdict::Improvement
    };
    let gate = if !gated {
        Gate::NotGated
    } else if verdict != Verdict::Regression {
        Gate::Pass
    } else {
        match (j.budget, relative) {
            (Some(budget), Some(r)) if r.abs() <= budget => Gate::Pass,
            _ => Gate::Fail,
        }
    };
    MetricComparison {
        metric: j.metric,
        unit: j.metric.unit(),
        baseline: j.baseline,
        candidate: j.candidate,
        delta,
        relative,
        relative_interval: j
            .interval
            .filter(|_| j.baseline > 0.0)
            .map(|i| i.scaled(j.baseline)),
        interval: j.interval,
        confidence: j.confidence,
        method: j.method,
        significant,
        noise_floor: j.noise_floor,
        min_change: j.min_change,
        budget: j.budget,
        verdict,
        gate,
    }
}

/// A stable hash of a scope name, so each scope's bootstrap stream does not depend on the order
/// or number of the other scopes.
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests;
