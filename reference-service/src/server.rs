//! Serving: bind, serve with peer addresses (for per-IP limits), stop gracefully.
//!
//! Invariant: on SIGTERM or Ctrl-C the listener stops accepting, in-flight requests finish, and
//! then the queue workers stop (finishing or requeueing their jobs).

use std::future::Future;
use std::net::SocketAddr;

use tokio::net::TcpListener;

use crate::config::Config;
use crate::state::{AppState, StartupError};

/// Serves `state` on `listener` until `shutdown` resolves, then stops the workers.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = crate::app(state.clone());
    let result = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    state.shutdown().await;
    result
}

/// Connects, migrates, seeds, then serves on `config.bind_addr` until SIGTERM or Ctrl-C.
pub async fn run(config: Config) -> Result<(), StartupError> {
    let state = AppState::connect(&config).await?;
    let addr = config.bind_addr;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| StartupError::Serve {
            addr: addr.to_string(),
            source,
        })?;
    tracing::info!(%addr, "reference-service listening");
    serve(listener, state, shutdown_signal())
        .await
        .map_err(|source| StartupError::Serve {
            addr: addr.to_string(),
            source,
        })?;
    tracing::info!("reference-service stopped");
    Ok(())
}

/// Resolves on Ctrl-C or (on Unix) SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
    tracing::info!("shutdown signal received");
}
