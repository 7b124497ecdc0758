//! Drivers apply a plan's load to a target and feed a recorder.
//!
//! Invariant: goose types stay in `goose.rs`; `exec.rs` (one user's requests) and `open.rs`
//! (arrival schedule) only see a user's [`http::Agent`], so the request path is the same for both
//! models; `prepared.rs` builds each request's fixed parts once per run.

pub(crate) mod exec;
pub(crate) mod goose;
pub(crate) mod http;
pub(crate) mod open;
pub(crate) mod prepared;

pub(crate) use goose::{DriveError, EndReason, drive};
