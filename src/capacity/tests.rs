//! Search and analysis against a simulated target with a known USL curve.

use std::time::Duration;

use rand::{SeedableRng as _, rngs::StdRng};

use super::usl::usl_throughput;
use super::*;
use crate::results::SlaVerdict;

/// A target whose throughput follows a known USL curve and whose latency follows from Little's
/// law (R = N / X for a closed model without think time), with multiplicative noise.
struct Simulated {
    lambda: f64,
    sigma: f64,
    kappa: f64,
    noise: f64,
    p95_limit_ms: Option<f64>,
    rng: StdRng,
    calls: Vec<f64>,
    fail_at: Option<usize>,
    interrupt_at: Option<usize>,
}

impl Simulated {
    fn new(p95_limit_ms: Option<f64>) -> Self {
        Self {
            lambda: 100.0,
            sigma: 0.03,
            kappa: 0.0005,
            noise: 0.02,
            p95_limit_ms,
            rng: StdRng::seed_from_u64(42),
            calls: Vec::new(),
            fail_at: None,
            interrupt_at: None,
        }
    }
}

impl StepRunner for Simulated {
    fn run_step(&mut self, step: &StepSpec) -> Result<StepMeasurement, StepError> {
        self.calls.push(step.load);
        if self.interrupt_at == Some(step.index) {
            return Err(StepError::Interrupted { index: step.index });
        }
        if self.fail_at == Some(step.index) {
            return Err(StepError::Failed {
                index: step.index,
                load: step.load,
                source: "connection refused".into(),
            });
        }
        let n = step.load;
        let x = usl_throughput(self.lambda, self.sigma, self.kappa, n)
            * (1.0 + self.noise * usl::tests::normal(&mut self.rng));
        let mean_ms = n / x * 1000.0;
        let p95_ms = mean_ms * 1.6;
        let slas = self
            .p95_limit_ms
            .map(|limit| points::p95_verdict(limit, p95_ms))
            .into_iter()
            .collect();
        Ok(StepMeasurement {
            throughput_rps: x,
            concurrency: None,
            p50_ms: Some(mean_ms * 0.9),
            p95_ms: Some(p95_ms),
            p99_ms: Some(mean_ms * 2.0),
            mean_ms: Some(mean_ms),
            think_ms: 0.0,
            error_rate: 0.0,
            requests: 1000,
            slas,
            elapsed_s: (step.warmup + step.hold).as_secs_f64(),
            results: None,
            generator_bound: None,
        })
    }
}

fn options() -> SearchOptions {
    SearchOptions {
        growth: Growth::Factor(1.5),
        warmup: Duration::from_secs(5),
        hold: Duration::from_secs(20),
        max_steps: 30,
        ..SearchOptions::default()
    }
}

#[test]
fn search_finds_the_knee_and_stops_by_itself() {
    // No SLAs: only the throughput rules can stop it. True peak N* = √(0.97/0.0005) ≈ 44.
    let mut sim = Simulated::new(None);
    let mut saved = Vec::new();
    let report = search(&mut sim, &options(), "sim", |r| {
        saved.push(r.steps.len());
        Ok(())
    })
    .expect("search");
    let steps = report.steps.len();
    assert!(steps < 30, "stopped by the step cap after {steps} steps");
    assert!(
        matches!(report.stop, Some(StopReason::Plateau { .. })),
        "{:?}",
        report.stop
    );
    // Saved after every step, each time with one more step.
    assert_eq!(saved, (1..=steps).collect::<Vec<_>>());
    // Loads strictly increase and are whole users.
    assert!(sim.calls.windows(2).all(|w| w[1] > w[0]));
    assert!(sim.calls.iter().all(|l| l.fract() == 0.0));
    let fit = report.analysis.fit.fit().expect("fit");
    let Peak::Retrograde { n_star, .. } = fit.peak else {
        panic!("{:?}", fit.peak)
    };
    assert!((30.0..=60.0).contains(&n_star), "N* {n_star}");
    let knee = report.analysis.knee.expect("knee");
    assert!((8.0..=60.0).contains(&knee.load), "{knee:?}");
    // Little's law holds for a simulated target without think time.
    assert!(report.analysis.little.iter().all(|c| c.consistent));
    assert!(!report.analysis.curve.is_empty());
    let text = summary::render(&report);
    assert!(text.contains("USL fit"), "{text}");
    assert!(text.contains("stopped: throughput"), "{text}");
}

