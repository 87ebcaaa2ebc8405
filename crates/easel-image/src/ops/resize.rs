//! `resize`: planning (target size from mode, box and enlarge flag, computed against
//! the logical source size so shrink-on-load changes nothing) and execution with
//! fast_image_resize (SIMD convolution, alpha premultiplied during filtering).

use fast_image_resize::images::Image;
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};

use crate::error::ImageError;
use crate::params::{Filter, ResizeMode};
use crate::raster::Raster;

/// Where a resize goes: first scale to `scaled`, then (fill mode) crop to `crop`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ResizePlan {
    pub scaled: (u32, u32),
    pub crop: Option<(u32, u32)>,
}

/// Computes the plan for a `width`×`height` source.
pub(crate) fn plan(
    (w, h): (u32, u32),
    target: (Option<u32>, Option<u32>),
    mode: ResizeMode,
    enlarge: bool,
) -> ResizePlan {
    let (fw, fh) = (f64::from(w), f64::from(h));
    let rx = target.0.map(|t| f64::from(t) / fw);
    let ry = target.1.map(|t| f64::from(t) / fh);
    let cap = |s: f64| if enlarge { s } else { s.min(1.0) };
    let size = |s: f64| {
        (
            (fw * s).round().max(1.0) as u32,
            (fh * s).round().max(1.0) as u32,
        )
    };
    match mode {
        ResizeMode::Fit => {
            let s = cap(match (rx, ry) {
                (Some(x), Some(y)) => x.min(y),
                (Some(x), None) => x,
                (None, Some(y)) => y,
                (None, None) => 1.0,
            });
            ResizePlan {
                scaled: size(s),
                crop: None,
            }
        }
        ResizeMode::Fill => {
            let (tw, th) = (target.0.unwrap_or(w), target.1.unwrap_or(h));
            let s = cap(rx.unwrap_or(1.0).max(ry.unwrap_or(1.0)));
            let (sw, sh) = size(s);
            // Rounding may leave the covering side a pixel short of the box.
            let (sw, sh) = if s * fw >= f64::from(tw) - 0.5 && s * fh >= f64::from(th) - 0.5 {
                (sw.max(tw), sh.max(th))
            } else {
                (sw, sh)
            };
            ResizePlan {
                scaled: (sw, sh),
                crop: Some((tw.min(sw), th.min(sh))),
            }
        }
        ResizeMode::Exact => {
            let (tw, th) = (target.0.unwrap_or(w), target.1.unwrap_or(h));
            let scaled = if enlarge {
                (tw, th)
            } else {
                (tw.min(w), th.min(h))
            };
            ResizePlan { scaled, crop: None }
        }
    }
}

/// Resamples `src` to exactly `width`×`height`.
pub(crate) fn resample(
    src: Raster,
    width: u32,
    height: u32,
    filter: Filter,
) -> Result<Raster, ImageError> {
    if (src.width, src.height) == (width, height) {
        return Ok(src);
    }
    let pixel_type = if src.has_alpha() {
        PixelType::U8x4
    } else {
        PixelType::U8x3
    };
    let channels = src.channels;
    let err = |e: &dyn std::fmt::Display| ImageError::internal("resize", e.to_string());
    let input =
        Image::from_vec_u8(src.width, src.height, src.data, pixel_type).map_err(|e| err(&e))?;
    let mut output = Image::new(width, height, pixel_type);
    let alg = match filter {
        Filter::Nearest => ResizeAlg::Nearest,
        Filter::Bilinear => ResizeAlg::Convolution(FilterType::Bilinear),
        Filter::CatmullRom => ResizeAlg::Convolution(FilterType::CatmullRom),
        Filter::Mitchell => ResizeAlg::Convolution(FilterType::Mitchell),
        Filter::Lanczos3 => ResizeAlg::Convolution(FilterType::Lanczos3),
    };
    Resizer::new()
        .resize(
            &input,
            &mut output,
            &ResizeOptions::new().resize_alg(alg).use_alpha(true),
        )
        .map_err(|e| err(&e))?;
    Ok(Raster::new(width, height, channels, output.into_vec()))
}
