//! `kneepoint plan`: the flags, as [`PlanOptions`].

use std::path::PathBuf;

use kneepoint::commands::plan::{PlanOptions, plan};
use kneepoint::{Failure, Outcome};

/// Flags of `kneepoint plan`.
#[derive(Debug, clap::Args)]
pub(crate) struct PlanArgs {
    /// Forecast file (TOML): demand, capacity per instance, utilisation, redundancy.
    forecast: PathBuf,
    /// Folder for plan.json, plan.csv and plan.html.
    #[arg(long, value_name = "DIR", default_value = ".")]
    out: PathBuf,
    /// Instance and price catalogue (instead of the forecast's `catalogue = ...`).
    #[arg(long, value_name = "FILE")]
    catalogue: Option<PathBuf>,
}

impl PlanArgs {
    pub(crate) fn execute(self) -> Result<Outcome, Failure> {
        plan(&PlanOptions {
            forecast: self.forecast,
            out: self.out,
            catalogue: self.catalogue,
        })
    }
}
