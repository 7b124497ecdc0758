//! Exporters: each output format turns results into bytes; where they go is chosen elsewhere.
//!
//! Invariant: an exporter only renders (`RunResults` → bytes) and never touches the disk;
//! [`write_all`] hands the bytes to the one writer ([`crate::output`]), so a crash or a full disk
//! never leaves a half-written report behind.

use std::io;
use std::path::{Path, PathBuf};

use crate::output::{self, WriteError};
use crate::results::RunResults;

pub mod csv;
pub mod html;
pub mod json;
pub mod junit;
pub mod pages;
pub mod plot;
pub mod summary;
pub mod units;

/// One output format.
pub trait Exporter {
    /// Render the results into the file's bytes.
    fn render(&self, run: &RunResults) -> Result<Vec<u8>, ReportError>;
    /// File name inside the output folder, e.g. `results.json`.
    fn file_name(&self) -> &'static str;
}

/// Errors rendering or writing reports.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ReportError {
    /// A format could not render these results.
    #[error("cannot render {format}: {message}")]
    Render {
        /// Which output (file name).
        format: &'static str,
        /// What went wrong.
        message: String,
    },
    /// The output folder could not be created.
    #[error("cannot create output folder `{}`", path.display())]
    CreateDir {
        /// Folder.
        path: PathBuf,
        /// Cause.
        #[source]
        source: io::Error,
    },
    /// A report file could not be written (full disk, permissions, not a folder).
    #[error("cannot write report to `{}`", path.display())]
    Write {
        /// File that was being written.
        path: PathBuf,
        /// Cause.
        #[source]
        source: io::Error,
    },
}

/// The exporters every run writes: `results.json`, `summary.csv`, `junit.xml`.
pub fn core_exporters() -> Vec<&'static dyn Exporter> {
    vec![
        &json::JsonExporter,
        &csv::CsvExporter,
        &junit::JunitExporter,
    ]
}

/// Every output of a run: the core files, then `report.html`.
pub fn all_exporters() -> Vec<&'static dyn Exporter> {
    let mut all = core_exporters();
    all.push(&html::HtmlReport);
    all
}

/// Render each exporter and write its file into `out_dir` (created if missing), atomically.
///
/// Returns the written paths in exporter order. Stops at the first failure; files written before
/// it stay, and no temporary file is left behind.
pub fn write_all(
    run: &RunResults,
    out_dir: &Path,
    exporters: &[&dyn Exporter],
) -> Result<Vec<PathBuf>, ReportError> {
    output::create_dir(out_dir)?;
    // One at a time: a format that fails to render keeps the files before it (results.json
    // comes first).
    exporters
        .iter()
        .map(|exporter| {
            let bytes = exporter.render(run)?;
            let path = out_dir.join(exporter.file_name());
            output::write_file(&path, &bytes)?;
            Ok(path)
        })
        .collect()
}

impl From<WriteError> for ReportError {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::CreateDir { path, source } => Self::CreateDir { path, source },
            WriteError::Write { path, source } => Self::Write { path, source },
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::simulated as fixtures;
    use std::fs;

    use super::*;

    #[test]
    fn writes_every_core_file_and_no_temporaries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("nested/run");
        let run = fixtures::closed_run();
        let paths = write_all(&run, &out, &core_exporters()).expect("written");
        let names: Vec<_> = paths
            .iter()
            .map(|p| p.file_name().expect("name").to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["results.json", "summary.csv", "junit.xml"]);
        let back = RunResults::read(&out).expect("results.json reads back");
        assert_eq!(back, run);
        let leftovers: Vec<_> = fs::read_dir(&out)
            .expect("list")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    struct Broken;

    impl Exporter for Broken {
        fn render(&self, _: &RunResults) -> Result<Vec<u8>, ReportError> {
            Err(ReportError::Render {
                format: "broken.txt",
                message: "no".into(),
            })
        }
        fn file_name(&self) -> &'static str {
            "broken.txt"
        }
    }

    #[test]
    fn a_failing_exporter_keeps_earlier_files_and_leaves_no_temporaries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let run = fixtures::closed_run();
        let err = write_all(
            &run,
            dir.path(),
            &[&json::JsonExporter, &Broken, &csv::CsvExporter],
        )
        .expect_err("broken exporter");
        assert!(
            matches!(
                err,
                ReportError::Render {
                    format: "broken.txt",
                    ..
                }
            ),
            "{err}"
        );
        let mut names: Vec<_> = fs::read_dir(dir.path())
            .expect("list")
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["results.json"]);
    }

    #[test]
    fn unwritable_folder_names_the_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("occupied");
        fs::write(&file, b"x").expect("file");
        let err = write_all(&fixtures::closed_run(), &file, &core_exporters())
            .expect_err("a file is not a folder");
        assert!(err.to_string().contains("occupied"), "{err}");
    }
}
