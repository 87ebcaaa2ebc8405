//! The PostgreSQL schema, as numbered migrations (`schema_migrations` records which ran).
//! The tables mirror SQLite's, column for column, so one row mapper reads both; the
//! differences are PostgreSQL's own: every integer is BIGINT (the mappers read i64),
//! ids and sorted names use the "C" collation (byte order, as SQLite compares text, and
//! faster), secrets are BYTEA, and there are no triggers: the queue's transitions are
//! explicit statements (see `queue.rs`).

/// Migrations in order; version N is `MIGRATIONS[N - 1]`. Never edit a released one:
/// add the next.
pub(super) const MIGRATIONS: &[&str] = &[
    JOBS,
    IDENTITY,
    REQUEST_LOG,
    SECRETS,
    UPLOADS,
    ERROR_CODES,
    WEBHOOK_DELIVERIES,
    ALARMS,
    ACCOUNT_CODES,
    ACCOUNT_EMAIL,
];

/// 1: jobs, the queue and object metadata.
const JOBS: &str = r#"
-- fillfactor leaves room on each page so that the updates of a job's life (claim,
-- progress, completion) are HOT: none of them touches an indexed column, which is why
-- there is no index on `status` (counting by status is a metrics scan).
CREATE TABLE jobs (
    id                 TEXT COLLATE "C" PRIMARY KEY,
    owner              TEXT COLLATE "C" NOT NULL,
    kind               TEXT NOT NULL,
    status             TEXT NOT NULL,
    spec               TEXT NOT NULL,
    request_hash       TEXT NOT NULL,
    idempotency_key    TEXT COLLATE "C",
    image_count        BIGINT NOT NULL,
    progress           BIGINT NOT NULL DEFAULT 0,
    progress_total     BIGINT NOT NULL DEFAULT 0,
    results            TEXT NOT NULL DEFAULT '[]',
    error              TEXT,
    attempts           BIGINT NOT NULL DEFAULT 0,
    max_attempts       BIGINT NOT NULL,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL,
    expires_at         BIGINT,
    outputs_removed_at BIGINT
) WITH (fillfactor = 80);
CREATE UNIQUE INDEX jobs_idempotency ON jobs (owner, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX jobs_owner_id ON jobs (owner, id);
CREATE INDEX jobs_owner_kind ON jobs (owner, kind, id);
CREATE INDEX jobs_expiry ON jobs (expires_at) WHERE outputs_removed_at IS NULL;

-- One row per job that is waiting or running, deleted when it finishes: the claim index
-- holds live work only. `visible_at` is the SQS visibility timeout: a waiting job
-- becomes claimable then, a claimed job's lease ends then. A job is PENDING exactly
-- when its row has no lease token. Rows churn, so autovacuum visits early.
CREATE TABLE queue (
    job_id      TEXT COLLATE "C" PRIMARY KEY REFERENCES jobs (id),
    visible_at  BIGINT NOT NULL,
    lease_token TEXT,
    leased_at   BIGINT
) WITH (fillfactor = 70, autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 2000);
CREATE INDEX queue_visible ON queue (visible_at, job_id);
-- The leases, for the sweep of expired ones, without scanning waiting jobs.
CREATE INDEX queue_leased ON queue (visible_at) WHERE lease_token IS NOT NULL;

CREATE TABLE objects (
    bucket        TEXT COLLATE "C" NOT NULL,
    object_key    TEXT COLLATE "C" NOT NULL,
    owner         TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    size          BIGINT NOT NULL,
    sha256        TEXT NOT NULL,
    width         BIGINT,
    height        BIGINT,
    source_bucket TEXT COLLATE "C",
    source_key    TEXT COLLATE "C",
    job_id        TEXT,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (bucket, object_key)
);
CREATE INDEX objects_source ON objects (source_bucket, source_key);
"#;

/// 2: identity: accounts, the sign-in throttle, refresh tokens, API keys, usage
/// counters, external principals and the audit log.
const IDENTITY: &str = r#"
CREATE TABLE users (
    id            TEXT COLLATE "C" PRIMARY KEY,
    username      TEXT COLLATE "C" NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    admin         BOOLEAN NOT NULL DEFAULT FALSE,
    plan          TEXT,
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

-- Keyed by the name tried, so that unknown names are throttled like real ones.
CREATE TABLE login_failures (
    username     TEXT COLLATE "C" PRIMARY KEY,
    failures     BIGINT NOT NULL,
    locked_until BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

CREATE TABLE refresh_tokens (
    hash       TEXT COLLATE "C" PRIMARY KEY,
    family     TEXT COLLATE "C" NOT NULL,
    user_id    TEXT COLLATE "C" NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT,
    revoked_at BIGINT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

CREATE TABLE api_keys (
    id         TEXT COLLATE "C" PRIMARY KEY,
    owner      TEXT COLLATE "C" NOT NULL,
    name       TEXT NOT NULL,
    prefix     TEXT NOT NULL,
    hash       TEXT COLLATE "C" NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX api_keys_owner ON api_keys (owner, created_at);

-- GCRA: one theoretical arrival time per principal; `allowed` is the last decision and
-- `granted` the last take's count.
CREATE TABLE rate_buckets (
    principal TEXT COLLATE "C" PRIMARY KEY,
    tat       BIGINT NOT NULL,
    allowed   BOOLEAN NOT NULL,
    granted   BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE quota_usage (
    principal    TEXT COLLATE "C" NOT NULL,
    class        TEXT COLLATE "C" NOT NULL,
    period       TEXT COLLATE "C" NOT NULL,
    window_start BIGINT NOT NULL,
    used         BIGINT NOT NULL,
    PRIMARY KEY (principal, class, period, window_start)
);

-- Principals of external issuers, recorded on first sight so that plans can be
-- assigned to them (they have no row in `users`).
CREATE TABLE external_principals (
    id         TEXT COLLATE "C" PRIMARY KEY,
    issuer     TEXT NOT NULL,
    username   TEXT,
    plan       TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE audit_log (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         BIGINT NOT NULL,
    event      TEXT NOT NULL,
    principal  TEXT COLLATE "C",
    username   TEXT,
    ip         TEXT,
    user_agent TEXT,
    request_id TEXT,
    detail     TEXT
);
CREATE INDEX audit_log_principal ON audit_log (principal, id);
"#;

/// 3: the request log (seed 000's execution metadata: who asked what of which engine,
/// how long it took, how big).
const REQUEST_LOG: &str = r#"
CREATE TABLE request_log (
    id           TEXT COLLATE "C" PRIMARY KEY,
    owner        TEXT COLLATE "C" NOT NULL,
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
    image_count  BIGINT NOT NULL,
    job_id       TEXT
);
CREATE INDEX request_log_owner ON request_log (owner, id);
"#;

/// 4: secrets every process of a deployment shares (signing keys).
const SECRETS: &str = r#"
CREATE TABLE secrets (
    name       TEXT COLLATE "C" PRIMARY KEY,
    value      BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);
"#;

/// 5: uploads handed out and not yet settled (on S3 Easel does not see the PUT).
const UPLOADS: &str = r#"
CREATE TABLE uploads (
    bucket        TEXT COLLATE "C" NOT NULL,
    object_key    TEXT COLLATE "C" NOT NULL,
    owner         TEXT COLLATE "C" NOT NULL,
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
"#;

/// 6: the stable code of a job's last failure, which dead jobs are listed and redriven
/// by. No index: one on it (or on `status`) would make every job update non-HOT, and
/// listing the dead is an administrator's occasional scan.
const ERROR_CODES: &str = r#"
ALTER TABLE jobs ADD COLUMN error_code TEXT COLLATE "C";
"#;

/// 7: webhook delivery attempts, per job the webhook is about.
const WEBHOOK_DELIVERIES: &str = r#"
CREATE TABLE webhook_deliveries (
    target      TEXT COLLATE "C" NOT NULL,
    delivery    TEXT COLLATE "C" NOT NULL,
    attempt     BIGINT NOT NULL,
    at          BIGINT NOT NULL,
    url         TEXT NOT NULL,
    status      BIGINT,
    error       TEXT,
    duration_ms BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_target ON webhook_deliveries (target, at);
"#;

/// 8: alarms — a datapoint per alarm and period, each alarm's state, its history, every
/// process's HTTP answers per second by class. No
/// index on jobs for their windows (any index touching `status` or `updated_at` would
/// make every job update non-HOT): the window's count is a scan per alarm and period,
/// made by one process (the others find the stored datapoint).
const ALARMS: &str = r#"
CREATE TABLE alarm_datapoints (
    alarm      TEXT COLLATE "C" NOT NULL,
    period_end BIGINT NOT NULL,
    value      DOUBLE PRECISION,
    PRIMARY KEY (alarm, period_end)
);
CREATE TABLE alarm_states (
    name    TEXT COLLATE "C" PRIMARY KEY,
    state   TEXT NOT NULL,
    reason  TEXT NOT NULL,
    since   BIGINT NOT NULL,
    version BIGINT NOT NULL
);
CREATE TABLE alarm_history (
    name       TEXT COLLATE "C" NOT NULL,
    at         BIGINT NOT NULL,
    from_state TEXT NOT NULL,
    to_state   TEXT NOT NULL,
    reason     TEXT NOT NULL
);
CREATE INDEX alarm_history_at ON alarm_history (at);
CREATE INDEX request_log_at ON request_log (at);
CREATE TABLE http_counts (
    process    TEXT COLLATE "C" NOT NULL,
    second     BIGINT NOT NULL,
    total      BIGINT NOT NULL,
    client     BIGINT NOT NULL,
    server     BIGINT NOT NULL,
    PRIMARY KEY (second, process)
);
"#;

/// 9: one-time codes e-mailed to account holders (password reset).
const ACCOUNT_CODES: &str = r#"
CREATE TABLE account_codes (
    user_id      TEXT COLLATE "C" NOT NULL,
    purpose      TEXT NOT NULL,
    code_hash    TEXT NOT NULL,
    expires_at   BIGINT NOT NULL,
    tries        BIGINT NOT NULL,
    sent         BIGINT NOT NULL,
    window_start BIGINT NOT NULL,
    PRIMARY KEY (user_id, purpose)
);
"#;

/// 10: account e-mail — verified and pending addresses, notification choices, the week
/// whose summary was sent; link-expiry reminders; spent sign-up challenges. Accounts
/// that exist already count as verified: they signed up when nobody asked.
const ACCOUNT_EMAIL: &str = r#"
ALTER TABLE users ADD COLUMN email_verified_at BIGINT;
UPDATE users SET email_verified_at = created_at;
ALTER TABLE users ADD COLUMN pending_email TEXT;
ALTER TABLE users ADD COLUMN notify_job_finished BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE users ADD COLUMN notify_link_expiry BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE users ADD COLUMN notify_weekly_summary BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE users ADD COLUMN summary_week BIGINT;
CREATE TABLE link_reminders (
    job_id TEXT COLLATE "C" PRIMARY KEY,
    owner  TEXT COLLATE "C" NOT NULL,
    due_at BIGINT NOT NULL
);
CREATE INDEX link_reminders_due ON link_reminders (due_at);
CREATE TABLE spent_challenges (
    challenge  TEXT COLLATE "C" PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
"#;
