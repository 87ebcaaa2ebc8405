//! Operators that move, select or describe elements without arithmetic: shapes,
//! reshapes, transposes, concatenation, splitting, slicing, gathering, broadcasting,
//! casts, ranges, and nearest-neighbour resizing.

use rayon::prelude::*;

use super::attrs::Attrs;
use super::elementwise::{axis, broadcast_shape, broadcast_strides};
use crate::error::DetectError;
use crate::tensor::{Data, Tensor};

/// Builds a tensor of the same element type as `$data` from `$body`, with `$v` bound to
/// its elements.
macro_rules! same_type {
    ($data:expr, $v:ident => $body:expr) => {
        match $data {
            Data::F32($v) => Data::F32($body),
            Data::I64($v) => Data::I64($body),
        }
    };
}

/// Row-major strides of `shape`.
fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// The elements at `indices`.
fn pick<T: Copy>(v: &[T], indices: &[usize]) -> Vec<T> {
    indices.iter().map(|&i| v[i]).collect()
}

/// The `row`-long runs of elements starting at `starts`, one after another.
fn pick_rows<T: Copy>(v: &[T], starts: &[usize], row: usize) -> Vec<T> {
    let mut out = Vec::with_capacity(starts.len() * row);
    for &start in starts {
        out.extend_from_slice(&v[start..start + row]);
    }
    out
}

/// For every element of an `out`-shaped result, in order, the source index given by a
/// start and per-axis source strides.
fn strided_indices(out: &[usize], start: usize, steps: &[isize]) -> Vec<usize> {
    let total: usize = out.iter().product();
    let mut result = Vec::with_capacity(total);
    if total == 0 {
        return result;
    }
    let mut index = vec![0usize; out.len()];
    let mut at = start as isize;
    for _ in 0..total {
        result.push(at as usize);
        for a in (0..out.len()).rev() {
            index[a] += 1;
            at += steps[a];
            if index[a] < out[a] {
                break;
            }
            at -= steps[a] * out[a] as isize;
            index[a] = 0;
        }
    }
    result
}

/// `Shape`, optionally a `[start, end)` part of it.
pub(crate) fn shape_of(x: &Tensor, start: i64, end: Option<i64>) -> Tensor {
    let rank = x.shape.len() as i64;
    let clamp = |i: i64| (if i < 0 { i + rank } else { i }).clamp(0, rank) as usize;
    let (s, e) = (clamp(start), clamp(end.unwrap_or(rank)));
    let dims: Vec<i64> = x.shape[s..e.max(s)].iter().map(|&d| d as i64).collect();
    Tensor::i64(vec![dims.len()], dims)
}

/// `Reshape` (0 copies the input's dimension, -1 is inferred).
pub(crate) fn reshape(x: &Tensor, target: &[i64]) -> Result<Tensor, DetectError> {
    let mut shape = Vec::with_capacity(target.len());
    let mut infer = None;
    for (i, &d) in target.iter().enumerate() {
        match d {
            0 => shape.push(*x.shape.get(i).ok_or_else(|| {
                DetectError::run(format!(
                    "Reshape copies axis {i} of a {}-D tensor",
                    x.shape.len()
                ))
            })?),
            -1 if infer.is_none() => {
                infer = Some(i);
                shape.push(1);
            }
            d if d > 0 => shape.push(d as usize),
            d => return Err(DetectError::run(format!("Reshape to dimension {d}"))),
        }
    }
    let known: usize = shape.iter().product();
    if let Some(i) = infer {
        if known == 0 || !x.len().is_multiple_of(known) {
            return Err(DetectError::run(format!(
                "cannot reshape {:?} to {target:?}",
                x.shape
            )));
        }
        shape[i] = x.len() / known;
    }
    if shape.iter().product::<usize>() != x.len() {
        return Err(DetectError::run(format!(
            "cannot reshape {:?} to {target:?}",
            x.shape
        )));
    }
    Ok(Tensor {
        shape,
        data: x.data.clone(),
    })
}

