//! The comparison page: a [`Comparison`] (`compare.json`) as one offline HTML file.
//!
//! Leads with the gate's verdict, then per scope the overlaid percentile curves of baseline and
//! candidate (from the curve the comparison read off both runs' histograms) and the relative
//! change of each metric as a bar with its confidence interval against the noise floor, then
//! every compared metric in one table, and the scopes present in one run only.
//!
//! Invariant: renders only what is in the comparison (no resampling); the verdict banner and
//! the table use the comparison's own verdicts and gate results.

use serde::Serialize;

use crate::compare::{
    Comparison, Gate, Method, MetricComparison, RunRef, ScopeComparison, ScopeRef, Unit, Verdict,
};
use crate::report::html::{
    Cell, Chart, Fact, HtmlError, LegendItem, Verdict as Banner, chart, kind_name,
    percentile_figure, percentile_line,
};
use crate::report::plot::{self, BLUE, GREEN, IntervalRow, Line, ORANGE, VERMILLION};
use crate::report::units::{fmt_count, fmt_ratio, fmt_secs, fmt_time};
use crate::results::{RunResults, ScopeResults};

const TEMPLATE: &str = include_str!("../../../templates/compare.html.tera");

/// File name of the comparison page, next to `compare.json`.
pub const FILE_NAME: &str = "compare.html";

/// Most scopes that get their own pair of charts; the table has every scope.
const MAX_SCOPE_CHARTS: usize = 8;
/// Most rows in the metric table.
const MAX_ROWS: usize = crate::report::html::MAX_ROWS;

/// Render the comparison page from `compare.json` alone: the percentile curves use the
/// quantiles the comparison kept.
pub fn render_compare(c: &Comparison) -> Result<String, HtmlError> {
    let page = Page::build(c, None)?;
    crate::report::html::render_page(("compare.html", TEMPLATE), &page)
}

/// Render the comparison page with the two compared runs at hand: the percentile curves are
/// drawn from their full histograms (falling back to the comparison's quantiles for a scope
/// whose histogram cannot be read).
pub fn render_compare_with_runs(
    c: &Comparison,
    baseline: &RunResults,
    candidate: &RunResults,
) -> Result<String, HtmlError> {
    let page = Page::build(c, Some((baseline, candidate)))?;
    crate::report::html::render_page(("compare.html", TEMPLATE), &page)
}

/// Both runs, when the caller has them.
type Runs<'a> = Option<(&'a RunResults, &'a RunResults)>;

#[derive(Debug, Serialize)]
struct Page {
    scenario: String,
    verdict: Banner,
    warnings: Vec<String>,
    baseline: Vec<Fact>,
    candidate: Vec<Fact>,
    settings: Vec<Fact>,
    scopes: Vec<ScopeView>,
    scopes_note: Option<String>,
    rows: Vec<Row>,
    rows_note: Option<String>,
    only_baseline: Vec<String>,
    only_candidate: Vec<String>,
    confidence: String,
}

#[derive(Debug, Serialize)]
struct ScopeView {
    name: String,
    kind: &'static str,
    counts: String,
    curves: Option<Chart>,
    deltas: Option<Chart>,
}

#[derive(Debug, Serialize)]
struct Row {
    scope: String,
    kind: &'static str,
    metric: &'static str,
    baseline: Cell,
    candidate: Cell,
    delta: Cell,
    relative: Cell,
    interval: String,
    method: &'static str,
    verdict: &'static str,
    gate: &'static str,
    budget: String,
}

