//! SLA verdicts (placeholder until the SLA module lands).

use crate::results::{RunResults, SlaVerdict};
use crate::scenario::model::Sla;

/// Verdicts of `slas` on `results`.
pub fn evaluate(_slas: &[Sla], _results: &RunResults) -> Vec<SlaVerdict> {
    Vec::new()
}

/// The reason to stop early, if an `abort = true` SLA is already lost.
pub fn abort_reason(_slas: &[Sla], _results: &RunResults, _min_requests: u64) -> Option<String> {
    None
}
