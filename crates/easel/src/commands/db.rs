//! `easel db`: the metadata database's tools. `migrate` brings the schema of the
//! configured database (`storage.database_url`) up to date and exits, so a deployment
//! can migrate once before starting many processes (each start migrates too, guarded so
//! that processes starting together migrate once).

use std::process::ExitCode;
use std::sync::Arc;

use easel_store::Wakeups;

use crate::app::open_metadata;
use crate::config::Config;
use crate::telemetry;

/// Migrates the configured database and reports it.
pub fn migrate(config: Config) -> anyhow::Result<ExitCode> {
    telemetry::init(&config.log);
    let shown = config.storage.database()?.display();
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(open_metadata(&config, Arc::new(Wakeups::default())))?;
    eprintln!("the schema of {shown} is up to date");
    Ok(ExitCode::SUCCESS)
}
