//! The run page: one run's [`RunResults`] (`results.json`) as one offline HTML file, written as
//! `report.html` by the [`HtmlReport`] exporter.
//!
//! Leads with the SLA verdict (or why the run is partial), the run's facts and stages, then every
//! SLA and scope in tables, the charts (built in `charts`), status codes and errors. Large runs
//! stay small: series are downsampled to at most [`MAX_POINTS`] points and tables are capped at
//! [`MAX_ROWS`] rows with a note saying so.

use std::fmt::Write as _;

use serde::Serialize;

use crate::report::html::{
    Cell, Chart, Fact, HtmlError, MAX_POINTS, MAX_ROWS, Verdict, kind_name, render_page,
};
use crate::report::units::{fmt_count, fmt_in_unit, fmt_rate, fmt_secs, fmt_si, fmt_time, fmt_us};
use crate::results::{
    LatencySummary, LoadProfile, RunResults, RunStatus, ScopeKind, SecondSample, SlaVerdict,
};
use charts::{
    GeneratorSection, arrivals, distribution_charts, generator_section, intended, server_charts,
    status_codes, timeline,
};

mod charts;
#[cfg(test)]
mod tests;

const TEMPLATE: &str = include_str!("../../../../templates/report.html.tera");

/// The HTML exporter; writes `report.html`.
#[derive(Debug, Clone, Copy, Default)]
pub struct HtmlReport;

impl HtmlReport {
    /// File name the report is written to inside a run folder.
    pub const FILE_NAME: &'static str = "report.html";

    /// Render the page for `run`; same as [`render_html`].
    pub fn render_html(&self, run: &RunResults) -> Result<String, HtmlError> {
        render_html(run)
    }
}

/// Render the HTML report of a run.
pub fn render_html(run: &RunResults) -> Result<String, HtmlError> {
    let page = Page::build(run)?;
    render_page(("report.html", TEMPLATE), &page)
}

/// Everything the template shows, already formatted.
#[derive(Debug, Serialize)]
struct Page {
    scenario: String,
    verdict: Verdict,
    notice: Option<Notice>,
    facts: Vec<Fact>,
    stages: Vec<StageRow>,
    is_open: bool,
    slas: Vec<SlaRow>,
    scopes: Vec<ScopeRow>,
    scopes_note: Option<String>,
    timeline: Vec<Chart>,
    timeline_note: Option<String>,
    distribution: Vec<Chart>,
    distribution_note: Option<String>,
    status_chart: Option<Chart>,
    status_rows: Vec<StatusRow>,
    errors: Vec<ErrorRow>,
    errors_note: Option<String>,
    failed_rows: Vec<LatencyRow>,
    arrivals: Vec<Fact>,
    arrivals_chart: Option<Chart>,
    intended_chart: Option<Chart>,
    intended_rows: Vec<LatencyRow>,
    server: Vec<Chart>,
    server_note: Option<String>,
    generator: Option<GeneratorSection>,
    problems: Vec<String>,
    run_id: String,
    schema_version: u32,
}

#[derive(Debug, Serialize)]
struct Notice {
    headline: String,
    text: String,
}

#[derive(Debug, Serialize)]
struct StageRow {
    name: String,
    span: String,
    target: String,
    cells: Vec<Cell>,
}

#[derive(Debug, Serialize)]
struct SlaRow {
    name: String,
    scope: String,
    metric: String,
    threshold: String,
    actual: String,
    margin: String,
    passed: bool,
    abort: bool,
}

#[derive(Debug, Serialize)]
struct ScopeRow {
    kind: &'static str,
    name: String,
    cells: Vec<Cell>,
}

#[derive(Debug, Serialize)]
struct StatusRow {
    code: String,
    class: &'static str,
    count: Cell,
    share: Cell,
}

#[derive(Debug, Serialize)]
struct ErrorRow {
    scope: String,
    kind: &'static str,
    count: Cell,
    share: Cell,
    samples: Vec<String>,
}

