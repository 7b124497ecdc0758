//! Cost plan arithmetic on hand-computed cases, and located errors for bad files.

use super::*;

const FORECAST: &str = include_str!("../../scenarios/capacity/forecast-example.toml");
const CATALOGUE: &str = include_str!("../../scenarios/capacity/catalogue-example.toml");
const CSV_FORECAST: &str = include_str!("../../tests/fixtures/planning/forecast-csv.toml");
const PEAKS: &str = include_str!("../../tests/fixtures/planning/peaks.csv");

fn catalogue() -> Catalogue {
    Catalogue::parse("catalogue-example.toml", CATALOGUE).expect("catalogue")
}

fn given(f: &Forecast) -> ResolvedCapacity {
    let CapacitySource::Given(rps) = f.capacity else {
        panic!("test forecasts give capacity directly")
    };
    ResolvedCapacity {
        rps_per_instance: rps,
        source: "given".into(),
    }
}

/// The plan of `f` against the example catalogue, at the capacity the forecast gives.
fn plan_of(f: &Forecast, peaks: Option<&[MonthPeak]>) -> Result<CostPlan, Problems> {
    plan(&PlanInputs {
        forecast: f,
        catalogue: &catalogue(),
        peaks,
        capacity: &given(f),
    })
}

#[track_caller]
fn exact(actual: f64, expected: f64) {
    assert!(
        (actual - expected).abs() <= 1e-9 * expected.abs().max(1.0),
        "{actual} != {expected}"
    );
}

#[test]
fn worked_example_arithmetic() {
    let f = Forecast::parse("forecast-example.toml", FORECAST).expect("forecast");
    let plan = plan_of(&f, None).expect("plan");
    assert_eq!(plan.months.len(), 12);
    let m = &plan.months[0];
    assert_eq!(m.label, "2027-01");
    exact(m.users.unwrap_or_default(), 1_000_000.0);
    exact(m.daily_active_users.unwrap_or_default(), 100_000.0);
    exact(m.requests_per_day.unwrap_or_default(), 1_000_000.0);
    // 1 000 000 / 86 400 = 11.574…, not 1 157.
    exact(m.avg_rps.unwrap_or_default(), 1_000_000.0 / 86_400.0);
    exact(m.peak_rps, 3.0 * 1_000_000.0 / 86_400.0);
    // ⌈34.72 / (200 × 0.7)⌉ = 1, + 1 = 2 instances, 20 connections of 200.
    assert_eq!((m.instances_for_load, m.instances), (1, 2));
    assert_eq!(
        (m.db_connections, m.db_max_connections, m.db_over_limit),
        (20, 200, false)
    );
    let costs: Vec<(&str, f64)> = m
        .costs
        .iter()
        .map(|c| (c.item.as_str(), c.monthly))
        .collect();
    assert_eq!(
        costs,
        vec![
            ("2 × app-small", 60.0),
            ("database (managed-postgres)", 600.0),
            ("cache", 50.0),
            ("storage", 230.0),
            ("cdn", 850.0),
            ("load balancer", 20.0),
        ]
    );
    exact(m.total, 1810.0);
    // The deployment the catalogue describes: 10 × $30 + $1 750 = $2 050.
    let p = plan.provisioned.as_ref().expect("deployment");
    exact(p.monthly_cost, 2050.0);
    exact(p.planned_capacity_rps, 1400.0);
    // Month 12 has grown 1.05^11.
    let last = &plan.months[11];
    assert_eq!(last.label, "2027-12");
    exact(
        last.users.unwrap_or_default(),
        1_000_000.0 * 1.05_f64.powi(11),
    );
    assert_eq!(last.instances, 2);

    let d = plan.derivation.join("\n");
    assert!(
        d.contains("1 000 000 users × 10 % daily active = 100 000 active users/day"),
        "{d}"
    );
    assert!(
        d.contains("= 1 000 000 requests/day ÷ 86 400 s = 11.57 req/s on average"),
        "{d}"
    );
    assert!(
        d.contains("× peak-to-average 3 = 34.72 req/s at peak"),
        "{d}"
    );
    assert!(d.contains("peak-to-average factor of 100.0"), "{d}");
    let w = plan.warnings.join("\n");
    assert!(
        w.contains("claimed 1 157 req/s is 33.3× the computed peak"),
        "{w}"
    );
    assert!(
        w.contains("needs 2 instances but the catalogue's deployment runs 10"),
        "{w}"
    );
    let table = render_table(&plan);
    assert!(
        table.contains("deployment today: 10 × app-small"),
        "{table}"
    );
    assert!(table.contains("$2 050/month"), "{table}");
}

