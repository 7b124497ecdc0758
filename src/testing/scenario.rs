//! Scenarios built in code, and a loopback target to aim them at.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::scenario::model::{
    Feeder, HttpMethod, Load, LoadModel, RequestSpec, Scenario, Sla, Target, Transaction,
};
use crate::template::{Template, VarTable};

/// A scenario under construction. It starts as `test` (`test.toml`, no digest) aimed at a closed
/// loopback port (`http://127.0.0.1:9`), with no cap on time or iterations and nothing else.
#[derive(Debug, Clone)]
pub(crate) struct ScenarioBuilder(Scenario);

impl ScenarioBuilder {
    pub(crate) fn new(model: LoadModel) -> Self {
        Self(Scenario {
            name: "test".into(),
            path: "test.toml".into(),
            sha256: String::new(),
            target: Target {
                base_url: "http://127.0.0.1:9".into(),
                headers: vec![],
                timeout: Duration::from_secs(5),
                metrics_url: None,
                reference: false,
            },
            load: Load {
                model,
                max_duration: None,
                max_iterations: None,
            },
            transactions: vec![],
            feeders: vec![],
            slas: vec![],
            compare: crate::compare::CompareSettings::default(),
            vars: VarTable::default(),
        })
    }

    /// Name it `name`, read from `name.toml`.
    pub(crate) fn named(mut self, name: &str) -> Self {
        self.0.name = name.into();
        self.0.path = format!("{name}.toml").into();
        self
    }

    /// The file's digest.
    pub(crate) fn sha256(mut self, sha256: &str) -> Self {
        self.0.sha256 = sha256.into();
        self
    }

    /// Aim it at `base_url`.
    pub(crate) fn at(mut self, base_url: &str) -> Self {
        self.0.target.base_url = base_url.into();
        self
    }

    /// Stop after `max_duration`.
    pub(crate) fn max_duration(mut self, max_duration: Duration) -> Self {
        self.0.load.max_duration = Some(max_duration);
        self
    }

    /// Stop after this many iterations, if any.
    pub(crate) fn max_iterations(mut self, max_iterations: Option<u64>) -> Self {
        self.0.load.max_iterations = max_iterations;
        self
    }

    /// Add transaction `t`: one GET `r` of `path`.
    pub(crate) fn get(mut self, path: &str) -> Self {
        self.0.transactions.push(Transaction {
            name: "t".into(),
            weight: 1,
            think_time: None,
            requests: vec![RequestSpec {
                name: "r".into(),
                method: HttpMethod::Get,
                url: Template::literal(path),
                headers: vec![],
                body: None,
                checks: vec![],
                captures: vec![],
                think_time: None,
            }],
        });
        self
    }

    pub(crate) fn feeders(mut self, feeders: Vec<Feeder>) -> Self {
        self.0.feeders = feeders;
        self
    }

    pub(crate) fn slas(mut self, slas: Vec<Sla>) -> Self {
        self.0.slas = slas;
        self
    }

    pub(crate) fn build(self) -> Scenario {
        self.0
    }
}

/// A loopback target answering `/delay/{ms}` after that many milliseconds, and the number of
/// requests it answered.
pub(crate) async fn delay_target() -> (String, Arc<AtomicU64>) {
    use axum::{Router, extract::Path, routing::get};
    let hits = Arc::new(AtomicU64::new(0));
    let h = hits.clone();
    let app = Router::new().route(
        "/delay/{ms}",
        get(move |Path(ms): Path<u64>| {
            let h = h.clone();
            async move {
                h.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), hits)
}
