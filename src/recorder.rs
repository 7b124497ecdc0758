//! The recorder: every latency into HdrHistograms per scope × stage, plus a per-second series.
//!
//! Invariant: memory does not grow with the number of requests — only with scopes × stages and
//! the run's length in seconds. Users record into one of a few striped accumulators (short lock,
//! no allocation on success); a collector drains the stripes once a second into per-stage totals
//! and one [`SecondSample`], so totals are exact sums of what was recorded.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::plan::Plan;
use crate::results::{
    self, ArrivalStats, ErrorCount, ErrorKind, LatencySummary, ResultsError, ScopeKind,
    ScopeResults, ScopeStats, SecondSample, SerializedHistogram, StageRecord,
};
use crate::scenario::model::Transaction;

const ERROR_KINDS: [ErrorKind; 5] = [
    ErrorKind::Connect,
    ErrorKind::Timeout,
    ErrorKind::Status,
    ErrorKind::Check,
    ErrorKind::Other,
];
const MAX_SAMPLES: usize = 5;

fn kind_index(kind: ErrorKind) -> usize {
    match kind {
        ErrorKind::Connect => 0,
        ErrorKind::Timeout => 1,
        ErrorKind::Status => 2,
        ErrorKind::Check => 3,
        ErrorKind::Other => 4,
    }
}

/// Scope names and ids: 0 is overall, then one per transaction, then one per request.
#[derive(Debug, Clone)]
pub struct Scopes {
    names: Vec<(ScopeKind, String)>,
    requests: Vec<Vec<usize>>,
}

impl Scopes {
    /// Scopes of a scenario's transactions.
    pub fn new(transactions: &[Transaction]) -> Self {
        let mut names = vec![(ScopeKind::Overall, "overall".to_owned())];
        names.extend(
            transactions
                .iter()
                .map(|t| (ScopeKind::Transaction, t.name.clone())),
        );
        let mut requests = Vec::with_capacity(transactions.len());
        for t in transactions {
            let ids = t
                .requests
                .iter()
                .map(|r| {
                    names.push((ScopeKind::Request, format!("{}/{}", t.name, r.name)));
                    names.len() - 1
                })
                .collect();
            requests.push(ids);
        }
        Self { names, requests }
    }

    /// Scope id of transaction `t`.
    pub fn transaction(&self, t: usize) -> usize {
        1 + t
    }

    /// Scope id of request `r` of transaction `t`.
    pub fn request(&self, t: usize, r: usize) -> usize {
        self.requests[t][r]
    }

    /// Number of scopes.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether there are no scopes (never: overall always exists).
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// How one request or transaction ended.
#[derive(Debug, Clone, Copy)]
pub struct Ended<'a> {
    /// When it ended (the recorder files it under the second and stage of this instant).
    pub at: Instant,
    /// From the actual send to the last byte of the body.
    pub latency: Duration,
    /// Open model: from the intended start to the last byte.
    pub intended: Option<Duration>,
    /// HTTP status, if a response arrived.
    pub status: Option<u16>,
    /// Failure kind and message, if it failed.
    pub error: Option<(ErrorKind, &'a str)>,
}

/// One scope's accumulator. Successful responses (OK) and failures (KO) are kept apart: a
/// refused connection takes 0.2 ms, and mixed in it would make a dying target look fast.
#[derive(Debug, Clone)]
struct ScopeAcc {
    /// Successful responses, from the actual send.
    hist: Histogram<u64>,
    /// Failures of any kind, from the actual send.
    failed: Histogram<u64>,
    /// Open model: successful responses from the intended start.
    intended: Option<Histogram<u64>>,
    count: u64,
    errors: [u64; 5],
    status: Vec<(u16, u64)>,
}

impl ScopeAcc {
    fn new(open: bool) -> Self {
        Self {
            hist: results::new_histogram(),
            failed: results::new_histogram(),
            intended: open.then(results::new_histogram),
            count: 0,
            errors: [0; 5],
            status: Vec::new(),
        }
    }

    fn record(&mut self, o: &Ended<'_>) {
        self.count += 1;
        if let Some((kind, _)) = o.error {
            results::record(&mut self.failed, o.latency);
            self.errors[kind_index(kind)] += 1;
        } else {
            results::record(&mut self.hist, o.latency);
            if let (Some(h), Some(d)) = (self.intended.as_mut(), o.intended) {
                results::record(h, d);
            }
        }
        if let Some(code) = o.status {
            match self.status.iter_mut().find(|(c, _)| *c == code) {
                Some((_, n)) => *n += 1,
                None => self.status.push((code, 1)),
            }
        }
    }

