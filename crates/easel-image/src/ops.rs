//! Pipeline operations. Each takes the current raster and returns the next one.

mod crop;
mod filter;
pub(crate) mod resize;
mod smart;
mod watermark;

use crate::error::ImageError;
use crate::limits::Limits;
use crate::pipeline::Op;
use crate::raster::Raster;
use resize::{ResizePlan, plan, resample};

/// Applies one operation. `planned` overrides a resize's target when it was planned
/// against the full-size source (shrink-on-load decoded a smaller image).
pub(crate) fn apply(
    op: &Op,
    raster: Raster,
    planned: Option<ResizePlan>,
    limits: &Limits,
) -> Result<Raster, ImageError> {
    match op {
        Op::Resize {
            width,
            height,
            mode,
            gravity,
            enlarge,
            filter,
        } => {
            let p = planned.unwrap_or_else(|| {
                plan(
                    (raster.width, raster.height),
                    (*width, *height),
                    *mode,
                    *enlarge,
                )
            });
            limits.check_output("resize", p.scaled.0.into(), p.scaled.1.into())?;
            let scaled = resample(raster, p.scaled.0, p.scaled.1, *filter)?;
            Ok(match p.crop {
                Some((w, h)) => crop::crop(scaled, w, h, None, *gravity),
                None => scaled,
            })
        }
        Op::Crop {
            width,
            height,
            x,
            y,
            gravity,
        } => Ok(crop::crop(raster, *width, *height, x.zip(*y), *gravity)),
        Op::Rotate { degrees } => Ok(match degrees {
            90 => raster.rotate90(),
            180 => raster.rotate180(),
            270 => raster.rotate270(),
            _ => raster,
        }),
        Op::Flip => Ok(raster.flip()),
        Op::Flop => Ok(raster.flop()),
        Op::Blur { sigma } => Ok(filter::blur(&raster, *sigma)),
        Op::Sharpen { sigma, amount } => Ok(filter::sharpen(&raster, *sigma, *amount)),
        Op::WatermarkText(w) => watermark::text(raster, w),
        Op::WatermarkImage(w) => watermark::image(raster, w, limits),
    }
}
