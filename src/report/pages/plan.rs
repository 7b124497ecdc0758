//! The plan page: a [`CostPlan`] (`plan.json`) as one offline HTML file.
//!
//! Shows, per month, average and peak requests per second, instances needed, database
//! connections against the limit and the cost per line item, with charts of cost, demand and
//! instances; above them the derivation lines and warnings the terminal table prints, so a unit
//! slip (a quoted rate 100× the arithmetic) is the first thing a reader sees.
//!
//! Invariant: renders only what is in the plan; every number on the page is in `plan.json`.

use serde::Serialize;

use crate::planning::{CostPlan, MonthPlan, group};
use crate::report::html::{Cell, Chart, Fact, HtmlError, LegendItem, chart};
use crate::report::plot::{
    self, BLUE, CategoryChart, GREEN, ORANGE, PALETTE, PURPLE, Rule, Series, VERMILLION, YUnit,
};
use crate::report::units::{fmt_count, fmt_money, fmt_num, fmt_rate};

const TEMPLATE: &str = include_str!("../../../templates/plan.html.tera");

/// File name of the plan page, next to `plan.json`.
pub const FILE_NAME: &str = "plan.html";

/// Render the plan page.
pub fn render_plan(plan: &CostPlan) -> Result<String, HtmlError> {
    let page = Page::build(plan)?;
    crate::report::html::render_page(("plan.html", TEMPLATE), &page)
}

#[derive(Debug, Serialize)]
struct Page {
    name: String,
    cards: Vec<Card>,
    derivation: Vec<String>,
    warnings: Vec<String>,
    basis: Vec<Fact>,
    charts: Vec<Chart>,
    cost_heads: Vec<String>,
    months: Vec<MonthRow>,
    has_users: bool,
    schema_version: u32,
}

#[derive(Debug, Serialize)]
struct Card {
    label: &'static str,
    value: String,
    detail: String,
}

#[derive(Debug, Serialize)]
struct MonthRow {
    label: String,
    cells: Vec<Cell>,
    conns: Cell,
    over: bool,
    costs: Vec<Cell>,
    total: Cell,
}

