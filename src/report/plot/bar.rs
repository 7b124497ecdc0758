//! Vertical bar charts of counts, such as responses per HTTP status.

use plotters::prelude::*;

use super::{
    FONT, INK, PlotError, Ticked, WIDTH, YUnit, draw_svg, fmt_axis_number, frame, ink, nice_ceiling,
};
use crate::report::units::fmt_count;

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

    draw_svg(title, (WIDTH, height), |root| {
        let mut chart =
            frame(root, 14, 74).build_cartesian_2d(Ticked::new(0.0..n, keys), 0.0..y_max)?;
        ink(chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc("HTTP status")
            .y_desc(y_desc)
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .y_labels(5))
        .draw()?;
        let width = 0.3;
        for (i, bar) in bars.iter().enumerate() {
            let x = offset + i as f64;
            let v = bar.value as f64;
            chart.draw_series(std::iter::once(Rectangle::new(
                [(x + 0.5 - width, 0.0), (x + 0.5 + width, v)],
                bar.color.filled(),
            )))?;
            let style =
                (FONT, 14)
                    .into_font()
                    .color(&INK)
                    .pos(plotters::style::text_anchor::Pos::new(
                        plotters::style::text_anchor::HPos::Center,
                        plotters::style::text_anchor::VPos::Bottom,
                    ));
            chart.draw_series(std::iter::once(Text::new(
                fmt_count(bar.value),
                (x + 0.5, v),
                style,
            )))?;
        }
        Ok(())
    })
}
