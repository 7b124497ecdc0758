//! The run engine as a [`StepRunner`]: each step of a capacity search is a full kneepoint run.
//!
//! Job: turn a [`StepSpec`] into a copy of the scenario whose load is two stages — `warm-up`
//! (ramp to the step's load, then stay there) and `step N` (the measured hold) — run it with
//! [`crate::run::execute`] on a runtime this runner owns, and measure the hold stage alone.
//!
//! Invariant: the capacity models stay pure (`capacity/` does no I/O and reads no clock); this
//! runner, above them and above the run engine, is where a search meets real load. What a step
//! measured comes only from its hold stage (the warm-up never counts, and SLAs are judged on the
//! hold alone); every step's full results stay in `STEPS/NN-LOAD/results.json`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::capacity::search::{StepError, StepRunner, StepSpec};
use crate::capacity::{SearchModel, StepMeasurement};
use crate::results::{RunResults, RunStatus};
use crate::run::{RunError, RunSettings, execute};
use crate::scenario::model::{ClosedLoad, LoadModel, OpenLoad, Scenario, Sla, Stage, ThinkTime};

/// Arrivals in flight allowed per arrival per second: an open step may keep this many seconds
/// of arrivals waiting on a slow target before it counts them missed.
const IN_FLIGHT_SECONDS: f64 = 2.0;
/// Pool size of an open step when the scenario is closed (the scenario format's default).
const DEFAULT_IN_FLIGHT: u32 = 1000;

/// How the engine runner works.
#[derive(Debug, Clone)]
pub(crate) struct EngineOptions {
    /// Folder the step folders go into (`OUT/steps`).
    pub steps_dir: PathBuf,
    /// Print one line per step on stderr.
    pub progress: bool,
    /// How the target was provided, as recorded in each step's results.
    pub backend: String,
}

/// The engine could not be set up.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub(crate) enum EngineError {
    /// The async runtime could not start.
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),
}

/// Runs capacity steps through the run engine, blocking on its own runtime.
pub(crate) struct EngineRunner {
    base: Scenario,
    opts: EngineOptions,
    runtime: tokio::runtime::Runtime,
    stack_health: Option<crate::stack::Health>,
}

impl std::fmt::Debug for EngineRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineRunner")
            .field("scenario", &self.base.name)
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

/// The search model a scenario's own load implies.
pub(crate) fn scenario_model(scenario: &Scenario) -> SearchModel {
    match scenario.load.model {
        LoadModel::Closed(_) => SearchModel::Closed,
        LoadModel::Open(_) => SearchModel::Open,
    }
}

/// The scenario one step runs: `base` with its load replaced by the step's stages, its
/// iteration and duration caps cleared (the stages end the run), and no `abort` SLAs (an abort
/// would cut the hold short; the search's own margin rule stops instead).
///
/// Closed steps run `load` users (rounded, at least 1) with the scenario's think time; open
/// steps offer `load` arrivals per second with an in-flight cap of at least 2 s of arrivals.
/// A step model that differs from the scenario's converts it: closed → open arrivals are whole
/// transactions; open → closed users have no think time.
pub(crate) fn step_scenario(base: &Scenario, step: &StepSpec) -> Scenario {
    let mut s = base.clone();
    let target = match step.model {
        SearchModel::Closed => step.load.round().max(1.0),
        SearchModel::Open => step.load,
    };
    let stages = step_stages(step, target);
    s.load.model = match (step.model, &base.load.model) {
        (SearchModel::Closed, LoadModel::Closed(c)) => closed(stages, c.think_time),
        (SearchModel::Closed, LoadModel::Open(_)) => closed(stages, None),
        (SearchModel::Open, LoadModel::Open(o)) => LoadModel::Open(OpenLoad {
            stages,
            unit: o.unit,
            max_in_flight: in_flight(o.max_in_flight, target),
        }),
        (SearchModel::Open, LoadModel::Closed(_)) => LoadModel::Open(OpenLoad {
            stages,
            unit: crate::results::ArrivalUnit::Iterations,
            max_in_flight: in_flight(DEFAULT_IN_FLIGHT, target),
        }),
    };
    s.load.max_iterations = None;
    s.load.max_duration = None;
    for sla in &mut s.slas {
        sla.abort = false;
    }
    s
}

fn closed(stages: Vec<Stage>, think_time: Option<ThinkTime>) -> LoadModel {
    LoadModel::Closed(ClosedLoad { stages, think_time })
}

fn in_flight(configured: u32, rate: f64) -> u32 {
    let wanted = (rate * IN_FLIGHT_SECONDS).ceil();
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // clamped to u32 first
    let wanted = wanted.clamp(1.0, f64::from(u32::MAX)) as u32;
    configured.max(wanted)
}

