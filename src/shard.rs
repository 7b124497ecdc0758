//! Sharding: one run split into N equal parts that N workers run at the same time.
//!
//! Invariant: [`apply`] is pure arithmetic on the validated scenario, and summed over the N shards
//! it gives back the original load exactly — users per stage, arrival rates, the iteration cap and
//! (when it is at least N) the in-flight cap. Stages keep their timing, so shards that start
//! together stay in step. Rows of sequential and unique-per-user feeders are dealt round-robin, so
//! no row goes to two shards. The only I/O is [`wait_for_start`], which lines the shards' starts up.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use crate::merge::join_numbers;
use crate::results::ShardInfo;
use crate::scenario::model::{FeederMode, LoadModel, Scenario, Stage};

/// How far in the past a `--start-at` time may be before it is refused: workers that start a
/// little late still join (they begin at once), a stale time from an earlier run does not.
pub const START_GRACE: Duration = Duration::from_secs(10);

/// How far ahead a `--start-at` time may be: further is more likely a typo (a wrong day or
/// zone) than a plan, and a worker would sit idle until then.
pub const START_AHEAD_MAX: Duration = Duration::from_secs(24 * 3600);

/// How often a barrier folder is looked at. Shards start within about this much of each other.
pub const BARRIER_POLL: Duration = Duration::from_millis(50);

/// One shard of a distributed run: number `index` (1-based) of `count`.
///
/// The fields are private so that `1 ≤ index ≤ count` always holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shard {
    index: u32,
    count: u32,
}

impl Shard {
    /// Shard `index` (1-based, as on the command line) of `count`.
    ///
    /// Errors: [`ShardError::ZeroCount`], [`ShardError::ZeroIndex`],
    /// [`ShardError::IndexAboveCount`].
    pub fn new(index: u32, count: u32) -> Result<Self, ShardError> {
        if count == 0 {
            return Err(ShardError::ZeroCount);
        }
        if index == 0 {
            return Err(ShardError::ZeroIndex { count });
        }
        if index > count {
            return Err(ShardError::IndexAboveCount { index, count });
        }
        Ok(Self { index, count })
    }

    /// The whole run as one shard (`1/1`): [`apply`] returns the scenario unchanged.
    pub fn whole() -> Self {
        Self { index: 1, count: 1 }
    }

    /// 1-based number of this shard (`2` in `2/4`).
    pub fn index(self) -> u32 {
        self.index
    }

    /// How many shards the run has (`4` in `2/4`).
    pub fn count(self) -> u32 {
        self.count
    }

    /// 0-based position of this shard (`index - 1`).
    pub fn offset(self) -> u32 {
        self.index - 1
    }

    /// The identity a shard's results carry.
    pub fn info(self) -> ShardInfo {
        ShardInfo {
            index: self.index,
            count: self.count,
        }
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Parses `I/N` (e.g. `2/4`; spaces around the numbers are allowed), so clap can take
/// `--shard 2/4` with `value_parser` left at its default.
impl FromStr for Shard {
    type Err = ShardError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let syntax = || ShardError::Syntax {
            text: text.to_owned(),
        };
        let (i, n) = text.split_once('/').ok_or_else(syntax)?;
        let parse = |s: &str| {
            let s = s.trim();
            // `u32::from_str` accepts a leading `+`; a shard number never has one.
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(syntax());
            }
            s.parse::<u32>().map_err(|_| syntax())
        };
        Self::new(parse(i)?, parse(n)?)
    }
}

