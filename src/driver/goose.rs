//! The goose driver: goose launches and schedules the users; each user runs our own iteration.
//!
//! Invariant: this is the only module that names goose. Goose must not parse our argv, print to
//! stdout, listen on telnet/websocket ports or keep its own per-request metrics (we time requests
//! ourselves): the attack is built with `initialize_with_config` from explicit flags.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use goose::config::GooseConfiguration;
use goose::prelude::*;

use super::exec::{Shared, UserState};
use super::http::{Agent, Connector};
use super::open;
use crate::recorder::Recorder;
use crate::scenario::model::{LoadModel, Scenario};

/// Why the load stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EndReason {
    /// The plan ran to its end.
    PlanCompleted,
    /// The iteration/arrival cap was reached.
    IterationCap,
    /// Every user retired: feeders with `on_end = "stop"` ran out.
    FeedersExhausted,
    /// Stopped from outside (Ctrl-C, an abort SLA) with this reason.
    Stopped(String),
}

/// The driver could not run the load.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DriveError {
    /// Goose refused the configuration or failed.
    #[error("the load generator failed: {0}")]
    Goose(String),
}

const CAP_REACHED: &str = "iteration cap reached";
const FEEDERS_EXHAUSTED: &str = "feeders ran out of rows";
const PLAN_ENDED: &str = "the plan ended";

/// Stop a running drive (from a signal handler or the SLA watcher).
pub(crate) fn stop(reason: &str) {
    trigger(reason);
}

fn trigger(reason: &str) {
    if let Ok(mut last) = LAST_REASON.lock()
        && last.is_none()
    {
        *last = Some(reason.to_owned());
    }
    goose::trigger_killswitch(reason);
}

/// Goose's stop switch is process-wide; one drive at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Per-user state goose keeps for us.
struct Session {
    /// The run's shared state, held per user so an iteration touches no shared reference count.
    shared: Arc<Shared>,
    /// Goose wants its session data `Sync`; the agent is only ever reached through `&mut`
    /// (`Mutex::get_mut`, no locking).
    agent: Mutex<Agent>,
    state: UserState,
    /// Counts the user as running while it lives (goose drops it when it stops the user);
    /// taken when the user retires.
    running: Option<Running>,
}

/// Goose clones a user only before it runs; a clone starts with no connection and no cookie.
impl Clone for Session {
    fn clone(&self) -> Self {
        let agent = self
            .agent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .fresh();
        Self {
            shared: self.shared.clone(),
            agent: Mutex::new(agent),
            state: self.state.clone(),
            running: self.running.clone(),
        }
    }
}

/// A running user, counted by the recorder until the last clone is dropped.
#[derive(Clone)]
struct Running {
    _user: Arc<RunningUser>,
}

struct RunningUser(Arc<Recorder>);

impl Running {
    fn new(recorder: &Arc<Recorder>) -> Self {
        recorder.user_started();
        Self {
            _user: Arc::new(RunningUser(recorder.clone())),
        }
    }
}

impl Drop for RunningUser {
    fn drop(&mut self) {
        self.0.user_stopped();
    }
}

/// Apply the scenario's load to its target, recording into `recorder`. Returns when the plan
/// ends, a cap is reached or [`stop`] is called. The recorder's clock begins when the first
/// user (closed model) or the arrival dispatcher (open model) starts.
pub(crate) async fn drive(
    scenario: Arc<Scenario>,
    recorder: Arc<Recorder>,
) -> Result<EndReason, DriveError> {
    let _guard = ONE_AT_A_TIME.lock().await;
    silence_goose_logging();
    if let Ok(mut last) = LAST_REASON.lock() {
        *last = None;
    }
    let plan = recorder.plan().clone();
    let stripes = recorder.stripe_count();
    let shared = Arc::new(
        Shared::new(scenario.clone(), recorder, stripes)
            .map_err(|e| DriveError::Goose(format!("cannot prepare the requests: {e}")))?,
    );
    let connector = Arc::new(Connector::new(scenario.target.timeout));
    let test_plan = match &scenario.load.model {
        LoadModel::Closed(_) => plan.goose_test_plan(),
        LoadModel::Open(_) => {
            // One user: the dispatcher. It stops the attack itself when the schedule and the
            // arrivals in flight are done; goose's own end is only a backstop past that.
            let backstop = plan.duration + scenario.target.timeout + Duration::from_secs(5);
            format!("1,0;1,{};0,0", backstop.as_secs() + 1)
        }
    };
    let args = [
        "--host",
        scenario.target.base_url.as_str(),
        "--test-plan",
        test_plan.as_str(),
        "--no-telnet",
        "--no-websocket",
        // kneepoint times every request itself: goose's own metrics would cost a message to
        // its aggregator per iteration.
        "--no-metrics",
        "--no-error-summary",
        "--quiet",
    ];
    let config = GooseConfiguration::parse_args_default(&args)
        .map_err(|e| DriveError::Goose(e.to_string()))?;
    let s = shared.clone();
    let function: TransactionFunction = match &scenario.load.model {
        LoadModel::Closed(_) => Arc::new(move |user: &mut GooseUser| {
            let session = session(&s, &connector, user);
            Box::pin(async move {
                closed_iteration(session).await;
                Ok(())
            })
        }),
        LoadModel::Open(o) => {
            let (unit, max_in_flight) = (o.unit, o.max_in_flight);
            let dispatched = Arc::new(AtomicBool::new(false));
            Arc::new(move |_user: &mut GooseUser| {
                let (s, connector, dispatched) = (s.clone(), connector.clone(), dispatched.clone());
                Box::pin(async move {
                    if dispatched.swap(true, Ordering::AcqRel) {
                        // goose calls again until it sees the stop; there is nothing to do.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        return Ok(());
                    }
                    let done = open::dispatch(
                        s.clone(),
                        connector,
                        unit,
                        max_in_flight,
                        goose::is_killswitch_triggered,
                    )
                    .await;
                    if let open::Dispatched::ScheduleOver { started } = done {
                        let cap = s.recorder.plan().max_iterations;
                        trigger(if cap.is_some_and(|c| started >= c) {
                            CAP_REACHED
                        } else {
                            PLAN_ENDED
                        });
                    }
                    Ok(())
                })
            })
        }
    };
    let goose_scenario = goose::goose::Scenario::new("kneepoint")
        .register_transaction(Transaction::new(function).set_name("iteration"));
    // goose's own client goes unused (each user gets an `Agent` of ours): built once, shared,
    // without a cookie jar.
    let client = goose::client::GooseClientBuilder::new()
        .without_cookies()
        .timeout(scenario.target.timeout)
        .gzip(false)
        .user_agent(concat!("kneepoint/", env!("CARGO_PKG_VERSION")));
    let attack = GooseAttack::initialize_with_config(config)
        .and_then(|a| a.set_client_builder_without_cookies(client))
        .map_err(|e| DriveError::Goose(e.to_string()))?
        .register_scenario(goose_scenario);
    // goose prints "N users launched." to stdout whatever its flags say; stdout belongs to the
    // summary, so it is muted while the attack runs (when another mute is active, it stays).
    let mute = gag::Gag::stdout().ok();
    let outcome = attack.execute().await;
    drop(mute);
    let reason = killswitch_reason();
    goose::reset_killswitch();
    if let Ok(mut last) = LAST_REASON.lock() {
        *last = None;
    }
    match outcome {
        Ok(_) => Ok(match reason.as_deref() {
            None | Some(PLAN_ENDED) => EndReason::PlanCompleted,
            Some(CAP_REACHED) => EndReason::IterationCap,
            Some(FEEDERS_EXHAUSTED) => EndReason::FeedersExhausted,
            Some(other) => EndReason::Stopped(other.to_owned()),
        }),
        Err(e) => Err(DriveError::Goose(e.to_string())),
    }
}

