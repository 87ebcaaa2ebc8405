//! A loaded model: the ONNX graph resolved into numbered value slots and typed
//! operations (every attribute parsed and checked on load, so an operator or form the
//! engine cannot run is refused by name before any image is seen), with each
//! convolution followed by SiLU (`x · σ(x)`, exported as Sigmoid + Mul) fused into one
//! and its constant weights prepared for the direct convolution kernels.

use std::collections::HashMap;
use std::sync::Arc;

use prost::Message;

use crate::error::DetectError;
use crate::ops::Op;
use crate::proto::{GraphProto, ModelProto, NodeProto, ValueInfoProto};
use crate::tensor::Tensor;

/// One operation of the graph, reading and writing value slots.
#[derive(Debug)]
pub(crate) struct Node {
    /// What it computes.
    pub op: Op,
    /// The node's name in the file, for messages.
    pub name: String,
    /// Input slots; `None` for an omitted optional input.
    pub inputs: Vec<Option<usize>>,
    /// Output slots.
    pub outputs: Vec<usize>,
}

/// A dimension of the image input: fixed by the export or left to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dim {
    /// A fixed size.
    Fixed(usize),
    /// A named, dynamic size.
    Dynamic,
}

/// A model ready to run.
#[derive(Debug)]
pub struct Graph {
    pub(crate) nodes: Vec<Node>,
    /// Number of value slots.
    pub(crate) slots: usize,
    /// Slots holding initializers, with their values.
    pub(crate) constants: Vec<(usize, Arc<Tensor>)>,
    /// The image input's slot and its declared `(batch, channels, height, width)`.
    pub(crate) input: usize,
    pub(crate) input_dims: [Dim; 4],
    /// The first output's slot (the detection head).
    pub(crate) output: usize,
    /// The model's metadata (`names`, `imgsz`, `task` …).
    pub metadata: HashMap<String, String>,
}

impl Graph {
    /// Parses and checks an ONNX model file's bytes.
    pub fn parse(bytes: &[u8]) -> Result<Graph, DetectError> {
        let model = ModelProto::decode(bytes)
            .map_err(|e| DetectError::InvalidModel(format!("not ONNX protobuf ({e})")))?;
        let opset = model
            .opset_import
            .iter()
            .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
            .map(|o| o.version)
            .ok_or_else(|| {
                DetectError::InvalidModel("the model imports no standard operator set".into())
            })?;
        let graph = model
            .graph
            .ok_or_else(|| DetectError::InvalidModel("the model has no graph".into()))?;
        let metadata = model
            .metadata_props
            .into_iter()
            .map(|p| (p.key, p.value))
            .collect();
        Builder::new(opset).build(graph, metadata)
    }

    /// The image input's declared dimensions.
    pub fn input_dims(&self) -> [Dim; 4] {
        self.input_dims
    }
}

/// Numbers values and parses nodes.
struct Builder {
    opset: i64,
    slots: HashMap<String, usize>,
}

impl Builder {
    fn new(opset: i64) -> Builder {
        Builder {
            opset,
            slots: HashMap::new(),
        }
    }

    fn slot(&mut self, name: &str) -> usize {
        let next = self.slots.len();
        *self.slots.entry(name.to_string()).or_insert(next)
    }

    fn build(
        mut self,
        graph: GraphProto,
        metadata: HashMap<String, String>,
    ) -> Result<Graph, DetectError> {
        let mut constants = Vec::with_capacity(graph.initializer.len());
        for init in &graph.initializer {
            let tensor = Tensor::from_proto(init)?;
            constants.push((self.slot(&init.name), Arc::new(tensor)));
        }
        let initialized: Vec<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
        let inputs: Vec<&ValueInfoProto> = graph
            .input
            .iter()
            .filter(|i| !initialized.contains(&i.name.as_str()))
            .collect();
        let [image] = inputs.as_slice() else {
            return Err(DetectError::NotADetector(format!(
                "it takes {} inputs; a detector takes one image",
                inputs.len()
            )));
        };
        let input_dims = image_dims(image)?;
        let input = self.slot(&image.name);
        let mut nodes = Vec::with_capacity(graph.node.len());
        for node in &graph.node {
            nodes.push(self.node(node)?);
        }
        let output = graph
            .output
            .first()
            .ok_or_else(|| DetectError::NotADetector("it has no output".into()))?;
        let output = *self.slots.get(&output.name).ok_or_else(|| {
            DetectError::InvalidModel(format!("no node computes the output {:?}", output.name))
        })?;
        let mut graph = Graph {
            nodes,
            slots: self.slots.len(),
            constants,
            input,
            input_dims,
            output,
            metadata,
        };
        check_order(&graph)?;
        fuse_silu(&mut graph);
        prepare_convs(&mut graph);
        Ok(graph)
    }

    fn node(&mut self, node: &NodeProto) -> Result<Node, DetectError> {
        if !(node.domain.is_empty() || node.domain == "ai.onnx") {
            return Err(DetectError::unsupported(
                &format!("{}.{}", node.domain, node.op_type),
                &node.name,
                "custom operator domains are not supported",
            ));
        }
        let op = Op::parse(node, self.opset)?;
        let inputs = node
            .input
            .iter()
            .map(|name| (!name.is_empty()).then(|| self.slot(name)))
            .collect();
        let outputs = node.output.iter().map(|name| self.slot(name)).collect();
        Ok(Node {
            op,
            name: node.name.clone(),
            inputs,
            outputs,
        })
    }
}

