//! Convolution and max pooling on `(batch, channels, height, width)` tensors. Dense
//! convolutions run on Easel's kernels (direct AVX-512 kernels with the SiLU fused where
//! the CPU has them, else matrix products); depthwise ones (YOLO11's heads) have their
//! own loop.

use std::sync::Arc;

use easel_kernels::{
    Activation, ConvShape, ConvTuning, DirectWeights, activate, conv2d_detection, conv2d_using,
};
use rayon::prelude::*;

use super::attrs::Attrs;
use crate::error::DetectError;
use crate::tensor::Tensor;

/// A `Conv` node's attributes.
#[derive(Debug, Clone)]
pub(crate) struct ConvAttrs {
    /// Square kernel side, if the node states it (else read from the weights).
    kernel: Option<usize>,
    stride: usize,
    /// Zeros added `[top, left, bottom, right]`.
    pads: [usize; 4],
    /// `SAME_UPPER`/`SAME_LOWER` padding, computed from the input size.
    same: Option<bool>,
    group: usize,
    /// Followed by SiLU (fused on load).
    pub silu: bool,
    /// The weights prepared for the direct kernels, where they are a constant of the
    /// model and the CPU has the kernels (set on load).
    pub direct: Option<Arc<DirectWeights>>,
}

impl ConvAttrs {
    pub(crate) fn parse(a: &Attrs) -> Result<ConvAttrs, DetectError> {
        let square = |name: &str| -> Result<Option<usize>, DetectError> {
            match a.ints(name).as_deref() {
                None => Ok(None),
                Some([x, y]) if x == y && *x >= 1 => Ok(Some(*x as usize)),
                Some(v) => Err(a.unsupported(format!(
                    "{name} {v:?} (only 2-D convolutions with equal sides are supported)"
                ))),
            }
        };
        let kernel = square("kernel_shape")?;
        let stride = square("strides")?.unwrap_or(1);
        if square("dilations")?.unwrap_or(1) != 1 {
            return Err(a.unsupported("dilated convolution"));
        }
        let pads = pads(a)?;
        let same = auto_pad(a)?;
        let group = usize::try_from(a.int("group", 1))
            .ok()
            .filter(|&g| g >= 1)
            .ok_or_else(|| a.unsupported("a group count below 1"))?;
        Ok(ConvAttrs {
            kernel,
            stride,
            pads,
            same,
            group,
            silu: false,
            direct: None,
        })
    }

    /// Prepares the weights `w` (a constant) for the direct kernels, if they suit.
    pub(crate) fn prepare(&mut self, w: &Tensor) {
        if self.group == 1
            && let Ok([c_out, ..]) = dims4(w, "Conv weight")
            && let Ok(weights) = w.floats("Conv weight")
        {
            self.direct = DirectWeights::new(weights, c_out).map(Arc::new);
        }
    }
}

/// `pads` as `[top, left, bottom, right]`.
fn pads(a: &Attrs) -> Result<[usize; 4], DetectError> {
    match a.ints("pads").as_deref() {
        None => Ok([0; 4]),
        Some(&[t, l, b, r]) if [t, l, b, r].iter().all(|&p| p >= 0) => {
            Ok([t as usize, l as usize, b as usize, r as usize])
        }
        Some(v) => Err(a.unsupported(format!("pads {v:?}"))),
    }
}

/// `auto_pad`: `None` for explicit pads, `Some(upper)` for the SAME forms.
fn auto_pad(a: &Attrs) -> Result<Option<bool>, DetectError> {
    match a.string("auto_pad", "NOTSET").as_str() {
        "NOTSET" | "VALID" => Ok(None),
        "SAME_UPPER" => Ok(Some(true)),
        "SAME_LOWER" => Ok(Some(false)),
        other => Err(a.unsupported(format!("auto_pad {other}"))),
    }
}

/// The padding for SAME auto-padding of a `size` side.
fn same_pads(size: usize, kernel: usize, stride: usize, upper: bool) -> (usize, usize) {
    let out = size.div_ceil(stride);
    let total = ((out - 1) * stride + kernel).saturating_sub(size);
    let small = total / 2;
    if upper {
        (small, total - small)
    } else {
        (total - small, small)
    }
}

