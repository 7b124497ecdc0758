//! The load plan: a scenario's stages laid out on a timeline.
//!
//! Invariant: pure arithmetic, no I/O and no clock. Times are offsets from the run's start. The
//! open model's schedule is exact: arrival `k` (0-based) is due when the integral of the rate
//! reaches `k`, so a ramp from 0 to 10/s over 10 s schedules exactly 50 arrivals.

use std::time::Duration;

use crate::results::{LoadProfile, ProfileStage};
use crate::scenario::model::{Load, LoadModel, Stage};

/// A stage placed on the timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedStage {
    /// 0-based index.
    pub index: usize,
    /// Display name.
    pub name: String,
    /// Offset of the stage's start.
    pub start: Duration,
    /// Offset of the stage's end (start + ramp + hold, cut by the run's cap).
    pub end: Duration,
    /// Users or arrivals/s at the stage's start.
    pub from: f64,
    /// Users or arrivals/s once ramped.
    pub target: f64,
    /// Ramp time.
    pub ramp: Duration,
}

/// The whole run laid out.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Stages in order (those entirely past the duration cap are dropped).
    pub stages: Vec<PlannedStage>,
    /// Total planned time.
    pub duration: Duration,
    /// Iteration (closed) or arrival (open) cap.
    pub max_iterations: Option<u64>,
    /// Whether arrivals follow a schedule (open model).
    pub open: bool,
}

impl Plan {
    /// Lay out a load. `max_duration` overrides the scenario's own cap (`--duration`).
    pub fn new(load: &Load, max_duration: Option<Duration>) -> Self {
        let (stages, open) = match &load.model {
            LoadModel::Closed(c) => (&c.stages, false),
            LoadModel::Open(o) => (&o.stages, true),
        };
        let cap = max_duration.or(load.max_duration);
        let mut planned = Vec::with_capacity(stages.len());
        let mut at = Duration::ZERO;
        let mut from = 0.0;
        for (index, stage) in stages.iter().enumerate() {
            if cap.is_some_and(|c| at >= c) {
                break;
            }
            let mut end = at + stage.ramp + stage.hold;
            if let Some(c) = cap {
                end = end.min(c);
            }
            planned.push(PlannedStage {
                index,
                name: stage
                    .name
                    .clone()
                    .unwrap_or_else(|| format!("stage {}", index + 1)),
                start: at,
                end,
                from,
                target: stage.target,
                ramp: stage.ramp,
            });
            from = stage.target;
            at = end;
        }
        // A cap longer than the stages holds the last stage's load until the cap.
        if let (Some(c), Some(last)) = (cap, planned.last_mut())
            && c > at
        {
            last.end = c;
            at = c;
        }
        Self {
            stages: planned,
            duration: at,
            max_iterations: load.max_iterations,
            open,
        }
    }

    /// Index of the stage running at offset `t` (the last stage after the end).
    pub fn stage_at(&self, t: Duration) -> usize {
        self.stages
            .iter()
            .position(|s| t < s.end)
            .unwrap_or(self.stages.len().saturating_sub(1))
    }

    /// Users or arrivals/s configured at offset `t`.
    pub fn load_at(&self, t: Duration) -> f64 {
        let Some(stage) = self.stages.get(self.stage_at(t)) else {
            return 0.0;
        };
        let into = t.saturating_sub(stage.start);
        if into >= stage.ramp || stage.ramp.is_zero() {
            stage.target
        } else {
            stage.from + (stage.target - stage.from) * into.as_secs_f64() / stage.ramp.as_secs_f64()
        }
    }

    /// Open model: arrivals due in `[0, t)` (the rate's integral).
    pub fn arrivals_until(&self, t: Duration) -> f64 {
        let t = t.as_secs_f64();
        let mut total = 0.0;
        for s in &self.stages {
            let (start, end) = (s.start.as_secs_f64(), s.end.as_secs_f64());
            if t <= start {
                break;
            }
            let ramp_end = (start + s.ramp.as_secs_f64()).min(end);
            // Ramp part: rate goes linearly from `from` to `target` over the full ramp time.
            let slope = if s.ramp.is_zero() {
                0.0
            } else {
                (s.target - s.from) / s.ramp.as_secs_f64()
            };
            let r_len = (t.min(ramp_end) - start).max(0.0);
            total += s.from * r_len + slope * r_len * r_len / 2.0;
            if t > ramp_end {
                let rate = if s.ramp.is_zero() {
                    s.target
                } else {
                    s.from + slope * (ramp_end - start)
                };
                total += rate * (t.min(end) - ramp_end);
            }
        }
        total
    }

