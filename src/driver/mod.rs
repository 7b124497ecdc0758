//! Drivers apply a plan's load to a target and feed a recorder.
//!
//! Invariant: goose types stay in `goose.rs`; `exec.rs` (one user's requests) and `open.rs`
//! (arrival schedule) only see a reqwest client, so the request path is the same for both models.

pub(crate) mod client;
pub(crate) mod exec;
pub mod goose;
pub(crate) mod open;

pub use goose::{DriveError, EndReason, drive};
