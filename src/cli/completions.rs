//! `kneepoint completions SHELL`.

use kneepoint::{Failure, Outcome};

/// Flags of `kneepoint completions`.
#[derive(Debug, clap::Args)]
pub(crate) struct CompletionsArgs {
    /// Shell to generate completions for.
    shell: clap_complete::Shell,
}

impl CompletionsArgs {
    pub(crate) fn execute(self) -> Result<Outcome, Failure> {
        clap_complete::generate(
            self.shell,
            &mut super::command(),
            "kneepoint",
            &mut std::io::stdout(),
        );
        Ok(Outcome::Passed)
    }
}
