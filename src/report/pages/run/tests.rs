//! The run page against synthetic runs and the committed fixtures.

use std::collections::BTreeMap;
use std::time::Duration;

use super::*;
use crate::report::html::{JS, assert_nothing_external, esc, script_hash};
use crate::report::units::fmt_ratio;
use crate::results::{
    ArrivalStats, ArrivalUnit, ErrorCount, ErrorKind, ProfileStage, ScenarioInfo, ScopeResults,
    ScopeStats, SerializedHistogram, ServerSeries, StageRecord, new_histogram, record,
};

/// Shape of a synthetic run.
struct Spec {
    name: &'static str,
    seconds: u32,
    transactions: usize,
    open: bool,
    slas_pass: bool,
}

fn scope(kind: ScopeKind, name: &str, seed: u64, n: u64, errors: u64, secs: f64) -> ScopeResults {
    let mut h = new_histogram();
    let mut ih = new_histogram();
    // A deterministic long-tailed spread: most values near the median, a few far out.
    for i in 0..n.min(5_000) {
        let base = 2_000 + seed * 150;
        let tail = if i % 100 == 0 {
            base * 20
        } else if i % 10 == 0 {
            base * 3
        } else {
            0
        };
        let us = base + (i * 37 % 1_000) * 3 + tail;
        record(&mut h, Duration::from_micros(us));
        record(&mut ih, Duration::from_micros(us + (i % 50) * 40));
    }
    let latency = LatencySummary::from_histogram(&h);
    let mut status_codes = BTreeMap::new();
    status_codes.insert("200".to_owned(), n - errors);
    if errors > 0 {
        status_codes.insert("503".to_owned(), errors);
    }
    ScopeResults {
        kind,
        name: name.to_owned(),
        stats: ScopeStats {
            requests: n,
            errors,
            error_rate: if n == 0 {
                0.0
            } else {
                errors as f64 / n as f64
            },
            throughput_rps: n as f64 / secs,
            latency_us: latency,
            failed_latency_us: None,
            intended_latency_us: Some(LatencySummary::from_histogram(&ih)),
        },
        status_codes,
        errors: if errors > 0 {
            vec![ErrorCount {
                kind: ErrorKind::Status,
                count: errors,
                samples: vec![format!("503 Service Unavailable from {name}")],
            }]
        } else {
            Vec::new()
        },
        histogram: SerializedHistogram::encode(&h).expect("encode"),
        failed_histogram: None,
        intended_histogram: Some(SerializedHistogram::encode(&ih).expect("encode")),
    }
}

