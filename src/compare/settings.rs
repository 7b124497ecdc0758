//! Compare settings from one source — a scenario's `[compare]` table or the flags of
//! `kneepoint compare` — layered onto [`CompareOptions`].
//!
//! Invariant: a field left `None` (or a metric left out of a map) keeps the value of the layer
//! below; a noise floor for every metric replaces the lower layers' per-metric floors too, since
//! it says "all metrics".

use super::CompareOptions;
use crate::settings::CompareSettings;

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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::settings::Metric;
    use crate::values::{
        check_confidence, fraction_from_number, parse_fraction, parse_min_latency_change,
    };

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
