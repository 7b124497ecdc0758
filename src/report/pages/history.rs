//! The history page: a [`History`] (`history.json`) as one offline HTML file.
//!
//! Leads with the shifts found, then a trend chart per metric (one dot per run in time order,
//! the segment means, and a dashed line where behaviour shifted), the change points in a table
//! and every run with its values.
//!
//! Invariant: renders only what is in the history; change points are drawn between the last
//! run before the shift and the first run after it, where the analysis put them.

use serde::Serialize;

use crate::compare::{Metric, Unit};
use crate::history::{ChangePoint, History, MetricSeries};
use crate::report::html::{
    Cell, Chart, Fact, HtmlError, LegendItem, MAX_ROWS, Verdict as Banner, chart,
};
use crate::report::plot::{self, BLUE, Line, ORANGE, Rule, VERMILLION, XyChart, YUnit};
use crate::report::units::{self, fmt_num, fmt_time};

const TEMPLATE: &str = include_str!("../../../templates/history.html.tera");

/// File name of the history page, next to `history.json`.
pub const FILE_NAME: &str = "history.html";

/// Render the history page.
pub fn render_history(h: &History) -> Result<String, HtmlError> {
    let page = Page::build(h)?;
    crate::report::html::render_page(("history.html", TEMPLATE), &page)
}

#[derive(Debug, Serialize)]
struct Page {
    scenario: String,
    scope: String,
    verdict: Banner,
    warnings: Vec<String>,
    charts: Vec<Chart>,
    changes: Vec<ChangeRow>,
    metrics: Vec<&'static str>,
    runs: Vec<RunRow>,
    runs_note: Option<String>,
    settings: Vec<Fact>,
}

#[derive(Debug, Serialize)]
struct ChangeRow {
    metric: &'static str,
    run: usize,
    run_id: String,
    started: String,
    before: String,
    after: String,
    relative: Cell,
    p_value: String,
    worse: bool,
}

#[derive(Debug, Serialize)]
struct RunRow {
    n: usize,
    run_id: String,
    started: String,
    source: String,
    completed: bool,
    cells: Vec<Cell>,
    shifted: bool,
}

impl Page {
    fn build(h: &History) -> Result<Self, HtmlError> {
        let mut charts = Vec::new();
        for s in &h.series {
            if let Some(c) = trend_chart(h, s)? {
                charts.push(c);
            }
        }
        let changes: Vec<ChangeRow> = h.change_points().into_iter().map(change_row).collect();
        let metrics = h.series.iter().map(|s| s.metric.key()).collect();
        let runs: Vec<RunRow> = h
            .runs
            .iter()
            .enumerate()
            .take(MAX_ROWS)
            .map(|(i, r)| RunRow {
                n: i + 1,
                run_id: r.run_id.clone(),
                started: fmt_time(&r.started_at),
                source: r.source.clone(),
                completed: r.completed,
                cells: h
                    .series
                    .iter()
                    .map(|s| match s.values.get(i).copied().flatten() {
                        Some(v) => Cell::new(s.unit.format(v), v),
                        None => Cell::new("–", f64::MIN),
                    })
                    .collect(),
                shifted: changes.iter().any(|c| c.run == i + 1),
            })
            .collect();
        let runs_note = (h.runs.len() > MAX_ROWS).then(|| {
            format!(
                "Showing the first {MAX_ROWS} of {} runs; history.json holds all of them.",
                h.runs.len()
            )
        });
        let o = &h.options;
        let settings = vec![
            Fact::new("Scope followed", h.scope.clone()),
            Fact::new("Runs", h.runs.len().to_string()),
            Fact::new(
                "Method",
                "E-divisive means (Matteson & James 2014) with a permutation test",
            ),
            Fact::new(
                "Significance",
                format!(
                    "{} family-wise over {} metric(s) (each tested at {})",
                    fmt_num(o.significance),
                    o.metrics.len().max(1),
                    fmt_num(o.significance / o.metrics.len().max(1) as f64)
                ),
            ),
            Fact::new("Permutations", o.permutations.to_string()),
            Fact::new("Fewest runs per segment", o.min_segment.to_string()),
        ];
        Ok(Self {
            scenario: h.scenario.clone(),
            scope: h.scope.clone(),
            verdict: banner(h, &changes),
            warnings: h.warnings.clone(),
            charts,
            changes,
            metrics,
            runs,
            runs_note,
            settings,
        })
    }
}

