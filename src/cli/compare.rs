//! `kneepoint compare`: read two runs, compare them, print the Markdown table and write
//! `compare.json`, `compare.md` and `compare.junit.xml`.
//!
//! Budgets come from flags only; a `[compare]` table in the scenario is not read yet.

use std::path::{Path, PathBuf};

use kneepoint::compare::{self, CompareError, CompareOptions, Metric, Side};
use kneepoint::results::RunResults;
use kneepoint::{Failure, Outcome};

/// Flags of `kneepoint compare`.
#[derive(Debug, clap::Args)]
pub(crate) struct CompareArgs {
    /// Baseline run: a results.json file or a run folder.
    baseline: PathBuf,
    /// Candidate run: a results.json file or a run folder.
    candidate: PathBuf,
    /// Folder for compare.json, compare.md and compare.junit.xml [default: `compare/` next to
    /// the candidate's results.json].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Smallest relative change that counts: `5%` for all metrics, or `p99=10%` for one.
    #[arg(long, value_name = "[METRIC=]PCT", value_parser = parse_floor)]
    noise_floor: Vec<(Option<Metric>, f64)>,
    /// Confidence of the intervals: `0.95` or `95%`.
    #[arg(long, default_value = "0.95", value_parser = parse_confidence)]
    confidence: f64,
    /// Largest allowed regression of a metric, e.g. `p95=10%`; repeatable.
    #[arg(long, value_name = "METRIC=PCT", value_parser = parse_budget)]
    budget: Vec<(Metric, f64)>,
    /// Seed of the bootstrap.
    #[arg(long)]
    seed: Option<u64>,
    /// Bootstrap replicates per percentile.
    #[arg(long, default_value_t = CompareOptions::default().resamples)]
    resamples: usize,
    /// Gate request scopes too (by default only overall and transactions are gated).
    #[arg(long)]
    gate_requests: bool,
    /// Gate only these metrics (repeatable) instead of all but `max`; budgeted metrics are
    /// always gated.
    #[arg(long, value_name = "METRIC")]
    gate: Vec<Metric>,
    /// Compare the intended-start latency of open-model runs (coordinated-omission corrected).
    #[arg(long)]
    intended: bool,
}

impl CompareArgs {
    pub(crate) fn execute(self) -> Result<Outcome, Failure> {
        let read = |path: &Path| {
            RunResults::read(path).map_err(|e| Failure::invalid(miette::miette!("{}", chain(&e))))
        };
        let baseline = read(&self.baseline)?;
        let candidate = read(&self.candidate)?;

        let mut opts = CompareOptions {
            confidence: self.confidence,
            resamples: self.resamples,
            gate_requests: self.gate_requests,
            intended: self.intended,
            ..CompareOptions::default()
        };
        if !self.gate.is_empty() {
            opts.gate_metrics.clone_from(&self.gate);
        }
        if let Some(seed) = self.seed {
            opts.seed = seed;
        }
        for (metric, floor) in &self.noise_floor {
            match metric {
                Some(m) => {
                    opts.noise_floors.insert(*m, *floor);
                }
                None => opts.noise_floor = *floor,
            }
        }
        opts.budgets.extend(self.budget.iter().copied());

        let mut comparison = compare::compare(&baseline, &candidate, &opts)
            .map_err(|e| Failure::invalid(miette::miette!("{}", self.explain(&e))))?;
        comparison.baseline.source = Some(self.baseline.display().to_string());
        comparison.candidate.source = Some(self.candidate.display().to_string());

        let markdown = compare::to_markdown(&comparison);
        let junit =
            compare::to_junit(&comparison).map_err(|e| Failure::run(miette::miette!("{e}")))?;
        let json = serde_json::to_string_pretty(&comparison)
            .map_err(|e| Failure::run(miette::miette!("cannot serialize the comparison: {e}")))?;
        let html =
            kneepoint::report::html::render_compare_with_runs(&comparison, &baseline, &candidate)
                .map_err(|e| Failure::run(miette::miette!("cannot render compare.html: {e}")))?;
        let out = self
            .out
            .clone()
            .unwrap_or_else(|| default_out(&self.candidate));
        write_all(
            &out,
            &[
                ("compare.json", json.as_bytes()),
                ("compare.md", markdown.as_bytes()),
                ("compare.junit.xml", junit.as_bytes()),
                ("compare.html", html.as_bytes()),
            ],
        )?;
        print!("{markdown}");
        eprintln!(
            "wrote {}",
            out.join("compare.{json,md,junit.xml}").display()
        );
        Ok(Outcome::from_passed(comparison.summary.passed))
    }

