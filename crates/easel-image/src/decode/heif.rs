//! HEIC/HEIF and AVIF through libheif: the primary image only, with the container's
//! `clap`/`irot`/`imir` transforms applied by libheif, 10/12-bit images converted to
//! 8 bits by libheif, alpha kept (un-premultiplied if stored premultiplied), and the
//! colour description (ICC profile, else `nclx` code points) handed on for sRGB.
//!
//! EXIF orientation is ignored here, as browsers and libvips do: in HEIF the rotation
//! lives in `irot`/`imir`, and iPhones also leave the camera's orientation in EXIF, so
//! honouring both would rotate twice.

use libheif_rs::{ColorProfileNCLX, ColorSpace, HeifContext, ImageHandle, RgbChroma};

use crate::color::{Cicp, cicp_to_srgb};
use crate::error::ImageError;
use crate::exif_meta::ExifMeta;
use crate::format::Format;
use crate::heif_lib::{libheif, read_error};
use crate::limits::Limits;
use crate::raster::Raster;

type Parts = (Raster, Option<Vec<u8>>, ExifMeta);

/// Decodes the primary image of a HEIF/AVIF file to 8-bit RGB(A). The ICC profile, if
/// any, is returned for the caller to apply; `nclx` colour is converted here.
pub(super) fn decode(bytes: &[u8], format: Format, limits: &Limits) -> Result<Parts, ImageError> {
    let err = |e| read_error(format, e);
    let context = HeifContext::read_from_bytes(bytes).map_err(err)?;
    let handle = context.primary_image_handle().map_err(err)?;
    // The probe read the same boxes; this also covers a derived (grid, overlay)
    // primary image whose size libheif computes differently.
    limits.check_pixels(handle.width(), handle.height())?;
    let alpha = handle.has_alpha_channel();
    let chroma = if alpha {
        RgbChroma::Rgba
    } else {
        RgbChroma::Rgb
    };
    let image = libheif()
        .decode(&handle, ColorSpace::Rgb(chroma), None)
        .map_err(err)?;
    let channels = if alpha { 4 } else { 3 };
    let mut raster = interleaved(&image, channels, format)?;
    if alpha && image.is_premultiplied_alpha() {
        unpremultiply(&mut raster.data);
    }
    let meta = exif(&handle);
    match icc(&handle) {
        Some(profile) => Ok((raster, Some(profile), meta)),
        None => {
            let nclx = handle
                .color_profile_nclx()
                .or_else(|| image.color_profile_nclx());
            if let Some(cicp) = nclx.as_ref().map(cicp) {
                raster = cicp_to_srgb(raster, cicp)?;
            }
            Ok((raster, None, meta))
        }
    }
}

/// Copies libheif's interleaved plane (rows padded to its stride) into a tight raster.
fn interleaved(
    image: &libheif_rs::Image,
    channels: usize,
    format: Format,
) -> Result<Raster, ImageError> {
    let planes = image.planes();
    let plane = planes.interleaved.ok_or_else(|| {
        ImageError::internal("decode", format!("{format}: libheif returned no RGB plane"))
    })?;
    let row = plane.width as usize * channels;
    let mut data = Vec::new();
    data.try_reserve_exact(row * plane.height as usize)
        .map_err(|e| ImageError::internal("decode", e))?;
    for y in 0..plane.height as usize {
        let start = y * plane.stride;
        let line = plane.data.get(start..start + row).ok_or_else(|| {
            ImageError::internal("decode", format!("{format}: plane shorter than its size"))
        })?;
        data.extend_from_slice(line);
    }
    Ok(Raster::new(plane.width, plane.height, channels, data))
}

/// Undoes premultiplication of RGBA pixels (rounding to nearest).
fn unpremultiply(rgba: &mut [u8]) {
    for p in rgba.chunks_exact_mut(4) {
        let a = u32::from(p[3]);
        if a == 0 || a == 255 {
            continue;
        }
        for c in &mut p[..3] {
            *c = ((u32::from(*c) * 255 + a / 2) / a).min(255) as u8;
        }
    }
}

/// The embedded ICC profile (`colr` box of type `prof` or `rICC`).
fn icc(handle: &ImageHandle) -> Option<Vec<u8>> {
    handle
        .color_profile_raw()
        .map(|p| p.data)
        .filter(|d| !d.is_empty())
}

fn cicp(nclx: &ColorProfileNCLX) -> Cicp {
    Cicp {
        primaries: nclx.color_primaries() as u8,
        transfer: nclx.transfer_characteristics() as u8,
    }
}

/// Copyright and artist from the first `Exif` item; orientation always 1 (see the
/// module header). The item starts with a 4-byte offset to the TIFF header.
fn exif(handle: &ImageHandle) -> ExifMeta {
    let mut ids = [0];
    if handle.metadata_block_ids(&mut ids, b"Exif") == 0 {
        return ExifMeta::default();
    }
    let Ok(block) = handle.metadata(ids[0]) else {
        return ExifMeta::default();
    };
    let tiff = block
        .get(..4)
        .map(|o| u32::from_be_bytes([o[0], o[1], o[2], o[3]]) as usize)
        .and_then(|offset| block.get(4usize.checked_add(offset)?..));
    ExifMeta {
        orientation: 1,
        ..tiff.map(ExifMeta::parse).unwrap_or_default()
    }
}
