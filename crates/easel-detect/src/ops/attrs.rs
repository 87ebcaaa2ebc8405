//! Reading a node's attributes by name, with defaults, for the operator parsers.

use crate::error::DetectError;
use crate::proto::{AttributeProto, NodeProto};
use crate::tensor::Tensor;

/// A node's attributes and its identity, for messages.
pub(crate) struct Attrs<'a> {
    node: &'a NodeProto,
}

impl<'a> Attrs<'a> {
    pub(crate) fn new(node: &'a NodeProto) -> Attrs<'a> {
        Attrs { node }
    }

    fn get(&self, name: &str) -> Option<&'a AttributeProto> {
        self.node.attribute.iter().find(|a| a.name == name)
    }

    /// An integer attribute, or `default`.
    pub(crate) fn int(&self, name: &str, default: i64) -> i64 {
        self.opt_int(name).unwrap_or(default)
    }

    /// An integer attribute, if present.
    pub(crate) fn opt_int(&self, name: &str) -> Option<i64> {
        self.get(name).map(|a| a.i)
    }

    /// An integer attribute that must be present.
    pub(crate) fn required_int(&self, name: &str) -> Result<i64, DetectError> {
        self.opt_int(name).ok_or_else(|| {
            DetectError::InvalidModel(format!(
                "{} node {:?} lacks its {name:?} attribute",
                self.node.op_type, self.node.name
            ))
        })
    }

    /// A float attribute, or `default`.
    pub(crate) fn float(&self, name: &str, default: f32) -> f32 {
        self.get(name).map_or(default, |a| a.f)
    }

    /// An integer list attribute, if present.
    pub(crate) fn ints(&self, name: &str) -> Option<Vec<i64>> {
        self.get(name).map(|a| a.ints.clone())
    }

    /// A string attribute, or `default`.
    pub(crate) fn string(&self, name: &str, default: &str) -> String {
        self.get(name).map_or_else(
            || default.to_string(),
            |a| String::from_utf8_lossy(&a.s).into_owned(),
        )
    }

    /// A tensor attribute, if present.
    pub(crate) fn tensor(&self, name: &str) -> Result<Option<Tensor>, DetectError> {
        self.get(name)
            .and_then(|a| a.t.as_ref())
            .map(Tensor::from_proto)
            .transpose()
    }

    /// A `Constant` node's value, from whichever attribute holds it.
    pub(crate) fn constant(&self) -> Result<Tensor, DetectError> {
        if let Some(t) = self.tensor("value")? {
            return Ok(t);
        }
        if let Some(a) = self.get("value_float") {
            return Ok(Tensor::f32(vec![], vec![a.f]));
        }
        if let Some(a) = self.get("value_floats") {
            return Ok(Tensor::f32(vec![a.floats.len()], a.floats.clone()));
        }
        if let Some(a) = self.get("value_int") {
            return Ok(Tensor::i64(vec![], vec![a.i]));
        }
        if let Some(a) = self.get("value_ints") {
            return Ok(Tensor::i64(vec![a.ints.len()], a.ints.clone()));
        }
        Err(self.unsupported("a constant that is not a number or a tensor"))
    }

    /// The error for an unsupported form of this node's operator.
    pub(crate) fn unsupported(&self, detail: impl Into<String>) -> DetectError {
        DetectError::unsupported(&self.node.op_type, &self.node.name, detail)
    }
}
