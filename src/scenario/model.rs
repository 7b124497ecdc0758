//! The validated scenario: what `validate` promotes the raw TOML into.
//!
//! Invariant: nothing here can hold a bad state the driver would have to check again — durations
//! are `Duration`, weights are positive, every template's variables are defined, every SLA names a
//! scope that exists. Past `scenario/`, nothing sees the raw text.

use std::path::PathBuf;
use std::time::Duration;

use regex::Regex;
use serde_json_path::JsonPath;

use crate::results::{ArrivalUnit, OVERALL_SCOPE};
use crate::settings::CompareSettings;
use crate::template::{Template, VarTable};

/// A scenario ready to run.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// `name` from the file, or the file stem.
    pub name: String,
    /// Path of the scenario file as given.
    pub path: PathBuf,
    /// SHA-256 of the file's bytes (after `--set` overrides are applied: of the original bytes).
    pub sha256: String,
    /// Where the load goes.
    pub target: Target,
    /// How much load, for how long.
    pub load: Load,
    /// Weighted transactions (at least one).
    pub transactions: Vec<Transaction>,
    /// CSV feeders, loaded.
    pub feeders: Vec<Feeder>,
    /// SLAs to check.
    pub slas: Vec<Sla>,
    /// `[compare]`: settings of `kneepoint compare` for runs of this scenario (all unset when
    /// the table is absent).
    pub compare: CompareSettings,
    /// Variable slots: feeder columns and captures, by name.
    pub vars: VarTable,
}

/// The system under test.
#[derive(Debug, Clone)]
pub struct Target {
    /// Base URL, e.g. `http://127.0.0.1:8080` (no trailing slash).
    pub base_url: String,
    /// Headers sent with every request.
    pub headers: Vec<(String, Template)>,
    /// Whole-request timeout (headers + body).
    pub timeout: Duration,
    /// Prometheus endpoint to scrape during the run.
    pub metrics_url: Option<String>,
    /// Start the bundled reference stack and aim at it.
    pub reference: bool,
}

/// Load profile plus stopping conditions.
#[derive(Debug, Clone)]
pub struct Load {
    /// Closed or open model.
    pub model: LoadModel,
    /// Stop after this long even if stages remain (`--duration` overrides).
    pub max_duration: Option<Duration>,
    /// Stop after this many transaction iterations (closed) or arrivals (open).
    pub max_iterations: Option<u64>,
}

/// Closed or open workload model.
#[derive(Debug, Clone)]
pub enum LoadModel {
    /// Users loop: the arrival rate follows response times.
    Closed(ClosedLoad),
    /// Arrivals on a schedule, independent of response times.
    Open(OpenLoad),
}

/// Closed-model settings.
#[derive(Debug, Clone)]
pub struct ClosedLoad {
    /// `target` = users.
    pub stages: Vec<Stage>,
    /// Think time after each transaction.
    pub think_time: Option<ThinkTime>,
}

/// Open-model settings.
#[derive(Debug, Clone)]
pub struct OpenLoad {
    /// `target` = arrivals per second.
    pub stages: Vec<Stage>,
    /// What one arrival starts.
    pub unit: ArrivalUnit,
    /// Cap on arrivals in flight at once (the pool of virtual users).
    pub max_in_flight: u32,
}

/// One stage: ramp linearly from the previous stage's target to `target` over `ramp`, then hold.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    /// Optional display name.
    pub name: Option<String>,
    /// Users (closed) or arrivals per second (open); ≥ 0.
    pub target: f64,
    /// Ramp time.
    pub ramp: Duration,
    /// Hold time.
    pub hold: Duration,
}

/// Uniformly random pause in `min..=max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThinkTime {
    /// Shortest pause.
    pub min: Duration,
    /// Longest pause (≥ min).
    pub max: Duration,
}

