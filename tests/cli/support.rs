//! Test support: a loopback target with controllable latency, and a fluent runner for the binary.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};

/// What the target counted.
#[derive(Debug, Default)]
pub struct Counters {
    /// Every request.
    pub hits: AtomicU64,
    /// Requests to `/me` with the right token.
    pub authorised: AtomicU64,
}

/// A target on 127.0.0.1:<free port>, alive while the test's runtime is.
pub struct Target {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Its counters.
    pub counters: Arc<Counters>,
}

/// Routes: `/delay/{ms}`; `/bimodal` (every 10th request takes 60 ms, others 1 ms);
/// `/status/{code}`; `POST /login` with `{"user": U}` → `{"token": "t-U"}`; `/me` needs
/// `Authorization: Bearer t-…` (401 otherwise) and echoes the user.
pub async fn target() -> Target {
    let counters = Arc::new(Counters::default());
    let app = Router::new()
        .route("/delay/{ms}", get(delay))
        .route("/bimodal", get(bimodal))
        .route("/status/{code}", get(status))
        .route("/login", post(login))
        .route("/me", get(me))
        .with_state(counters.clone());
    serve(app, counters).await
}

async fn delay(State(c): State<Arc<Counters>>, UrlPath(ms): UrlPath<u64>) -> &'static str {
    c.hits.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(ms)).await;
    "ok"
}

async fn bimodal(State(c): State<Arc<Counters>>) -> &'static str {
    let n = c.hits.fetch_add(1, Ordering::SeqCst);
    let ms = if n % 10 == 9 { 60 } else { 1 };
    tokio::time::sleep(Duration::from_millis(ms)).await;
    "ok"
}

async fn status(State(c): State<Arc<Counters>>, UrlPath(code): UrlPath<u16>) -> StatusCode {
    c.hits.fetch_add(1, Ordering::SeqCst);
    StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST)
}

async fn login(
    State(c): State<Arc<Counters>>,
    Json(body): Json<serde_json::Value>,
) -> Json<serde_json::Value> {
    c.hits.fetch_add(1, Ordering::SeqCst);
    let user = body["user"].as_str().unwrap_or("nobody").to_owned();
    Json(serde_json::json!({ "token": format!("t-{user}"), "user": user }))
}

async fn me(
    State(c): State<Arc<Counters>>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, StatusCode> {
    c.hits.fetch_add(1, Ordering::SeqCst);
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    match auth.strip_prefix("Bearer t-") {
        Some(user) => {
            c.authorised.fetch_add(1, Ordering::SeqCst);
            Ok(Json(serde_json::json!({ "user": user })))
        }
        None => Err(StatusCode::UNAUTHORIZED),
    }
}

/// A closed-model scenario named `name`: `users` users for at most 60 s and `iterations`
/// iterations of one transaction `t` with one GET request `r` to `path`, then `extra` (SLAs…).
pub fn closed_scenario(
    name: &str,
    url: &str,
    path: &str,
    users: u32,
    iterations: u64,
    extra: &str,
) -> String {
    format!(
        r#"
name = "{name}"
[target]
base_url = "{url}"
[load]
users = {users}
duration = "60s"
iterations = {iterations}
[[transaction]]
name = "t"
[[transaction.request]]
name = "r"
path = "{path}"
{extra}"#
    )
}

/// A scenario named `name` of one transaction `t` with one GET request `r` to `path`, loaded
/// as the `load` lines say (the body of `[load]`).
pub fn one_request(name: &str, url: &str, load: &str, path: &str) -> String {
    format!(
        r#"
name = "{name}"
[target]
base_url = "{url}"
[load]
{load}
[[transaction]]
name = "t"
[[transaction.request]]
name = "r"
path = "{path}"
"#
    )
}

/// `kneepoint run s.toml --out out` on this scenario text (`--quiet` unless the summary is
/// wanted).
pub async fn run_scenario(scenario: &str, quiet: bool) -> Finished {
    let mut args = vec!["run", "s.toml", "--out", "out"];
    if quiet {
        args.push("--quiet");
    }
    Kneepoint::new()
        .file("s.toml", scenario)
        .args(&args)
        .run()
        .await
}

/// A `kneepoint` invocation being assembled.
pub struct Kneepoint {
    dir: tempfile::TempDir,
    args: Vec<String>,
}

/// What a finished invocation left.
pub struct Finished {
    /// Exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// The `--out` folder.
    pub out: PathBuf,
    _dir: tempfile::TempDir,
}

impl Kneepoint {
    /// A fresh working folder.
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
            args: Vec::new(),
        }
    }

    /// The working folder (scenario files and `out/` live here).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Write a file into the working folder.
    pub fn file(self, name: &str, text: &str) -> Self {
        std::fs::write(self.dir.path().join(name), text).expect("write test file");
        self
    }

    /// Add arguments.
    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|a| (*a).to_owned()));
        self
    }

    /// Run in the working folder (off the async runtime, so the in-test target keeps serving).
    pub async fn run(self) -> Finished {
        let dir = self.dir.path().to_owned();
        let args = self.args.clone();
        let output: Output = tokio::task::spawn_blocking(move || {
            std::process::Command::new(binary())
                .args(&args)
                .current_dir(&dir)
                .output()
                .expect("kneepoint runs")
        })
        .await
        .expect("join");
        Finished {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            out: self.dir.path().join("out"),
            _dir: self.dir,
        }
    }
}