fn synthetic(spec: &Spec) -> RunResults {
    let secs = f64::from(spec.seconds);
    let mut scopes = vec![scope(ScopeKind::Overall, "overall", 0, 120_000, 240, secs)];
    for i in 0..spec.transactions {
        let n = 10_000 - i as u64 * 7;
        let errors = if i % 3 == 0 { n / 200 } else { 0 };
        scopes.push(scope(
            ScopeKind::Transaction,
            &format!("tx-{i:03}"),
            i as u64 + 1,
            n,
            errors,
            secs,
        ));
    }
    scopes.push(scope(
        ScopeKind::Request,
        "tx-000/get item",
        1,
        9_000,
        0,
        secs,
    ));
    let series = (0..spec.seconds)
        .map(|t| SecondSample {
            t,
            requests: 400 + u64::from(t % 60) * 3,
            errors: u64::from(t % 97 == 0),
            p50_us: 2_000 + u64::from(t % 30) * 10,
            p95_us: 9_000 + u64::from(t % 45) * 50,
            p99_us: 20_000 + u64::from(t % 90) * 200,
            load: f64::from((t / 10).min(50)),
            late: u64::from(spec.open && t % 50 == 0),
        })
        .collect();
    let half = secs / 2.0;
    let stages = vec![
        StageRecord {
            index: 0,
            name: "warm up".into(),
            start_s: 0.0,
            end_s: half,
            target: 25.0,
            scopes: vec![scopes[0].clone()],
        },
        StageRecord {
            index: 1,
            name: "steady".into(),
            start_s: half,
            end_s: secs,
            target: 50.0,
            scopes: vec![scopes[0].clone()],
        },
    ];
    let pstages = vec![ProfileStage {
        name: None,
        target: 50.0,
        ramp_s: half,
        hold_s: half,
    }];
    let profile = if spec.open {
        LoadProfile::Open {
            stages: pstages,
            unit: ArrivalUnit::Iterations,
            max_in_flight: 500,
            max_iterations: None,
        }
    } else {
        LoadProfile::Closed {
            stages: pstages,
            think_time_us: Some((100_000, 500_000)),
            max_iterations: None,
        }
    };
    let p95 = scopes[0].stats.latency_us.p95 as f64;
    let start = jiff::Timestamp::from_second(1_790_000_000).expect("ts");
    RunResults {
        schema_version: crate::results::SCHEMA_VERSION,
        kneepoint_version: "0.1.0".into(),
        run_id: "3f1c2a9e-run".into(),
        scenario: ScenarioInfo {
            name: spec.name.into(),
            path: "scenarios/shop.toml".into(),
            sha256: "ab".repeat(32),
        },
        target: "http://127.0.0.1:8080".into(),
        backend: "embedded".into(),
        started_at: start,
        ended_at: start
            .checked_add(jiff::SignedDuration::from_secs(i64::from(spec.seconds)))
            .expect("ts"),
        duration_s: secs,
        status: RunStatus::Completed,
        profile,
        stages,
        scopes,
        series,
        arrivals: spec.open.then_some(ArrivalStats {
            scheduled: 100_000,
            started: 99_990,
            late: 120,
            missed: 10,
            max_lag_us: 250_000,
        }),
        slas: vec![
            SlaVerdict {
                name: "overall p95 < 200ms".into(),
                scope: "overall".into(),
                metric: "p95".into(),
                comparison: "<".into(),
                threshold: 200_000.0,
                actual: Some(p95),
                unit: "us".into(),
                threshold_text: "200ms".into(),
                passed: true,
                abort: false,
            },
            SlaVerdict {
                name: "errors < 0.1%".into(),
                scope: "overall".into(),
                metric: "error_rate".into(),
                comparison: "<".into(),
                threshold: 0.001,
                actual: Some(0.002),
                unit: "ratio".into(),
                threshold_text: "0.1%".into(),
                passed: spec.slas_pass,
                abort: true,
            },
        ],
        server_metrics: vec![ServerSeries {
            name: "cache_hit_ratio".into(),
            unit: "ratio".into(),
            points: (0..spec.seconds / 5)
                .map(|i| (f64::from(i * 5), 0.8 + f64::from(i % 10) / 100.0))
                .collect(),
        }],
        generator: None,
        shards: 1,
        shard: None,
        merged_from: Vec::new(),
    }
}

fn small() -> RunResults {
    synthetic(&Spec {
        name: "shop checkout",
        seconds: 120,
        transactions: 3,
        open: false,
        slas_pass: false,
    })
}

fn render(run: &RunResults) -> String {
    render_html(run).expect("renders")
}

/// The `<tr>` whose `data-*` attribute has `value`.
fn row<'a>(html: &'a str, attr: &str, value: &str) -> &'a str {
    let needle = format!("{attr}=\"{}\"", esc(value));
    let start = html
        .find(&needle)
        .unwrap_or_else(|| panic!("no row with {needle}"));
    let start = html[..start].rfind("<tr").expect("row starts");
    let end = html[start..].find("</tr>").expect("row ends") + start;
    &html[start..end]
}

#[test]
fn verdict_names_each_breached_sla_and_by_how_much() {
    let run = small();
    let html = render(&run);
    assert!(html.contains("Breached: 1 of 2 SLAs failed"));
    assert!(html.contains("verdict verdict-fail"));
    // 0.2% measured against 0.1%: 0.1 points over, 100% of the limit.
    assert!(
        html.contains(&esc(
            "errors < 0.1%: overall error_rate was 0.20%, limit < 0.1%; 0.10% over the limit (+100.0%)"
        )),
        "{}",
        &html[html.find("verdict-details").unwrap_or(0)..][..600]
    );

    let mut passing = small();
    passing.slas[1].passed = true;
    let html = render(&passing);
    assert!(html.contains("Passed: all 2 SLAs met"));
    assert!(html.contains("verdict verdict-pass"));
    assert!(!html.contains("verdict verdict-fail"));

    passing.slas.clear();
    assert!(render(&passing).contains("No SLAs defined"));
}

