//! Compare settings from one source — a scenario's `[compare]` table or the flags of
//! `kneepoint compare` — layered onto [`CompareOptions`].
//!
//! Invariant: a field left `None` (or a metric left out of a map) keeps the value of the layer
//! below; a noise floor for every metric replaces the lower layers' per-metric floors too, since
//! it says "all metrics".

use std::collections::BTreeMap;
use std::time::Duration;

use super::{CompareOptions, Metric};

/// Settings of a comparison as one source gives them: every field optional.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CompareSettings {
    /// Noise floor of every metric (0.05 = 5 %).
    pub noise_floor: Option<f64>,
    /// Noise floors of single metrics (applied after [`Self::noise_floor`]).
    pub noise_floors: BTreeMap<Metric, f64>,
    /// Absolute noise floor of latency metrics.
    pub min_latency_change: Option<Duration>,
    /// Largest allowed relative regression, per metric.
    pub budgets: BTreeMap<Metric, f64>,
    /// Two-sided confidence of the intervals.
    pub confidence: Option<f64>,
    /// Metrics that take part in the gate (replaces the lower layer's list).
    pub gate: Option<Vec<Metric>>,
    /// Gate request scopes too.
    pub gate_requests: Option<bool>,
    /// Compare intended-start latency.
    pub intended: Option<bool>,
    /// Bootstrap replicates per percentile.
    pub resamples: Option<usize>,
    /// Seed of the bootstrap.
    pub seed: Option<u64>,
}

impl CompareSettings {
    /// Whether no field is set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

impl CompareOptions {
    /// Layer `settings` over these options: what `settings` gives replaces what is here.
    pub fn apply(&mut self, settings: &CompareSettings) {
        if let Some(floor) = settings.noise_floor {
            self.noise_floor = floor;
            self.noise_floors.clear();
        }
        self.noise_floors.extend(&settings.noise_floors);
        if let Some(m) = settings.min_latency_change {
            self.min_latency_change = m;
        }
        self.budgets.extend(&settings.budgets);
        if let Some(c) = settings.confidence {
            self.confidence = c;
        }
        if let Some(gate) = &settings.gate {
            self.gate_metrics.clone_from(gate);
        }
        if let Some(g) = settings.gate_requests {
            self.gate_requests = g;
        }
        if let Some(i) = settings.intended {
            self.intended = i;
        }
        if let Some(r) = settings.resamples {
            self.resamples = r;
        }
        if let Some(s) = settings.seed {
            self.seed = s;
        }
    }
}

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

/// A confidence between 50 % and 100 % (both exclusive).
pub fn check_confidence(v: f64, text: &str) -> Result<f64, String> {
    if v > 0.5 && v < 1.0 {
        Ok(v)
    } else {
        Err(format!("confidence `{text}` must lie between 50% and 100%"))
    }
}

/// Fewest bootstrap replicates [`CompareOptions`] accepts.
pub const MIN_RESAMPLES: usize = 100;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_replace_what_they_set() {
        let table = CompareSettings {
            noise_floor: Some(0.03),
            noise_floors: [(Metric::P99, 0.10)].into(),
            budgets: [(Metric::P95, 0.10), (Metric::ErrorRate, 0.005)].into(),
            confidence: Some(0.99),
            gate: Some(vec![Metric::P95, Metric::ErrorRate]),
            gate_requests: Some(true),
            ..CompareSettings::default()
        };
        let flags = CompareSettings {
            budgets: [(Metric::P95, 0.20)].into(),
            gate_requests: Some(false),
            seed: Some(7),
            ..CompareSettings::default()
        };
        let mut o = CompareOptions::default();
        o.apply(&table);
        o.apply(&flags);
        assert_eq!(o.noise_floor, 0.03);
        assert_eq!(o.noise_floor_of(Metric::P99), 0.10);
        assert_eq!(o.noise_floor_of(Metric::P50), 0.03);
        assert_eq!(
            o.budgets,
            [(Metric::P95, 0.20), (Metric::ErrorRate, 0.005)].into()
        );
        assert_eq!(o.confidence, 0.99);
        assert_eq!(o.gate_metrics, [Metric::P95, Metric::ErrorRate]);
        assert!(!o.gate_requests);
        assert_eq!(o.seed, 7);
        assert_eq!(o.resamples, CompareOptions::default().resamples);

        // A floor for every metric from the flags replaces the table's per-metric floors.
        o.apply(&CompareSettings {
            noise_floor: Some(0.01),
            ..CompareSettings::default()
        });
        assert_eq!(o.noise_floor_of(Metric::P99), 0.01);
        assert!(CompareSettings::default().is_empty() && !table.is_empty());
    }

    #[test]
    fn min_latency_change_layers_and_parses() {
        let mut o = CompareOptions::default();
        assert_eq!(o.min_latency_change, Duration::from_millis(1));
        o.apply(&CompareSettings {
            min_latency_change: Some(Duration::from_micros(250)),
            ..CompareSettings::default()
        });
        o.apply(&CompareSettings::default());
        assert_eq!(o.min_latency_change, Duration::from_micros(250));
        assert_eq!(o.min_change_of(Metric::P99), Some(250.0));
        assert_eq!(o.min_change_of(Metric::Max), Some(250.0));
        assert_eq!(o.min_change_of(Metric::Throughput), None);
        assert_eq!(o.min_change_of(Metric::ErrorRate), None);

        let ok = |s: &str| parse_min_latency_change(s).expect(s);
        assert_eq!(ok("1ms"), Duration::from_millis(1));
        assert_eq!(ok(" 250us "), Duration::from_micros(250));
        assert_eq!(ok("0.5ms"), Duration::from_micros(500));
        assert_eq!(ok("2s"), Duration::from_secs(2));
        assert_eq!(ok("0"), Duration::ZERO);
        assert_eq!(ok("0ms"), Duration::ZERO);
        let err = |s: &str| parse_min_latency_change(s).expect_err(s);
        assert!(err("5").contains("no unit"), "{}", err("5"));
        assert!(err("-1ms").contains("negative"), "{}", err("-1ms"));
        assert!(err("1 parsec").contains("not a duration"));
        assert!(err("fast").contains("not a duration"));
    }

    #[test]
    fn fractions() {
        assert_eq!(parse_fraction("5%"), Ok(0.05));
        assert_eq!(parse_fraction(" 0.05 "), Ok(0.05));
        assert_eq!(parse_fraction("150%"), Ok(1.5));
        assert!(parse_fraction("5").is_err_and(|e| e.contains("ambiguous")));
        assert!(parse_fraction("-1%").is_err());
        assert!(parse_fraction("five").is_err());
        assert_eq!(fraction_from_number(0.5), Ok(0.5));
        assert!(fraction_from_number(10.0).is_err_and(|e| e.contains("`10%`")));
        assert!(check_confidence(0.95, "95%").is_ok());
        assert!(check_confidence(1.0, "1").is_err());
        assert!(check_confidence(0.5, "50%").is_err());
    }
}
