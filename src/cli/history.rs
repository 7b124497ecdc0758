//! `kneepoint history`.

use kneepoint::{Failure, Outcome};

/// Flags of `kneepoint history`.
#[derive(Debug, clap::Args)]
pub(crate) struct HistoryArgs {}

impl HistoryArgs {
    pub(crate) fn execute(self) -> Result<Outcome, Failure> {
        Err(Failure::invalid(miette::miette!(
            "`kneepoint history` is not part of this build yet"
        )))
    }
}
