//! Easel's CPU kernels for neural networks, on contiguous f32 slices: convolution
//! (Winograd, matrix products on shifted views, im2col, direct AVX-512 kernels for the
//! detector; 2× upsampling fused in), group normalisation fused with SiLU, layer
//! normalisation, GELU and GEGLU, attention in query blocks (no full score matrix). Written for the diffusion models' hot operations
//! (candle's generic CPU ops transpose, copy and broadcast more than these shapes need)
//! and shared with the object detector.

use rayon::prelude::*;

/// A strided view of a row-major matrix inside a slice.
#[derive(Clone, Copy)]
pub struct MatRef<'a> {
    /// The backing data.
    pub data: &'a [f32],
    /// Index of element (0, 0).
    pub offset: usize,
    /// Distance between rows.
    pub row_stride: usize,
    /// Distance between columns.
    pub col_stride: usize,
}

impl<'a> MatRef<'a> {
    /// A dense row-major `rows × cols` matrix starting at `offset`.
    pub fn dense(data: &'a [f32], offset: usize, cols: usize) -> MatRef<'a> {
        MatRef {
            data,
            offset,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The transpose of a dense row-major matrix `cols` wide starting at `offset`: its
    /// rows read as columns.
    pub fn transposed(data: &'a [f32], offset: usize, cols: usize) -> MatRef<'a> {
        MatRef {
            data,
            offset,
            row_stride: 1,
            col_stride: cols,
        }
    }

    /// Panics unless every element of a `rows × cols` view lies inside the slice.
    fn check(&self, rows: usize, cols: usize) {
        let last = self.offset + (rows - 1) * self.row_stride + (cols - 1) * self.col_stride;
        assert!(
            last < self.data.len(),
            "matrix view past the end of its data"
        );
    }
}

/// How many threads one matrix product may use.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Threads {
    /// All of rayon's.
    All,
    /// The calling thread only (the caller parallelises around it).
    One,
}

/// `dst = scale · lhs · rhs`, or `dst += scale · lhs · rhs` with `accumulate`, where `dst`
/// is `m × n` with rows `dst_row_stride` apart (columns adjacent), `lhs` is `m × k` and
/// `rhs` is `k × n`.
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    dst: &mut [f32],
    dst_row_stride: usize,
    (m, n, k): (usize, usize, usize),
    lhs: MatRef,
    rhs: MatRef,
    scale: f32,
    accumulate: bool,
    threads: Threads,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(dst_row_stride >= n, "destination rows overlap");
    assert!(
        (m - 1) * dst_row_stride + n <= dst.len(),
        "destination too small"
    );
    if k == 0 {
        if !accumulate {
            for row in 0..m {
                dst[row * dst_row_stride..row * dst_row_stride + n].fill(0.0);
            }
        }
        return;
    }
    lhs.check(m, k);
    rhs.check(k, n);
    let parallelism = match threads {
        Threads::All => gemm::Parallelism::Rayon(rayon::current_num_threads()),
        Threads::One => gemm::Parallelism::None,
    };
    let stride = |s: usize| s as isize;
    // SAFETY: every element gemm reads or writes lies inside the slices (checked above:
    // the last element of each view is in bounds and strides are non-negative); `dst` is
    // borrowed mutably, so it cannot alias `lhs` or `rhs`; and its rows do not overlap
    // (`dst_row_stride >= n`), so no element is written by two threads.
    #[allow(unsafe_code)]
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            stride(dst_row_stride),
            accumulate,
            lhs.data.as_ptr().add(lhs.offset),
            stride(lhs.col_stride),
            stride(lhs.row_stride),
            rhs.data.as_ptr().add(rhs.offset),
            stride(rhs.col_stride),
            stride(rhs.row_stride),
            1.0,
            scale,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// A convolution's shape: `(batch, in channels, height, width)` input, `(out channels,
/// in channels, kernel, kernel)` weights.
#[derive(Clone, Copy, Debug)]
pub struct ConvShape {
    /// Images in the batch.
    pub batch: usize,
    /// Input channels.
    pub c_in: usize,
    /// Output channels.
    pub c_out: usize,
    /// Input height.
    pub height: usize,
    /// Input width.
    pub width: usize,
    /// Square kernel side.
    pub kernel: usize,
    /// Step between output pixels.
    pub stride: usize,
    /// Zeros added on every side.
    pub padding: usize,
}

impl ConvShape {
    /// Output `(height, width)`.
    pub fn output(&self) -> (usize, usize) {
        let side = |n: usize| (n + 2 * self.padding - self.kernel) / self.stride + 1;
        (side(self.height), side(self.width))
    }
}

/// Floats of im2col buffer one band of a strided convolution may take.
const BAND_FLOATS: usize = 4 << 20;

/// A 2-D convolution, `(batch, c_out, out_h, out_w)`. `bias` holds `c_out` values, or
/// `batch · c_out` (a bias per image: the UNet folds its time embedding in there);
/// `residual`, shaped like the output, is added to it.
pub fn conv2d(
    input: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    residual: Option<&[f32]>,
    s: ConvShape,
) -> Vec<f32> {
    conv2d_using(input, weight, bias, residual, s, ConvTuning::Diffusion)
}

/// Which convolution algorithms [`conv2d_using`] picks from, tuned per model family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConvTuning {
    /// The UNet's and autoencoder's wide layers: Winograd for 3×3 stride 1 where it
    /// suits, products on shifted views for planes from 32 pixels wide.
    Diffusion,
    /// The detector's narrow layers (16 to 256 channels): no Winograd, whose transforms
    /// cost more than they save there, and shifted views only from 64 pixels wide
    /// (im2col's one larger product wins below; measured on YOLOv8n at 320 and 640); on
    /// several threads, bands of output rows in parallel with single-threaded products.
    Detection,
}

impl ConvTuning {
    fn shifted_from(self) -> usize {
        match self {
            ConvTuning::Diffusion => 32,
            ConvTuning::Detection => 64,
        }
    }
}

/// [`conv2d`] with the algorithms of `tuning`.
pub fn conv2d_using(
    input: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    residual: Option<&[f32]>,
    s: ConvShape,
    tuning: ConvTuning,
) -> Vec<f32> {
    let (out_h, out_w) = s.output();
    let plane_in = s.height * s.width;
    let plane_out = out_h * out_w;
    let taps = s.kernel * s.kernel;
    assert_eq!(
        input.len(),
        s.batch * s.c_in * plane_in,
        "conv2d input shape"
    );
    assert_eq!(weight.len(), s.c_out * s.c_in * taps, "conv2d weight shape");
    let per_image_bias = bias.is_some_and(|b| b.len() == s.batch * s.c_out && s.batch > 1);
    assert!(
        bias.is_none_or(|b| b.len() == s.c_out || per_image_bias),
        "conv2d bias shape"
    );
    let image_out = s.c_out * plane_out;
    assert!(
        residual.is_none_or(|r| r.len() == s.batch * image_out),
        "conv2d residual shape"
    );
    let mut out = vec![0.0f32; s.batch * image_out];
    if plane_out == 0 {
        return out;
    }
    let images = ConvImage::batch(input, &mut out, (s, plane_in), bias, residual);
    let tile = match tuning {
        ConvTuning::Diffusion => winograd::tile_for(&s),
        ConvTuning::Detection => None,
    };
    if let Some(tile) = tile {
        let input = (s, winograd::Input::AsIs);
        winograd::conv(weight, images, input, tile, winograd::Budget::DEFAULT);
        return out;
    }
    for ConvImage {
        image,
        out,
        bias,
        residual,
    } in images
    {
        // On one thread the single products below are as fast; bands pay off when
        // they run in parallel.
        if tuning == ConvTuning::Detection && rayon::current_num_threads() > 1 {
            banded::conv(image, weight, (bias, residual), out, s);
            continue;
        }
        // The shifted form computes 2 · padding extra columns per row: worth it on wide
        // images (no im2col buffer), not on the UNet's smallest levels.
        if s.stride == 1 && (s.kernel > 1 || s.padding > 0) && s.width >= tuning.shifted_from() {
            conv_shifted(image, weight, bias, residual, out, s);
            continue;
        }
        // The product accumulates onto bias + residual.
        fill_rows(out, plane_out, bias);
        if let Some(residual) = residual {
            if bias.is_some() {
                out.iter_mut().zip(residual).for_each(|(o, r)| *o += r);
            } else {
                out.copy_from_slice(residual);
            }
        }
        let accumulate = bias.is_some() || residual.is_some();
        if s.kernel == 1 && s.stride == 1 {
            matmul(
                out,
                plane_out,
                (s.c_out, plane_out, s.c_in),
                MatRef::dense(weight, 0, s.c_in),
                MatRef::dense(image, 0, plane_out),
                1.0,
                accumulate,
                Threads::All,
            );
        } else {
            conv_im2col(image, weight, out, s, accumulate);
        }
    }
    out
}

/// A detector's convolution: [`conv2d_using`] with [`ConvTuning::Detection`] followed by
/// `activation`, or — given `direct` weights prepared for this CPU — the direct kernels,
/// which apply the activation before storing.
pub fn conv2d_detection(
    input: &[f32],
    weight: &[f32],
    direct: Option<&DirectWeights>,
    bias: Option<&[f32]>,
    s: ConvShape,
    activation: Option<Activation>,
) -> Vec<f32> {
    // 1×1 products over few input channels spend their time storing, and channels
    // short of whole blocks of 16 compute lanes they discard: `gemm` does both better.
    let suits = s.kernel > 1 || (s.c_in >= 64 && s.c_out.is_multiple_of(16));
    let Some(direct) = direct.filter(|d| suits && d.fit(&s)) else {
        let mut out = conv2d_using(input, weight, bias, None, s, ConvTuning::Detection);
        if let Some(activation) = activation {
            activate(&mut out, activation);
        }
        return out;
    };
    let (out_h, out_w) = s.output();
    let plane_in = s.height * s.width;
    assert_eq!(
        input.len(),
        s.batch * s.c_in * plane_in,
        "conv2d input shape"
    );
    assert!(bias.is_none_or(|b| b.len() == s.c_out), "conv2d bias shape");
    // Not zeroed first: the kernels write every element (zeroing cost a pass over the
    // output, a few per cent of the detector's time).
    let (len, image_out) = (s.batch * s.c_out * out_h * out_w, s.c_out * out_h * out_w);
    let mut out = Vec::with_capacity(len);
    if len == 0 {
        return out;
    }
    for (image, out) in input
        .chunks_exact(s.c_in * plane_in)
        .zip(out.spare_capacity_mut().chunks_exact_mut(image_out))
    {
        direct::conv(image, direct, bias, out, s, activation);
    }
    // SAFETY: `direct::conv` initialised every element of each image's output.
    #[allow(unsafe_code)]
    unsafe {
        out.set_len(len)
    };
    out
}

/// One image of a convolution's batch: its input, its output, and its bias and residual.
struct ConvImage<'a> {
    image: &'a [f32],
    out: &'a mut [f32],
    bias: Option<&'a [f32]>,
    residual: Option<&'a [f32]>,
}

impl<'a> ConvImage<'a> {
    /// The images of a batch of `s.batch` inputs (`plane_in` values per channel) paired
    /// with their outputs in `out`: with `bias` either for every image (`c_out` values)
    /// or one per image (`batch · c_out`), and each image's part of `residual`.
    fn batch(
        input: &'a [f32],
        out: &'a mut [f32],
        (s, plane_in): (ConvShape, usize),
        bias: Option<&'a [f32]>,
        residual: Option<&'a [f32]>,
    ) -> impl Iterator<Item = ConvImage<'a>> {
        let image_out = out.len() / s.batch.max(1);
        let per_image_bias = bias.is_some_and(|b| b.len() == s.batch * s.c_out && s.batch > 1);
        input
            .chunks_exact(s.c_in * plane_in)
            .zip(out.chunks_exact_mut(image_out))
            .enumerate()
            .map(move |(index, (image, out))| ConvImage {
                image,
                out,
                bias: bias.map(|b| {
                    if per_image_bias {
                        &b[index * s.c_out..][..s.c_out]
                    } else {
                        b
                    }
                }),
                residual: residual.map(|r| &r[index * image_out..][..image_out]),
            })
    }
}

