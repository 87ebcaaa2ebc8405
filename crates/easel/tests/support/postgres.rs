//! A fresh PostgreSQL database per test, dropped when the test is done. The server is
//! the one at `EASEL_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432`, the
//! one this project's machines run); databases are made and dropped with `psql`.

use std::process::Command;

/// The server tests use.
pub fn server_url() -> String {
    std::env::var("EASEL_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
        .trim_end_matches('/')
        .to_owned()
}

/// A database that exists for as long as this value does.
pub struct TestDatabase {
    name: String,
    server: String,
}

fn psql(server: &str, sql: &str) -> Result<(), String> {
    let output = Command::new("psql")
        .args([
            &format!("{server}/postgres"),
            "-v",
            "ON_ERROR_STOP=1",
            "-qc",
            sql,
        ])
        .output()
        .map_err(|e| format!("cannot run psql: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

impl TestDatabase {
    /// Creates a database with a unique name on the test server.
    pub fn create() -> TestDatabase {
        let server = server_url();
        let name = format!("easel_test_{}", uuid::Uuid::new_v4().simple());
        psql(&server, &format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|e| panic!("cannot create a test database on {server}: {e}"));
        TestDatabase { name, server }
    }

    /// Its connection URL.
    pub fn url(&self) -> String {
        format!("{}/{}", self.server, self.name)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if let Err(error) = psql(&self.server, &sql) {
            eprintln!("could not drop the test database {}: {error}", self.name);
        }
    }
}