/// `(batch, channels, height, width)` of a 4-D tensor.
fn dims4(t: &Tensor, what: &str) -> Result<[usize; 4], DetectError> {
    <[usize; 4]>::try_from(t.shape.as_slice())
        .map_err(|_| DetectError::run(format!("{what} has shape {:?}, not 4-D", t.shape)))
}

/// Copies a `(batch·channels)` stack of `h × w` planes into larger zero-filled planes
/// with `[top, left, bottom, right]` borders.
fn pad_planes(x: &[f32], planes: usize, (h, w): (usize, usize), p: [usize; 4]) -> Vec<f32> {
    let (ph, pw) = (h + p[0] + p[2], w + p[1] + p[3]);
    let mut out = vec![0.0; planes * ph * pw];
    out.par_chunks_mut(ph * pw)
        .zip(x.par_chunks(h * w))
        .for_each(|(dst, src)| {
            for (y, row) in src.chunks_exact(w).enumerate() {
                let start = (y + p[0]) * pw + p[1];
                dst[start..start + w].copy_from_slice(row);
            }
        });
    out
}

/// `Conv` (and the fused SiLU).
pub(crate) fn conv(
    attrs: &ConvAttrs,
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
) -> Result<Tensor, DetectError> {
    let [n, c_in, h, wd] = dims4(x, "Conv input")?;
    let [c_out, c_per_group, kh, kw] = dims4(w, "Conv weight")?;
    let g = attrs.group;
    if kh != kw || attrs.kernel.is_some_and(|k| k != kh) {
        return Err(DetectError::run(format!(
            "Conv kernel {kh}×{kw} is not square"
        )));
    }
    if c_in != c_per_group * g || c_out % g != 0 {
        return Err(DetectError::run(format!(
            "Conv weight {:?} does not fit {c_in} input channels in {g} groups",
            w.shape
        )));
    }
    let bias = bias.map(|b| b.floats("Conv bias")).transpose()?;
    if bias.is_some_and(|b| b.len() != c_out) {
        return Err(DetectError::run(
            "Conv bias length differs from its output channels",
        ));
    }
    let pads = match attrs.same {
        Some(upper) => {
            let (t, b) = same_pads(h, kh, attrs.stride, upper);
            let (l, r) = same_pads(wd, kh, attrs.stride, upper);
            [t, l, b, r]
        }
        None => attrs.pads,
    };
    let symmetric = pads.iter().all(|&p| p == pads[0]);
    let (input, (h, wd), padding) = if symmetric {
        (None, (h, wd), pads[0])
    } else {
        let padded = pad_planes(x.floats("Conv input")?, n * c_in, (h, wd), pads);
        (
            Some(padded),
            (h + pads[0] + pads[2], wd + pads[1] + pads[3]),
            0,
        )
    };
    let data = match &input {
        Some(p) => p.as_slice(),
        None => x.floats("Conv input")?,
    };
    if h + 2 * padding < kh || wd + 2 * padding < kh {
        return Err(DetectError::run("Conv kernel larger than its padded input"));
    }
    let shape = ConvShape {
        batch: n,
        c_in: c_per_group,
        c_out: c_out / g,
        height: h,
        width: wd,
        kernel: kh,
        stride: attrs.stride,
        padding,
    };
    let weights = w.floats("Conv weight")?;
    let activation = attrs.silu.then_some(Activation::Silu);
    if g == 1 {
        let out = conv2d_detection(
            data,
            weights,
            attrs.direct.as_deref(),
            bias,
            shape,
            activation,
        );
        let (oh, ow) = shape.output();
        return Ok(Tensor::f32(vec![n, c_out, oh, ow], out));
    }
    let mut out = if c_per_group == 1 && c_out == c_in {
        depthwise(
            data,
            weights,
            bias,
            ConvShape {
                c_in,
                c_out,
                ..shape
            },
        )
    } else {
        grouped(data, weights, bias, shape, g)
    };
    if let Some(activation) = activation {
        activate(&mut out, activation);
    }
    let (oh, ow) = shape.output();
    Ok(Tensor::f32(vec![n, c_out, oh, ow], out))
}

