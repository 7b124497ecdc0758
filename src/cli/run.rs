//! `kneepoint run`.

use std::path::PathBuf;
use std::time::Duration;

use kneepoint::commands::ScenarioSource;
use kneepoint::commands::run::{RunOptions, run};
use kneepoint::run::handle_signals;
use kneepoint::shard::{Shard, StartAt};
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
    /// Run shard I of N of a distributed run (e.g. `2/4`): a 1/N share of the users or
    /// arrival rate and of the iteration cap, stages in step, feeder rows dealt round-robin.
    /// Merge the shards' results with `kneepoint merge`.
    #[arg(long, value_name = "I/N")]
    shard: Option<Shard>,
    /// Run id written to the results (every shard of a distributed run must share one; `kneepoint
    /// merge` refuses shards of different runs) [default: a fresh id].
    #[arg(long, value_name = "ID")]
    run_id: Option<String>,
    /// Start the load at this wall-clock time (RFC 3339, e.g. `2026-11-25T10:00:00Z`), so
    /// shards on several machines start together; clocks must agree (NTP).
    #[arg(long, value_name = "TIME", conflicts_with = "barrier")]
    start_at: Option<jiff::Timestamp>,
    /// Start the load when every shard has arrived in this shared folder (a fresh one per run):
    /// each shard creates `ready-I` there and waits for all N. Needs `--shard`.
    #[arg(long, value_name = "DIR", requires = "shard")]
    barrier: Option<PathBuf>,
    /// Give up waiting at the barrier after this long.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = humantime::parse_duration)]
    barrier_timeout: Duration,
}

impl RunArgs {
    pub(crate) fn execute(self) -> Result<Outcome, Failure> {
        handle_signals();
        run(&RunOptions {
            source: ScenarioSource {
                path: self.scenario,
                overrides: self.set,
                target: self.target,
            },
            out: self.out,
            duration: self.duration,
            quiet: self.quiet,
            backend: self.backend,
            rate_limits: self.rate_limits,
            shard: self.shard,
            run_id: self.run_id,
            start: match (self.start_at, self.barrier) {
                (Some(at), _) => StartAt::At(at),
                (None, Some(dir)) => StartAt::Barrier {
                    dir,
                    expected: self.shard.map_or(1, Shard::count),
                    timeout: self.barrier_timeout,
                },
                (None, None) => StartAt::Now,
            },
        })
    }
}
