//! The reference stack: PostgreSQL, Redis and the reference service, in Docker or in-process.
//!
//! [`start`] picks a backend ([`Backend::Auto`] asks a Docker preflight first), starts it and
//! returns a [`Stack`] once the service answers `/ready`. Invariants: every URL a [`Stack`] hands
//! out is on 127.0.0.1, and whatever a start created is removed again on every exit path:
//! [`Stack::stop`], drop, an error during start, or a cancelled start future (what a killed
//! process leaves is swept by a later start). Images are never pulled: a missing image is
//! reported, so runs are reproducible and work without a registry.
//!
//! While it runs, [`Stack::health`] tells whether every part of it still does; a run watches it
//! and fails when its target went down.
//!
//! A backend plugs in by returning a `Started` (URLs plus a `Running` handle that stops it and
//! checks its health).

use std::fmt;
use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;

pub mod docker;
pub mod embedded;

pub use docker::DockerUnavailable;

/// Default PostgreSQL image: the official one, as on a developer's machine.
pub const DEFAULT_POSTGRES_IMAGE: &str = "postgres:16-alpine";
/// Default Redis image: the official one.
pub const DEFAULT_REDIS_IMAGE: &str = "redis:7-alpine";
/// Default reference-service image.
pub const DEFAULT_SERVICE_IMAGE: &str = "kneepoint/reference-service:latest";
/// Environment variable overriding the PostgreSQL image (`name[:tag]`).
pub const POSTGRES_IMAGE_ENV: &str = "KNEEPOINT_POSTGRES_IMAGE";
/// Environment variable overriding the Redis image (`name[:tag]`).
pub const REDIS_IMAGE_ENV: &str = "KNEEPOINT_REDIS_IMAGE";
/// Environment variable overriding the reference-service image (`name[:tag]`).
pub const SERVICE_IMAGE_ENV: &str = "KNEEPOINT_SERVICE_IMAGE";

/// Which backend runs the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// Docker when the engine answers and every image is present, else embedded.
    #[default]
    Auto,
    /// Containers through testcontainers; fails when Docker cannot be used.
    Docker,
    /// The reference service in-process with embedded parts.
    Embedded,
}

impl Backend {
    /// `auto`, `docker` or `embedded`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Docker => "docker",
            Self::Embedded => "embedded",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Backend {
    type Err = StackError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Self::Auto),
            "docker" => Ok(Self::Docker),
            "embedded" => Ok(Self::Embedded),
            other => Err(StackError::InvalidBackend {
                value: other.to_owned(),
            }),
        }
    }
}

/// A container image reference, `name:tag`; the tag defaults to `latest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    name: String,
    tag: String,
}

impl ImageRef {
    /// Parse `name[:tag]` (the name may carry a registry with a port, `host:5000/x:1`).
    /// Digests (`@sha256:..`) are refused: testcontainers addresses images by name and tag.
    pub fn parse(value: &str) -> Result<Self, StackError> {
        let invalid = |reason: &'static str| StackError::InvalidImage {
            value: value.to_owned(),
            reason,
        };
        let value_trimmed = value.trim();
        if value_trimmed.is_empty() {
            return Err(invalid("it is empty"));
        }
        if value_trimmed.contains(char::is_whitespace) {
            return Err(invalid("it contains whitespace"));
        }
        if value_trimmed.contains('@') {
            return Err(invalid("digests are not supported, use a tag"));
        }
        // A colon after the last slash separates the tag; one before it is a registry port.
        let name_start = value_trimmed.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match value_trimmed[name_start..].rfind(':') {
            Some(i) => value_trimmed.split_at(name_start + i),
            None => (value_trimmed, ":latest"),
        };
        let tag = &tag[1..];
        if name.is_empty() || name.ends_with('/') {
            return Err(invalid("the image name is empty"));
        }
        if tag.is_empty() {
            return Err(invalid("the tag after `:` is empty"));
        }
        Ok(Self {
            name: name.to_owned(),
            tag: tag.to_owned(),
        })
    }

    /// The repository part, e.g. `postgres` or `kneepoint/postgres`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The tag, e.g. `16-alpine`.
    pub fn tag(&self) -> &str {
        &self.tag
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, self.tag)
    }
}

