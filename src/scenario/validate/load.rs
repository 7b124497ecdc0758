//! `[load]` → [`Load`]: the closed or open model, its shorthand or stages, and the run's caps.
//!
//! Invariant: a promoted load has at least one stage, uses only fields of its own model and
//! knows when to stop.

use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use crate::results::ArrivalUnit;
use crate::scenario::model::{ClosedLoad, Load, LoadModel, OpenLoad, Stage};
use crate::scenario::raw::RawLoad;

use super::context::Ctx;
use super::values::{choice, duration, think_time};

/// Open-model cap on in-flight arrivals when `max_in_flight` is not given.
const DEFAULT_MAX_IN_FLIGHT: u32 = 1000;

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

pub(super) fn promote_load(ctx: &mut Ctx<'_>, raw: Option<&Spanned<RawLoad>>) -> Option<Load> {
    let Some(l) = raw else {
        ctx.missing_table(
            "load",
            "add `[load]` with `users = 10` and `duration = \"1m\"`",
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
            None => crate::scenario::HOLD_UNTIL_CAP,
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
