//! The open model on a pool of users: arrivals follow the plan's schedule, whatever the target's
//! response times.
//!
//! Invariant: arrival `k` is taken by exactly one user, in order, so the earliest due arrivals
//! are always the ones held. Latency is recorded from the arrival's intended start (coordinated-
//! omission correct, as wrk2 does) as well as from the actual send; an arrival that starts more
//! than [`LATE_AFTER`] after it was due is counted late, and arrivals never started by the end
//! are counted missed — none is dropped silently.

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant as TokioInstant;

use super::exec::{Shared, Step, UserState};
use crate::results::ArrivalUnit;

/// An arrival that starts later than this after its due time counts as late.
pub(crate) const LATE_AFTER: Duration = Duration::from_millis(5);

/// What one pass of a pool user did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arrival {
    /// It ran an arrival.
    Ran,
    /// The schedule has no more arrivals; the user waited for the run's end.
    ScheduleOver,
}

/// Take the next arrival, wait until it is due, run it.
pub(crate) async fn arrival(
    shared: &Shared,
    client: &reqwest::Client,
    user: &mut UserState,
    unit: ArrivalUnit,
) -> Arrival {
    let recorder = &shared.recorder;
    let plan = recorder.plan();
    let start = TokioInstant::from_std(recorder.start());
    let ticket = shared.tickets.fetch_add(1, Ordering::Relaxed);
    let Some(due) = plan.arrival_time(ticket) else {
        // Nothing left to do: idle until the plan ends (goose stops the user there).
        tokio::time::sleep_until(start + plan.duration + Duration::from_millis(200)).await;
        return Arrival::ScheduleOver;
    };
    shared.in_flight.fetch_add(1, Ordering::Relaxed);
    let due_at = start + due;
    tokio::time::sleep_until(due_at).await;
    let lag = TokioInstant::now().saturating_duration_since(due_at);
    recorder.record_arrival(lag, lag > LATE_AFTER);
    match unit {
        ArrivalUnit::Iterations => {
            if shared.feed(user) {
                let t = shared.pick(user);
                shared.transaction(client, user, t, Some(lag)).await;
            }
        }
        ArrivalUnit::Requests => {
            let (t, r) = if let Some(c) = user.cursor {
                c
            } else if shared.feed(user) {
                (shared.pick(user), 0)
            } else {
                shared.in_flight.fetch_sub(1, Ordering::Relaxed);
                return Arrival::Ran;
            };
            let step = shared.request(client, user, t, r, Some(lag)).await;
            let last = r + 1 == shared.scenario.transactions[t].requests.len();
            user.cursor = if step == Step::Ok && !last {
                Some((t, r + 1))
            } else {
                user.iteration += 1;
                None
            };
        }
    }
    shared.in_flight.fetch_sub(1, Ordering::Relaxed);
    Arrival::Ran
}
