//! A PostgreSQL schema of its own for each test, so tests run in parallel on one
//! database without seeing each other's rows, and leave nothing behind.

use std::sync::Arc;

use easel_store::{PgStore, Wakeups};
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};

/// The server the tests use unless `EASEL_TEST_POSTGRES` names another (`scripts/test`
/// sets it to the server `scripts/postgres` found or started).
const DEFAULT_SERVER: &str = "postgres://postgres@127.0.0.1:5432";

/// The test database's URL: `EASEL_TEST_DATABASE_URL`, or the `postgres` database of
/// the test server (every server has it).
pub fn database_url() -> String {
    if let Ok(url) = std::env::var("EASEL_TEST_DATABASE_URL") {
        return url;
    }
    let server = std::env::var("EASEL_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_SERVER.to_owned());
    format!("{}/postgres", server.trim_end_matches('/'))
}

/// A fresh schema name, dropped (with everything in it) when this is dropped, also when
/// the test panics.
pub struct Schema {
    url: String,
    name: String,
}

impl Schema {
    /// A new schema name; the first store connected in it creates it.
    pub fn new() -> Schema {
        Schema {
            url: database_url(),
            name: format!("easel_test_{}", uuid::Uuid::new_v4().simple()),
        }
    }

    /// The schema's name.
    #[allow(dead_code)] // used by tests/postgres.rs only
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The database URL.
    #[allow(dead_code)] // used by tests/postgres.rs only
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A store in this schema, as a process of its own would open it.
    pub async fn connect(&self, wakeups: Arc<Wakeups>) -> PgStore {
        PgStore::connect_in_schema(&self.url, &self.name, wakeups)
            .await
            .unwrap_or_else(|error| {
                panic!(
                    "cannot use PostgreSQL at {} ({error}); run `scripts/postgres` (it starts \
                     the local server) or set EASEL_TEST_POSTGRES",
                    self.url
                )
            })
    }

    /// A plain connection to the database (not in the schema), for checks and setup.
    #[allow(dead_code)] // used by tests/postgres.rs only
    pub async fn admin(&self) -> PgConnection {
        PgConnection::connect(&self.url).await.unwrap()
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        // Drop cannot await, and a test's runtime may be unwinding: a thread with a
        // runtime of its own drops the schema, and the test waits for it.
        let url = self.url.clone();
        let sql = format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.name);
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the cleanup");
            runtime.block_on(async {
                let mut connection = PgConnection::connect(&url).await?;
                connection.execute(AssertSqlSafe(sql)).await?;
                connection.close().await
            })
        })
        .join();
        if let Ok(Err(error)) = dropped {
            eprintln!("could not drop a test schema: {error}");
        }
    }
}
