//! Scenario text → [`Scenario`]: parse, apply `--set` overrides, deserialize, promote.
//!
//! Invariant: every problem is collected, never just the first. Syntax errors stop before
//! meaning is checked (a broken document gives misleading follow-on errors), but every other
//! problem is reported together: a shape error removes the offending key and deserialization
//! is retried, so one bad value never hides the next, and a required field that was removed
//! that way is not reported a second time as missing.

use std::borrow::Cow;
use std::collections::HashSet;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize as _;
use sha2::Digest as _;
use toml::Spanned;
use toml::de::{DeArray, DeTable, DeValue};

use super::Override;
use super::diagnostic::{ScenarioError, ScenarioErrors, did_you_mean};
use super::model::{
    Body, Capture, CaptureSource, Check, ClosedLoad, Comparison, Feeder, FeederMode, LatencyStat,
    Load, LoadModel, Method, OnEnd, OpenLoad, RequestSpec, Scenario, Sla, SlaMetric, SlaScope,
    Stage, Target, ThinkTime, Transaction,
};
use super::raw::{
    Entries, NumOrStr, RawCapture, RawCheck, RawFeeder, RawLoad, RawRequest, RawScenario, RawSla,
    RawTarget, RawTransaction, RawValue, Text,
};
use crate::results::ArrivalUnit;
use crate::template::{BUILTINS, Escape, Template, TemplateError, VarTable};

/// Request timeout when `[target] timeout` is not given.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Open-model cap on in-flight arrivals when `max_in_flight` is not given.
const DEFAULT_MAX_IN_FLIGHT: u32 = 1000;
/// Upper bound on retries of deserialization (one per problem found).
const MAX_SHAPE_ERRORS: usize = 200;

/// Where spans point: the scenario file, or one of the `--set` flags appended after it.
struct Sources {
    file_name: String,
    file: Arc<str>,
    overrides: Vec<Region>,
}

/// One `--set KEY=VALUE` flag, placed at `start..end` of the combined text.
struct Region {
    start: usize,
    end: usize,
    name: String,
    text: Arc<str>,
}

impl Sources {
    fn error(&self, span: Range<usize>, message: String, label: String) -> (Order, ScenarioError) {
        for r in &self.overrides {
            if span.start >= r.start && span.start <= r.end {
                let local = span.start - r.start..span.end.min(r.end).saturating_sub(r.start);
                return (
                    (1, span.start),
                    ScenarioError::new(&r.name, &r.text, local, message, label),
                );
            }
        }
        (
            (0, span.start),
            ScenarioError::new(&self.file_name, &self.file, span, message, label),
        )
    }
}

/// Sort key of a problem: the scenario file first, then `--set` flags, then other files (CSV
/// feeders), each in text order.
type Order = (u8, usize);

/// Collected problems plus what promotion needs along the way.
struct Ctx<'a> {
    sources: &'a Sources,
    combined: &'a str,
    errors: Vec<(Order, ScenarioError)>,
    /// `(start of the enclosing table's span, key)` of keys dropped after a shape error.
    removed: HashSet<(usize, String)>,
    vars: VarTable,
    base_dir: PathBuf,
}

impl Ctx<'_> {
    fn err(&mut self, span: Range<usize>, message: impl Into<String>, label: impl Into<String>) {
        let e = self.sources.error(span, message.into(), label.into());
        self.errors.push(e);
    }

    fn err_help(
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

    fn push(&mut self, e: ScenarioError) {
        let n = self.errors.len();
        self.errors.push(((2, n), e));
    }

    /// Report that `key` is missing from the table at `table`, unless it was already reported
    /// as malformed.
    fn missing(&mut self, table: Range<usize>, key: &str, section: &str, help: Option<String>) {
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

    fn was_removed(&self, table: &Range<usize>, key: &str) -> bool {
        self.removed.contains(&(table.start, key.to_owned()))
    }

    /// Whether any key of the table at `table` was dropped after a shape error.
    fn any_removed(&self, table: &Range<usize>) -> bool {
        self.removed.iter().any(|(start, _)| *start == table.start)
    }

    /// A table's span cut to its first line, so a "missing key" error underlines the header.
    fn first_line(&self, span: Range<usize>) -> Range<usize> {
        let end = self
            .combined
            .get(span.clone())
            .and_then(|s| s.find('\n'))
            .map_or(span.end, |i| span.start + i);
        span.start..end
    }
}

/// Parse and validate scenario `text` (the contents of `path`), resolving feeder paths against
/// `base_dir`, after applying `overrides`.
pub(crate) fn parse(
    path: &Path,
    text: &str,
    base_dir: &Path,
    overrides: &[Override],
) -> Result<Scenario, ScenarioErrors> {
    let file_name = path.display().to_string();
    // `--set` values are appended to the file text so every span lives in one address space;
    // `Sources` maps spans past the file back to the flag they came from.
    let mut combined = text.to_owned();
    let mut regions = Vec::new();
    for o in overrides {
        combined.push('\n');
        let start = combined.len();
        let arg = format!("{}={}", o.key, o.value);
        combined.push_str(&arg);
        regions.push(Region {
            start,
            end: combined.len(),
            name: format!("--set {arg}"),
            text: Arc::from(arg.as_str()),
        });
    }
    let sources = Sources {
        file_name: file_name.clone(),
        file: Arc::from(text),
        overrides: regions,
    };
    let mut ctx = Ctx {
        sources: &sources,
        combined: &combined,
        errors: Vec::new(),
        removed: HashSet::new(),
        vars: VarTable::default(),
        base_dir: base_dir.to_path_buf(),
    };

    let (mut root, syntax) = DeTable::parse_recoverable(&combined[..text.len()]);
    if !syntax.is_empty() {
        for e in syntax {
            let span = e.span().unwrap_or(0..0);
            ctx.err(
                span,
                format!("invalid TOML: {}", e.message().trim()),
                "syntax error",
            );
        }
        return Err(finish(&file_name, ctx.errors));
    }
    for (o, region) in overrides.iter().zip(&sources.overrides) {
        apply_override(&mut ctx, root.get_mut(), o, region.start, &combined);
    }
    let raw = deserialize_all(&mut ctx, root);
    let scenario = raw.and_then(|raw| promote(&mut ctx, path, text, raw));
    match scenario {
        Some(s) if ctx.errors.is_empty() => Ok(s),
        _ => {
            if ctx.errors.is_empty() {
                // Promotion only gives up after reporting; this keeps the error non-empty anyway.
                ctx.err(0..0, "the scenario could not be read", "here");
            }
            Err(finish(&file_name, ctx.errors))
        }
    }
}

fn finish(file: &str, mut errors: Vec<(Order, ScenarioError)>) -> ScenarioErrors {
    errors.sort_by_key(|(order, _)| *order);
    ScenarioErrors::new(file, errors.into_iter().map(|(_, e)| e).collect())
}

// ---------------------------------------------------------------------------------------------
// --set overrides

fn apply_override<'i>(
    ctx: &mut Ctx<'_>,
    root: &mut DeTable<'i>,
    o: &Override,
    start: usize,
    combined: &'i str,
) {
    let key_text = &combined[start..start + o.key.len()];
    let vstart = start + o.key.len() + 1;
    let value_text = &combined[vstart..vstart + o.value.len()];
    let value = match DeValue::parse(value_text) {
        Ok(v) => shift(v, vstart),
        // Not a TOML value: take it as a string, so `--set target.base_url=http://x` works.
        Err(_) => Spanned::new(
            vstart..vstart + value_text.len(),
            DeValue::String(Cow::Borrowed(value_text)),
        ),
    };
    let mut segs = Vec::new();
    let mut off = start;
    for seg in key_text.split('.') {
        if seg.is_empty() {
            ctx.err(
                start..start + key_text.len(),
                format!("invalid --set key `{key_text}`: empty segment"),
                "expected a dotted key such as `load.users`",
            );
            return;
        }
        segs.push((seg, off..off + seg.len()));
        off += seg.len() + 1;
    }
    if let Err((span, message)) = set_path(root, &segs, value) {
        ctx.err(span, format!("cannot apply --set: {message}"), "here");
    }
}

type Seg<'i> = (&'i str, Range<usize>);

fn set_path<'i>(
    table: &mut DeTable<'i>,
    segs: &[Seg<'i>],
    value: Spanned<DeValue<'i>>,
) -> Result<(), (Range<usize>, String)> {
    let Some(((seg, span), rest)) = segs.split_first() else {
        return Ok(());
    };
    if rest.is_empty() {
        table.insert(Spanned::new(span.clone(), Cow::Borrowed(*seg)), value);
        return Ok(());
    }
    if !table.contains_key(*seg) {
        table.insert(
            Spanned::new(span.clone(), Cow::Borrowed(*seg)),
            Spanned::new(span.clone(), DeValue::Table(DeTable::new())),
        );
    }
    match table.get_mut(*seg) {
        Some(v) => set_in_value(v, seg, span, rest, value),
        None => Err((span.clone(), format!("`{seg}` could not be created"))),
    }
}

