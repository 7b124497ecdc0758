//! Synthetic but realistic results, built from simulated requests with a fixed seed, for tests
//! of every module that reads [`RunResults`]: a closed and an open run whose every histogram,
//! second and scope is made from the same simulated calls, as the engine would record them.
#![allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]

use std::collections::{BTreeMap, BTreeSet};

use super::Counts;
use crate::results::{
    ArrivalStats, ArrivalUnit, ErrorCount, ErrorKind, LoadProfile, OVERALL_SCOPE, ProfileStage,
    RunResults, RunStatus, SCHEMA_VERSION, ScenarioInfo, ScopeKind, ScopeResults, SecondSample,
    StageRecord, new_histogram,
};
use crate::scenario::model::{LatencyStat, Operator, Sla, SlaMetric, SlaScope};

/// Where the committed sample lives, relative to the crate root.
pub(crate) const SAMPLE_PATH: &str = "tests/fixtures/results/sample.json";

/// SplitMix64: tiny, seedable, identical on every platform, and good enough for simulation.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Standard normal (Box–Muller).
    pub(crate) fn gauss(&mut self) -> f64 {
        let u = self.unit().max(1e-12);
        let v = self.unit();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// One simulated request.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    /// Index into the spec's request names.
    pub(crate) request: usize,
    /// Send time, µs since the run start.
    pub(crate) start_us: u64,
    /// Latency from the actual send.
    pub(crate) latency_us: u64,
    /// Open model: latency from the intended start.
    pub(crate) intended_us: Option<u64>,
    /// Response status, if any.
    pub(crate) status: Option<u16>,
    /// Failure, if any.
    pub(crate) error: Option<(ErrorKind, &'static str)>,
    /// Open model: started late.
    pub(crate) late: bool,
}

impl Call {
    fn end_us(&self) -> u64 {
        self.start_us + self.latency_us
    }
}

/// One transaction iteration of one user.
#[derive(Debug, Clone)]
pub(crate) struct Iteration {
    /// Virtual user (closed) or arrival number (open).
    pub(crate) user: u32,
    /// Index into the spec's transactions.
    pub(crate) tx: usize,
    /// Requests in order.
    pub(crate) calls: Vec<Call>,
}

/// Everything about a run except its requests.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    pub(crate) started_at: jiff::Timestamp,
    pub(crate) duration_s: u32,
    pub(crate) profile: LoadProfile,
    /// Transaction names and, per transaction, its request indices.
    pub(crate) transactions: Vec<(&'static str, Vec<usize>)>,
    /// Request scope names (`transaction/request`).
    pub(crate) requests: Vec<&'static str>,
    pub(crate) slas: Vec<Sla>,
    pub(crate) arrivals: Option<ArrivalStats>,
    pub(crate) status: RunStatus,
}

impl Spec {
    fn stages(&self) -> &[ProfileStage] {
        match &self.profile {
            LoadProfile::Closed { stages, .. } | LoadProfile::Open { stages, .. } => stages,
        }
    }

    /// Users or rate at `t` seconds: linear ramps from the previous stage's target.
    pub(crate) fn load_at(&self, t: f64) -> f64 {
        let mut start = 0.0;
        let mut prev = 0.0;
        for s in self.stages() {
            let ramp_end = start + s.ramp_s;
            if t < ramp_end && s.ramp_s > 0.0 {
                return prev + (s.target - prev) * ((t - start) / s.ramp_s);
            }
            if t <= ramp_end + s.hold_s {
                return s.target;
            }
            start = ramp_end + s.hold_s;
            prev = s.target;
        }
        prev
    }

    /// Halve every configured target (one of two equal shards).
    pub(crate) fn halved(&self) -> Self {
        let mut half = self.clone();
        let stages = match &mut half.profile {
            LoadProfile::Closed { stages, .. } | LoadProfile::Open { stages, .. } => stages,
        };
        for s in stages {
            s.target /= 2.0;
        }
        half
    }
}

fn latency_sla(name: &str, scope: SlaScope, stat: LatencyStat, ms: f64) -> Sla {
    Sla {
        name: name.into(),
        scope,
        metric: SlaMetric::Latency(stat),
        comparison: Operator::Lt,
        threshold: ms * 1000.0,
        threshold_text: format!("{ms}ms"),
        abort: false,
    }
}

fn stage(name: &str, target: f64, ramp_s: f64, hold_s: f64) -> ProfileStage {
    ProfileStage {
        name: Some(name.into()),
        target,
        ramp_s,
        hold_s,
    }
}

/// The closed run's spec: 3 stages over 60 s, 2 transactions × 2 requests.
pub(crate) fn closed_spec() -> Spec {
    Spec {
        started_at: jiff::Timestamp::from_second(1_780_000_000).expect("valid time"),
        duration_s: 60,
        profile: LoadProfile::Closed {
            stages: vec![
                stage("warm-up", 4.0, 10.0, 10.0),
                stage("steady", 8.0, 5.0, 15.0),
                stage("peak", 12.0, 5.0, 15.0),
            ],
            think_time_us: Some((200_000, 400_000)),
            max_iterations: None,
        },
        transactions: vec![("browse", vec![0, 1]), ("checkout", vec![2, 3])],
        requests: vec![
            "browse/home",
            "browse/search",
            "checkout/cart",
            "checkout/pay",
        ],
        slas: vec![
            latency_sla(
                "overall p95 < 250ms",
                SlaScope::Overall,
                LatencyStat::P95,
                250.0,
            ),
            Sla {
                name: "overall error rate < 0.5%".into(),
                scope: SlaScope::Overall,
                metric: SlaMetric::ErrorRate,
                comparison: Operator::Lt,
                threshold: 0.005,
                threshold_text: "0.5%".into(),
                abort: true,
            },
            latency_sla(
                "checkout p99 < 400ms",
                SlaScope::Transaction("checkout".into()),
                LatencyStat::P99,
                400.0,
            ),
            latency_sla(
                "search p99.9 < 1s",
                SlaScope::Request("browse/search".into()),
                LatencyStat::P99_9,
                1000.0,
            ),
            Sla {
                name: "overall throughput >= 10/s".into(),
                scope: SlaScope::Overall,
                metric: SlaMetric::Throughput,
                comparison: Operator::Ge,
                threshold: 10.0,
                threshold_text: "10/s".into(),
                abort: false,
            },
        ],
        arrivals: None,
        status: RunStatus::Completed,
    }
}

/// Simulated requests of the closed run (fixed seed).
pub(crate) fn closed_iterations(spec: &Spec) -> Vec<Iteration> {
    // Base latency per request (ms) and how each request tends to fail.
    const BASE_MS: [f64; 4] = [8.0, 25.0, 15.0, 60.0];
    let mut rng = Rng::new(0x6b6e_6565_706f_696e);
    let end_us = u64::from(spec.duration_s) * 1_000_000;
    let mut out = Vec::new();
    for second in 0..spec.duration_s {
        let users = spec.load_at(f64::from(second) + 0.5);
        let n = (users * 2.5).round() as u32;
        for _ in 0..n {
            let user = (rng.unit() * users.max(1.0)) as u32;
            let tx = usize::from(rng.unit() >= 0.75);
            let mut at = u64::from(second) * 1_000_000 + (rng.unit() * 1e6) as u64;
            let mut calls = Vec::new();
            for &request in &spec.transactions[tx].1 {
                let slow = if rng.unit() < 0.01 { 8.0 } else { 1.0 };
                let ms =
                    BASE_MS[request] * (1.0 + users / 10.0) * (0.35 * rng.gauss()).exp() * slow;
                let mut call = Call {
                    request,
                    start_us: at,
                    latency_us: (ms * 1000.0).max(1.0) as u64,
                    intended_us: None,
                    status: Some(if request == 3 { 201 } else { 200 }),
                    error: None,
                    late: false,
                };
                let roll = rng.unit();
                match request {
                    3 if roll < 0.03 => {
                        call.status = Some(500);
                        call.error = Some((ErrorKind::Status, "HTTP 500 on POST /pay"));
                    }
                    3 if roll < 0.04 => {
                        call.status = Some(503);
                        call.error = Some((ErrorKind::Status, "HTTP 503 on POST /pay"));
                    }
                    1 if roll < 0.006 => {
                        call.status = None;
                        call.latency_us = 5_000_000;
                        call.error = Some((ErrorKind::Timeout, "no response within 5s"));
                    }
                    1 if roll < 0.009 => {
                        call.status = None;
                        call.error = Some((ErrorKind::Other, "connection reset by peer"));
                    }
                    2 if roll < 0.01 => {
                        call.error = Some((
                            ErrorKind::Check,
                            "check failed: body does not contain `added`",
                        ));
                    }
                    0 if users > 8.0 && roll < 0.004 => {
                        call.status = None;
                        call.latency_us = 1_000 + (roll * 1e5) as u64;
                        call.error =
                            Some((ErrorKind::Connect, "connection refused (127.0.0.1:8080)"));
                    }
                    _ => {}
                }
                if call.end_us() >= end_us {
                    break;
                }
                at = call.end_us();
                let failed = call.error.is_some();
                calls.push(call);
                if failed {
                    break;
                }
            }
            if !calls.is_empty() {
                out.push(Iteration { user, tx, calls });
            }
        }
    }
    out
}

/// The open run's spec: one stage at 40 arrivals/s for 20 s, one transaction of one request.
pub(crate) fn open_spec() -> Spec {
    Spec {
        started_at: jiff::Timestamp::from_second(1_780_001_000).expect("valid time"),
        duration_s: 20,
        profile: LoadProfile::Open {
            stages: vec![stage("constant", 40.0, 0.0, 20.0)],
            unit: ArrivalUnit::Requests,
            max_in_flight: 50,
            max_iterations: None,
        },
        transactions: vec![("api", vec![0])],
        requests: vec!["api/get"],
        slas: vec![latency_sla(
            "overall p99 < 100ms",
            SlaScope::Overall,
            LatencyStat::P99,
            100.0,
        )],
        arrivals: None,
        status: RunStatus::Interrupted,
    }
}

/// Open-model arrivals: the target stalls from 8 s to 12 s, so arrivals queue and start late.
pub(crate) fn open_iterations(spec: &Spec) -> (Vec<Iteration>, ArrivalStats) {
    let mut rng = Rng::new(42);
    let mut stats = ArrivalStats::default();
    let mut out = Vec::new();
    let interval_us = 25_000;
    let end_us = u64::from(spec.duration_s) * 1_000_000;
    let mut free_at = 0u64;
    let mut i = 0u64;
    while i * interval_us < end_us {
        let intended = i * interval_us;
        stats.scheduled += 1;
        let start = intended.max(free_at);
        let stalled = (8_000_000..12_000_000).contains(&start);
        let latency = if stalled {
            30_000 + (rng.unit() * 5_000.0) as u64
        } else {
            (4_000.0 * (0.3 * rng.gauss()).exp()) as u64
        };
        if start + latency >= end_us {
            stats.missed += 1;
            i += 1;
            continue;
        }
        // One connection: the next arrival cannot start before this one ends.
        free_at = start + latency;
        let lag = start - intended;
        stats.started += 1;
        stats.max_lag_us = stats.max_lag_us.max(lag);
        let late = lag > 10_000;
        stats.late += u64::from(late);
        out.push(Iteration {
            user: i as u32,
            tx: 0,
            calls: vec![Call {
                request: 0,
                start_us: start,
                latency_us: latency.max(1),
                intended_us: Some(latency.max(1) + lag),
                status: Some(200),
                error: None,
                late,
            }],
        });
        i += 1;
    }
    (out, stats)
}

/// Accumulates one scope.
struct Acc {
    kind: ScopeKind,
    name: String,
    counts: Counts,
    status: BTreeMap<String, u64>,
    kinds: BTreeMap<ErrorKind, (u64, BTreeSet<String>)>,
}

impl Acc {
    fn new(kind: ScopeKind, name: &str, open: bool) -> Self {
        Self {
            kind,
            name: name.to_owned(),
            counts: Counts::new(open),
            status: BTreeMap::new(),
            kinds: BTreeMap::new(),
        }
    }

    fn add(
        &mut self,
        latency: u64,
        intended: Option<u64>,
        status: Option<u16>,
        error: Option<(ErrorKind, &str)>,
    ) {
        let c = &mut self.counts;
        c.requests += 1;
        if error.is_some() {
            c.failed
                .get_or_insert_with(new_histogram)
                .saturating_record(latency.max(1));
        } else {
            c.hist.saturating_record(latency.max(1));
            if let (Some(h), Some(v)) = (c.intended.as_mut(), intended) {
                h.saturating_record(v.max(1));
            }
        }
        if let Some(code) = status {
            *self.status.entry(code.to_string()).or_default() += 1;
        }
        if let Some((kind, msg)) = error {
            c.errors += 1;
            let e = self.kinds.entry(kind).or_default();
            e.0 += 1;
            e.1.insert(msg.to_owned());
        }
    }

    fn finish(self, duration_s: f64) -> ScopeResults {
        ScopeResults {
            status_codes: self.status,
            errors: self
                .kinds
                .into_iter()
                .map(|(kind, (count, samples))| ErrorCount {
                    kind,
                    count,
                    samples: samples.into_iter().take(5).collect(),
                })
                .collect(),
            ..self.counts.scope(self.kind, &self.name, duration_s)
        }
    }
}

/// Scopes of one time window (the whole run or one stage), attributing by completion time.
fn scopes_of(
    spec: &Spec,
    iterations: &[Iteration],
    from_us: u64,
    to_us: u64,
    secs: f64,
) -> Vec<ScopeResults> {
    let open = matches!(spec.profile, LoadProfile::Open { .. });
    let mut overall = Acc::new(ScopeKind::Overall, OVERALL_SCOPE, open);
    let mut txs: Vec<Acc> = spec
        .transactions
        .iter()
        .map(|(n, _)| Acc::new(ScopeKind::Transaction, n, open))
        .collect();
    let mut reqs: Vec<Acc> = spec
        .requests
        .iter()
        .map(|n| Acc::new(ScopeKind::Request, n, open))
        .collect();
    let inside = |us: u64| (from_us..to_us).contains(&us);
    for it in iterations {
        for c in &it.calls {
            if inside(c.end_us()) {
                overall.add(c.latency_us, c.intended_us, c.status, c.error);
                reqs[c.request].add(c.latency_us, c.intended_us, c.status, c.error);
            }
        }
        let (Some(first), Some(last)) = (it.calls.first(), it.calls.last()) else {
            continue;
        };
        if inside(last.end_us()) {
            let lag = first.intended_us.map(|i| i - first.latency_us);
            let total = last.end_us() - first.start_us;
            let error = it.calls.iter().find_map(|c| c.error);
            txs[it.tx].add(total, lag.map(|l| total + l), last.status, error);
        }
    }
    std::iter::once(overall)
        .chain(txs)
        .chain(reqs)
        .map(|a| a.finish(secs))
        .collect()
}

/// Build results from simulated requests the way the recorder would.
pub(crate) fn build(spec: &Spec, iterations: &[Iteration]) -> RunResults {
    let duration_us = u64::from(spec.duration_s) * 1_000_000;
    let ended_at = spec
        .started_at
        .checked_add(jiff::SignedDuration::from_secs(i64::from(spec.duration_s)))
        .expect("in range");
    let duration_s = ended_at.duration_since(spec.started_at).as_secs_f64();
    let mut stages = Vec::new();
    let mut start = 0.0;
    for (index, s) in spec.stages().iter().enumerate() {
        let end = (start + s.ramp_s + s.hold_s).min(f64::from(spec.duration_s));
        let (from, to) = ((start * 1e6) as u64, (end * 1e6) as u64);
        stages.push(StageRecord {
            index,
            name: s
                .name
                .clone()
                .unwrap_or_else(|| format!("stage {}", index + 1)),
            start_s: start,
            end_s: end,
            target: s.target,
            scopes: scopes_of(spec, iterations, from, to, end - start),
        });
        start = end;
    }
    let series = (0..spec.duration_s)
        .map(|t| {
            let (from, to) = (u64::from(t) * 1_000_000, u64::from(t + 1) * 1_000_000);
            let mut h = new_histogram();
            let (mut requests, mut errors, mut late) = (0, 0, 0);
            for c in iterations.iter().flat_map(|it| &it.calls) {
                if (from..to).contains(&c.end_us()) {
                    requests += 1;
                    errors += u64::from(c.error.is_some());
                    h.saturating_record(c.intended_us.unwrap_or(c.latency_us).max(1));
                }
                late += u64::from(c.late && (from..to).contains(&c.start_us));
            }
            let q = |q| {
                if h.is_empty() {
                    0
                } else {
                    h.value_at_quantile(q)
                }
            };
            SecondSample {
                t,
                requests,
                errors,
                p50_us: q(0.5),
                p95_us: q(0.95),
                p99_us: q(0.99),
                load: spec.load_at(f64::from(t + 1)),
                late,
            }
        })
        .collect();
    let mut run = RunResults {
        schema_version: SCHEMA_VERSION,
        kneepoint_version: env!("CARGO_PKG_VERSION").to_owned(),
        run_id: "5f0c2d7e-2b1e-4c4e-9a57-0d4a1c9e7b21".into(),
        scenario: ScenarioInfo {
            name: "checkout-flow".into(),
            path: "scenarios/checkout.toml".into(),
            sha256: "9f2c4a1b7e3d5f60a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1".into(),
        },
        target: "http://127.0.0.1:8080".into(),
        backend: "external".into(),
        started_at: spec.started_at,
        ended_at,
        duration_s,
        status: spec.status.clone(),
        profile: spec.profile.clone(),
        stages,
        scopes: scopes_of(spec, iterations, 0, duration_us, duration_s),
        series,
        arrivals: spec.arrivals.clone(),
        slas: Vec::new(),
        server_metrics: Vec::new(),
        generator: None,
        shards: 1,
        shard: None,
        merged_from: Vec::new(),
    };
    run.slas = crate::sla::evaluate(&spec.slas, &run);
    run
}

/// The closed sample run (what `tests/fixtures/results/sample.json` holds).
pub(crate) fn closed_run() -> RunResults {
    let spec = closed_spec();
    build(&spec, &closed_iterations(&spec))
}

/// An interrupted open-model run with late arrivals.
pub(crate) fn open_run() -> RunResults {
    let mut spec = open_spec();
    let (iterations, arrivals) = open_iterations(&spec);
    spec.arrivals = Some(arrivals);
    build(&spec, &iterations)
}

/// The sample as committed: pretty JSON with a final newline.
pub(crate) fn sample_json() -> String {
    let mut text = serde_json::to_string_pretty(&closed_run()).expect("serializable");
    text.push('\n');
    text
}

#[test]
fn closed_run_is_realistic() {
    let run = closed_run();
    let overall = run.overall().expect("overall");
    assert_eq!(run.stages.len(), 3);
    assert_eq!(run.scopes.len(), 1 + 2 + 4);
    assert_eq!(run.series.len(), 60);
    let kinds: BTreeSet<_> = overall.errors.iter().map(|e| e.kind).collect();
    assert_eq!(kinds.len(), 5, "every error kind occurs: {kinds:?}");
    assert!(run.slas.iter().any(|v| v.passed) && run.slas.iter().any(|v| !v.passed));
    let series_total: u64 = run.series.iter().map(|s| s.requests).sum();
    assert_eq!(series_total, overall.stats.requests);
    let stage_total: u64 = run.stages.iter().map(|s| s.scopes[0].stats.requests).sum();
    assert_eq!(stage_total, overall.stats.requests);
}

/// Keeps the committed sample in step with the builder; `KNEEPOINT_UPDATE_FIXTURES=1` rewrites it.
#[test]
fn committed_sample_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(SAMPLE_PATH);
    let want = sample_json();
    if std::env::var_os("KNEEPOINT_UPDATE_FIXTURES").is_some() {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, &want).expect("write sample");
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "{} is stale; rerun with KNEEPOINT_UPDATE_FIXTURES=1",
        path.display()
    );
    let parsed = RunResults::read(&path).expect("sample reads");
    assert_eq!(parsed, closed_run());
}