/// Whether a shift from `before` to `after` is for the worse.
fn worse(metric: Metric, before: f64, after: f64) -> bool {
    if metric.higher_is_worse() {
        after > before
    } else {
        after < before
    }
}

fn signed_pct(r: f64) -> String {
    let text = units::fmt_ratio(r.abs());
    if r < 0.0 {
        format!("−{text}")
    } else {
        format!("+{text}")
    }
}

fn change_text(c: &ChangePoint) -> String {
    let unit = c.metric.unit();
    format!(
        "{} shifted at run {} (`{}`, {}): {} → {}{}, p = {}",
        c.metric.key(),
        c.index + 1,
        c.run_id,
        fmt_time(&c.started_at),
        unit.format(c.before),
        unit.format(c.after),
        c.relative
            .map_or_else(String::new, |r| format!(" ({})", signed_pct(r))),
        fmt_num(c.p_value)
    )
}

fn banner(h: &History, changes: &[ChangeRow]) -> Banner {
    let points = h.change_points();
    let details: Vec<String> = points.iter().map(|c| change_text(c)).collect();
    let n = h.runs.len();
    if points.is_empty() {
        return Banner {
            class: "pass",
            headline: format!("Steady: no shift found in {n} runs"),
            details,
        };
    }
    let any_worse = changes.iter().any(|c| c.worse);
    Banner {
        class: if any_worse { "fail" } else { "none" },
        headline: format!(
            "{} shift{} found in {n} runs{}",
            points.len(),
            if points.len() == 1 { "" } else { "s" },
            if any_worse {
                ", at least one for the worse"
            } else {
                ", all for the better"
            }
        ),
        details,
    }
}

fn change_row(c: &ChangePoint) -> ChangeRow {
    let unit = c.metric.unit();
    ChangeRow {
        metric: c.metric.key(),
        run: c.index + 1,
        run_id: c.run_id.clone(),
        started: fmt_time(&c.started_at),
        before: unit.format(c.before),
        after: unit.format(c.after),
        relative: match c.relative {
            Some(r) => Cell::new(signed_pct(r), r),
            None => Cell::new("–", f64::MIN),
        },
        p_value: fmt_num(c.p_value),
        worse: worse(c.metric, c.before, c.after),
    }
}

fn y_unit(u: Unit) -> YUnit {
    match u {
        Unit::Microseconds => YUnit::Micros,
        Unit::PerSecond => YUnit::Count,
        Unit::Ratio => YUnit::Ratio,
    }
}

