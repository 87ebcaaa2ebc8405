//! The operators the detector runs, parsed from ONNX nodes into typed forms. The set
//! covers what Ultralytics' YOLOv8 and YOLO11 exports use (opsets 11 to 21), the
//! dynamic-shape subgraphs of `dynamic=True` exports included; anything else is refused
//! on load with the operator's name.

mod attrs;
mod conv;
mod elementwise;
mod layout;
mod matmul;

use crate::error::DetectError;
use crate::proto::NodeProto;
use crate::tensor::Tensor;
use attrs::Attrs;

pub(crate) use conv::{ConvAttrs, PoolAttrs};
pub(crate) use elementwise::{Binary, Unary};
pub(crate) use layout::ResizeAttrs;

/// One operator with its attributes.
#[derive(Debug)]
pub(crate) enum Op {
    Conv(ConvAttrs),
    MaxPool(PoolAttrs),
    Resize(ResizeAttrs),
    Binary(Binary),
    /// Kept apart from [`Binary`] so SiLU fusion can find it.
    Mul,
    Sigmoid,
    Unary(Unary),
    Softmax {
        axis: i64,
        legacy: bool,
    },
    MatMul,
    Concat {
        axis: i64,
    },
    Split {
        axis: i64,
        sizes: Option<Vec<i64>>,
        parts: usize,
    },
    /// Opset < 10 keeps starts/ends/axes in attributes.
    Slice {
        legacy: Option<[Vec<i64>; 3]>,
    },
    Reshape,
    Transpose {
        perm: Option<Vec<i64>>,
    },
    Unsqueeze {
        axes: Option<Vec<i64>>,
    },
    Squeeze {
        axes: Option<Vec<i64>>,
    },
    Flatten {
        axis: i64,
    },
    Expand,
    Shape {
        start: i64,
        end: Option<i64>,
    },
    Gather {
        axis: i64,
    },
    Cast {
        to_float: bool,
        to_bool: bool,
    },
    Range,
    ConstantOfShape(Tensor),
    Constant(Tensor),
    Identity,
}