fn set_in_value<'i>(
    slot: &mut Spanned<DeValue<'i>>,
    name: &str,
    name_span: &Range<usize>,
    segs: &[Seg<'i>],
    value: Spanned<DeValue<'i>>,
) -> Result<(), (Range<usize>, String)> {
    match slot.get_mut() {
        DeValue::Table(t) => set_path(t, segs, value),
        DeValue::Array(a) => {
            let Some(((seg, span), rest)) = segs.split_first() else {
                return Ok(());
            };
            let len = a.len();
            let Ok(i) = seg.parse::<usize>() else {
                return Err((
                    span.clone(),
                    format!(
                        "`{name}` is a list: use an index such as `{name}.0{}`",
                        rest.iter()
                            .map(|(r, _)| format!(".{r}"))
                            .collect::<String>()
                    ),
                ));
            };
            let Some(el) = a.get_mut(i) else {
                return Err((
                    span.clone(),
                    format!("`{name}` has {len} entries, so index {i} does not exist"),
                ));
            };
            if rest.is_empty() {
                *el = value;
                Ok(())
            } else {
                set_in_value(el, seg, span, rest, value)
            }
        }
        other => Err((
            name_span.clone(),
            format!("`{name}` is a {}, not a table", other.type_str()),
        )),
    }
}

