//! Cropping by coordinates or gravity, including `smart` (attention-based) placement.

use crate::params::Gravity;
use crate::raster::Raster;

/// Crops `raster` to `width`×`height` (clamped to the image), at `at` if given,
/// otherwise placed by `gravity`.
pub(crate) fn crop(
    raster: Raster,
    width: u32,
    height: u32,
    at: Option<(u32, u32)>,
    gravity: Gravity,
) -> Raster {
    let cw = width.min(raster.width);
    let ch = height.min(raster.height);
    let (x, y) = match at {
        Some((x, y)) => (x.min(raster.width - cw), y.min(raster.height - ch)),
        None => offset(&raster, cw, ch, gravity),
    };
    if (x, y, cw, ch) == (0, 0, raster.width, raster.height) {
        return raster;
    }
    raster.crop(x, y, cw, ch)
}

/// Top-left corner of a `cw`×`ch` window placed by gravity.
fn offset(raster: &Raster, cw: u32, ch: u32, gravity: Gravity) -> (u32, u32) {
    if gravity == Gravity::Smart {
        return crate::ops::smart::best_window(raster, cw, ch);
    }
    let (fx, fy) = gravity.fractions();
    let x = ((raster.width - cw) as f32 * fx).round() as u32;
    let y = ((raster.height - ch) as f32 * fy).round() as u32;
    (x, y)
}
