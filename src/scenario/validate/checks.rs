//! A request's `check` and `capture` tables → [`Check`]s and [`Capture`]s.
//!
//! Invariant: JSON paths and regexes are compiled here, so the driver never meets one that does
//! not parse.

use std::ops::Range;

use toml::Spanned;

use crate::scenario::model::{Capture, CaptureSource, Check, Expected};
use crate::scenario::raw::{Entries, NumOrStr, RawCapture, RawCheck};
use crate::template::{Escape, Template};

use super::context::Ctx;
use super::values::{template, template_error};

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

pub(super) fn promote_checks(ctx: &mut Ctx<'_>, c: &Spanned<RawCheck>) -> Option<Vec<Check>> {
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
            match template(ctx, &item, Escape::None) {
                Some(t) => checks.push(Check::BodyContains(t)),
                None => ok = false,
            }
        }
    }
    if let Some(j) = &c.json {
        for (k, v) in &j.get_ref().0 {
            let value = match v.get_ref().to_json() {
                // A string with placeholders is rendered per request, like paths and bodies.
                serde_json::Value::String(text) if text.contains("{{") => {
                    match Template::parse(&text, &ctx.vars, Escape::None) {
                        Ok(t) => Some(Expected::Text(t)),
                        Err(e) => {
                            template_error(ctx, v.span(), &text, &e);
                            None
                        }
                    }
                }
                json => Some(Expected::Json(json)),
            };
            match (json_path(ctx, k.get_ref(), k.span()), value) {
                (Some(path), Some(value)) => checks.push(Check::JsonEquals {
                    text: k.get_ref().clone(),
                    path,
                    value,
                }),
                _ => ok = false,
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

pub(super) fn promote_captures(
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
