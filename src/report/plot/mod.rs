//! Charts for the HTML report, drawn with plotters into SVG strings: the frame every chart
//! shares is here (palette, sizes, scales, ticks, finishing the SVG), each chart family in its
//! own file.
//!
//! Invariant: every chart is a self-contained `<svg class="chart">` with no external reference
//! (the `xmlns` URL plotters writes is dropped; inline SVG in HTML does not need it). Axis, grid
//! and label colour is `currentColor`, so one SVG reads well in light mode, dark mode and print;
//! series colours come from the Okabe–Ito palette, which stays distinct for colour-blind readers.

use plotters::prelude::*;

use super::units::{fmt_si, trim_zeros};

mod bar;
mod category;
mod interval;
mod time;
mod xy;

pub use bar::{Bar, bar_chart};
pub use category::{CategoryChart, Series, category_chart};
pub use interval::{IntervalRow, interval_chart};
pub use time::{TimeChart, percentile_chart, time_chart};
pub use xy::{Band, XyChart, xy_chart};

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

/// Which y axis treatment a unit name gets, and the factor that turns values into it.
pub fn y_unit_for(unit: &str) -> (YUnit, f64) {
    match unit {
        "us" => (YUnit::Micros, 1.0),
        "seconds" => (YUnit::Micros, 1_000_000.0),
        "ratio" => (YUnit::Ratio, 1.0),
        _ => (YUnit::Count, 1.0),
    }
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

/// What drawing on a chart's canvas can fail with.
type DrawError = DrawingAreaErrorKind<std::io::Error>;

/// The SVG canvas a chart draws on.
type Canvas<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

/// Draw one chart: `draw` paints a canvas of `size`, whose SVG is then finished for inlining. A
/// plotters error is reported under the chart's `title`.
fn draw_svg(
    title: &str,
    size: (u32, u32),
    draw: impl FnOnce(&Canvas<'_>) -> Result<(), DrawError>,
) -> Result<String, PlotError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        draw(&root)
            .and_then(|()| root.present())
            .map_err(|e| PlotError {
                chart: title.to_owned(),
                message: e.to_string(),
            })?;
    }
    Ok(finish_svg(&svg, title))
}

/// The margins and label room around every plot: `top` leaves space for text above the plot,
/// `y_labels` is the width of the y axis labels.
fn frame<'a, 'b, 'c>(
    root: &'a Canvas<'c>,
    top: u32,
    y_labels: u32,
) -> ChartBuilder<'a, 'b, SVGBackend<'c>> {
    let mut builder = ChartBuilder::on(root);
    builder
        .margin_top(top)
        .margin_right(24)
        .margin_left(8)
        .margin_bottom(6)
        .x_label_area_size(44)
        .y_label_area_size(y_labels);
    builder
}

/// The ink of every mesh: a faint grid at the labelled ticks only, muted axes and 15 px text,
/// all in the theme's colour.
fn ink<'m, 'a, 'b, X: Ranged, Y: Ranged, DB: DrawingBackend>(
    mesh: &'m mut plotters::chart::MeshStyle<'a, 'b, X, Y, DB>,
) -> &'m mut plotters::chart::MeshStyle<'a, 'b, X, Y, DB> {
    mesh.bold_line_style(INK.mix(0.12))
        .light_line_style(TRANSPARENT)
        .axis_style(INK.mix(0.55))
        .label_style((FONT, 15).into_font().color(&INK))
        .axis_desc_style((FONT, 15).into_font().color(&INK))
}

/// An axis description with its unit, when it has one: `latency (ms)`.
fn with_unit(desc: &str, unit: &str) -> String {
    if unit.is_empty() {
        desc.to_owned()
    } else {
        format!("{desc} ({unit})")
    }
}

/// Draw `rule` as a dashed line from x `from` to `to` at `y` (in axis units), labelled above its
/// left end.
fn draw_hrule<X: Ranged<ValueType = f64>>(
    chart: &mut ChartContext<
        '_,
        SVGBackend<'_>,
        Cartesian2d<X, plotters::coord::types::RangedCoordf64>,
    >,
    rule: &Rule,
    y: f64,
    (from, to): (f64, f64),
) -> Result<(), DrawError> {
    chart.draw_series(std::iter::once(plotters::element::DashedPathElement::new(
        vec![(from, y), (to, y)],
        6,
        4,
        rule.color.stroke_width(2),
    )))?;
    let style = (FONT, 13).into_font().color(&rule.color);
    chart.draw_series(std::iter::once(
        EmptyElement::at((from, y)) + Text::new(rule.label.clone(), (6, -17), style),
    ))?;
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

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
