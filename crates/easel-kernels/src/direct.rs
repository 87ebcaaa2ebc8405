//! Direct convolution on AVX-512 for the detector's narrow layers (16 to 256 channels,
//! planes from 320² down to 10²). A tile of output pixels (consecutive in row-major
//! order, across row ends) times up to 64 output channels accumulates in vector
//! registers, the output channels along the vectors and each input value broadcast —
//! the orientation of onnxruntime's MLAS kernels. No im2col buffer: each tile reads the
//! (zero-padded) input through a table of per-tap offsets, so any kernel size (strides
//! 1 and 2) runs the same loop; bias starts the sums and the activation runs on the tile before
//! it is transposed into the NCHW planes.

use rayon::prelude::*;

use super::{Activation, ConvShape};

/// Output channels per vector.
const LANES: usize = 16;

/// A convolution's weights rearranged for [`conv`]: per block of 16 output channels,
/// each input channel and tap's 16 weights adjacent (zeros past the last channel).
/// Prepared once per model, not per call: rearranging costs as much as a small layer.
#[derive(Clone)]
pub struct DirectWeights {
    c_out: usize,
    /// Input channels × taps.
    depth: usize,
    blocks: Vec<f32>,
}

impl std::fmt::Debug for DirectWeights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectWeights")
            .field("c_out", &self.c_out)
            .field("depth", &self.depth)
            .finish_non_exhaustive()
    }
}

impl DirectWeights {
    /// `weight` is `(c_out, c_in, kernel, kernel)`. `None` where the CPU has no AVX-512
    /// (the convolution then takes the portable paths).
    pub fn new(weight: &[f32], c_out: usize) -> Option<DirectWeights> {
        if !available() || c_out == 0 || !weight.len().is_multiple_of(c_out) {
            return None;
        }
        let depth = weight.len() / c_out;
        let mut blocks = vec![0.0f32; c_out.div_ceil(LANES) * depth * LANES];
        for (o, row) in weight.chunks_exact(depth).enumerate() {
            let block = &mut blocks[o / LANES * depth * LANES..][..depth * LANES];
            for (d, &w) in row.iter().enumerate() {
                block[d * LANES + o % LANES] = w;
            }
        }
        Some(DirectWeights {
            c_out,
            depth,
            blocks,
        })
    }

    /// Whether these are the weights of a convolution shaped `s`.
    pub(crate) fn fit(&self, s: &ConvShape) -> bool {
        self.c_out == s.c_out
            && self.depth == s.c_in * s.kernel * s.kernel
            && (s.stride == 1 || s.stride == 2)
    }
}

/// Whether this CPU runs [`conv`].
pub(crate) fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Output pixels per tile, by blocks of output channels per tile: as many as leave the
/// sums, the weights and the broadcast values in the 32 vector registers, and dividing
/// the detector's rows (10 · 2ⁿ pixels wide at 320 and 640).
#[cfg(target_arch = "x86_64")]
const PIXELS: [usize; 5] = [0, 20, 10, 5, 5];

