//! Charts for the HTML report, drawn with plotters into SVG strings, plus the human number
//! formatting shared by charts and tables.
//!
//! Invariant: every chart is a self-contained `<svg class="chart">` with no external reference
//! (the `xmlns` URL plotters writes is dropped; inline SVG in HTML does not need it). Axis, grid
//! and label colour is `currentColor`, so one SVG reads well in light mode, dark mode and print;
//! series colours come from the Okabe–Ito palette, which stays distinct for colour-blind readers.

use plotters::prelude::*;

/// Okabe–Ito palette without black (black is the text colour): blue, orange, bluish green,
/// vermillion, sky blue, reddish purple, yellow.
pub const PALETTE: [RGBColor; 7] = [
    RGBColor(0x00, 0x72, 0xB2),
    RGBColor(0xE6, 0x9F, 0x00),
    RGBColor(0x00, 0x9E, 0x73),
    RGBColor(0xD5, 0x5E, 0x00),
    RGBColor(0x56, 0xB4, 0xE9),
    RGBColor(0xCC, 0x79, 0xA7),
    RGBColor(0xF0, 0xE4, 0x42),
];

/// Blue: requests, p50, actual latency.
pub const BLUE: RGBColor = PALETTE[0];
/// Orange: p95, 4xx.
pub const ORANGE: RGBColor = PALETTE[1];
/// Bluish green: 2xx.
pub const GREEN: RGBColor = PALETTE[2];
/// Vermillion: errors, 5xx.
pub const VERMILLION: RGBColor = PALETTE[3];
/// Sky blue: 3xx.
pub const SKY: RGBColor = PALETTE[4];
/// Reddish purple: p99, intended latency.
pub const PURPLE: RGBColor = PALETTE[5];

/// Stand-in colour for text, axes and grid; replaced by `currentColor` after drawing.
const INK: RGBColor = RGBColor(1, 2, 3);
const INK_HEX: &str = "#010203";

/// Logical chart size; CSS scales the SVG to the column width.
const WIDTH: u32 = 960;
const HEIGHT: u32 = 340;
const FONT: &str = "sans-serif";

/// Drawing a chart failed (a plotters backend or layout error).
#[derive(Debug, thiserror::Error)]
#[error("cannot draw the `{chart}` chart: {message}")]
pub struct PlotError {
    /// Which chart.
    pub chart: String,
    /// What plotters reported.
    pub message: String,
}

/// One line of a chart.
#[derive(Debug, Clone)]
pub struct Line {
    /// Legend text (shown in HTML next to the chart, not inside the SVG).
    pub label: String,
    /// Stroke colour.
    pub color: RGBColor,
    /// (x, y) in the chart's data units.
    pub points: Vec<(f64, f64)>,
}

/// How a y axis shows its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum YUnit {
    /// Microseconds, shown in µs, ms or s depending on the largest value.
    Micros,
    /// Plain counts or rates, shown with k/M suffixes.
    Count,
    /// A ratio 0..1, shown as a percentage.
    Ratio,
}

/// A chart over time since the run start.
#[derive(Debug, Clone)]
pub struct TimeChart<'a> {
    /// Accessible name, used in `<title>` and error messages.
    pub title: &'a str,
    /// Y axis description without unit (the unit is appended, e.g. `latency (ms)`).
    pub y_desc: &'a str,
    /// How y values are shown.
    pub y_unit: YUnit,
    /// Lines to draw.
    pub lines: &'a [Line],
    /// Stage boundaries: (seconds since start, stage name); drawn as vertical rules.
    pub stages: &'a [(f64, String)],
    /// End of the x axis, seconds.
    pub x_max: f64,
}

/// Draw a time chart.
pub fn time_chart(spec: &TimeChart<'_>) -> Result<String, PlotError> {
    let err = |e: &dyn std::fmt::Display| PlotError {
        chart: spec.title.to_owned(),
        message: e.to_string(),
    };
    let x_max = spec.x_max.max(1.0);
    let raw_max = spec
        .lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .fold(0.0_f64, f64::max);
    let (scale, unit) = y_scale(spec.y_unit, raw_max);
    let y_max = nice_ceiling(raw_max / scale);
    let y_desc = if unit.is_empty() {
        spec.y_desc.to_owned()
    } else {
        format!("{} ({unit})", spec.y_desc)
    };
    let ticks = time_ticks(x_max);
    let clock_fmt = |x: &f64| fmt_clock(*x);
    let y_fmt = |y: &f64| fmt_axis_number(*y, spec.y_unit);

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        let mut chart = ChartBuilder::on(&root)
            .margin_top(22)
            .margin_right(24)
            .margin_left(8)
            .margin_bottom(6)
            .x_label_area_size(44)
            .y_label_area_size(74)
            .build_cartesian_2d(Ticked::new(0.0..x_max, ticks), 0.0..y_max)
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .x_desc(format!("time since start ({})", clock_unit(x_max)))
            .y_desc(y_desc)
            .x_label_formatter(&clock_fmt)
            .y_label_formatter(&y_fmt)
            .y_labels(6)
            .bold_line_style(INK.mix(0.12))
            .light_line_style(TRANSPARENT)
            .axis_style(INK.mix(0.55))
            .label_style((FONT, 15).into_font().color(&INK))
            .axis_desc_style((FONT, 15).into_font().color(&INK))
            .draw()
            .map_err(|e| err(&e))?;
        draw_stage_rules(&mut chart, spec.stages, y_max).map_err(|e| err(&e))?;
        for line in spec.lines {
            let pts = line.points.iter().map(|&(x, y)| (x, y / scale));
            chart
                .draw_series(LineSeries::new(pts, line.color.stroke_width(2)))
                .map_err(|e| err(&e))?;
        }
        root.present().map_err(|e| err(&e))?;
    }
    Ok(finish_svg(&svg, spec.title))
}

