//! Taking in one stored upload: claim it (so exactly one reporter goes on), check the
//! stored object against what was expected (size from a HEAD, type and pixels from the
//! header, read with a ranged GET), moderate it when the deployment says so (the whole
//! image: a blurred one replaces the stored bytes), hash it, record its metadata, fire
//! the triggers and settle the claim. A refused object is deleted and the refusal kept, so every later
//! report of the same upload gets the same answer.

use easel_core::{ModerationPolicy, ModerationSurface, ObjectRef, now_millis};
use easel_image::Limits;
use easel_moderation::{Reviewed, Reviewing};
use easel_store::{ExpectedUpload, ObjectMeta, StoreError, UploadSettled, UploadState};
use futures::StreamExt;
use sha2::{Digest, Sha256};

use super::{Ingest, Ingested, too_large, upload_not_found};
use crate::error::{ErrorKind, ServiceError, blocking};

/// How long a claim lasts: a process that dies mid-ingest gives the upload back to the
/// reconciler after this.
const CLAIM_MS: i64 = 5 * 60_000;

/// The head of an object read to sniff its type and read its dimensions: enough for
/// every format's header, EXIF included, in all but unusual files (which are then read
/// whole).
const HEADER_BYTES: u64 = 256 * 1024;

/// A refusal as kept with the upload: its code and kind.
const REFUSALS: &[(&str, ErrorKind)] = &[
    ("payload-too-large", ErrorKind::TooLarge),
    ("content-mismatch", ErrorKind::UnsupportedMedia),
    ("empty-input", ErrorKind::Unprocessable),
    ("unsupported-format", ErrorKind::Unprocessable),
    ("image-too-large", ErrorKind::Unprocessable),
    ("corrupt-image", ErrorKind::Unprocessable),
    ("content-blocked", ErrorKind::Unprocessable),
];

/// A kept refusal, answered again.
fn refusal(code: &str, message: &str) -> ServiceError {
    let (code, kind) = REFUSALS
        .iter()
        .find(|(known, _)| *known == code)
        .copied()
        .unwrap_or(("upload-refused", ErrorKind::Unprocessable));
    ServiceError::new(kind, code, message.to_owned())
}

/// Why taking in an upload stopped.
enum Stop {
    /// The object is not in the store (yet).
    NotArrived,
    /// The object is not acceptable: delete it, keep the refusal.
    Refused(ServiceError),
    /// Something failed that may work later (the store or database is down).
    Failed(ServiceError),
}

impl From<StoreError> for Stop {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => Stop::NotArrived,
            other => Stop::Failed(other.into()),
        }
    }
}

impl Ingest {
    /// Takes in the expected upload at `object` once, whoever reports it.
    pub(super) async fn take_in(&self, object: &ObjectRef) -> Result<Ingested, ServiceError> {
        let now = now_millis();
        let uploads = &self.ports.uploads;
        let mut claimed = uploads.claim_upload(object, now, now + CLAIM_MS).await?;
        if claimed.is_none() && self.uploaded_again(object).await? {
            uploads.release_upload(object, now).await?;
            claimed = uploads.claim_upload(object, now, now + CLAIM_MS).await?;
        }
        let Some(expected) = claimed else {
            return self.settled_answer(object).await;
        };
        match self.verify_and_record(&expected).await {
            Ok(ingested) => Ok(ingested),
            Err(Stop::NotArrived) => {
                uploads
                    .release_upload(object, now + self.settings.recheck_ms)
                    .await?;
                Err(ServiceError::new(
                    ErrorKind::Conflict,
                    "upload-not-arrived",
                    format!(
                        "nothing is stored at {} yet; PUT the bytes to the upload URL, then report it",
                        object.s3_url()
                    ),
                ))
            }
            Err(Stop::Refused(error)) => {
                if let Err(cleanup) = self.ports.blobs.delete(object).await {
                    tracing::error!(error = %cleanup, object = %object.s3_url(), "could not delete a refused upload");
                }
                let settled = UploadSettled::Failed {
                    code: error.code().to_owned(),
                    message: error.message().to_owned(),
                };
                uploads
                    .settle_upload(object, &settled, now_millis())
                    .await?;
                Err(error)
            }
            Err(Stop::Failed(error)) => {
                // Back to pending at once: the next report or reconciler pass retries.
                uploads.release_upload(object, now_millis()).await?;
                Err(error)
            }
        }
    }

