//! Parsers of the values people write in scenarios and flags (fractions, percentages, small
//! durations, confidences), with the messages that say what was expected, and the plain way of
//! writing a number back.
//!
//! Invariant: pure functions of their text; this module imports nothing of kneepoint's.

use std::time::Duration;

/// `5%` → 0.05, `0.05` → 0.05; a bare number above 1 is refused as ambiguous (`5` could mean
/// 5 % or 500 %).
pub fn parse_fraction(s: &str) -> Result<f64, String> {
    let s = s.trim();
    let (number, scale) = match s.strip_suffix('%') {
        Some(n) => (n.trim(), 100.0),
        None => (s, 1.0),
    };
    let v: f64 = number
        .parse()
        .map_err(|_| format!("`{s}` is not a number or percentage"))?;
    check_fraction(v / scale, s, scale == 1.0)
}

/// A fraction written as a bare number (TOML `0.05`): the same rules as [`parse_fraction`].
pub fn fraction_from_number(v: f64) -> Result<f64, String> {
    check_fraction(v, &v.to_string(), true)
}

fn check_fraction(v: f64, text: &str, bare: bool) -> Result<f64, String> {
    if !v.is_finite() || v < 0.0 {
        return Err(format!("`{text}` must not be negative"));
    }
    if bare && v > 1.0 {
        return Err(format!(
            "`{text}` is ambiguous: write `{text}%` or a fraction like 0.05"
        ));
    }
    Ok(v)
}

/// The absolute latency floor: a duration with a unit (`1ms`, `250us`, `0.5ms`) or `0` for none.
pub fn parse_min_latency_change(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s.parse::<f64>().is_ok_and(|v| v == 0.0) {
        return Ok(Duration::ZERO);
    }
    if let Some(ms) = s
        .strip_suffix("ms")
        .and_then(|n| n.trim().parse::<f64>().ok())
    {
        // humantime takes whole numbers only; `0.5ms` reads naturally for this floor.
        return if ms.is_finite() && ms >= 0.0 {
            Ok(Duration::from_secs_f64(ms / 1e3))
        } else {
            Err(format!("`{s}` must not be negative"))
        };
    }
    if s.parse::<f64>().is_ok() {
        return Err(format!(
            "`{s}` has no unit: write e.g. `{s}ms` or `{s}us` (or `0` for no absolute floor)"
        ));
    }
    humantime::parse_duration(s).map_err(|e| format!("`{s}` is not a duration: {e}"))
}

/// `value` with at most `decimals` decimals, trailing zeros dropped: `2.5`, `5`.
pub fn trim_float(value: f64, decimals: usize) -> String {
    trim_zeros(&format!("{value:.decimals$}"))
}

/// A formatted decimal number without trailing zeros (`1.500` → `1.5`, `2.0` → `2`).
pub fn trim_zeros(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s.to_owned()
    }
}

/// A confidence between 50 % and 100 % (both exclusive).
pub fn check_confidence(v: f64, text: &str) -> Result<f64, String> {
    if v > 0.5 && v < 1.0 {
        Ok(v)
    } else {
        Err(format!("confidence `{text}` must lie between 50% and 100%"))
    }
}