/// Errors parsing a shard, splitting a scenario, or waiting for the start.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ShardError {
    /// Not of the form `I/N`.
    #[error("`{text}` is not a shard: expected `I/N`, e.g. `2/4` for the second of four")]
    #[diagnostic(help("I and N are whole numbers with 1 <= I <= N"))]
    Syntax {
        /// The text given.
        text: String,
    },
    /// `I/0`.
    #[error("a run cannot be split into 0 shards")]
    #[diagnostic(help("use `1/1` (or no `--shard`) to run the whole load"))]
    ZeroCount,
    /// `0/N`.
    #[error("shards are numbered from 1: `0/{count}` does not exist")]
    #[diagnostic(help("use `1/{count}` to `{count}/{count}`"))]
    ZeroIndex {
        /// N.
        count: u32,
    },
    /// `I/N` with I > N.
    #[error("shard {index} of {count} does not exist")]
    #[diagnostic(help("shards are numbered 1 to {count}"))]
    IndexAboveCount {
        /// I.
        index: u32,
        /// N.
        count: u32,
    },
    /// Closed model with fewer users than shards in every stage.
    #[error(
        "load below {count}: the busiest stage has {peak} users, so some of the {count} shards \
         would never run a user"
    )]
    #[diagnostic(help("use at most {peak} shards, or raise the users"))]
    LoadBelowShards {
        /// Largest user count of any stage.
        peak: u64,
        /// N.
        count: u32,
    },
    /// An iteration cap smaller than the number of shards.
    #[error(
        "`max_iterations` = {cap} cannot be split across {count} shards: some would run nothing"
    )]
    #[diagnostic(help("use at most {cap} shards, or raise `max_iterations`"))]
    IterationsBelowShards {
        /// The cap.
        cap: u64,
        /// N.
        count: u32,
    },
    /// A sequential or unique-per-user feeder with fewer rows than shards.
    #[error(
        "feeder `{feeder}` has {rows} rows, fewer than the {count} shards: its rows are dealt \
         out so no two shards use the same row, and some shard would get none"
    )]
    #[diagnostic(help("add rows, use fewer shards, or set `mode = \"random\"`"))]
    FeederBelowShards {
        /// Feeder name.
        feeder: String,
        /// Its row count.
        rows: usize,
        /// N.
        count: u32,
    },
    /// `--start-at` lies further in the past than [`START_GRACE`].
    #[error("the start time {at} passed {late_s:.1} s ago")]
    #[diagnostic(help(
        "give every worker the same start time a little in the future, e.g. now + 30 s"
    ))]
    StartPassed {
        /// The requested start.
        at: jiff::Timestamp,
        /// Seconds since then.
        late_s: f64,
    },
    /// `--start-at` lies further ahead than [`START_AHEAD_MAX`].
    #[error("the start time {at} is {ahead_h:.1} h away, more than a day ahead")]
    #[diagnostic(help("check the date and the time zone (`Z` is UTC)"))]
    StartTooFar {
        /// The requested start.
        at: jiff::Timestamp,
        /// Hours until then.
        ahead_h: f64,
    },
    /// The barrier folder could not be created or written.
    #[error("cannot use the barrier folder `{}`", path.display())]
    #[diagnostic(help("the folder must be writable by every worker (a shared volume)"))]
    Barrier {
        /// File or folder.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// This shard's ready file exists already: the folder is left over from an earlier run, or
    /// two workers were given the same shard number.
    #[error("`{}` exists already", path.display())]
    #[diagnostic(help(
        "use a fresh barrier folder per run (e.g. named after the run id), and give each worker \
         its own shard number"
    ))]
    BarrierStale {
        /// The ready file.
        path: PathBuf,
    },
    /// Not every shard reached the barrier in time.
    #[error(
        "waited {waited_s:.0} s at the barrier `{}`; shards {} never arrived",
        dir.display(), join_numbers(missing)
    )]
    #[diagnostic(help(
        "check that those workers started and share the folder; raise the barrier timeout if \
         they start slowly"
    ))]
    BarrierTimeout {
        /// Barrier folder.
        dir: PathBuf,
        /// Seconds waited.
        waited_s: f64,
        /// 1-based numbers of the shards that did not arrive.
        missing: Vec<u32>,
    },
}

