//! Universal Scalability Law fit: `X(N) = λN / (1 + σ(N−1) + κN(N−1))`.
//!
//! Invariant: a fit is only returned when the data support it (enough distinct load levels, a
//! throughput that actually changes, R² above a threshold); otherwise the caller gets a
//! [`FitError`] that says why, never a curve through noise. σ and κ are kept ≥ 0 by fixing a
//! parameter at zero and refitting the others when the free fit drives it negative, so the
//! reported uncertainty is that of the model actually used.

use levenberg_marquardt::{LeastSquaresProblem, LevenbergMarquardt};
use nalgebra::{DMatrix, DVector, Dyn, Owned};
use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF as _, StudentsT};

/// One measured point: offered load (users or arrivals per second) and achieved throughput.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LoadPoint {
    /// Concurrency (closed model) or offered arrival rate (open model).
    pub load: f64,
    /// Achieved throughput, requests per second.
    pub throughput_rps: f64,
}

/// When a fit is accepted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FitOptions {
    /// Fewest distinct load levels (more than the three parameters, so the fit is testable).
    pub min_points: usize,
    /// Below this R² the data are reported as not following the USL.
    pub min_r_squared: f64,
    /// Throughput spread (max − min) / mean below this counts as flat.
    pub min_relative_spread: f64,
    /// Confidence level of the reported intervals and band (e.g. 0.95).
    pub confidence: f64,
}

impl Default for FitOptions {
    fn default() -> Self {
        Self {
            min_points: 4,
            min_r_squared: 0.8,
            min_relative_spread: 0.05,
            confidence: 0.95,
        }
    }
}

/// Why the data do not support a fit.
#[derive(Debug, Clone, PartialEq, thiserror::Error, miette::Diagnostic)]
pub enum FitError {
    /// Not enough distinct load levels.
    #[error("cannot fit: {found} distinct load levels, the model needs at least {needed}")]
    TooFewPoints {
        /// Distinct load levels given.
        found: usize,
        /// Minimum required.
        needed: usize,
    },
    /// Throughput does not change with load.
    #[error(
        "cannot fit: throughput is flat ({spread_pct:.1} % spread over the load levels), so load does not explain it"
    )]
    Flat {
        /// (max − min) / mean, in percent.
        spread_pct: f64,
    },
    /// A point is negative, zero load or not a number.
    #[error(
        "cannot fit: point {index} (load {load}, throughput {throughput_rps}) is not a positive number"
    )]
    InvalidPoint {
        /// 0-based index in the input.
        index: usize,
        /// Its load.
        load: f64,
        /// Its throughput.
        throughput_rps: f64,
    },
    /// The best fit explains too little of the variation.
    #[error(
        "cannot fit: R² {r_squared:.2} is below {min:.2}; the points do not follow the scalability law (too noisy, or the system changed during the search)"
    )]
    PoorFit {
        /// R² of the best fit found.
        r_squared: f64,
        /// Threshold.
        min: f64,
    },
    /// The optimiser found no usable solution.
    #[error("cannot fit: the least-squares solver did not converge ({0})")]
    Diverged(String),
}

/// A fitted parameter with its uncertainty.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// Best value.
    pub value: f64,
    /// Standard error from the covariance matrix; `None` when it could not be estimated.
    pub std_error: Option<f64>,
    /// Lower end of the confidence interval (clamped at 0 for σ, κ).
    pub low: f64,
    /// Upper end of the confidence interval.
    pub high: f64,
    /// Fixed at zero because a free fit drove it negative.
    pub fixed_at_zero: bool,
}

/// What the fitted curve does at high load.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Peak {
    /// κ > 0: throughput peaks at `n_star` and falls beyond (retrograde region).
    Retrograde {
        /// N* = √((1 − σ)/κ).
        n_star: f64,
        /// Standard error of N* (delta method).
        n_star_std_error: Option<f64>,
        /// X(N*), requests per second.
        x_max_rps: f64,
    },
    /// κ = 0, σ > 0: no retrograde region; throughput approaches λ/σ.
    Asymptote {
        /// λ/σ, requests per second.
        x_limit_rps: f64,
    },
    /// σ = κ = 0: linear scaling over the measured range; no limit visible yet.
    Linear,
}

