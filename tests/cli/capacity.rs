//! `kneepoint capacity` through the binary: a stepped search against an in-test target with a
//! known contention limit, and the exit codes of searches that cannot find a capacity.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use kneepoint::capacity::{CapacityReport, StopReason};

use super::support::{Finished, Kneepoint, Scenario, contended_target, target};

/// Each step: 5 iterations per user of one GET of `path`, under p95 < `p95_limit`.
fn scenario(url: &str, path: &str, p95_limit: &str) -> Scenario {
    Scenario::new("contended", url)
        .closed(1, "1s", 5)
        .one_request(path)
        .sla("p95", p95_limit)
}

/// `kneepoint capacity s.toml --out out` on `scenario`, with `flags` after.
async fn capacity(scenario: Scenario, flags: &[&str]) -> Finished {
    Kneepoint::new()
        .file("s.toml", scenario)
        .args(&["capacity", "s.toml", "--out", "out"])
        .args(flags)
        .run()
        .await
}

/// The search's `capacity.json`.
fn report(run: &Finished) -> CapacityReport {
    run.out_json("capacity.json")
}

/// Timing-sensitive: `numbers::` puts it in the nextest `timing` group, alone on the machine.
mod numbers {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn search_finds_the_contention_limit_and_stops_by_itself() {
        // 4 permits × 10 ms: about 400 req/s at most, reached from about 4 users on.
        let t = contended_target(4, Duration::from_millis(10)).await;
        let started = Instant::now();
        let run = capacity(
            scenario(&t.url, "/contended", "60ms"),
            &[
                "--start",
                "1",
                "--factor",
                "2",
                "--warmup",
                "1s",
                "--hold",
                "2s",
                "--max-steps",
                "7",
            ],
        )
        .await;
        let wall = started.elapsed();
        // Shown with --no-capture: the measured curve, for the record.
        eprintln!("{}{}took {wall:?}", run.stderr, run.stdout);
        run.expect_code(0);
        assert!(wall < Duration::from_secs(60), "took {wall:?}");
        let r = report(&run);

        // It stopped by its own rules, before the step cap, with every step kept in order.
        assert!(
            matches!(
                r.stop,
                Some(StopReason::Plateau { .. } | StopReason::SlaBreached { .. })
            ),
            "{:?}\n{}",
            r.stop,
            run.stdout
        );
        let loads: Vec<f64> = r.steps.iter().map(|s| s.load).collect();
        assert!((4..7).contains(&loads.len()), "{loads:?}");
        let expected: Vec<f64> = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0][..loads.len()].to_vec();
        assert_eq!(loads, expected);
        for (i, s) in r.steps.iter().enumerate() {
            assert_eq!(s.index, i);
            assert_eq!((s.warmup_s, s.hold_s), (1.0, 2.0));
            let dir = run.out.join("steps").join(format!("{i:02}-{}", s.load));
            assert!(dir.join("results.json").exists(), "{}", dir.display());
            let hold = s.measured.results.as_ref().expect("hold results kept");
            assert_eq!(hold.stages.len(), 1, "only the hold stage is measured");
            assert_eq!(hold.stages[0].name, format!("step {i}"));
            assert!((hold.duration_s - 2.0).abs() < 0.2, "{}", hold.duration_s);
            assert_eq!(s.measured.slas.len(), 1);
            assert_eq!(s.measured.error_rate, 0.0);
        }
        let progress = run
            .stderr
            .lines()
            .filter(|l| l.starts_with("step "))
            .count();
        assert_eq!(
            progress,
            r.steps.len(),
            "one line per step:\n{}",
            run.stderr
        );
        let measured: u64 = r.steps.iter().map(|s| s.measured.requests).sum();
        assert!(
            t.counters.hits.load(Ordering::SeqCst) > measured,
            "warm-ups are not measured"
        );

        // One user: at most one request per 10 ms; many: at most the limit, 400 req/s. The lower
        // bounds are loose: a busy machine slows the (debug) load generator, never the limit.
        let x1 = r.steps[0].measured.throughput_rps;
        assert!((30.0..110.0).contains(&x1), "1 user: {x1} req/s");
        let a = &r.analysis;
        let knee = a.knee.as_ref().expect("a knee");
        assert!((2.0..=8.0).contains(&knee.load), "{knee:?}");
        let max = a.max_sustainable.as_ref().expect("max sustainable");
        assert!(
            (200.0..450.0).contains(&max.measured_rps),
            "{max:?}\n{}",
            run.stdout
        );
        assert!(max.load >= 4.0, "2 users cannot pass 200 req/s: {max:?}");
        if let Some(fit) = a.fit.fit() {
            assert!(
                (30.0..130.0).contains(&fit.lambda.value),
                "λ is the one-user throughput: {fit:?}"
            );
        }
        run.expect_stdout("max sustainable throughput");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_step_over_the_sla_exits_1_and_keeps_it() {
    let t = target().await;
    let run = capacity(
        scenario(&t.url, "/delay/100", "50ms"),
        &["--warmup", "0s", "--hold", "1s", "--quiet"],
    )
    .await;
    run.expect_code(1);
    assert!(
        run.stdout.is_empty() && run.stderr.is_empty(),
        "quiet: {}",
        run.stderr
    );
    let r = report(&run);
    assert_eq!(r.steps.len(), 1);
    assert!(!r.steps[0].sla_passed);
    assert!(
        matches!(&r.stop, Some(StopReason::SlaBreached { step: 0, .. })),
        "{:?}",
        r.stop
    );
    assert!(r.analysis.max_sustainable.is_none());
    assert!(run.out.join("steps/00-1/results.json").exists());
}

#[tokio::test]
async fn unreachable_target_exits_3_and_writes_nothing() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    drop(listener);
    let run = capacity(scenario(&url, "/", "50ms"), &["--hold", "1s"]).await;
    run.expect_code(3)
        .expect_stderr("unreachable")
        .expect_stderr(&url);
    assert!(
        !run.out.exists(),
        "no output for a search that measured nothing"
    );
}
