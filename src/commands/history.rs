//! `kneepoint history`: load many runs of one scenario, print the change points and series, and
//! write `history.json` and `history.html`.

use std::path::{Path, PathBuf};

use super::write_files;
use crate::error::chain;
use crate::history::{self, HistoryOptions};
use crate::{Failure, Outcome};

/// What `kneepoint history` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct HistoryCommand {
    /// Run folders, folders of run folders, or results.json files.
    pub dirs: Vec<PathBuf>,
    /// Output folder (default: the first of `dirs` if it holds run folders, else its parent).
    pub out: Option<PathBuf>,
    /// Metrics, scope, significance and seed of the analysis.
    pub analysis: HistoryOptions,
}

/// Analyse the runs, write `history.json` and `history.html`, print the table: exit 0, or 2 when
/// the runs cannot be read or analysed, 3 when the outputs cannot be written.
pub fn history(cmd: &HistoryCommand) -> Result<Outcome, Failure> {
    let invalid = |e: &dyn std::error::Error| Failure::invalid(miette::miette!("{}", chain(e)));
    let runs = history::load_runs(&cmd.dirs).map_err(|e| invalid(&e))?;
    let h = history::history(&runs, &cmd.analysis).map_err(|e| invalid(&e))?;
    let out = cmd.out.clone().unwrap_or_else(|| default_out(&cmd.dirs));
    let json = serde_json::to_string_pretty(&h)
        .map_err(|e| Failure::run(miette::miette!("cannot serialize the history: {e}")))?;
    write_files(&out, &[("history.json", json.as_bytes())])?;
    let html = crate::report::html::render_history(&h)
        .map_err(|e| Failure::run(miette::miette!("cannot render history.html: {e}")))?;
    write_files(&out, &[("history.html", html.as_bytes())])?;
    print!("{}", history::to_table(&h));
    eprintln!("wrote {}", out.join("history.json").display());
    Ok(Outcome::Passed)
}

/// With the runs: the first folder when it is a folder of run folders, else beside it.
fn default_out(dirs: &[PathBuf]) -> PathBuf {
    let first = dirs.first().cloned().unwrap_or_default();
    if first.is_dir() && !first.join("results.json").is_file() {
        first
    } else {
        first
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::Metric;

    #[test]
    fn runs_over_a_folder_of_runs_and_writes_history_json() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/compare");
        for (i, name) in ["baseline.json", "slower.json"].iter().enumerate() {
            let run = dir.path().join(format!("run-{i}"));
            std::fs::create_dir_all(&run).expect("mkdir");
            std::fs::copy(fixtures.join(name), run.join("results.json")).expect("copy");
        }
        let r = history(&HistoryCommand {
            dirs: vec![dir.path().to_owned()],
            analysis: HistoryOptions {
                metrics: vec![Metric::P95, Metric::Mean],
                ..HistoryOptions::default()
            },
            ..HistoryCommand::default()
        });
        assert_eq!(r.expect("history"), Outcome::Passed);
        let text = std::fs::read_to_string(dir.path().join("history.json")).expect("written");
        let v: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert_eq!(v["runs"].as_array().map(Vec::len), Some(2));
        assert_eq!(v["series"].as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn a_folder_without_runs_is_invalid_input() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cmd = HistoryCommand {
            dirs: vec![dir.path().to_owned()],
            ..HistoryCommand::default()
        };
        match history(&cmd) {
            Err(f @ Failure::Invalid(_)) => {
                let msg = format!("{:?}", f.report());
                assert!(msg.contains("no results.json"), "{msg}");
            }
            other => panic!("expected invalid input, got {other:?}"),
        }
    }
}
