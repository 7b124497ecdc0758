//! `kneepoint stack`.

use kneepoint::{Failure, Outcome};

/// Flags of `kneepoint stack`.
#[derive(Debug, clap::Args)]
pub(crate) struct StackArgs {}

impl StackArgs {
    pub(crate) fn execute(self) -> Result<Outcome, Failure> {
        Err(Failure::invalid(miette::miette!(
            "`kneepoint stack` is not part of this build yet"
        )))
    }
}
