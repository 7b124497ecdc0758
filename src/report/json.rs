//! `results.json`: the results contract itself, pretty-printed.
//!
//! Invariant: the bytes are exactly what [`RunResults::write`] writes, so a file written by the
//! run loop and one written through the exporters are interchangeable; the committed
//! `schemas/results.schema.json` describes them (a test validates real output against it).

use crate::report::{Exporter, ReportError};
use crate::results::RunResults;

/// Writes `results.json`.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonExporter;

impl Exporter for JsonExporter {
    fn render(&self, run: &RunResults) -> Result<Vec<u8>, ReportError> {
        serde_json::to_vec_pretty(run).map_err(|e| ReportError::Render {
            format: "results.json",
            message: e.to_string(),
        })
    }

    fn file_name(&self) -> &'static str {
        "results.json"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{RunStatus, ServerSeries};
    use crate::testing::simulated as fixtures;

    const SCHEMA: &str = include_str!("../../schemas/results.schema.json");

    fn validator() -> jsonschema::Validator {
        let schema: serde_json::Value = serde_json::from_str(SCHEMA).expect("schema is JSON");
        jsonschema::draft202012::new(&schema).expect("schema is a valid 2020-12 schema")
    }

    #[track_caller]
    fn assert_valid(v: &jsonschema::Validator, instance: &serde_json::Value) {
        let errors: Vec<String> = v
            .iter_errors(instance)
            .map(|e| format!("{} at {}", e, e.instance_path))
            .collect();
        assert!(errors.is_empty(), "{errors:#?}");
    }

    fn to_value(run: &RunResults) -> serde_json::Value {
        let bytes = JsonExporter.render(run).expect("renders");
        serde_json::from_slice(&bytes).expect("valid JSON")
    }

    #[test]
    fn bytes_match_results_write() {
        let run = fixtures::closed_run();
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("results.json");
        run.write(&path).expect("write");
        let written = std::fs::read(&path).expect("read");
        assert_eq!(JsonExporter.render(&run).expect("render"), written);
    }

    #[test]
    fn real_output_validates_against_the_schema() {
        let v = validator();
        assert_valid(&v, &to_value(&fixtures::closed_run()));
        // The open run covers arrivals, intended histograms and another status.
        let mut open = fixtures::open_run();
        open.server_metrics = vec![ServerSeries {
            name: "cache_hit_ratio".into(),
            unit: "ratio".into(),
            points: vec![(0.5, 0.91), (1.5, 0.93)],
        }];
        assert_valid(&v, &to_value(&open));
        for status in [
            RunStatus::InProgress,
            RunStatus::Aborted {
                reason: "SLA lost".into(),
            },
            RunStatus::Failed {
                reason: "connection refused".into(),
            },
        ] {
            let mut run = fixtures::open_run();
            run.status = status;
            assert_valid(&v, &to_value(&run));
        }
        let sample: serde_json::Value =
            serde_json::from_str(&fixtures::sample_json()).expect("sample JSON");
        assert_valid(&v, &sample);
    }

    #[test]
    fn schema_rejects_what_the_reader_rejects() {
        let v = validator();
        let good = to_value(&fixtures::closed_run());
        type Mutation = (&'static str, fn(&mut serde_json::Value));
        let mutations: [Mutation; 6] = [
            ("unknown top-level key", |j| {
                j["surprise"] = 1.into();
            }),
            ("missing scopes", |j| {
                j.as_object_mut().expect("object").remove("scopes");
            }),
            ("unknown scope key", |j| {
                j["scopes"][0]["extra"] = true.into();
            }),
            ("negative count", |j| {
                j["scopes"][0]["stats"]["requests"] = (-1).into();
            }),
            ("unknown status", |j| {
                j["status"] = serde_json::json!({"state": "exploded"});
            }),
            ("unknown error kind", |j| {
                j["scopes"][0]["errors"][0]["kind"] = "gremlins".into();
            }),
        ];
        for (what, mutate) in mutations {
            let mut bad = good.clone();
            mutate(&mut bad);
            assert!(!v.is_valid(&bad), "schema accepted: {what}");
            // The Rust reader agrees, so the schema is neither looser nor stricter here.
            let text = bad.to_string();
            assert!(
                RunResults::from_json(std::path::Path::new("x.json"), &text).is_err(),
                "reader accepted: {what}"
            );
        }
    }
}