    /// Whether a refused upload's object is there again: its bytes were deleted when it
    /// was refused, so the client has sent new ones to the same URL.
    async fn uploaded_again(&self, object: &ObjectRef) -> Result<bool, ServiceError> {
        let refused = self
            .ports
            .uploads
            .get_upload(object)
            .await?
            .is_some_and(|upload| upload.state == UploadState::Failed);
        if !refused {
            return Ok(false);
        }
        match self.ports.blobs.stat(object).await {
            Ok(_) => Ok(true),
            Err(StoreError::NotFound) => Ok(false),
            Err(other) => Err(other.into()),
        }
    }

    /// The answer for an upload someone else claimed or settled.
    async fn settled_answer(&self, object: &ObjectRef) -> Result<Ingested, ServiceError> {
        let Some(upload) = self.ports.uploads.get_upload(object).await? else {
            return Err(upload_not_found(object));
        };
        match upload.state {
            UploadState::Ingested => {
                let meta = self
                    .ports
                    .objects
                    .get_object(object)
                    .await?
                    .ok_or_else(|| upload_not_found(object))?;
                let dimensions = meta.dimensions.unwrap_or_default();
                Ok(Ingested {
                    meta,
                    dimensions,
                    triggered_jobs: Vec::new(),
                })
            }
            UploadState::Failed => {
                let (code, message) = upload.failure.unwrap_or_default();
                Err(refusal(&code, &message))
            }
            UploadState::Expired => Err(ServiceError::new(
                ErrorKind::Conflict,
                "upload-expired",
                "the upload URL expired before anything was stored; ask for a new one",
            )),
            UploadState::Pending | UploadState::Ingesting => Err(ServiceError::new(
                ErrorKind::Conflict,
                "upload-in-progress",
                "this upload is being verified; ask again in a moment",
            )
            .with_retry_after(1)),
        }
    }

    /// Checks the stored object against the expectation, then records and announces it.
    async fn verify_and_record(&self, expected: &ExpectedUpload) -> Result<Ingested, Stop> {
        let object = &expected.object;
        let blobs = &self.ports.blobs;
        let stat = blobs.stat(object).await?;
        if stat.size > expected.max_bytes {
            return Err(Stop::Refused(too_large(expected.max_bytes)));
        }
        let head = blobs.get_head(object, HEADER_BYTES).await?;
        let declared = expected.content_type.clone();
        let limits = self.limits.clone();
        let read_whole = stat.size > head.len() as u64;
        let checked = run(move || inspect(&head, &declared, &limits, read_whole)).await?;
        let (dimensions, sha256) = match checked {
            Inspected::Dimensions(dimensions) => (dimensions, self.hash(object).await?),
            Inspected::NeedsWhole => {
                let bytes = blobs.get(object).await?;
                let sha256 = hex::encode(Sha256::digest(&bytes));
                let declared = expected.content_type.clone();
                let limits = self.limits.clone();
                match run(move || inspect(&bytes, &declared, &limits, false)).await? {
                    Inspected::Dimensions(dimensions) => (dimensions, sha256),
                    Inspected::NeedsWhole => unreachable!("inspect of whole bytes decides"),
                }
            }
        };
        let (size, sha256) = match self.moderate(expected).await? {
            Some(replaced) => replaced,
            None => (stat.size, sha256),
        };
        let meta = ObjectMeta {
            object: object.clone(),
            owner: expected.owner.clone(),
            content_type: expected.content_type.clone(),
            size,
            sha256,
            dimensions: Some(dimensions),
            source: None,
            job_id: None,
            created_at: now_millis(),
        };
        self.ports.objects.put_object(&meta).await?;
        let triggered_jobs = self.fire_triggers(object, &expected.owner).await;
        self.ports
            .uploads
            .settle_upload(object, &UploadSettled::Ingested, now_millis())
            .await?;
        Ok(Ingested {
            meta,
            dimensions,
            triggered_jobs,
        })
    }