/// Move every span of `v` (parsed from a slice starting at `by`) into combined-text positions.
fn shift(v: Spanned<DeValue<'_>>, by: usize) -> Spanned<DeValue<'_>> {
    let span = v.span();
    let inner = match v.into_inner() {
        DeValue::Array(a) => DeValue::Array(a.into_iter().map(|x| shift(x, by)).collect()),
        DeValue::Table(t) => {
            let mut out = DeTable::new();
            for (k, val) in t {
                let ks = k.span();
                out.insert(
                    Spanned::new(ks.start + by..ks.end + by, k.into_inner()),
                    shift(val, by),
                );
            }
            DeValue::Table(out)
        }
        other => other,
    };
    Spanned::new(span.start + by..span.end + by, inner)
}

// ---------------------------------------------------------------------------------------------
// Shape: serde with recovery

/// What was dropped after a shape error.
struct Dropped {
    /// Dotted path of the enclosing table (`load`, `transaction[0].request[1]`).
    section: String,
    /// The key, when a table entry was dropped (not a list element).
    key: Option<String>,
    /// Whether the error pointed at the key itself (unknown key).
    at_key: bool,
}

fn deserialize_all(ctx: &mut Ctx<'_>, mut root: Spanned<DeTable<'_>>) -> Option<RawScenario> {
    let mut seen = HashSet::new();
    for _ in 0..MAX_SHAPE_ERRORS {
        let de = toml::de::Deserializer::from(root.clone());
        match RawScenario::deserialize(de) {
            Ok(raw) => return Some(raw),
            Err(e) => {
                let span = e.span().unwrap_or(0..0);
                // Dropping a key should make its error go away; if it comes back, stop rather
                // than report it again.
                if !seen.insert((span.start, span.end, e.message().to_owned())) {
                    return None;
                }
                let root_span = root.span();
                let dropped = drop_at(ctx, root.get_mut(), root_span, &span);
                report_shape_error(ctx, span, e.message(), dropped.as_ref());
                dropped.as_ref()?;
            }
        }
    }
    None
}

#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

/// Remove the innermost entry that `span` points at (a key, or a value containing the span),
/// recording it in `ctx.removed`. Header tables (`[load]`) have spans that do not contain their
/// entries, so the whole tree is searched rather than only the containing branches.
fn drop_at(
    ctx: &mut Ctx<'_>,
    table: &mut DeTable<'_>,
    table_span: Range<usize>,
    span: &Range<usize>,
) -> Option<Dropped> {
    let mut path = Vec::new();
    let (steps, at_key) = find_in_table(table, span, &mut path)?;
    // Walk to the parent of the last step, noting the parent table's span.
    let (last, parents) = steps.split_last()?;
    let mut parent_span = table_span;
    let mut section = String::new();
    let mut cur: Option<&mut DeTable<'_>> = Some(table);
    let mut arr: Option<&mut DeArray<'_>> = None;
    for step in parents {
        let value = match (step, cur.take(), arr.take()) {
            (Step::Key(k), Some(t), _) => {
                section = join(&section, k);
                t.get_mut(k.as_str())?
            }
            (Step::Index(i), _, Some(a)) => {
                section = format!("{section}[{i}]");
                a.get_mut(*i)?
            }
            _ => return None,
        };
        parent_span = value.span();
        match value.get_mut() {
            DeValue::Table(t) => cur = Some(t),
            DeValue::Array(a) => arr = Some(a),
            _ => return None,
        }
    }
    match (last, cur, arr) {
        (Step::Key(k), Some(t), _) => {
            t.remove(k.as_str());
            ctx.removed.insert((parent_span.start, k.clone()));
            Some(Dropped {
                section,
                key: Some(k.clone()),
                at_key,
            })
        }
        (Step::Index(i), _, Some(a)) => {
            let old = std::mem::replace(a, DeArray::from_iter(std::iter::empty()));
            *a = old
                .into_iter()
                .enumerate()
                .filter(|(j, _)| j != i)
                .map(|(_, v)| v)
                .collect();
            Some(Dropped {
                section: format!("{section}[{i}]"),
                key: None,
                at_key: false,
            })
        }
        _ => None,
    }
}

fn contains(outer: &Range<usize>, inner: &Range<usize>) -> bool {
    outer.start <= inner.start && inner.end <= outer.end
}

/// Path to the deepest entry matching `span`, and whether the match is the key itself.
fn find_in_table(
    table: &DeTable<'_>,
    span: &Range<usize>,
    path: &mut Vec<Step>,
) -> Option<(Vec<Step>, bool)> {
    for (k, v) in table.iter() {
        path.push(Step::Key(k.get_ref().to_string()));
        if k.span() == *span {
            let found = path.clone();
            path.pop();
            return Some((found, true));
        }
        if let Some(deeper) = find_in_value(v, span, path) {
            path.pop();
            return Some(deeper);
        }
        if contains(&v.span(), span) {
            let found = path.clone();
            path.pop();
            return Some((found, false));
        }
        path.pop();
    }
    None
}

fn find_in_value(
    v: &Spanned<DeValue<'_>>,
    span: &Range<usize>,
    path: &mut Vec<Step>,
) -> Option<(Vec<Step>, bool)> {
    // The value itself is the match when the span is exactly its own.
    if v.span() == *span {
        return None;
    }
    match v.get_ref() {
        DeValue::Table(t) => find_in_table(t, span, path),
        DeValue::Array(a) => {
            for (i, el) in a.iter().enumerate() {
                path.push(Step::Index(i));
                if let Some(deeper) = find_in_value(el, span, path) {
                    path.pop();
                    return Some(deeper);
                }
                if contains(&el.span(), span) {
                    let found = path.clone();
                    path.pop();
                    return Some((found, false));
                }
                path.pop();
            }
            None
        }
        _ => None,
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn section_name(section: &str) -> String {
    if section.is_empty() {
        "at the top level".to_owned()
    } else {
        format!("in `{section}`")
    }
}

/// Turn serde's wording into ours: "unknown key ... did you mean", "expected an integer".
fn report_shape_error(
    ctx: &mut Ctx<'_>,
    span: Range<usize>,
    message: &str,
    dropped: Option<&Dropped>,
) {
    let section = dropped.map_or_else(String::new, |d| d.section.clone());
    let key = dropped.and_then(|d| d.key.clone());
    if let Some(rest) = message.strip_prefix("unknown field ") {
        let name = backticked(rest).into_iter().next().unwrap_or_default();
        let expected: Vec<String> = backticked(rest).into_iter().skip(1).collect();
        let help = did_you_mean(&name, expected.iter().map(String::as_str)).or_else(|| {
            (!expected.is_empty()).then(|| {
                format!(
                    "expected one of {}",
                    expected
                        .iter()
                        .map(|e| format!("`{e}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
        });
        ctx.err_help(
            span,
            format!("unknown key `{name}` {}", section_name(&section)),
            "unknown key",
            help,
        );
        return;
    }
    if message.contains("$__toml_private_datetime") {
        ctx.err_help(
            span,
            "TOML dates and times are not supported here",
            "a TOML datetime",
            Some("quote it to send it as a string, e.g. \"1979-05-27T07:32:00Z\"".to_owned()),
        );
        return;
    }
    let what = match (&key, dropped.is_some_and(|d| d.at_key)) {
        (Some(k), _) => format!("`{k}` {}", section_name(&section)),
        (None, _) if !section.is_empty() => format!("`{section}`"),
        _ => "value".to_owned(),
    };
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        let (found, expected) = rest
            .split_once(", expected ")
            .unwrap_or((rest, "another type"));
        let expected = humanize_expected(expected);
        ctx.err(
            span,
            format!("wrong type for {what}: found {found}, expected {expected}"),
            format!("expected {expected}"),
        );
        return;
    }
    if let Some(rest) = message.strip_prefix("invalid value: ") {
        let (found, expected) = rest
            .split_once(", expected ")
            .unwrap_or((rest, "another value"));
        let expected = humanize_expected(expected);
        ctx.err(
            span,
            format!("invalid value for {what}: {found}, expected {expected}"),
            format!("expected {expected}"),
        );
        return;
    }
    ctx.err(span, format!("{what}: {}", message.trim()), "here");
}

fn humanize_expected(expected: &str) -> String {
    match expected.trim() {
        "i8" | "i16" | "i32" | "i64" | "u8" | "u16" | "u32" | "u64" | "usize" => {
            "an integer".to_owned()
        }
        "f32" | "f64" => "a number".to_owned(),
        "a sequence" => "a list".to_owned(),
        "a map" => "a table".to_owned(),
        e if e.starts_with("struct ") => "a table".to_owned(),
        e => e.to_owned(),
    }
}

/// The `backticked` words of a serde message, in order.
fn backticked(s: &str) -> Vec<String> {
    s.split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, w)| w.to_owned())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Promotion

fn promote(ctx: &mut Ctx<'_>, path: &Path, text: &str, raw: RawScenario) -> Option<Scenario> {
    let name = match &raw.name {
        Some(n) if n.get_ref().trim().is_empty() => {
            ctx.err(n.span(), "`name` is empty", "expected a non-empty name");
            None
        }
        Some(n) => Some(n.get_ref().clone()),
        None => Some(path.file_stem().map_or_else(
            || "scenario".to_owned(),
            |s| s.to_string_lossy().into_owned(),
        )),
    };
    let target = promote_target(ctx, raw.target.as_ref());
    let load = promote_load(ctx, raw.load.as_ref());
    let feeders = promote_feeders(ctx, &raw.feeder);
    define_captures(ctx, &raw.transaction);
    let transactions = promote_transactions(ctx, &raw.transaction);
    let slas = promote_slas(
        ctx,
        &raw.sla,
        &raw.transaction,
        scraped(ctx, raw.target.as_ref()),
    );
    let sha256 = format!("{:x}", sha2::Sha256::digest(text.as_bytes()));
    Some(Scenario {
        name: name?,
        path: path.to_path_buf(),
        sha256,
        target: target?,
        load: load?,
        transactions,
        feeders,
        slas,
        vars: ctx.vars.clone(),
    })
}

fn duration(ctx: &mut Ctx<'_>, v: &Spanned<Text>, key: &str) -> Option<Duration> {
    let s = v.get_ref().0.trim();
    match humantime::parse_duration(s) {
        Ok(d) => Some(d),
        Err(e) => {
            ctx.err_help(
                v.span(),
                format!("invalid duration `{s}` for `{key}`: {e}"),
                "expected a duration such as \"30s\", \"500ms\" or \"1m30s\"",
                Some("units: us, ms, s, m (minutes), h".to_owned()),
            );
            None
        }
    }
}

fn think_time(ctx: &mut Ctx<'_>, v: &Spanned<Text>, key: &str) -> Option<ThinkTime> {
    let s = v.get_ref().0.trim();
    let (lo, hi) = s.split_once("..").unwrap_or((s, s));
    let span = v.span();
    let parse = |t: &str| humantime::parse_duration(t.trim()).map_err(|e| e.to_string());
    match (parse(lo), parse(hi)) {
        (Ok(min), Ok(max)) if min <= max => Some(ThinkTime { min, max }),
        (Ok(_), Ok(_)) => {
            ctx.err(
                span,
                format!("invalid think time `{s}` for `{key}`: the minimum is above the maximum"),
                "expected \"MIN..MAX\" with MIN <= MAX",
            );
            None
        }
        (Err(e), _) | (_, Err(e)) => {
            ctx.err_help(
                span,
                format!("invalid think time `{s}` for `{key}`: {e}"),
                "expected a duration such as \"1s\" or a range such as \"1s..3s\"",
                Some("units: us, ms, s, m (minutes), h".to_owned()),
            );
            None
        }
    }
}

/// One of `choices` (case-insensitive), or an error with a suggestion.
fn choice<'c>(
    ctx: &mut Ctx<'_>,
    v: &Spanned<String>,
    key: &str,
    choices: &[&'c str],
) -> Option<&'c str> {
    let s = v.get_ref().trim();
    if let Some(c) = choices.iter().find(|c| c.eq_ignore_ascii_case(s)) {
        return Some(c);
    }
    let list = choices
        .iter()
        .map(|c| format!("`{c}`"))
        .collect::<Vec<_>>()
        .join(", ");
    ctx.err_help(
        v.span(),
        format!("invalid `{key}` `{s}`: expected one of {list}"),
        format!("expected one of {list}"),
        did_you_mean(s, choices.iter().copied()),
    );
    None
}

fn http_url(ctx: &mut Ctx<'_>, v: &Spanned<String>, key: &str) -> Option<String> {
    let s = v.get_ref().trim();
    match reqwest::Url::parse(s) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {
            Some(s.trim_end_matches('/').to_owned())
        }
        Ok(u) => {
            ctx.err(
                v.span(),
                format!(
                    "invalid `{key}` `{s}`: scheme `{}` is not http or https",
                    u.scheme()
                ),
                "expected an http:// or https:// URL",
            );
            None
        }
        Err(e) => {
            ctx.err(
                v.span(),
                format!("invalid `{key}` `{s}`: {e}"),
                "expected a URL such as \"http://127.0.0.1:8080\"",
            );
            None
        }
    }
}

/// Parse a template in a TOML string value, pointing errors at the placeholder inside it.
fn template(ctx: &mut Ctx<'_>, v: &Spanned<String>, escape: Escape) -> Option<Template> {
    match Template::parse(v.get_ref(), &ctx.vars, escape) {
        Ok(t) => Some(t),
        Err(e) => {
            template_error(ctx, v.span(), v.get_ref(), &e);
            None
        }
    }
}

fn template_error(ctx: &mut Ctx<'_>, span: Range<usize>, content: &str, e: &TemplateError) {
    // Where the string's content starts in the source: after `"""`+newline, `"""`, `"`, or at
    // once for a bare `--set` value. With escapes in the string the offsets would not line up,
    // so then the whole string is underlined.
    let start = [span.start + 4, span.start + 3, span.start + 1, span.start]
        .into_iter()
        .find(|&s| ctx.combined.get(s..s + content.len()) == Some(content));
    let at = match start {
        Some(s) => s + e.offset..s + e.offset + e.len,
        None => span,
    };
    let (label, help) = match &e.unknown_var {
        Some(name) => {
            let mut candidates: Vec<&str> = ctx.vars.names().iter().map(String::as_str).collect();
            candidates.extend(BUILTINS);
            (
                "undefined variable".to_owned(),
                did_you_mean(name, candidates).or_else(|| {
                    Some(
                        "define it with a feeder column or a `capture`, or use a built-in: \
                         user, iteration, uuid, random(MIN, MAX), timestamp, timestamp_ms"
                            .to_owned(),
                    )
                }),
            )
        }
        None => ("invalid placeholder".to_owned(), None),
    };
    let message = e.message.clone();
    ctx.err_help(at, message, label, help);
}

fn header_list(
    ctx: &mut Ctx<'_>,
    entries: Option<&Spanned<Entries<String>>>,
) -> Vec<(String, Template)> {
    let mut out = Vec::new();
    for (k, v) in entries
        .map(|e| e.get_ref().0.as_slice())
        .unwrap_or_default()
    {
        let name = k.get_ref().trim().to_ascii_lowercase();
        if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            ctx.err(
                k.span(),
                format!("invalid header name `{}`", k.get_ref()),
                "expected letters, digits and `-`",
            );
            continue;
        }
        if let Some(t) = template(ctx, v, Escape::None) {
            out.push((name, t));
        }
    }
    out
}

fn promote_target(ctx: &mut Ctx<'_>, raw: Option<&Spanned<RawTarget>>) -> Option<Target> {
    let Some(t) = raw else {
        ctx.err_help(
            0..0,
            "missing `[target]` table",
            "expected a `[target]` table in this file",
            Some("add `[target]` with `base_url = \"http://127.0.0.1:8080\"`".to_owned()),
        );
        return None;
    };
    let span = t.span();
    let t = t.get_ref();
    let reference = t.reference.as_ref().is_some_and(|r| *r.get_ref());
    let base_url = match &t.base_url {
        Some(u) => http_url(ctx, u, "base_url"),
        None if reference => Some(String::new()),
        None => {
            ctx.missing(
                span,
                "base_url",
                "`[target]`",
                Some(
                    "add `base_url = \"http://127.0.0.1:8080\"`, or `reference = true` to use \
                     the bundled reference stack"
                        .to_owned(),
                ),
            );
            None
        }
    };
    let timeout = match &t.timeout {
        Some(v) => match duration(ctx, v, "timeout") {
            Some(d) if d.is_zero() => {
                ctx.err(v.span(), "`timeout` must be longer than 0", "expected > 0");
                None
            }
            d => d,
        },
        None => Some(DEFAULT_TIMEOUT),
    };
    let headers = header_list(ctx, t.headers.as_ref());
    let metrics_url = match &t.metrics_url {
        Some(u) => Some(http_url(ctx, u, "metrics_url")?),
        None => None,
    };
    Some(Target {
        base_url: base_url?,
        headers,
        timeout: timeout?,
        metrics_url,
        reference,
    })
}

fn positive_int(ctx: &mut Ctx<'_>, v: &Spanned<i64>, key: &str, min: i64) -> Option<u64> {
    let n = *v.get_ref();
    if n < min {
        ctx.err(
            v.span(),
            format!("`{key}` must be at least {min}, found {n}"),
            format!("expected >= {min}"),
        );
        return None;
    }
    u64::try_from(n).ok()
}

fn promote_load(ctx: &mut Ctx<'_>, raw: Option<&Spanned<RawLoad>>) -> Option<Load> {
    let Some(l) = raw else {
        ctx.err_help(
            0..0,
            "missing `[load]` table",
            "expected a `[load]` table in this file",
            Some("add `[load]` with `users = 10` and `duration = \"1m\"`".to_owned()),
        );
        return None;
    };
    let span = l.span();
    let l = l.get_ref();
    let open = match &l.model {
        Some(m) => choice(ctx, m, "model", &["closed", "open"]).map(|m| m == "open"),
        None => Some(false),
    };
    let open = open?;
    let model_name = if open { "open" } else { "closed" };
    let wrong_model = |ctx: &mut Ctx<'_>, span: Range<usize>, key: &str, use_instead: &str| {
        let other = if open { "closed" } else { "open" };
        ctx.err_help(
            span,
            format!(
                "`{key}` belongs to the {other} model, but this load uses the {model_name} model"
            ),
            format!("not used by the {model_name} model"),
            Some(if open {
                format!("use {use_instead}, or remove `model = \"open\"` for a closed model")
            } else {
                format!("use {use_instead}, or set `model = \"open\"` for an arrival rate")
            }),
        );
    };
    let mut ok = true;
    if open {
        if let Some(u) = &l.users {
            wrong_model(ctx, u.span(), "users", "`rate`");
            ok = false;
        }
        if let Some(t) = &l.think_time {
            wrong_model(ctx, t.span(), "think_time", "a request's `think_time`");
            ok = false;
        }
    } else {
        for (key, v) in [
            ("rate", l.rate.as_ref().map(Spanned::span)),
            ("unit", l.unit.as_ref().map(Spanned::span)),
            ("max_in_flight", l.max_in_flight.as_ref().map(Spanned::span)),
        ] {
            if let Some(s) = v {
                wrong_model(ctx, s, key, "`users`");
                ok = false;
            }
        }
    }

    let max_duration = match &l.duration {
        Some(raw_d) => match duration(ctx, raw_d, "duration") {
            Some(d) if d.is_zero() => {
                ctx.err(
                    raw_d.span(),
                    "`duration` must be longer than 0",
                    "expected > 0",
                );
                None
            }
            Some(d) => Some(Some(d)),
            None => None,
        },
        None => Some(None),
    };
    let max_iterations = match &l.iterations {
        Some(i) => positive_int(ctx, i, "iterations", 1).map(Some),
        None => Some(None),
    };
    let ramp_up = match &l.ramp_up {
        Some(r) => duration(ctx, r, "ramp_up"),
        None => Some(Duration::ZERO),
    };
    let target_key = if open { "rate" } else { "users" };

    let stages = if l.stage.is_empty() {
        // The shorthand: one stage that ramps to `users`/`rate` and holds until `duration`.
        let target = if open {
            match &l.rate {
                Some(r) if !(r.get_ref().is_finite() && *r.get_ref() > 0.0) => {
                    ctx.err(
                        r.span(),
                        format!("`rate` must be a number above 0, found {}", r.get_ref()),
                        "expected arrivals per second > 0",
                    );
                    None
                }
                Some(r) => Some(*r.get_ref()),
                None => None,
            }
        } else {
            match &l.users {
                Some(u) => positive_int(ctx, u, "users", 1).map(|n| n as f64),
                None => None,
            }
        };
        let given = if open {
            l.rate.is_some()
        } else {
            l.users.is_some()
        };
        if !given && !ctx.was_removed(&span, target_key) && ok {
            ctx.missing(
                span.clone(),
                target_key,
                "`[load]`",
                Some(format!(
                    "add `{target_key} = 10`, or describe the load with `[[load.stage]]` tables"
                )),
            );
        }
        if l.duration.is_none()
            && l.iterations.is_none()
            && !ctx.was_removed(&span, "duration")
            && !ctx.was_removed(&span, "iterations")
        {
            let at = ctx.first_line(span.clone());
            ctx.err_help(
                at,
                "`[load]` needs `duration` or `iterations` to know when to stop",
                "neither `duration` nor `iterations` is set",
                Some("add `duration = \"1m\"` or `iterations = 1000`".to_owned()),
            );
        }
        let (target, ramp) = (target?, ramp_up?);
        let hold = match max_duration.flatten() {
            Some(d) if ramp > d => {
                if let Some(r) = &l.ramp_up {
                    ctx.err(
                        r.span(),
                        "`ramp_up` is longer than `duration`",
                        "expected a ramp shorter than the whole run",
                    );
                }
                return None;
            }
            Some(d) => d - ramp,
            None => super::HOLD_UNTIL_CAP,
        };
        vec![Stage {
            name: None,
            target,
            ramp,
            hold,
        }]
    } else {
        for (key, v) in [
            (
                target_key,
                if open {
                    l.rate.as_ref().map(Spanned::span)
                } else {
                    l.users.as_ref().map(Spanned::span)
                },
            ),
            ("ramp_up", l.ramp_up.as_ref().map(Spanned::span)),
        ] {
            if let Some(s) = v {
                ctx.err_help(
                    s,
                    format!("`{key}` cannot be combined with `[[load.stage]]`"),
                    "shorthand for a single stage",
                    Some(
                        "give each stage its own target and `ramp`, or drop the stages".to_owned(),
                    ),
                );
            }
        }
        let mut stages = Vec::new();
        for s in &l.stage {
            let sspan = s.span();
            let s = s.get_ref();
            let (own, other) = if open {
                (
                    s.rate.as_ref().map(|r| (r.span(), *r.get_ref())),
                    s.users.as_ref().map(Spanned::span),
                )
            } else {
                (
                    s.users.as_ref().map(|u| (u.span(), *u.get_ref() as f64)),
                    s.rate.as_ref().map(Spanned::span),
                )
            };
            if let Some(o) = other {
                wrong_model(
                    ctx,
                    o,
                    if open { "users" } else { "rate" },
                    &format!("`{target_key}`"),
                );
                continue;
            }
            let target = match own {
                Some((sp, t)) if !(t.is_finite() && t >= 0.0) => {
                    ctx.err(
                        sp,
                        format!("`{target_key}` must be 0 or more, found {t}"),
                        "expected >= 0",
                    );
                    None
                }
                Some((_, t)) => Some(t),
                None => {
                    ctx.missing(sspan.clone(), target_key, "`[[load.stage]]`", None);
                    None
                }
            };
            let ramp = match &s.ramp {
                Some(r) => duration(ctx, r, "ramp"),
                None => Some(Duration::ZERO),
            };
            let hold = match &s.hold {
                Some(h) => duration(ctx, h, "hold"),
                None => Some(Duration::ZERO),
            };
            let (Some(target), Some(ramp), Some(hold)) = (target, ramp, hold) else {
                continue;
            };
            if ramp.is_zero() && hold.is_zero() {
                let at = ctx.first_line(sspan);
                ctx.err_help(
                    at,
                    "this stage lasts 0 seconds",
                    "no `ramp` or `hold`",
                    Some(
                        "add `hold = \"30s\"` (and `ramp` to change the load gradually)".to_owned(),
                    ),
                );
                continue;
            }
            stages.push(Stage {
                name: s.name.as_ref().map(|n| n.get_ref().clone()),
                target,
                ramp,
                hold,
            });
        }
        stages
    };
    let model = if open {
        let unit = match &l.unit {
            Some(u) => match choice(ctx, u, "unit", &["iterations", "requests"])? {
                "requests" => ArrivalUnit::Requests,
                _ => ArrivalUnit::Iterations,
            },
            None => ArrivalUnit::Iterations,
        };
        let max_in_flight = match &l.max_in_flight {
            Some(m) => {
                let n = positive_int(ctx, m, "max_in_flight", 1)?;
                match u32::try_from(n) {
                    Ok(n) => n,
                    Err(_) => {
                        ctx.err(
                            m.span(),
                            "`max_in_flight` is too large",
                            "expected at most 4294967295",
                        );
                        return None;
                    }
                }
            }
            None => DEFAULT_MAX_IN_FLIGHT,
        };
        LoadModel::Open(OpenLoad {
            stages,
            unit,
            max_in_flight,
        })
    } else {
        let think_time = match &l.think_time {
            Some(t) => Some(think_time(ctx, t, "think_time")?),
            None => None,
        };
        LoadModel::Closed(ClosedLoad { stages, think_time })
    };
    if !ok {
        return None;
    }
    Some(Load {
        model,
        max_duration: max_duration?,
        max_iterations: max_iterations?,
    })
}

fn promote_feeders(ctx: &mut Ctx<'_>, raw: &[Spanned<RawFeeder>]) -> Vec<Feeder> {
    let mut out: Vec<Feeder> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for f in raw {
        let span = f.span();
        let f = f.get_ref();
        let Some(path) = &f.path else {
            ctx.missing(
                span,
                "path",
                "`[[feeder]]`",
                Some("add `path = \"data/users.csv\"` (relative to this file)".to_owned()),
            );
            continue;
        };
        let rel = PathBuf::from(path.get_ref());
        let name = match &f.name {
            Some(n) => n.get_ref().clone(),
            None => rel.file_stem().map_or_else(
                || path.get_ref().clone(),
                |s| s.to_string_lossy().into_owned(),
            ),
        };
        if names.contains(&name) {
            let at = f.name.as_ref().map_or_else(|| path.span(), Spanned::span);
            ctx.err(
                at,
                format!("duplicate feeder name `{name}`"),
                "already used by another feeder",
            );
        }
        names.push(name.clone());
        let mode = match &f.mode {
            Some(m) => match choice(ctx, m, "mode", &["sequential", "random", "unique"]) {
                Some("random") => Some(FeederMode::Random),
                Some("unique") => Some(FeederMode::UniquePerUser),
                Some(_) => Some(FeederMode::Sequential),
                None => None,
            },
            None => Some(FeederMode::Sequential),
        };
        let on_end = match &f.on_end {
            Some(m) => match choice(ctx, m, "on_end", &["recycle", "stop"]) {
                Some("stop") => Some(OnEnd::Stop),
                Some(_) => Some(OnEnd::Recycle),
                None => None,
            },
            None => Some(OnEnd::Recycle),
        };
        let full = ctx.base_dir.join(&rel);
        let Some((columns, rows)) = read_csv(ctx, path, &full) else {
            continue;
        };
        let mut slots = Vec::new();
        for c in columns {
            if BUILTINS.contains(&c.as_str()) {
                ctx.err_help(
                    path.span(),
                    format!(
                        "column `{c}` of `{}` has the name of a built-in variable",
                        full.display()
                    ),
                    "in this file",
                    Some("rename the column in the CSV header".to_owned()),
                );
                continue;
            }
            if let Some(other) = out.iter().find(|o| o.columns.iter().any(|(n, _)| *n == c)) {
                ctx.err(
                    path.span(),
                    format!("column `{c}` is also defined by feeder `{}`", other.name),
                    "two feeders define the same variable",
                );
                continue;
            }
            let slot = ctx.vars.slot(&c);
            slots.push((c, slot));
        }
        let (Some(mode), Some(on_end)) = (mode, on_end) else {
            continue;
        };
        out.push(Feeder {
            name,
            path: full,
            columns: slots,
            rows,
            mode,
            on_end,
        });
    }
    out
}

type Csv = (Vec<String>, Vec<Vec<String>>);

/// Read a CSV feeder: header row = column names, every row as long as the header.
fn read_csv(ctx: &mut Ctx<'_>, path: &Spanned<String>, full: &Path) -> Option<Csv> {
    let text = match std::fs::read_to_string(full) {
        Ok(t) => t,
        Err(e) => {
            ctx.err_help(
                path.span(),
                format!("cannot read feeder file `{}`: {e}", full.display()),
                "cannot read this file",
                Some("feeder paths are relative to the scenario file's folder".to_owned()),
            );
            return None;
        }
    };
    let name = full.display().to_string();
    let text: Arc<str> = Arc::from(text.as_str());
    let line_span = |offset: usize| {
        let end = text[offset.min(text.len())..]
            .find(['\n', '\r'])
            .map_or(text.len(), |i| offset + i);
        offset..end
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(text.as_bytes());
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            ctx.push(ScenarioError::new(
                &name,
                &text,
                0..0,
                format!("malformed CSV header: {e}"),
                "here",
            ));
            return None;
        }
    };
    let columns: Vec<String> = headers.iter().map(|h| h.trim().to_owned()).collect();
    if columns.iter().all(String::is_empty) {
        ctx.push(
            ScenarioError::new(
                &name,
                &text,
                line_span(0),
                "feeder file has no header row",
                "expected column names",
            )
            .with_help("the first line names the columns, e.g. `username,password`"),
        );
        return None;
    }
    let mut bad = false;
    for (i, c) in columns.iter().enumerate() {
        if c.is_empty() || columns[..i].contains(c) {
            let what = if c.is_empty() {
                "an empty column name".to_owned()
            } else {
                format!("column `{c}` twice")
            };
            ctx.push(ScenarioError::new(
                &name,
                &text,
                line_span(0),
                format!("CSV header has {what}"),
                "header row",
            ));
            bad = true;
        }
    }
    let mut rows = Vec::new();
    for rec in reader.records() {
        match rec {
            Ok(r) => rows.push(r.iter().map(str::to_owned).collect::<Vec<_>>()),
            Err(e) => {
                let (offset, message) = match e.kind() {
                    csv::ErrorKind::UnequalLengths {
                        pos,
                        expected_len,
                        len,
                    } => (
                        pos.as_ref().map_or(0, |p| p.byte() as usize),
                        format!(
                            "CSV row has {len} field{} but the header has {expected_len}",
                            if *len == 1 { "" } else { "s" }
                        ),
                    ),
                    csv::ErrorKind::Utf8 { pos, err } => (
                        pos.as_ref().map_or(0, |p| p.byte() as usize),
                        format!("CSV row is not valid UTF-8: {err}"),
                    ),
                    _ => (0, format!("malformed CSV: {e}")),
                };
                ctx.push(
                    ScenarioError::new(&name, &text, line_span(offset), message, "this row")
                        .with_help(format!(
                            "feeder `{}` of the scenario reads this file; every row needs one \
                             value per header column",
                            path.get_ref()
                        )),
                );
                bad = true;
            }
        }
    }
    if !bad && rows.is_empty() {
        ctx.err(
            path.span(),
            format!(
                "feeder file `{}` has a header but no data rows",
                full.display()
            ),
            "empty feeder",
        );
        return None;
    }
    if bad { None } else { Some((columns, rows)) }
}

fn valid_var_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
}