impl Peak {
    /// One line for people.
    pub fn describe(&self) -> String {
        match self {
            Self::Retrograde {
                n_star, x_max_rps, ..
            } => format!(
                "throughput peaks at N* ≈ {n_star:.1} with X_max ≈ {x_max_rps:.1} req/s, and falls beyond"
            ),
            Self::Asymptote { x_limit_rps } => format!(
                "no retrograde region (κ = 0): throughput approaches λ/σ ≈ {x_limit_rps:.1} req/s"
            ),
            Self::Linear => {
                "no retrograde region and no contention measured: scaling is linear so far".into()
            }
        }
    }
}

/// An accepted USL fit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UslFit {
    /// λ: throughput of one unit of load without contention, req/s per unit.
    pub lambda: Estimate,
    /// σ: contention (serialised fraction).
    pub sigma: Estimate,
    /// κ: coherency (crosstalk) cost.
    pub kappa: Estimate,
    /// Coefficient of determination on throughput.
    pub r_squared: f64,
    /// Root mean squared residual, req/s.
    pub rmse_rps: f64,
    /// Points used.
    pub points: usize,
    /// Confidence level of the intervals and band.
    pub confidence: f64,
    /// Student-t quantile used for intervals (residual degrees of freedom).
    pub t_quantile: f64,
    /// Covariance of (λ, σ, κ); zero rows for fixed parameters; `None` when singular.
    pub covariance: Option<[[f64; 3]; 3]>,
    /// Peak or asymptote of the fitted curve.
    pub peak: Peak,
}

/// One point of the fitted curve with its confidence band.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FittedPoint {
    /// Load.
    pub load: f64,
    /// Fitted throughput, req/s.
    pub rps: f64,
    /// Lower edge of the band (≥ 0).
    pub low: f64,
    /// Upper edge of the band.
    pub high: f64,
}

/// X(N) for given parameters.
pub fn usl_throughput(lambda: f64, sigma: f64, kappa: f64, n: f64) -> f64 {
    lambda * n / (1.0 + sigma * (n - 1.0) + kappa * n * (n - 1.0))
}

impl UslFit {
    /// Fitted throughput at load `n`.
    pub fn throughput(&self, n: f64) -> f64 {
        usl_throughput(self.lambda.value, self.sigma.value, self.kappa.value, n)
    }

    /// Confidence band of the fitted mean at `n` (delta method), as (low, high).
    pub fn band(&self, n: f64) -> (f64, f64) {
        let x = self.throughput(n);
        let Some(cov) = self.covariance else {
            return (x, x);
        };
        let g = gradient(self.lambda.value, self.sigma.value, self.kappa.value, n);
        let mut var = 0.0;
        for (i, gi) in g.iter().enumerate() {
            for (j, gj) in g.iter().enumerate() {
                var += gi * cov[i][j] * gj;
            }
        }
        let half = self.t_quantile * var.max(0.0).sqrt();
        ((x - half).max(0.0), x + half)
    }

    /// `count` evenly spaced points of the curve from 0 to `max_load`, with the band.
    pub fn curve(&self, max_load: f64, count: usize) -> Vec<FittedPoint> {
        let count = count.max(2);
        (0..count)
            .map(|i| {
                #[allow(clippy::cast_precision_loss)] // count is a small plotting resolution
                let load = max_load * i as f64 / (count - 1) as f64;
                let (low, high) = self.band(load);
                FittedPoint {
                    load,
                    rps: self.throughput(load),
                    low,
                    high,
                }
            })
            .collect()
    }

