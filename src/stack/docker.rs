//! Docker backend: PostgreSQL, Redis and the reference service as containers (testcontainers).
//!
//! Each start is a *run* with a unique id: its own bridge network, containers named after the
//! run (the service reaches its dependencies by container name through Docker's DNS) and the
//! same labels on every object: run id, owning PID, host and creation time.
//!
//! Invariants:
//! - ports are published on 127.0.0.1 only and every URL handed out uses 127.0.0.1;
//! - nothing is pulled: [`preflight`] reports a missing image before anything is created;
//! - whatever a run created is removed on `stop`, on drop, when the start fails and when the
//!   start future is cancelled; what a killed process left behind (SIGKILL, abort) is swept by
//!   the next start once it is older than [`STALE_AFTER`] and its owner is gone;
//! - a container that stops on its own (killed, crashed, removed) is reported by the stack's
//!   health check, by name and exit code; an engine that does not answer is not a stopped stack.
//!
//! testcontainers has no reaper (Ryuk), so this module owns the whole clean-up story: the
//! network is created here (labelled) rather than by testcontainers, and removal goes by label.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::future::BoxFuture;
use testcontainers_modules::postgres::Postgres;
use testcontainers_modules::redis::Redis;
use testcontainers_modules::testcontainers::bollard::Docker;
use testcontainers_modules::testcontainers::bollard::errors::Error as BollardError;
use testcontainers_modules::testcontainers::bollard::models::{
    ContainerState, ContainerStateStatusEnum, HostConfig, NetworkCreateRequest, PortBinding,
};
use testcontainers_modules::testcontainers::bollard::query_parameters::{
    ListContainersOptionsBuilder, ListNetworksOptionsBuilder, RemoveContainerOptionsBuilder,
};
use testcontainers_modules::testcontainers::core::IntoContainerPort as _;
use testcontainers_modules::testcontainers::core::client::docker_client_instance;
use testcontainers_modules::testcontainers::runners::AsyncRunner as _;
use testcontainers_modules::testcontainers::{
    ContainerAsync, ContainerRequest, GenericImage, Image, ImageExt as _, TestcontainersError,
};

use super::{Endpoint, HealthCheck, ImageRef, Images, Running, StackError, StackOptions, Started};
use crate::error::chain;

/// How long the preflight waits for the engine to answer (each call).
pub(crate) const PREFLIGHT_TIMEOUT: Duration = Duration::from_secs(5);
/// Leftovers of a dead process younger than this are kept: the PID may belong to another PID
/// namespace (kneepoint inside a container sharing the engine), so age is the second witness.
pub const STALE_AFTER: Duration = Duration::from_secs(10 * 60);
/// Upper bound for removing a run's containers and network.
const CLEANUP_TIMEOUT: Duration = Duration::from_secs(30);
/// Upper bound for one health look at a container; no answer in time counts as running.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);
/// The containers of a run, in start order.
const ROLES: [&str; 3] = ["postgres", "redis", "service"];

/// Label carrying the run id on every container and network of a run.
pub const RUN_LABEL: &str = "io.kneepoint.run";
/// Label carrying the PID of the process that started the run.
pub const PID_LABEL: &str = "io.kneepoint.pid";
/// Label carrying the host name of that process (PIDs mean nothing on another host).
pub const HOST_LABEL: &str = "io.kneepoint.host";
/// Label carrying the run's creation time, seconds since the Unix epoch.
pub const CREATED_LABEL: &str = "io.kneepoint.created";

const PG_USER: &str = "kneepoint";
const PG_PASSWORD: &str = "kneepoint";
const PG_DB: &str = "kneepoint";
const PG_PORT: u16 = 5432;
const REDIS_PORT: u16 = 6379;
const SERVICE_PORT: u16 = 8080;
const LOOPBACK: &str = "127.0.0.1";

/// Why Docker cannot run the stack here.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DockerUnavailable {
    /// No engine answered (no socket, refused, bad DOCKER_HOST).
    #[error("no Docker engine reachable: {detail}")]
    NoEngine {
        /// The client's words.
        detail: String,
    },
    /// The engine did not answer in time.
    #[error("the Docker engine did not answer within {after:?}")]
    Timeout {
        /// How long it was given.
        after: Duration,
    },
    /// An image is not in the engine's local store; kneepoint never pulls.
    #[error("{role} image `{image}` is not present locally (kneepoint never pulls images)")]
    MissingImage {
        /// `name:tag`.
        image: String,
        /// `postgres`, `redis` or `service`.
        role: &'static str,
    },
    /// Inspecting an image failed for another reason.
    #[error("cannot inspect {role} image `{image}`: {detail}")]
    Inspect {
        /// `name:tag`.
        image: String,
        /// `postgres`, `redis` or `service`.
        role: &'static str,
        /// The engine's words.
        detail: String,
    },
}

impl DockerUnavailable {
    /// What the user can do about it.
    pub fn hint(&self) -> String {
        match self {
            Self::NoEngine { .. } | Self::Timeout { .. } => "start the Docker engine or point \
                DOCKER_HOST at it; `--backend embedded` runs without Docker"
                .to_owned(),
            Self::MissingImage { image, role } | Self::Inspect { image, role, .. } => {
                let var = match *role {
                    "postgres" => super::POSTGRES_IMAGE_ENV,
                    "redis" => super::REDIS_IMAGE_ENV,
                    _ => super::SERVICE_IMAGE_ENV,
                };
                format!(
                    "`docker pull {image}`, or build local images with `ci/build-images.sh` \
                     and name them with {var} or `--{role}-image`"
                )
            }
        }
    }
}

/// Check that Docker can run the stack without pulling: the engine answers a ping within
/// `timeout` and every image is in its local store.
pub async fn preflight(images: &Images, timeout: Duration) -> Result<(), DockerUnavailable> {
    let docker = match tokio::time::timeout(timeout, docker_client_instance()).await {
        Ok(Ok(docker)) => docker,
        Ok(Err(err)) => {
            return Err(DockerUnavailable::NoEngine {
                detail: err.to_string(),
            });
        }
        Err(_) => return Err(DockerUnavailable::Timeout { after: timeout }),
    };
    probe(&docker, images, timeout).await
}

