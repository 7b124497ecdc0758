//! `kneepoint merge` through the real binary: the merged run's status sets the exit code as it
//! would for `kneepoint run` (0 pass, 1 SLA breached, 3 a shard failed or did not finish).

use super::support::Kneepoint;

const SAMPLE: &str = include_str!("../fixtures/results/sample.json");

/// The sample as one shard: `shift` seconds later, with `status`, keeping only the SLAs it
/// passes unless `breach`.
fn shard(shift: i64, status: serde_json::Value, breach: bool) -> String {
    let mut v: serde_json::Value = serde_json::from_str(SAMPLE).expect("sample is JSON");
    for key in ["started_at", "ended_at"] {
        let t: jiff::Timestamp = v[key]
            .as_str()
            .expect("timestamp text")
            .parse()
            .expect("timestamp");
        let t = t
            .checked_add(jiff::SignedDuration::from_secs(shift))
            .expect("in range");
        v[key] = t.to_string().into();
    }
    v["status"] = status;
    if !breach {
        let slas = v["slas"].as_array_mut().expect("slas");
        slas.retain(|s| s["passed"] == true);
        // p95, p99.9 (its 5 s timeouts are failures, timed apart) and throughput.
        assert_eq!(slas.len(), 3, "the sample passes three SLAs");
    }
    v.to_string()
}

fn completed() -> serde_json::Value {
    serde_json::json!({ "state": "completed" })
}

async fn merge(second: serde_json::Value, breach: bool) -> super::support::Finished {
    Kneepoint::new()
        .file("a.json", shard(0, completed(), breach))
        .file("b.json", shard(2, second, breach))
        .args(&["merge", "a.json", "b.json", "--out", "out", "--quiet"])
        .run()
        .await
}

#[tokio::test]
async fn completed_shards_pass_or_breach_by_their_slas() {
    let ok = merge(completed(), false).await;
    ok.expect_code(0);
    assert_eq!(ok.results()["status"]["state"], "completed");
    assert_eq!(ok.results()["shards"], 2);

    let breached = merge(completed(), true).await;
    breached.expect_code(1);
    assert!(
        breached.results()["slas"]
            .as_array()
            .expect("slas")
            .iter()
            .any(|s| s["passed"] == false)
    );
}

#[tokio::test]
async fn an_aborted_shard_is_a_breach() {
    let run = merge(
        serde_json::json!({ "state": "aborted", "reason": "errors over 0.5%" }),
        false,
    )
    .await;
    run.expect_code(1);
    assert_eq!(run.results()["status"]["state"], "aborted");
}

#[tokio::test]
async fn a_failed_interrupted_or_unfinished_shard_fails_the_merge_with_3() {
    for (status, says) in [
        (
            serde_json::json!({ "state": "failed", "reason": "target unreachable" }),
            "target unreachable",
        ),
        (serde_json::json!({ "state": "interrupted" }), "interrupted"),
        (
            serde_json::json!({ "state": "in_progress" }),
            "did not finish",
        ),
    ] {
        let state = status["state"].clone();
        let run = merge(status, false).await;
        run.expect_code(3);
        assert!(run.stderr.contains(says), "{state}: {}", run.stderr);
        // What was measured is merged and written all the same.
        let merged = run.results();
        assert_eq!(merged["status"]["state"], state);
        assert_eq!(merged["shards"], 2);
        assert!(run.out.join("junit.xml").is_file());
    }
}

#[tokio::test]
async fn runs_one_after_another_are_merged_with_a_warning() {
    let sample: serde_json::Value = serde_json::from_str(SAMPLE).expect("sample is JSON");
    let length = sample["duration_s"].as_f64().expect("duration");
    #[allow(clippy::cast_possible_truncation)]
    let after = length.ceil() as i64 + 30;
    let run = Kneepoint::new()
        .file("a.json", shard(0, completed(), false))
        .file("b.json", shard(after, completed(), false))
        .args(&["merge", "a.json", "b.json", "--out", "out"])
        .run()
        .await;
    run.expect_code(0)
        .expect_stderr("warning: no input was running for 3");
    let merged = run.results();
    let d = merged["duration_s"].as_f64().expect("duration");
    assert!(d > 2.0 * length + 29.0, "{d}");
}
