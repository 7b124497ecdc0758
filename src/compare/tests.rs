use rand::SeedableRng as _;
use rand::rngs::StdRng;

use super::*;
use crate::results::SerializedHistogram;
use crate::testing::sampled::{Spec, run, scope_of};

fn metric<'a>(c: &'a Comparison, scope: &str, metric: Metric) -> &'a MetricComparison {
    c.scopes
        .iter()
        .find(|s| s.name == scope)
        .and_then(|s| s.metrics.iter().find(|m| m.metric == metric))
        .expect("scope and metric present")
}

fn pair(base: &Spec, cand: &Spec, seed: u64) -> (RunResults, RunResults) {
    let mut rng = StdRng::seed_from_u64(seed);
    (run("shop", base, &mut rng), run("shop", cand, &mut rng))
}

/// The default spec with every latency `factor` times longer.
fn slowed(factor: f64) -> Spec {
    Spec {
        slowdown: factor,
        ..Spec::default()
    }
}

/// A `pair` compared at the default options.
fn compared(base: &Spec, cand: &Spec, seed: u64) -> Comparison {
    let (a, b) = pair(base, cand, seed);
    compare(&a, &b, &CompareOptions::default()).expect("compare")
}

/// A/A pairs from one generator: how often does the gate fail on pure noise?
#[test]
fn aa_false_alarm_rate_at_defaults_is_at_most_5_percent() {
    // Small runs (20 s × 100/s, 2000 requests) make noise large relative to the noise floor,
    // which is the hard case for false alarms. Fewer resamples than the default keep the test
    // fast; they only make the standard error a little noisier.
    let spec = Spec {
        seconds: 20,
        rps: 100.0,
        ..Spec::default()
    };
    let opts = CompareOptions {
        resamples: 200,
        ..CompareOptions::default()
    };
    let pairs = 200;
    let (mut failed_pairs, mut flagged_metrics, mut gated_metrics) = (0, 0, 0);
    for seed in 0..pairs {
        let (a, b) = pair(&spec, &spec, 1000 + seed);
        let c = compare(&a, &b, &opts).expect("compare");
        failed_pairs += usize::from(!c.summary.passed);
        gated_metrics += c.summary.gated;
        flagged_metrics += c
            .gated()
            .filter(|(_, m)| m.verdict != Verdict::NoChange)
            .count();
    }
    #[allow(clippy::cast_precision_loss)]
    let rate = failed_pairs as f64 / pairs as f64;
    println!(
        "A/A: {failed_pairs}/{pairs} pairs failed the gate ({:.1} %); \
         {flagged_metrics}/{gated_metrics} gated metrics flagged either way",
        rate * 100.0
    );
    assert!(rate <= 0.05, "false-alarm rate {rate}");
}

#[test]
fn p95_ten_percent_slower_is_a_regression_with_an_interval_above_zero() {
    let base = Spec::default();
    let slow = slowed(1.10);
    let (a, b) = pair(&base, &slow, 1);
    let c = compare(&a, &b, &CompareOptions::default()).expect("compare");
    let m = metric(&c, "overall", Metric::P95);
    assert_eq!(m.verdict, Verdict::Regression, "{m:?}");
    assert_eq!(m.gate, Gate::Fail);
    assert!(m.delta > 0.0);
    let rel = m.relative.expect("relative");
    assert!((0.07..0.13).contains(&rel), "{rel}");
    let i = m.interval.expect("interval");
    assert!(i.lo > 0.0 && i.hi > i.lo, "{i:?}");
    assert!(i.lo < m.delta && m.delta < i.hi, "{i:?} around {}", m.delta);
    assert!(!c.summary.passed);
    // The reverse is an improvement with the opposite sign.
    let back = compare(&b, &a, &CompareOptions::default()).expect("compare");
    let m = metric(&back, "overall", Metric::P95);
    assert_eq!(m.verdict, Verdict::Improvement);
    assert!(m.interval.expect("interval").hi < 0.0);
    assert!(back.summary.passed);
}