#[test]
fn csv_forecast_arithmetic() {
    let f = Forecast::parse("forecast-csv.toml", CSV_FORECAST).expect("forecast");
    let peaks = parse_peak_csv("peaks.csv", PEAKS).expect("peaks");
    let plan = plan_of(&f, Some(&peaks)).expect("plan");
    // app-large: $120, pool 20; 100 req/s × 50 % = 50 req/s planned; + 2 redundancy.
    let got: Vec<(u32, u32, u64, bool, f64)> = plan
        .months
        .iter()
        .map(|m| {
            (
                m.instances_for_load,
                m.instances,
                m.db_connections,
                m.db_over_limit,
                m.total,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (2, 4, 80, false, 480.0 + 1750.0), // exactly 2 × 50: no extra instance from rounding
            (3, 5, 100, false, 600.0 + 1750.0),
            (6, 8, 160, false, 960.0 + 1750.0),
            (40, 42, 840, true, 5040.0 + 1750.0),
        ]
    );
    exact(plan.months[0].avg_rps.unwrap_or_default(), 25.0);
    assert!(plan.months[0].users.is_none());
    assert_eq!(plan.months[3].label, "2027-04");
    let w = plan.warnings.join("\n");
    assert!(
        w.contains("2027-04 needs 840 database connections (42 instances × pool 20)"),
        "{w}"
    );
    assert!(w.contains("2027-04 needs 42 instances, 4.2× the 10"), "{w}");
    assert!(!w.contains("over-provisioned"), "{w}");

    let csv = String::from_utf8(to_csv(&plan).expect("csv")).expect("utf8");
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some(
            "month,label,users,daily_active_users,requests_per_day,avg_rps,peak_rps,instances_for_load,instances,db_connections,db_max_connections,db_over_limit,cost_app-large_instances,cost_database (managed-postgres),cost_cache,cost_storage,cost_cdn,cost_load balancer,total"
        )
    );
    assert_eq!(
        lines.nth(3),
        Some(
            "4,2027-04,,,,500.000000,2000.000000,40,42,840,200,true,5040.00,600.00,50.00,230.00,850.00,20.00,6790.00"
        )
    );
}

#[test]
fn plan_json_round_trips() {
    let f = Forecast::parse("forecast-example.toml", FORECAST).expect("forecast");
    let plan = plan_of(&f, None).expect("plan");
    let json = serde_json::to_string(&plan).expect("json");
    let back: CostPlan = serde_json::from_str(&json).expect("back");
    // serde_json may differ in the last bit of a float, so compare what a reader uses.
    assert_eq!(back.months.len(), plan.months.len());
    assert_eq!(back.months[0].instances, 2);
    assert_eq!(back.months[0].total, 1810.0);
    assert_eq!(back.derivation, plan.derivation);
    assert_eq!(back.warnings, plan.warnings);
    assert_eq!(back.provisioned, plan.provisioned);
}

fn rendered(e: &Problems) -> String {
    let mut out = String::new();
    let handler =
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor());
    handler.render_report(&mut out, e).expect("render");
    out
}

