//! Located problems in input files — scenarios, `--set` flags, feeders, forecasts, catalogues,
//! capacity points: where (file:line:column), what, and a hint — and the ordered list of every
//! problem of one input.
//!
//! Invariant: every [`Located`] carries the text it points into, a span inside that text (on
//! character boundaries) and its 1-based line and column, so any miette handler prints it with
//! the offending text underlined, and its one-line `Display` (`file:line:column: message`) is
//! useful on its own. Suggestions follow one rule ([`suggest`]).

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceSpan};

/// One problem at a place in an input (boxed: small to return).
#[derive(Debug, Clone)]
pub struct Located(Box<Place>);

#[derive(Debug, Clone)]
struct Place {
    message: String,
    name: String,
    line: usize,
    column: usize,
    source: NamedSource<Arc<str>>,
    span: SourceSpan,
    label: String,
    help: Option<String>,
}

impl Located {
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
        Self(Box::new(Place {
            message: message.into(),
            name: name.to_owned(),
            line,
            column,
            source: NamedSource::new(name, Arc::clone(text)).with_language("toml"),
            span: SourceSpan::from(start..end),
            label: label.into(),
            help: None,
        }))
    }

    /// [`Located::new`] for text not already shared.
    pub(crate) fn at(
        name: &str,
        text: &str,
        span: Range<usize>,
        message: impl Into<String>,
        label: impl Into<String>,
    ) -> Self {
        Self::new(name, &Arc::from(text), span, message, label)
    }

    /// Add a hint ("did you mean ...").
    #[must_use]
    pub(crate) fn with_help(mut self, help: impl Into<String>) -> Self {
        self.0.help = Some(help.into());
        self
    }

    /// What is wrong (without the location).
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// The file (or `--set ...` flag) the problem is in.
    pub fn file(&self) -> &str {
        &self.0.name
    }

    /// 1-based line.
    pub fn line(&self) -> usize {
        self.0.line
    }

    /// 1-based column, in characters.
    pub fn column(&self) -> usize {
        self.0.column
    }

    /// `file:line:column`.
    pub fn location(&self) -> String {
        format!("{}:{}:{}", self.0.name, self.0.line, self.0.column)
    }

    /// The hint, if there is one.
    pub fn hint(&self) -> Option<&str> {
        self.0.help.as_deref()
    }

    /// The label under the underlined text.
    pub fn label(&self) -> &str {
        &self.0.label
    }

    /// Byte offset of the problem in its text.
    pub fn offset(&self) -> usize {
        self.0.span.offset()
    }
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location(), self.0.message)
    }
}

impl std::error::Error for Located {}

impl Diagnostic for Located {
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.0
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.0.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(std::iter::once(
            LabeledSpan::new_primary_with_span(Some(self.0.label.clone()), self.0.span),
        )))
    }
}

/// Every problem found in one input (never empty), in the order they are reported.
#[derive(Debug, Clone)]
pub struct Problems {
    what: String,
    errors: Vec<Located>,
}

impl Problems {
    /// Wrap a non-empty list of problems in the input `what` names (`scenario `a.toml``).
    pub(crate) fn new(what: impl Into<String>, errors: Vec<Located>) -> Self {
        Self {
            what: what.into(),
            errors,
        }
    }

    /// Problems all in one file, named by it (`` `forecast.toml` ``).
    pub(crate) fn in_file(errors: Vec<Located>) -> Self {
        let what = errors
            .first()
            .map_or_else(|| "input".to_owned(), |e| format!("`{}`", e.file()));
        Self::new(what, errors)
    }

    /// The problems, in order.
    pub fn errors(&self) -> &[Located] {
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

    /// A report for printing: the problem itself when there is one, else all of them.
    pub fn into_report(self) -> miette::Report {
        match <[Located; 1]>::try_from(self.errors) {
            Ok([one]) => miette::Report::new(one),
            Err(errors) => miette::Report::new(Self { errors, ..self }),
        }
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len();
        write!(
            f,
            "{} is invalid: {n} problem{}",
            self.what,
            if n == 1 { "" } else { "s" }
        )
    }
}

impl std::error::Error for Problems {}

impl From<Located> for Problems {
    fn from(e: Located) -> Self {
        Self::in_file(vec![e])
    }
}

impl Diagnostic for Problems {
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

/// The closest of `candidates` to `word`, if close enough to be a plausible typo
/// (Jaro–Winkler similarity of at least 0.8, ignoring case).
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

/// `err` with "did you mean" when a known name is close, else with the list of known names.
/// Names each in backticks, comma-separated: "`a`, `b`".
pub(crate) fn backtick_list<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    names
        .into_iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// "did you mean …?" for `word`, or else `intro`: and every known name in backticks.
pub(crate) fn did_you_mean_or_list<'a>(
    word: &str,
    known: impl IntoIterator<Item = &'a str> + Clone,
    intro: &str,
) -> String {
    did_you_mean(word, known.clone())
        .unwrap_or_else(|| format!("{intro}: {}", backtick_list(known)))
}

pub(crate) fn with_suggestion<'a>(
    err: Located,
    word: &str,
    known: impl IntoIterator<Item = &'a str> + Clone,
) -> Located {
    match did_you_mean(word, known.clone()) {
        Some(hint) => err.with_help(hint),
        None => err.with_help(format!(
            "known: {}",
            known.into_iter().collect::<Vec<_>>().join(", ")
        )),
    }
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
        assert_eq!(suggest("App-Smal", ["app-small"]), Some("app-small"));
    }

    #[test]
    fn one_problem_prints_alone_and_many_as_a_list() {
        let text: Arc<str> = Arc::from("a = 1\nb = 2\n");
        let one = Located::new("f.toml", &text, 6..7, "bad b", "here");
        assert_eq!(one.to_string(), "f.toml:2:1: bad b");
        let two = Problems::new("scenario `f.toml`", vec![one.clone(), one]);
        assert_eq!(two.to_string(), "scenario `f.toml` is invalid: 2 problems");
    }
}
