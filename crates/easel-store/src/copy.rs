//! Moving a deployment's metadata from SQLite to PostgreSQL (`easel db copy`): every
//! table, row for row (ids, timestamps, job states, keys and secrets as they are), in
//! pages, into a migrated PostgreSQL schema whose tables mirror SQLite's. Inserts skip
//! rows already there, so an interrupted copy is resumed by running it again; at the
//! end the row counts of both sides are compared. Stop every Easel process on the
//! source first: rows written during a copy may be missed (a second run picks them up).

use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{AssertSqlSafe, Postgres, QueryBuilder, Row};

use crate::{PgStore, SqliteStore, StoreError};

/// Tables in an order that respects their references (`refresh_tokens` → `users`,
/// `queue` → `jobs`).
const TABLES: &[&str] = &[
    "users",
    "login_failures",
    "refresh_tokens",
    "api_keys",
    "rate_buckets",
    "quota_usage",
    "external_principals",
    "audit_log",
    "jobs",
    "queue",
    "objects",
    "uploads",
    "request_log",
    "secrets",
    "link_reminders",
];

/// Rows read and written per statement.
const PAGE: i64 = 500;

/// One table's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopiedTable {
    /// The table.
    pub table: &'static str,
    /// Rows in the source.
    pub source_rows: u64,
    /// Rows in the destination after the copy.
    pub destination_rows: u64,
    /// Rows this run inserted (the rest were there already).
    pub inserted: u64,
}

/// A column of the destination, which decides how the source's value is read.
#[derive(Debug, Clone)]
struct Column {
    name: String,
    kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Integer,
    Boolean,
    Text,
    Bytes,
}

/// A value on its way.
enum Cell {
    Integer(Option<i64>),
    Boolean(Option<bool>),
    Text(Option<String>),
    Bytes(Option<Vec<u8>>),
}

/// Copies every table of `from` into `to`; `progress` hears each table as it is done.
pub async fn copy_sqlite_to_postgres(
    from: &SqliteStore,
    to: &PgStore,
    mut progress: impl FnMut(&CopiedTable),
) -> Result<Vec<CopiedTable>, StoreError> {
    let mut done = Vec::with_capacity(TABLES.len());
    for table in TABLES {
        let columns = destination_columns(to, table).await?;
        let inserted = copy_table(from, to, table, &columns).await?;
        if table == &"audit_log" {
            // Its ids are an identity column: continue after the copied ones.
            sqlx::query(
                "SELECT setval(pg_get_serial_sequence('audit_log', 'id'), GREATEST((SELECT max(id) FROM audit_log), 1))",
            )
            .execute(to.pool())
            .await?;
        }
        let counted = CopiedTable {
            table,
            source_rows: count_sqlite(from, table).await?,
            destination_rows: count_postgres(to, table).await?,
            inserted,
        };
        progress(&counted);
        done.push(counted);
    }
    Ok(done)
}

async fn destination_columns(to: &PgStore, table: &str) -> Result<Vec<Column>, StoreError> {
    let rows = sqlx::query(
        "SELECT column_name::text AS name, data_type::text AS kind FROM information_schema.columns
          WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
    )
    .bind(table)
    .fetch_all(to.pool())
    .await?;
    rows.iter()
        .map(|row| {
            let name: String = row.try_get("name")?;
            let kind: String = row.try_get("kind")?;
            let kind = match kind.as_str() {
                "bigint" | "integer" | "smallint" => Kind::Integer,
                "boolean" => Kind::Boolean,
                "bytea" => Kind::Bytes,
                "text" | "character varying" => Kind::Text,
                other => {
                    return Err(StoreError::Corrupt(format!(
                        "{table}.{name} has the type {other}, which the copy does not know"
                    )));
                }
            };
            Ok(Column { name, kind })
        })
        .collect()
}

/// Copies `table` page by page in SQLite's rowid order; returns the rows inserted.
async fn copy_table(
    from: &SqliteStore,
    to: &PgStore,
    table: &str,
    columns: &[Column],
) -> Result<u64, StoreError> {
    let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    let select = format!(
        "SELECT rowid AS easel_rowid, {} FROM {table} WHERE rowid > ? ORDER BY rowid LIMIT ?",
        names.join(", ")
    );
    let mut after = 0_i64;
    let mut inserted = 0;
    loop {
        // Table and column names come from `TABLES` and the database's own catalogue.
        let rows = sqlx::query(AssertSqlSafe(select.as_str()))
            .bind(after)
            .bind(PAGE)
            .fetch_all(from.reader_pool())
            .await?;
        let Some(last) = rows.last() else {
            return Ok(inserted);
        };
        after = last.try_get("easel_rowid")?;
        let cells = rows
            .iter()
            .map(|row| read_row(row, columns))
            .collect::<Result<Vec<_>, _>>()?;
        inserted += insert_page(to, table, &names, cells).await?;
    }
}

fn read_row(row: &SqliteRow, columns: &[Column]) -> Result<Vec<Cell>, StoreError> {
    columns
        .iter()
        .map(|column| {
            let name = column.name.as_str();
            Ok(match column.kind {
                Kind::Integer => Cell::Integer(row.try_get(name)?),
                Kind::Boolean => {
                    Cell::Boolean(row.try_get::<Option<i64>, _>(name)?.map(|v| v != 0))
                }
                Kind::Text => Cell::Text(row.try_get(name)?),
                Kind::Bytes => Cell::Bytes(row.try_get(name)?),
            })
        })
        .collect()
}

async fn insert_page(
    to: &PgStore,
    table: &str,
    names: &[&str],
    rows: Vec<Vec<Cell>>,
) -> Result<u64, StoreError> {
    let mut insert: QueryBuilder<Postgres> =
        QueryBuilder::new(format!("INSERT INTO {table} ({}) ", names.join(", ")));
    if table == "audit_log" {
        insert.push("OVERRIDING SYSTEM VALUE ");
    }
    insert.push_values(rows, |mut values, row| {
        for cell in row {
            match cell {
                Cell::Integer(v) => values.push_bind(v),
                Cell::Boolean(v) => values.push_bind(v),
                Cell::Text(v) => values.push_bind(v),
                Cell::Bytes(v) => values.push_bind(v),
            };
        }
    });
    insert.push(" ON CONFLICT DO NOTHING");
    let done = insert.build().execute(to.pool()).await?;
    Ok(done.rows_affected())
}

async fn count_sqlite(from: &SqliteStore, table: &str) -> Result<u64, StoreError> {
    let sql = format!("SELECT count(*) FROM {table}");
    let count: i64 = sqlx::query_scalar(AssertSqlSafe(sql))
        .fetch_one(from.reader_pool())
        .await?;
    Ok(count as u64)
}

async fn count_postgres(to: &PgStore, table: &str) -> Result<u64, StoreError> {
    let sql = format!("SELECT count(*) AS n FROM {table}");
    let row: PgRow = sqlx::query(AssertSqlSafe(sql)).fetch_one(to.pool()).await?;
    Ok(row.try_get::<i64, _>("n")? as u64)
}
