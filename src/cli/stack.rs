//! `kneepoint stack`: the flags, as [`StackOptions`].

use std::time::Duration;

use kneepoint::commands::stack::up;
use kneepoint::stack::{self, Backend, ImageRef, Images, StackOptions};
use kneepoint::{Failure, Outcome};

/// Flags of `kneepoint stack`.
#[derive(Debug, clap::Args)]
pub(crate) struct StackArgs {
    #[command(subcommand)]
    command: StackCommand,
}

#[derive(Debug, clap::Subcommand)]
enum StackCommand {
    /// Start PostgreSQL, Redis and the reference service; print the service and metrics
    /// URLs; keep running until Ctrl-C or SIGTERM, then remove everything. Exits with 3
    /// (removing the rest) when a part of the stack stops on its own.
    Up(UpArgs),
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum BackendArg {
    /// Docker when the engine answers and the images are present, else embedded.
    Auto,
    /// Containers (testcontainers); fails when Docker cannot be used.
    Docker,
    /// In-process, without Docker.
    Embedded,
}

impl From<BackendArg> for Backend {
    fn from(arg: BackendArg) -> Self {
        match arg {
            BackendArg::Auto => Self::Auto,
            BackendArg::Docker => Self::Docker,
            BackendArg::Embedded => Self::Embedded,
        }
    }
}

#[derive(Debug, clap::Args)]
struct UpArgs {
    /// Which backend runs the stack.
    #[arg(
        long,
        value_enum,
        default_value = "auto",
        env = "KNEEPOINT_STACK_BACKEND"
    )]
    backend: BackendArg,
    /// Items the service seeds at start when its database is empty.
    #[arg(long, default_value_t = 1_000)]
    seed_items: u64,
    /// Lift the service's rate limits (RATE_LIMITS=off).
    #[arg(long)]
    no_rate_limits: bool,
    /// PostgreSQL image, `name:tag` (never pulled).
    #[arg(long, env = stack::POSTGRES_IMAGE_ENV, default_value = stack::DEFAULT_POSTGRES_IMAGE)]
    postgres_image: ImageRef,
    /// Redis image, `name:tag` (never pulled).
    #[arg(long, env = stack::REDIS_IMAGE_ENV, default_value = stack::DEFAULT_REDIS_IMAGE)]
    redis_image: ImageRef,
    /// Reference-service image, `name:tag` (never pulled).
    #[arg(long, env = stack::SERVICE_IMAGE_ENV, default_value = stack::DEFAULT_SERVICE_IMAGE)]
    service_image: ImageRef,
    /// Give up when the service is not ready after this long (e.g. `90s`, `2m`).
    #[arg(long, default_value = "120s", value_parser = humantime::parse_duration)]
    startup_timeout: Duration,
}

impl StackArgs {
    pub(crate) fn execute(self) -> Result<Outcome, Failure> {
        match self.command {
            StackCommand::Up(up) => up.execute(),
        }
    }
}

impl UpArgs {
    fn options(&self) -> StackOptions {
        StackOptions {
            backend: self.backend.into(),
            images: Images {
                postgres: self.postgres_image.clone(),
                redis: self.redis_image.clone(),
                service: self.service_image.clone(),
            },
            seed_items: self.seed_items,
            rate_limits: !self.no_rate_limits,
            startup_timeout: self.startup_timeout,
        }
    }

    fn execute(self) -> Result<Outcome, Failure> {
        up(&self.options())
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

    #[derive(Debug, clap::Parser)]
    struct Cli {
        #[command(subcommand)]
        command: StackCommand,
    }

    fn parse(args: &[&str]) -> Result<StackOptions, String> {
        let argv = ["stack"].iter().chain(args);
        match Cli::try_parse_from(argv) {
            Ok(Cli {
                command: StackCommand::Up(up),
            }) => Ok(up.options()),
            Err(err) => Err(err.to_string()),
        }
    }

    #[test]
    fn up_flags_become_stack_options() {
        let opts = parse(&[
            "up",
            "--backend",
            "docker",
            "--seed-items",
            "5",
            "--no-rate-limits",
            "--postgres-image",
            "kneepoint/postgres:15-bookworm",
            "--redis-image",
            "kneepoint/redis:7-bookworm",
            "--service-image",
            "kneepoint/reference-service:local",
            "--startup-timeout",
            "90s",
        ]);
        let opts = opts.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(opts.backend, Backend::Docker);
        assert_eq!(opts.seed_items, 5);
        assert!(!opts.rate_limits);
        assert_eq!(
            opts.images.postgres.to_string(),
            "kneepoint/postgres:15-bookworm"
        );
        assert_eq!(opts.images.redis.tag(), "7-bookworm");
        assert_eq!(opts.images.service.tag(), "local");
        assert_eq!(opts.startup_timeout, Duration::from_secs(90));
    }

    #[test]
    fn a_bad_image_or_backend_is_refused_by_the_parser() {
        let err = parse(&["up", "--postgres-image", "postgres@sha256:00"]).err();
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("digests are not supported")),
            "{err:?}"
        );
        let err = parse(&["up", "--backend", "podman"]).err();
        assert!(
            err.as_deref().is_some_and(|e| e.contains("podman")),
            "{err:?}"
        );
    }
}
