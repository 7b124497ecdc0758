//! `kneepoint compare`: read two runs, compare them, print the Markdown table and write
//! `compare.json`, `compare.md`, `compare.junit.xml` and `compare.html`.
//!
//! Settings are layered: defaults, then the `[compare]` table of a scenario file (`--scenario`,
//! else the candidate's own scenario when its recorded path can be read from here), then flags.

use std::path::{Path, PathBuf};
use std::time::Duration;

use kneepoint::compare::{
    self, CompareError, CompareOptions, CompareSettings, Metric, Side, check_confidence,
    parse_fraction, parse_min_latency_change,
};
use kneepoint::error::chain;
use kneepoint::output;
use kneepoint::results::RunResults;
use kneepoint::{Failure, Outcome};

/// Flags of `kneepoint compare`.
#[derive(Debug, clap::Args)]
pub(crate) struct CompareArgs {
    /// Baseline run: a results.json file or a run folder.
    baseline: PathBuf,
    /// Candidate run: a results.json file or a run folder.
    candidate: PathBuf,
    /// Folder for compare.json, compare.md, compare.junit.xml and compare.html [default:
    /// `compare/` next to the candidate's results.json].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Take settings from the `[compare]` table of this scenario file [default: the
    /// candidate's scenario, when the path its results.json records can be read].
    #[arg(long, value_name = "FILE")]
    scenario: Option<PathBuf>,
    /// Smallest relative change that counts: `5%` for all metrics, or `p99=10%` for one
    /// [default: 5%].
    #[arg(long, value_name = "[METRIC=]PCT", value_parser = parse_floor)]
    noise_floor: Vec<(Option<Metric>, f64)>,
    /// Smallest latency change that counts, besides the relative noise floor: a change of
    /// p50, p95, p99, mean or max is a regression or improvement only if it exceeds both.
    /// A duration such as `1ms` or `250us`; `0` turns it off [default: 1ms].
    #[arg(long, value_name = "DURATION", value_parser = parse_min_latency_change)]
    min_latency_change: Option<Duration>,
    /// Confidence of the intervals: `0.95` or `95%` [default: 95%].
    #[arg(long, value_name = "PCT", value_parser = parse_confidence)]
    confidence: Option<f64>,
    /// Largest allowed regression of a metric, e.g. `p95=10%`; repeatable.
    #[arg(long, value_name = "METRIC=PCT", value_parser = parse_budget)]
    budget: Vec<(Metric, f64)>,
    /// Seed of the bootstrap.
    #[arg(long)]
    seed: Option<u64>,
    /// Bootstrap replicates per percentile [default: 1000].
    #[arg(long, value_name = "N", value_parser = parse_resamples)]
    resamples: Option<usize>,
    /// Gate request scopes too (by default only overall and transactions are gated);
    /// `--gate-requests=false` turns it off when a scenario turns it on.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    gate_requests: Option<bool>,
    /// Gate only these metrics (repeatable) instead of all but `max`; budgeted metrics are
    /// always gated.
    #[arg(long, value_name = "METRIC")]
    gate: Vec<Metric>,
    /// Compare the intended-start latency of open-model runs (coordinated-omission corrected);
    /// `--intended=false` turns it off when a scenario turns it on.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    intended: Option<bool>,
}

