//! Elementwise operators with NumPy broadcasting, activations and softmax.

use easel_kernels::{Activation, activate};
use rayon::prelude::*;

use crate::error::DetectError;
use crate::tensor::{Data, Tensor};

/// A two-input elementwise operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Binary {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Max,
    Min,
}

impl Binary {
    fn f32(self, a: f32, b: f32) -> f32 {
        match self {
            Binary::Add => a + b,
            Binary::Sub => a - b,
            Binary::Mul => a * b,
            Binary::Div => a / b,
            Binary::Pow => a.powf(b),
            Binary::Max => a.max(b),
            Binary::Min => a.min(b),
        }
    }

    fn i64(self, a: i64, b: i64) -> Result<i64, DetectError> {
        Ok(match self {
            Binary::Add => a.wrapping_add(b),
            Binary::Sub => a.wrapping_sub(b),
            Binary::Mul => a.wrapping_mul(b),
            Binary::Div if b == 0 => return Err(DetectError::run("integer division by zero")),
            // Truncating, as onnxruntime's C++ division.
            Binary::Div => a.wrapping_div(b),
            Binary::Pow => a.wrapping_pow(u32::try_from(b).unwrap_or(0)),
            Binary::Max => a.max(b),
            Binary::Min => a.min(b),
        })
    }
}

/// The shape two shapes broadcast to.
pub(crate) fn broadcast_shape(a: &[usize], b: &[usize]) -> Result<Vec<usize>, DetectError> {
    let rank = a.len().max(b.len());
    let dim = |s: &[usize], i: usize| {
        let offset = rank - s.len();
        if i < offset { 1 } else { s[i - offset] }
    };
    (0..rank)
        .map(|i| match (dim(a, i), dim(b, i)) {
            (x, y) if x == y => Ok(x),
            (1, y) => Ok(y),
            (x, 1) => Ok(x),
            (x, y) => Err(DetectError::run(format!(
                "shapes {a:?} and {b:?} do not broadcast (axis {i}: {x} vs {y})"
            ))),
        })
        .collect()
}

/// The element strides of a tensor of `shape` read as `out`-shaped (0 along broadcast
/// axes).
pub(crate) fn broadcast_strides(shape: &[usize], out: &[usize]) -> Vec<usize> {
    let offset = out.len() - shape.len();
    let mut strides = vec![0; out.len()];
    let mut step = 1;
    for i in (0..shape.len()).rev() {
        strides[offset + i] = if shape[i] == 1 { 0 } else { step };
        step *= shape[i];
    }
    strides
}

/// Calls `f(out_index, a_index, b_index)` for every element of `out`, in order.
fn for_each_pair(
    out: &[usize],
    sa: &[usize],
    sb: &[usize],
    mut f: impl FnMut(usize, usize, usize),
) {
    let total: usize = out.iter().product();
    if total == 0 {
        return;
    }
    let rank = out.len();
    let mut index = vec![0usize; rank];
    let (mut ia, mut ib) = (0usize, 0usize);
    for o in 0..total {
        f(o, ia, ib);
        // Advance the odometer from the last axis.
        for axis in (0..rank).rev() {
            index[axis] += 1;
            ia += sa[axis];
            ib += sb[axis];
            if index[axis] < out[axis] {
                break;
            }
            ia -= sa[axis] * out[axis];
            ib -= sb[axis] * out[axis];
            index[axis] = 0;
        }
    }
}

/// Elements above which same-shape float operations run in parallel.
const PARALLEL: usize = 1 << 15;

/// `op(a, b)` with broadcasting; both inputs must have the same element type.
pub(crate) fn binary(op: Binary, a: &Tensor, b: &Tensor) -> Result<Tensor, DetectError> {
    let shape = broadcast_shape(&a.shape, &b.shape)?;
    match (&a.data, &b.data) {
        (Data::F32(x), Data::F32(y)) => {
            let out = if a.shape == b.shape {
                // One pass, in parallel, straight into the new tensor (copying `x`
                // first was a second pass, on one thread).
                let mut out = Vec::with_capacity(x.len());
                x.par_iter()
                    .with_min_len(PARALLEL)
                    .zip(y.par_iter())
                    .map(|(&x, &y)| op.f32(x, y))
                    .collect_into_vec(&mut out);
                out
            } else if y.len() == 1 {
                x.iter().map(|&v| op.f32(v, y[0])).collect()
            } else {
                let mut out = vec![0.0; shape.iter().product()];
                let (sa, sb) = (
                    broadcast_strides(&a.shape, &shape),
                    broadcast_strides(&b.shape, &shape),
                );
                for_each_pair(&shape, &sa, &sb, |o, i, j| out[o] = op.f32(x[i], y[j]));
                out
            };
            Ok(Tensor::f32(shape, out))
        }
        (Data::I64(x), Data::I64(y)) => {
            let mut out = vec![0i64; shape.iter().product()];
            let (sa, sb) = (
                broadcast_strides(&a.shape, &shape),
                broadcast_strides(&b.shape, &shape),
            );
            let mut failure = None;
            for_each_pair(&shape, &sa, &sb, |o, i, j| match op.i64(x[i], y[j]) {
                Ok(v) => out[o] = v,
                Err(e) => failure = Some(e),
            });
            match failure {
                Some(e) => Err(e),
                None => Ok(Tensor::i64(shape, out)),
            }
        }
        _ => Err(DetectError::run(format!(
            "{op:?} of a float and an integer tensor (the model needs a Cast)"
        ))),
    }
}