/// A depthwise convolution (one filter per channel), each output plane in parallel.
fn depthwise(x: &[f32], w: &[f32], bias: Option<&[f32]>, s: ConvShape) -> Vec<f32> {
    let (oh, ow) = s.output();
    let k = s.kernel;
    let plane = s.height * s.width;
    let mut out = vec![0.0f32; s.batch * s.c_out * oh * ow];
    out.par_chunks_mut(oh * ow)
        .enumerate()
        .for_each(|(i, dst)| {
            let c = i % s.c_out;
            let src = &x[i * plane..][..plane];
            let taps = &w[c * k * k..][..k * k];
            dst.fill(bias.map_or(0.0, |b| b[c]));
            for oy in 0..oh {
                let row = &mut dst[oy * ow..][..ow];
                for ky in 0..k {
                    let y = (oy * s.stride + ky) as isize - s.padding as isize;
                    if y < 0 || y >= s.height as isize {
                        continue;
                    }
                    let line = &src[y as usize * s.width..][..s.width];
                    for kx in 0..k {
                        let tap = taps[ky * k + kx];
                        for (ox, d) in row.iter_mut().enumerate() {
                            let xx = (ox * s.stride + kx) as isize - s.padding as isize;
                            if xx >= 0 && (xx as usize) < s.width {
                                *d += tap * line[xx as usize];
                            }
                        }
                    }
                }
            }
        });
    out
}

/// A grouped convolution as one dense convolution per group.
fn grouped(x: &[f32], w: &[f32], bias: Option<&[f32]>, s: ConvShape, g: usize) -> Vec<f32> {
    let (oh, ow) = s.output();
    let plane_in = s.height * s.width;
    let plane_out = oh * ow;
    let mut out = vec![0.0f32; s.batch * g * s.c_out * plane_out];
    let w_group = s.c_out * s.c_in * s.kernel * s.kernel;
    for n in 0..s.batch {
        for group in 0..g {
            let first_in = (n * g + group) * s.c_in;
            let src = &x[first_in * plane_in..][..s.c_in * plane_in];
            let one = ConvShape { batch: 1, ..s };
            let b = bias.map(|b| &b[group * s.c_out..][..s.c_out]);
            let res = conv2d_using(
                src,
                &w[group * w_group..][..w_group],
                b,
                None,
                one,
                ConvTuning::Detection,
            );
            let first_out = (n * g + group) * s.c_out;
            out[first_out * plane_out..][..s.c_out * plane_out].copy_from_slice(&res);
        }
    }
    out
}

/// A `MaxPool` node's attributes.
#[derive(Debug, Clone)]
pub(crate) struct PoolAttrs {
    kernel: usize,
    stride: usize,
    pads: [usize; 4],
    ceil: bool,
}

impl PoolAttrs {
    pub(crate) fn parse(a: &Attrs) -> Result<PoolAttrs, DetectError> {
        let kernel = match a.ints("kernel_shape").as_deref() {
            Some([k, k2]) if k == k2 && *k >= 1 => *k as usize,
            other => {
                return Err(a.unsupported(format!("kernel_shape {other:?} (2-D, square only)")));
            }
        };
        let stride = match a.ints("strides").as_deref() {
            None => 1,
            Some([s, s2]) if s == s2 && *s >= 1 => *s as usize,
            Some(v) => return Err(a.unsupported(format!("strides {v:?}"))),
        };
        if a.ints("dilations")
            .is_some_and(|d| d.iter().any(|&x| x != 1))
        {
            return Err(a.unsupported("dilated pooling"));
        }
        if auto_pad(a)?.is_some() {
            return Err(a.unsupported("auto_pad SAME"));
        }
        if a.int("storage_order", 0) != 0 {
            return Err(a.unsupported("column-major storage_order"));
        }
        Ok(PoolAttrs {
            kernel,
            stride,
            pads: pads(a)?,
            ceil: a.int("ceil_mode", 0) != 0,
        })
    }
}