impl Page {
    fn build(c: &Comparison, runs: Runs<'_>) -> Result<Self, HtmlError> {
        // Gated scopes first (overall, then transactions), in the comparison's order otherwise.
        let mut order: Vec<&ScopeComparison> = c.scopes.iter().collect();
        order.sort_by_key(|s| !s.gated);
        let mut scopes = Vec::new();
        for s in order.iter().take(MAX_SCOPE_CHARTS) {
            scopes.push(scope_view(c, s, runs)?);
        }
        let scopes_note = (order.len() > MAX_SCOPE_CHARTS).then(|| {
            format!(
                "Charts for the first {MAX_SCOPE_CHARTS} of {} scopes (gated first); the table \
                 below has every scope.",
                order.len()
            )
        });
        let all: Vec<Row> = c
            .scopes
            .iter()
            .flat_map(|s| s.metrics.iter().map(move |m| row(s, m)))
            .collect();
        let rows_note = (all.len() > MAX_ROWS).then(|| {
            format!(
                "Showing the first {MAX_ROWS} of {} metric rows; compare.json holds all of them.",
                all.len()
            )
        });
        let only = |list: &[ScopeRef]| {
            list.iter()
                .map(|s| {
                    format!(
                        "{} `{}` ({} requests)",
                        kind_name(s.kind),
                        s.name,
                        fmt_count(s.count)
                    )
                })
                .collect()
        };
        Ok(Self {
            scenario: c.scenario.clone(),
            verdict: banner(c),
            warnings: c.warnings.clone(),
            baseline: run_facts(&c.baseline),
            candidate: run_facts(&c.candidate),
            settings: settings(c),
            scopes,
            scopes_note,
            rows: all.into_iter().take(MAX_ROWS).collect(),
            rows_note,
            only_baseline: only(&c.only_in_baseline),
            only_candidate: only(&c.only_in_candidate),
            confidence: format!("{:.0} %", c.options.confidence * 100.0),
        })
    }
}

fn metric_name(m: &MetricComparison) -> &'static str {
    m.metric.key()
}

/// `+12.3 %` for a ratio.
fn signed_pct(r: f64) -> String {
    let text = fmt_ratio(r.abs());
    if r < 0.0 {
        format!("−{text}")
    } else {
        format!("+{text}")
    }
}

/// Baseline → candidate, the relative change and its interval; `level` names the interval
/// (the comparison's confidence, which may be simultaneous over the gated metrics).
fn change_text(m: &MetricComparison, level: &str) -> String {
    let rel = m
        .relative
        .map_or_else(String::new, |r| format!(" ({})", signed_pct(r)));
    let interval = m.relative_interval.map_or_else(String::new, |i| {
        format!(
            "; {level} interval {} … {}",
            signed_pct(i.lo),
            signed_pct(i.hi)
        )
    });
    format!(
        "{} → {}{rel}{interval}",
        m.unit.format(m.baseline),
        m.unit.format(m.candidate)
    )
}

/// A metric's noise floors: `5 %`, or `5 % and 1.0 ms` for a latency metric.
fn floor_text(m: &MetricComparison) -> String {
    match m.min_change.filter(|v| *v > 0.0) {
        Some(v) => format!("{} and {}", fmt_ratio(m.noise_floor), m.unit.format(v)),
        None => fmt_ratio(m.noise_floor),
    }
}

/// `95 %` or `95 % simultaneous`.
fn level(c: &Comparison) -> String {
    format!(
        "{} %{}",
        crate::report::units::fmt_num(c.options.confidence * 100.0),
        if c.options.simultaneous {
            " simultaneous"
        } else {
            ""
        }
    )
}

fn banner(c: &Comparison) -> Banner {
    let s = &c.summary;
    let level = level(c);
    let failing: Vec<String> = c
        .gated()
        .filter(|(_, m)| m.gate == Gate::Fail)
        .map(|(scope, m)| {
            format!(
                "{} {}: {}{}",
                scope.name,
                metric_name(m),
                change_text(m, &level),
                m.budget.map_or_else(
                    || format!(", beyond the noise floor {}", floor_text(m)),
                    |b| format!(", over the budget {}", fmt_ratio(b))
                )
            )
        })
        .collect();
    let mut details = failing;
    if s.regressions_within_budget > 0 || s.improvements > 0 {
        details.push(format!(
            "{} regression(s) within budget, {} improvement(s).",
            s.regressions_within_budget, s.improvements
        ));
    }
    if s.passed {
        Banner {
            class: "pass",
            headline: format!(
                "Passed: no regression over budget in {} gated metric{}",
                s.gated,
                if s.gated == 1 { "" } else { "s" }
            ),
            details,
        }
    } else {
        Banner {
            class: "fail",
            headline: format!(
                "Regressed: {} of {} gated metrics over budget",
                s.failed, s.gated
            ),
            details,
        }
    }
}