/// The preflight against a given client (tests point it at a socket that does not exist).
async fn probe(
    docker: &Docker,
    images: &Images,
    timeout: Duration,
) -> Result<(), DockerUnavailable> {
    match tokio::time::timeout(timeout, docker.ping()).await {
        Ok(Ok(_)) => {}
        Ok(Err(err)) => {
            return Err(DockerUnavailable::NoEngine {
                detail: chain(&err),
            });
        }
        Err(_) => return Err(DockerUnavailable::Timeout { after: timeout }),
    }
    for (role, image) in images.iter() {
        let descriptor = image.to_string();
        match tokio::time::timeout(timeout, docker.inspect_image(&descriptor)).await {
            Ok(Ok(_)) => {}
            Ok(Err(BollardError::DockerResponseServerError {
                status_code: 404, ..
            })) => {
                return Err(DockerUnavailable::MissingImage {
                    image: descriptor,
                    role,
                });
            }
            Ok(Err(err)) => {
                return Err(DockerUnavailable::Inspect {
                    image: descriptor,
                    role,
                    detail: chain(&err),
                });
            }
            Err(_) => return Err(DockerUnavailable::Timeout { after: timeout }),
        }
    }
    Ok(())
}

/// One start: its id, names and labels.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    id: String,
    labels: HashMap<String, String>,
}

impl Run {
    /// A fresh run: `PID-RANDOM`, so names never collide across processes or within one.
    pub(crate) fn new() -> Self {
        let pid = std::process::id();
        let random = uuid::Uuid::new_v4().simple().to_string();
        let id = format!("{pid}-{}", &random[..10]);
        let created = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let labels = HashMap::from([
            (RUN_LABEL.to_owned(), id.clone()),
            (PID_LABEL.to_owned(), pid.to_string()),
            (HOST_LABEL.to_owned(), host_name()),
            (CREATED_LABEL.to_owned(), created.to_string()),
        ]);
        Self { id, labels }
    }

    fn network(&self) -> String {
        format!("kneepoint-{}", self.id)
    }

    fn container(&self, role: &str) -> String {
        format!("kneepoint-{}-{role}", self.id)
    }
}

/// The running containers of one run.
struct DockerStack {
    run_id: String,
    docker: Docker,
    health: HealthCheck,
    service: Option<ContainerAsync<GenericImage>>,
    redis: Option<ContainerAsync<Redis>>,
    postgres: Option<ContainerAsync<Postgres>>,
    guard: CleanupGuard,
}

impl Running for DockerStack {
    fn stop(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let mut this = *self;
            let (service, redis, postgres) =
                (this.service.take(), this.redis.take(), this.postgres.take());
            // Errors here are fine: the label sweep below removes whatever is left.
            let _ = tokio::join!(
                async {
                    if let Some(c) = service {
                        let _ = c.rm().await;
                    }
                },
                async {
                    if let Some(c) = redis {
                        let _ = c.rm().await;
                    }
                },
                async {
                    if let Some(c) = postgres {
                        let _ = c.rm().await;
                    }
                },
            );
            let removed =
                tokio::time::timeout(CLEANUP_TIMEOUT, remove_run(&this.docker, &this.run_id)).await;
            if let Ok(Ok(())) = removed {
                this.guard.disarm();
            }
            // Otherwise the armed guard tries once more (and warns) when `this` drops.
        })
    }

    fn health(&self) -> HealthCheck {
        self.health.clone()
    }
}

/// Checks that every container of `run` still runs, by name.
fn health_check(docker: Docker, run: &Run) -> HealthCheck {
    let containers: Arc<[(&'static str, String)]> = ROLES
        .iter()
        .map(|&role| (role, run.container(role)))
        .collect();
    Arc::new(move || {
        let (docker, containers) = (docker.clone(), containers.clone());
        Box::pin(async move {
            for (role, name) in containers.iter() {
                let inspected =
                    tokio::time::timeout(HEALTH_TIMEOUT, docker.inspect_container(name, None))
                        .await;
                match inspected {
                    Ok(Ok(info)) => {
                        if let Some(why) = info.state.as_ref().and_then(stopped) {
                            return Err(format!("the {role} container `{name}` {why}"));
                        }
                    }
                    Ok(Err(BollardError::DockerResponseServerError {
                        status_code: 404, ..
                    })) => return Err(format!("the {role} container `{name}` was removed")),
                    // The engine did not answer (in time): the state is unknown, not bad.
                    Ok(Err(_)) | Err(_) => {}
                }
            }
            Ok(())
        })
    })
}

/// How a container that no longer runs stopped, e.g. `exited (code 137)`; `None` while it runs
/// (paused counts as running: it can go on).
fn stopped(state: &ContainerState) -> Option<String> {
    use ContainerStateStatusEnum as Status;
    let how = match state.status {
        Some(Status::EXITED) => "exited",
        Some(Status::DEAD) => "is dead",
        Some(Status::REMOVING) => "is being removed",
        None if state.running == Some(false) => "is not running",
        _ => return None,
    };
    let code = state
        .exit_code
        .map(|c| format!(" (code {c})"))
        .unwrap_or_default();
    let oom = if state.oom_killed == Some(true) {
        ", killed for lack of memory"
    } else {
        ""
    };
    Some(format!("{how}{code}{oom}"))
}

impl Drop for DockerStack {
    fn drop(&mut self) {
        // testcontainers' own Drop needs a current tokio runtime (it panics without one) and
        // would leave our network behind; the guard removes containers and network by label
        // on a thread of its own, so it works anywhere.
        if let Some(c) = self.service.take() {
            std::mem::forget(c);
        }
        if let Some(c) = self.redis.take() {
            std::mem::forget(c);
        }
        if let Some(c) = self.postgres.take() {
            std::mem::forget(c);
        }
    }
}

/// Removes a run's containers and network when dropped while armed: the path taken by
/// cancelled starts, dropped stacks and failed `stop`s.
struct CleanupGuard {
    run_id: Option<String>,
}

impl CleanupGuard {
    fn armed(run_id: &str) -> Self {
        Self {
            run_id: Some(run_id.to_owned()),
        }
    }

    fn disarm(&mut self) {
        self.run_id = None;
    }
}

impl Drop for CleanupGuard {
    fn drop(&mut self) {
        if let Some(run_id) = self.run_id.take() {
            remove_run_blocking(run_id);
        }
    }
}

/// Remove a run from synchronous code. A fresh thread with its own runtime and client: the
/// caller may be inside a runtime (blocking it would stall the shared client's connections) or
/// outside any runtime.
fn remove_run_blocking(run_id: String) {
    let worker = std::thread::Builder::new()
        .name("kneepoint-stack-cleanup".to_owned())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| (run_id.clone(), e.to_string()))?;
            runtime
                .block_on(async {
                    let docker = Docker::connect_with_defaults().map_err(|e| chain(&e))?;
                    match tokio::time::timeout(CLEANUP_TIMEOUT, remove_run(&docker, &run_id)).await
                    {
                        Ok(result) => result.map_err(|e| chain(&e)),
                        Err(_) => Err("timed out".to_owned()),
                    }
                })
                .map_err(|e| (run_id, e))
        });
    match worker.map(std::thread::JoinHandle::join) {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err((run_id, err)))) => warn_cleanup(&run_id, &err),
        Ok(Err(_)) => warn_cleanup("?", "the clean-up thread panicked"),
        Err(err) => warn_cleanup("?", &err.to_string()),
    }
}

