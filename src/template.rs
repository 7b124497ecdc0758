//! Request templates: `{{ name }}` placeholders, parsed once at load, rendered per request.
//!
//! Invariant: a parsed [`Template`] only refers to variables that exist (feeder columns and
//! captures, resolved to slot numbers in a [`VarTable`]) or to built-ins, so rendering is a loop
//! over parts with no name lookups. Built-ins: `user` (0-based user index), `iteration` (0-based,
//! per user), `uuid` (v4), `random(MIN, MAX)` (inclusive integers), `timestamp` (Unix seconds),
//! `timestamp_ms` (Unix milliseconds).

use std::fmt::Write as _;

use rand::Rng as _;

/// Variable names and the slot each occupies in a user's variable vector.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VarTable {
    names: Vec<String>,
}

impl VarTable {
    /// Slot of `name`, adding it if new.
    pub fn slot(&mut self, name: &str) -> usize {
        match self.get(name) {
            Some(i) => i,
            None => {
                self.names.push(name.to_owned());
                self.names.len() - 1
            }
        }
    }

    /// Slot of `name`, if defined.
    pub fn get(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    /// Number of slots.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether no variables are defined.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Name of a slot.
    pub fn name(&self, slot: usize) -> &str {
        self.names.get(slot).map_or("?", String::as_str)
    }

    /// All names, in slot order.
    pub fn names(&self) -> &[String] {
        &self.names
    }
}

/// How substituted values are escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Escape {
    /// Inserted as is (paths, headers, raw bodies).
    #[default]
    None,
    /// Escaped as the inside of a JSON string (JSON bodies).
    JsonString,
    /// Percent-encoded for a URL path segment or query value.
    Url,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Var(usize),
    User,
    Iteration,
    Uuid,
    Random(i64, i64),
    Timestamp,
    TimestampMs,
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
    escape: Escape,
}

/// Why a template did not parse. `offset`/`len` locate the problem inside the template text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    /// Byte offset of the problem in the template text.
    pub offset: usize,
    /// Length of the offending text.
    pub len: usize,
    /// What is wrong.
    pub message: String,
    /// The undefined variable's name, when that is the problem (for "did you mean").
    pub unknown_var: Option<String>,
}

/// What a render needs besides the template: the user's variables and built-in values.
#[derive(Debug, Clone, Copy)]
pub struct RenderContext<'a> {
    /// The user's variables by slot (`None` = not set yet).
    pub vars: &'a [Option<String>],
    /// 0-based user index.
    pub user: usize,
    /// 0-based iteration of this user.
    pub iteration: u64,
}

/// A render failed: a variable had no value yet (e.g. its capture failed earlier).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("variable `{0}` has no value (its capture failed or its feeder ran out)")]
pub struct RenderError(pub String);

/// Names reserved for built-ins.
pub const BUILTINS: &[&str] = &[
    "user",
    "iteration",
    "uuid",
    "random",
    "timestamp",
    "timestamp_ms",
];

impl Template {
    /// Parse `text`, resolving variable names against `vars`.
    pub fn parse(text: &str, vars: &VarTable, escape: Escape) -> Result<Self, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = text;
        let mut offset = 0;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_owned()));
            }
            let after = &rest[open + 2..];
            let Some(close) = after.find("}}") else {
                return Err(TemplateError {
                    offset: offset + open,
                    len: rest.len() - open,
                    message: "unclosed `{{`: expected `}}`".into(),
                    unknown_var: None,
                });
            };
            let inner = &after[..close];
            let inner_offset = offset + open + 2 + (inner.len() - inner.trim_start().len());
            parts.push(parse_placeholder(inner.trim(), inner_offset, vars)?);
            let consumed = open + 2 + close + 2;
            offset += consumed;
            rest = &rest[consumed..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_owned()));
        }
        Ok(Self { parts, escape })
    }

    /// A template with no placeholders.
    pub fn literal(text: &str) -> Self {
        Self {
            parts: vec![Part::Literal(text.to_owned())],
            escape: Escape::None,
        }
    }

    /// Whether the template has no placeholders.
    pub fn is_literal(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Literal(_)))
    }

    /// Slots this template reads.
    pub fn slots(&self) -> impl Iterator<Item = usize> + '_ {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(s) => Some(*s),
            _ => None,
        })
    }

    /// Render into `out` (appending).
    pub fn render_into(
        &self,
        ctx: &RenderContext<'_>,
        vars: &VarTable,
        out: &mut String,
    ) -> Result<(), RenderError> {
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Var(slot) => match ctx.vars.get(*slot).and_then(Option::as_deref) {
                    Some(v) => push_escaped(out, v, self.escape),
                    None => return Err(RenderError(vars.name(*slot).to_owned())),
                },
                // Writing to a String cannot fail.
                Part::User => {
                    let _ = write!(out, "{}", ctx.user);
                }
                Part::Iteration => {
                    let _ = write!(out, "{}", ctx.iteration);
                }
                Part::Uuid => {
                    let _ = write!(out, "{}", uuid::Uuid::new_v4());
                }
                Part::Random(lo, hi) => {
                    let _ = write!(out, "{}", rand::rng().random_range(*lo..=*hi));
                }
                Part::Timestamp => {
                    let _ = write!(out, "{}", jiff::Timestamp::now().as_second());
                }
                Part::TimestampMs => {
                    let _ = write!(out, "{}", jiff::Timestamp::now().as_millisecond());
                }
            }
        }
        Ok(())
    }

    /// Render, borrowing the text of a template without placeholders (no copy on the hot path).
    pub fn render_cow(
        &self,
        ctx: &RenderContext<'_>,
        vars: &VarTable,
    ) -> Result<std::borrow::Cow<'_, str>, RenderError> {
        match self.parts.as_slice() {
            [] => Ok(std::borrow::Cow::Borrowed("")),
            [Part::Literal(s)] => Ok(std::borrow::Cow::Borrowed(s)),
            _ => {
                let mut out = String::new();
                self.render_into(ctx, vars, &mut out)?;
                Ok(std::borrow::Cow::Owned(out))
            }
        }
    }

    /// Render to a new string.
    pub fn render(&self, ctx: &RenderContext<'_>, vars: &VarTable) -> Result<String, RenderError> {
        if let [Part::Literal(s)] = self.parts.as_slice() {
            return Ok(s.clone());
        }
        let mut out = String::new();
        self.render_into(ctx, vars, &mut out)?;
        Ok(out)
    }
}

