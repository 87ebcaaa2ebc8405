//! Expected uploads: a presigned upload URL promises an object that Easel has not seen
//! yet. On S3 the bytes go straight to the store, so the promise is kept here (who will
//! own the object, its type and size limit, until when) and exactly one of the reports
//! that the object landed (the client's completion call, a store event, the reconciler)
//! claims it and takes it in.

use async_trait::async_trait;
use easel_core::{Millis, ObjectRef};

use crate::StoreError;

/// Where an expected upload stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadState {
    /// The URL was handed out; the object has not been taken in.
    Pending,
    /// A process is verifying it (until its claim runs out).
    Ingesting,
    /// Verified and recorded; triggers fired.
    Ingested,
    /// Refused (the reason is kept); the bytes were deleted.
    Failed,
    /// The URL expired and nothing arrived.
    Expired,
}

impl UploadState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            UploadState::Pending => "pending",
            UploadState::Ingesting => "ingesting",
            UploadState::Ingested => "ingested",
            UploadState::Failed => "failed",
            UploadState::Expired => "expired",
        }
    }

    /// Reads a stored name.
    pub fn parse(raw: &str) -> Option<UploadState> {
        Some(match raw {
            "pending" => UploadState::Pending,
            "ingesting" => UploadState::Ingesting,
            "ingested" => UploadState::Ingested,
            "failed" => UploadState::Failed,
            "expired" => UploadState::Expired,
            _ => return None,
        })
    }
}

/// An upload Easel handed out a URL for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedUpload {
    /// The object the upload creates.
    pub object: ObjectRef,
    /// Who will own it.
    pub owner: String,
    /// The type it must be.
    pub content_type: String,
    /// The most bytes it may have.
    pub max_bytes: u64,
    /// When the URL expires.
    pub expires_at: Millis,
    /// Where it stands.
    pub state: UploadState,
    /// Why it failed (`Failed`): a stable code and a message.
    pub failure: Option<(String, String)>,
    /// When the reconciler should look for it next.
    pub next_check_at: Millis,
    /// When the URL was handed out.
    pub created_at: Millis,
}

/// How an ingest ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadSettled {
    /// Taken in.
    Ingested,
    /// Refused, with a stable code and a message.
    Failed {
        /// Stable kebab-case code.
        code: String,
        /// What a person can act on.
        message: String,
    },
    /// Never arrived.
    Expired,
}

/// Expected uploads.
#[async_trait]
pub trait Uploads: Send + Sync {
    /// Records an upload URL that was handed out.
    async fn expect_upload(&self, upload: &ExpectedUpload) -> Result<(), StoreError>;

    /// An expected upload, in whatever state.
    async fn get_upload(&self, object: &ObjectRef) -> Result<Option<ExpectedUpload>, StoreError>;

    /// Claims an upload for ingest until `until`: succeeds only for a pending upload, or
    /// one whose previous claim ran out (its process died). At most one caller wins.
    async fn claim_upload(
        &self,
        object: &ObjectRef,
        now: Millis,
        until: Millis,
    ) -> Result<Option<ExpectedUpload>, StoreError>;

    /// Puts a claimed upload back to pending (its object has not arrived yet), or a
    /// refused one whose object was uploaded again, to be looked at from `next_check_at`.
    async fn release_upload(
        &self,
        object: &ObjectRef,
        next_check_at: Millis,
    ) -> Result<(), StoreError>;

    /// Records how a claimed upload ended.
    async fn settle_upload(
        &self,
        object: &ObjectRef,
        settled: &UploadSettled,
        now: Millis,
    ) -> Result<(), StoreError>;

    /// Uploads the reconciler should look at: pending ones due for a check, and claims
    /// that ran out; oldest first.
    async fn uploads_due(&self, now: Millis, limit: u32)
    -> Result<Vec<ExpectedUpload>, StoreError>;

    /// Forgets settled uploads last changed before `before`; returns how many.
    async fn prune_settled_uploads(&self, before: Millis) -> Result<u64, StoreError>;
}
