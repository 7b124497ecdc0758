//! Output files of a real run: results.json against its schema, summary.csv, junit.xml.

use super::support::{Kneepoint, target};

fn scenario(url: &str) -> String {
    format!(
        r#"
name = "outputs"
[target]
base_url = "{url}"
[load]
users = 2
duration = "30s"
iterations = 40
[[transaction]]
name = "fast"
weight = 1
[[transaction.request]]
name = "zero"
path = "/delay/0"
[[transaction]]
name = "broken"
weight = 1
[[transaction.request]]
name = "fail"
path = "/status/503"
[[sla]]
name = "fast is fast"
scope = "fast"
metric = "p95"
threshold = "500ms"
[[sla]]
name = "few errors"
metric = "error_rate"
threshold = "1%"
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_csv_and_junit_agree() {
    let t = target().await;
    let run = Kneepoint::new()
        .file("s.toml", &scenario(&t.url))
        .args(&["run", "s.toml", "--out", "out", "--quiet"])
        .run()
        .await;
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
    let status_kind = &overall["errors"][0];
    assert_eq!(status_kind["kind"], "status");
    assert!(
        status_kind["samples"][0]
            .as_str()
            .is_some_and(|s| s.contains("503")),
        "{status_kind}"
    );

    let csv = std::fs::read_to_string(run.out.join("summary.csv")).expect("summary.csv");
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

    let junit = std::fs::read_to_string(run.out.join("junit.xml")).expect("junit.xml");
    assert!(junit.contains("fast is fast"), "{junit}");
    assert!(junit.contains("few errors"), "{junit}");
    assert_eq!(
        junit.matches("<failure").count(),
        1,
        "one SLA failed: {junit}"
    );
}