type TimeCoord = Cartesian2d<Ticked, plotters::coord::types::RangedCoordf64>;

/// A linear f64 axis with ticks exactly where we put them (round clock times, bar centres).
/// plotters' own `with_key_points` on f64 ranges lacks a default label formatter, so the mesh
/// cannot be configured with it.
#[derive(Clone)]
struct Ticked {
    inner: plotters::coord::types::RangedCoordf64,
    ticks: Vec<f64>,
}

impl Ticked {
    fn new(range: std::ops::Range<f64>, ticks: Vec<f64>) -> Self {
        Self {
            inner: range.into(),
            ticks,
        }
    }
}

impl Ranged for Ticked {
    type FormatOption = plotters::coord::ranged1d::DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<Hint: plotters::coord::ranged1d::KeyPointHint>(&self, _hint: Hint) -> Vec<f64> {
        self.ticks.clone()
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.inner.range()
    }
}

fn draw_stage_rules(
    chart: &mut ChartContext<'_, SVGBackend<'_>, TimeCoord>,
    stages: &[(f64, String)],
    y_max: f64,
) -> Result<(), DrawingAreaErrorKind<std::io::Error>> {
    // Names only fit when there are few boundaries; the stage table lists them all anyway.
    let label = stages.len() <= 12;
    for (x, name) in stages {
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(*x, 0.0), (*x, y_max)],
            INK.mix(0.45).stroke_width(1),
        )))?;
        if label {
            let style = (FONT, 13).into_font().color(&INK.mix(0.8));
            chart.draw_series(std::iter::once(
                EmptyElement::at((*x, y_max)) + Text::new(name.clone(), (4, -16), style),
            ))?;
        }
    }
    Ok(())
}

/// Draw an HdrHistogram percentile distribution: x is `1/(1-q)` on a log scale (labelled as
/// percentiles), y is latency. Points are `(1/(1-q), µs)`.
pub fn percentile_chart(title: &str, lines: &[Line]) -> Result<String, PlotError> {
    let err = |e: &dyn std::fmt::Display| PlotError {
        chart: title.to_owned(),
        message: e.to_string(),
    };
    let x_top = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.0))
        .fold(100.0_f64, f64::max);
    // Round the axis end up to a power of ten so the last tick is a clean "99.9…%".
    let x_max = 10f64.powf(x_top.log10().ceil());
    let mut keys = vec![2.0];
    let mut k = 10.0;
    while k <= x_max * 1.0001 {
        keys.push(k);
        k *= 10.0;
    }
    let raw_max = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .fold(0.0_f64, f64::max);
    let (scale, unit) = y_scale(YUnit::Micros, raw_max);
    let y_max = nice_ceiling(raw_max / scale);
    let x_fmt = |x: &f64| quantile_label(*x);
    let y_fmt = |y: &f64| fmt_axis_number(*y, YUnit::Micros);

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        let mut chart = ChartBuilder::on(&root)
            .margin_top(14)
            .margin_right(24)
            .margin_left(8)
            .margin_bottom(6)
            .x_label_area_size(44)
            .y_label_area_size(74)
            .build_cartesian_2d((1.0..x_max).log_scale().with_key_points(keys), 0.0..y_max)
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .x_desc("percentile (log scale of 1/(1−q))")
            .y_desc(format!("latency ({unit})"))
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .y_labels(6)
            .bold_line_style(INK.mix(0.12))
            .light_line_style(TRANSPARENT)
            .axis_style(INK.mix(0.55))
            .label_style((FONT, 15).into_font().color(&INK))
            .axis_desc_style((FONT, 15).into_font().color(&INK))
            .draw()
            .map_err(|e| err(&e))?;
        for line in lines {
            let pts = line
                .points
                .iter()
                .map(|&(x, y)| (x.clamp(1.0, x_max), y / scale));
            chart
                .draw_series(LineSeries::new(pts, line.color.stroke_width(2)))
                .map_err(|e| err(&e))?;
        }
        root.present().map_err(|e| err(&e))?;
    }
    Ok(finish_svg(&svg, title))
}

/// One bar of a bar chart.
#[derive(Debug, Clone)]
pub struct Bar {
    /// Category label under the bar.
    pub label: String,
    /// Height.
    pub value: u64,
    /// Fill colour.
    pub color: RGBColor,
}