    /// The load at which the fitted curve reaches `rps` on its rising side, if it does.
    pub fn load_for(&self, rps: f64) -> Option<f64> {
        let top = match self.peak {
            Peak::Retrograde { n_star, .. } => n_star,
            // Bounded search: far beyond any load a search would reach.
            Peak::Asymptote { .. } | Peak::Linear => 1e9,
        };
        if self.throughput(top) < rps {
            return None;
        }
        let (mut lo, mut hi) = (0.0, top);
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            if self.throughput(mid) < rps {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Some(hi)
    }
}

/// ∂X/∂(λ, σ, κ) at load `n`.
fn gradient(lambda: f64, sigma: f64, kappa: f64, n: f64) -> [f64; 3] {
    let d = 1.0 + sigma * (n - 1.0) + kappa * n * (n - 1.0);
    let d2 = d * d;
    [
        n / d,
        -lambda * n * (n - 1.0) / d2,
        -lambda * n * n * (n - 1.0) / d2,
    ]
}

/// The least-squares problem over the free subset of (λ, σ, κ).
struct UslProblem<'a> {
    points: &'a [LoadPoint],
    free: [bool; 3],
    full: [f64; 3],
}

impl UslProblem<'_> {
    fn free_count(&self) -> usize {
        self.free.iter().filter(|f| **f).count()
    }
}

impl LeastSquaresProblem<f64, Dyn, Dyn> for UslProblem<'_> {
    type ResidualStorage = Owned<f64, Dyn>;
    type JacobianStorage = Owned<f64, Dyn, Dyn>;
    type ParameterStorage = Owned<f64, Dyn>;

    fn set_params(&mut self, x: &DVector<f64>) {
        let mut k = 0;
        for (i, free) in self.free.iter().enumerate() {
            if *free {
                self.full[i] = x[k];
                k += 1;
            }
        }
    }

    fn params(&self) -> DVector<f64> {
        DVector::from_iterator(
            self.free_count(),
            self.full
                .iter()
                .zip(self.free)
                .filter(|(_, f)| *f)
                .map(|(v, _)| *v),
        )
    }

    fn residuals(&self) -> Option<DVector<f64>> {
        let [l, s, k] = self.full;
        let r = DVector::from_iterator(
            self.points.len(),
            self.points
                .iter()
                .map(|p| usl_throughput(l, s, k, p.load) - p.throughput_rps),
        );
        r.iter().all(|v| v.is_finite()).then_some(r)
    }

    fn jacobian(&self) -> Option<DMatrix<f64>> {
        let [l, s, k] = self.full;
        let cols = self.free_count();
        let mut j = DMatrix::zeros(self.points.len(), cols);
        for (row, p) in self.points.iter().enumerate() {
            let g = gradient(l, s, k, p.load);
            let mut c = 0;
            for (i, free) in self.free.iter().enumerate() {
                if *free {
                    j[(row, c)] = g[i];
                    c += 1;
                }
            }
        }
        j.iter().all(|v| v.is_finite()).then_some(j)
    }
}

