//! Scenario files: TOML → raw (spanned) → validated [`model::Scenario`].

pub mod diagnostic;
pub mod model;
pub mod raw;
pub mod validate;
