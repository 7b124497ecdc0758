//! Charts of y against a numeric x, such as throughput against load, with bands and rules.

use plotters::prelude::*;

use super::{
    FONT, HEIGHT, Line, PlotError, Rule, WIDTH, YUnit, draw_hrule, draw_svg, fmt_axis_number,
    frame, ink, nice_ceiling, with_unit, y_scale,
};

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
    let y_desc = with_unit(spec.y_desc, unit);
    let x_fmt = |x: &f64| fmt_axis_number(*x, YUnit::Count);
    let y_fmt = |y: &f64| fmt_axis_number(*y, spec.y_unit);
    let clip_y = |y: f64| (y / scale).clamp(0.0, y_max);

    draw_svg(spec.title, (WIDTH, HEIGHT), |root| {
        let mut chart = frame(root, 14, 74).build_cartesian_2d(spec.x_min..x_max, 0.0..y_max)?;
        ink(chart
            .configure_mesh()
            .x_desc(spec.x_desc)
            .y_desc(y_desc)
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .x_labels(10)
            .y_labels(6))
        .draw()?;
        for band in spec.bands {
            let upper = band.points.iter().map(|&(x, _, hi)| (x, clip_y(hi)));
            let lower = band.points.iter().rev().map(|&(x, lo, _)| (x, clip_y(lo)));
            let outline: Vec<(f64, f64)> = upper.chain(lower).collect();
            chart.draw_series(std::iter::once(Polygon::new(
                outline,
                band.color.mix(0.22).filled(),
            )))?;
        }
        for (i, rule) in spec.vrules.iter().enumerate() {
            let x = rule.at.clamp(spec.x_min, x_max);
            chart.draw_series(std::iter::once(plotters::element::DashedPathElement::new(
                vec![(x, 0.0), (x, y_max)],
                6,
                4,
                rule.color.stroke_width(2),
            )))?;
            // Labels stack downwards so two rules close together stay readable.
            let style = (FONT, 13).into_font().color(&rule.color);
            let dy = 4 + 16 * i32::try_from(i).unwrap_or(0);
            chart.draw_series(std::iter::once(
                EmptyElement::at((x, y_max)) + Text::new(rule.label.clone(), (5, dy), style),
            ))?;
        }
        for rule in spec.hrules {
            let y = clip_y(rule.at);
            draw_hrule(&mut chart, rule, y, (spec.x_min, x_max))?;
        }
        for line in spec.lines {
            let pts = line.points.iter().map(|&(x, y)| (x, clip_y(y)));
            chart.draw_series(LineSeries::new(pts, line.color.stroke_width(2)))?;
        }
        for dots in spec.dots {
            let pts = dots.points.iter().map(|&(x, y)| (x, clip_y(y)));
            chart.draw_series(pts.map(|p| Circle::new(p, 5, dots.color.filled())))?;
        }
        Ok(())
    })
}
