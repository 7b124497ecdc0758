//! The open model: one dispatcher starts every arrival of the plan's schedule at its time,
//! whatever the target's response times, each on a slot of a pool that grows on demand.
//!
//! Invariants:
//! - The schedule's clock starts when the dispatcher can serve it: nothing is launched ahead
//!   (a slot — a user's state and its client — is made the first time an arrival needs one, and
//!   building a client reads no file), so a pool of 10 000 costs no more at the start than one
//!   of 10.
//! - Arrivals start in order; at most `max_in_flight` run at once. When all slots are busy the
//!   dispatcher waits, and the arrivals it holds start late; those it never starts by the plan's
//!   end are counted missed — none is dropped silently.
//! - Latency is recorded from the arrival's intended start (coordinated-omission correct, as
//!   wrk2 does) as well as from the actual send; an arrival that starts more than [`LATE_AFTER`]
//!   after it was due is counted late.
//! - Slots are reused most recent first, so a light load keeps reusing warm connections.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant as TokioInstant;

use super::exec::{Shared, Step, UserState};
use super::http::{Agent, Connector};
use crate::results::ArrivalUnit;

/// An arrival that starts later than this after its due time counts as late.
pub(crate) const LATE_AFTER: Duration = Duration::from_millis(5);

/// How often a waiting dispatcher looks for a stop.
const STOP_POLL: Duration = Duration::from_millis(50);

/// How long arrivals in flight get to finish after the load was stopped from outside.
const STOP_GRACE: Duration = Duration::from_secs(1);

/// How the schedule ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dispatched {
    /// Every arrival of the schedule was started (or the plan ended first) and has finished.
    ScheduleOver {
        /// Arrivals started.
        started: u64,
    },
    /// Stopped from outside.
    Stopped,
}

/// One slot of the pool: a user's state and its agent (connections, cookie jar).
struct Slot {
    agent: Agent,
    state: UserState,
}

/// The free slots, most recently used last.
struct Pool {
    free: Mutex<Vec<Slot>>,
    connector: Arc<Connector>,
}

impl Pool {
    fn take(&self, shared: &Shared) -> Slot {
        let free = self
            .free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        free.unwrap_or_else(|| Slot {
            agent: self.connector.agent(),
            state: shared.new_user(),
        })
    }

    fn put(&self, slot: Slot) {
        self.free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(slot);
    }
}

/// Run the schedule: start each arrival when it is due, on at most `max_in_flight` slots, then
/// wait for those in flight. `stopped` says whether the load was stopped from outside.
///
/// The schedule is kept by a thread of its own: tokio's timers fire on whole milliseconds, so
/// arrivals woken by them start 0–1 ms late, which would show in every corrected percentile.
/// The thread sleeps with the operating system's timer (tens of µs late) and hands each
/// arrival to the runtime.
pub(crate) async fn dispatch(
    shared: Arc<Shared>,
    connector: Arc<Connector>,
    unit: ArrivalUnit,
    max_in_flight: u32,
    stopped: fn() -> bool,
) -> Dispatched {
    let permits = usize::try_from(max_in_flight)
        .unwrap_or(usize::MAX)
        .clamp(1, Semaphore::MAX_PERMITS);
    let gate = Arc::new(Semaphore::new(permits));
    let pool = Arc::new(Pool {
        free: Mutex::new(Vec::new()),
        connector,
    });
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let schedule = Schedule {
        shared: shared.clone(),
        pool,
        gate: gate.clone(),
        unit,
        stopped,
        runtime: tokio::runtime::Handle::current(),
    };
    let spawned = std::thread::Builder::new()
        .name("kneepoint-arrivals".into())
        .spawn(move || {
            let _ = done_tx.send(schedule.run());
        });
    let (started, outside) = match spawned {
        Ok(_) => done_rx.await.unwrap_or((0, true)),
        Err(_) => (0, true),
    };
    // Arrivals in flight finish within the request timeout; after an outside stop they get a
    // short grace only.
    let grace = if outside {
        STOP_GRACE
    } else {
        shared.scenario.target.timeout + Duration::from_secs(1)
    };
    let all = u32::try_from(permits).unwrap_or(u32::MAX);
    let drained = tokio::time::timeout(grace, gate.acquire_many(all)).await;
    drop(drained);
    if outside {
        Dispatched::Stopped
    } else {
        Dispatched::ScheduleOver { started }
    }
}