/// `Transpose` (default: reverse the axes).
pub(crate) fn transpose(x: &Tensor, perm: Option<&[i64]>) -> Result<Tensor, DetectError> {
    let rank = x.shape.len();
    let perm: Vec<usize> = match perm {
        Some(p) => p.iter().map(|&a| axis(a, rank)).collect::<Result<_, _>>()?,
        None => (0..rank).rev().collect(),
    };
    let mut seen = vec![false; rank];
    for &p in &perm {
        if std::mem::replace(&mut seen[p], true) {
            return Err(DetectError::run(format!(
                "Transpose perm {perm:?} repeats an axis"
            )));
        }
    }
    if perm.len() != rank {
        return Err(DetectError::run(format!(
            "Transpose perm {perm:?} for rank {rank}"
        )));
    }
    let src = strides(&x.shape);
    let out: Vec<usize> = perm.iter().map(|&p| x.shape[p]).collect();
    let steps: Vec<isize> = perm.iter().map(|&p| src[p] as isize).collect();
    // The last axis kept in place (the detector's DFL head swaps the two before it):
    // whole rows move, copied as slices rather than element by element.
    if let Some(last) = rank.checked_sub(1)
        && perm[last] == last
    {
        let starts = strided_indices(&out[..last], 0, &steps[..last]);
        let row = x.shape[last];
        return Ok(Tensor {
            shape: out,
            data: same_type!(&x.data, v => pick_rows(v, &starts, row)),
        });
    }
    let indices = strided_indices(&out, 0, &steps);
    Ok(Tensor {
        shape: out,
        data: same_type!(&x.data, v => pick(v, &indices)),
    })
}

/// `Concat` along `axis`.
pub(crate) fn concat(parts: &[&Tensor], axis_: i64) -> Result<Tensor, DetectError> {
    let first = parts
        .first()
        .ok_or_else(|| DetectError::run("Concat of nothing"))?;
    let a = axis(axis_, first.shape.len())?;
    let mut shape = first.shape.clone();
    shape[a] = 0;
    for p in parts {
        let fits = p.shape.len() == first.shape.len()
            && p.shape
                .iter()
                .zip(&first.shape)
                .enumerate()
                .all(|(i, (x, y))| i == a || x == y);
        if !fits {
            return Err(DetectError::run(format!(
                "Concat of {:?} and {:?} along axis {a}",
                first.shape, p.shape
            )));
        }
        shape[a] += p.shape[a];
    }
    let outer: usize = shape[..a].iter().product();
    let inner: usize = shape[a + 1..].iter().product();
    macro_rules! join {
        ($variant:ident) => {{
            let mut out = Vec::with_capacity(shape.iter().product());
            for o in 0..outer {
                for p in parts {
                    let Data::$variant(v) = &p.data else {
                        return Err(DetectError::run("Concat of float and integer tensors"));
                    };
                    let block = p.shape[a] * inner;
                    out.extend_from_slice(&v[o * block..][..block]);
                }
            }
            Data::$variant(out)
        }};
    }
    let data = match first.data {
        Data::F32(_) => join!(F32),
        Data::I64(_) => join!(I64),
    };
    Ok(Tensor { shape, data })
}

/// `Split` along `axis` into `sizes`, or into `parts` equal parts (the last one
/// smaller when the axis does not divide evenly).
pub(crate) fn split(
    x: &Tensor,
    axis_: i64,
    sizes: Option<Vec<i64>>,
    parts: usize,
) -> Result<Vec<Tensor>, DetectError> {
    let a = axis(axis_, x.shape.len())?;
    let len = x.shape[a];
    let sizes: Vec<usize> = match sizes {
        Some(s) => s.iter().map(|&d| d.max(0) as usize).collect(),
        None => {
            let part = len.div_ceil(parts.max(1));
            (0..parts)
                .map(|i| part.min(len.saturating_sub(i * part)))
                .collect()
        }
    };
    if sizes.iter().sum::<usize>() != len {
        return Err(DetectError::run(format!(
            "Split of axis {a} ({len}) into {sizes:?}"
        )));
    }
    let outer: usize = x.shape[..a].iter().product();
    let inner: usize = x.shape[a + 1..].iter().product();
    let mut offset = 0;
    let mut outputs = Vec::with_capacity(sizes.len());
    for &size in &sizes {
        let mut shape = x.shape.clone();
        shape[a] = size;
        let span = (len * inner, offset * inner, size * inner);
        outputs.push(Tensor {
            shape,
            data: same_type!(&x.data, v => take_blocks(v, outer, span)),
        });
        offset += size;
    }
    Ok(outputs)
}

