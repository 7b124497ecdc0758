//! Executing a scenario's requests for one user: render, send, time headers + body, check,
//! capture, record.
//!
//! Invariant: the clock for a request starts right before the send and stops after the last body
//! byte, so the recorded latency includes connecting, queueing in the client and reading the
//! body — what a user of the target waits for. Nothing here knows goose: it gets the user's
//! [`Agent`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use http::StatusCode;
use http::header::HeaderMap;
use rand::distr::Distribution as _;
use rand::distr::weighted::WeightedIndex;
use rand::rngs::SmallRng;
use rand::{Rng as _, SeedableRng as _};

use super::http::{Agent, Failure};
use super::prepared::{Base, Prepared};
use crate::recorder::{Ended, Recorder};
use crate::results::ErrorKind;
use crate::scenario::model::{
    CaptureSource, Check, Expected, FeederMode, OnEnd, RequestSpec, Scenario, ThinkTime,
};
use crate::template::{RenderContext, RenderError};

/// State shared by every user of one run.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) scenario: Arc<Scenario>,
    pub(crate) recorder: Arc<Recorder>,
    base: Base,
    /// Every request of every transaction, prepared.
    prepared: Vec<Vec<Prepared>>,
    weights: WeightedIndex<u32>,
    cursors: Vec<AtomicUsize>,
    next_user: AtomicUsize,
    /// Closed model: iterations handed out.
    pub(crate) tickets: AtomicU64,
    /// Closed model: iterations being executed now.
    pub(crate) in_flight: AtomicU64,
    /// Users still able to run (feeders with `on_end = "stop"` retire users).
    pub(crate) live_users: AtomicU64,
    stripes: usize,
}

/// One virtual user's state, kept across its iterations.
#[derive(Debug, Clone)]
pub(crate) struct UserState {
    pub(crate) index: usize,
    pub(crate) iteration: u64,
    vars: Vec<Option<String>>,
    pub(crate) rng: SmallRng,
    /// Requests mode (open model): position in the current transaction.
    pub(crate) cursor: Option<(usize, usize)>,
    /// Retired: a feeder with `on_end = "stop"` ran out of rows.
    pub(crate) done: bool,
}

/// The outcome of one request, for the transaction's bookkeeping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// The request succeeded.
    Ok,
    /// It failed with this kind; the rest of the transaction is skipped.
    Failed(ErrorKind),
}

impl Shared {
    /// Prepare the scenario's requests; fails when its base URL or a fixed URL cannot be used.
    pub(crate) fn new(
        scenario: Arc<Scenario>,
        recorder: Arc<Recorder>,
        stripes: usize,
    ) -> Result<Self, String> {
        let weights: Vec<u32> = scenario.transactions.iter().map(|t| t.weight).collect();
        // Validation guarantees at least one transaction and positive weights.
        #[allow(clippy::unwrap_used)]
        let weights = WeightedIndex::new(weights).unwrap();
        let base = Base::new(&scenario.target.base_url)?;
        let prepared = scenario
            .transactions
            .iter()
            .map(|t| {
                t.requests
                    .iter()
                    .map(|r| Prepared::new(r, &scenario.target, &base, &scenario.vars))
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            base,
            prepared,
            cursors: scenario
                .feeders
                .iter()
                .map(|_| AtomicUsize::new(0))
                .collect(),
            scenario,
            recorder,
            weights,
            next_user: AtomicUsize::new(0),
            tickets: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            live_users: AtomicU64::new(0),
            stripes,
        })
    }

    /// When the plan's last stage ends.
    pub(crate) fn plan_end(&self) -> Instant {
        self.recorder.start() + self.recorder.plan().duration
    }

    /// A new user's state.
    pub(crate) fn new_user(&self) -> UserState {
        self.live_users.fetch_add(1, Ordering::Relaxed);
        UserState {
            index: self.next_user.fetch_add(1, Ordering::Relaxed),
            iteration: 0,
            vars: vec![None; self.scenario.vars.len()],
            rng: SmallRng::from_rng(&mut rand::rng()),
            cursor: None,
            done: false,
        }
    }

    /// Retire a user; true when it was the last one.
    pub(crate) fn retire(&self, user: &mut UserState) -> bool {
        if user.done {
            return false;
        }
        user.done = true;
        self.live_users.fetch_sub(1, Ordering::Relaxed) == 1
    }

    /// Pick a transaction by weight.
    pub(crate) fn pick(&self, user: &mut UserState) -> usize {
        self.weights.sample(&mut user.rng)
    }

    /// Fill the user's feeder variables for a new iteration; false when a feeder with
    /// `on_end = "stop"` has no row left for this user.
    pub(crate) fn feed(&self, user: &mut UserState) -> bool {
        for (f, feeder) in self.scenario.feeders.iter().enumerate() {
            let n = feeder.rows.len();
            if n == 0 {
                return false;
            }
            let raw = match feeder.mode {
                FeederMode::Sequential => self.cursors[f].fetch_add(1, Ordering::Relaxed),
                FeederMode::Random => user.rng.random_range(0..n),
                // The row is the user's own; an iteration does not move it.
                FeederMode::UniquePerUser => user.index,
            };
            let row = match feeder.on_end {
                OnEnd::Recycle => raw % n,
                OnEnd::Stop if raw < n => raw,
                OnEnd::Stop => return false,
            };
            for ((_, slot), value) in feeder.columns.iter().zip(&feeder.rows[row]) {
                if user.vars[*slot].as_deref() != Some(value) {
                    user.vars[*slot] = Some(value.clone());
                }
            }
        }
        true
    }

