//! Row mappers shared by every SQL engine: both schemas give a record the same column
//! names and the same representation (integer milliseconds, text ids, JSON as text), so
//! one function per record reads a row of either engine. The SQL itself is not shared.

use std::str::FromStr;

use easel_core::{Bucket, JobId, JobKind, JobStatus, ObjectKey, ObjectRef};
use sqlx::Row;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;

use crate::{
    Activity, AlarmRecord, AlarmTransition, ApiKey, AuditEvent, Delivery, ExpectedUpload,
    ExternalPrincipal, Job, Notifications, ObjectMeta, Reminder, RequestRecord, StoreError,
    StoredSecret, UploadState, User,
};

/// The column reads the mappers need, by name, from a row of any engine.
pub(crate) trait Columns {
    /// A non-null text column.
    fn text(&self, column: &str) -> Result<String, sqlx::Error>;
    /// A nullable text column.
    fn opt_text(&self, column: &str) -> Result<Option<String>, sqlx::Error>;
    /// A non-null integer column.
    fn int(&self, column: &str) -> Result<i64, sqlx::Error>;
    /// A nullable integer column.
    fn opt_int(&self, column: &str) -> Result<Option<i64>, sqlx::Error>;
    /// A boolean column.
    fn flag(&self, column: &str) -> Result<bool, sqlx::Error>;
    /// A binary column.
    fn bytes(&self, column: &str) -> Result<Vec<u8>, sqlx::Error>;
}

macro_rules! columns_for {
    ($row:ty) => {
        impl Columns for $row {
            fn text(&self, column: &str) -> Result<String, sqlx::Error> {
                self.try_get(column)
            }
            fn opt_text(&self, column: &str) -> Result<Option<String>, sqlx::Error> {
                self.try_get(column)
            }
            fn int(&self, column: &str) -> Result<i64, sqlx::Error> {
                self.try_get(column)
            }
            fn opt_int(&self, column: &str) -> Result<Option<i64>, sqlx::Error> {
                self.try_get(column)
            }
            fn flag(&self, column: &str) -> Result<bool, sqlx::Error> {
                self.try_get(column)
            }
            fn bytes(&self, column: &str) -> Result<Vec<u8>, sqlx::Error> {
                self.try_get(column)
            }
        }
    };
}

columns_for!(SqliteRow);
columns_for!(PgRow);

/// A [`StoreError::Corrupt`] naming what could not be read.
pub(crate) fn corrupt(what: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {detail}"))
}

/// The columns [`job_from_row`] reads, for `concat!`-built static SQL.
macro_rules! job_columns {
    () => {
        "id, owner, kind, status, spec, image_count, progress, progress_total, results, error, error_code, attempts, max_attempts, idempotency_key, created_at, updated_at, expires_at"
    };
}
pub(crate) use job_columns;

/// Reads a job (columns: [`job_columns!`]).
pub(crate) fn job_from_row(row: &impl Columns) -> Result<Job, StoreError> {
    Ok(Job {
        id: JobId::from_str(&row.text("id")?).map_err(|e| corrupt("job id", e))?,
        owner: row.text("owner")?,
        kind: JobKind::from_str(&row.text("kind")?).map_err(|e| corrupt("job kind", e))?,
        status: JobStatus::from_str(&row.text("status")?).map_err(|e| corrupt("job status", e))?,
        spec: serde_json::from_str(&row.text("spec")?).map_err(|e| corrupt("job spec", e))?,
        image_count: row.int("image_count")? as u32,
        progress: row.int("progress")? as u32,
        progress_total: row.int("progress_total")? as u32,
        results: serde_json::from_str(&row.text("results")?)
            .map_err(|e| corrupt("job results", e))?,
        error: row.opt_text("error")?,
        error_code: row.opt_text("error_code")?,
        attempts: row.int("attempts")? as u32,
        max_attempts: row.int("max_attempts")? as u32,
        idempotency_key: row.opt_text("idempotency_key")?,
        created_at: row.int("created_at")?,
        updated_at: row.int("updated_at")?,
        expires_at: row.opt_int("expires_at")?,
    })
}

/// The columns [`user_from_row`] reads, for `concat!`-built static SQL.
macro_rules! user_columns {
    () => {
        "id, username, password_hash, admin, plan, disabled, created_at, updated_at, \
         email_verified_at, pending_email, notify_job_finished, notify_link_expiry, \
         notify_weekly_summary"
    };
}
pub(crate) use user_columns;

