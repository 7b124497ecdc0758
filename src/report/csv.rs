//! `summary.csv`: one row per scope, for spreadsheets and quick scripts.
//!
//! Invariant: columns are fixed and named with their unit (`_us`, `_rps`); latencies are the
//! results' whole microseconds, unrounded. For an open model the `intended_*` columns hold the
//! coordinated-omission-correct latencies (empty for a closed model).

use serde::Serialize;

use crate::report::{Exporter, ReportError};
use crate::results::{LatencySummary, RunResults, ScopeKind};

/// Writes `summary.csv`.
#[derive(Debug, Clone, Copy, Default)]
pub struct CsvExporter;

/// One CSV row; field order is column order.
#[derive(Serialize)]
struct Row<'a> {
    kind: ScopeKind,
    name: &'a str,
    requests: u64,
    errors: u64,
    error_rate: f64,
    throughput_rps: f64,
    min_us: u64,
    mean_us: f64,
    p50_us: u64,
    p90_us: u64,
    p95_us: u64,
    p99_us: u64,
    p99_9_us: u64,
    max_us: u64,
    intended_p50_us: Option<u64>,
    intended_p95_us: Option<u64>,
    intended_p99_us: Option<u64>,
    intended_max_us: Option<u64>,
}

impl Exporter for CsvExporter {
    fn render(&self, run: &RunResults) -> Result<Vec<u8>, ReportError> {
        let err = |e: &dyn std::fmt::Display| ReportError::Render {
            format: "summary.csv",
            message: e.to_string(),
        };
        let mut w = csv::Writer::from_writer(Vec::new());
        for scope in &run.scopes {
            let s = &scope.stats;
            let l = &s.latency_us;
            let i: Option<&LatencySummary> = s.intended_latency_us.as_ref();
            w.serialize(Row {
                kind: scope.kind,
                name: &scope.name,
                requests: s.requests,
                errors: s.errors,
                // Rounded so spreadsheets do not show float noise; 6 decimals keep 0.0001 %.
                error_rate: round(s.error_rate, 6),
                throughput_rps: round(s.throughput_rps, 3),
                min_us: l.min,
                mean_us: round(l.mean, 1),
                p50_us: l.p50,
                p90_us: l.p90,
                p95_us: l.p95,
                p99_us: l.p99,
                p99_9_us: l.p99_9,
                max_us: l.max,
                intended_p50_us: i.map(|i| i.p50),
                intended_p95_us: i.map(|i| i.p95),
                intended_p99_us: i.map(|i| i.p99),
                intended_max_us: i.map(|i| i.max),
            })
            .map_err(|e| err(&e))?;
        }
        w.into_inner().map_err(|e| err(&e))
    }

    fn file_name(&self) -> &'static str {
        "summary.csv"
    }
}

fn round(value: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (value * f).round() / f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::simulated as fixtures;

    fn table(run: &RunResults) -> Vec<csv::StringRecord> {
        let bytes = CsvExporter.render(run).expect("renders");
        let mut r = csv::Reader::from_reader(bytes.as_slice());
        let header = r.headers().expect("header").clone();
        let mut rows = vec![header];
        rows.extend(r.records().map(|r| r.expect("row")));
        rows
    }

    #[test]
    fn one_row_per_scope_with_exact_numbers() {
        let run = fixtures::closed_run();
        let rows = table(&run);
        assert_eq!(
            rows[0].iter().take(14).collect::<Vec<_>>(),
            [
                "kind",
                "name",
                "requests",
                "errors",
                "error_rate",
                "throughput_rps",
                "min_us",
                "mean_us",
                "p50_us",
                "p90_us",
                "p95_us",
                "p99_us",
                "p99_9_us",
                "max_us"
            ]
        );
        assert_eq!(rows.len(), 1 + run.scopes.len());
        for (row, scope) in rows[1..].iter().zip(&run.scopes) {
            assert_eq!(&row[1], scope.name);
            assert_eq!(row[2], scope.stats.requests.to_string());
            assert_eq!(row[3], scope.stats.errors.to_string());
            assert_eq!(row[10], scope.stats.latency_us.p95.to_string());
            assert_eq!(row[13], scope.stats.latency_us.max.to_string());
            assert_eq!(&row[14], "", "closed model has no intended latency");
        }
        assert_eq!(&rows[1][0], "overall");
        assert_eq!(&rows[2][0], "transaction");
        assert_eq!(&rows[4][1], "browse/home");
        let rate: f64 = rows[1][4].parse().expect("number");
        assert!((rate - run.scopes[0].stats.error_rate).abs() < 1e-6);
    }

    #[test]
    fn open_model_fills_intended_columns() {
        let run = fixtures::open_run();
        let rows = table(&run);
        let intended = run.scopes[0].stats.intended_latency_us.expect("open");
        assert_eq!(rows[1][16], intended.p99.to_string());
    }

    #[test]
    fn names_with_commas_and_quotes_are_quoted() {
        let mut run = fixtures::closed_run();
        run.scopes[1].name = "a, \"b\"".into();
        let rows = table(&run);
        assert_eq!(&rows[2][1], "a, \"b\"");
    }
}
