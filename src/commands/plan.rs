//! `kneepoint plan`: read a forecast, its catalogue and capacity, write plan.json, plan.csv and
//! plan.html, print the table.

use std::path::{Path, PathBuf};

use miette::miette;

use super::write_files;
use crate::capacity::CapacityReport;
use crate::diagnostic::Located;
use crate::planning::{
    self, CapacitySource, Catalogue, Demand, FileRef, Forecast, PlanInputs, ResolvedCapacity,
};
use crate::{Failure, Outcome};

/// What `kneepoint plan` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// Forecast file (TOML).
    pub forecast: PathBuf,
    /// Folder for plan.json, plan.csv and plan.html.
    pub out: PathBuf,
    /// Catalogue file instead of the forecast's `catalogue = ...`.
    pub catalogue: Option<PathBuf>,
}

/// Plan from the forecast: exit 0 once the plan is written, 2 for any problem with the forecast
/// or the files it names (located in the forecast where it names them), 3 when the outputs
/// cannot be written.
pub fn plan(opts: &PlanOptions) -> Result<Outcome, Failure> {
    let name = opts.forecast.display().to_string();
    let text = read(&opts.forecast).map_err(Failure::invalid)?;
    let forecast = Forecast::parse(&name, &text).map_err(|e| Failure::invalid(e.into_report()))?;
    let named = Named {
        forecast: &forecast,
        base: opts
            .forecast
            .parent()
            .map_or_else(PathBuf::new, Path::to_path_buf),
    };

    let catalogue = match (&opts.catalogue, &forecast.catalogue) {
        (Some(path), _) => {
            let text = read(path).map_err(Failure::invalid)?;
            Catalogue::parse(&path.display().to_string(), &text)
        }
        (None, Some(file)) => {
            let (path, text) = named.read(file, "the catalogue ")?;
            Catalogue::parse(&path.display().to_string(), &text)
        }
        (None, None) => {
            return Err(Failure::invalid(miette!(
                help =
                    "add `catalogue = \"catalogue.toml\"` to the forecast or pass --catalogue FILE",
                "no catalogue for `{name}`"
            )));
        }
    }
    .map_err(|e| Failure::invalid(e.into_report()))?;

    let peaks = match &forecast.demand {
        Demand::PeakCsv { file, .. } => {
            let (path, text) = named.read(file, "")?;
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
            let (path, text) = named.read(file, "")?;
            let at = |message: String| named.error(file, message);
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

    std::fs::create_dir_all(&opts.out)
        .map_err(|e| Failure::run(miette!("cannot create `{}`: {e}", opts.out.display())))?;
    let json = serde_json::to_vec_pretty(&plan)
        .map_err(|e| Failure::run(miette!("cannot encode the plan: {e}")))?;
    let csv = planning::to_csv(&plan)
        .map_err(|e| Failure::run(miette!("cannot encode the plan: {e}")))?;
    let html = crate::report::html::render_plan(&plan)
        .map_err(|e| Failure::run(miette!("cannot render plan.html: {e}")))?;
    write_files(
        &opts.out,
        &[
            ("plan.json", &json),
            ("plan.csv", &csv),
            ("plan.html", html.as_bytes()),
        ],
    )?;
    print!("{}", planning::render_table(&plan));
    println!(
        "wrote {}, {} and {}",
        opts.out.join("plan.json").display(),
        opts.out.join("plan.csv").display(),
        opts.out.join("plan.html").display()
    );
    Ok(Outcome::Passed)
}

fn read(path: &Path) -> Result<String, miette::Report> {
    std::fs::read_to_string(path).map_err(|e| miette!("cannot read `{}`: {e}", path.display()))
}

/// The files a forecast names, relative to the forecast's folder; a problem with one is located
/// where the forecast names it.
struct Named<'a> {
    forecast: &'a Forecast,
    base: PathBuf,
}

impl Named<'_> {
    /// The file's path and text; `what` (e.g. `"the catalogue "`) goes before its name in the
    /// message when it cannot be read.
    fn read(&self, file: &FileRef, what: &str) -> Result<(PathBuf, String), Failure> {
        let path = self.base.join(&file.path);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            self.error(file, format!("cannot read {what}`{}`: {e}", path.display()))
        })?;
        Ok((path, text))
    }

    /// Invalid input, located at the file's name in the forecast.
    fn error(&self, file: &FileRef, message: String) -> Failure {
        let located: Located = self
            .forecast
            .error_at(file.span.clone(), message, "this file");
        Failure::invalid(located)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(forecast: &Path, out: &Path) -> Result<Outcome, Failure> {
        plan(&PlanOptions {
            forecast: forecast.to_owned(),
            out: out.to_owned(),
            catalogue: None,
        })
    }

    #[test]
    fn worked_example_writes_json_and_csv() {
        let dir = tempfile::tempdir().expect("tempdir");
        let forecast =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/capacity/forecast-example.toml");
        assert!(matches!(run(&forecast, dir.path()), Ok(Outcome::Passed)));
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
        let points = Path::new(root).join("scenarios/capacity/points-example.csv");
        let capacity = super::super::capacity::from_points(
            &points,
            Some(&cap_out),
            crate::capacity::SearchModel::Closed,
            Some(60.0),
        );
        assert!(capacity.is_ok());
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
        assert!(matches!(run(&forecast, &out), Ok(Outcome::Passed)));
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
        let err = run(&forecast, &out).expect_err("missing");
        assert!(matches!(err, Failure::Invalid(_)));
        let text = format!("{:?}", err.report());
        assert!(text.contains("f.toml:1:13"), "{text}");
    }
}