/// Reads an account (columns: [`user_columns!`]).
pub(crate) fn user_from_row(row: &impl Columns) -> Result<User, StoreError> {
    Ok(User {
        id: row.text("id")?,
        username: row.text("username")?,
        password_hash: row.text("password_hash")?,
        admin: row.flag("admin")?,
        plan: row.opt_text("plan")?,
        disabled: row.flag("disabled")?,
        created_at: row.int("created_at")?,
        updated_at: row.int("updated_at")?,
        email_verified_at: row.opt_int("email_verified_at")?,
        pending_email: row.opt_text("pending_email")?,
        notifications: Notifications {
            job_finished: row.flag("notify_job_finished")?,
            link_expiry: row.flag("notify_link_expiry")?,
            weekly_summary: row.flag("notify_weekly_summary")?,
        },
    })
}

/// The columns [`key_from_row`] reads, for `concat!`-built static SQL.
macro_rules! key_columns {
    () => {
        "id, owner, name, prefix, created_at, revoked_at"
    };
}
pub(crate) use key_columns;

/// Reads an API key (columns: [`key_columns!`]).
pub(crate) fn key_from_row(row: &impl Columns) -> Result<ApiKey, StoreError> {
    Ok(ApiKey {
        id: row.text("id")?,
        owner: row.text("owner")?,
        name: row.text("name")?,
        prefix: row.text("prefix")?,
        created_at: row.int("created_at")?,
        revoked_at: row.opt_int("revoked_at")?,
    })
}

/// The columns [`principal_from_row`] reads, for `concat!`-built static SQL.
macro_rules! external_columns {
    () => {
        "id, issuer, username, plan, created_at, updated_at"
    };
}
pub(crate) use external_columns;

/// Reads an external principal (columns: [`external_columns!`]).
pub(crate) fn principal_from_row(row: &impl Columns) -> Result<ExternalPrincipal, StoreError> {
    Ok(ExternalPrincipal {
        id: row.text("id")?,
        issuer: row.text("issuer")?,
        username: row.opt_text("username")?,
        plan: row.opt_text("plan")?,
        created_at: row.int("created_at")?,
        updated_at: row.int("updated_at")?,
    })
}

/// The columns [`object_from_row`] reads, for `concat!`-built static SQL.
macro_rules! object_columns {
    () => {
        "bucket, object_key, owner, content_type, size, sha256, width, height, source_bucket, source_key, job_id, created_at"
    };
}
pub(crate) use object_columns;

fn object_ref(bucket: &str, key: &str) -> Result<ObjectRef, StoreError> {
    Ok(ObjectRef {
        bucket: Bucket::from_str(bucket).map_err(|e| corrupt("bucket", e))?,
        key: ObjectKey::parse(key).map_err(|e| corrupt("object key", e))?,
    })
}

fn job_id(id: Option<String>) -> Result<Option<JobId>, StoreError> {
    id.map(|id| JobId::from_str(&id).map_err(|e| corrupt("job id", e)))
        .transpose()
}

/// Reads object metadata (columns: [`object_columns!`]).
pub(crate) fn object_from_row(row: &impl Columns) -> Result<ObjectMeta, StoreError> {
    let width = row.opt_int("width")?;
    let height = row.opt_int("height")?;
    let source = match (row.opt_text("source_bucket")?, row.opt_text("source_key")?) {
        (Some(bucket), Some(key)) => Some(object_ref(&bucket, &key)?),
        _ => None,
    };
    Ok(ObjectMeta {
        object: object_ref(&row.text("bucket")?, &row.text("object_key")?)?,
        owner: row.text("owner")?,
        content_type: row.text("content_type")?,
        size: row.int("size")? as u64,
        sha256: row.text("sha256")?,
        dimensions: width.zip(height).map(|(w, h)| (w as u32, h as u32)),
        source,
        job_id: job_id(row.opt_text("job_id")?)?,
        created_at: row.int("created_at")?,
    })
}

/// The columns [`record_from_row`] reads, for `concat!`-built static SQL.
macro_rules! record_columns {
    () => {
        "id, owner, at, dialect, task_type, prompt, engine, model, seed, status, error_code, latency_ms, output_bytes, image_count, job_id"
    };
}
pub(crate) use record_columns;

/// Reads a request-log record (columns: [`record_columns!`]).
pub(crate) fn record_from_row(row: &impl Columns) -> Result<RequestRecord, StoreError> {
    Ok(RequestRecord {
        id: row.text("id")?,
        owner: row.text("owner")?,
        at: row.int("at")?,
        dialect: row.text("dialect")?,
        task_type: row.text("task_type")?,
        prompt: row.opt_text("prompt")?,
        engine: row.text("engine")?,
        model: row.text("model")?,
        seed: row.opt_int("seed")?.map(|s| s as u32),
        status: row.text("status")?,
        error_code: row.opt_text("error_code")?,
        latency_ms: row.opt_int("latency_ms")?.map(|l| l as u64),
        output_bytes: row.int("output_bytes")? as u64,
        image_count: row.int("image_count")? as u32,
        job_id: job_id(row.opt_text("job_id")?)?,
    })
}