/// Give every capture a variable slot before any template is parsed, so that a request may use
/// what another transaction captures.
fn define_captures(ctx: &mut Ctx<'_>, txs: &[Spanned<RawTransaction>]) {
    let feeder_vars: Vec<String> = ctx.vars.names().to_vec();
    for t in txs {
        for r in &t.get_ref().request {
            let Some(caps) = &r.get_ref().capture else {
                continue;
            };
            for (k, _) in &caps.get_ref().0 {
                let name = k.get_ref();
                if !valid_var_name(name) {
                    ctx.err(
                        k.span(),
                        format!("invalid variable name `{name}`"),
                        "expected letters, digits, `_`, `-` or `.`",
                    );
                } else if BUILTINS.contains(&name.as_str()) {
                    ctx.err(
                        k.span(),
                        format!("`{name}` is a built-in variable and cannot be captured into"),
                        "reserved name",
                    );
                } else if feeder_vars.contains(name) {
                    ctx.err(
                        k.span(),
                        format!(
                            "capture `{name}` would overwrite the feeder column of the same name"
                        ),
                        "already a feeder column",
                    );
                } else {
                    ctx.vars.slot(name);
                }
            }
        }
    }
}

fn promote_transactions(ctx: &mut Ctx<'_>, raw: &[Spanned<RawTransaction>]) -> Vec<Transaction> {
    if raw.is_empty() {
        ctx.err_help(
            0..0,
            "the scenario has no `[[transaction]]`",
            "expected at least one transaction in this file",
            Some("add `[[transaction]]` with `name = \"browse\"` and a `[[transaction.request]]` with `path = \"/\"`".to_owned()),
        );
    }
    let mut out: Vec<Transaction> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for t in raw {
        let span = t.span();
        let t = t.get_ref();
        let name = match &t.name {
            Some(n) => {
                let s = n.get_ref().trim().to_owned();
                if s.is_empty() || s.contains('/') || s == "overall" {
                    ctx.err(
                        n.span(),
                        format!("invalid transaction name `{s}`"),
                        "expected a non-empty name without `/`, other than `overall`",
                    );
                    None
                } else if names.contains(&s) {
                    ctx.err(
                        n.span(),
                        format!("duplicate transaction name `{s}`"),
                        "already used by another transaction",
                    );
                    None
                } else {
                    names.push(s.clone());
                    Some(s)
                }
            }
            None => {
                ctx.missing(
                    span.clone(),
                    "name",
                    "`[[transaction]]`",
                    Some("add `name = \"browse\"`".to_owned()),
                );
                None
            }
        };
        let weight = match &t.weight {
            Some(w) => {
                let n = *w.get_ref();
                if n <= 0 {
                    ctx.err_help(
                        w.span(),
                        format!("weight must be greater than 0, found {n}"),
                        "expected a weight > 0",
                        Some("remove the transaction to stop running it".to_owned()),
                    );
                    None
                } else {
                    match u32::try_from(n) {
                        Ok(n) => Some(n),
                        Err(_) => {
                            ctx.err(
                                w.span(),
                                "weight is too large",
                                "expected at most 4294967295",
                            );
                            None
                        }
                    }
                }
            }
            None => Some(1),
        };
        let think = match &t.think_time {
            Some(v) => think_time(ctx, v, "think_time").map(Some),
            None => Some(None),
        };
        if t.request.is_empty() && !ctx.was_removed(&span, "request") {
            let at = ctx.first_line(span.clone());
            ctx.err_help(
                at,
                format!(
                    "transaction `{}` has no requests",
                    name.as_deref().unwrap_or("?")
                ),
                "empty transaction",
                Some("add a `[[transaction.request]]` with `path = \"/\"` after it".to_owned()),
            );
        }
        let mut requests: Vec<RequestSpec> = Vec::new();
        for r in &t.request {
            if let Some(req) = promote_request(ctx, r) {
                if requests.iter().any(|o| o.name == req.name) {
                    let at = r
                        .get_ref()
                        .name
                        .as_ref()
                        .map_or_else(|| ctx.first_line(r.span()), Spanned::span);
                    ctx.err_help(
                        at,
                        format!(
                            "duplicate request name `{}` in transaction `{}`",
                            req.name,
                            name.as_deref().unwrap_or("?")
                        ),
                        "already used in this transaction",
                        Some("give the request its own `name`".to_owned()),
                    );
                    continue;
                }
                requests.push(req);
            }
        }
        if let (Some(name), Some(weight), Some(think_time)) = (name, weight, think) {
            out.push(Transaction {
                name,
                weight,
                requests,
                think_time,
            });
        }
    }
    out
}

