//! Direct convolution on AVX-512 for the detector's narrow layers (16 to 256 channels,
//! planes from 320² down to 10²), in two orientations. Channel-major tiles: a run of
//! output pixels in one row times up to 64 output channels accumulates in vector
//! registers, the output channels along the vectors and each input value broadcast —
//! the orientation of onnxruntime's MLAS kernels — then is scattered into the NCHW
//! planes. Wide-plane tiles, for wide rows of few channels: 80 adjacent output pixels
//! along the vectors times 4 output channels, each weight broadcast, stored as plain
//! vectors. No im2col buffer in either: tiles read the zero-padded input through a
//! table of per-tap offsets, so any kernel size runs the same loop (strides 1 and 2);
//! bias starts the sums and the activation runs on the registers before the outputs
//! leave the tile.

use rayon::prelude::*;

use super::{Activation, ConvShape};

/// Output channels per vector.
const LANES: usize = 16;

/// A convolution's weights rearranged for [`conv`]: per block of 16 output channels,
/// each input channel and tap's 16 weights adjacent (zeros past the last channel).
/// Prepared once per model, not per call: rearranging costs as much as a small layer.
#[derive(Clone)]
// Only the x86-64 kernels read the packed weights; elsewhere none are made.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub struct DirectWeights {
    c_out: usize,
    /// Input channels × taps.
    depth: usize,
    blocks: Vec<f32>,
    /// For the wide-plane kernel: per group of [`WIDE_CHANNELS`] output channels, each
    /// input channel and tap's weights adjacent (zeros past the last channel).
    wide: Vec<f32>,
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
        let mut wide = vec![0.0f32; c_out.div_ceil(WIDE_CHANNELS) * depth * WIDE_CHANNELS];
        for (o, row) in weight.chunks_exact(depth).enumerate() {
            let group = &mut wide[o / WIDE_CHANNELS * depth * WIDE_CHANNELS..];
            for (d, &w) in row.iter().enumerate() {
                group[d * WIDE_CHANNELS + o % WIDE_CHANNELS] = w;
            }
        }
        Some(DirectWeights {
            c_out,
            depth,
            blocks,
            wide,
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

/// Floats of padded input per parallel task of the padding copy.
#[cfg(target_arch = "x86_64")]
const PAD_FLOATS: usize = 1 << 14;

/// Output channels and vectors of 16 pixels per tile of the wide-plane kernel: 20
/// sums, 5 input vectors and a broadcast weight in registers, and 80 pixels, which
/// divides the detector's wide rows (80, 160, 320).
const WIDE_CHANNELS: usize = 4;
#[cfg(target_arch = "x86_64")]
const WIDE_VECTORS: usize = 5;

/// Narrowest output rows for the wide-plane kernel: below, its vectors run past the
/// rows' ends too much, and the channel-major tiles win.
#[cfg(target_arch = "x86_64")]
const WIDE_FROM: usize = 64;

/// Output pixels per tile, by blocks of output channels per tile: as many as leave the
/// sums, the weights and the broadcast values in the 32 vector registers, and dividing
/// the detector's rows (10 · 2ⁿ pixels wide at 320 and 640).
#[cfg(target_arch = "x86_64")]
const PIXELS: [usize; 5] = [0, 20, 10, 5, 5];

/// One image's convolution (`image` is `c_in` planes) into `out` (`c_out` planes), with
/// `bias` and then `activation`; every element of `out` is written. Only where
/// [`available`].
pub(crate) fn conv(
    image: &[f32],
    w: &DirectWeights,
    bias: Option<&[f32]>,
    out: &mut [std::mem::MaybeUninit<f32>],
    s: ConvShape,
    activation: Option<Activation>,
) {
    assert!(available() && w.fit(&s), "direct convolution unavailable");
    #[cfg(target_arch = "x86_64")]
    x86::conv(image, w, bias, out, s, activation);
    // Elsewhere `available` is false and the assertion stops every call.
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (image, bias, out, activation);
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::*;
    use crate::Scratch;

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
        /// Tiles go through a staged row (see [`Row`]) rather than straight into the
        /// planes.
        staged: bool,
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
        out: &mut [std::mem::MaybeUninit<f32>],
        s: ConvShape,
        activation: Option<Activation>,
    ) {
        let (out_h, out_w) = s.output();
        let plane = out_h * out_w;
        assert_eq!(out.len(), s.c_out * plane, "direct convolution output");
        // Measured per layer and in the network: the wide-plane kernel wins on wide
        // rows of up to 32 channels at stride 1, and at stride 2 on the 3-channel stem
        // (not on the wider or other strided layers, nor on 1×1 products: the
        // channel-major tiles keep those).
        let wide = out_w >= WIDE_FROM
            && s.kernel > 1
            && if s.stride == 1 {
                s.c_out <= 32
            } else {
                s.c_in <= 4
            };
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
        let widest = if wide {
            out_w.next_multiple_of(WIDE_VECTORS * LANES)
        } else {
            out_w.max(PIXELS.into_iter().max().unwrap_or(0))
        };
        // (At stride 2 the wide kernel reads pairs of vectors: up to the pair's end.)
        let reach = taps.iter().max().map_or(0, |t| {
            t + ((out_h - 1) * in_w * s.stride) + widest * s.stride
        });
        let mut scratch = Scratch::take();
        let input: &[f32] = if s.padding == 0 && reach <= image.len() {
            image
        } else {
            let len = reach.max(s.c_in * in_h * in_w);
            let [padded] = scratch.many([len], false);
            let (planes, slack) = padded.split_at_mut(s.c_in * in_h * in_w);
            slack.fill(0.0);
            let p = s.padding;
            // In parallel, in blocks of planes (this copy is a pass over the input that
            // one thread alone made the convolutions' serial part at two threads).
            let planes_per_task = (PAD_FLOATS / (in_h * in_w)).max(1);
            planes
                .par_chunks_mut(planes_per_task * in_h * in_w)
                .zip(image.par_chunks(planes_per_task * s.height * s.width))
                .for_each(|(dst, src)| {
                    for (dst, src) in dst
                        .chunks_exact_mut(in_h * in_w)
                        .zip(src.chunks_exact(s.height * s.width))
                    {
                        for (y, line) in dst.chunks_exact_mut(in_w).enumerate() {
                            let Some(row) = y
                                .checked_sub(p)
                                .filter(|&y| y < s.height)
                                .map(|y| &src[y * s.width..][..s.width])
                            else {
                                line.fill(0.0);
                                continue;
                            };
                            line[..p].fill(0.0);
                            line[p..p + s.width].copy_from_slice(row);
                            line[p + s.width..].fill(0.0);
                        }
                    }
                });
            padded
        };
        assert!(reach <= input.len(), "direct convolution input");
        if wide {
            let job = WideJob {
                input,
                taps,
                weights: w,
                bias,
                plane,
                out_w,
                in_w,
                stride: s.stride,
                activation,
            };
            wide_conv(&job, out);
            return;
        }
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
            // Planes a multiple of 4 KiB apart (160², 320²).
            staged: plane.is_multiple_of(1024),
        };
        // Groups of up to four blocks (64 channels) share each tile's input loads.
        let groups: Vec<(usize, usize)> = (0..blocks)
            .step_by(4)
            .map(|first| (first, (blocks - first).min(4)))
            .collect();
        let tiles = |count: usize| out_h * out_w.div_ceil(PIXELS[count]);
        let dst = Out(out.as_mut_ptr().cast(), out.len());
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
            staging: vec![0.0f32; if job.staged { B * LANES * job.out_w } else { 0 }],
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
            if let Some(activation) = job.activation {
                activate_tile(&mut acc, activation);
            }
            let channels = job.weights.c_out - first * LANES;
            if job.staged {
                row.span.end = x0 + pixels.end;
                let staging = &mut row.staging[x0..];
                // SAFETY: the staged row holds B · LANES channels of `out_w` pixels, and
                // x0 + pixels.end ≤ out_w.
                #[allow(unsafe_code)]
                unsafe {
                    scatter(&acc, staging.as_mut_ptr(), job.out_w, channels, pixels)
                };
            } else {
                let start = first * LANES * job.plane + y * job.out_w + x0;
                let last = (channels.min(B * LANES) - 1) * job.plane + pixels.end;
                assert!(start + last <= out.1, "direct convolution output");
                // SAFETY: inside the output (asserted above); these channels' pixels
                // belong to this tile alone.
                #[allow(unsafe_code)]
                unsafe {
                    scatter(&acc, out.0.add(start), job.plane, channels, pixels)
                };
            }
        }
        row.flush(job, first, out);
    }

    /// One output row of a group's channels, as its tiles finish: written into the
    /// planes a channel at a time once the row (or the thread's share of it) is done.
    /// For planes a multiple of 4 KiB apart (160² and 320²), where tiles scattered
    /// straight into the planes were 2–3× slower: each vector's 16 stores then fall into
    /// one set of the L1 cache. Other planes take the tiles directly (faster than
    /// staging them).
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

    /// The fused activation on a tile's sums.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn activate_tile<const B: usize, const P: usize>(
        acc: &mut [[__m512; P]; B],
        activation: Activation,
    ) {
        for acc in acc.as_flattened_mut() {
            *acc = activate(*acc, activation);
        }
    }

    /// The fused activation on one vector, in registers: the logistic function from
    /// [`fast_exp`](crate::fast_exp)'s polynomial, with `scalef` for the power of two and a reciprocal
    /// estimate refined by one Newton step instead of a division (division made the
    /// activation a large part of the wide, shallow layers' time). Relative error
    /// under 2e-7 · (1 + |x|), as `fast_exp`'s.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn activate(x: __m512, activation: Activation) -> __m512 {
        let one = _mm512_set1_ps(1.0);
        // e^-x = 2^t, t = -x · log2(e) = n + f with n an integer and |f| ≤ 1/2.
        let t = _mm512_mul_ps(x, _mm512_set1_ps(-std::f32::consts::LOG2_E));
        let t = _mm512_min_ps(
            _mm512_max_ps(t, _mm512_set1_ps(-126.0)),
            _mm512_set1_ps(126.0),
        );
        let n = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(t);
        let f = _mm512_sub_ps(t, n);
        let mut p = _mm512_set1_ps(1.535_336_2e-4);
        for c in [
            1.339_887_4e-3,
            9.618_437e-3,
            5.550_332_5e-2,
            2.402_264_7e-1,
            6.931_472e-1,
            1.0,
        ] {
            p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(c));
        }
        let denominator = _mm512_add_ps(one, _mm512_scalef_ps(p, n));
        // 1 / d: a 14-bit estimate r, then r + r · (1 − d · r).
        let r = _mm512_rcp14_ps(denominator);
        let r = _mm512_fmadd_ps(r, _mm512_fnmadd_ps(denominator, r, one), r);
        match activation {
            Activation::Silu => _mm512_mul_ps(x, r),
            Activation::Sigmoid => r,
            other => panic!("{other:?} is not fused into convolutions"),
        }
    }

    /// Writes a tile's `pixels` from `dst` on, each vector's 16 channels `stride` apart,
    /// the channels from `channels` on left out.
    ///
    /// # Safety
    /// `dst` must be valid for writes at `c · stride + j` for every channel c below
    /// `channels` (and B · LANES) and every j in `pixels`.
    #[inline]
    #[allow(unsafe_code)]
    #[target_feature(enable = "avx512f")]
    unsafe fn scatter<const B: usize, const P: usize>(
        acc: &[[__m512; P]; B],
        dst: *mut f32,
        stride: usize,
        channels: usize,
        pixels: std::ops::Range<usize>,
    ) {
        let lanes = _mm512_mullo_epi32(
            _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
            _mm512_set1_epi32(stride as i32),
        );
        for (b, acc) in acc.iter().enumerate() {
            let valid = channels.saturating_sub(b * LANES).min(LANES);
            let mask = ((1u32 << valid) - 1) as __mmask16;
            for j in pixels.clone() {
                // SAFETY: the caller's promise, for channels b · LANES + lane.
                #[allow(unsafe_code)]
                unsafe {
                    _mm512_mask_i32scatter_ps::<4>(
                        dst.add(b * LANES * stride + j).cast(),
                        mask,
                        lanes,
                        acc[j],
                    );
                }
            }
        }
    }

    /// What every tile of one wide-plane convolution reads and where it writes.
    struct WideJob<'a> {
        /// The input planes, zero-padded.
        input: &'a [f32],
        /// For each input channel and tap, its offset into `input`.
        taps: Vec<usize>,
        weights: &'a DirectWeights,
        bias: Option<&'a [f32]>,
        plane: usize,
        out_w: usize,
        /// Input row width.
        in_w: usize,
        /// 1 or 2.
        stride: usize,
        activation: Option<Activation>,
    }

    /// The wide-plane kernel over the whole output: rows of [`WIDE_CHANNELS`] output
    /// channels, in parallel.
    fn wide_conv(job: &WideJob, out: &mut [std::mem::MaybeUninit<f32>]) {
        let out_h = job.plane / job.out_w;
        let groups = job.weights.c_out.div_ceil(WIDE_CHANNELS);
        let dst = Out(out.as_mut_ptr().cast(), out.len());
        let run = |rows: std::ops::Range<usize>| {
            // SAFETY: the CPU has AVX-512F (asserted by the caller).
            #[allow(unsafe_code)]
            unsafe {
                match job.stride {
                    1 => wide_rows::<1>(job, rows, dst),
                    _ => wide_rows::<2>(job, rows, dst),
                }
            }
        };
        // Items are (channel group, output row) pairs, group-major.
        let items = groups * out_h;
        let threads = rayon::current_num_threads();
        if threads == 1 {
            run(0..items);
            return;
        }
        let per = items.div_ceil(4 * threads).max(1);
        (0..items)
            .step_by(per)
            .collect::<Vec<_>>()
            .into_par_iter()
            .for_each(|first| run(first..(first + per).min(items)));
    }

    /// Output rows `rows` ((channel group, row) pairs) of the wide-plane kernel: tiles of [`WIDE_VECTORS`] vectors of 16 adjacent output pixels (the
    /// last one of a row masked), each input vector feeding [`WIDE_CHANNELS`] products
    /// with broadcast weights. The outputs are stored as plain vectors into the planes.
    #[allow(clippy::needless_range_loop)]
    #[target_feature(enable = "avx512f")]
    fn wide_rows<const S: usize>(job: &WideJob, rows: std::ops::Range<usize>, out: Out) {
        const C: usize = WIDE_CHANNELS;
        const V: usize = WIDE_VECTORS;
        let out_h = job.plane / job.out_w;
        let depth = job.weights.depth;
        let channels = job.weights.c_out;
        for item in rows {
            let (group, y) = (item / out_h, item % out_h);
            let weights = &job.weights.wide[group * depth * C..][..depth * C];
            let count = (channels - group * C).min(C);
            let mut bias = [0.0f32; C];
            if let Some(b) = job.bias {
                bias[..count].copy_from_slice(&b[group * C..][..count]);
            }
            let row_start = (group * C) * job.plane + y * job.out_w;
            assert!(
                row_start + (count - 1) * job.plane + job.out_w <= out.1,
                "direct convolution output"
            );
            for x0 in (0..job.out_w).step_by(V * LANES) {
                let mut acc = [[_mm512_setzero_ps(); V]; C];
                for c in 0..C {
                    acc[c] = [_mm512_set1_ps(bias[c]); V];
                }
                let (input, w) = (job.input.as_ptr(), weights.as_ptr());
                let evens =
                    _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
                let base = (y * job.in_w + x0) * S;
                for (d, &tap) in job.taps.iter().enumerate() {
                    // SAFETY: every tap of every tile's vectors is inside `input` (the
                    // caller checked the reach); `weights` holds `depth` rows of C.
                    #[allow(unsafe_code)]
                    unsafe {
                        let src = input.add(tap + base);
                        let mut x = [_mm512_setzero_ps(); V];
                        for v in 0..V {
                            x[v] = if S == 1 {
                                _mm512_loadu_ps(src.add(v * LANES))
                            } else {
                                // Every other value of the next 32.
                                let low = _mm512_loadu_ps(src.add(2 * v * LANES));
                                let high = _mm512_loadu_ps(src.add(2 * v * LANES + LANES));
                                _mm512_permutex2var_ps(low, evens, high)
                            };
                        }
                        for c in 0..C {
                            let wc = _mm512_set1_ps(*w.add(d * C + c));
                            for v in 0..V {
                                acc[c][v] = _mm512_fmadd_ps(wc, x[v], acc[c][v]);
                            }
                        }
                    }
                }
                let width = (job.out_w - x0).min(V * LANES);
                for c in 0..count {
                    // SAFETY: channel c's row holds out_w values from its start
                    // (asserted above), and the masks stop at `width`; this row of this
                    // channel belongs to this item alone.
                    #[allow(unsafe_code)]
                    unsafe {
                        let dst = out.0.add(row_start + c * job.plane + x0);
                        for v in 0..V {
                            let left = width.saturating_sub(v * LANES).min(LANES);
                            let mask = ((1u32 << left) - 1) as __mmask16;
                            let value = match job.activation {
                                Some(activation) => activate(acc[c][v], activation),
                                None => acc[c][v],
                            };
                            _mm512_mask_storeu_ps(dst.add(v * LANES), mask, value);
                        }
                    }
                }
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn activations_in_registers_are_accurate() {
            if !available() {
                return;
            }
            let xs: Vec<f32> = (-12_000..12_000).map(|i| i as f32 / 100.0).collect();
            for activation in [Activation::Silu, Activation::Sigmoid] {
                for chunk in xs.chunks_exact(LANES) {
                    let mut got = [0.0f32; LANES];
                    // SAFETY: the CPU has AVX-512F (checked above); both arrays hold
                    // LANES values.
                    #[allow(unsafe_code)]
                    unsafe {
                        let x = _mm512_loadu_ps(chunk.as_ptr());
                        _mm512_storeu_ps(got.as_mut_ptr(), activate(x, activation));
                    }
                    for (&x, &y) in chunk.iter().zip(&got) {
                        let sigmoid = 1.0 / (1.0 + (-f64::from(x)).exp());
                        let exact = match activation {
                            Activation::Silu => f64::from(x) * sigmoid,
                            _ => sigmoid,
                        };
                        let error = (f64::from(y) - exact).abs();
                        assert!(
                            error <= 2e-7 * (1.0 + f64::from(x.abs())) * exact.abs() + 1e-30,
                            "{activation:?}({x}) = {y}, not {exact}"
                        );
                    }
                }
            }
        }
    }
}