/// How long a step keeps its load after the hold, unmeasured.
const TAIL: Duration = Duration::from_secs(1);

/// Warm-up (ramp over the first half, in whole seconds since goose ramps by the second, then
/// stay, so the load is steady before measuring), the measured hold, and a short unmeasured
/// tail at the same load. No warm-up stage when the warm-up is zero.
///
/// The tail exists because goose runs a little past the plan (it checks its step timers every
/// 500 ms) and the results count whatever completes after the plan's end into the last stage,
/// whose span stops at the plan's end: measured there, throughput would be overstated. With the
/// tail, the hold has the load running on both sides and holds exactly what completed within it.
fn step_stages(step: &StepSpec, target: f64) -> Vec<Stage> {
    let mut stages = Vec::with_capacity(3);
    if !step.warmup.is_zero() {
        let ramp = Duration::from_secs(step.warmup.as_secs() / 2);
        stages.push(Stage {
            name: Some("warm-up".into()),
            target,
            ramp,
            hold: step.warmup.saturating_sub(ramp),
        });
    }
    // Later stages "ramp" from the load to the same load over their first second: the load never
    // changes, but a zero-length ramp at an unchanged user count would become a zero-length goose
    // step, which never ends (goose's step timer treats 0 ms as "not yet").
    let ramp = if stages.is_empty() {
        Duration::ZERO
    } else {
        step.hold.min(Duration::from_secs(1))
    };
    stages.push(Stage {
        name: Some(format!("step {}", step.index)),
        target,
        ramp,
        hold: step.hold.saturating_sub(ramp),
    });
    stages.push(Stage {
        name: Some("tail".into()),
        target,
        ramp: TAIL,
        hold: Duration::ZERO,
    });
    stages
}

/// Index of the measured stage among a step's stages.
fn hold_index(step: &StepSpec) -> usize {
    usize::from(!step.warmup.is_zero())
}

/// `NN-LOAD`, e.g. `03-8` or `02-150.5`.
pub(crate) fn step_dir_name(step: &StepSpec) -> String {
    let load = format!("{:.2}", step.load);
    let load = load.trim_end_matches('0').trim_end_matches('.');
    format!("{:02}-{load}", step.index)
}

/// A run's results narrowed to one stage: its scopes become the run's, its duration the run's,
/// the per-second series and server metrics keep only its seconds, and `slas` are judged on it.
/// `None` when the run has no such stage. Open-model arrival accounting still covers the run.
pub(crate) fn stage_results(
    mut results: RunResults,
    index: usize,
    slas: &[Sla],
) -> Option<RunResults> {
    let pos = results.stages.iter().position(|s| s.index == index)?;
    let stage = results.stages.swap_remove(pos);
    let (start, end) = (stage.start_s, stage.end_s);
    results.scopes.clone_from(&stage.scopes);
    results.duration_s = (end - start).max(0.0);
    results.series.retain(|s| {
        let t = f64::from(s.t);
        t >= start.floor() && t < end.ceil()
    });
    for series in &mut results.server_metrics {
        series.points.retain(|&(t, _)| t >= start && t <= end);
    }
    results.stages = vec![stage];
    results.slas = crate::sla::evaluate(slas, &results);
    Some(results)
}

impl EngineRunner {
    /// A runner for `scenario` (its target, transactions and SLAs; its load is replaced per step).
    pub(crate) fn new(scenario: Scenario, opts: EngineOptions) -> Result<Self, EngineError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(EngineError::Runtime)?;
        Ok(Self {
            base: scenario,
            opts,
            runtime,
            stack_health: None,
        })
    }

    /// Run a future on the runner's runtime (the one every step runs on), e.g. to start and
    /// stop a reference stack that must outlive the steps.
    pub(crate) fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// Send every step to a started reference stack, and record its backend in the results.
    pub(crate) fn use_stack(&mut self, stack: &crate::stack::Stack) {
        stack.aim(&mut self.base);
        stack.backend_name().clone_into(&mut self.opts.backend);
        // A stack that goes down fails the step it happens in, and so stops the search.
        self.stack_health = Some(stack.health());
    }

    fn say(&self, text: &str) {
        if self.opts.progress {
            eprint!("{text}");
        }
    }

    fn failed(
        step: &StepSpec,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> StepError {
        StepError::Failed {
            index: step.index,
            load: step.load,
            source: source.into(),
        }
    }
}