/// A request's name: `name`, else `METHOD path` as written.
fn request_name(r: &RawRequest) -> Option<String> {
    if let Some(n) = &r.name {
        return Some(n.get_ref().clone());
    }
    let method = METHODS
        .iter()
        .find(|m| {
            r.method
                .as_ref()
                .is_some_and(|x| x.get_ref().trim().eq_ignore_ascii_case(m))
        })
        .copied()
        .unwrap_or("GET");
    let addr = r.path.as_ref().or(r.url.as_ref())?;
    Some(format!("{method} {}", addr.get_ref()))
}

const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

fn promote_request(ctx: &mut Ctx<'_>, r: &Spanned<RawRequest>) -> Option<RequestSpec> {
    let span = r.span();
    let r = r.get_ref();
    let method = match &r.method {
        Some(m) => match choice(ctx, m, "method", METHODS)? {
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            "HEAD" => Method::Head,
            "OPTIONS" => Method::Options,
            _ => Method::Get,
        },
        None => Method::Get,
    };
    let url = match (&r.path, &r.url) {
        (Some(p), Some(u)) => {
            ctx.err_help(
                u.span(),
                "a request has either `path` or `url`, not both",
                "second address",
                Some(format!(
                    "remove `url`, or remove `path = \"{}\"`",
                    p.get_ref()
                )),
            );
            None
        }
        (Some(p), None) => {
            let s = p.get_ref();
            if s.starts_with('/') || s.starts_with("{{") {
                template(ctx, p, Escape::None)
            } else if s.starts_with("http://") || s.starts_with("https://") {
                ctx.err_help(
                    p.span(),
                    format!("`path` `{s}` is an absolute URL"),
                    "expected a path starting with `/`",
                    Some(format!("write `url = \"{s}\"` for an absolute URL")),
                );
                None
            } else {
                ctx.err_help(
                    p.span(),
                    format!("`path` `{s}` does not start with `/`"),
                    "expected a path starting with `/`",
                    Some(format!("write `path = \"/{s}\"`")),
                );
                None
            }
        }
        (None, Some(u)) => {
            let s = u.get_ref();
            if s.starts_with("http://") || s.starts_with("https://") || s.starts_with("{{") {
                template(ctx, u, Escape::None)
            } else {
                ctx.err_help(
                    u.span(),
                    format!("`url` `{s}` is not an absolute http(s) URL"),
                    "expected http:// or https://",
                    Some(format!(
                        "write `path = \"{s}\"` for a path on the target's base_url"
                    )),
                );
                None
            }
        }
        (None, None) => {
            if !ctx.was_removed(&span, "path") && !ctx.was_removed(&span, "url") {
                ctx.missing(
                    span.clone(),
                    "path",
                    "`[[transaction.request]]`",
                    Some(
                        "add `path = \"/\"` (joined to `base_url`) or `url = \"http://...\"`"
                            .to_owned(),
                    ),
                );
            }
            None
        }
    };
    let name = request_name(r);
    let headers = header_list(ctx, r.headers.as_ref());
    let body = promote_body(ctx, r);
    let checks = match &r.check {
        Some(c) => promote_checks(ctx, c),
        None => Some(Vec::new()),
    };
    let captures = match &r.capture {
        Some(c) => promote_captures(ctx, c),
        None => Some(Vec::new()),
    };
    let think = match &r.think_time {
        Some(v) => think_time(ctx, v, "think_time").map(Some),
        None => Some(None),
    };
    Some(RequestSpec {
        name: name?,
        method,
        url: url?,
        headers,
        body: body?,
        checks: checks?,
        captures: captures?,
        think_time: think?,
    })
}

