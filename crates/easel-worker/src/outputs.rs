//! Writing a job's output image: the bytes, then the metadata row that makes the object
//! visible, then the [`OutputInfo`] reported in the job's results. Both job kinds write
//! through here. Their key schemes differ on purpose: `process` outputs live under
//! `outputs/<job id>/<index>-<source stem>.<ext>`, `generate` outputs are
//! `outputs/img-<hash>.<ext>` (seed 003's names); each is stable across attempts, so a
//! retry overwrites its own earlier output instead of adding another.

use bytes::Bytes;
use easel_core::{ObjectRef, OutputInfo, now_millis};
use easel_image::Format;
use easel_store::{Claim, ObjectMeta, StoreError};

use crate::WorkerDeps;

/// An encoded image ready to be stored.
pub struct EncodedOutput {
    /// Where it goes.
    pub object: ObjectRef,
    /// Its encoding.
    pub format: Format,
    /// Pixels.
    pub width: u32,
    /// Pixels.
    pub height: u32,
    /// The encoded bytes.
    pub bytes: Vec<u8>,
    /// The source it was made from (`process` jobs).
    pub source: Option<ObjectRef>,
}

/// Stores `output` for the claimed job: bytes first, so the metadata row never names
/// bytes that are not there.
pub async fn store_output(
    claim: &Claim,
    deps: &WorkerDeps,
    output: EncodedOutput,
) -> Result<OutputInfo, StoreError> {
    let EncodedOutput {
        object,
        format,
        width,
        height,
        bytes,
        source,
    } = output;
    let stored = deps
        .blobs
        .put(&object, Bytes::from(bytes), format.mime())
        .await?;
    deps.objects
        .put_object(&ObjectMeta {
            object: object.clone(),
            owner: claim.job.owner.clone(),
            content_type: format.mime().to_owned(),
            size: stored.size,
            sha256: stored.sha256.clone(),
            dimensions: Some((width, height)),
            source,
            job_id: Some(claim.job.id),
            created_at: now_millis(),
        })
        .await?;
    Ok(OutputInfo {
        object,
        content_type: format.mime().to_owned(),
        format: format.extension().to_owned(),
        width,
        height,
        bytes: stored.size,
        sha256: stored.sha256,
    })
}
