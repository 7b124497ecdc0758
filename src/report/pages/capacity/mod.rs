//! The capacity page: a [`CapacityReport`] (`capacity.json`) as one offline HTML file.
//!
//! Shows what the search measured and what was derived from it: throughput against load with
//! the fitted USL curve and its confidence band, the knee, the SLA boundary and the max
//! sustainable throughput; latency percentiles per step against the SLA limits; the fit
//! parameters with their intervals (or why there is no fit); warnings such as the Little's-law
//! check; the stop reason; every step in a table.
//!
//! Invariant: renders only what is in the report (no refitting); open-model steps are drawn on
//! the concurrency the fit used, and points on that axis are mapped through the same steps, so
//! the knee and the SLA boundary sit where the analysis put them.

use serde::Serialize;

use crate::capacity::{
    CapacityReport, FitOutcome, Growth, LittleCheck, Peak, SearchModel, StepRecord, UslFit,
};
use crate::report::html::{
    Card, Cell, Chart, Fact, HtmlError, LegendItem, chart, percentile_figure, percentile_line,
    rule_legend,
};
use crate::report::plot::{
    self, BLUE, Band, GREEN, Line, ORANGE, PALETTE, PURPLE, PlotError, Rule, VERMILLION, XyChart,
    YUnit,
};
use crate::report::units::{fmt_num, fmt_rate, fmt_ratio, fmt_secs, fmt_si};
use crate::results::{ScopeKind, SlaVerdict};

const TEMPLATE: &str = include_str!("../../../../templates/capacity.html.tera");

/// File name of the capacity page, next to `capacity.json`.
pub const FILE_NAME: &str = "capacity.html";

/// Most steps whose latency distributions share one chart.
const DISTRIBUTION_STEPS: usize = 6;

/// Render the capacity page of a capacity search or points analysis.
pub fn render_capacity(report: &CapacityReport) -> Result<String, HtmlError> {
    let page = Page::build(report)?;
    crate::report::html::render_page(("capacity.html", TEMPLATE), &page)
}

#[derive(Debug, Serialize)]
struct Page {
    scenario: String,
    unit: &'static str,
    cards: Vec<Card>,
    stop: Option<String>,
    warnings: Vec<String>,
    charts: Vec<Chart>,
    distribution: Option<Chart>,
    distribution_note: Option<String>,
    fit: Option<FitView>,
    cannot_fit: Option<String>,
    knee_text: String,
    max_text: Option<String>,
    little: Vec<LittleRow>,
    steps: Vec<StepRow>,
    settings: Vec<Fact>,
    problems: Vec<String>,
    schema_version: u32,
    kneepoint_version: String,
}

#[derive(Debug, Serialize)]
struct FitView {
    params: Vec<ParamRow>,
    derived: Vec<Fact>,
    peak: String,
    confidence: String,
}

#[derive(Debug, Serialize)]
struct ParamRow {
    name: &'static str,
    meaning: &'static str,
    value: String,
    std_error: String,
    interval: String,
    fixed: bool,
}

#[derive(Debug, Serialize)]
struct LittleRow {
    step: usize,
    cells: Vec<Cell>,
    consistent: bool,
}

#[derive(Debug, Serialize)]
struct StepRow {
    index: usize,
    cells: Vec<Cell>,
    sla: &'static str,
    failed: Vec<String>,
    marks: Vec<&'static str>,
}

