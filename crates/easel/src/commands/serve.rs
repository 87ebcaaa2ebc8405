//! `easel serve`: the API, workers and triggers in one process, until SIGINT/SIGTERM.

use std::process::ExitCode;

use crate::app::Application;
use crate::config::Config;
use crate::telemetry;

/// Runs the server until a shutdown signal.
pub fn run(config: Config) -> anyhow::Result<ExitCode> {
    telemetry::init(&config.log);
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let app = Application::build(config).await?;
        eprintln!("easel listening on {}", app.base_url());
        let token = app.shutdown_token();
        tokio::spawn(async move {
            shutdown_signal().await;
            tracing::info!("shutdown signal received; draining");
            token.cancel();
        });
        app.run_until_stopped().await
    })?;
    leave(runtime);
    Ok(ExitCode::SUCCESS)
}

/// How long an image or engine computation still running after the drain may hold the
/// process: its job's lease was already released (another worker takes it over), so
/// the process exits rather than wait for a computation that ignores cancellation.
const BLOCKING_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Drops `runtime` without waiting more than [`BLOCKING_GRACE`] for blocking tasks
/// (dropping it would wait for them however long they take).
pub fn leave(runtime: tokio::runtime::Runtime) {
    runtime.shutdown_timeout(BLOCKING_GRACE);
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).expect("SIGTERM handler installs");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}
