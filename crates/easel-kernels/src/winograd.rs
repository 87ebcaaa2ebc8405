//! 3×3, stride-1, padding-1 convolutions by Winograd's minimal filtering (Lavin & Gray,
//! "Fast Algorithms for Convolutional Neural Networks", 2015): F(2×2, 3×3) and
//! F(4×4, 3×3). Each M×M block of output is computed from an (M+2)×(M+2) patch of
//! input with (M+2)² products per channel pair instead of 9·M² — 2.25× fewer for
//! F(2×2), 4× fewer for F(4×4). The kernels and the patches are transformed into
//! (M+2)² planes, the planes multiplied as (M+2)² matrix products (`gemm`), and the
//! products transformed back. The transforms run over whole rows of tiles at a time, so
//! they vectorise.

use rayon::prelude::*;

use super::{ConvImage, ConvShape, MatRef, Scratch, Threads, matmul};

/// Which Winograd algorithm a convolution runs as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Tile {
    /// F(2×2, 3×3): 16 products per 2×2 block of output.
    Two,
    /// F(4×4, 3×3): 36 products per 4×4 block of output.
    Four,
}

/// Least tiles per channel for a Winograd convolution to pay for transforming the
/// kernels on every call: fewer tiles and the 16 or 36 matrix products are too thin.
const MIN_TILES: usize = 64;

/// The algorithm that suits a convolution, if any: 3×3, stride 1, padding 1, enough
/// channels for the matrix products to be efficient, and enough tiles. F(4×4) wherever
/// it has [`MIN_TILES`] (planes of 32² and up); F(2×2) on planes from 16².
pub(super) fn tile_for(s: &ConvShape) -> Option<Tile> {
    let tiles = |m: usize| s.height.div_ceil(m) * s.width.div_ceil(m);
    if s.kernel != 3 || s.stride != 1 || s.padding != 1 || s.c_in < 32 || s.c_out < 32 {
        return None;
    }
    if tiles(4) >= MIN_TILES {
        Some(Tile::Four)
    } else if tiles(2) >= MIN_TILES {
        Some(Tile::Two)
    } else {
        None
    }
}

/// The matrices of F(M×M, 3×3), whose patches are P = M + 2 wide, at F(4×4)'s size
/// (F(2×2)'s fill the top-left corners).
struct Algorithm {
    /// Bᵀ: a row of P inputs to its P transformed values.
    input: [[f32; 6]; 6],
    /// G: a row of 3 kernel taps to its P transformed values.
    kernel: [[f32; 3]; 6],
    /// Aᵀ: a row of P products to its M outputs.
    output: [[f32; 6]; 4],
}

/// F(2×2, 3×3), interpolating at 0, ±1 and ∞.
const F2: Algorithm = Algorithm {
    input: [
        [1.0, 0.0, -1.0, 0.0, 0.0, 0.0],
        [0.0, 1.0, 1.0, 0.0, 0.0, 0.0],
        [0.0, -1.0, 1.0, 0.0, 0.0, 0.0],
        [0.0, 1.0, 0.0, -1.0, 0.0, 0.0],
        [0.0; 6],
        [0.0; 6],
    ],
    kernel: [
        [1.0, 0.0, 0.0],
        [0.5, 0.5, 0.5],
        [0.5, -0.5, 0.5],
        [0.0, 0.0, 1.0],
        [0.0; 3],
        [0.0; 3],
    ],
    output: [
        [1.0, 1.0, 1.0, 0.0, 0.0, 0.0],
        [0.0, 1.0, -1.0, -1.0, 0.0, 0.0],
        [0.0; 6],
        [0.0; 6],
    ],
};

