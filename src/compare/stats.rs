//! Interval estimates for the difference `candidate − baseline` of one metric.
//!
//! Invariant: pure and deterministic for a given RNG state; every interval is two-sided at the
//! requested confidence and bounds the difference `candidate − baseline` in the metric's unit.
//!
//! Methods, and why:
//! - Percentiles: bootstrap from the stored histograms. A bootstrap resample of size `n` drawn
//!   from a histogram's empirical distribution `F` has the `k`-th smallest value
//!   `F⁻¹(U₍ₖ₎)`, where `U₍ₖ₎ ~ Beta(k, n − k + 1)` is the `k`-th order statistic of `n`
//!   uniforms (the quantile transform is monotone). Drawing that one Beta variate per replicate
//!   gives exactly the distribution of the full-size resample's percentile, without drawing `n`
//!   values, so no cap on the resample size and no rescaling of the interval are needed. The
//!   interval is the observed difference ± z bootstrap standard errors of the difference.
//! - Mean: Welch's t interval from the histograms' mean and standard deviation (what a bootstrap
//!   of the mean converges to; histograms hold thousands of values, so the CLT applies).
//! - Too few observations for either (see [`min_for_quantile`], [`MIN_FOR_MEAN`]): no interval,
//!   so no verdict; the comparison says which metrics of which scopes could not be judged.
//! - Throughput: Welch's t interval on requests per second, from the per-second series of the
//!   overall scope (the last, partial second left out); a transaction or request scope, which
//!   has no series of its own, takes its per-second variance from the overall one by thinning
//!   (each request falls in the scope with its share of the requests).
//! - Error rate: Newcombe's hybrid score interval (Wilson intervals combined), which keeps its
//!   coverage near rates of 0, where the Wald interval collapses.

use hdrhistogram::Histogram;
use rand::Rng;
use rand_distr::{Beta, Distribution as _};
use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF as _, Normal, StudentsT};

/// A closed interval `[lo, hi]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// Lower bound.
    pub lo: f64,
    /// Upper bound.
    pub hi: f64,
}

impl Interval {
    /// Whether zero lies outside the interval (the difference is significant).
    pub fn excludes_zero(&self) -> bool {
        self.lo > 0.0 || self.hi < 0.0
    }

    /// The interval divided by a positive scale.
    pub(crate) fn scaled(self, by: f64) -> Self {
        Self {
            lo: self.lo / by,
            hi: self.hi / by,
        }
    }
}

/// The empirical distribution of a histogram: its quantile function by binary search.
#[derive(Debug, Clone)]
pub(crate) struct Empirical {
    /// Highest value equivalent to each non-empty bucket, ascending.
    values: Vec<u64>,
    /// Count of values at or below the bucket of the same index.
    cumulative: Vec<u64>,
    /// Mean, as `Histogram::mean` computes it (bucket medians).
    mean: f64,
    /// Sample variance from the bucket medians.
    variance: f64,
}

impl Empirical {
    /// One pass over the histogram; every later query is a binary search, not another scan.
    pub(crate) fn from_histogram(h: &Histogram<u64>) -> Self {
        let mut values = Vec::new();
        let mut cumulative = Vec::new();
        let mut total = 0u64;
        let (mut sum, mut sum_sq) = (0.0f64, 0.0f64);
        for v in h.iter_recorded() {
            let count = v.count_at_value();
            total = total.saturating_add(count);
            values.push(v.value_iterated_to());
            cumulative.push(total);
            #[allow(clippy::cast_precision_loss)]
            let (x, c) = (
                h.median_equivalent(v.value_iterated_to()) as f64,
                count as f64,
            );
            sum += x * c;
            sum_sq += x * x * c;
        }
        #[allow(clippy::cast_precision_loss)]
        let n = total as f64;
        let (mean, variance) = if total == 0 {
            (0.0, 0.0)
        } else {
            let mean = sum / n;
            let var = if total > 1 {
                ((sum_sq - n * mean * mean) / (n - 1.0)).max(0.0)
            } else {
                0.0
            };
            (mean, var)
        };
        Self {
            values,
            cumulative,
            mean,
            variance,
        }
    }

    /// Mean of the values.
    pub(crate) fn mean(&self) -> f64 {
        self.mean
    }

    /// Sample variance of the values.
    pub(crate) fn variance(&self) -> f64 {
        self.variance
    }

    /// The `q`-quantile as `Histogram::value_at_quantile` gives it (0 when empty).
    pub(crate) fn quantile(&self, q: f64) -> u64 {
        self.inverse(q).unwrap_or(0)
    }

    pub(crate) fn len(&self) -> u64 {
        self.cumulative.last().copied().unwrap_or(0)
    }

    /// `F⁻¹(u) = min { x : F(x) ≥ u }`, matching `Histogram::value_at_quantile` for `u ∈ (0, 1]`.
    pub(crate) fn inverse(&self, u: f64) -> Option<u64> {
        let n = self.len();
        if n == 0 {
            return None;
        }
        let rank = rank(u, n);
        let i = self.cumulative.partition_point(|&c| c < rank);
        self.values.get(i).copied()
    }

