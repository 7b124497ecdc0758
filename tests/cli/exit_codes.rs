//! Exit codes through the real binary: 0 pass, 1 SLA breached, 2 invalid input, 3 run failed.

use super::support::{Kneepoint, target};

fn scenario(url: &str, path: &str, sla: &str) -> String {
    format!(
        r#"
name = "codes"
[target]
base_url = "{url}"
[load]
users = 2
duration = "30s"
iterations = 20
[[transaction]]
name = "t"
[[transaction.request]]
name = "r"
path = "{path}"
{sla}
"#
    )
}

const P95_UNDER_5MS: &str = r#"
[[sla]]
metric = "p95"
threshold = "5ms"
"#;

const P95_UNDER_1S: &str = r#"
[[sla]]
metric = "p95"
threshold = "1s"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_when_every_sla_holds() {
    let t = target().await;
    Kneepoint::new()
        .file("s.toml", &scenario(&t.url, "/delay/0", P95_UNDER_1S))
        .args(&["run", "s.toml", "--out", "out", "--quiet"])
        .run()
        .await
        .expect_code(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_when_an_sla_is_breached() {
    let t = target().await;
    let run = Kneepoint::new()
        .file("s.toml", &scenario(&t.url, "/delay/20", P95_UNDER_5MS))
        .args(&["run", "s.toml", "--out", "out", "--quiet"])
        .run()
        .await;
    run.expect_code(1);
    let sla = &run.results()["slas"][0];
    assert_eq!(sla["passed"], false);
    assert!(sla["actual"].as_f64() > Some(20_000.0), "{sla}");
}

#[tokio::test]
async fn two_for_a_malformed_scenario() {
    let run = Kneepoint::new()
        .file("s.toml", "[load]\nusers = \"many\"\n")
        .args(&["run", "s.toml", "--out", "out"])
        .run()
        .await;
    run.expect_code(2);
    assert!(run.stderr.contains("s.toml:2:"), "{}", run.stderr);
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
    let run = Kneepoint::new()
        .file(
            "s.toml",
            &scenario(&format!("http://127.0.0.1:{port}"), "/", ""),
        )
        .args(&["run", "s.toml", "--out", "out", "--quiet"])
        .run()
        .await;
    run.expect_code(3);
    assert!(run.stderr.contains("unreachable"), "{}", run.stderr);
}