impl Op {
    /// Parses a standard-domain node for operator set `opset`.
    pub(crate) fn parse(node: &NodeProto, opset: i64) -> Result<Op, DetectError> {
        let a = Attrs::new(node);
        let op = match node.op_type.as_str() {
            "Conv" => Op::Conv(ConvAttrs::parse(&a)?),
            "MaxPool" => Op::MaxPool(PoolAttrs::parse(&a)?),
            "Resize" | "Upsample" => Op::Resize(ResizeAttrs::parse(&a, opset)?),
            "Add" => Op::Binary(Binary::Add),
            "Sub" => Op::Binary(Binary::Sub),
            "Div" => Op::Binary(Binary::Div),
            "Pow" => Op::Binary(Binary::Pow),
            "Max" if node.input.len() == 2 => Op::Binary(Binary::Max),
            "Min" if node.input.len() == 2 => Op::Binary(Binary::Min),
            "Mul" => Op::Mul,
            "Sigmoid" => Op::Sigmoid,
            "Relu" => Op::Unary(Unary::Relu),
            "LeakyRelu" => Op::Unary(Unary::LeakyRelu(a.float("alpha", 0.01))),
            "HardSigmoid" => Op::Unary(Unary::HardSigmoid(
                a.float("alpha", 0.2),
                a.float("beta", 0.5),
            )),
            "HardSwish" => Op::Unary(Unary::HardSwish),
            "Tanh" => Op::Unary(Unary::Tanh),
            "Exp" => Op::Unary(Unary::Exp),
            "Sqrt" => Op::Unary(Unary::Sqrt),
            "Neg" => Op::Unary(Unary::Neg),
            "Clip" if opset < 11 => Op::Unary(Unary::Clip(
                Some(a.float("min", f32::MIN)),
                Some(a.float("max", f32::MAX)),
            )),
            "Clip" => Op::Unary(Unary::Clip(None, None)),
            "Softmax" => Op::Softmax {
                axis: a.int("axis", if opset < 13 { 1 } else { -1 }),
                legacy: opset < 13,
            },
            "MatMul" => Op::MatMul,
            "Concat" => Op::Concat {
                axis: a.required_int("axis")?,
            },
            "Split" => Op::Split {
                axis: a.int("axis", 0),
                sizes: a.ints("split"),
                parts: node.output.len(),
            },
            "Slice" if opset < 10 => Op::Slice {
                legacy: Some([
                    a.ints("starts").unwrap_or_default(),
                    a.ints("ends").unwrap_or_default(),
                    a.ints("axes").unwrap_or_default(),
                ]),
            },
            "Slice" => Op::Slice { legacy: None },
            "Reshape" => Op::Reshape,
            "Transpose" => Op::Transpose {
                perm: a.ints("perm"),
            },
            "Unsqueeze" => Op::Unsqueeze {
                axes: a.ints("axes"),
            },
            "Squeeze" => Op::Squeeze {
                axes: a.ints("axes"),
            },
            "Flatten" => Op::Flatten {
                axis: a.int("axis", 1),
            },
            "Expand" => Op::Expand,
            "Shape" => Op::Shape {
                start: a.int("start", 0),
                end: a.opt_int("end"),
            },
            "Gather" => Op::Gather {
                axis: a.int("axis", 0),
            },
            "Cast" => {
                use crate::tensor::dtype;
                let to = a.required_int("to")? as i32;
                if ![
                    dtype::FLOAT,
                    dtype::DOUBLE,
                    dtype::FLOAT16,
                    dtype::INT64,
                    dtype::INT32,
                    dtype::BOOL,
                    dtype::INT8,
                    dtype::UINT8,
                ]
                .contains(&to)
                {
                    return Err(a.unsupported(format!("casting to {}", dtype::name(to))));
                }
                Op::Cast {
                    to_float: matches!(to, dtype::FLOAT | dtype::DOUBLE | dtype::FLOAT16),
                    to_bool: to == dtype::BOOL,
                }
            }
            "Range" => Op::Range,
            "ConstantOfShape" => Op::ConstantOfShape(
                a.tensor("value")?
                    .unwrap_or_else(|| Tensor::f32(vec![1], vec![0.0])),
            ),
            "Constant" => Op::Constant(a.constant()?),
            "Identity" | "Dropout" => Op::Identity,
            other => return Err(DetectError::unsupported(other, &node.name, "")),
        };
        Ok(op)
    }
}

impl Op {
    /// The operator's name (with its fused activation).
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Op::Conv(c) if c.silu => "Conv+SiLU",
            Op::Conv(_) => "Conv",
            Op::MaxPool(_) => "MaxPool",
            Op::Resize(_) => "Resize",
            Op::Binary(_) => "Binary",
            Op::Mul => "Mul",
            Op::Sigmoid => "Sigmoid",
            Op::Unary(_) => "Unary",
            Op::Softmax { .. } => "Softmax",
            Op::MatMul => "MatMul",
            Op::Concat { .. } => "Concat",
            Op::Split { .. } => "Split",
            Op::Slice { .. } => "Slice",
            Op::Reshape => "Reshape",
            Op::Transpose { .. } => "Transpose",
            Op::Unsqueeze { .. } => "Unsqueeze",
            Op::Squeeze { .. } => "Squeeze",
            Op::Flatten { .. } => "Flatten",
            Op::Expand => "Expand",
            Op::Shape { .. } => "Shape",
            Op::Gather { .. } => "Gather",
            Op::Cast { .. } => "Cast",
            Op::Range => "Range",
            Op::ConstantOfShape(_) => "ConstantOfShape",
            Op::Constant(_) => "Constant",
            Op::Identity => "Identity",
        }
    }
}