    /// `draws` bootstrap replicates of the `q`-quantile of a full-size resample.
    fn quantile_replicates(&self, q: f64, draws: usize, rng: &mut impl Rng) -> Option<Vec<f64>> {
        let n = self.len();
        if n == 0 {
            return None;
        }
        let k = rank(q, n);
        #[allow(clippy::cast_precision_loss)]
        let beta = Beta::new(k as f64, (n - k + 1) as f64).ok()?;
        #[allow(clippy::cast_precision_loss)]
        (0..draws)
            .map(|_| self.inverse(beta.sample(rng)).map(|v| v as f64))
            .collect()
    }
}

/// The rank HdrHistogram gives quantile `q` of `n` values: the ⌈q·n⌉-th smallest, at least the
/// first (`q` clamped to [0, 1]).
fn rank(q: f64, n: u64) -> u64 {
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let rank = ((q.clamp(0.0, 1.0) * n as f64).ceil() as u64).clamp(1, n);
    rank
}

/// Bootstrap interval of `Q_q(candidate) − Q_q(baseline)`: the observed difference `delta` ±
/// `z` bootstrap standard errors. `None` when either side has fewer than [`min_for_quantile`]
/// observations.
///
/// A normal interval with the bootstrap's standard error rather than a percentile interval:
/// simultaneous intervals (see `CompareOptions::simultaneous`) sit at tails like 0.1 %, which a
/// few thousand replicates cannot place, while their spread is estimated well by a thousand.
pub(crate) fn quantile_difference(
    baseline: &Empirical,
    candidate: &Empirical,
    q: f64,
    delta: f64,
    confidence: f64,
    resamples: usize,
    rng: &mut impl Rng,
) -> Option<Interval> {
    let need = min_for_quantile(q);
    if baseline.len() < need || candidate.len() < need {
        return None;
    }
    let b = baseline.quantile_replicates(q, resamples, rng)?;
    let c = candidate.quantile_replicates(q, resamples, rng)?;
    let diffs: Vec<f64> = c.iter().zip(&b).map(|(c, b)| c - b).collect();
    let (_, variance) = mean_variance(&diffs)?;
    let half = z(confidence) * variance.sqrt();
    Some(Interval {
        lo: delta - half,
        hi: delta + half,
    })
}

/// Mean and sample variance (divided by n − 1) of `xs`; `None` for fewer than two values.
pub(crate) fn mean_variance(xs: &[f64]) -> Option<(f64, f64)> {
    if xs.len() < 2 {
        return None;
    }
    #[allow(clippy::cast_precision_loss)]
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let variance = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    Some((mean, variance))
}

/// Observations beyond a percentile that its bootstrap needs on each side.
const MIN_TAIL: f64 = 5.0;

/// Fewest observations a side needs for a bootstrap interval of the `q`-quantile: at least
/// [`MIN_TAIL`] beyond it (p50: 10, p95: 100, p99: 500). With fewer, the replicates take only
/// a handful of distinct values (the p99 of 40 requests is their maximum, which the bootstrap
/// cannot judge) and the interval is far too narrow: measured on real runs of 2 and 42
/// requests, it excluded zero for differences that were noise.
pub(crate) fn min_for_quantile(q: f64) -> u64 {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let n = (MIN_TAIL / (1.0 - q).max(1e-6)).ceil() as u64;
    n.max(2)
}

/// Fewest observations a side needs for Welch's interval of the mean latency: the usual rule of
/// thumb for the CLT (latency is skewed, so fewer would not do).
pub(crate) const MIN_FOR_MEAN: u64 = 30;

/// A sample mean with its sample variance and size, for Welch's interval.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MeanSample {
    /// Sample variance of one observation.
    pub(crate) variance: f64,
    /// Number of observations.
    pub(crate) n: f64,
}

/// Welch's t interval of a difference of means, centred on `delta`.
pub(crate) fn welch(
    delta: f64,
    baseline: MeanSample,
    candidate: MeanSample,
    confidence: f64,
) -> Option<Interval> {
    if baseline.n < 2.0 || candidate.n < 2.0 {
        return None;
    }
    let vb = baseline.variance.max(0.0) / baseline.n;
    let vc = candidate.variance.max(0.0) / candidate.n;
    let se2 = vb + vc;
    if se2 == 0.0 {
        // Both samples are constant: the difference is known exactly.
        return Some(Interval {
            lo: delta,
            hi: delta,
        });
    }
    // Welch–Satterthwaite degrees of freedom.
    let df = se2 * se2 / (vb * vb / (baseline.n - 1.0) + vc * vc / (candidate.n - 1.0));
    let t = critical_t(df, confidence)?;
    let half = t * se2.sqrt();
    Some(Interval {
        lo: delta - half,
        hi: delta + half,
    })
}

