//! `[compare]` → [`CompareSettings`]: noise floors, the absolute latency floor, confidence, budgets and gated metrics for
//! `kneepoint compare`.
//!
//! Invariant: every promoted fraction is finite and non-negative, a confidence lies strictly
//! between 50 % and 100 %, every metric name is one `kneepoint compare` knows, and each metric
//! appears at most once per table.

use std::collections::BTreeMap;
use std::ops::Range;

use toml::Spanned;

use crate::diagnostic::did_you_mean_or_list;
use crate::scenario::raw::{NumOrStr, RawCompare, RawValue};
use crate::settings::{CompareSettings, MIN_RESAMPLES, Metric};
use crate::values::{
    check_confidence, fraction_from_number, parse_fraction, parse_min_latency_change,
};

use super::context::Ctx;

/// Metric names as the table spells them, for hints.
fn metric_keys() -> Vec<&'static str> {
    Metric::ALL.map(Metric::key).to_vec()
}

/// The key of a `noise_floor` table that sets the floor of every metric not listed.
const DEFAULT_KEY: &str = "default";

pub(super) fn promote_compare(
    ctx: &mut Ctx<'_>,
    raw: Option<&Spanned<RawCompare>>,
) -> CompareSettings {
    let mut out = CompareSettings::default();
    let Some(raw) = raw else {
        return out;
    };
    let raw = raw.get_ref();
    if let Some(v) = &raw.noise_floor {
        noise_floor(ctx, v, &mut out);
    }
    if let Some(m) = &raw.min_latency_change {
        let parsed = match m.get_ref() {
            NumOrStr::Str(s) => parse_min_latency_change(s),
            NumOrStr::Int(0) => Ok(std::time::Duration::ZERO),
            other => Err(format!(
                "`{}` has no unit: write a string such as \"{}ms\" (or 0 for no absolute floor)",
                other.text(),
                other.text()
            )),
        };
        out.min_latency_change = parsed
            .map_err(|e| {
                ctx.err_help(
                    m.span(),
                    format!("invalid `min_latency_change` in `compare`: {e}"),
                    "expected a duration such as \"1ms\" or \"250us\"",
                    Some("units: us, ms, s; 0 turns the absolute floor off".to_owned()),
                );
            })
            .ok();
    }
    if let Some(c) = &raw.confidence {
        out.confidence = fraction(ctx, c.span(), c.get_ref(), "confidence").and_then(|v| {
            check_confidence(v, &c.get_ref().text())
                .map_err(|e| {
                    ctx.err(c.span(), e, "expected e.g. \"95%\" or 0.99");
                })
                .ok()
        });
    }
    if let Some(b) = &raw.budget {
        let mut budgets = BTreeMap::new();
        for (k, v) in &b.get_ref().0 {
            let Some(metric) = metric(ctx, k, "budget", &mut budgets) else {
                continue;
            };
            if let Some(f) = fraction(ctx, v.span(), v.get_ref(), &format!("budget.{metric}")) {
                budgets.insert(metric, f);
            }
        }
        out.budgets = budgets;
    }
    if let Some(g) = &raw.gate {
        let mut gate = Vec::new();
        let mut ok = true;
        for item in g.get_ref().items(g.span()) {
            match parse_metric(ctx, item.get_ref(), item.span(), "gate", &metric_keys()) {
                Some(m) if !gate.contains(&m) => gate.push(m),
                Some(_) => {}
                None => ok = false,
            }
        }
        out.gate = ok.then_some(gate);
    }
    out.gate_requests = raw.gate_requests.as_ref().map(|g| *g.get_ref());
    out.intended = raw.intended.as_ref().map(|i| *i.get_ref());
    if let Some(r) = &raw.resamples {
        out.resamples = usize::try_from(*r.get_ref())
            .ok()
            .filter(|n| *n >= MIN_RESAMPLES);
        if out.resamples.is_none() {
            ctx.err(
                r.span(),
                format!(
                    "`resamples` must be at least {MIN_RESAMPLES}, found {}",
                    r.get_ref()
                ),
                format!("expected an integer of {MIN_RESAMPLES} or more"),
            );
        }
    }
    if let Some(s) = &raw.seed {
        out.seed = u64::try_from(*s.get_ref()).ok();
        if out.seed.is_none() {
            ctx.err(
                s.span(),
                format!("`seed` must not be negative, found {}", s.get_ref()),
                "expected an integer of 0 or more",
            );
        }
    }
    out
}