fn promote_body(ctx: &mut Ctx<'_>, r: &RawRequest) -> Option<Option<Body>> {
    let given: Vec<Range<usize>> = [
        r.json.as_ref().map(Spanned::span),
        r.form.as_ref().map(Spanned::span),
        r.body.as_ref().map(Spanned::span),
    ]
    .into_iter()
    .flatten()
    .collect();
    if given.len() > 1 {
        ctx.err_help(
            given[1].clone(),
            "a request has at most one of `json`, `form` and `body`",
            "second body",
            Some("keep one body".to_owned()),
        );
        return None;
    }
    if let Some(j) = &r.json {
        // Check each string on its own first, so an error points into the TOML, then parse
        // the JSON text as one template whose placeholders are escaped as JSON strings.
        let before = ctx.errors.len();
        check_json_strings(ctx, j);
        if ctx.errors.len() > before {
            return None;
        }
        let mut text = String::new();
        write_json(j.get_ref(), &mut text);
        return match Template::parse(&text, &ctx.vars, Escape::JsonString) {
            Ok(t) => Some(Some(Body::Json(t))),
            Err(e) => {
                ctx.err(
                    j.span(),
                    format!("invalid JSON body template: {}", e.message),
                    "in this body",
                );
                None
            }
        };
    }
    if let Some(f) = &r.form {
        let mut fields = Vec::new();
        for (k, v) in &f.get_ref().0 {
            fields.push((k.get_ref().clone(), template(ctx, v, Escape::None)?));
        }
        return Some(Some(Body::Form(fields)));
    }
    if let Some(b) = &r.body {
        return template(ctx, b, Escape::None).map(|t| Some(Body::Raw(t)));
    }
    Some(None)
}

fn check_json_strings(ctx: &mut Ctx<'_>, v: &Spanned<RawValue>) {
    match v.get_ref() {
        RawValue::String(s) => {
            if let Err(e) = Template::parse(s, &ctx.vars, Escape::JsonString) {
                template_error(ctx, v.span(), s, &e);
            }
        }
        RawValue::Array(items) => items.iter().for_each(|i| check_json_strings(ctx, i)),
        RawValue::Table(entries) => {
            for (k, val) in entries {
                if let Err(e) = Template::parse(k.get_ref(), &ctx.vars, Escape::JsonString) {
                    template_error(ctx, k.span(), k.get_ref(), &e);
                }
                check_json_strings(ctx, val);
            }
        }
        _ => {}
    }
}

/// JSON text of a TOML value, keys in file order.
fn write_json(v: &RawValue, out: &mut String) {
    let quote = |s: &str, out: &mut String| {
        out.push_str(&serde_json::Value::String(s.to_owned()).to_string());
    };
    match v {
        RawValue::String(s) | RawValue::Datetime(s) => quote(s, out),
        RawValue::Integer(i) => out.push_str(&i.to_string()),
        RawValue::Float(f) => out.push_str(
            &serde_json::Number::from_f64(*f).map_or_else(|| "null".to_owned(), |n| n.to_string()),
        ),
        RawValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        RawValue::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item.get_ref(), out);
            }
            out.push(']');
        }
        RawValue::Table(entries) => {
            out.push('{');
            for (i, (k, val)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                quote(k.get_ref(), out);
                out.push(':');
                write_json(val.get_ref(), out);
            }
            out.push('}');
        }
    }
}