fn warn_cleanup(run_id: &str, err: &str) {
    // Printed, not returned: this runs on exit paths (drop, stop) that cannot fail, and a
    // silent leak would be worse. The next start sweeps what is left once it is stale.
    eprintln!(
        "warning: could not remove the containers of stack run {run_id}: {err} \
         (remove them with `docker rm -f $(docker ps -aq --filter label={RUN_LABEL}={run_id})`)"
    );
}

fn label_filter(label: &str) -> HashMap<&'static str, Vec<String>> {
    HashMap::from([("label", vec![label.to_owned()])])
}

fn is_gone(err: &BollardError) -> bool {
    // 404: already removed; 409: a removal is already in progress.
    matches!(
        err,
        BollardError::DockerResponseServerError {
            status_code: 404 | 409,
            ..
        }
    )
}

/// Remove every container and network labelled with `run_id`.
async fn remove_run(docker: &Docker, run_id: &str) -> Result<(), BollardError> {
    let filter = label_filter(&format!("{RUN_LABEL}={run_id}"));
    let containers = docker
        .list_containers(Some(
            ListContainersOptionsBuilder::new()
                .all(true)
                .filters(&filter)
                .build(),
        ))
        .await?;
    let removals = containers
        .into_iter()
        .filter_map(|c| c.id)
        .map(|id| async move {
            let opts = RemoveContainerOptionsBuilder::new()
                .force(true)
                .v(true)
                .build();
            match docker.remove_container(&id, Some(opts)).await {
                Err(err) if !is_gone(&err) => Err(err),
                _ => Ok(()),
            }
        });
    for result in futures::future::join_all(removals).await {
        result?;
    }

    let networks = docker
        .list_networks(Some(
            ListNetworksOptionsBuilder::new().filters(&filter).build(),
        ))
        .await?;
    for network in networks.into_iter().filter_map(|n| n.id) {
        // A container whose removal is still in progress keeps the network busy for a moment.
        let mut attempt = 0;
        loop {
            match docker.remove_network(&network).await {
                Ok(())
                | Err(BollardError::DockerResponseServerError {
                    status_code: 404, ..
                }) => break,
                Err(err) if attempt >= 25 => return Err(err),
                Err(_) => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }
    Ok(())
}

/// Whether the labels of an object describe a run to sweep: created more than `older_than`
/// before `now` (seconds since the epoch), on this host, by a process that is gone.
/// Unreadable labels mean "keep": sweeping someone else's containers is worse than a leak.
fn is_stale(
    labels: &HashMap<String, String>,
    now: u64,
    older_than: Duration,
    this_host: &str,
    pid_alive: impl Fn(u32) -> bool,
) -> bool {
    let created = labels
        .get(CREATED_LABEL)
        .and_then(|v| v.parse::<u64>().ok());
    let pid = labels.get(PID_LABEL).and_then(|v| v.parse::<u32>().ok());
    let host = labels.get(HOST_LABEL);
    match (created, pid, host) {
        (Some(created), Some(pid), Some(host)) => {
            now.saturating_sub(created) > older_than.as_secs()
                && host == this_host
                && !pid_alive(pid)
        }
        _ => false,
    }
}

/// Remove the runs left behind by processes that are gone; returns the run ids removed.
async fn sweep_stale(docker: &Docker, older_than: Duration) -> Result<Vec<String>, BollardError> {
    let filter = label_filter(RUN_LABEL);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let this_host = host_name();
    let mut runs: Vec<String> = Vec::new();
    let mut consider = |labels: Option<HashMap<String, String>>| {
        let Some(labels) = labels else { return };
        if let Some(run) = labels.get(RUN_LABEL)
            && !runs.contains(run)
            && is_stale(&labels, now, older_than, &this_host, pid_alive)
        {
            runs.push(run.clone());
        }
    };
    let containers = docker
        .list_containers(Some(
            ListContainersOptionsBuilder::new()
                .all(true)
                .filters(&filter)
                .build(),
        ))
        .await?;
    containers.into_iter().for_each(|c| consider(c.labels));
    let networks = docker
        .list_networks(Some(
            ListNetworksOptionsBuilder::new().filters(&filter).build(),
        ))
        .await?;
    networks.into_iter().for_each(|n| consider(n.labels));
    for run in &runs {
        remove_run(docker, run).await?;
    }
    Ok(runs)
}

fn pid_alive(pid: u32) -> bool {
    // Without /proc (not Linux) liveness is unknown: say alive, so nothing is swept.
    !Path::new("/proc/self").exists() || Path::new(&format!("/proc/{pid}")).exists()
}

fn host_name() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Publish `port` on 127.0.0.1 only, on a free host port. testcontainers' default
/// (PublishAllPorts) binds 0.0.0.0 and ::, reachable from the network.
fn loopback_only(port: u16) -> impl Fn(&mut HostConfig) + Send + Sync + 'static {
    move |host_config: &mut HostConfig| {
        host_config.publish_all_ports = Some(false);
        host_config.port_bindings = Some(HashMap::from([(
            format!("{port}/tcp"),
            Some(vec![PortBinding {
                host_ip: Some(LOOPBACK.to_owned()),
                host_port: Some(String::new()),
            }]),
        )]));
    }
}

fn start_failed(what: String) -> StackError {
    StackError::Start {
        backend: "docker",
        what,
    }
}

fn container_failed(role: &str, image: &ImageRef, err: &TestcontainersError) -> StackError {
    start_failed(format!(
        "{role} container (image `{image}`) did not start: {}",
        chain(err)
    ))
}

/// Start the Docker stack; the caller has run [`preflight`].
pub(crate) async fn start(opts: &StackOptions) -> Result<Started, StackError> {
    start_run(opts, Run::new()).await
}

/// [`start`] with a given run (tests pick the run to check what is left of it).
pub(crate) async fn start_run(opts: &StackOptions, run: Run) -> Result<Started, StackError> {
    let docker = docker_client_instance().await.map_err(|err| {
        StackError::DockerUnavailable(DockerUnavailable::NoEngine {
            detail: err.to_string(),
        })
    })?;
    let mut notes = Vec::new();
    match sweep_stale(&docker, STALE_AFTER).await {
        Ok(runs) if runs.is_empty() => {}
        Ok(runs) => notes.push(format!(
            "removed containers left by {} earlier run(s) of processes that are gone: {}",
            runs.len(),
            runs.join(", ")
        )),
        Err(err) => notes.push(format!(
            "could not sweep stale kneepoint containers: {}",
            chain(&err)
        )),
    }

    // Armed before anything exists: if this future is dropped half-way (Ctrl-C during start),
    // the guard's drop removes whatever was created so far.
    let mut guard = CleanupGuard::armed(&run.id);
    // The inner waits have their own budget from `startup_timeout`; this outer bound only
    // catches an engine call that hangs.
    let outer = opts.startup_timeout + Duration::from_secs(15);
    let result = match tokio::time::timeout(outer, start_containers(&docker, &run, opts)).await {
        Ok(result) => result,
        Err(_) => Err(start_failed(format!(
            "the engine did not finish starting the containers within {outer:?}"
        ))),
    };
    match result {
        Ok(mut containers) => {
            let stack = DockerStack {
                run_id: run.id.clone(),
                health: health_check(docker.clone(), &run),
                docker,
                service: containers.service.take(),
                redis: containers.redis.take(),
                postgres: containers.postgres.take(),
                guard,
            };
            notes.append(&mut containers.notes);
            Ok(Started {
                id: run.id,
                base_url: containers.base_url,
                metrics_url: containers.metrics_url,
                endpoints: containers.endpoints,
                notes,
                running: Box::new(stack),
            })
        }
        Err(err) => {
            // Clean up here, asynchronously, rather than through the guard's blocking path.
            if let Ok(Ok(())) =
                tokio::time::timeout(CLEANUP_TIMEOUT, remove_run(&docker, &run.id)).await
            {
                guard.disarm();
            }
            Err(err)
        }
    }
}

/// What [`start_containers`] produced.
struct Containers {
    base_url: String,
    metrics_url: String,
    endpoints: Vec<Endpoint>,
    notes: Vec<String>,
    service: Option<ContainerAsync<GenericImage>>,
    redis: Option<ContainerAsync<Redis>>,
    postgres: Option<ContainerAsync<Postgres>>,
}

async fn start_containers(
    docker: &Docker,
    run: &Run,
    opts: &StackOptions,
) -> Result<Containers, StackError> {
    let clock = Instant::now();
    let network = run.network();
    docker
        .create_network(NetworkCreateRequest {
            name: network.clone(),
            driver: Some("bridge".to_owned()),
            labels: Some(run.labels.clone()),
            ..Default::default()
        })
        .await
        .map_err(|err| {
            start_failed(format!(
                "cannot create network `{network}`: {}",
                chain(&err)
            ))
        })?;

    let (postgres_name, redis_name) = (run.container("postgres"), run.container("redis"));
    let images = &opts.images;
    let dependency = Dependency {
        run,
        network: &network,
        startup_timeout: opts.startup_timeout,
    };
    let postgres = dependency.request(
        Postgres::default()
            .with_user(PG_USER)
            .with_password(PG_PASSWORD)
            .with_db_name(PG_DB),
        &images.postgres,
        &postgres_name,
        PG_PORT,
    );
    let redis = dependency.request(Redis::default(), &images.redis, &redis_name, REDIS_PORT);
    let (postgres, redis) = tokio::try_join!(
        async {
            postgres
                .start()
                .await
                .map_err(|e| container_failed("postgres", &images.postgres, &e))
        },
        async {
            redis
                .start()
                .await
                .map_err(|e| container_failed("redis", &images.redis, &e))
        },
    )?;
    let dependencies_ready = clock.elapsed();
    let postgres_port = host_port(&postgres, PG_PORT, "postgres").await?;
    let redis_port = host_port(&redis, REDIS_PORT, "redis").await?;

    let mut service = GenericImage::new(
        images.service.name().to_owned(),
        images.service.tag().to_owned(),
    )
    .with_exposed_port(SERVICE_PORT.tcp())
    .with_container_name(run.container("service"))
    .with_network(&network)
    .with_labels(run.labels.clone())
    .with_env_var(
        "DATABASE_URL",
        format!("postgres://{PG_USER}:{PG_PASSWORD}@{postgres_name}:{PG_PORT}/{PG_DB}"),
    )
    .with_env_var("REDIS_URL", format!("redis://{redis_name}:{REDIS_PORT}"))
    .with_env_var("BIND_ADDR", format!("0.0.0.0:{SERVICE_PORT}"))
    .with_env_var("SEED_ITEMS", opts.seed_items.to_string())
    .with_startup_timeout(opts.startup_timeout)
    .with_host_config_modifier(loopback_only(SERVICE_PORT));
    if !opts.rate_limits {
        service = service.with_env_var("RATE_LIMITS", "off");
    }
    let service = service
        .start()
        .await
        .map_err(|e| container_failed("service", &images.service, &e))?;
    let service_port = match host_port(&service, SERVICE_PORT, "service").await {
        Ok(port) => port,
        // A stopped container publishes no port: say that it exited, and why.
        Err(err) => match exited(&service, "before its port was published").await {
            Some(exited) => return Err(exited),
            None => return Err(err),
        },
    };
    let base_url = format!("http://{LOOPBACK}:{service_port}");
    let budget = opts.startup_timeout.saturating_sub(clock.elapsed());
    let svc = &service;
    super::poll_ready(
        "docker",
        &base_url,
        budget,
        Duration::from_millis(150),
        move |when| async move { exited(svc, &when).await },
        || log_tail(svc),
    )
    .await?;

    Ok(Containers {
        metrics_url: format!("{base_url}/metrics"),
        base_url,
        endpoints: vec![
            Endpoint {
                name: "postgres",
                url: format!(
                    "postgres://{PG_USER}:{PG_PASSWORD}@{LOOPBACK}:{postgres_port}/{PG_DB}"
                ),
            },
            Endpoint {
                name: "redis",
                url: format!("redis://{LOOPBACK}:{redis_port}"),
            },
        ],
        notes: vec![format!(
            "docker: postgres and redis ready in {:.1} s, service ready in {:.1} s",
            dependencies_ready.as_secs_f64(),
            clock.elapsed().as_secs_f64()
        )],
        service: Some(service),
        redis: Some(redis),
        postgres: Some(postgres),
    })
}

async fn host_port<I: testcontainers_modules::testcontainers::Image>(
    container: &ContainerAsync<I>,
    port: u16,
    role: &str,
) -> Result<u16, StackError> {
    container.get_host_port_ipv4(port).await.map_err(|err| {
        start_failed(format!(
            "the {role} container has no host port for {port}: {}",
            chain(&err)
        ))
    })
}

/// What the dependency containers (PostgreSQL, Redis) of one run share: the run's labels, its
/// network, the start-up timeout, and a port published on loopback only.
struct Dependency<'a> {
    run: &'a Run,
    network: &'a str,
    startup_timeout: Duration,
}

