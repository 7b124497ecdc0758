//! Embedded backend: the reference service in this process, on the current tokio runtime, with
//! SQLite and in-process cache, rate limiter and job queue instead of PostgreSQL and Redis.
//!
//! Invariants: the service listens on 127.0.0.1 only (an ephemeral port); `stop` stops accepting,
//! lets in-flight requests finish, stops the queue workers and returns once the listener is
//! closed; dropping the handle without `stop` still signals the same graceful shutdown. The
//! database is a temporary file removed when the service's state goes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use super::{HealthCheck, Running, StackError, StackOptions, Started};
use crate::error::chain;

/// Upper bound for a graceful stop (in-flight requests, queue grace period).
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

fn start_failed(what: String) -> StackError {
    StackError::Start {
        backend: "embedded",
        what,
    }
}

/// The running in-process service.
struct EmbeddedStack {
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
    /// Set by the server task when it ends, with how it ended.
    ended: watch::Receiver<Option<String>>,
}

impl Running for EmbeddedStack {
    fn stop(mut self: Box<Self>) -> BoxFuture<'static, ()> {
        let shutdown = self.shutdown.take();
        let server = self.server.take();
        Box::pin(async move {
            if let Some(tx) = shutdown {
                let _ = tx.send(());
            }
            if let Some(server) = server {
                let abort = server.abort_handle();
                match tokio::time::timeout(STOP_TIMEOUT, server).await {
                    Ok(Ok(Ok(()))) => {}
                    Ok(Ok(Err(err))) => {
                        tracing::warn!(%err, "embedded service ended with an error")
                    }
                    Ok(Err(err)) => tracing::warn!(%err, "embedded service task failed"),
                    Err(_) => {
                        tracing::warn!("embedded service did not stop in {STOP_TIMEOUT:?}");
                        abort.abort();
                    }
                }
            }
        })
    }

    fn health(&self) -> HealthCheck {
        let ended = self.ended.clone();
        Arc::new(move || {
            let ended = ended.clone();
            Box::pin(async move {
                if let Some(how) = ended.borrow().as_ref() {
                    return Err(how.clone());
                }
                // The sender goes with the server task: gone without a word means it panicked
                // or was aborted.
                match ended.has_changed() {
                    Ok(_) => Ok(()),
                    Err(_) => Err("the embedded service's task ended".to_owned()),
                }
            })
        })
    }
}

impl Drop for EmbeddedStack {
    fn drop(&mut self) {
        // Cannot wait here; the server task shuts itself down gracefully once signalled.
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Start the service in-process and wait until it answers `/ready`.
pub(crate) async fn start(opts: &StackOptions) -> Result<Started, StackError> {
    let clock = Instant::now();
    // Service settings from the environment apply (RATE_LIMIT_*, QUEUE_*), as for the binary.
    let mut config =
        <reference_service::Config as clap::Parser>::try_parse_from(["reference-service"])
            .map_err(|err| start_failed(format!("invalid service configuration: {err}")))?;
    config.seed_items = opts.seed_items;
    config.rate_limits = if opts.rate_limits {
        reference_service::RateLimitMode::On
    } else {
        reference_service::RateLimitMode::Off
    };
    let budget = opts.startup_timeout;
    let state = tokio::time::timeout(budget, reference_service::embedded::connect(&config))
        .await
        .map_err(|_| start_failed(format!("seeding did not finish within {budget:?}")))?
        .map_err(|err| start_failed(chain(&err)))?;
    let seeded = clock.elapsed();
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .map_err(|err| start_failed(format!("cannot listen on 127.0.0.1: {err}")))?;
    let addr = listener
        .local_addr()
        .map_err(|err| start_failed(format!("no local address: {err}")))?;
    let (tx, rx) = oneshot::channel::<()>();
    let (ended_tx, ended) = watch::channel(None);
    let server = tokio::spawn(async move {
        let result = reference_service::server::serve(listener, state, async {
            let _ = rx.await;
        })
        .await;
        let how = match &result {
            Ok(()) => "the embedded service stopped".to_owned(),
            Err(err) => format!("the embedded service failed: {}", chain(err)),
        };
        ended_tx.send_replace(Some(how));
        result
    });
    let running = EmbeddedStack {
        shutdown: Some(tx),
        server: Some(server),
        ended,
    };
    let base_url = format!("http://{addr}");
    if let Err(err) = super::poll_ready(
        "embedded",
        &base_url,
        budget.saturating_sub(clock.elapsed()),
        Duration::from_millis(20),
        |_| std::future::ready(None),
        || std::future::ready(String::new()),
    )
    .await
    {
        Box::new(running).stop().await;
        return Err(err);
    }
    Ok(Started {
        id: format!("embedded-{}-{}", std::process::id(), addr.port()),
        metrics_url: format!("{base_url}/metrics"),
        base_url,
        endpoints: Vec::new(),
        notes: vec![format!(
            "embedded: SQLite + in-process cache/queue/limiter; {} items seeded in {:.1} s, ready in {:.1} s",
            opts.seed_items,
            seeded.as_secs_f64(),
            clock.elapsed().as_secs_f64()
        )],
        running: Box::new(running),
    })
}

#[cfg(test)]
mod tests {
    use super::super::{Backend, ImageRef, Images, StackOptions, start as start_stack};

    fn options(backend: Backend) -> StackOptions {
        StackOptions {
            backend,
            seed_items: 500,
            ..StackOptions::default()
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn embedded_stack_serves_on_loopback_and_stops_leaving_nothing_listening() {
        let stack = start_stack(&options(Backend::Embedded))
            .await
            .expect("embedded stack starts");
        assert_eq!(stack.backend_name(), "embedded");
        assert!(stack.base_url().starts_with("http://127.0.0.1:"));
        assert_eq!(stack.metrics_url(), format!("{}/metrics", stack.base_url()));
        assert!(stack.notes().iter().any(|n| n.contains("SQLite")));
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client");
        let ready = http
            .get(format!("{}/ready", stack.base_url()))
            .send()
            .await
            .expect("ready");
        assert_eq!(ready.status(), reqwest::StatusCode::OK);
        let page: serde_json::Value = http
            .get(format!("{}/api/items?limit=5", stack.base_url()))
            .send()
            .await
            .expect("items")
            .json()
            .await
            .expect("json");
        assert_eq!(page["data"].as_array().map(Vec::len), Some(5));
        let health = stack.health();
        assert!(health.check().await.is_ok(), "a running stack is healthy");
        let addr = stack.base_url().trim_start_matches("http://").to_owned();
        stack.stop().await;
        assert!(
            tokio::net::TcpStream::connect(&addr).await.is_err(),
            "{addr} still listening"
        );
        // The health handle outlives the stack and says the service is gone.
        let down = health.check().await.err().map(|e| e.to_string());
        assert_eq!(
            down.as_deref(),
            Some("the embedded reference stack went down: the embedded service stopped")
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn auto_without_images_falls_back_to_embedded_and_says_why() {
        let missing = ImageRef::parse("kneepoint/no-such-image:never").expect("image");
        let opts = StackOptions {
            images: Images {
                postgres: missing.clone(),
                redis: missing.clone(),
                service: missing,
            },
            ..options(Backend::Auto)
        };
        let stack = start_stack(&opts).await.expect("auto starts");
        assert_eq!(stack.backend(), Backend::Embedded);
        let first = stack.notes().first().cloned().unwrap_or_default();
        assert!(
            first.contains("docker cannot run") && first.contains("embedded"),
            "{first}"
        );
        stack.stop().await;
    }
}
