//! `[image_moderation]`: checking uploads, process outputs and generated images with a
//! detection model (nudenet's NSFW detector from PyPI, registered under
//! `[detection.models]`), and what happens per surface when it finds an unsafe class.

use std::sync::Arc;

use anyhow::bail;
use easel_core::ModerationPolicy;
use easel_detect::DetectionModels;
use easel_image::DetectParams;
use easel_moderation::ImageModeration;
use easel_store::Audit;
use serde::{Deserialize, Serialize};

/// `[image_moderation]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImageModerationConfig {
    /// The detection model that finds unsafe content (a `[detection.models]` name or a
    /// pulled model). Required when a surface is not `off`.
    pub model: Option<String>,
    /// The classes that make an image unsafe. Default: nudenet's exposed classes.
    pub classes: Vec<String>,
    /// The lowest confidence that counts, (0, 1]. Default 0.5.
    pub min_confidence: f32,
    /// Uploads: `off`, `flag`, `blur` or `block`. Default `off`.
    pub uploads: ModerationPolicy,
    /// Generated and edited images: `off`, `flag`, `blur` or `block`. Default `off`.
    pub generations: ModerationPolicy,
    /// Process job outputs: `off`, `flag`, `blur` or `block`. Default `off`.
    pub outputs: ModerationPolicy,
}

impl Default for ImageModerationConfig {
    fn default() -> Self {
        ImageModerationConfig {
            model: None,
            classes: [
                "FEMALE_BREAST_EXPOSED",
                "FEMALE_GENITALIA_EXPOSED",
                "MALE_GENITALIA_EXPOSED",
                "BUTTOCKS_EXPOSED",
                "ANUS_EXPOSED",
            ]
            .map(String::from)
            .to_vec(),
            min_confidence: 0.5,
            uploads: ModerationPolicy::Off,
            generations: ModerationPolicy::Off,
            outputs: ModerationPolicy::Off,
        }
    }
}

impl ImageModerationConfig {
    fn is_on(&self) -> bool {
        [self.uploads, self.generations, self.outputs]
            .iter()
            .any(|p| *p != ModerationPolicy::Off)
    }

    /// Checks what types cannot: a model when a surface is on, a confidence in range.
    pub fn validate(&self) -> anyhow::Result<()> {
        if !(self.min_confidence > 0.0 && self.min_confidence <= 1.0) {
            bail!(
                "image_moderation.min_confidence must be in (0, 1] (got {})",
                self.min_confidence
            );
        }
        if self.is_on() && self.model.is_none() {
            bail!(
                "image_moderation needs `model` (a detection model, e.g. nudenet's registered \
                 under [detection.models.nudenet]) when a surface is not `off`"
            );
        }
        if self.is_on() && self.classes.is_empty() {
            bail!("image_moderation.classes is empty: name the classes that make an image unsafe");
        }
        Ok(())
    }

    /// The moderation uploads and workers get, or `None` when every surface is off.
    /// Fails when the model is not there or cannot be loaded: a process that should
    /// moderate must not start without it.
    pub fn build(
        &self,
        models: &Arc<DetectionModels>,
        audit: Arc<dyn Audit>,
    ) -> anyhow::Result<Option<Arc<ImageModeration>>> {
        if !self.is_on() {
            return Ok(None);
        }
        let model = self.model.clone();
        if let Err(e) = models.get(model.as_deref()) {
            bail!("image moderation is on but its model cannot be used: {e}");
        }
        Ok(Some(Arc::new(ImageModeration {
            detector: models.clone(),
            params: DetectParams {
                model,
                classes: Some(self.classes.clone()),
                min_confidence: Some(f64::from(self.min_confidence)),
                ..DetectParams::default()
            },
            uploads: self.uploads,
            generations: self.generations,
            outputs: self.outputs,
            audit,
        })))
    }
}