/// Nearest-neighbour 2× upsampling followed by a 3×3, padding-1 convolution, without
/// the upsampled image: by Winograd where it suits the upsampled shape (the padding
/// step upsamples), else by phases — each of the four output phases (even/odd row,
/// even/odd column) is a 2×2 convolution of the input with summed weights, 16 products
/// per input pixel and channel pair instead of 36. `s` describes the input (`kernel`
/// 3, `padding` 1).
pub fn upsample2x_conv3x3(
    input: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    s: ConvShape,
) -> Vec<f32> {
    assert!(
        s.kernel == 3 && s.padding == 1 && s.stride == 1,
        "3×3 padding-1 only"
    );
    let (h, w) = (s.height, s.width);
    let (out_h, out_w) = (2 * h, 2 * w);
    assert_eq!(
        input.len(),
        s.batch * s.c_in * h * w,
        "upsample input shape"
    );
    assert_eq!(weight.len(), s.c_out * s.c_in * 9, "upsample weight shape");
    assert!(
        bias.is_none_or(|b| b.len() == s.c_out),
        "upsample bias shape"
    );
    let upsampled = ConvShape {
        height: out_h,
        width: out_w,
        ..s
    };
    if let Some(tile) = winograd::tile_for(&upsampled) {
        let mut out = vec![0.0f32; s.batch * s.c_out * out_h * out_w];
        let images = ConvImage::batch(input, &mut out, (upsampled, h * w), bias, None);
        let input = (upsampled, winograd::Input::Upsampled);
        winograd::conv(weight, images, input, tile, winograd::Budget::DEFAULT);
        return out;
    }
    // The kernel rows (columns) each phase's two taps sum: phase 0 reads the row above
    // with kernel row 0 and its own row with rows 1 + 2; phase 1 its own row with rows
    // 0 + 1 and the row below with row 2.
    const GROUPS: [[&[usize]; 2]; 2] = [[&[0], &[1, 2]], [&[0, 1], &[2]]];
    let phase_weights: Vec<Vec<f32>> = (0..4)
        .map(|phase| {
            let (py, px) = (phase / 2, phase % 2);
            let mut combined = vec![0.0f32; s.c_out * s.c_in * 4];
            combined
                .par_chunks_mut(4)
                .zip(weight.par_chunks(9))
                .for_each(|(dst, k)| {
                    for a in 0..2 {
                        for b in 0..2 {
                            dst[a * 2 + b] = GROUPS[py][a]
                                .iter()
                                .flat_map(|&ky| GROUPS[px][b].iter().map(move |&kx| k[ky * 3 + kx]))
                                .sum();
                        }
                    }
                });
            combined
        })
        .collect();

    let (pad_h, pad_w) = (h + 2, w + 2);
    let plane = pad_h * pad_w;
    let wide = h * pad_w;
    let mut out = vec![0.0f32; s.batch * s.c_out * out_h * out_w];
    let mut scratch = Scratch::take();
    let (padded, acc) = scratch.buffers(s.c_in * plane + 2, s.c_out * wide);
    for (image, out) in input
        .chunks_exact(s.c_in * h * w)
        .zip(out.chunks_exact_mut(s.c_out * out_h * out_w))
    {
        padded[..s.c_in * plane]
            .par_chunks_mut(plane)
            .zip(image.par_chunks(h * w))
            .for_each(|(dst, src)| {
                for (y, row) in src.chunks_exact(w).enumerate() {
                    dst[(y + 1) * pad_w + 1..][..w].copy_from_slice(row);
                }
            });
        for (phase, weights) in phase_weights.iter().enumerate() {
            let (py, px) = (phase / 2, phase % 2);
            fill_rows(acc, wide, bias);
            for a in 0..2 {
                for b in 0..2 {
                    matmul(
                        acc,
                        wide,
                        (s.c_out, wide, s.c_in),
                        MatRef {
                            data: weights,
                            offset: a * 2 + b,
                            row_stride: s.c_in * 4,
                            col_stride: 4,
                        },
                        MatRef {
                            data: padded,
                            offset: (py + a) * pad_w + px + b,
                            row_stride: plane,
                            col_stride: 1,
                        },
                        1.0,
                        bias.is_some() || a + b > 0,
                        Threads::All,
                    );
                }
            }
            // This phase's pixels: every other row and column of the output.
            out.par_chunks_mut(out_h * out_w)
                .zip(acc.par_chunks(wide))
                .for_each(|(dst, src)| {
                    for (y, src) in src.chunks_exact(pad_w).enumerate() {
                        let row = &mut dst[(2 * y + py) * out_w..][..out_w];
                        for (d, &v) in row.iter_mut().skip(px).step_by(2).zip(&src[..w]) {
                            *d = v;
                        }
                    }
                });
        }
    }
    out
}

