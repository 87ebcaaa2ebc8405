//! PNG, WebP and GIF (first frame) through the `image` crate's decoders, with its own
//! allocation limits as a second line of defence behind our header checks.

use std::io::Cursor;

use image::codecs::gif::GifDecoder;
use image::codecs::png::PngDecoder;
use image::codecs::webp::WebPDecoder;
use image::{DynamicImage, ImageDecoder};

use crate::error::ImageError;
use crate::exif_meta::ExifMeta;
use crate::format::Format;
use crate::limits::Limits;
use crate::raster::Raster;

type Parts = (Raster, Option<Vec<u8>>, ExifMeta);

pub(super) fn decode(bytes: &[u8], format: Format, limits: &Limits) -> Result<Parts, ImageError> {
    let err = |e: image::ImageError| match e {
        image::ImageError::Limits(l) => ImageError::corrupt("decode", format!("{format}: {l}")),
        other => ImageError::corrupt("decode", format!("{format}: {other}")),
    };
    let cursor = Cursor::new(bytes);
    match format {
        Format::Png => finish(PngDecoder::new(cursor).map_err(err)?, limits, err),
        Format::Webp => finish(WebPDecoder::new(cursor).map_err(err)?, limits, err),
        Format::Gif => finish(GifDecoder::new(cursor).map_err(err)?, limits, err),
        Format::Jpeg | Format::Heic | Format::Heif | Format::Avif => Err(ImageError::internal(
            "decode",
            format!("{format} has its own decoder"),
        )),
    }
}

fn finish(
    mut dec: impl ImageDecoder,
    limits: &Limits,
    err: impl Fn(image::ImageError) -> ImageError,
) -> Result<Parts, ImageError> {
    let (w, h) = dec.dimensions();
    limits.check_pixels(w, h)?;
    let mut lim = image::Limits::default();
    // Largest legitimate buffer: the limit's pixels at 16-bit RGBA, plus headroom for the
    // decoder's own working memory.
    lim.max_alloc = Some(limits.max_pixels.saturating_mul(8).saturating_add(64 << 20));
    dec.set_limits(lim).map_err(&err)?;
    let icc = dec.icc_profile().ok().flatten();
    let meta = dec
        .exif_metadata()
        .ok()
        .flatten()
        .map(|tiff| ExifMeta::parse(&tiff))
        .unwrap_or_default();
    let image = DynamicImage::from_decoder(dec).map_err(err)?;
    let raster = if image.color().has_alpha() {
        Raster::new(w, h, 4, image.into_rgba8().into_raw())
    } else {
        Raster::new(w, h, 3, image.into_rgb8().into_raw())
    };
    Ok((raster, icc, meta))
}
