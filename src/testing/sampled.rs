//! Synthetic runs for tests: a fixed-seed generator of plausible `RunResults`.
//!
//! Invariant: the same spec and RNG state give the same run; every histogram is real (encoded
//! with `SerializedHistogram::encode`), so comparisons exercise the decode path.

use std::time::Duration;

use rand::Rng;
use rand_distr::{Binomial, Distribution as _, LogNormal, Poisson};

use super::Counts;
use crate::results::{
    LoadProfile, OVERALL_SCOPE, ProfileStage, RunResults, RunStatus, SCHEMA_VERSION, ScenarioInfo,
    ScopeKind, ScopeResults, SecondSample, new_histogram, record,
};

/// What to generate.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    /// Seconds of load.
    pub(crate) seconds: u32,
    /// Mean requests per second (Poisson per second).
    pub(crate) rps: f64,
    /// Median latency, µs.
    pub(crate) median_us: f64,
    /// Log-normal shape.
    pub(crate) sigma: f64,
    /// Every latency is multiplied by this.
    pub(crate) slowdown: f64,
    /// Probability that a request fails.
    pub(crate) error_rate: f64,
}

impl Default for Spec {
    fn default() -> Self {
        Self {
            seconds: 60,
            rps: 500.0,
            median_us: 20_000.0,
            sigma: 0.5,
            slowdown: 1.0,
            error_rate: 0.01,
        }
    }
}

/// How long a failed request of a generated run takes: a refused connection, fast.
const FAILED_US: u64 = 200;

/// A scope of `kind` that saw exactly these latencies (µs), none failed, over `seconds`.
pub(crate) fn scope_of(
    kind: ScopeKind,
    name: &str,
    latencies_us: &[u64],
    seconds: f64,
) -> ScopeResults {
    let mut acc = Counts::new(false);
    for us in latencies_us {
        record(&mut acc.hist, Duration::from_micros(*us));
        acc.requests += 1;
    }
    acc.scope(kind, name, seconds)
}

/// A run of scenario `name` with an overall scope and two transactions, `browse` (60 % of the
/// requests) and `checkout` (40 %, 1.5× slower).
pub(crate) fn run(name: &str, spec: &Spec, rng: &mut impl Rng) -> RunResults {
    let mu = spec.median_us.ln();
    let latency = LogNormal::new(mu, spec.sigma).expect("log-normal");
    let arrivals = Poisson::new(spec.rps).expect("poisson");
    let (mut overall, mut browse, mut checkout) =
        (Counts::new(false), Counts::new(false), Counts::new(false));
    let mut series = Vec::new();
    for t in 0..spec.seconds {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let n = arrivals.sample(rng) as u64;
        let errors = Binomial::new(n, spec.error_rate)
            .expect("binomial")
            .sample(rng);
        // Per-second percentiles from a sorted vector: a histogram per second costs 400 kB.
        let mut second = Vec::new();
        for i in 0..n {
            let is_checkout = rng.random_bool(0.4);
            let factor = if is_checkout { 1.5 } else { 1.0 };
            let us = latency.sample(rng) * spec.slowdown * factor;
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let d = Duration::from_micros(us as u64);
            let failed = i < errors;
            let scope = if is_checkout {
                &mut checkout
            } else {
                &mut browse
            };
            for acc in [&mut overall, scope] {
                if failed {
                    let h = acc.failed.get_or_insert_with(new_histogram);
                    record(h, Duration::from_micros(FAILED_US));
                } else {
                    record(&mut acc.hist, d);
                }
                acc.requests += 1;
                acc.errors += u64::from(failed);
            }
            if !failed {
                second.push(d.as_micros());
            }
        }
        second.sort_unstable();
        let at = |q: f64| {
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss
            )]
            let i = ((q * second.len() as f64).ceil() as usize).saturating_sub(1);
            second
                .get(i)
                .map_or(0, |v| u64::try_from(*v).unwrap_or(u64::MAX))
        };
        series.push(SecondSample {
            t,
            requests: n,
            errors,
            p50_us: at(0.5),
            p95_us: at(0.95),
            p99_us: at(0.99),
            load: spec.rps,
            late: 0,
        });
    }
    let seconds = f64::from(spec.seconds);
    let started_at = jiff::Timestamp::UNIX_EPOCH;
    RunResults {
        schema_version: SCHEMA_VERSION,
        kneepoint_version: "test".to_owned(),
        run_id: format!("run-{}", rng.random::<u32>()),
        scenario: ScenarioInfo {
            name: name.to_owned(),
            path: format!("{name}.toml"),
            sha256: "ab".repeat(32),
        },
        target: "http://127.0.0.1:1".to_owned(),
        backend: "external".to_owned(),
        started_at,
        ended_at: started_at
            .checked_add(jiff::SignedDuration::from_secs(i64::from(spec.seconds)))
            .expect("timestamp"),
        duration_s: seconds,
        status: RunStatus::Completed,
        profile: LoadProfile::Open {
            stages: vec![ProfileStage {
                name: None,
                target: spec.rps,
                ramp_s: 0.0,
                hold_s: seconds,
            }],
            unit: crate::results::ArrivalUnit::Requests,
            max_in_flight: 1000,
            max_iterations: None,
        },
        stages: Vec::new(),
        scopes: vec![
            overall.scope(ScopeKind::Overall, OVERALL_SCOPE, seconds),
            browse.scope(ScopeKind::Transaction, "browse", seconds),
            checkout.scope(ScopeKind::Transaction, "checkout", seconds),
        ],
        series,
        arrivals: None,
        slas: Vec::new(),
        server_metrics: Vec::new(),
        generator: None,
        shards: 1,
        shard: None,
        merged_from: Vec::new(),
    }
}