/// `MaxPool` (the first output; the optional indices output is not supported).
pub(crate) fn max_pool(attrs: &PoolAttrs, x: &Tensor) -> Result<Tensor, DetectError> {
    let [n, c, h, w] = dims4(x, "MaxPool input")?;
    let p = attrs.pads;
    let (ph, pw) = (h + p[0] + p[2], w + p[1] + p[3]);
    if ph < attrs.kernel || pw < attrs.kernel {
        return Err(DetectError::run("MaxPool window larger than its input"));
    }
    let side = |len: usize| {
        let span = len - attrs.kernel;
        if attrs.ceil {
            span.div_ceil(attrs.stride) + 1
        } else {
            span / attrs.stride + 1
        }
    };
    let (oh, ow) = (side(ph), side(pw));
    let (k, stride) = (attrs.kernel, attrs.stride);
    // Each window clipped to the input: the padding (−∞) never wins a maximum. A window
    // wholly in the padding (ceil mode's last, at most) stays −∞, as if padded.
    let window = |o: usize, before: usize, len: usize| {
        let start = (o * stride).saturating_sub(before).min(len);
        let end = (o * stride + k).saturating_sub(before).min(len);
        start..end
    };
    let cols: Vec<_> = (0..ow).map(|ox| window(ox, p[1], w)).collect();
    let rows: Vec<_> = (0..oh).map(|oy| window(oy, p[0], h)).collect();
    let x = x.floats("MaxPool input")?;
    let mut out = vec![0.0f32; n * c * oh * ow];
    out.par_chunks_mut(oh * ow)
        .zip(x.par_chunks(h * w))
        .for_each_init(Vec::new, |across, (dst, src)| {
            // Separable: the maximum over each row's windows, then down the columns.
            across.clear();
            across.resize(h * ow, f32::NEG_INFINITY);
            for (line, acc) in src.chunks_exact(w).zip(across.chunks_exact_mut(ow)) {
                if stride == 1 {
                    // Tap by tap over whole rows (vectorised): output x reads x + kx − left.
                    for kx in 0..k {
                        let lo = p[1].saturating_sub(kx);
                        let hi = (w + p[1]).saturating_sub(kx).min(ow);
                        if lo < hi {
                            let line = &line[lo + kx - p[1]..];
                            for (a, &v) in acc[lo..hi].iter_mut().zip(line) {
                                *a = a.max(v);
                            }
                        }
                    }
                } else {
                    for (a, r) in acc.iter_mut().zip(&cols) {
                        *a = line[r.clone()].iter().copied().fold(*a, f32::max);
                    }
                }
            }
            for (out_row, r) in dst.chunks_exact_mut(ow).zip(&rows) {
                out_row.fill(f32::NEG_INFINITY);
                for line in across.chunks_exact(ow).skip(r.start).take(r.len()) {
                    for (d, &v) in out_row.iter_mut().zip(line) {
                        *d = d.max(v);
                    }
                }
            }
        });
    Ok(Tensor::f32(vec![n, c, oh, ow], out))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Max pooling by its definition: the input padded with −∞, every window's maximum.
    fn naive_pool(
        x: &[f32],
        (h, w): (usize, usize),
        a: &PoolAttrs,
        (oh, ow): (usize, usize),
    ) -> Vec<f32> {
        let mut out = Vec::new();
        for plane in x.chunks_exact(h * w) {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut m = f32::NEG_INFINITY;
                    for ky in 0..a.kernel {
                        for kx in 0..a.kernel {
                            let y = (oy * a.stride + ky) as isize - a.pads[0] as isize;
                            let x = (ox * a.stride + kx) as isize - a.pads[1] as isize;
                            if (0..h as isize).contains(&y) && (0..w as isize).contains(&x) {
                                m = m.max(plane[y as usize * w + x as usize]);
                            }
                        }
                    }
                    out.push(m);
                }
            }
        }
        out
    }

    #[test]
    fn max_pooling_matches_the_definition() {
        // SPPF's 5×5 stride 1, a 2×2 stride 2, ceil mode with uneven pads.
        let cases = [
            (5, 1, [2, 2, 2, 2], false),
            (2, 2, [0, 0, 0, 0], false),
            (3, 2, [1, 0, 0, 1], true),
        ];
        let (n, c, h, w) = (2, 3, 7, 9);
        let x: Vec<f32> = (0..n * c * h * w)
            .map(|i| ((i * 7919) % 101) as f32 - 50.0)
            .collect();
        for (kernel, stride, pads, ceil) in cases {
            let a = PoolAttrs {
                kernel,
                stride,
                pads,
                ceil,
            };
            let got = max_pool(&a, &Tensor::f32(vec![n, c, h, w], x.clone())).unwrap();
            let [_, _, oh, ow] = <[usize; 4]>::try_from(got.shape.as_slice()).unwrap();
            let expected = naive_pool(&x, (h, w), &a, (oh, ow));
            assert_eq!(got.floats("").unwrap(), expected.as_slice(), "{a:?}");
        }
    }
}