/// `noise_floor = "5%"` or `noise_floor = { default = "3%", p99 = "10%" }`.
fn noise_floor(ctx: &mut Ctx<'_>, v: &Spanned<RawValue>, out: &mut CompareSettings) {
    if let Some(scalar) = scalar(v.get_ref()) {
        out.noise_floor = fraction(ctx, v.span(), &scalar, "noise_floor");
        return;
    }
    let RawValue::Table(entries) = v.get_ref() else {
        ctx.err_help(
            v.span(),
            "wrong type for `noise_floor` in `compare`",
            "expected a percentage or a table of metric = percentage",
            Some("write `noise_floor = \"5%\"` or `noise_floor = { default = \"5%\", p99 = \"10%\" }`".to_owned()),
        );
        return;
    };
    let mut floors = BTreeMap::new();
    let mut keys = metric_keys();
    keys.push(DEFAULT_KEY);
    for (k, value) in entries {
        let is_default = k.get_ref().trim() == DEFAULT_KEY;
        let metric = if is_default {
            None
        } else {
            match parse_metric(ctx, k.get_ref(), k.span(), "noise_floor", &keys) {
                Some(m) if floors.contains_key(&m) => {
                    duplicate(ctx, k.span(), m, "noise_floor");
                    continue;
                }
                Some(m) => Some(m),
                None => continue,
            }
        };
        let key = format!("noise_floor.{}", k.get_ref().trim());
        let Some(scalar) = scalar(value.get_ref()) else {
            ctx.err(
                value.span(),
                format!("wrong type for `{key}` in `compare`"),
                "expected a percentage such as \"5%\" or a fraction such as 0.05",
            );
            continue;
        };
        let Some(f) = fraction(ctx, value.span(), &scalar, &key) else {
            continue;
        };
        match metric {
            Some(m) => {
                floors.insert(m, f);
            }
            None => out.noise_floor = Some(f),
        }
    }
    out.noise_floors = floors;
}

/// A string or number of a TOML value.
fn scalar(v: &RawValue) -> Option<NumOrStr> {
    match v {
        RawValue::String(s) => Some(NumOrStr::Str(s.clone())),
        RawValue::Integer(i) => Some(NumOrStr::Int(*i)),
        RawValue::Float(f) => Some(NumOrStr::Float(*f)),
        _ => None,
    }
}

/// A fraction: `"5%"`, `"0.05"` or `0.05`.
fn fraction(ctx: &mut Ctx<'_>, span: Range<usize>, v: &NumOrStr, key: &str) -> Option<f64> {
    #[allow(clippy::cast_precision_loss)]
    let parsed = match v {
        NumOrStr::Int(i) => fraction_from_number(*i as f64),
        NumOrStr::Float(f) => fraction_from_number(*f),
        NumOrStr::Str(s) => parse_fraction(s),
    };
    parsed
        .map_err(|e| {
            ctx.err(
                span,
                format!("invalid `{key}` in `compare`: {e}"),
                "expected a percentage such as \"5%\" or a fraction such as 0.05",
            );
        })
        .ok()
}

/// A metric named by a table key, reported when unknown or already in `seen`.
fn metric(
    ctx: &mut Ctx<'_>,
    key: &Spanned<String>,
    table: &str,
    seen: &mut BTreeMap<Metric, f64>,
) -> Option<Metric> {
    let m = parse_metric(ctx, key.get_ref(), key.span(), table, &metric_keys())?;
    if seen.contains_key(&m) {
        duplicate(ctx, key.span(), m, table);
        return None;
    }
    Some(m)
}

fn duplicate(ctx: &mut Ctx<'_>, span: Range<usize>, m: Metric, table: &str) {
    ctx.err(
        span,
        format!("metric `{m}` is given twice in `compare.{table}`"),
        "already given",
    );
}

fn parse_metric(
    ctx: &mut Ctx<'_>,
    name: &str,
    span: Range<usize>,
    table: &str,
    candidates: &[&str],
) -> Option<Metric> {
    match name.parse::<Metric>() {
        Ok(m) => Some(m),
        Err(_) => {
            let name = name.trim();
            let help = did_you_mean_or_list(name, candidates.iter().copied(), "known metrics");
            ctx.err_help(
                span,
                format!("unknown metric `{name}` in `compare.{table}`"),
                "not a metric kneepoint compare measures",
                Some(help),
            );
            None
        }
    }
}
