//! Exemplar-based hole filling: PatchMatch (Barnes et al. 2009) for the nearest-neighbour
//! field, inside Wexler et al.'s coarse-to-fine expectation–maximisation, the scheme
//! behind content-aware fill. Every pixel outside the hole is left untouched.

// Channel loops index several parallel buffers at once; iterators would hide that.
#![allow(clippy::needless_range_loop)]

use image::{GrayImage, RgbImage};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

/// Tuning of the fill.
#[derive(Debug, Clone, Copy)]
pub struct FillParams {
    /// Patch radius (patches are `2r+1` square).
    pub radius: i32,
    /// EM iterations at the coarsest level; finer levels use fewer.
    pub em_iterations: u32,
    /// PatchMatch sweeps per EM iteration.
    pub pm_iterations: u32,
    /// Random seed (different seeds give different fills).
    pub seed: u64,
}

impl Default for FillParams {
    fn default() -> Self {
        FillParams {
            radius: 3,
            em_iterations: 6,
            pm_iterations: 3,
            seed: 0,
        }
    }
}

/// Stopped because the caller asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped;

/// Fills the pixels where `hole` is non-zero from the rest of `image`. `keep_going` is
/// asked between steps (return false to stop); `progress` gets (done, total) steps.
pub fn fill(
    image: &RgbImage,
    hole: &GrayImage,
    params: FillParams,
    keep_going: &dyn Fn() -> bool,
    progress: &dyn Fn(u32, u32),
) -> Result<RgbImage, Stopped> {
    assert_eq!(
        image.dimensions(),
        hole.dimensions(),
        "mask and image sizes differ"
    );
    // Nothing to fill, or nothing to fill from (a hole over the whole image).
    if !hole.pixels().any(|p| p.0[0] != 0) || hole.pixels().all(|p| p.0[0] != 0) {
        return Ok(image.clone());
    }
    let pyramid = build_pyramid(image, hole, params.radius);
    let total = pyramid.len() as u32;
    let mut rng = SmallRng::seed_from_u64(params.seed);
    let mut estimate: Option<(Level, Vec<(i32, i32)>)> = None;
    for (depth, level) in pyramid.iter().rev().enumerate() {
        if !keep_going() {
            return Err(Stopped);
        }
        let mut current = level.clone();
        let mut nnf = match &estimate {
            None => {
                diffuse(&mut current);
                random_nnf(&current, params.radius, &mut rng)
            }
            Some((coarse, coarse_nnf)) => {
                upsample_into(coarse, &mut current);
                upsample_nnf(coarse, coarse_nnf, &current, params.radius, &mut rng)
            }
        };
        let finest = depth + 1 == pyramid.len();
        let em = if finest {
            params.em_iterations.div_ceil(2)
        } else {
            params.em_iterations
        };
        for _ in 0..em {
            for sweep in 0..params.pm_iterations {
                if !keep_going() {
                    return Err(Stopped);
                }
                patchmatch(&current, &mut nnf, params.radius, sweep % 2 == 1, &mut rng);
            }
            vote(&mut current, &nnf, params.radius);
        }
        if finest {
            poisson_correct(&mut current, &nnf, keep_going)?;
        }
        progress(depth as u32 + 1, total);
        estimate = Some((current, nnf));
    }
    let (result, _) = estimate.expect("at least one level");
    let mut out = image.clone();
    for (i, pixel) in out.pixels_mut().enumerate() {
        if result.hole[i] {
            let o = i * 3;
            pixel.0 = [
                result.rgb[o].round().clamp(0.0, 255.0) as u8,
                result.rgb[o + 1].round().clamp(0.0, 255.0) as u8,
                result.rgb[o + 2].round().clamp(0.0, 255.0) as u8,
            ];
        }
    }
    Ok(out)
}

