//! Easel's domain vocabulary shared by every crate: identifiers, object keys,
//! buckets, principals and timestamps. Pure types, no I/O.

mod bucket;
mod ids;
mod job;
mod key;
mod principal;
mod time;

pub use bucket::{Bucket, BucketParseError};
pub use ids::{JobId, JobIdParseError};
pub use job::{
    Detection, GenerateSpec, ImageFailure, ImageResult, JobKind, JobStatus, ObjectRef, OutputInfo,
    ProcessSpec,
};
pub use key::{KeyError, ObjectKey, sanitize_filename, sanitize_folder};
pub use principal::Principal;
pub use time::{Millis, now_millis, rfc3339};