/// A scope's name and latency cells: the intended-start and the failed-request tables.
#[derive(Debug, Serialize)]
struct LatencyRow {
    scope: String,
    cells: Vec<Cell>,
}

impl Page {
    fn build(run: &RunResults) -> Result<Self, HtmlError> {
        let mut problems = Vec::new();
        let samples = downsample(&run.series, MAX_POINTS);
        let bucket = samples.first().map_or(1, |s| s.width);
        let x_max = run
            .duration_s
            .max(run.series.last().map_or(0.0, |s| f64::from(s.t) + 1.0))
            .max(1.0);
        let stage_marks: Vec<(f64, String)> = run
            .stages
            .iter()
            .map(|s| (s.start_s, s.name.clone()))
            .collect();
        let is_open = matches!(run.profile, LoadProfile::Open { .. });

        let (scopes, scopes_note) = scope_rows(run);
        let (distribution, distribution_note) = distribution_charts(run, &mut problems)?;
        let (status_chart, status_rows) = status_codes(run)?;
        let (errors, errors_note) = error_rows(run);
        let failed_rows = failed_rows(run);
        let (arrivals, arrivals_chart) = arrivals(run, &samples, x_max)?;
        let (intended_chart, intended_rows) = intended(run, &mut problems)?;
        let (server, server_note) = server_charts(run, &stage_marks, x_max)?;
        let generator = generator_section(run, &stage_marks, x_max)?;
        // Several charts read the same histogram; say once that it is corrupt.
        problems.sort();
        problems.dedup();

        Ok(Self {
            scenario: run.scenario.name.clone(),
            verdict: verdict(run),
            notice: notice(run),
            facts: facts(run),
            stages: stage_rows(run),
            is_open,
            slas: run.slas.iter().map(sla_row).collect(),
            scopes,
            scopes_note,
            timeline: timeline(run, &samples, &stage_marks, x_max)?,
            timeline_note: (bucket > 1).then(|| {
                format!(
                    "Each point covers {bucket} s ({} s of series drawn as {} points): rates are \
                     the bucket's mean, percentiles the bucket's highest per-second value so \
                     spikes stay visible.",
                    run.series.len(),
                    samples.len()
                )
            }),
            distribution,
            distribution_note,
            status_chart,
            status_rows,
            errors,
            errors_note,
            failed_rows,
            arrivals,
            arrivals_chart,
            intended_chart,
            intended_rows,
            server,
            server_note,
            generator,
            problems,
            run_id: run.run_id.clone(),
            schema_version: run.schema_version,
        })
    }
}

fn verdict(run: &RunResults) -> Verdict {
    let slas = &run.slas;
    let failed: Vec<&SlaVerdict> = slas.iter().filter(|s| !s.passed).collect();
    if slas.is_empty() {
        let errors = run.overall().map_or((0, 0, 0.0), |o| {
            (o.stats.errors, o.stats.requests, o.stats.error_rate)
        });
        Verdict {
            class: if errors.0 > 0 { "fail" } else { "none" },
            headline: if errors.0 > 0 {
                format!(
                    "No SLAs defined, and {} of {} requests failed ({})",
                    errors.0,
                    errors.1,
                    crate::sla::format_value(errors.2, "ratio")
                )
            } else {
                "No SLAs defined".into()
            },
            details: vec!["The scenario declares no SLAs, so nothing was checked.".into()],
        }
    } else if failed.is_empty() {
        let n = slas.len();
        Verdict {
            class: "pass",
            headline: if n == 1 {
                "Passed: the SLA was met".into()
            } else {
                format!("Passed: all {n} SLAs met")
            },
            details: Vec::new(),
        }
    } else {
        Verdict {
            class: "fail",
            headline: format!("Breached: {} of {} SLAs failed", failed.len(), slas.len()),
            details: failed.iter().map(|s| breach_text(s)).collect(),
        }
    }
}