impl StepRunner for EngineRunner {
    fn run_step(&mut self, step: &StepSpec) -> Result<StepMeasurement, StepError> {
        if crate::run::interrupted() {
            // Ctrl-C came between two steps: there was no load to stop, so stop here.
            return Err(StepError::Interrupted { index: step.index });
        }
        let scenario = step_scenario(&self.base, step);
        let dir = self.opts.steps_dir.join(step_dir_name(step));
        let mut settings = RunSettings::new(&dir);
        settings.backend.clone_from(&self.opts.backend);
        settings.stack_health.clone_from(&self.stack_health);
        self.say(&format!(
            "step {:>2}: {:>6} {:<10}",
            step.index,
            trim(step.load),
            step.model.load_unit()
        ));
        let started = Instant::now();
        let outcome = self
            .runtime
            .block_on(execute(Arc::new(scenario), &settings));
        let elapsed_s = started.elapsed().as_secs_f64();
        let results = match outcome {
            Ok(r) => r,
            Err(e) => {
                if matches!(e, RunError::Unreachable { .. }) {
                    // Nothing was written; leave no empty folders behind.
                    let _ = std::fs::remove_dir(&dir);
                    let _ = std::fs::remove_dir(&self.opts.steps_dir);
                }
                self.say("failed\n");
                return Err(Self::failed(step, e));
            }
        };
        match &results.status {
            RunStatus::Completed | RunStatus::InProgress => {}
            // With `abort` cleared, only Ctrl-C (or SIGTERM) stops a step early.
            RunStatus::Interrupted | RunStatus::Aborted { .. } => {
                self.say("interrupted\n");
                return Err(StepError::Interrupted { index: step.index });
            }
            RunStatus::Failed { reason } => {
                self.say("failed\n");
                return Err(Self::failed(step, reason.clone()));
            }
        }
        let Some(hold) = stage_results(results, hold_index(step), &self.base.slas) else {
            self.say("failed\n");
            return Err(Self::failed(step, "the run has no hold stage"));
        };
        let m = StepMeasurement::from_results(hold, elapsed_s);
        self.say(&format!("{}\n", step_line(&m)));
        Ok(m)
    }
}

/// What a step measured, on one line.
fn step_line(m: &StepMeasurement) -> String {
    let sla = if m.slas.is_empty() {
        "no SLAs".to_owned()
    } else if m.sla_passed() {
        "SLA ok".to_owned()
    } else {
        let broken: Vec<&str> = m
            .slas
            .iter()
            .filter(|v| !v.passed)
            .map(|v| v.name.as_str())
            .collect();
        format!("SLA breached: {}", broken.join(", "))
    };
    format!(
        "{:>9.1} req/s  p95 {:>7} ms  errors {:>5.2} %  {sla}",
        m.throughput_rps,
        m.p95_ms
            .map_or_else(|| "-".to_owned(), |v| format!("{v:.1}")),
        m.error_rate * 100.0
    )
}