/// Gradient-domain correction (Pérez et al. 2003) of the final fill: keeps the gradients
/// of each hole pixel's source patch but solves for colours that meet the known border
/// exactly, so smooth shading (gradients, vignettes) continues through the hole instead
/// of being copied in visible steps. Solved by successive over-relaxation, starting from
/// the voted fill.
fn poisson_correct(
    level: &mut Level,
    nnf: &[(i32, i32)],
    keep_going: &dyn Fn() -> bool,
) -> Result<(), Stopped> {
    let holes: Vec<(i32, i32)> = (0..level.height)
        .flat_map(|y| (0..level.width).map(move |x| (x, y)))
        .filter(|&(x, y)| level.hole[level.index(x, y)])
        .collect();
    if holes.is_empty() {
        return Ok(());
    }
    // Guidance: for each hole pixel and neighbour, the difference between the two
    // matching pixels around its source.
    let source_value = |level: &Level, x: i32, y: i32, c: usize| -> Option<f32> {
        (x >= 0 && y >= 0 && x < level.width && y < level.height)
            .then(|| level.rgb[level.index(x, y) * 3 + c])
    };
    let neighbours = [(-1, 0), (1, 0), (0, -1), (0, 1)];
    let mut guidance = vec![[[0.0f32; 3]; 4]; holes.len()];
    let mut valid = vec![[false; 4]; holes.len()];
    for (k, &(x, y)) in holes.iter().enumerate() {
        let s = nnf[level.index(x, y)];
        for (n, (dx, dy)) in neighbours.iter().enumerate() {
            let (qx, qy) = (x + dx, y + dy);
            if qx < 0 || qy < 0 || qx >= level.width || qy >= level.height {
                continue;
            }
            for c in 0..3 {
                match (
                    source_value(level, s.0, s.1, c),
                    source_value(level, s.0 + dx, s.1 + dy, c),
                ) {
                    (Some(here), Some(there)) => {
                        guidance[k][n][c] = here - there;
                        valid[k][n] = true;
                    }
                    _ => valid[k][n] = false,
                }
            }
        }
    }
    // Make the system symmetric: an edge between two hole pixels gets the mean of the
    // differences their two sources suggest (g_pq = -g_qp) and counts only when both
    // sources have it. Without this the relaxation below is not a Poisson solve and,
    // over-relaxed on a large hole, diverges.
    let mut slot = vec![usize::MAX; (level.width * level.height) as usize];
    for (k, &(x, y)) in holes.iter().enumerate() {
        slot[level.index(x, y)] = k;
    }
    let opposite = [1, 0, 3, 2];
    let raw_guidance = guidance.clone();
    let raw_valid = valid.clone();
    for (k, &(x, y)) in holes.iter().enumerate() {
        for (n, (dx, dy)) in neighbours.iter().enumerate() {
            let (qx, qy) = (x + dx, y + dy);
            if !raw_valid[k][n] || qx < 0 || qy < 0 || qx >= level.width || qy >= level.height {
                continue;
            }
            let other = slot[level.index(qx, qy)];
            if other == usize::MAX {
                continue; // a known neighbour: a fixed boundary value
            }
            let m = opposite[n];
            if raw_valid[other][m] {
                for c in 0..3 {
                    guidance[k][n][c] = (raw_guidance[k][n][c] - raw_guidance[other][m][c]) / 2.0;
                }
            } else {
                valid[k][n] = false;
            }
        }
    }
    let extent = {
        let (min_x, max_x) = holes
            .iter()
            .fold((i32::MAX, i32::MIN), |a, p| (a.0.min(p.0), a.1.max(p.0)));
        let (min_y, max_y) = holes
            .iter()
            .fold((i32::MAX, i32::MIN), |a, p| (a.0.min(p.1), a.1.max(p.1)));
        (max_x - min_x).max(max_y - min_y) + 1
    };
    let omega = 2.0 / (1.0 + (std::f32::consts::PI / extent as f32).sin());
    let iterations = (extent * 3).clamp(50, 3000);
    for iteration in 0..iterations {
        if iteration % 64 == 0 && !keep_going() {
            return Err(Stopped);
        }
        for (k, &(x, y)) in holes.iter().enumerate() {
            let p = level.index(x, y);
            let mut sum = [0.0f32; 3];
            let mut count = 0.0;
            for (n, (dx, dy)) in neighbours.iter().enumerate() {
                if !valid[k][n] {
                    continue;
                }
                let q = level.index(x + dx, y + dy);
                for c in 0..3 {
                    sum[c] += level.rgb[q * 3 + c] + guidance[k][n][c];
                }
                count += 1.0;
            }
            if count > 0.0 {
                for c in 0..3 {
                    let target = sum[c] / count;
                    let old = level.rgb[p * 3 + c];
                    level.rgb[p * 3 + c] = old + omega * (target - old);
                }
            }
        }
    }
    Ok(())
}

