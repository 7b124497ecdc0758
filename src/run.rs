//! One run, end to end: preflight, drive the load, watch it, checkpoint, finish the results.
//!
//! Invariant: once load has started, what was measured is written to `OUT/results.json` whatever
//! happens next — after every stage (status `in_progress`), and at the end with how the run
//! ended (completed, aborted by an SLA, interrupted, failed). Errors before the load starts
//! (unreachable target, unwritable folder) are returned as errors; after, they are a status.

use std::net::ToSocketAddrs as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::driver::{self, EndReason};
use crate::plan::Plan;
use crate::progress::Progress;

use crate::recorder::{Recorder, Scopes};
use crate::results::{
    GeneratorHealth, ResultsError, RunResults, RunStatus, SCHEMA_VERSION, ScenarioInfo,
    ServerSeries, ShardInfo,
};
use crate::scenario::model::Scenario;
use crate::scrape::Scraper;
use crate::sla;

/// How to run, besides the scenario itself.
#[derive(Debug, Clone)]
pub struct RunSettings {
    /// Folder for results and reports (created if missing).
    pub out_dir: PathBuf,
    /// How the target was provided (`external`, `embedded`, `docker`).
    pub backend: String,
    /// Progress display.
    pub progress: Progress,
    /// Cap the run's length (`--duration`).
    pub max_duration: Option<Duration>,
    /// Minimum requests in a scope before an `abort = true` SLA may stop the run.
    pub abort_min_requests: u64,
    /// Run id to write instead of a fresh one (every shard of a distributed run shares one).
    pub run_id: Option<String>,
    /// Which shard of a distributed run this is (written to the results as `shard`).
    pub shard: Option<ShardInfo>,
    /// The reference stack the target runs on, when kneepoint started it: a stack that goes
    /// down during the load (a container killed or crashed) ends the run as failed.
    pub stack_health: Option<crate::stack::Health>,
}

impl RunSettings {
    /// Settings with defaults for everything but the output folder.
    pub fn new(out_dir: impl Into<PathBuf>) -> Self {
        Self {
            out_dir: out_dir.into(),
            backend: "external".into(),
            progress: Progress::Quiet,
            max_duration: None,
            abort_min_requests: 100,
            run_id: None,
            shard: None,
            stack_health: None,
        }
    }
}

