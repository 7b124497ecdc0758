//! kneepoint: load testing and capacity planning.
//!
//! A scenario file (TOML) describes a target, a load profile, weighted transactions of templated
//! requests, feeders, checks and SLAs. [`run`] drives the load with goose, records every latency
//! in microsecond HdrHistograms, checks the SLAs and writes [`results::RunResults`] plus reports.
//! Later commands read those results: capacity search, cost planning, comparison, merging.
//!
//! Data flows one way: `scenario → plan → driver → recorder → results → {sla, report, compare,
//! capacity}`; see ARCHITECTURE.md.

pub mod capacity;
pub mod commands;
pub mod compare;
pub mod diagnostic;
pub(crate) mod driver;
pub mod error;
pub(crate) mod health;
pub mod history;
#[cfg(test)]
mod layers;
pub mod merge;
pub mod output;
pub mod plan;
pub mod planning;
pub(crate) mod progress;
pub(crate) mod reachability;
pub mod recorder;
pub mod report;
pub mod results;
pub mod run;
pub mod scenario;
pub(crate) mod scrape;
pub(crate) mod server_series;
pub(crate) mod settings;
pub mod shard;
pub(crate) mod sla;
pub mod stack;
pub(crate) mod step_runner;
pub mod template;
#[cfg(test)]
mod testing;
pub mod values;

pub use error::{Failure, Outcome};
pub use results::RunResults;
pub use scenario::model::Scenario;
