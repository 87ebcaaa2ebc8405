//! Which metadata database a process uses, from `storage.database_url`.

use std::path::PathBuf;

use anyhow::bail;

use super::StorageConfig;

/// The metadata database a URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// An SQLite file (the embedded default).
    Sqlite(PathBuf),
    /// A PostgreSQL server, by its connection URL.
    Postgres(String),
}

impl Database {
    /// The URL without its password, for messages and logs.
    pub fn display(&self) -> String {
        match self {
            Database::Sqlite(path) => format!("sqlite://{}", path.display()),
            Database::Postgres(url) => redact(url),
        }
    }
}

/// `url` with the password (between `user:` and `@`) replaced by `***`.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((credentials, host)) => {
            let user = credentials.split(':').next().unwrap_or_default();
            let hidden = if credentials.contains(':') {
                ":***"
            } else {
                ""
            };
            format!("{scheme}://{user}{hidden}@{host}")
        }
        None => url.to_owned(),
    }
}

impl StorageConfig {
    /// The metadata database configured: `database_url`, or the SQLite file in the
    /// data directory.
    pub fn database(&self) -> anyhow::Result<Database> {
        let Some(url) = self.database_url.as_deref().map(str::trim) else {
            return Ok(Database::Sqlite(self.data_dir.join("easel.db")));
        };
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            if path.is_empty() {
                bail!("storage.database_url `{url}` names no SQLite file");
            }
            return Ok(Database::Sqlite(PathBuf::from(path)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Database::Postgres(url.to_owned()));
        }
        bail!(
            "storage.database_url `{}` is neither `sqlite://PATH` nor `postgres://…`",
            redact(url)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn storage(url: Option<&str>) -> StorageConfig {
        StorageConfig {
            database_url: url.map(str::to_owned),
            ..StorageConfig::default()
        }
    }

    #[test]
    fn urls_choose_the_backend() {
        assert_eq!(
            storage(None).database().unwrap(),
            Database::Sqlite(PathBuf::from("./easel-data/easel.db"))
        );
        assert_eq!(
            storage(Some("sqlite:///var/easel/meta.db"))
                .database()
                .unwrap(),
            Database::Sqlite(PathBuf::from("/var/easel/meta.db"))
        );
        let pg = "postgres://easel:s3cret@db:5432/easel";
        assert_eq!(
            storage(Some(pg)).database().unwrap(),
            Database::Postgres(pg.to_owned())
        );
        let error = storage(Some("mysql://u:hunter2@x/db"))
            .database()
            .unwrap_err();
        assert!(!error.to_string().contains("hunter2"), "{error}");
        assert!(storage(Some("sqlite://")).database().is_err());
    }

    #[test]
    fn passwords_never_show() {
        assert_eq!(
            redact("postgres://easel:s3cret@db:5432/easel"),
            "postgres://easel:***@db:5432/easel"
        );
        assert_eq!(
            redact("postgres://easel@db/easel"),
            "postgres://easel@db/easel"
        );
        assert_eq!(redact("postgres://db/easel"), "postgres://db/easel");
    }
}
