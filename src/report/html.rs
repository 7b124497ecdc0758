//! The HTML report: one self-contained, offline page built from [`RunResults`].
//!
//! Invariant: the page makes no external request of any kind. Templates, CSS and the few lines
//! of JS are compiled into the binary (`include_str!`); charts are inline SVG from
//! [`super::plot`]; every value that came from the results file (names, messages, the target URL)
//! passes through tera's autoescaping, and none of it is ever placed in a `src`/`href` or script.
//! A Content-Security-Policy meta tag tells the browser the same: no loads, and only the page's
//! own script (allowed by its SHA-256) may run.
//! Large runs stay small: series are downsampled to at most [`MAX_POINTS`] points and tables are
//! capped at [`MAX_ROWS`] rows with a note saying so.

use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::plot::{
    self, BLUE, Bar, GREEN, Line, ORANGE, PALETTE, PURPLE, PlotError, SKY, TimeChart, VERMILLION,
    YUnit, fmt_count, fmt_in_unit, fmt_rate, fmt_ratio, fmt_secs, fmt_si, fmt_us,
};
use crate::results::{
    ErrorKind, LatencySummary, LoadProfile, RunResults, RunStatus, ScopeKind, ScopeResults,
    SecondSample, SlaVerdict,
};

pub use super::pages::capacity::render_capacity;
pub use super::pages::compare::{render_compare, render_compare_with_runs};
pub use super::pages::history::render_history;
pub use super::pages::plan::render_plan;
use crate::error::chain;

/// Most points drawn per time series; longer series are bucketed.
pub const MAX_POINTS: usize = 1000;
/// Most rows in one table; the rest are counted in a note.
pub const MAX_ROWS: usize = 200;
/// Transactions per percentile chart (plus the overall line). Six lines use the six darker
/// Okabe–Ito colours; yellow is left out, it is too faint on white.
const DISTRIBUTION_LINES: usize = 5;
/// Most percentile charts; with five transactions each, the 25 busiest are drawn.
const MAX_DISTRIBUTION_CHARTS: usize = 5;
/// Most server metric series charted.
const MAX_SERVER_CHARTS: usize = 12;

const BASE: &str = include_str!("../../templates/base.html.tera");
const MACROS: &str = include_str!("../../templates/macros.html.tera");
const TEMPLATE: &str = include_str!("../../templates/report.html.tera");
const CSS: &str = include_str!("../../templates/report.css");
pub(crate) const JS: &str = include_str!("../../templates/report.js");

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