/// The columns [`audit_from_row`] reads, for `concat!`-built static SQL.
macro_rules! audit_columns {
    () => {
        "at, event, principal, username, ip, user_agent, request_id, detail"
    };
}
pub(crate) use audit_columns;

/// Reads an audit event (columns: [`audit_columns!`]).
pub(crate) fn audit_from_row(row: &impl Columns) -> Result<AuditEvent, StoreError> {
    Ok(AuditEvent {
        at: row.int("at")?,
        event: row.text("event")?,
        principal: row.opt_text("principal")?,
        username: row.opt_text("username")?,
        ip: row.opt_text("ip")?,
        user_agent: row.opt_text("user_agent")?,
        request_id: row.opt_text("request_id")?,
        detail: row.opt_text("detail")?,
    })
}

/// Reads a secret (columns `name, value, created_at`).
pub(crate) fn secret_from_row(row: &impl Columns) -> Result<StoredSecret, StoreError> {
    Ok(StoredSecret {
        name: row.text("name")?,
        value: row.bytes("value")?,
        created_at: row.int("created_at")?,
    })
}

/// The columns [`upload_from_row`] reads, for `concat!`-built static SQL.
macro_rules! upload_columns {
    () => {
        "bucket, object_key, owner, content_type, max_bytes, expires_at, state, error_code, error_message, next_check_at, created_at"
    };
}
pub(crate) use upload_columns;

/// Reads an expected upload (columns: [`upload_columns!`]).
pub(crate) fn upload_from_row(row: &impl Columns) -> Result<ExpectedUpload, StoreError> {
    let state = row.text("state")?;
    let failure = match (row.opt_text("error_code")?, row.opt_text("error_message")?) {
        (Some(code), message) => Some((code, message.unwrap_or_default())),
        _ => None,
    };
    Ok(ExpectedUpload {
        object: object_ref(&row.text("bucket")?, &row.text("object_key")?)?,
        owner: row.text("owner")?,
        content_type: row.text("content_type")?,
        max_bytes: row.int("max_bytes")? as u64,
        expires_at: row.int("expires_at")?,
        state: UploadState::parse(&state).ok_or_else(|| corrupt("upload state", &state))?,
        failure,
        next_check_at: row.int("next_check_at")?,
        created_at: row.int("created_at")?,
    })
}

/// Reads a webhook delivery attempt (columns: target, delivery, attempt, at, url,
/// status, error, duration_ms).
pub(crate) fn delivery_from_row(row: &impl Columns) -> Result<Delivery, StoreError> {
    let id = |column: &str| -> Result<JobId, StoreError> {
        JobId::from_str(&row.text(column)?).map_err(|e| corrupt("delivery job id", e))
    };
    Ok(Delivery {
        target: id("target")?,
        delivery: id("delivery")?,
        attempt: row.int("attempt")? as u32,
        at: row.int("at")?,
        url: row.text("url")?,
        status: row.opt_int("status")?.map(|s| s as u16),
        error: row.opt_text("error")?,
        duration_ms: row.int("duration_ms")?.max(0) as u64,
    })
}

/// Reads an alarm's state (columns: name, state, reason, since, version).
pub(crate) fn alarm_from_row(row: &impl Columns) -> Result<AlarmRecord, StoreError> {
    Ok(AlarmRecord {
        name: row.text("name")?,
        state: row.text("state")?,
        reason: row.text("reason")?,
        since: row.int("since")?,
        version: row.int("version")?,
    })
}

/// Reads an alarm transition (columns: name, at, from_state, to_state, reason).
pub(crate) fn transition_from_row(row: &impl Columns) -> Result<AlarmTransition, StoreError> {
    Ok(AlarmTransition {
        name: row.text("name")?,
        at: row.int("at")?,
        from: row.text("from_state")?,
        to: row.text("to_state")?,
        reason: row.text("reason")?,
    })
}

/// Reads a link-expiry reminder (columns: job_id, owner, due_at).
pub(crate) fn reminder_from_row(row: &impl Columns) -> Result<Reminder, StoreError> {
    Ok(Reminder {
        job: JobId::from_str(&row.text("job_id")?).map_err(|e| corrupt("reminder job id", e))?,
        owner: row.text("owner")?,
        due_at: row.int("due_at")?,
    })
}

/// Reads one kind and status of an owner's jobs (columns: kind, status, jobs, images).
pub(crate) fn activity_from_row(row: &impl Columns) -> Result<Activity, StoreError> {
    let kind = row.text("kind")?;
    let status = row.text("status")?;
    Ok(Activity {
        kind: JobKind::from_str(&kind).map_err(|e| corrupt("job kind", e))?,
        status: JobStatus::from_str(&status).map_err(|e| corrupt("job status", e))?,
        jobs: row.int("jobs")?.max(0) as u64,
        images: row.int("images")?.max(0) as u64,
    })
}
