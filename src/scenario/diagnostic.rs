//! Scenario problems as diagnostics: where (file:line:column), what, and a hint.
//!
//! Invariant: every [`ScenarioError`] carries the text it points into (the scenario file, a
//! `--set` flag or a CSV feeder), a span inside that text and its 1-based line and column, so it
//! can be printed with the offending text underlined by any miette handler, and its one-line
//! `Display` (`file:line:column: message`) is useful on its own.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceSpan};

/// One problem in a scenario, a `--set` override or a feeder file.
#[derive(Debug, Clone)]
pub struct ScenarioError {
    message: String,
    name: String,
    line: usize,
    column: usize,
    source: NamedSource<Arc<str>>,
    span: SourceSpan,
    label: String,
    help: Option<String>,
}

impl ScenarioError {
    /// A problem at byte range `span` of `text` (a file or flag called `name`).
    pub(crate) fn new(
        name: &str,
        text: &Arc<str>,
        span: Range<usize>,
        message: impl Into<String>,
        label: impl Into<String>,
    ) -> Self {
        let start = floor_char_boundary(text, span.start.min(text.len()));
        let end = floor_char_boundary(text, span.end.clamp(start, text.len()));
        let (line, column) = line_column(text, start);
        Self {
            message: message.into(),
            name: name.to_owned(),
            line,
            column,
            source: NamedSource::new(name, Arc::clone(text)).with_language("toml"),
            span: SourceSpan::from(start..end),
            label: label.into(),
            help: None,
        }
    }

    /// Add a hint ("did you mean ...").
    pub(crate) fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// What is wrong (without the location).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The file (or `--set ...` flag) the problem is in.
    pub fn file(&self) -> &str {
        &self.name
    }

    /// 1-based line.
    pub fn line(&self) -> usize {
        self.line
    }

    /// 1-based column, in characters.
    pub fn column(&self) -> usize {
        self.column
    }

    /// The hint, if there is one.
    pub fn hint(&self) -> Option<&str> {
        self.help.as_deref()
    }

    /// The label under the underlined text.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Byte offset of the problem in its text.
    pub fn offset(&self) -> usize {
        self.span.offset()
    }
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.name, self.line, self.column, self.message
        )
    }
}

impl std::error::Error for ScenarioError {}

impl Diagnostic for ScenarioError {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new("kneepoint::scenario"))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(std::iter::once(
            LabeledSpan::new_primary_with_span(Some(self.label.clone()), self.span),
        )))
    }
}

/// Every problem found in one scenario (never empty).
#[derive(Debug, Clone)]
pub struct ScenarioErrors {
    file: String,
    errors: Vec<ScenarioError>,
}

impl ScenarioErrors {
    /// Wrap a non-empty list of problems.
    pub(crate) fn new(file: &str, errors: Vec<ScenarioError>) -> Self {
        Self {
            file: file.to_owned(),
            errors,
        }
    }

    /// The problems, in file order.
    pub fn errors(&self) -> &[ScenarioError] {
        &self.errors
    }

    /// How many problems.
    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// Whether there are none (never true for a returned error).
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }
}

impl fmt::Display for ScenarioErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len();
        write!(
            f,
            "scenario `{}` is invalid: {n} problem{}",
            self.file,
            if n == 1 { "" } else { "s" }
        )
    }
}

impl std::error::Error for ScenarioErrors {}

impl Diagnostic for ScenarioErrors {
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        Some(Box::new(self.errors.iter().map(|e| e as &dyn Diagnostic)))
    }
}

/// 1-based line and column (in characters) of byte `offset`.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..floor_char_boundary(text, offset.min(text.len()))];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The closest of `candidates` to `word`, if close enough to be a plausible typo.
pub(crate) fn suggest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| {
            (
                strsim::jaro_winkler(&word.to_lowercase(), &c.to_lowercase()),
                c,
            )
        })
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// "did you mean `x`?" for the closest candidate.
pub(crate) fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    suggest(word, candidates).map(|c| format!("did you mean `{c}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_column_is_one_based_and_counts_chars() {
        let t = "a = 1\nµs = \"x\"\n";
        assert_eq!(line_column(t, 0), (1, 1));
        assert_eq!(line_column(t, 6), (2, 1));
        // `=` after the two-byte `µ` and the `s`.
        assert_eq!(line_column(t, 6 + 4), (2, 4));
    }

    #[test]
    fn suggestions_need_to_be_close() {
        assert_eq!(suggest("ramp_upp", ["ramp_up", "users"]), Some("ramp_up"));
        assert_eq!(suggest("zzz", ["ramp_up", "users"]), None);
    }
}
