//! The terminal summary printed at the end of a run (and by `merge`): a table per scope, the SLA
//! verdicts and one final PASSED/BREACHED (or FAILED/INTERRUPTED) line.
//!
//! Invariant: plain text that fits 100 columns; colour, when asked for, only wraps whole fields in
//! ANSI codes, so alignment is the same with and without it. Latencies are shown in ms; for an
//! open model they are measured from the intended start (coordinated-omission correct).

use std::fmt::Write as _;

use crate::results::{
    GeneratorHealth, LatencySummary, RunResults, RunStatus, ScopeKind, ScopeResults,
};
use crate::sla::format_value;

const NAME_WIDTH: usize = 26;
const GREEN: &str = "\x1b[32m";
const RED: &str = "\x1b[31m";
const YELLOW: &str = "\x1b[33m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

/// Render the summary; `color` adds ANSI colours (for a terminal).
pub fn render_summary(run: &RunResults, color: bool) -> String {
    let paint = |code: &str, text: &str| {
        if color {
            format!("{code}{text}{RESET}")
        } else {
            text.to_owned()
        }
    };
    let mut out = String::new();
    let stages = match run.stages.len() {
        1 => "1 stage".to_owned(),
        n => format!("{n} stages"),
    };
    let shards = if run.shards > 1 {
        format!(" · {} shards", run.shards)
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "{} · {} · {:.1} s · {stages}{shards} · {}",
        paint(BOLD, &run.scenario.name),
        status_text(&run.status),
        run.duration_s,
        run.target
    );
    let intended = run
        .scopes
        .iter()
        .any(|s| s.stats.intended_latency_us.is_some());
    if intended {
        let _ = writeln!(
            out,
            "latency measured from each arrival's intended start (coordinated-omission corrected)"
        );
    }
    if let Some(a) = &run.arrivals {
        let _ = writeln!(
            out,
            "arrivals: {} scheduled · {} started · {} late · {} missed · max lag {}",
            a.scheduled,
            a.started,
            a.late,
            a.missed,
            format_value(to_f64(a.max_lag_us), "us")
        );
    }
    out.push('\n');
    let _ = writeln!(
        out,
        "{:<NAME_WIDTH$}{:>9}{:>7}{:>8}{:>8}{:>8}{:>8}{:>8}{:>8}{:>8}",
        "scope (latency in ms)",
        "requests",
        "errors",
        "err %",
        "req/s",
        "p50",
        "p95",
        "p99",
        "p99.9",
        "max"
    );
    for scope in &run.scopes {
        out.push_str(&scope_row(scope));
        out.push('\n');
    }
    if let Some(overall) = run.overall().filter(|o| !o.errors.is_empty()) {
        let kinds: Vec<String> = overall
            .errors
            .iter()
            .map(|e| format!("{} {}", e.kind.as_str(), e.count))
            .collect();
        let _ = writeln!(out, "errors: {}", kinds.join(" · "));
        if let Some(sample) = overall.errors.iter().find_map(|e| e.samples.first()) {
            let _ = writeln!(out, "  e.g. {}", truncate(sample, 90));
        }
    }

    if !run.slas.is_empty() {
        out.push('\n');
    }
    // Names padded to a common width (capped) so the numbers line up.
    let name_width = run
        .slas
        .iter()
        .map(|v| v.name.chars().count())
        .max()
        .unwrap_or(0)
        .min(48);
    for v in &run.slas {
        let mark = if v.passed {
            paint(GREEN, "✓")
        } else {
            paint(RED, "✗")
        };
        let actual = v
            .actual
            .map_or_else(|| "no data".to_owned(), |a| format_value(a, &v.unit));
        let _ = writeln!(
            out,
            "{mark} {:<name_width$}  {actual} (threshold {} {})",
            truncate(&v.name, 60),
            v.comparison,
            format_value(v.threshold, &v.unit)
        );
    }
    if !matches!(run.status, RunStatus::Completed) {
        let _ = writeln!(
            out,
            "{}",
            paint(
                YELLOW,
                &format!("note: {}; results are partial", status_text(&run.status))
            )
        );
    }
    if let Some(g) = &run.generator {
        let line = generator_line(g);
        let line = if g.bound { paint(YELLOW, &line) } else { line };
        let _ = writeln!(out, "{line}");
    }
    let failed = run.slas.iter().filter(|v| !v.passed).count();
    // A run that failed or was interrupted is never "passed", whatever its partial SLAs say.
    let verdict = match (&run.status, failed, run.slas.len()) {
        (RunStatus::Failed { reason }, ..) => paint(RED, &format!("FAILED: {reason}")),
        (RunStatus::Interrupted, ..) => paint(
            YELLOW,
            "INTERRUPTED: the SLAs above are judged on what was measured",
        ),
        // Without SLAs nothing was judged; failures are never passed over in silence.
        (_, _, 0) => match run.overall().filter(|o| o.stats.errors > 0) {
            Some(o) => paint(
                YELLOW,
                &format!(
                    "NO SLAs: {} of {} requests failed ({})",
                    o.stats.errors,
                    o.stats.requests,
                    format_value(o.stats.error_rate, "ratio")
                ),
            ),
            None => paint(GREEN, "PASSED: no SLAs defined"),
        },
        (_, 0, n) => paint(GREEN, &format!("PASSED: all {n} SLAs met")),
        (_, f, n) => paint(RED, &format!("BREACHED: {f} of {n} SLAs failed")),
    };
    let _ = writeln!(out, "{verdict}");
    out
}

