//! Merging: results of one scenario run in parallel (shards) become one exact whole.
//!
//! Invariant: pure (no clock, no I/O) and lossless where the inputs allow it. Histograms are added
//! bucket by bucket and every headline number is recomputed from them, so merging two halves of a
//! run gives the same histograms, counts and percentiles as the whole. The one approximation is
//! the per-second percentiles of the series (per-second histograms are not stored): a merged
//! second's p50/p95/p99 is the request-weighted mean of the shards' values for that second.

use std::collections::{BTreeMap, BTreeSet};

use hdrhistogram::Histogram;

use crate::results::{
    ArrivalStats, ErrorCount, ErrorKind, LatencySummary, LoadProfile, ResultsError, RunResults,
    RunStatus, ScopeKind, ScopeResults, ScopeStats, SecondSample, SerializedHistogram,
    ServerSeries, StageRecord, new_histogram,
};

/// Most sample messages kept per error kind.
const MAX_SAMPLES: usize = 5;

/// Errors merging results.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum MergeError {
    /// No input at all.
    #[error("nothing to merge: no results were given")]
    Empty,
    /// Inputs ran different scenario files.
    #[error(
        "`{}` ran scenario `{}` (sha256 {}) but `{}` ran `{}` (sha256 {})",
        .found.label, .found.name, .found.sha256,
        .expected.label, .expected.name, .expected.sha256
    )]
    #[diagnostic(help("only runs of the same scenario file can be merged"))]
    ScenarioMismatch {
        /// The first input, whose scenario the others must match.
        expected: Box<InputScenario>,
        /// The input that differs.
        found: Box<InputScenario>,
    },
    /// The same run was given twice.
    #[error("`{label}` holds the same results as `{other}`")]
    #[diagnostic(help("merging a run with itself would count every request twice"))]
    Duplicate {
        /// The repeated input.
        label: String,
        /// The input it repeats.
        other: String,
    },
    /// A stored histogram could not be read or added.
    #[error("`{label}`, scope `{scope}`: {message}")]
    Histogram {
        /// The input.
        label: String,
        /// The scope (prefixed with the stage for stage scopes).
        scope: String,
        /// What went wrong.
        message: String,
    },
}

/// Which scenario one input ran (for [`MergeError::ScenarioMismatch`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputScenario {
    /// How the input is named (its path, or `input N`).
    pub label: String,
    /// Scenario name.
    pub name: String,
    /// SHA-256 of the scenario file.
    pub sha256: String,
}

/// Merge runs of the same scenario; inputs are named `input 1`, `input 2`… in errors.
pub fn merge(runs: &[RunResults]) -> Result<RunResults, MergeError> {
    merge_labeled(runs, &[])
}