/// From each of `outer` rows `row` long, the `len` elements at `start`.
fn take_blocks<T: Copy>(v: &[T], outer: usize, (row, start, len): (usize, usize, usize)) -> Vec<T> {
    let mut out = Vec::with_capacity(outer * len);
    for o in 0..outer {
        out.extend_from_slice(&v[o * row + start..][..len]);
    }
    out
}

/// `Slice`: inputs `starts, ends[, axes[, steps]]` (or the legacy attributes).
pub(crate) fn slice(
    x: &Tensor,
    legacy: Option<&[Vec<i64>; 3]>,
    inputs: &[Option<&Tensor>],
) -> Result<Tensor, DetectError> {
    let arg = |i: usize| inputs.get(i).copied().flatten().map(Tensor::ints);
    let (starts, ends, axes, steps) = match legacy {
        Some([s, e, a]) => (
            s.clone(),
            e.clone(),
            (!a.is_empty()).then(|| a.clone()),
            None,
        ),
        None => (
            arg(1).ok_or_else(|| DetectError::run("Slice without starts"))?,
            arg(2).ok_or_else(|| DetectError::run("Slice without ends"))?,
            arg(3),
            arg(4),
        ),
    };
    let rank = x.shape.len();
    let axes: Vec<usize> = match axes {
        Some(a) => a.iter().map(|&a| axis(a, rank)).collect::<Result<_, _>>()?,
        None => (0..starts.len()).collect(),
    };
    let src = strides(&x.shape);
    let mut out = x.shape.clone();
    let mut first = vec![0i64; rank];
    let mut step = vec![1i64; rank];
    for (k, &a) in axes.iter().enumerate() {
        let dim = x.shape[a] as i64;
        let s = steps.as_ref().map_or(1, |s| s[k]);
        if s == 0 {
            return Err(DetectError::run("Slice with a step of 0"));
        }
        let norm = |i: i64| if i < 0 { i + dim } else { i };
        let (lo, hi) = if s > 0 { (0, dim) } else { (-1, dim - 1) };
        let start = norm(starts[k]).clamp(lo, hi);
        let end = norm(ends[k].clamp(-dim - 1, dim + 1).max(i64::MIN / 2)).clamp(lo, hi);
        let count = if s > 0 {
            (end - start + s - 1).max(0) / s
        } else {
            (start - end - s - 1).max(0) / -s
        };
        out[a] = count as usize;
        first[a] = start;
        step[a] = s;
    }
    let start: i64 = (0..rank).map(|a| first[a] * src[a] as i64).sum();
    let steps: Vec<isize> = (0..rank)
        .map(|a| (step[a] * src[a] as i64) as isize)
        .collect();
    let indices = if out.iter().product::<usize>() == 0 {
        Vec::new()
    } else {
        strided_indices(&out, start as usize, &steps)
    };
    Ok(Tensor {
        shape: out,
        data: same_type!(&x.data, v => pick(v, &indices)),
    })
}

