//! The one writer: every file kneepoint produces (results, reports, compare, history, plan and
//! capacity pages) is written here, through a temporary file in the same folder that is flushed
//! to the device and then renamed over the target.
//!
//! Invariant: a crash, a full disk or a stop mid-write never leaves a half-written output — a
//! reader sees the previous file or the new one, whole — and no temporary file stays behind.
//! This module imports nothing of kneepoint's: every layer may use it.

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

/// A file or its folder could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The folder could not be created.
    #[error("cannot create output folder `{}`", path.display())]
    CreateDir {
        /// Folder.
        path: PathBuf,
        /// Cause.
        #[source]
        source: io::Error,
    },
    /// The file could not be written (full disk, permissions, not a folder).
    #[error("cannot write `{}`", path.display())]
    Write {
        /// File that was being written.
        path: PathBuf,
        /// Cause.
        #[source]
        source: io::Error,
    },
}

/// Create `dir` and its parents if missing.
pub fn create_dir(dir: &Path) -> Result<(), WriteError> {
    fs::create_dir_all(dir).map_err(|source| WriteError::CreateDir {
        path: dir.to_owned(),
        source,
    })
}

/// Write `files` (name, bytes) into `dir`, created if missing; returns their paths in order.
/// Stops at the first failure; the files written before it stay whole.
pub fn write_files(dir: &Path, files: &[(&str, &[u8])]) -> Result<Vec<PathBuf>, WriteError> {
    create_dir(dir)?;
    files
        .iter()
        .map(|(name, bytes)| {
            let path = dir.join(name);
            write_file(&path, bytes)?;
            Ok(path)
        })
        .collect()
}

/// Write `bytes` to `path` (its folder created if missing) through `.NAME.tmp` beside it, a
/// flush to the device and a rename.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_dir(dir)?;
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    let result = (|| {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        // Flushing to the device surfaces a full disk here rather than after the rename.
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        // Best effort: the original error is what matters.
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(|source| WriteError::Write {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_replace_whole_and_leave_no_temporaries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("a/b");
        let paths =
            write_files(&out, &[("one.json", b"{}"), ("two.html", b"<p>")]).expect("writes");
        assert_eq!(paths, [out.join("one.json"), out.join("two.html")]);
        write_file(&out.join("one.json"), b"[1]").expect("replaces");
        assert_eq!(fs::read(out.join("one.json")).expect("read"), b"[1]");
        let names: Vec<String> = fs::read_dir(&out)
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[test]
    fn a_failed_write_names_the_file_and_leaves_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        // A folder where the file should go: the rename fails.
        let path = dir.path().join("taken");
        fs::create_dir(&path).expect("mkdir");
        fs::write(path.join("x"), b"").expect("write");
        let err = write_file(&path, b"data").expect_err("cannot replace a folder");
        assert!(err.to_string().contains("taken"), "{err}");
        let left: Vec<_> = fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(left.len(), 1, "only the folder: {left:?}");
        // A folder that cannot be created.
        let under_file = path.join("x").join("y.json");
        assert!(matches!(
            write_file(&under_file, b""),
            Err(WriteError::CreateDir { .. })
        ));
    }
}