#[test]
fn budget_lets_a_regression_within_it_pass() {
    let slow = slowed(1.10);
    let (a, b) = pair(&Spec::default(), &slow, 2);
    let mut opts = CompareOptions::default();
    for m in [Metric::P50, Metric::P95, Metric::P99, Metric::Mean] {
        opts.budgets.insert(m, 0.15);
    }
    let c = compare(&a, &b, &opts).expect("compare");
    let m = metric(&c, "overall", Metric::P95);
    assert_eq!((m.verdict, m.gate), (Verdict::Regression, Gate::Pass));
    assert!(c.summary.passed, "{:?}", c.summary);
    assert!(c.summary.regressions_within_budget >= 4);
    // A tighter budget fails.
    opts.budgets.insert(Metric::P95, 0.05);
    let c = compare(&a, &b, &opts).expect("compare");
    assert_eq!(metric(&c, "overall", Metric::P95).gate, Gate::Fail);
}

#[test]
fn higher_error_rate_is_a_regression_and_a_small_one_is_not() {
    let worse = Spec {
        error_rate: 0.02,
        ..Spec::default()
    };
    let c = compared(&Spec::default(), &worse, 3);
    let m = metric(&c, "overall", Metric::ErrorRate);
    assert_eq!(m.method, Method::Newcombe);
    assert_eq!(m.verdict, Verdict::Regression, "{m:?}");
    assert!(m.interval.expect("interval").lo > 0.0);
    // 1 % against 1 %: noise only.
    let c = compared(&Spec::default(), &Spec::default(), 4);
    let m = metric(&c, "overall", Metric::ErrorRate);
    assert_eq!(m.verdict, Verdict::NoChange, "{m:?}");
    assert!(!m.interval.expect("interval").excludes_zero());
}

#[test]
fn new_errors_from_zero_have_no_relative_change_but_regress() {
    let clean = Spec {
        error_rate: 0.0,
        ..Spec::default()
    };
    let c = compared(&clean, &Spec::default(), 5);
    let m = metric(&c, "overall", Metric::ErrorRate);
    assert_eq!(m.relative, None);
    assert_eq!(m.verdict, Verdict::Regression);
    assert_eq!(m.gate, Gate::Fail);
}

#[test]
fn lower_throughput_is_a_regression_and_higher_an_improvement() {
    let slower = Spec {
        rps: 400.0,
        ..Spec::default()
    };
    let (a, b) = pair(&Spec::default(), &slower, 6);
    let c = compare(&a, &b, &CompareOptions::default()).expect("compare");
    for scope in ["overall", "browse", "checkout"] {
        let m = metric(&c, scope, Metric::Throughput);
        assert_eq!(m.method, Method::WelchPerSecond);
        assert!(m.delta < 0.0);
        assert_eq!(m.verdict, Verdict::Regression, "{scope}: {m:?}");
        assert!(m.interval.expect("interval").hi < 0.0);
    }
    let c = compare(&b, &a, &CompareOptions::default()).expect("compare");
    assert_eq!(
        metric(&c, "overall", Metric::Throughput).verdict,
        Verdict::Improvement
    );
    // Same rate: no change.
    let c = compared(&Spec::default(), &Spec::default(), 7);
    assert_eq!(
        metric(&c, "overall", Metric::Throughput).verdict,
        Verdict::NoChange
    );
}

#[test]
fn max_has_no_interval_and_is_gated_only_with_a_budget() {
    let (a, b) = pair(&Spec::default(), &Spec::default(), 8);
    let c = compare(&a, &b, &CompareOptions::default()).expect("compare");
    let m = metric(&c, "overall", Metric::Max);
    assert_eq!(
        (m.interval, m.method, m.significant),
        (None, Method::None, None)
    );
    assert_eq!(m.gate, Gate::NotGated);
    let mut opts = CompareOptions::default();
    opts.budgets.insert(Metric::Max, 0.5);
    let c = compare(&a, &b, &opts).expect("compare");
    assert_ne!(metric(&c, "overall", Metric::Max).gate, Gate::NotGated);
}

