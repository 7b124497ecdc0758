//! `kneepoint compare` through the real binary: the `[compare]` table of the candidate's
//! scenario (or of `--scenario FILE`) sets budgets, flags override it, and a bad table is
//! invalid input located at file:line:column.
//!
//! The fixtures are two runs of scenario `shop` (recorded path `shop.toml`); the candidate is
//! 22–30 % slower in p50, p95, p99 and mean, overall and in both transactions.

use super::support::{Finished, Kneepoint};

const BASELINE: &str = include_str!("../fixtures/compare/baseline.json");
const SLOWER: &str = include_str!("../fixtures/compare/slower.json");

/// Scenario `name` with `compare` appended (a `[compare]` table or nothing).
fn scenario(name: &str, compare: &str) -> String {
    format!(
        r#"name = "{name}"
[target]
base_url = "http://127.0.0.1:9"
[load]
users = 1
duration = "10s"
[[transaction]]
name = "browse"
[[transaction.request]]
path = "/"
{compare}"#
    )
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

fn written(run: &Finished) -> serde_json::Value {
    let text = std::fs::read_to_string(run.out.join("compare.json"))
        .unwrap_or_else(|e| panic!("no compare.json ({e}); stderr:\n{}", run.stderr));
    serde_json::from_str(&text).expect("compare.json is JSON")
}

#[tokio::test]
async fn without_a_readable_scenario_the_defaults_fail_the_slower_run() {
    let run = compare(runs(), &[]).await;
    run.expect_code(1);
    assert!(
        run.stderr.contains("`shop.toml` cannot be read from here"),
        "{}",
        run.stderr
    );
    assert!(written(&run).get("settings_from").is_none());
}

#[tokio::test]
async fn budgets_of_the_candidates_scenario_pass_it_and_flags_override_them() {
    let run = compare(runs().file("shop.toml", &scenario("shop", LOOSE)), &[]).await;
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
        runs().file("shop.toml", &scenario("shop", LOOSE)),
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
        runs().file("budgets.toml", &scenario("budgets", LOOSE)),
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
    let run = compare(runs().file("shop.toml", &scenario("other", LOOSE)), &[]).await;
    run.expect_code(1);
    assert!(
        run.stderr.contains("holds scenario `other`, not `shop`"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn a_bad_table_is_invalid_input_at_its_line_and_column() {
    let bad = "[compare]\nconfidence = \"95%\"\nbudget = { p95 = \"40\" }\n";
    let run = compare(runs().file("shop.toml", &scenario("shop", bad)), &[]).await;
    run.expect_code(2);
    assert!(run.stderr.contains("shop.toml:13:18"), "{}", run.stderr);
    assert!(run.stderr.contains("`40` is ambiguous"), "{}", run.stderr);
    assert!(!run.out.join("compare.json").exists());

    let run = compare(
        runs().file(
            "b.toml",
            &scenario("b", "[compare]\ngate = [\"p50\", \"p955\"]\n"),
        ),
        &["--scenario", "b.toml"],
    )
    .await;
    run.expect_code(2);
    assert!(run.stderr.contains("b.toml:12:16"), "{}", run.stderr);
    assert!(run.stderr.contains("did you mean `p95`?"), "{}", run.stderr);
}