    /// Moderates the whole upload under the `uploads` policy: a blocked one is refused
    /// (so deleted), a blurred one is written back in its own format and its new size
    /// and hash returned.
    async fn moderate(&self, expected: &ExpectedUpload) -> Result<Option<(u64, String)>, Stop> {
        let Some(moderation) = &self.ports.moderation else {
            return Ok(None);
        };
        if moderation.uploads == ModerationPolicy::Off {
            return Ok(None);
        }
        let object = &expected.object;
        let bytes = self.ports.blobs.get(object).await?;
        let limits = self.limits.clone();
        let decoded = blocking(move || easel_image::decode_rgba(&bytes, &limits))
            .await
            .map_err(Stop::Failed)?
            .map_err(|e| {
                Stop::Refused(ServiceError::new(
                    ErrorKind::Unprocessable,
                    e.code(),
                    e.to_string(),
                ))
            })?;
        let (format, pixels) = decoded;
        let what = Reviewing {
            surface: ModerationSurface::Uploads,
            owner: &expected.owner,
            subject: object.s3_url(),
        };
        let unavailable = |e: easel_moderation::ModerationUnavailable| {
            Stop::Failed(
                ServiceError::new(
                    ErrorKind::Unavailable,
                    "moderation-unavailable",
                    e.to_string(),
                )
                .with_retry_after(5),
            )
        };
        match moderation.review(what, pixels).await.map_err(unavailable)? {
            Reviewed::Store { blurred: false, .. } => Ok(None),
            Reviewed::Store { pixels, .. } => {
                // Written back in the format it came in (a HEIC one as JPEG would no
                // longer match its declared type, so formats Easel cannot write are
                // refused rather than stored unblurred).
                let encoded = blocking(move || {
                    easel_image::encode_rgba(
                        &pixels,
                        format,
                        &easel_image::OutputOptions::default(),
                    )
                })
                .await
                .map_err(Stop::Failed)?
                .map_err(|e| {
                    Stop::Refused(ServiceError::new(
                        ErrorKind::Unprocessable,
                        "content-blocked",
                        format!("the upload needs blurring, and {e}"),
                    ))
                })?;
                let sha256 = hex::encode(Sha256::digest(&encoded));
                let size = encoded.len() as u64;
                self.ports
                    .blobs
                    .put(object, encoded.into(), &expected.content_type)
                    .await?;
                Ok(Some((size, sha256)))
            }
            Reviewed::Blocked(_) => Err(Stop::Refused(ServiceError::new(
                ErrorKind::Unprocessable,
                "content-blocked",
                "image moderation found content this deployment does not allow; the upload \
                 was deleted",
            ))),
        }
    }

    /// The hex SHA-256 of a stored object, streamed.
    async fn hash(&self, object: &ObjectRef) -> Result<String, StoreError> {
        let (_, mut stream) = self.ports.blobs.get_stream(object).await?;
        let mut hasher = Sha256::new();
        while let Some(chunk) = stream.next().await {
            hasher.update(&chunk?);
        }
        Ok(hex::encode(hasher.finalize()))
    }
}

/// What the header says.
enum Inspected {
    /// An acceptable image of these dimensions.
    Dimensions((u32, u32)),
    /// The header ends past the bytes read: read the whole object.
    NeedsWhole,
}

/// Runs a check off the executor.
async fn run(
    work: impl FnOnce() -> Result<Inspected, ServiceError> + Send + 'static,
) -> Result<Inspected, Stop> {
    match blocking(work).await {
        Ok(Ok(inspected)) => Ok(inspected),
        Ok(Err(refused)) => Err(Stop::Refused(refused)),
        Err(failed) => Err(Stop::Failed(failed)),
    }
}

/// Checks from the bytes' header that they are an image of the declared type within
/// the pixel limit. `partial`: the bytes are only the object's head, so a header that
/// does not fit in them asks for the whole object rather than failing.
fn inspect(
    bytes: &[u8],
    declared: &str,
    limits: &Limits,
    partial: bool,
) -> Result<Inspected, ServiceError> {
    let sniffed = easel_image::sniff(bytes);
    if !sniffed.is_some_and(|f| f.matches_mime(declared)) {
        return Err(ServiceError::new(
            ErrorKind::UnsupportedMedia,
            "content-mismatch",
            format!(
                "the uploaded bytes are not a {declared} image{}",
                sniffed.map_or(String::new(), |f| format!(" (they look like {})", f.mime()))
            ),
        ));
    }
    let info = match easel_image::probe(bytes) {
        Ok(info) => info,
        Err(_) if partial => return Ok(Inspected::NeedsWhole),
        Err(e) => {
            return Err(ServiceError::new(
                ErrorKind::Unprocessable,
                e.code(),
                e.to_string(),
            ));
        }
    };
    limits
        .check_pixels(info.width, info.height)
        .map_err(|e| ServiceError::new(ErrorKind::Unprocessable, e.code(), e.to_string()))?;
    Ok(Inspected::Dimensions((info.width, info.height)))
}