#[test]
fn noise_floor_override_silences_a_metric() {
    let slow = slowed(1.10);
    let (a, b) = pair(&Spec::default(), &slow, 9);
    let mut opts = CompareOptions::default();
    opts.noise_floors.insert(Metric::P95, 0.2);
    let c = compare(&a, &b, &opts).expect("compare");
    let m = metric(&c, "overall", Metric::P95);
    assert_eq!(m.verdict, Verdict::NoChange);
    assert_eq!(m.significant, Some(true));
    assert_eq!(
        metric(&c, "overall", Metric::P50).verdict,
        Verdict::Regression
    );
}

#[test]
fn scopes_in_one_run_only_are_listed() {
    let (mut a, mut b) = pair(&Spec::default(), &Spec::default(), 10);
    a.scopes.retain(|s| s.name != "checkout");
    b.scopes.retain(|s| s.name != "browse");
    let c = compare(&a, &b, &CompareOptions::default()).expect("compare");
    let names: Vec<&str> = c.scopes.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["overall"]);
    assert_eq!(c.only_in_baseline[0].name, "browse");
    assert_eq!(c.only_in_candidate[0].name, "checkout");
    assert!(to_markdown(&c).contains("Only in the candidate: `checkout`"));
}

#[test]
fn a_scope_without_traffic_is_listed_but_not_gated() {
    let (a, mut b) = pair(&Spec::default(), &Spec::default(), 18);
    let idle = b
        .scopes
        .iter_mut()
        .find(|s| s.name == "checkout")
        .expect("scope");
    idle.stats.requests = 0;
    idle.stats.errors = 0;
    idle.stats.throughput_rps = 0.0;
    idle.histogram = SerializedHistogram::encode(&crate::results::new_histogram()).expect("encode");
    let c = compare(&a, &b, &CompareOptions::default()).expect("compare");
    let s = c
        .scopes
        .iter()
        .find(|s| s.name == "checkout")
        .expect("listed");
    assert!(!s.gated && s.metrics.iter().all(|m| m.gate == Gate::NotGated));
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("`checkout` saw no traffic in the candidate"))
    );
    assert!(c.summary.passed, "{:?}", c.summary);
}

#[test]
fn different_scenario_name_is_an_error_and_sha_a_warning() {
    let (a, mut b) = pair(&Spec::default(), &Spec::default(), 11);
    b.scenario.sha256 = "cd".repeat(32);
    let c = compare(&a, &b, &CompareOptions::default()).expect("compare");
    assert!(
        c.warnings.iter().any(|w| w.contains("SHA-256")),
        "{:?}",
        c.warnings
    );
    b.scenario.name = "other".into();
    let err = compare(&a, &b, &CompareOptions::default()).expect_err("mismatch");
    assert!(err.to_string().contains("`shop`") && err.to_string().contains("`other`"));
}

#[test]
fn no_common_scope_is_an_error() {
    let (a, mut b) = pair(&Spec::default(), &Spec::default(), 12);
    for s in &mut b.scopes {
        s.name = format!("{}-renamed", s.name);
    }
    b.scopes[0].kind = ScopeKind::Transaction;
    let err = compare(&a, &b, &CompareOptions::default()).expect_err("no common scope");
    assert!(matches!(err, CompareError::NoCommonScope), "{err}");
}

#[test]
fn corrupt_histogram_is_an_error_naming_side_and_scope() {
    let (a, mut b) = pair(&Spec::default(), &Spec::default(), 13);
    b.scopes[2].histogram = SerializedHistogram("AAAA".into());
    let err = compare(&a, &b, &CompareOptions::default()).expect_err("corrupt");
    assert!(
        matches!(&err, CompareError::Decode { side: Side::Candidate, scope, .. } if scope == "checkout"),
        "{err}"
    );
}

