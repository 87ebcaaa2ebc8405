//! `process`: bytes in, bytes out. Checks limits from the header, plans shrink-on-load,
//! decodes, orients, detects objects when the pipeline asks, runs the operations under
//! the time budget and encodes.

use crate::decode::decode;
use crate::encode::encode;
use crate::error::ImageError;
use crate::format::Format;
use crate::limits::{Deadline, Limits};
use crate::objects::{DetectedObject, ObjectDetector, Objects};
use crate::ops::apply;
use crate::ops::resize::{ResizePlan, plan};
use crate::pipeline::{Op, Pipeline};
use crate::probe::probe;

/// An encoded result.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    /// The encoded file.
    pub bytes: Vec<u8>,
    /// Its format.
    pub format: Format,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The objects a `detect` operation found, in source pixels (after orientation).
    pub detections: Vec<DetectedObject>,
    /// Where each of `detections` is in the output's pixels after every operation moved
    /// it; `None` for one the operations cut away.
    pub output_boxes: Vec<Option<[f32; 4]>>,
}

/// How much larger than the first resize's target the decoder must deliver before
/// DCT shrink-on-load may be used. 1.0 means "at least the target size"; the final
/// Lanczos pass then does the remaining (less than 2×) reduction.
const SHRINK_HEADROOM: f64 = 1.0;

/// Runs `pipeline` on `input` within `limits`. A pipeline with a `detect` operation
/// needs [`process_with`].
pub fn process(input: &[u8], pipeline: &Pipeline, limits: &Limits) -> Result<Output, ImageError> {
    process_with(input, pipeline, limits, None)
}

/// [`process`], with `detector` running the pipeline's `detect` operation.
pub fn process_with(
    input: &[u8],
    pipeline: &Pipeline,
    limits: &Limits,
    detector: Option<&dyn ObjectDetector>,
) -> Result<Output, ImageError> {
    let deadline = Deadline::start(limits);
    if input.len() as u64 > limits.max_input_bytes {
        return Err(ImageError::InputTooLarge {
            bytes: input.len() as u64,
            max: limits.max_input_bytes,
        });
    }
    let info = probe(input)?;
    limits.check_pixels(info.width, info.height)?;
    pipeline.validate(limits)?;
    let orientation = match info.format {
        Format::Jpeg => crate::jpeg_markers::JpegHeader::parse(input)?
            .exif
            .map(|t| crate::exif_meta::ExifMeta::parse(&t).orientation)
            .unwrap_or(1),
        _ => 1,
    };
    let orientation = if pipeline.auto_orient { orientation } else { 1 };
    // Only a JPEG decodes smaller than its header says; every other format plans its
    // resize against the decoded raster, which also keeps a container's own rotation
    // or crop (HEIF `irot`/`clap`, a PNG's EXIF orientation) out of the plan.
    // A detecting pipeline shrinks no further than the model's input size (the
    // detector would scale down to it anyway); its boxes are scaled back to source pixels.
    let detect = pipeline.detect();
    let detect_side = match (detect, detector) {
        (Some(params), Some(d)) => d.input_side(params.model.as_deref()),
        _ => None,
    };
    let shrink = (info.format == Format::Jpeg && (detect.is_none() || detect_side.is_some()))
        .then(|| shrink_plan(pipeline, (info.width, info.height), orientation))
        .flatten()
        .map(|s| s.keeping(detect_side, (info.width, info.height)));
    let decoded = decode(input, &info, limits, shrink.map(|s| s.min_stored))?;
    deadline.check("decode")?;
    let meta = decoded.meta;
    let mut raster = if pipeline.auto_orient {
        decoded.raster.apply_orientation(meta.orientation)
    } else {
        decoded.raster
    };
    // The oriented source's size, which the decoded raster is when nothing shrank it.
    let source = match shrink {
        Some(_) if orientation >= 5 => (info.height, info.width),
        Some(_) => (info.width, info.height),
        None => (raster.width, raster.height),
    };
    let mut objects = match detect {
        Some(params) => {
            let detector = detector.ok_or_else(|| ImageError::Detection {
                reason: "no detection model is available to this process".into(),
            })?;
            let found = detector
                .detect(
                    &raster.data,
                    (raster.width, raster.height, raster.channels),
                    params,
                )
                .map_err(|reason| ImageError::Detection { reason })?;
            deadline.check("detect")?;
            let weights = params.weights.iter().flatten();
            let weights = weights
                .map(|(class, w)| (class.clone(), *w as f32))
                .collect();
            Objects::detected(found, (raster.width, raster.height), source, weights)
        }
        None => Objects::default(),
    };
    for (i, op) in pipeline.ops.iter().enumerate() {
        let planned = shrink.filter(|s| s.op_index == i).map(|s| s.plan);
        raster = apply(op, raster, planned, limits, &mut objects).map_err(|e| name_op(e, i, op))?;
        deadline.check(&format!("ops[{i}] {}", op.name()))?;
    }
    limits.check_output("output", raster.width.into(), raster.height.into())?;
    let format = pipeline.output.format.unwrap_or(match info.format {
        Format::Gif => Format::Png,
        Format::Heic | Format::Heif => Format::Jpeg,
        other => other,
    });
    let rights = pipeline.output.keep_copyright.then_some(&meta);
    let bytes = encode(&raster, format, &pipeline.output, rights)?;
    deadline.check("encode")?;
    Ok(Output {
        bytes,
        format,
        width: raster.width,
        height: raster.height,
        output_boxes: objects.placed(),
        detections: objects.found,
    })
}

