//! The report of a real run, opened in headless Chromium: renders, no console errors, no network
//! request, every chart with a size (`ci/check-report.sh`; `ci/setup.sh` installs Chromium).

use super::support::{Scenario, run_scenario, target};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_of_a_real_run_renders_in_chromium() {
    let t = target().await;
    let scenario = Scenario::new("browser", &t.url)
        .load("users = 3\nduration = \"3s\"")
        .transaction("bimodal")
        .get("/bimodal")
        .transaction("teapot")
        .with("weight = 1")
        .get("/status/418")
        .sla("p95", "200ms");
    let run = run_scenario(scenario, true).await;
    assert!(run.code == 0 || run.code == 1, "{}", run.stderr);
    let report = run.out.join("report.html");
    let shot = run.out.join("report.png");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/ci/check-report.sh");
    let check = tokio::task::spawn_blocking(move || {
        std::process::Command::new("bash")
            .arg(script)
            .arg(&report)
            .arg(&shot)
            .output()
            .expect("bash runs")
    })
    .await
    .expect("join");
    assert!(
        check.status.success(),
        "check-report failed:\n{}\n{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
}
