//! `kneepoint report`: the flags, as [`ReportOptions`].

use std::path::PathBuf;

use kneepoint::commands::report::{ReportOptions, report};
use kneepoint::{Failure, Outcome};

/// Flags of `kneepoint report`.
#[derive(Debug, clap::Args)]
pub(crate) struct ReportArgs {
    /// A results.json, capacity.json, plan.json, compare.json or history.json file, or a folder
    /// that holds one.
    #[arg(value_name = "FILE")]
    results: PathBuf,
    /// Where to write the HTML page [default: report.html, capacity.html, plan.html,
    /// compare.html or history.html next to the input].
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

impl ReportArgs {
    /// Render, write, print the path (exit 0), or exit 2 for an unreadable input.
    pub(crate) fn execute(self) -> Result<Outcome, Failure> {
        report(&ReportOptions {
            input: self.results,
            output: self.output,
        })
    }
}
