//! `compare.md`: a compact GitHub-flavoured summary to paste as a pull-request comment.
//!
//! Invariant: the first line is the verdict; the table lists the gated metrics of the overall
//! scope and every other gated metric that changed, so it stays short for many transactions.

use std::fmt::Write as _;

use super::{
    Comparison, Gate, Metric, MetricComparison, ScopeComparison, ScopeKind, Unit, Verdict,
};
use crate::values::trim_float;

/// Render a comparison as Markdown.
pub fn to_markdown(c: &Comparison) -> String {
    let mut out = String::new();
    let s = &c.summary;
    let headline = if s.passed {
        format!(
            "### ✅ kneepoint compare: pass, no regression over budget ({} gated metrics)",
            s.gated
        )
    } else {
        format!(
            "### ❌ kneepoint compare: fail, {} regression{} over budget ({} gated metrics)",
            s.failed,
            if s.failed == 1 { "" } else { "s" },
            s.gated
        )
    };
    out.push_str(&headline);
    out.push_str("\n\n");
    let conf = c.options.confidence * 100.0;
    let joint = if c.options.simultaneous {
        " (simultaneous over the gated metrics)"
    } else {
        ""
    };
    let absolute = if c.options.min_latency_change.is_zero() {
        String::new()
    } else {
        format!(
            " and {}",
            super::format_min_latency_change(c.options.min_latency_change)
        )
    };
    let _ = writeln!(
        out,
        "Scenario `{}`: baseline `{}` → candidate `{}`; {conf:.0} % intervals{joint}, noise floor {}{absolute}.",
        c.scenario,
        c.baseline.run_id,
        c.candidate.run_id,
        percent(c.options.noise_floor),
    );
    if !c.settings_from.is_empty() {
        let _ = writeln!(out, "Settings from {}.", c.settings_from.join(", then "));
    }
    if c.scopes.iter().any(|s| s.intended) {
        out.push_str("Latency is measured from each request's intended start (open model).\n");
    }
    if s.regressions_within_budget > 0 || s.improvements > 0 {
        let _ = writeln!(
            out,
            "{} regression(s) within budget, {} improvement(s).",
            s.regressions_within_budget, s.improvements
        );
    }
    out.push('\n');

    let _ = writeln!(
        out,
        "| scope | metric | baseline | candidate | change | {conf:.0} % interval | verdict |"
    );
    out.push_str("|---|---|---:|---:|---:|---|---|\n");
    let mut hidden = 0usize;
    for (scope, m) in c.gated() {
        if scope.kind != ScopeKind::Overall && m.verdict == Verdict::NoChange {
            hidden += 1;
            continue;
        }
        row(&mut out, scope, m);
    }
    if hidden > 0 {
        let _ = writeln!(
            out,
            "\n{hidden} more gated metric(s) in other scopes: no significant change."
        );
    }
    for (label, list) in [
        ("Only in the baseline", &c.only_in_baseline),
        ("Only in the candidate", &c.only_in_candidate),
    ] {
        if !list.is_empty() {
            let names: Vec<String> = list.iter().map(|s| format!("`{}`", s.name)).collect();
            let _ = writeln!(out, "\n{label}: {}.", names.join(", "));
        }
    }
    if !c.warnings.is_empty() {
        out.push('\n');
        for w in &c.warnings {
            let _ = writeln!(out, "> ⚠️ {w}");
        }
    }
    out
}

fn row(out: &mut String, scope: &ScopeComparison, m: &MetricComparison) {
    // Rates change in percentage points: "+0.5 pp" reads better than "+50 %" of a small rate.
    let points = |v: f64| {
        format!(
            "{}{:.2} pp",
            if v < 0.0 { "−" } else { "+" },
            (v * 100.0).abs()
        )
    };
    let change = match (m.unit, m.relative) {
        (Unit::Ratio, _) => points(m.delta),
        (_, Some(r)) => signed_percent(r),
        (_, None) => m.unit.format_delta(m.delta),
    };
    let interval = match (m.unit, m.relative_interval, m.interval) {
        (Unit::Ratio, _, Some(i)) => format!("[{}, {}]", points(i.lo), points(i.hi)),
        (_, Some(i), _) => format!("[{}, {}]", signed_percent(i.lo), signed_percent(i.hi)),
        (_, None, Some(i)) => {
            format!(
                "[{}, {}]",
                m.unit.format_delta(i.lo),
                m.unit.format_delta(i.hi)
            )
        }
        (_, _, None) if m.metric == Metric::Max => "none for max".to_owned(),
        (_, _, None) => "n/a".to_owned(),
    };
    let verdict = match (m.verdict, m.gate) {
        (Verdict::Regression, Gate::Fail) => "🔴 regression".to_owned(),
        (Verdict::Regression, _) => format!(
            "regression within budget {}",
            m.budget.map(percent).unwrap_or_default()
        ),
        (Verdict::Improvement, _) => "🟢 improvement".to_owned(),
        (Verdict::NoChange, _) => "no change".to_owned(),
    };
    let _ = writeln!(
        out,
        "| {} | {} | {} | {} | {change} | {interval} | {verdict} |",
        scope.name,
        m.metric,
        m.unit.format(m.baseline),
        m.unit.format(m.candidate),
    );
}

fn percent(f: f64) -> String {
    format!("{} %", trim_float(f * 100.0, 2))
}

fn signed_percent(f: f64) -> String {
    let sign = if f < 0.0 { "−" } else { "+" };
    format!("{sign}{:.1} %", (f * 100.0).abs())
}