fn trend_chart(h: &History, s: &MetricSeries) -> Result<Option<Chart>, HtmlError> {
    let values: Vec<(f64, f64)> = s
        .values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| Some(((i + 1) as f64, (*v)?)))
        .collect();
    if values.is_empty() {
        return Ok(None);
    }
    let runs = [Line {
        label: s.metric.key().to_owned(),
        color: BLUE,
        points: values.clone(),
    }];
    // Segment means: flat lines between change points.
    let mut bounds: Vec<usize> = vec![0];
    bounds.extend(s.change_points.iter().map(|c| c.index));
    bounds.push(s.values.len());
    let mut means = Vec::new();
    for w in bounds.windows(2) {
        let seg: Vec<f64> = s.values[w[0]..w[1]].iter().copied().flatten().collect();
        if seg.is_empty() {
            continue;
        }
        let mean = seg.iter().sum::<f64>() / seg.len() as f64;
        means.push(Line {
            label: String::new(),
            color: ORANGE,
            points: vec![(w[0] as f64 + 0.5, mean), (w[1] as f64 + 0.5, mean)],
        });
    }
    let vrules: Vec<Rule> = s
        .change_points
        .iter()
        .map(|c| Rule {
            at: c.index as f64 + 0.5,
            label: format!(
                "shift at run {}{}",
                c.index + 1,
                c.relative
                    .map_or_else(String::new, |r| format!(" ({})", signed_pct(r)))
            ),
            color: VERMILLION,
        })
        .collect();
    let mut lines = vec![runs[0].clone()];
    lines.extend(means);
    let title = format!("{} over the runs", s.metric.key());
    let y_desc = match s.unit {
        Unit::Microseconds => "latency",
        Unit::PerSecond => "requests per second",
        Unit::Ratio => "errors / requests",
    };
    let svg = plot::xy_chart(&XyChart {
        title: &title,
        x_desc: "run, in time order",
        y_desc,
        y_unit: y_unit(s.unit),
        lines: &lines,
        dots: &runs,
        bands: &[],
        vrules: &vrules,
        hrules: &[],
        x_min: 0.0,
    })?;
    let mut c = chart(
        &format!("trend-{}", s.metric.key()),
        &title,
        format!(
            "{} of scope `{}` in each run; the flat lines are the means between shifts.",
            s.metric.key(),
            h.scope
        ),
        svg,
        &[],
    );
    c.legend = vec![
        LegendItem::new("run", BLUE, "dot"),
        LegendItem::new("segment mean", ORANGE, "line"),
    ];
    if !vrules.is_empty() {
        c.legend
            .push(LegendItem::new("change point", VERMILLION, "rule"));
    }
    Ok(Some(c))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use rand::SeedableRng as _;
    use rand::rngs::StdRng;

    use super::*;
    use crate::history::{HistoryOptions, LoadedRun, history};
    use crate::report::html::{assert_nothing_external, esc};
    use crate::testing::sampled::{Spec, run};

    fn runs(n: usize, step_at: Option<usize>) -> Vec<LoadedRun> {
        let mut rng = StdRng::seed_from_u64(3);
        (0..n)
            .map(|i| {
                let spec = Spec {
                    seconds: 5,
                    rps: 200.0,
                    slowdown: if step_at.is_some_and(|s| i >= s) {
                        1.3
                    } else {
                        1.0
                    },
                    ..Spec::default()
                };
                let mut r = run("shop", &spec, &mut rng);
                r.run_id = format!("day-{i:02}");
                r.started_at = jiff::Timestamp::from_second(
                    1_700_000_000 + i64::try_from(i).unwrap_or(0) * 86_400,
                )
                .expect("ts");
                LoadedRun {
                    source: PathBuf::from(format!("runs/{i}/results.json")),
                    results: r,
                }
            })
            .collect()
    }

    fn build(n: usize, step_at: Option<usize>) -> History {
        history(
            &runs(n, step_at),
            &HistoryOptions {
                metrics: vec![Metric::P50, Metric::P95, Metric::Throughput],
                ..HistoryOptions::default()
            },
        )
        .expect("history")
    }

    fn render(h: &History) -> String {
        render_history(h).expect("renders")
    }

    #[test]
    fn a_step_is_marked_on_its_trend() {
        let h = build(16, Some(10));
        let p50 = h
            .series
            .iter()
            .find(|s| s.metric == Metric::P50)
            .expect("p50");
        let cp = p50.change_points.first().expect("the step is found");
        let html = render(&h);
        assert!(html.contains("verdict verdict-fail"), "slower is worse");
        assert!(html.contains(&format!("shift at run {}", cp.index + 1)));
        assert!(html.contains(&esc(&change_text(cp))));
        assert!(html.contains("id=\"trend-p50\"") && html.contains("id=\"trend-throughput\""));
        assert_eq!(html.matches("<svg class=\"chart\"").count(), 3);
        // The change points table and the marked run row.
        assert!(html.contains("id=\"changes-table\""));
        let at = html
            .find(&format!("data-run=\"{}\"", cp.index + 1))
            .expect("run row");
        let start = html[..at].rfind("<tr").expect("tr");
        assert!(html[start..at].contains("row-mark"));
    }

    #[test]
    fn a_flat_history_is_steady() {
        let h = build(12, None);
        let html = render(&h);
        assert!(
            h.change_points().is_empty(),
            "a flat history (fixed seed) has no shift"
        );
        assert!(html.contains("Steady: no shift found in 12 runs"));
        assert!(html.contains("verdict verdict-pass"));
        assert!(!html.contains("id=\"changes-table\""));
        assert_eq!(html.matches("<tr class=\"run").count(), 12);
        for r in &h.runs {
            assert!(html.contains(&esc(&r.run_id)));
        }
    }

    #[test]
    fn names_escaped_and_nothing_external() {
        let mut h = build(8, None);
        let evil = "<script>alert(1)</script>";
        h.scenario = format!("https://x/{evil}");
        h.runs[0].source = evil.into();
        h.warnings.push(evil.into());
        let html = render(&h);
        assert_eq!(html.matches("<script>").count(), 1);
        assert!(html.contains("&lt;script&gt;"));
        assert_nothing_external(&html, &h.scenario);
    }
}
