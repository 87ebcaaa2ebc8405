//! `PgStore`: the metadata database and durable queue on PostgreSQL, for deployments
//! where several Easel processes (API servers, workers, on several machines) share one
//! database. It implements every trait `SqliteStore` does, with the same semantics; the
//! conformance suite runs against both.
//!
//! **Layout.** The tables mirror SQLite's (`postgres/schema.rs`): integer milliseconds,
//! text ids, specs and results as JSON text. Waiting and running jobs also have a row in
//! the small `queue` table, deleted when the job finishes, so the claim index only ever
//! holds live work. What SQLite does with triggers is explicit SQL here: each transition
//! is one statement whose data-modifying CTEs touch `queue` first and `jobs` second, so
//! concurrent transitions lock rows in one order and cannot deadlock.
//!
//! **Concurrency.** Claims take up to `max` jobs with `FOR UPDATE SKIP LOCKED`, so
//! workers in many processes never wait on each other's rows. Every worker write carries
//! its lease token in the same statement (fencing). Counters (rate buckets, quotas,
//! sign-in failures) are single upserts, atomic across processes. New jobs are written
//! in groups (`postgres/inserter.rs`), claims and completions in batches, one statement
//! each.
//!
//! **Durability.** What a client is told about (a created job, an account, a key)
//! commits durably. The workers' queue transitions and the rate buckets' takes commit
//! asynchronously, on a pool of their own (see [`PgStore`]): a crash may forget the last
//! moments of them, which the at-least-once queue absorbs by running a job again, and
//! the rate limit by letting a few more requests through.
//!
//! **Wake-ups across processes.** Each statement that changes a job, or makes it
//! claimable again, also sends `NOTIFY` on the store's channel (`easel_jobs`, or
//! `easel_jobs.<schema>` in a schema), payload `<instance> <kind> <job id>`, delivered
//! only if it commits; a group of new jobs sends one `enqueued` right after its commit.
//! A listener task per store LISTENs on a connection of its own and forwards other
//! instances' notifications into the same [`Wakeups`] that in-process writes fire, so
//! workers and job watchers elsewhere wake at once. If that connection drops, it
//! reconnects with backoff and then wakes the workers once, since notifications sent
//! meanwhile are lost; a lost notification only delays work until the workers' and
//! watchers' next poll, and never loses a job, which lives in the tables.
//!
//! **Migrations** are numbered; each process runs the missing ones at start inside one
//! transaction holding an advisory lock, so processes starting together migrate once,
//! and a database newer than the binary is refused ([`StoreError::SchemaTooNew`]).

mod account_codes;
mod alarms;
mod audit;
mod deliveries;
mod external;
mod inserter;
mod jobs;
mod migrate;
mod notify;
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

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::{StoreError, Wakeups};

pub use migrate::Migrated;

/// Connections in the pool when [`PgOptions::max_connections`] is not called.
const DEFAULT_MAX_CONNECTIONS: u32 = 10;

/// How long a query waits for a free pooled connection before failing.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// How to reach the database: its URL, an optional schema and the pool size.
#[derive(Debug, Clone)]
pub struct PgOptions {
    url: String,
    schema: Option<String>,
    max_connections: u32,
}

impl PgOptions {
    /// Options for the database at `url` (`postgres://user:password@host:port/db`).
    pub fn new(url: &str) -> Self {
        PgOptions {
            url: url.to_owned(),
            schema: None,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }

    /// Keeps every table in the PostgreSQL schema `schema` (created if missing) rather
    /// than the connection's default: several deployments, or test runs, can share a
    /// database. A name is lowercase ASCII letters, digits and `_`, not starting with a
    /// digit, at most 50 bytes.
    pub fn schema(mut self, schema: &str) -> Self {
        self.schema = Some(schema.to_owned());
        self
    }

    /// The most connections each of the store's two pools opens (default 10): one for
    /// reads and durable writes, one for the workers' queue transitions (see
    /// [`PgStore`]); the listener uses one more.
    pub fn max_connections(mut self, max: u32) -> Self {
        self.max_connections = max.max(1);
        self
    }

    /// Connects, brings the schema up to date, and starts listening for other
    /// processes' notifications.
    pub async fn connect(&self, wakeups: Arc<Wakeups>) -> Result<PgStore, StoreError> {
        let options = self.connect_options()?;
        migrate::run(&options, self.schema.as_deref()).await?;
        let pool = PgPoolOptions::new()
            .max_connections(self.max_connections)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.clone())
            .await?;
        // Opened on first use: a process that runs no workers never opens one.
        let worker_pool = PgPoolOptions::new()
            .max_connections(self.max_connections)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_lazy_with(options.clone().options([("synchronous_commit", "off")]));
        let signals = Arc::new(notify::Signals::new(self.schema.as_deref()));
        let listener = notify::Listener::start(&options, &signals, wakeups.clone()).await?;
        Ok(PgStore {
            inserter: Arc::new(inserter::Inserter::spawn(pool.clone(), signals.clone())),
            pool,
            worker_pool,
            wakeups,
            signals,
            last_reap: Arc::new(AtomicI64::new(0)),
            _listener: Arc::new(listener),
        })
    }

