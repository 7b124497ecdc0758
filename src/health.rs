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
//!   1 ms tick, so even an idle runtime reads 1–1.5 ms; the thresholds sit well above that floor.
//! - **Sockets**: entries of `/proc/self/fd` that are sockets (`None` off Linux).
//! - **Run-queue wait**: time this process's threads were ready but waited for a CPU
//!   (`/proc/self/task/*/schedstat`), per second of wall time; and how busy the host's CPUs were
//!   (`/proc/stat`). A generator sharing a host with its target rarely reaches 90 % of the cores
//!   itself, but when the host is saturated its threads queue for a CPU, and that wait sits
//!   inside every timing it takes.
//!
//! The rule ([`judge`]) skips the first second (users start, connections open: start-up work,
//! not steady load) and calls the run *generator-bound* when any of these holds:
//! - CPU ≥ [`CPU_BUSY`] of the available cores in at least [`BAD_SHARE`] of the measured seconds
//!   (and at least [`MIN_BAD_SECONDS`]): a generator at its cores' limit queues its own work, even
//!   when tokio's fair scheduling keeps the probe's lag low;
//! - the host's CPUs are ≥ [`HOST_BUSY`] busy and this process's threads wait ≥ [`WAIT_LIMIT`]
//!   of a second for a CPU, in that many seconds (measured, release build, 2 shared cores, an
//!   axum hello-world target on the same host: 50 closed users without think time read host
//!   93–96 % busy and 0.44–0.60 s of wait a second — flagged; 50 users thinking 10 ms, 4 100
//!   req/s, read 21–25 % and 0.17–0.20 s; 2 users, 300 req/s, 4–8 % and 0.03–0.05 s);
//! - the probe's per-second p99 lag exceeds [`LAG_P99_LIMIT`] in that many seconds: ready tasks
//!   (responses to time, arrivals to start) waited that long; 5 ms is also the open model's
//!   lateness tolerance (`driver::open::LATE_AFTER`);
//! - one wake-up, in any measured second, was later than [`STALL_LIMIT`]: a stall that long
//!   shows in the measured tail however brief.
//!
//! One hot second passes (a GC pause in an in-process target, a noisy neighbour): that is not a
//! generator that cannot keep up. The thresholds separate an idle runtime from one saturated on
//! purpose (2 worker threads, 2 cores, debug build, 5 s each):
//!
//! | runtime                                    | CPU   | lag p99 / s  | lag max  |
//! | ------------------------------------------ | ----- | ------------ | -------- |
//! | idle, quiet machine                        | 0.01  | 1.3–1.4 ms   | 3.8 ms   |
//! | one task spinning, yielding every 100 µs   | 0.63  | 1.1–3.4 ms   | 5.4 ms   |
//! | four such tasks                            | 0.99  | 1.2 ms       | 1.3 ms   |
//! | four such + two never yielding for 5 ms    | 0.98  | 6.1–10.5 ms  | 16 ms    |
//! | idle, machine loaded (load 3–4, 2 cores)   | 0.01  | 1.3–5.0 ms   | 7.3 ms   |
//! | four spinners, machine loaded              | 0.50  | 3.6–5.8 ms   | 8.2 ms   |
//! | four + two 5 ms blockers, machine loaded   | 0.49  | 10.9–14.7 ms | 14.8 ms  |
//!
//! On a machine shared with other processes the generator cannot reach 90 % of its cores: the
//! host and lag rules carry the verdict there, and the delay they see is real delay in the
//! results, so a machine loaded enough that even idle wake-ups run 5 ms late is rightly reported.
//!
//! Invariant: measuring never fails a run; what cannot be read is `None`.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::results::{GeneratorHealth, HealthSecond, new_histogram, record};

