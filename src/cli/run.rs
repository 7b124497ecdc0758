//! `kneepoint run`.

use kneepoint::{Failure, Outcome};

/// Flags of `kneepoint run`.
#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {}

impl RunArgs {
    pub(crate) fn execute(self) -> Result<Outcome, Failure> {
        Err(Failure::invalid(miette::miette!(
            "`kneepoint run` is not part of this build yet"
        )))
    }
}
