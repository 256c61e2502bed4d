//! Process-level wiring of a binary: logging, the shutdown signal and the exit status.

use std::fmt::Display;
use std::future::Future;
use std::process::ExitCode;

/// The exit status of a `main` that returned `result`: on an error, prints it on one line to
/// stderr as `error: ...` (with `{:#}`, an `anyhow::Error` shows its context chain and never a
/// backtrace, whatever `RUST_BACKTRACE` says) and fails.
pub fn exit_code<E: Display>(result: Result<(), E>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs with `tracing` to stderr (stdout carries the binary's ready line), filtered by
/// `RUST_LOG` (default `info`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// Listens for SIGINT and SIGTERM from now on (a signal that arrives before the returned
/// future is polled is not lost) and returns a future that completes on the first.
///
/// Must be called inside a tokio runtime.
///
/// # Errors
/// The signal handlers cannot be installed.
#[cfg(unix)]
pub fn shutdown_signal() -> std::io::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        tracing::info!("shutdown signal received");
    })
}

/// Returns a future that completes on Ctrl-C.
///
/// # Errors
/// None on this platform; the signature matches the Unix one.
#[cfg(not(unix))]
pub fn shutdown_signal() -> std::io::Result<impl Future<Output = ()>> {
    Ok(async {
        // An error here means no signal will ever come; then run until killed.
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutdown signal received");
    })
}