/// Draw a vertical bar chart of counts, each bar labelled with its value.
pub fn bar_chart(title: &str, y_desc: &str, bars: &[Bar]) -> Result<String, PlotError> {
    let err = |e: &dyn std::fmt::Display| PlotError {
        chart: title.to_owned(),
        message: e.to_string(),
    };
    // At least five slots, so two or three bars stay bar-shaped instead of filling the chart.
    let slots = bars.len().max(5);
    let offset = (slots - bars.len()) as f64 / 2.0;
    let n = slots as f64;
    let raw_max = bars.iter().map(|b| b.value).max().unwrap_or(0) as f64;
    let y_max = nice_ceiling(raw_max * 1.12);
    let keys: Vec<f64> = (0..bars.len()).map(|i| offset + i as f64 + 0.5).collect();
    let x_fmt = |x: &f64| {
        let i = (x - offset).floor();
        if i >= 0.0 && (i as usize) < bars.len() {
            bars[i as usize].label.clone()
        } else {
            String::new()
        }
    };
    let y_fmt = |y: &f64| fmt_axis_number(*y, YUnit::Count);
    let height = 280;

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        let mut chart = ChartBuilder::on(&root)
            .margin_top(14)
            .margin_right(24)
            .margin_left(8)
            .margin_bottom(6)
            .x_label_area_size(44)
            .y_label_area_size(74)
            .build_cartesian_2d(Ticked::new(0.0..n, keys), 0.0..y_max)
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc("HTTP status")
            .y_desc(y_desc)
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .y_labels(5)
            .bold_line_style(INK.mix(0.12))
            .light_line_style(TRANSPARENT)
            .axis_style(INK.mix(0.55))
            .label_style((FONT, 15).into_font().color(&INK))
            .axis_desc_style((FONT, 15).into_font().color(&INK))
            .draw()
            .map_err(|e| err(&e))?;
        let width = 0.3;
        for (i, bar) in bars.iter().enumerate() {
            let x = offset + i as f64;
            let v = bar.value as f64;
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(x + 0.5 - width, 0.0), (x + 0.5 + width, v)],
                    bar.color.filled(),
                )))
                .map_err(|e| err(&e))?;
            let style =
                (FONT, 14)
                    .into_font()
                    .color(&INK)
                    .pos(plotters::style::text_anchor::Pos::new(
                        plotters::style::text_anchor::HPos::Center,
                        plotters::style::text_anchor::VPos::Bottom,
                    ));
            chart
                .draw_series(std::iter::once(Text::new(
                    fmt_count(bar.value),
                    (x + 0.5, v),
                    style,
                )))
                .map_err(|e| err(&e))?;
        }
        root.present().map_err(|e| err(&e))?;
    }
    Ok(finish_svg(&svg, title))
}

/// A filled band between a lower and an upper edge, such as a confidence band.
#[derive(Debug, Clone)]
pub struct Band {
    /// Legend text.
    pub label: String,
    /// Fill colour (drawn translucent).
    pub color: RGBColor,
    /// (x, low, high) in data units, in x order.
    pub points: Vec<(f64, f64, f64)>,
}

/// A labelled dashed reference line across the plot (a limit, a knee, a change point).
#[derive(Debug, Clone)]
pub struct Rule {
    /// Position on its axis, in data units.
    pub at: f64,
    /// Text drawn next to it.
    pub label: String,
    /// Stroke colour.
    pub color: RGBColor,
}

/// A chart of y against a numeric x, such as throughput against load.
#[derive(Debug, Clone)]
pub struct XyChart<'a> {
    /// Accessible name, used in `<title>` and error messages.
    pub title: &'a str,
    /// X axis description, with its unit.
    pub x_desc: &'a str,
    /// Y axis description without unit (the unit is appended for µs and ratios).
    pub y_desc: &'a str,
    /// How y values are shown.
    pub y_unit: YUnit,
    /// Lines to draw.
    pub lines: &'a [Line],
    /// Points drawn as dots (measurements).
    pub dots: &'a [Line],
    /// Filled bands, drawn first.
    pub bands: &'a [Band],
    /// Vertical rules at x positions.
    pub vrules: &'a [Rule],
    /// Horizontal rules at y positions.
    pub hrules: &'a [Rule],
    /// Start of the x axis (usually 0).
    pub x_min: f64,
}

