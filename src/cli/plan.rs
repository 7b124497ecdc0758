//! `kneepoint plan`: read a forecast, its catalogue and capacity, write plan.json, plan.csv and
//! plan.html, print the table.

use std::path::{Path, PathBuf};

use kneepoint::capacity::CapacityReport;
use kneepoint::diagnostic::Located;
use kneepoint::error::chain;
use kneepoint::output;
use kneepoint::planning::{
    self, CapacitySource, Catalogue, Demand, Forecast, PlanInputs, ResolvedCapacity,
};
use kneepoint::{Failure, Outcome};
use miette::miette;

/// Flags of `kneepoint plan`.
#[derive(Debug, clap::Args)]
pub(crate) struct PlanArgs {
    /// Forecast file (TOML): demand, capacity per instance, utilisation, redundancy.
    forecast: PathBuf,
    /// Folder for plan.json, plan.csv and plan.html.
    #[arg(long, value_name = "DIR", default_value = ".")]
    out: PathBuf,
    /// Instance and price catalogue (instead of the forecast's `catalogue = ...`).
    #[arg(long, value_name = "FILE")]
    catalogue: Option<PathBuf>,
}

impl PlanArgs {
    pub(crate) fn execute(self) -> Result<Outcome, Failure> {
        let name = self.forecast.display().to_string();
        let text = read(&self.forecast).map_err(Failure::invalid)?;
        let forecast =
            Forecast::parse(&name, &text).map_err(|e| Failure::invalid(e.into_report()))?;
        let base = self
            .forecast
            .parent()
            .map_or_else(PathBuf::new, Path::to_path_buf);

        let catalogue = match (&self.catalogue, &forecast.catalogue) {
            (Some(path), _) => {
                let text = read(path).map_err(Failure::invalid)?;
                Catalogue::parse(&path.display().to_string(), &text)
            }
            (None, Some(file)) => {
                let path = base.join(&file.path);
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    Failure::invalid(forecast.error_at(
                        file.span.clone(),
                        format!("cannot read the catalogue `{}`: {e}", path.display()),
                        "this file",
                    ))
                })?;
                Catalogue::parse(&path.display().to_string(), &text)
            }
            (None, None) => {
                return Err(Failure::invalid(miette!(
                    help = "add `catalogue = \"catalogue.toml\"` to the forecast or pass --catalogue FILE",
                    "no catalogue for `{name}`"
                )));
            }
        }
        .map_err(|e| Failure::invalid(e.into_report()))?;

        let peaks = match &forecast.demand {
            Demand::PeakCsv { file, .. } => {
                let path = base.join(&file.path);
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    Failure::invalid(forecast.error_at(
                        file.span.clone(),
                        format!("cannot read `{}`: {e}", path.display()),
                        "this file",
                    ))
                })?;
                Some(
                    planning::parse_peak_csv(&path.display().to_string(), &text)
                        .map_err(|e| Failure::invalid(e.into_report()))?,
                )
            }
            Demand::Users { .. } => None,
        };

        let capacity = match &forecast.capacity {
            CapacitySource::Given(rps) => ResolvedCapacity {
                rps_per_instance: *rps,
                source: "given in the forecast".into(),
            },
            CapacitySource::FromFile(file) => {
                let path = base.join(&file.path);
                let at = |message: String| -> Failure {
                    Failure::invalid(forecast.error_at(file.span.clone(), message, "this file"))
                };
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| at(format!("cannot read `{}`: {e}", path.display())))?;
                let report: CapacityReport = serde_json::from_str(&text)
                    .map_err(|e| at(format!("`{}` is not a capacity.json: {e}", path.display())))?;
                let rps = report.capacity_rps().ok_or_else(|| {
                    at(format!(
                        "`{}` has no max sustainable throughput (no step met the SLAs)",
                        path.display()
                    ))
                })?;
                ResolvedCapacity {
                    rps_per_instance: rps,
                    source: format!("max sustainable throughput in {}", path.display()),
                }
            }
        };

        let plan = planning::plan(&PlanInputs {
            forecast: &forecast,
            catalogue: &catalogue,
            peaks: peaks.as_deref(),
            capacity: &capacity,
        })
        .map_err(|e| Failure::invalid(e.into_report()))?;

        std::fs::create_dir_all(&self.out)
            .map_err(|e| Failure::run(miette!("cannot create `{}`: {e}", self.out.display())))?;
        let json = serde_json::to_vec_pretty(&plan)
            .map_err(|e| Failure::run(miette!("cannot encode the plan: {e}")))?;
        let csv = planning::to_csv(&plan)
            .map_err(|e| Failure::run(miette!("cannot encode the plan: {e}")))?;
        let html = kneepoint::report::html::render_plan(&plan)
            .map_err(|e| Failure::run(miette!("cannot render plan.html: {e}")))?;
        output::write_files(
            &self.out,
            &[
                ("plan.json", &json),
                ("plan.csv", &csv),
                ("plan.html", html.as_bytes()),
            ],
        )
        .map_err(|e| Failure::run(miette!("{}", chain(&e))))?;
        print!("{}", planning::render_table(&plan));
        println!(
            "wrote {}, {} and {}",
            self.out.join("plan.json").display(),
            self.out.join("plan.csv").display(),
            self.out.join("plan.html").display()
        );
        Ok(Outcome::Passed)
    }
}