/// Merge runs of the same scenario, naming each input by `labels[i]` (e.g. its path) in errors.
///
/// Histograms are added exactly and every count summed; statistics are recomputed from the merged
/// histograms, with throughput = merged requests / (latest end − earliest start). Stages merge by
/// index, the series by wall-clock second (`started_at + t`, offsets rounded to whole seconds),
/// configured loads and `shards` are summed, the status is the worst input's, and the first
/// input's SLA verdicts are re-evaluated against the merged scopes.
pub fn merge_labeled(runs: &[RunResults], labels: &[String]) -> Result<RunResults, MergeError> {
    let label = |i: usize| {
        labels
            .get(i)
            .cloned()
            .unwrap_or_else(|| format!("input {}", i + 1))
    };
    let first = runs.first().ok_or(MergeError::Empty)?;
    for (i, run) in runs.iter().enumerate().skip(1) {
        if run.scenario.sha256 != first.scenario.sha256 {
            let input = |i: usize, r: &RunResults| {
                Box::new(InputScenario {
                    label: label(i),
                    name: r.scenario.name.clone(),
                    sha256: r.scenario.sha256.clone(),
                })
            };
            return Err(MergeError::ScenarioMismatch {
                expected: input(0, first),
                found: input(i, run),
            });
        }
        if let Some(j) = runs[..i].iter().position(|r| r == run) {
            return Err(MergeError::Duplicate {
                label: label(i),
                other: label(j),
            });
        }
    }

    let started_at = runs
        .iter()
        .map(|r| r.started_at)
        .min()
        .unwrap_or(first.started_at);
    let ended_at = runs
        .iter()
        .map(|r| r.ended_at)
        .max()
        .unwrap_or(first.ended_at);
    let duration_s = ended_at.duration_since(started_at).as_secs_f64().max(0.0);
    // Seconds each run started after the earliest one.
    let offsets: Vec<f64> = runs
        .iter()
        .map(|r| r.started_at.duration_since(started_at).as_secs_f64())
        .collect();

    let top: Vec<_> = runs
        .iter()
        .enumerate()
        .map(|(i, r)| (label(i), r.scopes.as_slice()))
        .collect();
    let scopes = merge_scopes(&top, "", duration_s)?;

    let mut merged = RunResults {
        schema_version: first.schema_version,
        kneepoint_version: env!("CARGO_PKG_VERSION").to_owned(),
        run_id: join_distinct(runs.iter().map(|r| r.run_id.as_str()), "+"),
        scenario: first.scenario.clone(),
        target: join_distinct(runs.iter().map(|r| r.target.as_str()), ", "),
        backend: join_distinct(runs.iter().map(|r| r.backend.as_str()), ", "),
        started_at,
        ended_at,
        duration_s,
        status: worst_status(runs.iter().map(|r| &r.status)),
        profile: merge_profiles(runs),
        stages: merge_stages(runs, &offsets, &label)?,
        scopes,
        series: merge_series(runs, &offsets),
        arrivals: merge_arrivals(runs),
        slas: Vec::new(),
        server_metrics: merge_server_metrics(runs, &offsets),
        shards: runs.iter().map(|r| r.shards).sum(),
    };
    merged.slas = crate::sla::reevaluate(&first.slas, &merged);
    Ok(merged)
}

/// Headline numbers of a scope from its counts and histograms.
pub(crate) fn scope_stats(
    requests: u64,
    errors: u64,
    hist: &Histogram<u64>,
    intended: Option<&Histogram<u64>>,
    duration_s: f64,
) -> ScopeStats {
    #[allow(clippy::cast_precision_loss)] // counts far below 2^53
    let (req, err) = (requests as f64, errors as f64);
    ScopeStats {
        requests,
        errors,
        error_rate: if requests == 0 { 0.0 } else { err / req },
        throughput_rps: if duration_s > 0.0 {
            req / duration_s
        } else {
            0.0
        },
        latency_us: LatencySummary::from_histogram(hist),
        intended_latency_us: intended.map(LatencySummary::from_histogram),
    }
}

/// One scope being merged.
struct ScopeAcc {
    kind: ScopeKind,
    name: String,
    requests: u64,
    errors: u64,
    hist: Histogram<u64>,
    intended: Option<Histogram<u64>>,
    status_codes: BTreeMap<String, u64>,
    kinds: BTreeMap<ErrorKind, (u64, BTreeSet<String>)>,
}

