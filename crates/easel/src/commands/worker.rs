//! `easel worker`: workers without the API, for scaling out over a shared data store.

use std::process::ExitCode;

use tokio_util::sync::CancellationToken;

use crate::app::{Stores, worker_settings};
use crate::commands::serve::shutdown_signal;
use crate::config::Config;
use crate::telemetry;

/// Runs workers until a shutdown signal, or until the queue is empty with `drain`.
pub fn run(config: Config, drain: bool) -> anyhow::Result<ExitCode> {
    telemetry::init(&config.log);
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let stores = Stores::open(&config).await?;
        let deps = stores.worker_deps(&config).await?;
        let settings = worker_settings(&config);
        if drain {
            let ran = easel_worker::drain(&deps, &settings).await;
            eprintln!("ran {ran} job(s); the queue is empty");
            return anyhow::Ok(());
        }
        let shutdown = CancellationToken::new();
        let pool = easel_worker::spawn_workers(deps, settings, shutdown.clone());
        shutdown_signal().await;
        tracing::info!("shutdown signal received; finishing running jobs");
        shutdown.cancel();
        pool.join().await;
        Ok(())
    })?;
    crate::commands::serve::leave(runtime);
    Ok(ExitCode::SUCCESS)
}
