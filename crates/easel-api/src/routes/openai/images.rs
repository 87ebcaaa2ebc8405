//! Turning OpenAI's images into the Bedrock model's: OpenAI's mask (transparent = edit)
//! as Titan's mask image (black = edit), and a variation's source re-encoded as PNG.
//! Decoding and encoding are CPU work: they run off the async workers, under the
//! configured image limits, so a decompression bomb is refused like anywhere else.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use easel_image::{Format, Limits, OutputOptions};
use easel_services::blocking;
use image::RgbaImage;

use super::wire::OpenAiError;

fn decode(bytes: &[u8], limits: &Limits, param: &str) -> Result<RgbaImage, OpenAiError> {
    let (_, pixels) = easel_image::decode_rgba(bytes, limits).map_err(|e| {
        OpenAiError::invalid(Some(param), format!("the {param} could not be read: {e}"))
    })?;
    Ok(pixels)
}

fn png_base64(image: &RgbaImage) -> Result<String, OpenAiError> {
    let bytes =
        easel_image::encode_rgba(image, Format::Png, &OutputOptions::default()).map_err(|e| {
            OpenAiError::invalid(None, format!("the image could not be re-encoded: {e}"))
        })?;
    Ok(STANDARD.encode(bytes))
}

/// The edit's image (opaque) and Titan's mask, both base64 PNGs.
pub async fn titan_mask(
    image: Bytes,
    mask: Option<Bytes>,
    limits: Arc<Limits>,
) -> Result<(String, String), OpenAiError> {
    blocking(move || titan_mask_now(&image, mask.as_deref(), &limits)).await?
}

fn titan_mask_now(
    image: &[u8],
    mask: Option<&[u8]>,
    limits: &Limits,
) -> Result<(String, String), OpenAiError> {
    let pixels = decode(image, limits, "image")?;
    let alpha_source = match mask {
        Some(bytes) => {
            let mask = decode(bytes, limits, "mask")?;
            if mask.dimensions() != pixels.dimensions() {
                return Err(OpenAiError::invalid(
                    Some("mask"),
                    format!(
                        "Invalid input image - the mask is {}x{} but the image is {}x{}; they must be the same size",
                        mask.width(),
                        mask.height(),
                        pixels.width(),
                        pixels.height()
                    ),
                ));
            }
            mask
        }
        None => pixels.clone(),
    };
    if alpha_source.pixels().all(|p| p.0[3] != 0) {
        return Err(OpenAiError::invalid(
            Some("mask"),
            "the mask (or, without one, the image) has no fully transparent area to edit",
        ));
    }
    let titan = RgbaImage::from_fn(pixels.width(), pixels.height(), |x, y| {
        let edit = alpha_source.get_pixel(x, y).0[3] == 0;
        let v = if edit { 0 } else { 255 };
        image::Rgba([v, v, v, 255])
    });
    // The image goes in opaque: the mask says where to change it.
    let mut opaque = pixels;
    for p in opaque.pixels_mut() {
        p.0[3] = 255;
    }
    Ok((png_base64(&opaque)?, png_base64(&titan)?))
}

/// A variation's source as a base64 PNG.
pub async fn variation_source(image: Bytes, limits: Arc<Limits>) -> Result<String, OpenAiError> {
    blocking(move || png_base64(&decode(&image, &limits, "image")?)).await?
}