fn run_facts(r: &RunRef) -> Vec<Fact> {
    let mut f = vec![
        Fact::new("Run", r.run_id.clone()).mono(),
        Fact::new("Started", fmt_time(&r.started_at)),
        Fact::new("Duration", fmt_secs(r.duration_s)),
        Fact::new(
            "Status",
            if r.completed {
                "completed"
            } else {
                "partial (did not complete)"
            },
        ),
        Fact::new(
            "Scenario SHA-256",
            r.scenario_sha256.chars().take(12).collect::<String>(),
        )
        .mono(),
    ];
    if let Some(src) = &r.source {
        f.push(Fact::new("File", src.clone()).mono());
    }
    f
}

fn settings(c: &Comparison) -> Vec<Fact> {
    let o = &c.options;
    let mut f = vec![
        Fact::new(
            "Confidence",
            format!(
                "{:.0} %{}",
                o.confidence * 100.0,
                if o.simultaneous {
                    ", simultaneous over the gated metrics"
                } else {
                    ", per metric"
                }
            ),
        ),
        Fact::new("Noise floor", fmt_ratio(o.noise_floor)),
        Fact::new(
            "Smallest latency change",
            crate::compare::format_min_latency_change(o.min_latency_change),
        ),
        Fact::new("Bootstrap resamples", o.resamples.to_string()),
        Fact::new(
            "Gated metrics",
            o.gate_metrics
                .iter()
                .map(|m| m.key())
                .collect::<Vec<_>>()
                .join(", "),
        ),
    ];
    for (label, per_metric) in [
        ("Noise floors per metric", &o.noise_floors),
        ("Budgets", &o.budgets),
    ] {
        if !per_metric.is_empty() {
            f.push(Fact::new(
                label,
                per_metric
                    .iter()
                    .map(|(m, v)| format!("{m} {}", fmt_ratio(*v)))
                    .collect::<Vec<_>>()
                    .join(", "),
            ));
        }
    }
    f.push(Fact::new(
        "Gated scopes",
        if o.gate_requests {
            "overall, transactions and requests"
        } else {
            "overall and transactions"
        },
    ));
    if !c.settings_from.is_empty() {
        f.push(Fact::new("Settings from", c.settings_from.join(", then ")));
    }
    f.push(Fact::new(
        "Latency measured from",
        if o.intended {
            "intended start (open model, coordinated omission corrected)"
        } else {
            "actual send"
        },
    ));
    f
}

fn verdict_color(v: Verdict) -> plotters::style::RGBColor {
    match v {
        Verdict::Regression => VERMILLION,
        Verdict::Improvement => GREEN,
        Verdict::NoChange => BLUE,
    }
}

/// Percentile lines of a scope from both runs' full histograms (the intended-start ones when
/// the comparison used those), if both can be read.
fn histogram_lines(s: &ScopeComparison, runs: Runs<'_>) -> Option<[Line; 2]> {
    let (baseline, candidate) = runs?;
    let decode = |run: &RunResults| {
        let scope: &ScopeResults = run
            .scopes
            .iter()
            .find(|x| x.kind == s.kind && x.name == s.name)?;
        let stored = if s.intended {
            scope.intended_histogram.as_ref()?
        } else {
            &scope.histogram
        };
        stored.decode().ok().filter(|h| !h.is_empty())
    };
    let (b, c) = (decode(baseline)?, decode(candidate)?);
    Some([
        percentile_line("baseline", BLUE, &b),
        percentile_line("candidate", ORANGE, &c),
    ])
}

