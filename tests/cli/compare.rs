//! `kneepoint compare` through the real binary: the `[compare]` table of the candidate's
//! scenario (or of `--scenario FILE`) sets budgets, flags override it, and a bad table is
//! invalid input located at file:line:column. The absolute latency floor comes from the table
//! or `--min-latency-change`.
//!
//! The fixtures are two runs of scenario `shop` (recorded path `shop.toml`); the candidate is
//! 22–30 % slower in p50, p95, p99 and mean, overall and in both transactions.

use super::support::{Finished, Kneepoint, Scenario};

const BASELINE: &str = include_str!("../fixtures/compare/baseline.json");
const SLOWER: &str = include_str!("../fixtures/compare/slower.json");

/// Scenario `name` with `compare` appended (a `[compare]` table or nothing), from line 11 on.
fn scenario(name: &str, compare: &str) -> Scenario {
    Scenario::new(name, "http://127.0.0.1:9")
        .load("users = 1\nduration = \"10s\"")
        .transaction("browse")
        .get("/")
        .with(compare)
}

/// Every regressed metric within 40 %.
const LOOSE: &str = r#"[compare]
budget = { p50 = "40%", p95 = "40%", p99 = "40%", mean = "40%" }
"#;

fn runs() -> Kneepoint {
    Kneepoint::new()
        .file("baseline.json", BASELINE)
        .file("slower.json", SLOWER)
}

async fn compare(k: Kneepoint, extra: &[&str]) -> Finished {
    let mut args = vec!["compare", "baseline.json", "slower.json", "--out", "out"];
    args.extend_from_slice(extra);
    k.args(&args).run().await
}

/// The comparison's `compare.json`.
fn written(run: &Finished) -> serde_json::Value {
    run.out_json("compare.json")
}

#[tokio::test]
async fn without_a_readable_scenario_the_defaults_fail_the_slower_run() {
    let run = compare(runs(), &[]).await;
    run.expect_code(1)
        .expect_stderr("`shop.toml` cannot be read from here");
    assert!(written(&run).get("settings_from").is_none());
}

#[tokio::test]
async fn budgets_of_the_candidates_scenario_pass_it_and_flags_override_them() {
    let run = compare(runs().file("shop.toml", scenario("shop", LOOSE)), &[]).await;
    run.expect_code(0);
    let c = written(&run);
    assert_eq!(c["options"]["budgets"]["p95"], 0.4);
    assert_eq!(c["summary"]["failed"], 0);
    assert!(c["summary"]["regressions_within_budget"].as_u64() >= Some(10));
    // The fixtures' hash is not the file's: the comparison says the file changed.
    assert_eq!(
        c["settings_from"][0],
        "[compare] of `shop.toml` (changed since the candidate ran)"
    );
    assert!(
        run.stdout
            .contains("Settings from [compare] of `shop.toml`")
    );

    // A flag replaces the table's budget of its metric only.
    let run = compare(
        runs().file("shop.toml", scenario("shop", LOOSE)),
        &["--budget", "p95=20%"],
    )
    .await;
    run.expect_code(1);
    let c = written(&run);
    assert_eq!(c["options"]["budgets"]["p95"], 0.2);
    assert_eq!(c["options"]["budgets"]["p99"], 0.4);
    assert_eq!(c["settings_from"][1], "flags");
    let failed: Vec<(&str, &str)> = c["scopes"]
        .as_array()
        .expect("scopes")
        .iter()
        .flat_map(|s| {
            s["metrics"]
                .as_array()
                .expect("metrics")
                .iter()
                .filter(|m| m["gate"] == "fail")
                .map(move |m| {
                    (
                        s["name"].as_str().unwrap_or_default(),
                        m["metric"].as_str().unwrap_or_default(),
                    )
                })
        })
        .collect();
    assert_eq!(
        failed,
        [("overall", "p95"), ("browse", "p95"), ("checkout", "p95")]
    );
}

#[tokio::test]
async fn scenario_flag_takes_another_files_table() {
    let run = compare(
        runs().file("budgets.toml", scenario("budgets", LOOSE)),
        &["--scenario", "budgets.toml"],
    )
    .await;
    run.expect_code(0);
    assert_eq!(
        written(&run)["settings_from"][0],
        "[compare] of `budgets.toml`"
    );
}