impl FromStr for ImageRef {
    type Err = StackError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// The images the Docker backend runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Images {
    /// PostgreSQL; must honour the official image's contract (POSTGRES_USER/PASSWORD/DB).
    pub postgres: ImageRef,
    /// Redis; must log "Ready to accept connections" on stdout.
    pub redis: ImageRef,
    /// The reference service, configured by DATABASE_URL, REDIS_URL, BIND_ADDR.
    pub service: ImageRef,
}

impl Default for Images {
    /// The official `postgres` and `redis` images and `kneepoint/reference-service:latest`.
    fn default() -> Self {
        // Built directly rather than parsed so no error path exists; a test pins them to the
        // DEFAULT_* strings.
        let image = |name: &str, tag: &str| ImageRef {
            name: name.to_owned(),
            tag: tag.to_owned(),
        };
        Self {
            postgres: image("postgres", "16-alpine"),
            redis: image("redis", "7-alpine"),
            service: image("kneepoint/reference-service", "latest"),
        }
    }
}

impl Images {
    /// The defaults, overridden by `KNEEPOINT_POSTGRES_IMAGE`, `KNEEPOINT_REDIS_IMAGE` and
    /// `KNEEPOINT_SERVICE_IMAGE` where set and not empty.
    pub fn from_env() -> Result<Self, StackError> {
        let mut images = Self::default();
        for (var, slot) in [
            (POSTGRES_IMAGE_ENV, &mut images.postgres),
            (REDIS_IMAGE_ENV, &mut images.redis),
            (SERVICE_IMAGE_ENV, &mut images.service),
        ] {
            if let Ok(value) = std::env::var(var)
                && !value.trim().is_empty()
            {
                *slot = ImageRef::parse(&value)?;
            }
        }
        Ok(images)
    }

    /// The three images, with what each is for.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &ImageRef)> {
        [
            ("postgres", &self.postgres),
            ("redis", &self.redis),
            ("service", &self.service),
        ]
        .into_iter()
    }
}

/// How to start the stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackOptions {
    /// Which backend; `Auto` prefers Docker.
    pub backend: Backend,
    /// Images for the Docker backend.
    pub images: Images,
    /// Items the service seeds at start when its database is empty (`SEED_ITEMS`).
    pub seed_items: u64,
    /// Keep the service's rate limits; `false` passes `RATE_LIMITS=off`.
    pub rate_limits: bool,
    /// Upper bound for the whole start, each container's readiness and `/ready` included.
    pub startup_timeout: Duration,
}

impl Default for StackOptions {
    fn default() -> Self {
        Self {
            backend: Backend::Auto,
            images: Images::default(),
            seed_items: 1_000,
            rate_limits: true,
            startup_timeout: Duration::from_secs(120),
        }
    }
}

impl StackOptions {
    /// The defaults with images from the environment (see [`Images::from_env`]).
    pub fn from_env() -> Result<Self, StackError> {
        Ok(Self {
            images: Images::from_env()?,
            ..Self::default()
        })
    }
}

/// A dependency of the service reachable from this host, e.g. PostgreSQL in Docker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// What it is: `postgres`, `redis`.
    pub name: &'static str,
    /// A URL on 127.0.0.1 with credentials, e.g. `postgres://u:p@127.0.0.1:32768/db`.
    pub url: String,
}

/// One look at a started backend: `Ok` while every part of it runs, else what stopped.
pub(crate) type HealthCheck = Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// A started backend's way to shut down; implemented by each backend.
pub(crate) trait Running: Send + Sync {
    /// Tear everything down. Must not fail: problems are reported, not returned, because the
    /// caller is usually already on an exit path.
    fn stop(self: Box<Self>) -> BoxFuture<'static, ()>;

    /// A check that owns what it needs (engine client, container names), so it can outlive a
    /// borrow of the backend. An engine that does not answer is not a stopped stack.
    fn health(&self) -> HealthCheck;
}

/// How often [`Health::wait_down`] looks by default: a killed container ends a run within about
/// this long.
pub const HEALTH_EVERY: Duration = Duration::from_millis(500);

