//! `kneepoint history`: the flags, as a [`HistoryCommand`].

use std::path::PathBuf;

use kneepoint::commands::history::{HistoryCommand, history};
use kneepoint::compare::Metric;
use kneepoint::history::HistoryOptions;
use kneepoint::{Failure, Outcome};

/// Flags of `kneepoint history`.
#[derive(Debug, clap::Args)]
pub(crate) struct HistoryArgs {
    /// Run folders, folders of run folders, or results.json files.
    #[arg(required = true, value_name = "DIR")]
    dirs: Vec<PathBuf>,
    /// Metric to analyse (repeatable; all by default): p50, p95, p99, mean, max, throughput,
    /// error_rate.
    #[arg(long)]
    metric: Vec<Metric>,
    /// Scope to follow: `overall`, a transaction, or `transaction/request`.
    #[arg(long, default_value = "overall")]
    scope: String,
    /// Folder for history.json [default: the first DIR if it holds run folders, else its
    /// parent].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Family-wise significance of a change point.
    #[arg(long, default_value_t = HistoryOptions::default().significance)]
    significance: f64,
    /// Seed of the permutation tests.
    #[arg(long)]
    seed: Option<u64>,
}

impl HistoryArgs {
    pub(crate) fn execute(self) -> Result<Outcome, Failure> {
        let mut analysis = HistoryOptions {
            scope: self.scope,
            significance: self.significance,
            ..HistoryOptions::default()
        };
        if !self.metric.is_empty() {
            analysis.metrics = self.metric;
        }
        if let Some(seed) = self.seed {
            analysis.seed = seed;
        }
        history(&HistoryCommand {
            dirs: self.dirs,
            out: self.out,
            analysis,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    #[derive(Debug, clap::Parser)]
    struct Wrap {
        #[command(flatten)]
        args: HistoryArgs,
    }

    #[test]
    fn an_unknown_metric_is_refused_by_the_parser() {
        assert!(Wrap::try_parse_from(["history", "x", "--metric", "p42"]).is_err());
    }
}
