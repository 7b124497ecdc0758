//! `kneepoint validate`: the flags, as [`ValidateOptions`].

use std::path::PathBuf;

use kneepoint::commands::validate::{ValidateOptions, validate};
use kneepoint::scenario::Override;
use kneepoint::{Failure, Outcome};

/// Flags of `kneepoint validate`.
#[derive(Debug, clap::Args)]
pub(crate) struct ValidateArgs {
    /// Scenario file (TOML).
    scenario: PathBuf,
    /// Override a scenario value before checking, e.g. `--set load.users=50` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = Override::parse)]
    set: Vec<Override>,
}

impl ValidateArgs {
    pub(crate) fn execute(self) -> Result<Outcome, Failure> {
        validate(&ValidateOptions {
            scenario: self.scenario,
            overrides: self.set,
        })
    }
}
