//! Measured points from a CSV file (`kneepoint capacity --from-points`), as capacity steps.
//!
//! Invariant: parses text only (the caller reads the file); every row becomes one
//! [`StepRecord`] in file order, and a bad cell is reported with its line, never skipped.

use std::ops::Range;

use csv::{ReaderBuilder, StringRecord, Trim};

use super::{StepMeasurement, StepRecord};
use crate::diagnostic::Located;
use crate::results::{OVERALL_SCOPE, SlaVerdict, UNIT_MICROS};
use crate::scenario::model::{LatencyStat, Operator};

/// Extra judgement applied to the points.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PointsOptions {
    /// Treat `p95_ms` above this limit as an SLA breach (`overall p95 < LIMIT`).
    pub p95_limit_ms: Option<f64>,
}

/// The columns a points file may have, for the hint when one is missing.
const COLUMNS: &str = "columns: load, throughput, and optionally p50_ms, p95_ms, p99_ms, mean_ms, \
                       error_rate, concurrency, think_ms, sla_passed";

/// Byte span of 1-based `line` of `text`, narrowed to its cell `cell` when the line can be
/// split without a CSV parser (no quotes).
fn span_of(text: &str, line: u64, cell: Option<usize>) -> Range<usize> {
    let mut start = 0;
    for (n, l) in text.split_inclusive('\n').enumerate() {
        if n as u64 + 1 == line {
            let body = l.trim_end_matches(['\n', '\r']);
            if let Some(c) = cell.filter(|_| !body.contains('"')) {
                let mut at = start;
                for (i, field) in body.split(',').enumerate() {
                    if i == c {
                        let lead = field.len() - field.trim_start().len();
                        return at + lead..at + lead + field.trim().len();
                    }
                    at += field.len() + 1;
                }
            }
            return start..start + body.len();
        }
        start += l.len();
    }
    text.len()..text.len()
}

/// Parse `text` (named `name` in messages) into steps.
pub fn steps_from_csv(
    name: &str,
    text: &str,
    opts: &PointsOptions,
) -> Result<Vec<StepRecord>, Located> {
    let mut reader = ReaderBuilder::new()
        .trim(Trim::All)
        .comment(Some(b'#'))
        .from_reader(text.as_bytes());
    let syntax = |e: csv::Error| {
        let line = e.position().map_or(1, csv::Position::line);
        Located::at(name, text, span_of(text, line, None), e.to_string(), "here")
    };
    let missing = |column: &str| {
        Located::at(
            name,
            text,
            span_of(text, 1, None),
            format!("missing column `{column}`"),
            "this header",
        )
        .with_help(COLUMNS)
    };
    let headers = reader.headers().map_err(syntax)?.clone();
    let cell = |line: u64, c: usize, message: String| {
        let column = headers.get(c).unwrap_or_default();
        Located::at(
            name,
            text,
            span_of(text, line, Some(c)),
            format!("column `{column}`: {message}"),
            "this cell",
        )
    };
    let col = |names: &[&str]| {
        headers
            .iter()
            .position(|h| names.iter().any(|n| h.eq_ignore_ascii_case(n)))
    };
    let load_col =
        col(&["load", "users", "concurrency_target", "rate"]).ok_or_else(|| missing("load"))?;
    let x_col =
        col(&["throughput", "throughput_rps", "rps"]).ok_or_else(|| missing("throughput"))?;
    let optional = [
        "p50_ms",
        "p95_ms",
        "p99_ms",
        "mean_ms",
        "error_rate",
        "concurrency",
        "think_ms",
    ]
    .map(|c| col(&[c]));
    let sla_col = col(&["sla_passed", "sla"]);

    let mut steps = Vec::new();
    for (index, row) in reader.records().enumerate() {
        let row = row.map_err(syntax)?;
        let line = row.position().map_or(1, csv::Position::line);
        let num = |c: usize| -> Result<Option<f64>, Located> {
            cell_number(&row, c).map_err(|message| cell(line, c, message))
        };
        let required = |c: usize| -> Result<f64, Located> {
            num(c)?.ok_or_else(|| cell(line, c, "a number is required".into()))
        };
        let load = required(load_col)?;
        let throughput_rps = required(x_col)?;
        let [p50, p95, p99, mean, errors, concurrency, think] = optional;
        let get = |c: Option<usize>| c.map_or(Ok(None), num);
        let p95_ms = get(p95)?;
        let mut slas = Vec::new();
        if let Some(c) = sla_col {
            let text = row.get(c).unwrap_or_default();
            let passed = match text.to_ascii_lowercase().as_str() {
                "" => None,
                "true" | "yes" | "1" | "pass" | "passed" => Some(true),
                "false" | "no" | "0" | "fail" | "failed" => Some(false),
                _ => {
                    return Err(cell(line, c, format!("`{text}` is not true/false")));
                }
            };
            if let Some(passed) = passed {
                slas.push(SlaVerdict {
                    name: "sla (from file)".into(),
                    scope: OVERALL_SCOPE.into(),
                    metric: "sla".into(),
                    comparison: Operator::Lt.symbol().into(),
                    threshold: 1.0,
                    actual: None,
                    unit: String::new(),
                    threshold_text: String::new(),
                    passed,
                    abort: false,
                });
            }
        }
        if let (Some(limit), Some(p95)) = (opts.p95_limit_ms, p95_ms) {
            slas.push(p95_verdict(limit, p95));
        }
        let measured = StepMeasurement {
            throughput_rps,
            concurrency: get(concurrency)?,
            p50_ms: get(p50)?,
            p95_ms,
            p99_ms: get(p99)?,
            mean_ms: get(mean)?,
            think_ms: get(think)?.unwrap_or(0.0),
            error_rate: get(errors)?.unwrap_or(0.0),
            requests: 0,
            slas,
            elapsed_s: 0.0,
            results: None,
            generator_bound: None,
        };
        steps.push(StepRecord {
            index,
            load,
            warmup_s: 0.0,
            hold_s: 0.0,
            sla_passed: measured.sla_passed(),
            measured,
        });
    }
    if steps.is_empty() {
        return Err(Located::at(
            name,
            text,
            span_of(text, 1, None),
            "no data rows",
            "only a header",
        ));
    }
    Ok(steps)
}

