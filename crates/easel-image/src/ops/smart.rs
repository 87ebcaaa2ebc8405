//! Smart crop: picks the window with the most "attention", scored on a small copy of
//! the image from edge strength (detail), saturation and skin tones — the signals
//! libvips's `attention` strategy uses — with a slight pull toward the centre.

use crate::raster::Raster;

/// Longest side of the analysis copy; enough to find subjects, cheap to score.
const ANALYSIS_SIDE: u32 = 128;

/// The top-left corner of the best `cw`×`ch` window in `raster`.
pub(crate) fn best_window(raster: &Raster, cw: u32, ch: u32) -> (u32, u32) {
    let (w, h) = (raster.width, raster.height);
    if cw >= w && ch >= h {
        return (0, 0);
    }
    let step = w.max(h).div_ceil(ANALYSIS_SIDE).max(1);
    let (sw, sh) = (w.div_ceil(step), h.div_ceil(step));
    let score = score_map(raster, step, sw, sh);
    let integral = integral(&score, sw as usize, sh as usize);
    let (ww, wh) = ((cw / step).clamp(1, sw), (ch / step).clamp(1, sh));
    let (mut best, mut best_at) = (f64::MIN, (0, 0));
    let (cx, cy) = (f64::from(sw - ww) / 2.0, f64::from(sh - wh) / 2.0);
    for y in 0..=sh - wh {
        for x in 0..=sw - ww {
            let sum = window_sum(&integral, sw as usize, x, y, ww, wh);
            // Centre pull: at most 5% of the window's score, so it only breaks near-ties.
            let dist = ((f64::from(x) - cx).powi(2) + (f64::from(y) - cy).powi(2)).sqrt();
            let norm = (cx.powi(2) + cy.powi(2)).sqrt().max(1.0);
            let s = sum * (1.0 - 0.05 * dist / norm);
            if s > best {
                best = s;
                best_at = (x, y);
            }
        }
    }
    let x = (best_at.0 * step).min(w - cw.min(w));
    let y = (best_at.1 * step).min(h - ch.min(h));
    (x, y)
}

/// Per-cell score on a grid sampled every `step` pixels.
fn score_map(r: &Raster, step: u32, sw: u32, sh: u32) -> Vec<f64> {
    let c = r.channels;
    let px = |x: u32, y: u32| -> [f64; 3] {
        let i = (y.min(r.height - 1) as usize * r.width as usize + x.min(r.width - 1) as usize) * c;
        [
            f64::from(r.data[i]),
            f64::from(r.data[i + 1]),
            f64::from(r.data[i + 2]),
        ]
    };
    let luma = |p: [f64; 3]| 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
    let mut out = vec![0.0; (sw * sh) as usize];
    for gy in 0..sh {
        for gx in 0..sw {
            let (x, y) = (gx * step, gy * step);
            let p = px(x, y);
            let l = luma(p);
            let dx = luma(px(x + step, y)) - luma(px(x.saturating_sub(step), y));
            let dy = luma(px(x, y + step)) - luma(px(x, y.saturating_sub(step)));
            let edge = (dx * dx + dy * dy).sqrt();
            let max = p[0].max(p[1]).max(p[2]);
            let min = p[0].min(p[1]).min(p[2]);
            let saturation = if max > 0.0 {
                (max - min) / max * 64.0
            } else {
                0.0
            };
            let skin = p[0] > 95.0
                && p[1] > 40.0
                && p[2] > 20.0
                && p[0] > p[1]
                && p[0] > p[2]
                && p[0] - p[1] > 15.0
                && l > 60.0;
            out[(gy * sw + gx) as usize] = edge + saturation + if skin { 48.0 } else { 0.0 };
        }
    }
    out
}

fn integral(score: &[f64], w: usize, h: usize) -> Vec<f64> {
    let mut s = vec![0.0; (w + 1) * (h + 1)];
    for y in 0..h {
        let mut row = 0.0;
        for x in 0..w {
            row += score[y * w + x];
            s[(y + 1) * (w + 1) + x + 1] = s[y * (w + 1) + x + 1] + row;
        }
    }
    s
}

fn window_sum(s: &[f64], w: usize, x: u32, y: u32, ww: u32, wh: u32) -> f64 {
    let stride = w + 1;
    let (x0, y0, x1, y1) = (x as usize, y as usize, (x + ww) as usize, (y + wh) as usize);
    s[y1 * stride + x1] - s[y0 * stride + x1] - s[y1 * stride + x0] + s[y0 * stride + x0]
}
