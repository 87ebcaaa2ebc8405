//! Easel's persistence behind narrow traits: job records ([`Jobs`]), the durable queue
//! ([`Queue`]), object metadata ([`Objects`]), object bytes ([`Blobs`]), identity
//! ([`Users`], [`ExternalPrincipals`], [`RefreshTokens`], [`ApiKeys`], [`Usage`],
//! [`Audit`]), the deployment's shared [`Secrets`], the generation request log
//! ([`RequestLog`]), plus the HMAC presigner for URLs that Easel serves itself.
//! `SqliteStore` and the filesystem [`ObjectBlobs`] are the embedded defaults; `PgStore`
//! keeps the same records in PostgreSQL, and [`S3Store`] the bytes in S3, for several
//! processes on several machines. Expected uploads ([`Uploads`]) and the [`UrlSigner`]
//! port cover clients that upload straight to the store. Every engine
//! implements the same traits and runs the same conformance suite (`tests/conformance.rs`).

mod account_codes;
mod alarms;
mod audit;
mod blobs;
mod challenges;
mod copy;
mod deliveries;
mod error;
mod external;
mod fs_blobs;
mod identity;
mod jobs;
mod metadata;
mod object_blobs;
mod objects;
mod postgres;
mod presign;
mod queue;
mod reminders;
mod request_log;
mod rows;
mod s3;
mod secrets;
mod signing;
mod sqlite;
mod tokens;
mod uploads;
mod usage;
mod users;
mod wakeups;

pub use account_codes::{AccountCodes, CodeCheck, Issued, MAX_CODE_TRIES, MAX_CODES_PER_HOUR};
pub use alarms::{AlarmRecord, AlarmTransition, Alarms, HttpCounts, WindowStats};
pub use audit::{Audit, AuditEvent};
pub use blobs::{BlobStat, Blobs, ByteStream, PutOutcome};
pub use challenges::SpentChallenges;
pub use copy::{CopiedTable, copy_sqlite_to_postgres};
pub use deliveries::{Deliveries, Delivery};
pub use error::StoreError;
pub use external::{ExternalPrincipal, ExternalPrincipals};
pub use identity::IdentityStore;
pub use jobs::{
    Activity, CancelOutcome, Created, Job, JobFilter, Jobs, NewJob, Redrive, announcement,
};
pub use metadata::MetadataStore;
pub use object_blobs::{MULTIPART_BYTES, ObjectBlobs};
pub use objects::{ObjectMeta, Objects};
pub use postgres::{Migrated, PgOptions, PgStore};
pub use presign::{PresignError, PresignKey, Presigned, Presigner, SignedRequest, UploadRules};
pub use queue::{Claim, Completion, FailOutcome, Lease, Queue};
pub use reminders::{Reminder, Reminders};
pub use request_log::{RequestLog, RequestRecord};
pub use s3::{S3Credentials, S3Location, S3Signer, S3Store};
pub use secrets::{Secrets, StoredSecret};
pub use signing::{SignedUrl, UploadUrl, UrlSigner};
pub use sqlite::SqliteStore;
pub use tokens::{ApiKey, ApiKeys, NewRefreshToken, RefreshTokens, RotateOutcome};
pub use uploads::{ExpectedUpload, UploadSettled, UploadState, Uploads};
pub use usage::{Bucket, QuotaOutcome, QuotaWindow, RateDecision, RateGrant, Usage};
pub use users::{LockoutPolicy, LoginFailure, Notifications, User, Users};
pub use wakeups::Wakeups;