/// The generator's own health in one line; a generator-bound run says so first, with why.
fn generator_line(g: &GeneratorHealth) -> String {
    let cpu = g.cpu_mean.map_or_else(
        || "CPU unknown".to_owned(),
        |c| format!("CPU {:.0} % of {} cores", c * 100.0, g.cores),
    );
    let figures = format!(
        "{cpu}, scheduling lag p99 {:.1} ms (max {:.1} ms)",
        g.lag_p99_us as f64 / 1000.0,
        g.lag_max_us as f64 / 1000.0
    );
    if g.bound {
        format!(
            "GENERATOR-BOUND: {} — latencies include kneepoint's own queueing ({figures})",
            g.reasons.join("; ")
        )
    } else {
        format!("generator: {figures}")
    }
}

fn scope_row(scope: &ScopeResults) -> String {
    let s = &scope.stats;
    let indent = match scope.kind {
        ScopeKind::Overall => "",
        ScopeKind::Transaction => "  ",
        ScopeKind::Request => "    ",
    };
    let name = truncate(&format!("{indent}{}", scope.name), NAME_WIDTH - 1);
    let l: &LatencySummary = s.intended_latency_us.as_ref().unwrap_or(&s.latency_us);
    let lat = |us: u64| {
        if s.requests == 0 {
            "-".to_owned()
        } else {
            ms(us)
        }
    };
    format!(
        "{name:<NAME_WIDTH$}{:>9}{:>7}{:>8}{:>8}{:>8}{:>8}{:>8}{:>8}{:>8}",
        s.requests,
        s.errors,
        format!("{:.2}%", s.error_rate * 100.0),
        format!("{:.1}", s.throughput_rps),
        lat(l.p50),
        lat(l.p95),
        lat(l.p99),
        lat(l.p99_9),
        lat(l.max),
    )
}

/// Milliseconds with precision that shrinks as values grow (µs stay visible below 1 ms).
fn ms(us: u64) -> String {
    let v = to_f64(us) / 1000.0;
    match us {
        0..1_000 => format!("{v:.3}"),
        1_000..100_000 => format!("{v:.2}"),
        100_000..10_000_000 => format!("{v:.1}"),
        _ => format!("{v:.0}"),
    }
}

#[allow(clippy::cast_precision_loss)] // µs values far below 2^53
fn to_f64(v: u64) -> f64 {
    v as f64
}

fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_owned()
    } else {
        let mut t: String = text.chars().take(width.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

fn status_text(status: &RunStatus) -> String {
    match status {
        RunStatus::InProgress => "in progress".to_owned(),
        RunStatus::Completed => "completed".to_owned(),
        RunStatus::Interrupted => "interrupted".to_owned(),
        RunStatus::Aborted { reason } => format!("aborted ({reason})"),
        RunStatus::Failed { reason } => format!("failed ({reason})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::simulated as fixtures;

    #[test]
    fn fits_100_columns_and_aligns() {
        let mut run = fixtures::closed_run();
        run.scopes[3].name = "a-very-long-request-name-that-would-break-the-table".into();
        let text = render_summary(&run, false);
        for line in text.lines() {
            assert!(line.chars().count() <= 100, "too wide: {line}");
        }
        let table: Vec<&str> = text
            .lines()
            .skip_while(|l| !l.starts_with("scope (latency in ms)"))
            .take(1 + run.scopes.len())
            .collect();
        let width = table[0].chars().count();
        assert!(
            table.iter().all(|l| l.chars().count() == width),
            "{table:#?}"
        );
        assert!(table[4].contains('…'), "{}", table[4]);
    }

    #[test]
    fn shows_numbers_verdicts_and_the_final_line() {
        let run = fixtures::closed_run();
        let text = render_summary(&run, false);
        let overall = run.overall().expect("overall");
        let row = text
            .lines()
            .find(|l| l.starts_with("overall"))
            .expect("row");
        assert!(row.contains(&overall.stats.requests.to_string()), "{row}");
        assert!(row.contains(&ms(overall.stats.latency_us.p95)), "{row}");
        let failed = run.slas.iter().filter(|v| !v.passed).count();
        assert_eq!(text.matches("✗ ").count(), failed);
        assert_eq!(text.matches("✓ ").count(), run.slas.len() - failed);
        let last = text.lines().last().expect("last line");
        assert_eq!(
            last,
            format!("BREACHED: {failed} of {} SLAs failed", run.slas.len())
        );
        assert!(!text.contains('\x1b'));
        assert!(text.contains("errors: connect"), "{text}");
    }

    #[test]
    fn a_failed_or_interrupted_run_never_ends_with_passed() {
        let mut run = fixtures::closed_run();
        run.slas.clear();
        run.status = RunStatus::Failed {
            reason: "the docker reference stack went down".into(),
        };
        let text = render_summary(&run, false);
        assert_eq!(
            text.lines().last(),
            Some("FAILED: the docker reference stack went down")
        );
        run.status = RunStatus::Interrupted;
        let text = render_summary(&run, false);
        let last = text.lines().last().unwrap_or_default();
        assert!(last.starts_with("INTERRUPTED"), "{last}");
        assert!(!text.contains("PASSED"), "{text}");
    }

    #[test]
    fn colour_only_adds_escape_codes() {
        let run = fixtures::closed_run();
        let plain = render_summary(&run, false);
        let coloured = render_summary(&run, true);
        assert!(coloured.contains(RED) && coloured.contains(GREEN));
        let stripped = regex::Regex::new("\x1b\\[[0-9;]*m")
            .expect("regex")
            .replace_all(&coloured, "");
        assert_eq!(stripped, plain);
    }

    #[test]
    fn open_runs_say_which_latency_and_note_partial_results() {
        let run = fixtures::open_run();
        let text = render_summary(&run, false);
        assert!(text.contains("intended start"), "{text}");
        assert!(text.contains("arrivals: "), "{text}");
        assert!(text.contains("note: interrupted"), "{text}");
        let intended = run
            .overall()
            .expect("o")
            .stats
            .intended_latency_us
            .expect("open");
        let row = text
            .lines()
            .find(|l| l.starts_with("overall"))
            .expect("row");
        assert!(row.contains(&ms(intended.p99)), "{row}");
    }

    #[test]
    fn milliseconds_keep_sensible_precision() {
        assert_eq!(ms(123), "0.123");
        assert_eq!(ms(12_346), "12.35");
        assert_eq!(ms(1_234_567), "1234.6");
        assert_eq!(ms(12_345_678), "12346");
    }
}
