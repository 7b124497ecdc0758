//! Exit codes through the real binary: 0 pass, 1 SLA breached, 2 invalid input, 3 run failed.

use super::support::{Kneepoint, Scenario, run_scenario, target};

/// Two users, 20 iterations of one GET of `path`.
fn scenario(url: &str, path: &str) -> Scenario {
    Scenario::new("codes", url)
        .closed(2, "30s", 20)
        .one_request(path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_when_every_sla_holds() {
    let t = target().await;
    let scenario = scenario(&t.url, "/delay/0").sla("p95", "1s");
    run_scenario(scenario, true).await.expect_code(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_when_an_sla_is_breached() {
    let t = target().await;
    let scenario = scenario(&t.url, "/delay/20").sla("p95", "5ms");
    let run = run_scenario(scenario, true).await;
    run.expect_code(1);
    let sla = &run.results()["slas"][0];
    assert_eq!(sla["passed"], false);
    assert!(sla["actual"].as_f64() > Some(20_000.0), "{sla}");
}

#[tokio::test]
async fn two_for_a_malformed_scenario() {
    let run = run_scenario("[load]\nusers = \"many\"\n", false).await;
    run.expect_code(2).expect_stderr("s.toml:2:");
    assert!(!run.out.join("results.json").exists());
}

#[tokio::test]
async fn two_for_a_bad_flag() {
    Kneepoint::new()
        .args(&["run", "s.toml", "--duration", "soon"])
        .run()
        .await
        .expect_code(2);
}

#[tokio::test]
async fn three_for_an_unreachable_target() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let scenario = scenario(&format!("http://127.0.0.1:{port}"), "/");
    run_scenario(scenario, true)
        .await
        .expect_code(3)
        .expect_stderr("unreachable");
}