/// Draw an x–y chart.
pub fn xy_chart(spec: &XyChart<'_>) -> Result<String, PlotError> {
    let err = |e: &dyn std::fmt::Display| PlotError {
        chart: spec.title.to_owned(),
        message: e.to_string(),
    };
    let xs = spec
        .lines
        .iter()
        .chain(spec.dots)
        .flat_map(|l| l.points.iter().map(|p| p.0))
        .chain(spec.bands.iter().flat_map(|b| b.points.iter().map(|p| p.0)))
        .chain(spec.vrules.iter().map(|r| r.at))
        .filter(|x| x.is_finite());
    let x_top = xs.fold(spec.x_min, f64::max);
    let x_max = if x_top > spec.x_min {
        spec.x_min + nice_ceiling(x_top - spec.x_min)
    } else {
        spec.x_min + 1.0
    };
    let raw_max = spec
        .lines
        .iter()
        .chain(spec.dots)
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .chain(spec.bands.iter().flat_map(|b| b.points.iter().map(|p| p.2)))
        .chain(spec.hrules.iter().map(|r| r.at))
        .filter(|y| y.is_finite())
        .fold(0.0_f64, f64::max);
    let (scale, unit) = y_scale(spec.y_unit, raw_max);
    let y_max = nice_ceiling(raw_max * 1.05 / scale);
    let y_desc = if unit.is_empty() {
        spec.y_desc.to_owned()
    } else {
        format!("{} ({unit})", spec.y_desc)
    };
    let x_fmt = |x: &f64| fmt_axis_number(*x, YUnit::Count);
    let y_fmt = |y: &f64| fmt_axis_number(*y, spec.y_unit);
    let clip_y = |y: f64| (y / scale).clamp(0.0, y_max);

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        let mut chart = ChartBuilder::on(&root)
            .margin_top(14)
            .margin_right(24)
            .margin_left(8)
            .margin_bottom(6)
            .x_label_area_size(44)
            .y_label_area_size(74)
            .build_cartesian_2d(spec.x_min..x_max, 0.0..y_max)
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .x_desc(spec.x_desc)
            .y_desc(y_desc)
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .x_labels(10)
            .y_labels(6)
            .bold_line_style(INK.mix(0.12))
            .light_line_style(TRANSPARENT)
            .axis_style(INK.mix(0.55))
            .label_style((FONT, 15).into_font().color(&INK))
            .axis_desc_style((FONT, 15).into_font().color(&INK))
            .draw()
            .map_err(|e| err(&e))?;
        for band in spec.bands {
            let upper = band.points.iter().map(|&(x, _, hi)| (x, clip_y(hi)));
            let lower = band.points.iter().rev().map(|&(x, lo, _)| (x, clip_y(lo)));
            let outline: Vec<(f64, f64)> = upper.chain(lower).collect();
            chart
                .draw_series(std::iter::once(Polygon::new(
                    outline,
                    band.color.mix(0.22).filled(),
                )))
                .map_err(|e| err(&e))?;
        }
        for (i, rule) in spec.vrules.iter().enumerate() {
            let x = rule.at.clamp(spec.x_min, x_max);
            chart
                .draw_series(std::iter::once(plotters::element::DashedPathElement::new(
                    vec![(x, 0.0), (x, y_max)],
                    6,
                    4,
                    rule.color.stroke_width(2),
                )))
                .map_err(|e| err(&e))?;
            // Labels stack downwards so two rules close together stay readable.
            let style = (FONT, 13).into_font().color(&rule.color);
            let dy = 4 + 16 * i32::try_from(i).unwrap_or(0);
            chart
                .draw_series(std::iter::once(
                    EmptyElement::at((x, y_max)) + Text::new(rule.label.clone(), (5, dy), style),
                ))
                .map_err(|e| err(&e))?;
        }
        for rule in spec.hrules {
            let y = clip_y(rule.at);
            chart
                .draw_series(std::iter::once(plotters::element::DashedPathElement::new(
                    vec![(spec.x_min, y), (x_max, y)],
                    6,
                    4,
                    rule.color.stroke_width(2),
                )))
                .map_err(|e| err(&e))?;
            let style = (FONT, 13).into_font().color(&rule.color);
            chart
                .draw_series(std::iter::once(
                    EmptyElement::at((spec.x_min, y))
                        + Text::new(rule.label.clone(), (6, -17), style),
                ))
                .map_err(|e| err(&e))?;
        }
        for line in spec.lines {
            let pts = line.points.iter().map(|&(x, y)| (x, clip_y(y)));
            chart
                .draw_series(LineSeries::new(pts, line.color.stroke_width(2)))
                .map_err(|e| err(&e))?;
        }
        for dots in spec.dots {
            let pts = dots.points.iter().map(|&(x, y)| (x, clip_y(y)));
            chart
                .draw_series(pts.map(|p| Circle::new(p, 5, dots.color.filled())))
                .map_err(|e| err(&e))?;
        }
        root.present().map_err(|e| err(&e))?;
    }
    Ok(finish_svg(&svg, spec.title))
}

/// One series of a category chart: a value per category.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend text.
    pub label: String,
    /// Colour.
    pub color: RGBColor,
    /// One value per category, in category order.
    pub values: Vec<f64>,
}

/// A chart over categories (months, scopes): stacked bars plus lines with dots.
#[derive(Debug, Clone)]
pub struct CategoryChart<'a> {
    /// Accessible name, used in `<title>` and error messages.
    pub title: &'a str,
    /// X axis description.
    pub x_desc: &'a str,
    /// Y axis description without unit.
    pub y_desc: &'a str,
    /// How y values are shown.
    pub y_unit: YUnit,
    /// Category labels under the axis (thinned when there are many).
    pub categories: &'a [String],
    /// Bars, stacked bottom to top in this order.
    pub stacks: &'a [Series],
    /// Lines across the categories, drawn over the bars.
    pub lines: &'a [Series],
    /// Horizontal rules (limits).
    pub hrules: &'a [Rule],
}

/// Most category labels written under the axis; the rest are skipped evenly.
const MAX_CATEGORY_LABELS: usize = 13;

