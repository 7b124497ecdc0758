//! The generator's own health during a run: a load generator that saturates its own CPU, or whose
//! async runtime cannot poll tasks on time, reports its own slowness as the target's latency.
//!
//! Once a second [`Monitor::sample`] closes a [`HealthSecond`]:
//! - **CPU**: process CPU time (user + system, all threads) in the interval, over wall time and
//!   over the cores the process may use (`available_parallelism`, which honours affinity and
//!   cgroup quotas). Read from `/proc/self/stat` (clock ticks of 10 ms, `USER_HZ` = 100), so it
//!   is `None` off Linux.
//! - **Scheduling lag**: a probe task on the run's own tokio runtime sleeps [`PROBE_PERIOD`] in a
//!   loop and records how late each wake-up was. A request's response waits just as long to be
//!   polled, so this lag is added to measured latency. Tokio's timer rounds a deadline up to its
//!   1 ms tick, so an idle runtime shows a floor of about 1 ms; the thresholds sit well above it.
//! - **Sockets**: entries of `/proc/self/fd` that are sockets (`None` off Linux).
//!
//! The rule ([`judge`]) skips the first second (users start, connections are opened: start-up
//! work, not steady load) and calls the run *generator-bound* when any of these holds:
//! - CPU ≥ [`CPU_BUSY`] of the available cores in at least [`BAD_SHARE`] of the measured seconds
//!   (and at least [`MIN_BAD_SECONDS`]): a generator at its cores' limit queues its own work;
//! - the probe's per-second p99 lag exceeds [`LAG_P99_LIMIT`] in that many seconds: 5 ms is also
//!   the open model's lateness tolerance (`driver::open::LATE_AFTER`);
//! - the run's worst wake-up was later than [`STALL_LIMIT`]: one stall that long shows in the
//!   measured tail.
//!
//! A single hot second passes: one busy second (a GC in an in-process target, a noisy neighbour)
//! is not a generator that cannot keep up. Thresholds come from measuring an idle runtime against
//! one saturated on purpose (see the tests): idle reads CPU < 0.05 and lag p99 ≈ 1.1 ms; spinning
//! workers read CPU ≈ 1.0 and lag p99 in tens of ms.
//!
//! Invariant: measuring never fails a run; what cannot be read is `None`.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::results::{new_histogram, record};

/// How long the lag probe sleeps between wake-ups.
pub(crate) const PROBE_PERIOD: Duration = Duration::from_millis(5);
/// CPU fraction of the available cores from which a second counts as saturated.
pub(crate) const CPU_BUSY: f64 = 0.90;
/// Per-second p99 lag above which a second counts as late.
pub(crate) const LAG_P99_LIMIT: Duration = Duration::from_millis(5);
/// Whole-run worst lag above which the run is bound, however brief.
pub(crate) const STALL_LIMIT: Duration = Duration::from_millis(50);
/// Share of measured seconds that must be saturated or late.
pub(crate) const BAD_SHARE: f64 = 0.20;
/// Fewest saturated or late seconds that make a run bound.
pub(crate) const MIN_BAD_SECONDS: usize = 2;
/// Clock ticks per second of `/proc/*/stat` times (`USER_HZ`, 100 on every Linux architecture
/// we build for).
const USER_HZ: u64 = 100;

/// One second of the generator's own health.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HealthSecond {
    /// Whole seconds since the run start (as in the recorder's series: the second `[t, t + 1)`).
    pub(crate) t: u32,
    /// Process CPU over the second, as a fraction of the available cores (may exceed 1 slightly
    /// through tick rounding); `None` where it cannot be read.
    pub(crate) cpu: Option<f64>,
    /// 99th percentile of the probe's wake-up lag in this second (µs).
    pub(crate) lag_p99_us: u64,
    /// Worst wake-up lag in this second, including a wake-up still overdue (µs).
    pub(crate) lag_max_us: u64,
    /// Sockets open at the end of the second; `None` where they cannot be counted.
    pub(crate) connections: Option<u64>,
}

/// The whole run's verdict on the generator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GeneratorHealth {
    /// Cores the process could use.
    pub(crate) cores: usize,
    /// Whether the generator, not only the target, limited the run: its latencies include its
    /// own queueing.
    pub(crate) bound: bool,
    /// Why, one sentence per broken rule (empty when not bound).
    pub(crate) reasons: Vec<String>,
    /// Mean CPU fraction over the measured seconds.
    pub(crate) cpu_mean: Option<f64>,
    /// 99th percentile of the probe's lag over the measured seconds (µs).
    pub(crate) lag_p99_us: u64,
    /// Worst lag over the measured seconds, a wake-up still overdue included (µs).
    pub(crate) lag_max_us: u64,
    /// Every second, the first included.
    pub(crate) series: Vec<HealthSecond>,
}

