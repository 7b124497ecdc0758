//! Charts over time since the run start, and the latency distribution over percentiles.

use plotters::prelude::*;

use super::{
    DrawError, FONT, HEIGHT, INK, Line, PlotError, Ticked, WIDTH, YUnit, draw_svg, fmt_axis_number,
    frame, ink, nice_ceiling, with_unit, y_scale,
};

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
    let x_max = spec.x_max.max(1.0);
    let raw_max = spec
        .lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .fold(0.0_f64, f64::max);
    let (scale, unit) = y_scale(spec.y_unit, raw_max);
    let y_max = nice_ceiling(raw_max / scale);
    let y_desc = with_unit(spec.y_desc, unit);
    let ticks = time_ticks(x_max);
    let clock_fmt = |x: &f64| fmt_clock(*x);
    let y_fmt = |y: &f64| fmt_axis_number(*y, spec.y_unit);

    draw_svg(spec.title, (WIDTH, HEIGHT), |root| {
        let mut chart =
            frame(root, 22, 74).build_cartesian_2d(Ticked::new(0.0..x_max, ticks), 0.0..y_max)?;
        ink(chart
            .configure_mesh()
            .x_desc(format!("time since start ({})", clock_unit(x_max)))
            .y_desc(y_desc)
            .x_label_formatter(&clock_fmt)
            .y_label_formatter(&y_fmt)
            .y_labels(6))
        .draw()?;
        draw_stage_rules(&mut chart, spec.stages, y_max)?;
        for line in spec.lines {
            let pts = line.points.iter().map(|&(x, y)| (x, y / scale));
            chart.draw_series(LineSeries::new(pts, line.color.stroke_width(2)))?;
        }
        Ok(())
    })
}

type TimeCoord = Cartesian2d<Ticked, plotters::coord::types::RangedCoordf64>;

fn draw_stage_rules(
    chart: &mut ChartContext<'_, SVGBackend<'_>, TimeCoord>,
    stages: &[(f64, String)],
    y_max: f64,
) -> Result<(), DrawError> {
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

    draw_svg(title, (WIDTH, HEIGHT), |root| {
        let mut chart = frame(root, 14, 74)
            .build_cartesian_2d((1.0..x_max).log_scale().with_key_points(keys), 0.0..y_max)?;
        ink(chart
            .configure_mesh()
            .x_desc("percentile (log scale of 1/(1−q))")
            .y_desc(format!("latency ({unit})"))
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .y_labels(6))
        .draw()?;
        for line in lines {
            let pts = line
                .points
                .iter()
                .map(|&(x, y)| (x.clamp(1.0, x_max), y / scale));
            chart.draw_series(LineSeries::new(pts, line.color.stroke_width(2)))?;
        }
        Ok(())
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_ticks_read_as_percentiles() {
        assert_eq!(quantile_label(2.0), "50%");
        assert_eq!(quantile_label(10.0), "90%");
        assert_eq!(quantile_label(100.0), "99%");
        assert_eq!(quantile_label(1000.0), "99.9%");
        assert_eq!(quantile_label(10_000.0), "99.99%");
    }

    #[test]
    fn time_ticks_are_round_and_few() {
        let t = time_ticks(14_400.0);
        assert!(t.len() <= 9, "{t:?}");
        assert_eq!(t[1], 1800.0);
        assert_eq!(fmt_clock(3725.0), "1:02:05");
        assert_eq!(fmt_clock(65.0), "1:05");
        assert_eq!(fmt_axis_number(50_000.0, YUnit::Count), "50k");
        assert_eq!(fmt_axis_number(1_500_000.0, YUnit::Count), "1.5M");
        assert_eq!(fmt_axis_number(0.5, YUnit::Count), "0.5");
    }
}