    /// Open model: when arrival `k` (0-based) is due, or `None` if the schedule ends first.
    pub fn arrival_time(&self, k: u64) -> Option<Duration> {
        if self.max_iterations.is_some_and(|cap| k >= cap) {
            return None;
        }
        // k is a count; exact up to 2^53.
        #[allow(clippy::cast_precision_loss)]
        let target = k as f64;
        let mut before = 0.0;
        for s in &self.stages {
            let (start, end) = (s.start.as_secs_f64(), s.end.as_secs_f64());
            let ramp_len = s.ramp.as_secs_f64().min(end - start);
            let slope = if s.ramp.is_zero() {
                0.0
            } else {
                (s.target - s.from) / s.ramp.as_secs_f64()
            };
            // Ramp segment: A(τ) = from·τ + slope·τ²/2.
            let ramp_total = s.from * ramp_len + slope * ramp_len * ramp_len / 2.0;
            if before + ramp_total > target && ramp_len > 0.0 {
                let need = target - before;
                let tau = if slope.abs() < 1e-12 {
                    need / s.from
                } else {
                    // Smallest non-negative root of slope/2·τ² + from·τ − need = 0.
                    let disc = (s.from * s.from + 2.0 * slope * need).max(0.0);
                    (-s.from + disc.sqrt()) / slope
                };
                return Some(Duration::from_secs_f64(start + tau.clamp(0.0, ramp_len)));
            }
            before += ramp_total;
            let rate = if s.ramp.is_zero() {
                s.target
            } else {
                s.from + slope * ramp_len
            };
            let hold_len = end - start - ramp_len;
            let hold_total = rate * hold_len;
            if before + hold_total > target && rate > 0.0 {
                let tau = (target - before) / rate;
                return Some(Duration::from_secs_f64(start + ramp_len + tau.max(0.0)));
            }
            before += hold_total;
        }
        None
    }

    /// The profile as results files describe it.
    pub fn profile(load: &Load) -> LoadProfile {
        let stages = |stages: &[Stage]| {
            stages
                .iter()
                .map(|s| ProfileStage {
                    name: s.name.clone(),
                    target: s.target,
                    ramp_s: s.ramp.as_secs_f64(),
                    hold_s: s.hold.as_secs_f64(),
                })
                .collect()
        };
        match &load.model {
            LoadModel::Closed(c) => LoadProfile::Closed {
                stages: stages(&c.stages),
                think_time_us: c.think_time.map(|t| {
                    (
                        u64::try_from(t.min.as_micros()).unwrap_or(u64::MAX),
                        u64::try_from(t.max.as_micros()).unwrap_or(u64::MAX),
                    )
                }),
                max_iterations: load.max_iterations,
            },
            LoadModel::Open(o) => LoadProfile::Open {
                stages: stages(&o.stages),
                unit: o.unit,
                max_in_flight: o.max_in_flight,
                max_iterations: load.max_iterations,
            },
        }
    }

    /// Closed model: the goose test plan (`users,seconds;…;0,0`). Goose counts whole seconds,
    /// so each segment is rounded up; the run's own clock still ends the run at `duration`.
    pub fn goose_test_plan(&self) -> String {
        let mut steps = Vec::new();
        let mut previous = 0.0;
        for s in &self.stages {
            let users = s.target.round().max(0.0);
            let ramp = s.ramp.min(s.end.saturating_sub(s.start));
            let hold = s.end.saturating_sub(s.start).saturating_sub(ramp);
            // Goose never finishes a zero-second step that keeps the user count: skip it.
            if !(ramp.is_zero() && users == previous && !steps.is_empty()) {
                steps.push(format!("{users},{}", ceil_secs(ramp)));
            }
            previous = users;
            if !hold.is_zero() {
                steps.push(format!("{users},{}", ceil_secs(hold)));
            }
        }
        steps.push("0,0".into());
        steps.join(";")
    }