impl CompareArgs {
    pub(crate) fn execute(self) -> Result<Outcome, Failure> {
        let read = |path: &Path| {
            RunResults::read(path).map_err(|e| Failure::invalid(miette::miette!("{}", chain(&e))))
        };
        let baseline = read(&self.baseline)?;
        let candidate = read(&self.candidate)?;

        let mut opts = CompareOptions::default();
        let mut settings_from = Vec::new();
        if let Some((table, from)) = self.scenario_settings(&candidate)? {
            opts.apply(&table);
            settings_from.push(from);
        }
        let flags = self.flag_settings();
        if !flags.is_empty() {
            opts.apply(&flags);
            settings_from.push("flags".to_owned());
        }

        let mut comparison = compare::compare(&baseline, &candidate, &opts)
            .map_err(|e| Failure::invalid(miette::miette!("{}", self.explain(&e))))?;
        comparison.baseline.source = Some(self.baseline.display().to_string());
        comparison.candidate.source = Some(self.candidate.display().to_string());
        comparison.settings_from = settings_from;

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
            out.join("compare.{json,md,junit.xml,html}").display()
        );
        Ok(Outcome::from_passed(comparison.summary.passed))
    }

    /// What the flags set; unset flags leave the lower layers alone.
    fn flag_settings(&self) -> CompareSettings {
        let mut s = CompareSettings {
            confidence: self.confidence,
            min_latency_change: self.min_latency_change,
            gate: (!self.gate.is_empty()).then(|| self.gate.clone()),
            gate_requests: self.gate_requests,
            intended: self.intended,
            resamples: self.resamples,
            seed: self.seed,
            budgets: self.budget.iter().copied().collect(),
            ..CompareSettings::default()
        };
        for (metric, floor) in &self.noise_floor {
            match metric {
                Some(m) => {
                    s.noise_floors.insert(*m, *floor);
                }
                None => s.noise_floor = Some(*floor),
            }
        }
        s
    }

    /// The `[compare]` table to use and where it came from: `--scenario`, else the candidate's
    /// scenario file when it can be read from here and is still that scenario. A scenario with
    /// problems is invalid input: budgets silently dropped would make the gate lie.
    fn scenario_settings(
        &self,
        candidate: &RunResults,
    ) -> Result<Option<(CompareSettings, String)>, Failure> {
        if let Some(path) = &self.scenario {
            let s = kneepoint::scenario::load(path, &[]).map_err(Failure::invalid)?;
            if s.compare.is_empty() {
                eprintln!(
                    "note: `{}` has no [compare] table; default settings apply",
                    path.display()
                );
                return Ok(None);
            }
            return Ok(Some((
                s.compare,
                format!("[compare] of `{}`", path.display()),
            )));
        }
        let recorded = Path::new(&candidate.scenario.path);
        if !recorded.is_file() {
            eprintln!(
                "note: the candidate's scenario `{}` cannot be read from here, so no [compare] \
                 table applies; pass --scenario FILE to use one",
                recorded.display()
            );
            return Ok(None);
        }
        let s = kneepoint::scenario::load(recorded, &[]).map_err(|e| {
            Failure::invalid(miette::Report::new(e).wrap_err(format!(
                "the candidate's scenario `{}` (recorded in its results.json) is invalid; fix it, \
                 or pass --scenario FILE to take settings from another file",
                recorded.display()
            )))
        })?;
        if s.name != candidate.scenario.name {
            eprintln!(
                "note: `{}` now holds scenario `{}`, not `{}`; its [compare] table is not used",
                recorded.display(),
                s.name,
                candidate.scenario.name
            );
            return Ok(None);
        }
        if s.compare.is_empty() {
            return Ok(None);
        }
        let changed = if s.sha256 == candidate.scenario.sha256 {
            ""
        } else {
            " (changed since the candidate ran)"
        };
        Ok(Some((
            s.compare,
            format!("[compare] of `{}`{changed}", recorded.display()),
        )))
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
    output::write_files(dir, files)
        .map(drop)
        .map_err(|e| Failure::run(miette::miette!("{}", chain(&e))))
}

fn parse_confidence(s: &str) -> Result<f64, String> {
    check_confidence(parse_fraction(s)?, s)
}

fn parse_resamples(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if n >= compare::MIN_RESAMPLES => Ok(n),
        _ => Err(format!(
            "`{s}` is not an integer of {} or more",
            compare::MIN_RESAMPLES
        )),
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
        assert_eq!(a.noise_floor, [(None, 0.03), (Some(Metric::P99), 0.1)]);
        assert_eq!(a.budget, [(Metric::P95, 0.1), (Metric::ErrorRate, 0.005)]);
        assert!(a.confidence.is_some_and(|c| (c - 0.99).abs() < 1e-12));
        assert_eq!(a.intended, Some(true));
        let settings = a.flag_settings();
        assert_eq!(settings.noise_floor, Some(0.03));
        assert_eq!(settings.noise_floors, [(Metric::P99, 0.1)].into());
        assert_eq!(settings.gate_requests, None);
        assert_eq!(settings.min_latency_change, None);
        let floor = |v: &str| args(&["a", "b", "--min-latency-change", v]).flag_settings();
        assert_eq!(
            floor("250us").min_latency_change,
            Some(Duration::from_micros(250))
        );
        assert_eq!(floor("0").min_latency_change, Some(Duration::ZERO));
        assert!(Wrap::try_parse_from(["compare", "a", "b", "--min-latency-change", "5"]).is_err());
        let off = args(&["a", "b", "--gate-requests=false", "--resamples", "500"]);
        assert_eq!(off.gate_requests, Some(false));
        assert_eq!(off.resamples, Some(500));
        assert!(Wrap::try_parse_from(["compare", "a", "b", "--resamples", "10"]).is_err());
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
            Err(f @ Failure::Invalid(_)) => unwrap_lines(&format!("{:?}", f.report())),
            other => panic!("expected invalid input, got {other:?}"),
        }
    }

    /// The rendered report as one line: miette wraps long messages (at spaces, and after the
    /// `/` of a long path) behind a `│` gutter, so a phrase may straddle two lines depending on
    /// how long the test's folder path is.
    fn unwrap_lines(text: &str) -> String {
        let mut out = String::new();
        for line in text.lines() {
            let line = line.trim().trim_start_matches(['│', '×']).trim();
            if line.is_empty() {
                continue;
            }
            if !out.is_empty() && !out.ends_with('/') {
                out.push(' ');
            }
            out.push_str(line);
        }
        out
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
