//! `kneepoint merge`.

use kneepoint::{Failure, Outcome};

/// Flags of `kneepoint merge`.
#[derive(Debug, clap::Args)]
pub(crate) struct MergeArgs {}

impl MergeArgs {
    pub(crate) fn execute(self) -> Result<Outcome, Failure> {
        Err(Failure::invalid(miette::miette!(
            "`kneepoint merge` is not part of this build yet"
        )))
    }
}
