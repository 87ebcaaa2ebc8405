//! Easel's persistence behind narrow traits: job records ([`Jobs`]), the durable queue
//! ([`Queue`]), object metadata ([`Objects`]) and object bytes ([`Blobs`]), plus the
//! HMAC presigner for URLs that Easel serves itself. `SqliteStore` and `FsBlobs` are the
//! embedded defaults; other engines implement the same traits and run the same
//! conformance suite (`tests/conformance.rs`).

mod blobs;
mod error;
mod fs_blobs;
mod jobs;
mod objects;
mod presign;
mod queue;
mod sqlite;
mod wakeups;

pub use blobs::{Blobs, PutOutcome};
pub use error::StoreError;
pub use fs_blobs::FsBlobs;
pub use jobs::{CancelOutcome, Created, Job, JobFilter, Jobs, NewJob};
pub use objects::{ObjectMeta, Objects};
pub use presign::{PresignError, PresignKey, Presigned, Presigner, SignedRequest, UploadRules};
pub use queue::{Claim, Completion, FailOutcome, Lease, Queue};
pub use sqlite::SqliteStore;
pub use wakeups::Wakeups;