impl Page {
    fn build(r: &CapacityReport) -> Result<Self, HtmlError> {
        let a = &r.analysis;
        let unit = r.model.load_unit();
        let mut problems = Vec::new();
        let (fit, cannot_fit) = match &a.fit {
            FitOutcome::Fitted(f) => (Some(fit_view(f)), None),
            FitOutcome::CannotFit { reason } => (None, Some(reason.clone())),
        };
        let knee_text = match (&a.knee, &a.knee_note) {
            (Some(k), _) => format!(
                "Kneedle finds the knee at load {} ({}), where throughput was {}: beyond it, \
                 each step adds less throughput than the steps before.",
                fmt_num(k.load),
                fit_axis_unit(r.model),
                fmt_rate(k.throughput_rps)
            ),
            (None, Some(note)) => format!("{}.", capitalise(note)),
            (None, None) => "No knee was computed.".into(),
        };
        let mut charts = vec![throughput_chart(r)?];
        if let Some(c) = latency_chart(r)? {
            charts.push(c);
        }
        if let Some(c) = error_chart(r)? {
            charts.push(c);
        }
        let (distribution, distribution_note) = distribution_chart(r, &mut problems)?;
        Ok(Self {
            scenario: r.scenario.clone(),
            unit,
            cards: cards(r),
            stop: r.stop.as_ref().map(|s| capitalise(&s.describe())),
            warnings: a.warnings.clone(),
            charts,
            distribution,
            distribution_note,
            fit,
            cannot_fit,
            knee_text,
            max_text: a.max_sustainable.as_ref().map(|m| capitalise(&m.note)),
            little: a.little.iter().map(little_row).collect(),
            steps: r.steps.iter().map(|s| step_row(r, s)).collect(),
            settings: settings(r),
            problems,
            schema_version: r.schema_version,
            kneepoint_version: r.kneepoint_version.clone(),
        })
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next().map_or_else(String::new, |f| {
        f.to_uppercase().chain(c).collect::<String>()
    })
}

/// What the fit's x axis counts.
fn fit_axis_unit(model: SearchModel) -> &'static str {
    match model {
        SearchModel::Closed => "users",
        SearchModel::Open => "requests in flight",
    }
}

fn cards(r: &CapacityReport) -> Vec<Card> {
    let a = &r.analysis;
    let unit = r.model.load_unit();
    let mut cards = Vec::new();
    match &a.max_sustainable {
        Some(m) => cards.push(Card {
            label: "Max sustainable throughput",
            value: fmt_rate(m.measured_rps),
            detail: format!(
                "measured at {} {unit} (step {}), every SLA met",
                fmt_num(m.load),
                m.step
            ),
        }),
        None => cards.push(Card {
            label: "Max sustainable throughput",
            value: "none".into(),
            detail: "no step met every SLA".into(),
        }),
    }
    if let Some(m) = &a.max_sustainable
        && let (Some(load), Some(rps)) = (m.estimated_load, m.estimated_rps)
    {
        cards.push(Card {
            label: "SLA boundary (estimate)",
            value: fmt_rate(rps),
            detail: format!(
                "near {} {unit}{}",
                fmt_num(load),
                m.limited_by
                    .as_ref()
                    .map_or_else(String::new, |s| format!(", where `{s}` gives way"))
            ),
        });
    }
    if let Some(k) = &a.knee {
        cards.push(Card {
            label: "Knee",
            value: format!("{} {}", fmt_num(k.load), fit_axis_unit(r.model)),
            detail: format!("throughput there {}", fmt_rate(k.throughput_rps)),
        });
    }
    match &a.fit {
        FitOutcome::Fitted(f) => cards.push(match f.peak {
            Peak::Retrograde {
                n_star, x_max_rps, ..
            } => Card {
                label: "USL peak",
                value: fmt_rate(x_max_rps),
                detail: format!(
                    "at N* ≈ {} {}; R² {:.3}",
                    fmt_num(n_star),
                    fit_axis_unit(r.model),
                    f.r_squared
                ),
            },
            Peak::Asymptote { x_limit_rps } => Card {
                label: "USL limit",
                value: fmt_rate(x_limit_rps),
                detail: format!("approached, never passed (κ = 0); R² {:.3}", f.r_squared),
            },
            Peak::Linear => Card {
                label: "USL fit",
                value: "linear".into(),
                detail: format!("no limit visible yet; R² {:.3}", f.r_squared),
            },
        }),
        FitOutcome::CannotFit { .. } => cards.push(Card {
            label: "USL fit",
            value: "no fit".into(),
            detail: "the data do not support one (see below)".into(),
        }),
    }
    cards.push(Card {
        label: "Steps",
        value: r.steps.len().to_string(),
        detail: match &r.stop {
            Some(s) => format!("stopped: {}", s.describe()),
            None if r.source == "points" => "analysed from measured points".into(),
            None => "the search had not finished when this was written".into(),
        },
    });
    cards
}

fn estimate_text(e: &crate::capacity::Estimate) -> (String, String, String) {
    (
        fmt_num(e.value),
        e.std_error.map_or_else(|| "–".into(), fmt_num),
        format!("{} … {}", fmt_num(e.low), fmt_num(e.high)),
    )
}