    /// The error with the files it concerns.
    fn explain(&self, e: &CompareError) -> String {
        let (b, c) = (self.baseline.display(), self.candidate.display());
        match e {
            CompareError::Decode { side, .. } => {
                let file = match side {
                    Side::Baseline => &self.baseline,
                    Side::Candidate => &self.candidate,
                };
                format!("`{}`: {}", file.display(), chain(e))
            }
            CompareError::ScenarioMismatch { .. } | CompareError::NoCommonScope => {
                format!("cannot compare `{b}` with `{c}`: {}", chain(e))
            }
            _ => chain(e),
        }
    }
}

/// `compare/` beside the candidate's results.json (inside a run folder, beside a file).
fn default_out(candidate: &Path) -> PathBuf {
    if candidate.is_dir() {
        candidate.join("compare")
    } else {
        candidate
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("compare"), |p| p.join("compare"))
    }
}

fn write_all(dir: &Path, files: &[(&str, &[u8])]) -> Result<(), Failure> {
    let fail = |path: &Path, e: std::io::Error| {
        Failure::run(miette::miette!("cannot write `{}`: {e}", path.display()))
    };
    std::fs::create_dir_all(dir).map_err(|e| fail(dir, e))?;
    for (name, bytes) in files {
        let path = dir.join(name);
        std::fs::write(&path, bytes).map_err(|e| fail(&path, e))?;
    }
    Ok(())
}

/// An error and its causes on one line, skipping causes the message already includes.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

/// `5%` → 0.05, `0.05` → 0.05; a bare number above 1 is refused as ambiguous.
pub(crate) fn parse_fraction(s: &str) -> Result<f64, String> {
    let s = s.trim();
    let (number, scale) = match s.strip_suffix('%') {
        Some(n) => (n.trim(), 100.0),
        None => (s, 1.0),
    };
    let v: f64 = number
        .parse()
        .map_err(|_| format!("`{s}` is not a number or percentage"))?;
    let v = v / scale;
    if !v.is_finite() || v < 0.0 {
        return Err(format!("`{s}` must not be negative"));
    }
    if scale == 1.0 && v > 1.0 {
        return Err(format!(
            "`{s}` is ambiguous: write `{s}%` or a fraction like 0.05"
        ));
    }
    Ok(v)
}

fn parse_confidence(s: &str) -> Result<f64, String> {
    let v = parse_fraction(s)?;
    if v > 0.5 && v < 1.0 {
        Ok(v)
    } else {
        Err(format!("confidence `{s}` must lie between 50% and 100%"))
    }
}

