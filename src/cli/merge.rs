//! `kneepoint merge`: the flags, as [`MergeOptions`].

use std::path::PathBuf;

use kneepoint::commands::merge::{MergeOptions, merge};
use kneepoint::{Failure, Outcome};

/// Flags of `kneepoint merge`.
#[derive(Debug, clap::Args)]
pub(crate) struct MergeArgs {
    /// Results files, or run folders holding `results.json`, of one scenario run in parallel.
    #[arg(required = true, value_name = "RESULTS")]
    inputs: Vec<PathBuf>,
    /// Folder for the merged `results.json`, `summary.csv` and `junit.xml`.
    #[arg(short, long, value_name = "OUT_DIR")]
    out: PathBuf,
    /// Print nothing on success.
    #[arg(short, long)]
    quiet: bool,
}

impl MergeArgs {
    pub(crate) fn execute(self) -> Result<Outcome, Failure> {
        merge(&MergeOptions {
            inputs: self.inputs,
            out: self.out,
            quiet: self.quiet,
        })
    }
}
