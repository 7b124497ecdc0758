//! `kneepoint validate` and `kneepoint run` on the scenario fixtures, through the real binary:
//! every bad fixture exits 2 naming each problem's `file:line:column`, and `run` writes nothing
//! for it; every good fixture and every shipped scenario exits 0.

use std::path::{Path, PathBuf};

use super::support::{Finished, Kneepoint};

/// One expected problem: the file it is in, line, column (1-based), the start of its message
/// and, when there is one worth pinning, part of its hint.
type Problem = (
    &'static str,
    usize,
    usize,
    &'static str,
    Option<&'static str>,
);

/// Every bad fixture with its problems in the order they are reported; the positions are those
/// the unit tests in `src/scenario/mod.rs` pin.
const BAD: &[(&str, &[Problem])] = &[
    (
        "bad_duration.toml",
        &[(
            "bad_duration.toml",
            5,
            12,
            "invalid duration `10x` for `duration`",
            None,
        )],
    ),
    (
        "bad_method.toml",
        &[(
            "bad_method.toml",
            10,
            10,
            "invalid `method` `GETT`",
            Some("did you mean `GET`?"),
        )],
    ),
    (
        "bad_regex.toml",
        &[(
            "bad_regex.toml",
            11,
            28,
            "invalid regex for capture `id`",
            None,
        )],
    ),
    (
        "closed_field_in_open.toml",
        &[(
            "closed_field_in_open.toml",
            6,
            14,
            "`think_time` belongs to the closed model",
            None,
        )],
    ),
    (
        "compare.toml",
        &[
            (
                "compare.toml",
                15,
                33,
                "unknown metric `p9` in `compare.noise_floor`",
                Some("did you mean `p99`?"),
            ),
            (
                "compare.toml",
                16,
                14,
                "confidence `150%` must lie between 50% and 100%",
                None,
            ),
            (
                "compare.toml",
                17,
                18,
                "invalid `budget.p95` in `compare`: `10` is ambiguous",
                None,
            ),
            (
                "compare.toml",
                17,
                35,
                "invalid `budget.error_rate` in `compare`: `half` is not a number",
                None,
            ),
            (
                "compare.toml",
                18,
                16,
                "unknown metric `latency` in `compare.gate`",
                None,
            ),
            (
                "compare.toml",
                19,
                13,
                "`resamples` must be at least 100",
                None,
            ),
            (
                "compare.toml",
                20,
                1,
                "unknown key `budgets` in `compare`",
                Some("did you mean `budget`?"),
            ),
            (
                "compare.toml",
                21,
                22,
                "invalid `min_latency_change` in `compare`: `1 fortnight` is not a duration",
                Some("units: us, ms, s"),
            ),
        ],
    ),
    (
        "duplicate_transaction.toml",
        &[(
            "duplicate_transaction.toml",
            13,
            8,
            "duplicate transaction name `browse`",
            None,
        )],
    ),
    (
        "empty_transaction.toml",
        &[(
            "empty_transaction.toml",
            6,
            1,
            "transaction `browse` has no requests",
            None,
        )],
    ),
    (
        "malformed_csv.toml",
        &[(
            "data/ragged.csv",
            3,
            1,
            "CSV row has 1 field but the header has 2",
            None,
        )],
    ),
    (
        "missing_base_url.toml",
        &[(
            "missing_base_url.toml",
            1,
            1,
            "missing `base_url` in `[target]`",
            Some("reference = true"),
        )],
    ),
    (
        "missing_feeder.toml",
        &[("missing_feeder.toml", 7, 8, "cannot read feeder file", None)],
    ),
    (
        "no_stop.toml",
        &[(
            "no_stop.toml",
            3,
            1,
            "`[load]` needs `duration` or `iterations`",
            None,
        )],
    ),
    (
        "open_field_in_closed.toml",
        &[(
            "open_field_in_closed.toml",
            5,
            8,
            "`rate` belongs to the open model",
            Some("model = \"open\""),
        )],
    ),
    (
        "several.toml",
        &[
            (
                "several.toml",
                3,
                11,
                "wrong type for `timeout` in `target`",
                None,
            ),
            ("several.toml", 6, 9, "`users` must be at least 1", None),
            (
                "several.toml",
                8,
                1,
                "unknown key `thinktime`",
                Some("did you mean `think_time`?"),
            ),
            (
                "several.toml",
                12,
                10,
                "weight must be greater than 0, found -1",
                None,
            ),
            ("several.toml", 15, 19, "undefined variable `id`", None),
            ("several.toml", 16, 20, "invalid status", None),
            (
                "several.toml",
                21,
                13,
                "threshold `200ms` has unit `ms`, which does not fit metric `throughput`",
                None,
            ),
        ],
    ),
    (
        "sla_server_series.toml",
        &[
            (
                "sla_server_series.toml",
                13,
                10,
                "unknown server series `cache_hit_rate`",
                Some("did you mean `cache_hit_ratio`?"),
            ),
            (
                "sla_server_series.toml",
                18,
                10,
                "SLA on server series `db_pool_utilisation` but nothing is scraped",
                Some("metrics_url"),
            ),
        ],
    ),
    (
        "sla_threshold_unit.toml",
        &[(
            "sla_threshold_unit.toml",
            14,
            13,
            "threshold `0.1%` has unit `%`, which does not fit metric `p95`",
            None,
        )],
    ),
    (
        "sla_unknown_metric.toml",
        &[(
            "sla_unknown_metric.toml",
            13,
            10,
            "unknown SLA metric `p59`",
            Some("did you mean"),
        )],
    ),
    (
        "sla_unknown_scope.toml",
        &[(
            "sla_unknown_scope.toml",
            13,
            9,
            "SLA scope `brows`",
            Some("did you mean `browse`?"),
        )],
    ),
    (
        "syntax.toml",
        &[("syntax.toml", 3, 15, "invalid TOML", None)],
    ),
    (
        "undefined_variable.toml",
        &[(
            "undefined_variable.toml",
            16,
            40,
            "undefined variable `tokn`",
            Some("did you mean `token`?"),
        )],
    ),
    (
        "unknown_key.toml",
        &[(
            "unknown_key.toml",
            5,
            1,
            "unknown key `ramp_upp` in `load`",
            Some("did you mean `ramp_up`?"),
        )],
    ),
    (
        "wrong_type.toml",
        &[(
            "wrong_type.toml",
            4,
            9,
            "wrong type for `users` in `load`: found string \"ten\", expected an integer",
            None,
        )],
    ),
    (
        "zero_weight.toml",
        &[(
            "zero_weight.toml",
            8,
            10,
            "weight must be greater than 0, found 0",
            None,
        )],
    ),
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn bad_dir() -> PathBuf {
    root().join("tests/fixtures/scenarios/bad")
}

/// The `.toml` files of a folder, sorted.
fn tomls(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    out.sort();
    out
}

/// A working folder holding the bad fixture `name` and a copy of the fixtures' `data/`, so that
/// the binary is given a short relative path and messages are not wrapped inside it.
fn with_bad_fixture(name: &str) -> Kneepoint {
    let text = std::fs::read_to_string(bad_dir().join(name)).expect("fixture is readable");
    let k = Kneepoint::new();
    let data = k.dir().join("data");
    std::fs::create_dir(&data).expect("create data/");
    for entry in std::fs::read_dir(bad_dir().join("data")).expect("fixture data/") {
        let from = entry.expect("readable entry").path();
        let to = data.join(from.file_name().expect("file name"));
        std::fs::copy(&from, &to).expect("copy fixture data");
    }
    k.file(name, &text)
}

/// Standard error with miette's wrapping undone: each line without its frame (`×`, `│`) and
/// indentation, joined by single spaces, so a message reads as one line again.
fn unwrapped(stderr: &str) -> String {
    stderr
        .lines()
        .map(|l| l.trim_start().trim_start_matches(['×', '│']).trim_start())
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Names of the files in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("working folder")
        .map(|e| {
            e.expect("readable entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

#[track_caller]
fn expect_problems(name: &str, run: &Finished, problems: &[Problem]) {
    run.expect_code(2);
    let text = unwrapped(&run.stderr);
    let count = format!(
        "is invalid: {} problem{}",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
    assert!(
        text.contains(&count),
        "{name}: no `{count}` in\n{}",
        run.stderr
    );
    for (file, line, col, message, hint) in problems {
        let title = format!("{file}:{line}:{col}: {message}");
        assert!(
            text.contains(&title),
            "{name}: no `{title}` in\n{}",
            run.stderr
        );
        // The snippet header names the same place, so the text shown is the text meant.
        let header = format!("[{file}:{line}:{col}]");
        assert!(
            run.stderr.contains(&header),
            "{name}: no `{header}` in\n{}",
            run.stderr
        );
        if let Some(hint) = hint {
            assert!(
                text.contains(&format!("help: {hint}")) || text.contains(hint),
                "{name}: no hint `{hint}` in\n{}",
                run.stderr
            );
        }
    }
}

#[test]
fn the_table_covers_every_bad_fixture() {
    let on_disk: Vec<String> = tomls(&bad_dir())
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    let mut in_table: Vec<String> = BAD.iter().map(|(n, _)| (*n).to_owned()).collect();
    in_table.sort();
    assert_eq!(on_disk, in_table);
    assert!(BAD.iter().all(|(_, problems)| !problems.is_empty()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_reports_every_problem_of_every_bad_fixture_at_its_place() {
    for (name, problems) in BAD {
        let run = with_bad_fixture(name).args(&["validate", name]).run().await;
        expect_problems(name, &run, problems);
        assert!(run.stdout.is_empty(), "{name}: stdout {}", run.stdout);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_refuses_every_bad_fixture_and_writes_nothing() {
    for (name, problems) in BAD {
        for out in [Some("out"), None] {
            let mut args = vec!["run", *name, "--quiet"];
            if let Some(out) = out {
                args.extend(["--out", out]);
            }
            let run = with_bad_fixture(name).args(&args).run().await;
            expect_problems(name, &run, problems);
            let dir = run.out.parent().expect("working folder");
            // Only what the test put there: no `out/`, no default `reports/` folder.
            let mut expected = vec!["data".to_owned(), (*name).to_owned()];
            expected.sort();
            assert_eq!(listing(dir), expected, "{name} with --out {out:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_accepts_every_ok_fixture_and_shipped_scenario() {
    let mut files = tomls(&root().join("tests/fixtures/scenarios/ok"));
    let ok_fixtures = files.len();
    for dir in ["scenarios", "scenarios/examples", "scenarios/reference"] {
        files.extend(tomls(&root().join(dir)));
    }
    assert!(
        ok_fixtures >= 3 && files.len() >= ok_fixtures + 10,
        "{files:?}"
    );
    for f in files {
        let path = f.to_string_lossy().into_owned();
        let run = Kneepoint::new().args(&["validate", &path]).run().await;
        run.expect_code(0);
        assert!(run.stdout.starts_with("ok: "), "{path}: {}", run.stdout);
        assert!(run.stderr.is_empty(), "{path}: {}", run.stderr);
    }
}