/// Runs `op` on its inputs (`None` for omitted optional ones).
pub(crate) fn eval(op: &Op, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, DetectError> {
    let one = |t: Tensor| Ok(vec![t]);
    let input = |i: usize| -> Result<&Tensor, DetectError> {
        inputs
            .get(i)
            .copied()
            .flatten()
            .ok_or_else(|| DetectError::run(format!("input {i} is missing")))
    };
    let optional = |i: usize| inputs.get(i).copied().flatten();
    match op {
        Op::Conv(attrs) => one(conv::conv(attrs, input(0)?, input(1)?, optional(2))?),
        Op::MaxPool(attrs) => one(conv::max_pool(attrs, input(0)?)?),
        Op::Resize(attrs) => one(layout::resize(attrs, inputs)?),
        Op::Binary(b) => one(elementwise::binary(*b, input(0)?, input(1)?)?),
        Op::Mul => one(elementwise::binary(Binary::Mul, input(0)?, input(1)?)?),
        Op::Sigmoid => one(elementwise::sigmoid(input(0)?)?),
        Op::Unary(Unary::Clip(None, None)) => {
            let bound = |i: usize| optional(i).map(|t| t.ints_or_floats());
            one(elementwise::unary(
                Unary::Clip(bound(1), bound(2)),
                input(0)?,
            )?)
        }
        Op::Unary(u) => one(elementwise::unary(*u, input(0)?)?),
        Op::Softmax { axis, legacy } => one(elementwise::softmax(input(0)?, *axis, *legacy)?),
        Op::MatMul => one(matmul::matmul(input(0)?, input(1)?)?),
        Op::Concat { axis } => {
            let parts: Vec<&Tensor> = inputs.iter().flatten().copied().collect();
            one(layout::concat(&parts, *axis)?)
        }
        Op::Split { axis, sizes, parts } => {
            let sizes = match (sizes, optional(1)) {
                (_, Some(t)) => Some(t.ints()),
                (Some(s), None) => Some(s.clone()),
                (None, None) => None,
            };
            layout::split(input(0)?, *axis, sizes, *parts)
        }
        Op::Slice { legacy } => one(layout::slice(input(0)?, legacy.as_ref(), inputs)?),
        Op::Reshape => one(layout::reshape(input(0)?, &input(1)?.ints())?),
        Op::Transpose { perm } => one(layout::transpose(input(0)?, perm.as_deref())?),
        Op::Unsqueeze { axes } => {
            let axes = axes.clone().or_else(|| optional(1).map(Tensor::ints));
            one(layout::unsqueeze(input(0)?, &axes.unwrap_or_default())?)
        }
        Op::Squeeze { axes } => {
            let axes = axes.clone().or_else(|| optional(1).map(Tensor::ints));
            one(layout::squeeze(input(0)?, axes.as_deref())?)
        }
        Op::Flatten { axis } => one(layout::flatten(input(0)?, *axis)?),
        Op::Expand => one(layout::expand(input(0)?, &input(1)?.ints())?),
        Op::Shape { start, end } => one(layout::shape_of(input(0)?, *start, *end)),
        Op::Gather { axis } => one(layout::gather(input(0)?, input(1)?, *axis)?),
        Op::Cast { to_float, to_bool } => one(layout::cast(input(0)?, *to_float, *to_bool)),
        Op::Range => one(layout::range(input(0)?, input(1)?, input(2)?)?),
        Op::ConstantOfShape(value) => one(layout::constant_of_shape(value, &input(0)?.ints())?),
        Op::Constant(value) => one(value.clone()),
        Op::Identity => one(input(0)?.clone()),
    }
}

impl Tensor {
    /// The first element as f32 (a `Clip` bound may be either type).
    fn ints_or_floats(&self) -> f32 {
        match &self.data {
            crate::tensor::Data::F32(v) => v.first().copied().unwrap_or(0.0),
            crate::tensor::Data::I64(v) => v.first().copied().unwrap_or(0) as f32,
        }
    }
}
