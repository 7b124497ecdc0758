//! Throwaway PostgreSQL and Redis servers for the integration tests, the embedded backend as
//! the other way to run the service, plus request helpers.
//!
//! Each PostgreSQL test gets its own PostgreSQL cluster (copied from a cached `initdb` template,
//! so start-up takes a fraction of a second) and its own redis-server, both on free loopback
//! ports in temp directories, killed by PID when the test ends. Stopping one therefore cannot
//! disturb another test. Missing binaries fail the test with a hint instead of skipping it.
//! An embedded test needs no server: SQLite in a temp file and in-process cache, limiter, queue.
//!
//! Behaviour that does not depend on the backend is written once as `async fn(Backend)` and run
//! on both with [`on_both_backends!`].

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use reference_service::{AppState, Config, RateLimitMode, app};
use serde_json::Value;
use tempfile::TempDir;
use tower::ServiceExt;

const HINT: &str =
    "run `ci/start-services.sh` (it installs the Debian packages postgresql and redis-server)";

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral loopback port");
    listener.local_addr().expect("local addr").port()
}

fn pg_bin() -> PathBuf {
    if let Ok(dir) = std::env::var("PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut candidates: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            Some((
                e.file_name().to_str()?.parse::<u32>().ok()?,
                e.path().join("bin"),
            ))
        })
        .filter(|(_, bin)| bin.join("initdb").exists())
        .collect();
    candidates.sort();
    match candidates.pop() {
        Some((_, bin)) => bin,
        None => panic!(
            "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin (or $PG_BIN): {HINT}"
        ),
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// PostgreSQL refuses to run as root; as root we run it as the `postgres` system user.
fn postgres_ids() -> Option<(u32, u32)> {
    if !is_root() {
        return None;
    }
    let id = |flag: &str| -> u32 {
        let out = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .expect("run id");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("no `postgres` user to run PostgreSQL as: {HINT}"))
    };
    Some((id("-u"), id("-g")))
}

fn as_postgres(cmd: &mut Command, ids: Option<(u32, u32)>) -> &mut Command {
    use std::os::unix::process::CommandExt;
    if let Some((uid, gid)) = ids {
        cmd.uid(uid).gid(gid);
    }
    cmd
}

fn chown(path: &Path, ids: Option<(u32, u32)>) {
    if let Some((uid, gid)) = ids {
        let status = Command::new("chown")
            .arg("-R")
            .arg(format!("{uid}:{gid}"))
            .arg(path)
            .status()
            .expect("run chown");
        assert!(status.success(), "chown {} failed", path.display());
    }
}

