//! Stepped capacity search: raise the load step by step until a stop rule fires.
//!
//! Invariant: every completed step is handed to the caller's callback (which writes
//! `capacity.json`) before the next step starts, so a search that stops early, fails or is
//! interrupted keeps everything it measured. The search never loops unbounded: a step cap is
//! mandatory and loads strictly increase.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{
    AnalysisOptions, CapacityReport, SearchModel, StepMeasurement, StepRecord, breach_excess,
};

/// Runs one step of the search: a warm-up, then a measured hold at a fixed load.
///
/// The run engine implements this by running a full kneepoint stage (closed: `load` users;
/// open: `load` arrivals per second) and returning its numbers, usually through
/// [`StepMeasurement::from_results`] on the results of the hold period. It is synchronous: an
/// async engine blocks on its own runtime inside.
pub trait StepRunner {
    /// Run `step` and return what its hold measured.
    fn run_step(&mut self, step: &StepSpec) -> Result<StepMeasurement, StepError>;
}

/// One step to run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepSpec {
    /// 0-based step number.
    pub index: usize,
    /// Closed (users) or open (arrivals per second).
    pub model: SearchModel,
    /// Users or arrivals per second.
    pub load: f64,
    /// Unmeasured warm-up at this load.
    pub warmup: Duration,
    /// Measured hold.
    pub hold: Duration,
}

/// A step that could not be measured.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum StepError {
    /// The step ran but failed (target unreachable, nothing measured…).
    #[error("step {index} at load {load} failed")]
    Failed {
        /// Step number.
        index: usize,
        /// Its load.
        load: f64,
        /// What went wrong.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// No engine can run steps in this build or configuration.
    #[error("{0}")]
    Unavailable(String),
    /// The step was stopped from outside (Ctrl-C) before its hold ended; it measured nothing
    /// that is kept.
    #[error("step {index} was interrupted")]
    Interrupted {
        /// Step number.
        index: usize,
    },
}

/// How the load grows from one step to the next.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "by", rename_all = "snake_case")]
pub enum Growth {
    /// Multiply by this factor (> 1).
    Factor(f64),
    /// Add this amount (> 0).
    Increment(f64),
}

/// Search settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchOptions {
    /// Closed or open steps.
    pub model: SearchModel,
    /// Load of the first step.
    pub start: f64,
    /// Growth between steps.
    pub growth: Growth,
    /// Warm-up before each hold.
    pub warmup: Duration,
    /// Measured hold per step.
    pub hold: Duration,
    /// Stop when an SLA is breached by more than this fraction of its threshold (0.1 = 10 %).
    pub margin: f64,
    /// Stop after this many consecutive steps without a throughput gain.
    pub plateau_steps: u32,
    /// A step must beat the best throughput so far by this fraction to count as a gain.
    pub min_gain: f64,
    /// Stop when a step's error rate exceeds this ratio.
    pub max_error_rate: f64,
    /// Stop after this many steps.
    pub max_steps: u32,
    /// Stop before a step would end after this much total time.
    pub max_time: Option<Duration>,
    /// Never run a step above this load.
    pub max_load: Option<f64>,
    /// Analysis of the steps.
    pub analysis: AnalysisOptions,
}

impl Default for SearchOptions {
    fn default() -> Self {
        Self {
            model: SearchModel::Closed,
            start: 1.0,
            growth: Growth::Factor(2.0),
            warmup: Duration::from_secs(10),
            hold: Duration::from_secs(30),
            margin: 0.1,
            plateau_steps: 2,
            min_gain: 0.03,
            max_error_rate: 0.05,
            max_steps: 16,
            max_time: None,
            max_load: None,
            analysis: AnalysisOptions::default(),
        }
    }
}

/// The settings as kept in `capacity.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchSettings {
    /// First load.
    pub start: f64,
    /// Growth between steps.
    pub growth: Growth,
    /// Warm-up per step, seconds.
    pub warmup_s: f64,
    /// Hold per step, seconds.
    pub hold_s: f64,
    /// SLA margin (fraction).
    pub margin: f64,
    /// Steps without gain before stopping.
    pub plateau_steps: u32,
    /// Minimum gain (fraction).
    pub min_gain: f64,
    /// Error guard (ratio).
    pub max_error_rate: f64,
    /// Step cap.
    pub max_steps: u32,
    /// Time cap, seconds.
    pub max_time_s: Option<f64>,
    /// Load cap.
    pub max_load: Option<f64>,
}

impl From<&SearchOptions> for SearchSettings {
    fn from(o: &SearchOptions) -> Self {
        Self {
            start: o.start,
            growth: o.growth,
            warmup_s: o.warmup.as_secs_f64(),
            hold_s: o.hold.as_secs_f64(),
            margin: o.margin,
            plateau_steps: o.plateau_steps,
            min_gain: o.min_gain,
            max_error_rate: o.max_error_rate,
            max_steps: o.max_steps,
            max_time_s: o.max_time.map(|d| d.as_secs_f64()),
            max_load: o.max_load,
        }
    }
}