#[test]
fn bad_options_are_an_error() {
    let (a, b) = pair(&Spec::default(), &Spec::default(), 14);
    for opts in [
        CompareOptions {
            confidence: 1.5,
            ..CompareOptions::default()
        },
        CompareOptions {
            noise_floor: -0.1,
            ..CompareOptions::default()
        },
    ] {
        assert!(matches!(
            compare(&a, &b, &opts),
            Err(CompareError::Options(_))
        ));
    }
}

#[test]
fn same_seed_gives_the_same_comparison() {
    let slow = slowed(1.03);
    let (a, b) = pair(&Spec::default(), &slow, 15);
    let opts = CompareOptions::default();
    let first = compare(&a, &b, &opts).expect("compare");
    assert_eq!(first, compare(&a, &b, &opts).expect("compare"));
    let other = compare(&a, &b, &CompareOptions { seed: 1, ..opts }).expect("compare");
    assert_ne!(
        metric(&first, "overall", Metric::P95).interval,
        metric(&other, "overall", Metric::P95).interval
    );
}

#[test]
fn markdown_starts_with_the_verdict_and_lists_gated_rows() {
    let slow = slowed(1.10);
    let c = compared(&Spec::default(), &slow, 16);
    let md = to_markdown(&c);
    let first = md.lines().next().expect("a line");
    assert!(
        first.starts_with("### ❌") && first.contains("over budget"),
        "{first}"
    );
    let rows: Vec<&str> = md
        .lines()
        .filter(|l| l.starts_with("| overall |"))
        .collect();
    // Overall: p50, p95, p99, mean, throughput, error rate (max is not gated).
    assert_eq!(rows.len(), 6, "{md}");
    assert!(
        rows.iter()
            .any(|r| r.contains("| p95 |") && r.contains("🔴 regression")),
        "{md}"
    );
    assert!(!md.contains("| max |"));
    let rate = rows
        .iter()
        .find(|r| r.contains("| error_rate |"))
        .expect("error rate row");
    assert!(
        rate.matches(" pp").count() == 3,
        "change and interval in points: {rate}"
    );
}

#[test]
fn junit_has_one_case_per_gated_metric() {
    let slow = slowed(1.10);
    let c = compared(&Spec::default(), &slow, 17);
    let xml = to_junit(&c).expect("junit");
    let report = quick_junit::Report::deserialize_from_str(&xml).expect("valid JUnit");
    assert_eq!(report.tests, c.summary.gated);
    assert_eq!(report.failures, c.summary.failed);
    assert!(c.summary.failed >= 4, "{:?}", c.summary);
    // Round trip of the JSON form.
    let json = serde_json::to_string(&c).expect("json");
    let back: Comparison = serde_json::from_str(&json).expect("parse");
    assert_eq!(back.summary, c.summary);
    assert_eq!(back.gated().count(), c.gated().count());
}

#[test]
fn gating_fewer_metrics_narrows_the_intervals() {
    let (a, b) = pair(&Spec::default(), &Spec::default(), 19);
    let all = compare(&a, &b, &CompareOptions::default()).expect("compare");
    let opts = CompareOptions {
        gate_metrics: vec![Metric::P95],
        ..CompareOptions::default()
    };
    let one = compare(&a, &b, &opts).expect("compare");
    assert_eq!((all.summary.gated, one.summary.gated), (18, 3));
    let width = |c: &Comparison| {
        let i = metric(c, "overall", Metric::P95)
            .interval
            .expect("interval");
        i.hi - i.lo
    };
    assert!(
        width(&one) < width(&all),
        "{} vs {}",
        width(&one),
        width(&all)
    );
    assert_eq!(metric(&one, "overall", Metric::P50).gate, Gate::NotGated);
    // Without the correction every interval is at the nominal level.
    let plain = CompareOptions {
        simultaneous: false,
        ..CompareOptions::default()
    };
    let c = compare(&a, &b, &plain).expect("compare");
    assert!((metric(&c, "overall", Metric::P95).confidence - 0.95).abs() < 1e-12);
    assert!(metric(&all, "overall", Metric::P95).confidence > 0.99);
}