/// The `kneepoint` under test: `KNEEPOINT_BIN` when set (`ci/test.sh` builds the release binary
/// and points here, so the timing tests measure the engine as users run it), else the test
/// profile's build.
pub fn binary() -> PathBuf {
    std::env::var_os("KNEEPOINT_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_kneepoint")))
}

impl Finished {
    /// The results file as JSON.
    pub fn results(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.out.join("results.json"))
            .unwrap_or_else(|e| panic!("no results.json ({e}); stderr:\n{}", self.stderr));
        serde_json::from_str(&text).expect("results.json is JSON")
    }

    /// A scope of the results by name.
    pub fn scope(&self, name: &str) -> serde_json::Value {
        self.results()["scopes"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["name"] == name).cloned())
            .unwrap_or_else(|| panic!("no scope `{name}`"))
    }

    /// Assert the exit code, showing the output when it differs.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// Serve `app` on 127.0.0.1:<free port> for as long as the test's runtime lives.
async fn serve(app: Router, counters: Arc<Counters>) -> Target {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let url = format!("http://{}", listener.local_addr().expect("local addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    Target { url, counters }
}

/// A target with a built-in contention limit, on 127.0.0.1:<free port>: `/contended` serves at
/// most `permits` requests at once, each holding its permit for `service` (later ones queue).
/// Throughput saturates near `permits / service`; beyond `permits` concurrent clients latency
/// grows linearly with them.
pub(crate) async fn contended_target(permits: usize, service: Duration) -> Target {
    let counters = Arc::new(Counters::default());
    let gate = Arc::new(tokio::sync::Semaphore::new(permits));
    let c = counters.clone();
    let app = Router::new().route(
        "/contended",
        get(move || {
            let (c, gate) = (c.clone(), gate.clone());
            async move {
                c.hits.fetch_add(1, Ordering::SeqCst);
                // Closed only when dropped, which this target never does.
                let Ok(_permit) = gate.acquire().await else {
                    return StatusCode::SERVICE_UNAVAILABLE;
                };
                tokio::time::sleep(service).await;
                StatusCode::OK
            }
        }),
    );
    serve(app, counters).await
}

/// A target whose `/freeze` route answers in about 1 ms, except during a freeze of length
/// `freeze` at the end of every `period`, when it holds every request until the freeze ends (a
/// request arriving during a freeze is answered when it ends, as after a stop-the-world pause).
///
/// The period clock starts at the target's first request, so a run's phase is deterministic:
/// window k covers [first + k·period + (period − freeze), first + (k+1)·period). Counts hits.
pub async fn freezing_target(freeze: Duration, period: Duration) -> Target {
    freezing_target_at(freeze, period, period.saturating_sub(freeze)).await
}

/// [`freezing_target`] with the freeze `offset` into each period: window k covers
/// [first + k·period + offset, first + k·period + offset + freeze).
pub async fn freezing_target_at(freeze: Duration, period: Duration, offset: Duration) -> Target {
    assert!(
        !period.is_zero() && offset + freeze <= period,
        "the freeze (offset {offset:?}, length {freeze:?}) must fit in the period {period:?}"
    );
    let counters = Arc::new(Counters::default());
    let first = Arc::new(std::sync::OnceLock::<tokio::time::Instant>::new());
    let c = counters.clone();
    let app = Router::new().route(
        "/freeze",
        get(move || {
            let (c, first) = (c.clone(), first.clone());
            async move {
                let now = tokio::time::Instant::now();
                c.hits.fetch_add(1, Ordering::SeqCst);
                let first = *first.get_or_init(|| now);
                let since = now.saturating_duration_since(first).as_nanos();
                // Less than `period`, so it fits in u64 nanoseconds for any sane period.
                let into = u64::try_from(since % period.as_nanos()).expect("phase fits in u64");
                let into = Duration::from_nanos(into);
                if into >= offset && into < offset + freeze {
                    tokio::time::sleep_until(now - into + offset + freeze).await;
                } else {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                "ok"
            }
        }),
    );
    serve(app, counters).await
}
