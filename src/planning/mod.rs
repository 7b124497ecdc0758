//! Planning: demand forecast × capacity per instance × catalogue → instances and monthly cost.
//!
//! Job: for each month, average and peak requests per second, instances needed
//! (`⌈peak ÷ (capacity × target utilisation)⌉ + redundancy`), database connections
//! (`instances × pool`) against the database's limit, and the cost per line item — plus the
//! derivation in words and warnings that make unit slips visible (a quoted rate far from the
//! arithmetic, a deployment far larger or smaller than the need).
//!
//! Invariant: no I/O and no clock. Files are read by the caller and handed in as text
//! ([`Forecast::parse`], [`Catalogue::parse`], [`parse_peak_csv`]); outputs are values and
//! bytes ([`CostPlan`], [`to_csv`], [`render_table`]).

pub mod input;
pub mod render;

use serde::{Deserialize, Serialize};

pub use input::{CapacitySource, Catalogue, Demand, FileRef, Forecast, MonthPeak, parse_peak_csv};

use crate::diagnostic::{Problems, with_suggestion};
pub use render::{render_table, to_csv};

/// Seconds in a day: daily requests ÷ this = average requests per second.
pub const SECONDS_PER_DAY: f64 = 86_400.0;

/// Version of the `plan.json` format.
pub const PLAN_SCHEMA_VERSION: u32 = 1;

/// Capacity of one instance, resolved (a `capacity.json` already read by the caller).
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedCapacity {
    /// Sustainable requests per second of one instance within the SLAs.
    pub rps_per_instance: f64,
    /// Where the figure comes from, for people.
    pub source: String,
}

/// Everything a plan needs, already read and checked.
#[derive(Debug, Clone, Copy)]
pub struct PlanInputs<'a> {
    /// The forecast.
    pub forecast: &'a Forecast,
    /// The catalogue.
    pub catalogue: &'a Catalogue,
    /// Peak rates per month, when the forecast's demand is a CSV.
    pub peaks: Option<&'a [MonthPeak]>,
    /// Capacity per instance.
    pub capacity: &'a ResolvedCapacity,
}

/// How capacity per instance was turned into a planning figure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapacityBasis {
    /// Measured or given req/s per instance.
    pub rps_per_instance: f64,
    /// Where it comes from.
    pub source: String,
    /// Fraction of it to plan for.
    pub target_utilisation: f64,
    /// rps_per_instance × target_utilisation.
    pub planned_rps_per_instance: f64,
    /// Spare instances on top.
    pub redundancy: u32,
}

/// The instance type planned with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedInstance {
    /// Name.
    pub name: String,
    /// Price per month.
    pub monthly_price: f64,
    /// Database connections per instance.
    pub db_pool: u32,
}

/// One cost line of a month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostLine {
    /// Line item.
    pub item: String,
    /// Cost this month.
    pub monthly: f64,
}

/// One month of the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonthPlan {
    /// 1-based month number.
    pub month: u32,
    /// Label (`2027-01`, the CSV's month, or `month 1`).
    pub label: String,
    /// Users (users forecasts only).
    pub users: Option<f64>,
    /// Users active on a day.
    pub daily_active_users: Option<f64>,
    /// Requests per day.
    pub requests_per_day: Option<f64>,
    /// Average requests per second over the day.
    pub avg_rps: Option<f64>,
    /// Peak requests per second.
    pub peak_rps: f64,
    /// Instances the peak needs at the target utilisation (at least 1).
    pub instances_for_load: u32,
    /// Plus redundancy.
    pub instances: u32,
    /// instances × pool size.
    pub db_connections: u64,
    /// The database's limit.
    pub db_max_connections: u32,
    /// Connections exceed the limit.
    pub db_over_limit: bool,
    /// Cost per line item.
    pub costs: Vec<CostLine>,
    /// Sum of the cost lines.
    pub total: f64,
}

/// The catalogue's current deployment, costed for comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provisioned {
    /// Instance type.
    pub instance: String,
    /// Instances running.
    pub instances: u32,
    /// Peak req/s they carry at the target utilisation.
    pub planned_capacity_rps: f64,
    /// Their monthly cost including database and fixed costs.
    pub monthly_cost: f64,
}

