//! `SqliteStore`: the embedded metadata database and durable queue. One connection
//! writes (SQLite allows one writer at a time, so a single queue in front of it beats
//! lock contention); a small pool reads. WAL mode lets readers run beside the writer,
//! and several processes may share the file (they wait on each other's locks).

mod account_codes;
mod alarms;
mod audit;
mod deliveries;
mod external;
mod inserter;
mod jobs;
mod objects;
mod queue;
mod reminders;
mod request_log;
mod schema;
mod secrets;
mod tokens;
mod uploads;
mod usage;
mod users;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};

use crate::{StoreError, Wakeups};

/// The SQLite implementation of [`crate::Jobs`], [`crate::Queue`], [`crate::Objects`],
/// [`crate::RequestLog`] and the identity traits ([`crate::IdentityStore`]).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    wakeups: Arc<Wakeups>,
    /// When claims last swept expired, exhausted leases (Unix milliseconds).
    last_reap: Arc<AtomicI64>,
    /// Writes new jobs in groups.
    inserter: Arc<inserter::Inserter>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub async fn open(path: &Path, wakeups: Arc<Wakeups>) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .connect_with(options.clone())
            .await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await?;
        let store = SqliteStore {
            inserter: Arc::new(inserter::Inserter::spawn(writer.clone())),
            writer,
            reader,
            wakeups,
            last_reap: Arc::new(AtomicI64::new(0)),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// The reading pool (the copy to PostgreSQL pages through it).
    pub(crate) fn reader_pool(&self) -> &SqlitePool {
        &self.reader
    }

    /// The signals this store fires.
    pub fn wakeups(&self) -> &Arc<Wakeups> {
        &self.wakeups
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            .execute(&mut *tx)
            .await?;
        let applied: Option<i64> = sqlx::query_scalar("SELECT max(version) FROM schema_version")
            .fetch_one(&mut *tx)
            .await?;
        let applied = applied.unwrap_or(0) as usize;
        if applied > schema::MIGRATIONS.len() {
            return Err(StoreError::SchemaTooNew {
                found: applied as u32,
                supported: schema::MIGRATIONS.len() as u32,
            });
        }
        for (index, migration) in schema::MIGRATIONS.iter().enumerate().skip(applied) {
            sqlx::raw_sql(*migration).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO schema_version (version) VALUES (?)")
                .bind(index as i64 + 1)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Starts a write transaction that takes the database lock up front, so two processes
    /// never deadlock upgrading read locks.
    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
    }
}

/// Maps a unique-constraint violation to [`StoreError::Conflict`].
fn conflict_or(error: sqlx::Error) -> StoreError {
    match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict,
        _ => StoreError::Database(error),
    }
}