/// Merge scope lists by (kind, name); `prefix` names the stage in errors.
fn merge_scopes(
    inputs: &[(String, &[ScopeResults])],
    prefix: &str,
    duration_s: f64,
) -> Result<Vec<ScopeResults>, MergeError> {
    let mut accs: Vec<ScopeAcc> = Vec::new();
    for (label, scopes) in inputs {
        for scope in *scopes {
            let hist_err = |message: String| MergeError::Histogram {
                label: label.clone(),
                scope: format!("{prefix}{}", scope.name),
                message,
            };
            let pos = accs
                .iter()
                .position(|a| a.kind == scope.kind && a.name == scope.name);
            let acc = match pos {
                Some(p) => &mut accs[p],
                None => {
                    accs.push(ScopeAcc {
                        kind: scope.kind,
                        name: scope.name.clone(),
                        requests: 0,
                        errors: 0,
                        hist: new_histogram(),
                        intended: None,
                        status_codes: BTreeMap::new(),
                        kinds: BTreeMap::new(),
                    });
                    let last = accs.len() - 1;
                    &mut accs[last]
                }
            };
            acc.requests += scope.stats.requests;
            acc.errors += scope.stats.errors;
            add_histogram(&mut acc.hist, &scope.histogram).map_err(hist_err)?;
            if let Some(stored) = &scope.intended_histogram {
                let h = acc.intended.get_or_insert_with(new_histogram);
                add_histogram(h, stored).map_err(hist_err)?;
            }
            for (code, n) in &scope.status_codes {
                *acc.status_codes.entry(code.clone()).or_default() += n;
            }
            for e in &scope.errors {
                let slot = acc.kinds.entry(e.kind).or_default();
                slot.0 += e.count;
                slot.1.extend(e.samples.iter().cloned());
            }
        }
    }
    // Overall first, then transactions, then requests; first-seen order within a kind.
    accs.sort_by_key(|a| a.kind);
    accs.into_iter()
        .map(|a| {
            let encode = |h: &Histogram<u64>| {
                SerializedHistogram::encode(h).map_err(|e| MergeError::Histogram {
                    label: "merged".into(),
                    scope: format!("{prefix}{}", a.name),
                    message: e.to_string(),
                })
            };
            Ok(ScopeResults {
                stats: scope_stats(
                    a.requests,
                    a.errors,
                    &a.hist,
                    a.intended.as_ref(),
                    duration_s,
                ),
                status_codes: a.status_codes.clone(),
                errors: a
                    .kinds
                    .iter()
                    .map(|(kind, (count, samples))| ErrorCount {
                        kind: *kind,
                        count: *count,
                        samples: samples.iter().take(MAX_SAMPLES).cloned().collect(),
                    })
                    .collect(),
                histogram: encode(&a.hist)?,
                intended_histogram: a.intended.as_ref().map(encode).transpose()?,
                kind: a.kind,
                name: a.name,
            })
        })
        .collect()
}

fn add_histogram(into: &mut Histogram<u64>, stored: &SerializedHistogram) -> Result<(), String> {
    let h = stored.decode().map_err(|e: ResultsError| e.to_string())?;
    into.add(&h)
        .map_err(|e| format!("histogram cannot be added: {e:?}"))
}

fn merge_stages(
    runs: &[RunResults],
    offsets: &[f64],
    label: &dyn Fn(usize) -> String,
) -> Result<Vec<StageRecord>, MergeError> {
    let mut by_index: BTreeMap<usize, Vec<(usize, &StageRecord)>> = BTreeMap::new();
    for (i, run) in runs.iter().enumerate() {
        for stage in &run.stages {
            by_index.entry(stage.index).or_default().push((i, stage));
        }
    }
    by_index
        .into_iter()
        .map(|(index, parts)| {
            let start_s = parts
                .iter()
                .map(|(i, s)| offsets[*i] + s.start_s)
                .fold(f64::INFINITY, f64::min);
            let end_s = parts
                .iter()
                .map(|(i, s)| offsets[*i] + s.end_s)
                .fold(f64::NEG_INFINITY, f64::max);
            let inputs: Vec<_> = parts
                .iter()
                .map(|(i, s)| (label(*i), s.scopes.as_slice()))
                .collect();
            let name = parts
                .first()
                .map(|(_, s)| s.name.clone())
                .unwrap_or_default();
            let scopes = merge_scopes(&inputs, &format!("{name}: "), (end_s - start_s).max(0.0))?;
            Ok(StageRecord {
                index,
                name,
                start_s,
                end_s,
                target: parts.iter().map(|(_, s)| s.target).sum(),
                scopes,
            })
        })
        .collect()
}

