//! Pixels in and out for engines that work on whole images (inpainting, generation):
//! decode to upright sRGB RGBA with the same limits and colour handling as `process`,
//! and encode RGBA with the same encoders.

use image::RgbaImage;

use crate::decode::decode;
use crate::encode::encode;
use crate::error::ImageError;
use crate::exif_meta::ExifMeta;
use crate::format::Format;
use crate::limits::Limits;
use crate::pipeline::OutputOptions;
use crate::probe::probe;
use crate::raster::Raster;

/// Decodes `bytes` (any supported format, sniffed) into upright sRGB RGBA pixels,
/// applying the EXIF orientation. Returns the input format too.
pub fn decode_rgba(bytes: &[u8], limits: &Limits) -> Result<(Format, RgbaImage), ImageError> {
    if bytes.len() as u64 > limits.max_input_bytes {
        return Err(ImageError::InputTooLarge {
            bytes: bytes.len() as u64,
            max: limits.max_input_bytes,
        });
    }
    let info = probe(bytes)?;
    limits.check_pixels(info.width, info.height)?;
    let decoded = decode(bytes, &info, limits, None)?;
    let raster = decoded
        .raster
        .apply_orientation(decoded.meta.orientation)
        .to_rgba();
    let image = RgbaImage::from_raw(raster.width, raster.height, raster.data).ok_or_else(|| {
        ImageError::Internal {
            op: "decode".to_owned(),
            reason: "decoded buffer does not match its dimensions".to_owned(),
        }
    })?;
    Ok((info.format, image))
}

/// Encodes RGBA pixels as `format` with `options` (quality, compression…). Formats
/// without alpha are flattened onto `options.background` (white by default).
pub fn encode_rgba(
    image: &RgbaImage,
    format: Format,
    options: &OutputOptions,
) -> Result<Vec<u8>, ImageError> {
    let raster = Raster::new(image.width(), image.height(), 4, image.as_raw().clone());
    encode(&raster, format, options, None)
}

/// Blurs the rectangles `boxes` (`[x1, y1, x2, y2]` in pixels) of `image` with a
/// Gaussian of `sigma` pixels, leaving the rest untouched (privacy and moderation blur).
pub fn blur_regions_rgba(image: RgbaImage, sigma: f32, boxes: &[[f32; 4]]) -> RgbaImage {
    let (width, height) = image.dimensions();
    let raster = Raster::new(width, height, 4, image.into_raw());
    let blurred = crate::ops::filter::blur_regions(raster, sigma, boxes);
    RgbaImage::from_raw(width, height, blurred.data).expect("blurring keeps the dimensions")
}

/// Like [`encode_rgba`], and records `parameters` in the file: a PNG `parameters` iTXt
/// chunk, or the EXIF ImageDescription of a JPEG or WebP (non-ASCII escaped as `\uXXXX`,
/// so JSON reads back unchanged). GIF carries none.
pub fn encode_rgba_with_parameters(
    image: &RgbaImage,
    format: Format,
    options: &OutputOptions,
    parameters: &str,
) -> Result<Vec<u8>, ImageError> {
    let raster = Raster::new(image.width(), image.height(), 4, image.as_raw().clone());
    let meta = ExifMeta {
        description: Some(parameters.to_owned()),
        ..ExifMeta::default()
    };
    encode(&raster, format, options, Some(&meta))
}