/// `Gather` along `axis` with integer `indices` (negative ones count from the end).
pub(crate) fn gather(x: &Tensor, indices: &Tensor, axis_: i64) -> Result<Tensor, DetectError> {
    let a = axis(axis_, x.shape.len())?;
    let dim = x.shape[a] as i64;
    let idx: Vec<usize> = indices
        .ints()
        .iter()
        .map(|&i| {
            let j = if i < 0 { i + dim } else { i };
            usize::try_from(j)
                .ok()
                .filter(|&j| (j as i64) < dim)
                .ok_or_else(|| DetectError::run(format!("Gather index {i} out of range {dim}")))
        })
        .collect::<Result<_, _>>()?;
    let outer: usize = x.shape[..a].iter().product();
    let inner: usize = x.shape[a + 1..].iter().product();
    let mut positions = Vec::with_capacity(outer * idx.len() * inner);
    for o in 0..outer {
        for &i in &idx {
            let base = (o * x.shape[a] + i) * inner;
            positions.extend(base..base + inner);
        }
    }
    let mut shape = x.shape[..a].to_vec();
    shape.extend_from_slice(&indices.shape);
    shape.extend_from_slice(&x.shape[a + 1..]);
    Ok(Tensor {
        shape,
        data: same_type!(&x.data, v => pick(v, &positions)),
    })
}

/// `Unsqueeze`: insert size-1 axes at `axes` (of the output's rank).
pub(crate) fn unsqueeze(x: &Tensor, axes: &[i64]) -> Result<Tensor, DetectError> {
    let rank = x.shape.len() + axes.len();
    let mut marks: Vec<usize> = axes
        .iter()
        .map(|&a| axis(a, rank))
        .collect::<Result<_, _>>()?;
    marks.sort_unstable();
    let mut dims = x.shape.iter();
    let shape = (0..rank)
        .map(|i| {
            if marks.contains(&i) {
                1
            } else {
                *dims.next().unwrap_or(&1)
            }
        })
        .collect();
    Ok(Tensor {
        shape,
        data: x.data.clone(),
    })
}

/// `Squeeze`: drop size-1 axes (`axes`, or all of them).
pub(crate) fn squeeze(x: &Tensor, axes: Option<&[i64]>) -> Result<Tensor, DetectError> {
    let rank = x.shape.len();
    let drop: Vec<usize> = match axes {
        Some(a) => a.iter().map(|&a| axis(a, rank)).collect::<Result<_, _>>()?,
        None => (0..rank).filter(|&i| x.shape[i] == 1).collect(),
    };
    if let Some(&bad) = drop.iter().find(|&&i| x.shape[i] != 1) {
        return Err(DetectError::run(format!(
            "Squeeze of axis {bad} of {:?}",
            x.shape
        )));
    }
    let shape = (0..rank)
        .filter(|i| !drop.contains(i))
        .map(|i| x.shape[i])
        .collect();
    Ok(Tensor {
        shape,
        data: x.data.clone(),
    })
}

/// `Flatten` to 2-D at `axis`.
pub(crate) fn flatten(x: &Tensor, axis_: i64) -> Result<Tensor, DetectError> {
    let rank = x.shape.len();
    let a = if axis_ < 0 {
        axis_ + rank as i64
    } else {
        axis_
    };
    let a = usize::try_from(a)
        .ok()
        .filter(|&a| a <= rank)
        .ok_or_else(|| DetectError::run(format!("Flatten axis {axis_} for rank {rank}")))?;
    let shape = vec![x.shape[..a].iter().product(), x.shape[a..].iter().product()];
    Ok(Tensor {
        shape,
        data: x.data.clone(),
    })
}

/// `Expand`: broadcast `x` to (the broadcast of its shape and) `target`.
pub(crate) fn expand(x: &Tensor, target: &[i64]) -> Result<Tensor, DetectError> {
    let target: Vec<usize> = target.iter().map(|&d| d.max(0) as usize).collect();
    let shape = broadcast_shape(&x.shape, &target)?;
    let steps: Vec<isize> = broadcast_strides(&x.shape, &shape)
        .iter()
        .map(|&s| s as isize)
        .collect();
    let indices = strided_indices(&shape, 0, &steps);
    Ok(Tensor {
        data: same_type!(&x.data, v => pick(v, &indices)),
        shape,
    })
}

