//! `kneepoint capacity`.

use kneepoint::{Failure, Outcome};

/// Flags of `kneepoint capacity`.
#[derive(Debug, clap::Args)]
pub(crate) struct CapacityArgs {}

impl CapacityArgs {
    pub(crate) fn execute(self) -> Result<Outcome, Failure> {
        Err(Failure::invalid(miette::miette!(
            "`kneepoint capacity` is not part of this build yet"
        )))
    }
}