/// How long the lag probe sleeps between wake-ups.
pub(crate) const PROBE_PERIOD: Duration = Duration::from_millis(5);
/// CPU fraction of the available cores from which a second counts as saturated.
pub(crate) const CPU_BUSY: f64 = 0.90;
/// Per-second p99 lag above which a second counts as late.
pub(crate) const LAG_P99_LIMIT: Duration = Duration::from_millis(5);
/// Whole-run worst lag above which the run is bound, however brief.
pub(crate) const STALL_LIMIT: Duration = Duration::from_millis(50);
/// Run-queue wait (fraction of a second, summed over threads) from which a second counts as
/// starved.
pub(crate) const WAIT_LIMIT: f64 = 0.10;
/// Host CPU busy fraction from which, with [`WAIT_LIMIT`], a second counts as starved.
pub(crate) const HOST_BUSY: f64 = 0.90;
/// Share of measured seconds that must be saturated or late.
pub(crate) const BAD_SHARE: f64 = 0.20;
/// Fewest saturated or late seconds that make a run bound.
pub(crate) const MIN_BAD_SECONDS: usize = 2;
/// Clock ticks per second of `/proc/*/stat` times (`USER_HZ`, 100 on every Linux architecture
/// we build for).
const USER_HZ: u64 = 100;

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
    last_wait: Option<Duration>,
    last_host: Option<HostTicks>,
    run_lag: Histogram<u64>,
    run_max: u64,
    series: Vec<HealthSecond>,
}

impl Monitor {
    /// Start probing on the current tokio runtime; `start` is the run's clock origin (call this
    /// right then: CPU counts from the call, the first second's wall time from `start`). Outside
    /// a runtime no probe runs and lag reads 0.
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
            last_wait: run_queue_wait(),
            last_host: host_ticks(),
            run_lag: new_histogram(),
            run_max: 0,
            series: Vec::new(),
        }
    }

    /// Close the current second: CPU and lag since the previous call, sockets now.
    pub(crate) fn sample(&mut self) -> HealthSecond {
        let now = Instant::now();
        let cpu_now = process_cpu();
        let wait_now = run_queue_wait();
        let host_now = host_ticks();
        let host_busy = match (self.last_host, host_now) {
            (Some(a), Some(b)) => b.busy_since(a),
            _ => None,
        };
        let wall = now.saturating_duration_since(self.last);
        let wait = match (self.last_wait, wait_now) {
            (Some(a), Some(b)) if wall >= Duration::from_millis(100) => {
                Some(b.saturating_sub(a).as_secs_f64() / wall.as_secs_f64())
            }
            _ => None,
        };
        let cpu = match (self.last_cpu, cpu_now) {
            (Some(a), Some(b)) => cpu_fraction(
                b.saturating_sub(a),
                now.saturating_duration_since(self.last),
                self.cores,
            ),
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
            wait,
            host_busy,
        };
        self.series.push(sample);
        self.last = now;
        self.last_cpu = cpu_now;
        self.last_wait = wait_now;
        self.last_host = host_now;
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
    let starved: Vec<&HealthSecond> = seconds
        .iter()
        .filter(|s| {
            s.host_busy.is_some_and(|b| b >= HOST_BUSY) && s.wait.is_some_and(|w| w >= WAIT_LIMIT)
        })
        .collect();
    if starved.len() >= needed {
        let wait = starved.iter().filter_map(|s| s.wait).sum::<f64>() / starved.len() as f64;
        reasons.push(format!(
            "host CPUs ≥ {:.0} % busy in {} of {n} s, kneepoint's threads waiting {:.0} ms a \
             second for a CPU: that wait is inside every timing",
            HOST_BUSY * 100.0,
            starved.len(),
            wait * 1000.0
        ));
    }
    let limit = micros(LAG_P99_LIMIT);
    let late = seconds.iter().filter(|s| s.lag_p99_us > limit).count();
    if late >= needed {
        reasons.push(format!(
            "runtime lag p99 above {} ms in {late} of {n} s: ready tasks waited that long to run",
            limit / 1000
        ));
    }
    if let Some(worst) = seconds.iter().max_by_key(|s| s.lag_max_us)
        && worst.lag_max_us > micros(STALL_LIMIT)
    {
        reasons.push(format!(
            "runtime stalled {} ms at {} s: no task ran meanwhile",
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
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_ascii_whitespace().skip(11); // field 3 is the first after `)`
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    utime.checked_add(stime)
}

/// Time this process's threads have spent ready to run but waiting for a CPU (the second field
/// of each `/proc/self/task/*/schedstat`, ns), summed. A thread that ended takes its share
/// along; the sum only ever drops then, and a drop reads as no wait.
fn run_queue_wait() -> Option<Duration> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    let ns: u64 = tasks
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|text| parse_schedstat_wait(&text))
        .sum();
    Some(Duration::from_nanos(ns))
}

/// The host's CPU time counters (`/proc/stat`, first line), in clock ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct HostTicks {
    busy: u64,
    total: u64,
}