/// `Cast` to float, to a boolean (0/1) or to an integer type (floats truncated).
pub(crate) fn cast(x: &Tensor, to_float: bool, to_bool: bool) -> Tensor {
    let data = match (&x.data, to_float) {
        (Data::F32(v), true) => Data::F32(v.clone()),
        (Data::I64(v), true) => Data::F32(v.iter().map(|&i| i as f32).collect()),
        (Data::F32(v), false) if to_bool => {
            Data::I64(v.iter().map(|&f| i64::from(f != 0.0)).collect())
        }
        (Data::I64(v), false) if to_bool => {
            Data::I64(v.iter().map(|&i| i64::from(i != 0)).collect())
        }
        (Data::F32(v), false) => Data::I64(v.iter().map(|&f| f as i64).collect()),
        (Data::I64(v), false) => Data::I64(v.clone()),
    };
    Tensor {
        shape: x.shape.clone(),
        data,
    }
}

/// Elements a `Range` or `ConstantOfShape` may produce (they size buffers from values
/// in the model).
const MAX_GENERATED: usize = 1 << 26;

/// `Range(start, limit, delta)`.
pub(crate) fn range(start: &Tensor, limit: &Tensor, delta: &Tensor) -> Result<Tensor, DetectError> {
    let count = |s: f64, l: f64, d: f64| -> Result<usize, DetectError> {
        if d == 0.0 {
            return Err(DetectError::run("Range with a delta of 0"));
        }
        let n = ((l - s) / d).ceil().max(0.0);
        if n > MAX_GENERATED as f64 {
            return Err(DetectError::run(format!("Range of {n} elements")));
        }
        Ok(n as usize)
    };
    match (&start.data, &limit.data, &delta.data) {
        (Data::I64(s), Data::I64(l), Data::I64(d)) => {
            let (s, l, d) = (first(s)?, first(l)?, first(d)?);
            let n = count(s as f64, l as f64, d as f64)?;
            Ok(Tensor::i64(
                vec![n],
                (0..n as i64).map(|i| s + i * d).collect(),
            ))
        }
        (Data::F32(s), Data::F32(l), Data::F32(d)) => {
            let (s, l, d) = (first(s)?, first(l)?, first(d)?);
            let n = count(f64::from(s), f64::from(l), f64::from(d))?;
            Ok(Tensor::f32(
                vec![n],
                (0..n).map(|i| s + i as f32 * d).collect(),
            ))
        }
        _ => Err(DetectError::run("Range of mixed element types")),
    }
}

fn first<T: Copy>(v: &[T]) -> Result<T, DetectError> {
    v.first()
        .copied()
        .ok_or_else(|| DetectError::run("an empty scalar input"))
}

/// `ConstantOfShape`: `value` (one element) repeated over `shape`.
pub(crate) fn constant_of_shape(value: &Tensor, shape: &[i64]) -> Result<Tensor, DetectError> {
    let shape: Vec<usize> = shape.iter().map(|&d| d.max(0) as usize).collect();
    let n = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    let n = n
        .filter(|&n| n <= MAX_GENERATED)
        .ok_or_else(|| DetectError::run(format!("ConstantOfShape of {shape:?} is too large")))?;
    Ok(Tensor {
        data: same_type!(&value.data, v => vec![first(v)?; n]),
        shape,
    })
}

/// A `Resize` (or `Upsample`) node's attributes: nearest-neighbour only.
#[derive(Debug, Clone)]
pub(crate) struct ResizeAttrs {
    /// How an output coordinate maps to an input one.
    transform: Transform,
    /// How a fractional input coordinate becomes a pixel.
    rounding: Rounding,
    /// Opset 10's `Upsample`/`Resize` take `(X, scales)`; later ones `(X, roi, scales,
    /// sizes)`.
    scales_input: usize,
}

#[derive(Debug, Clone, Copy)]
enum Transform {
    HalfPixel,
    PytorchHalfPixel,
    AlignCorners,
    Asymmetric,
}

#[derive(Debug, Clone, Copy)]
enum Rounding {
    RoundPreferFloor,
    RoundPreferCeil,
    Floor,
    Ceil,
}

