//! The capacity page against analysed points files and the committed fixtures.

use super::*;
use crate::capacity::points::{PointsOptions, steps_from_csv};
use crate::capacity::{AnalysisOptions, CapacityReport, StopReason, search::SearchSettings};
use crate::report::html::{assert_nothing_external, esc};

fn points_report(csv: &str, p95_limit_ms: Option<f64>, model: SearchModel) -> CapacityReport {
    let steps =
        steps_from_csv("points.csv", csv, &PointsOptions { p95_limit_ms }).expect("points parse");
    CapacityReport::new(
        "points.csv",
        "points",
        model,
        steps,
        &AnalysisOptions::default(),
    )
}

fn example() -> CapacityReport {
    let csv = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/capacity/points-example.csv"
    ))
    .expect("example csv");
    let mut r = points_report(&csv, Some(60.0), SearchModel::Closed);
    r.stop = Some(StopReason::SlaBreached {
        step: 9,
        sla: "overall p95 < 60ms".into(),
        excess: 0.32,
    });
    r.settings = Some(SearchSettings {
        start: 1.0,
        growth: Growth::Factor(2.0),
        warmup_s: 10.0,
        hold_s: 30.0,
        margin: 0.1,
        plateau_steps: 2,
        min_gain: 0.03,
        max_error_rate: 0.05,
        max_steps: 16,
        max_time_s: None,
        max_load: None,
    });
    r
}

fn render(r: &CapacityReport) -> String {
    render_capacity(r).expect("renders")
}

#[test]
fn fit_knee_boundary_and_limit_are_shown() {
    let r = example();
    let fit = r.analysis.fit.fit().expect("the example fits");
    let knee = r.analysis.knee.expect("the example has a knee");
    let max = r.analysis.max_sustainable.clone().expect("max");
    let html = render(&r);
    // Charts: throughput with curve and band, latency per step.
    assert!(html.contains("id=\"throughput\"") && html.contains("id=\"latency\""));
    assert!(html.contains("<polygon"), "confidence band drawn");
    assert!(html.contains("stroke-dasharray") || html.matches("<polyline").count() > 3);
    assert!(html.contains(&esc(&format!("knee {}", fmt_num(knee.load)))));
    assert!(html.contains("SLA boundary ≈"));
    // Chart text is escaped by plotters, which leaves `/` alone.
    assert!(html.contains(&format!("max sustainable {}", fmt_rate(max.measured_rps))));
    assert!(
        html.contains(&esc("SLA overall p95 < 60ms")),
        "limit on the latency chart"
    );
    // Parameter table with the fitted values and intervals.
    for e in [&fit.lambda, &fit.sigma, &fit.kappa] {
        assert!(html.contains(&esc(&fmt_num(e.value))), "{}", e.value);
        assert!(html.contains(&esc(&format!("{} … {}", fmt_num(e.low), fmt_num(e.high)))));
    }
    assert!(html.contains(&format!("{:.4}", fit.r_squared)));
    assert!(html.contains(&esc(&capitalise(&fit.peak.describe()))));
    // Headline numbers and the stop reason.
    assert!(html.contains(&esc(&fmt_rate(max.measured_rps))));
    assert!(html.contains(&esc("step 9 breached `overall p95 < 60ms` by 32 %")));
    assert!(html.contains(&esc(&capitalise(&max.note))));
}

