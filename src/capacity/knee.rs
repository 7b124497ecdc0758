//! Kneedle (Satopää, Albrecht, Irwin, Raghavan 2011) on a concave increasing throughput curve.
//!
//! Invariant: a knee is only reported once the curve has visibly bent after it (the difference
//! curve drops below the candidate's threshold before the next local maximum), so a curve that
//! is still rising at its last point has no knee yet.

use serde::{Deserialize, Serialize};

use super::usl::LoadPoint;

/// Kneedle settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KneeOptions {
    /// Sensitivity S: how far (in mean normalised steps) the difference curve must drop after a
    /// candidate to confirm it. Larger is more conservative; the paper recommends 1.
    pub sensitivity: f64,
}

impl Default for KneeOptions {
    fn default() -> Self {
        Self { sensitivity: 1.0 }
    }
}

/// The knee of the throughput curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Knee {
    /// Index into the points sorted by load.
    pub index: usize,
    /// Load at the knee.
    pub load: f64,
    /// Measured throughput there, req/s.
    pub throughput_rps: f64,
    /// Value of the normalised difference curve at the knee (0…1; larger is a sharper bend).
    pub difference: f64,
}

/// Why no knee was found.
#[derive(Debug, Clone, PartialEq, thiserror::Error, miette::Diagnostic)]
pub enum NoKnee {
    /// Kneedle needs a start, a bend and an end.
    #[error("no knee: {0} load levels, need at least 3")]
    TooFewPoints(usize),
    /// Load or throughput does not vary.
    #[error("no knee: throughput does not vary with load")]
    Flat,
    /// No bend was confirmed: the curve is still rising (or straight) at its last point.
    #[error("no knee yet: throughput is still rising at the highest load measured")]
    StillRising,
}

/// Find the knee of `points` (any order; duplicate loads are averaged).
pub fn kneedle(points: &[LoadPoint], opts: &KneeOptions) -> Result<Knee, NoKnee> {
    let curve = average_by_load(points);
    let n = curve.len();
    if n < 3 {
        return Err(NoKnee::TooFewPoints(n));
    }
    let (x0, x1) = (curve[0].load, curve[n - 1].load);
    let (y0, y1) = curve
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
            (lo.min(p.throughput_rps), hi.max(p.throughput_rps))
        });
    if x1 <= x0 || y1 <= y0 {
        return Err(NoKnee::Flat);
    }
    let xn: Vec<f64> = curve.iter().map(|p| (p.load - x0) / (x1 - x0)).collect();
    let diff: Vec<f64> = curve
        .iter()
        .zip(&xn)
        .map(|(p, x)| (p.throughput_rps - y0) / (y1 - y0) - x)
        .collect();
    // Interior local maxima of the difference curve; ties to the right are not new maxima.
    let maxima: Vec<usize> = (1..n - 1)
        .filter(|&i| diff[i] >= diff[i - 1] && diff[i] > diff[i + 1])
        .collect();
    #[allow(clippy::cast_precision_loss)] // point counts are small
    let mean_step = (xn[n - 1] - xn[0]) / (n - 1) as f64;
    let mut confirmed: Vec<usize> = Vec::new();
    for (k, &i) in maxima.iter().enumerate() {
        let threshold = diff[i] - opts.sensitivity * mean_step;
        let until = maxima.get(k + 1).copied().unwrap_or(n);
        if diff[i + 1..until].iter().any(|d| *d < threshold) {
            confirmed.push(i);
        }
    }
    // Of several confirmed bends, the sharpest one (largest difference) is the knee; an early
    // wobble from noise should not win over the real bend.
    let best = confirmed
        .into_iter()
        .max_by(|a, b| diff[*a].total_cmp(&diff[*b]))
        .ok_or(NoKnee::StillRising)?;
    Ok(Knee {
        index: best,
        load: curve[best].load,
        throughput_rps: curve[best].throughput_rps,
        difference: diff[best],
    })
}

/// Points sorted by load with repeated loads averaged.
fn average_by_load(points: &[LoadPoint]) -> Vec<LoadPoint> {
    let mut sorted: Vec<LoadPoint> = points
        .iter()
        .filter(|p| p.load.is_finite() && p.throughput_rps.is_finite())
        .copied()
        .collect();
    sorted.sort_by(|a, b| a.load.total_cmp(&b.load));
    let mut out: Vec<(LoadPoint, f64)> = Vec::new();
    for p in sorted {
        match out.last_mut() {
            Some((q, count)) if q.load == p.load => {
                q.throughput_rps = (q.throughput_rps * *count + p.throughput_rps) / (*count + 1.0);
                *count += 1.0;
            }
            _ => out.push((p, 1.0)),
        }
    }
    out.into_iter().map(|(p, _)| p).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(xy: &[(f64, f64)]) -> Vec<LoadPoint> {
        xy.iter()
            .map(|&(load, throughput_rps)| LoadPoint {
                load,
                throughput_rps,
            })
            .collect()
    }

    #[track_caller]
    fn check(xy: &[(f64, f64)], expect: Result<f64, NoKnee>) {
        let got = kneedle(&pts(xy), &KneeOptions::default()).map(|k| k.load);
        assert_eq!(got, expect);
    }

    #[test]
    fn finds_a_sharp_knee() {
        // Linear to 10, then flat: the knee is at 10.
        let xy: Vec<(f64, f64)> = (1..=20)
            .map(|i| (f64::from(i), f64::from(i.min(10)) * 100.0))
            .collect();
        check(&xy, Ok(10.0));
    }

    #[test]
    fn finds_the_knee_of_the_paper_example() {
        // y = 5 − 1/x on x = 1…10: the normalised difference (1 − 1/x)/0.9 − (x − 1)/9 peaks
        // where 1/(0.9x²) = 1/9, at x = √10 ≈ 3.16.
        let xy: Vec<(f64, f64)> = (10..=100)
            .map(|i| {
                let x = f64::from(i) / 10.0;
                (x, -1.0 / x + 5.0)
            })
            .collect();
        let knee = kneedle(&pts(&xy), &KneeOptions::default()).expect("knee");
        assert!((knee.load - 3.2).abs() < 1e-9, "{knee:?}");
    }

    #[test]
    fn finds_the_knee_of_a_retrograde_curve() {
        // Rises steeply to 8, levels off, then falls: the bend is at 8.
        check(
            &[
                (1.0, 100.0),
                (2.0, 200.0),
                (4.0, 400.0),
                (8.0, 780.0),
                (12.0, 820.0),
                (16.0, 800.0),
                (24.0, 700.0),
                (32.0, 600.0),
            ],
            Ok(8.0),
        );
    }

    #[test]
    fn reports_why_there_is_no_knee() {
        check(
            &[(1.0, 10.0), (2.0, 20.0), (3.0, 30.0), (4.0, 40.0)],
            Err(NoKnee::StillRising),
        );
        check(&[(1.0, 10.0), (2.0, 20.0)], Err(NoKnee::TooFewPoints(2)));
        check(&[(1.0, 10.0), (2.0, 10.0), (3.0, 10.0)], Err(NoKnee::Flat));
        // Repeated loads are averaged, not counted as levels.
        check(
            &[(1.0, 10.0), (1.0, 12.0), (2.0, 20.0)],
            Err(NoKnee::TooFewPoints(2)),
        );
    }
}
