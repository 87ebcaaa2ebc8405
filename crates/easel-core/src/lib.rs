//! Easel's domain vocabulary shared by every crate: identifiers, object keys, buckets,
//! principals, timestamps, the job, generation and moderation vocabularies, quota classes,
//! the idempotency key and webhooks' signing and address rules. Pure types, each parsed
//! once where it enters; no I/O.

mod bucket;
mod generate;
mod idempotency;
mod ids;
mod job;
mod key;
mod moderation;
mod names;
mod principal;
mod time;
mod usage;
mod webhook;

pub use bucket::{Bucket, BucketParseError};
pub use generate::{Dialect, EngineErrorCode, GenerateSpec, OutputFormat, Quality, TaskType};
pub use idempotency::{IdempotencyKey, InvalidIdempotencyKey, MAX_IDEMPOTENCY_KEY_LEN};
pub use ids::{JobId, JobIdParseError};
pub use job::{
    Detection, EmailSpec, ImageFailure, ImageResult, JobKind, JobStatus, ObjectRef, OutputInfo,
    ProcessSpec, WebhookSpec,
};
pub use key::{
    KeyError, MAX_KEY_BYTES, MAX_SEGMENT_BYTES, ObjectKey, sanitize_filename, sanitize_folder,
};
pub use moderation::{ModerationPolicy, ModerationSurface};
pub use names::UnknownName;
pub use principal::Principal;
pub use time::{Millis, now_millis, rfc3339};
pub use usage::{OpClass, QuotaPeriod};
pub use webhook::{MAX_CALLBACK_URL, WebhookPolicy, callback_url_pattern, owner_secret, signature};
