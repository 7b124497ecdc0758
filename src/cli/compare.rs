//! `kneepoint compare`.

use kneepoint::{Failure, Outcome};

/// Flags of `kneepoint compare`.
#[derive(Debug, clap::Args)]
pub(crate) struct CompareArgs {}

impl CompareArgs {
    pub(crate) fn execute(self) -> Result<Outcome, Failure> {
        Err(Failure::invalid(miette::miette!(
            "`kneepoint compare` is not part of this build yet"
        )))
    }
}
