//! `[target]` → [`Target`]: base URL (or the reference stack), timeout, headers, metrics URL.
//!
//! Invariant: a promoted target has an `http(s)` base URL without a trailing `/`, or an empty
//! one when the reference stack will fill it in.

use std::time::Duration;

use toml::Spanned;

use crate::scenario::model::Target;
use crate::scenario::raw::RawTarget;

use super::context::Ctx;
use super::values::{duration, header_list, http_url};

/// Request timeout when `[target] timeout` is not given.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

pub(super) fn promote_target(
    ctx: &mut Ctx<'_>,
    raw: Option<&Spanned<RawTarget>>,
) -> Option<Target> {
    let Some(t) = raw else {
        ctx.missing_table(
            "target",
            "add `[target]` with `base_url = \"http://127.0.0.1:8080\"`",
        );
        return None;
    };
    let span = t.span();
    let t = t.get_ref();
    let reference = t.reference.as_ref().is_some_and(|r| *r.get_ref());
    let base_url = match &t.base_url {
        Some(u) => http_url(ctx, u, "base_url"),
        None if reference => Some(String::new()),
        None => {
            ctx.missing(
                span,
                "base_url",
                "`[target]`",
                Some(
                    "add `base_url = \"http://127.0.0.1:8080\"`, or `reference = true` to use \
                     the bundled reference stack"
                        .to_owned(),
                ),
            );
            None
        }
    };
    let timeout = match &t.timeout {
        Some(v) => match duration(ctx, v, "timeout") {
            Some(d) if d.is_zero() => {
                ctx.err(v.span(), "`timeout` must be longer than 0", "expected > 0");
                None
            }
            d => d,
        },
        None => Some(DEFAULT_TIMEOUT),
    };
    let headers = header_list(ctx, t.headers.as_ref());
    let metrics_url = match &t.metrics_url {
        Some(u) => Some(http_url(ctx, u, "metrics_url")?),
        None => None,
    };
    Some(Target {
        base_url: base_url?,
        headers,
        timeout: timeout?,
        metrics_url,
        reference,
    })
}
