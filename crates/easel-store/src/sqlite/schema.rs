//! The metadata schema, as an ordered list of migrations. Tables and indexes stick to
//! what SQLite and PostgreSQL both understand (integer milliseconds, text ids, partial
//! indexes). The triggers are SQLite's way to make each queue transition one statement:
//! SQLite has a single writer, so fewer round trips per job is what makes it fast.

/// Migrations in order; the database records how many it has applied.
pub const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE jobs (
    id              TEXT PRIMARY KEY,
    owner           TEXT NOT NULL,
    kind            TEXT NOT NULL,
    status          TEXT NOT NULL,
    spec            TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    idempotency_key TEXT,
    image_count     INTEGER NOT NULL,
    progress        INTEGER NOT NULL DEFAULT 0,
    results         TEXT NOT NULL DEFAULT '[]',
    error           TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    max_attempts    INTEGER NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE UNIQUE INDEX jobs_idempotency ON jobs (owner, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX jobs_owner_id ON jobs (owner, id);
CREATE INDEX jobs_status ON jobs (status);

-- One row per job that is waiting or running. `visible_at` is the SQS visibility
-- timeout: a waiting job becomes claimable then, a claimed job's lease ends then.
CREATE TABLE queue (
    job_id      TEXT PRIMARY KEY REFERENCES jobs (id),
    visible_at  BIGINT NOT NULL,
    lease_token TEXT,
    leased_at   BIGINT
);
CREATE INDEX queue_visible ON queue (visible_at, job_id);

-- A new pending job enters the queue in the same statement, hence the same transaction.
CREATE TRIGGER jobs_enqueue AFTER INSERT ON jobs WHEN NEW.status = 'PENDING'
BEGIN
    INSERT INTO queue (job_id, visible_at) VALUES (NEW.id, NEW.created_at);
END;

-- A job that reaches a terminal state leaves the queue.
CREATE TRIGGER jobs_dequeue AFTER UPDATE OF status ON jobs
    WHEN NEW.status IN ('COMPLETED', 'FAILED', 'CANCELLED')
BEGIN
    DELETE FROM queue WHERE job_id = NEW.id;
END;

-- Taking a lease starts an attempt.
CREATE TRIGGER queue_lease AFTER UPDATE OF lease_token ON queue
    WHEN NEW.lease_token IS NOT NULL
BEGIN
    UPDATE jobs SET status = 'RUNNING', attempts = attempts + 1, updated_at = NEW.leased_at
     WHERE id = NEW.job_id;
END;

CREATE TABLE objects (
    bucket        TEXT NOT NULL,
    object_key    TEXT NOT NULL,
    owner         TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    size          BIGINT NOT NULL,
    sha256        TEXT NOT NULL,
    width         INTEGER,
    height        INTEGER,
    source_bucket TEXT,
    source_key    TEXT,
    job_id        TEXT,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (bucket, object_key)
);
CREATE INDEX objects_source ON objects (source_bucket, source_key);
"#,
    // 2: identity — accounts, sign-in throttle, refresh tokens, API keys, usage
    // counters and the audit log.
    r#"
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    admin         BOOLEAN NOT NULL DEFAULT FALSE,
    plan          TEXT,
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

-- Keyed by the name tried, so that unknown names are throttled like real ones.
CREATE TABLE login_failures (
    username     TEXT PRIMARY KEY,
    failures     INTEGER NOT NULL,
    locked_until BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

CREATE TABLE refresh_tokens (
    hash       TEXT PRIMARY KEY,
    family     TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT,
    revoked_at BIGINT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

CREATE TABLE api_keys (
    id         TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,
    name       TEXT NOT NULL,
    prefix     TEXT NOT NULL,
    hash       TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX api_keys_owner ON api_keys (owner, created_at);

-- GCRA: one theoretical arrival time per principal; `allowed` is the last decision.
CREATE TABLE rate_buckets (
    principal TEXT PRIMARY KEY,
    tat       BIGINT NOT NULL,
    allowed   BOOLEAN NOT NULL
);

CREATE TABLE quota_usage (
    principal    TEXT NOT NULL,
    class        TEXT NOT NULL,
    period       TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    used         BIGINT NOT NULL,
    PRIMARY KEY (principal, class, period, window_start)
);

CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY,
    at         BIGINT NOT NULL,
    event      TEXT NOT NULL,
    principal  TEXT,
    username   TEXT,
    ip         TEXT,
    user_agent TEXT,
    request_id TEXT,
    detail     TEXT
);
CREATE INDEX audit_log_principal ON audit_log (principal, id);
"#,
    // 3: generations — output retention on jobs, and the request log (seed 000's
    // execution metadata: who asked what of which engine, how long it took, how big).
    r#"
ALTER TABLE jobs ADD COLUMN expires_at BIGINT;
ALTER TABLE jobs ADD COLUMN outputs_removed_at BIGINT;
CREATE INDEX jobs_expiry ON jobs (expires_at) WHERE outputs_removed_at IS NULL;
CREATE INDEX jobs_owner_kind ON jobs (owner, kind, id);

CREATE TABLE request_log (
    id           TEXT PRIMARY KEY,
    owner        TEXT NOT NULL,
    at           BIGINT NOT NULL,
    dialect      TEXT NOT NULL,
    task_type    TEXT NOT NULL,
    prompt       TEXT,
    engine       TEXT NOT NULL,
    model        TEXT NOT NULL,
    seed         BIGINT,
    status       TEXT NOT NULL,
    error_code   TEXT,
    latency_ms   BIGINT,
    output_bytes BIGINT NOT NULL,
    image_count  INTEGER NOT NULL,
    job_id       TEXT
);
CREATE INDEX request_log_owner ON request_log (owner, id);
"#,
    // 4: principals of external issuers, recorded on first sight so that plans can be
    // assigned to them (they have no row in `users`).
    r#"
CREATE TABLE external_principals (
    id         TEXT PRIMARY KEY,
    issuer     TEXT NOT NULL,
    username   TEXT,
    plan       TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
"#,
    // 5: progress in finer units than images (a generation's denoising steps).
    r#"
ALTER TABLE jobs ADD COLUMN progress_total INTEGER NOT NULL DEFAULT 0;
"#,
    // 6: rate-bucket takes of several tokens at once (a process's local lease).
    r#"
ALTER TABLE rate_buckets ADD COLUMN granted BIGINT NOT NULL DEFAULT 0;
"#,
    // 7: secrets every process of a deployment shares (signing keys). IF NOT EXISTS: a
    // database that a development build already gave the table migrates cleanly.
    r#"
CREATE TABLE IF NOT EXISTS secrets (
    name       TEXT PRIMARY KEY,
    value      BLOB NOT NULL,
    created_at BIGINT NOT NULL
);
"#,
    // 8: uploads handed out and not yet settled (on S3 Easel does not see the PUT).
    r#"
CREATE TABLE uploads (
    bucket        TEXT NOT NULL,
    object_key    TEXT NOT NULL,
    owner         TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    max_bytes     BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    state         TEXT NOT NULL,
    claimed_until BIGINT NOT NULL,
    error_code    TEXT,
    error_message TEXT,
    next_check_at BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (bucket, object_key)
);
CREATE INDEX uploads_open ON uploads (created_at) WHERE state IN ('pending', 'ingesting');
CREATE INDEX uploads_settled ON uploads (updated_at) WHERE state IN ('ingested', 'failed', 'expired');
"#,
    // 9: the stable code of a job's last failure, which dead jobs are listed and
    // redriven by.
    r#"
ALTER TABLE jobs ADD COLUMN error_code TEXT;
"#,
    // 10: webhook delivery attempts, per job the webhook is about.
    r#"
CREATE TABLE webhook_deliveries (
    target      TEXT NOT NULL,
    delivery    TEXT NOT NULL,
    attempt     INTEGER NOT NULL,
    at          BIGINT NOT NULL,
    url         TEXT NOT NULL,
    status      INTEGER,
    error       TEXT,
    duration_ms BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_target ON webhook_deliveries (target, at);
"#,
    // 11: alarms — a datapoint per alarm and period, each alarm's state, its history,
    // every process's HTTP answers per second by class; and the indexes their windows
    // are read through.
    r#"
CREATE TABLE alarm_datapoints (
    alarm      TEXT NOT NULL,
    period_end BIGINT NOT NULL,
    value      DOUBLE PRECISION,
    PRIMARY KEY (alarm, period_end)
);
CREATE TABLE alarm_states (
    name    TEXT PRIMARY KEY,
    state   TEXT NOT NULL,
    reason  TEXT NOT NULL,
    since   BIGINT NOT NULL,
    version BIGINT NOT NULL
);
CREATE TABLE alarm_history (
    name       TEXT NOT NULL,
    at         BIGINT NOT NULL,
    from_state TEXT NOT NULL,
    to_state   TEXT NOT NULL,
    reason     TEXT NOT NULL
);
CREATE INDEX alarm_history_at ON alarm_history (at);
CREATE INDEX request_log_at ON request_log (at);
CREATE INDEX jobs_finished ON jobs (updated_at) WHERE status IN ('COMPLETED', 'FAILED');
CREATE TABLE http_counts (
    process    TEXT NOT NULL,
    second     BIGINT NOT NULL,
    total      BIGINT NOT NULL,
    client     BIGINT NOT NULL,
    server     BIGINT NOT NULL,
    PRIMARY KEY (second, process)
);
"#,
    // 12: one-time codes e-mailed to account holders (password reset).
    r#"
CREATE TABLE account_codes (
    user_id      TEXT NOT NULL,
    purpose      TEXT NOT NULL,
    code_hash    TEXT NOT NULL,
    expires_at   BIGINT NOT NULL,
    tries        BIGINT NOT NULL,
    sent         BIGINT NOT NULL,
    window_start BIGINT NOT NULL,
    PRIMARY KEY (user_id, purpose)
);
"#,
    // 13: account e-mail — verified and pending addresses, notification choices, the
    // week whose summary was sent; link-expiry reminders; spent sign-up challenges.
    // Accounts that exist already count as verified: they signed up when nobody asked.
    r#"
ALTER TABLE users ADD COLUMN email_verified_at BIGINT;
UPDATE users SET email_verified_at = created_at;
ALTER TABLE users ADD COLUMN pending_email TEXT;
ALTER TABLE users ADD COLUMN notify_job_finished BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE users ADD COLUMN notify_link_expiry BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE users ADD COLUMN notify_weekly_summary BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE users ADD COLUMN summary_week BIGINT;
CREATE TABLE link_reminders (
    job_id TEXT PRIMARY KEY,
    owner  TEXT NOT NULL,
    due_at BIGINT NOT NULL
);
CREATE INDEX link_reminders_due ON link_reminders (due_at);
CREATE TABLE spent_challenges (
    challenge  TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
"#,
];