/// Why the search stopped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum StopReason {
    /// An SLA was breached by more than the margin.
    SlaBreached {
        /// Step.
        step: usize,
        /// SLA name.
        sla: String,
        /// How far beyond its threshold, as a fraction.
        excess: f64,
    },
    /// Throughput stopped rising (or fell) for `steps` consecutive steps.
    Plateau {
        /// Consecutive steps without a gain.
        steps: u32,
        /// Best throughput seen, req/s.
        best_rps: f64,
        /// The last step was clearly below the best (retrograde).
        fell: bool,
    },
    /// Error rate over the guard.
    ErrorGuard {
        /// Step.
        step: usize,
        /// Its error rate.
        error_rate: f64,
    },
    /// Step cap reached.
    StepCap {
        /// Steps run.
        steps: u32,
    },
    /// The next step would end past the time cap.
    TimeCap {
        /// Seconds used.
        elapsed_s: f64,
    },
    /// The next step would exceed the load cap.
    LoadCap {
        /// The load cap.
        max_load: f64,
    },
    /// The generator, not the target, limited this step: its numbers are the generator's, so
    /// no knee is reported from it or beyond.
    GeneratorBound {
        /// Step.
        step: usize,
        /// Why (CPU saturated, scheduling lag).
        why: String,
    },
    /// A step failed; earlier steps are kept.
    StepFailed {
        /// Step.
        step: usize,
        /// The error.
        message: String,
    },
    /// The search was interrupted (Ctrl-C) during this step; earlier steps are kept.
    Interrupted {
        /// The step that was cut short (not kept).
        step: usize,
    },
}

impl StopReason {
    /// One line for people.
    pub fn describe(&self) -> String {
        match self {
            Self::SlaBreached { step, sla, excess } => format!(
                "step {step} breached `{sla}` by {:.0} % (beyond the margin)",
                excess * 100.0
            ),
            Self::Plateau {
                steps,
                best_rps,
                fell,
            } => format!(
                "throughput {} for {steps} steps (best {best_rps:.1} req/s)",
                if *fell { "fell" } else { "stopped rising" }
            ),
            Self::ErrorGuard { step, error_rate } => format!(
                "step {step} had {:.2} % errors, over the guard",
                error_rate * 100.0
            ),
            Self::StepCap { steps } => format!("step cap reached ({steps} steps)"),
            Self::TimeCap { elapsed_s } => {
                format!("time cap reached after {elapsed_s:.0} s")
            }
            Self::LoadCap { max_load } => {
                format!("the next step would exceed the load cap {max_load}")
            }
            Self::GeneratorBound { step, why } => format!(
                "step {step} was generator-bound ({why}): kneepoint, not the target, was \
                 the limit; give it more CPU or run it on another machine"
            ),
            Self::StepFailed { step, message } => format!("step {step} failed: {message}"),
            Self::Interrupted { step } => {
                format!("interrupted during step {step} (that step is not kept)")
            }
        }
    }
}

