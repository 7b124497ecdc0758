//! Horizontal bars of relative changes with their confidence intervals, around zero.

use plotters::prelude::*;

use super::{
    INK, PlotError, Ticked, WIDTH, YUnit, draw_svg, fmt_axis_number, frame, ink, nice_ceiling,
};

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

    draw_svg(title, (WIDTH, height), |root| {
        let mut chart = frame(root, 14, 120)
            .build_cartesian_2d(-half..half, Ticked::new(0.0..n as f64, keys))?;
        ink(chart
            .configure_mesh()
            .disable_y_mesh()
            .x_desc(x_desc)
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .x_labels(9))
        .draw()?;
        if let Some(f) = floor.filter(|f| *f > 0.0) {
            let f = (f * 100.0).min(half);
            chart.draw_series(std::iter::once(Rectangle::new(
                [(-f, 0.0), (f, n as f64)],
                INK.mix(0.07).filled(),
            )))?;
        }
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(0.0, 0.0), (0.0, n as f64)],
            INK.mix(0.6).stroke_width(1),
        )))?;
        for (i, row) in rows.iter().enumerate() {
            let y = (rows.len() - 1 - i) as f64 + 0.5;
            let clip = |v: f64| (v * 100.0).clamp(-half, half);
            let v = clip(row.value);
            chart.draw_series(std::iter::once(Rectangle::new(
                [(0.0, y - 0.22), (v, y + 0.22)],
                row.color.mix(0.75).filled(),
            )))?;
            if let Some((lo, hi)) = row.interval {
                let (lo, hi) = (clip(lo), clip(hi));
                let ink = INK.stroke_width(2);
                chart.draw_series([
                    PathElement::new(vec![(lo, y), (hi, y)], ink),
                    PathElement::new(vec![(lo, y - 0.16), (lo, y + 0.16)], ink),
                    PathElement::new(vec![(hi, y - 0.16), (hi, y + 0.16)], ink),
                ])?;
            }
        }
        Ok(())
    })
}