/// What the probe task shares with the monitor.
#[derive(Debug)]
struct Probe {
    /// Wake-up lag since the last sample (µs).
    second: Histogram<u64>,
    /// Deadline of the sleep in progress: a starved probe cannot record its own lateness.
    pending: Option<Instant>,
}

/// Measures the generator's health on the current tokio runtime until [`finish`](Self::finish)ed;
/// dropping it stops the probe too.
#[derive(Debug)]
pub(crate) struct Monitor {
    cores: usize,
    probe: Arc<Mutex<Probe>>,
    task: Option<tokio::task::AbortHandle>,
    last: Instant,
    last_cpu: Option<Duration>,
    run_lag: Histogram<u64>,
    run_max: u64,
    series: Vec<HealthSecond>,
}

impl Monitor {
    /// Start probing on the current tokio runtime; `start` is the run's clock origin. Outside a
    /// runtime no probe runs and lag reads 0.
    pub(crate) fn start(start: Instant) -> Self {
        let probe = Arc::new(Mutex::new(Probe {
            second: new_histogram(),
            pending: None,
        }));
        let task = tokio::runtime::Handle::try_current()
            .ok()
            .map(|rt| rt.spawn(run_probe(Arc::clone(&probe))).abort_handle());
        Self {
            cores: std::thread::available_parallelism().map_or(1, usize::from),
            probe,
            task,
            last: start,
            // CPU spent before `start` (parsing, stack start-up) is not the run's.
            last_cpu: process_cpu(),
            run_lag: new_histogram(),
            run_max: 0,
            series: Vec::new(),
        }
    }

    /// Close the current second: CPU and lag since the previous call, sockets now.
    pub(crate) fn sample(&mut self) -> HealthSecond {
        let now = Instant::now();
        let cpu_now = process_cpu();
        let cpu = match (self.last_cpu, cpu_now) {
            (Some(a), Some(b)) => cpu_fraction(b.saturating_sub(a), now - self.last, self.cores),
            _ => None,
        };
        let (lag_p99_us, lag_max_us) = {
            let mut p = lock(&self.probe);
            let overdue = p
                .pending
                .map_or(0, |d| micros(now.saturating_duration_since(d)));
            let (p99, max) = if p.second.is_empty() {
                (0, 0)
            } else {
                (p.second.value_at_quantile(0.99), p.second.max())
            };
            let max = max.max(overdue);
            // The run's figures leave out the first second, as the rule does ([`measured`]).
            if !self.series.is_empty() {
                // Same bounds on both sides: adding cannot fail.
                let _ = self.run_lag.add(&p.second);
                self.run_max = self.run_max.max(max);
            }
            p.second.reset();
            (p99, max)
        };
        let sample = HealthSecond {
            t: u32::try_from(self.series.len()).unwrap_or(u32::MAX),
            cpu,
            lag_p99_us,
            lag_max_us,
            connections: open_sockets(),
        };
        self.series.push(sample);
        self.last = now;
        self.last_cpu = cpu_now;
        sample
    }