impl ResizeAttrs {
    pub(crate) fn parse(a: &Attrs, opset: i64) -> Result<ResizeAttrs, DetectError> {
        let mode = a.string("mode", "nearest");
        if mode != "nearest" {
            return Err(a.unsupported(format!("mode {mode:?} (only nearest is supported)")));
        }
        let legacy = opset < 11;
        let transform = match a
            .string(
                "coordinate_transformation_mode",
                if legacy { "asymmetric" } else { "half_pixel" },
            )
            .as_str()
        {
            "half_pixel" => Transform::HalfPixel,
            "pytorch_half_pixel" => Transform::PytorchHalfPixel,
            "align_corners" => Transform::AlignCorners,
            "asymmetric" => Transform::Asymmetric,
            other => return Err(a.unsupported(format!("coordinate_transformation_mode {other:?}"))),
        };
        let rounding = match a
            .string(
                "nearest_mode",
                if legacy {
                    "floor"
                } else {
                    "round_prefer_floor"
                },
            )
            .as_str()
        {
            "round_prefer_floor" => Rounding::RoundPreferFloor,
            "round_prefer_ceil" => Rounding::RoundPreferCeil,
            "floor" => Rounding::Floor,
            "ceil" => Rounding::Ceil,
            other => return Err(a.unsupported(format!("nearest_mode {other:?}"))),
        };
        if a.ints("axes").is_some() {
            return Err(a.unsupported("the axes attribute"));
        }
        Ok(ResizeAttrs {
            transform,
            rounding,
            scales_input: if legacy { 1 } else { 2 },
        })
    }
}

