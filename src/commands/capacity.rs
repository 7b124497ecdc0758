//! `kneepoint capacity`: a stepped-load search for a scenario's capacity, or the same analysis
//! of points measured elsewhere.

use std::io;
use std::path::{Path, PathBuf};

use miette::miette;

use super::{ScenarioSource, default_out_dir, start_reference_stack};
use crate::capacity::points::{PointsOptions, steps_from_csv};
use crate::capacity::{
    AnalysisOptions, CapacityReport, Growth, SearchError, SearchModel, SearchOptions, StopReason,
    search, summary,
};
use crate::error::chain;
use crate::output;
use crate::run::handle_signals;
use crate::step_runner::{EngineOptions, EngineRunner, scenario_model};
use crate::{Failure, Outcome};

/// What `kneepoint capacity` with a scenario was asked to do.
#[derive(Debug, Clone)]
pub struct CapacityOptions {
    /// The scenario (its load is replaced by the steps), its overrides and target.
    pub source: ScenarioSource,
    /// Folder for `capacity.json` and the steps' results
    /// (default: `reports/<scenario>-capacity-<time>`).
    pub out: Option<PathBuf>,
    /// The steps' model; `None` takes the scenario's own (and `search.model` is ignored).
    pub model: Option<SearchModel>,
    /// Start, growth, hold, limits.
    pub search: SearchOptions,
    /// No progress and no summary.
    pub quiet: bool,
    /// Reference stack backend (when the scenario has `[target] reference = true`).
    pub backend: crate::stack::Backend,
    /// Keep the reference service's rate limits on.
    pub rate_limits: bool,
}

/// Search a scenario's capacity: exit 0 when the search found a capacity, 1 when even the first
/// step breached an SLA, 2 for bad input, 3 when a step failed (target unreachable…) or the
/// search was interrupted. The reference stack, when the scenario asks for it, is started once
/// and serves every step.
pub fn capacity(cmd: &CapacityOptions) -> Result<Outcome, Failure> {
    let scenario = cmd.source.load()?;
    let opts = SearchOptions {
        model: cmd.model.unwrap_or_else(|| scenario_model(&scenario)),
        ..cmd.search.clone()
    };
    opts.validate().map_err(Failure::invalid)?;
    let out = cmd
        .out
        .clone()
        .unwrap_or_else(|| default_out_dir(&format!("{}-capacity", scenario.name)));
    let name = scenario.name.clone();
    let reference = scenario.target.reference;
    let mut runner = EngineRunner::new(
        scenario,
        EngineOptions {
            steps_dir: out.join("steps"),
            progress: !cmd.quiet,
            backend: "external".into(),
        },
    )
    .map_err(Failure::run)?;
    handle_signals();
    let stack = if reference {
        let stack = runner.block_on(start_reference_stack(
            cmd.backend,
            cmd.rate_limits,
            cmd.quiet,
        ))?;
        runner.use_stack(&stack);
        Some(stack)
    } else {
        None
    };
    if !cmd.quiet {
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
    if !cmd.quiet {
        print!("{}", summary::render(&report));
        println!("wrote {}", path.display());
    }
    outcome(&report, &path)
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
pub fn from_points(
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
    let html = crate::report::html::render_capacity(report).map_err(io::Error::other)?;
    output::write_file(&path.with_file_name("capacity.html"), html.as_bytes())
        .map_err(io::Error::other)
}