/// Percentile lines of a scope at the quantiles the comparison kept, if it kept any.
fn kept_lines(s: &ScopeComparison) -> Option<[Line; 2]> {
    if s.curve.is_empty() {
        return None;
    }
    // x = 1/(1−q) as in the run report; q = 1 sits one decade past the last finite point.
    let mut xs: Vec<f64> = s
        .curve
        .iter()
        .map(|p| {
            if p.quantile < 1.0 {
                // Rounded so 1/(1−0.9999) lands on 10 000, not a hair above it, which
                // would stretch the axis by a decade.
                (1e6 / (1.0 - p.quantile)).round() / 1e6
            } else {
                f64::NAN
            }
        })
        .collect();
    let last = xs
        .iter()
        .copied()
        .filter(|x| x.is_finite())
        .fold(1.0, f64::max);
    for x in &mut xs {
        if !x.is_finite() {
            *x = last * 10.0;
        }
    }
    let side = |label: &str, color, f: fn(&crate::compare::CurvePoint) -> u64| Line {
        label: label.to_owned(),
        color,
        points: s
            .curve
            .iter()
            .zip(&xs)
            .map(|(p, x)| (*x, f(p) as f64))
            .collect(),
    };
    Some([
        side("baseline", BLUE, |p| p.baseline_us),
        side("candidate", ORANGE, |p| p.candidate_us),
    ])
}

fn scope_view(c: &Comparison, s: &ScopeComparison, runs: Runs<'_>) -> Result<ScopeView, HtmlError> {
    let slug: String = s
        .name
        .chars()
        .map(|ch| if ch.is_ascii_alphanumeric() { ch } else { '-' })
        .collect();
    let id = format!("{}-{slug}", kind_name(s.kind));
    let from = if s.intended {
        ", from each request's intended start"
    } else {
        ""
    };
    let curves = histogram_lines(s, runs)
        .map(|lines| (lines, "from both runs' exact histograms."))
        .or_else(|| {
            kept_lines(s).map(|lines| {
                (
                    lines,
                    "at the quantiles the comparison kept; the rightmost point is the maximum.",
                )
            })
        })
        .map(|(lines, source)| {
            percentile_figure(
                &format!("{id}-curves"),
                &format!("Latency distribution: {}", s.name),
                format!("Baseline and candidate latency at each percentile{from}, {source}"),
                &lines,
            )
        })
        .transpose()?;
    let rows: Vec<IntervalRow> = s
        .metrics
        .iter()
        .filter_map(|m| {
            Some(IntervalRow {
                label: metric_name(m).to_owned(),
                value: m.relative?,
                interval: m.relative_interval.map(|i| (i.lo, i.hi)),
                color: verdict_color(m.verdict),
            })
        })
        .collect();
    let deltas = if rows.is_empty() {
        None
    } else {
        let floor = s
            .metrics
            .first()
            .map_or(c.options.noise_floor, |m| m.noise_floor);
        let title = format!("Change per metric: {}", s.name);
        let svg = plot::interval_chart(&title, "candidate vs baseline (%)", &rows, Some(floor))?;
        let mut ch = chart(
            &format!("{id}-deltas"),
            &title,
            format!(
                "Relative change of each metric with its {:.0} % confidence interval (whiskers). \
                 The grey band is the noise floor (±{}): a change inside it is not flagged{}. For \
                 throughput higher is better; for the others lower is better. Whiskers longer \
                 than the axis are cut at its edge; the table has every interval.",
                c.options.confidence * 100.0,
                fmt_ratio(floor),
                if c.options.min_latency_change.is_zero() {
                    String::new()
                } else {
                    format!(
                        ", nor a latency change of {} or less",
                        crate::compare::format_min_latency_change(c.options.min_latency_change)
                    )
                }
            ),
            svg,
            &[],
        );
        ch.legend = [
            ("regression", VERMILLION),
            ("improvement", GREEN),
            ("no significant change", BLUE),
        ]
        .into_iter()
        .filter(|(_, col)| rows.iter().any(|r| r.color == *col))
        .map(|(l, col)| LegendItem::new(l, col, "bar"))
        .collect();
        Some(ch)
    };
    Ok(ScopeView {
        name: s.name.clone(),
        kind: kind_name(s.kind),
        counts: format!(
            "{} requests in the baseline, {} in the candidate{}",
            fmt_count(s.baseline_count),
            fmt_count(s.candidate_count),
            if s.gated { "" } else { "; not gated" }
        ),
        curves,
        deltas,
    })
}