#[test]
fn every_step_has_a_row_with_marks() {
    let r = example();
    let html = render(&r);
    assert_eq!(html.matches("data-step=").count(), r.steps.len());
    let knee = r.analysis.knee.expect("knee");
    let row = |i: usize| {
        let at = html
            .find(&format!("data-step=\"{i}\""))
            .unwrap_or_else(|| panic!("row {i}"));
        let start = html[..at].rfind("<tr").expect("tr");
        let end = html[at..].find("</tr>").expect("end") + at;
        html[start..end].to_owned()
    };
    assert!(row(knee.index).contains(">knee<"), "{}", row(knee.index));
    let max = r.analysis.max_sustainable.clone().expect("max");
    assert!(row(max.step).contains("max sustainable"));
    let failing = max.first_failing_step.expect("a failing step");
    let f = row(failing);
    assert!(
        f.contains("row-fail") && f.contains("first SLA breach"),
        "{f}"
    );
    assert!(f.contains(&esc("overall p95 < 60ms (")), "{f}");
    let s = &r.steps[3];
    assert!(row(3).contains(&format!(
        ">{}</td>",
        esc(&fmt_rate(s.measured.throughput_rps))
    )));
}

#[test]
fn cannot_fit_is_said_plainly() {
    let r = points_report("load,throughput\n1,100\n2,150\n", None, SearchModel::Closed);
    let FitOutcome::CannotFit { reason } = &r.analysis.fit else {
        panic!("two points must not fit");
    };
    let html = render(&r);
    assert!(html.contains("No USL fit"));
    assert!(html.contains(&esc(reason)), "{reason}");
    assert!(!html.contains("<polygon"), "no band without a fit");
    let note = r.analysis.knee_note.as_deref().expect("knee note");
    assert!(html.contains(&esc(&capitalise(note))), "{note}");
    // Warnings (no SLAs) are listed.
    assert!(html.contains("no SLAs were checked"));
}

#[test]
fn little_law_warnings_are_listed() {
    // Users idle most of the time: X·R far below N.
    let csv = "load,throughput,mean_ms\n10,50,20\n20,90,20\n40,150,25\n80,180,40\n";
    let r = points_report(csv, None, SearchModel::Closed);
    assert!(r.analysis.little.iter().any(|c| !c.consistent));
    let html = render(&r);
    assert!(html.contains("id=\"little\""));
    assert!(html.contains("Little&#x27;s law gives") || html.contains("Little's law gives"));
    assert!(html.contains("badge-fail"));
}

#[test]
fn open_model_draws_on_concurrency() {
    let csv = "load,throughput,mean_ms,p95_ms\n100,100,10,20\n200,200,11,22\n400,390,14,30\n800,600,40,90\n1600,640,200,400\n";
    let r = points_report(csv, Some(50.0), SearchModel::Open);
    let html = render(&r);
    assert!(html.contains("concurrency (mean requests in flight)"));
    assert!(html.contains("load (arrivals/s)"));
    // The boundary lies between the fit loads of steps 2 and 3 (5.46 and 24 in flight).
    let x = to_fit_axis(&r, 600.0);
    assert!(x > 5.0 && x < 24.0, "{x}");
}

#[test]
fn no_external_references_and_names_escaped() {
    let mut r = example();
    let evil = "<script>alert(1)</script>";
    r.scenario = format!("https://x/{evil}");
    r.analysis.warnings.push(evil.into());
    r.steps[9].measured.slas[0].name = evil.into();
    let html = render(&r);
    assert_eq!(
        html.matches("<script>").count(),
        1,
        "only the page's own script"
    );
    assert!(html.contains("&lt;script&gt;alert(1)&lt;&#x2F;script&gt;"));
    assert_nothing_external(&html, &r.scenario);
    let csp = format!(
        "script-src '{}'",
        esc(&crate::report::html::script_hash(crate::report::html::JS))
    );
    assert!(html.contains(&csp));
}

#[test]
fn steps_with_results_get_distributions() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/results");
    let run = crate::results::RunResults::read(&dir.join("report-closed.json")).expect("fixture");
    let mut r = example();
    for s in &mut r.steps {
        s.measured.results = Some(Box::new(run.clone()));
    }
    let html = render(&r);
    assert!(html.contains("id=\"distribution\""));
    assert!(
        html.contains("Drawn: 6 of the 10 steps"),
        "evenly spaced note"
    );
    assert!(html.contains("step 0: 1 users") && html.contains("step 9: 64 users"));
}