/// Rendering the report failed.
#[derive(Debug, thiserror::Error)]
pub enum HtmlError {
    /// The embedded templates failed to parse or render (a bug in this build, not in the input).
    #[error("cannot render the HTML report template: {}", chain(.0))]
    Template(#[source] tera::Error),
    /// A chart could not be drawn.
    #[error(transparent)]
    Plot(#[from] PlotError),
}

/// Render the HTML report of a run.
pub fn render_html(run: &RunResults) -> Result<String, HtmlError> {
    let page = Page::build(run)?;
    render_page(("report.html", TEMPLATE), &page)
}

/// Render one page template (which extends `base.html` and may import `macros.html`) with
/// `page` as its context. Every page shares the layout, CSS, script and its CSP hash.
pub(crate) fn render_page<T: Serialize>(
    template: (&str, &str),
    page: &T,
) -> Result<String, HtmlError> {
    let mut tera = tera::Tera::default();
    // Names end in `.html` so tera autoescapes every variable in them.
    tera.add_raw_templates([
        ("base.html", BASE),
        ("macros.html", MACROS),
        ("report.css", CSS),
        template,
    ])
    .map_err(HtmlError::Template)?;
    let mut ctx = tera::Context::from_serialize(page).map_err(HtmlError::Template)?;
    ctx.insert("script", JS);
    ctx.insert("script_hash", &script_hash(JS));
    ctx.insert("version", env!("CARGO_PKG_VERSION"));
    tera.render(template.0, &ctx).map_err(HtmlError::Template)
}

/// CSP source for the page's one script, so a browser runs that script and nothing else even if
/// some text ever escaped the escaping.
pub(crate) fn script_hash(js: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(js.as_bytes());
    format!(
        "sha256-{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
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
pub(crate) struct Verdict {
    /// `pass`, `fail` or `none`.
    pub(crate) class: &'static str,
    pub(crate) headline: String,
    pub(crate) details: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Notice {
    headline: String,
    text: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct Fact {
    label: &'static str,
    value: String,
    /// Full value on hover when `value` is shortened.
    full: Option<String>,
    mono: bool,
}

impl Fact {
    pub(crate) fn new(label: &'static str, value: impl Into<String>) -> Self {
        Self {
            label,
            value: value.into(),
            full: None,
            mono: false,
        }
    }

    pub(crate) fn mono(mut self) -> Self {
        self.mono = true;
        self
    }
}

/// A table cell: display text plus the raw number the sort script uses.
#[derive(Debug, Serialize)]
pub(crate) struct Cell {
    t: String,
    v: f64,
}

impl Cell {
    /// Any text with the number it sorts by.
    pub(crate) fn new(t: impl Into<String>, v: f64) -> Self {
        // A non-finite number would serialise as `null` and break sorting; sort it first.
        Self {
            t: t.into(),
            v: if v.is_finite() { v } else { f64::MIN },
        }
    }
    pub(crate) fn us(v: u64) -> Self {
        Self::usf(v as f64)
    }
    pub(crate) fn usf(v: f64) -> Self {
        Self { t: fmt_us(v), v }
    }
    pub(crate) fn count(v: u64) -> Self {
        Self {
            t: fmt_count(v),
            v: v as f64,
        }
    }
    pub(crate) fn rate(v: f64) -> Self {
        Self { t: fmt_rate(v), v }
    }
    pub(crate) fn ratio(v: f64) -> Self {
        Self { t: fmt_ratio(v), v }
    }
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

/// A chart as the `figure` macro shows it: caption, HTML legend, inline SVG.
#[derive(Debug, Serialize)]
pub(crate) struct Chart {
    pub(crate) id: String,
    pub(crate) title: String,
    pub(crate) caption: String,
    pub(crate) svg: String,
    pub(crate) legend: Vec<LegendItem>,
}

/// One legend entry; `shape` picks the swatch (`line`, `dot`, `band`, `bar`, `rule`).
#[derive(Debug, Serialize)]
pub(crate) struct LegendItem {
    pub(crate) label: String,
    pub(crate) color: String,
    pub(crate) shape: &'static str,
}

impl LegendItem {
    pub(crate) fn new(
        label: impl Into<String>,
        color: plotters::style::RGBColor,
        shape: &'static str,
    ) -> Self {
        Self {
            label: label.into(),
            color: hex(color),
            shape,
        }
    }
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

pub(crate) fn fmt_time(t: &jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()
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
                span: format!(
                    "{} – {}",
                    plot::fmt_secs(st.start_s),
                    plot::fmt_secs(st.end_s)
                ),
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

pub(crate) fn kind_name(k: ScopeKind) -> &'static str {
    match k {
        ScopeKind::Overall => "overall",
        ScopeKind::Transaction => "transaction",
        ScopeKind::Request => "request",
    }
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

pub(crate) fn hex(c: plotters::style::RGBColor) -> String {
    format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2)
}

pub(crate) fn chart(id: &str, title: &str, caption: String, svg: String, lines: &[Line]) -> Chart {
    Chart {
        id: id.to_owned(),
        title: title.to_owned(),
        caption,
        svg,
        legend: lines
            .iter()
            .map(|l| LegendItem::new(l.label.clone(), l.color, "line"))
            .collect(),
    }
}

fn line(
    label: &str,
    color: plotters::style::RGBColor,
    b: &[Bucket],
    f: fn(&Bucket) -> f64,
) -> Line {
    Line {
        label: label.to_owned(),
        color,
        points: b.iter().map(|b| (b.t, f(b))).collect(),
    }
}

fn timeline(
    run: &RunResults,
    b: &[Bucket],
    stages: &[(f64, String)],
    x_max: f64,
) -> Result<Vec<Chart>, HtmlError> {
    if b.is_empty() {
        return Ok(Vec::new());
    }
    let mut charts = Vec::new();
    let open = matches!(run.profile, LoadProfile::Open { .. });

    let lines = [
        line("requests/s", BLUE, b, |b| b.rps),
        line("errors/s", VERMILLION, b, |b| b.eps),
    ];
    let title = "Throughput and errors per second";
    let svg = plot::time_chart(&TimeChart {
        title,
        y_desc: "requests or errors per second",
        y_unit: YUnit::Count,
        lines: &lines,
        stages,
        x_max,
    })?;
    charts.push(chart(
        "throughput",
        title,
        "Completed requests and failed requests per second, all scopes together. Vertical rules \
         mark stage starts."
            .into(),
        svg,
        &lines,
    ));

    let lines = [
        line("p50", BLUE, b, |b| b.p50),
        line("p95", ORANGE, b, |b| b.p95),
        line("p99", PURPLE, b, |b| b.p99),
    ];
    let title = "Latency percentiles over time";
    let svg = plot::time_chart(&TimeChart {
        title,
        y_desc: "latency",
        y_unit: YUnit::Micros,
        lines: &lines,
        stages,
        x_max,
    })?;
    charts.push(chart(
        "latency",
        title,
        "Per-second p50, p95 and p99 of every request, measured from the actual send.".into(),
        svg,
        &lines,
    ));

    let (label, y_desc, caption) = if open {
        (
            "arrival rate",
            "arrivals per second (configured)",
            "The configured arrival rate; the schedule is independent of response times.",
        )
    } else {
        (
            "active users",
            "active users",
            "Virtual users running at the end of each second.",
        )
    };
    let lines = [line(label, GREEN, b, |b| b.load)];
    let title = if open {
        "Arrival rate over time"
    } else {
        "Active users over time"
    };
    let svg = plot::time_chart(&TimeChart {
        title,
        y_desc,
        y_unit: YUnit::Count,
        lines: &lines,
        stages,
        x_max,
    })?;
    charts.push(chart("load", title, caption.into(), svg, &lines));
    Ok(charts)
}

/// Points of a percentile plot: `(1/(1-q), µs)`, with q = 1 placed at `1/(1-q)` = count, the
/// finest resolution the sample supports.
pub(crate) fn percentile_points(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    let n = (h.len() as f64).max(2.0);
    let mut pts: Vec<(f64, f64)> = Vec::new();
    for v in h.iter_quantiles(4) {
        let q = v.quantile_iterated_to();
        let x = if q >= 1.0 {
            n
        } else {
            (1.0 / (1.0 - q)).min(n)
        };
        let y = h.highest_equivalent(v.value_iterated_to()) as f64;
        match pts.last_mut() {
            Some(last) if (last.0 - x).abs() < 1e-9 => last.1 = last.1.max(y),
            _ => pts.push((x, y)),
        }
    }
    pts
}

fn distribution_charts(
    run: &RunResults,
    problems: &mut Vec<String>,
) -> Result<(Vec<Chart>, Option<String>), HtmlError> {
    let mut decode = |scope: &ScopeResults| match scope.histogram.decode() {
        Ok(h) if !h.is_empty() => Some(percentile_points(&h)),
        Ok(_) => None,
        Err(e) => {
            problems.push(format!("scope `{}`: {e}", scope.name));
            None
        }
    };
    let overall = run
        .overall()
        .filter(|o| o.stats.requests > 0)
        .and_then(&mut decode)
        .map(|points| Line {
            label: "overall (every request)".into(),
            color: BLUE,
            points,
        });
    let mut scopes: Vec<&ScopeResults> = run
        .scopes
        .iter()
        .filter(|s| s.kind == ScopeKind::Transaction && s.stats.requests > 0)
        .collect();
    let total_tx = scopes.len();
    // Busiest first: they carry most of the traffic; the table holds every transaction.
    scopes.sort_by_key(|s| std::cmp::Reverse(s.stats.requests));
    scopes.truncate(DISTRIBUTION_LINES * MAX_DISTRIBUTION_CHARTS);
    let groups: Vec<&[&ScopeResults]> = if scopes.is_empty() {
        vec![&[]]
    } else {
        scopes.chunks(DISTRIBUTION_LINES).collect()
    };
    let caption = "Latency at each percentile from the exact histograms. The x axis stretches the \
                   tail: each tick is ten times rarer than the one before. Overall covers single \
                   requests and is repeated in each chart for reference; a transaction line covers \
                   the whole transaction.";
    let mut charts = Vec::new();
    for (g, group) in groups.iter().enumerate() {
        let mut lines: Vec<Line> = overall.iter().cloned().collect();
        for (i, scope) in group.iter().enumerate() {
            if let Some(points) = decode(scope) {
                lines.push(Line {
                    label: scope.name.clone(),
                    color: PALETTE[1 + i % DISTRIBUTION_LINES],
                    points,
                });
            }
        }
        if lines.is_empty() {
            continue;
        }
        let title = if groups.len() > 1 {
            let first = g * DISTRIBUTION_LINES + 1;
            format!(
                "Latency distribution: transactions {first}–{} of {total_tx}, busiest first",
                first + group.len() - 1
            )
        } else {
            "Latency distribution (HdrHistogram percentiles)".to_owned()
        };
        let svg = plot::percentile_chart(&title, &lines)?;
        let id = if g == 0 {
            "distribution".to_owned()
        } else {
            format!("distribution-{}", g + 1)
        };
        let caption = if g == 0 { caption } else { "" };
        charts.push(chart(&id, &title, caption.into(), svg, &lines));
    }
    let drawn = scopes.len();
    let note = (total_tx > drawn).then(|| {
        format!(
            "Drawn: the {drawn} busiest of {total_tx} transactions; the summary table has every \
             transaction's percentiles."
        )
    });
    Ok((charts, note))
}

fn status_class(code: &str) -> (&'static str, plotters::style::RGBColor) {
    match code.as_bytes().first() {
        Some(b'1' | b'2') => ("ok", GREEN),
        Some(b'3') => ("redirect", SKY),
        Some(b'4') => ("client", ORANGE),
        Some(b'5') => ("server", VERMILLION),
        _ => ("other", PURPLE),
    }
}

fn status_codes(run: &RunResults) -> Result<(Option<Chart>, Vec<StatusRow>), HtmlError> {
    let Some(overall) = run.overall() else {
        return Ok((None, Vec::new()));
    };
    let total: u64 = overall.status_codes.values().sum();
    if total == 0 {
        return Ok((None, Vec::new()));
    }
    let rows: Vec<StatusRow> = overall
        .status_codes
        .iter()
        .map(|(code, &n)| StatusRow {
            code: code.clone(),
            class: status_class(code).0,
            count: Cell::count(n),
            share: Cell::ratio(n as f64 / total as f64),
        })
        .collect();
    let bars: Vec<Bar> = overall
        .status_codes
        .iter()
        .take(24)
        .map(|(code, &n)| Bar {
            label: code.clone(),
            value: n,
            color: status_class(code).1,
        })
        .collect();
    let title = "HTTP status codes";
    let svg = plot::bar_chart(title, "responses", &bars)?;
    let legend = [
        ("2xx", GREEN),
        ("3xx", SKY),
        ("4xx", ORANGE),
        ("5xx", VERMILLION),
    ]
    .iter()
    .filter(|(p, _)| overall.status_codes.keys().any(|c| c.starts_with(&p[..1])))
    .map(|(label, color)| Line {
        label: (*label).to_owned(),
        color: *color,
        points: Vec::new(),
    })
    .collect::<Vec<_>>();
    Ok((
        Some(chart(
            "status",
            title,
            "Responses by HTTP status over the whole run; requests that got no response (connect \
             errors, timeouts) are counted under errors instead."
                .into(),
            svg,
            &legend,
        )),
        rows,
    ))
}

fn error_kind(k: ErrorKind) -> &'static str {
    match k {
        ErrorKind::Connect => "connect",
        ErrorKind::Timeout => "timeout",
        ErrorKind::Status => "status",
        ErrorKind::Check => "check",
        ErrorKind::Other => "other",
    }
}

fn error_rows(run: &RunResults) -> (Vec<ErrorRow>, Option<String>) {
    let all: Vec<ErrorRow> = run
        .scopes
        .iter()
        .flat_map(|s| {
            s.errors.iter().map(move |e| ErrorRow {
                scope: s.name.clone(),
                kind: error_kind(e.kind),
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

fn arrivals(
    run: &RunResults,
    b: &[Bucket],
    x_max: f64,
) -> Result<(Vec<Fact>, Option<Chart>), HtmlError> {
    let Some(a) = &run.arrivals else {
        return Ok((Vec::new(), None));
    };
    let share = |n: u64| {
        if a.scheduled == 0 {
            String::new()
        } else {
            format!(
                " ({} of scheduled)",
                fmt_ratio(n as f64 / a.scheduled as f64)
            )
        }
    };
    let facts = vec![
        Fact::new("Scheduled", fmt_count(a.scheduled)),
        Fact::new(
            "Started",
            format!("{}{}", fmt_count(a.started), share(a.started)),
        ),
        Fact::new(
            "Started late",
            format!("{}{}", fmt_count(a.late), share(a.late)),
        ),
        Fact::new(
            "Missed",
            format!("{}{}", fmt_count(a.missed), share(a.missed)),
        ),
        Fact::new("Largest start lag", fmt_us(a.max_lag_us as f64)),
    ];
    let any_late = b.iter().any(|b| b.late > 0.0);
    if !any_late {
        return Ok((facts, None));
    }
    let lines = [line("late arrivals/s", VERMILLION, b, |b| b.late)];
    let title = "Late arrivals per second";
    let svg = plot::time_chart(&TimeChart {
        title,
        y_desc: "late arrivals per second",
        y_unit: YUnit::Count,
        lines: &lines,
        stages: &[],
        x_max,
    })?;
    let caption = "Arrivals that started later than their scheduled time: the load generator or \
                   the in-flight cap could not keep up, so latency from the intended start (below) \
                   is the honest number."
        .to_owned();
    Ok((facts, Some(chart("late", title, caption, svg, &lines))))
}

fn intended(
    run: &RunResults,
    problems: &mut Vec<String>,
) -> Result<(Option<Chart>, Vec<LatencyRow>), HtmlError> {
    let rows: Vec<LatencyRow> = run
        .scopes
        .iter()
        .filter_map(|s| {
            let i = s.stats.intended_latency_us.as_ref()?;
            let a = &s.stats.latency_us;
            Some(LatencyRow {
                scope: s.name.clone(),
                cells: vec![
                    Cell::us(a.p50),
                    Cell::us(i.p50),
                    Cell::us(a.p99),
                    Cell::us(i.p99),
                    Cell::us(a.max),
                    Cell::us(i.max),
                ],
            })
        })
        .take(MAX_ROWS)
        .collect();
    let Some(overall) = run.overall() else {
        return Ok((None, rows));
    };
    let Some(intended) = &overall.intended_histogram else {
        return Ok((None, rows));
    };
    let decoded = overall
        .histogram
        .decode()
        .and_then(|a| Ok((a, intended.decode()?)));
    let (actual, intended) = match decoded {
        Ok(pair) => pair,
        Err(e) => {
            problems.push(format!("scope `{}`: {e}", overall.name));
            return Ok((None, rows));
        }
    };
    if actual.is_empty() && intended.is_empty() {
        return Ok((None, rows));
    }
    let lines = [
        Line {
            label: "from actual send".into(),
            color: BLUE,
            points: percentile_points(&actual),
        },
        Line {
            label: "from intended start".into(),
            color: PURPLE,
            points: percentile_points(&intended),
        },
    ];
    let title = "Latency from intended start vs actual send";
    let svg = plot::percentile_chart(title, &lines)?;
    Ok((
        Some(chart(
            "intended",
            title,
            "Open model: latency measured from when each arrival was scheduled includes the time \
             it waited to start (coordinated omission corrected). A gap between the lines means \
             requests queued before being sent."
                .into(),
            svg,
            &lines,
        )),
        rows,
    ))
}

/// The generator's own health: the verdict, its figures and a chart of CPU, run-queue wait and
/// host load per second, and one of the runtime's scheduling lag.
#[derive(Debug, Serialize)]
struct GeneratorSection {
    bound: bool,
    headline: String,
    reasons: Vec<String>,
    charts: Vec<Chart>,
}

fn generator_section(
    run: &RunResults,
    stages: &[(f64, String)],
    x_max: f64,
) -> Result<Option<GeneratorSection>, HtmlError> {
    let Some(g) = &run.generator else {
        return Ok(None);
    };
    let at = |s: &crate::results::HealthSecond| f64::from(s.t) + 0.5;
    let share =
        |label: &str, i: usize, f: &dyn Fn(&crate::results::HealthSecond) -> Option<f64>| Line {
            label: label.to_owned(),
            color: PALETTE[i % PALETTE.len()],
            points: g
                .series
                .iter()
                .filter_map(|s| Some((at(s), f(s)?)))
                .collect(),
        };
    let load_lines = [
        share("kneepoint CPU (of its cores)", 0, &|s| s.cpu),
        share("host CPUs busy", 1, &|s| s.host_busy),
        share(
            "kneepoint's threads waiting for a CPU (100 % = 1 s a second)",
            2,
            &|s| s.wait,
        ),
    ];
    let load_lines: Vec<Line> = load_lines
        .into_iter()
        .filter(|l| !l.points.is_empty())
        .collect();
    // One time chart of `lines`, y shown as `y_unit`.
    let time = |id: &str, title: &str, caption: &str, y_desc: &str, y_unit, lines: &[Line]| {
        let svg = plot::time_chart(&TimeChart {
            title,
            y_desc,
            y_unit,
            lines,
            stages,
            x_max,
        })?;
        Ok::<Chart, HtmlError>(chart(id, title, caption.to_owned(), svg, lines))
    };
    let mut charts = Vec::new();
    if !load_lines.is_empty() {
        charts.push(time(
            "generator-cpu",
            "Generator: CPU and waiting for a CPU",
            "kneepoint's own CPU over the cores it may use, how busy the host's CPUs were, and \
             how long kneepoint's threads were ready but waited for a CPU, each second.",
            "share",
            plot::YUnit::Ratio,
            &load_lines,
        )?);
    }
    let lag = |label: &str, i: usize, f: fn(&crate::results::HealthSecond) -> u64| Line {
        label: label.to_owned(),
        color: PALETTE[i % PALETTE.len()],
        points: g.series.iter().map(|s| (at(s), f(s) as f64)).collect(),
    };
    let lag_lines = [
        lag("scheduling lag p99", 0, |s| s.lag_p99_us),
        lag("scheduling lag max", 3, |s| s.lag_max_us),
    ];
    charts.push(time(
        "generator-lag",
        "Generator: scheduling lag",
        "How late kneepoint's runtime woke a probe task that sleeps 5 ms at a time: a response \
         waits as long to be timed. Tokio's 1 ms timer puts a floor of about 1–1.5 ms under it.",
        "lag",
        plot::YUnit::Micros,
        &lag_lines,
    )?);
    let cpu = g.cpu_mean.map_or_else(
        || "CPU unknown".to_owned(),
        |c| format!("CPU {}", fmt_ratio(c)),
    );
    let figures = format!(
        "{cpu} of {} cores, scheduling lag p99 {} (max {})",
        g.cores,
        fmt_us(g.lag_p99_us as f64),
        fmt_us(g.lag_max_us as f64)
    );
    Ok(Some(GeneratorSection {
        bound: g.bound,
        headline: if g.bound {
            format!("Generator-bound: kneepoint, not only the target, limited this run ({figures})")
        } else {
            format!("The generator kept up: {figures}")
        },
        reasons: g.reasons.clone(),
        charts,
    }))
}

fn server_charts(
    run: &RunResults,
    stages: &[(f64, String)],
    x_max: f64,
) -> Result<(Vec<Chart>, Option<String>), HtmlError> {
    let mut charts = Vec::new();
    for (i, s) in run
        .server_metrics
        .iter()
        .take(MAX_SERVER_CHARTS)
        .enumerate()
    {
        let (y_unit, factor) = plot::y_unit_for(&s.unit);
        let step = s.points.len().div_ceil(MAX_POINTS).max(1);
        // Means of consecutive runs of `step` points keep the series' shape at any length.
        let points: Vec<(f64, f64)> = s
            .points
            .chunks(step)
            .map(|c| {
                let n = c.len() as f64;
                (c[0].0, c.iter().map(|p| p.1 * factor).sum::<f64>() / n)
            })
            .collect();
        let lines = [Line {
            label: format!("{} ({})", s.name, s.unit),
            color: PALETTE[i % PALETTE.len()],
            points,
        }];
        let title = format!("Server metric: {}", s.name);
        let svg = plot::time_chart(&TimeChart {
            title: &title,
            y_desc: &s.name,
            y_unit,
            lines: &lines,
            stages,
            x_max,
        })?;
        charts.push(chart(
            &format!("server-{i}"),
            &title,
            format!("Scraped from the target during the run; unit: {}.", s.unit),
            svg,
            &lines,
        ));
    }
    let n = run.server_metrics.len();
    let note = (n > MAX_SERVER_CHARTS).then(|| {
        format!("Showing {MAX_SERVER_CHARTS} of {n} server series; results.json holds all of them.")
    });
    Ok((charts, note))
}

impl super::Exporter for HtmlReport {
    fn render(&self, run: &RunResults) -> Result<Vec<u8>, super::ReportError> {
        render_html(run)
            .map(String::into_bytes)
            .map_err(|e| super::ReportError::Render {
                format: Self::FILE_NAME,
                message: e.to_string(),
            })
    }

    fn file_name(&self) -> &'static str {
        Self::FILE_NAME
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use super::*;
    use crate::results::{
        ArrivalStats, ArrivalUnit, ErrorCount, ProfileStage, ScenarioInfo, ScopeStats,
        SerializedHistogram, ServerSeries, StageRecord, new_histogram, record,
    };

    /// Shape of a synthetic run.
    struct Spec {
        name: &'static str,
        seconds: u32,
        transactions: usize,
        open: bool,
        slas_pass: bool,
    }

    fn scope(
        kind: ScopeKind,
        name: &str,
        seed: u64,
        n: u64,
        errors: u64,
        secs: f64,
    ) -> ScopeResults {
        let mut h = new_histogram();
        let mut ih = new_histogram();
        // A deterministic long-tailed spread: most values near the median, a few far out.
        for i in 0..n.min(5_000) {
            let base = 2_000 + seed * 150;
            let tail = if i % 100 == 0 {
                base * 20
            } else if i % 10 == 0 {
                base * 3
            } else {
                0
            };
            let us = base + (i * 37 % 1_000) * 3 + tail;
            record(&mut h, Duration::from_micros(us));
            record(&mut ih, Duration::from_micros(us + (i % 50) * 40));
        }
        let latency = LatencySummary::from_histogram(&h);
        let mut status_codes = BTreeMap::new();
        status_codes.insert("200".to_owned(), n - errors);
        if errors > 0 {
            status_codes.insert("503".to_owned(), errors);
        }
        ScopeResults {
            kind,
            name: name.to_owned(),
            stats: ScopeStats {
                requests: n,
                errors,
                error_rate: if n == 0 {
                    0.0
                } else {
                    errors as f64 / n as f64
                },
                throughput_rps: n as f64 / secs,
                latency_us: latency,
                failed_latency_us: None,
                intended_latency_us: Some(LatencySummary::from_histogram(&ih)),
            },
            status_codes,
            errors: if errors > 0 {
                vec![ErrorCount {
                    kind: ErrorKind::Status,
                    count: errors,
                    samples: vec![format!("503 Service Unavailable from {name}")],
                }]
            } else {
                Vec::new()
            },
            histogram: SerializedHistogram::encode(&h).expect("encode"),
            failed_histogram: None,
            intended_histogram: Some(SerializedHistogram::encode(&ih).expect("encode")),
        }
    }

    fn synthetic(spec: &Spec) -> RunResults {
        let secs = f64::from(spec.seconds);
        let mut scopes = vec![scope(ScopeKind::Overall, "overall", 0, 120_000, 240, secs)];
        for i in 0..spec.transactions {
            let n = 10_000 - i as u64 * 7;
            let errors = if i % 3 == 0 { n / 200 } else { 0 };
            scopes.push(scope(
                ScopeKind::Transaction,
                &format!("tx-{i:03}"),
                i as u64 + 1,
                n,
                errors,
                secs,
            ));
        }
        scopes.push(scope(
            ScopeKind::Request,
            "tx-000/get item",
            1,
            9_000,
            0,
            secs,
        ));
        let series = (0..spec.seconds)
            .map(|t| SecondSample {
                t,
                requests: 400 + u64::from(t % 60) * 3,
                errors: u64::from(t % 97 == 0),
                p50_us: 2_000 + u64::from(t % 30) * 10,
                p95_us: 9_000 + u64::from(t % 45) * 50,
                p99_us: 20_000 + u64::from(t % 90) * 200,
                load: f64::from((t / 10).min(50)),
                late: u64::from(spec.open && t % 50 == 0),
            })
            .collect();
        let half = secs / 2.0;
        let stages = vec![
            StageRecord {
                index: 0,
                name: "warm up".into(),
                start_s: 0.0,
                end_s: half,
                target: 25.0,
                scopes: vec![scopes[0].clone()],
            },
            StageRecord {
                index: 1,
                name: "steady".into(),
                start_s: half,
                end_s: secs,
                target: 50.0,
                scopes: vec![scopes[0].clone()],
            },
        ];
        let pstages = vec![ProfileStage {
            name: None,
            target: 50.0,
            ramp_s: half,
            hold_s: half,
        }];
        let profile = if spec.open {
            LoadProfile::Open {
                stages: pstages,
                unit: ArrivalUnit::Iterations,
                max_in_flight: 500,
                max_iterations: None,
            }
        } else {
            LoadProfile::Closed {
                stages: pstages,
                think_time_us: Some((100_000, 500_000)),
                max_iterations: None,
            }
        };
        let p95 = scopes[0].stats.latency_us.p95 as f64;
        let start = jiff::Timestamp::from_second(1_790_000_000).expect("ts");
        RunResults {
            schema_version: crate::results::SCHEMA_VERSION,
            kneepoint_version: "0.1.0".into(),
            run_id: "3f1c2a9e-run".into(),
            scenario: ScenarioInfo {
                name: spec.name.into(),
                path: "scenarios/shop.toml".into(),
                sha256: "ab".repeat(32),
            },
            target: "http://127.0.0.1:8080".into(),
            backend: "embedded".into(),
            started_at: start,
            ended_at: start
                .checked_add(jiff::SignedDuration::from_secs(i64::from(spec.seconds)))
                .expect("ts"),
            duration_s: secs,
            status: RunStatus::Completed,
            profile,
            stages,
            scopes,
            series,
            arrivals: spec.open.then_some(ArrivalStats {
                scheduled: 100_000,
                started: 99_990,
                late: 120,
                missed: 10,
                max_lag_us: 250_000,
            }),
            slas: vec![
                SlaVerdict {
                    name: "overall p95 < 200ms".into(),
                    scope: "overall".into(),
                    metric: "p95".into(),
                    comparison: "<".into(),
                    threshold: 200_000.0,
                    actual: Some(p95),
                    unit: "us".into(),
                    threshold_text: "200ms".into(),
                    passed: true,
                    abort: false,
                },
                SlaVerdict {
                    name: "errors < 0.1%".into(),
                    scope: "overall".into(),
                    metric: "error_rate".into(),
                    comparison: "<".into(),
                    threshold: 0.001,
                    actual: Some(0.002),
                    unit: "ratio".into(),
                    threshold_text: "0.1%".into(),
                    passed: spec.slas_pass,
                    abort: true,
                },
            ],
            server_metrics: vec![ServerSeries {
                name: "cache_hit_ratio".into(),
                unit: "ratio".into(),
                points: (0..spec.seconds / 5)
                    .map(|i| (f64::from(i * 5), 0.8 + f64::from(i % 10) / 100.0))
                    .collect(),
            }],
            generator: None,
            shards: 1,
            shard: None,
            merged_from: Vec::new(),
        }
    }

    fn small() -> RunResults {
        synthetic(&Spec {
            name: "shop checkout",
            seconds: 120,
            transactions: 3,
            open: false,
            slas_pass: false,
        })
    }

    fn render(run: &RunResults) -> String {
        render_html(run).expect("renders")
    }

    /// The text as it appears in the page after autoescaping.
    fn esc(s: &str) -> String {
        tera::escape_html(s)
    }

    /// The `<tr>` whose `data-*` attribute has `value`.
    fn row<'a>(html: &'a str, attr: &str, value: &str) -> &'a str {
        let needle = format!("{attr}=\"{}\"", esc(value));
        let start = html
            .find(&needle)
            .unwrap_or_else(|| panic!("no row with {needle}"));
        let start = html[..start].rfind("<tr").expect("row starts");
        let end = html[start..].find("</tr>").expect("row ends") + start;
        &html[start..end]
    }

    #[test]
    fn verdict_names_each_breached_sla_and_by_how_much() {
        let run = small();
        let html = render(&run);
        assert!(html.contains("Breached: 1 of 2 SLAs failed"));
        assert!(html.contains("verdict verdict-fail"));
        // 0.2% measured against 0.1%: 0.1 points over, 100% of the limit.
        assert!(
            html.contains(&esc(
                "errors < 0.1%: overall error_rate was 0.20%, limit < 0.1%; 0.10% over the limit (+100.0%)"
            )),
            "{}",
            &html[html.find("verdict-details").unwrap_or(0)..][..600]
        );

        let mut passing = small();
        passing.slas[1].passed = true;
        let html = render(&passing);
        assert!(html.contains("Passed: all 2 SLAs met"));
        assert!(html.contains("verdict verdict-pass"));
        assert!(!html.contains("verdict verdict-fail"));

        passing.slas.clear();
        assert!(render(&passing).contains("No SLAs defined"));
    }

    #[test]
    fn one_row_per_sla_with_threshold_actual_and_margin() {
        let run = small();
        let html = render(&run);
        assert_eq!(html.matches("<tr class=\"sla ").count(), run.slas.len());
        let r = row(&html, "data-sla", "overall p95 < 200ms");
        assert!(r.contains("sla-pass"));
        assert!(r.contains(&esc(&fmt_us(run.slas[0].actual.expect("actual")))));
        assert!(r.contains(&esc("< 200 ms (200ms)")));
        assert!(r.contains("under the limit"));
        let r = row(&html, "data-sla", "errors < 0.1%");
        assert!(r.contains("sla-fail") && r.contains("abort"));
        assert!(r.contains(&esc("0.20%")));
    }

    #[test]
    fn every_scope_has_a_row_with_its_numbers() {
        let run = small();
        let html = render(&run);
        for s in &run.scopes {
            let r = row(&html, "data-scope", &s.name);
            let st = &s.stats;
            let l = &st.latency_us;
            for want in [
                fmt_count(st.requests),
                fmt_count(st.errors),
                fmt_ratio(st.error_rate),
                fmt_rate(st.throughput_rps),
                fmt_us(l.min as f64),
                fmt_us(l.mean),
                fmt_us(l.p50 as f64),
                fmt_us(l.p90 as f64),
                fmt_us(l.p95 as f64),
                fmt_us(l.p99 as f64),
                fmt_us(l.p99_9 as f64),
                fmt_us(l.max as f64),
            ] {
                assert!(
                    r.contains(&format!(">{}</td>", esc(&want))),
                    "{} lacks {want}: {r}",
                    s.name
                );
            }
            // The raw value rides along for sorting.
            assert!(r.contains(&format!("data-v=\"{}\"", st.requests)));
        }
    }

    #[test]
    fn run_facts_and_stages_are_shown() {
        let run = small();
        let html = render(&run);
        for want in [
            "scenarios/shop.toml",
            "abababababab",
            "http://127.0.0.1:8080",
            "embedded",
            "closed model: 1 stage, up to 50 users, think time 100 ms–500 ms",
            "2026-09-21 14:13:20 UTC",
            "2m 00s",
            "completed",
            "warm up",
            "steady",
        ] {
            assert!(html.contains(&esc(want)), "missing {want}");
        }
    }

    #[test]
    fn partial_runs_say_so() {
        let mut run = small();
        run.status = RunStatus::Interrupted;
        let html = render(&run);
        assert!(html.contains("Partial results: run interrupted"));
        assert!(html.contains("interrupted (partial)"));
        run.status = RunStatus::Failed {
            reason: "target unreachable".into(),
        };
        assert!(render(&run).contains("The run failed after 2m 00s: target unreachable."));
        run.status = RunStatus::Completed;
        assert!(!render(&run).contains("Partial results"));
    }

    #[test]
    fn charts_are_inline_svg() {
        let html = render(&small());
        // throughput, latency, load, distribution, status codes, one server series.
        assert_eq!(html.matches("<svg class=\"chart\"").count(), 6);
        for tx in ["tx-000", "tx-001", "tx-002"] {
            assert!(
                html.contains(&format!("</span>{tx}</li>")),
                "{tx} in the distribution legend"
            );
        }
        for id in [
            "throughput",
            "latency",
            "load",
            "distribution",
            "status",
            "server-0",
        ] {
            assert!(html.contains(&format!("id=\"{id}\"")), "chart {id}");
        }
        assert!(html.contains("99.9%"), "percentile axis ticks");
        assert!(html.contains("latency (ms)"), "unit on the axis");
        // Closed model: no arrivals section.
        assert!(!html.contains("id=\"arrivals\""));
    }

    #[test]
    fn open_model_shows_arrivals_and_intended_latency() {
        let run = synthetic(&Spec {
            name: "open",
            seconds: 300,
            transactions: 2,
            open: true,
            slas_pass: true,
        });
        let html = render(&run);
        assert!(html.contains("id=\"arrivals\""));
        assert!(html.contains("id=\"late\""));
        assert!(html.contains("id=\"intended\""));
        assert!(
            html.contains(&esc("10 (0.010% of scheduled)")),
            "missed share"
        );
        assert!(html.contains("arrivals per second (configured)"));
    }

    #[test]
    fn no_external_references() {
        let html = render(&small());
        let without_target = html.replace(&esc("http://127.0.0.1:8080"), "");
        assert!(!without_target.contains("http://"), "http:// found");
        assert!(!without_target.contains("https://"), "https:// found");
        assert!(!without_target.contains("http:&#x2F;&#x2F;"));
        assert!(!html.contains("src="), "no src attributes at all");
        for (i, _) in html.match_indices("href=\"") {
            assert_eq!(&html[i + 6..i + 7], "#", "only in-page links");
        }
        assert!(!html.contains("@import") && !html.contains("url("));
        // The browser is told the same: nothing may load, only the page's own script may run.
        let csp = format!(
            "content=\"default-src 'none'; style-src 'unsafe-inline'; script-src '{}'",
            esc(&script_hash(JS))
        );
        assert!(html.contains(&csp), "CSP meta");
        assert!(
            html.contains(&format!("<script>{JS}</script>")),
            "hashed text is the script"
        );
    }

    #[test]
    fn names_from_results_are_escaped() {
        let mut run = small();
        let evil = "<script>alert(1)</script>";
        run.scenario.name = evil.into();
        run.target = format!("http://x/{evil}");
        run.scopes[1].name = format!("tx{evil}");
        run.scopes[1].errors.push(ErrorCount {
            kind: ErrorKind::Other,
            count: 1,
            samples: vec![evil.into()],
        });
        run.slas[0].name = evil.into();
        let html = render(&run);
        assert_eq!(
            html.matches("<script>").count(),
            1,
            "only the page's own script"
        );
        assert!(html.contains("&lt;script&gt;alert(1)&lt;&#x2F;script&gt;"));
    }

    #[test]
    fn corrupt_histogram_is_reported_not_fatal() {
        let mut run = small();
        run.scopes[0].histogram = SerializedHistogram("bad".into());
        let html = render(&run);
        assert!(html.contains("Some data could not be read"));
        assert_eq!(html.matches("stored histogram is corrupt").count(), 1);
    }

    #[test]
    fn empty_run_renders() {
        let mut run = small();
        run.scopes.clear();
        run.series.clear();
        run.stages.clear();
        run.server_metrics.clear();
        let html = render(&run);
        assert!(html.contains("No request failed."));
        assert!(!html.contains("<svg"));
    }

    #[test]
    fn committed_fixtures_render() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/results");
        for name in ["report-closed.json", "report-open.json"] {
            let run = RunResults::read(&dir.join(name)).expect("fixture reads");
            let html = render(&run);
            assert!(html.contains(&esc(&run.scenario.name)), "{name}");
            assert!(html.matches("<svg class=\"chart\"").count() >= 6, "{name}");
        }
    }

    #[test]
    fn downsampling_keeps_spikes_and_rates() {
        let series: Vec<SecondSample> = (0..10_000)
            .map(|t| SecondSample {
                t,
                requests: 100,
                errors: 0,
                p50_us: 1,
                p95_us: 2,
                p99_us: if t == 4_321 { 999_999 } else { 3 },
                load: f64::from(t),
                late: 0,
            })
            .collect();
        let b = downsample(&series, MAX_POINTS);
        assert!(b.len() <= MAX_POINTS, "{}", b.len());
        assert_eq!(b[0].width, 10);
        assert!(b.iter().all(|b| (b.rps - 100.0).abs() < 1e-9));
        assert!(b.iter().any(|b| b.p99 == 999_999.0));
        assert_eq!(b[1].load, 19.0);
    }

    #[test]
    fn large_run_is_capped_small_and_fast() {
        let run = synthetic(&Spec {
            name: "soak",
            seconds: 4 * 3600,
            transactions: 200,
            open: true,
            slas_pass: true,
        });
        let t0 = std::time::Instant::now();
        let html = render(&run);
        let took = t0.elapsed();
        eprintln!(
            "4 h run, {} scopes: {} bytes in {:?}",
            run.scopes.len(),
            html.len(),
            took
        );
        assert_eq!(html.matches("<tr class=\"scope ").count(), MAX_ROWS);
        assert!(html.contains(&format!(
            "Showing the first {MAX_ROWS} of {} scopes",
            run.scopes.len()
        )));
        assert!(html.contains("Each point covers 15 s"));
        // 25 busiest transactions drawn in five percentile charts, the rest noted.
        assert!(html.contains("id=\"distribution-5\""));
        assert!(!html.contains("id=\"distribution-6\""));
        assert!(html.contains("Drawn: the 25 busiest of 200 transactions"));
        assert!(html.len() < 3_000_000, "{} bytes", html.len());
    }
}