fn fit_view(f: &UslFit) -> FitView {
    let rows = [
        (
            "λ",
            "throughput per unit of load without contention, req/s",
            &f.lambda,
        ),
        ("σ", "contention: the serialised fraction", &f.sigma),
        ("κ", "coherency: cost of crosstalk between units", &f.kappa),
    ];
    let params = rows
        .into_iter()
        .map(|(name, meaning, e)| {
            let (value, std_error, interval) = estimate_text(e);
            ParamRow {
                name,
                meaning,
                value,
                std_error,
                interval,
                fixed: e.fixed_at_zero,
            }
        })
        .collect();
    let mut derived = vec![
        Fact::new("R²", format!("{:.4}", f.r_squared)),
        Fact::new("RMSE", fmt_rate(f.rmse_rps)),
        Fact::new("Points fitted", f.points.to_string()),
        Fact::new("Student-t quantile", format!("{:.3}", f.t_quantile)),
    ];
    match f.peak {
        Peak::Retrograde {
            n_star,
            n_star_std_error,
            x_max_rps,
        } => {
            derived.push(Fact::new(
                "N* = √((1−σ)/κ)",
                match n_star_std_error {
                    Some(se) => format!("{} ± {}", fmt_num(n_star), fmt_num(se)),
                    None => fmt_num(n_star),
                },
            ));
            derived.push(Fact::new("X_max = X(N*)", fmt_rate(x_max_rps)));
        }
        Peak::Asymptote { x_limit_rps } => {
            derived.push(Fact::new("λ/σ (asymptote)", fmt_rate(x_limit_rps)));
        }
        Peak::Linear => {}
    }
    FitView {
        params,
        derived,
        peak: capitalise(&f.peak.describe()),
        confidence: format!("{:.0} %", f.confidence * 100.0),
    }
}

/// Where a load of the steps (`load`, users or arrivals/s) sits on the fit's axis: the same
/// fraction of the way between the fit loads of the two steps around it.
fn to_fit_axis(r: &CapacityReport, load: f64) -> f64 {
    let pts: Vec<(f64, f64)> = r
        .steps
        .iter()
        .map(|s| (s.load, s.fit_load(r.model)))
        .collect();
    if r.model == SearchModel::Closed || pts.is_empty() {
        return load;
    }
    for w in pts.windows(2) {
        let ((l0, f0), (l1, f1)) = (w[0], w[1]);
        if (l0..=l1).contains(&load) && l1 > l0 {
            return f0 + (load - l0) / (l1 - l0) * (f1 - f0);
        }
    }
    pts.iter()
        .find(|(l, _)| (l - load).abs() < 1e-9)
        .map_or(load, |p| p.1)
}

fn throughput_chart(r: &CapacityReport) -> Result<Chart, HtmlError> {
    let a = &r.analysis;
    let mut legend = Vec::new();
    let mut dots = Vec::new();
    for (passed, label, color) in [
        (true, "step within SLAs", GREEN),
        (false, "step breaching an SLA", VERMILLION),
    ] {
        let points: Vec<(f64, f64)> = r
            .steps
            .iter()
            .filter(|s| s.sla_passed == passed)
            .map(|s| (s.fit_load(r.model), s.measured.throughput_rps))
            .collect();
        if !points.is_empty() {
            legend.push(LegendItem::new(label, color, "dot"));
            dots.push(Line {
                label: String::new(),
                color,
                points,
            });
        }
    }
    let mut lines = Vec::new();
    let mut bands = Vec::new();
    if let Some(f) = a.fit.fit() {
        lines.push(Line {
            label: String::new(),
            color: BLUE,
            points: a.curve.iter().map(|c| (c.load, c.rps)).collect(),
        });
        legend.push(LegendItem::new("USL fit", BLUE, "line"));
        if f.covariance.is_some() {
            bands.push(Band {
                label: String::new(),
                color: BLUE,
                points: a.curve.iter().map(|c| (c.load, c.low, c.high)).collect(),
            });
            legend.push(LegendItem::new(
                format!("{:.0} % confidence band of the fit", f.confidence * 100.0),
                BLUE,
                "band",
            ));
        }
    }
    let mut vrules = Vec::new();
    if let Some(k) = &a.knee {
        vrules.push(Rule {
            at: k.load,
            label: format!("knee {}", fmt_num(k.load)),
            color: PURPLE,
        });
        legend.push(LegendItem::new("knee (Kneedle)", PURPLE, "rule"));
    }
    let mut hrules = Vec::new();
    if let Some(m) = &a.max_sustainable {
        hrules.push(Rule {
            at: m.measured_rps,
            label: format!("max sustainable {}", fmt_rate(m.measured_rps)),
            color: GREEN,
        });
        legend.push(LegendItem::new(
            "max sustainable throughput (measured)",
            GREEN,
            "rule",
        ));
        let boundary = m
            .estimated_load
            .or_else(|| {
                let i = m.first_failing_step?;
                r.steps.iter().find(|s| s.index == i).map(|s| s.load)
            })
            .map(|l| to_fit_axis(r, l));
        if let Some(x) = boundary {
            vrules.push(Rule {
                at: x,
                label: format!("SLA boundary ≈ {}", fmt_num(x)),
                color: VERMILLION,
            });
            legend.push(LegendItem::new("SLA boundary", VERMILLION, "rule"));
        }
    }
    let x_desc = match r.model {
        SearchModel::Closed => "load (users)".to_owned(),
        SearchModel::Open => "concurrency (mean requests in flight)".to_owned(),
    };
    let title = "Throughput against load";
    let svg = plot::xy_chart(&XyChart {
        title,
        x_desc: &x_desc,
        y_desc: "throughput (requests per second)",
        y_unit: YUnit::Count,
        lines: &lines,
        dots: &dots,
        bands: &bands,
        vrules: &vrules,
        hrules: &hrules,
        x_min: 0.0,
    })?;
    let caption = match r.model {
        SearchModel::Closed => {
            "Each dot is one step's measured throughput. The curve is the Universal Scalability \
             Law fitted to them, X(N) = λN / (1 + σ(N−1) + κN(N−1))."
        }
        SearchModel::Open => {
            "Each dot is one step's measured throughput against the requests it kept in flight \
             (measured, or throughput × mean latency by Little's law): the USL is fitted on that \
             concurrency, not on the offered rate."
        }
    };
    let mut c = chart("throughput", title, caption.into(), svg, &[]);
    c.legend = legend;
    Ok(c)
}

