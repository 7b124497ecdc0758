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
    ArrivalStats, ErrorCount, ErrorKind, LatencySummary, LoadProfile, MergedInput, ResultsError,
    RunResults, RunStatus, ScopeKind, ScopeResults, ScopeStats, SecondSample, SerializedHistogram,
    ServerSeries, ShardInfo, StageRecord, new_histogram,
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
    /// Some inputs are shards of a distributed run and others are not.
    #[error("`{shard}` is shard {index}/{count} of a distributed run but `{other}` is not a shard")]
    #[diagnostic(help("merge the shards of one run together, without other results"))]
    ShardMixed {
        /// An input that is a shard.
        shard: String,
        /// Its shard number.
        index: u32,
        /// Its shard count.
        count: u32,
        /// An input that is not.
        other: String,
    },
    /// Shards of runs split into different numbers of shards.
    #[error("`{label}` is one of {found} shards but `{first}` is one of {expected}")]
    #[diagnostic(help("merge the shards of one run together, without other results"))]
    ShardCountMismatch {
        /// The first input.
        first: String,
        /// Its shard count.
        expected: u32,
        /// The input that differs.
        label: String,
        /// Its shard count.
        found: u32,
    },
    /// Shards from different distributed runs.
    #[error("`{label}` belongs to run `{found}` but `{first}` to run `{expected}`")]
    #[diagnostic(help(
        "every shard of one run carries the same run id (`--run-id`); merge one run's shards"
    ))]
    RunMismatch {
        /// The first input.
        first: String,
        /// Its run id.
        expected: String,
        /// The input that differs.
        label: String,
        /// Its run id.
        found: String,
    },
    /// An input claims a shard number outside 1..=count.
    #[error("`{label}` claims to be shard {index}/{count}, which does not exist")]
    NoSuchShard {
        /// The input.
        label: String,
        /// Its shard number.
        index: u32,
        /// Its shard count.
        count: u32,
    },
    /// Two inputs claim the same shard.
    #[error("`{label}` and `{other}` are both shard {index}/{count}")]
    #[diagnostic(help(
        "each shard of a run is merged once; look for a copy or a misnumbered worker"
    ))]
    DuplicateShard {
        /// The later input.
        label: String,
        /// The earlier one.
        other: String,
        /// The shard number both claim.
        index: u32,
        /// The shard count.
        count: u32,
    },
    /// Fewer shards than the run was split into: a partial merge would understate the load.
    #[error(
        "shards {} of {count} are missing: only {got} of {count} results were given",
        join_numbers(missing)
    )]
    #[diagnostic(help(
        "find those workers' results (or their failure) and merge all {count}; a partial merge \
         would report less load than was configured"
    ))]
    MissingShards {
        /// 1-based numbers of the absent shards.
        missing: Vec<u32>,
        /// Shards the run was split into.
        count: u32,
        /// Shards given.
        got: u32,
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

/// How errors name input `i`: its label, else `input N` (1-based).
fn input_label(labels: &[String], i: usize) -> String {
    labels
        .get(i)
        .cloned()
        .unwrap_or_else(|| format!("input {}", i + 1))
}

/// `1, 3, 4`: shard numbers as errors list them.
pub(crate) fn join_numbers(numbers: &[u32]) -> String {
    numbers
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
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
///
/// Shards of a distributed run (inputs with `shard` set) must all be there: every input a shard
/// of the same run id and shard count, each shard number once, none missing — otherwise
/// [`MergeError::ShardMixed`], [`MergeError::ShardCountMismatch`], [`MergeError::RunMismatch`],
/// [`MergeError::NoSuchShard`], [`MergeError::DuplicateShard`] or [`MergeError::MissingShards`]. They are merged in shard
/// order (so configured rates add up bit for bit), failure reasons are prefixed with the shard
/// (`shard 2/4: …`), and `merged_from` lists every input.
pub fn merge_labeled(runs: &[RunResults], labels: &[String]) -> Result<RunResults, MergeError> {
    let label = |i: usize| input_label(labels, i);
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

    if let Some(order) = shard_order(runs, &label)? {
        let runs: Vec<RunResults> = order.iter().map(|&i| prefix_reason(&runs[i])).collect();
        let labels: Vec<String> = order.iter().map(|&i| label(i)).collect();
        return merge_inputs(&runs, &labels);
    }
    merge_inputs(runs, labels)
}

/// Merge checked inputs (same scenario, no duplicates; shards complete and in order).
fn merge_inputs(runs: &[RunResults], labels: &[String]) -> Result<RunResults, MergeError> {
    let label = |i: usize| input_label(labels, i);
    let first = runs.first().ok_or(MergeError::Empty)?;
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
        schema_version: crate::results::SCHEMA_VERSION,
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
        generator: merge_generators(runs, &label),
        shards: runs.iter().map(|r| r.shards).sum(),
        shard: None,
        merged_from: runs
            .iter()
            .map(|r| MergedInput {
                run_id: r.run_id.clone(),
                shard: r.shard,
                started_at: r.started_at,
                status: r.status.clone(),
                requests: r.overall().map_or(0, |o| o.stats.requests),
            })
            .collect(),
    };
    merged.slas = crate::sla::reevaluate(&first.slas, &merged);
    Ok(merged)
}

/// The inputs' generators: bound when any was (each reason names its input), the worst lag,
/// the mean CPU; no series (each input ran on its own machine and clock).
fn merge_generators(
    runs: &[RunResults],
    label: &dyn Fn(usize) -> String,
) -> Option<crate::results::GeneratorHealth> {
    let measured: Vec<(usize, &crate::results::GeneratorHealth)> = runs
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.generator.as_ref().map(|g| (i, g)))
        .collect();
    if measured.is_empty() {
        return None;
    }
    let cpus: Vec<f64> = measured.iter().filter_map(|(_, g)| g.cpu_mean).collect();
    #[allow(clippy::cast_precision_loss)]
    let cpu_mean = (!cpus.is_empty()).then(|| cpus.iter().sum::<f64>() / cpus.len() as f64);
    Some(crate::results::GeneratorHealth {
        cores: measured.iter().map(|(_, g)| g.cores).sum(),
        bound: measured.iter().any(|(_, g)| g.bound),
        reasons: measured
            .iter()
            .flat_map(|(i, g)| g.reasons.iter().map(move |r| format!("{}: {r}", label(*i))))
            .collect(),
        cpu_mean,
        lag_p99_us: measured
            .iter()
            .map(|(_, g)| g.lag_p99_us)
            .max()
            .unwrap_or(0),
        lag_max_us: measured
            .iter()
            .map(|(_, g)| g.lag_max_us)
            .max()
            .unwrap_or(0),
        series: Vec::new(),
    })
}

