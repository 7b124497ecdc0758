//! A plan as a terminal table and as CSV bytes.
//!
//! Invariant: renders only what is in the [`CostPlan`]; the CSV has one row per month with the
//! same cost columns in every row.

use std::fmt::Write as _;

use super::{CostPlan, group};

/// The plan as CSV: one row per month, a column per cost line item, then the total.
pub fn to_csv(plan: &CostPlan) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = [
        "month",
        "label",
        "users",
        "daily_active_users",
        "requests_per_day",
        "avg_rps",
        "peak_rps",
        "instances_for_load",
        "instances",
        "db_connections",
        "db_max_connections",
        "db_over_limit",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    // The first cost line names the instance count, which changes by month; name it by role.
    if let Some(m) = plan.months.first() {
        header.push(format!("cost_{}_instances", plan.instance.name));
        header.extend(m.costs.iter().skip(1).map(|c| format!("cost_{}", c.item)));
    }
    header.push("total".into());
    w.write_record(&header)?;
    let opt = |v: Option<f64>| v.map_or_else(String::new, |v| format!("{v:.6}"));
    for m in &plan.months {
        let mut row = vec![
            m.month.to_string(),
            m.label.clone(),
            opt(m.users),
            opt(m.daily_active_users),
            opt(m.requests_per_day),
            opt(m.avg_rps),
            format!("{:.6}", m.peak_rps),
            m.instances_for_load.to_string(),
            m.instances.to_string(),
            m.db_connections.to_string(),
            m.db_max_connections.to_string(),
            m.db_over_limit.to_string(),
        ];
        row.extend(m.costs.iter().map(|c| format!("{:.2}", c.monthly)));
        row.push(format!("{:.2}", m.total));
        w.write_record(&row)?;
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

/// The plan as a terminal table with the derivation and warnings.
pub fn render_table(plan: &CostPlan) -> String {
    let cur = &plan.currency;
    let mut out = String::new();
    let _ = writeln!(out, "plan: {}", plan.name);
    let b = &plan.capacity;
    let _ = writeln!(
        out,
        "capacity: {} req/s per {} ({}), planned at {:.0} % = {} req/s, + {} redundancy",
        group(b.rps_per_instance, 1),
        plan.instance.name,
        b.source,
        b.target_utilisation * 100.0,
        group(b.planned_rps_per_instance, 1),
        b.redundancy
    );
    for line in &plan.derivation {
        let _ = writeln!(out, "  {line}");
    }
    let _ = writeln!(
        out,
        "{:<10} {:>12} {:>10} {:>10} {:>10} {:>5} {:>11} {:>12} {:>12}",
        "month",
        "users",
        "active/day",
        "avg req/s",
        "peak req/s",
        "inst",
        "db conns",
        "instances",
        "total"
    );
    let cell = |v: Option<f64>, d: usize| v.map_or_else(|| "-".to_owned(), |v| group(v, d));
    for m in &plan.months {
        let conns = format!(
            "{}/{}{}",
            m.db_connections,
            m.db_max_connections,
            if m.db_over_limit { "!" } else { "" }
        );
        let _ = writeln!(
            out,
            "{:<10} {:>12} {:>10} {:>10} {:>10} {:>5} {:>11} {:>12} {:>12}",
            m.label,
            cell(m.users, 0),
            cell(m.daily_active_users, 0),
            cell(m.avg_rps, 2),
            group(m.peak_rps, 2),
            m.instances,
            conns,
            format!(
                "{cur}{}",
                group(m.costs.first().map_or(0.0, |c| c.monthly), 0)
            ),
            format!("{cur}{}", group(m.total, 0)),
        );
    }
    if let Some(m) = plan.months.first() {
        let fixed: Vec<String> = m
            .costs
            .iter()
            .skip(1)
            .map(|c| format!("{} {cur}{}", c.item, group(c.monthly, 0)))
            .collect();
        let _ = writeln!(out, "fixed monthly: {}", fixed.join(", "));
    }
    if let Some(p) = &plan.provisioned {
        let _ = writeln!(
            out,
            "deployment today: {} × {} carries {} req/s at peak and costs {cur}{}/month",
            p.instances,
            p.instance,
            group(p.planned_capacity_rps, 1),
            group(p.monthly_cost, 0)
        );
    }
    for w in &plan.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    out
}