    fn add(&mut self, other: &Self) {
        // All histograms share bounds, so `add` cannot fail.
        let _ = self.hist.add(&other.hist);
        let _ = self.failed.add(&other.failed);
        if let (Some(a), Some(b)) = (self.intended.as_mut(), other.intended.as_ref()) {
            let _ = a.add(b);
        }
        self.count += other.count;
        for (a, b) in self.errors.iter_mut().zip(other.errors) {
            *a += b;
        }
        for &(code, n) in &other.status {
            match self.status.iter_mut().find(|(c, _)| *c == code) {
                Some((_, m)) => *m += n,
                None => self.status.push((code, n)),
            }
        }
    }

    fn reset(&mut self) {
        self.hist.reset();
        self.failed.reset();
        if let Some(h) = self.intended.as_mut() {
            h.reset();
        }
        self.count = 0;
        self.errors = [0; 5];
        self.status.clear();
    }

    fn error_count(&self) -> u64 {
        self.errors.iter().sum()
    }
}

#[derive(Debug)]
struct Stripe {
    stage: usize,
    scopes: Vec<ScopeAcc>,
    dirty: bool,
    /// Offset of this stripe's latest record from the start.
    last: Duration,
}

#[derive(Debug)]
struct Central {
    stages: Vec<Vec<ScopeAcc>>,
    second: ScopeAcc,
    series: Vec<SecondSample>,
    samples: BTreeMap<(usize, usize), Vec<String>>,
    last_tick: Duration,
    live: Live,
}

/// Numbers for the progress line.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Live {
    /// Seconds since the start.
    pub elapsed: Duration,
    /// Stage running.
    pub stage: usize,
    /// Requests in the last second.
    pub rps: u64,
    /// P95 of the last second, µs.
    pub p95_us: u64,
    /// Requests so far.
    pub requests: u64,
    /// Errors so far.
    pub errors: u64,
    /// Requests ended in the last tick that got an HTTP response (whatever its status).
    pub answered: u64,
    /// Requests ended in the last tick without any response (refused, reset, timed out).
    pub unanswered: u64,
}