/// One image's convolution (`image` is `c_in` planes) into `out` (`c_out` planes), with
/// `bias` and then `activation`. Only where [`available`].
pub(crate) fn conv(
    image: &[f32],
    w: &DirectWeights,
    bias: Option<&[f32]>,
    out: &mut [f32],
    s: ConvShape,
    activation: Option<Activation>,
) {
    assert!(available() && w.fit(&s), "direct convolution unavailable");
    #[cfg(target_arch = "x86_64")]
    x86::conv(image, w, bias, out, s, activation);
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::*;
    use crate::{Scratch, fast_exp, silu};

    /// What every tile of one convolution reads and where it writes.
    struct Job<'a> {
        /// The input planes, zero-padded.
        input: &'a [f32],
        /// For each input channel and tap, its offset into `input`.
        taps: Vec<usize>,
        weights: &'a DirectWeights,
        /// The bias, zero-padded to whole blocks.
        bias: Vec<f32>,
        /// Output pixels per plane, and per row.
        plane: usize,
        out_w: usize,
        /// Input row width.
        in_w: usize,
        activation: Option<Activation>,
    }

    /// The output, written by several threads at once (each to its own channels and
    /// pixels).
    #[derive(Clone, Copy)]
    struct Out(*mut f32, usize);
    // SAFETY: the pointer is only written through by `tiles`, whose callers hand each
    // thread distinct (channel block, tile) pairs, so no element is written twice.
    #[allow(unsafe_code)]
    unsafe impl Send for Out {}
    #[allow(unsafe_code)]
    unsafe impl Sync for Out {}

    pub(super) fn conv(
        image: &[f32],
        w: &DirectWeights,
        bias: Option<&[f32]>,
        out: &mut [f32],
        s: ConvShape,
        activation: Option<Activation>,
    ) {
        let (out_h, out_w) = s.output();
        let plane = out_h * out_w;
        assert_eq!(out.len(), s.c_out * plane, "direct convolution output");
        let (in_h, in_w) = (s.height + 2 * s.padding, s.width + 2 * s.padding);
        let taps_per_channel = s.kernel * s.kernel;
        let taps: Vec<usize> = (0..w.depth)
            .map(|d| {
                let (channel, tap) = (d / taps_per_channel, d % taps_per_channel);
                channel * in_h * in_w + tap / s.kernel * in_w + tap % s.kernel
            })
            .collect();
        // The furthest a tile reads: its last tap at the last row's last tile, which
        // is a whole tile wide even where the row is narrower.
        let widest = out_w.max(PIXELS.into_iter().max().unwrap_or(0));
        let reach = taps.iter().max().map_or(0, |t| {
            t + ((out_h - 1) * in_w * s.stride) + (widest - 1) * s.stride + 1
        });
        let mut scratch = Scratch::take();
        let input: &[f32] = if s.padding == 0 && reach <= image.len() {
            image
        } else {
            // Every value written here (the copy overwrites the rest of each plane, so
            // only the borders and the slack after the last plane are zeroed).
            let len = reach.max(s.c_in * in_h * in_w);
            let [padded] = scratch.many([len], false);
            let (planes, slack) = padded.split_at_mut(s.c_in * in_h * in_w);
            slack.fill(0.0);
            let p = s.padding;
            for (dst, src) in planes
                .chunks_exact_mut(in_h * in_w)
                .zip(image.chunks_exact(s.height * s.width))
            {
                let (top, rest) = dst.split_at_mut(p * in_w + p);
                top.fill(0.0);
                let (middle, bottom) = rest.split_at_mut(s.height * in_w - p);
                bottom.fill(0.0);
                for (y, row) in src.chunks_exact(s.width).enumerate() {
                    let line = &mut middle[y * in_w..];
                    line[..s.width].copy_from_slice(row);
                    // The right border of this row and the left of the next.
                    let gap = (in_w - s.width).min(line.len() - s.width);
                    line[s.width..s.width + gap].fill(0.0);
                }
            }
            padded
        };
        assert!(reach <= input.len(), "direct convolution input");
        let blocks = s.c_out.div_ceil(LANES);
        let mut padded_bias = vec![0.0f32; blocks * LANES];
        if let Some(bias) = bias {
            padded_bias[..s.c_out].copy_from_slice(bias);
        }
        let job = Job {
            input,
            taps,
            weights: w,
            bias: padded_bias,
            plane,
            out_w,
            in_w,
            activation,
        };
        // Groups of up to four blocks (64 channels) share each tile's input loads.
        let groups: Vec<(usize, usize)> = (0..blocks)
            .step_by(4)
            .map(|first| (first, (blocks - first).min(4)))
            .collect();
        let tiles = |count: usize| out_h * out_w.div_ceil(PIXELS[count]);
        let dst = Out(out.as_mut_ptr(), out.len());
        let run = |(first, count): (usize, usize), tiles: std::ops::Range<usize>| {
            macro_rules! dispatch {
                ($($b:literal),*) => {
                    match (count, s.stride) {
                        $(
                            ($b, 1) => run_tiles::<$b, { PIXELS[$b] }, 1>(&job, first, tiles, dst),
                            ($b, _) => run_tiles::<$b, { PIXELS[$b] }, 2>(&job, first, tiles, dst),
                        )*
                        _ => unreachable!("groups hold 1 to 4 blocks"),
                    }
                };
            }
            // SAFETY: the CPU has AVX-512F (asserted by the caller).
            #[allow(unsafe_code)]
            unsafe {
                dispatch!(1, 2, 3, 4)
            }
        };
        let threads = rayon::current_num_threads();
        if threads == 1 {
            for &group in &groups {
                run(group, 0..tiles(group.1));
            }
            return;
        }
        // Several threads: split each group's tiles into chunks, enough of them for
        // every thread to get a few (small planes have few tiles but many groups).
        let work: Vec<_> = groups
            .iter()
            .flat_map(|&group| {
                let tiles = tiles(group.1);
                let chunks = (4 * threads).div_ceil(groups.len()).min(tiles);
                let per = tiles.div_ceil(chunks);
                (0..tiles)
                    .step_by(per)
                    .map(move |t| (group, t..(t + per).min(tiles)))
            })
            .collect();
        work.into_par_iter()
            .for_each(|(group, tiles)| run(group, tiles));
    }

    /// Tiles `tiles` of the `B` blocks of output channels from `first`, at stride `S`.
    /// A tile is `P` pixels of one output row; a row's last tile ends at the row's end
    /// (overlapping the one before, whose pixels it does not store again), so every
    /// tile reads its pixels at constant distances from one pointer.
    // Plain index loops over the constant bounds B and P: they unroll completely, and
    // the sums stay in registers.
    #[allow(clippy::needless_range_loop)]
    #[target_feature(enable = "avx512f")]
    fn run_tiles<const B: usize, const P: usize, const S: usize>(
        job: &Job,
        first: usize,
        tiles: std::ops::Range<usize>,
        out: Out,
    ) {
        let depth = job.weights.depth;
        let weights = &job.weights.blocks[first * depth * LANES..][..B * depth * LANES];
        let bias = &job.bias[first * LANES..][..B * LANES];
        let per_row = job.out_w.div_ceil(P);
        let mut row = Row {
            staging: vec![0.0f32; B * LANES * job.out_w],
            y: usize::MAX,
            span: 0..0,
        };
        for tile in tiles {
            let (y, x) = (tile / per_row, tile % per_row * P);
            if y != row.y {
                row.flush(job, first, out);
                row.y = y;
                row.span = x..x;
            }
            let x0 = x.min(job.out_w.saturating_sub(P));
            let base = (y * job.in_w + x0) * S;
            let mut acc = [[_mm512_setzero_ps(); P]; B];
            for (b, acc) in acc.iter_mut().enumerate() {
                // SAFETY: `bias` holds B · LANES values.
                #[allow(unsafe_code)]
                let v = unsafe { _mm512_loadu_ps(bias.as_ptr().add(b * LANES)) };
                acc.fill(v);
            }
            // The hot loop: B weight vectors and P broadcasts make B · P products.
            let (input, weights) = (job.input.as_ptr(), weights.as_ptr());
            for (d, &tap) in job.taps.iter().enumerate() {
                // SAFETY: `weights` holds B blocks of `depth` vectors; every tap of every
                // tile's pixels is inside `input` (the caller checked the reach).
                #[allow(unsafe_code)]
                unsafe {
                    let src = input.add(tap + base);
                    let mut w = [_mm512_setzero_ps(); B];
                    for (b, w) in w.iter_mut().enumerate() {
                        *w = _mm512_loadu_ps(weights.add((b * depth + d) * LANES));
                    }
                    for j in 0..P {
                        let x = _mm512_set1_ps(*src.add(j * S));
                        for b in 0..B {
                            acc[b][j] = _mm512_fmadd_ps(w[b], x, acc[b][j]);
                        }
                    }
                }
            }
            let pixels = (x - x0)..P.min(job.out_w - x0);
            row.span.end = x0 + pixels.end;
            stage(job, acc, first, x0, pixels, &mut row.staging);
        }
        row.flush(job, first, out);
    }

    /// One output row of a group's channels, as its tiles finish: written into the
    /// planes a channel at a time once the row (or the thread's share of it) is done.
    /// Tiles scattered straight into the planes were slower where the planes lie a
    /// multiple of 4 KiB apart (160² and 320²): each vector's 16 stores then fall into
    /// one set of the L1 cache.
    struct Row {
        /// The row's values, channel by channel, `out_w` apart.
        staging: Vec<f32>,
        y: usize,
        /// The pixels staged.
        span: std::ops::Range<usize>,
    }

    impl Row {
        fn flush(&self, job: &Job, first: usize, out: Out) {
            if self.span.is_empty() {
                return;
            }
            let channels = job.weights.c_out - first * LANES;
            for (c, values) in self
                .staging
                .chunks_exact(job.out_w)
                .take(channels)
                .enumerate()
            {
                let start = (first * LANES + c) * job.plane + self.y * job.out_w;
                assert!(start + self.span.end <= out.1, "direct convolution output");
                let values = &values[self.span.clone()];
                // SAFETY: inside the output (asserted above); these pixels of this
                // channel belong to this thread's tiles alone.
                #[allow(unsafe_code)]
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        values.as_ptr(),
                        out.0.add(start + self.span.start),
                        values.len(),
                    );
                }
            }
        }
    }

    /// Applies the activation to a tile and scatters its `pixels` into the staged row
    /// (each vector's 16 channels `out_w` apart).
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn stage<const B: usize, const P: usize>(
        job: &Job,
        mut acc: [[__m512; P]; B],
        first: usize,
        x0: usize,
        pixels: std::ops::Range<usize>,
        staging: &mut [f32],
    ) {
        if let Some(activation) = job.activation {
            for acc in acc.as_flattened_mut() {
                let mut v = [0.0f32; LANES];
                // SAFETY: `v` holds LANES values.
                #[allow(unsafe_code)]
                unsafe {
                    _mm512_storeu_ps(v.as_mut_ptr(), *acc)
                };
                match activation {
                    Activation::Silu => v.iter_mut().for_each(|v| *v = silu(*v)),
                    Activation::Sigmoid => {
                        v.iter_mut().for_each(|v| *v = 1.0 / (1.0 + fast_exp(-*v)))
                    }
                    other => panic!("{other:?} is not fused into convolutions"),
                }
                // SAFETY: as above.
                #[allow(unsafe_code)]
                unsafe {
                    *acc = _mm512_loadu_ps(v.as_ptr())
                };
            }
        }
        let lanes = _mm512_mullo_epi32(
            _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
            _mm512_set1_epi32(job.out_w as i32),
        );
        let channels = job.weights.c_out - first * LANES;
        for (b, acc) in acc.iter().enumerate() {
            let valid = channels.saturating_sub(b * LANES).min(LANES);
            let mask = ((1u32 << valid) - 1) as __mmask16;
            let rows = &mut staging[b * LANES * job.out_w..][..LANES * job.out_w];
            assert!(x0 + pixels.end <= job.out_w, "direct convolution tile");
            for j in pixels.clone() {
                // SAFETY: lane l writes row l of `rows` at x0 + j < out_w.
                #[allow(unsafe_code)]
                unsafe {
                    _mm512_mask_i32scatter_ps::<4>(
                        rows.as_mut_ptr().add(x0 + j).cast(),
                        mask,
                        lanes,
                        acc[j],
                    );
                }
            }
        }
    }
}
