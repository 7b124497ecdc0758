//! What each subcommand does past its flags: prepare the scenario once (file, `--set`,
//! `--target`, the reference stack), call the engine or the analysis, write through the one
//! writer, and map what happened to an [`Outcome`]. `src/cli/` holds only the flags.

use std::path::{Path, PathBuf};

use crate::results::{RunResults, RunStatus};
use crate::scenario::model::Scenario;
use crate::{Failure, Outcome};

pub mod capacity;
pub mod compare;
pub mod history;
pub mod merge;
pub mod plan;
pub mod report;
pub mod run;
pub mod stack;
pub mod validate;

/// Where a command's scenario comes from: the file, its `--set` overrides and a `--target`.
#[derive(Debug, Clone, Default)]
pub struct ScenarioSource {
    /// Scenario file.
    pub path: PathBuf,
    /// `--set KEY=VALUE` overrides, unparsed.
    pub overrides: Vec<String>,
    /// Target base URL overriding the scenario's.
    pub target: Option<String>,
}

impl ScenarioSource {
    /// Load, override and validate the scenario; every problem is invalid input. A `--target`
    /// replaces the base URL and turns the reference stack off; a scenario written for the
    /// reference stack keeps its server-side series when aimed at a reference service started
    /// elsewhere (its `/metrics`).
    pub fn load(&self) -> Result<Scenario, Failure> {
        let overrides = self
            .overrides
            .iter()
            .map(|s| crate::scenario::Override::parse(s))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Failure::invalid(miette::miette!("{e}")))?;
        let mut scenario =
            crate::scenario::load(&self.path, &overrides).map_err(Failure::invalid)?;
        if let Some(target) = &self.target {
            scenario.target.base_url = target.trim_end_matches('/').to_owned();
            if scenario.target.reference && scenario.target.metrics_url.is_none() {
                scenario.target.metrics_url = Some(format!("{}/metrics", scenario.target.base_url));
            }
            scenario.target.reference = false;
        }
        Ok(scenario)
    }
}

/// Start the reference stack for a scenario with `[target] reference = true`, and say where it
/// is (unless `quiet`). Bad stack settings in the environment are invalid input; a stack that
/// cannot start fails the run.
pub async fn start_reference_stack(
    backend: crate::stack::Backend,
    rate_limits: bool,
    quiet: bool,
) -> Result<crate::stack::Stack, Failure> {
    let mut stack_opts = crate::stack::StackOptions::from_env().map_err(Failure::invalid)?;
    stack_opts.backend = backend;
    stack_opts.rate_limits = rate_limits;
    let stack = crate::stack::start(&stack_opts)
        .await
        .map_err(Failure::run)?;
    if !quiet {
        eprintln!(
            "reference stack ({}) up in {:.1} s at {}",
            stack.backend_name(),
            stack.startup_time().as_secs_f64(),
            stack.base_url()
        );
        for note in stack.notes() {
            eprintln!("  {note}");
        }
    }
    Ok(stack)
}

/// Write `files` into `dir` through the one writer; a file that cannot be written fails the
/// command (3).
fn write_files(dir: &Path, files: &[(&str, &[u8])]) -> Result<Vec<PathBuf>, Failure> {
    crate::output::write_files(dir, files)
        .map_err(|e| Failure::run(miette::miette!("{}", crate::error::chain(&e))))
}

/// Whether the terminal summary may use colour: stdout is a terminal and `NO_COLOR` is unset.
fn color() -> bool {
    use std::io::IsTerminal as _;
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// Where results go by default: `reports/<scenario>-<UTC time>`.
pub fn default_out_dir(scenario_name: &str) -> PathBuf {
    let stamp = jiff::Timestamp::now()
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string();
    let safe: String = scenario_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    Path::new("reports").join(format!("{safe}-{stamp}"))
}

/// The outcome of written results, by their status: completed → passed or breached by the
/// SLAs (0/1); aborted by an SLA → breached (1); interrupted, failed, or never finished (a
/// checkpoint whose process died) → the run failed (3). `out` is where the results were
/// written, for the message. `kneepoint run` and `kneepoint merge` share this mapping.
pub fn outcome(results: &RunResults, out: &Path) -> Result<Outcome, Failure> {
    match &results.status {
        RunStatus::Completed => Ok(Outcome::from_passed(results.passed())),
        RunStatus::Aborted { .. } => Ok(Outcome::Breached),
        RunStatus::Interrupted => Err(Failure::run(miette::miette!(
            "the run was interrupted; what was measured is in `{}`",
            out.display()
        ))),
        RunStatus::InProgress => Err(Failure::run(miette::miette!(
            "the run did not finish (its results are a checkpoint); what was measured is in `{}`",
            out.display()
        ))),
        RunStatus::Failed { reason } => Err(Failure::run(miette::miette!(
            "the run failed: {reason}; what was measured is in `{}`",
            out.display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference_source(target: Option<&str>) -> ScenarioSource {
        ScenarioSource {
            path: PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/scenarios/reference.toml"
            )),
            overrides: Vec::new(),
            target: target.map(str::to_owned),
        }
    }

    /// Every command that takes a scenario (run, capacity) prepares it here: a reference
    /// scenario aimed elsewhere keeps its server series from that service's `/metrics`.
    #[test]
    fn a_reference_scenario_aimed_elsewhere_keeps_its_server_series() {
        let own = reference_source(None)
            .load()
            .expect("the shipped scenario loads");
        assert!(own.target.reference, "starts its own stack");
        let aimed = reference_source(Some("http://127.0.0.1:8080/"))
            .load()
            .expect("loads");
        assert!(!aimed.target.reference, "no stack of its own");
        assert_eq!(aimed.target.base_url, "http://127.0.0.1:8080");
        assert_eq!(
            aimed.target.metrics_url.as_deref(),
            Some("http://127.0.0.1:8080/metrics")
        );
    }

    #[test]
    fn bad_overrides_are_invalid_input() {
        let mut source = reference_source(None);
        source.overrides = vec!["load.users".to_owned()];
        assert!(matches!(source.load(), Err(Failure::Invalid(_))));
    }
}
