//! Cropping by coordinates or gravity, including `smart` (attention-based) and
//! `objects` (detected objects) placement; the detected boxes move with the crop.

use crate::objects::Objects;
use crate::params::Gravity;
use crate::raster::Raster;

/// Crops `raster` to `width`×`height` (clamped to the image), at `at` if given,
/// otherwise placed by `gravity`.
pub(crate) fn crop(
    raster: Raster,
    (width, height): (u32, u32),
    at: Option<(u32, u32)>,
    gravity: Gravity,
    objects: &mut Objects,
) -> Raster {
    let cw = width.min(raster.width);
    let ch = height.min(raster.height);
    let (x, y) = match at {
        Some((x, y)) => (x.min(raster.width - cw), y.min(raster.height - ch)),
        None => offset(&raster, cw, ch, gravity, objects),
    };
    if (x, y, cw, ch) == (0, 0, raster.width, raster.height) {
        return raster;
    }
    objects.cropped((x, y), (cw, ch));
    raster.crop(x, y, cw, ch)
}

/// Top-left corner of a `cw`×`ch` window placed by gravity.
fn offset(raster: &Raster, cw: u32, ch: u32, gravity: Gravity, objects: &Objects) -> (u32, u32) {
    if gravity == Gravity::Smart {
        return crate::ops::smart::best_window(raster, cw, ch);
    }
    if gravity == Gravity::Objects
        && let Some(corner) = objects.window((raster.width, raster.height), (cw, ch))
    {
        return corner;
    }
    let (fx, fy) = gravity.fractions();
    let x = ((raster.width - cw) as f32 * fx).round() as u32;
    let y = ((raster.height - ch) as f32 * fy).round() as u32;
    (x, y)
}