#[tokio::test]
async fn a_file_now_holding_another_scenario_is_not_used() {
    let run = compare(runs().file("shop.toml", scenario("other", LOOSE)), &[]).await;
    run.expect_code(1)
        .expect_stderr("holds scenario `other`, not `shop`");
}

#[tokio::test]
async fn a_bad_table_is_invalid_input_at_its_line_and_column() {
    let bad = "[compare]\nconfidence = \"95%\"\nbudget = { p95 = \"40\" }\n";
    let run = compare(runs().file("shop.toml", scenario("shop", bad)), &[]).await;
    run.expect_code(2)
        .expect_stderr("shop.toml:13:18")
        .expect_stderr("`40` is ambiguous");
    assert!(!run.out.join("compare.json").exists());

    let run = compare(
        runs().file(
            "b.toml",
            scenario("b", "[compare]\ngate = [\"p50\", \"p955\"]\n"),
        ),
        &["--scenario", "b.toml"],
    )
    .await;
    run.expect_code(2)
        .expect_stderr("b.toml:12:16")
        .expect_stderr("did you mean `p95`?");
}

/// Verdicts of one metric in every scope, in scope order.
fn verdicts(c: &serde_json::Value, metric: &str) -> Vec<String> {
    c["scopes"]
        .as_array()
        .expect("scopes")
        .iter()
        .flat_map(|s| s["metrics"].as_array().expect("metrics"))
        .filter(|m| m["metric"] == metric)
        .map(|m| m["verdict"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn an_absolute_latency_floor_from_the_table_or_a_flag() {
    // Defaults: 1 ms, far below the candidate's +5 ms (p50) to +22 ms (p99) changes.
    let run = compare(runs(), &[]).await;
    run.expect_code(1);
    let c = written(&run);
    assert_eq!(c["options"]["min_latency_change_us"], 1000);
    run.expect_stdout("noise floor 5 % and 1 ms.");
    assert_eq!(verdicts(&c, "p50"), ["regression"; 3]);

    // A 10 ms flag silences the p50 changes (+4.7 to +7.4 ms) but not p95 (+12 to +19 ms).
    let run = compare(runs(), &["--min-latency-change", "10ms"]).await;
    run.expect_code(1);
    let c = written(&run);
    assert_eq!(verdicts(&c, "p50"), ["no_change"; 3]);
    assert_eq!(verdicts(&c, "p95"), ["regression"; 3]);
    assert_eq!(c["scopes"][0]["metrics"][0]["min_change"], 10_000.0);
    assert!(c["scopes"][0]["metrics"][5].get("min_change").is_none());

    // 25 ms in the table is above every gated latency change: the gate passes, and a flag of 0
    // turns the floor off again.
    let table = "[compare]\nmin_latency_change = \"25ms\"\n";
    let run = compare(runs().file("shop.toml", scenario("shop", table)), &[]).await;
    run.expect_code(0);
    assert_eq!(written(&run)["options"]["min_latency_change_us"], 25_000);
    run.expect_stdout("noise floor 5 % and 25 ms.");
    let html = run.out_text("compare.html");
    assert!(html.contains("25 ms"), "compare.html shows the floor");
    let run = compare(
        runs().file("shop.toml", scenario("shop", table)),
        &["--min-latency-change", "0"],
    )
    .await;
    run.expect_code(1);
    assert_eq!(written(&run)["options"]["min_latency_change_us"], 0);
    run.expect_stdout("noise floor 5 %.");

    // A value without a unit is invalid input, in the table and as a flag.
    let bad = "[compare]\nmin_latency_change = \"25\"\n";
    let run = compare(runs().file("shop.toml", scenario("shop", bad)), &[]).await;
    run.expect_code(2)
        .expect_stderr("shop.toml:12:22")
        .expect_stderr("`25` has no");
    let run = compare(runs(), &["--min-latency-change", "fast"]).await;
    run.expect_code(2).expect_stderr("`fast` is not a duration");
}