/// Draw a category chart.
pub fn category_chart(spec: &CategoryChart<'_>) -> Result<String, PlotError> {
    let err = |e: &dyn std::fmt::Display| PlotError {
        chart: spec.title.to_owned(),
        message: e.to_string(),
    };
    let n = spec.categories.len().max(1);
    let stack_top = (0..n).map(|i| {
        spec.stacks
            .iter()
            .map(|s| s.values.get(i).copied().unwrap_or(0.0).max(0.0))
            .sum::<f64>()
    });
    let raw_max = stack_top
        .chain(spec.lines.iter().flat_map(|l| l.values.iter().copied()))
        .chain(spec.hrules.iter().map(|r| r.at))
        .filter(|v| v.is_finite())
        .fold(0.0_f64, f64::max);
    let (scale, unit) = y_scale(spec.y_unit, raw_max);
    let integral = spec.y_unit == YUnit::Count
        && spec
            .stacks
            .iter()
            .chain(spec.lines)
            .flat_map(|s| s.values.iter())
            .all(|v| v.fract() == 0.0);
    // Small whole counts (instances) get whole-number ticks, not 0.5 steps.
    let y_max = match nice_ceiling(raw_max * 1.08 / scale) {
        top if integral && top < 5.0 => 5.0,
        top => top,
    };
    let y_desc = if unit.is_empty() {
        spec.y_desc.to_owned()
    } else {
        format!("{} ({unit})", spec.y_desc)
    };
    let every = n.div_ceil(MAX_CATEGORY_LABELS).max(1);
    let keys: Vec<f64> = (0..n).step_by(every).map(|i| i as f64 + 0.5).collect();
    let x_fmt = |x: &f64| {
        let i = x.floor();
        if i >= 0.0 && (i as usize) < spec.categories.len() {
            spec.categories[i as usize].clone()
        } else {
            String::new()
        }
    };
    let y_fmt = |y: &f64| fmt_axis_number(*y, spec.y_unit);

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        let mut chart = ChartBuilder::on(&root)
            .margin_top(14)
            .margin_right(24)
            .margin_left(8)
            .margin_bottom(6)
            .x_label_area_size(44)
            .y_label_area_size(74)
            .build_cartesian_2d(Ticked::new(0.0..n as f64, keys), 0.0..y_max)
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc(spec.x_desc)
            .y_desc(y_desc)
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .y_labels(6)
            .bold_line_style(INK.mix(0.12))
            .light_line_style(TRANSPARENT)
            .axis_style(INK.mix(0.55))
            .label_style((FONT, 15).into_font().color(&INK))
            .axis_desc_style((FONT, 15).into_font().color(&INK))
            .draw()
            .map_err(|e| err(&e))?;
        let half = 0.34;
        for i in 0..n {
            let x = i as f64;
            let mut base = 0.0;
            for s in spec.stacks {
                let v = s.values.get(i).copied().unwrap_or(0.0).max(0.0) / scale;
                if v <= 0.0 {
                    continue;
                }
                let top = (base + v).min(y_max);
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(x + 0.5 - half, base), (x + 0.5 + half, top)],
                        s.color.filled(),
                    )))
                    .map_err(|e| err(&e))?;
                base = top;
            }
        }
        for rule in spec.hrules {
            let y = (rule.at / scale).clamp(0.0, y_max);
            chart
                .draw_series(std::iter::once(plotters::element::DashedPathElement::new(
                    vec![(0.0, y), (n as f64, y)],
                    6,
                    4,
                    rule.color.stroke_width(2),
                )))
                .map_err(|e| err(&e))?;
            let style = (FONT, 13).into_font().color(&rule.color);
            chart
                .draw_series(std::iter::once(
                    EmptyElement::at((0.0, y)) + Text::new(rule.label.clone(), (6, -17), style),
                ))
                .map_err(|e| err(&e))?;
        }
        for line in spec.lines {
            let pts: Vec<(f64, f64)> = line
                .values
                .iter()
                .enumerate()
                .filter(|(_, v)| v.is_finite())
                .map(|(i, v)| (i as f64 + 0.5, (v / scale).clamp(0.0, y_max)))
                .collect();
            chart
                .draw_series(LineSeries::new(pts.clone(), line.color.stroke_width(2)))
                .map_err(|e| err(&e))?;
            chart
                .draw_series(
                    pts.into_iter()
                        .map(|p| Circle::new(p, 4, line.color.filled())),
                )
                .map_err(|e| err(&e))?;
        }
        root.present().map_err(|e| err(&e))?;
    }
    Ok(finish_svg(&svg, spec.title))
}

/// One row of an interval chart: an estimate with its confidence interval.
#[derive(Debug, Clone)]
pub struct IntervalRow {
    /// Label left of the row.
    pub label: String,
    /// Point estimate (a ratio: 0.05 = +5 %).
    pub value: f64,
    /// Interval, when there is one.
    pub interval: Option<(f64, f64)>,
    /// Bar colour.
    pub color: RGBColor,
}

