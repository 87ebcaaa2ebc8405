//! The fixed set of buckets Easel stores objects in.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A bucket: the top-level namespace of an object. Originals land in `uploads`,
/// everything Easel produces lands in `outputs`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Bucket {
    /// Objects that clients upload through presigned URLs.
    Uploads,
    /// Objects that jobs write.
    Outputs,
}

impl Bucket {
    /// Every bucket, for code that has to create or scan them all.
    pub const ALL: [Bucket; 2] = [Bucket::Uploads, Bucket::Outputs];

    /// The bucket's name as it appears in URLs and `s3://` references.
    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::Uploads => "uploads",
            Bucket::Outputs => "outputs",
        }
    }
}

impl fmt::Display for Bucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A bucket name that Easel does not have.
#[derive(Debug, thiserror::Error)]
#[error("unknown bucket `{0}`: expected `uploads` or `outputs`")]
pub struct BucketParseError(pub String);

impl FromStr for Bucket {
    type Err = BucketParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "uploads" => Ok(Bucket::Uploads),
            "outputs" => Ok(Bucket::Outputs),
            other => Err(BucketParseError(other.to_owned())),
        }
    }
}