/// One pyramid level: RGB as f32, the hole, and which patch centres are valid sources.
#[derive(Debug, Clone)]
struct Level {
    width: i32,
    height: i32,
    rgb: Vec<f32>,
    hole: Vec<bool>,
    /// Patch centres whose whole patch is inside the image and outside the hole (or,
    /// where there are none, every known pixel).
    source: Vec<bool>,
    /// The same centres as a list, to draw from (never empty).
    sources: Vec<(i32, i32)>,
    /// Patch centres whose patch touches the hole (the targets of the field).
    target: Vec<bool>,
}

impl Level {
    fn new(width: i32, height: i32, rgb: Vec<f32>, hole: Vec<bool>, radius: i32) -> Level {
        let n = (width * height) as usize;
        let mut near_hole = vec![false; n];
        // Pixels within `radius` of a hole pixel (a separable max filter).
        let mut rows = vec![false; n];
        for y in 0..height {
            let mut last_hole = i32::MIN / 2;
            for x in 0..width {
                if hole[(y * width + x) as usize] {
                    last_hole = x;
                }
                rows[(y * width + x) as usize] |= x - last_hole <= radius;
            }
            last_hole = i32::MAX / 2;
            for x in (0..width).rev() {
                if hole[(y * width + x) as usize] {
                    last_hole = x;
                }
                rows[(y * width + x) as usize] |= last_hole - x <= radius;
            }
        }
        for x in 0..width {
            let mut last = i32::MIN / 2;
            for y in 0..height {
                if rows[(y * width + x) as usize] {
                    last = y;
                }
                near_hole[(y * width + x) as usize] |= y - last <= radius;
            }
            last = i32::MAX / 2;
            for y in (0..height).rev() {
                if rows[(y * width + x) as usize] {
                    last = y;
                }
                near_hole[(y * width + x) as usize] |= last - y <= radius;
            }
        }
        let inside = |x: i32, y: i32| {
            x >= radius && y >= radius && x < width - radius && y < height - radius
        };
        let mut source = vec![false; n];
        let mut target = vec![false; n];
        for y in 0..height {
            for x in 0..width {
                let i = (y * width + x) as usize;
                source[i] = inside(x, y) && !near_hole[i];
                target[i] = near_hole[i];
            }
        }
        if !source.iter().any(|s| *s) {
            // A tiny level or a huge hole: allow any known pixel as a patch centre (the
            // distance skips what falls outside the image). The pyramid keeps only
            // levels with a known pixel, so there is at least one.
            for i in 0..n {
                source[i] = !hole[i];
            }
        }
        let sources = (0..width * height)
            .filter(|&i| source[i as usize])
            .map(|i| (i % width, i / width))
            .collect();
        Level {
            width,
            height,
            rgb,
            hole,
            source,
            sources,
            target,
        }
    }

    fn index(&self, x: i32, y: i32) -> usize {
        (y * self.width + x) as usize
    }

    /// The index of a source patch's pixel, with the image's edge repeated: a source
    /// centre near the edge (allowed only when nothing else is known) has a patch that
    /// reaches outside.
    fn source_index(&self, x: i32, y: i32) -> usize {
        self.index(x.clamp(0, self.width - 1), y.clamp(0, self.height - 1))
    }

    fn is_source(&self, x: i32, y: i32) -> bool {
        x >= 0 && y >= 0 && x < self.width && y < self.height && self.source[self.index(x, y)]
    }
}

fn build_pyramid(image: &RgbImage, hole: &GrayImage, radius: i32) -> Vec<Level> {
    let (w, h) = image.dimensions();
    let rgb: Vec<f32> = image.as_raw().iter().map(|v| f32::from(*v)).collect();
    let mask: Vec<bool> = hole.as_raw().iter().map(|v| *v != 0).collect();
    let mut levels = vec![Level::new(w as i32, h as i32, rgb, mask, radius)];
    let min_side = (8 * radius).max(24);
    loop {
        let last = levels.last().expect("not empty");
        if last.width / 2 < min_side || last.height / 2 < min_side {
            break;
        }
        // A coarser level marks a 2x2 block as hole when any of its pixels is; stop
        // before a level that would have no known pixel left to copy from.
        let known_block = (0..last.height / 2).any(|y| {
            (0..last.width / 2).any(|x| {
                [(0, 0), (1, 0), (0, 1), (1, 1)]
                    .iter()
                    .all(|(dx, dy)| !last.hole[last.index(2 * x + dx, 2 * y + dy)])
            })
        });
        if !known_block {
            break;
        }
        let (width, height) = (last.width / 2, last.height / 2);
        let mut rgb = vec![0.0; (width * height * 3) as usize];
        let mut mask = vec![false; (width * height) as usize];
        for y in 0..height {
            for x in 0..width {
                let mut sum = [0.0f32; 3];
                let mut known = 0.0;
                let mut any_hole = false;
                for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                    let i = last.index(2 * x + dx, 2 * y + dy);
                    if last.hole[i] {
                        any_hole = true;
                    } else {
                        known += 1.0;
                        for c in 0..3 {
                            sum[c] += last.rgb[i * 3 + c];
                        }
                    }
                }
                let o = (y * width + x) as usize;
                mask[o] = any_hole;
                if known > 0.0 {
                    for c in 0..3 {
                        rgb[o * 3 + c] = sum[c] / known;
                    }
                }
            }
        }
        levels.push(Level::new(width, height, rgb, mask, radius));
    }
    levels
}