/// Series aligned by wall-clock second.
fn merge_series(runs: &[RunResults], offsets: &[f64]) -> Vec<SecondSample> {
    #[derive(Default)]
    struct Second {
        requests: u64,
        errors: u64,
        late: u64,
        load: f64,
        // Request-weighted sums of the shards' percentiles.
        p50: f64,
        p95: f64,
        p99: f64,
        // Plain maxima, used when no shard completed a request in this second.
        max: [u64; 3],
    }
    let mut seconds: BTreeMap<u32, Second> = BTreeMap::new();
    for (run, offset) in runs.iter().zip(offsets) {
        // Offsets are whole seconds in practice (shards start together); rounding keeps buckets aligned.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let shift = offset.round().max(0.0) as u32;
        for s in &run.series {
            let slot = seconds.entry(s.t.saturating_add(shift)).or_default();
            #[allow(clippy::cast_precision_loss)]
            let w = s.requests as f64;
            slot.requests += s.requests;
            slot.errors += s.errors;
            slot.late += s.late;
            slot.load += s.load;
            #[allow(clippy::cast_precision_loss)]
            {
                slot.p50 += w * s.p50_us as f64;
                slot.p95 += w * s.p95_us as f64;
                slot.p99 += w * s.p99_us as f64;
            }
            slot.max = [
                slot.max[0].max(s.p50_us),
                slot.max[1].max(s.p95_us),
                slot.max[2].max(s.p99_us),
            ];
        }
    }
    seconds
        .into_iter()
        .map(|(t, s)| {
            #[allow(
                clippy::cast_precision_loss,
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss
            )]
            let pick = |sum: f64, max: u64| {
                if s.requests == 0 {
                    max
                } else {
                    (sum / s.requests as f64).round() as u64
                }
            };
            SecondSample {
                t,
                requests: s.requests,
                errors: s.errors,
                p50_us: pick(s.p50, s.max[0]),
                p95_us: pick(s.p95, s.max[1]),
                p99_us: pick(s.p99, s.max[2]),
                load: s.load,
                late: s.late,
            }
        })
        .collect()
}

/// Sum configured loads when every input has the same shape; otherwise keep the first profile.
fn merge_profiles(runs: &[RunResults]) -> LoadProfile {
    let mut iter = runs.iter().map(|r| &r.profile);
    let Some(first) = iter.next() else {
        return LoadProfile::Closed {
            stages: Vec::new(),
            think_time_us: None,
            max_iterations: None,
        };
    };
    let mut merged = first.clone();
    for other in iter {
        match (&mut merged, other) {
            (
                LoadProfile::Closed {
                    stages,
                    max_iterations,
                    ..
                },
                LoadProfile::Closed {
                    stages: more,
                    max_iterations: more_iter,
                    ..
                },
            ) if stages.len() == more.len() => {
                sum_targets(stages, more);
                *max_iterations = sum_opt(*max_iterations, *more_iter);
            }
            (
                LoadProfile::Open {
                    stages,
                    max_in_flight,
                    max_iterations,
                    ..
                },
                LoadProfile::Open {
                    stages: more,
                    max_in_flight: more_flight,
                    max_iterations: more_iter,
                    ..
                },
            ) if stages.len() == more.len() => {
                sum_targets(stages, more);
                *max_in_flight = max_in_flight.saturating_add(*more_flight);
                *max_iterations = sum_opt(*max_iterations, *more_iter);
            }
            _ => return first.clone(),
        }
    }
    merged
}

fn sum_targets(stages: &mut [crate::results::ProfileStage], more: &[crate::results::ProfileStage]) {
    for (s, m) in stages.iter_mut().zip(more) {
        s.target += m.target;
    }
}

fn sum_opt(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    Some(a?.saturating_add(b?))
}

fn merge_arrivals(runs: &[RunResults]) -> Option<ArrivalStats> {
    runs.iter()
        .filter_map(|r| r.arrivals.as_ref())
        .fold(None, |acc: Option<ArrivalStats>, a| {
            let mut m = acc.unwrap_or_default();
            m.scheduled += a.scheduled;
            m.started += a.started;
            m.late += a.late;
            m.missed += a.missed;
            m.max_lag_us = m.max_lag_us.max(a.max_lag_us);
            Some(m)
        })
}

