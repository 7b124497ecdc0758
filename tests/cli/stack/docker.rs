//! `kneepoint run` on the Docker reference stack with the real reference-service image: the
//! whole path a user takes (stack up, seeded, load, server metrics, teardown), and a service
//! container killed in the middle of a run.
//!
//! They need a Docker engine and the images of `ci/build-images.sh`, the service one included
//! (`KNEEPOINT_TEST_SERVICE_IMAGE`, default `kneepoint/reference-service:local`). Without them
//! they say why and pass, except under `CI=true`, where a missing prerequisite fails them.
//! Each run is found by the PID label kneepoint puts on its containers, so only that run's
//! containers are touched.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kneepoint::results::{RunResults, RunStatus};

use super::super::support::Scenario;

/// The label naming a run on every container and network (`kneepoint::stack::docker`).
const RUN_LABEL: &str = "io.kneepoint.run";
/// The label with the PID of the kneepoint process that started the run.
const PID_LABEL: &str = "io.kneepoint.pid";
/// Upper bound for a stack to come up (image start-up, seeding) in these tests.
const STARTUP: Duration = Duration::from_secs(150);

/// The images to run, or why they cannot run here.
struct StackImages {
    postgres: String,
    redis: String,
    service: String,
}

fn env_or(var: &str, default: &str) -> String {
    std::env::var(var)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| default.to_owned())
}

