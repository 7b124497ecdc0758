//! `kneepoint run`.

use std::path::PathBuf;
use std::time::Duration;

use kneepoint::run::{RunOptions, handle_signals, run};
use kneepoint::{Failure, Outcome};

/// Flags of `kneepoint run`.
#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    /// Scenario file (TOML); see scenarios/README.md.
    scenario: PathBuf,
    /// Folder for results.json, summary.csv, junit.xml and report.html
    /// [default: reports/<scenario>-<UTC time>].
    #[arg(short, long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Send the load to this base URL instead of the scenario's `[target] base_url`.
    #[arg(long, value_name = "URL")]
    target: Option<String>,
    /// Stop after this long (e.g. `30s`, `5m`) whatever the stages say.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
    /// Override a scenario value, e.g. `--set load.users=50` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// No progress and no summary: exit code and files only.
    #[arg(short, long)]
    quiet: bool,
    /// Reference stack backend, for scenarios with `[target] reference = true`:
    /// docker, embedded, or auto (Docker when the engine and images are there).
    #[arg(long, default_value = "auto", value_name = "BACKEND")]
    backend: kneepoint::stack::Backend,
    /// Keep the reference service's rate limits on (they are lifted by default).
    #[arg(long)]
    rate_limits: bool,
}

impl RunArgs {
    pub(crate) fn execute(self) -> Result<Outcome, Failure> {
        handle_signals();
        run(&RunOptions {
            scenario: self.scenario,
            out: self.out,
            target: self.target,
            duration: self.duration,
            overrides: self.set,
            quiet: self.quiet,
            backend: self.backend,
            rate_limits: self.rate_limits,
        })
    }
}