/// The `plan.json` document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostPlan {
    /// Format version.
    pub schema_version: u32,
    /// Forecast name.
    pub name: String,
    /// Currency symbol.
    pub currency: String,
    /// Instance type planned with.
    pub instance: PlannedInstance,
    /// Capacity basis.
    pub capacity: CapacityBasis,
    /// Database name.
    pub database: String,
    /// Months in order.
    pub months: Vec<MonthPlan>,
    /// The catalogue's deployment today, if described.
    pub provisioned: Option<Provisioned>,
    /// The arithmetic of the first month, in words.
    pub derivation: Vec<String>,
    /// Things that look wrong.
    pub warnings: Vec<String>,
}

/// Ratio beyond which a deployment or a quoted rate counts as far off the arithmetic.
const FAR_OFF: f64 = 3.0;

/// Compute the plan.
pub fn plan(inputs: &PlanInputs<'_>) -> Result<CostPlan, Problems> {
    let PlanInputs {
        forecast: f,
        catalogue: cat,
        peaks,
        capacity,
    } = *inputs;
    let instance = pick_instance(f, cat)?;
    let planned = capacity.rps_per_instance * f.target_utilisation;
    if planned.is_nan() || planned <= 0.0 {
        return Err(f
            .error_at(0..0, "capacity per instance must be positive", "here")
            .into());
    }
    let rows: Vec<(String, Option<UsersRow>, f64)> = match &f.demand {
        Demand::Users {
            users,
            daily_active,
            requests_per_user_per_day,
            peak_to_average,
        } => users
            .iter()
            .enumerate()
            .map(|(i, &u)| {
                let dau = u * daily_active;
                let per_day = dau * requests_per_user_per_day;
                let avg = per_day / SECONDS_PER_DAY;
                let row = UsersRow {
                    users: u,
                    dau,
                    per_day,
                    avg,
                };
                (month_label(f.start, i), Some(row), avg * peak_to_average)
            })
            .collect(),
        Demand::PeakCsv { file, .. } => {
            let Some(peaks) = peaks else {
                return Err(f
                    .error_at(file.span.clone(), "the peak CSV was not read", "here")
                    .into());
            };
            peaks
                .iter()
                .map(|p| (p.label.clone(), None, p.peak_rps))
                .collect()
        }
    };
    let csv_factor = match &f.demand {
        Demand::PeakCsv {
            peak_to_average, ..
        } => *peak_to_average,
        Demand::Users { .. } => None,
    };

    let db = &cat.database;
    let fixed_total: f64 =
        db.monthly_price + cat.fixed.iter().map(|x| x.monthly_price).sum::<f64>();
    let mut months = Vec::with_capacity(rows.len());
    for (i, (label, row, peak)) in rows.into_iter().enumerate() {
        let for_load = instances_for(peak, planned);
        let instances = for_load.saturating_add(f.redundancy);
        let db_connections = u64::from(instances) * u64::from(instance.db_pool);
        let mut costs = vec![CostLine {
            item: format!("{} × {}", instances, instance.name),
            monthly: f64::from(instances) * instance.monthly_price,
        }];
        costs.push(CostLine {
            item: format!("database ({})", db.name),
            monthly: db.monthly_price,
        });
        costs.extend(cat.fixed.iter().map(|x| CostLine {
            item: x.name.clone(),
            monthly: x.monthly_price,
        }));
        let total = costs.iter().map(|c| c.monthly).sum();
        months.push(MonthPlan {
            month: u32::try_from(i + 1).unwrap_or(u32::MAX),
            label,
            users: row.as_ref().map(|r| r.users),
            daily_active_users: row.as_ref().map(|r| r.dau),
            requests_per_day: row.as_ref().map(|r| r.per_day),
            avg_rps: row.as_ref().map(|r| r.avg).or(csv_factor.map(|k| peak / k)),
            peak_rps: peak,
            instances_for_load: for_load,
            instances,
            db_connections,
            db_max_connections: db.max_connections,
            db_over_limit: db_connections > u64::from(db.max_connections),
            costs,
            total,
        });
    }

    let provisioned = cat.deployment.as_ref().and_then(|d| {
        let t = cat.instance(&d.instance)?;
        Some(Provisioned {
            instance: d.instance.clone(),
            instances: d.instances,
            planned_capacity_rps: f64::from(d.instances) * planned,
            monthly_cost: f64::from(d.instances) * t.monthly_price + fixed_total,
        })
    });

    let basis = CapacityBasis {
        rps_per_instance: capacity.rps_per_instance,
        source: capacity.source.clone(),
        target_utilisation: f.target_utilisation,
        planned_rps_per_instance: planned,
        redundancy: f.redundancy,
    };
    let derivation = derivation(f, &basis, months.first());
    let warnings = warnings(f, cat, &months, provisioned.as_ref());
    Ok(CostPlan {
        schema_version: PLAN_SCHEMA_VERSION,
        name: f.name.clone(),
        currency: cat.currency.clone(),
        instance: PlannedInstance {
            name: instance.name.clone(),
            monthly_price: instance.monthly_price,
            db_pool: instance.db_pool,
        },
        capacity: basis,
        database: db.name.clone(),
        months,
        provisioned,
        derivation,
        warnings,
    })
}

