//! The values a graph computes: dense row-major tensors of f32 (activations, weights) or
//! i64 (shapes, indices; booleans are kept as 0/1), and their conversion from ONNX's
//! `TensorProto`.

use crate::error::DetectError;
use crate::proto::TensorProto;

/// A tensor's elements.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    /// Floating point (float16 and double are widened or narrowed to it on load).
    F32(Vec<f32>),
    /// Integers and booleans.
    I64(Vec<i64>),
}

/// A dense row-major tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// Dimensions, outermost first; empty for a scalar.
    pub shape: Vec<usize>,
    /// `shape.iter().product()` elements.
    pub data: Data,
}

/// ONNX `DataType` codes the detector reads.
pub(crate) mod dtype {
    pub const FLOAT: i32 = 1;
    pub const UINT8: i32 = 2;
    pub const INT8: i32 = 3;
    pub const INT32: i32 = 6;
    pub const INT64: i32 = 7;
    pub const BOOL: i32 = 9;
    pub const FLOAT16: i32 = 10;
    pub const DOUBLE: i32 = 11;

    /// A readable name for a code, for messages.
    pub fn name(code: i32) -> String {
        let known = [
            (1, "float"),
            (2, "uint8"),
            (3, "int8"),
            (4, "uint16"),
            (5, "int16"),
            (6, "int32"),
            (7, "int64"),
            (8, "string"),
            (9, "bool"),
            (10, "float16"),
            (11, "double"),
            (12, "uint32"),
            (13, "uint64"),
            (16, "bfloat16"),
        ];
        known
            .iter()
            .find(|(c, _)| *c == code)
            .map_or_else(|| format!("type {code}"), |(_, n)| (*n).to_string())
    }
}

impl Tensor {
    /// An f32 tensor; `data` must hold `shape`'s element count.
    pub fn f32(shape: Vec<usize>, data: Vec<f32>) -> Tensor {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        Tensor {
            shape,
            data: Data::F32(data),
        }
    }

    /// An i64 tensor; `data` must hold `shape`'s element count.
    pub fn i64(shape: Vec<usize>, data: Vec<i64>) -> Tensor {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        Tensor {
            shape,
            data: Data::I64(data),
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match &self.data {
            Data::F32(v) => v.len(),
            Data::I64(v) => v.len(),
        }
    }

    /// Whether the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The f32 elements, or an error naming `what` when the tensor holds integers.
    pub fn floats(&self, what: &str) -> Result<&[f32], DetectError> {
        match &self.data {
            Data::F32(v) => Ok(v),
            Data::I64(_) => Err(DetectError::run(format!(
                "{what} must be float, not integer"
            ))),
        }
    }

    /// The elements as integers (floats are truncated), for shape-like inputs.
    pub fn ints(&self) -> Vec<i64> {
        match &self.data {
            Data::I64(v) => v.clone(),
            Data::F32(v) => v.iter().map(|&x| x as i64).collect(),
        }
    }

    /// Decodes an initializer or attribute tensor.
    pub fn from_proto(proto: &TensorProto) -> Result<Tensor, DetectError> {
        let name = &proto.name;
        if proto.data_location == 1 || !proto.external_data.is_empty() {
            return Err(DetectError::InvalidModel(format!(
                "tensor {name:?} keeps its data in an external file; export the model as one \
                 file (onnx.save(model, path, save_as_external_data=False))"
            )));
        }
        let mut shape = Vec::with_capacity(proto.dims.len());
        for &d in &proto.dims {
            shape.push(usize::try_from(d).map_err(|_| {
                DetectError::InvalidModel(format!("tensor {name:?} has a negative dimension {d}"))
            })?);
        }
        let count = shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| DetectError::InvalidModel(format!("tensor {name:?} is too large")))?;
        let raw = &proto.raw_data;
        let data = match proto.data_type {
            dtype::FLOAT => Data::F32(if raw.is_empty() {
                proto.float_data.clone()
            } else {
                le_chunks::<4>(raw).map(f32::from_le_bytes).collect()
            }),
            dtype::DOUBLE => Data::F32(if raw.is_empty() {
                proto.double_data.iter().map(|&x| x as f32).collect()
            } else {
                le_chunks::<8>(raw)
                    .map(|b| f64::from_le_bytes(b) as f32)
                    .collect()
            }),
            dtype::FLOAT16 => Data::F32(if raw.is_empty() {
                proto
                    .int32_data
                    .iter()
                    .map(|&x| f16_to_f32(x as u16))
                    .collect()
            } else {
                le_chunks::<2>(raw)
                    .map(|b| f16_to_f32(u16::from_le_bytes(b)))
                    .collect()
            }),
            dtype::INT64 => Data::I64(if raw.is_empty() {
                proto.int64_data.clone()
            } else {
                le_chunks::<8>(raw).map(i64::from_le_bytes).collect()
            }),
            dtype::INT32 => Data::I64(if raw.is_empty() {
                proto.int32_data.iter().map(|&x| i64::from(x)).collect()
            } else {
                le_chunks::<4>(raw)
                    .map(|b| i64::from(i32::from_le_bytes(b)))
                    .collect()
            }),
            dtype::BOOL | dtype::UINT8 => Data::I64(if raw.is_empty() {
                proto.int32_data.iter().map(|&x| i64::from(x)).collect()
            } else {
                raw.iter().map(|&b| i64::from(b)).collect()
            }),
            dtype::INT8 => Data::I64(if raw.is_empty() {
                proto.int32_data.iter().map(|&x| i64::from(x)).collect()
            } else {
                raw.iter().map(|&b| i64::from(b as i8)).collect()
            }),
            other => {
                return Err(DetectError::InvalidModel(format!(
                    "tensor {name:?} holds {} elements, which the detector does not read",
                    dtype::name(other)
                )));
            }
        };
        let tensor = Tensor { shape, data };
        if tensor.len() != count {
            return Err(DetectError::InvalidModel(format!(
                "tensor {name:?} has {} elements for a shape of {count} (truncated or corrupt)",
                tensor.len()
            )));
        }
        Ok(tensor)
    }
}

/// `bytes` as consecutive `N`-byte arrays (a trailing partial chunk is dropped, which
/// the element count check then reports).
fn le_chunks<const N: usize>(bytes: &[u8]) -> impl Iterator<Item = [u8; N]> + '_ {
    bytes.chunks_exact(N).map(|c| {
        let mut a = [0u8; N];
        a.copy_from_slice(c);
        a
    })
}

/// IEEE half precision bits to f32.
fn f16_to_f32(bits: u16) -> f32 {
    let sign = u32::from(bits >> 15) << 31;
    let exponent = u32::from((bits >> 10) & 0x1f);
    let mantissa = u32::from(bits & 0x3ff);
    let magnitude = match (exponent, mantissa) {
        (0, 0) => 0,
        (0, m) => {
            // Subnormal: normalise the mantissa.
            let shift = m.leading_zeros() - 21;
            ((113 - shift) << 23) | (((m << shift) & 0x3ff) << 13)
        }
        (0x1f, m) => 0x7f80_0000 | (m << 13),
        (e, m) => ((e + 112) << 23) | (m << 13),
    };
    f32::from_bits(sign | magnitude)
}

#[cfg(test)]
mod tests {
    use super::f16_to_f32;

    #[test]
    fn half_precision_values_widen_exactly() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x0200), 2f32.powi(-15));
        assert!(f16_to_f32(0x7e00).is_nan());
        assert_eq!(f16_to_f32(0x7c00), f32::INFINITY);
    }
}
