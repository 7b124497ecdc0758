//! How the engine tells the truth about a run: users launched at the plan's pace, failures kept
//! apart from latency, a target that dies fails the run, a run with failures never "passes".

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use super::support::{Scenario, run_scenario, target};

/// A minimal HTTP/1.1 target (every request answers `200 ok` at once) that can be killed: its
/// listener and every open connection go at once, as when a process dies.
struct Killable {
    url: String,
    hits: Arc<AtomicU64>,
    tasks: JoinSet<()>,
}

impl Killable {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let hits = Arc::new(AtomicU64::new(0));
        let mut tasks = JoinSet::new();
        let counter = hits.clone();
        tasks.spawn(async move {
            let mut connections = JoinSet::new();
            while let Ok((mut socket, _)) = listener.accept().await {
                let counter = counter.clone();
                connections.spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let mut pending = Vec::new();
                    loop {
                        let Ok(n) = socket.read(&mut buf).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        pending.extend_from_slice(&buf[..n]);
                        // GET requests without a body: one response per blank line.
                        while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                            pending.drain(..end + 4);
                            counter.fetch_add(1, Ordering::SeqCst);
                            let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                            if socket.write_all(reply).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        Self { url, hits, tasks }
    }

    /// Close the listener and every connection.
    fn kill(&mut self) {
        self.tasks.abort_all();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_killed_mid_run_fails_the_run_with_its_reason() {
    let mut t = Killable::start().await;
    // 4 users back to back for 10 s; the target dies at 2 s. The unreachable window of a 10 s
    // plan is 2 s (a tenth of it, at least 2 s), so the run must end by about 2 + 2 + 1 s.
    let scenario = Scenario::new("killed", &t.url)
        .closed(4, "10s", 10_000_000)
        .one_request("/");
    let running = tokio::spawn(run_scenario(scenario, true));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let answered = t.hits.load(Ordering::SeqCst);
    t.kill();
    let run = running.await.expect("join");
    run.expect_code(3)
        .expect_stderr("target unreachable since t = ");
    let results = run.results();
    assert_eq!(
        results["status"]["state"], "failed",
        "{}",
        results["status"]
    );
    let reason = results["status"]["reason"].as_str().expect("reason");
    let since: f64 = reason
        .trim_start_matches("target unreachable since t = ")
        .split(' ')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no time in `{reason}`"));
    // Killed 2 s after the start (the run begins a few ms after the process starts).
    assert!((1.0..=3.0).contains(&since), "{reason}");
    let duration = results["duration_s"].as_f64().expect("duration");
    assert!(
        duration < 6.5,
        "ended at {duration} s, not soon after the window"
    );
    let stats = &run.scope("overall")["stats"];
    assert!(stats["requests"].as_u64() > Some(0));
    // What the target served is in the results; the refused attempts are failures, apart.
    let ok = stats["requests"].as_u64().expect("n") - stats["errors"].as_u64().expect("e");
    assert!(
        ok.abs_diff(answered) <= answered / 10 + 50,
        "{ok} successful vs {answered} served by the kill"
    );
    assert!(stats["failed_latency_us"].is_object(), "{stats}");
    assert!(
        run.out.join("report.html").exists(),
        "the report is written"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_kept_apart_from_the_latency_of_successful_responses() {
    let t = target().await;
    // Half the iterations wait 20 ms for a 200, half get a 500 at once. Mixed, the median
    // would sit at either; apart, the successful median is the 20 ms path's.
    let scenario = Scenario::new("okko", &t.url)
        .closed(2, "60s", 200)
        .transaction("slow")
        .request("ok", "/delay/20")
        .transaction("broken")
        .request("ko", "/status/500")
        .sla("p50", "10ms");
    let run = run_scenario(scenario, true).await;
    // The successful median is 20 ms: the p50 < 10 ms SLA is breached.
    run.expect_code(1);
    let stats = &run.scope("overall")["stats"];
    let p = |k: &str, f: &str| stats[k][f].as_u64().unwrap_or_else(|| panic!("{k}.{f}"));
    assert!(
        (20_000..25_000).contains(&p("latency_us", "p50")),
        "{stats}"
    );
    assert!(p("latency_us", "min") >= 20_000, "{stats}");
    assert!(p("failed_latency_us", "p50") < 10_000, "{stats}");
    let errors = stats["errors"].as_u64().expect("errors");
    assert!(
        (60..=140).contains(&errors),
        "about half of 200 failed: {errors}"
    );
    let results = run.results();
    let overall = &results["scopes"][0];
    assert!(overall["failed_histogram"].is_string(), "{overall}");
    let html = run.out_text("report.html");
    assert!(
        html.contains("Failed requests"),
        "the report shows KO latency"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_without_slas_whose_requests_failed_does_not_pass() {
    let t = target().await;
    let scenario = Scenario::new("nosla", &t.url)
        .closed(1, "60s", 20)
        .one_request("/status/503");
    let run = run_scenario(scenario, false).await;
    run.expect_code(0);
    let last = run
        .stdout
        .lines()
        .rfind(|l| !l.trim().is_empty() && !l.starts_with("results:"))
        .unwrap_or_default()
        .to_owned();
    assert!(!run.stdout.contains("PASSED"), "{}", run.stdout);
    assert!(
        last.contains("20 of 20 requests failed") && last.contains("100%"),
        "{last}"
    );
    let html = run.out_text("report.html");
    assert!(
        html.contains("20 of 20 requests failed"),
        "the banner says so"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_users_without_a_ramp_all_run_from_the_first_second() {
    let t = target().await;
    // 200 users, each a 1 ms request then 500 ms of thought: about 398 requests a second from
    // the first second on, if all 200 start at once.
    let scenario = Scenario::new("launch", &t.url)
        .load("users = 200\nduration = \"3s\"\nthink_time = \"500ms\"")
        .one_request("/delay/1");
    let run = run_scenario(scenario, true).await;
    run.expect_code(0);
    let results = run.results();
    let series = results["series"].as_array().expect("series");
    let first = &series[0];
    // Users actually running at the end of the first second.
    assert_eq!(first["load"], 200.0, "{first}");
    // Every user starts at once: its first request in the first ms, its second at ~0.5 s, its
    // third at ~1 s (at the second's edge); so the first second sees 400 (2 × 200) requests,
    // at least 380 with the timers' slack.
    let requests = first["requests"].as_u64().expect("requests");
    assert!(
        requests >= 380,
        "{requests} requests in the first second: {first}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saturating_closed_run_flags_itself_generator_bound_and_a_paced_one_does_not() {
    let t = target().await;
    let run_with = |users: u32, think: &str| {
        Scenario::new("health", &t.url)
            .load(&format!("users = {users}\nduration = \"4s\"\n{think}"))
            .one_request("/status/200")
    };
    // 50 users back to back on a target sharing this machine's cores: the host saturates and
    // kneepoint's threads queue for a CPU.
    let hot = run_scenario(run_with(50, ""), false).await;
    hot.expect_code(0);
    let g = &hot.results()["generator"];
    assert_eq!(g["bound"], true, "{g}");
    assert!(
        g["reasons"].to_string().contains("host CPUs"),
        "{}",
        g["reasons"]
    );
    hot.expect_stdout("GENERATOR-BOUND");
    let html = hot.out_text("report.html");
    assert!(html.contains("Generator-bound"), "the report says so");
    // 2 users thinking 20 ms: about 100 requests a second, nothing near saturation.
    let calm = run_scenario(run_with(2, "think_time = \"20ms\""), false).await;
    calm.expect_code(0);
    let g = &calm.results()["generator"];
    assert_eq!(g["bound"], false, "{g}");
    calm.expect_stdout("generator: CPU");
    let series = g["series"].as_array().expect("series");
    assert!(series.len() >= 4, "a sample per second: {g}");
}