/// A one-input elementwise operator.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Unary {
    Relu,
    LeakyRelu(f32),
    HardSigmoid(f32, f32),
    HardSwish,
    Tanh,
    Exp,
    Sqrt,
    Neg,
    /// Lower and upper bounds (`None`: unbounded).
    Clip(Option<f32>, Option<f32>),
}

impl Unary {
    fn apply(self, x: f32) -> f32 {
        match self {
            Unary::Relu => x.max(0.0),
            Unary::LeakyRelu(alpha) => {
                if x < 0.0 {
                    alpha * x
                } else {
                    x
                }
            }
            Unary::HardSigmoid(alpha, beta) => (alpha * x + beta).clamp(0.0, 1.0),
            Unary::HardSwish => x * (x / 6.0 + 0.5).clamp(0.0, 1.0),
            Unary::Tanh => x.tanh(),
            Unary::Exp => x.exp(),
            Unary::Sqrt => x.sqrt(),
            Unary::Neg => -x,
            Unary::Clip(lo, hi) => x.max(lo.unwrap_or(f32::MIN)).min(hi.unwrap_or(f32::MAX)),
        }
    }
}

/// `op` of every element (integers: only `Neg`, `Relu` and `Clip`).
pub(crate) fn unary(op: Unary, x: &Tensor) -> Result<Tensor, DetectError> {
    match &x.data {
        Data::F32(v) => {
            let mut out = v.clone();
            out.par_chunks_mut(PARALLEL)
                .for_each(|c| c.iter_mut().for_each(|v| *v = op.apply(*v)));
            Ok(Tensor::f32(x.shape.clone(), out))
        }
        Data::I64(v) => {
            let out = v
                .iter()
                .map(|&i| match op {
                    Unary::Neg => Ok(-i),
                    Unary::Relu => Ok(i.max(0)),
                    Unary::Clip(lo, hi) => Ok(i
                        .max(lo.map_or(i64::MIN, |l| l as i64))
                        .min(hi.map_or(i64::MAX, |h| h as i64))),
                    _ => Err(DetectError::run(format!("{op:?} of an integer tensor"))),
                })
                .collect::<Result<Vec<i64>, DetectError>>()?;
            Ok(Tensor::i64(x.shape.clone(), out))
        }
    }
}

/// The logistic sigmoid.
pub(crate) fn sigmoid(x: &Tensor) -> Result<Tensor, DetectError> {
    let mut out = x.floats("Sigmoid input")?.to_vec();
    activate(&mut out, Activation::Sigmoid);
    Ok(Tensor::f32(x.shape.clone(), out))
}

/// A rank-relative axis made absolute.
pub(crate) fn axis(axis: i64, rank: usize) -> Result<usize, DetectError> {
    let a = if axis < 0 { axis + rank as i64 } else { axis };
    usize::try_from(a)
        .ok()
        .filter(|&a| a < rank.max(1))
        .ok_or_else(|| DetectError::run(format!("axis {axis} out of range for rank {rank}")))
}

/// Softmax along `axis` (opset 13 onwards), or over everything from `axis` on
/// (`legacy`, earlier opsets).
pub(crate) fn softmax(x: &Tensor, axis_: i64, legacy: bool) -> Result<Tensor, DetectError> {
    let values = x.floats("Softmax input")?;
    let a = axis(axis_, x.shape.len())?;
    let (len, inner) = if legacy {
        (x.shape[a..].iter().product::<usize>(), 1)
    } else {
        (x.shape[a], x.shape[a + 1..].iter().product::<usize>())
    };
    let mut out = values.to_vec();
    easel_kernels::softmax(&mut out, len, inner);
    Ok(Tensor::f32(x.shape.clone(), out))
}