/// F(4×4, 3×3), interpolating at 0, ±1, ±2 and ∞ (the points that keep f32 rounding
/// small: the largest coefficient is 8).
const F4: Algorithm = Algorithm {
    input: [
        [4.0, 0.0, -5.0, 0.0, 1.0, 0.0],
        [0.0, -4.0, -4.0, 1.0, 1.0, 0.0],
        [0.0, 4.0, -4.0, -1.0, 1.0, 0.0],
        [0.0, -2.0, -1.0, 2.0, 1.0, 0.0],
        [0.0, 2.0, -1.0, -2.0, 1.0, 0.0],
        [0.0, 4.0, 0.0, -5.0, 0.0, 1.0],
    ],
    kernel: [
        [1.0 / 4.0, 0.0, 0.0],
        [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
        [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
        [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
        [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
        [0.0, 0.0, 1.0],
    ],
    output: [
        [1.0, 1.0, 1.0, 1.0, 1.0, 0.0],
        [0.0, 1.0, -1.0, 2.0, -2.0, 0.0],
        [0.0, 1.0, 1.0, 4.0, 4.0, 0.0],
        [0.0, 1.0, -1.0, 8.0, -8.0, 1.0],
    ],
};

/// The algorithm with patches `P` wide. Its matrices are constants, so once inlined
/// the transforms compile to fixed sums without the zero terms.
#[inline(always)]
fn algorithm<const P: usize>() -> &'static Algorithm {
    if P == 4 { &F2 } else { &F4 }
}

/// How much working memory one call may take, in floats.
#[derive(Clone, Copy)]
pub(super) struct Budget {
    /// For the transformed kernels: beyond it they are transformed, and the convolution
    /// run, a block of output channels at a time.
    pub kernels: usize,
    /// For one band of transformed patches, and for its products.
    pub band: usize,
}

impl Budget {
    /// 64 MB of kernels, 32 MB each of patches and products.
    pub(super) const DEFAULT: Budget = Budget {
        kernels: 16 << 20,
        band: 8 << 20,
    };
}

/// What a convolution reads from each image.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Input {
    /// The image as it is.
    AsIs,
    /// The image upsampled 2× (nearest neighbour), which is never made: the padding
    /// step reads each pixel twice in both directions. `ConvShape` then describes the
    /// upsampled image.
    Upsampled,
}

/// Runs the convolution of every image with `weight` (`(c_out, c_in, 3, 3)`) as `tile`.
pub(super) fn conv<'a>(
    weight: &[f32],
    images: impl Iterator<Item = ConvImage<'a>>,
    (s, input): (ConvShape, Input),
    tile: Tile,
    budget: Budget,
) {
    match tile {
        Tile::Two => conv_as::<4, 2>(weight, images, (s, input), budget),
        Tile::Four => conv_as::<6, 4>(weight, images, (s, input), budget),
    }
}

/// [`conv`] with one algorithm.
fn conv_as<'a, const P: usize, const M: usize>(
    weight: &[f32],
    images: impl Iterator<Item = ConvImage<'a>>,
    (s, input): (ConvShape, Input),
    budget: Budget,
) {
    let elements = P * P;
    let (h, w) = (s.height, s.width);
    let (tiles_y, tiles_x) = (h.div_ceil(M), w.div_ceil(M));
    // Padded by one on every side, and on the bottom and right up to whole tiles.
    let (pad_h, pad_w) = (M * tiles_y + 2, M * tiles_x + 2);
    let plane = pad_h * pad_w;
    let block = (budget.kernels / (elements * s.c_in)).clamp(1, s.c_out);
    let band = (budget.band / (elements * s.c_in.max(block) * tiles_x)).clamp(1, tiles_y);
    let mut scratch = Scratch::take();
    let [padded, kernels, patches, products] = scratch.many(
        [
            s.c_in * plane,
            elements * block * s.c_in,
            elements * s.c_in * band * tiles_x,
            elements * block * band * tiles_x,
        ],
        false,
    );
    // Blocks of output channels outermost: each block's kernels are transformed once for
    // the whole batch. With more than one block, the cheaper input side (padding and
    // patches: these convolutions have many channels on small planes) is redone per block.
    let mut images: Vec<ConvImage> = images.collect();
    // One image in one band (the UNet's blocked convolutions without guidance): its
    // patches stay in the buffer from one block to the next.
    let patches_kept = images.len() == 1 && band == tiles_y;
    for first_out in (0..s.c_out).step_by(block) {
        let input_ready = patches_kept && first_out > 0;
        let outs = block.min(s.c_out - first_out);
        let kernels = &mut kernels[..elements * outs * s.c_in];
        let weights = &weight[first_out * s.c_in * 9..][..outs * s.c_in * 9];
        transform_kernels::<P, M>(weights, kernels, s.c_in);
        let kernels = &*kernels;
        for image in &mut images {
            if !input_ready {
                pad_image(image.image, padded, (s, input), pad_w);
            }
            for first in (0..tiles_y).step_by(band) {
                let rows = band.min(tiles_y - first);
                let tiles = rows * tiles_x;
                if !input_ready {
                    transform_patches::<P, M>(
                        padded,
                        &mut patches[..elements * s.c_in * tiles],
                        (first, rows, tiles_x),
                        pad_w,
                    );
                }
                multiply(
                    kernels,
                    patches,
                    &mut products[..elements * outs * tiles],
                    (outs, s.c_in, tiles),
                );
                let plane_out = h * w;
                let products = &*products;
                let (bias, residual) = (image.bias, image.residual);
                image.out[first_out * plane_out..][..outs * plane_out]
                    .par_chunks_mut(plane_out)
                    .enumerate()
                    .for_each_init(
                        || vec![0.0f32; (P + M) * tiles_x],
                        |work, (index, dst)| {
                            let channel = first_out + index;
                            let bias = bias.map_or(0.0, |b| b[channel]);
                            let residual = residual.map(|r| &r[channel * plane_out..][..plane_out]);
                            let m = &products[index * tiles..];
                            for ty in 0..rows {
                                for r in 0..M {
                                    let y = M * (first + ty) + r;
                                    if y >= h {
                                        break;
                                    }
                                    let row = y * w..(y + 1) * w;
                                    output_row::<P, M>(
                                        &m[ty * tiles_x..],
                                        outs * tiles,
                                        r,
                                        work,
                                        &mut dst[row.clone()],
                                        bias,
                                        residual.map(|res| &res[row]),
                                    );
                                }
                            }
                        },
                    );
            }
        }
    }
}