/// For shards of a distributed run: check they are complete and return the inputs' indexes in
/// shard order. `None` when no input is a shard.
fn shard_order(
    runs: &[RunResults],
    label: &dyn Fn(usize) -> String,
) -> Result<Option<Vec<usize>>, MergeError> {
    let Some(first) = runs.iter().position(|r| r.shard.is_some()) else {
        return Ok(None);
    };
    let head = runs[first]
        .shard
        .unwrap_or(ShardInfo { index: 1, count: 1 });
    let mut slots: Vec<Option<usize>> = vec![None; head.count as usize];
    for (i, run) in runs.iter().enumerate() {
        let Some(shard) = run.shard else {
            return Err(MergeError::ShardMixed {
                shard: label(first),
                index: head.index,
                count: head.count,
                other: label(i),
            });
        };
        if shard.count != head.count {
            return Err(MergeError::ShardCountMismatch {
                first: label(first),
                expected: head.count,
                label: label(i),
                found: shard.count,
            });
        }
        if run.run_id != runs[first].run_id {
            return Err(MergeError::RunMismatch {
                first: label(first),
                expected: runs[first].run_id.clone(),
                label: label(i),
                found: run.run_id.clone(),
            });
        }
        // A file written by this build has 1 <= index <= count; a hand-edited one may not.
        let Some(slot) = shard
            .index
            .checked_sub(1)
            .and_then(|s| slots.get_mut(s as usize))
        else {
            return Err(MergeError::NoSuchShard {
                label: label(i),
                index: shard.index,
                count: shard.count,
            });
        };
        if let Some(j) = *slot {
            return Err(MergeError::DuplicateShard {
                label: label(i),
                other: label(j),
                index: shard.index,
                count: shard.count,
            });
        }
        *slot = Some(i);
    }
    let missing: Vec<u32> = (1..=head.count)
        .zip(&slots)
        .filter(|(_, s)| s.is_none())
        .map(|(n, _)| n)
        .collect();
    if !missing.is_empty() {
        return Err(MergeError::MissingShards {
            got: head.count - u32::try_from(missing.len()).unwrap_or(head.count),
            missing,
            count: head.count,
        });
    }
    Ok(Some(slots.into_iter().flatten().collect()))
}

