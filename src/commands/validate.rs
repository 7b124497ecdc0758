//! `kneepoint validate`: check a scenario file without running it.

use std::io::Write as _;
use std::path::PathBuf;

use crate::scenario::model::{LoadModel, Scenario};
use crate::scenario::{self, Override};
use crate::{Failure, Outcome};

/// What `kneepoint validate` was asked to check.
#[derive(Debug, Clone, Default)]
pub struct ValidateOptions {
    /// Scenario file (TOML).
    pub scenario: PathBuf,
    /// Overrides applied before checking.
    pub overrides: Vec<Override>,
}

/// Load and check the scenario, print a one-line summary: exit 0, or 2 with every problem.
pub fn validate(opts: &ValidateOptions) -> Result<Outcome, Failure> {
    let s = scenario::load(&opts.scenario, &opts.overrides).map_err(Failure::invalid)?;
    // A closed pipe (`| head`) is not a failure of validation.
    let _ = writeln!(std::io::stdout().lock(), "ok: {}", summary(&s));
    Ok(Outcome::Passed)
}

/// `NAME (N transactions, M requests, closed model: ...)`.
fn summary(s: &Scenario) -> String {
    let requests: usize = s.transactions.iter().map(|t| t.requests.len()).sum();
    let (model, stages, unit) = match &s.load.model {
        LoadModel::Closed(c) => ("closed", &c.stages, "users"),
        LoadModel::Open(o) => ("open", &o.stages, "arrivals/s"),
    };
    let peak = stages.iter().map(|st| st.target).fold(0.0_f64, f64::max);
    let mut parts = vec![
        plural(s.transactions.len(), "transaction"),
        plural(requests, "request"),
        format!(
            "{model} model: {} up to {peak} {unit}",
            plural(stages.len(), "stage")
        ),
    ];
    if let Some(d) = s.load.max_duration {
        parts.push(format!("at most {}", humantime::format_duration(d)));
    }
    if let Some(n) = s.load.max_iterations {
        parts.push(format!("at most {n} iterations"));
    }
    if !s.feeders.is_empty() {
        parts.push(plural(s.feeders.len(), "feeder"));
    }
    parts.push(plural(s.slas.len(), "SLA"));
    format!("{} ({})", s.name, parts.join(", "))
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}
