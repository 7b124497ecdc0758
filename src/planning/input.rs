//! Forecast and catalogue files: TOML text → checked [`Forecast`] and [`Catalogue`].
//!
//! Invariant: text in, values or located errors out — every problem points at its file, line
//! and column (miette spans from `toml` and `Spanned` values), and all semantic problems of one
//! file are reported together. No file is opened here; paths are kept (with their spans) for
//! the caller to resolve.

use std::ops::Range;
use std::path::PathBuf;

use serde::Deserialize;
use serde_spanned::Spanned;

use crate::diagnostic::{Located, Problems, did_you_mean, with_suggestion};

/// A path written in a file, with where it was written (for errors when it cannot be read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRef {
    /// As written (relative paths are relative to the file that names them).
    pub path: PathBuf,
    /// Byte span of the value.
    pub span: Range<usize>,
}

/// Where the demand comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Demand {
    /// Users per month × daily active ratio × requests per active user per day.
    Users {
        /// Users per month (the population the daily-active ratio applies to).
        users: Vec<f64>,
        /// Share of users active on a day (0…1].
        daily_active: f64,
        /// Requests one active user makes per day.
        requests_per_user_per_day: f64,
        /// Peak-hour rate ÷ daily average rate.
        peak_to_average: f64,
    },
    /// A CSV of peak requests per second per month.
    PeakCsv {
        /// The CSV.
        file: FileRef,
        /// To derive the average from the peak, when given.
        peak_to_average: Option<f64>,
    },
}

/// Capacity of one instance.
#[derive(Debug, Clone, PartialEq)]
pub enum CapacitySource {
    /// Given directly, req/s.
    Given(f64),
    /// The max sustainable throughput in a `capacity.json`.
    FromFile(FileRef),
}

/// A checked forecast.
#[derive(Debug, Clone, PartialEq)]
pub struct Forecast {
    /// Display name.
    pub name: String,
    /// File name as given.
    pub file: String,
    /// Its text (for errors found later, e.g. a missing catalogue).
    pub text: String,
    /// Catalogue file, unless given on the command line.
    pub catalogue: Option<FileRef>,
    /// Demand.
    pub demand: Demand,
    /// First month as (year, month), for labels.
    pub start: Option<(i32, u32)>,
    /// A requests-per-second figure from elsewhere to check against the arithmetic.
    pub claimed_rps: Option<(f64, Range<usize>)>,
    /// Capacity per instance.
    pub capacity: CapacitySource,
    /// Fraction of an instance's capacity to plan for (0…1].
    pub target_utilisation: f64,
    /// Spare instances on top of the load (N+1 = 1).
    pub redundancy: u32,
    /// Instance type to plan with (and its span), if not the catalogue's deployment type.
    pub instance: Option<(String, Range<usize>)>,
}

impl Forecast {
    /// An error located in this forecast.
    pub fn error_at(&self, span: Range<usize>, message: impl Into<String>, label: &str) -> Located {
        Located::at(&self.file, &self.text, span, message, label)
    }
}

/// One instance type.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceType {
    /// Name used in forecasts.
    pub name: String,
    /// Price per month.
    pub monthly_price: f64,
    /// Database connections each instance holds open (its pool size).
    pub db_pool: u32,
    /// vCPUs (informational).
    pub vcpus: Option<f64>,
    /// Memory, GiB (informational).
    pub memory_gib: Option<f64>,
}

/// The database every instance connects to.
#[derive(Debug, Clone, PartialEq)]
pub struct Database {
    /// Name.
    pub name: String,
    /// Price per month.
    pub monthly_price: f64,
    /// Connections it accepts.
    pub max_connections: u32,
}

/// A fixed monthly cost (cache, load balancer, storage, CDN…).
#[derive(Debug, Clone, PartialEq)]
pub struct FixedCost {
    /// Line item.
    pub name: String,
    /// Price per month.
    pub monthly_price: f64,
}

/// The deployment the catalogue describes today.
#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    /// Instance type.
    pub instance: String,
    /// Instances running.
    pub instances: u32,
}