#[test]
fn bad_files_point_at_line_and_column() {
    let text = include_str!("../../tests/fixtures/planning/bad-forecast-ratio.toml");
    let err = Forecast::parse("bad-forecast-ratio.toml", text).expect_err("ratio");
    assert_eq!(err.errors().len(), 1);
    assert_eq!(err.errors()[0].location(), "bad-forecast-ratio.toml:3:16");
    assert_eq!(
        err.errors()[0].message(),
        "`daily_active` ratio must be between 0 and 100 %"
    );
    let out = rendered(&err);
    assert!(out.contains("[bad-forecast-ratio.toml:3:16]"), "{out}");
    assert!(out.contains("\"110%\""), "{out}");

    let text = include_str!("../../tests/fixtures/planning/bad-forecast-syntax.toml");
    let err = Forecast::parse("bad-forecast-syntax.toml", text).expect_err("syntax");
    assert_eq!(err.errors()[0].location(), "bad-forecast-syntax.toml:5:1");
    assert!(
        err.errors()[0]
            .message()
            .contains("unknown field `peak_to_avrage`"),
        "{}",
        err.errors()[0].message()
    );
    assert_eq!(
        err.errors()[0].hint(),
        Some("did you mean `peak_to_average`?")
    );

    let text = include_str!("../../tests/fixtures/planning/bad-catalogue.toml");
    let err = Catalogue::parse("bad-catalogue.toml", text).expect_err("catalogue");
    let found: Vec<(String, Option<String>)> = err
        .errors()
        .iter()
        .map(|e| (e.location(), e.hint().map(str::to_owned)))
        .collect();
    assert_eq!(
        found,
        vec![
            ("bad-catalogue.toml:3:17".to_owned(), None),
            (
                "bad-catalogue.toml:12:12".to_owned(),
                Some("did you mean `app-small`?".to_owned())
            ),
        ]
    );
    assert_eq!(
        err.to_string(),
        "`bad-catalogue.toml` is invalid: 2 problems"
    );
}

#[track_caller]
fn forecast_error(text: &str, location: &str, message: &str) {
    let err = Forecast::parse("f.toml", text).expect_err("must fail");
    let e = err.errors().first().expect("one error");
    assert_eq!(
        (e.location().as_str(), e.message()),
        (location, message),
        "{err:?}"
    );
}

#[test]
fn forecast_semantics_are_checked() {
    forecast_error(
        "[demand]\nusers = 10\ndaily_active = 0.1\nrequests_per_user_per_day = 1\n\n[capacity]\nrps_per_instance = 1\n",
        "f.toml:1:1",
        "[demand] needs `peak_to_average` with `users`",
    );
    forecast_error(
        "[demand]\npeak_rps_csv = \"p.csv\"\n[capacity]\nrps_per_instance = 0\n",
        "f.toml:4:20",
        "`rps_per_instance` must be a positive number",
    );
    forecast_error(
        "[demand]\nusers = [1, 2]\nmonths = 3\ndaily_active = \"1%\"\nrequests_per_user_per_day = 1\npeak_to_average = 2\n[capacity]\nrps_per_instance = 1\n",
        "f.toml:3:10",
        "`months` is 3 but `users` lists 2 months",
    );
    forecast_error(
        "[demand]\npeak_rps_csv = \"p.csv\"\n[capacity]\nrps_per_instance = 1\ntarget_utilisation = \"seventy\"\n",
        "f.toml:5:22",
        "`seventy` is not a `target_utilisation`",
    );
}

#[test]
fn unknown_instance_in_forecast_is_located() {
    let text = "[demand]\npeak_rps_csv = \"p.csv\"\n[capacity]\nrps_per_instance = 1\ninstance = \"app-lrge\"\n";
    let f = Forecast::parse("f.toml", text).expect("forecast");
    let peaks = [MonthPeak {
        label: "m".into(),
        peak_rps: 1.0,
    }];
    let err = plan_of(&f, Some(&peaks)).expect_err("unknown");
    assert_eq!(err.errors()[0].location(), "f.toml:5:12");
    assert_eq!(err.errors()[0].hint(), Some("did you mean `app-large`?"));
}

#[test]
fn bad_peak_csv_rows_are_located() {
    let err = parse_peak_csv("p.csv", "month,peak_rps\n1,10\n2,many\n").expect_err("bad");
    assert_eq!(err.errors()[0].location(), "p.csv:3:1");
    let err = parse_peak_csv("p.csv", "month,rps\n1,10\n").expect_err("header");
    assert!(err.errors()[0].message().contains("`month` and `peak_rps`"));
}

#[test]
fn grouping_reads_well() {
    assert_eq!(group(1_000_000.0, 0), "1 000 000");
    assert_eq!(group(1157.0, 0), "1 157");
    assert_eq!(group(11.574_074, 2), "11.57");
    assert_eq!(group(999.999, 2), "1 000.00");
    assert_eq!(group(-1234.5, 1), "-1 234.5");
}