/// Draw horizontal bars of relative changes (ratios, shown in %) with interval whiskers, around
/// a zero line, with the noise floor `±floor` shaded.
pub fn interval_chart(
    title: &str,
    x_desc: &str,
    rows: &[IntervalRow],
    floor: Option<f64>,
) -> Result<String, PlotError> {
    let err = |e: &dyn std::fmt::Display| PlotError {
        chart: title.to_owned(),
        message: e.to_string(),
    };
    let finite_max =
        |it: &mut dyn Iterator<Item = f64>| it.filter(|v| v.is_finite()).fold(0.0_f64, f64::max);
    let values = finite_max(&mut rows.iter().map(|r| r.value.abs()).chain(floor));
    let ends = finite_max(
        &mut rows
            .iter()
            .filter_map(|r| r.interval)
            .flat_map(|(lo, hi)| [lo.abs(), hi.abs()]),
    );
    // One very wide interval (a rare error rate) must not shrink every bar to a sliver: the
    // axis reaches at most three times the largest change or floor, and longer whiskers are cut.
    let reach = if values > 0.0 {
        values.max(ends.min(3.0 * values))
    } else {
        ends
    };
    // Symmetric around zero, in percent, so left and right read alike.
    let half = nice_ceiling(reach * 100.0 * 1.1).max(1.0);
    let n = rows.len().max(1);
    let keys: Vec<f64> = (0..rows.len()).map(|i| i as f64 + 0.5).collect();
    let y_fmt = |y: &f64| {
        let i = y.floor();
        if i >= 0.0 && (i as usize) < rows.len() {
            // Top row first, as in a table.
            rows[rows.len() - 1 - i as usize].label.clone()
        } else {
            String::new()
        }
    };
    let x_fmt = |x: &f64| {
        let v = fmt_axis_number(*x, YUnit::Ratio);
        if *x > 0.0 { format!("+{v}") } else { v }
    };
    let height = (90 + 34 * n as u32).clamp(160, 520);

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        let mut chart = ChartBuilder::on(&root)
            .margin_top(14)
            .margin_right(24)
            .margin_left(8)
            .margin_bottom(6)
            .x_label_area_size(44)
            .y_label_area_size(120)
            .build_cartesian_2d(-half..half, Ticked::new(0.0..n as f64, keys))
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_desc(x_desc)
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .x_labels(9)
            .bold_line_style(INK.mix(0.12))
            .light_line_style(TRANSPARENT)
            .axis_style(INK.mix(0.55))
            .label_style((FONT, 15).into_font().color(&INK))
            .axis_desc_style((FONT, 15).into_font().color(&INK))
            .draw()
            .map_err(|e| err(&e))?;
        if let Some(f) = floor.filter(|f| *f > 0.0) {
            let f = (f * 100.0).min(half);
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(-f, 0.0), (f, n as f64)],
                    INK.mix(0.07).filled(),
                )))
                .map_err(|e| err(&e))?;
        }
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(0.0, 0.0), (0.0, n as f64)],
                INK.mix(0.6).stroke_width(1),
            )))
            .map_err(|e| err(&e))?;
        for (i, row) in rows.iter().enumerate() {
            let y = (rows.len() - 1 - i) as f64 + 0.5;
            let clip = |v: f64| (v * 100.0).clamp(-half, half);
            let v = clip(row.value);
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(0.0, y - 0.22), (v, y + 0.22)],
                    row.color.mix(0.75).filled(),
                )))
                .map_err(|e| err(&e))?;
            if let Some((lo, hi)) = row.interval {
                let (lo, hi) = (clip(lo), clip(hi));
                let ink = INK.stroke_width(2);
                chart
                    .draw_series([
                        PathElement::new(vec![(lo, y), (hi, y)], ink),
                        PathElement::new(vec![(lo, y - 0.16), (lo, y + 0.16)], ink),
                        PathElement::new(vec![(hi, y - 0.16), (hi, y + 0.16)], ink),
                    ])
                    .map_err(|e| err(&e))?;
            }
        }
        root.present().map_err(|e| err(&e))?;
    }
    Ok(finish_svg(&svg, title))
}

/// Make plotters' SVG fit for inlining: drop the namespace URL, theme-aware ink, a class for CSS
/// and an accessible title.
fn finish_svg(svg: &str, title: &str) -> String {
    let body = svg
        .replace(" xmlns=\"http://www.w3.org/2000/svg\"", "")
        .replace(INK_HEX, "currentColor");
    let Some(rest) = body.strip_prefix("<svg ") else {
        return body;
    };
    let Some(end) = rest.find('>') else {
        return body;
    };
    let (attrs, tail) = rest.split_at(end);
    let title = escape(title);
    format!(
        "<svg class=\"chart\" role=\"img\" aria-label=\"{title}\" {attrs}><title>{title}</title>{}",
        &tail[1..]
    )
}

/// Escape text for HTML/SVG content and attributes.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Divisor and unit label that put `max` (in base units) into a readable range.
fn y_scale(unit: YUnit, max: f64) -> (f64, &'static str) {
    match unit {
        YUnit::Micros if max >= 2_000_000.0 => (1_000_000.0, "s"),
        YUnit::Micros if max >= 2_000.0 => (1_000.0, "ms"),
        YUnit::Micros => (1.0, "µs"),
        YUnit::Count => (1.0, ""),
        YUnit::Ratio => (0.01, "%"),
    }
}

/// Smallest 1/2/2.5/5 × 10^k at or above `v` (and at least 1), for a tidy axis top.
fn nice_ceiling(v: f64) -> f64 {
    if !v.is_finite() || v <= 0.0 {
        return 1.0;
    }
    let mag = 10f64.powf(v.log10().floor());
    for m in [1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0] {
        if m * mag >= v * 1.0000001 {
            return m * mag;
        }
    }
    10.0 * mag
}