/// V = Bᵀ d B for every patch of a band of `rows` rows of tiles from tile row `first`,
/// out of the padded image (planes `pad_w` wide) into `patches`, stored
/// [in][element][tile].
fn transform_patches<const P: usize, const M: usize>(
    padded: &[f32],
    patches: &mut [f32],
    (first, rows, tiles_x): (usize, usize, usize),
    pad_w: usize,
) {
    let tiles = rows * tiles_x;
    let channels = patches.len() / (P * P * tiles);
    patches
        .par_chunks_mut(P * P * tiles)
        .zip(padded.par_chunks(padded.len() / channels))
        .for_each_init(
            || vec![0.0f32; (P + P * P) * tiles_x],
            |work, (v, src)| {
                for ty in 0..rows {
                    let top = M * (first + ty) * pad_w;
                    input_row::<P, M>(
                        &src[top..][..P * pad_w],
                        pad_w,
                        work,
                        v,
                        tiles,
                        ty * tiles_x,
                    );
                }
            },
        );
}

/// Every channel of `image` into `padded`: planes `pad_w` wide with a border of zeros
/// (one row and column before, the rest after), upsampled on the way if asked.
fn pad_image(image: &[f32], padded: &mut [f32], (s, input): (ConvShape, Input), pad_w: usize) {
    let plane = padded.len() / s.c_in;
    let (factor, width) = match input {
        Input::AsIs => (1, s.width),
        Input::Upsampled => (2, s.width / 2),
    };
    padded
        .par_chunks_mut(plane)
        .zip(image.par_chunks(s.height * s.width / (factor * factor)))
        .for_each(|(dst, src)| {
            dst.fill(0.0);
            for y in 0..s.height {
                let row = &src[(y / factor) * width..][..width];
                let dst = &mut dst[(y + 1) * pad_w + 1..][..s.width];
                match input {
                    Input::AsIs => dst.copy_from_slice(row),
                    Input::Upsampled => {
                        for (pair, &value) in dst.chunks_exact_mut(2).zip(row) {
                            pair.fill(value);
                        }
                    }
                }
            }
        });
}

