//! `kneepoint capacity`: stepped-load search for a scenario's capacity, or the same analysis of
//! points measured elsewhere (`--from-points`).

use std::path::PathBuf;
use std::time::Duration;

use kneepoint::capacity::{Growth, SearchModel, SearchOptions};
use kneepoint::commands::ScenarioSource;
use kneepoint::commands::capacity::{CapacityOptions, capacity, from_points};
use kneepoint::values::parse_fraction;
use kneepoint::{Failure, Outcome};
use miette::miette;

/// Load model of the steps.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ModelArg {
    /// Steps are numbers of looping users.
    Closed,
    /// Steps are arrival rates per second.
    Open,
}

impl From<ModelArg> for SearchModel {
    fn from(m: ModelArg) -> Self {
        match m {
            ModelArg::Closed => Self::Closed,
            ModelArg::Open => Self::Open,
        }
    }
}

/// Flags of `kneepoint capacity`.
#[derive(Debug, clap::Args)]
pub(crate) struct CapacityArgs {
    /// Scenario to search with (its target, transactions, think time and SLAs; its load is
    /// replaced by the steps).
    #[arg(required_unless_present = "from_points")]
    scenario: Option<PathBuf>,
    /// Analyse measured points instead of running load: a CSV with columns `load`,
    /// `throughput` and optionally `p50_ms`, `p95_ms`, `p99_ms`, `mean_ms`, `error_rate`,
    /// `sla_passed`.
    #[arg(long, value_name = "FILE.csv", conflicts_with = "scenario")]
    from_points: Option<PathBuf>,
    /// Folder for `capacity.json` (written after every step) and `steps/NN-LOAD/results.json`
    /// [default: reports/<scenario>-capacity-<UTC time>].
    #[arg(short, long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Closed (users) or open (arrivals per second) steps [default: the scenario's own model;
    /// closed for --from-points]. A model other than the scenario's converts its load: open
    /// steps start whole transactions, closed steps have no think time.
    #[arg(long, value_enum)]
    model: Option<ModelArg>,
    /// Load of the first step.
    #[arg(long, default_value_t = 1.0, value_name = "N")]
    start: f64,
    /// Multiply the load by F each step [default: 2].
    #[arg(long, value_name = "F", conflicts_with = "step")]
    factor: Option<f64>,
    /// Add N to the load each step.
    #[arg(long, value_name = "N")]
    step: Option<f64>,
    /// Measured hold per step.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration, value_name = "D")]
    hold: Duration,
    /// Unmeasured warm-up before each hold (ramp over its first half, whole seconds).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration, value_name = "D")]
    warmup: Duration,
    /// Stop after this many steps.
    #[arg(long, default_value_t = 16, value_name = "N")]
    max_steps: u32,
    /// Stop before a step would end after this much time in total.
    #[arg(long, value_parser = humantime::parse_duration, value_name = "D")]
    max_time: Option<Duration>,
    /// Never run a step above this load.
    #[arg(long, value_name = "N")]
    max_load: Option<f64>,
    /// Stop when an SLA is breached by more than this (`10%` or `0.1`).
    #[arg(long, default_value = "10%", value_parser = parse_fraction, value_name = "PCT")]
    margin: f64,
    /// Stop when a step's error rate exceeds this (`5%` or `0.05`).
    #[arg(long, default_value = "5%", value_parser = parse_fraction, value_name = "PCT")]
    max_errors: f64,
    /// Send the load to this base URL instead of the scenario's `[target] base_url`.
    #[arg(long, value_name = "URL", conflicts_with = "from_points")]
    target: Option<String>,
    /// Override a scenario value, e.g. `--set transaction.0.weight=3` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE", conflicts_with = "from_points")]
    set: Vec<String>,
    /// No progress and no summary: exit code and files only.
    #[arg(short, long)]
    quiet: bool,
    /// Reference stack backend, for scenarios with `[target] reference = true`: docker,
    /// embedded, or auto (Docker when the engine and images are there). The stack is started
    /// once, serves every step, and is torn down at the end.
    #[arg(
        long,
        default_value = "auto",
        value_name = "BACKEND",
        conflicts_with = "from_points"
    )]
    backend: kneepoint::stack::Backend,
    /// Keep the reference service's rate limits on (they are lifted by default).
    #[arg(long, conflicts_with = "from_points")]
    rate_limits: bool,
    /// With --from-points: treat p95 above this many milliseconds as an SLA breach.
    #[arg(long, value_name = "MS", requires = "from_points")]
    p95_limit: Option<f64>,
}

