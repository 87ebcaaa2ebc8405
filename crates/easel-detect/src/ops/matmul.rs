//! `MatMul` with NumPy semantics: batched over leading (broadcast) axes, 1-D operands
//! promoted and their axis removed again.

use easel_kernels::{MatRef, Threads, matmul as product};

use super::elementwise::{broadcast_shape, broadcast_strides};
use crate::error::DetectError;
use crate::tensor::Tensor;

/// `a · b`.
pub(crate) fn matmul(a: &Tensor, b: &Tensor) -> Result<Tensor, DetectError> {
    let (x, y) = (a.floats("MatMul input")?, b.floats("MatMul input")?);
    let mut sa = a.shape.clone();
    let mut sb = b.shape.clone();
    let (vec_a, vec_b) = (sa.len() == 1, sb.len() == 1);
    if vec_a {
        sa.insert(0, 1);
    }
    if vec_b {
        sb.push(1);
    }
    if sa.len() < 2 || sb.len() < 2 {
        return Err(DetectError::run("MatMul of a scalar"));
    }
    let (m, k) = (sa[sa.len() - 2], sa[sa.len() - 1]);
    let (k2, n) = (sb[sb.len() - 2], sb[sb.len() - 1]);
    if k != k2 {
        return Err(DetectError::run(format!(
            "MatMul of {:?} and {:?}: inner sizes differ",
            a.shape, b.shape
        )));
    }
    let batch = broadcast_shape(&sa[..sa.len() - 2], &sb[..sb.len() - 2])?;
    let count: usize = batch.iter().product();
    let (ba, bb) = (
        broadcast_strides(&sa[..sa.len() - 2], &batch),
        broadcast_strides(&sb[..sb.len() - 2], &batch),
    );
    let mut out = vec![0.0f32; count * m * n];
    let mut index = vec![0usize; batch.len()];
    for i in 0..count {
        let ia: usize = index.iter().zip(&ba).map(|(i, s)| i * s).sum();
        let ib: usize = index.iter().zip(&bb).map(|(i, s)| i * s).sum();
        if m > 0 && n > 0 && k > 0 {
            product(
                &mut out[i * m * n..][..m * n],
                n,
                (m, n, k),
                MatRef::dense(x, ia * m * k, k),
                MatRef::dense(y, ib * k * n, n),
                1.0,
                false,
                Threads::All,
            );
        }
        for axis in (0..batch.len()).rev() {
            index[axis] += 1;
            if index[axis] < batch[axis] {
                break;
            }
            index[axis] = 0;
        }
    }
    let mut shape = batch;
    if !vec_a {
        shape.push(m);
    }
    if !vec_b {
        shape.push(n);
    }
    Ok(Tensor::f32(shape, out))
}
