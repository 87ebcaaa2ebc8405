//! The `classic` engine: no model weights, always available. INPAINTING removes what is
//! under the mask by exemplar-based fill (PatchMatch); OUTPAINTING extends the canvas
//! and fills everything outside the kept area the same way. Pixels that are not to be
//! changed come out byte-identical. It does not follow text prompts.

mod patchmatch;

use async_trait::async_trait;
use image::{GrayImage, RgbImage, RgbaImage};
use tokio_util::sync::CancellationToken;

use crate::canvas::edit_canvas;
use crate::engine::{Capabilities, Engine, EngineError, GeneratedImage, Progress};
use crate::request::{GenerationRequest, Task, TaskType};

pub use patchmatch::{FillParams, Stopped, fill};

/// The classic engine.
pub struct ClassicEngine {
    capabilities: Capabilities,
}

impl Default for ClassicEngine {
    fn default() -> Self {
        ClassicEngine {
            capabilities: Capabilities {
                tasks: vec![TaskType::Inpainting, TaskType::Outpainting],
                max_images: 5,
                follows_prompt: false,
                mask_prompts: false,
            },
        }
    }
}

#[async_trait]
impl Engine for ClassicEngine {
    fn name(&self) -> &str {
        "classic"
    }

    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    async fn run(
        &self,
        request: &GenerationRequest,
        progress: &dyn Progress,
        cancel: &CancellationToken,
    ) -> Result<Vec<GeneratedImage>, EngineError> {
        let job = edit_canvas(request, "classic")?;
        if job.hole.pixels().all(|p| p.0[0] != 0) {
            return Err(EngineError::InvalidInput(
                "the area to change covers the whole image (the mask with the image's transparent pixels), so the classic engine has nothing to fill it from; leave part of the image unmasked, or use an engine that generates".into(),
            ));
        }
        let count = request.config.number_of_images;
        let return_mask = matches!(
            request.task,
            Task::Inpainting {
                return_mask: true,
                ..
            } | Task::Outpainting {
                return_mask: true,
                ..
            }
        );
        let mut images = Vec::with_capacity(count as usize);
        for index in 0..count {
            let canvas = job.canvas.clone();
            let hole = job.hole.clone();
            let token = cancel.clone();
            let seed = u64::from(request.config.seed) + u64::from(index);
            let filled =
                tokio::task::spawn_blocking(move || fill_rgba(&canvas, &hole, seed, &token))
                    .await
                    .map_err(|e| EngineError::Internal(format!("the fill task failed: {e}")))??;
            progress.report(index + 1, count);
            images.push(GeneratedImage {
                pixels: filled,
                mask: return_mask.then(|| job.hole.clone()),
            });
        }
        Ok(images)
    }
}

/// Fills `hole` in an RGBA canvas; alpha inside the hole becomes opaque.
fn fill_rgba(
    canvas: &RgbaImage,
    hole: &GrayImage,
    seed: u64,
    cancel: &CancellationToken,
) -> Result<RgbaImage, EngineError> {
    let rgb = RgbImage::from_fn(canvas.width(), canvas.height(), |x, y| {
        let p = canvas.get_pixel(x, y).0;
        image::Rgb([p[0], p[1], p[2]])
    });
    let params = FillParams {
        seed,
        ..FillParams::default()
    };
    let filled = fill(&rgb, hole, params, &|| !cancel.is_cancelled(), &|_, _| {})
        .map_err(|Stopped| EngineError::Cancelled)?;
    let mut out = canvas.clone();
    for (x, y, pixel) in out.enumerate_pixels_mut() {
        if hole.get_pixel(x, y).0[0] != 0 {
            let p = filled.get_pixel(x, y).0;
            pixel.0 = [p[0], p[1], p[2], 255];
        }
    }
    Ok(out)
}
