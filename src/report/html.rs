//! The HTML page kit: the one renderer every report page goes through, and the building blocks
//! their templates share (verdict banner, facts, sortable cells, charts with their legends).
//!
//! Invariant: a page makes no external request of any kind. Templates, CSS and the few lines
//! of JS are compiled into the binary (`include_str!`); charts are inline SVG from
//! [`super::plot`]; every value that came from the input file (names, messages, the target URL)
//! passes through tera's autoescaping, and none of it is ever placed in a `src`/`href` or script.
//! A Content-Security-Policy meta tag tells the browser the same: no loads, and only the page's
//! own script (allowed by its SHA-256) may run.
//! Large inputs stay small: series are downsampled to at most [`MAX_POINTS`] points and tables
//! are capped at [`MAX_ROWS`] rows with a note saying so.
//!
//! The pages themselves live in [`super::pages`]; their entry points are re-exported here.

use hdrhistogram::Histogram;
use serde::Serialize;

use super::plot::{self, CategoryChart, Line, PlotError, Rule};
use super::units::{fmt_count, fmt_rate, fmt_ratio, fmt_us};
use crate::results::ScopeKind;

pub use super::pages::capacity::render_capacity;
pub use super::pages::compare::{render_compare, render_compare_with_runs};
pub use super::pages::history::render_history;
pub use super::pages::plan::render_plan;
pub use super::pages::run::{HtmlReport, render_html};
use crate::error::chain;

/// Most points drawn per time series; longer series are bucketed.
pub const MAX_POINTS: usize = 1000;
/// Most rows in one table; the rest are counted in a note.
pub const MAX_ROWS: usize = 200;

const BASE: &str = include_str!("../../templates/base.html.tera");
const MACROS: &str = include_str!("../../templates/macros.html.tera");
const CSS: &str = include_str!("../../templates/report.css");
pub(crate) const JS: &str = include_str!("../../templates/report.js");

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

#[derive(Debug, Serialize)]
pub(crate) struct Verdict {
    /// `pass`, `fail` or `none`.
    pub(crate) class: &'static str,
    pub(crate) headline: String,
    pub(crate) details: Vec<String>,
}

/// A headline number.
#[derive(Debug, Serialize)]
pub(crate) struct Card {
    pub(crate) label: &'static str,
    pub(crate) value: String,
    pub(crate) detail: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct Fact {
    pub(crate) label: &'static str,
    pub(crate) value: String,
    /// Full value on hover when `value` is shortened.
    pub(crate) full: Option<String>,
    pub(crate) mono: bool,
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

/// A category chart drawn and shown as a figure; its legend lists the stacks (`bar`), then the
/// lines (`line`), then the rules (`rule`).
pub(crate) fn category_figure(
    id: &str,
    caption: impl Into<String>,
    spec: &CategoryChart<'_>,
) -> Result<Chart, HtmlError> {
    let svg = plot::category_chart(spec)?;
    let mut c = chart(id, spec.title, caption.into(), svg, &[]);
    c.legend = spec
        .stacks
        .iter()
        .map(|s| LegendItem::new(s.label.clone(), s.color, "bar"))
        .chain(
            spec.lines
                .iter()
                .map(|s| LegendItem::new(s.label.clone(), s.color, "line")),
        )
        .chain(rule_legend(spec.hrules))
        .collect();
    Ok(c)
}

/// A percentile chart of `lines` shown as a figure.
pub(crate) fn percentile_figure(
    id: &str,
    title: &str,
    caption: impl Into<String>,
    lines: &[Line],
) -> Result<Chart, HtmlError> {
    let svg = plot::percentile_chart(title, lines)?;
    Ok(chart(id, title, caption.into(), svg, lines))
}

/// Legend entries for rules: a `rule` swatch each, in the rule's own colour.
pub(crate) fn rule_legend(rules: &[Rule]) -> impl Iterator<Item = LegendItem> + '_ {
    rules
        .iter()
        .map(|r| LegendItem::new(r.label.clone(), r.color, "rule"))
}

pub(crate) fn kind_name(k: ScopeKind) -> &'static str {
    match k {
        ScopeKind::Overall => "overall",
        ScopeKind::Transaction => "transaction",
        ScopeKind::Request => "request",
    }
}

/// A line of a percentile plot of `h`.
pub(crate) fn percentile_line(
    label: impl Into<String>,
    color: plotters::style::RGBColor,
    h: &Histogram<u64>,
) -> Line {
    Line {
        label: label.into(),
        color,
        points: percentile_points(h),
    }
}

/// The text as it appears in a page after autoescaping.
#[cfg(test)]
pub(crate) fn esc(s: &str) -> String {
    tera::escape_html(s)
}

/// Asserts that a page loads nothing: no URL but in `allowed` (input text that holds one, as
/// the page escapes it), no `src=`, `url(` or `@import`, and only in-page links.
#[cfg(test)]
#[track_caller]
pub(crate) fn assert_nothing_external(html: &str, allowed: &str) {
    let without = html.replace(&esc(allowed), "");
    assert!(!without.contains("http://"), "http:// found");
    assert!(!without.contains("https://"), "https:// found");
    assert!(!html.contains("src="), "no src attributes at all");
    for (i, _) in html.match_indices("href=\"") {
        assert_eq!(&html[i + 6..i + 7], "#", "only in-page links");
    }
    assert!(!html.contains("@import") && !html.contains("url("));
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