/// Shared, thread-safe recorder for one run.
#[derive(Debug)]
pub struct Recorder {
    plan: Plan,
    scopes: Scopes,
    /// When the recorder was made: the clock's origin until the load [begins](Self::begin).
    created: Instant,
    /// When the load began.
    began: OnceLock<Instant>,
    /// Closed model: users running now (launched, not retired or stopped).
    users: AtomicU64,
    stripes: Vec<Mutex<Stripe>>,
    central: Mutex<Central>,
    late_second: AtomicU64,
    arrivals: Mutex<ArrivalStats>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain counters; keep going with them.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Recorder {
    /// A recorder for `plan`'s stages and these scopes; the run's clock starts now.
    pub fn new(plan: Plan, scopes: Scopes, stripes: usize) -> Self {
        let open = plan.open;
        let n = scopes.len();
        let stage_count = plan.stages.len().max(1);
        Self {
            stripes: (0..stripes.max(1))
                .map(|_| {
                    Mutex::new(Stripe {
                        stage: 0,
                        scopes: (0..n).map(|_| ScopeAcc::new(open)).collect(),
                        dirty: false,
                        last: Duration::ZERO,
                    })
                })
                .collect(),
            central: Mutex::new(Central {
                stages: (0..stage_count)
                    .map(|_| (0..n).map(|_| ScopeAcc::new(open)).collect())
                    .collect(),
                second: ScopeAcc::new(open),
                series: Vec::new(),
                samples: BTreeMap::new(),
                last_tick: Duration::ZERO,
                live: Live::default(),
            }),
            plan,
            scopes,
            created: Instant::now(),
            began: OnceLock::new(),
            users: AtomicU64::new(0),
            late_second: AtomicU64::new(0),
            arrivals: Mutex::new(ArrivalStats::default()),
        }
    }

    /// The run's start instant: when the load began (see [`Self::begin`]), or when the
    /// recorder was made while it has not.
    pub fn start(&self) -> Instant {
        self.began.get().copied().unwrap_or(self.created)
    }

    /// The load begins now: the plan's clock, the series and the measured window start here.
    /// Only the first call counts. The driver calls it once its users can serve the plan, so
    /// launching them is never inside the measured window.
    pub fn begin(&self) {
        let _ = self.began.set(Instant::now());
    }

    /// Whether [`Self::begin`] was called.
    pub fn has_begun(&self) -> bool {
        self.began.get().is_some()
    }

    /// A user started running (closed model); the series reports users actually running.
    pub fn user_started(&self) {
        self.users.fetch_add(1, Ordering::Relaxed);
    }

    /// A user stopped or retired.
    pub fn user_stopped(&self) {
        self.users.fetch_sub(1, Ordering::Relaxed);
    }

    /// How long after the start the latest request or transaction ended (zero before any).
    pub fn last_record(&self) -> Duration {
        self.stripes
            .iter()
            .map(|s| lock(s).last)
            .max()
            .unwrap_or_default()
    }

    /// The plan being recorded.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The scope table.
    pub fn scopes(&self) -> &Scopes {
        &self.scopes
    }

    /// How many stripes users spread their records over (a user records into its index modulo
    /// this).
    pub fn stripe_count(&self) -> usize {
        self.stripes.len()
    }

    /// Record a request of transaction `t`, request `r` (also counted in overall).
    pub fn record_request(&self, stripe: usize, t: usize, r: usize, o: &Ended<'_>) {
        let scope = self.scopes.request(t, r);
        self.record(stripe, &[0, scope], o);
    }

    /// Record a whole transaction `t`.
    pub fn record_transaction(&self, stripe: usize, t: usize, o: &Ended<'_>) {
        self.record(stripe, &[self.scopes.transaction(t)], o);
    }

    fn record(&self, stripe: usize, ids: &[usize], o: &Ended<'_>) {
        let now = o.at.saturating_duration_since(self.start());
        let stage = self.plan.stage_at(now);
        let mut s = lock(&self.stripes[stripe % self.stripes.len()]);
        s.last = s.last.max(now);
        if s.stage != stage && s.dirty {
            self.flush_stripe(&mut s);
        }
        s.stage = stage;
        s.dirty = true;
        for &id in ids {
            s.scopes[id].record(o);
        }
        drop(s);
        if let Some((kind, message)) = o.error {
            let mut c = lock(&self.central);
            for &id in ids {
                let samples = c.samples.entry((id, kind_index(kind))).or_default();
                if samples.len() < MAX_SAMPLES && !samples.iter().any(|m| m == message) {
                    samples.push(message.to_owned());
                }
            }
        }
    }

    /// Open model: an arrival started `lag` after it was due; `late` says whether that counts.
    pub fn record_arrival(&self, lag: Duration, late: bool) {
        let mut a = lock(&self.arrivals);
        a.started += 1;
        a.max_lag_us = a
            .max_lag_us
            .max(u64::try_from(lag.as_micros()).unwrap_or(u64::MAX));
        if late {
            a.late += 1;
            self.late_second.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Open model: set how many arrivals the schedule asked for by the end.
    pub fn set_scheduled(&self, scheduled: u64) {
        let mut a = lock(&self.arrivals);
        a.scheduled = scheduled;
        a.missed = scheduled.saturating_sub(a.started);
    }

    fn flush_stripe(&self, s: &mut Stripe) {
        let mut c = lock(&self.central);
        let stage = s.stage.min(c.stages.len() - 1);
        for (id, acc) in s.scopes.iter_mut().enumerate() {
            if acc.count == 0 {
                continue;
            }
            c.stages[stage][id].add(acc);
            if id == 0 {
                c.second.add(acc);
            }
            acc.reset();
        }
        s.dirty = false;
    }

    /// Drain every stripe and close the current second of the series. Call about once a second.
    pub fn tick(&self) -> Live {
        for stripe in &self.stripes {
            let mut s = lock(stripe);
            if s.dirty {
                self.flush_stripe(&mut s);
            }
        }
        let elapsed = self.start().elapsed();
        let late = self.late_second.swap(0, Ordering::Relaxed);
        let mut c = lock(&self.central);
        let t = u32::try_from(c.series.len()).unwrap_or(u32::MAX);
        let h = &c.second.hist;
        let (p50, p95, p99) = if h.is_empty() {
            (0, 0, 0)
        } else {
            (
                h.value_at_quantile(0.5),
                h.value_at_quantile(0.95),
                h.value_at_quantile(0.99),
            )
        };
        // Normalise to a full second so a short last tick does not read as a drop in rate.
        let span = elapsed.saturating_sub(c.last_tick).as_secs_f64().max(1e-3);
        let sample = SecondSample {
            t,
            requests: c.second.count,
            errors: c.second.error_count(),
            p50_us: p50,
            p95_us: p95,
            p99_us: p99,
            // Closed: the users actually running; open: the arrival rate asked for (late
            // arrivals are counted beside it).
            #[allow(clippy::cast_precision_loss)]
            load: if self.plan.open {
                self.plan.load_at(elapsed.min(self.plan.duration))
            } else {
                self.users.load(Ordering::Relaxed) as f64
            },
            late,
        };
        let answered: u64 = c.second.status.iter().map(|(_, n)| n).sum();
        let (requests, errors) = c
            .stages
            .iter()
            .fold((0, 0), |(r, e), s| (r + s[0].count, e + s[0].error_count()));
        let live = Live {
            elapsed,
            stage: self.plan.stage_at(elapsed),
            // Rounded requests per second of the last tick.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            rps: (c.second.count as f64 / span).round() as u64,
            p95_us: p95,
            requests,
            errors,
            answered,
            unanswered: c.second.count - answered,
        };
        c.series.push(sample);
        c.second.reset();
        c.last_tick = elapsed;
        c.live = live;
        live
    }

    /// The latest live numbers.
    pub fn live(&self) -> Live {
        lock(&self.central).live
    }

    /// Results so far: per scope over the whole run, per stage that has started, the series and
    /// the arrivals. `measured` is the wall time the throughput is computed over.
    pub fn snapshot(&self, measured: Duration) -> Result<Snapshot, ResultsError> {
        for stripe in &self.stripes {
            let mut s = lock(stripe);
            if s.dirty {
                self.flush_stripe(&mut s);
            }
        }
        let c = lock(&self.central);
        let secs = measured.as_secs_f64();
        let mut totals: Vec<ScopeAcc> = (0..self.scopes.len())
            .map(|_| ScopeAcc::new(self.plan.open))
            .collect();
        let mut stages = Vec::new();
        for (index, accs) in c.stages.iter().enumerate() {
            for (t, a) in totals.iter_mut().zip(accs) {
                t.add(a);
            }
            let Some(ps) = self.plan.stages.get(index) else {
                continue;
            };
            if ps.start > measured {
                break;
            }
            // Requests finished after the plan's end (goose stops within about a second) belong
            // to the last stage, so its span runs to the end of the measurement.
            let last = index + 1 == self.plan.stages.len();
            let end = if last {
                measured.max(ps.start)
            } else {
                ps.end.min(measured)
            };
            let span = end.saturating_sub(ps.start).as_secs_f64();
            stages.push(StageRecord {
                index,
                name: ps.name.clone(),
                start_s: ps.start.as_secs_f64(),
                end_s: end.as_secs_f64(),
                target: ps.target,
                scopes: self.scope_results(accs, span, &c.samples)?,
            });
        }
        Ok(Snapshot {
            scopes: self.scope_results(&totals, secs, &c.samples)?,
            stages,
            // A second that began after the measured window and saw nothing (the drive's
            // wind-down) is not part of the run.
            series: c
                .series
                .iter()
                .filter(|s| f64::from(s.t) < secs || s.requests > 0)
                .cloned()
                .collect(),
            arrivals: self.plan.open.then(|| lock(&self.arrivals).clone()),
        })
    }

    fn scope_results(
        &self,
        accs: &[ScopeAcc],
        secs: f64,
        samples: &BTreeMap<(usize, usize), Vec<String>>,
    ) -> Result<Vec<ScopeResults>, ResultsError> {
        accs.iter()
            .zip(&self.scopes.names)
            .enumerate()
            .map(|(id, (acc, (kind, name)))| {
                let errors = acc.error_count();
                #[allow(clippy::cast_precision_loss)]
                let stats = ScopeStats {
                    requests: acc.count,
                    errors,
                    error_rate: if acc.count == 0 {
                        0.0
                    } else {
                        errors as f64 / acc.count as f64
                    },
                    throughput_rps: if secs > 0.0 {
                        acc.count as f64 / secs
                    } else {
                        0.0
                    },
                    latency_us: LatencySummary::from_histogram(&acc.hist),
                    failed_latency_us: (errors > 0)
                        .then(|| LatencySummary::from_histogram(&acc.failed)),
                    intended_latency_us: acc.intended.as_ref().map(LatencySummary::from_histogram),
                };
                let mut status: Vec<_> = acc.status.clone();
                status.sort_unstable();
                Ok(ScopeResults {
                    kind: *kind,
                    name: name.clone(),
                    stats,
                    status_codes: status.iter().map(|(c, n)| (c.to_string(), *n)).collect(),
                    errors: ERROR_KINDS
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| acc.errors[*i] > 0)
                        .map(|(i, kind)| ErrorCount {
                            kind: *kind,
                            count: acc.errors[i],
                            samples: samples.get(&(id, i)).cloned().unwrap_or_default(),
                        })
                        .collect(),
                    histogram: SerializedHistogram::encode(&acc.hist)?,
                    failed_histogram: (errors > 0)
                        .then(|| SerializedHistogram::encode(&acc.failed))
                        .transpose()?,
                    intended_histogram: acc
                        .intended
                        .as_ref()
                        .map(SerializedHistogram::encode)
                        .transpose()?,
                })
            })
            .collect()
    }
}

/// What a snapshot yields for the results file.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Whole-run scopes.
    pub scopes: Vec<ScopeResults>,
    /// Stages that have started.
    pub stages: Vec<StageRecord>,
    /// The per-second series so far.
    pub series: Vec<SecondSample>,
    /// Open model arrivals.
    pub arrivals: Option<ArrivalStats>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::model::{ClosedLoad, HttpMethod, Load, LoadModel, RequestSpec, Stage};
    use crate::template::Template;

    fn txn(name: &str, requests: &[&str]) -> Transaction {
        Transaction {
            name: name.into(),
            weight: 1,
            think_time: None,
            requests: requests
                .iter()
                .map(|r| RequestSpec {
                    name: (*r).into(),
                    method: HttpMethod::Get,
                    url: Template::literal("/"),
                    headers: vec![],
                    body: None,
                    checks: vec![],
                    captures: vec![],
                    think_time: None,
                })
                .collect(),
        }
    }

    fn recorder() -> Recorder {
        let load = Load {
            model: LoadModel::Closed(ClosedLoad {
                stages: vec![Stage {
                    name: None,
                    target: 1.0,
                    ramp: Duration::ZERO,
                    hold: Duration::from_secs(60),
                }],
                think_time: None,
            }),
            max_duration: None,
            max_iterations: None,
        };
        let txns = [txn("browse", &["list", "get"]), txn("buy", &["pay"])];
        Recorder::new(Plan::new(&load, None), Scopes::new(&txns), 3)
    }

    #[test]
    fn totals_are_exact_across_stripes_and_ticks() {
        let rec = recorder();
        for i in 0..1000u64 {
            let error = (i % 10 == 0).then_some((ErrorKind::Status, "status 500"));
            let o = Ended {
                at: Instant::now(),
                latency: Duration::from_micros(1000 + i),
                intended: None,
                status: Some(if error.is_some() { 500 } else { 200 }),
                error,
            };
            #[allow(clippy::cast_possible_truncation)]
            rec.record_request(i as usize, 0, (i % 2) as usize, &o);
            if i % 300 == 0 {
                rec.tick();
            }
        }
        rec.tick();
        let snap = rec.snapshot(Duration::from_secs(10)).expect("snapshot");
        let overall = &snap.scopes[0];
        assert_eq!(overall.stats.requests, 1000);
        assert_eq!(overall.stats.errors, 100);
        assert!((overall.stats.throughput_rps - 100.0).abs() < 1e-9);
        assert_eq!(overall.status_codes.get("500"), Some(&100));
        assert_eq!(overall.errors[0].samples, vec!["status 500".to_owned()]);
        // Latency is of the 900 successful responses (1001…1999 µs, no multiple of 10 in i);
        // the 100 failures (1000, 1010, … 1990 µs) are apart.
        assert_eq!(overall.stats.latency_us.min, 1001);
        assert!((overall.stats.latency_us.p50 as i64 - 1500).abs() <= 2);
        let failed = overall.stats.failed_latency_us.expect("failures apart");
        assert_eq!((failed.min, failed.max), (1000, 1990));
        let list = snap
            .scopes
            .iter()
            .find(|s| s.name == "browse/list")
            .expect("scope");
        assert_eq!(list.stats.requests, 500);
        let decoded = overall.histogram.decode().expect("decodes");
        assert_eq!(decoded.len(), 900);
        let ko = overall
            .failed_histogram
            .as_ref()
            .expect("KO")
            .decode()
            .expect("decodes");
        assert_eq!(ko.len(), 100);
        let per_second: u64 = snap.series.iter().map(|s| s.requests).sum();
        assert_eq!(per_second, 1000, "the series adds up to the total");
        assert_eq!(snap.stages.len(), 1);
        assert_eq!(snap.stages[0].scopes[0].stats.requests, 1000);
    }

    #[test]
    fn scope_names() {
        let rec = recorder();
        let names: Vec<_> = rec.scopes.names.iter().map(|(_, n)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "overall",
                "browse",
                "buy",
                "browse/list",
                "browse/get",
                "buy/pay"
            ]
        );
    }
}
