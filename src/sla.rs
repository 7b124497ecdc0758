//! SLA checking: the scenario's rules applied to measured results give one verdict each.
//!
//! Invariant: pure. No clock, no I/O; the same rules and results always give the same verdicts.
//! A scope that saw no traffic never passes: its verdict has `actual = None`, `passed = false`, and
//! a name that says why, so an empty run cannot slip through a CI gate.

use crate::results::{
    LatencySummary, OVERALL_SCOPE, RunResults, ScopeResults, SlaVerdict, UNIT_MICROS,
    UNIT_PER_SECOND, UNIT_RATIO,
};
use crate::scenario::model::{LatencyStat, Operator, Sla, SlaMetric};
use crate::values::trim_float;

/// Appended to a verdict's name when its scope completed no request.
const NO_REQUESTS: &str = " (no requests in scope)";
/// Appended to a latency verdict's name when every request of its scope failed (latency is
/// measured on successful responses only).
const NO_SUCCESS: &str = " (no successful responses in scope)";
/// Appended to a verdict's name when its server series has no point.
const NO_SAMPLES: &str = " (no samples of server metric)";

/// Check every SLA against the results, in order.
pub(crate) fn evaluate(slas: &[Sla], results: &RunResults) -> Vec<SlaVerdict> {
    slas.iter().map(|sla| verdict_of(sla, results)).collect()
}

/// The first SLA marked `abort = true` that is already lost, as a reason for stopping early.
///
/// An SLA counts only once its scope has completed at least `min_requests`, so a slow first
/// request cannot end a run. The run loop calls this at checkpoints.
pub(crate) fn abort_reason(
    slas: &[Sla],
    results: &RunResults,
    min_requests: u64,
) -> Option<String> {
    slas.iter().filter(|sla| sla.abort).find_map(|sla| {
        // A server metric has no scope of its own; the overall traffic decides whether it is ripe.
        let scope_name = match sla.metric {
            SlaMetric::Server(_) => OVERALL_SCOPE,
            _ => sla.scope.name(),
        };
        let requests = results.scope(scope_name).map_or(0, |s| s.stats.requests);
        if requests < min_requests.max(1) {
            return None;
        }
        let verdict = verdict_of(sla, results);
        let actual = verdict.actual?;
        (!verdict.passed).then(|| {
            format!(
                "SLA `{}` already lost: actual {} vs threshold {} {}",
                verdict.name,
                format_value(actual, &verdict.unit),
                verdict.comparison,
                format_value(verdict.threshold, &verdict.unit),
            )
        })
    })
}

/// Recompute `actual` and `passed` of existing verdicts against other results (e.g. merged ones).
///
/// Each verdict keeps its metric, comparison and threshold; only the measurement changes. A
/// verdict whose comparison cannot be read back fails with no actual value.
pub(crate) fn reevaluate(verdicts: &[SlaVerdict], results: &RunResults) -> Vec<SlaVerdict> {
    verdicts
        .iter()
        .map(|old| {
            let base_name = old
                .name
                .strip_suffix(NO_REQUESTS)
                .or_else(|| old.name.strip_suffix(NO_SUCCESS))
                .or_else(|| old.name.strip_suffix(NO_SAMPLES))
                .unwrap_or(&old.name);
            let metric = metric_from_key(&old.metric);
            let Some(comparison) = comparison_from_symbol(&old.comparison) else {
                return SlaVerdict {
                    actual: None,
                    passed: false,
                    ..old.clone()
                };
            };
            let m = measure(&old.scope, &metric, results);
            finish(
                base_name,
                &old.scope,
                &metric,
                comparison,
                old.threshold,
                &old.threshold_text,
                old.abort,
                m,
            )
        })
        .collect()
}

/// Format a value of a verdict's unit for people: ms with 3 decimals for µs, % for ratios, `/s`.
pub(crate) fn format_value(value: f64, unit: &str) -> String {
    match unit {
        UNIT_MICROS => format!("{:.3}ms", value / 1000.0),
        UNIT_RATIO => format!("{}%", trim_float(value * 100.0, 3)),
        UNIT_PER_SECOND => format!("{}/s", trim_float(value, 1)),
        "" => trim_float(value, 3),
        other => format!("{} {other}", trim_float(value, 3)),
    }
}

