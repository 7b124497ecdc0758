//! Charts over categories (months, scopes): stacked bars plus lines with dots.

use plotters::prelude::*;

use super::{
    HEIGHT, PlotError, Rule, Ticked, WIDTH, YUnit, draw_hrule, draw_svg, fmt_axis_number, frame,
    ink, nice_ceiling, with_unit, y_scale,
};

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
    let y_desc = with_unit(spec.y_desc, unit);
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

    draw_svg(spec.title, (WIDTH, HEIGHT), |root| {
        let mut chart =
            frame(root, 14, 74).build_cartesian_2d(Ticked::new(0.0..n as f64, keys), 0.0..y_max)?;
        ink(chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc(spec.x_desc)
            .y_desc(y_desc)
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .y_labels(6))
        .draw()?;
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
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(x + 0.5 - half, base), (x + 0.5 + half, top)],
                    s.color.filled(),
                )))?;
                base = top;
            }
        }
        for rule in spec.hrules {
            let y = (rule.at / scale).clamp(0.0, y_max);
            draw_hrule(&mut chart, rule, y, (0.0, n as f64))?;
        }
        for line in spec.lines {
            let pts: Vec<(f64, f64)> = line
                .values
                .iter()
                .enumerate()
                .filter(|(_, v)| v.is_finite())
                .map(|(i, v)| (i as f64 + 0.5, (v / scale).clamp(0.0, y_max)))
                .collect();
            chart.draw_series(LineSeries::new(pts.clone(), line.color.stroke_width(2)))?;
            chart.draw_series(
                pts.into_iter()
                    .map(|p| Circle::new(p, 4, line.color.filled())),
            )?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::plot::BLUE;

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
}
