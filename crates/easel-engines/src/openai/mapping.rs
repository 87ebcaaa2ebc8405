//! Titan/Nova requests as OpenAI Images calls: which endpoint, the prompt (OpenAI has no
//! negative prompt), the size a model accepts, and the image and mask PNGs for edits.

use image::{Rgba, RgbaImage};

use crate::engine::EngineError;
use crate::request::{GenerationRequest, Mask, Quality, Task};

/// The prompt sent for edits that came without one (OpenAI requires a prompt).
pub const NEUTRAL_EDIT_PROMPT: &str = "Fill in the masked area to match the surroundings";

/// What to ask OpenAI for.
pub(crate) enum Call {
    /// `POST /images/generations` (JSON).
    Generate { prompt: String },
    /// `POST /images/edits` (multipart): the image and a mask whose alpha is 0 where
    /// the picture is to change.
    Edit {
        prompt: String,
        image_png: Vec<u8>,
        mask_png: Vec<u8>,
    },
    /// `POST /images/variations` (multipart).
    Vary { image_png: Vec<u8> },
}

/// The call for a request; tasks OpenAI has no counterpart for are unsupported.
pub(crate) fn call(request: &GenerationRequest) -> Result<Call, EngineError> {
    match &request.task {
        Task::TextImage {
            text,
            negative_text,
        } => Ok(Call::Generate {
            prompt: prompt(Some(text), negative_text.as_deref()),
        }),
        Task::Inpainting {
            image,
            mask,
            text,
            negative_text,
            ..
        } => {
            let masked = mask_pixels(mask)?;
            // Black in the Titan mask (masked != 0) is the area to change.
            let mask = RgbaImage::from_fn(image.pixels.width(), image.pixels.height(), |x, y| {
                let p = image.pixels.get_pixel(x, y).0;
                let alpha = if masked.get_pixel(x, y).0[0] != 0 {
                    0
                } else {
                    255
                };
                Rgba([p[0], p[1], p[2], alpha])
            });
            Ok(Call::Edit {
                prompt: edit_prompt(text.as_deref(), negative_text.as_deref()),
                image_png: crate::http::encode_png(&image.pixels)?,
                mask_png: crate::http::encode_png(&mask)?,
            })
        }
        Task::Outpainting {
            image,
            mask,
            text,
            negative_text,
            ..
        } => {
            let keep = mask_pixels(mask)?;
            let (canvas, mask) = outpaint_canvas(
                &image.pixels,
                keep,
                request.config.width,
                request.config.height,
            );
            Ok(Call::Edit {
                prompt: edit_prompt(Some(text), negative_text.as_deref()),
                image_png: crate::http::encode_png(&canvas)?,
                mask_png: crate::http::encode_png(&mask)?,
            })
        }
        Task::ImageVariation { images, .. } => Ok(Call::Vary {
            image_png: crate::http::encode_png(&images[0].pixels)?,
        }),
        other => Err(EngineError::Unsupported {
            engine: "openai".to_owned(),
            task: other.task_type().to_string(),
            alternatives: Vec::new(),
        }),
    }
}

fn mask_pixels(mask: &Mask) -> Result<&image::GrayImage, EngineError> {
    match mask {
        Mask::Image { masked, .. } => Ok(masked),
        Mask::Prompt(_) => Err(EngineError::InvalidInput(
            "the openai engine needs a maskImage; a maskPrompt needs a segmentation model"
                .to_owned(),
        )),
    }
}

/// The canvas for outpainting as the classic engine lays it out: the image centred on a
/// `w`×`h` canvas (transparent around it), and a mask opaque only where the Titan mask
/// keeps the picture (black inside the image), transparent everywhere else.
fn outpaint_canvas(
    image: &RgbaImage,
    keep: &image::GrayImage,
    w: u32,
    h: u32,
) -> (RgbaImage, RgbaImage) {
    let (iw, ih) = image.dimensions();
    let (ox, oy) = ((w - iw) / 2, (h - ih) / 2);
    let mut canvas = RgbaImage::new(w, h);
    image::imageops::replace(&mut canvas, image, i64::from(ox), i64::from(oy));
    let mask = RgbaImage::from_fn(w, h, |x, y| {
        let inside = x >= ox && y >= oy && x < ox + iw && y < oy + ih;
        let kept = inside && keep.get_pixel(x - ox, y - oy).0[0] != 0;
        let p = canvas.get_pixel(x, y).0;
        Rgba([p[0], p[1], p[2], if kept { 255 } else { 0 }])
    });
    (canvas, mask)
}