/// A load for people: `8`, `150.5`.
fn trim(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::ArrivalUnit;
    use crate::testing::scenario::ScenarioBuilder;
    use crate::testing::simulated as fixtures;

    fn base(model: LoadModel) -> Scenario {
        ScenarioBuilder::new(model)
            .named("s")
            .max_duration(Duration::from_secs(60))
            .max_iterations(Some(100))
            .slas(fixtures::closed_spec().slas)
            .build()
    }

    fn spec(model: SearchModel, load: f64, warmup: u64) -> StepSpec {
        StepSpec {
            index: 3,
            model,
            load,
            warmup: Duration::from_secs(warmup),
            hold: Duration::from_secs(30),
        }
    }

    fn stages(s: &Scenario) -> &[Stage] {
        match &s.load.model {
            LoadModel::Closed(c) => &c.stages,
            LoadModel::Open(o) => &o.stages,
        }
    }

    #[test]
    fn closed_step_warms_up_then_holds_without_caps() {
        let think = ThinkTime {
            min: Duration::from_millis(100),
            max: Duration::from_millis(300),
        };
        let b = base(closed(vec![], Some(think)));
        assert!(
            b.slas.iter().any(|s| s.abort),
            "the fixture has an abort SLA"
        );
        let s = step_scenario(&b, &spec(SearchModel::Closed, 7.6, 5));
        let LoadModel::Closed(c) = &s.load.model else {
            panic!("closed stays closed");
        };
        assert_eq!(c.think_time, Some(think));
        assert_eq!(
            c.stages,
            vec![
                Stage {
                    name: Some("warm-up".into()),
                    target: 8.0,
                    ramp: Duration::from_secs(2),
                    hold: Duration::from_secs(3),
                },
                Stage {
                    name: Some("step 3".into()),
                    target: 8.0,
                    ramp: Duration::from_secs(1),
                    hold: Duration::from_secs(29),
                },
                Stage {
                    name: Some("tail".into()),
                    target: 8.0,
                    ramp: Duration::from_secs(1),
                    hold: Duration::ZERO,
                },
            ]
        );
        let plan = crate::plan::Plan::new(&s.load, None);
        assert_eq!(
            plan.goose_test_plan(),
            "8,2;8,3;8,1;8,29;8,1;0,0",
            "no zero-length step at an unchanged user count"
        );
        assert_eq!(plan.stages[1].start, Duration::from_secs(5));
        assert_eq!(
            plan.stages[1].end,
            Duration::from_secs(35),
            "the hold lasts 30 s"
        );
        assert_eq!(s.load.max_iterations, None);
        assert_eq!(s.load.max_duration, None);
        assert!(s.slas.iter().all(|s| !s.abort));
        assert_eq!(s.slas.len(), b.slas.len());
        // No warm-up: the hold is the only stage.
        let s = step_scenario(&b, &spec(SearchModel::Closed, 0.2, 0));
        assert_eq!(stages(&s).len(), 2, "hold and tail");
        assert_eq!(stages(&s)[0].target, 1.0, "at least one user");
        assert_eq!(
            stages(&s)[0].ramp,
            Duration::ZERO,
            "from 0 users: launch at once"
        );
        assert_eq!(stages(&s)[0].hold, Duration::from_secs(30));
        assert_eq!(hold_index(&spec(SearchModel::Closed, 1.0, 0)), 0);
        assert_eq!(hold_index(&spec(SearchModel::Closed, 1.0, 1)), 1);
    }

    #[test]
    fn open_step_scales_the_in_flight_cap() {
        let b = base(LoadModel::Open(OpenLoad {
            stages: vec![],
            unit: ArrivalUnit::Requests,
            max_in_flight: 50,
        }));
        let s = step_scenario(&b, &spec(SearchModel::Open, 150.5, 1));
        let LoadModel::Open(o) = &s.load.model else {
            panic!("open stays open");
        };
        assert_eq!(o.unit, ArrivalUnit::Requests);
        assert_eq!(o.max_in_flight, 301, "2 s of arrivals");
        assert_eq!(
            o.stages[0].ramp,
            Duration::ZERO,
            "1 s warm-up: no whole second to ramp"
        );
        assert_eq!(o.stages[1].target, 150.5);
        let s = step_scenario(&b, &spec(SearchModel::Open, 10.0, 1));
        let LoadModel::Open(o) = &s.load.model else {
            panic!("open stays open");
        };
        assert_eq!(o.max_in_flight, 50, "the configured cap when larger");
        // Converted from closed: whole transactions, the default pool.
        let s = step_scenario(
            &base(closed(vec![], None)),
            &spec(SearchModel::Open, 40.0, 2),
        );
        assert!(matches!(
            &s.load.model,
            LoadModel::Open(OpenLoad {
                unit: ArrivalUnit::Iterations,
                max_in_flight: 1000,
                ..
            })
        ));
    }

    #[test]
    fn step_folders_sort_and_name_the_load() {
        assert_eq!(step_dir_name(&spec(SearchModel::Closed, 8.0, 1)), "03-8");
        assert_eq!(
            step_dir_name(&spec(SearchModel::Open, 150.5, 1)),
            "03-150.5"
        );
        assert_eq!(
            step_dir_name(&spec(SearchModel::Open, 1.234_56, 1)),
            "03-1.23"
        );
    }

    #[test]
    fn measurement_comes_from_the_hold_stage_alone() {
        let run = fixtures::closed_run();
        let slas = fixtures::closed_spec().slas;
        let peak = run.stages[2].clone();
        let narrowed = stage_results(run.clone(), 2, &slas).expect("stage 2 exists");
        assert_eq!(narrowed.scopes, peak.scopes);
        assert!((narrowed.duration_s - (peak.end_s - peak.start_s)).abs() < 1e-12);
        assert_eq!(narrowed.stages, vec![peak.clone()]);
        assert!(!narrowed.series.is_empty());
        assert!(
            narrowed
                .series
                .iter()
                .all(|s| f64::from(s.t) >= peak.start_s.floor() && f64::from(s.t) < peak.end_s)
        );
        assert_eq!(narrowed.slas.len(), slas.len());
        let overall = narrowed.overall().expect("overall").clone();
        let p95 = narrowed
            .slas
            .iter()
            .find(|v| v.metric == "p95")
            .and_then(|v| v.actual)
            .expect("p95 measured");
        #[allow(clippy::cast_precision_loss)]
        let stage_p95 = overall.stats.latency_us.p95 as f64;
        assert_eq!(p95, stage_p95, "judged on the stage, not the run");
        let whole = run.overall().expect("overall").stats.requests;
        assert!(overall.stats.requests < whole, "the warm-up does not count");
        let m = StepMeasurement::from_results(narrowed, 40.0);
        assert_eq!(m.requests, overall.stats.requests);
        assert_eq!(m.throughput_rps, overall.stats.throughput_rps);
        assert!(stage_results(run, 7, &slas).is_none());
    }
}
