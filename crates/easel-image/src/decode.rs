//! Decoding: bytes → upright-agnostic sRGB [`Raster`] plus the metadata later stages
//! need (EXIF orientation, copyright). Colour profiles and CMYK are converted to sRGB
//! here, so every operation works on sRGB.

mod generic;
mod heif;
mod jpeg;
mod jpeg_scans;
mod progressive;

use crate::color::to_srgb;
use crate::error::ImageError;
use crate::exif_meta::ExifMeta;
use crate::format::Format;
use crate::limits::Limits;
use crate::probe::ImageInfo;
use crate::raster::Raster;

/// A decoded image and what the header said about it.
#[derive(Debug)]
pub(crate) struct Decoded {
    /// Pixels as stored (EXIF orientation not yet applied), in sRGB.
    pub raster: Raster,
    /// Orientation, copyright and artist from EXIF (orientation 1 when absent).
    pub meta: ExifMeta,
}

/// Decodes `bytes` (already probed and checked against the pixel limit).
///
/// `min_size` is the smallest stored-orientation size the pipeline needs: a JPEG is then
/// decoded at the largest DCT reduction (1/2, 1/4, 1/8) that still covers it.
pub(crate) fn decode(
    bytes: &[u8],
    info: &ImageInfo,
    limits: &Limits,
    min_size: Option<(u32, u32)>,
) -> Result<Decoded, ImageError> {
    let (raster, icc, meta) = match info.format {
        Format::Jpeg => jpeg::decode(bytes, min_size, limits)?,
        Format::Heic | Format::Heif | Format::Avif => heif::decode(bytes, info.format, limits)?,
        other => generic::decode(bytes, other, limits)?,
    };
    let raster = match icc {
        Some(profile) => to_srgb(raster, &profile)?,
        None => raster,
    };
    Ok(Decoded { raster, meta })
}
