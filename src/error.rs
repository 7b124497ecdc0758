//! How a command ends: the outcome or failure every subcommand returns, and its exit code.
//!
//! Exit codes are a contract with CI pipelines: 0 every SLA met, 1 an SLA breached (or a
//! regression over budget), 2 invalid input (scenario, feeder, flags, files), 3 the run failed
//! (target unreachable, nothing measured, results could not be written).

use std::process::ExitCode;

/// A command that ran to the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every SLA (or gate) held.
    Passed,
    /// An SLA was breached or a gate failed.
    Breached,
}

impl Outcome {
    /// 0 or 1.
    pub fn exit_code(self) -> ExitCode {
        match self {
            Self::Passed => ExitCode::SUCCESS,
            Self::Breached => ExitCode::from(1),
        }
    }

    /// `Passed` when `ok`.
    pub fn from_passed(ok: bool) -> Self {
        if ok { Self::Passed } else { Self::Breached }
    }
}

/// A command that could not do its job.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// Bad input: the user must fix a file or a flag. Exit 2.
    #[error("{0:?}")]
    Invalid(miette::Report),
    /// The run itself failed. Exit 3.
    #[error("{0:?}")]
    Run(miette::Report),
}

impl Failure {
    /// Bad input from any diagnostic or error.
    pub fn invalid(err: impl Into<miette::Report>) -> Self {
        Self::Invalid(err.into())
    }

    /// A failed run from any diagnostic or error.
    pub fn run(err: impl Into<miette::Report>) -> Self {
        Self::Run(err.into())
    }

    /// 2 or 3.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Self::Invalid(_) => ExitCode::from(2),
            Self::Run(_) => ExitCode::from(3),
        }
    }

    /// The diagnostic to print.
    pub fn report(&self) -> &miette::Report {
        match self {
            Self::Invalid(r) | Self::Run(r) => r,
        }
    }
}

/// An error and its causes on one line (`cannot write x: No space left on device`), skipping a
/// cause the text already includes (many errors embed their source in their own message). The
/// one error-chain printer: every message that shows a cause is made here.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let part = cause.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = cause.source();
    }
    text
}