/// A weighted, ordered list of requests.
#[derive(Debug, Clone)]
pub struct Transaction {
    /// Unique name.
    pub name: String,
    /// Relative weight (> 0).
    pub weight: u32,
    /// Requests, in order.
    pub requests: Vec<RequestSpec>,
    /// Think time after the transaction (overrides the load's).
    pub think_time: Option<ThinkTime>,
}

/// HTTP methods a request may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum HttpMethod {
    Get,
    Post,
    Put,
    Patch,
    Delete,
    Head,
    Options,
}

/// One templated request.
#[derive(Debug, Clone)]
pub struct RequestSpec {
    /// Name, unique within its transaction (default: `METHOD path`).
    pub name: String,
    /// HTTP method.
    pub method: HttpMethod,
    /// Path (joined to the base URL) or absolute URL, templated.
    pub url: Template,
    /// Extra headers.
    pub headers: Vec<(String, Template)>,
    /// Optional body.
    pub body: Option<Body>,
    /// Checks; when empty the implicit check is `status < 400`.
    pub checks: Vec<Check>,
    /// Values to capture into variables for later requests of the same user.
    pub captures: Vec<Capture>,
    /// Pause after this request.
    pub think_time: Option<ThinkTime>,
}

/// A request body.
#[derive(Debug, Clone)]
pub enum Body {
    /// JSON text (templated; sent with `content-type: application/json`).
    Json(Template),
    /// Form fields (url-encoded).
    Form(Vec<(String, Template)>),
    /// Raw text.
    Raw(Template),
}

/// A check on a response; a failed check counts as an error of kind `check` (or `status`).
#[derive(Debug, Clone)]
pub enum Check {
    /// Status must be one of these (ranges like `2xx` expand to 200..=299).
    Status(Vec<std::ops::RangeInclusive<u16>>),
    /// Body must contain the text, rendered with the user's variables.
    BodyContains(Template),
    /// The JSON path must select exactly this value.
    JsonEquals {
        /// Path as written (for messages).
        text: String,
        /// Compiled path.
        path: JsonPath,
        /// Expected value.
        value: Expected,
    },
    /// The JSON path must select something.
    JsonExists {
        /// Path as written.
        text: String,
        /// Compiled path.
        path: JsonPath,
    },
}

/// The value a JSON check expects.
#[derive(Debug, Clone)]
pub enum Expected {
    /// This JSON value (a number, boolean, null, array, object or plain string).
    Json(serde_json::Value),
    /// A string with placeholders, rendered per request with the user's variables.
    Text(Template),
}

/// Where a captured value comes from.
#[derive(Debug, Clone)]
pub enum CaptureSource {
    /// First node a JSON path selects (strings unquoted, others as JSON text).
    JsonPath {
        /// Path as written.
        text: String,
        /// Compiled path.
        path: JsonPath,
    },
    /// A response header.
    Header(String),
    /// First match of a regex on the body: group 1 if present, else the whole match.
    Regex(Regex),
}

/// Capture a value into a variable slot.
#[derive(Debug, Clone)]
pub struct Capture {
    /// Variable name.
    pub var: String,
    /// Slot in the user's variables (see [`VarTable`]).
    pub slot: usize,
    /// Where from.
    pub source: CaptureSource,
}

/// How a feeder hands out rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeederMode {
    /// One shared cursor: rows in file order across all users.
    Sequential,
    /// A uniformly random row each iteration.
    Random,
    /// Each user gets its own row for its whole life (user i → row i).
    UniquePerUser,
}

/// What happens when a feeder runs out of rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnEnd {
    /// Start again from the first row.
    Recycle,
    /// The user (closed) or arrival (open) that needs a row stops; the run ends when all have.
    Stop,
}