fn merge_server_metrics(runs: &[RunResults], offsets: &[f64]) -> Vec<ServerSeries> {
    let mut out: Vec<ServerSeries> = Vec::new();
    for (run, offset) in runs.iter().zip(offsets) {
        for series in &run.server_metrics {
            let shifted = series.points.iter().map(|&(t, v)| (t + offset, v));
            match out.iter_mut().find(|s| s.name == series.name) {
                Some(s) => s.points.extend(shifted),
                None => out.push(ServerSeries {
                    name: series.name.clone(),
                    unit: series.unit.clone(),
                    points: shifted.collect(),
                }),
            }
        }
    }
    for s in &mut out {
        s.points.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    out
}

/// Failed > interrupted > in progress > aborted > completed; reasons of equal rank are joined.
fn worst_status<'a>(statuses: impl Iterator<Item = &'a RunStatus>) -> RunStatus {
    fn rank(s: &RunStatus) -> u8 {
        match s {
            RunStatus::Completed => 0,
            RunStatus::Aborted { .. } => 1,
            RunStatus::InProgress => 2,
            RunStatus::Interrupted => 3,
            RunStatus::Failed { .. } => 4,
        }
    }
    fn reason(s: &RunStatus) -> Option<&str> {
        match s {
            RunStatus::Aborted { reason } | RunStatus::Failed { reason } => Some(reason),
            _ => None,
        }
    }
    let all: Vec<&RunStatus> = statuses.collect();
    let Some(worst) = all.iter().copied().max_by_key(|s| rank(s)) else {
        return RunStatus::Completed;
    };
    let reasons = join_distinct(
        all.iter()
            .filter(|s| rank(s) == rank(worst))
            .filter_map(|s| reason(s)),
        "; ",
    );
    match worst {
        RunStatus::Aborted { .. } => RunStatus::Aborted { reason: reasons },
        RunStatus::Failed { .. } => RunStatus::Failed { reason: reasons },
        other => other.clone(),
    }
}

