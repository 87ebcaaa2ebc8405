//! `blur` (separable Gaussian) and `sharpen` (unsharp mask). Colour channels are
//! filtered premultiplied by alpha so transparent pixels do not bleed their colour.

use crate::raster::Raster;

/// Gaussian blur with standard deviation `sigma` pixels.
pub(crate) fn blur(raster: &Raster, sigma: f32) -> Raster {
    let planes = gaussian(raster, sigma);
    from_planes(raster, &planes, true, |_, blurred| blurred)
}

/// Gaussian blur of the rectangles `boxes` (`[x1, y1, x2, y2]`) only: each is blurred
/// with a margin of 3σ around it for context, and only its own pixels are replaced.
pub(crate) fn blur_regions(mut raster: Raster, sigma: f32, boxes: &[[f32; 4]]) -> Raster {
    let margin = (3.0 * sigma).ceil() as u32;
    for b in boxes {
        let [x1, y1, x2, y2] = b.map(|v| v.round().max(0.0) as u32);
        let (x2, y2) = (x2.min(raster.width), y2.min(raster.height));
        if x2 <= x1 || y2 <= y1 {
            continue;
        }
        let (cx, cy) = (x1.saturating_sub(margin), y1.saturating_sub(margin));
        let (cw, ch) = (
            (x2 + margin).min(raster.width) - cx,
            (y2 + margin).min(raster.height) - cy,
        );
        let blurred = blur(&raster.crop(cx, cy, cw, ch), sigma);
        let c = raster.channels;
        let width = (x2 - x1) as usize * c;
        for y in y1..y2 {
            let src = ((y - cy) as usize * cw as usize + (x1 - cx) as usize) * c;
            let dst = (y as usize * raster.width as usize + x1 as usize) * c;
            raster.data[dst..dst + width].copy_from_slice(&blurred.data[src..src + width]);
        }
    }
    raster
}

/// Unsharp mask: `out = in + amount · (in − blur(in, sigma))`, alpha untouched.
pub(crate) fn sharpen(raster: &Raster, sigma: f32, amount: f32) -> Raster {
    let planes = gaussian(raster, sigma);
    from_planes(raster, &planes, false, |orig, blurred| {
        orig + amount * (orig - blurred)
    })
}

/// Premultiplied float planes of `raster`, Gaussian-blurred.
fn gaussian(raster: &Raster, sigma: f32) -> Vec<Vec<f32>> {
    let kernel = kernel(sigma);
    let (w, h, c) = (
        raster.width as usize,
        raster.height as usize,
        raster.channels,
    );
    let mut planes: Vec<Vec<f32>> = (0..c)
        .map(|ch| {
            raster
                .data
                .chunks_exact(c)
                .map(|p| {
                    let a = if c == 4 { f32::from(p[3]) / 255.0 } else { 1.0 };
                    if ch < 3 {
                        f32::from(p[ch]) * a
                    } else {
                        f32::from(p[ch])
                    }
                })
                .collect()
        })
        .collect();
    let mut tmp = vec![0.0f32; w * h];
    for plane in &mut planes {
        convolve(plane, &mut tmp, w, h, &kernel, 1, w);
        convolve(&tmp, plane, h, w, &kernel, w, 1);
    }
    planes
}

/// 1-D pass: for each of `lines` lines of `len` samples (`step` apart, lines `stride`
/// apart in `stride` units of the perpendicular axis), convolves with clamped edges.
fn convolve(
    src: &[f32],
    dst: &mut [f32],
    len: usize,
    lines: usize,
    k: &[f32],
    step: usize,
    stride: usize,
) {
    let r = (k.len() / 2) as isize;
    for line in 0..lines {
        let base = line * stride;
        for i in 0..len as isize {
            let mut acc = 0.0;
            for (j, kv) in k.iter().enumerate() {
                let s = (i + j as isize - r).clamp(0, len as isize - 1) as usize;
                acc += src[base + s * step] * kv;
            }
            dst[base + i as usize * step] = acc;
        }
    }
}

fn kernel(sigma: f32) -> Vec<f32> {
    let r = (sigma * 3.0).ceil().max(1.0) as isize;
    let k: Vec<f32> = (-r..=r)
        .map(|x| (-((x * x) as f32) / (2.0 * sigma * sigma)).exp())
        .collect();
    let sum: f32 = k.iter().sum();
    k.into_iter().map(|v| v / sum).collect()
}

/// Rebuilds a raster: premultiplied colour = `f(original, blurred)`, then divided by
/// the output alpha, which is the blurred alpha when `filter_alpha`, else the original.
fn from_planes(
    raster: &Raster,
    planes: &[Vec<f32>],
    filter_alpha: bool,
    f: impl Fn(f32, f32) -> f32,
) -> Raster {
    let c = raster.channels;
    let mut data = Vec::with_capacity(raster.data.len());
    for (i, p) in raster.data.chunks_exact(c).enumerate() {
        let orig_a = if c == 4 { f32::from(p[3]) } else { 255.0 };
        let a = if c == 4 && filter_alpha {
            planes[3][i].clamp(0.0, 255.0)
        } else {
            orig_a
        };
        for (ch, plane) in planes.iter().enumerate().take(3) {
            let orig = f32::from(p[ch]) * orig_a / 255.0;
            let v = if a > 0.0 {
                f(orig, plane[i]) * 255.0 / a
            } else {
                0.0
            };
            data.push(v.round().clamp(0.0, 255.0) as u8);
        }
        if c == 4 {
            data.push(a.round() as u8);
        }
    }
    Raster::new(raster.width, raster.height, c, data)
}