    /// Run transaction `t` for `user`, begun at `started`: every request in order, stopping at
    /// the first failure. `lag` is how late an open-model arrival started (`None` for a closed
    /// model).
    pub(crate) async fn transaction(
        &self,
        agent: &mut Agent,
        user: &mut UserState,
        t: usize,
        lag: Option<Duration>,
        started: Instant,
    ) {
        let txn = &self.scenario.transactions[t];
        // Think time between its requests is not the transaction's latency; the pause after
        // the last request is not inside it either.
        let mut thinking = Duration::ZERO;
        let mut ended = started;
        let mut failed = None;
        for r in 0..txn.requests.len() {
            // Only the first request of an arrival waited for its start.
            let request_lag = if r == 0 {
                lag
            } else {
                lag.map(|_| Duration::ZERO)
            };
            let (step, at) = self.request(agent, user, t, r, request_lag).await;
            ended = at;
            if let Step::Failed(kind) = step {
                failed = Some(kind);
                break;
            }
            if let Some(think) = txn.requests[r].think_time {
                let slept = pause(user, think, self.plan_end()).await;
                if r + 1 < txn.requests.len() {
                    thinking += slept;
                }
            }
        }
        let latency = ended
            .saturating_duration_since(started)
            .saturating_sub(thinking);
        let message;
        let error = match failed {
            Some(kind) => {
                message = format!("transaction `{}` failed ({kind:?})", txn.name);
                Some((kind, message.as_str()))
            }
            None => None,
        };
        self.recorder.record_transaction(
            user.index % self.stripes,
            t,
            &Ended {
                at: ended,
                latency,
                intended: lag.map(|l| latency + l),
                status: None,
                error,
            },
        );
        user.iteration += 1;
        let think = txn.think_time.or(match &self.scenario.load.model {
            crate::scenario::model::LoadModel::Closed(c) => c.think_time,
            crate::scenario::model::LoadModel::Open(_) => None,
        });
        if let Some(think) = think {
            pause(user, think, self.plan_end()).await;
        }
    }

    /// Send request `r` of transaction `t`, time it, check it, capture from it, record it;
    /// returns how it went and when it ended.
    pub(crate) async fn request(
        &self,
        agent: &mut Agent,
        user: &mut UserState,
        t: usize,
        r: usize,
        lag: Option<Duration>,
    ) -> (Step, Instant) {
        let spec = &self.scenario.transactions[t].requests[r];
        let prepared = &self.prepared[t][r];
        let ctx = RenderContext {
            vars: &user.vars,
            user: user.index,
            iteration: user.iteration,
        };
        let outgoing = match prepared.render(&self.base, &ctx, &self.scenario.vars) {
            Ok(o) => o,
            Err(message) => {
                let (kind, at) = (ErrorKind::Other, Instant::now());
                let error = Some((kind, message.as_str()));
                self.record(user, t, r, at, Duration::ZERO, lag, None, error);
                return (Step::Failed(kind), at);
            }
        };
        let start = Instant::now();
        let received = agent.send(&outgoing, prepared.keep_body).await;
        let at = Instant::now();
        let latency = at.saturating_duration_since(start);
        let (code, error) = match received {
            Err(Failure::Connect(m)) => (None, Some((ErrorKind::Connect, m))),
            Err(Failure::Timeout(m)) => (None, Some((ErrorKind::Timeout, m))),
            Err(Failure::Other(m)) => (None, Some((ErrorKind::Other, m))),
            Ok(response) => (
                Some(response.status.as_u16()),
                self.check(
                    user,
                    spec,
                    response.status,
                    &response.headers,
                    &response.body,
                ),
            ),
        };
        let failed = error
            .as_ref()
            .map(|(kind, message)| (*kind, message.as_str()));
        self.record(user, t, r, at, latency, lag, code, failed);
        match error {
            None => (Step::Ok, at),
            Some((kind, _)) => (Step::Failed(kind), at),
        }
    }