/// The prompt with the negative prompt appended as `Avoid: …`.
pub(crate) fn prompt(text: Option<&str>, negative: Option<&str>) -> String {
    match (text, negative) {
        (Some(text), Some(negative)) => format!("{text}\nAvoid: {negative}"),
        (Some(text), None) => text.to_owned(),
        (None, Some(negative)) => format!("Avoid: {negative}"),
        (None, None) => String::new(),
    }
}

fn edit_prompt(text: Option<&str>, negative: Option<&str>) -> String {
    prompt(Some(text.unwrap_or(NEUTRAL_EDIT_PROMPT)), negative)
}

/// What a model accepts, as far as Easel knows (unknown models, e.g. another server's,
/// get the request's values as they are).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ModelKind {
    DallE2,
    DallE3,
    GptImage,
    Other,
}

impl ModelKind {
    pub fn of(model: &str) -> Self {
        if model == "dall-e-2" {
            ModelKind::DallE2
        } else if model == "dall-e-3" {
            ModelKind::DallE3
        } else if model.starts_with("gpt-image") {
            ModelKind::GptImage
        } else {
            ModelKind::Other
        }
    }

    /// Whether to ask for `response_format: b64_json` (GPT image models refuse the
    /// parameter and always answer in base64).
    pub fn takes_response_format(self) -> bool {
        self != ModelKind::GptImage
    }

    /// Images per call (DALL·E 3 makes one at a time).
    pub fn max_n(self) -> u32 {
        if self == ModelKind::DallE3 { 1 } else { 10 }
    }

    /// The `quality` value, where the model has one.
    pub fn quality(self, quality: Quality) -> Option<&'static str> {
        match (self, quality) {
            (ModelKind::DallE3, Quality::Standard) => Some("standard"),
            (ModelKind::DallE3, Quality::Premium) => Some("hd"),
            (ModelKind::GptImage, Quality::Standard) => Some("medium"),
            (ModelKind::GptImage, Quality::Premium) => Some("high"),
            _ => None,
        }
    }

    /// The `size` value for a wanted `w`×`h`: the model's size of the nearest aspect
    /// ratio (DALL·E 2: the smallest square that holds it), or `WxH` for other models.
    pub fn size(self, w: u32, h: u32) -> String {
        let choices: &[(u32, u32)] = match self {
            ModelKind::DallE2 => {
                let side = [256, 512, 1024]
                    .into_iter()
                    .find(|s| *s >= w.max(h))
                    .unwrap_or(1024);
                return format!("{side}x{side}");
            }
            ModelKind::DallE3 => &[(1024, 1024), (1792, 1024), (1024, 1792)],
            ModelKind::GptImage => &[(1024, 1024), (1536, 1024), (1024, 1536)],
            ModelKind::Other => return format!("{w}x{h}"),
        };
        let aspect = |(a, b): (u32, u32)| (f64::from(a) / f64::from(b)).ln();
        let wanted = aspect((w, h));
        let (cw, ch) = choices
            .iter()
            .copied()
            .min_by(|a, b| {
                let (da, db) = ((aspect(*a) - wanted).abs(), (aspect(*b) - wanted).abs());
                da.total_cmp(&db)
            })
            .unwrap_or((1024, 1024));
        format!("{cw}x{ch}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_the_model() {
        assert_eq!(ModelKind::DallE2.size(512, 512), "512x512");
        assert_eq!(ModelKind::DallE2.size(768, 1152), "1024x1024");
        assert_eq!(ModelKind::DallE3.size(1280, 768), "1792x1024");
        assert_eq!(ModelKind::GptImage.size(768, 1152), "1024x1536");
        assert_eq!(ModelKind::GptImage.size(1024, 1024), "1024x1024");
        assert_eq!(ModelKind::Other.size(640, 384), "640x384");
    }

    #[test]
    fn negative_prompts_are_appended() {
        assert_eq!(prompt(Some("a cat"), Some("dogs")), "a cat\nAvoid: dogs");
        assert_eq!(edit_prompt(None, None), NEUTRAL_EDIT_PROMPT);
    }
}
