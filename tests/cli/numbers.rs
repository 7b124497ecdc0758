//! Numbers against targets with known latency: percentiles, exact counts, throughput.

use std::sync::atomic::Ordering;

use super::support::{Finished, Scenario, run_scenario, target};

/// `users` users, `iterations` iterations in all of one GET of `path`, quietly run.
async fn run_closed(url: &str, path: &str, users: u32, iterations: u64) -> Finished {
    let scenario = Scenario::new("numbers", url)
        .closed(users, "60s", iterations)
        .one_request(path);
    run_scenario(scenario, true).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixed_delay_percentiles_and_exact_counts() {
    let t = target().await;
    let run = run_closed(&t.url, "/delay/20", 4, 120).await;
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
    let run = run_closed(&t.url, "/bimodal", 1, 200).await;
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
    let scenario = Scenario::new("open", &t.url)
        .load("model = \"open\"\nrate = 40\nduration = \"3s\"\nmax_in_flight = 2")
        .transaction("slow")
        .get("/delay/100");
    let run = run_scenario(scenario, true).await;
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
