//! `kneepoint report`.

use kneepoint::{Failure, Outcome};

/// Flags of `kneepoint report`.
#[derive(Debug, clap::Args)]
pub(crate) struct ReportArgs {}

impl ReportArgs {
    pub(crate) fn execute(self) -> Result<Outcome, Failure> {
        Err(Failure::invalid(miette::miette!(
            "`kneepoint report` is not part of this build yet"
        )))
    }
}