/// U = G g Gᵀ for every kernel in `weight` (`(outs, c_in, 3, 3)`), into `kernels`
/// stored [element][out][in]: each element's matrix dense for `gemm`.
fn transform_kernels<const P: usize, const M: usize>(
    weight: &[f32],
    kernels: &mut [f32],
    c_in: usize,
) {
    let outs = weight.len() / (9 * c_in);
    // Each output channel writes one row of every element's matrix.
    let mut rows: Vec<Vec<&mut [f32]>> = (0..outs).map(|_| Vec::with_capacity(P * P)).collect();
    for matrix in kernels[..P * P * outs * c_in].chunks_exact_mut(outs * c_in) {
        for (row, slice) in rows.iter_mut().zip(matrix.chunks_exact_mut(c_in)) {
            row.push(slice);
        }
    }
    rows.into_par_iter()
        .zip(weight.par_chunks(9 * c_in))
        .for_each_init(
            || vec![0.0f32; (9 + 3 * P) * c_in],
            |work, (mut dst, g)| kernel_rows::<P, M>(g, work, &mut dst),
        );
}

/// The gemm of every element: `products[e] = kernels[e] · patches[e]`, stored
/// [element][out][tile]; `(outs, c_in, tiles)` are the matrices' sides. The elements'
/// products are independent, so each runs on one thread — unless there are more threads
/// than elements, when each product is split too.
fn multiply(
    kernels: &[f32],
    patches: &[f32],
    products: &mut [f32],
    (outs, c_in, tiles): (usize, usize, usize),
) {
    let elements = products.len() / (outs * tiles);
    let threads = if rayon::current_num_threads() > elements {
        Threads::All
    } else {
        Threads::One
    };
    products
        .par_chunks_mut(outs * tiles)
        .enumerate()
        .for_each(|(e, dst)| {
            matmul(
                dst,
                tiles,
                (outs, tiles, c_in),
                MatRef::dense(kernels, e * outs * c_in, c_in),
                MatRef {
                    data: patches,
                    offset: e * tiles,
                    row_stride: elements * tiles,
                    col_stride: 1,
                },
                1.0,
                false,
                threads,
            );
        });
}

/// `dst = Σ coefficients[j] · source(j)`, skipping zero coefficients (with constant
/// coefficients the skipping happens at compile time).
#[inline(always)]
fn combine<'a>(dst: &mut [f32], coefficients: &[f32], source: impl Fn(usize) -> &'a [f32]) {
    let mut first = true;
    for (j, &c) in coefficients.iter().enumerate() {
        if c == 0.0 {
            continue;
        }
        let src = &source(j)[..dst.len()];
        if first {
            for (d, &x) in dst.iter_mut().zip(src) {
                *d = c * x;
            }
            first = false;
        } else {
            for (d, &x) in dst.iter_mut().zip(src) {
                *d += c * x;
            }
        }
    }
    if first {
        dst.fill(0.0);
    }
}

