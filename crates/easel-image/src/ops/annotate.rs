//! `annotate`: the detected objects' boxes drawn as outlines, each with its label and
//! confidence on a filled tab above it (inside the box when there is no room above).

use ab_glyph::FontRef;

use crate::error::ImageError;
use crate::objects::Objects;
use crate::ops::watermark::{FONT, composite, render_text};
use crate::pipeline::Annotate;
use crate::raster::Raster;

/// Ultralytics' default box colours, one per class by a hash of its name.
const PALETTE: [[u8; 3]; 10] = [
    [255, 56, 56],
    [255, 157, 151],
    [255, 112, 31],
    [255, 178, 29],
    [207, 210, 49],
    [72, 249, 10],
    [26, 147, 52],
    [0, 212, 187],
    [0, 194, 255],
    [52, 69, 147],
];

fn class_colour(label: &str) -> [u8; 3] {
    // FNV-1a: stable across runs and builds, unlike the standard hasher.
    let hash = label.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    PALETTE[hash as usize % PALETTE.len()]
}

/// Draws every current object of `objects` onto `image`.
pub(crate) fn annotate(
    mut image: Raster,
    objects: &Objects,
    a: &Annotate,
) -> Result<Raster, ImageError> {
    let font = FontRef::try_from_slice(FONT)
        .map_err(|e| ImageError::internal("annotate", format!("bundled font: {e}")))?;
    let short = image.width.min(image.height) as f32;
    let line = (a.thickness as f32 * short).round().max(2.0) as u32;
    let text_px = (short * 0.03).clamp(11.0, 48.0);
    for o in &objects.current {
        let colour = a.color.map_or_else(|| class_colour(&o.label), |c| c.0);
        let [x1, y1, x2, y2] = o.bbox.map(|v| v.round().max(0.0) as u32);
        let (x2, y2) = (x2.min(image.width), y2.min(image.height));
        outline(&mut image, (x1, y1, x2, y2), line, colour);
        if a.labels {
            let text = format!("{} {:.2}", o.label, o.confidence);
            let white = render_text(&font, &text, text_px, [255, 255, 255]);
            let pad = (text_px / 6.0).round() as u32;
            let (tw, th) = (white.width + 2 * pad, white.height + pad);
            let top = if y1 >= th { y1 - th } else { y1 };
            fill(&mut image, (x1, top, x1 + tw, top + th), colour);
            composite(&mut image, &white, i64::from(x1 + pad), i64::from(top), 1.0);
        }
    }
    Ok(image)
}

/// Sets the pixels of `[x1, x2) × [y1, y2)` (clipped) to `colour`, keeping alpha opaque.
fn fill(image: &mut Raster, (x1, y1, x2, y2): (u32, u32, u32, u32), colour: [u8; 3]) {
    let (x2, y2) = (x2.min(image.width), y2.min(image.height));
    let c = image.channels;
    for y in y1..y2 {
        for x in x1..x2 {
            let p = &mut image.data[(y as usize * image.width as usize + x as usize) * c..][..c];
            p[..3].copy_from_slice(&colour);
            if c == 4 {
                p[3] = 255;
            }
        }
    }
}

/// A rectangle outline `line` pixels wide inside `[x1, x2) × [y1, y2)`.
fn outline(image: &mut Raster, (x1, y1, x2, y2): (u32, u32, u32, u32), line: u32, colour: [u8; 3]) {
    let l = line
        .min((x2 - x1.min(x2)) / 2)
        .min((y2 - y1.min(y2)) / 2)
        .max(1);
    fill(image, (x1, y1, x2, y1 + l), colour);
    fill(image, (x1, y2.saturating_sub(l), x2, y2), colour);
    fill(image, (x1, y1, x1 + l, y2), colour);
    fill(image, (x2.saturating_sub(l), y1, x2, y2), colour);
}
