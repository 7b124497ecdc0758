//! `kneepoint compare`: the flags, as a [`CompareCommand`] whose unset settings leave the
//! scenario's `[compare]` table and the defaults alone.

use std::path::PathBuf;
use std::time::Duration;

use kneepoint::commands::compare::{CompareCommand, compare};
use kneepoint::compare::{
    self, CompareSettings, Metric, check_confidence, parse_fraction, parse_min_latency_change,
};
use kneepoint::{Failure, Outcome};

/// Flags of `kneepoint compare`.
#[derive(Debug, clap::Args)]
pub(crate) struct CompareArgs {
    /// Baseline run: a results.json file or a run folder.
    baseline: PathBuf,
    /// Candidate run: a results.json file or a run folder.
    candidate: PathBuf,
    /// Folder for compare.json, compare.md, compare.junit.xml and compare.html [default:
    /// `compare/` next to the candidate's results.json].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Take settings from the `[compare]` table of this scenario file [default: the
    /// candidate's scenario, when the path its results.json records can be read].
    #[arg(long, value_name = "FILE")]
    scenario: Option<PathBuf>,
    /// Smallest relative change that counts: `5%` for all metrics, or `p99=10%` for one
    /// [default: 5%].
    #[arg(long, value_name = "[METRIC=]PCT", value_parser = parse_floor)]
    noise_floor: Vec<(Option<Metric>, f64)>,
    /// Smallest latency change that counts, besides the relative noise floor: a change of
    /// p50, p95, p99, mean or max is a regression or improvement only if it exceeds both.
    /// A duration such as `1ms` or `250us`; `0` turns it off [default: 1ms].
    #[arg(long, value_name = "DURATION", value_parser = parse_min_latency_change)]
    min_latency_change: Option<Duration>,
    /// Confidence of the intervals: `0.95` or `95%` [default: 95%].
    #[arg(long, value_name = "PCT", value_parser = parse_confidence)]
    confidence: Option<f64>,
    /// Largest allowed regression of a metric, e.g. `p95=10%`; repeatable.
    #[arg(long, value_name = "METRIC=PCT", value_parser = parse_budget)]
    budget: Vec<(Metric, f64)>,
    /// Seed of the bootstrap.
    #[arg(long)]
    seed: Option<u64>,
    /// Bootstrap replicates per percentile [default: 1000].
    #[arg(long, value_name = "N", value_parser = parse_resamples)]
    resamples: Option<usize>,
    /// Gate request scopes too (by default only overall and transactions are gated);
    /// `--gate-requests=false` turns it off when a scenario turns it on.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    gate_requests: Option<bool>,
    /// Gate only these metrics (repeatable) instead of all but `max`; budgeted metrics are
    /// always gated.
    #[arg(long, value_name = "METRIC")]
    gate: Vec<Metric>,
    /// Compare the intended-start latency of open-model runs (coordinated-omission corrected);
    /// `--intended=false` turns it off when a scenario turns it on.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    intended: Option<bool>,
}

impl CompareArgs {
    pub(crate) fn execute(self) -> Result<Outcome, Failure> {
        let flags = self.flag_settings();
        compare(&CompareCommand {
            baseline: self.baseline,
            candidate: self.candidate,
            out: self.out,
            scenario: self.scenario,
            flags,
        })
    }

    /// What the flags set; unset flags leave the lower layers alone.
    fn flag_settings(&self) -> CompareSettings {
        let mut s = CompareSettings {
            confidence: self.confidence,
            min_latency_change: self.min_latency_change,
            gate: (!self.gate.is_empty()).then(|| self.gate.clone()),
            gate_requests: self.gate_requests,
            intended: self.intended,
            resamples: self.resamples,
            seed: self.seed,
            budgets: self.budget.iter().copied().collect(),
            ..CompareSettings::default()
        };
        for (metric, floor) in &self.noise_floor {
            match metric {
                Some(m) => {
                    s.noise_floors.insert(*m, *floor);
                }
                None => s.noise_floor = Some(*floor),
            }
        }
        s
    }
}

fn parse_confidence(s: &str) -> Result<f64, String> {
    check_confidence(parse_fraction(s)?, s)
}

fn parse_resamples(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if n >= compare::MIN_RESAMPLES => Ok(n),
        _ => Err(format!(
            "`{s}` is not an integer of {} or more",
            compare::MIN_RESAMPLES
        )),
    }
}

fn parse_budget(s: &str) -> Result<(Metric, f64), String> {
    let (metric, value) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}`: expected METRIC=PCT, e.g. p95=10%"))?;
    let metric: Metric = metric.parse().map_err(|e| format!("{e}"))?;
    Ok((metric, parse_fraction(value)?))
}

fn parse_floor(s: &str) -> Result<(Option<Metric>, f64), String> {
    if s.contains('=') {
        parse_budget(s).map(|(m, v)| (Some(m), v))
    } else {
        parse_fraction(s).map(|v| (None, v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    #[derive(Debug, clap::Parser)]
    struct Wrap {
        #[command(flatten)]
        args: CompareArgs,
    }

    fn args(argv: &[&str]) -> CompareArgs {
        let mut full = vec!["compare"];
        full.extend_from_slice(argv);
        Wrap::try_parse_from(full).expect("flags parse").args
    }

    #[test]
    fn flags_parse() {
        let a = args(&[
            "a",
            "b",
            "--noise-floor",
            "3%",
            "--noise-floor",
            "p99=10%",
            "--budget",
            "p95=10%",
            "--budget",
            "error-rate=0.5%",
            "--confidence",
            "99%",
            "--gate",
            "p95",
            "--intended",
        ]);
        assert_eq!(a.gate, [Metric::P95]);
        assert_eq!(a.noise_floor, [(None, 0.03), (Some(Metric::P99), 0.1)]);
        assert_eq!(a.budget, [(Metric::P95, 0.1), (Metric::ErrorRate, 0.005)]);
        assert!(a.confidence.is_some_and(|c| (c - 0.99).abs() < 1e-12));
        assert_eq!(a.intended, Some(true));
        let settings = a.flag_settings();
        assert_eq!(settings.noise_floor, Some(0.03));
        assert_eq!(settings.noise_floors, [(Metric::P99, 0.1)].into());
        assert_eq!(settings.gate_requests, None);
        assert_eq!(settings.min_latency_change, None);
        let floor = |v: &str| args(&["a", "b", "--min-latency-change", v]).flag_settings();
        assert_eq!(
            floor("250us").min_latency_change,
            Some(Duration::from_micros(250))
        );
        assert_eq!(floor("0").min_latency_change, Some(Duration::ZERO));
        assert!(Wrap::try_parse_from(["compare", "a", "b", "--min-latency-change", "5"]).is_err());
        let off = args(&["a", "b", "--gate-requests=false", "--resamples", "500"]);
        assert_eq!(off.gate_requests, Some(false));
        assert_eq!(off.resamples, Some(500));
        assert!(Wrap::try_parse_from(["compare", "a", "b", "--resamples", "10"]).is_err());
        assert!(parse_fraction("5").is_err());
        assert!(parse_budget("p42=1%").is_err());
        assert!(parse_confidence("1.0").is_err());
    }
}