fn session<'u>(
    s: &Arc<Shared>,
    connector: &Arc<Connector>,
    user: &'u mut GooseUser,
) -> &'u mut Session {
    if user.get_session_data::<Session>().is_none() {
        // The load begins with the first user: launching goose is not inside the window.
        s.recorder.begin();
        user.set_session_data(Session {
            shared: s.clone(),
            agent: Mutex::new(connector.agent()),
            state: s.new_user(),
            running: Some(Running::new(&s.recorder)),
        });
    }
    user.get_session_data_unchecked_mut::<Session>()
}

async fn closed_iteration(session: &mut Session) {
    let Session {
        shared: s,
        agent,
        state,
        running,
    } = session;
    let cap = s.recorder.plan().max_iterations;
    if state.done {
        tokio::time::sleep(Duration::from_millis(100)).await;
        return;
    }
    let started = Instant::now();
    if started >= s.plan_end() {
        // goose takes about a second to wind its users down after its own plan; iterations
        // started meanwhile would be load outside every stage (and think times cut at the end,
        // see `pause`, would let users loop without them). Stop it now instead.
        trigger(PLAN_ENDED);
        tokio::time::sleep(Duration::from_millis(20)).await;
        return;
    }
    // Counted only under a cap: these counters are shared by every user.
    if let Some(c) = cap {
        s.in_flight.fetch_add(1, Ordering::AcqRel);
        let ticket = s.tickets.fetch_add(1, Ordering::AcqRel);
        if ticket >= c {
            finish(s, cap);
            // Others are finishing the last iterations; do not spin meanwhile.
            tokio::time::sleep(Duration::from_millis(20)).await;
            return;
        }
    }
    if !s.feed(state) {
        if s.retire(state) {
            trigger(FEEDERS_EXHAUSTED);
        }
        *running = None;
        finish(s, cap);
        return;
    }
    let t = s.pick(state);
    let agent = agent.get_mut().unwrap_or_else(PoisonError::into_inner);
    s.transaction(agent, state, t, None, started).await;
    finish(s, cap);
}

/// An iteration ended; the last one to end after the cap was reached stops the drive.
fn finish(s: &Shared, cap: Option<u64>) {
    if cap.is_none() {
        return;
    }
    let left = s.in_flight.fetch_sub(1, Ordering::AcqRel) - 1;
    if left == 0 && cap.is_some_and(|c| s.tickets.load(Ordering::Acquire) >= c) {
        trigger(CAP_REACHED);
    }
}

fn killswitch_reason() -> Option<String> {
    // goose exposes only whether it fired; we keep our own reason next to it.
    goose::is_killswitch_triggered().then(|| {
        LAST_REASON
            .lock()
            .ok()
            .and_then(|r| r.clone())
            .unwrap_or_else(|| "stopped".into())
    })
}

static LAST_REASON: Mutex<Option<String>> = Mutex::new(None);

/// Goose logs INFO to stdout unless a logger is installed; install one that drops it all.
fn silence_goose_logging() {
    struct Quiet;
    impl log::Log for Quiet {
        fn enabled(&self, _: &log::Metadata<'_>) -> bool {
            false
        }
        fn log(&self, _: &log::Record<'_>) {}
        fn flush(&self) {}
    }
    // Fails only when a logger is already installed, which is just as good.
    let _ = log::set_boxed_logger(Box::new(Quiet));
    log::set_max_level(log::LevelFilter::Off);
}