fn docker(args: &[&str]) -> Result<String, String> {
    let out = Command::new("docker")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run `docker {}`: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(format!(
            "`docker {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn find_images() -> Result<StackImages, String> {
    docker(&["version", "--format", "{{.Server.Version}}"])
        .map_err(|e| format!("no Docker engine: {e}"))?;
    let images = StackImages {
        postgres: env_or("KNEEPOINT_POSTGRES_IMAGE", "kneepoint/postgres:15-bookworm"),
        redis: env_or("KNEEPOINT_REDIS_IMAGE", "kneepoint/redis:7-bookworm"),
        service: env_or(
            "KNEEPOINT_TEST_SERVICE_IMAGE",
            "kneepoint/reference-service:local",
        ),
    };
    for image in [&images.postgres, &images.redis, &images.service] {
        docker(&["image", "inspect", "--format", "{{.Id}}", image]).map_err(|_| {
            format!(
                "image `{image}` is missing: build it with `cargo build --release -p \
                 reference-service && bash ci/build-images.sh`"
            )
        })?;
    }
    Ok(images)
}

/// The images, or `None` after saying why the test does not run; under `CI=true` a missing
/// prerequisite is a failure, not a skip.
fn images_or_skip(test: &str) -> Option<StackImages> {
    match find_images() {
        Ok(images) => Some(images),
        Err(why) if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") => {
            panic!("{test} needs the real reference stack under CI=true: {why}")
        }
        Err(why) => {
            eprintln!("skipping {test}: {why}");
            None
        }
    }
}

/// A `kneepoint run` in the background, its output in files of its working folder.
struct Running {
    child: Child,
    dir: tempfile::TempDir,
}

impl Running {
    fn start(images: &StackImages, scenario: &Scenario) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("scenario.toml"), scenario.as_ref())
            .expect("write scenario");
        let file = |name: &str| std::fs::File::create(dir.path().join(name)).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_kneepoint"))
            .args([
                "run",
                "scenario.toml",
                "--backend",
                "docker",
                "--out",
                "out",
            ])
            .current_dir(dir.path())
            .env("KNEEPOINT_POSTGRES_IMAGE", &images.postgres)
            .env("KNEEPOINT_REDIS_IMAGE", &images.redis)
            .env("KNEEPOINT_SERVICE_IMAGE", &images.service)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(file("stdout.txt"))
            .stderr(file("stderr.txt"))
            .spawn()
            .expect("kneepoint starts");
        Self { child, dir }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.txt")).unwrap_or_default()
    }

    fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    /// The run's containers, `name → state`, found by the PID label.
    fn containers(&self) -> HashMap<String, String> {
        let filter = format!("label={PID_LABEL}={}", self.child.id());
        docker(&[
            "ps",
            "-a",
            "--filter",
            &filter,
            "--format",
            "{{.Names}} {{.State}}",
        ])
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(name, state)| (name.to_owned(), state.to_owned()))
        .collect()
    }

    /// Wait until the run's three containers run; returns the run id (from the labels).
    fn wait_for_stack(&mut self) -> String {
        let clock = Instant::now();
        loop {
            let containers = self.containers();
            let running = containers.values().filter(|s| *s == "running").count();
            if running == 3 {
                let service = containers
                    .keys()
                    .find(|n| n.ends_with("-service"))
                    .expect("a service container");
                let format = format!("{{{{ index .Config.Labels \"{RUN_LABEL}\" }}}}");
                return docker(&["inspect", "--format", &format, service]).expect("run label");
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "kneepoint exited ({status}) before its stack ran; stderr:\n{}",
                    self.stderr()
                );
            }
            assert!(
                clock.elapsed() < STARTUP,
                "the stack did not come up within {STARTUP:?} ({containers:?}); stderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Wait until the stderr says the stack is up and the load is about to start.
    fn wait_for_load(&mut self) {
        let clock = Instant::now();
        while !self.stderr().contains("reference stack (docker) up in") {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("kneepoint exited ({status}); stderr:\n{}", self.stderr());
            }
            assert!(clock.elapsed() < STARTUP, "stderr:\n{}", self.stderr());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Wait for the exit code; kill the process (this one, by its handle) past `limit`.
    fn wait(&mut self, limit: Duration) -> i32 {
        let clock = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.code().unwrap_or(-1);
            }
            if clock.elapsed() > limit {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "kneepoint did not finish within {limit:?}; stderr:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn results(&self) -> RunResults {
        let path = self.out().join("results.json");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("no {} ({e}); stderr:\n{}", path.display(), self.stderr()));
        serde_json::from_str(&text).expect("results.json is a RunResults")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // A failed assertion must not leave the process (and its stack) running.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Containers and networks still labelled with the run id.
fn leftovers(run_id: &str) -> String {
    let filter = format!("label={RUN_LABEL}={run_id}");
    let containers = docker(&["ps", "-aq", "--filter", &filter]).expect("docker ps");
    let networks = docker(&["network", "ls", "-q", "--filter", &filter]).expect("network ls");
    format!("{containers}{networks}")
}

/// The host addresses a container's ports are published on.
fn published_host_ips(container: &str) -> Vec<String> {
    let json = docker(&[
        "inspect",
        "--format",
        "{{json .NetworkSettings.Ports}}",
        container,
    ])
    .expect("inspect ports");
    let ports: HashMap<String, Option<Vec<HashMap<String, String>>>> =
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("ports of {container}: {e}: {json}"));
    ports
        .values()
        .flatten()
        .flatten()
        .filter_map(|binding| binding.get("HostIp").cloned())
        .collect()
}

/// Reads of seeded items by id with the fixed demo account; every one must be a 200 with a body.
fn scenario(duration: &str) -> Scenario {
    Scenario::reference("docker-stack")
        .with("timeout = \"5s\"")
        .load(&format!(
            "users = 4\nduration = \"{duration}\"\nthink_time = \"20ms..60ms\""
        ))
        .transaction("item")
        .request("item by id", "/api/items/{{ random(1, 25) }}")
        .with(
            r#"headers = { x-api-key = "kp_pro_demo" }
check = { status = 200, json_exists = ["$.id", "$.title"] }"#,
        )
}

#[test]
fn a_run_on_the_real_docker_stack_scrapes_the_server_and_leaves_nothing() {
    let Some(images) = images_or_skip("the Docker end-to-end run") else {
        return;
    };
    let clock = Instant::now();
    let mut run = Running::start(&images, &scenario("7s"));
    let run_id = run.wait_for_stack();
    for (name, _) in run.containers() {
        let ips = published_host_ips(&name);
        assert!(!ips.is_empty(), "{name} publishes no port");
        assert!(
            ips.iter().all(|ip| ip == "127.0.0.1"),
            "{name} is published on {ips:?}, not only on 127.0.0.1"
        );
    }
    let code = run.wait(Duration::from_secs(120));
    let stderr = run.stderr();
    assert_eq!(code, 0, "exit code; stderr:\n{stderr}");
    assert!(
        stderr.contains("reference stack (docker) up in"),
        "{stderr}"
    );

    let results = run.results();
    assert_eq!(results.status, RunStatus::Completed);
    assert_eq!(results.backend, "docker");
    assert!(
        results.target.starts_with("http://127.0.0.1:"),
        "{}",
        results.target
    );
    let overall = results.overall().expect("an overall scope");
    assert!(overall.stats.requests > 20, "{:?}", overall.stats);
    // Every item read found its row: the database was seeded before the load.
    assert_eq!(
        overall.status_codes.get("200").copied(),
        Some(overall.stats.requests),
        "{:?}",
        overall.status_codes
    );
    assert!(overall.errors.is_empty(), "{:?}", overall.errors);
    let series = |name: &str| {
        results
            .server_metrics
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| {
                let names: Vec<_> = results.server_metrics.iter().map(|s| &s.name).collect();
                panic!("no server series `{name}` in {names:?}")
            })
    };
    let hits = series("cache_hit_ratio");
    assert!(!hits.points.is_empty());
    assert!(
        hits.points.iter().all(|&(_, v)| (0.0..=1.0).contains(&v)),
        "{:?}",
        hits.points
    );
    // 25 ids read over and over: after the first misses, Redis serves most of them.
    let last = hits.points.last().map_or(0.0, |&(_, v)| v);
    assert!(last > 0.5, "cache hit ratio {:?}", hits.points);
    assert!(!series("db_pool_in_use").points.is_empty());

    let left = leftovers(&run_id);
    assert!(left.is_empty(), "left behind by run {run_id}: {left}");
    eprintln!(
        "docker end-to-end run took {:.1} s",
        clock.elapsed().as_secs_f64()
    );
}

#[test]
fn killing_the_service_container_fails_the_run_and_keeps_what_was_measured() {
    let Some(images) = images_or_skip("the killed-service run") else {
        return;
    };
    let mut run = Running::start(&images, &scenario("60s"));
    let run_id = run.wait_for_stack();
    run.wait_for_load();
    std::thread::sleep(Duration::from_secs(3));
    let service = format!("kneepoint-{run_id}-service");
    docker(&["kill", &service]).expect("docker kill");
    let killed_at = Instant::now();
    let code = run.wait(Duration::from_secs(90));
    let stopped_after = killed_at.elapsed();
    let stderr = run.stderr();
    assert_eq!(code, 3, "exit code; stderr:\n{stderr}");
    assert!(
        stderr.contains("went down") && stderr.contains(&service),
        "{stderr}"
    );
    // The load stops at once rather than hammering a dead port until the 60 s are over.
    assert!(stopped_after < Duration::from_secs(30), "{stopped_after:?}");

    let results = run.results();
    match &results.status {
        RunStatus::Failed { reason } => {
            assert!(reason.contains(&service), "{reason}");
            assert!(reason.contains("exited (code 137)"), "{reason}");
        }
        other => panic!("status {other:?}"),
    }
    let overall = results.overall().expect("an overall scope");
    assert!(overall.stats.requests > 0, "{:?}", overall.stats);
    assert!(
        overall.status_codes.get("200").copied().unwrap_or(0) > 0,
        "{:?}",
        overall.status_codes
    );
    assert!(results.duration_s < 40.0, "{}", results.duration_s);
    for report in ["summary.csv", "report.html"] {
        assert!(run.out().join(report).exists(), "no {report}");
    }
    let left = leftovers(&run_id);
    assert!(left.is_empty(), "left behind by run {run_id}: {left}");
}
