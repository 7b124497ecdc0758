//! Distributed runs through the real binary: `--shard`, `--run-id`, `--barrier`, `--start-at`,
//! and the merge of the shards.

use std::sync::atomic::Ordering;

use super::support::{Kneepoint, Scenario, target};

/// `kneepoint run --quiet` of `users` users, `iterations` iterations in all of one GET of
/// `/delay/1` under an error-rate SLA; shard flags with [`Kneepoint::args`].
fn sharded(url: &str, users: u32, iterations: u64) -> Kneepoint {
    let scenario = Scenario::new("sharded", url)
        .closed(users, "60s", iterations)
        .one_request("/delay/1")
        .sla("error_rate", "1%");
    Kneepoint::run_of(scenario).args(&["--quiet"])
}

fn requests(results: &serde_json::Value) -> u64 {
    results["scopes"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["kind"] == "overall"))
        .and_then(|s| s["stats"]["requests"].as_u64())
        .unwrap_or_else(|| panic!("no overall request count in {results}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_shards_meet_at_a_barrier_and_merge_to_the_whole_run() {
    let t = target().await;
    let barrier = tempfile::tempdir().expect("tempdir");
    let barrier = barrier.path().join("barrier");
    let barrier = barrier.to_str().expect("utf-8 path");
    let shard = |i: &str| {
        sharded(&t.url, 4, 31)
            .args(&["--shard", i, "--run-id", "run-42", "--barrier", barrier])
            .args(&["--barrier-timeout", "60s"])
            .run()
    };
    let (one, two) = tokio::join!(shard("1/2"), shard("2/2"));
    one.expect_code(0);
    two.expect_code(0);
    let (r1, r2) = (one.results(), two.results());
    for (r, i) in [(&r1, 1), (&r2, 2)] {
        assert_eq!(r["run_id"], "run-42", "run id of shard {i}");
        assert_eq!(r["shard"]["index"], i, "{}", r["shard"]);
        assert_eq!(r["shard"]["count"], 2, "{}", r["shard"]);
    }
    // 31 iterations split exactly: 16 + 15, each one request; the target saw all of them.
    let mut counts = [requests(&r1), requests(&r2)];
    counts.sort_unstable();
    assert_eq!(counts, [15, 16]);
    assert_eq!(t.counters.hits.load(Ordering::SeqCst), 31);
    for i in 1..=2 {
        assert!(
            std::path::Path::new(barrier)
                .join(format!("ready-{i}"))
                .exists(),
            "shard {i} arrived at the barrier"
        );
    }

    let merged = Kneepoint::new()
        .args(&[
            "merge",
            one.out.to_str().expect("utf-8 path"),
            two.out.to_str().expect("utf-8 path"),
        ])
        .args(&["--out", "out", "--quiet"])
        .run()
        .await;
    merged.expect_code(0);
    let m = merged.results();
    assert_eq!(requests(&m), 31);
    assert_eq!(
        m["shards"], 2,
        "merged result says how many shards contributed"
    );
    assert_eq!(m["run_id"], "run-42");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_barrier_nobody_else_reaches_fails_the_run() {
    let t = target().await;
    let barrier = tempfile::tempdir().expect("tempdir");
    let run = sharded(&t.url, 6, 12)
        .args(&["--shard", "1/3"])
        .args(&["--barrier", barrier.path().to_str().expect("utf-8 path")])
        .args(&["--barrier-timeout", "300ms"])
        .run()
        .await;
    run.expect_code(3);
    assert!(
        run.stderr.contains('2') && run.stderr.contains('3'),
        "names the shards that never arrived: {}",
        run.stderr
    );
    assert_eq!(t.counters.hits.load(Ordering::SeqCst), 0, "no load sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_shard_flags_are_invalid_input() {
    let t = target().await;
    for (args, says) in [
        (vec!["--shard", "3/2"], "shard 3 of 2"),
        (vec!["--shard", "two"], "I/N"),
        (vec!["--start-at", "2001-01-01T00:00:00Z"], "passed"),
        (vec!["--barrier", "b"], "--shard"),
        // 2 users cannot be split into 3 shards with none empty.
        (vec!["--shard", "1/3"], "3"),
    ] {
        let run = sharded(&t.url, 2, 10).args(&args).run().await;
        run.expect_code(2);
        assert!(run.stderr.contains(says), "{args:?}: {}", run.stderr);
    }
    assert_eq!(t.counters.hits.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_time_just_ahead_is_waited_for() {
    let t = target().await;
    let at = jiff::Timestamp::now() + jiff::SignedDuration::from_millis(1500);
    let started = std::time::Instant::now();
    let run = sharded(&t.url, 2, 4)
        .args(&["--start-at", &at.to_string()])
        .run()
        .await;
    run.expect_code(0);
    assert!(started.elapsed() >= std::time::Duration::from_millis(1400));
    let began: jiff::Timestamp = run.results()["started_at"]
        .as_str()
        .expect("started_at")
        .parse()
        .expect("RFC 3339");
    assert!(began >= at, "load began at {began}, before {at}");
}
