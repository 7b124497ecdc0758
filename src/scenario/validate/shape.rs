//! Shape: the document deserialized into the raw types with serde, recovering from each error.
//!
//! Invariant: each shape error removes exactly the entry it points at and deserialization is
//! retried (at most [`MAX_SHAPE_ERRORS`] times), so one bad value never hides the next; removed
//! keys are remembered so that a later "missing" check does not report them again.

use std::collections::HashSet;
use std::ops::Range;

use serde::Deserialize as _;
use toml::Spanned;
use toml::de::{DeArray, DeTable, DeValue};

use crate::diagnostic::{backtick_list, did_you_mean};
use crate::scenario::raw::RawScenario;

use super::context::Ctx;

/// Upper bound on retries of deserialization (one per problem found).
const MAX_SHAPE_ERRORS: usize = 200;

/// What was dropped after a shape error.
struct Dropped {
    /// Dotted path of the enclosing table (`load`, `transaction[0].request[1]`).
    section: String,
    /// The key, when a table entry was dropped (not a list element).
    key: Option<String>,
    /// Whether the error pointed at the key itself (unknown key).
    at_key: bool,
}

pub(super) fn deserialize_all(
    ctx: &mut Ctx<'_>,
    mut root: Spanned<DeTable<'_>>,
) -> Option<RawScenario> {
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
        let found = if k.span() == *span {
            Some((path.clone(), true))
        } else {
            find_in_entry(v, span, path)
        };
        path.pop();
        if found.is_some() {
            return found;
        }
    }
    None
}

/// The deepest match inside the entry `v` (the last step of `path`), else the entry itself
/// when it contains `span`.
fn find_in_entry(
    v: &Spanned<DeValue<'_>>,
    span: &Range<usize>,
    path: &mut Vec<Step>,
) -> Option<(Vec<Step>, bool)> {
    find_in_value(v, span, path)
        .or_else(|| contains(&v.span(), span).then(|| (path.clone(), false)))
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
        DeValue::Array(a) => a.iter().enumerate().find_map(|(i, el)| {
            path.push(Step::Index(i));
            let found = find_in_entry(el, span, path);
            path.pop();
            found
        }),
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
                    backtick_list(expected.iter().map(String::as_str))
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
    // serde's prefix, what we call it, how the found value is introduced, the fallback expectation.
    for (prefix, wrong, found_is, other) in [
        ("invalid type: ", "wrong type", "found ", "another type"),
        ("invalid value: ", "invalid value", "", "another value"),
    ] {
        if let Some(rest) = message.strip_prefix(prefix) {
            let (found, expected) = rest.split_once(", expected ").unwrap_or((rest, other));
            let expected = humanize_expected(expected);
            ctx.err(
                span,
                format!("{wrong} for {what}: {found_is}{found}, expected {expected}"),
                format!("expected {expected}"),
            );
            return;
        }
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