/// A copy whose failure or abort reason names its shard, so the merged status says which failed.
fn prefix_reason(run: &RunResults) -> RunResults {
    let mut run = run.clone();
    if let Some(shard) = run.shard {
        match &mut run.status {
            RunStatus::Aborted { reason } | RunStatus::Failed { reason } => {
                *reason = format!("shard {}/{}: {reason}", shard.index, shard.count);
            }
            RunStatus::InProgress | RunStatus::Completed | RunStatus::Interrupted => {}
        }
    }
    run
}

/// Headline numbers of a scope from its counts and histograms.
pub(crate) fn scope_stats(
    requests: u64,
    errors: u64,
    hist: &Histogram<u64>,
    failed: Option<&Histogram<u64>>,
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
        failed_latency_us: failed.map(LatencySummary::from_histogram),
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
    failed: Option<Histogram<u64>>,
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
                        failed: None,
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
            if let Some(stored) = &scope.failed_histogram {
                let h = acc.failed.get_or_insert_with(new_histogram);
                add_histogram(h, stored).map_err(hist_err)?;
            }
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
                    a.failed.as_ref(),
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
                failed_histogram: a.failed.as_ref().map(encode).transpose()?,
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

/// Seconds of the merged window (earliest start to latest end) in which no input was running.
/// Merging adds runs that ran at the same time (shards); runs one after another leave gaps,
/// which the merged duration still counts, so throughput and the series read low.
pub fn uncovered_seconds(runs: &[RunResults]) -> f64 {
    let mut spans: Vec<(jiff::Timestamp, jiff::Timestamp)> =
        runs.iter().map(|r| (r.started_at, r.ended_at)).collect();
    spans.sort();
    let mut gap = 0.0;
    let mut covered_to: Option<jiff::Timestamp> = None;
    for (start, end) in spans {
        if let Some(to) = covered_to
            && start > to
        {
            gap += start.duration_since(to).as_secs_f64();
        }
        covered_to = Some(covered_to.map_or(end, |to| to.max(end)));
    }
    gap
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
    // Seconds no input covered (runs one after another) are idle seconds of the merged run, not
    // missing ones: a chart would otherwise draw a line across the gap.
    if let Some(&last) = seconds.keys().next_back() {
        for t in 0..last {
            seconds.entry(t).or_default();
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
    use crate::testing::simulated as fixtures;

    /// Split the closed sample run by user parity into two shards of half the load.
    /// The status of a run whose target stopped answering.
    fn unreachable() -> RunStatus {
        RunStatus::Failed {
            reason: "target unreachable".into(),
        }
    }

    /// `t` plus `secs` seconds.
    fn later(t: jiff::Timestamp, secs: i64) -> jiff::Timestamp {
        t.checked_add(jiff::SignedDuration::from_secs(secs))
            .expect("in range")
    }

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
    fn runs_one_after_another_leave_uncovered_seconds() {
        let (_, a, b) = halves();
        assert_eq!(uncovered_seconds(&[a.clone(), b.clone()]), 0.0);
        let shift = |r: &RunResults, secs: i64| {
            let mut r = r.clone();
            let d = jiff::SignedDuration::from_secs(secs);
            r.started_at = r.started_at.checked_add(d).expect("in range");
            r.ended_at = r.ended_at.checked_add(d).expect("in range");
            r
        };
        let len = a.ended_at.duration_since(a.started_at).as_secs_f64();
        // b starts 10 s after a ends; a third run overlapping both closes nothing.
        #[allow(clippy::cast_possible_truncation)]
        let later = shift(&b, len.ceil() as i64 + 10);
        let gap = uncovered_seconds(&[later.clone(), a.clone()]);
        assert!((gap - (10.0 + len.ceil() - len)).abs() < 1e-6, "{gap}");
        let merged = merge(&[a.clone(), later.clone()]).expect("same scenario");
        let overlapping = shift(&a, 1);
        assert!((uncovered_seconds(&[a.clone(), later, overlapping]) - gap).abs() < 1.0 + 1e-6);
        // The series runs second by second across the gap, idle there.
        let ts: Vec<u32> = merged.series.iter().map(|s| s.t).collect();
        let last = *ts.last().expect("series");
        assert_eq!(ts, (0..=last).collect::<Vec<_>>());
        let own = u32::try_from(a.series.len()).expect("short series");
        let idle = &merged.series[usize::try_from(own + 3).expect("index")];
        assert_eq!((idle.requests, idle.load, idle.p50_us), (0, 0.0, 0));
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
        normalized.merged_from = Vec::new();
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
        b.status = unreachable();
        b.started_at = later(b.started_at, 3);
        b.ended_at = later(b.ended_at, 3);
        let mut a2 = a.clone();
        a2.status = RunStatus::Interrupted;
        let merged = merge(&[a2, b.clone()]).expect("merge");
        assert_eq!(merged.status, unreachable());
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

    /// The two halves as shards 1/2 and 2/2 of one run.
    fn shard_halves() -> (RunResults, RunResults, RunResults) {
        let (whole, mut a, mut b) = halves();
        a.shard = Some(ShardInfo { index: 1, count: 2 });
        b.shard = Some(ShardInfo { index: 2, count: 2 });
        (whole, a, b)
    }

    #[test]
    fn shards_merge_in_shard_order_and_list_their_inputs() {
        let (whole, a, b) = shard_halves();
        let merged = merge(&[b.clone(), a.clone()]).expect("complete");
        assert_eq!(merged.shards, 2);
        assert_eq!(merged.shard, None);
        assert_eq!(merged.run_id, a.run_id, "one run id, not joined");
        let order: Vec<_> = merged.merged_from.iter().map(|m| m.shard).collect();
        assert_eq!(order, [a.shard, b.shard]);
        assert_eq!(
            merged.merged_from.iter().map(|m| m.requests).sum::<u64>(),
            merged.overall().expect("o").stats.requests
        );
        assert_eq!(
            merged.overall().expect("o").stats,
            whole.overall().expect("w").stats
        );
        // Merged input order does not matter: shards are put in order first.
        assert_eq!(merged, merge(&[a, b]).expect("complete"));
    }

    #[test]
    fn a_missing_shard_is_named_never_merged_silently() {
        let (_, a, mut b) = shard_halves();
        b.shard = Some(ShardInfo { index: 2, count: 4 });
        let mut c = b.clone();
        c.shard = Some(ShardInfo { index: 4, count: 4 });
        c.started_at = later(c.started_at, 1);
        let mut a4 = a.clone();
        a4.shard = Some(ShardInfo { index: 1, count: 4 });
        let err = merge(&[a4, b, c]).expect_err("shard 3 missing");
        assert!(
            matches!(&err, MergeError::MissingShards { missing, count: 4, got: 3 } if missing == &[3])
        );
        assert_eq!(
            err.to_string(),
            "shards 3 of 4 are missing: only 3 of 4 results were given"
        );
        let err = merge(&[a]).expect_err("shard 2 missing");
        assert!(
            err.to_string().starts_with("shards 2 of 2 are missing"),
            "{err}"
        );
    }

    #[test]
    fn inconsistent_shards_are_refused_with_their_labels() {
        let (_, a, b) = shard_halves();
        let labels = ["w1.json".to_owned(), "w2.json".to_owned()];

        let mut twin = b.clone();
        twin.shard = a.shard;
        let err = merge_labeled(&[a.clone(), twin], &labels).expect_err("two 1/2");
        assert!(matches!(
            err,
            MergeError::DuplicateShard {
                index: 1,
                count: 2,
                ..
            }
        ));
        assert_eq!(
            err.to_string(),
            "`w2.json` and `w1.json` are both shard 1/2"
        );

        let mut other_run = b.clone();
        other_run.run_id = "another-run".into();
        let err = merge_labeled(&[a.clone(), other_run], &labels).expect_err("two runs");
        assert!(matches!(err, MergeError::RunMismatch { .. }));
        assert!(err.to_string().contains("another-run"), "{err}");

        let mut plain = b.clone();
        plain.shard = None;
        let err = merge_labeled(&[plain, a.clone()], &labels).expect_err("mixed");
        assert!(matches!(err, MergeError::ShardMixed { .. }), "{err}");

        let mut three = b.clone();
        three.shard = Some(ShardInfo { index: 2, count: 3 });
        let err = merge_labeled(&[a.clone(), three], &labels).expect_err("counts");
        assert!(matches!(
            err,
            MergeError::ShardCountMismatch {
                expected: 2,
                found: 3,
                ..
            }
        ));

        let mut bogus = b;
        bogus.shard = Some(ShardInfo { index: 0, count: 2 });
        let err = merge_labeled(&[a, bogus], &labels).expect_err("0/2");
        assert!(
            matches!(err, MergeError::NoSuchShard { index: 0, .. }),
            "{err}"
        );
    }

    #[test]
    fn a_failed_shard_is_named_in_the_merged_status() {
        let (_, a, mut b) = shard_halves();
        b.status = unreachable();
        let merged = merge(&[a, b]).expect("complete");
        assert_eq!(
            merged.status,
            RunStatus::Failed {
                reason: "shard 2/2: target unreachable".into()
            }
        );
        assert!(matches!(
            merged.merged_from[1].status,
            RunStatus::Failed { .. }
        ));
    }

    #[test]
    fn shard_identity_and_merged_inputs_validate_against_the_schema() {
        const SCHEMA: &str = include_str!("../schemas/results.schema.json");
        let schema: serde_json::Value = serde_json::from_str(SCHEMA).expect("schema is JSON");
        let validator = jsonschema::draft202012::new(&schema).expect("valid schema");
        let (_, a, b) = shard_halves();
        let mut failed = b.clone();
        failed.status = RunStatus::Failed {
            reason: "target unreachable".into(),
        };
        let merged = merge(&[a.clone(), failed]).expect("complete");
        for run in [&a, &merged] {
            let value = serde_json::to_value(run).expect("serializable");
            let errors: Vec<String> = validator
                .iter_errors(&value)
                .map(|e| format!("{e} at {}", e.instance_path))
                .collect();
            assert!(errors.is_empty(), "{errors:#?}");
            let back: RunResults = serde_json::from_value(value).expect("reads back");
            assert_eq!(&back, run);
        }
        let text = serde_json::to_string(&a).expect("json");
        assert!(
            text.contains(r#""shard":{"index":1,"count":2}"#),
            "{text:.200}"
        );
        // An ordinary run's file is unchanged: neither field is written.
        let plain = serde_json::to_value(fixtures::closed_run()).expect("json");
        assert!(plain.get("shard").is_none() && plain.get("merged_from").is_none());
    }
}
