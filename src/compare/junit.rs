//! JUnit XML of a comparison: one test case per gated metric, failed when its gate failed.
//!
//! Invariant: CI systems count the cases, so exactly the gated metrics appear, in table order.

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::{CompareError, Comparison, Gate};

/// Render a comparison as JUnit XML.
pub fn to_junit(c: &Comparison) -> Result<String, CompareError> {
    let mut suite = TestSuite::new(format!("kneepoint compare {}", c.scenario));
    for (scope, m) in c.gated() {
        let change = match m.relative {
            Some(r) => format!("{:+.2} %", r * 100.0),
            None => m.unit.format_delta(m.delta),
        };
        let detail = format!(
            "{} {}: {} → {} ({change}); interval {}; verdict {:?}; budget {}",
            scope.name,
            m.metric,
            m.unit.format(m.baseline),
            m.unit.format(m.candidate),
            m.interval.map_or_else(
                || "n/a".to_owned(),
                |i| format!(
                    "[{}, {}]",
                    m.unit.format_delta(i.lo),
                    m.unit.format_delta(i.hi)
                )
            ),
            m.verdict,
            m.budget
                .map_or_else(|| "none".to_owned(), |b| format!("{:.2} %", b * 100.0)),
        );
        let status = if m.gate == Gate::Fail {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(format!("{} {} regressed {change}", scope.name, m.metric))
                .set_type("regression")
                .set_description(detail.clone());
            s
        } else {
            TestCaseStatus::success()
        };
        let mut case = TestCase::new(format!("{} {}", scope.name, m.metric), status);
        case.set_classname(format!("compare.{}", scope.name))
            .set_system_out(detail);
        suite.add_test_case(case);
    }
    let mut report = Report::new("kneepoint compare");
    report.add_test_suite(suite);
    report
        .to_string()
        .map_err(|e| CompareError::Junit(e.to_string()))
}