/// First guess at the coarsest level: each hole pixel takes the mean of its filled
/// neighbours, peeling the hole from its border inwards.
fn diffuse(level: &mut Level) {
    let mut filled: Vec<bool> = level.hole.iter().map(|h| !h).collect();
    loop {
        let mut next = Vec::new();
        for y in 0..level.height {
            for x in 0..level.width {
                let i = level.index(x, y);
                if filled[i] {
                    continue;
                }
                let mut sum = [0.0f32; 3];
                let mut count = 0.0;
                for (dx, dy) in [
                    (-1, 0),
                    (1, 0),
                    (0, -1),
                    (0, 1),
                    (-1, -1),
                    (1, 1),
                    (-1, 1),
                    (1, -1),
                ] {
                    let (nx, ny) = (x + dx, y + dy);
                    if nx < 0 || ny < 0 || nx >= level.width || ny >= level.height {
                        continue;
                    }
                    let j = level.index(nx, ny);
                    if filled[j] {
                        for c in 0..3 {
                            sum[c] += level.rgb[j * 3 + c];
                        }
                        count += 1.0;
                    }
                }
                if count > 0.0 {
                    next.push((i, [sum[0] / count, sum[1] / count, sum[2] / count]));
                }
            }
        }
        if next.is_empty() {
            return;
        }
        for (i, value) in next {
            level.rgb[i * 3..i * 3 + 3].copy_from_slice(&value);
            filled[i] = true;
        }
    }
}

/// A random valid patch centre (drawn from the list: drawing pixels until one is valid
/// never ends when the valid ones are few or none).
fn random_source(level: &Level, rng: &mut SmallRng) -> (i32, i32) {
    level.sources[rng.random_range(0..level.sources.len())]
}

fn random_nnf(level: &Level, _radius: i32, rng: &mut SmallRng) -> Vec<(i32, i32)> {
    (0..level.width * level.height)
        .map(|i| {
            if level.target[i as usize] {
                random_source(level, rng)
            } else {
                (i % level.width, i / level.width)
            }
        })
        .collect()
}

/// Sum of squared differences between the patches centred at `t` and `s`, stopping once
/// it exceeds `bound`. Pixels outside the image are skipped.
fn distance(level: &Level, t: (i32, i32), s: (i32, i32), radius: i32, bound: f32) -> f32 {
    let mut total = 0.0;
    for dy in -radius..=radius {
        let (ty, sy) = (t.1 + dy, s.1 + dy);
        if ty < 0 || ty >= level.height {
            continue;
        }
        for dx in -radius..=radius {
            let tx = t.0 + dx;
            if tx < 0 || tx >= level.width {
                continue;
            }
            let a = level.index(tx, ty) * 3;
            let b = level.source_index(s.0 + dx, sy) * 3;
            for c in 0..3 {
                let d = level.rgb[a + c] - level.rgb[b + c];
                total += d * d;
            }
        }
        if total > bound {
            return total;
        }
    }
    total
}

