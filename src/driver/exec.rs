//! Executing a scenario's requests for one user: render, send, time headers + body, check,
//! capture, record.
//!
//! Invariant: the clock for a request starts right before the send and stops after the last body
//! byte, so the recorded latency includes connecting, queueing in the client and reading the
//! body — what a user of the target waits for. Nothing here knows goose: it gets a reqwest client.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rand::distr::Distribution as _;
use rand::distr::weighted::WeightedIndex;
use rand::rngs::SmallRng;
use rand::{Rng as _, SeedableRng as _};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};

use crate::recorder::{Outcome, Recorder};
use crate::results::ErrorKind;
use crate::scenario::model::{
    Body, CaptureSource, Check, FeederMode, Method, OnEnd, RequestSpec, Scenario, ThinkTime,
};
use crate::template::RenderContext;

/// State shared by every user of one run.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) scenario: Arc<Scenario>,
    pub(crate) recorder: Arc<Recorder>,
    weights: WeightedIndex<u32>,
    cursors: Vec<AtomicUsize>,
    next_user: AtomicUsize,
    /// Closed model: iterations handed out.
    pub(crate) tickets: AtomicU64,
    /// Closed model: iterations being executed now.
    pub(crate) in_flight: AtomicU64,
    /// Users still able to run (feeders with `on_end = "stop"` retire users).
    pub(crate) live_users: AtomicU64,
    shards: usize,
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
    body: String,
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
    pub(crate) fn new(scenario: Arc<Scenario>, recorder: Arc<Recorder>, shards: usize) -> Self {
        let weights: Vec<u32> = scenario.transactions.iter().map(|t| t.weight).collect();
        // Validation guarantees at least one transaction and positive weights.
        #[allow(clippy::unwrap_used)]
        let weights = WeightedIndex::new(weights).unwrap();
        Self {
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
            shards,
        }
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
            body: String::new(),
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

    /// Run transaction `t` for `user`: every request in order, stopping at the first failure.
    /// `lag` is how late an open-model arrival started (zero for a closed model).
    pub(crate) async fn transaction(
        &self,
        client: &reqwest::Client,
        user: &mut UserState,
        t: usize,
        lag: Option<Duration>,
    ) {
        let txn = &self.scenario.transactions[t];
        let started = Instant::now();
        let mut thinking = Duration::ZERO;
        let mut failed = None;
        for r in 0..txn.requests.len() {
            // Only the first request of an arrival waited for its start.
            let request_lag = if r == 0 {
                lag
            } else {
                lag.map(|_| Duration::ZERO)
            };
            match self.request(client, user, t, r, request_lag).await {
                Step::Ok => {}
                Step::Failed(kind) => {
                    failed = Some(kind);
                    break;
                }
            }
            if let Some(think) = txn.requests[r].think_time {
                thinking += pause(user, think, self.plan_end()).await;
            }
        }
        let latency = started.elapsed().saturating_sub(thinking);
        let message;
        let error = match failed {
            Some(kind) => {
                message = format!("transaction `{}` failed ({kind:?})", txn.name);
                Some((kind, message.as_str()))
            }
            None => None,
        };
        self.recorder.record_transaction(
            user.index % self.shards,
            t,
            &Outcome {
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

    /// Send request `r` of transaction `t`, time it, check it, capture from it, record it.
    pub(crate) async fn request(
        &self,
        client: &reqwest::Client,
        user: &mut UserState,
        t: usize,
        r: usize,
        lag: Option<Duration>,
    ) -> Step {
        let spec = &self.scenario.transactions[t].requests[r];
        let builder = match self.build(client, user, spec) {
            Ok(b) => b,
            Err(message) => {
                let kind = ErrorKind::Other;
                self.record(user, t, r, Duration::ZERO, lag, None, kind, &message);
                return Step::Failed(kind);
            }
        };
        // Headers are copied only when a capture reads them: the body read consumes the response.
        let wants_headers = spec
            .captures
            .iter()
            .any(|c| matches!(c.source, CaptureSource::Header(_)));
        let start = Instant::now();
        let (status, received) = match builder.send().await {
            Err(e) => (None, Err(classify(&e))),
            Ok(resp) => {
                let status = resp.status();
                let headers = wants_headers.then(|| resp.headers().clone());
                match resp.bytes().await {
                    Ok(body) => (Some(status), Ok((headers.unwrap_or_default(), body))),
                    Err(e) => (Some(status), Err(classify(&e))),
                }
            }
        };
        let latency = start.elapsed();
        let error = match (&received, status) {
            (Err(e), _) => Some(e.clone()),
            (Ok((headers, body)), Some(status)) => self.check(user, spec, status, headers, body),
            (Ok(_), None) => None,
        };
        let code = status.map(|s| s.as_u16());
        match error {
            None => {
                self.recorder.record_request(
                    user.index % self.shards,
                    t,
                    r,
                    &Outcome {
                        latency,
                        intended: lag.map(|l| latency + l),
                        status: code,
                        error: None,
                    },
                );
                Step::Ok
            }
            Some((kind, message)) => {
                self.record(user, t, r, latency, lag, code, kind, &message);
                Step::Failed(kind)
            }
        }
    }

    /// An arrival failed before any request could be sent (its client could not be built):
    /// recorded against the first request of the first transaction.
    pub(crate) fn fail_arrival(&self, kind: ErrorKind, message: &str) {
        self.recorder.record_request(
            0,
            0,
            0,
            &Outcome {
                latency: Duration::ZERO,
                intended: None,
                status: None,
                error: Some((kind, message)),
            },
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        user: &UserState,
        t: usize,
        r: usize,
        latency: Duration,
        lag: Option<Duration>,
        status: Option<u16>,
        kind: ErrorKind,
        message: &str,
    ) {
        let name = &self.scenario.transactions[t].requests[r].name;
        let message = format!("{name}: {message}");
        self.recorder.record_request(
            user.index % self.shards,
            t,
            r,
            &Outcome {
                latency,
                intended: lag.map(|l| latency + l),
                status,
                error: Some((kind, &message)),
            },
        );
    }

    fn build(
        &self,
        client: &reqwest::Client,
        user: &mut UserState,
        spec: &RequestSpec,
    ) -> Result<reqwest::RequestBuilder, String> {
        let scenario = &*self.scenario;
        let vars = &scenario.vars;
        let ctx = RenderContext {
            vars: &user.vars,
            user: user.index,
            iteration: user.iteration,
        };
        let path = spec.url.render(&ctx, vars).map_err(|e| e.to_string())?;
        let url = if path.starts_with("http://") || path.starts_with("https://") {
            path
        } else {
            let base = scenario.target.base_url.trim_end_matches('/');
            if path.starts_with('/') {
                format!("{base}{path}")
            } else {
                format!("{base}/{path}")
            }
        };
        let method = match spec.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Put => reqwest::Method::PUT,
            Method::Patch => reqwest::Method::PATCH,
            Method::Delete => reqwest::Method::DELETE,
            Method::Head => reqwest::Method::HEAD,
            Method::Options => reqwest::Method::OPTIONS,
        };
        let mut headers = HeaderMap::new();
        for (name, value) in scenario.target.headers.iter().chain(&spec.headers) {
            let value = value.render(&ctx, vars).map_err(|e| e.to_string())?;
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("`{name}` is not a valid header name"))?;
            let value = HeaderValue::from_str(&value)
                .map_err(|_| format!("header `{name}` has a value that is not valid: `{value}`"))?;
            headers.insert(name, value);
        }
        let mut builder = client.request(method, url).timeout(scenario.target.timeout);
        match &spec.body {
            None => {}
            Some(Body::Json(t)) => {
                user.body.clear();
                t.render_into(&ctx, vars, &mut user.body)
                    .map_err(|e| e.to_string())?;
                headers
                    .entry(CONTENT_TYPE)
                    .or_insert(HeaderValue::from_static("application/json"));
                builder = builder.body(user.body.clone());
            }
            Some(Body::Form(fields)) => {
                let mut pairs = Vec::with_capacity(fields.len());
                for (k, v) in fields {
                    pairs.push((k.as_str(), v.render(&ctx, vars).map_err(|e| e.to_string())?));
                }
                builder = builder.form(&pairs);
            }
            Some(Body::Raw(t)) => {
                builder = builder.body(t.render(&ctx, vars).map_err(|e| e.to_string())?);
            }
        }
        Ok(builder.headers(headers))
    }

    /// Apply checks and captures; the first failure is the request's error.
    fn check(
        &self,
        user: &mut UserState,
        spec: &RequestSpec,
        status: reqwest::StatusCode,
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
        for check in &spec.checks {
            let failure = match check {
                Check::Status(ranges) => (!ranges.iter().any(|r| r.contains(&code))).then(|| {
                    (
                        ErrorKind::Status,
                        format!("HTTP {status} not accepted by the status check"),
                    )
                }),
                Check::BodyContains(needle) => (!text().contains(needle.as_str())).then(|| {
                    (
                        ErrorKind::Check,
                        format!("body does not contain `{needle}`"),
                    )
                }),
                Check::JsonExists { text: p, path } => json
                    .as_ref()
                    .is_none_or(|v| path.query(v).is_empty())
                    .then(|| (ErrorKind::Check, format!("JSON path `{p}` selects nothing"))),
                Check::JsonEquals {
                    text: p,
                    path,
                    value,
                } => {
                    let found = json.as_ref().and_then(|v| path.query(v).first().cloned());
                    (found.as_ref() != Some(value)).then(|| {
                        let got = found.map_or_else(|| "nothing".to_owned(), |f| f.to_string());
                        (
                            ErrorKind::Check,
                            format!("JSON path `{p}` is {got}, expected {value}"),
                        )
                    })
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

fn classify(e: &reqwest::Error) -> (ErrorKind, String) {
    let kind = if e.is_timeout() {
        ErrorKind::Timeout
    } else if e.is_connect() {
        ErrorKind::Connect
    } else {
        ErrorKind::Other
    };
    // reqwest's Display hides the cause ("error sending request"); the source chain names it.
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    (kind, message)
}
