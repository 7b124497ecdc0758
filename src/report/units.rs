//! Numbers and units as the report writes them, in tables, facts and charts alike: latencies,
//! durations, counts, rates, ratios, money and timestamps.

use crate::values::trim_float;
pub(crate) use crate::values::trim_zeros;

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
    trim_float(v, decimals)
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

pub(crate) fn fmt_time(t: &jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_pick_a_readable_unit() {
        assert_eq!(fmt_us(850.0), "850 µs");
        assert_eq!(fmt_us(12_345.0), "12.3 ms");
        assert_eq!(fmt_us(1_250_000.0), "1.25 s");
        assert_eq!(fmt_us(999.0), "999 µs");
        assert_eq!(fmt_secs(45.26), "45.3 s");
        assert_eq!(fmt_secs(14_400.0), "4h 00m 00s");
        assert_eq!(fmt_secs(725.0), "12m 05s");
    }

    #[test]
    fn counts_and_rates_use_si_suffixes() {
        assert_eq!(fmt_count(9_999), "9999");
        assert_eq!(fmt_count(12_345), "12.3k");
        assert_eq!(fmt_count(999_950), "1.00M");
        assert_eq!(fmt_count(99_990), "100k");
        assert_eq!(fmt_ratio(0.9999), "99.99%");
        assert_eq!(fmt_secs(0.0), "0 s");
        assert_eq!(fmt_us(99_960.0), "100 ms");
        assert_eq!(fmt_count(4_560_000), "4.56M");
        assert_eq!(fmt_rate(0.5), "0.5/s");
        assert_eq!(fmt_rate(1234.6), "1235/s");
        assert_eq!(fmt_ratio(0.0), "0%");
        assert_eq!(fmt_ratio(0.000_12), "0.012%");
        assert_eq!(fmt_ratio(0.0125), "1.25%");
        assert_eq!(fmt_in_unit(0.25, "seconds"), "250 ms");
    }

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
