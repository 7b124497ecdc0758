//! `[[transaction]]` and `[[transaction.request]]` → [`Transaction`] and [`RequestSpec`]:
//! names, weights, methods, URLs, headers and bodies.
//!
//! Invariant: captures get their variable slots before any template is parsed, so a request
//! may use what any transaction captures, and every promoted template refers only to defined
//! variables.

use std::ops::Range;

use toml::Spanned;

use crate::results::OVERALL_SCOPE;
use crate::scenario::model::{Body, HttpMethod, RequestSpec, Transaction};
use crate::scenario::raw::{RawRequest, RawTransaction, RawValue};
use crate::template::{BUILTINS, Escape, Template};

use super::checks::{promote_captures, promote_checks};
use super::context::Ctx;
use super::values::{choice, header_list, template, template_error, think_time};

fn valid_var_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
}

/// Give every capture a variable slot before any template is parsed, so that a request may use
/// what another transaction captures.
pub(super) fn define_captures(ctx: &mut Ctx<'_>, txs: &[Spanned<RawTransaction>]) {
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

pub(super) fn promote_transactions(
    ctx: &mut Ctx<'_>,
    raw: &[Spanned<RawTransaction>],
) -> Vec<Transaction> {
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
                if s.is_empty() || s.contains('/') || s == OVERALL_SCOPE {
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
pub(super) fn request_name(r: &RawRequest) -> Option<String> {
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
            "POST" => HttpMethod::Post,
            "PUT" => HttpMethod::Put,
            "PATCH" => HttpMethod::Patch,
            "DELETE" => HttpMethod::Delete,
            "HEAD" => HttpMethod::Head,
            "OPTIONS" => HttpMethod::Options,
            _ => HttpMethod::Get,
        },
        None => HttpMethod::Get,
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