fn parse_budget(s: &str) -> Result<(Metric, f64), String> {
    let (metric, value) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}`: expected METRIC=PCT, e.g. p95=10%"))?;
    let metric: Metric = metric.parse().map_err(|e| format!("{e}"))?;
    Ok((metric, parse_fraction(value)?))
}

fn parse_floor(s: &str) -> Result<(Option<Metric>, f64), String> {
    if s.contains('=') {
        parse_budget(s).map(|(m, v)| (Some(m), v))
    } else {
        parse_fraction(s).map(|v| (None, v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    #[derive(Debug, clap::Parser)]
    struct Wrap {
        #[command(flatten)]
        args: CompareArgs,
    }

    fn args(argv: &[&str]) -> CompareArgs {
        let mut full = vec!["compare"];
        full.extend_from_slice(argv);
        Wrap::try_parse_from(full).expect("flags parse").args
    }

    #[test]
    fn flags_parse() {
        let a = args(&[
            "a",
            "b",
            "--noise-floor",
            "3%",
            "--noise-floor",
            "p99=10%",
            "--budget",
            "p95=10%",
            "--budget",
            "error-rate=0.5%",
            "--confidence",
            "99%",
            "--gate",
            "p95",
            "--intended",
        ]);
        assert_eq!(a.gate, [Metric::P95]);
        assert!(a.intended);
        assert_eq!(a.noise_floor, [(None, 0.03), (Some(Metric::P99), 0.1)]);
        assert_eq!(a.budget, [(Metric::P95, 0.1), (Metric::ErrorRate, 0.005)]);
        assert!((a.confidence - 0.99).abs() < 1e-12);
        assert!(parse_fraction("5").is_err());
        assert!(parse_budget("p42=1%").is_err());
        assert!(parse_confidence("1.0").is_err());
    }

    #[test]
    fn default_out_is_next_to_the_candidate() {
        assert_eq!(
            default_out(Path::new("runs/b/results.json")),
            Path::new("runs/b/compare")
        );
        assert_eq!(default_out(Path::new("results.json")), Path::new("compare"));
    }

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/compare")
            .join(name)
    }

    fn run(baseline: &Path, candidate: &Path, out: &Path) -> Result<Outcome, Failure> {
        args(&[
            &baseline.display().to_string(),
            &candidate.display().to_string(),
            "--out",
            &out.display().to_string(),
        ])
        .execute()
    }

    fn invalid_message(r: Result<Outcome, Failure>) -> String {
        match r {
            Err(f @ Failure::Invalid(_)) => format!("{:?}", f.report()),
            other => panic!("expected invalid input, got {other:?}"),
        }
    }

    /// A copy of the baseline fixture with one JSON edit, in `dir`.
    fn edited(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) -> PathBuf {
        let text = std::fs::read_to_string(fixture("baseline.json")).expect("fixture");
        let mut v: serde_json::Value = serde_json::from_str(&text).expect("json");
        edit(&mut v);
        let path = dir.join("edited.json");
        std::fs::write(&path, v.to_string()).expect("write");
        path
    }

    #[test]
    fn slower_candidate_fails_and_writes_every_file() {
        let out = tempfile::tempdir().expect("tempdir");
        let r = run(
            &fixture("baseline.json"),
            &fixture("slower.json"),
            out.path(),
        );
        assert_eq!(r.expect("compares"), Outcome::Breached);
        for f in ["compare.json", "compare.md", "compare.junit.xml"] {
            assert!(out.path().join(f).is_file(), "{f}");
        }
        let md = std::fs::read_to_string(out.path().join("compare.md")).expect("md");
        assert!(md.starts_with("### ❌"), "{md}");
        let back = run(
            &fixture("slower.json"),
            &fixture("baseline.json"),
            out.path(),
        );
        assert_eq!(back.expect("compares"), Outcome::Passed);
    }

    #[test]
    fn a_run_against_itself_passes() {
        let out = tempfile::tempdir().expect("tempdir");
        let r = run(
            &fixture("baseline.json"),
            &fixture("baseline.json"),
            out.path(),
        );
        assert_eq!(r.expect("compares"), Outcome::Passed);
    }

    #[test]
    fn bad_inputs_are_invalid_and_name_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let base = fixture("baseline.json");
        let missing = dir.path().join("nope.json");
        let msg = invalid_message(run(&base, &missing, dir.path()));
        assert!(msg.contains("nope.json"), "{msg}");

        let other = edited(dir.path(), |v| v["scenario"]["name"] = "other".into());
        let msg = invalid_message(run(&base, &other, dir.path()));
        assert!(
            msg.contains("edited.json") && msg.contains("`other`"),
            "{msg}"
        );

        let corrupt = edited(dir.path(), |v| v["scopes"][1]["histogram"] = "AAAA".into());
        let msg = invalid_message(run(&base, &corrupt, dir.path()));
        assert!(
            msg.contains("edited.json") && msg.contains("browse"),
            "{msg}"
        );

        let future = edited(dir.path(), |v| v["schema_version"] = 99.into());
        let msg = invalid_message(run(&future, &base, dir.path()));
        assert!(
            msg.contains("edited.json") && msg.contains("schema_version 99"),
            "{msg}"
        );

        let disjoint = edited(dir.path(), |v| {
            for s in v["scopes"].as_array_mut().expect("scopes") {
                s["name"] = format!("x-{}", s["name"].as_str().unwrap_or_default()).into();
            }
        });
        let msg = invalid_message(run(&base, &disjoint, dir.path()));
        assert!(msg.contains("no scope in common"), "{msg}");
    }
}
