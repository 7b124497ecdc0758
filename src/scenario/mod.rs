//! Scenario files: TOML text → raw spanned types → validated [`model::Scenario`].
//!
//! Invariant: [`load`] and [`parse`] either return a scenario the driver can run as is, or
//! every problem found in it (syntax, shape, meaning, feeder files), each located at
//! file:line:column. Nothing here panics on bad input.
//!
//! ```
//! use std::path::Path;
//! let text = r#"
//! [target]
//! base_url = "http://127.0.0.1:8080"
//! [load]
//! users = 2
//! duration = "10s"
//! [[transaction]]
//! name = "home"
//! [[transaction.request]]
//! path = "/"
//! "#;
//! let s = kneepoint::scenario::parse(Path::new("home.toml"), text, Path::new("."), &[])
//!     .expect("valid");
//! assert_eq!(s.transactions[0].requests[0].name, "GET /");
//! ```

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub mod model;
mod raw;
mod validate;

pub use crate::diagnostic::{Located, Problems};
use model::Scenario;

/// Hold of the single stage written with the `users`/`rate` shorthand when only `iterations`
/// bounds the run: long enough never to end before the iteration cap in practice.
pub const HOLD_UNTIL_CAP: Duration = Duration::from_secs(24 * 3600);

/// A `--set KEY=VALUE` override of one scenario value, applied before validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    /// Dotted key, e.g. `load.users` or `transaction.0.weight`.
    pub key: String,
    /// Value text: a TOML value if it parses as one (`50`, `"x"`, `[1, 2]`), else a string.
    pub value: String,
}

/// A `--set` flag that is not `KEY=VALUE`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid --set `{0}`: expected KEY=VALUE, e.g. `load.users=50`")]
pub struct OverrideError(pub String);

impl Override {
    /// Parse `KEY=VALUE` (spaces around both are trimmed).
    pub fn parse(s: &str) -> Result<Self, OverrideError> {
        match s.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok(Self {
                key: k.trim().to_owned(),
                value: v.trim().to_owned(),
            }),
            _ => Err(OverrideError(s.to_owned())),
        }
    }
}

impl std::str::FromStr for Override {
    type Err = OverrideError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Read, parse and validate the scenario file at `path`; feeder paths are relative to its folder.
pub fn load(path: &Path, overrides: &[Override]) -> Result<Scenario, Problems> {
    let name = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            let empty: Arc<str> = Arc::from("");
            let err = Located::new(
                &name,
                &empty,
                0..0,
                format!("cannot read scenario file: {e}"),
                "cannot read this file",
            );
            return Err(Problems::new(format!("scenario `{name}`"), vec![err]));
        }
    };
    let base_dir = path.parent().unwrap_or(Path::new("."));
    parse(path, &text, base_dir, overrides)
}