#[test]
fn one_row_per_sla_with_threshold_actual_and_margin() {
    let run = small();
    let html = render(&run);
    assert_eq!(html.matches("<tr class=\"sla ").count(), run.slas.len());
    let r = row(&html, "data-sla", "overall p95 < 200ms");
    assert!(r.contains("sla-pass"));
    assert!(r.contains(&esc(&fmt_us(run.slas[0].actual.expect("actual")))));
    assert!(r.contains(&esc("< 200 ms (200ms)")));
    assert!(r.contains("under the limit"));
    let r = row(&html, "data-sla", "errors < 0.1%");
    assert!(r.contains("sla-fail") && r.contains("abort"));
    assert!(r.contains(&esc("0.20%")));
}

#[test]
fn every_scope_has_a_row_with_its_numbers() {
    let run = small();
    let html = render(&run);
    for s in &run.scopes {
        let r = row(&html, "data-scope", &s.name);
        let st = &s.stats;
        let l = &st.latency_us;
        for want in [
            fmt_count(st.requests),
            fmt_count(st.errors),
            fmt_ratio(st.error_rate),
            fmt_rate(st.throughput_rps),
            fmt_us(l.min as f64),
            fmt_us(l.mean),
            fmt_us(l.p50 as f64),
            fmt_us(l.p90 as f64),
            fmt_us(l.p95 as f64),
            fmt_us(l.p99 as f64),
            fmt_us(l.p99_9 as f64),
            fmt_us(l.max as f64),
        ] {
            assert!(
                r.contains(&format!(">{}</td>", esc(&want))),
                "{} lacks {want}: {r}",
                s.name
            );
        }
        // The raw value rides along for sorting.
        assert!(r.contains(&format!("data-v=\"{}\"", st.requests)));
    }
}

#[test]
fn run_facts_and_stages_are_shown() {
    let run = small();
    let html = render(&run);
    for want in [
        "scenarios/shop.toml",
        "abababababab",
        "http://127.0.0.1:8080",
        "embedded",
        "closed model: 1 stage, up to 50 users, think time 100 ms–500 ms",
        "2026-09-21 14:13:20 UTC",
        "2m 00s",
        "completed",
        "warm up",
        "steady",
    ] {
        assert!(html.contains(&esc(want)), "missing {want}");
    }
}

#[test]
fn partial_runs_say_so() {
    let mut run = small();
    run.status = RunStatus::Interrupted;
    let html = render(&run);
    assert!(html.contains("Partial results: run interrupted"));
    assert!(html.contains("interrupted (partial)"));
    run.status = RunStatus::Failed {
        reason: "target unreachable".into(),
    };
    assert!(render(&run).contains("The run failed after 2m 00s: target unreachable."));
    run.status = RunStatus::Completed;
    assert!(!render(&run).contains("Partial results"));
}

#[test]
fn charts_are_inline_svg() {
    let html = render(&small());
    // throughput, latency, load, distribution, status codes, one server series.
    assert_eq!(html.matches("<svg class=\"chart\"").count(), 6);
    for tx in ["tx-000", "tx-001", "tx-002"] {
        assert!(
            html.contains(&format!("</span>{tx}</li>")),
            "{tx} in the distribution legend"
        );
    }
    for id in [
        "throughput",
        "latency",
        "load",
        "distribution",
        "status",
        "server-0",
    ] {
        assert!(html.contains(&format!("id=\"{id}\"")), "chart {id}");
    }
    assert!(html.contains("99.9%"), "percentile axis ticks");
    assert!(html.contains("latency (ms)"), "unit on the axis");
    // Closed model: no arrivals section.
    assert!(!html.contains("id=\"arrivals\""));
}

#[test]
fn open_model_shows_arrivals_and_intended_latency() {
    let run = synthetic(&Spec {
        name: "open",
        seconds: 300,
        transactions: 2,
        open: true,
        slas_pass: true,
    });
    let html = render(&run);
    assert!(html.contains("id=\"arrivals\""));
    assert!(html.contains("id=\"late\""));
    assert!(html.contains("id=\"intended\""));
    assert!(
        html.contains(&esc("10 (0.010% of scheduled)")),
        "missed share"
    );
    assert!(html.contains("arrivals per second (configured)"));
}