fn read(path: &Path) -> Result<String, miette::Report> {
    std::fs::read_to_string(path).map_err(|e| miette!("cannot read `{}`: {e}", path.display()))
}

// `Located` is the located error type every read failure above is turned into.
const _: fn(Located) -> Failure = Failure::invalid;

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    fn run(args: &[&str]) -> Result<Outcome, Failure> {
        let mut all = vec!["kneepoint", "plan"];
        all.extend_from_slice(args);
        crate::cli::Args::try_parse_from(all)
            .expect("flags")
            .execute()
    }

    #[test]
    fn worked_example_writes_json_and_csv() {
        let dir = tempfile::tempdir().expect("tempdir");
        let forecast = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scenarios/capacity/forecast-example.toml"
        );
        let out = dir.path().to_str().expect("utf8");
        assert!(matches!(
            run(&[forecast, "--out", out]),
            Ok(Outcome::Passed)
        ));
        let plan: planning::CostPlan = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("plan.json")).expect("json"),
        )
        .expect("plan");
        assert_eq!(plan.months[0].instances, 2);
        let csv = std::fs::read_to_string(dir.path().join("plan.csv")).expect("csv");
        assert_eq!(csv.lines().count(), 13);
        let html = std::fs::read_to_string(dir.path().join("plan.html")).expect("html");
        assert!(html.contains("kneepoint plan") && html.contains("100.0 × the average 11.57"));
    }

    #[test]
    fn capacity_from_a_report_and_missing_files_are_located() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = env!("CARGO_MANIFEST_DIR");
        // A capacity.json from --from-points feeds the plan.
        let cap_out = dir.path().join("cap");
        let args = crate::cli::Args::try_parse_from([
            "kneepoint",
            "capacity",
            "--from-points",
            &format!("{root}/scenarios/capacity/points-example.csv"),
            "--p95-limit",
            "60",
            "--out",
            cap_out.to_str().expect("utf8"),
        ])
        .expect("flags");
        assert!(args.execute().is_ok());
        let forecast = dir.path().join("f.toml");
        let catalogue = format!("{root}/scenarios/capacity/catalogue-example.toml");
        std::fs::write(
            &forecast,
            format!(
                "catalogue = {catalogue:?}\n[demand]\npeak_rps_csv = {:?}\n[capacity]\nfrom = \"cap/capacity.json\"\n",
                format!("{root}/tests/fixtures/planning/peaks.csv")
            ),
        )
        .expect("write");
        let out = dir.path().join("out");
        let f = forecast.to_str().expect("utf8");
        assert!(matches!(
            run(&[f, "--out", out.to_str().expect("utf8")]),
            Ok(Outcome::Passed)
        ));
        let plan: planning::CostPlan =
            serde_json::from_str(&std::fs::read_to_string(out.join("plan.json")).expect("json"))
                .expect("plan");
        assert!(plan.capacity.source.contains("capacity.json"));
        assert!(
            plan.capacity.rps_per_instance > 1000.0,
            "{:?}",
            plan.capacity
        );

        std::fs::write(&forecast, "catalogue = \"nope.toml\"\n[demand]\npeak_rps_csv = \"p.csv\"\n[capacity]\nrps_per_instance = 1\n")
            .expect("write");
        let err = run(&[f, "--out", out.to_str().expect("utf8")]).expect_err("missing");
        assert!(matches!(err, Failure::Invalid(_)));
        let text = format!("{:?}", err.report());
        assert!(text.contains("f.toml:1:13"), "{text}");
    }
}