/// A CSV feeder, loaded.
#[derive(Debug, Clone)]
pub struct Feeder {
    /// Feeder name.
    pub name: String,
    /// File, resolved relative to the scenario.
    pub path: PathBuf,
    /// Column names (from the header row) and the variable slot each fills.
    pub columns: Vec<(String, usize)>,
    /// Data rows (each as long as `columns`).
    pub rows: Vec<Vec<String>>,
    /// How rows are handed out.
    pub mode: FeederMode,
    /// What happens at the end.
    pub on_end: OnEnd,
}

/// Which results an SLA looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlaScope {
    /// Every request.
    Overall,
    /// One transaction (whole-transaction latency).
    Transaction(String),
    /// One request, named `transaction/request`.
    Request(String),
}

impl SlaScope {
    /// The scope name as results files spell it.
    pub fn name(&self) -> &str {
        match self {
            Self::Overall => OVERALL_SCOPE,
            Self::Transaction(n) | Self::Request(n) => n,
        }
    }
}

/// A latency statistic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum LatencyStat {
    P50,
    P90,
    P95,
    P99,
    P99_9,
    Max,
    Mean,
}

impl LatencyStat {
    /// Every statistic, in declaration order.
    pub const ALL: [Self; 7] = [
        Self::P50,
        Self::P90,
        Self::P95,
        Self::P99,
        Self::P99_9,
        Self::Max,
        Self::Mean,
    ];

    /// The key used in scenarios and results files (`p95`, `p99.9`).
    pub fn key(self) -> &'static str {
        match self {
            Self::P50 => "p50",
            Self::P90 => "p90",
            Self::P95 => "p95",
            Self::P99 => "p99",
            Self::P99_9 => "p99.9",
            Self::Max => "max",
            Self::Mean => "mean",
        }
    }
}

/// What an SLA measures.
#[derive(Debug, Clone, PartialEq)]
pub enum SlaMetric {
    /// A latency statistic (threshold in µs).
    Latency(LatencyStat),
    /// Errors / requests (threshold as a ratio, `0.1%` = 0.001).
    ErrorRate,
    /// Requests per second (threshold per second).
    Throughput,
    /// The run-average of a scraped server series (threshold in the series' unit).
    Server(String),
}

impl SlaMetric {
    /// The metrics kneepoint measures itself (all but server series), in display order.
    pub fn client() -> impl Iterator<Item = Self> {
        LatencyStat::ALL
            .into_iter()
            .map(Self::Latency)
            .chain([Self::ErrorRate, Self::Throughput])
    }

    /// The client metric `key` names exactly (`p99.9`, `error_rate`), if any.
    pub fn from_client_key(key: &str) -> Option<Self> {
        Self::client().find(|m| m.key() == key)
    }

    /// The metric's key (`p95`, `error_rate`), or the series name of a server metric.
    pub fn key(&self) -> &str {
        match self {
            Self::Latency(stat) => stat.key(),
            Self::ErrorRate => "error_rate",
            Self::Throughput => "throughput",
            Self::Server(series) => series,
        }
    }
}

/// How actual compares to threshold for the SLA to hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Operator {
    Lt,
    Le,
    Gt,
    Ge,
}

impl Operator {
    /// The operator as text.
    pub fn symbol(self) -> &'static str {
        match self {
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Ge => ">=",
        }
    }

    /// Whether `actual OP threshold` holds.
    pub fn holds(self, actual: f64, threshold: f64) -> bool {
        match self {
            Self::Lt => actual < threshold,
            Self::Le => actual <= threshold,
            Self::Gt => actual > threshold,
            Self::Ge => actual >= threshold,
        }
    }
}

/// A service-level agreement on the results.
#[derive(Debug, Clone, PartialEq)]
pub struct Sla {
    /// Display name.
    pub name: String,
    /// Which results.
    pub scope: SlaScope,
    /// Which number.
    pub metric: SlaMetric,
    /// Operator.
    pub comparison: Operator,
    /// Threshold in the metric's base unit.
    pub threshold: f64,
    /// Threshold as written.
    pub threshold_text: String,
    /// Stop the run as soon as this is already lost.
    pub abort: bool,
}