/// Fit the USL to `points` (any order; load > 0).
pub fn fit_usl(points: &[LoadPoint], opts: &FitOptions) -> Result<UslFit, FitError> {
    for (index, p) in points.iter().enumerate() {
        let ok = p.load.is_finite()
            && p.throughput_rps.is_finite()
            && p.load > 0.0
            && p.throughput_rps >= 0.0;
        if !ok {
            return Err(FitError::InvalidPoint {
                index,
                load: p.load,
                throughput_rps: p.throughput_rps,
            });
        }
    }
    let mut loads: Vec<f64> = points.iter().map(|p| p.load).collect();
    loads.sort_by(f64::total_cmp);
    loads.dedup_by(|a, b| (*a - *b).abs() <= 1e-9 * b.abs().max(1.0));
    let needed = opts.min_points.max(4);
    if loads.len() < needed {
        return Err(FitError::TooFewPoints {
            found: loads.len(),
            needed,
        });
    }
    #[allow(clippy::cast_precision_loss)] // point counts are small
    let m = points.len() as f64;
    let mean = points.iter().map(|p| p.throughput_rps).sum::<f64>() / m;
    let (lo, hi) = points.iter().fold((f64::INFINITY, 0.0_f64), |(lo, hi), p| {
        (lo.min(p.throughput_rps), hi.max(p.throughput_rps))
    });
    let spread = if mean > 0.0 { (hi - lo) / mean } else { 0.0 };
    if spread < opts.min_relative_spread {
        return Err(FitError::Flat {
            spread_pct: spread * 100.0,
        });
    }

    // Two starts: the linearised estimate (Gunther's N/X regression) and a plain one; keep the
    // lower residual, since a poor start can leave the solver in a flat valley.
    let starts = [linearised_start(points), plain_start(points)];
    let mut best: Option<(UslProblem<'_>, f64)> = None;
    let mut last_failure = String::from("no start converged");
    for start in starts.into_iter().flatten() {
        match solve_constrained(points, start) {
            Ok((problem, rss)) => {
                if best.as_ref().is_none_or(|(_, b)| rss < *b) {
                    best = Some((problem, rss));
                }
            }
            Err(e) => last_failure = e,
        }
    }
    let Some((problem, rss)) = best else {
        return Err(FitError::Diverged(last_failure));
    };

    let tss: f64 = points
        .iter()
        .map(|p| (p.throughput_rps - mean).powi(2))
        .sum();
    let r_squared = 1.0 - rss / tss;
    if r_squared.is_nan() || r_squared < opts.min_r_squared {
        return Err(FitError::PoorFit {
            r_squared,
            min: opts.min_r_squared,
        });
    }
    Ok(summarise(&problem, rss, r_squared, opts.confidence))
}

/// Start from the linear regression N/X = a + b(N−1) + cN(N−1), where a = 1/λ, b = σ/λ, c = κ/λ.
fn linearised_start(points: &[LoadPoint]) -> Option<[f64; 3]> {
    let usable: Vec<&LoadPoint> = points.iter().filter(|p| p.throughput_rps > 0.0).collect();
    let a = DMatrix::from_fn(usable.len(), 3, |r, c| {
        let n = usable[r].load;
        match c {
            0 => 1.0,
            1 => n - 1.0,
            _ => n * (n - 1.0),
        }
    });
    let y = DVector::from_iterator(
        usable.len(),
        usable.iter().map(|p| p.load / p.throughput_rps),
    );
    let sol = a.svd(true, true).solve(&y, 1e-12).ok()?;
    if sol[0].is_nan() || sol[0] <= 0.0 {
        return None;
    }
    let lambda = 1.0 / sol[0];
    Some([
        lambda,
        (sol[1] * lambda).clamp(0.0, 1.0),
        (sol[2] * lambda).max(0.0),
    ])
}

/// Start from the throughput per unit of load at the lowest load, small σ and κ.
fn plain_start(points: &[LoadPoint]) -> Option<[f64; 3]> {
    let first = points.iter().min_by(|a, b| a.load.total_cmp(&b.load))?;
    let lambda = first.throughput_rps / first.load;
    (lambda > 0.0).then_some([lambda, 0.05, 1e-4])
}

/// Fit with all parameters free; fix any of σ, κ that go negative at zero and refit.
fn solve_constrained(
    points: &[LoadPoint],
    start: [f64; 3],
) -> Result<(UslProblem<'_>, f64), String> {
    let mut free = [true, true, true];
    let mut full = start;
    // At most two parameters can be fixed, so three rounds always settle.
    for _ in 0..3 {
        let problem = UslProblem { points, free, full };
        let (problem, report) = LevenbergMarquardt::new().minimize(problem);
        if report.termination.was_usage_issue() || !report.objective_function.is_finite() {
            return Err(format!("{:?}", report.termination));
        }
        let [l, s, k] = problem.full;
        if l.is_nan() || l <= 0.0 {
            return Err("λ came out non-positive".into());
        }
        let mut changed = false;
        for (i, value) in [(1, s), (2, k)] {
            if value < 0.0 {
                free[i] = false;
                changed = true;
            }
        }
        if !changed {
            let rss = 2.0 * report.objective_function;
            return Ok((problem, rss));
        }
        full = [l, s.max(0.0), k.max(0.0)];
        for (i, f) in free.iter().enumerate() {
            if !f {
                full[i] = 0.0;
            }
        }
    }
    Err("σ and κ kept leaving the admissible region".into())
}

fn summarise(problem: &UslProblem<'_>, rss: f64, r_squared: f64, confidence: f64) -> UslFit {
    let [l, s, k] = problem.full;
    let m = problem.points.len();
    let p = problem.free_count();
    let dof = m.saturating_sub(p).max(1);
    #[allow(clippy::cast_precision_loss)] // point counts are small
    let (dof_f, m_f) = (dof as f64, m as f64);
    let t_quantile = StudentsT::new(0.0, 1.0, dof_f)
        .map(|t| t.inverse_cdf(0.5 + confidence / 2.0))
        .unwrap_or(1.96);
    let covariance = covariance(problem, rss / dof_f);
    let estimate = |i: usize, value: f64| {
        let se = covariance.map(|c| c[i][i].max(0.0).sqrt());
        let half = se.map_or(0.0, |se| t_quantile * se);
        let low = if i == 0 {
            value - half
        } else {
            (value - half).max(0.0)
        };
        Estimate {
            value,
            std_error: se,
            low,
            high: value + half,
            fixed_at_zero: !problem.free[i],
        }
    };
    let peak = if k > 0.0 && s < 1.0 {
        let n_star = ((1.0 - s) / k).sqrt();
        let n_star_std_error = covariance.map(|c| {
            // ∂N*/∂σ = −1/(2κN*), ∂N*/∂κ = −N*/(2κ).
            let gs = -1.0 / (2.0 * k * n_star);
            let gk = -n_star / (2.0 * k);
            (gs * gs * c[1][1] + 2.0 * gs * gk * c[1][2] + gk * gk * c[2][2])
                .max(0.0)
                .sqrt()
        });
        Peak::Retrograde {
            n_star,
            n_star_std_error,
            x_max_rps: usl_throughput(l, s, k, n_star),
        }
    } else if k > 0.0 {
        // σ ≥ 1: every unit of load beyond the first only adds contention.
        Peak::Retrograde {
            n_star: 1.0,
            n_star_std_error: None,
            x_max_rps: l,
        }
    } else if s > 0.0 {
        Peak::Asymptote { x_limit_rps: l / s }
    } else {
        Peak::Linear
    };
    UslFit {
        lambda: estimate(0, l),
        sigma: estimate(1, s),
        kappa: estimate(2, k),
        r_squared,
        rmse_rps: (rss / m_f).sqrt(),
        points: m,
        confidence,
        t_quantile,
        covariance,
        peak,
    }
}

/// s²(JᵀJ)⁻¹ expanded to 3×3 (zeros for fixed parameters).
fn covariance(problem: &UslProblem<'_>, s2: f64) -> Option<[[f64; 3]; 3]> {
    let j = problem.jacobian()?;
    let inv = (j.transpose() * &j).try_inverse()?;
    let idx: Vec<usize> = (0..3).filter(|i| problem.free[*i]).collect();
    let mut out = [[0.0; 3]; 3];
    for (a, &i) in idx.iter().enumerate() {
        for (b, &k) in idx.iter().enumerate() {
            out[i][k] = s2 * inv[(a, b)];
        }
    }
    out.iter().flatten().all(|v| v.is_finite()).then_some(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rand::{Rng as _, SeedableRng as _, rngs::StdRng};

    /// Standard normal by Box–Muller, so tests need no extra distribution crate.
    pub(crate) fn normal(rng: &mut StdRng) -> f64 {
        let u1: f64 = rng.random::<f64>().max(1e-12);
        let u2: f64 = rng.random();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    fn synthetic(l: f64, s: f64, k: f64, loads: &[f64], noise: f64, seed: u64) -> Vec<LoadPoint> {
        let mut rng = StdRng::seed_from_u64(seed);
        loads
            .iter()
            .map(|&n| LoadPoint {
                load: n,
                throughput_rps: usl_throughput(l, s, k, n) * (1.0 + noise * normal(&mut rng)),
            })
            .collect()
    }

    /// The default fit of a synthetic curve at every load of [`LOADS`].
    fn fitted(l: f64, s: f64, k: f64, noise: f64, seed: u64) -> UslFit {
        fit_usl(
            &synthetic(l, s, k, &LOADS, noise, seed),
            &FitOptions::default(),
        )
        .expect("fit")
    }

    #[track_caller]
    fn close(actual: f64, expected: f64, rel: f64) {
        assert!(
            (actual - expected).abs() <= rel * expected.abs(),
            "{actual} not within {rel} of {expected}"
        );
    }

    const LOADS: [f64; 12] = [
        1.0, 2.0, 4.0, 8.0, 12.0, 16.0, 24.0, 32.0, 48.0, 64.0, 96.0, 128.0,
    ];

    #[test]
    fn recovers_known_parameters_with_noise() {
        // Several seeds, so a lucky draw cannot pass the test. A 95 % interval may miss the
        // truth now and then, so coverage is counted over the seeds rather than asserted per seed.
        let mut covered = 0;
        for seed in 1..=10 {
            covered += usize::from(recovers_with_seed(seed));
        }
        assert!(
            covered >= 7,
            "intervals covered the true λ and κ in {covered} of 10 fits"
        );
    }

    /// Checks the estimates; returns whether both λ and κ intervals contain the true values.
    fn recovers_with_seed(seed: u64) -> bool {
        let fit = fitted(100.0, 0.03, 0.0005, 0.02, seed);
        close(fit.lambda.value, 100.0, 0.05);
        close(fit.sigma.value, 0.03, 0.35);
        close(fit.kappa.value, 0.0005, 0.35);
        assert!(fit.r_squared > 0.97, "{}", fit.r_squared);
        let Peak::Retrograde {
            n_star, x_max_rps, ..
        } = fit.peak
        else {
            panic!("expected a peak, got {:?}", fit.peak)
        };
        // True N* = sqrt(0.97 / 0.0005) ≈ 44.0.
        close(n_star, (0.97_f64 / 0.0005).sqrt(), 0.15);
        close(x_max_rps, usl_throughput(100.0, 0.03, 0.0005, 44.05), 0.05);
        let inside = |e: &Estimate, truth: f64| e.low <= truth && truth <= e.high;
        inside(&fit.lambda, 100.0) && inside(&fit.kappa, 0.0005)
    }

    #[test]
    fn exact_data_fits_exactly() {
        let fit = fitted(250.0, 0.1, 0.002, 0.0, 1);
        close(fit.lambda.value, 250.0, 1e-6);
        close(fit.sigma.value, 0.1, 1e-5);
        close(fit.kappa.value, 0.002, 1e-5);
        close(fit.r_squared, 1.0, 1e-9);
    }

    #[test]
    fn no_coherency_gives_asymptote_not_peak() {
        // Amdahl: κ = 0. Noise can push κ below zero; it must be fixed at zero, not reported negative.
        let fit = fitted(50.0, 0.08, 0.0, 0.01, 3);
        assert!(fit.kappa.value >= 0.0);
        match fit.peak {
            Peak::Asymptote { x_limit_rps } => close(x_limit_rps, 50.0 / 0.08, 0.15),
            Peak::Retrograde { n_star, .. } => {
                assert!(n_star > 128.0 * 2.0, "peak far beyond the data: {n_star}")
            }
            Peak::Linear => panic!("σ = 0.08 must show"),
        }
        assert!(
            fit.peak.describe().contains("N*") || fit.peak.describe().contains("no retrograde")
        );
    }

    #[test]
    fn band_contains_the_fit_and_widens_with_noise() {
        let quiet = fitted(100.0, 0.03, 0.0005, 0.005, 9);
        let noisy = fitted(100.0, 0.03, 0.0005, 0.04, 9);
        let (lo, hi) = quiet.band(40.0);
        assert!(lo <= quiet.throughput(40.0) && quiet.throughput(40.0) <= hi);
        let (nlo, nhi) = noisy.band(40.0);
        assert!(nhi - nlo > hi - lo, "noisy band {nlo}..{nhi} vs {lo}..{hi}");
        let curve = quiet.curve(128.0, 33);
        assert_eq!(curve.len(), 33);
        assert_eq!(curve[0].rps, 0.0);
    }

    #[test]
    fn degenerate_inputs_cannot_fit() {
        let opts = FitOptions::default();
        let three = synthetic(100.0, 0.03, 0.0005, &[1.0, 2.0, 4.0], 0.0, 1);
        assert!(matches!(
            fit_usl(&three, &opts),
            Err(FitError::TooFewPoints {
                found: 3,
                needed: 4
            })
        ));
        // Repeated loads are not distinct levels.
        let repeated: Vec<LoadPoint> = [1.0, 1.0, 2.0, 2.0, 4.0, 4.0]
            .iter()
            .map(|&n| LoadPoint {
                load: n,
                throughput_rps: 10.0 * n,
            })
            .collect();
        assert!(matches!(
            fit_usl(&repeated, &opts),
            Err(FitError::TooFewPoints { found: 3, .. })
        ));
        let flat: Vec<LoadPoint> = LOADS
            .iter()
            .map(|&n| LoadPoint {
                load: n,
                throughput_rps: 500.0 + (n % 3.0),
            })
            .collect();
        let err = fit_usl(&flat, &opts).expect_err("flat");
        assert!(matches!(err, FitError::Flat { .. }), "{err}");
        assert!(
            err.to_string()
                .starts_with("cannot fit: throughput is flat")
        );
        // Pure noise around a level: no law explains it.
        let mut rng = StdRng::seed_from_u64(11);
        let noisy: Vec<LoadPoint> = LOADS
            .iter()
            .map(|&n| LoadPoint {
                load: n,
                throughput_rps: 300.0 * (1.0 + 0.3 * normal(&mut rng)).abs(),
            })
            .collect();
        let err = fit_usl(&noisy, &opts).expect_err("noise");
        assert!(matches!(err, FitError::PoorFit { .. }), "{err}");
        let bad = [LoadPoint {
            load: f64::NAN,
            throughput_rps: 1.0,
        }];
        assert!(matches!(
            fit_usl(&bad, &opts),
            Err(FitError::InvalidPoint { index: 0, .. })
        ));
    }

    #[test]
    fn load_for_inverts_the_curve() {
        let fit = fitted(100.0, 0.03, 0.0005, 0.0, 1);
        let n = fit.load_for(fit.throughput(10.0)).expect("reachable");
        close(n, 10.0, 1e-6);
        assert_eq!(fit.load_for(1e9), None);
    }

    #[test]
    fn jacobian_matches_numeric_derivative() {
        // The crate's finite differences take steps too large for κ at high loads; the analytic
        // formula is the same for every row, so the low-load rows suffice.
        let pts = synthetic(100.0, 0.03, 0.0005, &LOADS[..6], 0.0, 1);
        let mut p = UslProblem {
            points: &pts,
            free: [true; 3],
            full: [90.0, 0.02, 0.001],
        };
        let numeric = levenberg_marquardt::differentiate_numerically(&mut p).expect("numeric");
        let analytic = p.jacobian().expect("analytic");
        assert_eq!(analytic.shape(), numeric.shape(), "{analytic} {numeric}");
        for (a, n) in analytic.iter().zip(numeric.iter()) {
            assert!(
                (a - n).abs() <= 1e-4 * (1.0 + n.abs()),
                "{a} vs {n}: {analytic} {numeric}"
            );
        }
    }
}