/// One PatchMatch sweep: propagation from the scan neighbours, then random search.
fn patchmatch(
    level: &Level,
    nnf: &mut [(i32, i32)],
    radius: i32,
    reverse: bool,
    rng: &mut SmallRng,
) {
    let step: i32 = if reverse { -1 } else { 1 };
    let (xs, ys): (Vec<i32>, Vec<i32>) = if reverse {
        (
            (0..level.width).rev().collect(),
            (0..level.height).rev().collect(),
        )
    } else {
        ((0..level.width).collect(), (0..level.height).collect())
    };
    let max_radius = level.width.max(level.height);
    for &y in &ys {
        for &x in &xs {
            let i = level.index(x, y);
            if !level.target[i] {
                continue;
            }
            let mut best = nnf[i];
            let mut best_d = distance(level, (x, y), best, radius, f32::INFINITY);
            for (nx, ny) in [(x - step, y), (x, y - step)] {
                if nx < 0 || ny < 0 || nx >= level.width || ny >= level.height {
                    continue;
                }
                let j = level.index(nx, ny);
                if !level.target[j] {
                    continue;
                }
                let candidate = (nnf[j].0 + (x - nx), nnf[j].1 + (y - ny));
                if candidate != best && level.is_source(candidate.0, candidate.1) {
                    let d = distance(level, (x, y), candidate, radius, best_d);
                    if d < best_d {
                        best = candidate;
                        best_d = d;
                    }
                }
            }
            let mut search = max_radius;
            while search >= 1 {
                let candidate = (
                    best.0 + rng.random_range(-search..=search),
                    best.1 + rng.random_range(-search..=search),
                );
                if level.is_source(candidate.0, candidate.1) {
                    let d = distance(level, (x, y), candidate, radius, best_d);
                    if d < best_d {
                        best = candidate;
                        best_d = d;
                    }
                }
                search /= 2;
            }
            nnf[i] = best;
        }
    }
}

/// Re-estimates every hole pixel as the average of what the patches covering it say.
fn vote(level: &mut Level, nnf: &[(i32, i32)], radius: i32) {
    let n = (level.width * level.height) as usize;
    let mut sum = vec![0.0f32; n * 3];
    let mut weight = vec![0.0f32; n];
    for y in 0..level.height {
        for x in 0..level.width {
            let t = level.index(x, y);
            if !level.target[t] {
                continue;
            }
            let s = nnf[t];
            for dy in -radius..=radius {
                let py = y + dy;
                if py < 0 || py >= level.height {
                    continue;
                }
                for dx in -radius..=radius {
                    let px = x + dx;
                    if px < 0 || px >= level.width {
                        continue;
                    }
                    let p = level.index(px, py);
                    if !level.hole[p] {
                        continue;
                    }
                    let q = level.source_index(s.0 + dx, s.1 + dy);
                    for c in 0..3 {
                        sum[p * 3 + c] += level.rgb[q * 3 + c];
                    }
                    weight[p] += 1.0;
                }
            }
        }
    }
    for p in 0..n {
        if level.hole[p] && weight[p] > 0.0 {
            for c in 0..3 {
                level.rgb[p * 3 + c] = sum[p * 3 + c] / weight[p];
            }
        }
    }
}

/// Seeds a finer level's hole from the coarser estimate (nearest neighbour).
fn upsample_into(coarse: &Level, fine: &mut Level) {
    for y in 0..fine.height {
        for x in 0..fine.width {
            let i = fine.index(x, y);
            if !fine.hole[i] {
                continue;
            }
            let j = coarse.index(
                (x / 2).min(coarse.width - 1),
                (y / 2).min(coarse.height - 1),
            );
            for c in 0..3 {
                fine.rgb[i * 3 + c] = coarse.rgb[j * 3 + c];
            }
        }
    }
}

/// Doubles a coarse field onto a finer level, falling back to random sources.
fn upsample_nnf(
    coarse: &Level,
    coarse_nnf: &[(i32, i32)],
    fine: &Level,
    _radius: i32,
    rng: &mut SmallRng,
) -> Vec<(i32, i32)> {
    let mut nnf = Vec::with_capacity((fine.width * fine.height) as usize);
    for y in 0..fine.height {
        for x in 0..fine.width {
            if !fine.target[fine.index(x, y)] {
                nnf.push((x, y));
                continue;
            }
            let (cx, cy) = (
                (x / 2).min(coarse.width - 1),
                (y / 2).min(coarse.height - 1),
            );
            let s = coarse_nnf[coarse.index(cx, cy)];
            let candidate = (s.0 * 2 + x % 2, s.1 * 2 + y % 2);
            if fine.is_source(candidate.0, candidate.1) {
                nnf.push(candidate);
            } else {
                nnf.push(random_source(fine, rng));
            }
        }
    }
    nnf
}
