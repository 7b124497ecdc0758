//! `kneepoint report`: re-render the HTML page of a saved file, so old runs get the current
//! page. Reads a run's `results.json` (or its folder), a `capacity.json`, `plan.json`,
//! `compare.json` or `history.json`, telling them apart by their content; writes one HTML file
//! next to it.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use crate::capacity::CapacityReport;
use crate::compare::Comparison;
use crate::error::chain;
use crate::history::History;
use crate::output;
use crate::planning::CostPlan;
use crate::report::html::{
    HtmlError, HtmlReport, render_capacity, render_compare, render_history, render_html,
    render_plan,
};
use crate::report::pages;
use crate::results::RunResults;
use crate::{Failure, Outcome};

/// What `kneepoint report` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct ReportOptions {
    /// A results.json, capacity.json, plan.json, compare.json or history.json file, or a folder
    /// that holds one.
    pub input: PathBuf,
    /// Where to write the HTML page (default: the kind's page name next to the input).
    pub output: Option<PathBuf>,
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

/// Render, write, print the path. Exit 0 once the page is written, whatever the verdict (the
/// run already gated on it); unreadable or other-version inputs exit 2.
pub fn report(opts: &ReportOptions) -> Result<Outcome, Failure> {
    let file = input_file(&opts.input);
    let text = std::fs::read_to_string(&file)
        .map_err(|e| Failure::invalid(miette::miette!("cannot read `{}`: {e}", file.display())))?;
    let kind = serde_json::from_str::<serde_json::Value>(&text).map_or(Kind::Run, |v| Kind::of(&v));
    let saved = Saved {
        file: &file,
        text: &text,
    };
    let html = match kind {
        Kind::Run => {
            let run = RunResults::read(&file)
                .map_err(|e| Failure::invalid(miette::miette!("{}", chain(&e))))?;
            render_html(&run).map_err(render_failure)?
        }
        Kind::Capacity => saved.render::<CapacityReport>("capacity.json", render_capacity)?,
        Kind::Plan => saved.render::<CostPlan>("plan.json", render_plan)?,
        Kind::Compare => saved.render::<Comparison>("compare.json", render_compare)?,
        Kind::History => saved.render::<History>("history.json", render_history)?,
    };
    let out = opts
        .output
        .clone()
        .unwrap_or_else(|| default_output(&file, kind.file_name()));
    output::write_file(&out, html.as_bytes())
        .map_err(|e| Failure::invalid(miette::miette!("cannot write the report: {}", chain(&e))))?;
    println!("{}", out.display());
    Ok(Outcome::Passed)
}

/// A saved analysis file and its text.
struct Saved<'a> {
    file: &'a Path,
    text: &'a str,
}

impl Saved<'_> {
    /// Read the text as a `what` (e.g. `capacity.json`) and render its page. Content that does
    /// not fit is invalid input, named.
    fn render<T: DeserializeOwned>(
        &self,
        what: &str,
        page: fn(&T) -> Result<String, HtmlError>,
    ) -> Result<String, Failure> {
        let value: T = serde_json::from_str(self.text).map_err(|e| {
            Failure::invalid(miette::miette!(
                "`{}` looks like a {what} but cannot be read: {e}",
                self.file.display()
            ))
        })?;
        page(&value).map_err(render_failure)
    }
}

fn render_failure(e: HtmlError) -> Failure {
    Failure::run(miette::miette!("{}", chain(&e)))
}

