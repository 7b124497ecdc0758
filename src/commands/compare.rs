//! `kneepoint compare`: read two runs, compare them, print the Markdown table and write
//! `compare.json`, `compare.md`, `compare.junit.xml` and `compare.html`.
//!
//! Settings are layered: defaults, then the `[compare]` table of a scenario file (`--scenario`,
//! else the candidate's own scenario when its recorded path can be read from here), then flags.

use std::path::{Path, PathBuf};

use super::write_files;
use crate::compare::{self, CompareError, CompareOptions, CompareSettings, Side};
use crate::error::chain;
use crate::results::RunResults;
use crate::{Failure, Outcome};

/// What `kneepoint compare` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct CompareCommand {
    /// Baseline run: a results.json file or a run folder.
    pub baseline: PathBuf,
    /// Candidate run: a results.json file or a run folder.
    pub candidate: PathBuf,
    /// Output folder (default: `compare/` next to the candidate's results.json).
    pub out: Option<PathBuf>,
    /// Scenario file whose `[compare]` table applies (default: the candidate's scenario).
    pub scenario: Option<PathBuf>,
    /// What the flags set; unset fields leave the lower layers alone.
    pub flags: CompareSettings,
}

/// Compare the candidate with the baseline: exit 0 when no regression is over budget, 1 when
/// one is, 2 for unreadable or incomparable runs, 3 when the outputs cannot be written.
pub fn compare(cmd: &CompareCommand) -> Result<Outcome, Failure> {
    let read = |path: &Path| {
        RunResults::read(path).map_err(|e| Failure::invalid(miette::miette!("{}", chain(&e))))
    };
    let baseline = read(&cmd.baseline)?;
    let candidate = read(&cmd.candidate)?;

    let mut opts = CompareOptions::default();
    let mut settings_from = Vec::new();
    if let Some((table, from)) = scenario_settings(cmd.scenario.as_deref(), &candidate)? {
        opts.apply(&table);
        settings_from.push(from);
    }
    if !cmd.flags.is_empty() {
        opts.apply(&cmd.flags);
        settings_from.push("flags".to_owned());
    }

    let mut comparison = compare::compare(&baseline, &candidate, &opts)
        .map_err(|e| Failure::invalid(miette::miette!("{}", explain(cmd, &e))))?;
    comparison.baseline.source = Some(cmd.baseline.display().to_string());
    comparison.candidate.source = Some(cmd.candidate.display().to_string());
    comparison.settings_from = settings_from;

    let markdown = compare::to_markdown(&comparison);
    let junit = compare::to_junit(&comparison).map_err(|e| Failure::run(miette::miette!("{e}")))?;
    let json = serde_json::to_string_pretty(&comparison)
        .map_err(|e| Failure::run(miette::miette!("cannot serialize the comparison: {e}")))?;
    let html = crate::report::html::render_compare_with_runs(&comparison, &baseline, &candidate)
        .map_err(|e| Failure::run(miette::miette!("cannot render compare.html: {e}")))?;
    let out = cmd
        .out
        .clone()
        .unwrap_or_else(|| default_out(&cmd.candidate));
    write_files(
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

/// The `[compare]` table to use and where it came from: `--scenario`, else the candidate's
/// scenario file when it can be read from here and is still that scenario. A scenario with
/// problems is invalid input: budgets silently dropped would make the gate lie.
fn scenario_settings(
    scenario: Option<&Path>,
    candidate: &RunResults,
) -> Result<Option<(CompareSettings, String)>, Failure> {
    if let Some(path) = scenario {
        let s = crate::scenario::load(path, &[]).map_err(Failure::invalid)?;
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
    let s = crate::scenario::load(recorded, &[]).map_err(|e| {
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
fn explain(cmd: &CompareCommand, e: &CompareError) -> String {
    let (b, c) = (cmd.baseline.display(), cmd.candidate.display());
    match e {
        CompareError::Decode { side, .. } => {
            let file = match side {
                Side::Baseline => &cmd.baseline,
                Side::Candidate => &cmd.candidate,
            };
            format!("`{}`: {}", file.display(), chain(e))
        }
        CompareError::ScenarioMismatch { .. } | CompareError::NoCommonScope => {
            format!("cannot compare `{b}` with `{c}`: {}", chain(e))
        }
        _ => chain(e),
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

#[cfg(test)]
mod tests {
    use super::*;

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
        compare(&CompareCommand {
            baseline: baseline.to_owned(),
            candidate: candidate.to_owned(),
            out: Some(out.to_owned()),
            ..CompareCommand::default()
        })
    }

    /// The rendered report of an invalid-input failure as one line: miette wraps long messages
    /// (at spaces, and after the `/` of a long path) behind a `│` gutter, so a phrase may
    /// straddle two lines depending on how long the test's folder path is.
    fn invalid_message(r: Result<Outcome, Failure>) -> String {
        let text = match r {
            Err(f @ Failure::Invalid(_)) => format!("{:?}", f.report()),
            other => panic!("expected invalid input, got {other:?}"),
        };
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
        let (baseline, slower) = (fixture("baseline.json"), fixture("slower.json"));
        let r = run(&baseline, &slower, out.path());
        assert_eq!(r.expect("compares"), Outcome::Breached);
        for f in ["compare.json", "compare.md", "compare.junit.xml"] {
            assert!(out.path().join(f).is_file(), "{f}");
        }
        let md = std::fs::read_to_string(out.path().join("compare.md")).expect("md");
        assert!(md.starts_with("### ❌"), "{md}");
        let back = run(&slower, &baseline, out.path());
        assert_eq!(back.expect("compares"), Outcome::Passed);
    }

    #[test]
    fn a_run_against_itself_passes() {
        let out = tempfile::tempdir().expect("tempdir");
        let baseline = fixture("baseline.json");
        let r = run(&baseline, &baseline, out.path());
        assert_eq!(r.expect("compares"), Outcome::Passed);
    }

    #[test]
    fn bad_inputs_are_invalid_and_name_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let base = fixture("baseline.json");
        let invalid = |baseline: &Path, candidate: &Path| {
            invalid_message(run(baseline, candidate, dir.path()))
        };
        let msg = invalid(&base, &dir.path().join("nope.json"));
        assert!(msg.contains("nope.json"), "{msg}");

        let other = edited(dir.path(), |v| v["scenario"]["name"] = "other".into());
        let msg = invalid(&base, &other);
        assert!(
            msg.contains("edited.json") && msg.contains("`other`"),
            "{msg}"
        );

        let corrupt = edited(dir.path(), |v| v["scopes"][1]["histogram"] = "AAAA".into());
        let msg = invalid(&base, &corrupt);
        assert!(
            msg.contains("edited.json") && msg.contains("browse"),
            "{msg}"
        );

        let future = edited(dir.path(), |v| v["schema_version"] = 99.into());
        let msg = invalid(&future, &base);
        assert!(
            msg.contains("edited.json") && msg.contains("schema_version 99"),
            "{msg}"
        );

        let disjoint = edited(dir.path(), |v| {
            for s in v["scopes"].as_array_mut().expect("scopes") {
                s["name"] = format!("x-{}", s["name"].as_str().unwrap_or_default()).into();
            }
        });
        let msg = invalid(&base, &disjoint);
        assert!(msg.contains("no scope in common"), "{msg}");
    }
}