impl Dependency<'_> {
    /// `image` from the local `image_ref`, named `container`, serving on `port`.
    fn request<I: Image>(
        &self,
        image: I,
        image_ref: &ImageRef,
        container: &str,
        port: u16,
    ) -> ContainerRequest<I> {
        image
            .with_name(image_ref.name())
            .with_tag(image_ref.tag())
            .with_container_name(container)
            .with_network(self.network)
            .with_labels(self.run.labels.clone())
            // Exposes the port even if the image does not; the modifier then binds it to
            // loopback.
            .with_mapped_port(0, port.tcp())
            .with_startup_timeout(self.startup_timeout)
            .with_host_config_modifier(loopback_only(port))
    }
}

/// The error for a service container that is no longer running, with its exit code and last
/// log lines; `None` while it runs.
async fn exited(service: &ContainerAsync<GenericImage>, when: &str) -> Option<StackError> {
    if !matches!(service.is_running().await, Ok(false)) {
        return None;
    }
    let code = service.exit_code().await.ok().flatten();
    let code = code.map_or_else(|| "unknown".to_owned(), |c| c.to_string());
    Some(start_failed(format!(
        "the service container exited (code {code}) {when}{}",
        super::logs_suffix(&log_tail(service).await)
    )))
}

/// The last lines the service wrote, stdout then stderr, for error messages.
async fn log_tail(container: &ContainerAsync<GenericImage>) -> String {
    const LINES: usize = 20;
    let mut text = String::new();
    for bytes in [
        container.stdout_to_vec().await.unwrap_or_default(),
        container.stderr_to_vec().await.unwrap_or_default(),
    ] {
        let all = String::from_utf8_lossy(&bytes);
        let lines: Vec<&str> = all.lines().collect();
        for line in &lines[lines.len().saturating_sub(LINES)..] {
            text.push_str(line);
            text.push('\n');
        }
    }
    text
}