/// Distinct values in first-seen order, joined.
fn join_distinct<'a>(values: impl Iterator<Item = &'a str>, sep: &str) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for v in values {
        if !seen.contains(&v) {
            seen.push(v);
        }
    }
    seen.join(sep)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;

    /// Split the closed sample run by user parity into two shards of half the load.
    fn halves() -> (RunResults, RunResults, RunResults) {
        let spec = fixtures::closed_spec();
        let iterations = fixtures::closed_iterations(&spec);
        let whole = fixtures::build(&spec, &iterations);
        let half = spec.halved();
        let (even, odd): (Vec<_>, Vec<_>) = iterations.into_iter().partition(|it| it.user % 2 == 0);
        let a = fixtures::build(&half, &even);
        let b = fixtures::build(&half, &odd);
        (whole, a, b)
    }

    #[test]
    fn two_halves_equal_the_whole() {
        let (whole, a, b) = halves();
        assert!(a.overall().expect("a").stats.requests > 100);
        assert!(b.overall().expect("b").stats.requests > 100);
        let merged = merge(&[a.clone(), b.clone()]).expect("same scenario");

        // Histograms are exactly the same, scope by scope and stage by stage.
        for (m, w) in merged.scopes.iter().zip(&whole.scopes) {
            assert_eq!((m.kind, &m.name), (w.kind, &w.name));
            let (mh, wh) = (
                m.histogram.decode().expect("m"),
                w.histogram.decode().expect("w"),
            );
            assert_eq!(mh, wh, "scope {}", m.name);
            assert_eq!(m.stats, w.stats, "scope {}", m.name);
        }
        assert_eq!(merged.shards, 2);
        let overall = merged.overall().expect("overall").stats.requests;
        assert_eq!(
            overall,
            a.overall().expect("a").stats.requests + b.overall().expect("b").stats.requests
        );

        // Series: counts and loads add up exactly; percentiles lie between the shards'.
        assert_eq!(merged.series.len(), whole.series.len());
        for ((m, w), (sa, sb)) in merged
            .series
            .iter()
            .zip(&whole.series)
            .zip(a.series.iter().zip(&b.series))
        {
            assert_eq!(
                (m.t, m.requests, m.errors, m.late),
                (w.t, w.requests, w.errors, w.late)
            );
            assert_eq!(m.load, w.load, "second {}", m.t);
            let (lo, hi) = (sa.p95_us.min(sb.p95_us), sa.p95_us.max(sb.p95_us));
            assert!(
                (lo..=hi).contains(&m.p95_us),
                "second {}: {} vs {lo}..{hi}",
                m.t,
                m.p95_us
            );
        }

        // Everything else is equal field for field once the approximated percentiles and the
        // shard count are set aside.
        let mut normalized = merged.clone();
        normalized.shards = 1;
        for (m, w) in normalized.series.iter_mut().zip(&whole.series) {
            (m.p50_us, m.p95_us, m.p99_us) = (w.p50_us, w.p95_us, w.p99_us);
        }
        assert_eq!(normalized, whole);
        assert!(
            merged.slas.iter().any(|v| !v.passed),
            "verdicts re-evaluated, not copied from a"
        );
    }

    #[test]
    fn merge_is_order_independent_for_histograms() {
        let (_, a, b) = halves();
        let ab = merge(&[a.clone(), b.clone()]).expect("ab");
        let ba = merge(&[b, a]).expect("ba");
        assert_eq!(ab.scopes, ba.scopes);
        assert_eq!(ab.stages, ba.stages);
    }

    #[test]
    fn different_scenarios_are_refused_with_their_names() {
        let (_, a, mut b) = halves();
        b.scenario.sha256 = "0".repeat(64);
        let labels = [
            "shard-a/results.json".to_owned(),
            "shard-b/results.json".to_owned(),
        ];
        let err = merge_labeled(&[a, b], &labels).expect_err("mismatch");
        let text = err.to_string();
        assert!(
            text.contains("shard-b/results.json") && text.contains("shard-a/results.json"),
            "{text}"
        );
        assert!(matches!(err, MergeError::ScenarioMismatch { .. }));
    }

    #[test]
    fn empty_and_duplicate_inputs_are_refused() {
        assert!(matches!(merge(&[]), Err(MergeError::Empty)));
        let run = fixtures::closed_run();
        let err = merge(&[run.clone(), run]).expect_err("duplicate");
        assert!(err.to_string().contains("input 2"), "{err}");
    }

    #[test]
    fn corrupt_histogram_names_input_and_scope() {
        let (_, a, mut b) = halves();
        b.scopes[1].histogram = SerializedHistogram("AAAA".into());
        let err = merge(&[a, b]).expect_err("corrupt");
        let text = err.to_string();
        assert!(
            text.contains("input 2") && text.contains("browse"),
            "{text}"
        );
    }

    #[test]
    fn worst_status_wins_and_offsets_shift_the_series() {
        let (_, a, mut b) = halves();
        b.status = RunStatus::Failed {
            reason: "target unreachable".into(),
        };
        b.started_at = b
            .started_at
            .checked_add(jiff::SignedDuration::from_secs(3))
            .expect("in range");
        b.ended_at = b
            .ended_at
            .checked_add(jiff::SignedDuration::from_secs(3))
            .expect("in range");
        let mut a2 = a.clone();
        a2.status = RunStatus::Interrupted;
        let merged = merge(&[a2, b.clone()]).expect("merge");
        assert_eq!(
            merged.status,
            RunStatus::Failed {
                reason: "target unreachable".into()
            }
        );
        assert_eq!(merged.duration_s, 63.0);
        assert_eq!(merged.series.len(), 63);
        // The first three seconds hold only shard a.
        assert_eq!(merged.series[0].requests, a.series[0].requests);
        assert_eq!(merged.series[62].requests, b.series[59].requests);
        let overall = merged.overall().expect("overall");
        #[allow(clippy::cast_precision_loss)]
        let want = overall.stats.requests as f64 / 63.0;
        assert!((overall.stats.throughput_rps - want).abs() < 1e-9);
    }

    #[test]
    fn open_runs_sum_arrivals_and_keep_intended_histograms() {
        let run = fixtures::open_run();
        let mut other = run.clone();
        other.run_id = "shard-2".into();
        let merged = merge(&[run.clone(), other]).expect("merge");
        let (a, m) = (
            run.arrivals.clone().expect("a"),
            merged.arrivals.clone().expect("m"),
        );
        assert_eq!(m.scheduled, 2 * a.scheduled);
        assert_eq!(m.max_lag_us, a.max_lag_us);
        let scope = merged.overall().expect("overall");
        let intended = scope
            .intended_histogram
            .as_ref()
            .expect("kept")
            .decode()
            .expect("ok");
        assert_eq!(intended.len(), 2 * run.overall().expect("o").stats.requests);
        assert_eq!(
            scope.stats.intended_latency_us,
            run.overall().expect("o").stats.intended_latency_us,
            "doubling every count leaves the percentiles where they were"
        );
        assert!(
            matches!(&merged.profile, LoadProfile::Open { max_in_flight: 100, stages, .. }
                if stages[0].target == 80.0),
            "{:?}",
            merged.profile
        );
    }
}