/// Tells whether a running stack is still whole: each container running (docker), the
/// in-process service still serving (embedded). Cheap to clone and independent of the
/// [`Stack`], so a watcher can own one; it says nothing once the stack was stopped on purpose.
#[derive(Clone)]
pub struct Health {
    backend: Backend,
    check: HealthCheck,
}

impl fmt::Debug for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Health")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl Health {
    /// Look once: [`StackError::Down`] names the part that stopped.
    pub async fn check(&self) -> Result<(), StackError> {
        (self.check)().await.map_err(|what| StackError::Down {
            backend: self.backend.as_str(),
            what,
        })
    }

    /// Look every `every` until a part of the stack has stopped; never resolves while it runs.
    pub async fn wait_down(&self, every: Duration) -> StackError {
        loop {
            if let Err(err) = self.check().await {
                return err;
            }
            tokio::time::sleep(every).await;
        }
    }
}

/// What a backend hands back once its service answers `/ready`.
pub(crate) struct Started {
    /// Run-unique id (docker: the value of the run label on every container and network).
    pub(crate) id: String,
    /// Root URL of the service, `http://127.0.0.1:PORT`, without a trailing slash.
    pub(crate) base_url: String,
    /// The service's Prometheus endpoint.
    pub(crate) metrics_url: String,
    /// Dependencies reachable from the host.
    pub(crate) endpoints: Vec<Endpoint>,
    /// Messages for the user gathered while starting.
    pub(crate) notes: Vec<String>,
    /// Stops the backend; dropping it must clean up as well.
    pub(crate) running: Box<dyn Running>,
}

/// A running reference stack. Stop it with [`Stack::stop`]; dropping it also removes
/// everything it started (synchronously, so prefer `stop` in async code).
pub struct Stack {
    backend: Backend,
    started_in: Duration,
    started: Started,
}

impl fmt::Debug for Stack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stack")
            .field("backend", &self.backend)
            .field("base_url", &self.started.base_url)
            .field("started_in", &self.started_in)
            .finish_non_exhaustive()
    }
}

impl Stack {
    /// Run-unique id; for docker, `docker ps --filter label=io.kneepoint.run=ID` lists the run.
    pub fn id(&self) -> &str {
        &self.started.id
    }

    /// Root URL of the reference service, e.g. `http://127.0.0.1:32771` (no trailing slash).
    pub fn base_url(&self) -> &str {
        &self.started.base_url
    }

    /// The service's Prometheus metrics URL.
    pub fn metrics_url(&self) -> &str {
        &self.started.metrics_url
    }

    /// Point a scenario at this stack: its URL, and its metrics unless the scenario names
    /// another endpoint.
    pub fn aim(&self, scenario: &mut crate::scenario::model::Scenario) {
        scenario.target.base_url = self.base_url().trim_end_matches('/').to_owned();
        if scenario.target.metrics_url.is_none() {
            scenario.target.metrics_url = Some(self.metrics_url().to_owned());
        }
    }

    /// The backend that runs: [`Backend::Docker`] or [`Backend::Embedded`], never `Auto`.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// `docker` or `embedded`, for reports and results.
    pub fn backend_name(&self) -> &'static str {
        self.backend.as_str()
    }

    /// Wall time from [`start`] to the service answering `/ready`.
    pub fn startup_time(&self) -> Duration {
        self.started_in
    }

    /// The service's dependencies reachable from this host (empty for embedded).
    pub fn endpoints(&self) -> &[Endpoint] {
        &self.started.endpoints
    }

    /// Things the user should know: why `auto` chose a backend, stale containers swept.
    pub fn notes(&self) -> &[String] {
        &self.started.notes
    }

    /// A handle that checks whether the stack is still whole (see [`Health`]).
    pub fn health(&self) -> Health {
        Health {
            backend: self.backend,
            check: self.started.running.health(),
        }
    }

    /// Tear the stack down and wait until everything it started is gone.
    pub async fn stop(self) {
        self.started.running.stop().await;
    }
}

