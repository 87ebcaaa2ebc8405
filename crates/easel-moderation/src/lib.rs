//! Image moderation of uploads, process outputs and generated or edited images, with a
//! detection model (nudenet's NSFW detector, say) and the classes configured as unsafe.
//! Per surface: `off`, `flag` (stored, recorded in the audit log for admins), `blur`
//! (the unsafe regions blurred before storing, recorded) or `block` (nothing stored,
//! recorded). Fails closed: when the model cannot run, the caller stores nothing and
//! tries again later.

use std::sync::Arc;

use easel_core::{ModerationPolicy, ModerationSurface, now_millis};
use easel_image::{DetectParams, DetectedObject, ObjectDetector, blur_regions_rgba};
use easel_store::{Audit, AuditEvent};
use image::RgbaImage;

/// The moderation set-up of a deployment.
pub struct ImageModeration {
    /// The model that finds unsafe content.
    pub detector: Arc<dyn ObjectDetector>,
    /// Its model name, the unsafe classes and the lowest confidence that counts.
    pub params: DetectParams,
    /// For uploads.
    pub uploads: ModerationPolicy,
    /// For generated and edited images.
    pub generations: ModerationPolicy,
    /// For process outputs.
    pub outputs: ModerationPolicy,
    /// Where flags, blurs and blocks are recorded.
    pub audit: Arc<dyn Audit>,
}

/// Which image is being reviewed, for the record.
pub struct Reviewing<'a> {
    /// The surface it comes from.
    pub surface: ModerationSurface,
    /// Its owner.
    pub owner: &'a str,
    /// Which image, for people: `job … image 0`, `s3://uploads/…`.
    pub subject: String,
}

/// What moderation decided.
pub enum Reviewed {
    /// Store these pixels; `blurred` when moderation changed them.
    Store {
        /// The pixels to store.
        pixels: RgbaImage,
        /// Whether unsafe regions were blurred.
        blurred: bool,
    },
    /// Do not store anything; the findings say why.
    Blocked(Vec<DetectedObject>),
}

/// Why an image could not be reviewed: the model could not run. Nothing may be stored.
#[derive(Debug, thiserror::Error)]
#[error("image moderation could not run: {0}")]
pub struct ModerationUnavailable(pub String);

impl ImageModeration {
    /// The policy for `surface`.
    pub fn policy(&self, surface: ModerationSurface) -> ModerationPolicy {
        match surface {
            ModerationSurface::Uploads => self.uploads,
            ModerationSurface::Generations => self.generations,
            ModerationSurface::Outputs => self.outputs,
        }
    }

    /// Reviews `image` under its surface's policy and records what was found.
    pub async fn review(
        &self,
        what: Reviewing<'_>,
        image: RgbaImage,
    ) -> Result<Reviewed, ModerationUnavailable> {
        let policy = self.policy(what.surface);
        let keep = |pixels| Reviewed::Store {
            pixels,
            blurred: false,
        };
        if policy == ModerationPolicy::Off {
            return Ok(keep(image));
        }
        // Detection is CPU work: off the async workers.
        let detector = self.detector.clone();
        let params = self.params.clone();
        let (image, found) = tokio::task::spawn_blocking(move || {
            let (w, h) = image.dimensions();
            let found = detector.detect(image.as_raw(), (w, h, 4), &params);
            (image, found)
        })
        .await
        .map_err(|e| ModerationUnavailable(format!("the moderation task crashed: {e}")))?;
        let found = found.map_err(ModerationUnavailable)?;
        if found.is_empty() {
            return Ok(keep(image));
        }
        let (event, reviewed) = match policy {
            ModerationPolicy::Off | ModerationPolicy::Flag => ("image-flagged", keep(image)),
            ModerationPolicy::Blur => {
                let boxes: Vec<[f32; 4]> = found.iter().map(|o| o.bbox).collect();
                // Strong enough that nothing recognisable is left at any size.
                let sigma = (image.width().min(image.height()) as f32 / 30.0).max(8.0);
                let blurred =
                    tokio::task::spawn_blocking(move || blur_regions_rgba(image, sigma, &boxes))
                        .await
                        .map_err(|e| {
                            ModerationUnavailable(format!("the blur task crashed: {e}"))
                        })?;
                let reviewed = Reviewed::Store {
                    pixels: blurred,
                    blurred: true,
                };
                ("image-blurred", reviewed)
            }
            ModerationPolicy::Block => ("image-blocked", Reviewed::Blocked(found.clone())),
        };
        self.record(event, &what, &found).await;
        metrics::counter!("easel_moderation_total", "surface" => what.surface.as_str(), "action" => event)
            .increment(1);
        Ok(reviewed)
    }

    async fn record(&self, event: &str, what: &Reviewing<'_>, found: &[DetectedObject]) {
        let classes: Vec<String> = found
            .iter()
            .map(|o| format!("{} {:.2}", o.label, o.confidence))
            .collect();
        let record = AuditEvent {
            at: now_millis(),
            event: event.to_owned(),
            principal: Some(what.owner.to_owned()),
            username: None,
            ip: None,
            user_agent: None,
            request_id: None,
            detail: Some(format!(
                "{}: {}: {}",
                what.surface.as_str(),
                what.subject,
                classes.join(", ")
            )),
        };
        // The decision stands even if the record cannot be written; say so loudly.
        if let Err(error) = self.audit.record_audit(&record).await {
            tracing::error!(%error, event, "could not record a moderation decision");
        }
    }
}
