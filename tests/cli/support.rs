//! Test support: a loopback target with controllable latency, and a fluent runner for the binary.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
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

/// The text of a scenario file, assembled table by table in the order the calls come.
#[derive(Debug, Clone)]
pub struct Scenario(String);

impl Scenario {
    /// A scenario named `name` against the target at `url`.
    pub fn new(name: &str, url: &str) -> Self {
        Self(format!(
            "name = \"{name}\"\n[target]\nbase_url = \"{url}\"\n"
        ))
    }

    /// A scenario named `name` against the reference stack the backend starts.
    pub fn reference(name: &str) -> Self {
        Self(format!("name = \"{name}\"\n[target]\nreference = true\n"))
    }

    /// Lines as they are written: more keys of the table last started, or further tables.
    pub fn with(mut self, lines: &str) -> Self {
        let lines = lines.trim_end_matches('\n');
        if !lines.is_empty() {
            self.0.push_str(lines);
            self.0.push('\n');
        }
        self
    }

    /// The `[load]` table, of these lines.
    pub fn load(self, lines: &str) -> Self {
        self.with("[load]").with(lines)
    }

    /// A closed load: `users` users for at most `duration`, `iterations` iterations in all.
    pub fn closed(self, users: u32, duration: &str, iterations: u64) -> Self {
        self.load(&format!(
            "users = {users}\nduration = \"{duration}\"\niterations = {iterations}"
        ))
    }

    /// A transaction named `name`; its requests follow.
    pub fn transaction(self, name: &str) -> Self {
        self.with(&format!("[[transaction]]\nname = \"{name}\""))
    }

    /// A GET request named `name` to `path`, in the transaction last started.
    pub fn request(self, name: &str, path: &str) -> Self {
        self.with(&format!(
            "[[transaction.request]]\nname = \"{name}\"\npath = \"{path}\""
        ))
    }

    /// A GET request to `path` with no name of its own, in the transaction last started.
    pub fn get(self, path: &str) -> Self {
        self.with(&format!("[[transaction.request]]\npath = \"{path}\""))
    }

    /// The one transaction `t` of one GET request `r` to `path`.
    pub fn one_request(self, path: &str) -> Self {
        self.transaction("t").request("r", path)
    }

    /// An SLA: `metric` within `threshold`, over the whole run.
    pub fn sla(self, metric: &str, threshold: &str) -> Self {
        self.with(&format!(
            "[[sla]]\nmetric = \"{metric}\"\nthreshold = \"{threshold}\""
        ))
    }
}

impl AsRef<str> for Scenario {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<Scenario> for String {
    fn from(scenario: Scenario) -> Self {
        scenario.0
    }
}

/// `kneepoint run s.toml --out out` on this scenario text (`--quiet` unless the summary is
/// wanted).
pub async fn run_scenario(scenario: impl AsRef<str>, quiet: bool) -> Finished {
    let run = Kneepoint::run_of(scenario);
    let run = if quiet { run.args(&["--quiet"]) } else { run };
    run.run().await
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

    /// A fresh working folder holding `scenario` as `s.toml`, set for `kneepoint run s.toml
    /// --out out` (more flags with [`Kneepoint::args`]).
    pub fn run_of(scenario: impl AsRef<str>) -> Self {
        Self::new()
            .file("s.toml", scenario)
            .args(&["run", "s.toml", "--out", "out"])
    }

    /// Write a file into the working folder.
    pub fn file(self, name: &str, text: impl AsRef<str>) -> Self {
        std::fs::write(self.dir.path().join(name), text.as_ref()).expect("write test file");
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
    /// A text file of the `--out` folder (`report.html`, `summary.csv`…).
    #[track_caller]
    pub fn out_text(&self, file: &str) -> String {
        std::fs::read_to_string(self.out.join(file))
            .unwrap_or_else(|e| panic!("no {file} ({e}); stderr:\n{}", self.stderr))
    }

    /// A JSON file of the `--out` folder, parsed (`results.json`, `capacity.json`…).
    #[track_caller]
    pub fn out_json<T: serde::de::DeserializeOwned>(&self, file: &str) -> T {
        serde_json::from_str(&self.out_text(file))
            .unwrap_or_else(|e| panic!("{file} does not parse: {e}"))
    }

    /// The results file as JSON.
    #[track_caller]
    pub fn results(&self) -> serde_json::Value {
        self.out_json("results.json")
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

    /// Assert that standard error says `says`, showing it when it does not.
    #[track_caller]
    pub fn expect_stderr(&self, says: &str) -> &Self {
        assert!(self.stderr.contains(says), "{}", self.stderr);
        self
    }

    /// Assert that standard output says `says`, showing it when it does not.
    #[track_caller]
    pub fn expect_stdout(&self, says: &str) -> &Self {
        assert!(self.stdout.contains(says), "{}", self.stdout);
        self
    }
}

/// Assert that the first error kind of a results scope is `kind` and its first sample says `says`.
#[track_caller]
pub fn expect_first_error(scope: &serde_json::Value, kind: &str, says: &str) {
    let error = &scope["errors"][0];
    assert_eq!(error["kind"], kind, "{error}");
    assert!(
        error["samples"][0]
            .as_str()
            .is_some_and(|s| s.contains(says)),
        "{error}"
    );
}

/// A target of one GET route, `path`, answered by `handler`; every request counts as a hit.
async fn one_route<H, F>(path: &str, handler: H) -> Target
where
    H: Fn() -> F + Clone + Send + Sync + 'static,
    F: Future<Output: IntoResponse> + Send,
{
    let counters = Arc::new(Counters::default());
    let c = counters.clone();
    let app = Router::new().route(
        path,
        get(move || {
            c.hits.fetch_add(1, Ordering::SeqCst);
            handler()
        }),
    );
    serve(app, counters).await
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
    let gate = Arc::new(tokio::sync::Semaphore::new(permits));
    one_route("/contended", move || {
        let gate = gate.clone();
        async move {
            // Closed only when dropped, which this target never does.
            let Ok(_permit) = gate.acquire().await else {
                return StatusCode::SERVICE_UNAVAILABLE;
            };
            tokio::time::sleep(service).await;
            StatusCode::OK
        }
    })
    .await
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
    let first = Arc::new(std::sync::OnceLock::<tokio::time::Instant>::new());
    one_route("/freeze", move || {
        let first = first.clone();
        async move {
            let now = tokio::time::Instant::now();
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
    })
    .await
}