/// Prefixes an operation's error with its position, e.g. `ops[2] resize`.
fn name_op(e: ImageError, i: usize, op: &Op) -> ImageError {
    let name = format!("ops[{i}] {}", op.name());
    match e {
        ImageError::InvalidPipeline { reason, .. } => {
            ImageError::InvalidPipeline { op: name, reason }
        }
        ImageError::Internal { reason, .. } => ImageError::Internal { op: name, reason },
        ImageError::OutputTooLarge {
            width,
            height,
            max_width,
            max_height,
            ..
        } => ImageError::OutputTooLarge {
            op: name,
            width,
            height,
            max_width,
            max_height,
        },
        other => other,
    }
}

/// Shrink-on-load decision for the first resize.
#[derive(Debug, Clone, Copy)]
struct Shrink {
    /// Index of the resize operation whose plan was made against the full size.
    op_index: usize,
    /// That plan.
    plan: ResizePlan,
    /// Smallest decoded size (in stored orientation) that keeps the plan exact.
    min_stored: (u32, u32),
}

impl Shrink {
    /// The same plan, decoding at least `side` pixels along the longer side of a
    /// `stored`-sized image (for a detector of that input size).
    fn keeping(self, side: Option<u32>, stored: (u32, u32)) -> Shrink {
        let Some(side) = side else { return self };
        let longer = f64::from(stored.0.max(stored.1).max(1));
        let f = (f64::from(side) / longer).min(1.0);
        let need = |n: u32| (f64::from(n) * f).ceil() as u32;
        Shrink {
            min_stored: (
                self.min_stored.0.max(need(stored.0)),
                self.min_stored.1.max(need(stored.1)),
            ),
            ..self
        }
    }
}

/// Finds the first resize that only rotations/mirrors precede (they commute with
/// scaling) and plans it against the full-size, oriented dimensions.
fn shrink_plan(p: &Pipeline, stored: (u32, u32), orientation: u16) -> Option<Shrink> {
    let mut swapped = orientation >= 5;
    for (i, op) in p.ops.iter().enumerate() {
        match op {
            Op::Rotate { degrees } => swapped ^= *degrees % 180 == 90,
            Op::Flip | Op::Flop => {}
            Op::Resize {
                width,
                height,
                mode,
                enlarge,
                ..
            } => {
                let logical = if swapped {
                    (stored.1, stored.0)
                } else {
                    stored
                };
                let plan = plan(logical, (*width, *height), *mode, *enlarge);
                let need = (
                    (f64::from(plan.scaled.0) * SHRINK_HEADROOM).ceil() as u32,
                    (f64::from(plan.scaled.1) * SHRINK_HEADROOM).ceil() as u32,
                );
                let min_stored = if swapped { (need.1, need.0) } else { need };
                return Some(Shrink {
                    op_index: i,
                    plan,
                    min_stored,
                });
            }
            _ => return None,
        }
    }
    None
}