    /// Brings the schema up to date and returns, without starting a store
    /// (`easel db migrate`).
    pub async fn migrate(&self) -> Result<Migrated, StoreError> {
        migrate::run(&self.connect_options()?, self.schema.as_deref()).await
    }

    /// The connection options: the URL's, with `search_path` set to the schema on every
    /// connection (a startup parameter, so it costs no round trip).
    fn connect_options(&self) -> Result<PgConnectOptions, StoreError> {
        let mut options = PgConnectOptions::from_str(&self.url)?;
        if options.get_application_name().is_none() {
            // Names Easel's sessions in `pg_stat_activity`, unless the URL names them.
            options = options.application_name("easel");
        }
        Ok(match &self.schema {
            Some(schema) => {
                check_schema_name(schema)?;
                options.options([("search_path", schema.as_str())])
            }
            None => options,
        })
    }
}

/// Refuses schema names that would need quoting: they go into `search_path`, channel
/// names and DDL, and one simple shape keeps all three safe.
fn check_schema_name(schema: &str) -> Result<(), StoreError> {
    let mut chars = schema.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && schema.len() <= 50;
    if valid {
        Ok(())
    } else {
        Err(StoreError::Database(sqlx::Error::Configuration(
            format!("invalid PostgreSQL schema name `{schema}`: use a-z, 0-9 and _").into(),
        )))
    }
}

/// The PostgreSQL implementation of [`crate::Jobs`], [`crate::Queue`],
/// [`crate::Objects`], [`crate::RequestLog`], [`crate::Secrets`] and the identity traits
/// ([`crate::IdentityStore`]). Cheap to clone; the listener stops with the last clone.
#[derive(Debug, Clone)]
pub struct PgStore {
    /// Reads, and the writes a client is told about (a created job, an account, a
    /// key): their commits wait until the WAL is on disk.
    pool: PgPool,
    /// The workers' queue transitions (claim, heartbeat, progress, completion, failure,
    /// release, the sweep), committed with `synchronous_commit = off`: the commit does
    /// not wait for the disk, so commits from many workers are not serialized behind
    /// each other's WAL flushes (notifying transactions hold a database-wide lock until
    /// their commit ends). A server crash may forget the last fraction of a second of
    /// them, never corrupting anything; the queue is at-least-once, so a forgotten
    /// claim or completion is a job that runs again once its lease expires.
    worker_pool: PgPool,
    wakeups: Arc<Wakeups>,
    /// The channel and instance tag every notifying statement binds.
    signals: Arc<notify::Signals>,
    /// When claims last swept expired, exhausted leases (Unix milliseconds).
    last_reap: Arc<AtomicI64>,
    /// Writes new jobs in groups.
    inserter: Arc<inserter::Inserter>,
    /// Forwards other processes' notifications; aborted when dropped.
    _listener: Arc<notify::Listener>,
}

impl PgStore {
    /// Connects to the database at `url` with the default pool size, migrates it and
    /// starts listening for other processes' notifications.
    pub async fn connect(url: &str, wakeups: Arc<Wakeups>) -> Result<Self, StoreError> {
        PgOptions::new(url).connect(wakeups).await
    }

    /// Like [`PgStore::connect`], keeping every table in the schema `schema` (created
    /// if missing).
    pub async fn connect_in_schema(
        url: &str,
        schema: &str,
        wakeups: Arc<Wakeups>,
    ) -> Result<Self, StoreError> {
        PgOptions::new(url).schema(schema).connect(wakeups).await
    }

    /// Brings the schema of the database at `url` up to date and returns.
    pub async fn migrate_only(url: &str) -> Result<Migrated, StoreError> {
        PgOptions::new(url).migrate().await
    }

    /// The durable pool (the copy from SQLite writes through it).
    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The signals this store fires (and forwards from other processes).
    pub fn wakeups(&self) -> &Arc<Wakeups> {
        &self.wakeups
    }
}

/// Maps a unique-constraint violation to [`StoreError::Conflict`].
fn conflict_or(error: sqlx::Error) -> StoreError {
    match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict,
        _ => StoreError::Database(error),
    }
}
