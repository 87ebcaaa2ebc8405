//! Convolution in bands of output rows, the bands in parallel, each band's matrix
//! product on one thread. For the detector's small planes and narrow layers, where a
//! product split across threads inside `gemm` spends more time synchronising than
//! computing: each band builds its own im2col block (small enough to stay in cache) and
//! writes its own buffer, and one pass then places the bands, adding bias and residual.

use rayon::prelude::*;

use super::{ConvShape, MatRef, Threads, im2col_rows, matmul};

/// Output pixels per band, about: enough for an efficient product, few enough for the
/// im2col block to stay in cache, and at least two bands per thread for balance.
const BAND_PIXELS: usize = 2048;

/// One image's convolution (`image` is `c_in` planes) into `out` (`c_out` planes).
pub(super) fn conv(
    image: &[f32],
    weight: &[f32],
    (bias, residual): (Option<&[f32]>, Option<&[f32]>),
    out: &mut [f32],
    s: ConvShape,
) {
    let (out_h, out_w) = s.output();
    let plane_out = out_h * out_w;
    let threads = rayon::current_num_threads().max(1);
    let by_size = (plane_out / BAND_PIXELS).max(1);
    let bands = by_size.max(2 * threads).min(out_h.max(1));
    let rows_per_band = out_h.div_ceil(bands);
    let starts: Vec<usize> = (0..out_h).step_by(rows_per_band).collect();
    let results: Vec<Vec<f32>> = starts
        .par_iter()
        .map(|&first| {
            let rows = rows_per_band.min(out_h - first);
            band(image, weight, s, (first, rows))
        })
        .collect();
    out.par_chunks_mut(plane_out)
        .enumerate()
        .for_each(|(channel, dst)| {
            let b = bias.map_or(0.0, |b| b[channel]);
            for (&first, result) in starts.iter().zip(&results) {
                let cols = result.len() / s.c_out;
                let src = &result[channel * cols..][..cols];
                let dst = &mut dst[first * out_w..][..cols];
                match residual {
                    Some(r) => {
                        let r = &r[channel * plane_out + first * out_w..][..cols];
                        for ((d, &v), &r) in dst.iter_mut().zip(src).zip(r) {
                            *d = v + b + r;
                        }
                    }
                    None => {
                        for (d, &v) in dst.iter_mut().zip(src) {
                            *d = v + b;
                        }
                    }
                }
            }
        });
}

/// The `c_out × (rows · out_w)` result for output rows `first..first + rows`.
fn band(image: &[f32], weight: &[f32], s: ConvShape, (first, rows): (usize, usize)) -> Vec<f32> {
    let (_, out_w) = s.output();
    let cols = rows * out_w;
    let mut result = vec![0.0f32; s.c_out * cols];
    if s.kernel == 1 && s.stride == 1 && s.padding == 0 {
        matmul(
            &mut result,
            cols,
            (s.c_out, cols, s.c_in),
            MatRef::dense(weight, 0, s.c_in),
            MatRef {
                data: image,
                offset: first * s.width,
                row_stride: s.height * s.width,
                col_stride: 1,
            },
            1.0,
            false,
            Threads::One,
        );
        return result;
    }
    let depth = s.c_in * s.kernel * s.kernel;
    let mut columns = vec![0.0f32; depth * cols];
    for (row, dst) in columns.chunks_exact_mut(cols).enumerate() {
        im2col_rows(dst, image, s, row, first);
    }
    matmul(
        &mut result,
        cols,
        (s.c_out, cols, depth),
        MatRef::dense(weight, 0, depth),
        MatRef::dense(&columns, 0, cols),
        1.0,
        false,
        Threads::One,
    );
    result
}
