//! `kneepoint report`: re-render the HTML report of saved results, so old runs get the current
//! report. Reads a results file or a run folder; writes one HTML file.

use std::path::{Path, PathBuf};

use kneepoint::report::html::{HtmlReport, render_html};
use kneepoint::results::{ResultsError, RunResults};
use kneepoint::{Failure, Outcome};

/// Flags of `kneepoint report`.
#[derive(Debug, clap::Args)]
pub(crate) struct ReportArgs {
    /// A results.json file, or a run folder that holds one.
    #[arg(value_name = "RESULTS")]
    results: PathBuf,
    /// Where to write the HTML report [default: report.html next to the results].
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

impl ReportArgs {
    /// Render, write, print the path. Exit 0 once the report is written, whatever the verdict
    /// (the run already gated on it); unreadable or other-version results exit 2.
    pub(crate) fn execute(self) -> Result<Outcome, Failure> {
        let run = RunResults::read(&self.results).map_err(read_failure)?;
        let out = self.output.unwrap_or_else(|| default_output(&self.results));
        let html = render_html(&run).map_err(|e| Failure::run(miette::miette!("{}", chain(&e))))?;
        std::fs::write(&out, html).map_err(|e| {
            Failure::invalid(miette::miette!(
                "cannot write the report to `{}`: {e}",
                out.display()
            ))
        })?;
        println!("{}", out.display());
        Ok(Outcome::Passed)
    }
}

/// `report.html` in the run folder, or next to the results file.
fn default_output(results: &Path) -> PathBuf {
    let dir = if results.is_dir() {
        results
    } else {
        results.parent().unwrap_or_else(|| Path::new(""))
    };
    dir.join(HtmlReport::FILE_NAME)
}

fn read_failure(e: ResultsError) -> Failure {
    Failure::invalid(miette::miette!("{}", chain(&e)))
}

/// The error and its causes on one line, so the io/serde reason stays visible.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let cause = s.to_string();
        // Some errors already embed their source in their own message.
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
        cur = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/results")
            .join(name)
    }

    #[test]
    fn writes_report_next_to_a_run_folder() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::copy(
            fixture("report-closed.json"),
            dir.path().join("results.json"),
        )
        .expect("copy");
        let args = ReportArgs {
            results: dir.path().to_owned(),
            output: None,
        };
        assert_eq!(args.execute().expect("renders"), Outcome::Passed);
        let html = std::fs::read_to_string(dir.path().join("report.html")).expect("written");
        assert!(html.contains("Breached: 1 of 2 SLAs failed"));
    }

    #[test]
    fn honours_output_flag() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("x.html");
        let args = ReportArgs {
            results: fixture("report-open.json"),
            output: Some(out.clone()),
        };
        args.execute().expect("renders");
        assert!(
            std::fs::read_to_string(out)
                .expect("written")
                .contains("Open-model arrivals")
        );
    }

    #[test]
    fn other_schema_version_is_invalid_input() {
        let dir = tempfile::tempdir().expect("tempdir");
        let old = dir.path().join("old.json");
        std::fs::write(&old, r#"{"schema_version": 0, "scopes": []}"#).expect("write");
        let err = ReportArgs {
            results: old,
            output: None,
        }
        .execute()
        .expect_err("old schema");
        assert_eq!(err.exit_code(), std::process::ExitCode::from(2));
        let text = err.report().to_string();
        assert!(text.contains("schema_version 0"), "{text}");
        assert!(text.contains("reads version 1"), "{text}");
        assert!(!dir.path().join("report.html").exists());
    }

    #[test]
    fn missing_file_names_it() {
        let err = ReportArgs {
            results: PathBuf::from("/nonexistent/results.json"),
            output: None,
        }
        .execute()
        .expect_err("missing");
        assert_eq!(err.exit_code(), std::process::ExitCode::from(2));
        assert!(
            err.report()
                .to_string()
                .contains("/nonexistent/results.json")
        );
    }
}