/// An optional non-negative number (empty cell = absent).
fn cell_number(row: &StringRecord, c: usize) -> Result<Option<f64>, String> {
    let text = row.get(c).unwrap_or_default();
    if text.is_empty() {
        return Ok(None);
    }
    let v: f64 = text
        .trim_end_matches('%')
        .parse()
        .map_err(|_| format!("`{text}` is not a number"))?;
    if !v.is_finite() || v < 0.0 {
        return Err(format!("`{text}` must be a non-negative number"));
    }
    Ok(Some(if text.ends_with('%') { v / 100.0 } else { v }))
}

/// The verdict of an `overall p95 < {limit_ms}ms` SLA on a step whose p95 was `p95_ms`.
pub(super) fn p95_verdict(limit_ms: f64, p95_ms: f64) -> SlaVerdict {
    SlaVerdict {
        name: format!("overall p95 < {limit_ms}ms"),
        scope: OVERALL_SCOPE.into(),
        metric: LatencyStat::P95.key().into(),
        comparison: Operator::Lt.symbol().into(),
        threshold: limit_ms * 1000.0,
        actual: Some(p95_ms * 1000.0),
        unit: UNIT_MICROS.into(),
        threshold_text: format!("{limit_ms}ms"),
        passed: p95_ms < limit_ms,
        abort: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_points_and_judges_p95() {
        let csv = "load,throughput,p95_ms,error_rate\n1,100,10,0\n2, 190 ,12,0.1%\n4,350,30,\n";
        let opts = PointsOptions {
            p95_limit_ms: Some(20.0),
        };
        let steps = steps_from_csv("p.csv", csv, &opts).expect("parse");
        assert_eq!(steps.len(), 3);
        assert_eq!(steps[1].measured.throughput_rps, 190.0);
        assert!((steps[1].measured.error_rate - 0.001).abs() < 1e-12);
        assert!(steps[1].sla_passed);
        assert!(!steps[2].sla_passed);
        assert_eq!(steps[2].measured.slas[0].actual, Some(30_000.0));
    }

    #[test]
    fn bad_cells_name_their_line() {
        let err = steps_from_csv(
            "p.csv",
            "load,throughput\n1,100\n2,lots\n",
            &PointsOptions::default(),
        )
        .expect_err("bad");
        assert_eq!(
            err.to_string(),
            "p.csv:3:3: column `throughput`: `lots` is not a number"
        );
        let err = steps_from_csv("p.csv", "users,p95_ms\n1,100\n", &PointsOptions::default())
            .expect_err("missing");
        assert_eq!(err.to_string(), "p.csv:1:1: missing column `throughput`");
        assert!(err.hint().is_some_and(|h| h.contains("p95_ms")), "{err:?}");
        let err = steps_from_csv("p.csv", "load,throughput\n", &PointsOptions::default())
            .expect_err("empty");
        assert_eq!(err.to_string(), "p.csv:1:1: no data rows");
    }
}
