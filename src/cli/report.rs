//! `kneepoint report`: re-render the HTML page of a saved file, so old runs get the current
//! page. Reads a run's `results.json` (or its folder), a `capacity.json`, `plan.json`,
//! `compare.json` or `history.json`, telling them apart by their content; writes one HTML file
//! next to it.

use std::path::{Path, PathBuf};

use kneepoint::capacity::CapacityReport;
use kneepoint::compare::Comparison;
use kneepoint::error::chain;
use kneepoint::history::History;
use kneepoint::output;
use kneepoint::planning::CostPlan;
use kneepoint::report::html::{
    HtmlReport, render_capacity, render_compare, render_history, render_html, render_plan,
};
use kneepoint::report::pages;
use kneepoint::results::{ResultsError, RunResults};
use kneepoint::{Failure, Outcome};

/// Flags of `kneepoint report`.
#[derive(Debug, clap::Args)]
pub(crate) struct ReportArgs {
    /// A results.json, capacity.json, plan.json, compare.json or history.json file, or a folder
    /// that holds one.
    #[arg(value_name = "FILE")]
    results: PathBuf,
    /// Where to write the HTML page [default: report.html, capacity.html, plan.html,
    /// compare.html or history.html next to the input].
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

/// What a JSON file holds, judged by its top-level keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Run,
    Capacity,
    Plan,
    Compare,
    History,
}

impl Kind {
    fn file_name(self) -> &'static str {
        match self {
            Self::Run => HtmlReport::FILE_NAME,
            Self::Capacity => pages::capacity::FILE_NAME,
            Self::Plan => pages::plan::FILE_NAME,
            Self::Compare => pages::compare::FILE_NAME,
            Self::History => pages::history::FILE_NAME,
        }
    }

    /// A capacity report has `steps` and `analysis`, a plan `months` and `derivation`, a
    /// comparison `baseline`, `candidate` and `summary`, a history `runs` and `series`; anything
    /// else is read as run results, whose reader gives the precise error.
    fn of(value: &serde_json::Value) -> Self {
        let has = |k: &str| value.get(k).is_some();
        if has("steps") && has("analysis") {
            Self::Capacity
        } else if has("months") && has("derivation") {
            Self::Plan
        } else if has("baseline") && has("candidate") && has("summary") {
            Self::Compare
        } else if has("runs") && has("series") {
            Self::History
        } else {
            Self::Run
        }
    }
}

/// The file to read: the input itself, or in a folder the first of results.json,
/// capacity.json, plan.json, compare.json, history.json that exists.
fn input_file(path: &Path) -> PathBuf {
    if !path.is_dir() {
        return path.to_owned();
    }
    [
        "results.json",
        "capacity.json",
        "plan.json",
        "compare.json",
        "history.json",
    ]
    .iter()
    .map(|f| path.join(f))
    .find(|p| p.is_file())
    .unwrap_or_else(|| path.join("results.json"))
}

impl ReportArgs {
    /// Render, write, print the path. Exit 0 once the page is written, whatever the verdict
    /// (the run already gated on it); unreadable or other-version inputs exit 2.
    pub(crate) fn execute(self) -> Result<Outcome, Failure> {
        let file = input_file(&self.results);
        let text = std::fs::read_to_string(&file).map_err(|e| {
            Failure::invalid(miette::miette!("cannot read `{}`: {e}", file.display()))
        })?;
        let kind =
            serde_json::from_str::<serde_json::Value>(&text).map_or(Kind::Run, |v| Kind::of(&v));
        let render_failure =
            |e: kneepoint::report::html::HtmlError| Failure::run(miette::miette!("{}", chain(&e)));
        let invalid = |what: &str, e: serde_json::Error| {
            Failure::invalid(miette::miette!(
                "`{}` looks like a {what} but cannot be read: {e}",
                file.display()
            ))
        };
        let html = match kind {
            Kind::Run => {
                let run = RunResults::read(&file).map_err(read_failure)?;
                render_html(&run).map_err(render_failure)?
            }
            Kind::Capacity => {
                let report: CapacityReport =
                    serde_json::from_str(&text).map_err(|e| invalid("capacity.json", e))?;
                render_capacity(&report).map_err(render_failure)?
            }
            Kind::Plan => {
                let plan: CostPlan =
                    serde_json::from_str(&text).map_err(|e| invalid("plan.json", e))?;
                render_plan(&plan).map_err(render_failure)?
            }
            Kind::Compare => {
                let c: Comparison =
                    serde_json::from_str(&text).map_err(|e| invalid("compare.json", e))?;
                render_compare(&c).map_err(render_failure)?
            }
            Kind::History => {
                let h: History =
                    serde_json::from_str(&text).map_err(|e| invalid("history.json", e))?;
                render_history(&h).map_err(render_failure)?
            }
        };
        let out = self
            .output
            .unwrap_or_else(|| default_output(&file, kind.file_name()));
        output::write_file(&out, html.as_bytes()).map_err(|e| {
            Failure::invalid(miette::miette!("cannot write the report: {}", chain(&e)))
        })?;
        println!("{}", out.display());
        Ok(Outcome::Passed)
    }
}

