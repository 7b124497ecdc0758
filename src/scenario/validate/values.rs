//! Values every section uses: durations, think times, choices from a list, HTTP URLs,
//! templates and header tables.
//!
//! Invariant: each function returns the promoted value or records its problem at the offending
//! value (a template's problem at the placeholder inside the string), never both.

use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use crate::diagnostic::{backtick_list, did_you_mean};
use crate::scenario::model::ThinkTime;
use crate::scenario::raw::{Entries, Text};
use crate::template::{BUILTINS, Escape, Template, TemplateError};

use super::context::Ctx;

pub(super) fn duration(ctx: &mut Ctx<'_>, v: &Spanned<Text>, key: &str) -> Option<Duration> {
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

pub(super) fn think_time(ctx: &mut Ctx<'_>, v: &Spanned<Text>, key: &str) -> Option<ThinkTime> {
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
pub(super) fn choice<'c>(
    ctx: &mut Ctx<'_>,
    v: &Spanned<String>,
    key: &str,
    choices: &[&'c str],
) -> Option<&'c str> {
    let s = v.get_ref().trim();
    if let Some(c) = choices.iter().find(|c| c.eq_ignore_ascii_case(s)) {
        return Some(c);
    }
    let list = backtick_list(choices.iter().copied());
    ctx.err_help(
        v.span(),
        format!("invalid `{key}` `{s}`: expected one of {list}"),
        format!("expected one of {list}"),
        did_you_mean(s, choices.iter().copied()),
    );
    None
}

pub(super) fn http_url(ctx: &mut Ctx<'_>, v: &Spanned<String>, key: &str) -> Option<String> {
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
pub(super) fn template(ctx: &mut Ctx<'_>, v: &Spanned<String>, escape: Escape) -> Option<Template> {
    match Template::parse(v.get_ref(), &ctx.vars, escape) {
        Ok(t) => Some(t),
        Err(e) => {
            template_error(ctx, v.span(), v.get_ref(), &e);
            None
        }
    }
}

pub(super) fn template_error(
    ctx: &mut Ctx<'_>,
    span: Range<usize>,
    content: &str,
    e: &TemplateError,
) {
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

pub(super) fn header_list(
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
