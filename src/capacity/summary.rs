//! Terminal summary of a capacity report: the steps table, then fit, knee, limit and stop reason.
//!
//! Invariant: renders text only from the report; every number shown is in `capacity.json`.

use std::fmt::Write as _;

use super::{CapacityReport, FitOutcome, Peak};

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.1}"))
}

/// The summary printed after a search or a points analysis.
pub fn render(report: &CapacityReport) -> String {
    let mut out = String::new();
    let a = &report.analysis;
    let unit = report.model.load_unit();
    let _ = writeln!(
        out,
        "capacity of {} ({} steps, {unit})",
        report.scenario,
        report.steps.len()
    );
    let _ = writeln!(
        out,
        "  step        load       req/s    p50 ms    p95 ms    p99 ms   errors  SLA"
    );
    for s in &report.steps {
        let m = &s.measured;
        let knee = a
            .knee
            .as_ref()
            .is_some_and(|k| (k.load - s.fit_load(report.model)).abs() < 1e-9);
        let _ = writeln!(
            out,
            "  {:>4}  {:>10.1}  {:>10.1}  {:>8}  {:>8}  {:>8}  {:>6.2}%  {}{}",
            s.index,
            s.load,
            m.throughput_rps,
            opt(m.p50_ms),
            opt(m.p95_ms),
            opt(m.p99_ms),
            m.error_rate * 100.0,
            if m.slas.is_empty() {
                "-"
            } else if s.sla_passed {
                "pass"
            } else {
                "FAIL"
            },
            if knee { "  ← knee" } else { "" }
        );
    }
    match &a.fit {
        FitOutcome::Fitted(f) => {
            let _ = writeln!(
                out,
                "USL fit (R² {:.3}, {} points, {:.0} % intervals):",
                f.r_squared,
                f.points,
                f.confidence * 100.0
            );
            for (name, e) in [("λ", &f.lambda), ("σ", &f.sigma), ("κ", &f.kappa)] {
                let fixed = if e.fixed_at_zero { " (fixed at 0)" } else { "" };
                let _ = writeln!(
                    out,
                    "  {name} = {:.6}  [{:.6} … {:.6}]{fixed}",
                    e.value, e.low, e.high
                );
            }
            let _ = writeln!(out, "  {}", f.peak.describe());
            if let Peak::Retrograde {
                n_star_std_error: Some(se),
                ..
            } = f.peak
            {
                let _ = writeln!(out, "  N* standard error ≈ {se:.1}");
            }
        }
        FitOutcome::CannotFit { reason } => {
            let _ = writeln!(out, "USL: {reason}");
        }
    }
    match (&a.knee, &a.knee_note) {
        (Some(k), _) => {
            let _ = writeln!(
                out,
                "knee (Kneedle): load {:.1} at {:.1} req/s",
                k.load, k.throughput_rps
            );
        }
        (None, Some(note)) => {
            let _ = writeln!(out, "knee: {note}");
        }
        (None, None) => {}
    }
    if let Some(m) = &a.max_sustainable {
        let _ = writeln!(
            out,
            "max sustainable throughput: {:.1} req/s measured at load {:.1} (step {})",
            m.measured_rps, m.load, m.step
        );
        if !m.note.is_empty() {
            let _ = writeln!(out, "  {}", m.note);
        }
    }
    if let Some(stop) = &report.stop {
        let _ = writeln!(out, "stopped: {}", stop.describe());
    }
    for w in &a.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    out
}