/// The part of `scenario` that `shard` runs. Everything not listed here is copied unchanged
/// (name, sha256, target, transactions, SLAs, durations), so shard results merge as one run.
///
/// - Closed model: each stage's users (rounded to whole users, as the driver does) are split
///   `floor(users / N)` each, plus one for the first `users % N` shards. A shard may get 0 users
///   in a stage with fewer than N users; if the busiest stage has fewer than N users some shard
///   would get none at all, which is [`ShardError::LoadBelowShards`].
/// - Open model: each stage's arrival rate is divided by N (shards 1..N−1 get `rate / N`, the
///   last gets the remainder, so adding the shards' rates in shard order gives the rate back
///   bit for bit); `max_in_flight` is split like users but each shard keeps at least 1.
/// - `max_iterations` is split like users; a cap below N is [`ShardError::IterationsBelowShards`].
/// - Feeders in `sequential` or `unique_per_user` mode are dealt round-robin: shard I (1-based)
///   keeps rows I−1, I−1+N, I−1+2N… of the file, so across shards every row is used by exactly
///   one shard and unique-per-user rows stay unique. A feeder with fewer rows than shards is
///   [`ShardError::FeederBelowShards`]. `random` feeders keep all rows.
///
/// `Shard::whole()` (`1/1`) returns an identical scenario.
pub fn apply(scenario: &Scenario, shard: Shard) -> Result<Scenario, ShardError> {
    let mut out = scenario.clone();
    let count = shard.count();
    match &mut out.load.model {
        LoadModel::Closed(closed) => {
            let users: Vec<u64> = closed.stages.iter().map(whole_users).collect();
            let peak = users.iter().copied().max().unwrap_or(0);
            if peak < u64::from(count) {
                return Err(ShardError::LoadBelowShards { peak, count });
            }
            for (stage, users) in closed.stages.iter_mut().zip(users) {
                #[allow(clippy::cast_precision_loss)] // user counts are far below 2^53
                {
                    stage.target = split_count(users, shard) as f64;
                }
            }
        }
        LoadModel::Open(open) => {
            for stage in &mut open.stages {
                stage.target = split_rate(stage.target, shard);
            }
            let flight = split_count(u64::from(open.max_in_flight), shard).max(1);
            open.max_in_flight = u32::try_from(flight).unwrap_or(u32::MAX);
        }
    }
    if let Some(cap) = out.load.max_iterations {
        if cap < u64::from(count) {
            return Err(ShardError::IterationsBelowShards { cap, count });
        }
        out.load.max_iterations = Some(split_count(cap, shard));
    }
    for feeder in &mut out.feeders {
        if feeder.mode == FeederMode::Random {
            continue;
        }
        if feeder.rows.len() < count as usize {
            return Err(ShardError::FeederBelowShards {
                feeder: feeder.name.clone(),
                rows: feeder.rows.len(),
                count,
            });
        }
        feeder.rows = partition_rows(&feeder.rows, shard);
    }
    Ok(out)
}

/// Users a closed stage asks for, rounded as the driver rounds them.
fn whole_users(stage: &Stage) -> u64 {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let users = stage.target.round().max(0.0) as u64;
    users
}

/// This shard's part of `total` whole things: `floor(total / N)`, plus one for the first
/// `total % N` shards.
fn split_count(total: u64, shard: Shard) -> u64 {
    let n = u64::from(shard.count());
    total / n + u64::from(u64::from(shard.offset()) < total % n)
}

/// This shard's part of a rate. The last shard takes `rate − (rate/N added N−1 times)`; that
/// difference is exact in floating point (the two are within a factor of two of each other), so
/// the shards' rates added in shard order give `rate` exactly.
fn split_rate(rate: f64, shard: Shard) -> f64 {
    let n = shard.count();
    let part = rate / f64::from(n);
    if shard.index() < n {
        return part;
    }
    let mut others = 0.0;
    for _ in 1..n {
        others += part;
    }
    rate - others
}

/// Rows `offset`, `offset + N`, `offset + 2N`… in file order.
fn partition_rows(rows: &[Vec<String>], shard: Shard) -> Vec<Vec<String>> {
    rows.iter()
        .skip(shard.offset() as usize)
        .step_by(shard.count() as usize)
        .cloned()
        .collect()
}

/// When a shard's load starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum StartAt {
    /// At once (an ordinary run, or shards started together by other means).
    #[default]
    Now,
    /// At this wall-clock time (`--start-at`, RFC 3339). Workers' clocks must agree (NTP); a
    /// time up to [`START_GRACE`] in the past starts at once, an older one is an error.
    At(jiff::Timestamp),
    /// When every shard has arrived at a shared folder (`--barrier DIR`).
    Barrier {
        /// Folder every worker can see (a shared volume); use a fresh one per run.
        dir: PathBuf,
        /// How many shards to wait for (normally the shard count N).
        expected: u32,
        /// Give up after this long.
        timeout: Duration,
    },
}