#[cfg(test)]
mod tests {
    //! These tests need a Docker engine and the images of `ci/build-images.sh`; without them
    //! they fail (CI has both). Every run is unique, every wait is bounded.

    use std::process::Command;

    use anyhow::{Context as _, bail, ensure};
    use testcontainers_modules::testcontainers::bollard::API_DEFAULT_VERSION;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;
    use crate::stack::{self, Backend};

    const TEST_TIMEOUT: Duration = Duration::from_secs(240);
    const FAKE_SERVICE_IMAGE: &str = "kneepoint/fake-reference-service:test";

    fn local_image(var: &str, default: &str) -> anyhow::Result<ImageRef> {
        let value = std::env::var(var).unwrap_or_else(|_| default.to_owned());
        Ok(ImageRef::parse(&value)?)
    }

    /// The locally built images (`ci/build-images.sh`), the service as given.
    fn local_images(service: ImageRef) -> anyhow::Result<Images> {
        Ok(Images {
            postgres: local_image(
                super::super::POSTGRES_IMAGE_ENV,
                "kneepoint/postgres:15-bookworm",
            )?,
            redis: local_image(super::super::REDIS_IMAGE_ENV, "kneepoint/redis:7-bookworm")?,
            service,
        })
    }

    fn options(images: Images) -> StackOptions {
        StackOptions {
            backend: Backend::Docker,
            images,
            seed_items: 7,
            rate_limits: false,
            startup_timeout: Duration::from_secs(150),
        }
    }

    fn run_cmd(cmd: &mut Command) -> anyhow::Result<String> {
        let out = cmd
            .output()
            .with_context(|| format!("cannot run {cmd:?}"))?;
        ensure!(
            out.status.success(),
            "{cmd:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    fn docker_cli(args: &[&str]) -> anyhow::Result<String> {
        run_cmd(Command::new("docker").args(args))
    }

    /// The service image for end-to-end tests: `KNEEPOINT_TEST_SERVICE_IMAGE` (e.g. the real
    /// `kneepoint/reference-service:local`) when set, else the stand-in below.
    async fn service_image() -> anyhow::Result<(ImageRef, bool)> {
        match std::env::var("KNEEPOINT_TEST_SERVICE_IMAGE") {
            Ok(image) if !image.trim().is_empty() => Ok((ImageRef::parse(&image)?, false)),
            _ => Ok((fake_service_image().await?, true)),
        }
    }

    /// The stand-in service (`ci/images/fake-reference-service.rs`) built with rustc and put
    /// into an image by `ci/build-images.sh --only-service`, once per test process.
    async fn fake_service_image() -> anyhow::Result<ImageRef> {
        static BUILT: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
        BUILT
            .get_or_try_init(|| async {
                tokio::task::spawn_blocking(|| {
                    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
                    let bin = std::env::temp_dir()
                        .join(format!("kneepoint-fake-service-{}", std::process::id()));
                    run_cmd(
                        Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
                            .args(["--edition", "2021", "-C", "opt-level=1", "-o"])
                            .arg(&bin)
                            .arg(root.join("ci/images/fake-reference-service.rs")),
                    )?;
                    run_cmd(
                        Command::new("bash")
                            .arg(root.join("ci/build-images.sh"))
                            .args(["--only-service", "--service-bin"])
                            .arg(&bin)
                            .env(super::super::SERVICE_IMAGE_ENV, FAKE_SERVICE_IMAGE),
                    )?;
                    let _ = std::fs::remove_file(&bin);
                    anyhow::Ok(())
                })
                .await?
            })
            .await?;
        Ok(ImageRef::parse(FAKE_SERVICE_IMAGE)?)
    }

    /// Container ids and network ids still carrying the run label.
    fn leftovers(run_id: &str) -> anyhow::Result<String> {
        let filter = format!("label={RUN_LABEL}={run_id}");
        let containers = docker_cli(&["ps", "-aq", "--filter", &filter])?;
        let networks = docker_cli(&["network", "ls", "-q", "--filter", &filter])?;
        Ok(format!("{containers}{networks}"))
    }

    /// Fails, naming them, when objects of the run are still there; `when` says after what
    /// (`" after stop"`).
    fn nothing_left(run_id: &str, when: &str) -> anyhow::Result<()> {
        let left = leftovers(run_id)?;
        ensure!(left.is_empty(), "left behind{when}: {left}");
        Ok(())
    }

    /// Drop a started stack and check that what it had created went with it.
    fn dropping_leaves_nothing(stack: stack::Stack, when: &str) -> anyhow::Result<()> {
        let id = stack.id().to_owned();
        ensure!(
            !leftovers(&id)?.is_empty(),
            "the run has no labelled objects"
        );
        drop(stack);
        nothing_left(&id, when)
    }

    /// The host addresses a container's ports are published on, per `docker inspect`.
    fn published_host_ips(container: &str) -> anyhow::Result<Vec<String>> {
        let json = docker_cli(&[
            "inspect",
            "--format",
            "{{json .NetworkSettings.Ports}}",
            container,
        ])?;
        let ports: HashMap<String, Option<Vec<HashMap<String, String>>>> =
            serde_json::from_str(&json).with_context(|| format!("ports of {container}: {json}"))?;
        Ok(ports
            .values()
            .flatten()
            .flatten()
            .filter_map(|binding| binding.get("HostIp").cloned())
            .collect())
    }

    #[track_caller]
    fn check_loopback_only(container: &str) -> anyhow::Result<()> {
        let ips = published_host_ips(container)?;
        ensure!(!ips.is_empty(), "{container} publishes no port");
        ensure!(
            ips.iter().all(|ip| ip == LOOPBACK),
            "{container} is published on {ips:?}, not only on {LOOPBACK}"
        );
        Ok(())
    }

    fn psql(url: &str, sql: &str) -> anyhow::Result<String> {
        run_cmd(
            Command::new("psql")
                .args([url, "--no-psqlrc", "-v", "ON_ERROR_STOP=1", "-tAc", sql])
                .env("PGCONNECT_TIMEOUT", "5"),
        )
    }

    async fn redis_ping(url: &str) -> anyhow::Result<String> {
        let addr = url.trim_start_matches("redis://");
        let exchange = async {
            let mut conn = tokio::net::TcpStream::connect(addr).await?;
            conn.write_all(b"PING\r\n").await?;
            let mut buf = [0u8; 64];
            let n = conn.read(&mut buf).await?;
            anyhow::Ok(String::from_utf8_lossy(&buf[..n]).trim().to_owned())
        };
        tokio::time::timeout(Duration::from_secs(5), exchange)
            .await
            .context("redis PING timed out")?
    }

    async fn http_get(url: &str) -> anyhow::Result<(u16, String)> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .no_proxy()
            .build()?;
        let answer = http.get(url).send().await?;
        Ok((answer.status().as_u16(), answer.text().await?))
    }