/// Why the stack could not start.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[non_exhaustive]
pub enum StackError {
    /// A backend name other than auto, docker, embedded.
    #[error("unknown stack backend `{value}`")]
    #[diagnostic(help("use `auto`, `docker` or `embedded`"))]
    InvalidBackend {
        /// What was given.
        value: String,
    },
    /// An image reference that cannot be used.
    #[error("invalid image `{value}`: {reason}")]
    #[diagnostic(help("write images as `name:tag`, e.g. `postgres:16-alpine`"))]
    InvalidImage {
        /// What was given.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The Docker backend was asked for and cannot run here.
    #[error("the docker backend cannot run: {0}")]
    #[diagnostic(help("{}", .0.hint()))]
    DockerUnavailable(DockerUnavailable),
    /// The embedded backend is not part of this build.
    #[error("the embedded backend is not available in this build{}", why_not_docker(.docker))]
    #[diagnostic(help(
        "make Docker usable (engine running, images present) and use `--backend docker`"
    ))]
    EmbeddedUnavailable {
        /// Why `auto` did not choose Docker, when it was asked.
        docker: Option<DockerUnavailable>,
    },
    /// A container or the service failed while starting.
    #[error("the {backend} stack failed to start: {what}")]
    Start {
        /// `docker` or `embedded`.
        backend: &'static str,
        /// What failed, with the engine's or the service's words.
        what: String,
    },
    /// A part of a started stack stopped on its own: a container exited, was killed or removed.
    #[error("the {backend} reference stack went down: {what}")]
    #[diagnostic(help(
        "the target is gone, so the run stopped; what was measured until then is kept. Look for \
         what stopped it: the engine's events (`docker events`), memory limits, the service's logs"
    ))]
    Down {
        /// `docker` or `embedded`.
        backend: &'static str,
        /// Which part stopped and how, e.g. its exit code.
        what: String,
    },
    /// The service did not answer `/ready` with 200 in time.
    #[error("the reference service at {url} was not ready after {waited:?}: {last}{}", logs_suffix(.logs))]
    NotReady {
        /// The `/ready` URL polled.
        url: String,
        /// How long it was polled.
        waited: Duration,
        /// The last answer or connection error.
        last: String,
        /// The service's last log lines, when they could be read.
        logs: String,
    },
}

fn why_not_docker(docker: &Option<DockerUnavailable>) -> String {
    docker
        .as_ref()
        .map(|d| format!(" (auto mode did not use docker: {d})"))
        .unwrap_or_default()
}

fn logs_suffix(logs: &str) -> String {
    if logs.trim().is_empty() {
        String::new()
    } else {
        format!("\nlast service log lines:\n{logs}")
    }
}

/// Poll `{base_url}/ready` every `every` until it answers 200 (`Ok`), `stopped` reports the
/// service gone (called with when it was seen, e.g. `before URL answered 200`), or `budget` runs
/// out ([`StackError::NotReady`], with what `logs` gives).
async fn poll_ready<S, L>(
    backend: &'static str,
    base_url: &str,
    budget: Duration,
    every: Duration,
    mut stopped: impl FnMut(String) -> S,
    logs: impl FnOnce() -> L,
) -> Result<(), StackError>
where
    S: Future<Output = Option<StackError>>,
    L: Future<Output = String>,
{
    let url = format!("{base_url}/ready");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        // A proxy from the environment must not see (or break) loopback traffic.
        .no_proxy()
        .build()
        .map_err(|err| StackError::Start {
            backend,
            what: format!("cannot build an HTTP client: {err}"),
        })?;
    let clock = Instant::now();
    loop {
        let last = match http.get(&url).send().await {
            Ok(answer) if answer.status() == reqwest::StatusCode::OK => return Ok(()),
            Ok(answer) => format!("HTTP {}", answer.status()),
            Err(err) => crate::error::chain(&err),
        };
        if let Some(gone) = stopped(format!("before {url} answered 200")).await {
            return Err(gone);
        }
        if clock.elapsed() >= budget {
            return Err(StackError::NotReady {
                url,
                waited: clock.elapsed(),
                last,
                logs: logs().await,
            });
        }
        tokio::time::sleep(every).await;
    }
}