/// Wait until `shard` may start its load; call it right before [`crate::run::execute`].
///
/// - [`StartAt::Now`] returns at once.
/// - [`StartAt::At`] sleeps until the time; a time more than [`START_GRACE`] in the past is
///   [`ShardError::StartPassed`], a more recent one returns at once; one more than
///   [`START_AHEAD_MAX`] ahead is [`ShardError::StartTooFar`].
/// - [`StartAt::Barrier`] creates the folder if needed, creates `DIR/ready-I` (I = 1-based
///   `shard.index()`; [`ShardError::BarrierStale`] if it exists already), then polls every
///   [`BARRIER_POLL`] until `ready-1` … `ready-{expected}` all exist and returns; so every shard
///   starts at its first poll after the last one arrived. It never deletes files: a folder reused
///   for a second run is refused instead of releasing everyone at once. After `timeout`:
///   [`ShardError::BarrierTimeout`] naming the shards that never arrived. A shard numbered above
///   `expected` is [`ShardError::IndexAboveCount`].
pub async fn wait_for_start(start: &StartAt, shard: Shard) -> Result<(), ShardError> {
    match start {
        StartAt::Now => Ok(()),
        StartAt::At(at) => wait_until(*at).await,
        StartAt::Barrier {
            dir,
            expected,
            timeout,
        } => barrier(dir, *expected, *timeout, shard).await,
    }
}

async fn wait_until(at: jiff::Timestamp) -> Result<(), ShardError> {
    let ahead = at.duration_since(jiff::Timestamp::now());
    if ahead.is_negative() {
        let late = ahead.unsigned_abs();
        if late > START_GRACE {
            return Err(ShardError::StartPassed {
                at,
                late_s: late.as_secs_f64(),
            });
        }
        return Ok(());
    }
    let ahead = ahead.unsigned_abs();
    if ahead > START_AHEAD_MAX {
        return Err(ShardError::StartTooFar {
            at,
            ahead_h: ahead.as_secs_f64() / 3600.0,
        });
    }
    tokio::time::sleep(ahead).await;
    Ok(())
}