#[test]
fn search_stops_on_an_sla_breach_and_estimates_the_limit() {
    let mut sim = Simulated::new(Some(40.0));
    let report = search(&mut sim, &options(), "sim", |_| Ok(())).expect("search");
    let Some(StopReason::SlaBreached { step, excess, .. }) = report.stop.clone() else {
        panic!("{:?}", report.stop)
    };
    assert!(excess > 0.1);
    assert_eq!(step + 1, report.steps.len());
    let max = report.analysis.max_sustainable.clone().expect("max");
    assert!(max.first_failing_step.is_some());
    let first_fail = max.first_failing_step.unwrap_or_default();
    let last_pass = &report.steps[first_fail - 1];
    let est = max.estimated_load.expect("estimate");
    assert!(
        est > last_pass.load && est <= report.steps[first_fail].load,
        "{max:?}"
    );
    assert!(max.estimated_rps.is_some());
    assert_eq!(report.capacity_rps(), Some(max.measured_rps));
    // p95 = 1.6 × N / X: the simulated SLA gives way where N/X = 25 ms.
    assert!(max.note.contains("gives way"), "{}", max.note);
}

#[test]
fn a_failed_step_keeps_earlier_steps() {
    let mut sim = Simulated::new(None);
    sim.fail_at = Some(3);
    let mut last = None;
    let report = search(&mut sim, &options(), "sim", |r| {
        last = Some(r.clone());
        Ok(())
    })
    .expect("search");
    assert_eq!(report.steps.len(), 3);
    assert!(
        matches!(&report.stop, Some(StopReason::StepFailed { step: 3, message }) if message.contains("connection refused"))
    );
    assert_eq!(last.as_ref(), Some(&report));

    let mut sim = Simulated::new(None);
    sim.fail_at = Some(0);
    assert!(matches!(
        search(&mut sim, &options(), "sim", |_| Ok(())),
        Err(SearchError::FirstStep(_))
    ));
}

#[test]
fn an_interrupt_stops_the_search_and_keeps_finished_steps() {
    let mut sim = Simulated::new(None);
    sim.interrupt_at = Some(2);
    let mut saved = Vec::new();
    let report = search(&mut sim, &options(), "sim", |r| {
        saved.push(r.steps.len());
        Ok(())
    })
    .expect("search");
    assert_eq!(report.steps.len(), 2, "the cut-short step is not kept");
    assert_eq!(report.stop, Some(StopReason::Interrupted { step: 2 }));
    assert_eq!(
        saved,
        vec![1, 2, 2],
        "saved after each step and at the stop"
    );
    assert_eq!(sim.calls.len(), 3, "no step after the interrupt");

    // Interrupted before anything finished: an empty report, not an error.
    let mut sim = Simulated::new(None);
    sim.interrupt_at = Some(0);
    let report = search(&mut sim, &options(), "sim", |_| Ok(())).expect("search");
    assert!(report.steps.is_empty());
    assert_eq!(report.stop, Some(StopReason::Interrupted { step: 0 }));
}