#[test]
fn intended_latency_is_compared_when_asked_and_present() {
    let slow = slowed(1.3);
    let (a, mut b) = pair(&Spec::default(), &Spec::default(), 20);
    let (_, late) = pair(&Spec::default(), &slow, 21);
    let mut a = a;
    for (scope, late) in b.scopes.iter_mut().zip(&late.scopes) {
        scope.intended_histogram = Some(late.histogram.clone());
    }
    for scope in &mut a.scopes {
        scope.intended_histogram = Some(scope.histogram.clone());
    }
    let opts = CompareOptions {
        intended: true,
        ..CompareOptions::default()
    };
    let c = compare(&a, &b, &opts).expect("compare");
    assert!(c.scopes[0].intended);
    assert_eq!(
        metric(&c, "overall", Metric::P95).verdict,
        Verdict::Regression
    );
    let c = compare(&a, &b, &CompareOptions::default()).expect("compare");
    assert!(!c.scopes[0].intended);
    assert_eq!(
        metric(&c, "overall", Metric::P95).verdict,
        Verdict::NoChange
    );
}

/// A handful of requests say nothing about a percentile or a mean: such a metric gets no
/// interval, no verdict and no part in the gate, however large the change, and the comparison
/// says so (`max` aside, which never has an interval). Real runs of the reference stack had
/// transactions of 1–3 and 40 requests whose p95/p99 "regressed" significantly in A/A pairs.
#[test]
fn metrics_of_tiny_scopes_are_not_judged_or_gated() {
    let (mut a, mut b) = pair(&Spec::default(), &Spec::default(), 11);
    let slow: Vec<u64> = (0..40).map(|i| 30_000 + i * 100).collect();
    let fast: Vec<u64> = (0..40).map(|i| 10_000 + i * 100).collect();
    a.scopes
        .push(scope_of(ScopeKind::Transaction, "login", &[10_000], 60.0));
    b.scopes.push(scope_of(
        ScopeKind::Transaction,
        "login",
        &[30_000, 31_000],
        60.0,
    ));
    a.scopes
        .push(scope_of(ScopeKind::Transaction, "stats", &fast, 60.0));
    b.scopes
        .push(scope_of(ScopeKind::Transaction, "stats", &slow, 60.0));
    let c = compare(&a, &b, &CompareOptions::default()).expect("compare");
    for m in [Metric::P50, Metric::P95, Metric::P99, Metric::Mean] {
        let got = metric(&c, "login", m);
        assert_eq!(got.interval, None, "{m}: {got:?}");
        assert_eq!(got.verdict, Verdict::NoChange, "{m}: {got:?}");
        assert_eq!(got.gate, Gate::NotGated, "{m}");
    }
    // 40 requests: enough for p50 and the mean, which do regress, not for p95 or p99.
    for (m, judged) in [
        (Metric::P50, true),
        (Metric::Mean, true),
        (Metric::P95, false),
        (Metric::P99, false),
    ] {
        let got = metric(&c, "stats", m);
        assert_eq!(got.interval.is_some(), judged, "{m}: {got:?}");
        let verdict = if judged {
            Verdict::Regression
        } else {
            Verdict::NoChange
        };
        assert_eq!(got.verdict, verdict, "{m}");
    }
    // Max is judged on the noise floor alone, as documented, but not gated.
    assert_eq!(
        metric(&c, "login", Metric::Max).verdict,
        Verdict::Regression
    );
    assert_eq!(c.summary.failed, 2, "{:?}", c.summary);
    assert!(
        c.warnings.iter().any(|w| w
            == "scope `login` has too few requests (1 vs 2) to judge p50, p95, p99, mean; not gated"),
        "{:?}",
        c.warnings
    );
    assert!(
        c.warnings
            .iter()
            .any(|w| w.starts_with("scope `stats`") && w.ends_with("to judge p95, p99; not gated")),
        "{:?}",
        c.warnings
    );
    assert_eq!(stats::min_for_quantile(0.5), 10);
    assert_eq!(stats::min_for_quantile(0.95), 100);
    assert_eq!(stats::min_for_quantile(0.99), 500);
}

