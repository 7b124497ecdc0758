//! Report pages beyond a single run: capacity search, cost plan (and, as their inputs land,
//! comparison and history). Each page is one self-contained HTML file built like the run
//! report.
//!
//! Invariant: every page goes through [`super::html`]'s shared renderer, so it gets the same
//! layout (`templates/base.html.tera`), CSS, sortable-table script, Content-Security-Policy and
//! autoescaping; charts are inline SVG from [`super::plot`]. A page only reads the value it is
//! given and never touches the disk.

pub mod capacity;
pub mod compare;
pub mod history;
pub mod plan;

/// A plain number with about four significant digits and no exponent for everyday sizes:
/// `1234`, `12.35`, `0.01234`; very small or large values use an exponent (`3.2e-7`).
pub(crate) fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        return "–".to_owned();
    }
    let a = v.abs();
    if a == 0.0 {
        return "0".to_owned();
    }
    if !(1e-4..1e7).contains(&a) {
        return format!("{v:.2e}");
    }
    let digits = 3 - a.log10().floor() as i32;
    let decimals = usize::try_from(digits.max(0)).unwrap_or(0);
    let text = format!("{v:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

/// Money with the catalogue's currency symbol, grouped for reading: `$2 050`, `$12.50`.
pub(crate) fn fmt_money(currency: &str, v: f64) -> String {
    if !v.is_finite() {
        return "–".to_owned();
    }
    let decimals = if v.fract().abs() < 0.005 || v.abs() >= 1000.0 {
        0
    } else {
        2
    };
    format!("{currency}{}", crate::planning::group(v, decimals))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_four_significant_digits() {
        assert_eq!(fmt_num(1234.0), "1234");
        assert_eq!(fmt_num(12.3456), "12.35");
        assert_eq!(fmt_num(0.012_345), "0.01235");
        assert_eq!(fmt_num(0.000_000_32), "3.20e-7");
        assert_eq!(fmt_num(0.0), "0");
        assert_eq!(fmt_num(-2.5), "-2.5");
        assert_eq!(fmt_money("$", 2050.0), "$2 050");
        assert_eq!(fmt_money("€", 12.5), "€12.50");
        assert_eq!(fmt_money("$", 30.0), "$30");
    }
}