multiversioned! {
    /// One output channel's kernels transformed, U = G g Gᵀ for every input channel,
    /// vectorised across input channels: `g` is `(c_in, 3, 3)`, `dst` the channel's row
    /// of each element's matrix.
    fn kernel_rows<const P: usize, const M: usize>(
        g: &[f32],
        work: &mut [f32],
        dst: &mut [&mut [f32]],
    ) {
        let algorithm = algorithm::<P>();
        let c_in = g.len() / 9;
        let (taps, half) = work.split_at_mut(9 * c_in);
        // taps[t] holds tap t of every input channel.
        for (i, kernel) in g.chunks_exact(9).enumerate() {
            for (t, &value) in kernel.iter().enumerate() {
                taps[t * c_in + i] = value;
            }
        }
        // half[a · 3 + c] = Σ_r G[a][r] · g[r][c]: the kernel's columns transformed.
        for a in 0..P {
            for c in 0..3 {
                combine(
                    &mut half[(a * 3 + c) * c_in..][..c_in],
                    &algorithm.kernel[a],
                    |r| &taps[(r * 3 + c) * c_in..],
                );
            }
        }
        // U[a][b] = Σ_c G[b][c] · half[a][c]: then its rows.
        for a in 0..P {
            for b in 0..P {
                combine(&mut dst[a * P + b][..c_in], &algorithm.kernel[b], |c| {
                    &half[(a * 3 + c) * c_in..]
                });
            }
        }
    }
}

multiversioned! {
    /// V = Bᵀ d B for one row of tiles: `rows` holds the P padded input rows (each
    /// `pad_w` long) the tiles cover; tile `tx`'s element `e` goes to
    /// `v[e · tiles + first_tile + tx]`. Separably, over whole rows of tiles: each input
    /// row split into its P phases (the values at `M · tx + j`), combined across into P
    /// rows, then those combined down.
    fn input_row<const P: usize, const M: usize>(
        rows: &[f32],
        pad_w: usize,
        work: &mut [f32],
        v: &mut [f32],
        tiles: usize,
        first_tile: usize,
    ) {
        let algorithm = algorithm::<P>();
        let tiles_x = work.len() / (P + P * P);
        let (phases, across) = work.split_at_mut(P * tiles_x);
        for (i, row) in rows.chunks_exact(pad_w).enumerate() {
            for (j, phase) in phases.chunks_exact_mut(tiles_x).enumerate() {
                for (tx, value) in phase.iter_mut().enumerate() {
                    *value = row[M * tx + j];
                }
            }
            for k in 0..P {
                combine(
                    &mut across[(i * P + k) * tiles_x..][..tiles_x],
                    &algorithm.input[k][..P],
                    |j| &phases[j * tiles_x..],
                );
            }
        }
        for a in 0..P {
            for k in 0..P {
                combine(
                    &mut v[(a * P + k) * tiles + first_tile..][..tiles_x],
                    &algorithm.input[a][..P],
                    |i| &across[(i * P + k) * tiles_x..],
                );
            }
        }
    }
}

multiversioned! {
    /// Y = Aᵀ M A for output row `r` of one row of tiles, whose products are
    /// `m[e · stride + tx]`: down the tiles' product rows (into P rows), then across
    /// (into M phases), interleaved into `out` (one image row) plus the bias and the
    /// residual row.
    fn output_row<const P: usize, const M: usize>(
        m: &[f32],
        stride: usize,
        r: usize,
        work: &mut [f32],
        out: &mut [f32],
        bias: f32,
        residual: Option<&[f32]>,
    ) {
        let algorithm = algorithm::<P>();
        let tiles_x = work.len() / (P + M);
        let (down, phases) = work.split_at_mut(P * tiles_x);
        for c in 0..P {
            combine(
                &mut down[c * tiles_x..][..tiles_x],
                &algorithm.output[r][..P],
                |a| &m[(a * P + c) * stride..],
            );
        }
        for q in 0..M {
            combine(
                &mut phases[q * tiles_x..][..tiles_x],
                &algorithm.output[q][..P],
                |c| &down[c * tiles_x..],
            );
        }
        for (tx, tile) in out.chunks_mut(M).enumerate() {
            for (q, o) in tile.iter_mut().enumerate() {
                *o = phases[q * tiles_x + tx] + bias;
            }
        }
        if let Some(residual) = residual {
            for (o, &x) in out.iter_mut().zip(residual) {
                *o += x;
            }
        }
    }
}