/// Start the stack as `opts` says and wait until the service answers `/ready`.
///
/// In [`Backend::Auto`], a preflight (engine ping with a timeout, then each image inspected
/// locally) decides: Docker when it passes, else embedded with a note saying why. Must run
/// inside a tokio runtime; the returned [`Stack`] must be stopped or dropped inside it too.
pub async fn start(opts: &StackOptions) -> Result<Stack, StackError> {
    let clock = Instant::now();
    let (backend, started) = match opts.backend {
        Backend::Docker => {
            docker::preflight(&opts.images, docker::PREFLIGHT_TIMEOUT)
                .await
                .map_err(StackError::DockerUnavailable)?;
            (Backend::Docker, docker::start(opts).await?)
        }
        Backend::Embedded => (Backend::Embedded, start_embedded(opts, None).await?),
        Backend::Auto => match docker::preflight(&opts.images, docker::PREFLIGHT_TIMEOUT).await {
            Ok(()) => {
                let mut started = docker::start(opts).await?;
                started
                    .notes
                    .insert(0, "auto: docker engine and images present".to_owned());
                (Backend::Docker, started)
            }
            Err(why) => {
                let note = format!("auto: docker cannot run ({why}); using the embedded backend");
                let mut started = start_embedded(opts, Some(why)).await?;
                started.notes.insert(0, note);
                (Backend::Embedded, started)
            }
        },
    };
    Ok(Stack {
        backend,
        started_in: clock.elapsed(),
        started,
    })
}

/// The embedded backend's entry point; `docker` says why `auto` did not choose Docker.
async fn start_embedded(
    opts: &StackOptions,
    _docker: Option<DockerUnavailable>,
) -> Result<Started, StackError> {
    embedded::start(opts).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_image(input: &str, expect: Option<(&str, &str)>) {
        let got = ImageRef::parse(input).ok();
        let got = got.as_ref().map(|i| (i.name(), i.tag()));
        assert_eq!(got, expect, "parsing `{input}`");
    }

    #[test]
    fn image_refs_split_name_and_tag() {
        check_image("postgres:16-alpine", Some(("postgres", "16-alpine")));
        check_image(
            "kneepoint/redis:7-bookworm",
            Some(("kneepoint/redis", "7-bookworm")),
        );
        check_image("redis", Some(("redis", "latest")));
        check_image(
            "localhost:5000/team/svc:1.2",
            Some(("localhost:5000/team/svc", "1.2")),
        );
        check_image("localhost:5000/svc", Some(("localhost:5000/svc", "latest")));
        check_image(" redis:7 ", Some(("redis", "7")));
        check_image("", None);
        check_image("redis:", None);
        check_image(":7", None);
        check_image("redis 7", None);
        check_image("redis@sha256:abc", None);
        check_image("registry/", None);
    }

    #[test]
    fn image_ref_displays_as_descriptor() {
        let image = ImageRef::parse("kneepoint/postgres:15-bookworm").ok();
        assert_eq!(
            image.map(|i| i.to_string()).as_deref(),
            Some("kneepoint/postgres:15-bookworm")
        );
    }

    #[test]
    fn backend_names_round_trip() {
        for backend in [Backend::Auto, Backend::Docker, Backend::Embedded] {
            assert_eq!(backend.as_str().parse::<Backend>().ok(), Some(backend));
        }
        let err = "podman".parse::<Backend>().err().map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("unknown stack backend `podman`"));
    }

    #[test]
    fn default_images_are_the_official_ones() {
        let images = Images::default();
        assert_eq!(images.postgres.to_string(), DEFAULT_POSTGRES_IMAGE);
        assert_eq!(images.redis.to_string(), DEFAULT_REDIS_IMAGE);
        assert_eq!(images.service.to_string(), DEFAULT_SERVICE_IMAGE);
        assert_eq!(DEFAULT_POSTGRES_IMAGE, "postgres:16-alpine");
    }

    #[test]
    fn a_stack_can_move_between_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Stack>();
        send_sync::<StackError>();
    }

    #[test]
    fn embedded_unavailable_says_why_docker_was_not_used() {
        let err = StackError::EmbeddedUnavailable {
            docker: Some(DockerUnavailable::MissingImage {
                image: "postgres:16-alpine".to_owned(),
                role: "postgres",
            }),
        };
        let msg = err.to_string();
        assert!(msg.contains("embedded backend is not available"), "{msg}");
        assert!(msg.contains("`postgres:16-alpine`"), "{msg}");
    }
}