/// A checked catalogue.
#[derive(Debug, Clone, PartialEq)]
pub struct Catalogue {
    /// File name as given.
    pub file: String,
    /// Currency symbol for output.
    pub currency: String,
    /// Instance types.
    pub instances: Vec<InstanceType>,
    /// The database.
    pub database: Database,
    /// Fixed monthly costs in file order.
    pub fixed: Vec<FixedCost>,
    /// Today's deployment, if described.
    pub deployment: Option<Deployment>,
}

impl Catalogue {
    /// An instance type by name.
    pub fn instance(&self, name: &str) -> Option<&InstanceType> {
        self.instances.iter().find(|i| i.name == name)
    }
}

// ---- raw, as typed -------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawNumber {
    Number(f64),
    Text(String),
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawUsers {
    One(f64),
    Many(Vec<f64>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawForecast {
    name: Option<String>,
    catalogue: Option<Spanned<String>>,
    demand: Spanned<RawDemand>,
    capacity: Spanned<RawCapacity>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDemand {
    start: Option<Spanned<String>>,
    months: Option<Spanned<i64>>,
    users: Option<Spanned<RawUsers>>,
    monthly_growth: Option<Spanned<RawNumber>>,
    daily_active: Option<Spanned<RawNumber>>,
    requests_per_user_per_day: Option<Spanned<f64>>,
    peak_to_average: Option<Spanned<f64>>,
    peak_rps_csv: Option<Spanned<String>>,
    claimed_rps: Option<Spanned<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCapacity {
    rps_per_instance: Option<Spanned<f64>>,
    from: Option<Spanned<String>>,
    target_utilisation: Option<Spanned<RawNumber>>,
    redundancy: Option<Spanned<i64>>,
    instance: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalogue {
    currency: Option<String>,
    #[serde(default)]
    instance: Vec<Spanned<RawInstance>>,
    database: Spanned<RawDatabase>,
    #[serde(default)]
    fixed: Vec<Spanned<RawFixed>>,
    deployment: Option<Spanned<RawDeployment>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInstance {
    name: Spanned<String>,
    monthly_price: Spanned<f64>,
    db_pool: Spanned<i64>,
    vcpus: Option<f64>,
    memory_gib: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDatabase {
    name: String,
    monthly_price: Spanned<f64>,
    max_connections: Spanned<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFixed {
    name: String,
    monthly_price: Spanned<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDeployment {
    instance: Spanned<String>,
    instances: Spanned<i64>,
}

// ---- checking ------------------------------------------------------------------------------

/// Collects located errors for one file.
struct Checker<'a> {
    file: &'a str,
    text: &'a str,
    errors: Vec<Located>,
}

impl<'a> Checker<'a> {
    fn new(file: &'a str, text: &'a str) -> Self {
        Self {
            file,
            text,
            errors: Vec::new(),
        }
    }

    fn error(&mut self, span: Range<usize>, message: impl Into<String>, label: &str) {
        self.errors
            .push(Located::at(self.file, self.text, span, message, label));
    }

    fn error_help(&mut self, span: Range<usize>, message: &str, label: &str, help: &str) {
        self.errors
            .push(Located::at(self.file, self.text, span, message, label).with_help(help));
    }

    fn syntax<T: serde::de::DeserializeOwned>(&self) -> Result<T, Problems> {
        toml::from_str(self.text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            let message = e.message().trim_end().to_owned();
            let err = Located::at(self.file, self.text, span, message.clone(), "here");
            // `unknown field `x`, expected one of `a`, `b``: suggest the closest known key.
            let names: Vec<&str> = message.split('`').skip(1).step_by(2).collect();
            match names.split_first() {
                Some((unknown, known)) if message.starts_with("unknown field") => {
                    match did_you_mean(unknown, known.iter().copied()) {
                        Some(hint) => err.with_help(hint).into(),
                        None => err.into(),
                    }
                }
                _ => err.into(),
            }
        })
    }

    /// A number as written, or a percentage (`70%` → 0.7); else an error that it is not a
    /// `what`, with `help`.
    fn percentage(&mut self, v: &Spanned<RawNumber>, what: &str, help: &str) -> Option<f64> {
        match v.get_ref() {
            RawNumber::Number(n) => Some(*n),
            RawNumber::Text(t) => match t.trim().strip_suffix('%').map(|p| p.trim().parse::<f64>())
            {
                Some(Ok(p)) => Some(p / 100.0),
                _ => {
                    self.error_help(
                        v.span(),
                        &format!("`{t}` is not a {what}"),
                        "expected a percentage",
                        help,
                    );
                    None
                }
            },
        }
    }

    /// A ratio written `70%` or `0.7`, in (0, 1] unless `allow_over_one`.
    fn ratio(&mut self, v: &Spanned<RawNumber>, what: &str, allow_zero: bool) -> Option<f64> {
        let span = v.span();
        let value = self.percentage(v, what, "write it as `70%` or `0.7`")?;
        let ok = value.is_finite() && value <= 1.0 && (value > 0.0 || (allow_zero && value >= 0.0));
        if !ok {
            self.error_help(
                span,
                &format!("{what} must be between 0 and 100 %"),
                "out of range",
                "write it as `70%` or `0.7`",
            );
            return None;
        }
        Some(value)
    }

    fn growth(&mut self, v: &Spanned<RawNumber>) -> Option<f64> {
        let span = v.span();
        let value = self.percentage(v, "growth rate", "write it as `5%` or `0.05` (per month)")?;
        if !value.is_finite() || value <= -1.0 {
            self.error(span, "monthly growth must be above -100 %", "out of range");
            return None;
        }
        Some(value)
    }

    fn positive(&mut self, v: &Spanned<f64>, what: &str) -> Option<f64> {
        let x = *v.get_ref();
        if x.is_finite() && x > 0.0 {
            Some(x)
        } else {
            self.error(
                v.span(),
                format!("{what} must be a positive number"),
                "not positive",
            );
            None
        }
    }

    fn price(&mut self, v: &Spanned<f64>) -> f64 {
        let x = *v.get_ref();
        if x.is_finite() && x >= 0.0 {
            x
        } else {
            self.error(v.span(), "a monthly price cannot be negative", "negative");
            0.0
        }
    }

    fn count(&mut self, v: &Spanned<i64>, what: &str, min: i64) -> u32 {
        match u32::try_from(*v.get_ref()) {
            Ok(n) if i64::from(n) >= min => n,
            _ => {
                self.error(
                    v.span(),
                    format!("{what} must be a whole number ≥ {min}"),
                    "out of range",
                );
                0
            }
        }
    }

    fn finish<T>(self, value: T) -> Result<T, Problems> {
        if self.errors.is_empty() {
            Ok(value)
        } else {
            Err(Problems::in_file(self.errors))
        }
    }
}

/// Longest forecast horizon accepted (50 years), so a typo cannot ask for millions of rows.
pub const MAX_MONTHS: u32 = 600;

impl Forecast {
    /// Parse and check a forecast (`file` names it in messages).
    pub fn parse(file: &str, text: &str) -> Result<Self, Problems> {
        let mut c = Checker::new(file, text);
        let raw: RawForecast = c.syntax()?;
        let demand_span = raw.demand.span();
        let d = raw.demand.into_inner();
        let capacity_span = raw.capacity.span();
        let cap = raw.capacity.into_inner();

        let months = d
            .months
            .as_ref()
            .map(|m| (c.count(m, "`months`", 1), m.span()));
        if let Some((m, span)) = &months
            && *m > MAX_MONTHS
        {
            c.error(
                span.clone(),
                format!("at most {MAX_MONTHS} months"),
                "too many",
            );
        }
        let start = d.start.as_ref().and_then(|s| {
            let parsed = parse_year_month(s.get_ref());
            if parsed.is_none() {
                c.error_help(
                    s.span(),
                    &format!("`{}` is not a month", s.get_ref()),
                    "expected YYYY-MM",
                    "write the first month as `2027-01`",
                );
            }
            parsed
        });
        let peak_to_average = d
            .peak_to_average
            .as_ref()
            .and_then(|p| c.positive(p, "`peak_to_average`"));
        if let Some(p) = &d.peak_to_average
            && *p.get_ref() < 1.0
            && *p.get_ref() > 0.0
        {
            c.error_help(
                p.span(),
                "`peak_to_average` below 1 would make the peak lower than the average",
                "below 1",
                "the busiest hour is usually 2–10× the daily average",
            );
        }

        let demand = match (&d.peak_rps_csv, &d.users) {
            (Some(csv), None) => {
                for (name, span) in [
                    ("daily_active", d.daily_active.as_ref().map(Spanned::span)),
                    (
                        "requests_per_user_per_day",
                        d.requests_per_user_per_day.as_ref().map(Spanned::span),
                    ),
                    (
                        "monthly_growth",
                        d.monthly_growth.as_ref().map(Spanned::span),
                    ),
                ] {
                    if let Some(span) = span {
                        c.error(
                            span,
                            format!("`{name}` does not apply to a `peak_rps_csv` forecast"),
                            "not used",
                        );
                    }
                }
                Some(Demand::PeakCsv {
                    file: FileRef {
                        path: PathBuf::from(csv.get_ref()),
                        span: csv.span(),
                    },
                    peak_to_average,
                })
            }
            (Some(csv), Some(_)) => {
                c.error_help(
                    csv.span(),
                    "give either `users` or `peak_rps_csv`, not both",
                    "second demand source",
                    "remove one of them",
                );
                None
            }
            (None, None) => {
                c.error_help(demand_span.clone(), "[demand] needs `users` (with `daily_active`, `requests_per_user_per_day`, `peak_to_average`) or `peak_rps_csv`", "no demand", "e.g. `users = 1_000_000`");
                None
            }
            (None, Some(users)) => {
                let series = match users.get_ref() {
                    RawUsers::Many(list) => {
                        if let Some(g) = &d.monthly_growth {
                            c.error(
                                g.span(),
                                "`monthly_growth` only applies when `users` is one starting number",
                                "not used",
                            );
                        }
                        if let Some((m, span)) = &months
                            && usize::try_from(*m).ok() != Some(list.len())
                        {
                            c.error(
                                span.clone(),
                                format!("`months` is {m} but `users` lists {} months", list.len()),
                                "disagrees with `users`",
                            );
                        }
                        if list.is_empty() || list.len() > MAX_MONTHS as usize {
                            c.error(
                                users.span(),
                                format!("list 1 to {MAX_MONTHS} months of users"),
                                "bad length",
                            );
                        }
                        if list.iter().any(|u| !u.is_finite() || *u < 0.0) {
                            c.error(users.span(), "users cannot be negative", "negative");
                        }
                        list.clone()
                    }
                    RawUsers::One(u) => {
                        if !u.is_finite() || *u < 0.0 {
                            c.error(users.span(), "users cannot be negative", "negative");
                        }
                        let growth = d
                            .monthly_growth
                            .as_ref()
                            .and_then(|g| c.growth(g))
                            .unwrap_or(0.0);
                        let n = months.as_ref().map_or(12, |(m, _)| (*m).min(MAX_MONTHS));
                        (0..n)
                            .map(|i| u * (1.0 + growth).powf(f64::from(i)))
                            .collect()
                    }
                };
                let daily_active = match &d.daily_active {
                    Some(v) => c.ratio(v, "`daily_active` ratio", false),
                    None => {
                        c.error_help(
                            demand_span.clone(),
                            "[demand] needs `daily_active` with `users`",
                            "missing `daily_active`",
                            "e.g. `daily_active = \"10%\"`",
                        );
                        None
                    }
                };
                let rpud = match &d.requests_per_user_per_day {
                    Some(v) => c.positive(v, "`requests_per_user_per_day`"),
                    None => {
                        c.error_help(
                            demand_span.clone(),
                            "[demand] needs `requests_per_user_per_day` with `users`",
                            "missing `requests_per_user_per_day`",
                            "e.g. `requests_per_user_per_day = 10`",
                        );
                        None
                    }
                };
                if d.peak_to_average.is_none() {
                    c.error_help(
                        demand_span.clone(),
                        "[demand] needs `peak_to_average` with `users`",
                        "missing `peak_to_average`",
                        "the busiest hour's rate ÷ the daily average, e.g. `peak_to_average = 3`",
                    );
                }
                match (daily_active, rpud, peak_to_average) {
                    (
                        Some(daily_active),
                        Some(requests_per_user_per_day),
                        Some(peak_to_average),
                    ) => Some(Demand::Users {
                        users: series,
                        daily_active,
                        requests_per_user_per_day,
                        peak_to_average,
                    }),
                    _ => None,
                }
            }
        };
        let claimed_rps = d
            .claimed_rps
            .as_ref()
            .and_then(|v| c.positive(v, "`claimed_rps`").map(|x| (x, v.span())));

        let capacity = match (&cap.rps_per_instance, &cap.from) {
            (Some(r), None) => c
                .positive(r, "`rps_per_instance`")
                .map(CapacitySource::Given),
            (None, Some(f)) => Some(CapacitySource::FromFile(FileRef {
                path: PathBuf::from(f.get_ref()),
                span: f.span(),
            })),
            (Some(r), Some(_)) => {
                c.error_help(
                    r.span(),
                    "give either `rps_per_instance` or `from`, not both",
                    "second capacity source",
                    "remove one of them",
                );
                None
            }
            (None, None) => {
                c.error_help(
                    capacity_span.clone(),
                    "[capacity] needs `rps_per_instance` or `from = \"capacity.json\"`",
                    "no capacity",
                    "e.g. `rps_per_instance = 200`",
                );
                None
            }
        };
        let target_utilisation = match &cap.target_utilisation {
            Some(v) => c.ratio(v, "`target_utilisation`", false),
            None => Some(0.7),
        };
        let redundancy = cap
            .redundancy
            .as_ref()
            .map_or(1, |r| c.count(r, "`redundancy`", 0));
        let instance = cap.instance.map(|i| {
            let span = i.span();
            (i.into_inner(), span)
        });
        let catalogue = raw.catalogue.map(|s| FileRef {
            span: s.span(),
            path: PathBuf::from(s.into_inner()),
        });
        let (Some(demand), Some(capacity), Some(target_utilisation)) =
            (demand, capacity, target_utilisation)
        else {
            // Every branch that yields `None` records an error; this keeps the promise if one
            // is ever missed.
            if c.errors.is_empty() {
                c.error(0..0, "incomplete forecast", "here");
            }
            return Err(Problems::in_file(c.errors));
        };
        let forecast = Self {
            name: raw.name.unwrap_or_else(|| file.to_owned()),
            file: file.into(),
            text: text.into(),
            catalogue,
            demand,
            start,
            claimed_rps,
            capacity,
            target_utilisation,
            redundancy,
            instance,
        };
        c.finish(forecast)
    }
}

impl Catalogue {
    /// Parse and check a catalogue (`file` names it in messages).
    pub fn parse(file: &str, text: &str) -> Result<Self, Problems> {
        let mut c = Checker::new(file, text);
        let raw: RawCatalogue = c.syntax()?;
        let mut instances: Vec<InstanceType> = Vec::new();
        for i in &raw.instance {
            let r = i.get_ref();
            if instances.iter().any(|x| &x.name == r.name.get_ref()) {
                c.error(
                    r.name.span(),
                    format!("instance `{}` is listed twice", r.name.get_ref()),
                    "duplicate",
                );
            }
            let monthly_price = c.price(&r.monthly_price);
            let db_pool = c.count(&r.db_pool, "`db_pool`", 0);
            instances.push(InstanceType {
                name: r.name.get_ref().clone(),
                monthly_price,
                db_pool,
                vcpus: r.vcpus,
                memory_gib: r.memory_gib,
            });
        }
        if instances.is_empty() {
            c.error_help(
                0..0,
                "the catalogue lists no instance types",
                "add [[instance]]",
                "e.g. [[instance]] name = \"app-small\", monthly_price = 30, db_pool = 10",
            );
        }
        let db = raw.database.get_ref();
        let database = Database {
            name: db.name.clone(),
            monthly_price: c.price(&db.monthly_price),
            max_connections: c.count(&db.max_connections, "`max_connections`", 1),
        };
        let fixed = raw
            .fixed
            .iter()
            .map(|f| FixedCost {
                name: f.get_ref().name.clone(),
                monthly_price: c.price(&f.get_ref().monthly_price),
            })
            .collect();
        let deployment = raw.deployment.as_ref().map(|d| {
            let d = d.get_ref();
            let name = d.instance.get_ref();
            if !instances.iter().any(|i| &i.name == name) {
                let err = Located::at(
                    file,
                    text,
                    d.instance.span(),
                    format!("unknown instance type `{name}`"),
                    "not in [[instance]]",
                );
                c.errors.push(with_suggestion(
                    err,
                    name,
                    instances.iter().map(|i| i.name.as_str()),
                ));
            }
            Deployment {
                instance: name.clone(),
                instances: c.count(&d.instances, "`instances`", 0),
            }
        });
        let catalogue = Self {
            file: file.into(),
            currency: raw.currency.unwrap_or_else(|| "$".into()),
            instances,
            database,
            fixed,
            deployment,
        };
        c.finish(catalogue)
    }
}

fn parse_year_month(s: &str) -> Option<(i32, u32)> {
    let (y, m) = s.trim().split_once('-')?;
    let y: i32 = y.parse().ok()?;
    let m: u32 = m.parse().ok()?;
    ((1..=12).contains(&m) && (1900..=9999).contains(&y)).then_some((y, m))
}

/// One month of a peak-rate CSV.
#[derive(Debug, Clone, PartialEq)]
pub struct MonthPeak {
    /// Label from the `month` column.
    pub label: String,
    /// Peak requests per second.
    pub peak_rps: f64,
}

/// Parse a CSV with columns `month,peak_rps` (header required).
pub fn parse_peak_csv(file: &str, text: &str) -> Result<Vec<MonthPeak>, Problems> {
    let mut c = Checker::new(file, text);
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_reader(text.as_bytes());
    let span_of = |pos: Option<&csv::Position>| {
        let start = pos.map_or(0, |p| usize::try_from(p.byte()).unwrap_or(0));
        let end = text[start.min(text.len())..]
            .find('\n')
            .map_or(text.len(), |e| start + e);
        start..end
    };
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            c.error(span_of(e.position()), format!("bad CSV: {e}"), "here");
            return c.finish(Vec::new());
        }
    };
    let find = |n: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(n));
    let (Some(month), Some(peak)) = (find("month"), find("peak_rps")) else {
        c.error_help(
            span_of(None),
            "the peak CSV needs columns `month` and `peak_rps`",
            "header",
            "first line: month,peak_rps",
        );
        return c.finish(Vec::new());
    };
    let mut out = Vec::new();
    for row in reader.records() {
        let row = match row {
            Ok(r) => r,
            Err(e) => {
                c.error(span_of(e.position()), format!("bad CSV: {e}"), "here");
                break;
            }
        };
        let span = span_of(row.position());
        let text_value = row.get(peak).unwrap_or_default();
        match text_value.parse::<f64>() {
            Ok(v) if v.is_finite() && v >= 0.0 => out.push(MonthPeak {
                label: row.get(month).unwrap_or_default().to_owned(),
                peak_rps: v,
            }),
            _ => c.error(
                span,
                format!("`{text_value}` is not a peak rate (req/s)"),
                "expected a non-negative number",
            ),
        }
    }
    if out.is_empty() && c.errors.is_empty() {
        c.error(span_of(None), "the peak CSV has no months", "empty");
    }
    if out.len() > MAX_MONTHS as usize {
        c.error(
            span_of(None),
            format!("at most {MAX_MONTHS} months"),
            "too many",
        );
    }
    c.finish(out)
}
