//! `easel db`: the metadata database's tools. `migrate` brings the schema of the
//! configured database (`storage.database_url`) up to date and exits, so a deployment
//! can migrate once before starting many processes (each start migrates too, guarded so
//! that processes starting together migrate once). `copy` moves a deployment from
//! SQLite to PostgreSQL: every row, resumable, with the row counts checked.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use easel_store::{PgOptions, SqliteStore, Wakeups, copy_sqlite_to_postgres};

use crate::app::open_metadata;
use crate::config::{Config, Database, StorageConfig};
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

/// Copies every table of the SQLite database `from` into the PostgreSQL database `to`
/// (migrating both first), then compares row counts. Run it again to resume.
pub fn copy(config: Config, from: &str, to: &str) -> anyhow::Result<ExitCode> {
    telemetry::init(&config.log);
    let source = database(&config, from)?;
    let destination = database(&config, to)?;
    let (Database::Sqlite(path), Database::Postgres(url)) = (&source, &destination) else {
        anyhow::bail!(
            "easel db copy moves SQLite to PostgreSQL: --from sqlite://PATH --to postgres://…"
        );
    };
    let runtime = tokio::runtime::Runtime::new()?;
    let copied = runtime.block_on(async {
        let wakeups = Arc::new(Wakeups::default());
        let from = SqliteStore::open(path, wakeups.clone())
            .await
            .with_context(|| format!("cannot open {}", source.display()))?;
        let to = PgOptions::new(url)
            .connect(wakeups)
            .await
            .with_context(|| format!("cannot open {}", destination.display()))?;
        eprintln!("copying {} → {}", source.display(), destination.display());
        let copied = copy_sqlite_to_postgres(&from, &to, |table| {
            eprintln!(
                "  {:<20} {:>9} rows, {:>9} copied now",
                table.table, table.source_rows, table.inserted
            );
        })
        .await
        .context("the copy stopped; run the same command again to resume")?;
        anyhow::Ok(copied)
    })?;
    let differing: Vec<String> = copied
        .iter()
        .filter(|t| t.source_rows != t.destination_rows)
        .map(|t| format!("{} ({} → {})", t.table, t.source_rows, t.destination_rows))
        .collect();
    if !differing.is_empty() {
        anyhow::bail!(
            "row counts differ after the copy: {} (rows written to the source during the copy, or a destination already in use)",
            differing.join(", ")
        );
    }
    let rows: u64 = copied.iter().map(|t| t.source_rows).sum();
    eprintln!(
        "copied: {rows} rows in {} tables, counts verified",
        copied.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// The database a `--from`/`--to` URL names (a bare path is an SQLite file).
fn database(config: &Config, url: &str) -> anyhow::Result<Database> {
    let storage = StorageConfig {
        database_url: Some(url.to_owned()),
        ..config.storage.clone()
    };
    storage.database()
}