/// `name` next to the input file.
fn default_output(file: &Path, name: &str) -> PathBuf {
    file.parent().unwrap_or_else(|| Path::new("")).join(name)
}

fn read_failure(e: ResultsError) -> Failure {
    Failure::invalid(miette::miette!("{}", chain(&e)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

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
        assert!(text.contains("reads versions 1 to 2"), "{text}");
        assert!(!dir.path().join("report.html").exists());
    }

    #[test]
    fn capacity_and_plan_files_are_told_apart_by_content() {
        use kneepoint::capacity::points::{PointsOptions, steps_from_csv};
        use kneepoint::capacity::{AnalysisOptions, SearchModel};
        let root = env!("CARGO_MANIFEST_DIR");
        let dir = tempfile::tempdir().expect("tempdir");
        let csv = std::fs::read_to_string(format!("{root}/scenarios/capacity/points-example.csv"))
            .expect("csv");
        let steps = steps_from_csv(
            "points-example.csv",
            &csv,
            &PointsOptions {
                p95_limit_ms: Some(60.0),
            },
        )
        .expect("points");
        let report = CapacityReport::new(
            "points-example.csv",
            "points",
            SearchModel::Closed,
            steps,
            &AnalysisOptions::default(),
        );
        let cap = dir.path().join("capacity.json");
        std::fs::write(&cap, serde_json::to_vec(&report).expect("json")).expect("write");
        ReportArgs {
            results: cap,
            output: None,
        }
        .execute()
        .expect("renders");
        let html = std::fs::read_to_string(dir.path().join("capacity.html")).expect("written");
        assert!(html.contains("kneepoint capacity") && html.contains("id=\"throughput\""));

        // A folder holding only a plan.json gets plan.html.
        let plans = dir.path().join("plan");
        std::fs::create_dir(&plans).expect("mkdir");
        let plan = crate::cli::Args::try_parse_from([
            "kneepoint",
            "plan",
            &format!("{root}/scenarios/capacity/forecast-example.toml"),
            "--out",
            plans.to_str().expect("utf8"),
        ])
        .expect("flags");
        plan.execute().expect("plans");
        std::fs::remove_file(plans.join("plan.html")).expect("rm");
        ReportArgs {
            results: plans.clone(),
            output: None,
        }
        .execute()
        .expect("renders");
        let html = std::fs::read_to_string(plans.join("plan.html")).expect("written");
        assert!(html.contains("kneepoint plan"));

        // Broken capacity content is bad input, named.
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, r#"{"steps": 3, "analysis": {}}"#).expect("write");
        let err = ReportArgs {
            results: bad,
            output: None,
        }
        .execute()
        .expect_err("bad");
        assert_eq!(err.exit_code(), std::process::ExitCode::from(2));
        assert!(err.report().to_string().contains("capacity.json"));
    }

    #[test]
    fn compare_and_history_files_get_their_pages() {
        let root = env!("CARGO_MANIFEST_DIR");
        let fixtures = format!("{root}/tests/fixtures/compare");
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("cmp");
        let args = crate::cli::Args::try_parse_from([
            "kneepoint",
            "compare",
            &format!("{fixtures}/baseline.json"),
            &format!("{fixtures}/slower.json"),
            "--out",
            out.to_str().expect("utf8"),
        ])
        .expect("flags");
        // Exit 1 (a regression) or 0: either way compare.json is written.
        let _ = args.execute();
        ReportArgs {
            results: out.join("compare.json"),
            output: None,
        }
        .execute()
        .expect("renders");
        let html = std::fs::read_to_string(out.join("compare.html")).expect("written");
        assert!(html.contains("kneepoint compare") && html.contains("-curves\""));

        let runs = dir.path().join("runs");
        for (i, name) in ["baseline.json", "slower.json"].iter().enumerate() {
            let run = runs.join(format!("run-{i}"));
            std::fs::create_dir_all(&run).expect("mkdir");
            std::fs::copy(format!("{fixtures}/{name}"), run.join("results.json")).expect("copy");
        }
        let args = crate::cli::Args::try_parse_from([
            "kneepoint",
            "history",
            runs.to_str().expect("utf8"),
        ])
        .expect("flags");
        args.execute().expect("history");
        ReportArgs {
            results: runs.join("history.json"),
            output: None,
        }
        .execute()
        .expect("renders");
        let html = std::fs::read_to_string(runs.join("history.html")).expect("written");
        assert!(html.contains("kneepoint history") && html.contains("id=\"trend-p95\""));
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
