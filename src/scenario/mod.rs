//! Scenario files: TOML text → raw spanned types → validated [`model::Scenario`].
//!
//! Invariant: [`load`] and [`parse`] either return a scenario the driver can run as is, or
//! every problem found in it (syntax, shape, meaning, feeder files), each located at
//! file:line:column. Nothing here panics on bad input.
//!
//! ```
//! use std::path::Path;
//! let text = r#"
//! [target]
//! base_url = "http://127.0.0.1:8080"
//! [load]
//! users = 2
//! duration = "10s"
//! [[transaction]]
//! name = "home"
//! [[transaction.request]]
//! path = "/"
//! "#;
//! let s = kneepoint::scenario::parse(Path::new("home.toml"), text, Path::new("."), &[])
//!     .expect("valid");
//! assert_eq!(s.transactions[0].requests[0].name, "GET /");
//! ```

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub mod diagnostic;
pub mod model;
mod raw;
mod validate;

pub use diagnostic::{ScenarioError, ScenarioErrors};
use model::Scenario;

/// Hold of the single stage written with the `users`/`rate` shorthand when only `iterations`
/// bounds the run: long enough never to end before the iteration cap in practice.
pub const HOLD_UNTIL_CAP: Duration = Duration::from_secs(24 * 3600);

/// A `--set KEY=VALUE` override of one scenario value, applied before validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    /// Dotted key, e.g. `load.users` or `transaction.0.weight`.
    pub key: String,
    /// Value text: a TOML value if it parses as one (`50`, `"x"`, `[1, 2]`), else a string.
    pub value: String,
}

/// A `--set` flag that is not `KEY=VALUE`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid --set `{0}`: expected KEY=VALUE, e.g. `load.users=50`")]
pub struct OverrideError(pub String);

impl Override {
    /// Parse `KEY=VALUE` (spaces around both are trimmed).
    pub fn parse(s: &str) -> Result<Self, OverrideError> {
        match s.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok(Self {
                key: k.trim().to_owned(),
                value: v.trim().to_owned(),
            }),
            _ => Err(OverrideError(s.to_owned())),
        }
    }
}

impl std::str::FromStr for Override {
    type Err = OverrideError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Read, parse and validate the scenario file at `path`; feeder paths are relative to its folder.
pub fn load(path: &Path, overrides: &[Override]) -> Result<Scenario, ScenarioErrors> {
    let name = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            let empty: Arc<str> = Arc::from("");
            let err = ScenarioError::new(
                &name,
                &empty,
                0..0,
                format!("cannot read scenario file: {e}"),
                "cannot read this file",
            );
            return Err(ScenarioErrors::new(&name, vec![err]));
        }
    };
    let base_dir = path.parent().unwrap_or(Path::new("."));
    parse(path, &text, base_dir, overrides)
}

/// Parse and validate scenario `text` (read from `path`, which names it in messages), resolving
/// feeder paths against `base_dir`, after applying `overrides`.
pub fn parse(
    path: &Path,
    text: &str,
    base_dir: &Path,
    overrides: &[Override],
) -> Result<Scenario, ScenarioErrors> {
    validate::parse(path, text, base_dir, overrides)
}
