//! Numbers against targets with known latency: percentiles, exact counts, throughput.

use std::sync::atomic::Ordering;

use super::support::{Kneepoint, closed_scenario, target};

fn closed(url: &str, path: &str, users: u32, iterations: u64) -> String {
    closed_scenario("numbers", url, path, users, iterations, "")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixed_delay_percentiles_and_exact_counts() {
    let t = target().await;
    let run = Kneepoint::new()
        .file("s.toml", &closed(&t.url, "/delay/20", 4, 120))
        .args(&["run", "s.toml", "--out", "out", "--quiet"])
        .run()
        .await;
    run.expect_code(0);
    let overall = run.scope("overall");
    let stats = &overall["stats"];
    assert_eq!(stats["requests"], 120, "iteration cap is exact");
    assert_eq!(
        t.counters.hits.load(Ordering::SeqCst),
        120,
        "target counted the same"
    );
    let p = |k: &str| stats["latency_us"][k].as_u64().expect("µs");
    // 20 ms of server delay; slack: 1 ms timer tick + loopback + a loaded 2-core machine.
    for k in ["min", "p50", "p99"] {
        assert!(p(k) >= 20_000, "{k} = {} µs", p(k));
    }
    assert!(p("p50") <= 23_000, "p50 = {} µs", p("p50"));
    assert!(p("p99") <= 30_000, "p99 = {} µs", p("p99"));
    let duration = run.results()["duration_s"].as_f64().expect("duration");
    let rps = stats["throughput_rps"].as_f64().expect("rps");
    assert!(
        (rps - 120.0 / duration).abs() < 1e-6,
        "throughput = count / duration"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bimodal_target_splits_the_percentiles() {
    let t = target().await;
    let run = Kneepoint::new()
        .file("s.toml", &closed(&t.url, "/bimodal", 1, 200))
        .args(&["run", "s.toml", "--out", "out", "--quiet"])
        .run()
        .await;
    run.expect_code(0);
    let l = &run.scope("overall")["stats"]["latency_us"];
    let p = |k: &str| l[k].as_u64().expect("µs");
    // 90 % take 1 ms, 10 % take 60 ms (one user: the pattern is exact).
    assert!(p("p50") < 10_000, "p50 = {} µs", p("p50"));
    assert!(p("p95") >= 60_000, "p95 = {} µs", p("p95"));
    assert!(p("p99") >= 60_000, "p99 = {} µs", p("p99"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_model_reports_late_arrivals() {
    let t = target().await;
    let scenario = format!(
        r#"
[target]
base_url = "{}"
[load]
model = "open"
rate = 40
duration = "3s"
max_in_flight = 2
[[transaction]]
name = "slow"
[[transaction.request]]
path = "/delay/100"
"#,
        t.url
    );
    let run = Kneepoint::new()
        .file("s.toml", &scenario)
        .args(&["run", "s.toml", "--out", "out", "--quiet"])
        .run()
        .await;
    run.expect_code(0);
    let results = run.results();
    let arrivals = &results["arrivals"];
    assert_eq!(arrivals["scheduled"], 120, "{arrivals}");
    assert!(arrivals["late"].as_u64() > Some(0), "{arrivals}");
    assert!(arrivals["missed"].as_u64() > Some(0), "{arrivals}");
    let stats = &run.scope("overall")["stats"];
    let sent = stats["latency_us"]["p99"].as_u64().expect("p99");
    let intended = stats["intended_latency_us"]["p99"]
        .as_u64()
        .expect("intended p99");
    assert!(intended > sent, "intended {intended} µs vs sent {sent} µs");
}