/// Sub-millisecond pair: median 230 µs, the candidate 20 % (about +46 µs) slower; 30 000
/// requests a side make the p50 interval far narrower than the change.
fn fast_pair() -> (RunResults, RunResults) {
    let fast = Spec {
        median_us: 230.0,
        sigma: 0.3,
        ..Spec::default()
    };
    let slower = Spec {
        slowdown: 1.2,
        ..fast.clone()
    };
    pair(&fast, &slower, 21)
}

#[test]
fn a_sub_millisecond_change_is_no_change_at_the_default_absolute_floor() {
    let (a, b) = fast_pair();
    let c = compare(&a, &b, &CompareOptions::default()).expect("compare");
    let p50 = metric(&c, "overall", Metric::P50);
    assert!(
        p50.delta > 30.0 && p50.delta < 60.0,
        "a change of tens of µs: {p50:?}"
    );
    assert!(p50.relative.is_some_and(|r| r > 0.15), "{p50:?}");
    assert_eq!(p50.significant, Some(true), "the interval excludes zero");
    assert_eq!(p50.min_change, Some(1000.0));
    assert_eq!(p50.verdict, Verdict::NoChange);
    assert_eq!(p50.gate, Gate::Pass);
    assert!(c.summary.passed, "{:?}", c.summary);
    // Throughput and error rate have no absolute floor.
    assert_eq!(metric(&c, "overall", Metric::Throughput).min_change, None);
    assert!(to_markdown(&c).contains("noise floor 5 % and 1 ms."));

    // With the absolute floor off, the same change is a regression that fails the gate.
    let off = CompareOptions {
        min_latency_change: Duration::ZERO,
        ..CompareOptions::default()
    };
    let c = compare(&a, &b, &off).expect("compare");
    let p50 = metric(&c, "overall", Metric::P50);
    assert_eq!(p50.verdict, Verdict::Regression);
    assert_eq!(p50.gate, Gate::Fail);
    assert!(!c.summary.passed);
    assert!(to_markdown(&c).contains("noise floor 5 %."));

    // Just below the change it still counts; just above it does not.
    let d = Duration::from_micros(metric(&c, "overall", Metric::P50).delta as u64);
    let below = CompareOptions {
        min_latency_change: d - Duration::from_micros(1),
        ..CompareOptions::default()
    };
    let at = CompareOptions {
        min_latency_change: d,
        ..CompareOptions::default()
    };
    let verdict = |o: &CompareOptions| {
        metric(
            &compare(&a, &b, o).expect("compare"),
            "overall",
            Metric::P50,
        )
        .verdict
    };
    assert_eq!(verdict(&below), Verdict::Regression);
    assert_eq!(verdict(&at), Verdict::NoChange);
}

#[test]
fn a_budget_fails_only_beyond_the_absolute_floor_too() {
    let (a, b) = fast_pair();
    let mut opts = CompareOptions::default();
    opts.budgets.insert(Metric::P50, 0.10);
    let c = compare(&a, &b, &opts).expect("compare");
    let p50 = metric(&c, "overall", Metric::P50);
    assert!(
        p50.relative.is_some_and(|r| r > 0.10),
        "over budget: {p50:?}"
    );
    assert_eq!((p50.verdict, p50.gate), (Verdict::NoChange, Gate::Pass));
    assert!(c.summary.passed);
    opts.min_latency_change = Duration::ZERO;
    let c = compare(&a, &b, &opts).expect("compare");
    let p50 = metric(&c, "overall", Metric::P50);
    assert_eq!((p50.verdict, p50.gate), (Verdict::Regression, Gate::Fail));
}