fn json_path(
    ctx: &mut Ctx<'_>,
    text: &str,
    span: Range<usize>,
) -> Option<serde_json_path::JsonPath> {
    match serde_json_path::JsonPath::parse(text) {
        Ok(p) => Some(p),
        Err(e) => {
            ctx.err_help(
                span,
                format!("invalid JSON path `{text}`: {e}"),
                "expected a JSON path such as `$.data[0].id`",
                Some("JSON paths start with `$` (RFC 9535)".to_owned()),
            );
            None
        }
    }
}

fn promote_checks(ctx: &mut Ctx<'_>, c: &Spanned<RawCheck>) -> Option<Vec<Check>> {
    let outer = c.span();
    let c = c.get_ref();
    let mut checks = Vec::new();
    let mut ok = true;
    if let Some(st) = &c.status {
        let mut ranges = Vec::new();
        for item in st.get_ref().items(st.span()) {
            match status_range(item.get_ref()) {
                Some(r) => ranges.push(r),
                None => {
                    ctx.err_help(
                        item.span(),
                        "invalid status in `check.status`",
                        "expected a status code (100-599) or a class such as \"2xx\"",
                        Some(
                            "examples: `status = 200`, `status = [200, 201]`, `status = \"2xx\"`"
                                .to_owned(),
                        ),
                    );
                    ok = false;
                }
            }
        }
        checks.push(Check::Status(ranges));
    }
    if let Some(b) = &c.body_contains {
        for item in b.get_ref().items(b.span()) {
            if item.get_ref().is_empty() {
                ctx.err(
                    item.span(),
                    "`body_contains` is empty",
                    "expected some text",
                );
                ok = false;
            }
            checks.push(Check::BodyContains(item.get_ref().clone()));
        }
    }
    if let Some(j) = &c.json {
        for (k, v) in &j.get_ref().0 {
            match json_path(ctx, k.get_ref(), k.span()) {
                Some(path) => checks.push(Check::JsonEquals {
                    text: k.get_ref().clone(),
                    path,
                    value: v.get_ref().to_json(),
                }),
                None => ok = false,
            }
        }
    }
    if let Some(e) = &c.json_exists {
        for item in e.get_ref().items(e.span()) {
            match json_path(ctx, item.get_ref(), item.span()) {
                Some(path) => checks.push(Check::JsonExists {
                    text: item.get_ref().clone(),
                    path,
                }),
                None => ok = false,
            }
        }
    }
    if checks.is_empty() && ok && !ctx.any_removed(&outer) {
        ctx.err_help(ctx.first_line(outer), "`check` has no checks", "empty check", Some("add `status`, `body_contains`, `json` or `json_exists`, or remove `check` for the default (status < 400)".to_owned()));
        ok = false;
    }
    ok.then_some(checks)
}

fn status_range(v: &NumOrStr) -> Option<std::ops::RangeInclusive<u16>> {
    match v {
        NumOrStr::Int(n) => {
            let n = u16::try_from(*n).ok().filter(|n| (100..=599).contains(n))?;
            Some(n..=n)
        }
        NumOrStr::Str(s) => {
            let s = s.trim().to_ascii_lowercase();
            if let Some(d) = s.strip_suffix("xx") {
                let d: u16 = d.parse().ok().filter(|d| (1..=5).contains(d))?;
                Some(d * 100..=d * 100 + 99)
            } else {
                let n: u16 = s.parse().ok().filter(|n| (100..=599).contains(n))?;
                Some(n..=n)
            }
        }
        NumOrStr::Float(_) => None,
    }
}

fn promote_captures(
    ctx: &mut Ctx<'_>,
    caps: &Spanned<Entries<RawCapture>>,
) -> Option<Vec<Capture>> {
    let mut out = Vec::new();
    let mut ok = true;
    for (k, v) in &caps.get_ref().0 {
        let c: &RawCapture = v.get_ref();
        let sources: Vec<&str> = [
            ("json", c.json.is_some()),
            ("header", c.header.is_some()),
            ("regex", c.regex.is_some()),
        ]
        .into_iter()
        .filter(|(_, on)| *on)
        .map(|(n, _)| n)
        .collect();
        if sources.is_empty() && ctx.any_removed(&v.span()) {
            // Its only key was malformed and is already reported.
            ok = false;
            continue;
        }
        if sources.len() != 1 {
            ctx.err_help(
                v.span(),
                format!(
                    "capture `{}` needs exactly one of `json`, `header` or `regex`, found {}",
                    k.get_ref(),
                    sources.len()
                ),
                "expected one source",
                Some(format!("e.g. `{} = {{ json = \"$.token\" }}`", k.get_ref())),
            );
            ok = false;
            continue;
        }
        let source = if let Some(j) = &c.json {
            json_path(ctx, j.get_ref(), j.span()).map(|path| CaptureSource::JsonPath {
                text: j.get_ref().clone(),
                path,
            })
        } else if let Some(h) = &c.header {
            let name = h.get_ref().trim().to_ascii_lowercase();
            if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_ok() {
                Some(CaptureSource::Header(name))
            } else {
                ctx.err(
                    h.span(),
                    format!("invalid header name `{}`", h.get_ref()),
                    "expected letters, digits and `-`",
                );
                None
            }
        } else if let Some(r) = &c.regex {
            match regex::Regex::new(r.get_ref()) {
                Ok(re) => Some(CaptureSource::Regex(re)),
                Err(e) => {
                    let detail = e.to_string();
                    let last = detail.lines().last().unwrap_or_default().trim().to_owned();
                    ctx.err(
                        r.span(),
                        format!("invalid regex for capture `{}`: {last}", k.get_ref()),
                        "invalid regex",
                    );
                    None
                }
            }
        } else {
            None
        };
        // A missing slot means the name was rejected in `define_captures`, which reported it.
        match (source, ctx.vars.get(k.get_ref())) {
            (Some(source), Some(slot)) => out.push(Capture {
                var: k.get_ref().clone(),
                slot,
                source,
            }),
            _ => ok = false,
        }
    }
    ok.then_some(out)
}

// ---------------------------------------------------------------------------------------------
// SLAs

const METRICS: &[&str] = &[
    "p50",
    "p90",
    "p95",
    "p99",
    "p99.9",
    "max",
    "mean",
    "error_rate",
    "throughput",
    "server:",
];

/// Whether the run will scrape server metrics: `[target]` names a `metrics_url` (or had one that
/// is already reported as malformed), or aims at the reference stack, which exposes its own.
fn scraped(ctx: &Ctx<'_>, target: Option<&Spanned<RawTarget>>) -> bool {
    target.is_none_or(|t| {
        let raw = t.get_ref();
        raw.metrics_url.is_some()
            || raw.reference.as_ref().is_some_and(|r| *r.get_ref())
            || ctx.was_removed(&t.span(), "metrics_url")
    })
}