/// Latency SLA limits of the steps, one per SLA name.
/// One line per distinct latency limit: an SLA's name, or `N latency SLAs at X` when several
/// share a threshold (their labels would be drawn on top of each other).
fn latency_limits(r: &CapacityReport) -> Vec<(String, f64)> {
    let mut limits: Vec<(Vec<&str>, f64)> = Vec::new();
    for v in r.steps.iter().flat_map(|s| &s.measured.slas) {
        if !is_latency(v) {
            continue;
        }
        match limits
            .iter_mut()
            .find(|(_, t)| (*t - v.threshold).abs() < 1e-9)
        {
            Some((names, _)) if names.contains(&v.name.as_str()) => {}
            Some((names, _)) => names.push(&v.name),
            None => limits.push((vec![&v.name], v.threshold)),
        }
    }
    limits
        .into_iter()
        .map(|(names, us)| match names.as_slice() {
            [one] => (format!("SLA {one}"), us),
            _ => {
                let at = crate::report::units::fmt_us(us);
                (format!("{} latency SLAs at {at}", names.len()), us)
            }
        })
        .collect()
}

fn is_latency(v: &SlaVerdict) -> bool {
    matches!(v.unit.as_str(), "us" | "seconds") && v.comparison.starts_with('<')
}

/// A measure of every step against the load it offered: `lines` through the steps, a dot on
/// each step.
fn per_step_chart(
    r: &CapacityReport,
    title: &str,
    y_desc: &str,
    y_unit: YUnit,
    lines: &[Line],
    vrules: &[Rule],
    hrules: &[Rule],
) -> Result<String, PlotError> {
    plot::xy_chart(&XyChart {
        title,
        x_desc: &format!("load ({})", r.model.load_unit()),
        y_desc,
        y_unit,
        lines,
        dots: lines,
        bands: &[],
        vrules,
        hrules,
        x_min: 0.0,
    })
}

