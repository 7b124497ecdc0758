//! Test support shared by every module's tests, compiled only for tests: generated results (two
//! generators for two needs, one scope accumulator) and their committed sample, one scenario
//! builder with a loopback target of known latency.

pub(crate) mod sampled;
pub(crate) mod scenario;
pub(crate) mod simulated;

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use crate::merge::scope_stats;
use crate::results::{ScopeKind, ScopeResults, SerializedHistogram, new_histogram};

/// One scope's counts and histograms, kept the way the recorder keeps them.
pub(crate) struct Counts {
    pub(crate) requests: u64,
    pub(crate) errors: u64,
    /// Successful responses.
    pub(crate) hist: Histogram<u64>,
    /// Failed requests, apart.
    pub(crate) failed: Option<Histogram<u64>>,
    /// Latency from the intended start (open model only).
    pub(crate) intended: Option<Histogram<u64>>,
}

impl Counts {
    pub(crate) fn new(open: bool) -> Self {
        Self {
            requests: 0,
            errors: 0,
            hist: new_histogram(),
            failed: None,
            intended: open.then(new_histogram),
        }
    }

    /// The scope's results over `seconds`, with no status codes or error kinds yet.
    pub(crate) fn scope(&self, kind: ScopeKind, name: &str, seconds: f64) -> ScopeResults {
        let encode = |h: &Histogram<u64>| SerializedHistogram::encode(h).expect("encode");
        ScopeResults {
            kind,
            name: name.to_owned(),
            stats: scope_stats(
                self.requests,
                self.errors,
                &self.hist,
                self.failed.as_ref(),
                self.intended.as_ref(),
                seconds,
            ),
            status_codes: BTreeMap::new(),
            errors: Vec::new(),
            histogram: encode(&self.hist),
            failed_histogram: self.failed.as_ref().map(encode),
            intended_histogram: self.intended.as_ref().map(encode),
        }
    }
}