#[test]
fn no_external_references() {
    let html = render(&small());
    assert_nothing_external(&html, "http://127.0.0.1:8080");
    let without_target = html.replace(&esc("http://127.0.0.1:8080"), "");
    assert!(!without_target.contains("http:&#x2F;&#x2F;"));
    // The browser is told the same: nothing may load, only the page's own script may run.
    let csp = format!(
        "content=\"default-src 'none'; style-src 'unsafe-inline'; script-src '{}'",
        esc(&script_hash(JS))
    );
    assert!(html.contains(&csp), "CSP meta");
    assert!(
        html.contains(&format!("<script>{JS}</script>")),
        "hashed text is the script"
    );
}

#[test]
fn names_from_results_are_escaped() {
    let mut run = small();
    let evil = "<script>alert(1)</script>";
    run.scenario.name = evil.into();
    run.target = format!("http://x/{evil}");
    run.scopes[1].name = format!("tx{evil}");
    run.scopes[1].errors.push(ErrorCount {
        kind: ErrorKind::Other,
        count: 1,
        samples: vec![evil.into()],
    });
    run.slas[0].name = evil.into();
    let html = render(&run);
    assert_eq!(
        html.matches("<script>").count(),
        1,
        "only the page's own script"
    );
    assert!(html.contains("&lt;script&gt;alert(1)&lt;&#x2F;script&gt;"));
}

#[test]
fn corrupt_histogram_is_reported_not_fatal() {
    let mut run = small();
    run.scopes[0].histogram = SerializedHistogram("bad".into());
    let html = render(&run);
    assert!(html.contains("Some data could not be read"));
    assert_eq!(html.matches("stored histogram is corrupt").count(), 1);
}

#[test]
fn empty_run_renders() {
    let mut run = small();
    run.scopes.clear();
    run.series.clear();
    run.stages.clear();
    run.server_metrics.clear();
    let html = render(&run);
    assert!(html.contains("No request failed."));
    assert!(!html.contains("<svg"));
}

#[test]
fn committed_fixtures_render() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/results");
    for name in ["report-closed.json", "report-open.json"] {
        let run = RunResults::read(&dir.join(name)).expect("fixture reads");
        let html = render(&run);
        assert!(html.contains(&esc(&run.scenario.name)), "{name}");
        assert!(html.matches("<svg class=\"chart\"").count() >= 6, "{name}");
    }
}

#[test]
fn downsampling_keeps_spikes_and_rates() {
    let series: Vec<SecondSample> = (0..10_000)
        .map(|t| SecondSample {
            t,
            requests: 100,
            errors: 0,
            p50_us: 1,
            p95_us: 2,
            p99_us: if t == 4_321 { 999_999 } else { 3 },
            load: f64::from(t),
            late: 0,
        })
        .collect();
    let b = downsample(&series, MAX_POINTS);
    assert!(b.len() <= MAX_POINTS, "{}", b.len());
    assert_eq!(b[0].width, 10);
    assert!(b.iter().all(|b| (b.rps - 100.0).abs() < 1e-9));
    assert!(b.iter().any(|b| b.p99 == 999_999.0));
    assert_eq!(b[1].load, 19.0);
}

#[test]
fn large_run_is_capped_small_and_fast() {
    let run = synthetic(&Spec {
        name: "soak",
        seconds: 4 * 3600,
        transactions: 200,
        open: true,
        slas_pass: true,
    });
    let t0 = std::time::Instant::now();
    let html = render(&run);
    let took = t0.elapsed();
    eprintln!(
        "4 h run, {} scopes: {} bytes in {:?}",
        run.scopes.len(),
        html.len(),
        took
    );
    assert_eq!(html.matches("<tr class=\"scope ").count(), MAX_ROWS);
    assert!(html.contains(&format!(
        "Showing the first {MAX_ROWS} of {} scopes",
        run.scopes.len()
    )));
    assert!(html.contains("Each point covers 15 s"));
    // 25 busiest transactions drawn in five percentile charts, the rest noted.
    assert!(html.contains("id=\"distribution-5\""));
    assert!(!html.contains("id=\"distribution-6\""));
    assert!(html.contains("Drawn: the 25 busiest of 200 transactions"));
    assert!(html.len() < 3_000_000, "{} bytes", html.len());
}