#[test]
fn a_change_of_milliseconds_is_still_flagged_at_the_default() {
    let base = Spec::default(); // median 20 ms
    let slow = slowed(1.25);
    let (a, b) = pair(&base, &slow, 22);
    let c = compare(&a, &b, &CompareOptions::default()).expect("compare");
    let p50 = metric(&c, "overall", Metric::P50);
    assert!(p50.delta > 4_000.0, "about +5 ms: {p50:?}");
    assert_eq!((p50.verdict, p50.gate), (Verdict::Regression, Gate::Fail));
    let back = compare(&b, &a, &CompareOptions::default()).expect("compare");
    assert_eq!(
        metric(&back, "overall", Metric::P50).verdict,
        Verdict::Improvement
    );
}

#[test]
fn the_absolute_floor_is_stored_in_microseconds() {
    let opts = CompareOptions {
        min_latency_change: Duration::from_micros(250),
        ..CompareOptions::default()
    };
    let json = serde_json::to_value(&opts).expect("json");
    assert_eq!(json["min_latency_change_us"], 250);
    let back: CompareOptions = serde_json::from_value(json).expect("back");
    assert_eq!(back, opts);
    assert_eq!(format_min_latency_change(Duration::from_millis(1)), "1 ms");
    assert_eq!(
        format_min_latency_change(Duration::from_micros(2_500)),
        "2.5 ms"
    );
    assert_eq!(
        format_min_latency_change(Duration::from_micros(250)),
        "250 µs"
    );
    assert_eq!(format_min_latency_change(Duration::ZERO), "none");
}

#[test]
fn a_generator_bound_side_is_named_in_the_warnings() {
    let spec = Spec::default();
    let (a, mut b) = pair(&spec, &spec, 7);
    let clean = compare(&a, &b, &CompareOptions::default()).expect("compare");
    assert!(
        !clean.warnings.iter().any(|w| w.contains("generator-bound")),
        "{:?}",
        clean.warnings
    );
    b.generator = Some(crate::results::GeneratorHealth {
        cores: 2,
        bound: true,
        reasons: vec!["host CPUs ≥ 90 % busy in 7 of 8 s".into()],
        cpu_mean: Some(0.66),
        lag_p99_us: 3_000,
        lag_max_us: 18_000,
        series: Vec::new(),
    });
    let c = compare(&a, &b, &CompareOptions::default()).expect("compare");
    let w = c
        .warnings
        .iter()
        .find(|w| w.contains("generator-bound"))
        .unwrap_or_else(|| panic!("{:?}", c.warnings));
    assert!(w.contains("candidate") && w.contains("host CPUs"), "{w}");
}

#[test]
fn fast_failures_do_not_make_a_candidate_look_faster() {
    // Half the candidate's requests are refused in 200 µs; its successful responses are as slow
    // as the baseline's. Latency is judged on those: no improvement, only an error regression.
    let base = Spec::default();
    let cand = Spec {
        error_rate: 0.5,
        ..Spec::default()
    };
    let c = compared(&base, &cand, 11);
    let p50 = metric(&c, "overall", Metric::P50);
    assert!(p50.relative.is_some_and(|r| r.abs() < 0.05), "{p50:?}");
    assert_ne!(p50.verdict, Verdict::Improvement, "{p50:?}");
    let errors = metric(&c, "overall", Metric::ErrorRate);
    assert_eq!(errors.verdict, Verdict::Regression, "{errors:?}");
}