thread_local! {
    /// The convolutions' working buffers, kept between calls on the thread that runs a
    /// model: allocating hundreds of megabytes afresh for every convolution of the
    /// autoencoder made the kernel zero new pages for a tenth of the run.
    static SCRATCH: std::cell::Cell<Vec<Vec<f32>>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Working buffers borrowed from this thread's [`SCRATCH`] and returned on drop.
struct Scratch(Vec<Vec<f32>>);

impl Scratch {
    fn take() -> Scratch {
        Scratch(SCRATCH.take())
    }

    /// Zeroed buffers of `a` and `b` floats.
    fn buffers(&mut self, a: usize, b: usize) -> (&mut [f32], &mut [f32]) {
        let [first, second] = self.many([a, b], true);
        (first, second)
    }

    /// Buffers of the given lengths, zeroed when `zeroed` (else holding old values).
    fn many<const N: usize>(&mut self, lens: [usize; N], zeroed: bool) -> [&mut [f32]; N] {
        if self.0.len() < N {
            self.0.resize_with(N, Vec::new);
        }
        let mut buffers = self.0.iter_mut();
        lens.map(|len| {
            let buffer = buffers.next().expect("N buffers");
            if zeroed {
                buffer.clear();
            }
            if buffer.len() < len {
                buffer.resize(len, 0.0);
            }
            &mut buffer[..len]
        })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        SCRATCH.set(std::mem::take(&mut self.0));
    }
}

/// Frees this thread's convolution buffers (a model run ends; the next allocates anew).
pub fn release_scratch() {
    SCRATCH.take();
}

/// Sets each `width`-long row of `rows` to its bias value, if there is a bias.
fn fill_rows(rows: &mut [f32], width: usize, bias: Option<&[f32]>) {
    if let Some(bias) = bias {
        for (row, &b) in rows.chunks_exact_mut(width).zip(bias) {
            row.fill(b);
        }
    }
}

/// A stride-1 convolution as `kernel²` products of the weights at one tap with the
/// padded input shifted by that tap. Computed on rows as wide as the padded input (the
/// extra columns are discarded), each tap's input is a plain strided view: no im2col.
fn conv_shifted(
    image: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    residual: Option<&[f32]>,
    out: &mut [f32],
    s: ConvShape,
) {
    let (out_h, out_w) = s.output();
    let (pad_h, pad_w) = (s.height + 2 * s.padding, s.width + 2 * s.padding);
    let plane = pad_h * pad_w;
    let wide = out_h * pad_w;
    // A tap's view of the last channel reads up to kernel - 1 elements past its plane.
    let mut scratch = Scratch::take();
    let (padded, acc) = scratch.buffers(s.c_in * plane + s.kernel, s.c_out * wide);
    padded[..s.c_in * plane]
        .par_chunks_mut(plane)
        .zip(image.par_chunks(s.height * s.width))
        .for_each(|(dst, src)| {
            for (y, row) in src.chunks_exact(s.width).enumerate() {
                let start = (y + s.padding) * pad_w + s.padding;
                dst[start..start + s.width].copy_from_slice(row);
            }
        });
    fill_rows(acc, wide, bias);
    let taps = s.kernel * s.kernel;
    for ky in 0..s.kernel {
        for kx in 0..s.kernel {
            let tap = ky * s.kernel + kx;
            matmul(
                acc,
                wide,
                (s.c_out, wide, s.c_in),
                MatRef {
                    data: weight,
                    offset: tap,
                    row_stride: s.c_in * taps,
                    col_stride: taps,
                },
                MatRef {
                    data: padded,
                    offset: ky * pad_w + kx,
                    row_stride: plane,
                    col_stride: 1,
                },
                1.0,
                bias.is_some() || tap > 0,
                Threads::All,
            );
        }
    }
    // The wide rows, cropped, plus the residual.
    let plane_out = out_h * out_w;
    out.par_chunks_mut(plane_out)
        .zip(acc.par_chunks(wide))
        .enumerate()
        .for_each(|(channel, (dst, src))| {
            let rows = dst.chunks_exact_mut(out_w).zip(src.chunks_exact(pad_w));
            match residual {
                Some(residual) => {
                    let residual = residual[channel * plane_out..][..plane_out].chunks_exact(out_w);
                    for ((dst, src), res) in rows.zip(residual) {
                        for ((d, &s), &r) in dst.iter_mut().zip(&src[..out_w]).zip(res) {
                            *d = s + r;
                        }
                    }
                }
                None => rows.for_each(|(dst, src)| dst.copy_from_slice(&src[..out_w])),
            }
        });
}

/// Any convolution through an im2col buffer, a band of output rows at a time so the
/// buffer stays small.
fn conv_im2col(image: &[f32], weight: &[f32], out: &mut [f32], s: ConvShape, bias: bool) {
    let (out_h, out_w) = s.output();
    let taps = s.kernel * s.kernel;
    let depth = s.c_in * taps;
    let band = (BAND_FLOATS / (depth * out_w)).clamp(1, out_h);
    let mut columns = vec![0.0f32; depth * band * out_w];
    for first in (0..out_h).step_by(band) {
        let rows = band.min(out_h - first);
        let cols = rows * out_w;
        columns[..depth * cols]
            .par_chunks_mut(cols)
            .enumerate()
            .for_each(|(row, dst)| im2col_rows(dst, image, s, row, first));
        matmul(
            &mut out[first * out_w..],
            out_h * out_w,
            (s.c_out, cols, depth),
            MatRef::dense(weight, 0, depth),
            MatRef::dense(&columns, 0, cols),
            1.0,
            bias,
            Threads::All,
        );
    }
}

/// Im2col row `row` (input channel × kernel tap) for the output rows starting at
/// `first`: `dst` holds as many output rows as it has room for, `out_w` each.
fn im2col_rows(dst: &mut [f32], image: &[f32], s: ConvShape, row: usize, first: usize) {
    let (_, out_w) = s.output();
    let taps = s.kernel * s.kernel;
    let (channel, tap) = (row / taps, row % taps);
    let (ky, kx) = (tap / s.kernel, tap % s.kernel);
    let plane = &image[channel * s.height * s.width..][..s.height * s.width];
    for (oy, dst) in dst.chunks_exact_mut(out_w).enumerate() {
        let y = ((first + oy) * s.stride + ky) as isize - s.padding as isize;
        if y < 0 || y >= s.height as isize {
            dst.fill(0.0);
            continue;
        }
        let src = &plane[y as usize * s.width..][..s.width];
        im2col_row(dst, src, s.stride, kx as isize - s.padding as isize);
    }
}

/// One im2col row: `dst[ox] = src[ox · stride + shift]`, zero outside `src`. The
/// columns that read inside `src` are found first, so the copy itself has no bounds
/// tests (a plain slice copy at stride 1).
fn im2col_row(dst: &mut [f32], src: &[f32], stride: usize, shift: isize) {
    let (w, n) = (src.len() as isize, dst.len());
    let stride_i = stride as isize;
    // First and one-past-last columns whose source index is in [0, w).
    let lo = if shift >= 0 {
        0
    } else {
        ((-shift + stride_i - 1) / stride_i) as usize
    };
    let hi = if w - shift <= 0 {
        0
    } else {
        (((w - shift + stride_i - 1) / stride_i) as usize).min(n)
    };
    let (lo, hi) = (lo.min(hi), hi);
    dst[..lo].fill(0.0);
    dst[hi..].fill(0.0);
    let start = (lo as isize * stride_i + shift) as usize;
    if stride == 1 {
        dst[lo..hi].copy_from_slice(&src[start..start + (hi - lo)]);
    } else {
        for (d, &v) in dst[lo..hi]
            .iter_mut()
            .zip(src[start..].iter().step_by(stride))
        {
            *d = v;
        }
    }
}

/// `e^x` for the elementwise kernels: range reduction to `2^n · 2^f` and a degree-6
/// polynomial for `2^f` (relative error under 2e-7 · (1 + |x|)), written so the compiler
/// vectorises it, which `f32::exp` does not allow.
#[inline(always)]
pub fn fast_exp(x: f32) -> f32 {
    // `mul_add` and `round` would be library calls on CPUs without FMA and SSE4.1,
    // so: plain products, and rounding by adding and removing 1.5 · 2²³, which leaves
    // the rounded integer in the low bits of the sum. Those bits, not `n as i32`, make
    // 2ⁿ: Rust's saturating float-to-integer conversion is scalar code per element.
    const ROUND: f32 = 12_582_912.0;
    let t = (x * std::f32::consts::LOG2_E).clamp(-126.0, 126.0);
    let shifted = t + ROUND;
    let n = shifted - ROUND;
    let f = t - n;
    let p = 1.535_336_2e-4f32;
    let p = p * f + 1.339_887_4e-3;
    let p = p * f + 9.618_437e-3;
    let p = p * f + 5.550_332_5e-2;
    let p = p * f + 2.402_264_7e-1;
    let p = p * f + 6.931_472e-1;
    let p = p * f + 1.0;
    let biased = shifted
        .to_bits()
        .wrapping_sub(ROUND.to_bits())
        .wrapping_add(127);
    f32::from_bits(biased << 23) * p
}

/// Lanes of the reductions below: strict floating point forbids the compiler to reorder
/// a sum, so the kernels keep this many partial sums, which it can vectorise.
const LANES: usize = 16;

/// The sum of `values` and of their squares.
#[inline(always)]
fn sum_and_squares(values: &[f32]) -> (f32, f32) {
    let (mut sums, mut squares) = ([0.0f32; LANES], [0.0f32; LANES]);
    let chunks = values.chunks_exact(LANES);
    let rest = chunks.remainder();
    for chunk in chunks {
        for i in 0..LANES {
            sums[i] += chunk[i];
            squares[i] += chunk[i] * chunk[i];
        }
    }
    let sum = sums.iter().sum::<f32>() + rest.iter().sum::<f32>();
    let square = squares.iter().sum::<f32>() + rest.iter().map(|v| v * v).sum::<f32>();
    (sum, square)
}

/// The largest of `values` (−∞ for none).
#[inline(always)]
fn max_of(values: &[f32]) -> f32 {
    let mut maxima = [f32::NEG_INFINITY; LANES];
    let chunks = values.chunks_exact(LANES);
    let rest = chunks.remainder();
    for chunk in chunks {
        for i in 0..LANES {
            maxima[i] = maxima[i].max(chunk[i]);
        }
    }
    maxima
        .iter()
        .chain(rest)
        .fold(f32::NEG_INFINITY, |m, &v| m.max(v))
}

/// `e^(x - max)` of one row in place, returning the reciprocal of their sum: the rest of
/// a softmax, which the attention kernel applies to its (much narrower) output instead.
#[inline(always)]
fn exp_in_place(row: &mut [f32]) -> f32 {
    let max = max_of(row);
    let mut sums = [0.0f32; LANES];
    let mut chunks = row.chunks_exact_mut(LANES);
    for chunk in &mut chunks {
        for i in 0..LANES {
            chunk[i] = fast_exp(chunk[i] - max);
            sums[i] += chunk[i];
        }
    }
    let mut sum = sums.iter().sum::<f32>();
    for v in chunks.into_remainder() {
        *v = fast_exp(*v - max);
        sum += *v;
    }
    1.0 / sum
}

#[inline(always)]
fn silu(x: f32) -> f32 {
    x / (1.0 + fast_exp(-x))
}

/// Defines `fn $name` (optionally generic over `const` parameters) so that its body is
/// compiled three times — for AVX-512, for AVX2 with FMA, and for the baseline — and the
/// best one the CPU has (detected at run time, so one binary serves every x86-64 CPU)
/// runs. The body must keep its loops in itself or in `#[inline(always)]` helpers: a
/// loop inside a closure would be compiled for the baseline only.
macro_rules! multiversioned {
    ($(#[$meta:meta])* fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        multiversioned! {
            $(#[$meta])* fn $name<>($($arg: $ty),*) $(-> $ret)? $body
        }
    };
    ($(#[$meta:meta])* fn $name:ident<$(const $g:ident: $gty:ty),*>($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        #[allow(unsafe_code)]
        fn $name<$(const $g: $gty),*>($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn body<$(const $g: $gty),*>($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")]
                fn avx512<$(const $g: $gty),*>($($arg: $ty),*) $(-> $ret)? {
                    body::<$($g),*>($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                fn avx2<$(const $g: $gty),*>($($arg: $ty),*) $(-> $ret)? {
                    body::<$($g),*>($($arg),*)
                }
                use std::arch::is_x86_feature_detected as has;
                if has!("avx512f") && has!("avx512bw") && has!("avx512vl") && has!("avx512dq") {
                    // SAFETY: the CPU has every feature `avx512` is compiled for.
                    return unsafe { avx512::<$($g),*>($($arg),*) };
                }
                if has!("avx2") && has!("fma") {
                    // SAFETY: the CPU has every feature `avx2` is compiled for.
                    return unsafe { avx2::<$($g),*>($($arg),*) };
                }
            }
            body::<$($g),*>($($arg),*)
        }
    };
}

mod banded;
mod direct;

pub use direct::DirectWeights;
mod winograd;

multiversioned! {
    /// The sum of `values` and of their squares, in f64 across blocks of f32 sums (which
    /// keeps the rounding error small without f64 lanes).
    fn block_sums(values: &[f32]) -> (f64, f64) {
        let (mut sum, mut squares) = (0.0f64, 0.0f64);
        for block in values.chunks(4096) {
            let (s, q) = sum_and_squares(block);
            sum += f64::from(s);
            squares += f64::from(q);
        }
        (sum, squares)
    }
}

multiversioned! {
    /// `dst = src · scale + shift`, then SiLU if `then_silu`.
    fn scale_shift(dst: &mut [f32], src: &[f32], scale: f32, shift: f32, then_silu: bool) {
        if then_silu {
            for (d, &s) in dst.iter_mut().zip(src) {
                *d = silu(s * scale + shift);
            }
        } else {
            for (d, &s) in dst.iter_mut().zip(src) {
                *d = s * scale + shift;
            }
        }
    }
}

multiversioned! {
    /// One row of layer normalisation.
    fn layer_norm_row(dst: &mut [f32], src: &[f32], gamma: &[f32], beta: &[f32], eps: f32) {
        let (sum, squares) = sum_and_squares(src);
        let width = src.len() as f32;
        let mean = sum / width;
        let variance = (squares / width - mean * mean).max(0.0);
        let inv = 1.0 / (variance + eps).sqrt();
        for ((d, &s), (&g, &b)) in dst.iter_mut().zip(src).zip(gamma.iter().zip(beta)) {
            *d = (s - mean) * inv * g + b;
        }
    }
}

multiversioned! {
    /// One row of GEGLU: `dst = value · gelu(gate)`.
    fn geglu_row(dst: &mut [f32], value: &[f32], gate: &[f32]) {
        for ((d, &v), &g) in dst.iter_mut().zip(value).zip(gate) {
            *d = v * gelu(g);
        }
    }
}

multiversioned! {
    /// GELU (`quick`: quick-GELU) in place.
    fn gelu_in_place(values: &mut [f32], quick: bool) {
        if quick {
            for v in values.iter_mut() {
                *v /= 1.0 + fast_exp(-1.702 * *v);
            }
        } else {
            for v in values.iter_mut() {
                *v = gelu(*v);
            }
        }
    }
}

multiversioned! {
    /// [`exp_in_place`] on each `keys`-long row, the reciprocal sums into `inverse`.
    fn exp_rows(scores: &mut [f32], keys: usize, inverse: &mut [f32]) {
        for (row, inv) in scores.chunks_exact_mut(keys).zip(inverse.iter_mut()) {
            *inv = exp_in_place(row);
        }
    }
}

multiversioned! {
    /// Softmax down the columns of a `len × maxima.len()` block, in place: row by row,
    /// so every pass runs along contiguous values (a column at a time would stride
    /// through the block and not vectorise). `sums` is as wide as `maxima`.
    fn softmax_columns(block: &mut [f32], maxima: &mut [f32], sums: &mut [f32]) {
        let inner = maxima.len();
        maxima.fill(f32::NEG_INFINITY);
        for row in block.chunks_exact(inner) {
            for (m, &v) in maxima.iter_mut().zip(row) {
                *m = m.max(v);
            }
        }
        sums.fill(0.0);
        for row in block.chunks_exact_mut(inner) {
            for ((v, &m), s) in row.iter_mut().zip(maxima.iter()).zip(sums.iter_mut()) {
                *v = fast_exp(*v - m);
                *s += *v;
            }
        }
        for s in sums.iter_mut() {
            *s = 1.0 / *s;
        }
        for row in block.chunks_exact_mut(inner) {
            for (v, &s) in row.iter_mut().zip(sums.iter()) {
                *v *= s;
            }
        }
    }
}

/// Softmax in place over an axis of `len` elements that lie `inner` apart: blocks of
/// `len · inner` values, each softmaxed down its `inner` columns (`inner` 1: along
/// rows of `len`).
pub fn softmax(values: &mut [f32], len: usize, inner: usize) {
    if len == 0 || inner == 0 {
        return;
    }
    if inner == 1 {
        values.par_chunks_mut(len).for_each(|row| {
            let mut inverse = [0.0f32];
            exp_rows(row, len, &mut inverse);
            row.iter_mut().for_each(|v| *v *= inverse[0]);
        });
        return;
    }
    values.par_chunks_mut(len * inner).for_each_init(
        || (vec![0.0f32; inner], vec![0.0f32; inner]),
        |(maxima, sums), block| softmax_columns(block, maxima, sums),
    );
}

/// Group normalisation of `(batch, channels, plane)` values (each group's channels are
/// contiguous), scaled and shifted per channel, optionally followed by SiLU.
pub fn group_norm(
    input: &[f32],
    (channels, plane): (usize, usize),
    groups: usize,
    eps: f64,
    gamma: &[f32],
    beta: &[f32],
    then_silu: bool,
) -> Vec<f32> {
    assert!(
        channels.is_multiple_of(groups),
        "channels not divisible by groups"
    );
    assert_eq!(gamma.len(), channels);
    assert_eq!(beta.len(), channels);
    let per_group = channels / groups * plane;
    let mut out = vec![0.0f32; input.len()];
    if per_group == 0 {
        return out;
    }
    out.par_chunks_mut(per_group)
        .zip(input.par_chunks(per_group))
        .enumerate()
        .for_each(|(index, (dst, src))| {
            let group = index % groups;
            let (sum, squares) = block_sums(src);
            let count = per_group as f64;
            let mean = sum / count;
            let variance = (squares / count - mean * mean).max(0.0);
            let inv = 1.0 / (variance + eps).sqrt();
            let first_channel = group * (channels / groups);
            for (c, (dst, src)) in dst
                .chunks_exact_mut(plane)
                .zip(src.chunks_exact(plane))
                .enumerate()
            {
                let channel = first_channel + c;
                let scale = (f64::from(gamma[channel]) * inv) as f32;
                let shift =
                    (f64::from(beta[channel]) - mean * f64::from(gamma[channel]) * inv) as f32;
                scale_shift(dst, src, scale, shift, then_silu);
            }
        });
    out
}

/// Layer normalisation of rows of `width` values.
pub fn layer_norm(input: &[f32], width: usize, eps: f64, gamma: &[f32], beta: &[f32]) -> Vec<f32> {
    assert_eq!(gamma.len(), width);
    assert_eq!(beta.len(), width);
    let mut out = vec![0.0f32; input.len()];
    out.par_chunks_mut(width)
        .zip(input.par_chunks(width))
        .for_each(|(dst, src)| layer_norm_row(dst, src, gamma, beta, eps as f32));
    out
}

/// `x[:, :inner] · gelu(x[:, inner:])` for rows of `2 · inner` values (GEGLU), with the
/// exact (erf) GELU.
pub fn geglu(input: &[f32], inner: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; input.len() / 2];
    out.par_chunks_mut(inner)
        .zip(input.par_chunks(2 * inner))
        .for_each(|(dst, src)| {
            let (value, gate) = src.split_at(inner);
            geglu_row(dst, value, gate);
        });
    out
}

/// Rows per block of [`project_geglu`]: the block's projection (`2 · inner` wide) stays
/// in cache, and no buffer of every row's projection is made — at the UNet's 4096
/// tokens that one is 42 MB, which the allocator maps afresh every time (its pages
/// zeroed by the kernel) and which cost a third of the projection's time.
const GEGLU_ROWS: usize = 256;

/// GEGLU's input projection and gate together: `geglu(x · Wᵀ + b)` for `x` of rows
/// `d_in` wide and `W` `(2 · inner, d_in)`, a block of rows at a time.
pub fn project_geglu(
    input: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    inner: usize,
) -> Vec<f32> {
    let width = 2 * inner;
    let d_in = weight.len() / width;
    assert_eq!(weight.len(), width * d_in, "GEGLU weight shape");
    assert!(bias.is_none_or(|b| b.len() == width), "GEGLU bias shape");
    let rows = input.len() / d_in;
    let mut out = vec![0.0f32; rows * inner];
    let mut projected = vec![0.0f32; GEGLU_ROWS.min(rows) * width];
    for (block, dst) in out.chunks_mut(GEGLU_ROWS * inner).enumerate() {
        let n = dst.len() / inner;
        let projected = &mut projected[..n * width];
        let block_input = &input[block * GEGLU_ROWS * d_in..][..n * d_in];
        linear_onto(projected, block_input, weight, bias, d_in, false);
        let projected = &*projected;
        dst.par_chunks_mut(inner)
            .zip(projected.par_chunks(width))
            .for_each(|(dst, src)| {
                let (value, gate) = src.split_at(inner);
                geglu_row(dst, value, gate);
            });
    }
    out
}

/// A linear layer on rows of `input` (`d_in` wide), `W` `(d_out, d_in)`: `out = x · Wᵀ +
/// bias`, or with `onto` added to what `out` holds (a residual, say).
pub fn linear_onto(
    out: &mut [f32],
    input: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    d_in: usize,
    onto: bool,
) {
    let (rows, d_out) = (input.len() / d_in, weight.len() / d_in);
    assert_eq!(weight.len(), d_out * d_in, "linear weight shape");
    assert_eq!(out.len(), rows * d_out, "linear output shape");
    if let Some(bias) = bias {
        assert_eq!(bias.len(), d_out, "linear bias shape");
        for row in out.chunks_exact_mut(d_out) {
            if onto {
                row.iter_mut().zip(bias).for_each(|(o, b)| *o += b);
            } else {
                row.copy_from_slice(bias);
            }
        }
    }
    matmul(
        out,
        d_out,
        (rows, d_out, d_in),
        MatRef::dense(input, 0, d_in),
        // Wᵀ: the weights' rows as columns.
        MatRef::transposed(weight, 0, d_in),
        1.0,
        onto || bias.is_some(),
        Threads::All,
    );
}

/// GELU with erf from Abramowitz and Stegun 7.1.26 (absolute error under 1.5e-7).
#[inline(always)]
fn gelu(x: f32) -> f32 {
    let z = (x * std::f32::consts::FRAC_1_SQRT_2).abs();
    let t = 1.0 / (0.327_591_1 * z + 1.0);
    let poly = t
        * ((((1.061_405_4 * t - 1.453_152_1) * t + 1.421_413_7) * t - 0.284_496_73) * t
            + 0.254_829_6);
    let erf_abs = 1.0 - poly * fast_exp(-z * z);
    let erf = if x < 0.0 { -erf_abs } else { erf_abs };
    0.5 * x * (1.0 + erf)
}

/// The transpose of a row-major `rows × cols` matrix, plus `bias` (one value per row of
/// the input, so per column of the result), plus `residual` (shaped like the result).
pub fn transpose_add(
    input: &[f32],
    (rows, cols): (usize, usize),
    bias: Option<&[f32]>,
    residual: Option<&[f32]>,
) -> Vec<f32> {
    assert_eq!(input.len(), rows * cols);
    assert!(residual.is_none_or(|r| r.len() == rows * cols));
    let mut out = vec![0.0f32; rows * cols];
    // Tiles of BLOCK columns by TILE rows: each result row gets TILE adjacent values
    // (one cache line) at a time. Row by row instead, every value went to another line
    // a power-of-two-ish stride away, and those lines evicted each other.
    const BLOCK: usize = 32;
    const TILE: usize = 16;
    out.par_chunks_mut(BLOCK * rows)
        .enumerate()
        .for_each(|(block, dst)| {
            let first = block * BLOCK;
            for top in (0..rows).step_by(TILE) {
                let tile = top..(top + TILE).min(rows);
                for (c, d) in dst.chunks_exact_mut(rows).enumerate() {
                    for r in tile.clone() {
                        d[r] = input[r * cols + first + c] + bias.map_or(0.0, |b| b[r]);
                    }
                }
            }
            if let Some(residual) = residual {
                let residual = &residual[first * rows..][..dst.len()];
                dst.iter_mut().zip(residual).for_each(|(d, &x)| *d += x);
            }
        });
    out
}

/// An elementwise activation: the text encoder's feed-forward layers use the GELUs, the
/// detector's convolutions SiLU and its heads the logistic sigmoid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// The exact (erf) GELU, PyTorch's `gelu`.
    Gelu,
    /// `x · σ(1.702 x)`, OpenAI CLIP's `quick_gelu`.
    QuickGelu,
    /// `x · σ(x)`.
    Silu,
    /// `σ(x) = 1 / (1 + e^-x)`.
    Sigmoid,
}

/// `activation` in place.
pub fn activate(values: &mut [f32], activation: Activation) {
    values
        .par_chunks_mut(1 << 14)
        .for_each(|chunk| match activation {
            Activation::Gelu => gelu_in_place(chunk, false),
            Activation::QuickGelu => gelu_in_place(chunk, true),
            Activation::Silu => logistic_in_place(chunk, true),
            Activation::Sigmoid => logistic_in_place(chunk, false),
        });
}

multiversioned! {
    /// SiLU (`times_input`) or the sigmoid in place.
    fn logistic_in_place(values: &mut [f32], times_input: bool) {
        if times_input {
            for v in values.iter_mut() {
                *v = silu(*v);
            }
        } else {
            for v in values.iter_mut() {
                *v = 1.0 / (1.0 + fast_exp(-*v));
            }
        }
    }
}

/// Queries per block of the attention kernel.
const QUERY_BLOCK: usize = 128;

/// Multi-head scaled dot-product attention (`causal`: each query sees the keys up to its
/// own position only, as in CLIP's text encoder). `q` is `(batch, queries, heads · dim)`, `k`
/// and `v` are `(batch, keys, heads · dim)`; the result has `q`'s shape. Blocks of
/// queries run in parallel, each head's scores for the block only ever in memory.
pub fn attention(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    (batch, queries, keys): (usize, usize, usize),
    heads: usize,
    scale: f32,
    causal: bool,
) -> Vec<f32> {
    let inner = q.len() / (batch * queries).max(1);
    assert!(inner.is_multiple_of(heads), "width not divisible by heads");
    assert_eq!(q.len(), batch * queries * inner);
    assert_eq!(k.len(), batch * keys * inner);
    assert_eq!(v.len(), batch * keys * inner);
    let dim = inner / heads;
    let mut out = vec![0.0f32; q.len()];
    out.par_chunks_mut(queries * inner)
        .enumerate()
        .flat_map(|(b, image)| {
            image
                .par_chunks_mut(QUERY_BLOCK * inner)
                .enumerate()
                .map(move |(block, dst)| (b, block, dst))
        })
        .for_each_init(
            || (Vec::new(), Vec::new()),
            |(scores, inverse): &mut (Vec<f32>, Vec<f32>), (b, block, dst)| {
                let first = block * QUERY_BLOCK;
                let rows = dst.len() / inner;
                scores.resize(rows * keys, 0.0);
                inverse.resize(rows, 0.0);
                for head in 0..heads {
                    let query = MatRef {
                        data: q,
                        offset: (b * queries + first) * inner + head * dim,
                        row_stride: inner,
                        col_stride: 1,
                    };
                    // Kᵀ: rows are the head's dimensions, columns the keys.
                    let key_t = MatRef::transposed(k, b * keys * inner + head * dim, inner);
                    matmul(
                        scores,
                        keys,
                        (rows, keys, dim),
                        query,
                        key_t,
                        scale,
                        false,
                        Threads::One,
                    );
                    if causal {
                        // Query i sees keys 0..=i only.
                        for (r, row) in scores.chunks_exact_mut(keys).enumerate() {
                            row.iter_mut()
                                .skip(first + r + 1)
                                .for_each(|x| *x = f32::NEG_INFINITY);
                        }
                    }
                    exp_rows(scores, keys, inverse);
                    let value = MatRef {
                        data: v,
                        offset: b * keys * inner + head * dim,
                        row_stride: inner,
                        col_stride: 1,
                    };
                    matmul(
                        &mut dst[head * dim..],
                        inner,
                        (rows, dim, keys),
                        MatRef::dense(scores, 0, keys),
                        value,
                        1.0,
                        false,
                        Threads::One,
                    );
                    // The softmax's normalisation, on the output rows.
                    for (row, &inv) in dst.chunks_exact_mut(inner).zip(inverse.iter()) {
                        row[head * dim..][..dim].iter_mut().for_each(|x| *x *= inv);
                    }
                }
            },
        );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_matmul(a: &[f32], b: &[f32], (m, n, k): (usize, usize, usize)) -> Vec<f32> {
        let mut out = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
            }
        }
        out
    }

    fn values(n: usize, seed: u32) -> Vec<f32> {
        let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state % 2000) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    fn close(a: &[f32], b: &[f32], tolerance: f32) {
        assert_eq!(a.len(), b.len());
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!(
                (x - y).abs() <= tolerance * (1.0 + y.abs()),
                "at {i}: {x} vs {y}"
            );
        }
    }

    #[test]
    fn matmul_matches_the_definition_with_strides_and_accumulation() {
        let (m, n, k) = (7, 13, 5);
        let a = values(m * k, 1);
        let b = values(k * n, 2);
        let expected = naive_matmul(&a, &b, (m, n, k));
        // The destination has wider rows than the product; the spare columns stay put.
        let mut dst = vec![9.0; m * (n + 3)];
        matmul(
            &mut dst,
            n + 3,
            (m, n, k),
            MatRef::dense(&a, 0, k),
            MatRef::dense(&b, 0, n),
            1.0,
            false,
            Threads::All,
        );
        for row in 0..m {
            close(&dst[row * (n + 3)..][..n], &expected[row * n..][..n], 1e-5);
            assert_eq!(&dst[row * (n + 3) + n..][..3], &[9.0; 3]);
        }
        // Accumulating a scaled product onto what is there.
        matmul(
            &mut dst,
            n + 3,
            (m, n, k),
            MatRef::dense(&a, 0, k),
            MatRef::dense(&b, 0, n),
            2.0,
            true,
            Threads::One,
        );
        for row in 0..m {
            let tripled: Vec<f32> = expected[row * n..][..n].iter().map(|x| 3.0 * x).collect();
            close(&dst[row * (n + 3)..][..n], &tripled, 1e-5);
        }
    }

    /// A convolution by its definition, for checking the fast paths.
    fn naive_conv(input: &[f32], weight: &[f32], bias: &[f32], s: ConvShape) -> Vec<f32> {
        let (out_h, out_w) = s.output();
        let mut out = vec![0.0f32; s.batch * s.c_out * out_h * out_w];
        for b in 0..s.batch {
            for o in 0..s.c_out {
                for y in 0..out_h {
                    for x in 0..out_w {
                        let mut sum = f64::from(bias[o]);
                        for i in 0..s.c_in {
                            for ky in 0..s.kernel {
                                for kx in 0..s.kernel {
                                    let iy = (y * s.stride + ky) as isize - s.padding as isize;
                                    let ix = (x * s.stride + kx) as isize - s.padding as isize;
                                    if iy < 0
                                        || ix < 0
                                        || iy >= s.height as isize
                                        || ix >= s.width as isize
                                    {
                                        continue;
                                    }
                                    let v = input[((b * s.c_in + i) * s.height + iy as usize)
                                        * s.width
                                        + ix as usize];
                                    let k =
                                        weight[((o * s.c_in + i) * s.kernel + ky) * s.kernel + kx];
                                    sum += f64::from(v) * f64::from(k);
                                }
                            }
                        }
                        out[((b * s.c_out + o) * out_h + y) * out_w + x] = sum as f32;
                    }
                }
            }
        }
        out
    }

    #[test]
    fn every_convolution_path_matches_the_definition() {
        // Winograd (odd sides, enough tiles and channels), shifted views (wide), im2col
        // (narrow, and stride 2), 1×1; each with a bias per image and a residual.
        let shapes = [
            (32, 40, 33, 35, 3, 1, 1),
            (32, 40, 17, 19, 3, 1, 1),
            (8, 12, 9, 40, 3, 1, 1),
            (8, 12, 9, 10, 3, 1, 1),
            (8, 12, 11, 13, 3, 2, 1),
            (8, 12, 12, 14, 3, 2, 1),
            (3, 8, 10, 12, 3, 2, 0),
            (4, 6, 9, 11, 5, 1, 2),
            (8, 12, 7, 9, 1, 1, 0),
            (8, 12, 7, 9, 1, 2, 0),
        ];
        for (c_in, c_out, height, width, kernel, stride, padding) in shapes {
            let s = ConvShape {
                batch: 2,
                c_in,
                c_out,
                height,
                width,
                kernel,
                stride,
                padding,
            };
            let input = values(2 * c_in * height * width, 7);
            let weight = values(c_out * c_in * kernel * kernel, 8);
            let bias = values(2 * c_out, 9);
            let (out_h, out_w) = s.output();
            let residual = values(2 * c_out * out_h * out_w, 10);
            let got = conv2d(&input, &weight, Some(&bias), Some(&residual), s);
            let tuned = conv2d_using(
                &input,
                &weight,
                Some(&bias),
                Some(&residual),
                s,
                ConvTuning::Detection,
            );
            close(&tuned, &got, 1e-4);
            for b in 0..2 {
                let one = ConvShape { batch: 1, ..s };
                let image = &input[b * c_in * height * width..][..c_in * height * width];
                let mut expected = naive_conv(image, &weight, &bias[b * c_out..][..c_out], one);
                let res = &residual[b * c_out * out_h * out_w..][..c_out * out_h * out_w];
                expected.iter_mut().zip(res).for_each(|(e, r)| *e += r);
                let got = &got[b * c_out * out_h * out_w..][..c_out * out_h * out_w];
                close(got, &expected, 1e-4);
            }
        }
        let tile = |height, width| {
            winograd::tile_for(&ConvShape {
                batch: 1,
                c_in: 32,
                c_out: 40,
                height,
                width,
                kernel: 3,
                stride: 1,
                padding: 1,
            })
        };
        assert_eq!(tile(33, 35), Some(winograd::Tile::Four));
        assert_eq!(tile(17, 19), Some(winograd::Tile::Two));
        assert_eq!(tile(9, 10), None);
    }

    /// The direct kernels (where the CPU has them) match the definition: every group
    /// size of output channel blocks with partial blocks, strides 1 and 2, 3×3, 5×5 and
    /// 1×1, padded and not, tails of tiles, narrow and wide rows, each activation, on
    /// one and on three threads.
    #[test]
    fn direct_convolution_matches_the_definition() {
        let shapes = [
            (3, 16, 17, 19, 3, 2, 1),
            (8, 18, 9, 10, 3, 1, 1),
            (16, 32, 11, 13, 3, 2, 1),
            (8, 40, 7, 9, 3, 1, 0),
            (4, 70, 9, 11, 5, 1, 2),
            (20, 64, 5, 6, 3, 1, 1),
            (64, 48, 7, 9, 1, 1, 0),
            (64, 32, 7, 9, 1, 2, 0),
            (6, 130, 4, 3, 3, 2, 1),
            // A 32² output: planes 4 KiB apart, staged row by row.
            (8, 48, 32, 32, 3, 1, 1),
            // Rows from 64 wide: the wide-plane kernel at stride 1 up to 32 channels (its
            // last tile masked), the channel-major tiles otherwise.
            (16, 32, 3, 80, 3, 1, 1),
            (3, 16, 5, 139, 3, 2, 1),
            (8, 18, 4, 70, 3, 1, 1),
            (64, 32, 3, 66, 1, 1, 0),
            (64, 16, 3, 140, 1, 2, 0),
            (4, 6, 6, 68, 5, 1, 2),
            (5, 8, 4, 160, 3, 1, 0),
        ];
        let activations = [Some(Activation::Silu), Some(Activation::Sigmoid), None];
        let three = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        for (i, (c_in, c_out, height, width, kernel, stride, padding)) in
            shapes.into_iter().enumerate()
        {
            let s = ConvShape {
                batch: 2,
                c_in,
                c_out,
                height,
                width,
                kernel,
                stride,
                padding,
            };
            let input = values(2 * c_in * height * width, 31);
            let weight = values(c_out * c_in * kernel * kernel, 32);
            let bias = values(c_out, 33);
            let Some(direct) = DirectWeights::new(&weight, c_out) else {
                return;
            };
            let (out_h, out_w) = s.output();
            let image_out = c_out * out_h * out_w;
            let activation = activations[i % 3];
            let mut expected = Vec::new();
            for image in input.chunks_exact(c_in * height * width) {
                expected.extend(naive_conv(
                    image,
                    &weight,
                    &bias,
                    ConvShape { batch: 1, ..s },
                ));
            }
            match activation {
                Some(Activation::Silu) => expected.iter_mut().for_each(|v| *v /= 1.0 + (-*v).exp()),
                Some(_) => expected
                    .iter_mut()
                    .for_each(|v| *v = 1.0 / (1.0 + (-*v).exp())),
                None => {}
            }
            for pool in [&one, &three] {
                let got = pool.install(|| {
                    conv2d_detection(&input, &weight, Some(&direct), Some(&bias), s, activation)
                });
                assert_eq!(got.len(), 2 * image_out);
                close(&got, &expected, 1e-4);
            }
        }
    }

    /// Both Winograd algorithms, with the kernels transformed a few output channels at a
    /// time and the tiles in several bands (on more threads than elements), over enough
    /// channels for rounding to build up, match the definition.
    #[test]
    fn winograd_matches_the_definition_in_blocks_and_bands() {
        for (height, width, tile) in [
            (33, 35, winograd::Tile::Four),
            (17, 19, winograd::Tile::Two),
        ] {
            let s = ConvShape {
                batch: 2,
                c_in: 96,
                c_out: 40,
                height,
                width,
                kernel: 3,
                stride: 1,
                padding: 1,
            };
            let plane = height * width;
            let input = values(2 * s.c_in * plane, 11);
            let weight = values(s.c_out * s.c_in * 9, 12);
            let bias = values(s.c_out, 13);
            let expected = naive_conv(&input, &weight, &bias, s);
            let blocks = |band| winograd::Budget {
                kernels: 36 * s.c_in * 7,
                band,
            };
            // More threads than the algorithm's elements split each product too.
            let wide_pool = rayon::ThreadPoolBuilder::new()
                .num_threads(40)
                .build()
                .unwrap();
            // (images, budget, pool): the whole batch at once; blocks of output channels
            // and bands of tiles, on 40 threads; blocks and one band, for two images and
            // for one (whose patches are kept from block to block).
            let cases = [
                (2, winograd::Budget::DEFAULT, None),
                (2, blocks(36 * s.c_in * 12), Some(&wide_pool)),
                (2, blocks(usize::MAX / 2), None),
                (1, blocks(usize::MAX / 2), None),
            ];
            for (batch, budget, pool) in cases {
                let s = ConvShape { batch, ..s };
                let input = &input[..batch * s.c_in * plane];
                let expected = &expected[..batch * s.c_out * plane];
                let mut out = vec![0.0f32; batch * s.c_out * plane];
                let images = ConvImage::batch(input, &mut out, (s, plane), Some(&bias), None);
                let run =
                    || winograd::conv(&weight, images, (s, winograd::Input::AsIs), tile, budget);
                match pool {
                    Some(pool) => pool.install(run),
                    None => run(),
                }
                // Measured: F(4×4) 5.5e-6 of the largest output, F(2×2) 3.5e-7.
                let worst = out
                    .iter()
                    .zip(expected)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0f32, f32::max);
                let scale = expected.iter().map(|b| b.abs()).fold(0.0f32, f32::max);
                assert!(
                    worst <= 1e-5 * scale,
                    "{tile:?}: off by {worst} on outputs up to {scale}"
                );
            }
        }
    }

    /// Upsampling fused into the convolution, by Winograd (enough tiles) and by phases
    /// (too few), matches the convolution of the upsampled image.
    #[test]
    fn upsampled_convolution_matches_convolving_the_upsampled_image() {
        for (c_in, height, width) in [(32, 9, 11), (8, 3, 5)] {
            let s = ConvShape {
                batch: 2,
                c_in,
                c_out: 36,
                height,
                width,
                kernel: 3,
                stride: 1,
                padding: 1,
            };
            let input = values(2 * c_in * height * width, 21);
            let weight = values(36 * c_in * 9, 22);
            let bias = values(36, 23);
            let upsampled: Vec<f32> = input
                .chunks_exact(width)
                .flat_map(|row| {
                    let wide: Vec<f32> = row.iter().flat_map(|&v| [v, v]).collect();
                    [wide.clone(), wide]
                })
                .flatten()
                .collect();
            let big = ConvShape {
                height: 2 * height,
                width: 2 * width,
                ..s
            };
            let expected = naive_conv(&upsampled, &weight, &bias, big);
            let got = upsample2x_conv3x3(&input, &weight, Some(&bias), s);
            close(&got, &expected, 1e-4);
            assert_eq!(winograd::tile_for(&big).is_some(), c_in == 32);
        }
    }

    #[test]
    fn exp_and_silu_are_accurate() {
        for i in -2000..2000 {
            let x = i as f32 / 40.0;
            let exact = x.exp();
            // The range reduction in f32 loses about |x|·1e-7 of relative precision.
            let error = ((fast_exp(x) - exact) / exact).abs();
            assert!(error < 2e-7 * (1.0 + x.abs()), "exp({x}): {error}");
            let exact_silu = x / (1.0 + (-x).exp());
            assert!(
                (silu(x) - exact_silu).abs() < 1e-5 * (1.0 + x.abs()),
                "silu({x})"
            );
        }
    }

    #[test]
    fn activations_match_their_definitions() {
        let mut values: Vec<f32> = (-400..400).map(|i| i as f32 / 50.0).collect();
        let inputs = values.clone();
        activate(&mut values, Activation::Gelu);
        for (&x, &y) in inputs.iter().zip(&values) {
            if x.abs() <= 4.0 {
                // GELU(x) = x · Φ(x), with erf from its series (exact in f64 up to here).
                let erf = erf_series(f64::from(x) / std::f64::consts::SQRT_2);
                let exact = 0.5 * f64::from(x) * (1.0 + erf);
                assert!(
                    (f64::from(y) - exact).abs() < 1e-6,
                    "gelu({x}) = {y}, not {exact}"
                );
            } else {
                // Φ is within 4e-5 of 0 or 1 beyond ±4.
                let limit = if x > 0.0 { x } else { 0.0 };
                assert!((y - limit).abs() < 4e-5 * x.abs(), "gelu({x}) = {y}");
            }
        }
        let mut values = inputs.clone();
        activate(&mut values, Activation::QuickGelu);
        for (&x, &y) in inputs.iter().zip(&values) {
            let exact = x / (1.0 + (-1.702 * x).exp());
            assert!(
                (y - exact).abs() < 1e-5 * (1.0 + x.abs()),
                "quick_gelu({x})"
            );
        }
        let mut values = inputs.clone();
        activate(&mut values, Activation::Silu);
        for (&x, &y) in inputs.iter().zip(&values) {
            let exact = x / (1.0 + (-x).exp());
            assert!((y - exact).abs() < 1e-5 * (1.0 + x.abs()), "silu({x})");
        }
        let mut values = inputs.clone();
        activate(&mut values, Activation::Sigmoid);
        for (&x, &y) in inputs.iter().zip(&values) {
            let exact = 1.0 / (1.0 + (-x).exp());
            assert!((y - exact).abs() < 1e-6, "sigmoid({x})");
        }
    }

    /// erf by its Maclaurin series (accurate in f64 for |x| below about 3).
    fn erf_series(x: f64) -> f64 {
        let (mut term, mut sum) = (x, x);
        for n in 1..200 {
            term *= -x * x / n as f64;
            sum += term / (2 * n + 1) as f64;
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    }

    /// Attention by its definition, in f64: softmax(q·kᵀ·scale)·v per head.
    fn naive_attention(
        q: &[f32],
        k: &[f32],
        v: &[f32],
        (queries, keys, inner): (usize, usize, usize),
        heads: usize,
        scale: f32,
        causal: bool,
    ) -> Vec<f32> {
        let dim = inner / heads;
        let mut out = vec![0.0f32; queries * inner];
        for head in 0..heads {
            for i in 0..queries {
                let seen = if causal { i + 1 } else { keys };
                let scores: Vec<f64> = (0..seen)
                    .map(|j| {
                        (0..dim)
                            .map(|d| {
                                f64::from(q[i * inner + head * dim + d])
                                    * f64::from(k[j * inner + head * dim + d])
                            })
                            .sum::<f64>()
                            * f64::from(scale)
                    })
                    .collect();
                let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let weights: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                let total: f64 = weights.iter().sum();
                for d in 0..dim {
                    let value: f64 = weights
                        .iter()
                        .enumerate()
                        .map(|(j, w)| w * f64::from(v[j * inner + head * dim + d]))
                        .sum();
                    out[i * inner + head * dim + d] = (value / total) as f32;
                }
            }
        }
        out
    }

    #[test]
    fn attention_is_the_softmax_of_all_keys() {
        // 1300 keys whose scores grow along the keys; 300 queries: two whole query
        // blocks and a part.
        let (queries, keys, inner, heads) = (300, 1300, 16, 2);
        let q: Vec<f32> = values(queries * inner, 7).iter().map(|x| x * 3.0).collect();
        let k: Vec<f32> = values(keys * inner, 8)
            .iter()
            .enumerate()
            .map(|(i, x)| x * (1.0 + (i / inner) as f32 / 400.0))
            .collect();
        let v = values(keys * inner, 9);
        let out = attention(&q, &k, &v, (1, queries, keys), heads, 0.25, false);
        let expected = naive_attention(&q, &k, &v, (queries, keys, inner), heads, 0.25, false);
        close(&out, &expected, 1e-5);
        // Causal, as many queries as keys, over many query blocks.
        let q: Vec<f32> = values(keys * inner, 10).iter().map(|x| x * 3.0).collect();
        let out = attention(&q, &k, &v, (1, keys, keys), heads, 0.25, true);
        let expected = naive_attention(&q, &k, &v, (keys, keys, inner), heads, 0.25, true);
        close(&out, &expected, 1e-5);
    }

    #[test]
    fn causal_attention_ignores_later_keys() {
        let (queries, inner) = (70, 8);
        let q = values(queries * inner, 4);
        let k = values(queries * inner, 5);
        let v = values(queries * inner, 6);
        let full = attention(&q, &k, &v, (1, queries, queries), 2, 0.5, true);
        // Changing the last key and value changes only the last query's output.
        let (mut k2, mut v2) = (k.clone(), v.clone());
        k2[(queries - 1) * inner..]
            .iter_mut()
            .for_each(|x| *x += 1.0);
        v2[(queries - 1) * inner..]
            .iter_mut()
            .for_each(|x| *x -= 1.0);
        let changed = attention(&q, &k2, &v2, (1, queries, queries), 2, 0.5, true);
        assert_eq!(
            full[..(queries - 1) * inner],
            changed[..(queries - 1) * inner]
        );
        assert_ne!(
            full[(queries - 1) * inner..],
            changed[(queries - 1) * inner..]
        );
        // The first query sees only the first key: its output is the first value.
        close(&full[..inner], &v[..inner], 1e-6);
    }

    #[test]
    fn softmax_matches_the_definition_down_columns_and_along_rows() {
        // (blocks, len, inner): the DFL head's 16 bins down 4 × 300 columns, two
        // blocks, and rows (inner 1).
        for (blocks, len, inner) in [(1, 16, 1200), (2, 5, 7), (3, 40, 1)] {
            let input: Vec<f32> = values(blocks * len * inner, 11)
                .iter()
                .map(|x| x * 20.0)
                .collect();
            let mut got = input.clone();
            softmax(&mut got, len, inner);
            for (block, got) in input.chunks(len * inner).zip(got.chunks(len * inner)) {
                for i in 0..inner {
                    let column: Vec<f64> =
                        (0..len).map(|j| f64::from(block[j * inner + i])).collect();
                    let max = column.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let total: f64 = column.iter().map(|v| (v - max).exp()).sum();
                    for (j, v) in column.iter().enumerate() {
                        let exact = ((v - max).exp() / total) as f32;
                        let value = got[j * inner + i];
                        assert!((value - exact).abs() < 1e-6, "{value} vs {exact}");
                    }
                }
            }
        }
    }

    #[test]
    fn group_norm_normalises_each_group() {
        let (channels, plane, groups) = (4, 6, 2);
        let input = values(2 * channels * plane, 3);
        let gamma = vec![1.0; channels];
        let beta = vec![0.0; channels];
        let out = group_norm(
            &input,
            (channels, plane),
            groups,
            1e-6,
            &gamma,
            &beta,
            false,
        );
        for group in out.chunks(channels / groups * plane) {
            let mean: f32 = group.iter().sum::<f32>() / group.len() as f32;
            let var: f32 =
                group.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / group.len() as f32;
            assert!(
                mean.abs() < 1e-5 && (var - 1.0).abs() < 1e-3,
                "mean {mean} var {var}"
            );
        }
    }
}