    /// Largest user count any stage reaches.
    pub fn peak(&self) -> f64 {
        self.stages.iter().map(|s| s.target).fold(0.0, f64::max)
    }
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::ArrivalUnit;
    use crate::scenario::model::{ClosedLoad, OpenLoad};

    fn stage(target: f64, ramp: u64, hold: u64) -> Stage {
        Stage {
            name: None,
            target,
            ramp: Duration::from_secs(ramp),
            hold: Duration::from_secs(hold),
        }
    }

    /// A closed load of these stages, uncapped.
    fn closed(stages: Vec<Stage>) -> Load {
        Load {
            model: LoadModel::Closed(ClosedLoad {
                stages,
                think_time: None,
            }),
            max_duration: None,
            max_iterations: None,
        }
    }

    fn open(stages: Vec<Stage>, cap: Option<u64>) -> Plan {
        let load = Load {
            model: LoadModel::Open(OpenLoad {
                stages,
                unit: ArrivalUnit::Iterations,
                max_in_flight: 10,
            }),
            max_duration: None,
            max_iterations: cap,
        };
        Plan::new(&load, None)
    }

    #[test]
    fn closed_plan_maps_to_goose_steps() {
        let load = closed(vec![stage(10.0, 5, 20), stage(20.0, 0, 10)]);
        let plan = Plan::new(&load, None);
        assert_eq!(plan.goose_test_plan(), "10,5;10,20;20,0;20,10;0,0");
        assert_eq!(plan.duration, Duration::from_secs(35));
        assert_eq!(plan.stage_at(Duration::from_secs(24)), 0);
        assert_eq!(plan.stage_at(Duration::from_secs(25)), 1);
        assert!((plan.load_at(Duration::from_millis(2500)) - 5.0).abs() < 1e-9);
        // A duration cap cuts the second stage.
        let cut = Plan::new(&load, Some(Duration::from_secs(30)));
        assert_eq!(cut.goose_test_plan(), "10,5;10,20;20,0;20,5;0,0");
        // A stage that keeps the user count with no ramp adds only its hold.
        let same = closed(vec![stage(1.0, 0, 1), stage(1.0, 0, 2)]);
        assert_eq!(Plan::new(&same, None).goose_test_plan(), "1,0;1,1;1,2;0,0");
    }

    #[test]
    fn open_schedule_is_the_rate_integral() {
        // Ramp 0 → 10/s over 10 s (50 arrivals), then 10/s for 5 s (50 more).
        let plan = open(vec![stage(10.0, 10, 5)], None);
        assert!((plan.arrivals_until(Duration::from_secs(10)) - 50.0).abs() < 1e-9);
        assert!((plan.arrivals_until(Duration::from_secs(15)) - 100.0).abs() < 1e-9);
        let times: Vec<_> = (0..101).map(|k| plan.arrival_time(k)).collect();
        assert_eq!(times[0], Some(Duration::ZERO));
        assert!(times[100].is_none(), "exactly 100 arrivals are scheduled");
        for (k, t) in times.iter().take(100).enumerate() {
            let t = t.expect("scheduled");
            #[allow(clippy::cast_precision_loss)]
            let due = k as f64;
            assert!(
                (plan.arrivals_until(t) - due).abs() < 1e-6,
                "arrival {k} at {t:?}"
            );
        }
        assert!(times[..100].windows(2).all(|w| w[0] <= w[1]), "in order");
    }

    #[test]
    fn constant_rate_and_cap() {
        let plan = open(vec![stage(100.0, 0, 2)], Some(150));
        assert_eq!(plan.arrival_time(100), Some(Duration::from_secs(1)));
        assert!(plan.arrival_time(150).is_none());
        assert_eq!(plan.arrival_time(149), Some(Duration::from_millis(1490)));
    }
}
