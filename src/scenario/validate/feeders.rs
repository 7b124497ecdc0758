//! `[[feeder]]` → [`Feeder`]: CSV files read and checked when the scenario is validated, their
//! columns defined as variables.
//!
//! Invariant: a promoted feeder has a header, at least one row and every row as long as the
//! header; a problem in a CSV file points at that file's own line.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use toml::Spanned;

use crate::diagnostic::Located;
use crate::scenario::model::{Feeder, FeederMode, OnEnd};
use crate::scenario::raw::RawFeeder;
use crate::template::BUILTINS;

use super::context::Ctx;
use super::values::choice;

pub(super) fn promote_feeders(ctx: &mut Ctx<'_>, raw: &[Spanned<RawFeeder>]) -> Vec<Feeder> {
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
            ctx.push(Located::new(
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
            Located::new(
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
            ctx.push(Located::new(
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
                    Located::new(&name, &text, line_span(offset), message, "this row").with_help(
                        format!(
                            "feeder `{}` of the scenario reads this file; every row needs one \
                             value per header column",
                            path.get_ref()
                        ),
                    ),
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
