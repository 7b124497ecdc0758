//! Command-line types: one file per subcommand, each turning its flags into one library call.

use clap::{Parser, Subcommand};

use kneepoint::{Failure, Outcome};

mod capacity;
mod compare;
mod completions;
mod history;
mod merge;
mod plan;
mod report;
mod run;
mod stack;
mod validate;

const EXIT_CODES: &str = "\
Exit codes:
  0  every SLA met (compare: no regression over budget)
  1  an SLA breached (compare: a regression over budget)
  2  invalid input: scenario, feeder, flags or files
  3  the run failed: target unreachable, nothing measured, results not written";

/// Load testing and capacity planning with exact latency histograms.
#[derive(Debug, Parser)]
#[command(name = "kneepoint", version, about, after_long_help = EXIT_CODES)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a scenario: drive the load, check SLAs, write results and reports.
    Run(run::RunArgs),
    /// Check a scenario file and report every problem at once.
    Validate(validate::ValidateArgs),
    /// Re-render the HTML report of a saved results file.
    Report(report::ReportArgs),
    /// Compare a baseline and a candidate run, with statistics.
    Compare(compare::CompareArgs),
    /// Trends and change points over many runs of one scenario.
    History(history::HistoryArgs),
    /// Merge results of one scenario run in parallel (shards) exactly.
    Merge(merge::MergeArgs),
    /// Find the capacity of a target: stepped load, knee, scalability fit.
    Capacity(capacity::CapacityArgs),
    /// Turn a demand forecast into instances and monthly cost.
    Plan(plan::PlanArgs),
    /// Start the bundled reference stack and keep it running until Ctrl-C.
    Stack(stack::StackArgs),
    /// Print shell completions.
    Completions(completions::CompletionsArgs),
}

impl Args {
    pub(crate) fn execute(self) -> Result<Outcome, Failure> {
        match self.command {
            Command::Run(a) => a.execute(),
            Command::Validate(a) => a.execute(),
            Command::Report(a) => a.execute(),
            Command::Compare(a) => a.execute(),
            Command::History(a) => a.execute(),
            Command::Merge(a) => a.execute(),
            Command::Capacity(a) => a.execute(),
            Command::Plan(a) => a.execute(),
            Command::Stack(a) => a.execute(),
            Command::Completions(a) => a.execute(),
        }
    }
}

/// Build the `clap` command (for completions).
pub(crate) fn command() -> clap::Command {
    <Args as clap::CommandFactory>::command()
}
