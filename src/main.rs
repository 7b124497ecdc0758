//! The `kneepoint` command: parse flags, call the library, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser as _;

mod cli;

fn main() -> ExitCode {
    match cli::Args::parse().execute() {
        Ok(outcome) => outcome.exit_code(),
        Err(failure) => {
            eprintln!("{:?}", failure.report());
            failure.exit_code()
        }
    }
}