fn fmt_axis_number(v: f64, unit: YUnit) -> String {
    match unit {
        YUnit::Count => {
            // Axis ticks are round numbers: `50k`, not `50.0k`.
            let text = fmt_si(v);
            let split = text
                .find(|c: char| c.is_ascii_alphabetic())
                .unwrap_or(text.len());
            let (num, suffix) = text.split_at(split);
            format!("{}{suffix}", trim_zeros(num))
        }
        YUnit::Micros | YUnit::Ratio => {
            if v == 0.0 {
                "0".to_owned()
            } else if v.abs() >= 100.0 || v.fract() == 0.0 {
                format!("{v:.0}")
            } else if v.abs() >= 10.0 {
                format!("{v:.1}")
            } else {
                trim_zeros(&format!("{v:.2}"))
            }
        }
    }
}

fn trim_zeros(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s.to_owned()
    }
}

/// Percentile label of an `x = 1/(1-q)` tick: 2 → `50%`, 1000 → `99.9%`.
fn quantile_label(x: f64) -> String {
    if x <= 1.0 {
        return "0%".to_owned();
    }
    let p = 100.0 * (1.0 - 1.0 / x);
    let decimals = (x.log10().round() as i64 - 2).max(0) as usize;
    format!("{p:.decimals$}%")
}

/// Tick positions on a time axis at round clock steps, at most ~8 of them.
fn time_ticks(x_max: f64) -> Vec<f64> {
    const STEPS: [f64; 16] = [
        1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0,
        14400.0, 28800.0,
    ];
    let step = STEPS
        .iter()
        .copied()
        .find(|s| x_max / s <= 8.0)
        .unwrap_or_else(|| (x_max / 8.0 / 3600.0).ceil() * 3600.0);
    let mut ticks = Vec::new();
    let mut t = 0.0;
    while t <= x_max + 1e-9 {
        ticks.push(t);
        t += step;
    }
    ticks
}

fn clock_unit(x_max: f64) -> &'static str {
    if x_max >= 3600.0 {
        "h:mm:ss"
    } else if x_max >= 60.0 {
        "m:ss"
    } else {
        "s"
    }
}

/// Seconds as `h:mm:ss`, `m:ss` or plain seconds.
fn fmt_clock(s: f64) -> String {
    let total = s.max(0.0).round() as u64;
    let (h, m, sec) = (total / 3600, total / 60 % 60, total % 60);
    if h > 0 {
        format!("{h}:{m:02}:{sec:02}")
    } else if total >= 60 {
        format!("{m}:{sec:02}")
    } else {
        format!("{total}")
    }
}

/// A latency in µs with a unit: `850 µs`, `12.3 ms`, `1.25 s`.
pub fn fmt_us(us: f64) -> String {
    if !us.is_finite() {
        return "–".to_owned();
    }
    let a = us.abs();
    if a < 1_000.0 {
        format!("{us:.0} µs")
    } else if a < 1_000_000.0 {
        format!("{} ms", sig3(us / 1_000.0))
    } else if a < 1_000_000_000.0 {
        format!("{} s", sig3(us / 1_000_000.0))
    } else {
        format!("{} min", sig3(us / 60_000_000.0))
    }
}

/// A duration in seconds: `45.2 s`, `12m 05s`, `4h 00m 00s`.
pub fn fmt_secs(s: f64) -> String {
    if !s.is_finite() {
        return "–".to_owned();
    }
    if s < 60.0 {
        return format!("{} s", trim_zeros(&sig3(s)));
    }
    let total = s.round() as u64;
    let (h, m, sec) = (total / 3600, total / 60 % 60, total % 60);
    if h > 0 {
        format!("{h}h {m:02}m {sec:02}s")
    } else {
        format!("{m}m {sec:02}s")
    }
}