fn latency_chart(r: &CapacityReport) -> Result<Option<Chart>, HtmlError> {
    let series = |f: fn(&StepRecord) -> Option<f64>| -> Vec<(f64, f64)> {
        r.steps
            .iter()
            .filter_map(|s| Some((s.load, f(s)? * 1000.0)))
            .collect()
    };
    let lines: Vec<Line> = [
        ("p50", BLUE, series(|s| s.measured.p50_ms)),
        ("p95", ORANGE, series(|s| s.measured.p95_ms)),
        ("p99", PURPLE, series(|s| s.measured.p99_ms)),
    ]
    .into_iter()
    .filter(|(_, _, p)| !p.is_empty())
    .map(|(label, color, points)| Line {
        label: label.into(),
        color,
        points,
    })
    .collect();
    if lines.is_empty() {
        return Ok(None);
    }
    let hrules: Vec<Rule> = latency_limits(r)
        .into_iter()
        .take(4)
        .map(|(label, us)| Rule {
            at: us,
            label,
            color: VERMILLION,
        })
        .collect();
    let mut vrules = Vec::new();
    if let Some(k) = &r.analysis.knee {
        // The knee is found on the fit's axis; name the step it belongs to on this one.
        if let Some(s) = r
            .steps
            .iter()
            .find(|s| (s.fit_load(r.model) - k.load).abs() < 1e-9)
        {
            vrules.push(Rule {
                at: s.load,
                label: "knee".into(),
                color: PURPLE,
            });
        }
    }
    let title = "Latency percentiles per step";
    let svg = per_step_chart(r, title, "latency", YUnit::Micros, &lines, &vrules, &hrules)?;
    let mut c = chart(
        "latency",
        title,
        "p50, p95 and p99 of every request in each step's measured hold. Dashed lines are the \
         latency SLA limits; the knee is marked where the analysis found it."
            .into(),
        svg,
        &lines,
    );
    c.legend.extend(rule_legend(&hrules));
    Ok(Some(c))
}

fn error_chart(r: &CapacityReport) -> Result<Option<Chart>, HtmlError> {
    if r.steps.iter().all(|s| s.measured.error_rate <= 0.0) {
        return Ok(None);
    }
    let lines = [Line {
        label: "error rate".into(),
        color: VERMILLION,
        points: r
            .steps
            .iter()
            .map(|s| (s.load, s.measured.error_rate))
            .collect(),
    }];
    let hrules: Vec<Rule> = r
        .settings
        .as_ref()
        .map(|s| Rule {
            at: s.max_error_rate,
            label: format!("error guard {}", fmt_ratio(s.max_error_rate)),
            color: ORANGE,
        })
        .into_iter()
        .collect();
    let title = "Error rate per step";
    let svg = per_step_chart(
        r,
        title,
        "errors / requests",
        YUnit::Ratio,
        &lines,
        &[],
        &hrules,
    )?;
    Ok(Some(chart(
        "errors",
        title,
        "Share of requests that failed in each step; the search stops when it passes the guard."
            .into(),
        svg,
        &lines,
    )))
}

/// Overall latency distributions of a few steps, from the histograms each step kept.
fn distribution_chart(
    r: &CapacityReport,
    problems: &mut Vec<String>,
) -> Result<(Option<Chart>, Option<String>), HtmlError> {
    let with: Vec<&StepRecord> = r
        .steps
        .iter()
        .filter(|s| s.measured.results.is_some())
        .collect();
    if with.is_empty() {
        return Ok((None, None));
    }
    // Evenly spaced steps, always the first and the last.
    let n = with.len();
    let picks: Vec<&StepRecord> = if n <= DISTRIBUTION_STEPS {
        with.clone()
    } else {
        let mut idx: Vec<usize> = (0..DISTRIBUTION_STEPS)
            .map(|i| i * (n - 1) / (DISTRIBUTION_STEPS - 1))
            .collect();
        idx.dedup();
        idx.into_iter().map(|i| with[i]).collect()
    };
    let mut lines = Vec::new();
    for (i, s) in picks.iter().enumerate() {
        let Some(run) = s.measured.results.as_deref() else {
            continue;
        };
        let Some(overall) = run.scopes.iter().find(|x| x.kind == ScopeKind::Overall) else {
            continue;
        };
        match overall.histogram.decode() {
            Ok(h) if !h.is_empty() => lines.push(percentile_line(
                format!(
                    "step {}: {} {}",
                    s.index,
                    fmt_num(s.load),
                    r.model.load_unit()
                ),
                PALETTE[i % PALETTE.len()],
                &h,
            )),
            Ok(_) => {}
            Err(e) => problems.push(format!("step {}: {e}", s.index)),
        }
    }
    if lines.is_empty() {
        return Ok((None, None));
    }
    let note = (n > lines.len()).then(|| {
        format!(
            "Drawn: {} of the {n} steps, evenly spaced; capacity.json keeps every step's \
             histograms.",
            lines.len()
        )
    });
    let figure = percentile_figure(
        "distribution",
        "Latency distribution per step",
        "Every request of a step's hold at each percentile, from the exact histograms; the tail \
         stretches as load rises.",
        &lines,
    )?;
    Ok((Some(figure), note))
}

