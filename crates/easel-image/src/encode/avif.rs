//! AVIF output through libheif's AV1 encoder (libaom in Debian 12's libheif 1.15):
//! 8-bit, 4:2:0, quality and speed from the output options, the default `nclx`
//! description (BT.709 primaries, sRGB transfer), no thumbnail.

use libheif_rs::{
    Channel, ColorSpace, CompressionFormat, EncoderParameterValue, EncoderQuality, HeifContext,
    Image, RgbChroma,
};

use crate::error::ImageError;
use crate::heif_lib::{libheif, write_error};
use crate::pipeline::OutputOptions;
use crate::raster::Raster;

/// Default AVIF quality (libheif's 0–100 scale). AV1 at 60 looks like JPEG at about
/// 85 for half the bytes; libvips defaults to 50, imgproxy to 65.
const AVIF_QUALITY: u8 = 60;
/// Default AV1 encoder speed, 0 (slowest, smallest) to 9 (fastest). libaom's speed 6
/// (libheif's default) costs about three times speed 8 for a few percent of size.
const AVIF_SPEED: u8 = 8;

/// Encodes `r` as AVIF; `exif` (a TIFF block) is attached as the image's Exif item.
pub(super) fn encode_avif(
    r: &Raster,
    o: &OutputOptions,
    exif: Option<&[u8]>,
) -> Result<Vec<u8>, ImageError> {
    // An alpha channel that is fully opaque only costs an auxiliary AV1 image.
    let opaque;
    let r = if r.has_alpha() && !r.uses_alpha() {
        opaque = r.flatten([0, 0, 0]);
        &opaque
    } else {
        r
    };
    let image = heif_image(r)?;
    let mut encoder = libheif()
        .encoder_for_format(CompressionFormat::Av1)
        .map_err(write_error)?;
    encoder
        .set_quality(EncoderQuality::Lossy(o.quality.unwrap_or(AVIF_QUALITY)))
        .map_err(write_error)?;
    let speed = i32::from(o.speed.unwrap_or(AVIF_SPEED));
    encoder
        .set_parameter_value("speed", EncoderParameterValue::Int(speed))
        .map_err(write_error)?;
    encoder
        .set_parameter_value("chroma", EncoderParameterValue::String("420".into()))
        .map_err(write_error)?;
    let mut context = HeifContext::new().map_err(write_error)?;
    let handle = context
        .encode_image(&image, &mut encoder, None)
        .map_err(write_error)?;
    if let Some(tiff) = exif {
        context
            .add_exif_metadata(&handle, tiff)
            .map_err(write_error)?;
    }
    context.write_to_bytes().map_err(write_error)
}

/// Copies `r` into a libheif interleaved RGB(A) image (rows padded to libheif's stride).
fn heif_image(r: &Raster) -> Result<Image, ImageError> {
    let chroma = if r.has_alpha() {
        RgbChroma::Rgba
    } else {
        RgbChroma::Rgb
    };
    let mut image = Image::new(r.width, r.height, ColorSpace::Rgb(chroma)).map_err(write_error)?;
    image
        .create_plane(Channel::Interleaved, r.width, r.height, 8)
        .map_err(write_error)?;
    let mut planes = image.planes_mut();
    let plane = planes
        .interleaved
        .as_mut()
        .ok_or_else(|| ImageError::internal("encode", "AVIF: libheif made no RGB plane"))?;
    let row = r.width as usize * r.channels;
    for (y, line) in r.data.chunks_exact(row).enumerate() {
        let start = y * plane.stride;
        plane
            .data
            .get_mut(start..start + row)
            .ok_or_else(|| ImageError::internal("encode", "AVIF: libheif's plane is too small"))?
            .copy_from_slice(line);
    }
    Ok(image)
}
