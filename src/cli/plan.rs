//! `kneepoint plan`.

use kneepoint::{Failure, Outcome};

/// Flags of `kneepoint plan`.
#[derive(Debug, clap::Args)]
pub(crate) struct PlanArgs {}

impl PlanArgs {
    pub(crate) fn execute(self) -> Result<Outcome, Failure> {
        Err(Failure::invalid(miette::miette!(
            "`kneepoint plan` is not part of this build yet"
        )))
    }
}