/// The image input's `(batch, channels, height, width)`: float, four dimensions, three
/// channels.
fn image_dims(info: &ValueInfoProto) -> Result<[Dim; 4], DetectError> {
    let tensor = info
        .r#type
        .as_ref()
        .and_then(|t| t.tensor_type.as_ref())
        .ok_or_else(|| {
            DetectError::NotADetector(format!("input {:?} is not a tensor", info.name))
        })?;
    if tensor.elem_type != crate::tensor::dtype::FLOAT {
        return Err(DetectError::NotADetector(format!(
            "input {:?} holds {}, not float pixels",
            info.name,
            crate::tensor::dtype::name(tensor.elem_type)
        )));
    }
    let dims: Vec<Dim> = tensor
        .shape
        .as_ref()
        .map(|s| {
            s.dim
                .iter()
                .map(|d| match usize::try_from(d.dim_value) {
                    Ok(v) if v > 0 => Dim::Fixed(v),
                    _ => Dim::Dynamic,
                })
                .collect()
        })
        .unwrap_or_else(|| vec![Dim::Dynamic; 4]);
    let dims: [Dim; 4] = dims.try_into().map_err(|d: Vec<Dim>| {
        DetectError::NotADetector(format!(
            "input {:?} has {} dimensions, not (batch, channels, height, width)",
            info.name,
            d.len()
        ))
    })?;
    if matches!(dims[1], Dim::Fixed(c) if c != 3) {
        return Err(DetectError::NotADetector(format!(
            "input {:?} takes {:?} channels, not 3 (RGB)",
            info.name, dims[1]
        )));
    }
    Ok(dims)
}

/// Every node must read only values computed before it (ONNX requires topological
/// order); a model that breaks this is corrupt.
fn check_order(graph: &Graph) -> Result<(), DetectError> {
    let mut ready = vec![false; graph.slots];
    ready[graph.input] = true;
    for (slot, _) in &graph.constants {
        ready[*slot] = true;
    }
    for node in &graph.nodes {
        if let Some(missing) = node.inputs.iter().flatten().find(|&&s| !ready[s]) {
            let _ = missing;
            return Err(DetectError::InvalidModel(format!(
                "node {:?} reads a value that no earlier node computes",
                node.name
            )));
        }
        for &out in &node.outputs {
            ready[out] = true;
        }
    }
    if !ready[graph.output] {
        return Err(DetectError::InvalidModel(
            "no node computes the graph's output".into(),
        ));
    }
    Ok(())
}

/// Folds `y = x · Sigmoid(x)` after a convolution into the convolution, where nothing
/// else reads `x` or the sigmoid.
fn fuse_silu(graph: &mut Graph) {
    let mut readers = vec![0usize; graph.slots];
    for node in &graph.nodes {
        for &slot in node.inputs.iter().flatten() {
            readers[slot] += 1;
        }
    }
    readers[graph.output] += 1;
    let mut producer: HashMap<usize, usize> = HashMap::new();
    for (i, node) in graph.nodes.iter().enumerate() {
        for &out in &node.outputs {
            producer.insert(out, i);
        }
    }
    let mut removed = vec![false; graph.nodes.len()];
    for m in 0..graph.nodes.len() {
        let Op::Mul = graph.nodes[m].op else { continue };
        let [Some(a), Some(b)] = graph.nodes[m].inputs[..] else {
            continue;
        };
        // Either input order: x · σ(x) or σ(x) · x.
        let found = [(a, b), (b, a)].into_iter().find_map(|(x, s)| {
            let sig = *producer.get(&s)?;
            let conv = *producer.get(&x)?;
            let is_sigmoid = matches!(graph.nodes[sig].op, Op::Sigmoid)
                && graph.nodes[sig].inputs[..] == [Some(x)];
            let is_conv = matches!(&graph.nodes[conv].op, Op::Conv(c) if !c.silu);
            (is_sigmoid && is_conv && readers[x] == 2 && readers[s] == 1).then_some((conv, sig))
        });
        let Some((conv, sig)) = found else { continue };
        let out = graph.nodes[m].outputs[0];
        if let Op::Conv(c) = &mut graph.nodes[conv].op {
            c.silu = true;
        }
        graph.nodes[conv].outputs[0] = out;
        removed[sig] = true;
        removed[m] = true;
    }
    let mut index = 0;
    graph.nodes.retain(|_| {
        let keep = !removed[index];
        index += 1;
        keep
    });
}

/// Prepares each convolution's constant weights for the direct kernels.
fn prepare_convs(graph: &mut Graph) {
    let constants: HashMap<usize, &Arc<Tensor>> =
        graph.constants.iter().map(|(slot, t)| (*slot, t)).collect();
    for node in &mut graph.nodes {
        if let (Op::Conv(c), Some(Some(w))) = (&mut node.op, node.inputs.get(1))
            && let Some(weights) = constants.get(w)
        {
            c.prepare(weights);
        }
    }
}
