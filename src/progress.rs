//! Live progress while a run is going: a bar on a terminal, plain periodic lines otherwise,
//! nothing when quiet. Everything goes to stderr so stdout stays clean for summaries.

use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::plan::Plan;
use crate::recorder::Live;
use crate::scenario::HOLD_UNTIL_CAP;
use crate::settings::Unit;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Nothing.
    Quiet,
    /// A line every few seconds (logs, CI).
    Plain,
    /// A live bar (a terminal).
    Bar,
}

impl Progress {
    /// Bar on a terminal, plain lines otherwise, nothing with `quiet`.
    pub fn auto(quiet: bool) -> Self {
        if quiet {
            Self::Quiet
        } else if std::io::stderr().is_terminal() {
            Self::Bar
        } else {
            Self::Plain
        }
    }

    /// Start showing progress for a run laid out as `plan`.
    ///
    /// A run bounded in time gets a bar of seconds. One bounded only by its iteration cap (its
    /// last stage holds until [`HOLD_UNTIL_CAP`]) has no meaningful end time: it gets a spinner
    /// with the elapsed time and the cap instead of a bar that would claim 24 hours.
    pub fn start(self, plan: &Plan) -> ProgressSink {
        let bar = (self == Self::Bar).then(|| {
            let timed = plan.duration < HOLD_UNTIL_CAP || plan.max_iterations.is_none();
            let (bar, template) = if timed {
                (
                    ProgressBar::new(plan.duration.as_secs().max(1)),
                    "{spinner} [{bar:30}] {pos}/{len}s {msg}".to_owned(),
                )
            } else {
                let cap = plan.max_iterations.unwrap_or_default();
                (
                    ProgressBar::no_length(),
                    format!("{{spinner}} {{pos}}s (until {cap} iterations) {{msg}}"),
                )
            };
            bar.set_style(
                ProgressStyle::with_template(&template)
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar.enable_steady_tick(Duration::from_millis(250));
            bar
        });
        ProgressSink {
            mode: self,
            bar,
            names: plan.stages.iter().map(|s| s.name.clone()).collect(),
            last_line: Instant::now(),
        }
    }
}

/// A progress display in use.
#[derive(Debug)]
pub struct ProgressSink {
    mode: Progress,
    bar: Option<ProgressBar>,
    names: Vec<String>,
    last_line: Instant,
}

const PLAIN_EVERY: Duration = Duration::from_secs(5);

impl ProgressSink {
    /// Show the latest numbers.
    pub fn update(&mut self, live: &Live) {
        let line = format!(
            "{stage} | {rps} req/s | p95 {p95} | {requests} requests, {errors} errors",
            stage = self.names.get(live.stage).map_or("-", String::as_str),
            rps = live.rps,
            p95 = us(live.p95_us),
            requests = live.requests,
            errors = live.errors,
        );
        match self.mode {
            Progress::Quiet => {}
            Progress::Bar => {
                if let Some(bar) = &self.bar {
                    bar.set_position(live.elapsed.as_secs());
                    bar.set_message(line);
                }
            }
            Progress::Plain => {
                if self.last_line.elapsed() >= PLAIN_EVERY {
                    self.last_line = Instant::now();
                    eprintln!("[{:>5}s] {line}", live.elapsed.as_secs());
                }
            }
        }
    }

    /// Remove the bar.
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// µs for people, as every other latency kneepoint prints (`850 µs`, `12.3 ms`, `1.20 s`).
#[allow(clippy::cast_precision_loss)]
pub(crate) fn us(us: u64) -> String {
    Unit::Microseconds.format(us as f64)
}

#[cfg(test)]
mod tests {
    use super::us;

    #[test]
    fn latencies_read_as_everywhere_else() {
        assert_eq!(us(850), "850 µs");
        assert_eq!(us(12_345), "12.3 ms");
        assert_eq!(us(1_204_000), "1.20 s");
    }
}