struct UsersRow {
    users: f64,
    dau: f64,
    per_day: f64,
    avg: f64,
}

/// ⌈peak ÷ planned⌉, at least 1. A tiny tolerance keeps exact multiples (2.0000000001 from
/// rounding) from costing a whole extra instance.
fn instances_for(peak: f64, planned: f64) -> u32 {
    let n = (peak / planned - 1e-9).ceil().max(1.0);
    if n >= f64::from(u32::MAX) {
        u32::MAX
    } else {
        // In range and integral by the checks above.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let n = n as u32;
        n
    }
}

fn pick_instance<'c>(
    f: &Forecast,
    cat: &'c Catalogue,
) -> Result<&'c input::InstanceType, Problems> {
    if let Some((name, span)) = &f.instance {
        return cat.instance(name).ok_or_else(|| {
            let err = f.error_at(
                span.clone(),
                format!(
                    "instance type `{name}` is not in the catalogue `{}`",
                    cat.file
                ),
                "unknown instance type",
            );
            with_suggestion(err, name, cat.instances.iter().map(|i| i.name.as_str())).into()
        });
    }
    if let Some(t) = cat
        .deployment
        .as_ref()
        .and_then(|d| cat.instance(&d.instance))
    {
        return Ok(t);
    }
    match cat.instances.as_slice() {
        [only] => Ok(only),
        _ => Err(f
            .error_at(
                0..0,
                "the catalogue lists several instance types and no [deployment]",
                "here",
            )
            .with_help("name one in [capacity]: `instance = \"...\"`")
            .into()),
    }
}

fn month_label(start: Option<(i32, u32)>, i: usize) -> String {
    match start {
        Some((y, m)) => {
            let total = i64::from(y) * 12 + i64::from(m - 1) + i64::try_from(i).unwrap_or(0);
            format!("{}-{:02}", total.div_euclid(12), total.rem_euclid(12) + 1)
        }
        None => format!("month {}", i + 1),
    }
}

/// `1234567.8` → `1 234 568` (decimals 0) or `11.57` (decimals 2): grouped for reading.
pub fn group(v: f64, decimals: usize) -> String {
    let text = format!("{:.*}", decimals, v.abs());
    let (int, frac) = text
        .split_once('.')
        .map_or((text.as_str(), None), |(a, b)| (a, Some(b)));
    let mut out = String::new();
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(' ');
        }
        out.push(ch);
    }
    if let Some(frac) = frac {
        out.push('.');
        out.push_str(frac);
    }
    if v < 0.0 && v.abs() >= 0.5 * 10f64.powi(-i32::try_from(decimals).unwrap_or(0)) {
        out.insert(0, '-');
    }
    out
}

fn pct(v: f64) -> String {
    let p = v * 100.0;
    if (p - p.round()).abs() < 1e-9 {
        format!("{p:.0} %")
    } else {
        format!("{p:.1} %")
    }
}

fn num(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        group(v, 0)
    } else {
        group(v, 2)
    }
}