/// The results-file key of a metric.
pub(crate) fn metric_key(metric: &SlaMetric) -> String {
    metric.key().to_owned()
}

/// Inverse of [`metric_key`]: any key that is not a client metric names a server series.
fn metric_from_key(key: &str) -> SlaMetric {
    SlaMetric::from_client_key(key).unwrap_or_else(|| SlaMetric::Server(key.to_owned()))
}

fn comparison_from_symbol(symbol: &str) -> Option<Operator> {
    [Operator::Lt, Operator::Le, Operator::Gt, Operator::Ge]
        .into_iter()
        .find(|c| c.symbol() == symbol)
}

/// What a metric measured, or why nothing was.
struct Measured {
    actual: Option<f64>,
    unit: String,
    missing: &'static str,
}

fn measure(scope_name: &str, metric: &SlaMetric, results: &RunResults) -> Measured {
    if let SlaMetric::Server(series) = metric {
        let found = results.server_metrics.iter().find(|s| &s.name == series);
        let unit = found.map(|s| s.unit.clone()).unwrap_or_default();
        let actual = found.and_then(|s| {
            // Non-finite points (a scrape of NaN) would poison the mean; they are skipped.
            let values: Vec<f64> = s
                .points
                .iter()
                .map(|&(_, v)| v)
                .filter(|v| v.is_finite())
                .collect();
            (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
        });
        return Measured {
            actual,
            unit,
            missing: NO_SAMPLES,
        };
    }
    let unit = match metric {
        SlaMetric::Latency(_) => UNIT_MICROS,
        SlaMetric::ErrorRate => UNIT_RATIO,
        _ => UNIT_PER_SECOND,
    };
    let scope = results.scope(scope_name).filter(|s| s.stats.requests > 0);
    if let (SlaMetric::Latency(_), Some(s)) = (metric, scope)
        && s.stats.errors >= s.stats.requests
    {
        return Measured {
            actual: None,
            unit: unit.to_owned(),
            missing: NO_SUCCESS,
        };
    }
    Measured {
        actual: scope.map(|s| scope_value(s, metric)),
        unit: unit.to_owned(),
        missing: NO_REQUESTS,
    }
}

fn scope_value(scope: &ScopeResults, metric: &SlaMetric) -> f64 {
    let stats = &scope.stats;
    match metric {
        SlaMetric::Latency(stat) => {
            // Open model: latency from the intended start is the coordinated-omission-correct one.
            let summary = stats
                .intended_latency_us
                .as_ref()
                .unwrap_or(&stats.latency_us);
            latency_value(summary, *stat)
        }
        SlaMetric::ErrorRate => stats.error_rate,
        SlaMetric::Throughput => stats.throughput_rps,
        SlaMetric::Server(_) => f64::NAN,
    }
}

#[allow(clippy::cast_precision_loss)] // µs values far below 2^53
fn latency_value(summary: &LatencySummary, stat: LatencyStat) -> f64 {
    match stat {
        LatencyStat::P50 => summary.p50 as f64,
        LatencyStat::P90 => summary.p90 as f64,
        LatencyStat::P95 => summary.p95 as f64,
        LatencyStat::P99 => summary.p99 as f64,
        LatencyStat::P99_9 => summary.p99_9 as f64,
        LatencyStat::Max => summary.max as f64,
        LatencyStat::Mean => summary.mean,
    }
}

fn verdict_of(sla: &Sla, results: &RunResults) -> SlaVerdict {
    let scope = sla.scope.name();
    let m = measure(scope, &sla.metric, results);
    finish(
        &sla.name,
        scope,
        &sla.metric,
        sla.comparison,
        sla.threshold,
        &sla.threshold_text,
        sla.abort,
        m,
    )
}

#[allow(clippy::too_many_arguments)] // private glue between two callers with different inputs
fn finish(
    name: &str,
    scope: &str,
    metric: &SlaMetric,
    comparison: Operator,
    threshold: f64,
    threshold_text: &str,
    abort: bool,
    m: Measured,
) -> SlaVerdict {
    let passed = m
        .actual
        .is_some_and(|actual| comparison.holds(actual, threshold));
    let name = if m.actual.is_some() {
        name.to_owned()
    } else {
        format!("{name}{}", m.missing)
    };
    SlaVerdict {
        name,
        scope: scope.to_owned(),
        metric: metric_key(metric),
        comparison: comparison.symbol().to_owned(),
        threshold,
        actual: m.actual,
        unit: m.unit,
        threshold_text: threshold_text.to_owned(),
        passed,
        abort,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::ServerSeries;
    use crate::scenario::model::SlaScope;
    use crate::testing::simulated as fixtures;

    fn sla(scope: SlaScope, metric: SlaMetric, cmp: Operator, threshold: f64) -> Sla {
        Sla {
            name: format!("{} {:?} {}", scope.name(), metric, cmp.symbol()),
            scope,
            metric,
            comparison: cmp,
            threshold,
            threshold_text: threshold.to_string(),
            abort: false,
        }
    }

    #[track_caller]
    fn check(rule: Sla, run: &RunResults, actual: Option<f64>, passed: bool) {
        let v = evaluate(std::slice::from_ref(&rule), run);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].actual, actual, "{:?}", v[0]);
        assert_eq!(v[0].passed, passed, "{:?}", v[0]);
    }

    #[test]
    fn latency_uses_the_scope_percentile() {
        let run = fixtures::closed_run();
        let overall = run.overall().expect("overall").stats.clone();
        #[allow(clippy::cast_precision_loss)]
        let p95 = overall.latency_us.p95 as f64;
        let m = SlaMetric::Latency(LatencyStat::P95);
        check(
            sla(SlaScope::Overall, m.clone(), Operator::Lt, p95 + 1.0),
            &run,
            Some(p95),
            true,
        );
        check(
            sla(SlaScope::Overall, m.clone(), Operator::Lt, p95),
            &run,
            Some(p95),
            false,
        );
        check(
            sla(SlaScope::Overall, m, Operator::Le, p95),
            &run,
            Some(p95),
            true,
        );
        let mean = SlaMetric::Latency(LatencyStat::Mean);
        check(
            sla(SlaScope::Overall, mean, Operator::Gt, 0.0),
            &run,
            Some(overall.latency_us.mean),
            true,
        );
    }

    #[test]
    fn open_model_prefers_intended_latency() {
        let run = fixtures::open_run();
        let stats = &run.overall().expect("overall").stats;
        let intended = stats
            .intended_latency_us
            .expect("open run has intended latency");
        assert!(
            intended.p99 > stats.latency_us.p99,
            "fixture must show omission"
        );
        #[allow(clippy::cast_precision_loss)]
        let want = intended.p99 as f64;
        let rule = sla(
            SlaScope::Overall,
            SlaMetric::Latency(LatencyStat::P99),
            Operator::Lt,
            1e12,
        );
        check(rule, &run, Some(want), true);
    }

    #[test]
    fn rates_and_throughput_and_scopes() {
        let run = fixtures::closed_run();
        let tx = run.scope("checkout").expect("checkout scope").stats.clone();
        check(
            sla(
                SlaScope::Transaction("checkout".into()),
                SlaMetric::ErrorRate,
                Operator::Lt,
                1.0,
            ),
            &run,
            Some(tx.error_rate),
            true,
        );
        check(
            sla(
                SlaScope::Transaction("checkout".into()),
                SlaMetric::Throughput,
                Operator::Ge,
                1e9,
            ),
            &run,
            Some(tx.throughput_rps),
            false,
        );
        let v = evaluate(
            &[sla(
                SlaScope::Overall,
                SlaMetric::ErrorRate,
                Operator::Lt,
                0.5,
            )],
            &run,
        );
        assert_eq!(v[0].unit, "ratio");
        assert_eq!(v[0].metric, "error_rate");
        assert_eq!(v[0].comparison, "<");
    }

    #[test]
    fn empty_scope_fails_and_says_so() {
        let run = fixtures::closed_run();
        let rule = sla(
            SlaScope::Request("nothing/here".into()),
            SlaMetric::Latency(LatencyStat::P50),
            Operator::Lt,
            1e12,
        );
        let v = evaluate(std::slice::from_ref(&rule), &run);
        assert_eq!(v[0].actual, None);
        assert!(!v[0].passed);
        assert!(v[0].name.contains("no requests"), "{}", v[0].name);
        // Re-evaluation does not stack the note twice.
        let again = reevaluate(&v, &run);
        assert_eq!(again, v);
    }

    #[test]
    fn server_metric_is_the_mean_of_its_points() {
        let mut run = fixtures::closed_run();
        run.server_metrics = vec![ServerSeries {
            name: "cache_hit_ratio".into(),
            unit: "ratio".into(),
            points: vec![(0.0, 0.5), (1.0, 0.7), (2.0, f64::NAN), (3.0, 0.9)],
        }];
        let rule = sla(
            SlaScope::Overall,
            SlaMetric::Server("cache_hit_ratio".into()),
            Operator::Ge,
            0.8,
        );
        let v = evaluate(std::slice::from_ref(&rule), &run);
        let actual = v[0].actual.expect("has points");
        assert!((actual - 0.7).abs() < 1e-12, "{actual}");
        assert!(!v[0].passed);
        assert_eq!(v[0].unit, "ratio");
        assert_eq!(v[0].metric, "cache_hit_ratio");
        let missing = sla(
            SlaScope::Overall,
            SlaMetric::Server("queue_depth".into()),
            Operator::Lt,
            1.0,
        );
        let v = evaluate(&[missing], &run);
        assert_eq!(v[0].actual, None);
        assert!(!v[0].passed && v[0].name.contains("no samples"));
    }

    #[test]
    fn abort_needs_enough_requests_and_a_loss() {
        let run = fixtures::closed_run();
        let requests = run.overall().expect("overall").stats.requests;
        let mut lost = sla(
            SlaScope::Overall,
            SlaMetric::Latency(LatencyStat::P50),
            Operator::Lt,
            1.0,
        );
        assert_eq!(
            abort_reason(std::slice::from_ref(&lost), &run, 1),
            None,
            "not abort"
        );
        lost.abort = true;
        let reason = abort_reason(std::slice::from_ref(&lost), &run, 1).expect("lost");
        assert!(
            reason.contains("already lost") && reason.contains("ms"),
            "{reason}"
        );
        assert_eq!(
            abort_reason(std::slice::from_ref(&lost), &run, requests + 1),
            None
        );
        let mut held = lost.clone();
        held.threshold = 1e12;
        assert_eq!(abort_reason(&[held], &run, 1), None);
    }

    #[test]
    fn reevaluate_recomputes_from_new_results() {
        let run = fixtures::closed_run();
        let rules = [
            sla(
                SlaScope::Overall,
                SlaMetric::Latency(LatencyStat::P99),
                Operator::Lt,
                1e12,
            ),
            sla(SlaScope::Overall, SlaMetric::Throughput, Operator::Gt, 0.0),
            sla(
                SlaScope::Overall,
                SlaMetric::Latency(LatencyStat::P99_9),
                Operator::Ge,
                1.0,
            ),
        ];
        let first = evaluate(&rules, &run);
        assert!(first.iter().all(|v| v.passed), "{first:?}");
        assert_eq!(reevaluate(&first, &run), first);
        let mut empty = run.clone();
        for s in &mut empty.scopes {
            s.stats.requests = 0;
        }
        let after = reevaluate(&first, &empty);
        assert!(
            after.iter().all(|v| !v.passed && v.actual.is_none()),
            "{after:?}"
        );
        let mut bad = first[0].clone();
        bad.comparison = "≈".into();
        assert!(!reevaluate(&[bad], &run)[0].passed);
    }

    #[test]
    fn values_are_formatted_for_people() {
        assert_eq!(format_value(123_456.0, "us"), "123.456ms");
        assert_eq!(format_value(0.0012, "ratio"), "0.12%");
        assert_eq!(format_value(1000.0, "per_s"), "1000/s");
        assert_eq!(format_value(2.5, "bytes"), "2.5 bytes");
    }
}