#[test]
fn caps_and_guards_stop_the_search() {
    let mut sim = Simulated::new(None);
    let opts = SearchOptions {
        max_steps: 3,
        ..options()
    };
    let report = search(&mut sim, &opts, "sim", |_| Ok(())).expect("search");
    assert_eq!(report.stop, Some(StopReason::StepCap { steps: 3 }));

    let mut sim = Simulated::new(None);
    let opts = SearchOptions {
        max_time: Some(Duration::from_secs(60)),
        ..options()
    };
    let report = search(&mut sim, &opts, "sim", |_| Ok(())).expect("search");
    // Each step is 25 s: two fit in 60 s, a third would end at 75 s.
    assert_eq!(report.steps.len(), 2);
    assert!(matches!(report.stop, Some(StopReason::TimeCap { .. })));

    let mut sim = Simulated::new(None);
    let opts = SearchOptions {
        growth: Growth::Increment(10.0),
        max_load: Some(25.0),
        ..options()
    };
    let report = search(&mut sim, &opts, "sim", |_| Ok(())).expect("search");
    assert_eq!(sim.calls, vec![1.0, 11.0, 21.0]);
    assert_eq!(report.stop, Some(StopReason::LoadCap { max_load: 25.0 }));

    let bad = SearchOptions {
        growth: Growth::Factor(1.0),
        ..options()
    };
    assert!(matches!(
        search(&mut Simulated::new(None), &bad, "sim", |_| Ok(())),
        Err(SearchError::InvalidOptions(_))
    ));
}

#[test]
fn save_failure_stops_the_search() {
    let mut sim = Simulated::new(None);
    let err = search(&mut sim, &options(), "sim", |_| {
        Err(std::io::Error::other("disk full"))
    })
    .expect_err("save");
    assert!(matches!(err, SearchError::Save { step: 0, .. }));
    assert_eq!(sim.calls.len(), 1);
}

#[test]
fn little_flags_a_saturated_generator() {
    // 50 users, 100 req/s at 100 ms: only 10 users were busy.
    let steps = vec![StepRecord {
        index: 0,
        load: 50.0,
        warmup_s: 0.0,
        hold_s: 10.0,
        sla_passed: true,
        measured: StepMeasurement {
            throughput_rps: 100.0,
            concurrency: None,
            p50_ms: None,
            p95_ms: None,
            p99_ms: None,
            mean_ms: Some(100.0),
            think_ms: 0.0,
            error_rate: 0.0,
            requests: 1000,
            slas: Vec::new(),
            elapsed_s: 10.0,
            results: None,
            generator_bound: None,
        },
    }];
    let a = analyze(&steps, SearchModel::Closed, &AnalysisOptions::default());
    assert_eq!(a.little.len(), 1);
    assert!((a.little[0].implied - 10.0).abs() < 1e-9);
    assert!(!a.little[0].consistent);
    assert!(
        a.warnings.iter().any(|w| w.contains("saturated")),
        "{:?}",
        a.warnings
    );
    assert!(
        matches!(a.fit, FitOutcome::CannotFit { ref reason } if reason.contains("1 distinct load levels"))
    );
}

#[test]
fn report_round_trips_as_json() {
    let mut sim = Simulated::new(Some(40.0));
    let report = search(&mut sim, &options(), "sim", |_| Ok(())).expect("search");
    let json = serde_json::to_string(&report).expect("json");
    let back: CapacityReport = serde_json::from_str(&json).expect("parse");
    assert_eq!(back.steps.len(), report.steps.len());
    assert_eq!(back.stop, report.stop);
    let v: serde_json::Value = serde_json::from_str(&json).expect("value");
    assert_eq!(v["analysis"]["fit"]["status"], "fitted");
    assert_eq!(v["stop"]["reason"], "sla_breached");
}

