//! `[[sla]]` → [`Sla`]: scope, metric, comparison, and a threshold in the metric's base unit.
//!
//! Invariant: a promoted SLA names a scope that exists, a metric kneepoint measures (a `server:`
//! series only when it is recorded and will be scraped) and a threshold whose unit fits the
//! metric.

use std::ops::Range;

use toml::Spanned;

use crate::diagnostic::{did_you_mean, did_you_mean_or_list};
use crate::results::OVERALL_SCOPE;
use crate::scenario::model::{LatencyStat, Operator, Sla, SlaMetric, SlaScope};
use crate::scenario::raw::{NumOrStr, RawSla, RawTarget, RawTransaction};

use super::context::Ctx;
use super::requests::request_name;

/// Whether the run will scrape server metrics: `[target]` names a `metrics_url` (or had one that
/// is already reported as malformed), or aims at the reference stack, which exposes its own.
pub(super) fn scraped(ctx: &Ctx<'_>, target: Option<&Spanned<RawTarget>>) -> bool {
    target.is_none_or(|t| {
        let raw = t.get_ref();
        raw.metrics_url.is_some()
            || raw.reference.as_ref().is_some_and(|r| *r.get_ref())
            || ctx.was_removed(&t.span(), "metrics_url")
    })
}

/// `scraped`: whether server series will have samples (see [`scraped`]).
pub(super) fn promote_slas(
    ctx: &mut Ctx<'_>,
    raw: &[Spanned<RawSla>],
    txs: &[Spanned<RawTransaction>],
    scraped: bool,
) -> Vec<Sla> {
    // Scopes come from the raw transactions, so an SLA on a transaction that has an error of
    // its own is not reported a second time.
    let tx_names: Vec<String> = txs
        .iter()
        .filter_map(|t| {
            t.get_ref()
                .name
                .as_ref()
                .map(|n| n.get_ref().trim().to_owned())
        })
        .collect();
    let mut scopes: Vec<String> = vec![OVERALL_SCOPE.to_owned()];
    scopes.extend(tx_names.iter().cloned());
    for t in txs {
        let Some(tn) = &t.get_ref().name else {
            continue;
        };
        for r in &t.get_ref().request {
            if let Some(rn) = request_name(r.get_ref()) {
                scopes.push(format!("{}/{rn}", tn.get_ref().trim()));
            }
        }
    }
    let mut out: Vec<Sla> = Vec::new();
    for s in raw {
        let span = s.span();
        let s = s.get_ref();
        let scope = match &s.scope {
            None => Some(SlaScope::Overall),
            Some(sc) => {
                let name = sc.get_ref().trim();
                if name == OVERALL_SCOPE {
                    Some(SlaScope::Overall)
                } else if tx_names.iter().any(|t| t == name) {
                    Some(SlaScope::Transaction(name.to_owned()))
                } else if scopes.iter().any(|x| x == name) {
                    Some(SlaScope::Request(name.to_owned()))
                } else {
                    let help = did_you_mean_or_list(
                        name,
                        scopes.iter().map(String::as_str),
                        "known scopes",
                    );
                    ctx.err_help(sc.span(), format!("SLA scope `{name}` is not `overall`, a transaction or `transaction/request`"), "unknown scope", Some(help));
                    None
                }
            }
        };
        let metric = match &s.metric {
            Some(m) => match parse_metric(ctx, m) {
                Some(SlaMetric::Server(series)) if !scraped => {
                    ctx.err_help(
                        m.span(),
                        format!("SLA on server series `{series}` but nothing is scraped"),
                        "needs `[target] metrics_url`",
                        Some(
                            "add `metrics_url = \"http://127.0.0.1:8080/metrics\"` to `[target]`"
                                .to_owned(),
                        ),
                    );
                    None
                }
                metric => metric,
            },
            None => {
                ctx.missing(span.clone(), "metric", "`[[sla]]`", Some("add `metric = \"p95\"` (or p50, p90, p99, p99.9, max, mean, error_rate, throughput)".to_owned()));
                None
            }
        };
        let threshold = match (&s.threshold, &metric) {
            (Some(t), Some(m)) => threshold(ctx, t, m),
            (Some(_), None) => None,
            (None, _) => {
                ctx.missing(
                    span.clone(),
                    "threshold",
                    "`[[sla]]`",
                    Some("add `threshold = \"200ms\"` (or \"0.1%\", \"100/s\")".to_owned()),
                );
                None
            }
        };
        let comparison = match (&s.comparison, &metric) {
            (Some(c), _) => match c.get_ref().trim() {
                "<" => Some(Operator::Lt),
                "<=" => Some(Operator::Le),
                ">" => Some(Operator::Gt),
                ">=" => Some(Operator::Ge),
                other => {
                    ctx.err(
                        c.span(),
                        format!("invalid comparison `{other}`"),
                        "expected one of `<`, `<=`, `>`, `>=`",
                    );
                    None
                }
            },
            (None, Some(SlaMetric::Throughput)) => Some(Operator::Ge),
            (None, _) => Some(Operator::Lt),
        };
        let (Some(scope), Some(metric), Some((threshold, threshold_text)), Some(comparison)) =
            (scope, metric, threshold, comparison)
        else {
            continue;
        };
        let name = match &s.name {
            Some(n) => n.get_ref().clone(),
            None => format!(
                "{} {} {} {}",
                scope.name(),
                metric_name(&metric),
                comparison.symbol(),
                threshold_text
            ),
        };
        if out.iter().any(|o| o.name == name) {
            let at = s
                .name
                .as_ref()
                .map_or_else(|| ctx.first_line(span.clone()), Spanned::span);
            ctx.err_help(
                at,
                format!("duplicate SLA name `{name}`"),
                "already used by another SLA",
                Some("give the SLA its own `name`".to_owned()),
            );
            continue;
        }
        out.push(Sla {
            name,
            scope,
            metric,
            comparison,
            threshold,
            threshold_text,
            abort: s.abort.as_ref().is_some_and(|a| *a.get_ref()),
        });
    }
    out
}