fn derivation(f: &Forecast, basis: &CapacityBasis, first: Option<&MonthPlan>) -> Vec<String> {
    let Some(m) = first else {
        return Vec::new();
    };
    let mut lines = Vec::new();
    if let Demand::Users {
        daily_active,
        requests_per_user_per_day,
        peak_to_average,
        ..
    } = &f.demand
    {
        let (users, dau, per_day, avg) = (
            m.users.unwrap_or(0.0),
            m.daily_active_users.unwrap_or(0.0),
            m.requests_per_day.unwrap_or(0.0),
            m.avg_rps.unwrap_or(0.0),
        );
        lines.push(format!(
            "{}: {} users × {} daily active = {} active users/day",
            m.label,
            num(users),
            pct(*daily_active),
            num(dau)
        ));
        lines.push(format!(
            "{} × {} requests/day = {} requests/day ÷ 86 400 s = {} req/s on average",
            num(dau),
            num(*requests_per_user_per_day),
            num(per_day),
            group(avg, 2)
        ));
        lines.push(format!(
            "{} req/s × peak-to-average {} = {} req/s at peak",
            group(avg, 2),
            num(*peak_to_average),
            group(m.peak_rps, 2)
        ));
    } else {
        lines.push(format!(
            "{}: {} req/s at peak (from the CSV)",
            m.label,
            group(m.peak_rps, 2)
        ));
    }
    lines.push(format!(
        "instances: ⌈{} ÷ ({} req/s × {} utilisation = {} req/s)⌉ = {}, + {} redundancy = {}",
        group(m.peak_rps, 2),
        num(basis.rps_per_instance),
        pct(basis.target_utilisation),
        num(basis.planned_rps_per_instance),
        m.instances_for_load,
        basis.redundancy,
        m.instances
    ));
    if let (Some(claimed), Some(avg)) = (f.claimed_rps.as_ref().map(|c| c.0), m.avg_rps) {
        lines.push(format!(
            "claimed {} req/s = {:.1} × the average {} req/s: reaching it needs a peak-to-average factor of {:.1}",
            num(claimed),
            claimed / avg,
            group(avg, 2),
            claimed / avg
        ));
    }
    lines
}

fn warnings(
    f: &Forecast,
    cat: &Catalogue,
    months: &[MonthPlan],
    provisioned: Option<&Provisioned>,
) -> Vec<String> {
    let mut out = Vec::new();
    if let (Some(claimed), Some(m)) = (f.claimed_rps.as_ref().map(|c| c.0), months.first()) {
        let ratio = claimed / m.peak_rps;
        if !(1.0 / FAR_OFF..=FAR_OFF).contains(&ratio) {
            out.push(format!(
                "the claimed {} req/s is {:.1}× the computed peak of {} req/s for the same inputs: check the arithmetic (requests per day vs per second, a missing ÷ 86 400, a factor of 100)",
                num(claimed),
                ratio,
                group(m.peak_rps, 2)
            ));
        }
    }
    if let Some(p) = provisioned {
        if let Some(m) = months
            .iter()
            .find(|m| f64::from(m.instances) * FAR_OFF <= f64::from(p.instances))
        {
            out.push(format!(
                "{} needs {} instances but the catalogue's deployment runs {} ({:.1}× more): the deployment is over-provisioned, or the demand figures are too low",
                m.label,
                m.instances,
                p.instances,
                f64::from(p.instances) / f64::from(m.instances.max(1))
            ));
        }
        if let Some(m) = months
            .iter()
            .find(|m| f64::from(m.instances) >= FAR_OFF * f64::from(p.instances.max(1)))
        {
            out.push(format!(
                "{} needs {} instances, {:.1}× the {} the catalogue's deployment runs: check the demand figures and the capacity per instance",
                m.label,
                m.instances,
                f64::from(m.instances) / f64::from(p.instances.max(1)),
                p.instances
            ));
        }
    }
    if let Some(m) = months.iter().find(|m| m.db_over_limit) {
        out.push(format!(
            "{} needs {} database connections ({} instances × pool {}) but `{}` allows {}: add a connection pooler, shrink the pools, or size the database up",
            m.label,
            m.db_connections,
            m.instances,
            m.db_connections / u64::from(m.instances.max(1)),
            cat.database.name,
            m.db_max_connections
        ));
    }
    out
}

#[cfg(test)]
mod tests;