/// `scraped`: whether server series will have samples (see [`scraped`]).
fn promote_slas(
    ctx: &mut Ctx<'_>,
    raw: &[Spanned<RawSla>],
    txs: &[Spanned<RawTransaction>],
    scraped: bool,
) -> Vec<Sla> {
    // Scopes come from the raw transactions, so an SLA on a transaction that has an error of
    // its own is not reported a second time.
    let tx_names: Vec<String> = txs
        .iter()
        .filter_map(|t| {
            t.get_ref()
                .name
                .as_ref()
                .map(|n| n.get_ref().trim().to_owned())
        })
        .collect();
    let mut scopes: Vec<String> = vec!["overall".to_owned()];
    scopes.extend(tx_names.iter().cloned());
    for t in txs {
        let Some(tn) = &t.get_ref().name else {
            continue;
        };
        for r in &t.get_ref().request {
            if let Some(rn) = request_name(r.get_ref()) {
                scopes.push(format!("{}/{rn}", tn.get_ref().trim()));
            }
        }
    }
    let mut out: Vec<Sla> = Vec::new();
    for s in raw {
        let span = s.span();
        let s = s.get_ref();
        let scope = match &s.scope {
            None => Some(SlaScope::Overall),
            Some(sc) => {
                let name = sc.get_ref().trim();
                if name == "overall" {
                    Some(SlaScope::Overall)
                } else if tx_names.iter().any(|t| t == name) {
                    Some(SlaScope::Transaction(name.to_owned()))
                } else if scopes.iter().any(|x| x == name) {
                    Some(SlaScope::Request(name.to_owned()))
                } else {
                    let help = did_you_mean(name, scopes.iter().map(String::as_str))
                        .unwrap_or_else(|| {
                            format!(
                                "known scopes: {}",
                                scopes
                                    .iter()
                                    .map(|s| format!("`{s}`"))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )
                        });
                    ctx.err_help(sc.span(), format!("SLA scope `{name}` is not `overall`, a transaction or `transaction/request`"), "unknown scope", Some(help));
                    None
                }
            }
        };
        let metric = match &s.metric {
            Some(m) => match parse_metric(ctx, m) {
                Some(SlaMetric::Server(series)) if !scraped => {
                    ctx.err_help(
                        m.span(),
                        format!("SLA on server series `{series}` but nothing is scraped"),
                        "needs `[target] metrics_url`",
                        Some(
                            "add `metrics_url = \"http://127.0.0.1:8080/metrics\"` to `[target]`"
                                .to_owned(),
                        ),
                    );
                    None
                }
                metric => metric,
            },
            None => {
                ctx.missing(span.clone(), "metric", "`[[sla]]`", Some("add `metric = \"p95\"` (or p50, p90, p99, p99.9, max, mean, error_rate, throughput)".to_owned()));
                None
            }
        };
        let threshold = match (&s.threshold, &metric) {
            (Some(t), Some(m)) => threshold(ctx, t, m),
            (Some(_), None) => None,
            (None, _) => {
                ctx.missing(
                    span.clone(),
                    "threshold",
                    "`[[sla]]`",
                    Some("add `threshold = \"200ms\"` (or \"0.1%\", \"100/s\")".to_owned()),
                );
                None
            }
        };
        let comparison = match (&s.comparison, &metric) {
            (Some(c), _) => match c.get_ref().trim() {
                "<" => Some(Comparison::Lt),
                "<=" => Some(Comparison::Le),
                ">" => Some(Comparison::Gt),
                ">=" => Some(Comparison::Ge),
                other => {
                    ctx.err(
                        c.span(),
                        format!("invalid comparison `{other}`"),
                        "expected one of `<`, `<=`, `>`, `>=`",
                    );
                    None
                }
            },
            (None, Some(SlaMetric::Throughput)) => Some(Comparison::Ge),
            (None, _) => Some(Comparison::Lt),
        };
        let (Some(scope), Some(metric), Some((threshold, threshold_text)), Some(comparison)) =
            (scope, metric, threshold, comparison)
        else {
            continue;
        };
        let name = match &s.name {
            Some(n) => n.get_ref().clone(),
            None => format!(
                "{} {} {} {}",
                scope.name(),
                metric_name(&metric),
                comparison.symbol(),
                threshold_text
            ),
        };
        if out.iter().any(|o| o.name == name) {
            let at = s
                .name
                .as_ref()
                .map_or_else(|| ctx.first_line(span.clone()), Spanned::span);
            ctx.err_help(
                at,
                format!("duplicate SLA name `{name}`"),
                "already used by another SLA",
                Some("give the SLA its own `name`".to_owned()),
            );
            continue;
        }
        out.push(Sla {
            name,
            scope,
            metric,
            comparison,
            threshold,
            threshold_text,
            abort: s.abort.as_ref().is_some_and(|a| *a.get_ref()),
        });
    }
    out
}

fn metric_name(m: &SlaMetric) -> String {
    match m {
        SlaMetric::Latency(l) => match l {
            LatencyStat::P50 => "p50",
            LatencyStat::P90 => "p90",
            LatencyStat::P95 => "p95",
            LatencyStat::P99 => "p99",
            LatencyStat::P99_9 => "p99.9",
            LatencyStat::Max => "max",
            LatencyStat::Mean => "mean",
        }
        .to_owned(),
        SlaMetric::ErrorRate => "error_rate".to_owned(),
        SlaMetric::Throughput => "throughput".to_owned(),
        SlaMetric::Server(s) => format!("server:{s}"),
    }
}

fn parse_metric(ctx: &mut Ctx<'_>, m: &Spanned<String>) -> Option<SlaMetric> {
    let s = m.get_ref().trim();
    let metric = match s.to_ascii_lowercase().as_str() {
        "p50" | "median" => Some(SlaMetric::Latency(LatencyStat::P50)),
        "p90" => Some(SlaMetric::Latency(LatencyStat::P90)),
        "p95" => Some(SlaMetric::Latency(LatencyStat::P95)),
        "p99" => Some(SlaMetric::Latency(LatencyStat::P99)),
        "p99.9" | "p999" => Some(SlaMetric::Latency(LatencyStat::P99_9)),
        "max" => Some(SlaMetric::Latency(LatencyStat::Max)),
        "mean" => Some(SlaMetric::Latency(LatencyStat::Mean)),
        "error_rate" => Some(SlaMetric::ErrorRate),
        "throughput" => Some(SlaMetric::Throughput),
        _ => match s.strip_prefix("server:") {
            Some(series) if !series.trim().is_empty() => {
                return server_series(ctx, m.span(), series.trim());
            }
            _ => None,
        },
    };
    if metric.is_none() {
        ctx.err_help(
            m.span(),
            format!("unknown SLA metric `{s}`"),
            "expected p50, p90, p95, p99, p99.9, max, mean, error_rate, throughput or server:<series>",
            did_you_mean(s, METRICS.iter().copied()),
        );
    }
    metric
}

/// A `server:<series>` metric, if the run records that series: an SLA on a series that is never
/// scraped could only fail for want of samples.
fn server_series(ctx: &mut Ctx<'_>, span: Range<usize>, series: &str) -> Option<SlaMetric> {
    let known = crate::scrape::SERIES.iter().map(|d| d.name);
    if known.clone().any(|k| k == series) {
        return Some(SlaMetric::Server(series.to_owned()));
    }
    let help = did_you_mean(series, known.clone()).unwrap_or_else(|| {
        format!(
            "recorded series: {}",
            known
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    });
    ctx.err_help(
        span,
        format!("unknown server series `{series}`"),
        "not a series kneepoint records",
        Some(help),
    );
    None
}

/// Threshold in the metric's base unit (µs, ratio, per second), plus its text as written.
fn threshold(
    ctx: &mut Ctx<'_>,
    t: &Spanned<NumOrStr>,
    metric: &SlaMetric,
) -> Option<(f64, String)> {
    let span = t.span();
    let (number, unit, text) = match t.get_ref() {
        NumOrStr::Int(i) => (Some(*i as f64), String::new(), i.to_string()),
        NumOrStr::Float(f) => (Some(*f), String::new(), f.to_string()),
        NumOrStr::Str(s) => {
            let s = s.trim();
            let split = s
                .find(|c: char| {
                    !(c.is_ascii_digit()
                        || c == '.'
                        || c == '-'
                        || c == '+'
                        || c == 'e'
                        || c == 'E')
                })
                .unwrap_or(s.len());
            // `e` is also the start of no unit we accept, so a number like `1e3` stays whole.
            (
                s[..split].trim().parse::<f64>().ok(),
                s[split..].trim().to_ascii_lowercase(),
                s.to_owned(),
            )
        }
    };
    let Some(n) = number.filter(|n| n.is_finite() && *n >= 0.0) else {
        ctx.err(
            span,
            format!("invalid threshold `{text}`"),
            "expected a number of 0 or more, with a unit",
        );
        return None;
    };
    let metric_text = metric_name(metric);
    let mismatch = |ctx: &mut Ctx<'_>, expected: &str, example: &str| {
        let found = if unit.is_empty() {
            "no unit".to_owned()
        } else {
            format!("unit `{unit}`")
        };
        ctx.err_help(
            span.clone(),
            format!("threshold `{text}` has {found}, which does not fit metric `{metric_text}`"),
            format!("expected {expected}"),
            Some(format!("write e.g. `threshold = {example}`")),
        );
    };
    match metric {
        SlaMetric::Latency(_) => {
            let scale = match unit.as_str() {
                "us" | "µs" => 1.0,
                "ms" => 1e3,
                "s" => 1e6,
                "m" | "min" => 60e6,
                _ => {
                    mismatch(ctx, "a latency with a unit: us, ms or s", "\"200ms\"");
                    return None;
                }
            };
            Some((n * scale, text))
        }
        SlaMetric::ErrorRate => {
            let ratio = match unit.as_str() {
                "%" => n / 100.0,
                "" => n,
                _ => {
                    mismatch(ctx, "a percentage or a ratio", "\"0.1%\"");
                    return None;
                }
            };
            if ratio > 1.0 {
                ctx.err_help(
                    span,
                    format!("error-rate threshold `{text}` is above 100%"),
                    "expected at most 100% (or a ratio up to 1)",
                    Some(format!("did you mean `\"{n}%\"`?")),
                );
                return None;
            }
            Some((ratio, text))
        }
        SlaMetric::Throughput => {
            let per_s = match unit.as_str() {
                "" | "/s" | "rps" => n,
                "/m" | "/min" => n / 60.0,
                _ => {
                    mismatch(ctx, "a rate such as \"1000/s\"", "\"1000/s\"");
                    return None;
                }
            };
            Some((per_s, text))
        }
        SlaMetric::Server(_) => {
            if unit.is_empty() {
                Some((n, text))
            } else {
                mismatch(ctx, "a plain number in the series' own unit", "0.8");
                None
            }
        }
    }
}
