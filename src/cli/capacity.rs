//! `kneepoint capacity`: stepped-load search for a scenario's capacity, or the same analysis of
//! points measured elsewhere (`--from-points`).

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kneepoint::capacity::points::{PointsOptions, steps_from_csv};
use kneepoint::capacity::{
    AnalysisOptions, CapacityReport, Growth, SearchModel, SearchOptions, StepRunner, StopReason,
    search, summary,
};
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

/// Flags of `kneepoint capacity`.
#[derive(Debug, clap::Args)]
pub(crate) struct CapacityArgs {
    /// Scenario to search with (its transactions, target and SLAs; its stages are replaced by
    /// the steps).
    #[arg(required_unless_present = "from_points")]
    scenario: Option<PathBuf>,
    /// Analyse measured points instead of running load: a CSV with columns `load`,
    /// `throughput` and optionally `p50_ms`, `p95_ms`, `p99_ms`, `mean_ms`, `error_rate`,
    /// `sla_passed`.
    #[arg(long, value_name = "FILE.csv", conflicts_with = "scenario")]
    from_points: Option<PathBuf>,
    /// Folder for `capacity.json` (written after every step).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Closed (users) or open (arrivals per second) steps.
    #[arg(long, value_enum, default_value = "closed")]
    model: ModelArg,
    /// Load of the first step.
    #[arg(long, default_value_t = 1.0, value_name = "N")]
    start: f64,
    /// Multiply the load by F each step.
    #[arg(long, value_name = "F", conflicts_with = "step")]
    factor: Option<f64>,
    /// Add N to the load each step.
    #[arg(long, value_name = "N")]
    step: Option<f64>,
    /// Measured hold per step.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration, value_name = "D")]
    hold: Duration,
    /// Unmeasured warm-up before each hold.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration, value_name = "D")]
    warmup: Duration,
    /// Stop after this many steps.
    #[arg(long, default_value_t = 16, value_name = "N")]
    max_steps: u32,
    /// Stop before a step would end after this much time in total.
    #[arg(long, value_parser = humantime::parse_duration, value_name = "D")]
    max_time: Option<Duration>,
    /// Stop when an SLA is breached by more than this (`10%` or `0.1`).
    #[arg(long, default_value = "10%", value_parser = parse_fraction, value_name = "PCT")]
    margin: f64,
    /// Stop when a step's error rate exceeds this (`5%` or `0.05`).
    #[arg(long, default_value = "5%", value_parser = parse_fraction, value_name = "PCT")]
    max_errors: f64,
    /// With --from-points: treat p95 above this many milliseconds as an SLA breach.
    #[arg(long, value_name = "MS", requires = "from_points")]
    p95_limit: Option<f64>,
}

/// `10%` → 0.1, `0.1` → 0.1.
fn parse_fraction(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let v = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|p| p / 100.0),
        None => t.parse::<f64>(),
    }
    .map_err(|_| format!("`{s}` is not a percentage (write `10%` or `0.1`)"))?;
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(format!("`{s}` must not be negative"))
    }
}

impl CapacityArgs {
    pub(crate) fn execute(self) -> Result<Outcome, Failure> {
        let model = match self.model {
            ModelArg::Closed => SearchModel::Closed,
            ModelArg::Open => SearchModel::Open,
        };
        if let Some(points) = &self.from_points {
            return from_points(points, self.out.as_deref(), model, self.p95_limit);
        }
        let Some(scenario) = self.scenario.as_deref() else {
            return Err(Failure::invalid(miette!(
                "give a scenario or --from-points FILE.csv"
            )));
        };
        let growth = match (self.factor, self.step) {
            (_, Some(step)) => Growth::Increment(step),
            (Some(f), None) => Growth::Factor(f),
            (None, None) => Growth::Factor(2.0),
        };
        let opts = SearchOptions {
            model,
            start: self.start,
            growth,
            warmup: self.warmup,
            hold: self.hold,
            margin: self.margin,
            max_error_rate: self.max_errors,
            max_steps: self.max_steps,
            max_time: self.max_time,
            ..SearchOptions::default()
        };
        opts.validate().map_err(Failure::invalid)?;
        // The runner loads the scenario and checks the target before anything is written.
        let mut runner = runner(scenario, &opts)?;
        let out = self.out.unwrap_or_else(|| PathBuf::from("capacity"));
        std::fs::create_dir_all(&out)
            .map_err(|e| Failure::run(miette!("cannot create `{}`: {e}", out.display())))?;
        let path = out.join("capacity.json");
        let name = scenario.display().to_string();
        let report = search(runner.as_mut(), &opts, &name, |r| save(&path, r))
            .map_err(|e| Failure::run(miette!("{}", chain(&e))))?;
        print!("{}", summary::render(&report));
        println!("wrote {}", path.display());
        match report.stop {
            Some(StopReason::StepFailed { .. }) => Err(Failure::run(miette!(
                "the capacity search stopped on a failed step; the steps before it are in {}",
                path.display()
            ))),
            _ => Ok(Outcome::Passed),
        }
    }
}

/// The run engine's step runner for `scenario`: each step is a full run of the scenario at one
/// load for `opts.warmup + opts.hold`. Until the run engine provides one, the search cannot run.
fn runner(scenario: &Path, opts: &SearchOptions) -> Result<Box<dyn StepRunner>, Failure> {
    let _ = (scenario, opts);
    Err(Failure::run(miette!(
        "capacity search needs the run engine; analyse measured points with --from-points FILE.csv"
    )))
}

/// Analyse a points CSV: fit, knee, limits; print and optionally save `capacity.json`.
fn from_points(
    path: &Path,
    out: Option<&Path>,
    model: SearchModel,
    p95_limit_ms: Option<f64>,
) -> Result<Outcome, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::invalid(miette!("cannot read `{}`: {e}", path.display())))?;
    let name = path.display().to_string();
    let steps =
        steps_from_csv(&name, &text, &PointsOptions { p95_limit_ms }).map_err(Failure::invalid)?;
    let report = CapacityReport::new(&name, "points", model, steps, &AnalysisOptions::default());
    print!("{}", summary::render(&report));
    if let Some(out) = out {
        std::fs::create_dir_all(out)
            .map_err(|e| Failure::run(miette!("cannot create `{}`: {e}", out.display())))?;
        let file = out.join("capacity.json");
        save(&file, &report)
            .map_err(|e| Failure::run(miette!("cannot write `{}`: {e}", file.display())))?;
        println!("wrote {}", file.display());
    }
    Ok(Outcome::Passed)
}

/// Write atomically (temp file + rename) so a stop mid-write never leaves half a report.
fn save(path: &Path, report: &CapacityReport) -> io::Result<()> {
    let json = serde_json::to_vec_pretty(report).map_err(io::Error::other)?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, json)?;
    std::fs::rename(&tmp, path)
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

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
    fn search_without_engine_says_so() {
        let args = crate::cli::Args::try_parse_from([
            "kneepoint",
            "capacity",
            "scenario.toml",
            "--factor",
            "1.5",
            "--margin",
            "5%",
        ])
        .expect("flags");
        let err = args.execute().expect_err("no engine");
        assert!(format!("{:?}", err.report()).contains("needs the run engine"));
        assert!(
            crate::cli::Args::try_parse_from([
                "kneepoint",
                "capacity",
                "s.toml",
                "--factor",
                "2",
                "--step",
                "5"
            ])
            .is_err()
        );
        assert_eq!(parse_fraction("10%"), Ok(0.1));
        assert!(parse_fraction("ten").is_err());
    }
}