impl CapacityArgs {
    pub(crate) fn execute(self) -> Result<Outcome, Failure> {
        if let Some(points) = &self.from_points {
            let model = self.model.map_or(SearchModel::Closed, SearchModel::from);
            return from_points(points, self.out.as_deref(), model, self.p95_limit);
        }
        let Some(path) = self.scenario else {
            return Err(Failure::invalid(miette!(
                "give a scenario or --from-points FILE.csv"
            )));
        };
        capacity(&CapacityOptions {
            source: ScenarioSource {
                path,
                overrides: self.set,
                target: self.target,
            },
            out: self.out,
            model: self.model.map(SearchModel::from),
            search: SearchOptions {
                start: self.start,
                growth: match (self.factor, self.step) {
                    (_, Some(step)) => Growth::Increment(step),
                    (Some(f), None) => Growth::Factor(f),
                    (None, None) => Growth::Factor(2.0),
                },
                warmup: self.warmup,
                hold: self.hold,
                margin: self.margin,
                max_error_rate: self.max_errors,
                max_steps: self.max_steps,
                max_time: self.max_time,
                max_load: self.max_load,
                ..SearchOptions::default()
            },
            quiet: self.quiet,
            backend: self.backend,
            rate_limits: self.rate_limits,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;
    use kneepoint::capacity::CapacityReport;

    #[test]
    fn from_points_writes_a_fitted_report() {
        let dir = tempfile::tempdir().expect("tempdir");
        let csv = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scenarios/capacity/points-example.csv"
        );
        let out = dir.path().join("cap");
        let args = crate::cli::Args::try_parse_from([
            "kneepoint",
            "capacity",
            "--from-points",
            csv,
            "--p95-limit",
            "60",
            "--out",
            out.to_str().expect("utf8 path"),
        ])
        .expect("flags");
        assert!(matches!(args.execute(), Ok(Outcome::Passed)));
        let text = std::fs::read_to_string(out.join("capacity.json")).expect("written");
        let report: CapacityReport = serde_json::from_str(&text).expect("json");
        assert!(
            report.analysis.fit.fit().is_some(),
            "{:?}",
            report.analysis.fit
        );
        assert!(report.analysis.knee.is_some());
        let max = report.analysis.max_sustainable.expect("max");
        assert!(
            max.first_failing_step.is_some() && max.estimated_rps.is_some(),
            "{max:?}"
        );
    }

    #[test]
    fn bad_input_is_rejected_before_any_load() {
        let parse = |args: &[&str]| {
            crate::cli::Args::try_parse_from(["kneepoint", "capacity"].iter().chain(args).copied())
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("missing.toml");
        let out = dir.path().join("out");
        let args = parse(&[
            missing.to_str().expect("utf8"),
            "--out",
            out.to_str().expect("utf8"),
        ])
        .expect("flags");
        assert!(matches!(args.execute(), Err(Failure::Invalid(_))));
        assert!(!out.exists(), "nothing written for bad input");

        let scenario = dir.path().join("s.toml");
        std::fs::write(
            &scenario,
            "[target]\nbase_url = \"http://127.0.0.1:9\"\n[load]\nusers = 1\nduration = \"1s\"\n\
             [[transaction]]\nname = \"t\"\n[[transaction.request]]\nname = \"r\"\npath = \"/\"\n",
        )
        .expect("write");
        let args = parse(&[
            scenario.to_str().expect("utf8"),
            "--factor",
            "1",
            "--out",
            out.to_str().expect("utf8"),
        ])
        .expect("flags");
        let err = args.execute().expect_err("factor 1 never grows");
        assert!(matches!(err, Failure::Invalid(_)));
        assert!(format!("{:?}", err.report()).contains("greater than 1"));
        assert!(!out.exists());

        assert!(parse(&["s.toml", "--factor", "2", "--step", "5"]).is_err());
        assert!(parse(&["--from-points", "p.csv", "--target", "http://x"]).is_err());
        assert_eq!(parse_fraction("10%"), Ok(0.1));
        assert!(parse_fraction("ten").is_err());
    }
}