fn parse_placeholder(inner: &str, offset: usize, vars: &VarTable) -> Result<Part, TemplateError> {
    let err = |message: String, unknown_var: Option<String>| TemplateError {
        offset,
        len: inner.len().max(1),
        message,
        unknown_var,
    };
    match inner {
        "" => return Err(err("empty `{{ }}`: expected a variable name".into(), None)),
        "user" => return Ok(Part::User),
        "iteration" => return Ok(Part::Iteration),
        "uuid" => return Ok(Part::Uuid),
        "timestamp" => return Ok(Part::Timestamp),
        "timestamp_ms" => return Ok(Part::TimestampMs),
        _ => {}
    }
    if let Some(args) = inner
        .strip_prefix("random(")
        .and_then(|a| a.strip_suffix(')'))
    {
        let bounds: Vec<_> = args.split(',').map(|a| a.trim().parse::<i64>()).collect();
        return match bounds.as_slice() {
            [Ok(lo), Ok(hi)] if lo <= hi => Ok(Part::Random(*lo, *hi)),
            _ => Err(err(
                format!("bad `{inner}`: expected `random(MIN, MAX)` with integers MIN <= MAX"),
                None,
            )),
        };
    }
    if !inner
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
    {
        return Err(err(
            format!("bad placeholder `{inner}`: expected a variable name or a built-in"),
            None,
        ));
    }
    match vars.get(inner) {
        Some(slot) => Ok(Part::Var(slot)),
        None => Err(err(
            format!(
                "undefined variable `{inner}`: no feeder column, capture or built-in has this name"
            ),
            Some(inner.to_owned()),
        )),
    }
}

fn push_escaped(out: &mut String, value: &str, escape: Escape) {
    match escape {
        Escape::None => out.push_str(value),
        Escape::JsonString => {
            for c in value.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c if (c as u32) < 0x20 => {
                        let _ = write!(out, "\\u{:04x}", c as u32);
                    }
                    c => out.push(c),
                }
            }
        }
        Escape::Url => {
            for b in value.bytes() {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    out.push(char::from(b));
                } else {
                    let _ = write!(out, "%{b:02X}");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(names: &[&str]) -> VarTable {
        let mut t = VarTable::default();
        for n in names {
            t.slot(n);
        }
        t
    }

    #[track_caller]
    fn check(text: &str, vars: &[(&str, &str)], escape: Escape, expect: &str) {
        let names: Vec<_> = vars.iter().map(|(n, _)| *n).collect();
        let t = table(&names);
        let values: Vec<_> = vars.iter().map(|(_, v)| Some((*v).to_owned())).collect();
        let tpl = Template::parse(text, &t, escape).expect("parses");
        let ctx = RenderContext {
            vars: &values,
            user: 7,
            iteration: 3,
        };
        assert_eq!(tpl.render(&ctx, &t).expect("renders"), expect);
    }

    #[test]
    fn renders_vars_and_builtins() {
        check(
            "/items/{{ id }}?u={{user}}&i={{iteration}}",
            &[("id", "42")],
            Escape::None,
            "/items/42?u=7&i=3",
        );
        check("plain", &[], Escape::None, "plain");
        check(
            r#"{"n":"{{name}}"}"#,
            &[("name", "a\"b\\")],
            Escape::JsonString,
            r#"{"n":"a\"b\\"}"#,
        );
        check(
            "q={{v}}",
            &[("v", "a b/é")],
            Escape::Url,
            "q=a%20b%2F%C3%A9",
        );
    }

    #[test]
    fn random_stays_in_range() {
        let t = VarTable::default();
        let tpl = Template::parse("{{ random(5, 7) }}", &t, Escape::None).expect("parses");
        let ctx = RenderContext {
            vars: &[],
            user: 0,
            iteration: 0,
        };
        for _ in 0..200 {
            let n: i64 = tpl
                .render(&ctx, &t)
                .expect("renders")
                .parse()
                .expect("number");
            assert!((5..=7).contains(&n), "{n}");
        }
    }

    #[test]
    fn errors_point_at_the_placeholder() {
        let t = table(&["token"]);
        let e = Template::parse("/a/{{ tokn }}", &t, Escape::None).expect_err("undefined");
        assert_eq!((e.offset, e.len), (6, 4));
        assert_eq!(e.unknown_var.as_deref(), Some("tokn"));
        let e = Template::parse("/a/{{ token", &t, Escape::None).expect_err("unclosed");
        assert_eq!(e.offset, 3);
        assert!(Template::parse("{{random(9,1)}}", &t, Escape::None).is_err());
        assert!(Template::parse("{{}}", &t, Escape::None).is_err());
    }

    #[test]
    fn unset_variable_is_a_render_error() {
        let t = table(&["token"]);
        let tpl = Template::parse("Bearer {{token}}", &t, Escape::None).expect("parses");
        let ctx = RenderContext {
            vars: &[None],
            user: 0,
            iteration: 0,
        };
        assert_eq!(tpl.render(&ctx, &t), Err(RenderError("token".into())));
    }
}