/// What the schedule thread needs.
struct Schedule {
    shared: Arc<Shared>,
    pool: Arc<Pool>,
    gate: Arc<Semaphore>,
    unit: ArrivalUnit,
    stopped: fn() -> bool,
    runtime: tokio::runtime::Handle,
}

impl Schedule {
    /// Start every arrival at its time; returns how many started and whether the load was
    /// stopped from outside.
    fn run(self) -> (u64, bool) {
        let recorder = self.shared.recorder.clone();
        recorder.begin();
        let start = recorder.start();
        let plan = recorder.plan();
        let plan_end = TokioInstant::from_std(start + plan.duration);
        let mut k = 0;
        while let Some(due) = plan.arrival_time(k) {
            let due_at = start + due;
            if !self.sleep_until(due_at) {
                return (k, true);
            }
            let permit = match self.gate.clone().try_acquire_owned() {
                Ok(p) => p,
                Err(_) => {
                    let waited =
                        self.runtime
                            .block_on(wait_for_slot(&self.gate, plan_end, self.stopped));
                    match waited {
                        Some(p) => p,
                        // The plan ended with every slot busy: the rest are missed.
                        None => return (k, (self.stopped)()),
                    }
                }
            };
            self.runtime.spawn(run_arrival(
                self.shared.clone(),
                self.pool.clone(),
                self.unit,
                TokioInstant::from_std(due_at),
                permit,
            ));
            k += 1;
        }
        (k, (self.stopped)())
    }

    /// Sleep until `at`, looking for a stop at least every [`STOP_POLL`]; false when stopped.
    fn sleep_until(&self, at: Instant) -> bool {
        loop {
            if (self.stopped)() {
                return false;
            }
            let left = at.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return true;
            }
            std::thread::sleep(left.min(STOP_POLL));
        }
    }
}

/// Wait for a free slot until the plan ends or the load is stopped.
async fn wait_for_slot(
    gate: &Arc<Semaphore>,
    plan_end: TokioInstant,
    stopped: fn() -> bool,
) -> Option<OwnedSemaphorePermit> {
    loop {
        let now = TokioInstant::now();
        if now >= plan_end || stopped() {
            return None;
        }
        let wake = (now + STOP_POLL).min(plan_end);
        tokio::select! {
            permit = gate.clone().acquire_owned() => return permit.ok(),
            () = tokio::time::sleep_until(wake) => {}
        }
    }
}

/// One arrival: take a slot, run its iteration (or its next request), give the slot back.
async fn run_arrival(
    shared: Arc<Shared>,
    pool: Arc<Pool>,
    unit: ArrivalUnit,
    due_at: TokioInstant,
    permit: OwnedSemaphorePermit,
) {
    let lag = TokioInstant::now().saturating_duration_since(due_at);
    shared.recorder.record_arrival(lag, lag > LATE_AFTER);
    let mut slot = pool.take(&shared);
    let Slot { agent, state } = &mut slot;
    match unit {
        ArrivalUnit::Iterations => {
            if shared.feed(state) {
                let t = shared.pick(state);
                shared
                    .transaction(agent, state, t, Some(lag), Instant::now())
                    .await;
            }
        }
        ArrivalUnit::Requests => {
            let next = match state.cursor {
                Some(c) => Some(c),
                None => shared.feed(state).then(|| (shared.pick(state), 0)),
            };
            if let Some((t, r)) = next {
                let (step, _) = shared.request(agent, state, t, r, Some(lag)).await;
                let last = r + 1 == shared.scenario.transactions[t].requests.len();
                state.cursor = if step == Step::Ok && !last {
                    Some((t, r + 1))
                } else {
                    state.iteration += 1;
                    None
                };
            }
        }
    }
    pool.put(slot);
    drop(permit);
}
