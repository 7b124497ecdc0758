//! The run page's charts: throughput, latency and load over time, the latency distribution,
//! status codes, late arrivals, latency from the intended start, the generator's own health and
//! the series scraped from the server.

use serde::Serialize;

use super::{Bucket, LatencyRow, StatusRow};
use crate::report::html::{
    Cell, Chart, Fact, HtmlError, MAX_POINTS, MAX_ROWS, chart, percentile_figure, percentile_line,
    percentile_points,
};
use crate::report::plot::{
    self, BLUE, Bar, GREEN, Line, ORANGE, PALETTE, PURPLE, SKY, TimeChart, VERMILLION, YUnit,
};
use crate::report::units::{fmt_count, fmt_ratio, fmt_us};
use crate::results::{LoadProfile, RunResults, ScopeKind, ScopeResults};

/// Transactions per percentile chart (plus the overall line). Six lines use the six darker
/// Okabe–Ito colours; yellow is left out, it is too faint on white.
const DISTRIBUTION_LINES: usize = 5;
/// Most percentile charts; with five transactions each, the 25 busiest are drawn.
const MAX_DISTRIBUTION_CHARTS: usize = 5;
/// Most server metric series charted.
const MAX_SERVER_CHARTS: usize = 12;

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

/// The run's time axis, stage starts and end: every time chart of the page is drawn on it.
#[derive(Clone, Copy)]
struct Axis<'a> {
    stages: &'a [(f64, String)],
    x_max: f64,
}

impl Axis<'_> {
    /// A time chart of `lines` on this axis, as a figure with a line swatch per line.
    fn figure(
        self,
        id: &str,
        title: &str,
        caption: impl Into<String>,
        y_desc: &str,
        y_unit: YUnit,
        lines: &[Line],
    ) -> Result<Chart, HtmlError> {
        let svg = plot::time_chart(&TimeChart {
            title,
            y_desc,
            y_unit,
            lines,
            stages: self.stages,
            x_max: self.x_max,
        })?;
        Ok(chart(id, title, caption.into(), svg, lines))
    }
}

pub(super) fn timeline(
    run: &RunResults,
    b: &[Bucket],
    stages: &[(f64, String)],
    x_max: f64,
) -> Result<Vec<Chart>, HtmlError> {
    if b.is_empty() {
        return Ok(Vec::new());
    }
    let axis = Axis { stages, x_max };
    let mut charts = Vec::new();
    let open = matches!(run.profile, LoadProfile::Open { .. });

    let lines = [
        line("requests/s", BLUE, b, |b| b.rps),
        line("errors/s", VERMILLION, b, |b| b.eps),
    ];
    charts.push(axis.figure(
        "throughput",
        "Throughput and errors per second",
        "Completed requests and failed requests per second, all scopes together. Vertical rules \
         mark stage starts.",
        "requests or errors per second",
        YUnit::Count,
        &lines,
    )?);

    let lines = [
        line("p50", BLUE, b, |b| b.p50),
        line("p95", ORANGE, b, |b| b.p95),
        line("p99", PURPLE, b, |b| b.p99),
    ];
    charts.push(axis.figure(
        "latency",
        "Latency percentiles over time",
        "Per-second p50, p95 and p99 of every request, measured from the actual send.",
        "latency",
        YUnit::Micros,
        &lines,
    )?);

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
    charts.push(axis.figure("load", title, caption, y_desc, YUnit::Count, &lines)?);
    Ok(charts)
}

pub(super) fn distribution_charts(
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
        let id = if g == 0 {
            "distribution".to_owned()
        } else {
            format!("distribution-{}", g + 1)
        };
        let caption = if g == 0 { caption } else { "" };
        charts.push(percentile_figure(&id, &title, caption, &lines)?);
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

pub(super) fn status_codes(run: &RunResults) -> Result<(Option<Chart>, Vec<StatusRow>), HtmlError> {
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

pub(super) fn arrivals(
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
    let axis = Axis { stages: &[], x_max };
    let late = axis.figure(
        "late",
        "Late arrivals per second",
        "Arrivals that started later than their scheduled time: the load generator or the \
         in-flight cap could not keep up, so latency from the intended start (below) is the honest \
         number.",
        "late arrivals per second",
        YUnit::Count,
        &lines,
    )?;
    Ok((facts, Some(late)))
}

pub(super) fn intended(
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
        percentile_line("from actual send", BLUE, &actual),
        percentile_line("from intended start", PURPLE, &intended),
    ];
    let figure = percentile_figure(
        "intended",
        "Latency from intended start vs actual send",
        "Open model: latency measured from when each arrival was scheduled includes the time it \
         waited to start (coordinated omission corrected). A gap between the lines means requests \
         queued before being sent.",
        &lines,
    )?;
    Ok((Some(figure), rows))
}

/// The generator's own health: the verdict, its figures and a chart of CPU, run-queue wait and
/// host load per second, and one of the runtime's scheduling lag.
#[derive(Debug, Serialize)]
pub(super) struct GeneratorSection {
    bound: bool,
    headline: String,
    reasons: Vec<String>,
    charts: Vec<Chart>,
}

pub(super) fn generator_section(
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
    let axis = Axis { stages, x_max };
    let mut charts = Vec::new();
    if !load_lines.is_empty() {
        charts.push(axis.figure(
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
    charts.push(axis.figure(
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

pub(super) fn server_charts(
    run: &RunResults,
    stages: &[(f64, String)],
    x_max: f64,
) -> Result<(Vec<Chart>, Option<String>), HtmlError> {
    let axis = Axis { stages, x_max };
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
        charts.push(axis.figure(
            &format!("server-{i}"),
            &format!("Server metric: {}", s.name),
            format!("Scraped from the target during the run; unit: {}.", s.unit),
            &s.name,
            y_unit,
            &lines,
        )?);
    }
    let n = run.server_metrics.len();
    let note = (n > MAX_SERVER_CHARTS).then(|| {
        format!("Showing {MAX_SERVER_CHARTS} of {n} server series; results.json holds all of them.")
    });
    Ok((charts, note))
}