/// A search that could not start or save.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum SearchError {
    /// Settings that cannot produce a bounded, increasing search.
    #[error("invalid capacity search settings: {0}")]
    InvalidOptions(String),
    /// The very first step failed: nothing was measured.
    #[error("the first step failed, nothing was measured")]
    FirstStep(#[source] StepError),
    /// The report could not be saved after a step.
    #[error("cannot save the capacity report after step {step}")]
    Save {
        /// Step just completed.
        step: usize,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl SearchOptions {
    /// Reject settings that would not grow or not end.
    pub fn validate(&self) -> Result<(), SearchError> {
        let bad = |m: &str| Err(SearchError::InvalidOptions(m.into()));
        if !self.start.is_finite() || self.start <= 0.0 {
            return bad("the start load must be positive");
        }
        match self.growth {
            Growth::Factor(f) if !f.is_finite() || f <= 1.0 => {
                return bad("the growth factor must be greater than 1");
            }
            Growth::Increment(i) if !i.is_finite() || i <= 0.0 => {
                return bad("the step increment must be positive");
            }
            _ => {}
        }
        if self.max_steps == 0 {
            return bad("the step cap must be at least 1");
        }
        if self.hold.is_zero() {
            return bad("the hold must be longer than zero");
        }
        if self.margin.is_nan() || self.margin < 0.0 {
            return bad("the SLA margin must not be negative");
        }
        if self.plateau_steps == 0 {
            return bad("the plateau rule needs at least 1 step");
        }
        Ok(())
    }

    /// Load of the step after one at `load`; closed steps are whole users and always grow.
    pub fn next_load(&self, load: f64) -> f64 {
        let next = match self.growth {
            Growth::Factor(f) => load * f,
            Growth::Increment(i) => load + i,
        };
        match self.model {
            SearchModel::Closed => next.round().max(load.round() + 1.0),
            SearchModel::Open => next,
        }
    }

    fn first_load(&self) -> f64 {
        match self.model {
            SearchModel::Closed => self.start.round().max(1.0),
            SearchModel::Open => self.start,
        }
    }
}

/// Run the search: step after step, analysing and handing the report to `on_step` after each,
/// until a stop rule fires. Returns the final report (its `stop` is set).
pub fn search<R, F>(
    runner: &mut R,
    opts: &SearchOptions,
    scenario: &str,
    mut on_step: F,
) -> Result<CapacityReport, SearchError>
where
    R: StepRunner + ?Sized,
    F: FnMut(&CapacityReport) -> std::io::Result<()>,
{
    opts.validate()?;
    let mut report =
        CapacityReport::new(scenario, "search", opts.model, Vec::new(), &opts.analysis);
    report.settings = Some(SearchSettings::from(opts));
    let mut load = opts.first_load();
    let mut elapsed_s = 0.0;
    let mut best_rps = 0.0_f64;
    let mut without_gain = 0_u32;
    let step_s = (opts.warmup + opts.hold).as_secs_f64();
    for index in 0.. {
        let spec = StepSpec {
            index,
            model: opts.model,
            load,
            warmup: opts.warmup,
            hold: opts.hold,
        };
        let measured = match runner.run_step(&spec) {
            Ok(m) => m,
            Err(StepError::Interrupted { .. }) => {
                report.stop = Some(StopReason::Interrupted { step: index });
                on_step(&report).map_err(|source| SearchError::Save {
                    step: index,
                    source,
                })?;
                return Ok(report);
            }
            Err(e) if index == 0 => return Err(SearchError::FirstStep(e)),
            Err(e) => {
                report.stop = Some(StopReason::StepFailed {
                    step: index,
                    message: crate::error::chain(&e),
                });
                on_step(&report).map_err(|source| SearchError::Save {
                    step: index,
                    source,
                })?;
                return Ok(report);
            }
        };
        elapsed_s += if measured.elapsed_s > 0.0 {
            measured.elapsed_s
        } else {
            step_s
        };
        let rps = measured.throughput_rps;
        let error_rate = measured.error_rate;
        let bound = measured.generator_bound.clone();
        let worst = measured
            .slas
            .iter()
            .filter_map(|v| breach_excess(v).map(|e| (e, v.name.clone())))
            .max_by(|a, b| a.0.total_cmp(&b.0));
        report.steps.push(StepRecord {
            index,
            load,
            warmup_s: opts.warmup.as_secs_f64(),
            hold_s: opts.hold.as_secs_f64(),
            sla_passed: measured.sla_passed(),
            measured,
        });

        if rps > best_rps * (1.0 + opts.min_gain) {
            without_gain = 0;
        } else {
            without_gain += 1;
        }
        best_rps = best_rps.max(rps);
        let next = opts.next_load(load);
        #[allow(clippy::cast_possible_truncation)] // step counts are tiny
        let steps_run = (index + 1) as u32;
        report.stop = if let Some(reason) = bound {
            Some(StopReason::GeneratorBound {
                step: index,
                why: reason,
            })
        } else if error_rate > opts.max_error_rate {
            Some(StopReason::ErrorGuard {
                step: index,
                error_rate,
            })
        } else if let Some((excess, sla)) = worst.filter(|(e, _)| *e > opts.margin) {
            Some(StopReason::SlaBreached {
                step: index,
                sla,
                excess,
            })
        } else if without_gain >= opts.plateau_steps {
            Some(StopReason::Plateau {
                steps: without_gain,
                best_rps,
                fell: rps < best_rps * (1.0 - opts.min_gain),
            })
        } else if steps_run >= opts.max_steps {
            Some(StopReason::StepCap { steps: steps_run })
        } else if let Some(max_load) = opts.max_load.filter(|m| next > *m) {
            Some(StopReason::LoadCap { max_load })
        } else if opts
            .max_time
            .is_some_and(|c| elapsed_s + step_s > c.as_secs_f64())
        {
            Some(StopReason::TimeCap { elapsed_s })
        } else {
            None
        };
        // A generator-bound step measured the generator: the knee comes from the steps before.
        let measured_target: Vec<StepRecord> = report
            .steps
            .iter()
            .filter(|s| s.measured.generator_bound.is_none())
            .cloned()
            .collect();
        report.analysis = super::analyze(&measured_target, opts.model, &opts.analysis);
        on_step(&report).map_err(|source| SearchError::Save {
            step: index,
            source,
        })?;
        if report.stop.is_some() {
            break;
        }
        load = next;
    }
    Ok(report)
}
