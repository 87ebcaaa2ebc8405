//! JPEG through libjpeg-turbo (statically built by the `turbojpeg` crate), with DCT
//! scaling for shrink-on-load and CMYK/YCCK support.

use turbojpeg::{Colorspace, Decompressor, Image, PixelFormat, ScalingFactor};

use super::jpeg_scans::for_eighth_scale;
use super::progressive;
use crate::color::cmyk_to_srgb;
use crate::error::ImageError;
use crate::exif_meta::ExifMeta;
use crate::jpeg_markers::JpegHeader;
use crate::limits::Limits;
use crate::raster::Raster;

/// A progressive JPEG with more scans than this is refused: each scan re-walks the
/// whole coefficient buffer, which is how small files burn minutes of CPU.
const MAX_SCANS: u32 = 256;

type Parts = (Raster, Option<Vec<u8>>, ExifMeta);

pub(super) fn decode(
    bytes: &[u8],
    min_size: Option<(u32, u32)>,
    limits: &Limits,
) -> Result<Parts, ImageError> {
    let markers = JpegHeader::parse(bytes)?;
    limits.check_pixels(markers.width, markers.height)?;
    let meta = markers
        .exif
        .as_deref()
        .map(ExifMeta::parse)
        .unwrap_or_default();
    let tj_err = |e: turbojpeg::Error| ImageError::corrupt("decode", format!("JPEG: {e}"));
    let mut dec = Decompressor::new().map_err(|e| ImageError::internal("decode", e))?;
    dec.set_scan_limit(MAX_SCANS).map_err(tj_err)?;
    let header = dec.read_header(bytes).map_err(tj_err)?;
    let factor = pick_scale(header.width, header.height, min_size);
    dec.set_scaling_factor(factor).map_err(tj_err)?;
    let scaled = header.scaled(factor);
    if let Some(decoded) = reduced_progressive(bytes, factor, MAX_SCANS)
        && (decoded.width, decoded.height) == (scaled.width, scaled.height)
    {
        let (w, h) = (decoded.width as u32, decoded.height as u32);
        return Ok((Raster::new(w, h, 3, decoded.rgb), markers.icc, meta));
    }
    let cmyk = matches!(header.colorspace, Colorspace::CMYK | Colorspace::YCCK);
    let format = if cmyk {
        PixelFormat::CMYK
    } else {
        PixelFormat::RGB
    };
    let channels = format.size();
    let mut pixels = Vec::new();
    let len = scaled.width * scaled.height * channels;
    pixels
        .try_reserve_exact(len)
        .map_err(|e| ImageError::internal("decode", e))?;
    pixels.resize(len, 0);
    let image = Image {
        pixels: pixels.as_mut_slice(),
        width: scaled.width,
        pitch: scaled.width * channels,
        height: scaled.height,
        format,
    };
    // At 1/8 scale the AC scans of a progressive file are mostly dead weight.
    let trimmed = (factor == ScalingFactor::ONE_EIGHTH)
        .then(|| for_eighth_scale(bytes, MAX_SCANS))
        .flatten();
    dec.decompress(trimmed.as_deref().unwrap_or(bytes), image)
        .map_err(tj_err)?;
    let (w, h) = (scaled.width as u32, scaled.height as u32);
    if cmyk {
        let raster = cmyk_to_srgb(&pixels, w, h, markers.icc.as_deref(), markers.adobe)?;
        Ok((raster, None, meta))
    } else {
        Ok((Raster::new(w, h, 3, pixels), markers.icc, meta))
    }
}

/// A progressive file at 1/4 or 1/2 scale through Easel's own entropy decoder, which
/// yields libjpeg-turbo's pixels in less time; `None` for every other file.
fn reduced_progressive(
    bytes: &[u8],
    factor: ScalingFactor,
    max_scans: u32,
) -> Option<progressive::Decoded> {
    if factor != ScalingFactor::ONE_QUARTER && factor != ScalingFactor::ONE_HALF {
        return None;
    }
    progressive::decode_scaled(bytes, factor.denom(), max_scans)
}

/// The strongest reduction among 1/8, 1/4, 1/2 whose output still covers `min_size`.
fn pick_scale(width: usize, height: usize, min_size: Option<(u32, u32)>) -> ScalingFactor {
    let Some((need_w, need_h)) = min_size else {
        return ScalingFactor::ONE;
    };
    for denom in [8, 4, 2] {
        let f = ScalingFactor::new(1, denom);
        if f.scale(width) >= need_w as usize && f.scale(height) >= need_h as usize {
            return f;
        }
    }
    ScalingFactor::ONE
}