fn value_cell(unit: Unit, v: f64) -> Cell {
    Cell::new(unit.format(v), v)
}

fn row(s: &ScopeComparison, m: &MetricComparison) -> Row {
    Row {
        scope: s.name.clone(),
        kind: kind_name(s.kind),
        metric: metric_name(m),
        baseline: value_cell(m.unit, m.baseline),
        candidate: value_cell(m.unit, m.candidate),
        delta: Cell::new(m.unit.format_delta(m.delta), m.delta),
        relative: match m.relative {
            Some(r) => Cell::new(signed_pct(r), r),
            None => Cell::new("–", f64::MIN),
        },
        interval: match (m.relative_interval, m.interval) {
            (Some(i), _) => format!("{} … {}", signed_pct(i.lo), signed_pct(i.hi)),
            (None, Some(i)) => format!(
                "{} … {}",
                m.unit.format_delta(i.lo),
                m.unit.format_delta(i.hi)
            ),
            (None, None) => "–".into(),
        },
        method: match m.method {
            Method::Bootstrap => "bootstrap",
            Method::WelchMean => "Welch (mean)",
            Method::WelchPerSecond => "Welch (per second)",
            Method::Newcombe => "Newcombe",
            Method::None => "none",
        },
        verdict: match m.verdict {
            Verdict::Regression => "regression",
            Verdict::Improvement => "improvement",
            Verdict::NoChange => "no change",
        },
        gate: match m.gate {
            Gate::NotGated => "not gated",
            Gate::Pass => "pass",
            Gate::Fail => "fail",
        },
        budget: m.budget.map_or_else(
            || format!("floor {}", floor_text(m)),
            |b| format!("budget {}", fmt_ratio(b)),
        ),
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng as _;
    use rand::rngs::StdRng;

    use super::*;
    use crate::compare::{CompareOptions, compare};
    use crate::report::html::{assert_nothing_external, esc};
    use crate::testing::sampled::{Spec, run};

    /// A baseline and a candidate `slowdown` times slower, `seconds` long at 300 req/s.
    fn two_runs(seed: u64, seconds: u32, slowdown: f64) -> (RunResults, RunResults) {
        let mut rng = StdRng::seed_from_u64(seed);
        let spec = Spec {
            seconds,
            rps: 300.0,
            ..Spec::default()
        };
        let a = run("shop", &spec, &mut rng);
        let b = run(
            "shop",
            &Spec {
                slowdown,
                ..spec.clone()
            },
            &mut rng,
        );
        (a, b)
    }

    fn pair(slowdown: f64) -> Comparison {
        let (a, b) = two_runs(7, 20, slowdown);
        compare(&a, &b, &CompareOptions::default()).expect("compares")
    }

    fn render(c: &Comparison) -> String {
        render_compare(c).expect("renders")
    }

    #[test]
    fn a_regression_is_named_in_the_banner() {
        let c = pair(1.3);
        assert!(!c.summary.passed, "30 % slower must fail the gate");
        let html = render(&c);
        assert!(html.contains("verdict verdict-fail"));
        assert!(html.contains(&format!(
            "Regressed: {} of {} gated metrics over budget",
            c.summary.failed, c.summary.gated
        )));
        let (scope, m) = c
            .gated()
            .find(|(_, m)| m.gate == Gate::Fail)
            .expect("a failing metric");
        assert!(html.contains(&esc(&format!(
            "{} {}: {}",
            scope.name,
            m.metric.key(),
            change_text(m, "95 % simultaneous")
        ))));
    }

    #[test]
    fn same_runs_pass() {
        let c = pair(1.0);
        assert!(c.summary.passed, "an A/A pair (fixed seed) passes the gate");
        let html = render(&c);
        assert!(html.contains("verdict verdict-pass"));
        assert!(!html.contains("verdict verdict-fail"));
        assert!(html.contains(&format!(
            "Passed: no regression over budget in {} gated metrics",
            c.summary.gated
        )));
    }

    #[test]
    fn curves_and_interval_bars_per_scope() {
        let c = pair(1.3);
        let html = render(&c);
        for s in &c.scopes {
            let id = format!("{}-{}", kind_name(s.kind), s.name);
            assert!(html.contains(&format!("id=\"{id}-curves\"")), "{id}");
            assert!(html.contains(&format!("id=\"{id}-deltas\"")), "{id}");
        }
        assert_eq!(
            html.matches("<svg class=\"chart\"").count(),
            2 * c.scopes.len().min(MAX_SCOPE_CHARTS)
        );
        assert!(html.contains(">baseline</li>") && html.contains(">candidate</li>"));
        assert!(html.contains(">regression</li>"));
        // The 30 % slowdown shows on the axis of the change chart.
        assert!(html.contains("candidate vs baseline (%)"));
    }

    #[test]
    fn with_runs_the_curves_come_from_the_histograms() {
        let (a, b) = two_runs(11, 10, 1.2);
        let c = compare(&a, &b, &CompareOptions::default()).expect("compares");
        let html = render_compare_with_runs(&c, &a, &b).expect("renders");
        assert!(html.contains("from both runs&#x27; exact histograms"));
        assert!(!html.contains("at the quantiles the comparison kept"));
        // The full curve has far more points than the 14 kept quantiles.
        let svg_start = html.find("id=\"overall-overall-curves\"").expect("chart");
        let svg = &html[svg_start..svg_start + html[svg_start..].find("</svg>").expect("end")];
        let points = |polyline: &str| polyline.split(' ').count();
        let longest = svg
            .split("<polyline")
            .skip(1)
            .map(|p| points(&p[..p.find("/>").unwrap_or(p.len())]))
            .max()
            .unwrap_or(0);
        assert!(longest > 30, "{longest} points");
        let fallback = render(&c);
        assert!(fallback.contains("at the quantiles the comparison kept"));
    }

    #[test]
    fn every_metric_has_a_row() {
        let c = pair(1.3);
        let html = render(&c);
        let rows = c.scopes.iter().map(|s| s.metrics.len()).sum::<usize>();
        assert_eq!(
            html.matches("<tr class=\"metric").count(),
            rows.min(MAX_ROWS)
        );
        let s = &c.scopes[0];
        let m = &s.metrics[0];
        let needle = format!(
            "data-scope=\"{}\" data-metric=\"{}\"",
            esc(&s.name),
            m.metric.key()
        );
        let at = html.find(&needle).expect("row");
        let r = &html[at..at + html[at..].find("</tr>").expect("end")];
        assert!(r.contains(&esc(&m.unit.format(m.baseline))), "{r}");
        assert!(r.contains(&esc(&m.unit.format(m.candidate))), "{r}");
    }

    #[test]
    fn one_sided_scopes_are_listed_and_names_escaped() {
        let mut c = pair(1.0);
        let evil = "<script>alert(1)</script>";
        c.only_in_candidate.push(ScopeRef {
            kind: crate::results::ScopeKind::Transaction,
            name: evil.into(),
            count: 12,
        });
        c.scenario = format!("http://x/{evil}");
        c.scopes[1].name = evil.into();
        c.warnings.push(evil.into());
        let html = render(&c);
        assert_eq!(html.matches("<script>").count(), 1);
        assert!(html.contains("Only in the candidate"));
        assert!(html.contains(&esc(&format!("transaction `{evil}` (12 requests)"))));
        assert_nothing_external(&html, &c.scenario);
    }
}