/// `name` next to the input file.
fn default_output(file: &Path, name: &str) -> PathBuf {
    file.parent().unwrap_or_else(|| Path::new("")).join(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/results")
            .join(name)
    }

    /// The page of `input`, written next to it.
    fn render(input: impl Into<PathBuf>) -> Result<Outcome, Failure> {
        report(&ReportOptions {
            input: input.into(),
            output: None,
        })
    }

    #[test]
    fn writes_report_next_to_a_run_folder() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::copy(
            fixture("report-closed.json"),
            dir.path().join("results.json"),
        )
        .expect("copy");
        assert_eq!(render(dir.path()).expect("renders"), Outcome::Passed);
        let html = std::fs::read_to_string(dir.path().join("report.html")).expect("written");
        assert!(html.contains("Breached: 1 of 2 SLAs failed"));
    }

    #[test]
    fn honours_output_flag() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("x.html");
        report(&ReportOptions {
            input: fixture("report-open.json"),
            output: Some(out.clone()),
        })
        .expect("renders");
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
        let err = render(old).expect_err("old schema");
        assert_eq!(err.exit_code(), std::process::ExitCode::from(2));
        let text = err.report().to_string();
        assert!(text.contains("schema_version 0"), "{text}");
        assert!(text.contains("reads versions 1 to 2"), "{text}");
        assert!(!dir.path().join("report.html").exists());
    }

    #[test]
    fn capacity_and_plan_files_are_told_apart_by_content() {
        use crate::capacity::points::{PointsOptions, steps_from_csv};
        use crate::capacity::{AnalysisOptions, SearchModel};
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
        let capacity = CapacityReport::new(
            "points-example.csv",
            "points",
            SearchModel::Closed,
            steps,
            &AnalysisOptions::default(),
        );
        let cap = dir.path().join("capacity.json");
        std::fs::write(&cap, serde_json::to_vec(&capacity).expect("json")).expect("write");
        render(cap).expect("renders");
        let html = std::fs::read_to_string(dir.path().join("capacity.html")).expect("written");
        assert!(html.contains("kneepoint capacity") && html.contains("id=\"throughput\""));

        // A folder holding only a plan.json gets plan.html.
        let plans = dir.path().join("plan");
        std::fs::create_dir(&plans).expect("mkdir");
        super::super::plan::plan(&super::super::plan::PlanOptions {
            forecast: Path::new(root).join("scenarios/capacity/forecast-example.toml"),
            out: plans.clone(),
            catalogue: None,
        })
        .expect("plans");
        std::fs::remove_file(plans.join("plan.html")).expect("rm");
        render(&plans).expect("renders");
        let html = std::fs::read_to_string(plans.join("plan.html")).expect("written");
        assert!(html.contains("kneepoint plan"));

        // Broken capacity content is bad input, named.
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, r#"{"steps": 3, "analysis": {}}"#).expect("write");
        let err = render(bad).expect_err("bad");
        assert_eq!(err.exit_code(), std::process::ExitCode::from(2));
        assert!(err.report().to_string().contains("capacity.json"));
    }

    #[test]
    fn compare_and_history_files_get_their_pages() {
        use super::super::compare::{CompareCommand, compare};
        use super::super::history::{HistoryCommand, history};
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/compare");
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("cmp");
        // Exit 1 (a regression) or 0: either way compare.json is written.
        let _ = compare(&CompareCommand {
            baseline: fixtures.join("baseline.json"),
            candidate: fixtures.join("slower.json"),
            out: Some(out.clone()),
            ..CompareCommand::default()
        });
        render(out.join("compare.json")).expect("renders");
        let html = std::fs::read_to_string(out.join("compare.html")).expect("written");
        assert!(html.contains("kneepoint compare") && html.contains("-curves\""));

        let runs = dir.path().join("runs");
        for (i, name) in ["baseline.json", "slower.json"].iter().enumerate() {
            let run = runs.join(format!("run-{i}"));
            std::fs::create_dir_all(&run).expect("mkdir");
            std::fs::copy(fixtures.join(name), run.join("results.json")).expect("copy");
        }
        history(&HistoryCommand {
            dirs: vec![runs.clone()],
            ..HistoryCommand::default()
        })
        .expect("history");
        render(runs.join("history.json")).expect("renders");
        let html = std::fs::read_to_string(runs.join("history.html")).expect("written");
        assert!(html.contains("kneepoint history") && html.contains("id=\"trend-p95\""));
    }

    #[test]
    fn missing_file_names_it() {
        let err = render("/nonexistent/results.json").expect_err("missing");
        assert_eq!(err.exit_code(), std::process::ExitCode::from(2));
        assert!(
            err.report()
                .to_string()
                .contains("/nonexistent/results.json")
        );
    }
}