/// Nearest-neighbour `Resize` of the last two axes of a 4-D tensor.
pub(crate) fn resize(
    attrs: &ResizeAttrs,
    inputs: &[Option<&Tensor>],
) -> Result<Tensor, DetectError> {
    let x = inputs
        .first()
        .copied()
        .flatten()
        .ok_or_else(|| DetectError::run("Resize without input"))?;
    let [n, c, h, w] = <[usize; 4]>::try_from(x.shape.as_slice())
        .map_err(|_| DetectError::run(format!("Resize of a {:?} tensor (4-D only)", x.shape)))?;
    let get = |i: usize| inputs.get(i).copied().flatten().filter(|t| !t.is_empty());
    let (oh, ow, sy, sx) = if let Some(sizes) = get(attrs.scales_input + 1) {
        let s = sizes.ints();
        let [_, _, oh, ow] = <[i64; 4]>::try_from(s.as_slice())
            .map_err(|_| DetectError::run("Resize sizes must have 4 elements"))?;
        let (oh, ow) = (oh.max(0) as usize, ow.max(0) as usize);
        (oh, ow, oh as f32 / h as f32, ow as f32 / w as f32)
    } else if let Some(scales) = get(attrs.scales_input) {
        let s = scales.floats("Resize scales")?;
        let [sn, sc, sy, sx] = <[f32; 4]>::try_from(s)
            .map_err(|_| DetectError::run("Resize scales must have 4 elements"))?;
        if sn != 1.0 || sc != 1.0 || !(sy > 0.0 && sx > 0.0) {
            return Err(DetectError::run(format!("Resize scales {s:?}")));
        }
        ((h as f32 * sy) as usize, (w as f32 * sx) as usize, sy, sx)
    } else {
        return Err(DetectError::run("Resize without scales or sizes"));
    };
    if oh.saturating_mul(ow).saturating_mul(n * c) > MAX_GENERATED * 4 {
        return Err(DetectError::run("Resize output too large"));
    }
    let map = |out: usize, len_in: usize, len_out: usize, scale: f32| -> Vec<usize> {
        (0..out)
            .map(|o| {
                let o = o as f32;
                let x = match attrs.transform {
                    Transform::HalfPixel => (o + 0.5) / scale - 0.5,
                    Transform::PytorchHalfPixel if len_out > 1 => (o + 0.5) / scale - 0.5,
                    Transform::PytorchHalfPixel => 0.0,
                    Transform::AlignCorners if len_out > 1 => {
                        o * (len_in as f32 - 1.0) / (len_out as f32 - 1.0)
                    }
                    Transform::AlignCorners => 0.0,
                    Transform::Asymmetric => o / scale,
                };
                let r = match attrs.rounding {
                    Rounding::RoundPreferFloor if x.fract() == 0.5 => x.floor(),
                    Rounding::RoundPreferFloor => x.round(),
                    Rounding::RoundPreferCeil => (x + 0.5).floor(),
                    Rounding::Floor => x.floor(),
                    Rounding::Ceil => x.ceil(),
                };
                (r.max(0.0) as usize).min(len_in - 1)
            })
            .collect()
    };
    let rows = map(oh, h, oh, sy);
    let cols = map(ow, w, ow, sx);
    let v = x.floats("Resize input")?;
    // YOLO's upsampling doubles each pixel: pairs written from one read, no index table.
    let doubled = ow == 2 * w && cols.iter().enumerate().all(|(i, &c)| c == i / 2);
    let mut out = vec![0.0f32; n * c * oh * ow];
    if oh * ow > 0 {
        out.par_chunks_mut(oh * ow)
            .zip(v.par_chunks(h * w))
            .for_each(|(dst, plane)| {
                for (i, &r) in rows.iter().enumerate() {
                    let (done, rest) = dst.split_at_mut(i * ow);
                    let row = &mut rest[..ow];
                    // A source row used again (upsampling): copy the row just made.
                    if i > 0 && rows[i - 1] == r {
                        row.copy_from_slice(&done[(i - 1) * ow..]);
                        continue;
                    }
                    let line = &plane[r * w..][..w];
                    if doubled {
                        for (pair, &value) in row.chunks_exact_mut(2).zip(line) {
                            pair.fill(value);
                        }
                    } else {
                        for (d, &c) in row.iter_mut().zip(&cols) {
                            *d = line[c];
                        }
                    }
                }
            });
    }
    Ok(Tensor::f32(vec![n, c, oh, ow], out))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nearest-neighbour resizing (asymmetric, floor) by 2 — the doubling path — and
    /// to 3 × 4 from 2 × 3 (the general path), against worked examples.
    #[test]
    fn nearest_resizing_doubles_and_maps_other_sizes() {
        let attrs = ResizeAttrs {
            transform: Transform::Asymmetric,
            rounding: Rounding::Floor,
            scales_input: 2,
        };
        let x = Tensor::f32(vec![1, 2, 2, 3], (1..=12).map(|v| v as f32).collect());
        let scales = Tensor::f32(vec![4], vec![1.0, 1.0, 2.0, 2.0]);
        let out = resize(&attrs, &[Some(&x), None, Some(&scales)]).unwrap();
        assert_eq!(out.shape, vec![1, 2, 4, 6]);
        let first = [1., 1., 2., 2., 3., 3., 4., 4., 5., 5., 6., 6.];
        let data = out.floats("").unwrap();
        assert_eq!(&data[..6], &first[..6]);
        assert_eq!(&data[6..12], &first[..6]);
        assert_eq!(&data[12..18], &first[6..]);
        assert_eq!(&data[18..24], &first[6..]);
        assert_eq!(&data[24..30], &[7., 7., 8., 8., 9., 9.]);
        let sizes = Tensor::i64(vec![4], vec![1, 2, 3, 4]);
        let empty = Tensor::f32(vec![0], vec![]);
        let out = resize(&attrs, &[Some(&x), None, Some(&empty), Some(&sizes)]).unwrap();
        assert_eq!(out.shape, vec![1, 2, 3, 4]);
        // Rows 0, 0, 1 (y · 2/3 floored), columns 0, 0, 1, 2 (x · 3/4 floored).
        assert_eq!(
            &out.floats("").unwrap()[..12],
            &[1., 1., 2., 3., 1., 1., 2., 3., 4., 4., 5., 6.]
        );
    }
}
