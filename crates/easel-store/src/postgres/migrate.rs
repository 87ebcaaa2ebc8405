//! Runs the schema's migrations (`schema.rs`) once per database (or schema), however
//! many processes start at the same moment.

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{AssertSqlSafe, Connection, Postgres, Transaction};

use super::schema::MIGRATIONS;
use crate::StoreError;

/// What a migration run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migrated {
    /// The schema version found (0: an empty database).
    pub from: u32,
    /// The schema version now (the newest this binary knows).
    pub to: u32,
}

/// Connects once (no pool, so a wrong password or an unreachable server fails at once
/// with the driver's message) and migrates.
pub(super) async fn run(
    options: &PgConnectOptions,
    schema: Option<&str>,
) -> Result<Migrated, StoreError> {
    let mut connection = PgConnection::connect_with(options).await?;
    let migrated = migrate(&mut connection, schema).await;
    // Closing politely is a courtesy; the outcome is the migration's.
    let _ = connection.close().await;
    migrated
}

/// All missing migrations in one transaction that first takes a transaction-scoped
/// advisory lock: a second process waits on the lock, then finds nothing left to do.
/// PostgreSQL's DDL is transactional, so a failed migration leaves no half-built schema.
async fn migrate(
    connection: &mut PgConnection,
    schema: Option<&str>,
) -> Result<Migrated, StoreError> {
    let mut tx = connection.begin().await?;
    let from = prepare(&mut tx, schema).await?;
    let supported = MIGRATIONS.len() as u32;
    if from > supported {
        return Err(StoreError::SchemaTooNew {
            found: from,
            supported,
        });
    }
    for (version, migration) in (1..).zip(MIGRATIONS).skip(from as usize) {
        sqlx::raw_sql(*migration).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)")
            .bind(version)
            .bind(easel_core::now_millis())
            .execute(&mut *tx)
            .await?;
        tracing::info!(
            version,
            schema = schema.unwrap_or("(default)"),
            "applied a database migration"
        );
    }
    tx.commit().await?;
    Ok(Migrated {
        from,
        to: supported,
    })
}

/// Takes the lock, creates the schema and the version table if missing, and returns the
/// version the database is at.
async fn prepare(
    tx: &mut Transaction<'_, Postgres>,
    schema: Option<&str>,
) -> Result<u32, StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(lock_key(schema.unwrap_or("")))
        .execute(&mut **tx)
        .await?;
    if let Some(schema) = schema {
        // The name was checked to need no quoting (see `check_schema_name`).
        sqlx::query(AssertSqlSafe(format!(
            "CREATE SCHEMA IF NOT EXISTS \"{schema}\""
        )))
        .execute(&mut **tx)
        .await?;
    }
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version    INTEGER PRIMARY KEY,
            applied_at BIGINT NOT NULL
        )",
    )
    .execute(&mut **tx)
    .await?;
    let found: Option<i32> = sqlx::query_scalar("SELECT max(version) FROM schema_migrations")
        .fetch_one(&mut **tx)
        .await?;
    Ok(found.unwrap_or(0).max(0) as u32)
}

/// The advisory lock of one schema's migrations: a fixed hash (FNV-1a), so every
/// process computes the same key, and schemas sharing a database do not wait on each
/// other.
fn lock_key(schema: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in b"easel-migrate:".iter().chain(schema.as_bytes()) {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash as i64
}