/// A run could not start, or its results could not be kept.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum RunError {
    /// The target did not accept a connection.
    #[error("target `{url}` is unreachable: {reason}")]
    #[diagnostic(help("start the service, or point `[target] base_url` / `--target` at it"))]
    Unreachable {
        /// Base URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The output folder could not be created.
    #[error("cannot create the output folder `{}`", path.display())]
    #[diagnostic(help("choose another folder with `--out`"))]
    OutDir {
        /// Folder.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// Results could not be serialized or written.
    #[error(transparent)]
    Results(#[from] ResultsError),
}

/// How often the target's metrics endpoint is scraped.
const SCRAPE_EVERY: Duration = Duration::from_secs(2);

/// Set by the first Ctrl-C / SIGTERM.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);
const INTERRUPT_REASON: &str = "interrupted";

/// Install the Ctrl-C / SIGTERM handler: the first signal stops the load gracefully (results are
/// still written), the second exits at once. Call once from the binary.
pub fn handle_signals() {
    // Fails only when a handler exists already; then that one is in charge.
    let _ = ctrlc::set_handler(|| {
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
            eprintln!("\nkneepoint: second interrupt, exiting without finishing");
            std::process::exit(130);
        }
        eprintln!("\nkneepoint: interrupted, finishing the results (interrupt again to quit)");
        driver::goose::stop(INTERRUPT_REASON);
    });
}

/// Whether Ctrl-C / SIGTERM arrived (see [`handle_signals`]). Commands that run several loads in
/// a row (a capacity search) check it between them: a signal that lands between two loads has
/// no load to stop.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Everything fixed at the start of a run, for building results.
#[derive(Debug, Clone)]
struct Meta {
    run_id: String,
    info: ScenarioInfo,
    target: String,
    backend: String,
    started_at: jiff::Timestamp,
    shard: Option<ShardInfo>,
}

/// Run a scenario against its target and return the results (also written to
/// `OUT/results.json`). The caller decides the exit code from `status` and the SLA verdicts.
pub async fn execute(
    scenario: Arc<Scenario>,
    settings: &RunSettings,
) -> Result<RunResults, RunError> {
    std::fs::create_dir_all(&settings.out_dir).map_err(|source| RunError::OutDir {
        path: settings.out_dir.clone(),
        source,
    })?;
    preflight(&scenario.target.base_url).await?;
    let results_path = settings.out_dir.join("results.json");
    let plan = Plan::new(&scenario.load, settings.max_duration);
    let scopes = Scopes::new(&scenario.transactions);
    let stripes = std::thread::available_parallelism().map_or(4, |n| n.get() * 2);
    let recorder = Arc::new(Recorder::new(plan.clone(), scopes, stripes));
    let meta = Meta {
        run_id: settings
            .run_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        info: ScenarioInfo {
            name: scenario.name.clone(),
            path: scenario.path.display().to_string(),
            sha256: scenario.sha256.clone(),
        },
        target: scenario.target.base_url.clone(),
        backend: settings.backend.clone(),
        started_at: jiff::Timestamp::now(),
        shard: settings.shard,
    };
    let scraper = scenario
        .target
        .metrics_url
        .clone()
        .map(|url| Scraper::start(url, recorder.start(), SCRAPE_EVERY));
    let server = scraper.as_ref().map(|(s, _)| s.clone());
    let done = Arc::new(AtomicBool::new(false));
    let watcher = tokio::spawn(watch(
        scenario.clone(),
        recorder.clone(),
        settings.clone(),
        results_path.clone(),
        done.clone(),
        meta.clone(),
        server.clone(),
    ));
    let (outcome, target_down) = drive_watching(&scenario, &recorder, settings).await;
    done.store(true, Ordering::SeqCst);
    // The watcher only reads (and may have stopped the load for a target that stopped
    // answering); whether it panicked or not, finish from the recorder itself.
    let (unreachable, generator) = match watcher.await {
        Ok(w) => (w.unreachable, Some(w.generator)),
        Err(_) => (None, None),
    };
    if let Some((_, handle)) = scraper {
        handle.abort();
    }
    recorder.tick();
    // The measured window starts when the load began (the users' or the dispatcher's launch is
    // not in it).
    let mut elapsed = recorder.start().elapsed();
    if matches!(outcome, Ok(EndReason::PlanCompleted)) {
        // The load ran until the plan's end, plus the requests in flight then; goose's wind-down
        // after it (about a second, no new iterations) is not load, and counting it would
        // understate the throughput.
        elapsed = elapsed.min(plan.duration.max(recorder.last_record()));
    } else if matches!(
        outcome,
        Ok(EndReason::IterationCap | EndReason::FeedersExhausted)
    ) {
        // Every capped iteration or arrival has finished (the last one to end stopped the
        // load), as has every user whose feeder ran out: the load ended with the last response,
        // and goose's wind-down after it is not load.
        elapsed = elapsed.min(recorder.last_record().max(Duration::from_millis(1)));
    }
    if plan.open {
        // Arrivals due by the time the load stopped (never more than the cap): arrival k is due
        // at the k-th unit of the rate's integral A, so those due before t number ⌈A(t)⌉ (the
        // first is due at 0); the epsilon keeps rounding noise on a whole A from adding one.
        let due = (plan.arrivals_until(elapsed.min(plan.duration)) - 1e-9).ceil();
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let mut scheduled = due as u64;
        if let Some(cap) = plan.max_iterations {
            scheduled = scheduled.min(cap);
        }
        recorder.set_scheduled(scheduled);
    }
    let status = match (target_down.or(unreachable), outcome) {
        // Whatever else stopped the load, a target that went down is the first thing to say.
        (Some(reason), _) => RunStatus::Failed { reason },
        (
            None,
            Ok(EndReason::PlanCompleted | EndReason::IterationCap | EndReason::FeedersExhausted),
        ) => RunStatus::Completed,
        (None, Ok(EndReason::Stopped(reason))) if reason == INTERRUPT_REASON => {
            RunStatus::Interrupted
        }
        (None, Ok(EndReason::Stopped(reason))) => RunStatus::Aborted { reason },
        (None, Err(e)) => RunStatus::Failed {
            reason: e.to_string(),
        },
    };
    let server_series = server.as_ref().map(Scraper::series).unwrap_or_default();
    let mut results = build(&scenario, &recorder, &meta, elapsed, status, server_series)?;
    results.generator = generator;
    if matches!(results.status, RunStatus::Completed) && nothing_answered(&results) {
        let sample = results
            .overall()
            .and_then(|o| o.errors.first())
            .and_then(|e| e.samples.first())
            .cloned()
            .unwrap_or_default();
        results.status = RunStatus::Failed {
            reason: format!("no request got a response from the target ({sample})"),
        };
    }
    results.write(&results_path)?;
    INTERRUPTED.store(false, Ordering::SeqCst);
    Ok(results)
}

/// Drive the load; with a started stack, watch it meanwhile and stop the load as soon as a part
/// of it goes down. Returns the drive's outcome and, when the stack went down (during the load
/// or by the time it ended), what stopped.
async fn drive_watching(
    scenario: &Arc<Scenario>,
    recorder: &Arc<Recorder>,
    settings: &RunSettings,
) -> (Result<EndReason, driver::DriveError>, Option<String>) {
    let drive = driver::drive(scenario.clone(), recorder.clone());
    let Some(health) = &settings.stack_health else {
        return (drive.await, None);
    };
    tokio::pin!(drive);
    let (outcome, down) = tokio::select! {
        outcome = &mut drive => (outcome, None),
        err = health.wait_down(crate::stack::HEALTH_EVERY) => {
            let reason = err.to_string();
            // Stopped while the drive runs, so the stop switch is reset when it returns.
            driver::goose::stop(&reason);
            (drive.await, Some(reason))
        }
    };
    // A part that stopped since the last look, or while an SLA abort was ending the load.
    let down = match down {
        Some(reason) => Some(reason),
        None => health.check().await.err().map(|e| e.to_string()),
    };
    (outcome, down)
}

/// Whether no request got any HTTP response (every one failed to connect or timed out).
fn nothing_answered(results: &RunResults) -> bool {
    results
        .overall()
        .is_none_or(|o| o.stats.requests == 0 || o.status_codes.values().sum::<u64>() == 0)
}

/// Once a second: close the series' second, show progress, checkpoint at stage ends, and stop
/// the run when an `abort = true` SLA is already lost.
async fn watch(
    scenario: Arc<Scenario>,
    recorder: Arc<Recorder>,
    settings: RunSettings,
    results_path: PathBuf,
    done: Arc<AtomicBool>,
    meta: Meta,
    server: Option<Scraper>,
) -> Watched {
    let stages = recorder.plan().stages.len();
    let window = crate::reachability::window(recorder.plan().duration);
    let mut reachability = crate::reachability::Reachability::new(window);
    let mut unreachable = None;
    let mut progress = settings.progress.start(recorder.plan());
    let has_abort = scenario.slas.iter().any(|s| s.abort);
    let mut stage = 0;
    // The series' seconds count from when the load began.
    while !recorder.has_begun() && !done.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let mut monitor = crate::health::Monitor::start(recorder.start());
    let mut interval = tokio::time::interval_at(
        tokio::time::Instant::from_std(recorder.start()) + Duration::from_secs(1),
        Duration::from_secs(1),
    );
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !done.load(Ordering::SeqCst) {
        interval.tick().await;
        if done.load(Ordering::SeqCst) {
            break;
        }
        let live = recorder.tick();
        monitor.sample();
        progress.update(&live);
        if unreachable.is_none()
            && let Some(since) = reachability.observe(live.elapsed, live.answered, live.unanswered)
        {
            let reason = format!(
                "target unreachable since t = {:.1} s: every request for {} s ended without a \
                 response",
                since.as_secs_f64(),
                window.as_secs()
            );
            driver::goose::stop(&reason);
            unreachable = Some(reason);
        }
        let stage_ended = live.stage != stage;
        if stage_ended || has_abort {
            let elapsed = recorder.start().elapsed();
            let series = server.as_ref().map(Scraper::series).unwrap_or_default();
            let Ok(snapshot) = build(
                &scenario,
                &recorder,
                &meta,
                elapsed,
                RunStatus::InProgress,
                series,
            ) else {
                continue;
            };
            if stage_ended {
                stage = live.stage.min(stages);
                // A failed checkpoint is retried at the next stage and at the end.
                let _ = snapshot.write(&results_path);
            }
            if has_abort
                && let Some(reason) =
                    sla::abort_reason(&scenario.slas, &snapshot, settings.abort_min_requests)
            {
                driver::goose::stop(&reason);
            }
        }
    }
    progress.finish();
    // The last, partial second.
    monitor.sample();
    Watched {
        unreachable,
        generator: monitor.finish(),
    }
}

/// What the watcher saw besides the recorder's numbers.
struct Watched {
    /// Why the load was stopped for a target that stopped answering.
    unreachable: Option<String>,
    /// The generator's own health over the run.
    generator: GeneratorHealth,
}

fn build(
    scenario: &Scenario,
    recorder: &Recorder,
    meta: &Meta,
    elapsed: Duration,
    status: RunStatus,
    server_metrics: Vec<ServerSeries>,
) -> Result<RunResults, ResultsError> {
    let snap = recorder.snapshot(elapsed)?;
    let mut results = RunResults {
        schema_version: SCHEMA_VERSION,
        kneepoint_version: env!("CARGO_PKG_VERSION").into(),
        run_id: meta.run_id.clone(),
        scenario: meta.info.clone(),
        target: meta.target.clone(),
        backend: meta.backend.clone(),
        started_at: meta.started_at,
        // The end of the measured window, so that ended_at − started_at = duration_s.
        ended_at: jiff::SignedDuration::try_from(elapsed)
            .ok()
            .and_then(|d| meta.started_at.checked_add(d).ok())
            .unwrap_or_else(jiff::Timestamp::now),
        duration_s: elapsed.as_secs_f64(),
        status,
        profile: Plan::profile(&scenario.load),
        stages: snap.stages,
        scopes: snap.scopes,
        series: snap.series,
        arrivals: snap.arrivals,
        slas: Vec::new(),
        server_metrics,
        generator: None,
        shards: 1,
        shard: meta.shard,
        merged_from: Vec::new(),
    };
    results.slas = sla::evaluate(&scenario.slas, &results);
    Ok(results)
}

/// Check that the target accepts TCP connections before any load starts.
async fn preflight(base_url: &str) -> Result<(), RunError> {
    let unreachable = |reason: String| RunError::Unreachable {
        url: base_url.to_owned(),
        reason,
    };
    let url = reqwest::Url::parse(base_url).map_err(|e| unreachable(e.to_string()))?;
    let host = url
        .host_str()
        .ok_or_else(|| unreachable("the URL has no host".into()))?
        .trim_matches(['[', ']'])
        .to_owned();
    let port = url
        .port_or_known_default()
        .ok_or_else(|| unreachable("the URL has no port".into()))?;
    let addrs: Vec<_> = (host.as_str(), port)
        .to_socket_addrs()
        .map_err(|e| unreachable(format!("cannot resolve `{host}`: {e}")))?
        .collect();
    let mut last = String::from("no address");
    for addr in addrs {
        match tokio::time::timeout(Duration::from_secs(3), tokio::net::TcpStream::connect(addr))
            .await
        {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(e)) => last = format!("{addr}: {e}"),
            Err(_) => last = format!("{addr}: no answer within 3 s"),
        }
    }
    Err(unreachable(last))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::ArrivalUnit;
    use crate::scenario::model::{ClosedLoad, LoadModel, OpenLoad, Stage};
    use crate::testing::scenario::{ScenarioBuilder, delay_target as target};

    fn scenario(base_url: &str, path: &str, model: LoadModel, iterations: Option<u64>) -> Scenario {
        ScenarioBuilder::new(model)
            .at(base_url)
            .max_iterations(iterations)
            .get(path)
            .build()
    }

    fn stage(target: f64, hold: u64) -> Stage {
        Stage {
            name: None,
            target,
            ramp: Duration::ZERO,
            hold: Duration::from_secs(hold),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn closed_run_with_iteration_cap_counts_exactly() {
        let (url, hits) = target().await;
        let model = LoadModel::Closed(ClosedLoad {
            stages: vec![stage(4.0, 30)],
            think_time: None,
        });
        let s = Arc::new(scenario(&url, "/delay/20", model, Some(60)));
        let dir = tempfile::tempdir().expect("tempdir");
        let results = execute(s, &RunSettings::new(dir.path()))
            .await
            .expect("runs");
        let overall = results.overall().expect("overall");
        assert_eq!(results.status, RunStatus::Completed);
        assert_eq!(overall.stats.requests, 60);
        assert_eq!(
            hits.load(Ordering::SeqCst),
            60,
            "the target counted the same"
        );
        let l = overall.stats.latency_us;
        assert!(l.p50 >= 20_000 && l.p99 >= 20_000, "{l:?}");
        assert!(l.p50 <= 25_000 && l.p99 <= 30_000, "{l:?}");
        // 4 users × 15 iterations of 20 ms: the load lasts ~0.3 s. It ends with the last
        // response, not after goose's wind-down (about a second more), and no empty second
        // trails the series.
        assert!(
            results.duration_s >= 0.3 && results.duration_s < 0.8,
            "{}",
            results.duration_s
        );
        let rate = overall.stats.throughput_rps;
        assert!(
            (rate - 60.0 / results.duration_s).abs() < 1e-6 * rate,
            "{rate}"
        );
        assert!(
            results.series.last().is_some_and(|s| s.requests > 0),
            "{:?}",
            results.series
        );
        assert!(dir.path().join("results.json").exists());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_timed_run_ends_with_its_plan_whatever_the_think_time() {
        let (url, hits) = target().await;
        // 2 users thinking 700 ms between requests for 2 s: iterations start at 0, 0.7 and
        // 1.4 s, so 6 requests. The third think ends after the plan and is cut short; none
        // starts later, and goose's wind-down is not counted as load.
        let model = LoadModel::Closed(ClosedLoad {
            stages: vec![stage(2.0, 2)],
            think_time: Some(crate::scenario::model::ThinkTime {
                min: Duration::from_millis(700),
                max: Duration::from_millis(700),
            }),
        });
        let s = Arc::new(scenario(&url, "/delay/0", model, None));
        let dir = tempfile::tempdir().expect("tempdir");
        let results = execute(s, &RunSettings::new(dir.path()))
            .await
            .expect("runs");
        assert_eq!(results.status, RunStatus::Completed);
        let overall = results.overall().expect("overall");
        assert_eq!(overall.stats.requests, 6, "{:?}", overall.stats);
        assert_eq!(
            hits.load(Ordering::SeqCst),
            6,
            "the target counted the same"
        );
        assert!(
            (2.0..2.1).contains(&results.duration_s),
            "measured {} s for a 2 s plan",
            results.duration_s
        );
        let span = results.ended_at.duration_since(results.started_at);
        assert!((span.as_secs_f64() - results.duration_s).abs() < 1e-3);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn open_run_against_a_slow_target_reports_lateness() {
        let (url, _) = target().await;
        // 50 arrivals/s, each taking 100 ms, but only 2 in flight: at most 20/s can start.
        let model = LoadModel::Open(OpenLoad {
            stages: vec![stage(50.0, 2)],
            unit: ArrivalUnit::Iterations,
            max_in_flight: 2,
        });
        let s = Arc::new(scenario(&url, "/delay/100", model, None));
        let dir = tempfile::tempdir().expect("tempdir");
        let results = execute(s, &RunSettings::new(dir.path()))
            .await
            .expect("runs");
        let arrivals = results.arrivals.clone().expect("open model");
        assert!(arrivals.late > 0, "{arrivals:?}");
        assert!(arrivals.missed > 0, "{arrivals:?}");
        assert_eq!(arrivals.scheduled, 100, "{arrivals:?}");
        let overall = results.overall().expect("overall");
        let intended = overall.stats.intended_latency_us.expect("intended");
        assert!(intended.p99 > overall.stats.latency_us.p99, "{intended:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stack_that_goes_down_fails_the_run_and_keeps_what_was_measured() {
        use crate::stack::{Backend, StackOptions};
        let stack = crate::stack::start(&StackOptions {
            backend: Backend::Embedded,
            seed_items: 20,
            ..StackOptions::default()
        })
        .await
        .expect("embedded stack starts");
        let dir = tempfile::tempdir().expect("tempdir");
        let mut settings = RunSettings::new(dir.path());
        settings.stack_health = Some(stack.health());
        // Paced, so the latency tests running beside this one keep their CPU.
        let model = LoadModel::Closed(ClosedLoad {
            stages: vec![stage(2.0, 30)],
            think_time: Some(crate::scenario::model::ThinkTime {
                min: Duration::from_millis(20),
                max: Duration::from_millis(40),
            }),
        });
        let s = Arc::new(scenario(stack.base_url(), "/health", model, None));
        let stopper = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            stack.stop().await;
        });
        let clock = std::time::Instant::now();
        let results = execute(s, &settings).await.expect("runs");
        stopper.await.expect("stopper");
        match &results.status {
            RunStatus::Failed { reason } => assert_eq!(
                reason,
                "the embedded reference stack went down: the embedded service stopped"
            ),
            other => panic!("status {other:?}"),
        }
        // Stopped within a look or two of the stack going down, not after the planned 30 s.
        assert!(
            clock.elapsed() < Duration::from_secs(10),
            "{:?}",
            clock.elapsed()
        );
        let overall = results.overall().expect("overall");
        assert!(overall.stats.requests > 0);
        let on_disk = RunResults::read(&dir.path().join("results.json")).expect("written");
        assert_eq!(on_disk.status, results.status);
    }

    #[tokio::test]
    async fn unreachable_target_fails_before_load() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        drop(listener);
        let model = LoadModel::Closed(ClosedLoad {
            stages: vec![stage(1.0, 1)],
            think_time: None,
        });
        let dir = tempfile::tempdir().expect("tempdir");
        let err = execute(
            Arc::new(scenario(&url, "/", model, None)),
            &RunSettings::new(dir.path()),
        )
        .await
        .expect_err("unreachable");
        assert!(matches!(err, RunError::Unreachable { .. }), "{err}");
    }
}