/// Parse and validate scenario `text` (read from `path`, which names it in messages), resolving
/// feeder paths against `base_dir`, after applying `overrides`.
pub fn parse(
    path: &Path,
    text: &str,
    base_dir: &Path,
    overrides: &[Override],
) -> Result<Scenario, Problems> {
    validate::parse(path, text, base_dir, overrides)
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use std::time::Duration;

    use super::{Override, Problems, load, parse};
    use crate::results::ArrivalUnit;
    use crate::scenario::model::{
        Body, CaptureSource, Check, Expected, FeederMode, HttpMethod, LatencyStat, LoadModel,
        OnEnd, Operator, Scenario, SlaMetric, SlaScope, Stage, ThinkTime,
    };
    use crate::template::{RenderContext, Template};

    fn root() -> &'static Path {
        Path::new(env!("CARGO_MANIFEST_DIR"))
    }

    fn tomls(dir: &Path) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
            .expect("fixture folder exists")
            .map(|e| e.expect("readable entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        out.sort();
        out
    }

    fn show(e: &Problems) -> String {
        e.errors().iter().map(|x| format!("{x}\n")).collect()
    }

    /// Every scenario shipped under `scenarios/`: the examples, the main job and the reference set.
    #[test]
    fn every_example_parses() {
        for (dir, at_least) in [
            ("scenarios/examples", 4),
            ("scenarios", 1),
            ("scenarios/reference", 5),
        ] {
            let files = tomls(&root().join(dir));
            assert!(files.len() >= at_least, "{dir}: {files:?}");
            for f in files {
                if let Err(e) = load(&f, &[]) {
                    panic!("{}: {}", f.display(), show(&e));
                }
            }
        }
    }

    fn reference_scenarios() -> Vec<(PathBuf, Scenario)> {
        let mut files = tomls(&root().join("scenarios/reference"));
        files.push(root().join("scenarios/reference.toml"));
        files
            .into_iter()
            .map(|f| {
                let s = load(&f, &[]).unwrap_or_else(|e| panic!("{}: {}", f.display(), show(&e)));
                (f, s)
            })
            .collect()
    }

    /// Anonymous callers share one small per-address limit (20 a minute), so a reference
    /// scenario that forgot its API key would measure the limiter instead of the service. Only
    /// login, which has a limit class of its own, goes without.
    #[test]
    fn reference_scenarios_aim_at_the_stack_and_identify_every_request() {
        let identifies = |headers: &[(String, crate::template::Template)]| {
            headers
                .iter()
                .any(|(n, _)| n == "x-api-key" || n == "authorization")
        };
        for (f, s) in reference_scenarios() {
            assert!(s.target.reference, "{}", f.display());
            let vars = vec![Some("1".to_owned()); s.vars.len()];
            let ctx = RenderContext {
                vars: &vars,
                user: 0,
                iteration: 0,
            };
            for t in &s.transactions {
                for r in &t.requests {
                    let path = r.url.render(&ctx, &s.vars).expect("every variable is set");
                    assert!(
                        identifies(&s.target.headers)
                            || identifies(&r.headers)
                            || path.starts_with("/api/auth/"),
                        "{}: {}/{} is anonymous",
                        f.display(),
                        t.name,
                        r.name
                    );
                }
            }
        }
    }

    /// The stack seeds 1 000 items over 10 accounts unless told otherwise: every id a feeder
    /// hands out must exist there.
    #[test]
    fn reference_feeders_use_ids_of_the_smallest_seed() {
        let limits = [("account_id", 10), ("item_id", 1_000)];
        for (f, s) in reference_scenarios() {
            for feeder in &s.feeders {
                for (c, (column, _)) in feeder.columns.iter().enumerate() {
                    let Some((_, max)) = limits.iter().find(|(name, _)| name == column) else {
                        continue;
                    };
                    for row in &feeder.rows {
                        let id: u64 = row[c].parse().expect("numeric id");
                        assert!((1..=*max).contains(&id), "{}: {column} {id}", f.display());
                    }
                }
            }
        }
    }

    /// The main job gates on the usual targets: GET p95 < 200 ms, writes p95 < 500 ms, the heavy
    /// stats aggregate p95 < 2 s, errors < 0.1 % (stopping the run), cache hits >= 80 %.
    #[test]
    fn main_job_has_an_sla_per_request_from_the_guides() {
        let s = load(&root().join("scenarios/reference.toml"), &[]).expect("valid");
        assert!(s.target.reference);
        for t in &s.transactions {
            for r in &t.requests {
                let scope = format!("{}/{}", t.name, r.name);
                let sla = s
                    .slas
                    .iter()
                    .find(|x| {
                        x.scope.name() == scope
                            || (t.requests.len() == 1 && x.scope.name() == t.name)
                    })
                    .unwrap_or_else(|| panic!("no SLA covers `{scope}`"));
                let want = match (t.name.as_str(), r.method) {
                    ("stats", _) => 2_000_000.0,
                    (_, HttpMethod::Get) => 200_000.0,
                    _ => 500_000.0,
                };
                assert_eq!(sla.metric, SlaMetric::Latency(LatencyStat::P95), "{scope}");
                assert_eq!(sla.threshold, want, "{scope}");
            }
        }
        assert!(s.slas.iter().any(|x| x.metric == SlaMetric::ErrorRate
            && x.threshold == 0.001
            && x.scope == SlaScope::Overall
            && x.abort));
        assert!(s.slas.iter().any(
            |x| x.metric == SlaMetric::Server("cache_hit_ratio".to_owned())
                && x.comparison == Operator::Ge
                && x.threshold == 0.8
        ));
    }

    /// Load a bad fixture and compare its problems, in order, with `(line, column, text in the
    /// message)`.
    #[track_caller]
    fn check(file: &str, expect: &[(usize, usize, &str)]) -> Problems {
        let path = root().join("tests/fixtures/scenarios/bad").join(file);
        let Err(e) = load(&path, &[]) else {
            panic!("{file} should be invalid");
        };
        let got: Vec<(usize, usize, &str)> = e
            .errors()
            .iter()
            .map(|x| (x.line(), x.column(), x.message()))
            .collect();
        assert_eq!(got.len(), expect.len(), "{file}:\n{}", show(&e));
        for ((line, col, msg), (el, ec, etext)) in got.iter().zip(expect) {
            assert_eq!((line, col), (el, ec), "{file}: {msg}");
            assert!(msg.contains(etext), "{file}: `{msg}` lacks `{etext}`");
        }
        let display = e.to_string();
        assert!(
            display.contains(&format!("{} problem", expect.len())),
            "{display}"
        );
        e
    }

    #[track_caller]
    fn hint(e: &Problems, i: usize, text: &str) {
        let h = e.errors()[i].hint().unwrap_or_default();
        assert!(h.contains(text), "hint `{h}` lacks `{text}`");
    }

    #[test]
    fn syntax_error() {
        let e = check("syntax.toml", &[(3, 15, "invalid TOML")]);
        assert!(e.errors()[0].to_string().contains("syntax.toml:3:15: "));
    }

    #[test]
    fn unknown_key_suggests() {
        let e = check(
            "unknown_key.toml",
            &[(5, 1, "unknown key `ramp_upp` in `load`")],
        );
        hint(&e, 0, "did you mean `ramp_up`?");
        assert_eq!(e.errors()[0].label(), "unknown key");
    }

    #[test]
    fn wrong_type() {
        check(
            "wrong_type.toml",
            &[(
                4,
                9,
                "wrong type for `users` in `load`: found string \"ten\", expected an integer",
            )],
        );
    }

    #[test]
    fn bad_duration() {
        check(
            "bad_duration.toml",
            &[(5, 12, "invalid duration `10x` for `duration`")],
        );
    }

    #[test]
    fn zero_weight() {
        check(
            "zero_weight.toml",
            &[(8, 10, "weight must be greater than 0, found 0")],
        );
    }

    #[test]
    fn empty_transaction() {
        check(
            "empty_transaction.toml",
            &[(6, 1, "transaction `browse` has no requests")],
        );
    }

    #[test]
    fn duplicate_transaction() {
        check(
            "duplicate_transaction.toml",
            &[(13, 8, "duplicate transaction name `browse`")],
        );
    }

    #[test]
    fn missing_feeder_file() {
        let e = check("missing_feeder.toml", &[(7, 8, "cannot read feeder file")]);
        assert!(e.errors()[0].message().contains("missing.csv"));
    }

    #[test]
    fn malformed_csv_names_the_csv_line() {
        let e = check(
            "malformed_csv.toml",
            &[(3, 1, "CSV row has 1 field but the header has 2")],
        );
        assert!(
            e.errors()[0].file().ends_with("ragged.csv"),
            "{}",
            e.errors()[0]
        );
    }

    #[test]
    fn undefined_variable_suggests() {
        let e = check(
            "undefined_variable.toml",
            &[(16, 40, "undefined variable `tokn`")],
        );
        hint(&e, 0, "did you mean `token`?");
    }

    #[test]
    fn sla_unknown_scope() {
        let e = check("sla_unknown_scope.toml", &[(13, 9, "SLA scope `brows`")]);
        hint(&e, 0, "did you mean `browse`?");
    }

    #[test]
    fn sla_unknown_metric() {
        let e = check(
            "sla_unknown_metric.toml",
            &[(13, 10, "unknown SLA metric `p59`")],
        );
        hint(&e, 0, "did you mean");
    }

    #[test]
    fn sla_server_series_must_be_recorded_and_scraped() {
        let e = check(
            "sla_server_series.toml",
            &[
                (13, 10, "unknown server series `cache_hit_rate`"),
                (18, 10, "nothing is scraped"),
            ],
        );
        hint(&e, 0, "did you mean `cache_hit_ratio`?");
        hint(&e, 1, "metrics_url");
    }

    #[test]
    fn sla_threshold_unit_must_fit_metric() {
        check(
            "sla_threshold_unit.toml",
            &[(
                14,
                13,
                "threshold `0.1%` has unit `%`, which does not fit metric `p95`",
            )],
        );
    }

    #[test]
    fn compare_table_problems_point_at_each_value() {
        let e = check(
            "compare.toml",
            &[
                (15, 33, "unknown metric `p9` in `compare.noise_floor`"),
                (16, 14, "confidence `150%` must lie between 50% and 100%"),
                (17, 18, "`10` is ambiguous: write `10%`"),
                (17, 35, "`half` is not a number or percentage"),
                (18, 16, "unknown metric `latency` in `compare.gate`"),
                (19, 13, "`resamples` must be at least 100, found 10"),
                (20, 1, "unknown key `budgets` in `compare`"),
                (
                    21,
                    22,
                    "invalid `min_latency_change` in `compare`: `1 fortnight` is not a duration",
                ),
            ],
        );
        hint(&e, 0, "did you mean `p99`?");
        hint(&e, 4, "known metrics: `p50`");
        hint(&e, 6, "did you mean `budget`?");
        hint(&e, 7, "units: us, ms, s");
    }

    #[test]
    fn neither_duration_nor_iterations() {
        check(
            "no_stop.toml",
            &[(3, 1, "needs `duration` or `iterations`")],
        );
    }

    #[test]
    fn model_specific_fields() {
        let e = check(
            "open_field_in_closed.toml",
            &[(5, 8, "`rate` belongs to the open model")],
        );
        hint(&e, 0, "model = \"open\"");
        check(
            "closed_field_in_open.toml",
            &[(6, 14, "`think_time` belongs to the closed model")],
        );
    }

    #[test]
    fn missing_base_url() {
        let e = check(
            "missing_base_url.toml",
            &[(1, 1, "missing `base_url` in `[target]`")],
        );
        hint(&e, 0, "reference = true");
    }

    #[test]
    fn bad_method_and_regex() {
        let e = check("bad_method.toml", &[(10, 10, "invalid `method` `GETT`")]);
        hint(&e, 0, "did you mean `GET`?");
        check(
            "bad_regex.toml",
            &[(11, 28, "invalid regex for capture `id`")],
        );
    }

    #[test]
    fn several_problems_at_once() {
        let e = check(
            "several.toml",
            &[
                (3, 11, "wrong type for `timeout` in `target`"),
                (6, 9, "`users` must be at least 1"),
                (8, 1, "unknown key `thinktime`"),
                (12, 10, "weight must be greater than 0, found -1"),
                (15, 19, "undefined variable `id`"),
                (16, 20, "invalid status"),
                (21, 13, "does not fit metric `throughput`"),
            ],
        );
        hint(&e, 2, "did you mean `think_time`?");
    }

    #[test]
    fn every_bad_fixture_fails_without_panicking() {
        let files = tomls(&root().join("tests/fixtures/scenarios/bad"));
        assert!(files.len() >= 12, "{files:?}");
        for f in files {
            let e = load(&f, &[]).expect_err("bad fixture");
            assert!(!e.is_empty());
            let first = &e.errors()[0];
            let at = format!("{}:{}:{}", first.file(), first.line(), first.column());
            // The rendered report shows the location and the underlined text.
            let text = format!("{:?}", miette::Report::new(e.clone()));
            assert!(text.contains(&at), "{text}");
            assert!(text.contains(first.label()), "{text}");
        }
    }

    #[test]
    fn missing_scenario_file() {
        let e = load(Path::new("/nonexistent/x.toml"), &[]).expect_err("missing");
        assert!(
            e.errors()[0]
                .message()
                .contains("cannot read scenario file")
        );
    }

    /// A scenario of one request with `check` as written, parsed from text.
    fn with_check(check: &str) -> Result<Scenario, Problems> {
        let text = format!(
            "[target]\nbase_url = \"http://127.0.0.1:9\"\n[load]\nusers = 1\nduration = \"1s\"\n\
             [[transaction]]\nname = \"t\"\n[[transaction.request]]\nname = \"login\"\n\
             path = \"/login\"\ncapture = {{ token = {{ json = \"$.token\" }} }}\n\
             [[transaction.request]]\nname = \"me\"\npath = \"/me\"\ncheck = {check}\n"
        );
        parse(Path::new("c.toml"), &text, Path::new("."), &[])
    }

    #[test]
    fn check_values_are_rendered_with_the_users_variables() {
        let s = with_check(
            r#"{ body_contains = "{{token}}", json = { "$.who" = "user-{{ user }}", "$.n" = 3 } }"#,
        )
        .unwrap_or_else(|e| panic!("{}", show(&e)));
        let r = &s.transactions[0].requests[1];
        let vars = [Some("tok-1".to_owned())];
        let Check::BodyContains(needle) = &r.checks[0] else {
            panic!("{:?}", r.checks[0]);
        };
        assert_eq!(
            needle.render(&ctx(&vars), &s.vars).expect("renders"),
            "tok-1"
        );
        let Check::JsonEquals {
            value: Expected::Text(who),
            ..
        } = &r.checks[1]
        else {
            panic!("{:?}", r.checks[1]);
        };
        assert_eq!(who.render(&ctx(&vars), &s.vars).expect("renders"), "user-4");
        assert!(matches!(
            &r.checks[2],
            Check::JsonEquals { value: Expected::Json(n), .. } if *n == serde_json::json!(3)
        ));
    }

    #[test]
    fn undefined_names_in_check_values_are_reported_where_they_are() {
        let e = with_check(r#"{ body_contains = "{{tokn}}", json = { "$.who" = "{{nobody}}" } }"#)
            .expect_err("undefined names");
        let got: Vec<(usize, usize, &str)> = e
            .errors()
            .iter()
            .map(|x| (x.line(), x.column(), x.message()))
            .collect();
        assert_eq!(got.len(), 2, "{}", show(&e));
        assert_eq!((got[0].0, got[0].1), (15, 30), "{}", show(&e));
        assert!(got[0].2.contains("tokn"), "{}", show(&e));
        hint(&e, 0, "did you mean `token`?");
        assert_eq!((got[1].0, got[1].1), (15, 61), "{}", show(&e));
        assert!(got[1].2.contains("nobody"), "{}", show(&e));
    }

    fn ok(file: &str, overrides: &[Override]) -> Scenario {
        let path = root().join("tests/fixtures/scenarios/ok").join(file);
        match load(&path, overrides) {
            Ok(s) => s,
            Err(e) => panic!("{file}: {}", show(&e)),
        }
    }

    fn ctx(vars: &[Option<String>]) -> RenderContext<'_> {
        RenderContext {
            vars,
            user: 4,
            iteration: 9,
        }
    }

    #[test]
    fn minimal_gets_defaults() {
        let s = ok("minimal.toml", &[]);
        assert_eq!(s.name, "minimal");
        assert_eq!(s.sha256.len(), 64);
        assert_eq!(s.target.base_url, "http://127.0.0.1:8080");
        assert_eq!(s.target.timeout, Duration::from_secs(30));
        assert!(!s.target.reference);
        let LoadModel::Closed(c) = &s.load.model else {
            panic!("closed by default");
        };
        assert_eq!(
            c.stages,
            vec![Stage {
                name: None,
                target: 3.0,
                ramp: Duration::ZERO,
                hold: Duration::from_secs(20)
            }]
        );
        assert_eq!(s.load.max_duration, Some(Duration::from_secs(20)));
        assert_eq!(s.load.max_iterations, None);
        let t = &s.transactions[0];
        assert_eq!((t.name.as_str(), t.weight), ("home", 1));
        let r = &t.requests[0];
        assert_eq!((r.name.as_str(), r.method), ("GET /", HttpMethod::Get));
        assert!(r.checks.is_empty() && r.captures.is_empty() && r.body.is_none());
        assert_eq!(s.slas[0].name, "overall p99 < 250ms");
        assert_eq!(s.slas[0].threshold, 250_000.0);
        assert_eq!(s.slas[0].comparison, Operator::Lt);
        assert_eq!(s.slas[1].name, "overall throughput >= 100");
        assert_eq!(s.slas[1].comparison, Operator::Ge);
    }

    #[test]
    fn full_fixture_promotes_every_field() {
        let s = ok("full.toml", &[]);
        assert_eq!(s.name, "full");
        assert_eq!(s.target.timeout, Duration::from_secs(5));
        assert_eq!(
            s.target.metrics_url.as_deref(),
            Some("http://127.0.0.1:9090/metrics")
        );
        assert_eq!(s.target.headers[0].0, "user-agent");
        let LoadModel::Closed(c) = &s.load.model else {
            panic!("closed");
        };
        assert_eq!(c.stages[0].ramp, Duration::from_secs(10));
        assert_eq!(c.stages[0].hold, Duration::from_secs(50));
        assert_eq!(
            c.think_time,
            Some(ThinkTime {
                min: Duration::from_secs(1),
                max: Duration::from_secs(3)
            })
        );
        assert_eq!(s.load.max_iterations, Some(500));
        // Feeder columns take the first slots, captures the next ones, in file order.
        assert_eq!(s.vars.names(), ["user_id", "email", "token", "loc", "num"]);
        let f = &s.feeders[0];
        assert_eq!(f.name, "users");
        assert_eq!((f.mode, f.on_end), (FeederMode::Random, OnEnd::Stop));
        assert_eq!(
            f.columns,
            vec![("user_id".to_owned(), 0), ("email".to_owned(), 1)]
        );
        assert_eq!(
            f.rows[1],
            vec!["2".to_owned(), "b \"quoted\"@example.com".to_owned()]
        );

        let t = &s.transactions[0];
        assert_eq!(t.weight, 2);
        assert_eq!(
            t.think_time.map(|t| t.min),
            Some(Duration::from_millis(250))
        );
        let r = &t.requests[0];
        assert_eq!(r.name, "POST /users/{{user_id}}");
        assert_eq!(r.method, HttpMethod::Post);
        let vars = vec![
            Some("7".to_owned()),
            Some("q\"x@example.com".to_owned()),
            None,
            None,
            None,
        ];
        assert_eq!(
            r.url.render(&ctx(&vars), &s.vars).expect("renders"),
            "/users/7"
        );
        let Some(Body::Json(json)) = &r.body else {
            panic!("json body");
        };
        let body = json.render(&ctx(&vars), &s.vars).expect("renders");
        assert_eq!(
            body,
            r#"{"email":"q\"x@example.com","tags":["a","4"],"n":3}"#
        );
        let parsed: serde_json::Value = serde_json::from_str(&body).expect("valid JSON");
        assert_eq!(parsed["email"], "q\"x@example.com");
        assert_eq!(r.checks.len(), 5);
        match &r.checks[0] {
            Check::Status(ranges) => assert_eq!(ranges, &vec![201..=201, 200..=299]),
            other => panic!("{other:?}"),
        }
        assert!(matches!(&r.checks[1], Check::BodyContains(t) if *t == Template::literal("id")));
        match &r.checks[3] {
            Check::JsonEquals {
                text,
                value: Expected::Json(value),
                ..
            } => {
                assert_eq!(
                    (text.as_str(), value),
                    ("$.ok", &serde_json::Value::Bool(true))
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(&r.checks[4], Check::JsonExists { text, .. } if text == "$.id"));
        let caps: Vec<(&str, usize)> = r
            .captures
            .iter()
            .map(|c| (c.var.as_str(), c.slot))
            .collect();
        assert_eq!(caps, [("token", 2), ("loc", 3), ("num", 4)]);
        assert!(matches!(&r.captures[1].source, CaptureSource::Header(h) if h == "location"));
        match &r.captures[2].source {
            CaptureSource::Regex(re) => assert_eq!(re.as_str(), r"n=(\d+)"),
            other => panic!("{other:?}"),
        }
        let me = &t.requests[1];
        let vars = vec![
            None,
            None,
            Some("a b".to_owned()),
            Some("/u/1".to_owned()),
            None,
        ];
        assert_eq!(
            me.url.render(&ctx(&vars), &s.vars).expect("renders"),
            "https://other.example.test/me?t=a b"
        );
        assert!(matches!(&me.body, Some(Body::Form(f)) if f[0].0 == "a"));
        assert_eq!(
            me.think_time.map(|t| t.max),
            Some(Duration::from_millis(100))
        );

        let sla = &s.slas[0];
        assert_eq!(sla.name, "signup fast");
        assert_eq!(
            sla.scope,
            SlaScope::Request("signup/POST /users/{{user_id}}".to_owned())
        );
        assert_eq!(sla.metric, SlaMetric::Latency(LatencyStat::P99_9));
        assert_eq!(
            (sla.threshold, sla.comparison, sla.abort),
            (1_500_000.0, Operator::Le, true)
        );
        assert_eq!(sla.threshold_text, "1.5s");
        assert_eq!(s.slas[1].scope, SlaScope::Transaction("signup".to_owned()));
        assert!((s.slas[1].threshold - 0.005).abs() < 1e-12);
        assert_eq!(
            s.slas[2].metric,
            SlaMetric::Server("process_cpu_cores".to_owned())
        );
        assert_eq!(s.slas[2].threshold, 0.75);
    }

    #[test]
    fn compare_table_promotes_every_key() {
        use crate::settings::Metric;
        let c = ok("compare.toml", &[]).compare;
        assert_eq!(c.noise_floor, Some(0.03));
        assert_eq!(c.noise_floors, [(Metric::P99, 0.1)].into());
        assert_eq!(
            c.min_latency_change,
            Some(std::time::Duration::from_micros(250))
        );
        assert_eq!(c.confidence, Some(0.99));
        assert_eq!(
            c.budgets,
            [(Metric::P95, 0.1), (Metric::ErrorRate, 0.005)].into()
        );
        assert_eq!(
            c.gate,
            Some(vec![Metric::P95, Metric::P99, Metric::ErrorRate])
        );
        assert_eq!((c.gate_requests, c.intended), (Some(true), Some(false)));
        assert_eq!((c.resamples, c.seed), (Some(2000), Some(42)));
        // Without a table nothing is set, and a single floor is one for every metric.
        assert!(ok("minimal.toml", &[]).compare.is_empty());
        let set = |s: &str| Override::parse(s).expect("KEY=VALUE");
        let c = ok(
            "minimal.toml",
            &[set("compare.noise_floor=\"2.5%\""), set("compare.gate=[]")],
        )
        .compare;
        assert_eq!(c.noise_floor, Some(0.025));
        assert!(c.noise_floors.is_empty());
        assert_eq!(c.gate, Some(vec![]));
        assert_eq!(c.min_latency_change, None);
        // The absolute latency floor: a duration string, or the number 0 for none.
        let floor = |v: &str| {
            let path = root().join("tests/fixtures/scenarios/ok/minimal.toml");
            load(&path, &[set(&format!("compare.min_latency_change={v}"))])
        };
        let zero = floor("0").expect("0 turns it off").compare;
        assert_eq!(zero.min_latency_change, Some(std::time::Duration::ZERO));
        let half = floor("\"0.5ms\"").expect("fractional ms").compare;
        assert_eq!(
            half.min_latency_change,
            Some(std::time::Duration::from_micros(500))
        );
        for (bad, text) in [
            ("5", "`5` has no unit"),
            ("\"5\"", "`5` has no unit"),
            ("\"-1ms\"", "must not be negative"),
            ("\"2 furlongs\"", "is not a duration"),
        ] {
            let e = floor(bad).expect_err(bad);
            let msg = e.errors()[0].message();
            assert!(
                msg.contains("invalid `min_latency_change` in `compare`") && msg.contains(text),
                "{bad}: {msg}"
            );
        }
    }

    #[test]
    fn open_model_with_iterations_only() {
        let s = ok("open_iterations.toml", &[]);
        let LoadModel::Open(o) = &s.load.model else {
            panic!("open");
        };
        assert_eq!(o.unit, ArrivalUnit::Iterations);
        assert_eq!(o.max_in_flight, 1000);
        assert_eq!(o.stages[0].target, 20.5);
        assert_eq!(o.stages[0].hold, crate::scenario::HOLD_UNTIL_CAP);
        assert_eq!(
            (s.load.max_duration, s.load.max_iterations),
            (None, Some(1000))
        );
        let r = &s.transactions[0].requests[0];
        assert_eq!(
            (r.method, r.name.as_str()),
            (HttpMethod::Head, "HEAD /ping")
        );
        assert!(matches!(r.body, Some(Body::Raw(_))));
    }

    #[test]
    fn overrides_replace_values() {
        let set = |s: &str| Override::parse(s).expect("KEY=VALUE");
        let s = ok(
            "minimal.toml",
            &[
                set("load.users=50"),
                set("target.base_url=http://10.0.0.1:9000"),
                set("transaction.0.weight=4"),
                set("name=renamed"),
                set("load.iterations=10"),
            ],
        );
        assert_eq!(s.name, "renamed");
        assert_eq!(s.target.base_url, "http://10.0.0.1:9000");
        assert_eq!(s.transactions[0].weight, 4);
        assert_eq!(s.load.max_iterations, Some(10));
        let LoadModel::Closed(c) = &s.load.model else {
            panic!("closed");
        };
        assert_eq!(c.stages[0].target, 50.0);
        // The hash is of the file as written, not of the overridden values.
        assert_eq!(s.sha256, ok("minimal.toml", &[]).sha256);
    }

    #[test]
    fn override_errors_name_the_flag() {
        let path = root().join("tests/fixtures/scenarios/ok/minimal.toml");
        let set = |s: &str| Override::parse(s).expect("KEY=VALUE");
        let e = load(
            &path,
            &[
                set("load.userz=5"),
                set("transaction.x.weight=1"),
                set("load.users=many"),
            ],
        )
        .expect_err("bad overrides");
        let got: Vec<String> = e.errors().iter().map(ToString::to_string).collect();
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(
            got[0].starts_with("--set load.userz=5:1:6: unknown key `userz`"),
            "{got:?}"
        );
        assert_eq!(e.errors()[0].hint(), Some("did you mean `users`?"));
        assert!(
            got[1].starts_with("--set transaction.x.weight=1:1:13: cannot apply --set"),
            "{got:?}"
        );
        assert!(
            got[2].starts_with("--set load.users=many:1:12: wrong type for `users`"),
            "{got:?}"
        );
    }

    /// Problems of an inline scenario as `(line, column, message)`.
    fn problems(text: &str) -> Vec<(usize, usize, String)> {
        match parse(Path::new("inline.toml"), text, Path::new("."), &[]) {
            Ok(_) => Vec::new(),
            Err(e) => e
                .errors()
                .iter()
                .map(|x| (x.line(), x.column(), x.message().to_owned()))
                .collect(),
        }
    }

    const HEAD: &str =
        "[target]\nbase_url = \"http://127.0.0.1:1\"\n[load]\nusers = 1\nduration = \"1s\"\n";

    #[test]
    fn a_malformed_required_field_is_reported_once() {
        let got = problems(&format!(
            "{HEAD}[[transaction]]\nname = 5\n[[transaction.request]]\npath = 7\n"
        ));
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!((got[0].0, got[0].1), (7, 8));
        assert!(
            got[0]
                .2
                .starts_with("wrong type for `name` in `transaction[0]`"),
            "{got:?}"
        );
        assert_eq!((got[1].0, got[1].1), (9, 8));
        assert!(
            got[1].2.contains("`path` in `transaction[0].request[0]`"),
            "{got:?}"
        );
    }

    #[test]
    fn nested_unknown_keys_and_duplicates() {
        let got = problems(&format!(
            "{HEAD}[[transaction]]\nname = \"t\"\n[[transaction.request]]\npath = \"/\"\n\
             capture = {{ token = {{ jsn = \"$.token\" }} }}\n\
             [[sla]]\nmetric = \"p95\"\nthreshold = \"1s\"\n[[sla]]\nmetric = \"p95\"\nthreshold = \"1s\"\n"
        ));
        let messages: Vec<&str> = got.iter().map(|g| g.2.as_str()).collect();
        assert_eq!(
            messages,
            [
                "unknown key `jsn` in `transaction[0].request[0].capture.token`",
                "duplicate SLA name `overall p95 < 1s`"
            ]
        );
        assert_eq!((got[0].0, got[0].1), (10, 23));
        let got = problems(&format!(
            "{HEAD}[[transaction]]\nname = \"t\"\n[[transaction.request]]\npath = \"/\"\n\
             [[transaction.request]]\nmethod = \"get\"\npath = \"/\"\n"
        ));
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!((got[0].0, got[0].1), (10, 1));
        assert!(
            got[0]
                .2
                .starts_with("duplicate request name `GET /` in transaction `t`")
        );
    }

    #[test]
    fn errors_cross_threads() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<Problems>();
    }

    #[test]
    fn truncated_files_never_panic() {
        let dir = root().join("scenarios/examples");
        let path = dir.join("checkout.toml");
        let text = std::fs::read_to_string(&path).expect("example exists");
        let cuts: Vec<usize> = (0..text.len())
            .step_by(5)
            .filter(|&i| text.is_char_boundary(i))
            .collect();
        let mut invalid = 0;
        for cut in cuts {
            if let Err(e) = crate::scenario::parse(&path, &text[..cut], &dir, &[]) {
                assert!(!e.is_empty());
                invalid += 1;
            }
        }
        assert!(invalid > 10, "most prefixes are invalid, found {invalid}");
    }

    #[test]
    fn override_parsing() {
        let o = Override::parse(" load.users = 50 ").expect("parses");
        assert_eq!((o.key.as_str(), o.value.as_str()), ("load.users", "50"));
        assert!(Override::parse("load.users").is_err());
        assert!(Override::parse("=5").is_err());
    }
}
