//! `kneepoint capacity`: stepped-load search for a scenario's capacity, or the same analysis of
//! points measured elsewhere (`--from-points`).

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kneepoint::capacity::points::{PointsOptions, steps_from_csv};
use kneepoint::capacity::{
    AnalysisOptions, CapacityReport, Growth, SearchError, SearchModel, SearchOptions, StopReason,
    search, summary,
};
use kneepoint::compare::parse_fraction;
use kneepoint::error::chain;
use kneepoint::output;
use kneepoint::run::{default_out_dir, handle_signals, start_reference_stack};
use kneepoint::scenario::Override;
use kneepoint::step_runner::{EngineOptions, EngineRunner, scenario_model};
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
    /// Exit 0 when the search found a capacity, 1 when even the first step breached an SLA,
    /// 2 for bad input, 3 when a step failed (target unreachable…) or the search was interrupted.
    pub(crate) fn execute(self) -> Result<Outcome, Failure> {
        if let Some(points) = &self.from_points {
            let model = self.model.map_or(SearchModel::Closed, SearchModel::from);
            return from_points(points, self.out.as_deref(), model, self.p95_limit);
        }
        let Some(path) = self.scenario.as_deref() else {
            return Err(Failure::invalid(miette!(
                "give a scenario or --from-points FILE.csv"
            )));
        };
        let overrides = self
            .set
            .iter()
            .map(|s| Override::parse(s))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Failure::invalid(miette!("{e}")))?;
        let mut scenario = kneepoint::scenario::load(path, &overrides).map_err(Failure::invalid)?;
        if let Some(target) = &self.target {
            scenario.target.base_url = target.trim_end_matches('/').to_owned();
            scenario.target.reference = false;
        }
        let growth = match (self.factor, self.step) {
            (_, Some(step)) => Growth::Increment(step),
            (Some(f), None) => Growth::Factor(f),
            (None, None) => Growth::Factor(2.0),
        };
        let opts = SearchOptions {
            model: self
                .model
                .map_or_else(|| scenario_model(&scenario), SearchModel::from),
            start: self.start,
            growth,
            warmup: self.warmup,
            hold: self.hold,
            margin: self.margin,
            max_error_rate: self.max_errors,
            max_steps: self.max_steps,
            max_time: self.max_time,
            max_load: self.max_load,
            ..SearchOptions::default()
        };
        opts.validate().map_err(Failure::invalid)?;
        let out = self
            .out
            .unwrap_or_else(|| default_out_dir(&format!("{}-capacity", scenario.name)));
        let name = scenario.name.clone();
        let reference = scenario.target.reference;
        let mut runner = EngineRunner::new(
            scenario,
            EngineOptions {
                steps_dir: out.join("steps"),
                progress: !self.quiet,
                backend: "external".into(),
            },
        )
        .map_err(Failure::run)?;
        handle_signals();
        let stack = if reference {
            let stack = runner.block_on(start_reference_stack(
                self.backend,
                self.rate_limits,
                self.quiet,
            ))?;
            runner.use_stack(&stack);
            Some(stack)
        } else {
            None
        };
        if !self.quiet {
            eprintln!("{}", banner(&opts, &out));
        }
        let existed = out.exists();
        let path = out.join("capacity.json");
        let searched = search(&mut runner, &opts, &name, |r| save(&path, r));
        if let Some(stack) = stack {
            runner.block_on(stack.stop());
        }
        let report = match searched {
            Ok(r) => r,
            Err(e) => {
                if matches!(e, SearchError::FirstStep(_)) && !existed {
                    // Nothing was measured: leave no empty folder (fails if anything is in it).
                    let _ = std::fs::remove_dir(&out);
                }
                return Err(Failure::run(miette!("{}", chain(&e))));
            }
        };
        if !self.quiet {
            print!("{}", summary::render(&report));
            println!("wrote {}", path.display());
        }
        outcome(&report, &path)
    }
}

/// One line saying what the search will do.
fn banner(opts: &SearchOptions, out: &Path) -> String {
    let growth = match opts.growth {
        Growth::Factor(f) => format!("×{f}"),
        Growth::Increment(i) => format!("+{i}"),
    };
    format!(
        "capacity search ({} model): {} from {}, {growth} per step, {} warm-up + {} hold, at most {} steps; results in {}",
        match opts.model {
            SearchModel::Closed => "closed",
            SearchModel::Open => "open",
        },
        opts.model.load_unit(),
        opts.start,
        humantime::format_duration(opts.warmup),
        humantime::format_duration(opts.hold),
        opts.max_steps,
        out.display()
    )
}

/// The exit outcome of a finished search.
fn outcome(report: &CapacityReport, path: &Path) -> Result<Outcome, Failure> {
    match &report.stop {
        Some(StopReason::StepFailed { .. }) => {
            return Err(Failure::run(miette!(
                "the capacity search stopped on a failed step: {}; the steps before it are in {}",
                report
                    .stop
                    .as_ref()
                    .map(StopReason::describe)
                    .unwrap_or_default(),
                path.display()
            )));
        }
        Some(StopReason::Interrupted { .. }) => {
            return Err(Failure::run(miette!(
                "the capacity search was interrupted; its {} finished steps are in {}",
                report.steps.len(),
                path.display()
            )));
        }
        _ => {}
    }
    match report.steps.first() {
        Some(first) if first.sla_passed => Ok(Outcome::Passed),
        _ => Ok(Outcome::Breached),
    }
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

/// Write the report and its page through the one writer, so a stop mid-write never leaves half
/// of either.
fn save(path: &Path, report: &CapacityReport) -> io::Result<()> {
    let json = serde_json::to_vec_pretty(report).map_err(io::Error::other)?;
    output::write_file(path, &json).map_err(io::Error::other)?;
    // The page goes beside the data after every step, so a stopped search has one too.
    let html = kneepoint::report::html::render_capacity(report).map_err(io::Error::other)?;
    output::write_file(&path.with_file_name("capacity.html"), html.as_bytes())
        .map_err(io::Error::other)
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