impl HostTicks {
    /// Busy share of the host's CPU time between `earlier` and `self`.
    fn busy_since(self, earlier: Self) -> Option<f64> {
        let total = self.total.checked_sub(earlier.total)?;
        let busy = self.busy.checked_sub(earlier.busy)?;
        (total > 0).then(|| busy as f64 / total as f64)
    }
}

fn host_ticks() -> Option<HostTicks> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    parse_proc_stat(&std::fs::read_to_string("/proc/stat").ok()?)
}

/// `cpu  user nice system idle iowait irq softirq steal …`: busy is everything but idle and
/// iowait.
fn parse_proc_stat(text: &str) -> Option<HostTicks> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_ascii_whitespace()
        .skip(1)
        .take(8)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    let total: u64 = fields.iter().sum();
    let idle = fields.get(3)? + fields.get(4)?;
    Some(HostTicks {
        busy: total.checked_sub(idle)?,
        total,
    })
}

/// The run-queue wait (second field, ns) of a `schedstat` line: `run_ns wait_ns slices`.
fn parse_schedstat_wait(text: &str) -> Option<u64> {
    text.split_ascii_whitespace().nth(1)?.parse().ok()
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

    /// Process CPU is shared by every test of the process: the tests that read it take turns.
    static CPU: Mutex<()> = Mutex::new(());

    /// `n` seconds of a healthy run: a third of the cores, 1.2 ms lag.
    fn clean(n: u32) -> Vec<HealthSecond> {
        (0..n)
            .map(|t| HealthSecond {
                t,
                cpu: Some(0.3),
                lag_p99_us: 1_200,
                lag_max_us: 2_000,
                connections: Some(10),
                wait: Some(0.04),
                host_busy: Some(0.25),
            })
            .collect()
    }

    /// `second` with every core busy and the runtime lagging this much (p99 and max, µs).
    fn lagging(second: HealthSecond, lag_p99_us: u64, lag_max_us: u64) -> HealthSecond {
        HealthSecond {
            cpu: Some(1.0),
            lag_p99_us,
            lag_max_us,
            ..second
        }
    }

    #[track_caller]
    fn check(series: &[HealthSecond], expect: &[&str]) {
        let (bound, reasons) = judge(series, 2);
        assert_eq!(bound, !expect.is_empty(), "{reasons:?}");
        assert_eq!(reasons.len(), expect.len(), "{reasons:?}");
        for (reason, word) in reasons.iter().zip(expect) {
            assert!(reason.contains(word), "{reason:?} should name {word}");
        }
    }

    #[test]
    fn clean_run_is_not_bound() {
        check(&clean(10), &[]);
        check(&[], &[]);
    }

    #[test]
    fn saturated_cpu_seconds_bind() {
        let mut s = clean(11);
        for x in &mut s[4..7] {
            x.cpu = Some(0.93);
        }
        check(&s, &["CPU"]);
        let (_, reasons) = judge(&s, 2);
        assert_eq!(reasons[0], "CPU at ≥ 90 % of 2 cores in 3 of 10 s");
        // 20 % of the measured seconds: 2 of 20 is not enough.
        let mut s = clean(21);
        for x in &mut s[4..6] {
            x.cpu = Some(1.0);
        }
        check(&s, &[]);
        s[6].cpu = Some(0.9);
        s[7].cpu = Some(0.95);
        check(&s, &["CPU"]);
    }

    #[test]
    fn late_seconds_bind() {
        let mut s = clean(10);
        for x in &mut s[2..5] {
            x.lag_p99_us = 8_000;
            x.lag_max_us = 12_000;
        }
        check(&s, &["lag"]);
        // At the limit is not above it.
        for x in &mut s[2..5] {
            x.lag_p99_us = 5_000;
        }
        check(&s, &[]);
    }

    #[test]
    fn a_saturated_host_binds_when_kneepoint_waits_for_a_cpu() {
        // Measured: 50 closed users on a hello-world target sharing 2 cores read host 93–96 %
        // busy and 0.44–0.60 s of run-queue wait a second; at 4 000 req/s, 21–25 % and 0.2.
        let mut s = clean(10);
        for x in &mut s[1..9] {
            x.host_busy = Some(0.95);
            x.wait = Some(0.5);
        }
        check(&s, &["host CPUs"]);
        // A busy host whose CPUs kneepoint does not wait for, or waiting on an idle host: no.
        for x in &mut s[1..9] {
            x.wait = Some(0.05);
        }
        check(&s, &[]);
        for x in &mut s[1..9] {
            x.host_busy = Some(0.5);
            x.wait = Some(0.5);
        }
        check(&s, &[]);
    }

    #[test]
    fn parses_host_ticks_and_run_queue_wait() {
        let stat = "cpu  100 5 50 800 20 3 2 10 0 0\ncpu0 50 2 25 400 10 1 1 5 0 0\n";
        let t = parse_proc_stat(stat).expect("parses");
        assert_eq!(
            t,
            HostTicks {
                busy: 170,
                total: 990
            }
        );
        let later = HostTicks {
            busy: 260,
            total: 1090,
        };
        assert_eq!(later.busy_since(t), Some(0.9));
        assert_eq!(parse_schedstat_wait("123456 7890 12\n"), Some(7890));
        assert_eq!(parse_schedstat_wait("garbage"), None);
    }

    #[test]
    fn one_spiky_second_is_not_bound_but_a_long_stall_is() {
        let mut s = clean(10);
        s[5] = lagging(s[5], 20_000, 40_000);
        check(&s, &[]);
        s[5].lag_max_us = 80_000;
        check(&s, &["stalled 80 ms at 5 s"]);
    }

    #[test]
    fn first_second_is_start_up() {
        let mut s = clean(5);
        s[0] = lagging(s[0], 90_000, 200_000);
        check(&s, &[]);
        // Both at once, and a platform without CPU figures.
        for x in &mut s {
            x.cpu = None;
            x.lag_p99_us = 9_000;
            x.lag_max_us = 60_000;
        }
        check(&s, &["lag", "stalled"]);
    }

    #[test]
    fn parses_cpu_ticks_after_the_command_name() {
        // Fields 14 and 15 are utime 7 and stime 3; the name holds `) ` to mislead a split.
        let stat = "42 (a) b (c)) S 1 42 42 0 -1 4194304 99 0 0 0 7 3 0 0 20 0 5 0 17028 3133440";
        assert_eq!(parse_stat_cpu_ticks(stat), Some(10));
        assert_eq!(parse_stat_cpu_ticks("42 (x) S 1 42 42 0 -1"), None);
        assert_eq!(parse_stat_cpu_ticks("garbage"), None);
        let real = std::fs::read_to_string("/proc/self/stat");
        assert_eq!(
            real.is_ok_and(|s| parse_stat_cpu_ticks(&s).is_some()),
            cfg!(target_os = "linux")
        );
    }

    #[test]
    fn recognises_socket_links() {
        assert!(is_socket(Path::new("socket:[12625]")));
        assert!(!is_socket(Path::new("pipe:[12625]")));
        assert!(!is_socket(Path::new("/tmp/socket:[1]")));
        assert!(!is_socket(Path::new("anon_inode:[eventpoll]")));
    }

    #[test]
    fn counts_an_open_listener() {
        let before = open_sockets();
        let listener = std::net::TcpListener::bind("127.0.0.1:0");
        if cfg!(target_os = "linux") {
            assert!(listener.is_ok());
            assert!(open_sockets() > before, "{before:?} → {:?}", open_sockets());
        } else {
            assert_eq!(before, None);
        }
    }

    #[test]
    fn cpu_fraction_is_per_core() {
        let s = Duration::from_secs(1);
        assert_eq!(cpu_fraction(s, s * 2, 2), Some(0.25));
        assert_eq!(cpu_fraction(s, s, 0), Some(1.0));
        assert_eq!(cpu_fraction(s, Duration::from_millis(10), 2), None);
    }

    fn multi_thread() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime")
    }

    #[test]
    fn idle_runtime_reads_little_cpu_and_some_lag() {
        let _turn = CPU.lock().unwrap_or_else(PoisonError::into_inner);
        let health = multi_thread().block_on(async {
            let mut monitor = Monitor::start(Instant::now());
            for _ in 0..2 {
                tokio::time::sleep(Duration::from_millis(500)).await;
                monitor.sample();
            }
            monitor.finish()
        });
        assert_eq!(health.series.len(), 2);
        assert_eq!(health.series[1].t, 1);
        if cfg!(target_os = "linux") {
            let cpu = health.cpu_mean.expect("CPU is read on Linux");
            assert!(cpu < 0.5, "{health:?}");
        }
        // The probe woke up and was measured.
        let s = health.series[1];
        assert!(s.lag_p99_us > 0 && s.lag_max_us >= s.lag_p99_us, "{s:?}");
        assert!(health.lag_max_us >= health.lag_p99_us && health.lag_p99_us > 0);
    }

    #[test]
    fn spinning_threads_read_busy() {
        let _turn = CPU.lock().unwrap_or_else(PoisonError::into_inner);
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let mut monitor = Monitor::start(Instant::now());
        std::thread::scope(|scope| {
            for _ in 0..cores {
                scope.spawn(|| {
                    let t = Instant::now();
                    while t.elapsed() < Duration::from_millis(600) {
                        std::hint::spin_loop();
                    }
                });
            }
        });
        let s = monitor.sample();
        if cfg!(target_os = "linux") {
            let cpu = s.cpu.expect("CPU is read on Linux");
            // Every core spun for 0.6 s: on a quiet machine ~1.0; other processes can take most
            // of it, so only "clearly busy" is asserted.
            assert!(cpu > 0.1, "{s:?}");
        } else {
            assert_eq!(s.cpu, None);
        }
        // Outside a runtime there is no probe: no lag.
        assert_eq!((s.lag_p99_us, s.lag_max_us), (0, 0));
    }

    #[test]
    fn a_starved_probe_counts_as_late() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        let health = runtime.block_on(async {
            let mut monitor = Monitor::start(Instant::now());
            monitor.sample();
            tokio::time::sleep(Duration::from_millis(20)).await;
            // Block the only thread: the probe's sleep is due but cannot be woken.
            std::thread::sleep(Duration::from_millis(300));
            let s = monitor.sample();
            assert!(s.lag_max_us >= 250_000, "{s:?}");
            monitor.finish()
        });
        assert!(health.bound, "{health:?}");
        assert!(health.reasons[0].contains("stalled"), "{health:?}");
    }
}