async fn barrier(
    dir: &Path,
    expected: u32,
    timeout: Duration,
    shard: Shard,
) -> Result<(), ShardError> {
    if shard.index() > expected {
        return Err(ShardError::IndexAboveCount {
            index: shard.index(),
            count: expected,
        });
    }
    let io_err = |path: &Path| {
        let path = path.to_owned();
        move |source| ShardError::Barrier { path, source }
    };
    tokio::fs::create_dir_all(dir).await.map_err(io_err(dir))?;
    let mine = dir.join(ready_file(shard.index()));
    // `create_new` fails if the file exists, which is how a stale folder is noticed.
    match tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&mine)
        .await
    {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(ShardError::BarrierStale { path: mine });
        }
        Err(e) => return Err(io_err(&mine)(e)),
    }
    let began = Instant::now();
    loop {
        let mut missing = Vec::new();
        for i in 1..=expected {
            let path = dir.join(ready_file(i));
            if !tokio::fs::try_exists(&path).await.map_err(io_err(&path))? {
                missing.push(i);
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        let waited = began.elapsed();
        if waited >= timeout {
            return Err(ShardError::BarrierTimeout {
                dir: dir.to_owned(),
                waited_s: waited.as_secs_f64(),
                missing,
            });
        }
        tokio::time::sleep(BARRIER_POLL.min(timeout - waited)).await;
    }
}

/// Name of the file shard `index` (1-based) creates in a barrier folder.
fn ready_file(index: u32) -> String {
    format!("ready-{index}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::ArrivalUnit;
    use crate::scenario::model::{ClosedLoad, Feeder, OnEnd, OpenLoad, ThinkTime};
    use crate::testing::scenario::{ScenarioBuilder, delay_target};

    fn stage(target: f64) -> Stage {
        Stage {
            name: None,
            target,
            ramp: Duration::from_secs(5),
            hold: Duration::from_secs(20),
        }
    }

    fn feeder(name: &str, rows: usize, mode: FeederMode) -> Feeder {
        Feeder {
            name: name.into(),
            path: format!("{name}.csv").into(),
            columns: vec![("id".into(), 0)],
            rows: (0..rows).map(|r| vec![r.to_string()]).collect(),
            mode,
            on_end: OnEnd::Stop,
        }
    }

    fn scenario(model: LoadModel, max_iterations: Option<u64>, feeders: Vec<Feeder>) -> Scenario {
        ScenarioBuilder::new(model)
            .named("shop")
            .sha256(&"ab".repeat(32))
            .max_duration(Duration::from_secs(60))
            .max_iterations(max_iterations)
            .feeders(feeders)
            .build()
    }

    fn closed(users: &[f64]) -> LoadModel {
        LoadModel::Closed(ClosedLoad {
            stages: users.iter().copied().map(stage).collect(),
            think_time: Some(ThinkTime {
                min: Duration::from_millis(10),
                max: Duration::from_millis(20),
            }),
        })
    }

    fn open(rates: &[f64], max_in_flight: u32) -> LoadModel {
        LoadModel::Open(OpenLoad {
            stages: rates.iter().copied().map(stage).collect(),
            unit: ArrivalUnit::Iterations,
            max_in_flight,
        })
    }

    fn shards(n: u32) -> impl Iterator<Item = Shard> {
        (1..=n).map(move |i| Shard::new(i, n).expect("valid"))
    }

    fn stages(s: &Scenario) -> &[Stage] {
        match &s.load.model {
            LoadModel::Closed(c) => &c.stages,
            LoadModel::Open(o) => &o.stages,
        }
    }

    #[track_caller]
    fn check_parse(text: &str, expect: Result<(u32, u32), &str>) {
        match (text.parse::<Shard>(), expect) {
            (Ok(s), Ok((i, n))) => assert_eq!((s.index(), s.count()), (i, n), "{text}"),
            (Err(e), Err(want)) => {
                let got = e.to_string();
                assert!(got.contains(want), "{text}: `{got}` lacks `{want}`");
            }
            (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn parses_i_of_n_with_clear_errors() {
        check_parse("2/4", Ok((2, 4)));
        check_parse(" 1 / 1 ", Ok((1, 1)));
        check_parse("16/16", Ok((16, 16)));
        check_parse("0/4", Err("numbered from 1"));
        check_parse("5/4", Err("shard 5 of 4 does not exist"));
        check_parse("1/0", Err("0 shards"));
        check_parse("2", Err("expected `I/N`"));
        check_parse("a/b", Err("`a/b` is not a shard"));
        check_parse("+1/2", Err("is not a shard"));
        check_parse("1/2/3", Err("is not a shard"));
        check_parse("-1/2", Err("is not a shard"));
        check_parse("1/99999999999", Err("is not a shard"));
        let s: Shard = "3/8".parse().expect("valid");
        assert_eq!((s.to_string(), s.offset()), ("3/8".to_owned(), 2));
        assert_eq!(s.info(), ShardInfo { index: 3, count: 8 });
    }

    #[test]
    fn closed_users_sum_exactly_and_no_shard_is_empty() {
        for n in 1..=16u32 {
            for peak in [u64::from(n), u64::from(n) + 1, 17, 100, 1_001] {
                let loads = [0.0, 1.0, 3.0, peak as f64, (peak / 2) as f64, 7.4];
                let s = scenario(closed(&loads), Some(peak * 3), vec![]);
                let parts: Vec<Scenario> = shards(n)
                    .map(|sh| apply(&s, sh).expect("load >= N"))
                    .collect();
                for (k, load) in loads.iter().enumerate() {
                    let total: f64 = parts.iter().map(|p| stages(p)[k].target).sum();
                    assert_eq!(total, load.round(), "n={n} stage {k}");
                    let per: Vec<f64> = parts.iter().map(|p| stages(p)[k].target).collect();
                    let (lo, hi) = (
                        per.iter().copied().fold(f64::MAX, f64::min),
                        per.iter().copied().fold(0.0, f64::max),
                    );
                    assert!(hi - lo <= 1.0, "n={n} stage {k}: {per:?} not even");
                    for p in &per {
                        assert_eq!(p.fract(), 0.0, "whole users");
                    }
                }
                for (i, p) in parts.iter().enumerate() {
                    assert!(
                        stages(p).iter().any(|st| st.target >= 1.0),
                        "n={n} peak={peak}: shard {} never runs a user",
                        i + 1
                    );
                    // Timing is untouched, so shards stay in step.
                    for (a, b) in stages(p).iter().zip(stages(&s)) {
                        assert_eq!((a.ramp, a.hold, &a.name), (b.ramp, b.hold, &b.name));
                    }
                }
                let caps: u64 = parts
                    .iter()
                    .map(|p| p.load.max_iterations.expect("kept"))
                    .sum();
                assert_eq!(caps, peak * 3, "n={n}");
            }
        }
    }

    #[test]
    fn load_below_n_is_refused_with_the_peak() {
        let s = scenario(closed(&[1.0, 3.0, 2.0]), None, vec![]);
        let err = apply(&s, Shard::new(1, 4).expect("valid")).expect_err("3 users on 4");
        assert!(matches!(
            err,
            ShardError::LoadBelowShards { peak: 3, count: 4 }
        ));
        assert!(err.to_string().starts_with("load below 4"), "{err}");
        // Three shards are fine, and a stage below N leaves some shards idle in it.
        let third = apply(&s, Shard::new(3, 3).expect("valid")).expect("3 users on 3");
        let t: Vec<f64> = stages(&third).iter().map(|st| st.target).collect();
        assert_eq!(t, [0.0, 1.0, 0.0]);

        let capped = scenario(closed(&[10.0]), Some(3), vec![]);
        let err = apply(&capped, Shard::new(1, 4).expect("valid")).expect_err("cap 3 on 4");
        assert!(matches!(
            err,
            ShardError::IterationsBelowShards { cap: 3, count: 4 }
        ));
    }

    #[test]
    fn open_rates_sum_exactly_in_shard_order() {
        let rates = [0.1, 0.3, 1.0, 2.5, 7.0, 33.3, 100.0, 1234.567, 1e6 / 3.0];
        for n in 1..=16u32 {
            let s = scenario(open(&rates, 37), Some(10_000), vec![]);
            let parts: Vec<Scenario> = shards(n).map(|sh| apply(&s, sh).expect("ok")).collect();
            for (k, rate) in rates.iter().enumerate() {
                let mut total = 0.0;
                for p in &parts {
                    let r = stages(p)[k].target;
                    assert!(r > 0.0, "n={n}: every shard gets arrivals");
                    assert!((r - rate / f64::from(n)).abs() <= rate * 1e-12, "n={n}");
                    total += r;
                }
                assert_eq!(total, *rate, "n={n} rate {rate}");
            }
            let flights: Vec<u32> = parts
                .iter()
                .map(|p| match &p.load.model {
                    LoadModel::Open(o) => o.max_in_flight,
                    LoadModel::Closed(_) => 0,
                })
                .collect();
            assert!(flights.iter().all(|&f| f >= 1), "n={n}: {flights:?}");
            assert_eq!(
                flights.iter().sum::<u32>(),
                37,
                "n={n}: 37 >= N splits exactly"
            );
            let caps: u64 = parts.iter().filter_map(|p| p.load.max_iterations).sum();
            assert_eq!(caps, 10_000);
        }
        // Below N, every shard still keeps one arrival in flight.
        let s = scenario(open(&[5.0], 2), None, vec![]);
        for sh in shards(4) {
            match apply(&s, sh).expect("ok").load.model {
                LoadModel::Open(o) => assert_eq!(o.max_in_flight, 1),
                LoadModel::Closed(_) => panic!("model changed"),
            }
        }
    }

    #[test]
    fn feeder_partitions_are_disjoint_and_cover_every_row() {
        for n in 1..=16u32 {
            for rows in [n as usize, n as usize + 1, 50, 97] {
                let s = scenario(
                    closed(&[f64::from(n) * 3.0]),
                    None,
                    vec![
                        feeder("users", rows, FeederMode::UniquePerUser),
                        feeder("orders", rows + 3, FeederMode::Sequential),
                        feeder("skus", 5, FeederMode::Random),
                    ],
                );
                let parts: Vec<Scenario> = shards(n).map(|sh| apply(&s, sh).expect("ok")).collect();
                for f in 0..2 {
                    let mut seen: Vec<&Vec<String>> =
                        parts.iter().flat_map(|p| &p.feeders[f].rows).collect();
                    assert!(parts.iter().all(|p| !p.feeders[f].rows.is_empty()));
                    seen.sort();
                    let mut all: Vec<&Vec<String>> = s.feeders[f].rows.iter().collect();
                    all.sort();
                    assert_eq!(seen, all, "n={n} rows={rows}: a partition of the rows");
                }
                // Shard I keeps rows I-1, I-1+N, … in file order.
                let second = parts.get(1).map(|p| &p.feeders[0].rows);
                if let Some(rows) = second {
                    assert_eq!(rows[0], ["1"]);
                    if rows.len() > 1 {
                        assert_eq!(rows[1], [(1 + n).to_string()]);
                    }
                }
                for p in &parts {
                    assert_eq!(p.feeders[2].rows, s.feeders[2].rows, "random unchanged");
                }
            }
        }
    }

    #[test]
    fn unique_rows_suffice_on_every_shard_when_they_did_unsharded() {
        // Users and rows split by the same rule, so users <= rows holds shard by shard.
        for n in 1..=16u32 {
            for users in u64::from(n)..60 {
                for rows in users..users + 3 {
                    let sh = Shard::new(n, n).expect("valid");
                    let first = Shard::new(1, n).expect("valid");
                    for s in [sh, first] {
                        assert!(split_count(users, s) <= split_count(rows, s));
                    }
                }
            }
        }
    }

    #[test]
    fn small_feeders_are_refused_and_whole_is_identity() {
        let s = scenario(
            closed(&[8.0]),
            None,
            vec![feeder("users", 3, FeederMode::UniquePerUser)],
        );
        let err = apply(&s, Shard::new(1, 4).expect("valid")).expect_err("3 rows on 4");
        assert!(
            err.to_string().contains("feeder `users` has 3 rows"),
            "{err}"
        );
        let whole = apply(&s, Shard::whole()).expect("ok");
        assert_eq!(stages(&whole), stages(&s));
        assert_eq!(whole.feeders[0].rows, s.feeders[0].rows);
        assert_eq!(whole.sha256, s.sha256);
    }

    #[tokio::test]
    async fn start_at_waits_or_refuses_a_stale_time() {
        let shard = Shard::whole();
        let began = Instant::now();
        let at = jiff::Timestamp::now()
            .checked_add(jiff::SignedDuration::from_millis(300))
            .expect("in range");
        wait_for_start(&StartAt::At(at), shard)
            .await
            .expect("future");
        assert!(began.elapsed() >= Duration::from_millis(250), "slept");

        let recent = jiff::Timestamp::now()
            .checked_sub(jiff::SignedDuration::from_secs(2))
            .expect("in range");
        let began = Instant::now();
        wait_for_start(&StartAt::At(recent), shard)
            .await
            .expect("late but within grace");
        assert!(began.elapsed() < Duration::from_millis(100));

        let stale = jiff::Timestamp::now()
            .checked_sub(jiff::SignedDuration::from_secs(60))
            .expect("in range");
        let err = wait_for_start(&StartAt::At(stale), shard)
            .await
            .expect_err("a minute ago");
        assert!(matches!(err, ShardError::StartPassed { late_s, .. } if late_s >= 59.0));
        let typo = jiff::Timestamp::now()
            .checked_add(jiff::SignedDuration::from_hours(24 * 30))
            .expect("in range");
        let err = wait_for_start(&StartAt::At(typo), shard)
            .await
            .expect_err("a month ahead");
        assert!(err.to_string().contains("more than a day ahead"), "{err}");
        wait_for_start(&StartAt::Now, shard).await.expect("now");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn barrier_releases_everyone_after_the_last_arrives() {
        let dir = tempfile::tempdir().expect("tempdir");
        let start = StartAt::Barrier {
            dir: dir.path().join("barrier"),
            expected: 3,
            timeout: Duration::from_secs(10),
        };
        let began = Instant::now();
        let mut tasks = Vec::new();
        for i in 1..=3u32 {
            let start = start.clone();
            tasks.push(tokio::spawn(async move {
                // Shard 3 arrives last, 300 ms after the others.
                if i == 3 {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                wait_for_start(&start, Shard::new(i, 3).expect("valid"))
                    .await
                    .map(|()| began.elapsed())
            }));
        }
        let mut released = Vec::new();
        for t in tasks {
            released.push(t.await.expect("joined").expect("released"));
        }
        for r in &released {
            assert!(
                *r >= Duration::from_millis(300),
                "released before the last: {r:?}"
            );
        }
        let spread = *released.iter().max().expect("3") - *released.iter().min().expect("3");
        assert!(spread <= BARRIER_POLL * 4, "starts {spread:?} apart");

        // Reusing the folder is refused rather than releasing at once.
        let err = wait_for_start(&start, Shard::new(2, 3).expect("valid"))
            .await
            .expect_err("stale");
        assert!(matches!(err, ShardError::BarrierStale { .. }), "{err}");
    }

    #[tokio::test]
    async fn barrier_timeout_names_the_missing_shards() {
        let dir = tempfile::tempdir().expect("tempdir");
        let start = StartAt::Barrier {
            dir: dir.path().to_owned(),
            expected: 4,
            timeout: Duration::from_millis(150),
        };
        std::fs::write(dir.path().join("ready-3"), "").expect("shard 3 is there");
        let err = wait_for_start(&start, Shard::new(1, 4).expect("valid"))
            .await
            .expect_err("2 and 4 never come");
        match &err {
            ShardError::BarrierTimeout { missing, .. } => assert_eq!(missing, &[2, 4]),
            other => panic!("wrong error {other:?}"),
        }
        assert!(
            err.to_string().contains("shards 2, 4 never arrived"),
            "{err}"
        );
        let err = wait_for_start(&start, Shard::new(5, 5).expect("valid"))
            .await
            .expect_err("5 of 4");
        assert!(matches!(
            err,
            ShardError::IndexAboveCount { index: 5, count: 4 }
        ));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sharded_runs_merge_to_the_unsharded_counts() {
        use crate::run::{RunSettings, execute};
        use std::sync::Arc;
        use std::sync::atomic::Ordering;

        let (url, hits) = delay_target().await;
        let s = ScenarioBuilder::new(closed(&[6.0]))
            .named("shop")
            .sha256(&"ab".repeat(32))
            .at(&url)
            .max_duration(Duration::from_secs(20))
            .max_iterations(Some(45))
            .get("/delay/2")
            .build();
        let dir = tempfile::tempdir().expect("tempdir");
        let whole = execute(
            Arc::new(s.clone()),
            &RunSettings::new(dir.path().join("whole")),
        )
        .await
        .expect("unsharded run");
        let whole_hits = hits.swap(0, Ordering::SeqCst);

        // The driver runs one load at a time per process, so the shards run one after another
        // here; on real workers they run side by side.
        let mut parts = Vec::new();
        for shard in shards(3) {
            let mut settings =
                RunSettings::new(dir.path().join(format!("shard-{}", shard.index())));
            settings.run_id = Some("run-42".into());
            settings.shard = Some(shard.info());
            let part = apply(&s, shard).expect("6 users on 3 shards");
            let results = execute(Arc::new(part), &settings).await.expect("shard run");
            assert_eq!(results.shard, Some(shard.info()));
            assert_eq!(results.run_id, "run-42");
            let written = crate::results::RunResults::read(&settings.out_dir).expect("written");
            assert_eq!(written.shard, Some(shard.info()), "identity is in the file");
            parts.push(results);
        }
        let merged = crate::merge::merge(&parts).expect("all three shards");
        let count = |r: &crate::results::RunResults| r.overall().expect("overall").stats.requests;
        assert_eq!(count(&whole), 45);
        assert_eq!(count(&merged), count(&whole), "merged = unsharded");
        assert_eq!(parts.iter().map(count).collect::<Vec<_>>(), [15, 15, 15]);
        assert_eq!(hits.load(Ordering::SeqCst), whole_hits, "the target agrees");
        assert_eq!(
            merged.overall().expect("o").status_codes,
            whole.overall().expect("w").status_codes
        );
        assert_eq!(merged.shards, 3);
        assert_eq!(merged.run_id, "run-42");
        assert_eq!(
            merged.profile, whole.profile,
            "configured users and caps add back up"
        );
        // One shard short is an error that names it.
        let err = crate::merge::merge(&parts[..2]).expect_err("shard 3 missing");
        assert!(
            err.to_string().starts_with("shards 3 of 3 are missing"),
            "{err}"
        );
    }
}
