//! `kneepoint stack up`: run the reference stack by hand, e.g. to point a scenario at it.

use std::future::Future;

use crate::stack::{self, StackError, StackOptions};
use crate::{Failure, Outcome};

/// Start the stack, print its URLs, and keep it running until Ctrl-C or SIGTERM (exit 0), then
/// remove everything. Bad backend or image settings are invalid input (2); a stack that cannot
/// start, or a part of it that stops on its own (the rest is removed), fails the command (3).
pub fn up(opts: &StackOptions) -> Result<Outcome, Failure> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|err| Failure::run(miette::miette!("cannot start the runtime: {err}")))?;
    runtime.block_on(serve(opts))
}

fn failure(err: StackError) -> Failure {
    match err {
        StackError::InvalidBackend { .. } | StackError::InvalidImage { .. } => {
            Failure::invalid(err)
        }
        // No engine, a missing image, a start that failed: the run failed (exit 3).
        _ => Failure::run(err),
    }
}

async fn serve(opts: &StackOptions) -> Result<Outcome, Failure> {
    // Handlers go in before the start: Ctrl-C during start-up must clean up, not kill us.
    let shutdown = shutdown_signal()
        .map_err(|err| Failure::run(miette::miette!("cannot listen for signals: {err}")))?;
    tokio::pin!(shutdown);
    eprintln!("starting the reference stack (backend: {})", opts.backend);
    let stack = tokio::select! {
        started = stack::start(opts) => started.map_err(failure)?,
        signal = &mut shutdown => {
            // Dropping the start future removed whatever it had created.
            return Err(Failure::run(miette::miette!(
                "{signal} during start-up: stopped, nothing left running"
            )));
        }
    };
    for note in stack.notes() {
        eprintln!("note: {note}");
    }
    println!("service: {}", stack.base_url());
    println!("metrics: {}", stack.metrics_url());
    for endpoint in stack.endpoints() {
        println!("{}: {}", endpoint.name, endpoint.url);
    }
    eprintln!(
        "stack {} ({}) ready in {:.1} s; Ctrl-C stops it",
        stack.id(),
        stack.backend_name(),
        stack.startup_time().as_secs_f64()
    );
    let health = stack.health();
    tokio::select! {
        signal = shutdown => {
            eprintln!("{signal}: stopping the stack");
            stack.stop().await;
            eprintln!("stopped");
            Ok(Outcome::Passed)
        }
        down = health.wait_down(stack::HEALTH_EVERY) => {
            // The rest of the stack is of no use without the part that stopped.
            eprintln!("the stack went down: removing what is left");
            stack.stop().await;
            Err(failure(down))
        }
    }
}

/// Resolves on the first SIGINT or SIGTERM, with the signal's name. Registered at once.
#[cfg(unix)]
fn shutdown_signal() -> std::io::Result<impl Future<Output = &'static str>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => "interrupted",
            _ = terminate.recv() => "terminated",
        }
    })
}

/// Resolves on Ctrl-C.
#[cfg(not(unix))]
fn shutdown_signal() -> std::io::Result<impl Future<Output = &'static str>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
        "interrupted"
    })
}
