//! Test support shared by every module's tests: generated results (two generators for two
//! needs) and their committed sample. Compiled only for tests.

pub(crate) mod sampled;
pub(crate) mod scenario;
pub(crate) mod simulated;

/// A formatter wrote `want`.
#[track_caller]
pub(crate) fn check(got: String, want: &str) {
    assert_eq!(got, want);
}
