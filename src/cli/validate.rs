//! `kneepoint validate`.

use kneepoint::{Failure, Outcome};

/// Flags of `kneepoint validate`.
#[derive(Debug, clap::Args)]
pub(crate) struct ValidateArgs {}

impl ValidateArgs {
    pub(crate) fn execute(self) -> Result<Outcome, Failure> {
        Err(Failure::invalid(miette::miette!(
            "`kneepoint validate` is not part of this build yet"
        )))
    }
}