    /// Stop the probe and judge the run from the samples taken (lag recorded after the last
    /// sample is not counted: call [`sample`](Self::sample) first to close the last second).
    pub(crate) fn finish(mut self) -> GeneratorHealth {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        let (bound, reasons) = judge(&self.series, self.cores);
        let cpus: Vec<f64> = measured(&self.series)
            .iter()
            .filter_map(|s| s.cpu)
            .collect();
        GeneratorHealth {
            cores: self.cores,
            bound,
            reasons,
            cpu_mean: (!cpus.is_empty()).then(|| cpus.iter().sum::<f64>() / cpus.len() as f64),
            lag_p99_us: if self.run_lag.is_empty() {
                0
            } else {
                self.run_lag.value_at_quantile(0.99)
            },
            lag_max_us: self.run_max,
            series: std::mem::take(&mut self.series),
        }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// Sleep, wake, record how late: forever (until aborted).
async fn run_probe(probe: Arc<Mutex<Probe>>) {
    loop {
        let deadline = Instant::now() + PROBE_PERIOD;
        lock(&probe).pending = Some(deadline);
        tokio::time::sleep_until(deadline.into()).await;
        let late = Instant::now().saturating_duration_since(deadline);
        let mut p = lock(&probe);
        p.pending = None;
        record(&mut p.second, late);
    }
}

/// The seconds the rule looks at: all but the first (start-up).
fn measured(series: &[HealthSecond]) -> &[HealthSecond] {
    series.get(1..).unwrap_or_default()
}

/// The rule, pure: given the per-second samples and the core count, is the run generator-bound,
/// and why. See the module documentation for the thresholds and their reasons.
pub(crate) fn judge(series: &[HealthSecond], cores: usize) -> (bool, Vec<String>) {
    let seconds = measured(series);
    let n = seconds.len();
    let needed = MIN_BAD_SECONDS.max((BAD_SHARE * n as f64).ceil() as usize);
    let mut reasons = Vec::new();
    let hot = seconds
        .iter()
        .filter(|s| s.cpu.is_some_and(|c| c >= CPU_BUSY))
        .count();
    if hot >= needed {
        reasons.push(format!(
            "CPU at ≥ {:.0} % of {cores} {} in {hot} of {n} s",
            CPU_BUSY * 100.0,
            if cores == 1 { "core" } else { "cores" },
        ));
    }
    let limit = micros(LAG_P99_LIMIT);
    let late = seconds.iter().filter(|s| s.lag_p99_us > limit).count();
    if late >= needed {
        reasons.push(format!(
            "runtime lag p99 above {} ms in {late} of {n} s",
            limit / 1000
        ));
    }
    if let Some(worst) = seconds.iter().max_by_key(|s| s.lag_max_us)
        && worst.lag_max_us > micros(STALL_LIMIT)
    {
        reasons.push(format!(
            "runtime stalled {} ms at {} s",
            worst.lag_max_us / 1000,
            worst.t
        ));
    }
    (!reasons.is_empty(), reasons)
}

/// CPU time over wall time over cores; `None` for an interval too short to mean anything.
fn cpu_fraction(cpu: Duration, wall: Duration, cores: usize) -> Option<f64> {
    (wall >= Duration::from_millis(100))
        .then(|| cpu.as_secs_f64() / wall.as_secs_f64() / cores.max(1) as f64)
}

/// CPU time (user + system, all threads) the process has used so far.
fn process_cpu() -> Option<Duration> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let ticks = parse_stat_cpu_ticks(&stat)?;
    Some(Duration::from_millis(ticks.checked_mul(1000 / USER_HZ)?))
}

/// `utime + stime` (fields 14 and 15, clock ticks) of a `/proc/<pid>/stat` line. The command
/// name (field 2) may hold spaces and parentheses, so fields are counted after its last `)`.
fn parse_stat_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace().skip(11); // field 3 is the first after `)`
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    utime.checked_add(stime)
}

/// Open sockets of this process (listeners and both ends of in-process connections included).
fn open_sockets() -> Option<u64> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let fds = std::fs::read_dir("/proc/self/fd").ok()?;
    // A descriptor closed between listing and reading its link is simply not counted.
    let count = fds
        .filter_map(Result::ok)
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .filter(|target| is_socket(target))
        .count();
    u64::try_from(count).ok()
}

/// Whether a `/proc/self/fd` link target names a socket (`socket:[inode]`).
fn is_socket(target: &Path) -> bool {
    target
        .as_os_str()
        .as_encoded_bytes()
        .starts_with(b"socket:")
}

/// Whole µs, saturating.
fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// The probe state, even if a holder panicked (it only holds counters).
fn lock(probe: &Mutex<Probe>) -> MutexGuard<'_, Probe> {
    probe.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spin(d: Duration) {
        let t = Instant::now();
        while t.elapsed() < d {
            std::hint::spin_loop();
        }
    }

    fn experiment(name: &str, load: fn(&tokio::runtime::Runtime)) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let stop = {
            let _g = rt.enter();
            let mut m = Monitor::start(Instant::now());
            load(&rt);
            for _ in 0..5 {
                std::thread::sleep(Duration::from_secs(1));
                m.sample();
            }
            m.finish()
        };
        rt.shutdown_timeout(Duration::from_millis(100));
        println!(
            "== {name}: cores {} cpu_mean {:?} p99 {} max {} bound {} {:?}",
            stop.cores, stop.cpu_mean, stop.lag_p99_us, stop.lag_max_us, stop.bound, stop.reasons
        );
        for s in &stop.series {
            println!("   {s:?}");
        }
    }

    #[test]
    #[ignore]
    fn measure() {
        experiment("idle", |_| {});
        experiment("half: one yielding spinner", |rt| {
            rt.spawn(async {
                loop {
                    spin(Duration::from_micros(100));
                    tokio::task::yield_now().await;
                }
            });
        });
        experiment("yielding spinners x4", |rt| {
            for _ in 0..4 {
                rt.spawn(async {
                    loop {
                        spin(Duration::from_micros(100));
                        tokio::task::yield_now().await;
                    }
                });
            }
        });
        experiment("yielding x4 + 5ms blockers x2", |rt| {
            for _ in 0..4 {
                rt.spawn(async {
                    loop {
                        spin(Duration::from_micros(100));
                        tokio::task::yield_now().await;
                    }
                });
            }
            for _ in 0..2 {
                rt.spawn(async {
                    loop {
                        spin(Duration::from_millis(5));
                        tokio::task::yield_now().await;
                    }
                });
            }
        });
    }
}