    fn endpoint<'a>(stack: &'a stack::Stack, name: &str) -> anyhow::Result<&'a str> {
        stack
            .endpoints()
            .iter()
            .find(|e| e.name == name)
            .map(|e| e.url.as_str())
            .with_context(|| format!("no {name} endpoint in {:?}", stack.endpoints()))
    }

    async fn bounded<T>(test: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
        tokio::time::timeout(TEST_TIMEOUT, test)
            .await
            .context("test timed out")?
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn docker_stack_serves_on_loopback_and_leaves_nothing_after_stop() -> anyhow::Result<()> {
        bounded(async {
            let (service, is_fake) = service_image().await?;
            let opts = options(local_images(service)?);
            let stack = stack::start(&opts).await?;
            let id = stack.id().to_owned();
            eprintln!("docker stack started in {:?}", stack.startup_time());
            eprintln!("notes: {:?}", stack.notes());

            let checks = async {
                ensure!(stack.backend_name() == "docker", "{:?}", stack.backend());
                ensure!(
                    stack.base_url().starts_with("http://127.0.0.1:"),
                    "{}",
                    stack.base_url()
                );
                let (status, _) = http_get(&format!("{}/ready", stack.base_url())).await?;
                ensure!(status == 200, "/ready answered {status}");
                let (status, body) = http_get(stack.metrics_url()).await?;
                ensure!(status == 200, "/metrics answered {status}");
                ensure!(
                    !is_fake || body.contains("fake_seed_items 7"),
                    "SEED_ITEMS not passed: {body}"
                );

                let pg = endpoint(&stack, "postgres")?;
                ensure!(pg.contains("@127.0.0.1:"), "{pg}");
                let sum = psql(
                    pg,
                    "CREATE TABLE t (x int); INSERT INTO t VALUES (40), (2); SELECT sum(x) FROM t",
                )?;
                ensure!(sum.lines().last() == Some("42"), "psql answered {sum:?}");
                let pong = redis_ping(endpoint(&stack, "redis")?).await?;
                ensure!(pong == "+PONG", "redis answered {pong:?}");

                for role in ["postgres", "redis", "service"] {
                    check_loopback_only(&format!("kneepoint-{id}-{role}"))?;
                }
                let env = docker_cli(&[
                    "inspect",
                    "--format",
                    "{{json .Config.Env}}",
                    &format!("kneepoint-{id}-service"),
                ])?;
                ensure!(env.contains("\"RATE_LIMITS=off\""), "{env}");
                ensure!(
                    env.contains(&format!("@kneepoint-{id}-postgres:5432/")),
                    "DATABASE_URL does not name the postgres container: {env}"
                );
                anyhow::Ok(())
            };
            let result = checks.await;
            stack.stop().await;
            result?;
            nothing_left(&id, " after stop")
        })
        .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dropping_a_docker_stack_removes_containers_and_network() -> anyhow::Result<()> {
        bounded(async {
            let opts = options(local_images(fake_service_image().await?)?);
            dropping_leaves_nothing(stack::start(&opts).await?, " after drop")
        })
        .await
    }

    #[test]
    fn a_stack_dropped_outside_any_runtime_is_removed() -> anyhow::Result<()> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let stack = runtime.block_on(bounded(async {
            let opts = options(local_images(fake_service_image().await?)?);
            Ok(stack::start(&opts).await?)
        }))?;
        drop(runtime);
        dropping_leaves_nothing(stack, " after a drop outside a runtime")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_service_that_exits_fails_the_start_and_leaves_nothing() -> anyhow::Result<()> {
        bounded(async {
            // The base image's command (bash without input) exits at once.
            let base = local_image("KNEEPOINT_BASE_IMAGE", "kneepoint/debian-base:bookworm")?;
            let opts = options(local_images(base)?);
            let run = Run::new();
            let id = run.id.clone();
            let err = match start_run(&opts, run).await {
                Ok(_) => bail!("a service that exits was reported ready"),
                Err(err) => err.to_string(),
            };
            ensure!(err.contains("service container exited"), "{err}");
            nothing_left(&id, " after a failed start")
        })
        .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn local_images_honour_the_official_contract() -> anyhow::Result<()> {
        bounded(async {
            let images = local_images(ImageRef::parse("unused:unused")?)?;
            let run = Run::new();
            let docker = docker_client_instance().await?;
            let _guard = CleanupGuard::armed(&run.id);
            let clock = Instant::now();
            let postgres = Postgres::default()
                .with_user("alice")
                .with_password("s3cret")
                .with_db_name("contract")
                .with_init_sql(
                    b"CREATE TABLE seeded (x int); INSERT INTO seeded VALUES (7);".to_vec(),
                )
                .with_name(images.postgres.name())
                .with_tag(images.postgres.tag())
                .with_container_name(run.container("postgres"))
                .with_labels(run.labels.clone())
                .with_startup_timeout(Duration::from_secs(150))
                .with_host_config_modifier(loopback_only(PG_PORT))
                .start()
                .await?;
            eprintln!("postgres ready in {:?}", clock.elapsed());
            let clock = Instant::now();
            let redis = Redis::default()
                .with_name(images.redis.name())
                .with_tag(images.redis.tag())
                .with_container_name(run.container("redis"))
                .with_labels(run.labels.clone())
                .with_startup_timeout(Duration::from_secs(60))
                .with_host_config_modifier(loopback_only(REDIS_PORT))
                .start()
                .await?;
            eprintln!("redis ready in {:?}", clock.elapsed());

            check_loopback_only(&run.container("postgres"))?;
            check_loopback_only(&run.container("redis"))?;
            let pg_port = postgres.get_host_port_ipv4(PG_PORT).await?;
            // Password authentication over TCP as POSTGRES_USER, in POSTGRES_DB, with the
            // /docker-entrypoint-initdb.d script applied.
            let url = format!("postgres://alice:s3cret@127.0.0.1:{pg_port}/contract");
            let seeded = psql(&url, "SELECT x FROM seeded")?;
            ensure!(seeded == "7", "initdb.d script not applied: {seeded:?}");
            let wrong = format!("postgres://alice:wrong@127.0.0.1:{pg_port}/contract");
            ensure!(
                psql(&wrong, "SELECT 1").is_err(),
                "a wrong password was accepted"
            );
            let redis_port = redis.get_host_port_ipv4(REDIS_PORT).await?;
            let pong = redis_ping(&format!("redis://127.0.0.1:{redis_port}")).await?;
            ensure!(pong == "+PONG", "redis answered {pong:?}");

            postgres.rm().await?;
            redis.rm().await?;
            remove_run(&docker, &run.id).await?;
            nothing_left(&run.id, "")
        })
        .await
    }

    /// The image's default command alone (`postgres`, no `-c` flags), as `docker run` gives it:
    /// the entrypoint once handed the temporary server an empty argument, which postgres
    /// refuses, so the image only started when given flags.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_image_starts_without_extra_arguments() -> anyhow::Result<()> {
        use testcontainers_modules::testcontainers::core::WaitFor;
        bounded(async {
            let image = local_images(ImageRef::parse("unused:unused")?)?.postgres;
            let run = Run::new();
            let docker = docker_client_instance().await?;
            let _guard = CleanupGuard::armed(&run.id);
            let started = GenericImage::new(image.name(), image.tag())
                .with_exposed_port(PG_PORT.tcp())
                // The final server logs on stderr; the temporary one (initdb.d) on stdout.
                .with_wait_for(WaitFor::message_on_stderr(
                    "database system is ready to accept connections",
                ))
                .with_env_var("POSTGRES_PASSWORD", "s3cret")
                .with_container_name(run.container("postgres"))
                .with_labels(run.labels.clone())
                .with_startup_timeout(Duration::from_secs(150))
                .with_host_config_modifier(loopback_only(PG_PORT))
                .start()
                .await;
            let result = async {
                let postgres = started.context("the image did not start with no arguments")?;
                let cmd = docker_cli(&[
                    "inspect",
                    "--format",
                    "{{json .Config.Cmd}}",
                    &run.container("postgres"),
                ])?;
                ensure!(cmd == r#"["postgres"]"#, "the command was {cmd}");
                let port = postgres.get_host_port_ipv4(PG_PORT).await?;
                let url = format!("postgres://postgres:s3cret@127.0.0.1:{port}/postgres");
                let answer = psql(&url, "SELECT 40 + 2")?;
                ensure!(answer == "42", "psql answered {answer:?}");
                anyhow::Ok(())
            }
            .await;
            remove_run(&docker, &run.id).await?;
            result
        })
        .await
    }

    fn missing_image() -> anyhow::Result<ImageRef> {
        let tag = uuid::Uuid::new_v4().simple().to_string();
        Ok(ImageRef::parse(&format!("kneepoint/not-built:{tag}"))?)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_missing_image_is_a_clear_error_in_docker_mode() -> anyhow::Result<()> {
        bounded(async {
            let mut images = local_images(missing_image()?)?;
            images.postgres = missing_image()?;
            let missing = images.postgres.to_string();
            let clock = Instant::now();
            let err = match stack::start(&options(images)).await {
                Ok(_) => bail!("started with a missing image"),
                Err(err) => err,
            };
            ensure!(
                matches!(
                    &err,
                    StackError::DockerUnavailable(DockerUnavailable::MissingImage {
                        role: "postgres",
                        ..
                    })
                ),
                "{err:?}"
            );
            let msg = err.to_string();
            ensure!(
                msg.contains(&format!("`{missing}` is not present locally")),
                "{msg}"
            );
            ensure!(msg.contains("never pulls"), "{msg}");
            let hint = match &err {
                StackError::DockerUnavailable(why) => why.hint(),
                _ => String::new(),
            };
            ensure!(hint.contains("KNEEPOINT_POSTGRES_IMAGE"), "{hint}");
            // Decided by the preflight, before anything is created or pulled.
            ensure!(
                clock.elapsed() < Duration::from_secs(20),
                "{:?}",
                clock.elapsed()
            );
            Ok(())
        })
        .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn auto_falls_back_to_embedded_saying_why() -> anyhow::Result<()> {
        bounded(async {
            let missing = missing_image()?;
            let mut opts = options(local_images(missing.clone())?);
            opts.backend = Backend::Auto;
            match stack::start(&opts).await {
                // Once the embedded backend exists, auto runs it and notes why.
                Ok(stack) => {
                    let backend = stack.backend_name();
                    let notes = stack.notes().join("\n");
                    stack.stop().await;
                    ensure!(backend == "embedded", "{backend}");
                    ensure!(notes.contains(&missing.to_string()), "{notes}");
                }
                Err(err) => {
                    let msg = err.to_string();
                    ensure!(
                        matches!(err, StackError::EmbeddedUnavailable { docker: Some(_) }),
                        "{err:?}"
                    );
                    ensure!(msg.contains(&format!("service image `{missing}`")), "{msg}");
                }
            }
            Ok(())
        })
        .await
    }

    #[tokio::test]
    async fn no_engine_is_reported_as_such() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let images = Images::default();

        // Something at the socket path that is not an engine: the ping fails.
        let not_a_socket = dir.path().join("file.sock");
        std::fs::write(&not_a_socket, b"")?;
        let path = not_a_socket.to_string_lossy().into_owned();
        let docker = Docker::connect_with_unix(&path, 2, API_DEFAULT_VERSION)?;
        match probe(&docker, &images, Duration::from_secs(2)).await {
            Err(err @ DockerUnavailable::NoEngine { .. }) => {
                ensure!(
                    err.to_string().starts_with("no Docker engine reachable: "),
                    "{err}"
                );
                ensure!(err.hint().contains("DOCKER_HOST"), "{}", err.hint());
            }
            other => bail!("expected NoEngine, got {other:?}"),
        }

        // An engine that accepts connections and never answers: the ping times out.
        let silent = dir.path().join("silent.sock");
        let _listener = tokio::net::UnixListener::bind(&silent)?;
        let path = silent.to_string_lossy().into_owned();
        let docker = Docker::connect_with_unix(&path, 30, API_DEFAULT_VERSION)?;
        let clock = Instant::now();
        match probe(&docker, &images, Duration::from_millis(500)).await {
            Err(DockerUnavailable::Timeout { .. }) => {}
            other => bail!("expected Timeout, got {other:?}"),
        }
        ensure!(
            clock.elapsed() < Duration::from_secs(5),
            "{:?}",
            clock.elapsed()
        );
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sweep_removes_runs_of_dead_processes_only() -> anyhow::Result<()> {
        bounded(async {
            let docker = docker_client_instance().await?;
            let base = local_image("KNEEPOINT_BASE_IMAGE", "kneepoint/debian-base:bookworm")?;
            let dead_pid = {
                let mut child = Command::new("true").spawn()?;
                let pid = child.id();
                child.wait()?;
                pid
            };
            let an_hour_ago = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() - 3600;
            let nonce = &uuid::Uuid::new_v4().simple().to_string()[..10];
            let make = |run: &str, pid: u32| -> anyhow::Result<()> {
                let labels = [
                    format!("{RUN_LABEL}={run}"),
                    format!("{PID_LABEL}={pid}"),
                    format!("{HOST_LABEL}={}", host_name()),
                    format!("{CREATED_LABEL}={an_hour_ago}"),
                ];
                let label_args: Vec<&str> = labels
                    .iter()
                    .flat_map(|l| ["--label", l.as_str()])
                    .collect();
                let name = format!("kneepoint-{run}");
                let mut net = vec!["network", "create"];
                net.extend(&label_args);
                net.push(&name);
                docker_cli(&net)?;
                let container = format!("kneepoint-{run}-x");
                let mut create = vec!["create", "--name", &container, "--network", &name];
                create.extend(&label_args);
                let image = base.to_string();
                create.extend([image.as_str(), "true"]);
                docker_cli(&create)?;
                Ok(())
            };
            let (dead, live) = (format!("sweep-dead-{nonce}"), format!("sweep-live-{nonce}"));
            make(&dead, dead_pid)?;
            make(&live, std::process::id())?;

            let swept = sweep_stale(&docker, STALE_AFTER).await;
            let live_left = leftovers(&live)?;
            remove_run(&docker, &live).await?;
            remove_run(&docker, &dead).await?;
            // A concurrent start (another test) may sweep the dead run first, so what counts
            // is that it is gone, not who removed it.
            let swept = swept?;
            ensure!(!swept.contains(&live), "a live process's run was swept");
            ensure!(!live_left.is_empty(), "the live run lost its objects");
            ensure!(leftovers(&dead)?.is_empty(), "the dead run was not removed");
            Ok(())
        })
        .await
    }

    #[test]
    fn staleness_needs_age_this_host_and_a_dead_owner() {
        let labels = |created: &str, pid: &str, host: &str| {
            HashMap::from([
                (CREATED_LABEL.to_owned(), created.to_owned()),
                (PID_LABEL.to_owned(), pid.to_owned()),
                (HOST_LABEL.to_owned(), host.to_owned()),
            ])
        };
        let now = 10_000;
        let ten_min = Duration::from_secs(600);
        let dead = |_: u32| false;
        let alive = |_: u32| true;
        assert!(is_stale(
            &labels("9000", "42", "h"),
            now,
            ten_min,
            "h",
            dead
        ));
        assert!(!is_stale(
            &labels("9000", "42", "h"),
            now,
            ten_min,
            "h",
            alive
        ));
        assert!(!is_stale(
            &labels("9500", "42", "h"),
            now,
            ten_min,
            "h",
            dead
        ));
        assert!(!is_stale(
            &labels("9000", "42", "other"),
            now,
            ten_min,
            "h",
            dead
        ));
        assert!(!is_stale(
            &labels("soon", "42", "h"),
            now,
            ten_min,
            "h",
            dead
        ));
        assert!(!is_stale(
            &labels("9000", "-1", "h"),
            now,
            ten_min,
            "h",
            dead
        ));
        assert!(!is_stale(&HashMap::new(), now, ten_min, "h", dead));
    }

    #[test]
    fn stopped_says_how_a_container_ended() {
        use ContainerStateStatusEnum as Status;
        let state = |status, running, exit_code, oom_killed| ContainerState {
            status,
            running,
            exit_code,
            oom_killed,
            ..Default::default()
        };
        let check = |s: ContainerState| stopped(&s);
        assert_eq!(
            check(state(Some(Status::RUNNING), Some(true), Some(0), None)),
            None
        );
        assert_eq!(
            check(state(Some(Status::PAUSED), Some(true), Some(0), None)),
            None
        );
        assert_eq!(check(state(None, None, None, None)), None);
        assert_eq!(
            check(state(
                Some(Status::EXITED),
                Some(false),
                Some(137),
                Some(false)
            ))
            .as_deref(),
            Some("exited (code 137)")
        );
        assert_eq!(
            check(state(
                Some(Status::EXITED),
                Some(false),
                Some(137),
                Some(true)
            ))
            .as_deref(),
            Some("exited (code 137), killed for lack of memory")
        );
        assert_eq!(
            check(state(Some(Status::DEAD), Some(false), None, None)).as_deref(),
            Some("is dead")
        );
        assert_eq!(
            check(state(None, Some(false), Some(1), None)).as_deref(),
            Some("is not running (code 1)")
        );
    }

    #[test]
    fn loopback_modifier_publishes_only_on_127_0_0_1() {
        let mut host_config = HostConfig {
            publish_all_ports: Some(true),
            ..Default::default()
        };
        loopback_only(5432)(&mut host_config);
        assert_eq!(host_config.publish_all_ports, Some(false));
        let bindings = host_config.port_bindings.unwrap_or_default();
        let binding = bindings
            .get("5432/tcp")
            .cloned()
            .flatten()
            .unwrap_or_default();
        assert_eq!(binding.len(), 1);
        assert_eq!(binding[0].host_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(bindings.len(), 1);
    }
}
