//! Drivers apply a plan's load to a target and feed a recorder.

pub mod goose;
pub mod open;
