//! The validation context: where spans point (the scenario file or a `--set` flag) and the
//! problems found so far.
//!
//! Invariant: every problem is recorded with its sort key, so the final list reads in file
//! order, then flags, then feeder files, whatever order the checks ran in.

use std::collections::HashSet;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use crate::diagnostic::Located;
use crate::template::VarTable;

/// Where spans point: the scenario file, or one of the `--set` flags appended after it.
pub(super) struct Sources {
    pub(super) file_name: String,
    pub(super) file: Arc<str>,
    pub(super) overrides: Vec<Region>,
}

/// One `--set KEY=VALUE` flag, placed at `start..end` of the combined text.
pub(super) struct Region {
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) name: String,
    pub(super) text: Arc<str>,
}

impl Sources {
    fn error(&self, span: Range<usize>, message: String, label: String) -> (Order, Located) {
        for r in &self.overrides {
            if span.start >= r.start && span.start <= r.end {
                let local = span.start - r.start..span.end.min(r.end).saturating_sub(r.start);
                return (
                    (1, span.start),
                    Located::new(&r.name, &r.text, local, message, label),
                );
            }
        }
        (
            (0, span.start),
            Located::new(&self.file_name, &self.file, span, message, label),
        )
    }
}

/// Sort key of a problem: the scenario file first, then `--set` flags, then other files (CSV
/// feeders), each in text order.
pub(super) type Order = (u8, usize);

/// Collected problems plus what promotion needs along the way.
pub(super) struct Ctx<'a> {
    pub(super) sources: &'a Sources,
    pub(super) combined: &'a str,
    pub(super) errors: Vec<(Order, Located)>,
    /// `(start of the enclosing table's span, key)` of keys dropped after a shape error.
    pub(super) removed: HashSet<(usize, String)>,
    pub(super) vars: VarTable,
    pub(super) base_dir: PathBuf,
}

impl Ctx<'_> {
    pub(super) fn err(
        &mut self,
        span: Range<usize>,
        message: impl Into<String>,
        label: impl Into<String>,
    ) {
        let e = self.sources.error(span, message.into(), label.into());
        self.errors.push(e);
    }

    pub(super) fn err_help(
        &mut self,
        span: Range<usize>,
        message: impl Into<String>,
        label: impl Into<String>,
        help: Option<String>,
    ) {
        let (rank, mut e) = self.sources.error(span, message.into(), label.into());
        if let Some(h) = help {
            e = e.with_help(h);
        }
        self.errors.push((rank, e));
    }

    pub(super) fn push(&mut self, e: Located) {
        let n = self.errors.len();
        self.errors.push(((2, n), e));
    }

    /// Report that the required table `[name]` is missing; `help` says what to add.
    pub(super) fn missing_table(&mut self, name: &str, help: &str) {
        self.err_help(
            0..0,
            format!("missing `[{name}]` table"),
            format!("expected a `[{name}]` table in this file"),
            Some(help.to_owned()),
        );
    }

    /// Report that `key` is missing from the table at `table`, unless it was already reported
    /// as malformed.
    pub(super) fn missing(
        &mut self,
        table: Range<usize>,
        key: &str,
        section: &str,
        help: Option<String>,
    ) {
        if self.removed.contains(&(table.start, key.to_owned())) {
            return;
        }
        let span = self.first_line(table);
        self.err_help(
            span,
            format!("missing `{key}` in {section}"),
            format!("`{key}` is required here"),
            help,
        );
    }

    pub(super) fn was_removed(&self, table: &Range<usize>, key: &str) -> bool {
        self.removed.contains(&(table.start, key.to_owned()))
    }

    /// Whether any key of the table at `table` was dropped after a shape error.
    pub(super) fn any_removed(&self, table: &Range<usize>) -> bool {
        self.removed.iter().any(|(start, _)| *start == table.start)
    }

    /// A table's span cut to its first line, so a "missing key" error underlines the header.
    pub(super) fn first_line(&self, span: Range<usize>) -> Range<usize> {
        let end = self
            .combined
            .get(span.clone())
            .and_then(|s| s.find('\n'))
            .map_or(span.end, |i| span.start + i);
        span.start..end
    }
}
