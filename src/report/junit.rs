//! `junit.xml`: SLA verdicts as JUnit test cases, for CI systems that display test reports.
//!
//! Invariant: one test suite per run (named after the scenario) and one test case per SLA, failed
//! exactly when the verdict failed; a run that did not complete adds a failing `run status` case,
//! so a CI report can never look green for a run that stopped early.

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use crate::report::{Exporter, ReportError, summary};
use crate::results::{RunResults, RunStatus, SlaVerdict};
use crate::sla::format_value;

/// Writes `junit.xml`.
#[derive(Debug, Clone, Copy, Default)]
pub struct JunitExporter;

impl Exporter for JunitExporter {
    fn render(&self, run: &RunResults) -> Result<Vec<u8>, ReportError> {
        let mut suite = TestSuite::new(run.scenario.name.as_str());
        suite.set_time(std::time::Duration::from_secs_f64(run.duration_s.max(0.0)));
        suite.add_properties([
            Property::new("run_id", run.run_id.as_str()),
            Property::new("target", run.target.as_str()),
            Property::new("scenario_sha256", run.scenario.sha256.as_str()),
            Property::new("started_at", run.started_at.to_string()),
        ]);
        for verdict in &run.slas {
            suite.add_test_case(sla_case(&run.scenario.name, verdict));
        }
        if let Some(case) = status_case(&run.scenario.name, &run.status) {
            suite.add_test_case(case);
        }
        suite.set_system_out(summary::render_summary(run, false));
        let mut report = Report::new("kneepoint");
        report.add_test_suite(suite);
        let mut out = Vec::new();
        report
            .serialize(&mut out)
            .map_err(|e| ReportError::Render {
                format: "junit.xml",
                message: e.to_string(),
            })?;
        Ok(out)
    }

    fn file_name(&self) -> &'static str {
        "junit.xml"
    }
}

/// The failure text of a verdict: actual vs threshold in human units.
pub fn failure_message(v: &SlaVerdict) -> String {
    let threshold = format!("{} {}", v.comparison, format_value(v.threshold, &v.unit));
    match v.actual {
        Some(actual) => format!(
            "actual {} vs threshold {threshold}",
            format_value(actual, &v.unit)
        ),
        None => format!(
            "no measurement in scope `{}` vs threshold {threshold}",
            v.scope
        ),
    }
}

fn sla_case(scenario: &str, v: &SlaVerdict) -> TestCase {
    let status = if v.passed {
        TestCaseStatus::success()
    } else {
        let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
        s.set_message(failure_message(v));
        s.set_type("sla breached");
        s
    };
    let mut case = TestCase::new(v.name.as_str(), status);
    case.set_classname(format!("{scenario}.sla"));
    case
}

fn status_case(scenario: &str, status: &RunStatus) -> Option<TestCase> {
    let (kind, message) = match status {
        RunStatus::Completed => return None,
        RunStatus::InProgress => (
            NonSuccessKind::Failure,
            "run still in progress (checkpoint file)".to_owned(),
        ),
        RunStatus::Interrupted => (NonSuccessKind::Failure, "run interrupted".to_owned()),
        RunStatus::Aborted { reason } => {
            (NonSuccessKind::Failure, format!("run aborted: {reason}"))
        }
        // The run itself broke: JUnit's `error` (not `failure`) says the test could not run.
        RunStatus::Failed { reason } => (NonSuccessKind::Error, format!("run failed: {reason}")),
    };
    let mut s = TestCaseStatus::non_success(kind);
    s.set_message(message);
    let mut case = TestCase::new("run status", s);
    case.set_classname(format!("{scenario}.run"));
    Some(case)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::simulated as fixtures;

    fn xml(run: &RunResults) -> String {
        String::from_utf8(JunitExporter.render(run).expect("renders")).expect("utf-8")
    }

    #[test]
    fn a_case_per_sla_and_failures_with_numbers() {
        let run = fixtures::closed_run();
        let text = xml(&run);
        assert_eq!(text.matches("<testcase ").count(), run.slas.len(), "{text}");
        let failed = run.slas.iter().filter(|v| !v.passed).count();
        assert!(failed > 0);
        assert_eq!(text.matches("<failure ").count(), failed, "{text}");
        assert!(
            text.contains(&format!("tests=\"{}\"", run.slas.len())),
            "{text}"
        );
        assert!(text.contains(&format!("failures=\"{failed}\"")), "{text}");
        assert!(!text.contains("run status"));
        for v in run.slas.iter().filter(|v| !v.passed) {
            let msg = failure_message(v);
            assert!(msg.starts_with("actual "), "{msg}");
            let escaped = msg.replace('<', "&lt;").replace('>', "&gt;");
            assert!(text.contains(&escaped), "missing {escaped}");
        }
    }

    #[test]
    fn messages_use_human_units() {
        let mut v = fixtures::closed_run().slas[0].clone();
        (v.unit, v.actual, v.threshold, v.comparison) =
            ("us".into(), Some(312_456.0), 250_000.0, "<".into());
        assert_eq!(
            failure_message(&v),
            "actual 312.456ms vs threshold < 250.000ms"
        );
        (v.unit, v.actual, v.threshold) = ("ratio".into(), Some(0.0123), 0.005);
        assert_eq!(failure_message(&v), "actual 1.23% vs threshold < 0.5%");
        (v.unit, v.actual, v.threshold, v.comparison) =
            ("per_s".into(), Some(8.26), 10.0, ">=".into());
        assert_eq!(failure_message(&v), "actual 8.3/s vs threshold >= 10/s");
        v.actual = None;
        assert!(failure_message(&v).starts_with("no measurement in scope `"));
    }

    #[test]
    fn unfinished_runs_add_a_failing_status_case() {
        let mut run = fixtures::open_run();
        let text = xml(&run);
        assert!(text.contains("name=\"run status\""), "{text}");
        assert!(text.contains("run interrupted"), "{text}");
        run.status = RunStatus::Failed {
            reason: "target unreachable".into(),
        };
        let text = xml(&run);
        assert!(
            text.contains("<error ") && text.contains("run failed: target unreachable"),
            "{text}"
        );
    }
}
