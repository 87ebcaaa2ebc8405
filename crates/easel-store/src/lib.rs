//! Easel's persistence behind narrow traits: job records ([`Jobs`]), the durable queue
//! ([`Queue`]), object metadata ([`Objects`]), object bytes ([`Blobs`]), identity
//! ([`Users`], [`ExternalPrincipals`], [`RefreshTokens`], [`ApiKeys`], [`Usage`],
//! [`Audit`]), the deployment's shared [`Secrets`], the generation request log
//! ([`RequestLog`]), plus the HMAC presigner for URLs that Easel serves itself.
//! `SqliteStore` and `FsBlobs` are the embedded defaults; `PgStore` keeps the same
//! records in PostgreSQL for several processes on several machines. Every engine
//! implements the same traits and runs the same conformance suite (`tests/conformance.rs`).

mod audit;
mod blobs;
mod copy;
mod error;
mod external;
mod fs_blobs;
mod identity;
mod jobs;
mod metadata;
mod objects;
mod postgres;
mod presign;
mod queue;
mod request_log;
mod rows;
mod secrets;
mod sqlite;
mod tokens;
mod usage;
mod users;
mod wakeups;

pub use audit::{Audit, AuditEvent};
pub use blobs::{Blobs, PutOutcome};
pub use copy::{CopiedTable, copy_sqlite_to_postgres};
pub use error::StoreError;
pub use external::{ExternalPrincipal, ExternalPrincipals};
pub use fs_blobs::FsBlobs;
pub use identity::IdentityStore;
pub use jobs::{CancelOutcome, Created, Job, JobFilter, Jobs, NewJob};
pub use metadata::MetadataStore;
pub use objects::{ObjectMeta, Objects};
pub use postgres::{Migrated, PgOptions, PgStore};
pub use presign::{PresignError, PresignKey, Presigned, Presigner, SignedRequest, UploadRules};
pub use queue::{Claim, Completion, FailOutcome, Lease, Queue};
pub use request_log::{RequestLog, RequestRecord};
pub use secrets::{Secrets, StoredSecret};
pub use sqlite::SqliteStore;
pub use tokens::{ApiKey, ApiKeys, NewRefreshToken, RefreshTokens, RotateOutcome};
pub use usage::{Bucket, QuotaOutcome, QuotaWindow, RateDecision, RateGrant, Usage};
pub use users::{LockoutPolicy, LoginFailure, User, Users};
pub use wakeups::Wakeups;
