//! The part of ONNX's protobuf schema (`onnx.proto`, IR version 3 onwards) a detection
//! model needs, as prost messages. Field numbers are the schema's; fields the detector
//! never reads (documentation, training information, functions) are skipped by the
//! decoder like any unknown field.

use prost::Message;

/// A whole model file.
#[derive(Clone, PartialEq, Message)]
pub struct ModelProto {
    /// The IR version the file was written for.
    #[prost(int64, tag = "1")]
    pub ir_version: i64,
    /// The operator sets (`""`/`ai.onnx` with its version) the graph uses.
    #[prost(message, repeated, tag = "8")]
    pub opset_import: Vec<OperatorSetIdProto>,
    /// The exporter, e.g. `pytorch`.
    #[prost(string, tag = "2")]
    pub producer_name: String,
    /// The computation.
    #[prost(message, optional, tag = "7")]
    pub graph: Option<GraphProto>,
    /// Free-form key/value pairs; Ultralytics writes `names`, `imgsz`, `task` here.
    #[prost(message, repeated, tag = "14")]
    pub metadata_props: Vec<StringStringEntryProto>,
}

/// An operator set and its version.
#[derive(Clone, PartialEq, Message)]
pub struct OperatorSetIdProto {
    /// `""` or `ai.onnx` for the standard operators.
    #[prost(string, tag = "1")]
    pub domain: String,
    /// The operator set's version.
    #[prost(int64, tag = "2")]
    pub version: i64,
}

/// A key/value pair.
#[derive(Clone, PartialEq, Message)]
pub struct StringStringEntryProto {
    /// The key.
    #[prost(string, tag = "1")]
    pub key: String,
    /// The value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// A graph: nodes in topological order, weights, inputs and outputs.
#[derive(Clone, PartialEq, Message)]
pub struct GraphProto {
    /// The nodes, each reading values produced before it.
    #[prost(message, repeated, tag = "1")]
    pub node: Vec<NodeProto>,
    /// Constant tensors (weights), named like values.
    #[prost(message, repeated, tag = "5")]
    pub initializer: Vec<TensorProto>,
    /// The graph's inputs (older exporters list the initializers here too).
    #[prost(message, repeated, tag = "11")]
    pub input: Vec<ValueInfoProto>,
    /// The graph's outputs.
    #[prost(message, repeated, tag = "12")]
    pub output: Vec<ValueInfoProto>,
}

/// One operator application.
#[derive(Clone, PartialEq, Message)]
pub struct NodeProto {
    /// Names of the values read (an empty name is an omitted optional input).
    #[prost(string, repeated, tag = "1")]
    pub input: Vec<String>,
    /// Names of the values written.
    #[prost(string, repeated, tag = "2")]
    pub output: Vec<String>,
    /// The node's name, for messages.
    #[prost(string, tag = "3")]
    pub name: String,
    /// The operator, e.g. `Conv`.
    #[prost(string, tag = "4")]
    pub op_type: String,
    /// The operator's domain; empty for the standard set.
    #[prost(string, tag = "7")]
    pub domain: String,
    /// The operator's attributes.
    #[prost(message, repeated, tag = "5")]
    pub attribute: Vec<AttributeProto>,
}

/// A named attribute of a node.
#[derive(Clone, PartialEq, Message)]
pub struct AttributeProto {
    /// The attribute's name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// A float value.
    #[prost(float, tag = "2")]
    pub f: f32,
    /// An integer value.
    #[prost(int64, tag = "3")]
    pub i: i64,
    /// A string value.
    #[prost(bytes = "vec", tag = "4")]
    pub s: Vec<u8>,
    /// A tensor value (`Constant`, `ConstantOfShape`).
    #[prost(message, optional, tag = "5")]
    pub t: Option<TensorProto>,
    /// A list of floats.
    #[prost(float, repeated, tag = "7")]
    pub floats: Vec<f32>,
    /// A list of integers.
    #[prost(int64, repeated, tag = "8")]
    pub ints: Vec<i64>,
}

/// A tensor's shape, element type and data.
#[derive(Clone, PartialEq, Message)]
pub struct TensorProto {
    /// The shape.
    #[prost(int64, repeated, tag = "1")]
    pub dims: Vec<i64>,
    /// The element type (`DataType`: 1 float, 6 int32, 7 int64, 9 bool, 10 float16 …).
    #[prost(int32, tag = "2")]
    pub data_type: i32,
    /// Float elements, when not in `raw_data`.
    #[prost(float, repeated, tag = "4")]
    pub float_data: Vec<f32>,
    /// int32 (and bool, float16 bits) elements, when not in `raw_data`.
    #[prost(int32, repeated, tag = "5")]
    pub int32_data: Vec<i32>,
    /// int64 elements, when not in `raw_data`.
    #[prost(int64, repeated, tag = "7")]
    pub int64_data: Vec<i64>,
    /// The value's name (initializers).
    #[prost(string, tag = "8")]
    pub name: String,
    /// Elements as little-endian bytes.
    #[prost(bytes = "vec", tag = "9")]
    pub raw_data: Vec<u8>,
    /// Double elements, when not in `raw_data`.
    #[prost(double, repeated, tag = "10")]
    pub double_data: Vec<f64>,
    /// Where the data lives when it is outside the model file.
    #[prost(message, repeated, tag = "13")]
    pub external_data: Vec<StringStringEntryProto>,
    /// 1 when the data is external.
    #[prost(int32, tag = "14")]
    pub data_location: i32,
}

/// A graph input's or output's name and type.
#[derive(Clone, PartialEq, Message)]
pub struct ValueInfoProto {
    /// The value's name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Its type.
    #[prost(message, optional, tag = "2")]
    pub r#type: Option<TypeProto>,
}

/// A value's type; only tensors are read.
#[derive(Clone, PartialEq, Message)]
pub struct TypeProto {
    /// Set for tensors.
    #[prost(message, optional, tag = "1")]
    pub tensor_type: Option<TensorTypeProto>,
}

/// A tensor type: element type and (possibly symbolic) shape.
#[derive(Clone, PartialEq, Message)]
pub struct TensorTypeProto {
    /// The element type.
    #[prost(int32, tag = "1")]
    pub elem_type: i32,
    /// The shape, when known.
    #[prost(message, optional, tag = "2")]
    pub shape: Option<TensorShapeProto>,
}

/// A shape of fixed and named dimensions.
#[derive(Clone, PartialEq, Message)]
pub struct TensorShapeProto {
    /// The dimensions.
    #[prost(message, repeated, tag = "1")]
    pub dim: Vec<DimensionProto>,
}

/// One dimension: a number, or a name such as `batch` or `height`.
#[derive(Clone, PartialEq, Message)]
pub struct DimensionProto {
    /// A fixed size (0 when the dimension is named).
    #[prost(int64, tag = "1")]
    pub dim_value: i64,
    /// A symbolic name.
    #[prost(string, tag = "2")]
    pub dim_param: String,
}