/// Three significant digits without exponent: 1.23, 12.3, 123, 1234. Thresholds are the rounding
/// points, so 99.96 becomes `100`, not `100.0`.
fn sig3(v: f64) -> String {
    let a = v.abs();
    if a >= 99.95 {
        format!("{v:.0}")
    } else if a >= 9.995 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// A number with k/M/G suffix and three significant digits; below 10 000 whole numbers are
/// shown exactly.
pub fn fmt_si(v: f64) -> String {
    if !v.is_finite() {
        return "–".to_owned();
    }
    let a = v.abs();
    if a < 10_000.0 {
        return if v.fract() == 0.0 || a >= 100.0 {
            format!("{v:.0}")
        } else {
            trim_zeros(&sig3(v))
        };
    }
    let mut scaled = v;
    for suffix in ["k", "M", "G", "T"] {
        scaled /= 1000.0;
        // Round first so 999 950 becomes 1.00M, not 1000k.
        if scaled.abs() < 999.5 {
            return format!("{}{suffix}", sig3(scaled));
        }
    }
    format!("{}T", sig3(scaled))
}

/// A count: exact below 10 000, then `12.3k`, `4.56M`.
pub fn fmt_count(n: u64) -> String {
    fmt_si(n as f64)
}

/// A rate per second: `123/s`, `4.56k/s`, `0.5/s`.
pub fn fmt_rate(per_s: f64) -> String {
    format!("{}/s", fmt_si(per_s))
}

/// A ratio as a percentage: `0%`, `0.012%`, `1.25%`, `45.0%`.
pub fn fmt_ratio(r: f64) -> String {
    if !r.is_finite() {
        return "–".to_owned();
    }
    let p = r * 100.0;
    if p == 0.0 {
        "0%".to_owned()
    } else if p.abs() < 0.1 {
        format!("{p:.3}%")
    } else if p.abs() < 10.0 || (p > 99.0 && p < 100.0) {
        // Near 100% the second decimal is the interesting part (99.99% is not 100.0%).
        format!("{p:.2}%")
    } else {
        format!("{p:.1}%")
    }
}

/// A value in an arbitrary unit as the SLA and server series name it (`us`, `ratio`, `per_s`,
/// `bytes`, `seconds`, `count`, …).
pub fn fmt_in_unit(v: f64, unit: &str) -> String {
    match unit {
        "us" => fmt_us(v),
        "ratio" => fmt_ratio(v),
        "per_s" => fmt_rate(v),
        "seconds" => fmt_us(v * 1_000_000.0),
        "bytes" => format!("{}B", fmt_si(v)),
        "count" | "" => fmt_si(v),
        other => format!("{} {other}", fmt_si(v)),
    }
}

/// Which y axis treatment a unit name gets, and the factor that turns values into it.
pub fn y_unit_for(unit: &str) -> (YUnit, f64) {
    match unit {
        "us" => (YUnit::Micros, 1.0),
        "seconds" => (YUnit::Micros, 1_000_000.0),
        "ratio" => (YUnit::Ratio, 1.0),
        _ => (YUnit::Count, 1.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(got: String, want: &str) {
        assert_eq!(got, want);
    }

    #[test]
    fn durations_pick_a_readable_unit() {
        check(fmt_us(850.0), "850 µs");
        check(fmt_us(12_345.0), "12.3 ms");
        check(fmt_us(1_250_000.0), "1.25 s");
        check(fmt_us(999.0), "999 µs");
        check(fmt_secs(45.26), "45.3 s");
        check(fmt_secs(14_400.0), "4h 00m 00s");
        check(fmt_secs(725.0), "12m 05s");
    }

    #[test]
    fn counts_and_rates_use_si_suffixes() {
        check(fmt_count(9_999), "9999");
        check(fmt_count(12_345), "12.3k");
        check(fmt_count(999_950), "1.00M");
        check(fmt_count(99_990), "100k");
        check(fmt_ratio(0.9999), "99.99%");
        check(fmt_secs(0.0), "0 s");
        check(fmt_us(99_960.0), "100 ms");
        check(fmt_count(4_560_000), "4.56M");
        check(fmt_rate(0.5), "0.5/s");
        check(fmt_rate(1234.6), "1235/s");
        check(fmt_ratio(0.0), "0%");
        check(fmt_ratio(0.000_12), "0.012%");
        check(fmt_ratio(0.0125), "1.25%");
        check(fmt_in_unit(0.25, "seconds"), "250 ms");
    }

    #[test]
    fn quantile_ticks_read_as_percentiles() {
        check(quantile_label(2.0), "50%");
        check(quantile_label(10.0), "90%");
        check(quantile_label(100.0), "99%");
        check(quantile_label(1000.0), "99.9%");
        check(quantile_label(10_000.0), "99.99%");
    }

    #[test]
    fn time_ticks_are_round_and_few() {
        let t = time_ticks(14_400.0);
        assert!(t.len() <= 9, "{t:?}");
        assert_eq!(t[1], 1800.0);
        check(fmt_clock(3725.0), "1:02:05");
        check(fmt_clock(65.0), "1:05");
        check(fmt_axis_number(50_000.0, YUnit::Count), "50k");
        check(fmt_axis_number(1_500_000.0, YUnit::Count), "1.5M");
        check(fmt_axis_number(0.5, YUnit::Count), "0.5");
    }

    #[test]
    fn small_whole_counts_get_whole_ticks() {
        let svg = category_chart(&CategoryChart {
            title: "instances",
            x_desc: "month",
            y_desc: "instances",
            y_unit: YUnit::Count,
            categories: &["a".into(), "b".into()],
            stacks: &[Series {
                label: "n".into(),
                color: BLUE,
                values: vec![1.0, 2.0],
            }],
            lines: &[],
            hrules: &[],
        })
        .expect("draws");
        let labels: Vec<&str> = svg
            .split("</text>")
            .filter_map(|t| t.rsplit('>').next())
            .map(str::trim)
            .collect();
        assert!(labels.contains(&"5"), "axis reaches 5: {labels:?}");
        assert!(
            !labels.contains(&"0.5") && !labels.contains(&"2.5"),
            "{labels:?}"
        );
    }

    #[test]
    fn charts_are_inline_svg_without_urls() {
        let line = Line {
            label: "p50".into(),
            color: BLUE,
            points: (0..100)
                .map(|i| (f64::from(i), f64::from(i * 1000)))
                .collect(),
        };
        let svg = time_chart(&TimeChart {
            title: "latency <over> time",
            y_desc: "latency",
            y_unit: YUnit::Micros,
            lines: &[line],
            stages: &[(50.0, "<b>".into())],
            x_max: 100.0,
        })
        .expect("draws");
        assert!(svg.starts_with("<svg class=\"chart\""), "{}", &svg[..80]);
        assert!(!svg.contains("http"), "no namespace URL");
        assert!(!svg.contains(INK_HEX));
        assert!(svg.contains("currentColor"));
        assert!(svg.contains("latency (ms)"));
        assert!(svg.contains("&lt;b&gt;") && !svg.contains("<b>"));
        assert!(svg.contains("<title>latency &lt;over&gt; time</title>"));
    }
}
