//! `kneepoint run`: one scenario run from its file to its written outputs and exit outcome.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::{ScenarioSource, default_out_dir, outcome, start_reference_stack};
use crate::progress::Progress;
use crate::results::RunResults;
use crate::run::{RunSettings, execute};
use crate::shard::Shard;
use crate::{Failure, Outcome};

/// What `kneepoint run` was asked to do, as the command line gives it.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The scenario, its overrides and target.
    pub source: ScenarioSource,
    /// Output folder (default: `reports/<scenario>-<time>`).
    pub out: Option<PathBuf>,
    /// Cap on the run's length.
    pub duration: Option<Duration>,
    /// No progress and no summary.
    pub quiet: bool,
    /// Reference stack backend (when the scenario has `[target] reference = true`).
    pub backend: crate::stack::Backend,
    /// Keep the reference service's rate limits on (off by default: a load test measures
    /// capacity, not the limiter).
    pub rate_limits: bool,
    /// Run only this shard of a distributed run (`--shard I/N`).
    pub shard: Option<Shard>,
    /// Run id to write instead of a fresh one (`--run-id`).
    pub run_id: Option<String>,
    /// When the load starts (`--start-at`, `--barrier`).
    pub start: crate::shard::StartAt,
}

/// `kneepoint run`: load and validate the scenario, run it, write every output, print the
/// summary, and say how it went: `Passed`/`Breached` for a run that completed (or was stopped by
/// an abort SLA: `Breached`), a [`Failure`] for bad input (2) or a run that failed or was
/// interrupted (3) — its results are written all the same.
pub fn run(opts: &RunOptions) -> Result<Outcome, Failure> {
    let mut scenario = opts.source.load()?;
    if let Some(shard) = opts.shard {
        if scenario.target.reference && shard.count() > 1 {
            return Err(Failure::invalid(miette::miette!(
                help = "start the reference stack once (`kneepoint stack up`) and pass its URL \
                        to every shard with `--target URL`",
                "shard {shard}: every shard would start a reference stack of its own"
            )));
        }
        scenario = crate::shard::apply(&scenario, shard).map_err(Failure::invalid)?;
    }
    let out = opts
        .out
        .clone()
        .unwrap_or_else(|| default_out_dir(&scenario.name));
    let mut settings = RunSettings::new(&out);
    settings.progress = Progress::auto(opts.quiet);
    settings.max_duration = opts.duration;
    settings.shard = opts.shard.map(Shard::info);
    settings.run_id.clone_from(&opts.run_id);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::run(miette::miette!("cannot start the async runtime: {e}")))?;
    let results = runtime.block_on(async {
        let stack = if scenario.target.reference {
            let stack = start_reference_stack(opts.backend, opts.rate_limits, opts.quiet).await?;
            stack.aim(&mut scenario);
            settings.backend = stack.backend_name().to_owned();
            settings.stack_health = Some(stack.health());
            Some(stack)
        } else {
            None
        };
        let results = match wait_for_start(opts).await {
            Ok(()) => execute(Arc::new(scenario), &settings)
                .await
                .map_err(Failure::run),
            Err(failure) => Err(failure),
        };
        if let Some(stack) = stack {
            stack.stop().await;
        }
        results
    })?;
    finish(&results, &out, opts.quiet)
}

/// Wait for `--start-at` or `--barrier`. A start time that passed or lies too far ahead is bad
/// input; a barrier that cannot be used or times out fails the run.
async fn wait_for_start(opts: &RunOptions) -> Result<(), Failure> {
    use crate::shard::{ShardError, StartAt};
    let shard = opts.shard.unwrap_or_else(Shard::whole);
    if !opts.quiet {
        match &opts.start {
            StartAt::Now => {}
            StartAt::At(at) => eprintln!("shard {shard}: waiting for the start at {at}"),
            StartAt::Barrier { dir, expected, .. } => eprintln!(
                "shard {shard}: waiting at `{}` for {expected} shards",
                dir.display()
            ),
        }
    }
    crate::shard::wait_for_start(&opts.start, shard)
        .await
        .map_err(|e| match e {
            ShardError::StartPassed { .. } | ShardError::StartTooFar { .. } => Failure::invalid(e),
            _ => Failure::run(e),
        })
}

/// Write every output of a finished run, print its summary, and map its status to an outcome.
fn finish(results: &RunResults, out: &Path, quiet: bool) -> Result<Outcome, Failure> {
    use crate::report::{all_exporters, summary, write_all};
    write_all(results, out, &all_exporters()).map_err(Failure::run)?;
    if !quiet {
        let color = super::color();
        println!("{}", summary::render_summary(results, color));
        println!("results: {}", out.display());
    }
    outcome(results, out)
}
