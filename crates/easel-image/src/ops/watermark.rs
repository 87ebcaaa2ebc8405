//! Watermarks: a mark (text rendered with the bundled font, or a PNG) is sized
//! relative to the image width, then composited with opacity at a gravity + margin
//! position or tiled over the whole image.

use ab_glyph::{Font, FontRef, PxScale, ScaleFont};

use crate::decode::decode;
use crate::error::ImageError;
use crate::format::Format;
use crate::limits::Limits;
use crate::ops::resize::resample;
use crate::params::Filter;
use crate::pipeline::{ImageWatermark, Placement, TextWatermark};
use crate::probe::ImageInfo;
use crate::raster::Raster;
use crate::validate::check_image_mark;

/// DejaVu Sans Bold, subset to Latin, Greek and Cyrillic (licence in `assets/`).
pub(crate) static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans-Bold.ttf");

/// Draws a text watermark onto `image`.
pub(crate) fn text(image: Raster, w: &TextWatermark) -> Result<Raster, ImageError> {
    let font = FontRef::try_from_slice(FONT)
        .map_err(|e| ImageError::internal("watermark_text", format!("bundled font: {e}")))?;
    let px = (w.size as f32 * image.width as f32).max(1.0);
    let mark = render_text(&font, &w.text, px, w.color.0);
    Ok(place(image, &mark, &w.placement()))
}

/// Draws an image watermark onto `image`.
pub(crate) fn image(
    image: Raster,
    w: &ImageWatermark,
    limits: &Limits,
) -> Result<Raster, ImageError> {
    let png = check_image_mark(w, limits).map_err(|r| ImageError::invalid("watermark_image", r))?;
    let info = ImageInfo {
        format: Format::Png,
        width: 0,
        height: 0,
    };
    let mark = decode(&png, &info, limits, None)
        .map_err(|e| ImageError::invalid("watermark_image", format!("png: {e}")))?
        .raster
        .to_rgba();
    let target_w = ((w.scale as f32 * image.width as f32).round() as u32).max(1);
    let target_h = ((u64::from(mark.height) * u64::from(target_w)).div_ceil(u64::from(mark.width))
        as u32)
        .max(1);
    let mark = resample(mark, target_w, target_h, Filter::Lanczos3)?;
    Ok(place(image, &mark, &w.placement()))
}

/// Renders one line of text into a straight-alpha RGBA mark (alpha = coverage).
pub(crate) fn render_text(font: &FontRef<'_>, text: &str, px: f32, color: [u8; 3]) -> Raster {
    let scaled = font.as_scaled(PxScale::from(px));
    let mut glyphs = Vec::new();
    let mut caret = 0.0f32;
    let mut prev = None;
    for ch in text.chars() {
        let id = scaled.glyph_id(ch);
        if let Some(p) = prev {
            caret += scaled.kern(p, id);
        }
        glyphs.push(id.with_scale_and_position(px, ab_glyph::point(caret, scaled.ascent())));
        caret += scaled.h_advance(id);
        prev = Some(id);
    }
    let width = caret.ceil().max(1.0) as u32;
    let height = (scaled.ascent() - scaled.descent()).ceil().max(1.0) as u32;
    let mut coverage = vec![0f32; (width * height) as usize];
    for g in glyphs {
        let Some(outline) = font.outline_glyph(g) else {
            continue;
        };
        let b = outline.px_bounds();
        outline.draw(|x, y, c| {
            let (gx, gy) = (b.min.x as i64 + i64::from(x), b.min.y as i64 + i64::from(y));
            if gx >= 0 && gy >= 0 && gx < i64::from(width) && gy < i64::from(height) {
                let cell = &mut coverage[(gy as u32 * width + gx as u32) as usize];
                *cell = (*cell + c).min(1.0);
            }
        });
    }
    let mut data = Vec::with_capacity(coverage.len() * 4);
    for c in coverage {
        data.extend_from_slice(&[color[0], color[1], color[2], (c * 255.0).round() as u8]);
    }
    Raster::new(width, height, 4, data)
}

/// Composites `mark` onto `image` once (gravity + margin) or as a tiled grid.
fn place(mut image: Raster, mark: &Raster, p: &Placement) -> Raster {
    let margin = (p.margin * image.width as f32).round() as i64;
    if p.tile {
        let gap_x = margin.max(i64::from(mark.width) / 2).max(1);
        let gap_y = margin.max(i64::from(mark.height)).max(1);
        let mut y = margin;
        while y < i64::from(image.height) {
            let mut x = margin;
            while x < i64::from(image.width) {
                composite(&mut image, mark, x, y, p.opacity);
                x += i64::from(mark.width) + gap_x;
            }
            y += i64::from(mark.height) + gap_y;
        }
    } else {
        let (x, y) = p
            .gravity
            .place(image.width, image.height, mark.width, mark.height, margin);
        composite(&mut image, mark, x, y, p.opacity);
    }
    image
}

/// Porter-Duff "over" of a straight-alpha RGBA `mark` at (`x`, `y`), scaled by
/// `opacity`, onto an RGB or straight-alpha RGBA image; clipped to the image.
pub(crate) fn composite(image: &mut Raster, mark: &Raster, x: i64, y: i64, opacity: f32) {
    let c = image.channels;
    let (iw, ih) = (i64::from(image.width), i64::from(image.height));
    for my in 0..i64::from(mark.height) {
        let iy = y + my;
        if !(0..ih).contains(&iy) {
            continue;
        }
        for mx in 0..i64::from(mark.width) {
            let ix = x + mx;
            if !(0..iw).contains(&ix) {
                continue;
            }
            let m = &mark.data[((my * i64::from(mark.width) + mx) * 4) as usize..][..4];
            let sa = f32::from(m[3]) / 255.0 * opacity;
            if sa <= 0.0 {
                continue;
            }
            let d = &mut image.data[((iy * iw + ix) as usize) * c..][..c];
            let da = if c == 4 { f32::from(d[3]) / 255.0 } else { 1.0 };
            let oa = sa + da * (1.0 - sa);
            for ch in 0..3 {
                let v = (f32::from(m[ch]) * sa + f32::from(d[ch]) * da * (1.0 - sa)) / oa;
                d[ch] = v.round().clamp(0.0, 255.0) as u8;
            }
            if c == 4 {
                d[3] = (oa * 255.0).round() as u8;
            }
        }
    }
}