fn metric_name(m: &SlaMetric) -> String {
    match m {
        SlaMetric::Server(s) => format!("server:{s}"),
        client => client.key().to_owned(),
    }
}

fn parse_metric(ctx: &mut Ctx<'_>, m: &Spanned<String>) -> Option<SlaMetric> {
    let s = m.get_ref().trim();
    let metric = match s.to_ascii_lowercase().as_str() {
        "median" => Some(SlaMetric::Latency(LatencyStat::P50)),
        "p999" => Some(SlaMetric::Latency(LatencyStat::P99_9)),
        key => SlaMetric::from_client_key(key),
    };
    if metric.is_none() {
        if let Some(series) = s.strip_prefix("server:")
            && !series.trim().is_empty()
        {
            return server_series(ctx, m.span(), series.trim());
        }
        let client: Vec<SlaMetric> = SlaMetric::client().collect();
        ctx.err_help(
            m.span(),
            format!("unknown SLA metric `{s}`"),
            "expected p50, p90, p95, p99, p99.9, max, mean, error_rate, throughput or server:<series>",
            did_you_mean(s, client.iter().map(SlaMetric::key).chain(["server:"])),
        );
    }
    metric
}

/// A `server:<series>` metric, if the run records that series: an SLA on a series that is never
/// scraped could only fail for want of samples.
fn server_series(ctx: &mut Ctx<'_>, span: Range<usize>, series: &str) -> Option<SlaMetric> {
    let known = crate::server_series::SERIES.iter().map(|d| d.name);
    if known.clone().any(|k| k == series) {
        return Some(SlaMetric::Server(series.to_owned()));
    }
    let help = did_you_mean_or_list(series, known, "recorded series");
    ctx.err_help(
        span,
        format!("unknown server series `{series}`"),
        "not a series kneepoint records",
        Some(help),
    );
    None
}

/// Threshold in the metric's base unit (µs, ratio, per second), plus its text as written.
fn threshold(
    ctx: &mut Ctx<'_>,
    t: &Spanned<NumOrStr>,
    metric: &SlaMetric,
) -> Option<(f64, String)> {
    let span = t.span();
    let text = t.get_ref().text();
    let (number, unit) = match t.get_ref() {
        NumOrStr::Int(i) => (Some(*i as f64), String::new()),
        NumOrStr::Float(f) => (Some(*f), String::new()),
        NumOrStr::Str(_) => {
            let s = text.as_str();
            let split = s
                .find(|c: char| {
                    !(c.is_ascii_digit()
                        || c == '.'
                        || c == '-'
                        || c == '+'
                        || c == 'e'
                        || c == 'E')
                })
                .unwrap_or(s.len());
            // `e` is also the start of no unit we accept, so a number like `1e3` stays whole.
            (
                s[..split].trim().parse::<f64>().ok(),
                s[split..].trim().to_ascii_lowercase(),
            )
        }
    };
    let Some(n) = number.filter(|n| n.is_finite() && *n >= 0.0) else {
        ctx.err(
            span,
            format!("invalid threshold `{text}`"),
            "expected a number of 0 or more, with a unit",
        );
        return None;
    };
    let metric_text = metric_name(metric);
    let mismatch = |ctx: &mut Ctx<'_>, expected: &str, example: &str| {
        let found = if unit.is_empty() {
            "no unit".to_owned()
        } else {
            format!("unit `{unit}`")
        };
        ctx.err_help(
            span.clone(),
            format!("threshold `{text}` has {found}, which does not fit metric `{metric_text}`"),
            format!("expected {expected}"),
            Some(format!("write e.g. `threshold = {example}`")),
        );
    };
    match metric {
        SlaMetric::Latency(_) => {
            let scale = match unit.as_str() {
                "us" | "µs" => 1.0,
                "ms" => 1e3,
                "s" => 1e6,
                "m" | "min" => 60e6,
                _ => {
                    mismatch(ctx, "a latency with a unit: us, ms or s", "\"200ms\"");
                    return None;
                }
            };
            Some((n * scale, text))
        }
        SlaMetric::ErrorRate => {
            let ratio = match unit.as_str() {
                "%" => n / 100.0,
                "" => n,
                _ => {
                    mismatch(ctx, "a percentage or a ratio", "\"0.1%\"");
                    return None;
                }
            };
            if ratio > 1.0 {
                ctx.err_help(
                    span,
                    format!("error-rate threshold `{text}` is above 100%"),
                    "expected at most 100% (or a ratio up to 1)",
                    Some(format!("did you mean `\"{n}%\"`?")),
                );
                return None;
            }
            Some((ratio, text))
        }
        SlaMetric::Throughput => {
            let per_s = match unit.as_str() {
                "" | "/s" | "rps" => n,
                "/m" | "/min" => n / 60.0,
                _ => {
                    mismatch(ctx, "a rate such as \"1000/s\"", "\"1000/s\"");
                    return None;
                }
            };
            Some((per_s, text))
        }
        SlaMetric::Server(_) => {
            if unit.is_empty() {
                Some((n, text))
            } else {
                mismatch(ctx, "a plain number in the series' own unit", "0.8");
                None
            }
        }
    }
}