/// One sentence per breached SLA: what was measured against what limit, and by how much.
fn breach_text(s: &SlaVerdict) -> String {
    match s.actual {
        None => format!(
            "{}: scope `{}` saw no traffic (limit {} {})",
            s.name, s.scope, s.comparison, s.threshold_text
        ),
        Some(actual) => format!(
            "{}: {} {} was {}, limit {} {}; {}",
            s.name,
            s.scope,
            s.metric,
            fmt_in_unit(actual, &s.unit),
            s.comparison,
            s.threshold_text,
            margin(s)
        ),
    }
}

/// Distance between actual and threshold, signed by which side of the limit it is on.
fn margin(s: &SlaVerdict) -> String {
    let Some(actual) = s.actual else {
        return "no traffic".into();
    };
    let upper = s.comparison.starts_with('<');
    let diff = if upper {
        s.threshold - actual
    } else {
        actual - s.threshold
    };
    let amount = fmt_in_unit(diff.abs(), &s.unit);
    let rel = (s.threshold.abs() > f64::EPSILON).then(|| diff.abs() / s.threshold.abs() * 100.0);
    let rel =
        |pre: &str, post: &str| rel.map_or_else(String::new, |r| format!(" ({pre}{r:.1}%{post})"));
    match (upper, diff >= 0.0) {
        (true, true) => format!("{amount} under the limit{}", rel("", " headroom")),
        (true, false) => format!("{amount} over the limit{}", rel("+", "")),
        (false, true) => format!("{amount} above the floor{}", rel("+", "")),
        (false, false) => format!("{amount} short of the floor{}", rel("−", "")),
    }
}

fn sla_row(s: &SlaVerdict) -> SlaRow {
    SlaRow {
        name: s.name.clone(),
        scope: s.scope.clone(),
        metric: s.metric.clone(),
        threshold: format!(
            "{} {} ({})",
            s.comparison,
            fmt_in_unit(s.threshold, &s.unit),
            s.threshold_text
        ),
        actual: s
            .actual
            .map_or_else(|| "no traffic".into(), |a| fmt_in_unit(a, &s.unit)),
        margin: margin(s),
        passed: s.passed,
        abort: s.abort,
    }
}

fn notice(run: &RunResults) -> Option<Notice> {
    let ran = fmt_secs(run.duration_s);
    let (headline, text) = match &run.status {
        RunStatus::Completed => return None,
        RunStatus::InProgress => (
            "Partial results: run in progress".to_owned(),
            format!(
                "This file is a checkpoint written while the run was still going ({ran} measured \
                 so far). Later stages are missing."
            ),
        ),
        RunStatus::Interrupted => (
            "Partial results: run interrupted".to_owned(),
            format!(
                "The run was stopped by Ctrl-C or SIGTERM after {ran}. Every number below covers \
                 only what ran."
            ),
        ),
        RunStatus::Aborted { reason } => (
            "Partial results: run aborted by an SLA".to_owned(),
            format!("Stopped early after {ran}: {reason}"),
        ),
        RunStatus::Failed { reason } => (
            "Run failed".to_owned(),
            format!("The run failed after {ran}: {reason}. What was measured is shown below."),
        ),
    };
    Some(Notice { headline, text })
}

fn status_text(s: &RunStatus) -> String {
    match s {
        RunStatus::InProgress => "in progress (partial checkpoint)".into(),
        RunStatus::Completed => "completed".into(),
        RunStatus::Aborted { reason } => format!("aborted (partial): {reason}"),
        RunStatus::Interrupted => "interrupted (partial)".into(),
        RunStatus::Failed { reason } => format!("failed: {reason}"),
    }
}

