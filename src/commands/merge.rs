//! `kneepoint merge`: read shard results, merge them exactly, write the merged outputs, and exit
//! as `kneepoint run` would for the merged run (0 pass, 1 SLA breached, 3 a shard failed).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::report::{core_exporters, summary, write_all};
use crate::{Failure, Outcome, RunResults, merge};

/// What `kneepoint merge` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct MergeOptions {
    /// Results files, or run folders holding `results.json`, of one scenario run in parallel.
    pub inputs: Vec<PathBuf>,
    /// Folder for the merged `results.json`, `summary.csv` and `junit.xml`.
    pub out: PathBuf,
    /// Print nothing on success.
    pub quiet: bool,
}

/// Merge the inputs, write the merged outputs, print the summary, and map the merged status to
/// an outcome as [`super::outcome`] does for a run. An input given twice, unreadable or of
/// another run is invalid input (2), and nothing is written.
pub fn merge(opts: &MergeOptions) -> Result<Outcome, Failure> {
    let mut runs = Vec::with_capacity(opts.inputs.len());
    let mut labels: Vec<String> = Vec::with_capacity(opts.inputs.len());
    let mut seen: Vec<PathBuf> = Vec::new();
    for path in &opts.inputs {
        let canonical = results_file(path)
            .canonicalize()
            .unwrap_or_else(|_| path.clone());
        if let Some(i) = seen.iter().position(|p| p == &canonical) {
            return Err(Failure::invalid(miette::miette!(
                "`{}` is given twice (as `{}` and `{}`); merging a run with itself would \
                 count every request twice",
                canonical.display(),
                opts.inputs[i].display(),
                path.display()
            )));
        }
        seen.push(canonical);
        let run =
            RunResults::read(path).map_err(|e| Failure::invalid(miette::Report::from_err(e)))?;
        runs.push(run);
        labels.push(path.display().to_string());
    }
    let merged = merge::merge_labeled(&runs, &labels).map_err(Failure::invalid)?;
    let gap = merge::uncovered_seconds(&runs);
    if gap >= 1.0 && !opts.quiet {
        eprintln!(
            "warning: no input was running for {gap:.0} s of the merged {:.0} s: merge adds \
             runs that ran at the same time (shards), so the merged throughput and series \
             count those seconds as idle",
            merged.duration_s
        );
    }
    let written = write_all(&merged, &opts.out, &core_exporters()).map_err(Failure::run)?;
    let out = written
        .first()
        .and_then(|p| p.parent())
        .unwrap_or(&opts.out);
    if !opts.quiet {
        let color = super::color();
        let mut text = summary::render_summary(&merged, color);
        text.push_str(&format!(
            "\nmerged {} results ({} shards) into {}\n",
            runs.len(),
            merged.shards,
            out.display()
        ));
        // A closed pipe (`| head`) is not an error worth failing the command for.
        let _ = std::io::stdout().lock().write_all(text.as_bytes());
    }
    // The merged status is the worst shard's, so a failed, interrupted or unfinished shard
    // fails the whole run (3) as `kneepoint run` would; its outputs are written all the same.
    super::outcome(&merged, out)
}

/// The file [`RunResults::read`] will open for `path`.
fn results_file(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join("results.json")
    } else {
        path.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = include_str!("../../tests/fixtures/results/sample.json");

    /// Write the sample as a second shard: same scenario, started 2 s later.
    fn shards(dir: &Path) -> (PathBuf, PathBuf) {
        let a = dir.join("a");
        std::fs::create_dir_all(&a).expect("mkdir");
        std::fs::write(a.join("results.json"), SAMPLE).expect("write a");
        let mut b: serde_json::Value = serde_json::from_str(SAMPLE).expect("json");
        let shift = |v: &serde_json::Value| {
            let t: jiff::Timestamp = v.as_str().expect("str").parse().expect("timestamp");
            t.checked_add(jiff::SignedDuration::from_secs(2))
                .expect("in range")
                .to_string()
        };
        b["started_at"] = shift(&b["started_at"]).into();
        b["ended_at"] = shift(&b["ended_at"]).into();
        let b_path = dir.join("b.json");
        std::fs::write(&b_path, b.to_string()).expect("write b");
        (a, b_path)
    }

    fn run(inputs: &[&Path], out: &Path) -> Result<Outcome, Failure> {
        merge(&MergeOptions {
            inputs: inputs.iter().map(|p| p.to_path_buf()).collect(),
            out: out.to_owned(),
            quiet: true,
        })
    }

    #[test]
    fn merges_folders_and_files_into_the_out_dir() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (a, b) = shards(dir.path());
        let out = dir.path().join("merged");
        let outcome = run(&[&a, &b], &out).expect("merged");
        // The sample breaches SLAs, and so does twice the sample.
        assert_eq!(outcome, Outcome::Breached);
        for f in ["results.json", "summary.csv", "junit.xml"] {
            assert!(out.join(f).is_file(), "{f} missing");
        }
        let single = RunResults::read(&a).expect("a");
        let merged = RunResults::read(&out).expect("merged");
        assert_eq!(merged.shards, 2);
        assert_eq!(
            merged.overall().expect("o").stats.requests,
            2 * single.overall().expect("o").stats.requests
        );
        assert_eq!(merged.duration_s, single.duration_s + 2.0);
    }

    #[test]
    fn bad_inputs_are_invalid_and_name_the_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (a, _) = shards(dir.path());
        let out = dir.path().join("out");
        let err = run(&[&a, &dir.path().join("nope.json")], &out).expect_err("missing file");
        assert!(matches!(err, Failure::Invalid(_)));
        assert!(format!("{:?}", err.report()).contains("nope.json"));

        let mut other: serde_json::Value = serde_json::from_str(SAMPLE).expect("json");
        other["scenario"]["sha256"] = "1".repeat(64).into();
        let other_path = dir.path().join("other.json");
        std::fs::write(&other_path, other.to_string()).expect("write");
        let err = run(&[&a, &other_path], &out).expect_err("mismatch");
        assert!(matches!(err, Failure::Invalid(_)));
        let text = format!("{:?}", err.report());
        assert!(text.contains("other.json"), "{text}");

        let err = run(&[&a, &a.join("results.json")], &out).expect_err("same file twice");
        assert!(format!("{:?}", err.report()).contains("given twice"));
        assert!(!out.exists(), "nothing written on bad input");
    }
}
