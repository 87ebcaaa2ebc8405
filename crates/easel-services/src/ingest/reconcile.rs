//! The reconciler: the report of last resort. It looks at expected uploads nobody
//! reported (the client closed the tab, the store sends no events), takes in those whose
//! object is now stored, and expires those whose URL ran out with nothing stored. It is
//! safe to run in every process at once: each upload is claimed before it is looked at.

use easel_core::now_millis;
use easel_store::UploadSettled;

use super::Ingest;
use crate::error::{ErrorKind, ServiceError};

/// Uploads looked at per pass.
const BATCH: u32 = 200;

/// An upload whose URL expired is given up this long after, so that a PUT that started
/// just before the expiry can still finish.
const EXPIRY_GRACE_MS: i64 = 15 * 60_000;

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reconciled {
    /// Uploads found stored and taken in.
    pub ingested: u32,
    /// Uploads found stored and refused.
    pub refused: u32,
    /// Uploads given up: the URL expired with nothing stored.
    pub expired: u32,
    /// Uploads still outstanding, looked at again later.
    pub waiting: u32,
}

impl Ingest {
    /// One pass over the uploads that are due for a look.
    pub async fn reconcile(&self) -> Result<Reconciled, ServiceError> {
        let now = now_millis();
        let uploads = &self.ports.uploads;
        let mut done = Reconciled::default();
        for upload in uploads.uploads_due(now, BATCH).await? {
            let object = &upload.object;
            if upload.expires_at + EXPIRY_GRACE_MS < now && !self.is_stored(object).await? {
                // Claim first, so a report arriving meanwhile is not overruled.
                if uploads
                    .claim_upload(object, now, now + self.settings.recheck_ms)
                    .await?
                    .is_some()
                {
                    uploads
                        .settle_upload(object, &UploadSettled::Expired, now)
                        .await?;
                    done.expired += 1;
                }
                continue;
            }
            match self.take_in(object).await {
                Ok(_) => done.ingested += 1,
                Err(error) if error.code() == "upload-not-arrived" => done.waiting += 1,
                Err(error) if error.code() == "upload-in-progress" => {}
                Err(error) if error.kind() == ErrorKind::Unavailable => return Err(error),
                Err(_) => done.refused += 1,
            }
        }
        Ok(done)
    }

    /// Forgets uploads settled before `before` (the objects themselves stay).
    pub async fn prune_settled(&self, before: easel_core::Millis) -> Result<u64, ServiceError> {
        Ok(self.ports.uploads.prune_settled_uploads(before).await?)
    }

    async fn is_stored(&self, object: &easel_core::ObjectRef) -> Result<bool, ServiceError> {
        match self.ports.blobs.stat(object).await {
            Ok(_) => Ok(true),
            Err(easel_store::StoreError::NotFound) => Ok(false),
            Err(other) => Err(other.into()),
        }
    }
}
