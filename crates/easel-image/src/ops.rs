//! Pipeline operations. Each takes the current raster and returns the next one,
//! moving the detected objects' boxes along with any change of geometry.

mod annotate;
mod crop;
pub(crate) mod filter;
pub(crate) mod resize;
mod smart;
pub(crate) mod watermark;

use crate::error::ImageError;
use crate::limits::Limits;
use crate::objects::Objects;
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
    objects: &mut Objects,
) -> Result<Raster, ImageError> {
    let size = (raster.width, raster.height);
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
            objects.scaled(size, p.scaled);
            Ok(match p.crop {
                Some(window) => crop::crop(scaled, window, None, *gravity, objects),
                None => scaled,
            })
        }
        Op::Crop {
            width,
            height,
            x,
            y,
            gravity,
        } => Ok(crop::crop(
            raster,
            (*width, *height),
            x.zip(*y),
            *gravity,
            objects,
        )),
        Op::Rotate { degrees } => {
            objects.rotated(size, degrees / 90);
            Ok(match degrees {
                90 => raster.rotate90(),
                180 => raster.rotate180(),
                270 => raster.rotate270(),
                _ => raster,
            })
        }
        Op::Flip => {
            objects.mirrored(size, true);
            Ok(raster.flip())
        }
        Op::Flop => {
            objects.mirrored(size, false);
            Ok(raster.flop())
        }
        Op::Blur {
            sigma,
            classes: None,
        } => Ok(filter::blur(&raster, *sigma as f32)),
        Op::Blur {
            sigma,
            classes: Some(classes),
        } => {
            let boxes: Vec<[f32; 4]> = objects.of_classes(classes).map(|o| o.bbox).collect();
            Ok(filter::blur_regions(raster, *sigma as f32, &boxes))
        }
        Op::Sharpen { sigma, amount } => {
            Ok(filter::sharpen(&raster, *sigma as f32, *amount as f32))
        }
        Op::WatermarkText(w) => watermark::text(raster, w),
        Op::WatermarkImage(w) => watermark::image(raster, w, limits),
        // Detection runs on the source before the operations (see `process`).
        Op::Detect(_) => Ok(raster),
        Op::Annotate(a) => annotate::annotate(raster, objects, a),
    }
}