fn profile_text(p: &LoadProfile) -> String {
    let peak = |stages: &[crate::results::ProfileStage]| {
        stages.iter().map(|s| s.target).fold(0.0_f64, f64::max)
    };
    match p {
        LoadProfile::Closed {
            stages,
            think_time_us,
            max_iterations,
        } => {
            let mut t = format!(
                "closed model: {} stage{}, up to {} users",
                stages.len(),
                plural(stages.len()),
                fmt_si(peak(stages))
            );
            if let Some((lo, hi)) = think_time_us {
                let _ = write!(
                    t,
                    ", think time {}–{}",
                    fmt_us(*lo as f64),
                    fmt_us(*hi as f64)
                );
            }
            if let Some(n) = max_iterations {
                let _ = write!(t, ", at most {} iterations", fmt_count(*n));
            }
            t
        }
        LoadProfile::Open {
            stages,
            unit,
            max_in_flight,
            max_iterations,
        } => {
            let unit = match unit {
                crate::results::ArrivalUnit::Iterations => "transactions",
                crate::results::ArrivalUnit::Requests => "requests",
            };
            let mut t = format!(
                "open model: {} stage{}, up to {} arrivals/s (one arrival = one of the {unit}), \
                 at most {max_in_flight} in flight",
                stages.len(),
                plural(stages.len()),
                fmt_si(peak(stages)),
            );
            if let Some(n) = max_iterations {
                let _ = write!(t, ", at most {} arrivals", fmt_count(*n));
            }
            t
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn facts(run: &RunResults) -> Vec<Fact> {
    let sha = &run.scenario.sha256;
    let mut facts = vec![
        Fact::new("Scenario", run.scenario.name.clone()),
        Fact::new("Scenario file", run.scenario.path.clone()).mono(),
        Fact {
            label: "Scenario SHA-256",
            value: sha.chars().take(12).collect(),
            full: (sha.len() > 12).then(|| sha.clone()),
            mono: true,
        },
        Fact::new("Target", run.target.clone()).mono(),
        Fact::new("Backend", run.backend.clone()),
        Fact::new("Load profile", profile_text(&run.profile)),
        Fact::new("Started", fmt_time(&run.started_at)),
        Fact::new("Ended", fmt_time(&run.ended_at)),
        Fact::new("Duration", fmt_secs(run.duration_s)),
        Fact::new("Status", status_text(&run.status)),
        Fact::new("kneepoint version", run.kneepoint_version.clone()),
    ];
    if run.shards > 1 {
        facts.push(Fact::new("Shards merged", run.shards.to_string()));
    }
    facts
}

fn latency_cells(l: &LatencySummary) -> impl Iterator<Item = Cell> {
    [
        Cell::us(l.min),
        Cell::usf(l.mean),
        Cell::us(l.p50),
        Cell::us(l.p90),
        Cell::us(l.p95),
        Cell::us(l.p99),
        Cell::us(l.p99_9),
        Cell::us(l.max),
    ]
    .into_iter()
}

fn stage_rows(run: &RunResults) -> Vec<StageRow> {
    let open = matches!(run.profile, LoadProfile::Open { .. });
    run.stages
        .iter()
        .take(MAX_ROWS)
        .map(|st| {
            let overall = st.scopes.iter().find(|s| s.kind == ScopeKind::Overall);
            let cells = match overall {
                Some(o) => vec![
                    Cell::count(o.stats.requests),
                    Cell::rate(o.stats.throughput_rps),
                    Cell::ratio(o.stats.error_rate),
                    Cell::us(o.stats.latency_us.p50),
                    Cell::us(o.stats.latency_us.p95),
                    Cell::us(o.stats.latency_us.p99),
                ],
                None => Vec::new(),
            };
            StageRow {
                name: st.name.clone(),
                span: format!("{} – {}", fmt_secs(st.start_s), fmt_secs(st.end_s)),
                target: if open {
                    fmt_rate(st.target)
                } else {
                    format!("{} users", fmt_si(st.target))
                },
                cells,
            }
        })
        .collect()
}

fn scope_rows(run: &RunResults) -> (Vec<ScopeRow>, Option<String>) {
    let rows = run
        .scopes
        .iter()
        .take(MAX_ROWS)
        .map(|s| {
            let st = &s.stats;
            let mut cells = vec![
                Cell::count(st.requests),
                Cell::count(st.errors),
                Cell::ratio(st.error_rate),
                Cell::rate(st.throughput_rps),
            ];
            cells.extend(latency_cells(&st.latency_us));
            ScopeRow {
                kind: kind_name(s.kind),
                name: s.name.clone(),
                cells,
            }
        })
        .collect();
    (rows, cap_note(run.scopes.len(), "scopes"))
}

fn cap_note(total: usize, what: &str) -> Option<String> {
    (total > MAX_ROWS).then(|| {
        format!("Showing the first {MAX_ROWS} of {total} {what}; results.json holds all of them.")
    })
}

/// Per-second samples merged into buckets of `width` seconds.
#[derive(Debug, Clone)]
struct Bucket {
    t: f64,
    width: u32,
    rps: f64,
    eps: f64,
    p50: f64,
    p95: f64,
    p99: f64,
    load: f64,
    late: f64,
}

/// Merge seconds into at most `max` buckets. Rates average over the bucket; percentiles take the
/// bucket's highest second so a one-second spike survives; load is the value at the bucket end.
fn downsample(series: &[SecondSample], max: usize) -> Vec<Bucket> {
    let Some(last) = series.last() else {
        return Vec::new();
    };
    let span = u64::from(last.t) + 1;
    let width = span.div_ceil(max.max(1) as u64).max(1) as u32;
    let mut out: Vec<Bucket> = Vec::new();
    for s in series {
        let start = s.t / width * width;
        let p = |v: u64| v as f64;
        match out.last_mut() {
            Some(b) if b.t == f64::from(start) => {
                b.rps += s.requests as f64;
                b.eps += s.errors as f64;
                b.late += s.late as f64;
                b.p50 = b.p50.max(p(s.p50_us));
                b.p95 = b.p95.max(p(s.p95_us));
                b.p99 = b.p99.max(p(s.p99_us));
                b.load = s.load;
            }
            _ => out.push(Bucket {
                t: f64::from(start),
                width,
                rps: s.requests as f64,
                eps: s.errors as f64,
                p50: p(s.p50_us),
                p95: p(s.p95_us),
                p99: p(s.p99_us),
                load: s.load,
                late: s.late as f64,
            }),
        }
    }
    let w = f64::from(width);
    for b in &mut out {
        b.rps /= w;
        b.eps /= w;
        b.late /= w;
    }
    out
}

fn error_rows(run: &RunResults) -> (Vec<ErrorRow>, Option<String>) {
    let all: Vec<ErrorRow> = run
        .scopes
        .iter()
        .flat_map(|s| {
            s.errors.iter().map(move |e| ErrorRow {
                scope: s.name.clone(),
                kind: e.kind.as_str(),
                count: Cell::count(e.count),
                share: Cell::ratio(if s.stats.requests == 0 {
                    0.0
                } else {
                    e.count as f64 / s.stats.requests as f64
                }),
                samples: e.samples.iter().take(5).cloned().collect(),
            })
        })
        .collect();
    let note = cap_note(all.len(), "error rows");
    (all.into_iter().take(MAX_ROWS).collect(), note)
}

/// Latency of the failed requests, per scope that had any: kept apart from the successful
/// responses' latency (a refused connection is fast and would flatter every percentile).
fn failed_rows(run: &RunResults) -> Vec<LatencyRow> {
    run.scopes
        .iter()
        .take(MAX_ROWS)
        .filter_map(|s| {
            let f = s.stats.failed_latency_us.as_ref()?;
            let mut cells = vec![Cell::count(s.stats.errors)];
            cells.extend([f.p50, f.p95, f.p99, f.max].map(Cell::us));
            Some(LatencyRow {
                scope: s.name.clone(),
                cells,
            })
        })
        .collect()
}

impl crate::report::Exporter for HtmlReport {
    fn render(&self, run: &RunResults) -> Result<Vec<u8>, crate::report::ReportError> {
        render_html(run)
            .map(String::into_bytes)
            .map_err(|e| crate::report::ReportError::Render {
                format: Self::FILE_NAME,
                message: e.to_string(),
            })
    }

    fn file_name(&self) -> &'static str {
        Self::FILE_NAME
    }
}