impl Page {
    fn build(p: &CostPlan) -> Result<Self, HtmlError> {
        let has_users = p.months.iter().any(|m| m.users.is_some());
        let cost_heads: Vec<String> = p
            .months
            .first()
            .map(|m| {
                m.costs
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        if i == 0 {
                            format!("instances ({})", p.instance.name)
                        } else {
                            c.item.clone()
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self {
            name: p.name.clone(),
            cards: cards(p),
            derivation: p.derivation.clone(),
            warnings: p.warnings.clone(),
            basis: basis(p),
            charts: charts(p, &cost_heads)?,
            months: p
                .months
                .iter()
                .map(|m| month_row(p, m, has_users))
                .collect(),
            cost_heads,
            has_users,
            schema_version: p.schema_version,
        })
    }
}

fn range<T: PartialEq>(first: T, last: T, f: impl Fn(&T) -> String) -> String {
    if first == last {
        f(&first)
    } else {
        format!("{} → {}", f(&first), f(&last))
    }
}

fn cards(p: &CostPlan) -> Vec<Card> {
    let (Some(first), Some(last)) = (p.months.first(), p.months.last()) else {
        return Vec::new();
    };
    let span = if p.months.len() == 1 {
        first.label.clone()
    } else {
        format!("{} to {}", first.label, last.label)
    };
    let cur = &p.currency;
    let mut cards = vec![
        Card {
            label: "Peak demand",
            value: range(first.peak_rps, last.peak_rps, |v| {
                format!("{} req/s", group(*v, 2))
            }),
            detail: match (first.avg_rps, last.avg_rps) {
                (Some(a), Some(b)) => {
                    format!("average {} req/s, {span}", range(a, b, |v| group(*v, 2)))
                }
                _ => span.clone(),
            },
        },
        Card {
            label: "Instances",
            value: range(first.instances, last.instances, |v| v.to_string()),
            detail: format!(
                "{} for the load + {} redundancy, {}",
                range(first.instances_for_load, last.instances_for_load, |v| v
                    .to_string()),
                p.capacity.redundancy,
                p.instance.name
            ),
        },
        Card {
            label: "Monthly cost",
            value: range(first.total, last.total, |v| fmt_money(cur, *v)),
            detail: format!(
                "{} over the {} months",
                fmt_money(cur, p.months.iter().map(|m| m.total).sum()),
                p.months.len()
            ),
        },
    ];
    let worst = p
        .months
        .iter()
        .max_by_key(|m| m.db_connections)
        .unwrap_or(first);
    cards.push(Card {
        label: "Database connections",
        value: format!("{} / {}", worst.db_connections, worst.db_max_connections),
        detail: if worst.db_over_limit {
            format!("over the limit of `{}` in {}", p.database, worst.label)
        } else {
            format!(
                "at most, in {}; within the limit of `{}`",
                worst.label, p.database
            )
        },
    });
    if let Some(d) = &p.provisioned {
        cards.push(Card {
            label: "Deployment today",
            value: format!("{} × {}", d.instances, d.instance),
            detail: format!(
                "carries {} req/s at peak, costs {}/month",
                group(d.planned_capacity_rps, 1),
                fmt_money(cur, d.monthly_cost)
            ),
        });
    }
    cards
}

fn basis(p: &CostPlan) -> Vec<Fact> {
    let b = &p.capacity;
    vec![
        Fact::new("Capacity per instance", fmt_rate(b.rps_per_instance)),
        Fact::new("Source", b.source.clone()),
        Fact::new(
            "Target utilisation",
            format!("{} %", fmt_num(b.target_utilisation * 100.0)),
        ),
        Fact::new(
            "Planned per instance",
            format!("{} req/s", group(b.planned_rps_per_instance, 1)),
        ),
        Fact::new("Redundancy", format!("+{} instance(s)", b.redundancy)),
        Fact::new(
            "Instance type",
            format!(
                "{}: {}/month, database pool {}",
                p.instance.name,
                fmt_money(&p.currency, p.instance.monthly_price),
                p.instance.db_pool
            ),
        ),
        Fact::new("Database", p.database.clone()),
    ]
}

/// Colour of the i-th cost line: instances first in blue, then the palette in order.
fn cost_color(i: usize) -> plotters::style::RGBColor {
    PALETTE[i % PALETTE.len()]
}

fn charts(p: &CostPlan, cost_heads: &[String]) -> Result<Vec<Chart>, HtmlError> {
    if p.months.is_empty() {
        return Ok(Vec::new());
    }
    let labels: Vec<String> = p.months.iter().map(|m| m.label.clone()).collect();
    let cur = &p.currency;
    let mut charts = Vec::new();

    let stacks: Vec<Series> = cost_heads
        .iter()
        .enumerate()
        .map(|(i, head)| Series {
            label: head.clone(),
            color: cost_color(i),
            values: p
                .months
                .iter()
                .map(|m| m.costs.get(i).map_or(0.0, |c| c.monthly))
                .collect(),
        })
        .collect();
    let title = "Monthly cost by line item";
    let y_desc = format!("cost per month ({cur})");
    let svg = plot::category_chart(&CategoryChart {
        title,
        x_desc: "month",
        y_desc: &y_desc,
        y_unit: YUnit::Count,
        categories: &labels,
        stacks: &stacks,
        lines: &[],
        hrules: &[],
    })?;
    let mut c = chart(
        "cost",
        title,
        "Each bar is one month's bill, stacked by line item: the app instances at the bottom, then \
         the database and the fixed costs."
            .into(),
        svg,
        &[],
    );
    c.legend = stacks
        .iter()
        .map(|s| LegendItem::new(s.label.clone(), s.color, "bar"))
        .collect();
    charts.push(c);

    let mut lines = vec![Series {
        label: "peak req/s".into(),
        color: ORANGE,
        values: p.months.iter().map(|m| m.peak_rps).collect(),
    }];
    if p.months.iter().all(|m| m.avg_rps.is_some()) {
        lines.push(Series {
            label: "average req/s".into(),
            color: BLUE,
            values: p.months.iter().map(|m| m.avg_rps.unwrap_or(0.0)).collect(),
        });
    }
    let capacity: Vec<f64> = p
        .months
        .iter()
        .map(|m| f64::from(m.instances_for_load) * p.capacity.planned_rps_per_instance)
        .collect();
    lines.push(Series {
        label: "planned capacity without the spare instances".into(),
        color: GREEN,
        values: capacity,
    });
    let top = lines
        .iter()
        .flat_map(|l| l.values.iter().copied())
        .fold(0.0_f64, f64::max);
    let mut off_chart = Vec::new();
    let hrules: Vec<Rule> = p
        .provisioned
        .iter()
        .filter(|d| {
            keep_rule(d.planned_capacity_rps, top, &mut off_chart, || {
                format!(
                    "The deployment today carries {} req/s at peak, {:.0}× the highest demand: off \
                 the chart.",
                    group(d.planned_capacity_rps, 1),
                    d.planned_capacity_rps
                        / p.months
                            .iter()
                            .map(|m| m.peak_rps)
                            .fold(f64::MIN_POSITIVE, f64::max)
                )
            })
        })
        .map(|d| Rule {
            at: d.planned_capacity_rps,
            label: format!(
                "deployment today: {} req/s",
                group(d.planned_capacity_rps, 1)
            ),
            color: PURPLE,
        })
        .collect();
    let title = "Demand and planned capacity";
    let svg = plot::category_chart(&CategoryChart {
        title,
        x_desc: "month",
        y_desc: "requests per second",
        y_unit: YUnit::Count,
        categories: &labels,
        stacks: &[],
        lines: &lines,
        hrules: &hrules,
    })?;
    let mut c = chart(
        "demand",
        title,
        format!(
            "Peak and average request rates per month against what the planned instances carry \
             at the target utilisation.{}",
            off_chart
                .iter()
                .map(|s| format!(" {s}"))
                .collect::<String>()
        ),
        svg,
        &[],
    );
    c.legend = lines
        .iter()
        .map(|s| LegendItem::new(s.label.clone(), s.color, "line"))
        .chain(
            hrules
                .iter()
                .map(|h| LegendItem::new(h.label.clone(), h.color, "rule")),
        )
        .collect();
    charts.push(c);

    let stacks = [
        Series {
            label: "for the load".into(),
            color: BLUE,
            values: p
                .months
                .iter()
                .map(|m| f64::from(m.instances_for_load))
                .collect(),
        },
        Series {
            label: "redundancy".into(),
            color: PALETTE[4],
            values: p
                .months
                .iter()
                .map(|m| f64::from(m.instances - m.instances_for_load.min(m.instances)))
                .collect(),
        },
    ];
    let limit = p.months.first().map(|m| m.db_max_connections).unwrap_or(0);
    let pool = f64::from(p.instance.db_pool.max(1));
    let most = p.months.iter().map(|m| m.instances).max().unwrap_or(0);
    let mut off_chart = Vec::new();
    let allowed = f64::from(limit) / pool;
    let hrules: Vec<Rule> = (limit > 0
        && keep_rule(allowed, f64::from(most), &mut off_chart, || {
            format!(
                "The database's {limit} connections allow {} instances at pool {}, far above the \
                 need: off the chart.",
                fmt_num(allowed),
                p.instance.db_pool
            )
        }))
    .then(|| Rule {
        at: f64::from(limit) / pool,
        label: format!(
            "database limit: {} connections = {} instances at pool {}",
            limit,
            fmt_num(f64::from(limit) / pool),
            p.instance.db_pool
        ),
        color: VERMILLION,
    })
    .into_iter()
    .collect();
    let title = "Instances needed";
    let svg = plot::category_chart(&CategoryChart {
        title,
        x_desc: "month",
        y_desc: "instances",
        y_unit: YUnit::Count,
        categories: &labels,
        stacks: &stacks,
        lines: &[],
        hrules: &hrules,
    })?;
    let mut c = chart(
        "instances",
        title,
        format!(
            "Instances for the peak at the target utilisation, plus the spares.{}",
            if off_chart.is_empty() && limit > 0 {
                " The dashed line is how many instances the database's connection limit allows \
                 at this pool size."
                    .to_owned()
            } else {
                off_chart.iter().map(|s| format!(" {s}")).collect()
            }
        ),
        svg,
        &[],
    );
    c.legend = stacks
        .iter()
        .map(|s| LegendItem::new(s.label.clone(), s.color, "bar"))
        .chain(
            hrules
                .iter()
                .map(|h| LegendItem::new(h.label.clone(), h.color, "rule")),
        )
        .collect();
    charts.push(c);
    Ok(charts)
}

/// Whether a reference line at `at` fits a chart whose data reach `top`: one far above would
/// squash the data into the bottom of the plot, so it is described in words (`note`) instead.
fn keep_rule(at: f64, top: f64, notes: &mut Vec<String>, note: impl FnOnce() -> String) -> bool {
    let keep = top <= 0.0 || at <= top * 3.0;
    if !keep {
        notes.push(note());
    }
    keep
}

fn month_row(p: &CostPlan, m: &MonthPlan, has_users: bool) -> MonthRow {
    let opt = |v: Option<f64>, d: usize| match v {
        Some(v) => Cell::new(group(v, d), v),
        None => Cell::new("–", f64::MIN),
    };
    let mut cells = Vec::new();
    if has_users {
        cells.push(opt(m.users, 0));
        cells.push(opt(m.daily_active_users, 0));
        cells.push(opt(m.requests_per_day, 0));
    }
    cells.push(opt(m.avg_rps, 2));
    cells.push(Cell::new(group(m.peak_rps, 2), m.peak_rps));
    cells.push(Cell::new(
        m.instances_for_load.to_string(),
        f64::from(m.instances_for_load),
    ));
    cells.push(Cell::new(m.instances.to_string(), f64::from(m.instances)));
    let cur = &p.currency;
    MonthRow {
        label: m.label.clone(),
        cells,
        conns: Cell::new(
            format!("{} / {}", fmt_count(m.db_connections), m.db_max_connections),
            m.db_connections as f64,
        ),
        over: m.db_over_limit,
        costs: m
            .costs
            .iter()
            .map(|c| Cell::new(fmt_money(cur, c.monthly), c.monthly))
            .collect(),
        total: Cell::new(fmt_money(cur, m.total), m.total),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planning::{Catalogue, Forecast, PlanInputs, ResolvedCapacity, plan};

    fn example() -> CostPlan {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/capacity/");
        let read = |f: &str| std::fs::read_to_string(format!("{dir}{f}")).expect("example file");
        let forecast =
            Forecast::parse("forecast-example.toml", &read("forecast-example.toml")).expect("ok");
        let catalogue = Catalogue::parse("catalogue-example.toml", &read("catalogue-example.toml"))
            .expect("ok");
        plan(&PlanInputs {
            forecast: &forecast,
            catalogue: &catalogue,
            peaks: None,
            capacity: &ResolvedCapacity {
                rps_per_instance: 200.0,
                source: "given in the forecast".into(),
            },
        })
        .expect("plans")
    }

    fn render(p: &CostPlan) -> String {
        render_plan(p).expect("renders")
    }

    fn esc(s: &str) -> String {
        tera::escape_html(s)
    }

    #[test]
    fn worked_example_shows_the_hundredfold_slip() {
        let p = example();
        let html = render(&p);
        // The arithmetic, and the guide's figure held against it.
        assert!(html.contains(&esc("= 11.57 req/s on average")), "average");
        assert!(
            html.contains(&esc(
                "claimed 1 157 req/s = 100.0 × the average 11.57 req/s: reaching it needs a peak-to-average factor of 100.0"
            )),
            "{:?}",
            p.derivation
        );
        for line in p.derivation.iter().chain(&p.warnings) {
            assert!(html.contains(&esc(line)), "missing: {line}");
        }
        assert!(!p.warnings.is_empty());
        assert!(html.contains("class=\"notice\""), "warnings stand out");
    }

    #[test]
    fn one_row_per_month_with_costs_and_total() {
        let p = example();
        let html = render(&p);
        assert_eq!(html.matches("<tr class=\"month").count(), p.months.len());
        for m in &p.months {
            let at = html
                .find(&format!("data-month=\"{}\"", esc(&m.label)))
                .unwrap_or_else(|| panic!("row {}", m.label));
            let row = &html[at..at + html[at..].find("</tr>").expect("row end")];
            for want in [
                group(m.peak_rps, 2),
                m.instances.to_string(),
                format!("{} / {}", m.db_connections, m.db_max_connections),
            ] {
                assert!(
                    row.contains(&format!(">{}</td>", esc(&want))),
                    "{want}: {row}"
                );
            }
            for c in &m.costs {
                assert!(row.contains(&esc(&fmt_money(&p.currency, c.monthly))));
            }
            let total = esc(&fmt_money(&p.currency, m.total));
            assert!(row.contains(&format!("<strong>{total}</strong>")), "{row}");
        }
        // The example catalogue: $2 050/month for today's deployment.
        let d = p.provisioned.as_ref().expect("deployment");
        assert!(html.contains(&esc(&fmt_money(&p.currency, d.monthly_cost))));
    }

    #[test]
    fn charts_cover_cost_demand_and_instances() {
        let p = example();
        let html = render(&p);
        assert_eq!(html.matches("<svg class=\"chart\"").count(), 3);
        for id in ["cost", "demand", "instances"] {
            assert!(html.contains(&format!("id=\"{id}\"")), "{id}");
        }
        for head in [
            "instances (app-small)",
            "database (managed-postgres)",
            "cdn",
        ] {
            assert!(html.contains(head), "legend {head}");
        }
        // Every month labels its bar (12 months fit without thinning).
        assert!(html.contains(">2027-12<"));
        // Far-off reference lines are described instead of squashing the data.
        assert!(html.contains(&esc(
            "1 400.0 req/s at peak, 24× the highest demand: off the chart"
        )));
        assert!(html.contains("allow 20 instances at pool 10, far above the need"));
        let mut tight = example();
        for m in &mut tight.months {
            m.db_max_connections = 30;
        }
        let html = render(&tight);
        assert!(
            html.contains("database limit: 30 connections = 3 instances at pool 10"),
            "chart label"
        );
    }

    #[test]
    fn database_over_limit_is_flagged() {
        let mut p = example();
        p.months[3].db_connections = 999;
        p.months[3].db_over_limit = true;
        let html = render(&p);
        let at = html.find("data-month=\"2027-04\"").expect("row");
        let row = &html[at..at + html[at..].find("</tr>").expect("end")];
        assert!(row.contains("class=\"num over\""), "{row}");
        assert!(html.contains("over the limit of"));
    }

    #[test]
    fn no_external_references_and_names_escaped() {
        let mut p = example();
        let evil = "<script>alert(1)</script>";
        p.name = evil.into();
        p.currency = "<b>".into();
        p.warnings.push(format!("see https://example.com/{evil}"));
        p.months[0].costs[1].item = evil.into();
        let html = render(&p);
        assert_eq!(html.matches("<script>").count(), 1);
        assert!(!html.contains("<b>"));
        let without = html.replace(&esc("https://example.com/"), "");
        assert!(!without.contains("http://") && !without.contains("https://"));
        assert!(!html.contains("src=") && !html.contains("url(") && !html.contains("@import"));
        for (i, _) in html.match_indices("href=\"") {
            assert_eq!(&html[i + 6..i + 7], "#");
        }
    }

    #[test]
    fn empty_plan_renders() {
        let mut p = example();
        p.months.clear();
        p.derivation.clear();
        let html = render(&p);
        assert!(!html.contains("<svg"));
        assert!(html.contains("No months"));
    }
}