#[test]
fn measurement_from_run_results_uses_the_overall_scope() {
    use crate::results::{
        LatencySummary, LoadProfile, ProfileStage, RunResults, RunStatus, ScenarioInfo, ScopeKind,
        ScopeResults, ScopeStats, SerializedHistogram, new_histogram, record,
    };
    let mut h = new_histogram();
    for ms in [10_u64, 20, 30, 40] {
        record(&mut h, Duration::from_millis(ms));
    }
    let histogram = SerializedHistogram::encode(&h).expect("encode");
    let stats = ScopeStats {
        requests: 4000,
        errors: 40,
        error_rate: 0.01,
        throughput_rps: 400.0,
        latency_us: LatencySummary::from_histogram(&h),
        failed_latency_us: None,
        intended_latency_us: None,
    };
    let now = jiff::Timestamp::UNIX_EPOCH;
    let results = RunResults {
        schema_version: crate::results::SCHEMA_VERSION,
        kneepoint_version: "0".into(),
        run_id: "r".into(),
        scenario: ScenarioInfo {
            name: "s".into(),
            path: "s.toml".into(),
            sha256: String::new(),
        },
        target: "http://127.0.0.1".into(),
        backend: "scripted".into(),
        started_at: now,
        ended_at: now,
        duration_s: 10.0,
        status: RunStatus::Completed,
        profile: LoadProfile::Closed {
            stages: vec![ProfileStage {
                name: None,
                target: 10.0,
                ramp_s: 0.0,
                hold_s: 10.0,
            }],
            think_time_us: Some((100_000, 300_000)),
            max_iterations: None,
        },
        stages: Vec::new(),
        scopes: vec![ScopeResults {
            kind: ScopeKind::Overall,
            name: "overall".into(),
            stats,
            status_codes: Default::default(),
            errors: Vec::new(),
            histogram,
            failed_histogram: None,
            intended_histogram: None,
        }],
        series: Vec::new(),
        arrivals: None,
        slas: vec![SlaVerdict {
            name: "overall p95 < 35ms".into(),
            scope: "overall".into(),
            metric: "p95".into(),
            comparison: "<".into(),
            threshold: 35_000.0,
            actual: Some(40_000.0),
            unit: "us".into(),
            threshold_text: "35ms".into(),
            passed: false,
            abort: false,
        }],
        server_metrics: Vec::new(),
        generator: None,
        shards: 1,
        shard: None,
        merged_from: Vec::new(),
    };
    let m = StepMeasurement::from_results(results, 12.5);
    assert_eq!(m.throughput_rps, 400.0);
    assert_eq!(m.error_rate, 0.01);
    assert_eq!(m.requests, 4000);
    assert_eq!(m.think_ms, 200.0);
    assert!(
        (m.mean_ms.unwrap_or_default() - 25.0).abs() < 0.1,
        "{:?}",
        m.mean_ms
    );
    assert!(m.p95_ms.unwrap_or_default() >= 39.9, "{:?}", m.p95_ms);
    assert!(!m.sla_passed());
    assert_eq!(m.elapsed_s, 12.5);
    assert!(m.results.is_some());
    let excess = breach_excess(&m.slas[0]).expect("breached");
    assert!((excess - 5.0 / 35.0).abs() < 1e-12);
}

#[test]
fn a_generator_bound_step_ends_the_search_and_gives_no_knee_of_its_own() {
    /// The simulated target, except that steps from load 8 on are generator-bound.
    struct Bound(Simulated);
    impl StepRunner for Bound {
        fn run_step(&mut self, step: &StepSpec) -> Result<StepMeasurement, StepError> {
            let mut m = self.0.run_step(step)?;
            if step.load >= 8.0 {
                m.generator_bound = Some("CPU at ≥ 90 % of 2 cores in 4 of 5 s".into());
            }
            Ok(m)
        }
    }
    let mut runner = Bound(Simulated::new(None));
    let report = search(&mut runner, &options(), "sim", |_| Ok(())).expect("search");
    let last = report.steps.last().expect("steps");
    assert!(last.load >= 8.0, "the bound step is kept: {}", last.load);
    match &report.stop {
        Some(StopReason::GeneratorBound { step, why }) => {
            assert_eq!(*step, last.index);
            assert!(why.contains("CPU"), "{why}");
        }
        other => panic!("{other:?}"),
    }
    let text = report
        .stop
        .as_ref()
        .map(StopReason::describe)
        .unwrap_or_default();
    assert!(text.contains("generator-bound"), "{text}");
    // The analysis saw only the steps that measured the target.
    let analysed: Vec<f64> = report.analysis.little.iter().map(|l| l.users).collect();
    assert!(
        !analysed.is_empty() && analysed.iter().all(|&u| u < 8.0),
        "{analysed:?}"
    );
    if let Some(knee) = &report.analysis.knee {
        assert!(knee.load < 8.0, "{knee:?}");
    }
}