/// A data directory made by `initdb` once per machine and copied for each test.
fn template(bin: &Path, ids: Option<(u32, u32)>) -> PathBuf {
    let version = bin
        .parent()
        .and_then(|p| p.file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("pg")
        .to_owned();
    let root = std::env::temp_dir().join(format!("kneepoint-refsvc-pg-template-{version}"));
    if root.join("data").join("PG_VERSION").exists() {
        return root;
    }
    let staging = std::env::temp_dir().join(format!(
        "kneepoint-refsvc-pg-staging-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&staging).expect("create template staging dir");
    chown(&staging, ids);
    let out = as_postgres(
        Command::new(bin.join("initdb"))
            .arg("-D")
            .arg(staging.join("data")),
        ids,
    )
    .args([
        "-U",
        "postgres",
        "-A",
        "trust",
        "-E",
        "UTF8",
        "--no-sync",
        "--locale=C",
    ])
    .output()
    .expect("run initdb");
    assert!(
        out.status.success(),
        "initdb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Another test may have won the race; its template is as good as ours.
    if std::fs::rename(&staging, &root).is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    root
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0)
}

fn stop_child(child: &mut Child, signal: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string())
        .status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A private PostgreSQL server.
pub(crate) struct Postgres {
    child: Option<Child>,
    _dir: TempDir,
    /// Connection URL.
    pub(crate) url: String,
}

impl Postgres {
    pub(crate) fn start() -> Postgres {
        let bin = pg_bin();
        let ids = postgres_ids();
        let template = template(&bin, ids);
        let dir = tempfile::Builder::new()
            .prefix("kneepoint-refsvc-pg")
            .tempdir()
            .expect("temp dir");
        let status = Command::new("chmod")
            .arg("755")
            .arg(dir.path())
            .status()
            .expect("chmod");
        assert!(status.success());
        let data = dir.path().join("data");
        let status = Command::new("cp")
            .arg("-a")
            .arg(template.join("data"))
            .arg(&data)
            .status()
            .expect("copy template");
        assert!(status.success(), "copying the PostgreSQL template failed");
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("postgres.log")).expect("log file");
        let child = as_postgres(Command::new(bin.join("postgres")).arg("-D").arg(&data), ids)
            .args([
                "-p",
                &port.to_string(),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
            ])
            .arg(format!("unix_socket_directories={}", data.display()))
            .args([
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "shared_buffers=16MB",
                "-c",
                "max_connections=60",
            ])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start postgres");
        let mut pg = Postgres {
            child: Some(child),
            _dir: dir,
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = Command::new(bin.join("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()])
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if ready {
                break;
            }
            if let Some(Ok(Some(status))) = pg.child.as_mut().map(Child::try_wait) {
                let log = std::fs::read_to_string(pg._dir.path().join("postgres.log"))
                    .unwrap_or_default();
                panic!("postgres exited with {status}: {log}");
            }
            assert!(
                Instant::now() < deadline,
                "postgres did not become ready in 30 s"
            );
            std::thread::sleep(Duration::from_millis(30));
        }
        pg
    }

    /// Stops the server at once (immediate shutdown), as a crash or outage would.
    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child, "QUIT");
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A private redis-server.
pub(crate) struct Redis {
    child: Option<Child>,
    _dir: TempDir,
    /// Connection URL.
    pub(crate) url: String,
}

impl Redis {
    pub(crate) fn start() -> Redis {
        let dir = tempfile::Builder::new()
            .prefix("kneepoint-refsvc-redis")
            .tempdir()
            .expect("temp dir");
        let port = free_port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--enable-debug-command",
                "yes",
            ])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start redis-server ({e}): {HINT}"));
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not listen in 10 s"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        Redis {
            child: Some(child),
            _dir: dir,
            url: format!("redis://127.0.0.1:{port}"),
        }
    }

    /// Kills the server, as an outage would.
    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Which set of backends a test runs the service on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    /// PostgreSQL and Redis servers.
    Postgres,
    /// SQLite and in-process cache, limiter and queue.
    Embedded,
}

/// Runs a test body `async fn NAME(backend: Backend)` once per backend, as the tests
/// `NAME::postgres` and `NAME::embedded`; further arguments go to `#[tokio::test(..)]`.
macro_rules! on_both_backends {
    ($name:ident) => {
        on_both_backends!($name, flavor = "current_thread");
    };
    ($name:ident, $($flavor:tt)*) => {
        mod $name {
            use crate::support::Backend;

            #[tokio::test($($flavor)*)]
            async fn postgres() {
                super::$name(Backend::Postgres).await
            }

            #[tokio::test($($flavor)*)]
            async fn embedded() {
                super::$name(Backend::Embedded).await
            }
        }
    };
}

/// The servers of a PostgreSQL-backed test.
pub(crate) struct Servers {
    redis: Redis,
    // Declared last so that it drops after the state's pool.
    postgres: Postgres,
}

/// A service under test with its own databases.
pub(crate) struct TestApp {
    pub(crate) backend: Backend,
    pub(crate) state: AppState,
    pub(crate) router: Router,
    // Declared last so that the servers stop after the state's pools are gone.
    servers: Option<Servers>,
}

impl TestApp {
    /// The Redis server (PostgreSQL backend only).
    #[track_caller]
    pub(crate) fn redis(&mut self) -> &mut Redis {
        match self.servers.as_mut() {
            Some(servers) => &mut servers.redis,
            None => panic!("the {:?} backend has no redis server", self.backend),
        }
    }

    /// The PostgreSQL server (PostgreSQL backend only).
    #[track_caller]
    pub(crate) fn postgres(&mut self) -> &mut Postgres {
        match self.servers.as_mut() {
            Some(servers) => &mut servers.postgres,
            None => panic!("the {:?} backend has no postgres server", self.backend),
        }
    }
}

/// Items seeded for each test (small: tests need shape, not volume).
pub(crate) const SEED_ITEMS: u64 = 300;

/// Starts PostgreSQL and Redis, seeds, and builds the service; `tweak` adjusts the config.
pub(crate) async fn start(tweak: impl FnOnce(&mut Config)) -> TestApp {
    start_on(Backend::Postgres, tweak).await
}

/// The test configuration: small seed, fast queue, limits off; `tweak` adjusts it.
fn config(tweak: impl FnOnce(&mut Config)) -> Config {
    let mut config = Config::from_env();
    config.seed_items = SEED_ITEMS;
    config.seed = 7;
    config.rate_limits = RateLimitMode::Off;
    config.db_pool_max = 8;
    config.db_pool_min = 1;
    config.db_acquire_timeout_ms = 1_000;
    config.redis_timeout_ms = 200;
    config.redis_retry_after_ms = 200;
    config.queue_workers = 2;
    config.queue_poll_ms = 20;
    config.queue_time_scale = 0.001;
    config.queue_shutdown_grace_ms = 2_000;
    tweak(&mut config);
    config
}

/// Starts the service on `backend` (and its servers, for PostgreSQL), seeded.
pub(crate) async fn start_on(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestApp {
    let (state, servers) = match backend {
        Backend::Postgres => {
            let (postgres, redis) =
                tokio::task::spawn_blocking(|| (Postgres::start(), Redis::start()))
                    .await
                    .expect("start servers");
            let config = config(|c| {
                c.database_url = postgres.url.clone();
                c.redis_url = redis.url.clone();
                tweak(c);
            });
            let state = AppState::connect(&config)
                .await
                .expect("connect to the test databases");
            (state, Some(Servers { redis, postgres }))
        }
        Backend::Embedded => {
            let state = reference_service::embedded::connect(&config(tweak))
                .await
                .expect("start the embedded backends");
            (state, None)
        }
    };
    TestApp {
        backend,
        router: app(state.clone()),
        state,
        servers,
    }
}

/// A response, decoded.
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Value,
    pub(crate) text: String,
}

impl Reply {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    #[track_caller]
    pub(crate) fn header_u64(&self, name: &str) -> u64 {
        self.header(name)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("header {name} missing or not a number: {:?}", self.headers))
    }

    #[track_caller]
    pub(crate) fn error_code(&self) -> &str {
        self.body["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("not a JSON error: {}", self.text))
    }
}

impl TestApp {
    /// Sends one request through the router (no network).
    pub(crate) async fn call(
        &self,
        method: Method,
        uri: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Reply {
        call(&self.router, method, uri, headers, body).await
    }

    pub(crate) async fn get(&self, uri: &str) -> Reply {
        self.call(Method::GET, uri, &[], None).await
    }

    pub(crate) async fn post(&self, uri: &str, headers: &[(&str, &str)], body: Value) -> Reply {
        self.call(Method::POST, uri, headers, Some(body)).await
    }

    pub(crate) async fn patch(&self, uri: &str, headers: &[(&str, &str)], body: Value) -> Reply {
        self.call(Method::PATCH, uri, headers, Some(body)).await
    }

    /// The `X-Cache` header of the answer to `GET uri`.
    pub(crate) async fn x_cache(&self, uri: &str) -> Option<String> {
        self.get(uri).await.header("x-cache").map(str::to_owned)
    }

    /// `POST /api/auth/login` with an e-mail and password.
    pub(crate) async fn login(&self, email: &str, password: &str) -> Reply {
        let body = serde_json::json!({"email": email, "password": password});
        self.post("/api/auth/login", &[], body).await
    }

    /// `POST /api/exports` as the demo pro account, with an optional body.
    pub(crate) async fn request_export(&self, body: Option<Value>) -> Reply {
        let headers = [("x-api-key", "kp_pro_demo")];
        self.call(Method::POST, "/api/exports", &headers, body)
            .await
    }
}

pub(crate) async fn call(
    router: &Router,
    method: Method,
    uri: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Reply {
    let mut request = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let body = match body {
        Some(json) => {
            request = request.header("content-type", "application/json");
            Body::from(json.to_string())
        }
        None => Body::empty(),
    };
    let response = router
        .clone()
        .oneshot(request.body(body).expect("request"))
        .await
        .expect("router is infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        body,
        text,
    }
}

/// Polls `check` every 20 ms until it returns `Some`, failing after `limit`.
pub(crate) async fn eventually<T, F, Fut>(limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "condition not met within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

impl TestApp {
    pub(crate) async fn get_with(&self, uri: &str, headers: &[(&str, &str)]) -> Reply {
        self.call(Method::GET, uri, headers, None).await
    }
}
