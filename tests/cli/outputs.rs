//! Output files of a real run: results.json against its schema, summary.csv, junit.xml.

use super::support::{Scenario, expect_first_error, run_scenario, target};

/// 40 iterations of two equally weighted transactions, one fast and one always failing, under
/// an SLA on each.
fn scenario(url: &str) -> Scenario {
    Scenario::new("outputs", url)
        .closed(2, "30s", 40)
        .transaction("fast")
        .with("weight = 1")
        .request("zero", "/delay/0")
        .transaction("broken")
        .with("weight = 1")
        .request("fail", "/status/503")
        .with(
            r#"[[sla]]
name = "fast is fast"
scope = "fast"
metric = "p95"
threshold = "500ms"
[[sla]]
name = "few errors"
metric = "error_rate"
threshold = "1%""#,
        )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_csv_and_junit_agree() {
    let t = target().await;
    let run = run_scenario(scenario(&t.url), true).await;
    run.expect_code(1);
    let results = run.results();

    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/schemas/results.schema.json"
        ))
        .expect("schema file"),
    )
    .expect("schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let problems: Vec<String> = validator
        .iter_errors(&results)
        .map(|e| e.to_string())
        .collect();
    assert!(
        problems.is_empty(),
        "results.json breaks its schema: {problems:#?}"
    );

    let overall = run.scope("overall");
    let errors = overall["stats"]["errors"].as_u64().expect("errors");
    assert!(errors > 0 && errors < 40, "{errors}");
    assert!(overall["status_codes"]["503"].as_u64() == Some(errors));
    expect_first_error(&overall, "status", "503");

    let csv = run.out_text("summary.csv");
    let mut rows = csv::Reader::from_reader(csv.as_bytes());
    let headers = rows.headers().expect("header row").clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("column {name}"))
    };
    let first = rows.records().next().expect("a row").expect("valid row");
    assert_eq!(&first[col("name")], "overall");
    assert_eq!(&first[col("requests")], "40");
    assert_eq!(first[col("errors")].parse::<u64>().ok(), Some(errors));

    let junit = run.out_text("junit.xml");
    assert!(junit.contains("fast is fast"), "{junit}");
    assert!(junit.contains("few errors"), "{junit}");
    assert_eq!(
        junit.matches("<failure").count(),
        1,
        "one SLA failed: {junit}"
    );
}