    /// Record request `r` of transaction `t`; a failure's message is prefixed with the
    /// request's name.
    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        user: &UserState,
        t: usize,
        r: usize,
        at: Instant,
        latency: Duration,
        lag: Option<Duration>,
        status: Option<u16>,
        error: Option<(ErrorKind, &str)>,
    ) {
        let error = error.map(|(kind, message)| {
            let name = &self.scenario.transactions[t].requests[r].name;
            (kind, format!("{name}: {message}"))
        });
        self.recorder.record_request(
            user.index % self.stripes,
            t,
            r,
            &Ended {
                at,
                latency,
                intended: lag.map(|l| latency + l),
                status,
                error: error
                    .as_ref()
                    .map(|(kind, message)| (*kind, message.as_str())),
            },
        );
    }

    /// Apply checks and captures; the first failure is the request's error.
    fn check(
        &self,
        user: &mut UserState,
        spec: &RequestSpec,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Option<(ErrorKind, String)> {
        let code = status.as_u16();
        let has_status_check = spec.checks.iter().any(|c| matches!(c, Check::Status(_)));
        if !has_status_check && code >= 400 {
            return Some((ErrorKind::Status, format!("HTTP {status}")));
        }
        let needs_json = spec
            .checks
            .iter()
            .any(|c| matches!(c, Check::JsonEquals { .. } | Check::JsonExists { .. }))
            || spec
                .captures
                .iter()
                .any(|c| matches!(c.source, CaptureSource::JsonPath { .. }));
        let json = if needs_json {
            match serde_json::from_slice::<serde_json::Value>(body) {
                Ok(v) => Some(v),
                Err(e) => return Some((ErrorKind::Check, format!("body is not JSON: {e}"))),
            }
        } else {
            None
        };
        let text = || String::from_utf8_lossy(body);
        let ctx = RenderContext {
            vars: &user.vars,
            user: user.index,
            iteration: user.iteration,
        };
        let vars = &self.scenario.vars;
        // A placeholder without a value (its capture failed) fails the check that needs it.
        let unrendered = |e: RenderError| (ErrorKind::Check, format!("check: {e}"));
        for check in &spec.checks {
            let failure = match check {
                Check::Status(ranges) => (!ranges.iter().any(|r| r.contains(&code))).then(|| {
                    (
                        ErrorKind::Status,
                        format!("HTTP {status} not accepted by the status check"),
                    )
                }),
                Check::BodyContains(needle) => match needle.render_cow(&ctx, vars) {
                    Ok(needle) => (!text().contains(needle.as_ref())).then(|| {
                        (
                            ErrorKind::Check,
                            format!("body does not contain `{needle}`"),
                        )
                    }),
                    Err(e) => Some(unrendered(e)),
                },
                Check::JsonExists { text: p, path } => json
                    .as_ref()
                    .is_none_or(|v| path.query(v).is_empty())
                    .then(|| (ErrorKind::Check, format!("JSON path `{p}` selects nothing"))),
                Check::JsonEquals {
                    text: p,
                    path,
                    value,
                } => {
                    let expected = match value {
                        Expected::Json(v) => Ok(std::borrow::Cow::Borrowed(v)),
                        Expected::Text(t) => t
                            .render(&ctx, vars)
                            .map(|s| std::borrow::Cow::Owned(serde_json::Value::String(s))),
                    };
                    match expected {
                        Ok(value) => {
                            let found = json.as_ref().and_then(|v| path.query(v).first().cloned());
                            (found.as_ref() != Some(value.as_ref())).then(|| {
                                let got =
                                    found.map_or_else(|| "nothing".to_owned(), |f| f.to_string());
                                (
                                    ErrorKind::Check,
                                    format!("JSON path `{p}` is {got}, expected {value}"),
                                )
                            })
                        }
                        Err(e) => Some(unrendered(e)),
                    }
                }
            };
            if failure.is_some() {
                return failure;
            }
        }
        for capture in &spec.captures {
            let value = match &capture.source {
                CaptureSource::JsonPath { path, .. } => json
                    .as_ref()
                    .and_then(|v| path.query(v).first().cloned())
                    .map(|v| match v {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    }),
                CaptureSource::Header(name) => headers
                    .get(name.as_str())
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
                CaptureSource::Regex(re) => re
                    .captures(&text())
                    .and_then(|c| c.get(1).or_else(|| c.get(0)).map(|m| m.as_str().to_owned())),
            };
            match value {
                Some(v) => user.vars[capture.slot] = Some(v),
                None => {
                    user.vars[capture.slot] = None;
                    let from = match &capture.source {
                        CaptureSource::JsonPath { text, .. } => format!("JSON path `{text}`"),
                        CaptureSource::Header(h) => format!("header `{h}`"),
                        CaptureSource::Regex(re) => format!("regex `{re}`"),
                    };
                    return Some((
                        ErrorKind::Check,
                        format!("capture `{}`: {from} matched nothing", capture.var),
                    ));
                }
            }
        }
        None
    }
}

/// Sleep a random time in the range, but not past `end` (the plan's end: a user thinking when
/// the load is over would only hold the run open, idle, and lower its throughput); returns how
/// long it slept.
pub(crate) async fn pause(user: &mut UserState, think: ThinkTime, end: Instant) -> Duration {
    let d = if think.max > think.min {
        user.rng.random_range(think.min..=think.max)
    } else {
        think.min
    };
    let d = d.min(end.saturating_duration_since(Instant::now()));
    // A zero sleep still waits for the timer wheel's next tick (about 1 ms): skip it.
    if !d.is_zero() {
        tokio::time::sleep(d).await;
    }
    d
}