/// Two-sided critical value of Student's t; the normal one beyond 1000 degrees of freedom, where
/// they agree to 0.2 % and statrs' incomplete beta would need more iterations than it runs.
fn critical_t(df: f64, confidence: f64) -> Option<f64> {
    let p = 1.0 - (1.0 - confidence) / 2.0;
    if !df.is_finite() || df > 1000.0 {
        return Some(z(confidence));
    }
    StudentsT::new(0.0, 1.0, df.max(1.0))
        .ok()
        .map(|t| t.inverse_cdf(p))
}

/// Two-sided standard normal critical value.
pub(crate) fn z(confidence: f64) -> f64 {
    // The standard normal has valid parameters; the fallback is its 95 % value.
    Normal::new(0.0, 1.0)
        .map(|n| n.inverse_cdf(1.0 - (1.0 - confidence) / 2.0))
        .unwrap_or(1.959_963_984_540_054)
}

/// Wilson score interval of a proportion `x / n`.
fn wilson(x: u64, n: u64, z: f64) -> (f64, f64, f64) {
    #[allow(clippy::cast_precision_loss)]
    let (x, n) = (x as f64, n as f64);
    let p = x / n;
    let z2 = z * z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = z / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    (p, (centre - half).max(0.0), (centre + half).min(1.0))
}

/// Newcombe's hybrid score interval (his method 10) of `x_c/n_c − x_b/n_b`.
pub(crate) fn newcombe(
    x_b: u64,
    n_b: u64,
    x_c: u64,
    n_c: u64,
    confidence: f64,
) -> Option<Interval> {
    if n_b == 0 || n_c == 0 || x_b > n_b || x_c > n_c {
        return None;
    }
    let z = z(confidence);
    let (pb, lb, ub) = wilson(x_b, n_b, z);
    let (pc, lc, uc) = wilson(x_c, n_c, z);
    let d = pc - pb;
    Some(Interval {
        lo: d - ((pc - lc).powi(2) + (ub - pb).powi(2)).sqrt(),
        hi: d + ((uc - pc).powi(2) + (pb - lb).powi(2)).sqrt(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{new_histogram, record};
    use rand::SeedableRng as _;
    use rand::rngs::StdRng;
    use std::time::Duration;

    #[test]
    fn inverse_matches_value_at_quantile() {
        let mut h = new_histogram();
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..5000 {
            record(
                &mut h,
                Duration::from_micros(rng.random_range(100..200_000)),
            );
        }
        let e = Empirical::from_histogram(&h);
        assert_eq!(e.len(), 5000);
        for q in [0.0001, 0.1, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0] {
            assert_eq!(e.inverse(q), Some(h.value_at_quantile(q)), "q = {q}");
        }
        assert!((e.mean() - h.mean()).abs() < 1e-6 * h.mean());
        let sd = e.variance().sqrt();
        assert!(
            (sd - h.stdev()).abs() < 1e-3 * h.stdev(),
            "{sd} vs {}",
            h.stdev()
        );
    }

    #[test]
    fn newcombe_matches_the_published_example() {
        // Newcombe (1998), Statistics in Medicine 17:873, example (a): 56/70 − 48/80,
        // method 10 gives 0.0524 to 0.3339.
        let i = newcombe(48, 80, 56, 70, 0.95).expect("interval");
        assert!((i.lo - 0.0524).abs() < 5e-4, "{i:?}");
        assert!((i.hi - 0.3339).abs() < 5e-4, "{i:?}");
    }

    #[test]
    fn welch_matches_a_hand_computation() {
        // Equal variances 4 and sizes 10: se = sqrt(0.8), df = 18, t(0.975, 18) = 2.1009.
        let s = MeanSample {
            variance: 4.0,
            n: 10.0,
        };
        let i = welch(1.0, s, s, 0.95).expect("interval");
        let half = 2.100_922 * 0.8f64.sqrt();
        assert!((i.lo - (1.0 - half)).abs() < 1e-4, "{i:?}");
        assert!((i.hi - (1.0 + half)).abs() < 1e-4, "{i:?}");
    }

    #[test]
    fn bootstrap_interval_covers_a_shift_of_the_same_histogram() {
        let mut b = new_histogram();
        let mut c = new_histogram();
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..20_000 {
            let us = rng.random_range(1_000..100_000);
            record(&mut b, Duration::from_micros(us));
            record(&mut c, Duration::from_micros(us + 10_000));
        }
        let (eb, ec) = (Empirical::from_histogram(&b), Empirical::from_histogram(&c));
        let delta = (c.value_at_quantile(0.95) - b.value_at_quantile(0.95)) as f64;
        let i = quantile_difference(&eb, &ec, 0.95, delta, 0.95, 1000, &mut rng).expect("interval");
        // Both samples are the same values shifted by 10 ms (to histogram precision).
        assert!(i.lo > 8_000.0 && i.hi < 12_000.0, "{i:?}");
        assert!(i.lo < 10_100.0 && i.hi > 9_900.0, "{i:?}");
    }
}
