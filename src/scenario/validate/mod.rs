//! Scenario text → [`Scenario`]: parse, apply `--set` overrides, deserialize, promote.
//!
//! Invariant: every problem is collected, never just the first. Syntax errors stop before
//! meaning is checked (a broken document gives misleading follow-on errors), but every other
//! problem is reported together: a shape error removes the offending key and deserialization
//! is retried, so one bad value never hides the next, and a required field that was removed
//! that way is not reported a second time as missing.
//!
//! One submodule per concern: [`context`] (spans and collected problems), [`overrides`],
//! [`shape`] (serde with recovery), then promotion section by section: [`target`], [`load`],
//! [`feeders`], [`requests`], [`checks`], [`sla`], [`compare`], with shared [`values`].

mod checks;
mod compare;
mod context;
mod feeders;
mod load;
mod overrides;
mod requests;
mod shape;
mod sla;
mod target;
mod values;

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use sha2::Digest as _;
use toml::de::DeTable;

use crate::diagnostic::{Located, Problems};
use crate::scenario::Override;
use crate::scenario::model::Scenario;
use crate::scenario::raw::RawScenario;
use crate::template::VarTable;

use self::compare::promote_compare;
use self::context::{Ctx, Order, Region, Sources};
use self::feeders::promote_feeders;
use self::load::promote_load;
use self::overrides::apply_override;
use self::requests::{define_captures, promote_transactions};
use self::shape::deserialize_all;
use self::sla::{promote_slas, scraped};
use self::target::promote_target;

/// Parse and validate scenario `text` (the contents of `path`), resolving feeder paths against
/// `base_dir`, after applying `overrides`.
pub(crate) fn parse(
    path: &Path,
    text: &str,
    base_dir: &Path,
    overrides: &[Override],
) -> Result<Scenario, Problems> {
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

fn finish(file: &str, mut errors: Vec<(Order, Located)>) -> Problems {
    errors.sort_by_key(|(order, _)| *order);
    Problems::new(
        format!("scenario `{file}`"),
        errors.into_iter().map(|(_, e)| e).collect(),
    )
}

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
    let compare = promote_compare(ctx, raw.compare.as_ref());
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
        compare,
        vars: ctx.vars.clone(),
    })
}