fn little_row(c: &LittleCheck) -> LittleRow {
    LittleRow {
        step: c.step,
        cells: vec![
            Cell::new(fmt_num(c.users), c.users),
            Cell::new(fmt_num(c.implied), c.implied),
            Cell::new(format!("{:+.1} %", (c.ratio - 1.0) * 100.0), c.ratio),
        ],
        consistent: c.consistent,
    }
}

fn ms_cell(v: Option<f64>) -> Cell {
    match v {
        Some(ms) => Cell::usf(ms * 1000.0),
        None => Cell::new("–", f64::MIN),
    }
}

fn step_row(r: &CapacityReport, s: &StepRecord) -> StepRow {
    let a = &r.analysis;
    let m = &s.measured;
    let mut marks = Vec::new();
    if a.knee
        .as_ref()
        .is_some_and(|k| (k.load - s.fit_load(r.model)).abs() < 1e-9)
    {
        marks.push("knee");
    }
    if let Some(ms) = &a.max_sustainable {
        if ms.step == s.index {
            marks.push("max sustainable");
        }
        if ms.first_failing_step == Some(s.index) {
            marks.push("first SLA breach");
        }
    }
    let fit_load = s.fit_load(r.model);
    StepRow {
        index: s.index,
        cells: vec![
            Cell::new(fmt_num(s.load), s.load),
            Cell::new(fmt_num(fit_load), fit_load),
            Cell::rate(m.throughput_rps),
            ms_cell(m.p50_ms),
            ms_cell(m.p95_ms),
            ms_cell(m.p99_ms),
            ms_cell(m.mean_ms),
            Cell::ratio(m.error_rate),
            Cell::count(m.requests),
            if s.hold_s > 0.0 {
                Cell::new(fmt_secs(s.hold_s), s.hold_s)
            } else {
                Cell::new("–", 0.0)
            },
        ],
        sla: if m.slas.is_empty() {
            "none"
        } else if s.sla_passed {
            "pass"
        } else {
            "fail"
        },
        failed: m
            .slas
            .iter()
            .filter(|v| !v.passed)
            .map(|v| match v.actual {
                Some(x) => format!(
                    "{} ({})",
                    v.name,
                    crate::report::units::fmt_in_unit(x, &v.unit)
                ),
                None => format!("{} (no traffic)", v.name),
            })
            .collect(),
        marks,
    }
}

fn settings(r: &CapacityReport) -> Vec<Fact> {
    let mut f = vec![
        Fact::new("Scenario", r.scenario.clone()).mono(),
        Fact::new(
            "Source",
            match r.source.as_str() {
                "search" => "stepped-load search".to_owned(),
                "points" => "points measured elsewhere (CSV)".to_owned(),
                other => other.to_owned(),
            },
        ),
        Fact::new(
            "Model",
            match r.model {
                SearchModel::Closed => "closed: each step runs a number of looping users",
                SearchModel::Open => "open: each step offers an arrival rate",
            },
        ),
    ];
    if let Some(s) = &r.settings {
        f.push(Fact::new(
            "First step",
            format!("{} {}", fmt_si(s.start), r.model.load_unit()),
        ));
        f.push(Fact::new(
            "Growth",
            match s.growth {
                Growth::Factor(x) => format!("× {} per step", fmt_num(x)),
                Growth::Increment(x) => format!("+ {} per step", fmt_num(x)),
            },
        ));
        f.push(Fact::new(
            "Warm-up + hold per step",
            format!("{} + {}", fmt_secs(s.warmup_s), fmt_secs(s.hold_s)),
        ));
        f.push(Fact::new(
            "Stop rules",
            format!(
                "SLA breached by more than {}; {} steps without a {} gain; errors above {}; at most {} steps{}{}",
                fmt_ratio(s.margin),
                s.plateau_steps,
                fmt_ratio(s.min_gain),
                fmt_ratio(s.max_error_rate),
                s.max_steps,
                s.max_time_s
                    .map_or_else(String::new, |t| format!(", {} in all", fmt_secs(t))),
                s.max_load.map_or_else(String::new, |l| format!(
                    ", load at most {}",
                    fmt_num(l)
                )),
            ),
        ));
    }
    f.push(Fact::new("kneepoint version", r.kneepoint_version.clone()));
    f
}

#[cfg(test)]
mod tests;
