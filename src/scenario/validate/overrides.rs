//! `--set KEY=VALUE` overrides, applied to the parsed document before it is deserialized.
//!
//! Invariant: an override's value is parsed as its own text and its spans are moved past the
//! file's text, so a problem in it points at the flag, never into the file.

use std::borrow::Cow;
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::scenario::Override;

use super::context::Ctx;

pub(super) fn apply_override<'i>(
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
