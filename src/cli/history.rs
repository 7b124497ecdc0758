//! `kneepoint history`: load many runs of one scenario, print the change points and series, and
//! write `history.json`.

use std::path::PathBuf;

use kneepoint::compare::Metric;
use kneepoint::error::chain;
use kneepoint::history::{self, HistoryOptions};
use kneepoint::output;
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
        let invalid = |e: &dyn std::error::Error| Failure::invalid(miette::miette!("{}", chain(e)));
        let runs = history::load_runs(&self.dirs).map_err(|e| invalid(&e))?;
        let mut opts = HistoryOptions {
            scope: self.scope.clone(),
            significance: self.significance,
            ..HistoryOptions::default()
        };
        if !self.metric.is_empty() {
            opts.metrics.clone_from(&self.metric);
        }
        if let Some(seed) = self.seed {
            opts.seed = seed;
        }
        let h = history::history(&runs, &opts).map_err(|e| invalid(&e))?;
        let out = self.out.clone().unwrap_or_else(|| self.default_out());
        let json = serde_json::to_string_pretty(&h)
            .map_err(|e| Failure::run(miette::miette!("cannot serialize the history: {e}")))?;
        let write = |name: &str, bytes: &[u8]| {
            output::write_files(&out, &[(name, bytes)])
                .map_err(|e| Failure::run(miette::miette!("{}", chain(&e))))
        };
        write("history.json", json.as_bytes())?;
        let html = kneepoint::report::html::render_history(&h)
            .map_err(|e| Failure::run(miette::miette!("cannot render history.html: {e}")))?;
        write("history.html", html.as_bytes())?;
        print!("{}", history::to_table(&h));
        eprintln!("wrote {}", out.join("history.json").display());
        Ok(Outcome::Passed)
    }

    /// With the runs: the first DIR when it is a folder of run folders, else beside it.
    fn default_out(&self) -> PathBuf {
        let first = self.dirs.first().cloned().unwrap_or_default();
        if first.is_dir() && !first.join("results.json").is_file() {
            first
        } else {
            first
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map_or_else(|| PathBuf::from("."), std::path::Path::to_path_buf)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;
    use std::path::Path;

    #[derive(Debug, clap::Parser)]
    struct Wrap {
        #[command(flatten)]
        args: HistoryArgs,
    }

    fn args(argv: &[&str]) -> HistoryArgs {
        let mut full = vec!["history"];
        full.extend_from_slice(argv);
        Wrap::try_parse_from(full).expect("flags parse").args
    }

    #[test]
    fn runs_over_a_folder_of_runs_and_writes_history_json() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/compare");
        for (i, name) in ["baseline.json", "slower.json"].iter().enumerate() {
            let run = dir.path().join(format!("run-{i}"));
            std::fs::create_dir_all(&run).expect("mkdir");
            std::fs::copy(fixtures.join(name), run.join("results.json")).expect("copy");
        }
        let d = dir.path().display().to_string();
        let r = args(&[&d, "--metric", "p95", "--metric", "mean"]).execute();
        assert_eq!(r.expect("history"), Outcome::Passed);
        let text = std::fs::read_to_string(dir.path().join("history.json")).expect("written");
        let v: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert_eq!(v["runs"].as_array().map(Vec::len), Some(2));
        assert_eq!(v["series"].as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn a_folder_without_runs_is_invalid_input() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().display().to_string();
        match args(&[&d]).execute() {
            Err(f @ Failure::Invalid(_)) => {
                let msg = format!("{:?}", f.report());
                assert!(msg.contains("no results.json"), "{msg}");
            }
            other => panic!("expected invalid input, got {other:?}"),
        }
        assert!(Wrap::try_parse_from(["history", "x", "--metric", "p42"]).is_err());
    }
}
