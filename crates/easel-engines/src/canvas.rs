//! The canvas of an edit: the image to change and the mask of pixels to regenerate,
//! prepared the same way for every engine that computes edits itself (INPAINTING
//! changes the masked area; OUTPAINTING grows the canvas around the image, centred, and
//! changes everything outside the kept area).

use image::{GrayImage, Luma, RgbaImage};

use crate::engine::EngineError;
use crate::request::{GenerationRequest, Mask, Task};

/// The image to edit and where.
#[derive(Debug, Clone, PartialEq)]
pub struct EditCanvas {
    /// The canvas, at the output size.
    pub canvas: RgbaImage,
    /// Non-zero (255) where pixels are to be regenerated.
    pub hole: GrayImage,
}

/// The canvas of an INPAINTING or OUTPAINTING request; `engine` names the engine in
/// errors (a `maskPrompt` needs a segmentation model, which these engines lack).
pub fn edit_canvas(request: &GenerationRequest, engine: &str) -> Result<EditCanvas, EngineError> {
    let mask_image = |mask: &Mask| match mask {
        Mask::Image { masked, .. } => Ok(masked.clone()),
        Mask::Prompt(_) => Err(EngineError::InvalidInput(format!(
            "the {engine} engine needs a maskImage; a maskPrompt needs a segmentation model"
        ))),
    };
    match &request.task {
        Task::Inpainting { image, mask, .. } => Ok(EditCanvas {
            canvas: image.pixels.clone(),
            hole: mask_image(mask)?,
        }),
        Task::Outpainting { image, mask, .. } => {
            // The mask marks what to keep; the canvas grows to the requested size with
            // the image centred, and everything not kept is regenerated.
            let keep = mask_image(mask)?;
            let (w, h) = (request.config.width, request.config.height);
            let (iw, ih) = image.pixels.dimensions();
            let (ox, oy) = ((w - iw) / 2, (h - ih) / 2);
            let mut canvas = RgbaImage::new(w, h);
            image::imageops::replace(&mut canvas, &image.pixels, i64::from(ox), i64::from(oy));
            let hole = GrayImage::from_fn(w, h, |x, y| {
                let inside = x >= ox && y >= oy && x < ox + iw && y < oy + ih;
                let kept = inside && keep.get_pixel(x - ox, y - oy).0[0] != 0;
                Luma([if kept { 0 } else { 255 }])
            });
            Ok(EditCanvas { canvas, hole })
        }
        other => Err(EngineError::Unsupported {
            engine: engine.to_owned(),
            task: other.task_type().to_string(),
            alternatives: Vec::new(),
        }),
    }
}
