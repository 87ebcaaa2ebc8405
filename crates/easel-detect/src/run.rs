//! Running a graph. The first run for an input shape also finds the nodes whose results
//! depend on that shape alone (a `dynamic=True` export computes its anchor grid and
//! reshape targets from `Shape` nodes) and keeps those results, so later runs of the
//! same shape compute only what depends on the pixels. Values are dropped after their
//! last reader, which keeps peak memory near the two largest activations.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::error::DetectError;
use crate::graph::Graph;
use crate::ops::{Op, eval};
use crate::tensor::Tensor;

/// How long one node took.
#[derive(Debug, Clone)]
pub struct NodeTime {
    /// The node's name.
    pub node: String,
    /// Its operator, input shapes and first output's shape.
    pub what: String,
    /// Wall time.
    pub seconds: f64,
}

/// What a first run learnt about one input shape.
#[derive(Debug, Default)]
struct Plan {
    /// Values computed from the shape alone, by slot.
    folded: Vec<(usize, Arc<Tensor>)>,
    /// Nodes whose outputs are all folded.
    skip: Vec<bool>,
}

/// A graph with its per-shape plans.
#[derive(Debug)]
pub struct Session {
    graph: Graph,
    /// For each slot, the index of the last node that reads it (`usize::MAX`: never
    /// dropped, the graph's output).
    last_use: Vec<usize>,
    plans: Mutex<HashMap<Vec<usize>, Arc<Plan>>>,
}

/// Inputs whose *values* decide an operator's output shape.
fn shaping_inputs(op: &Op) -> &'static [usize] {
    match op {
        Op::Reshape | Op::Expand | Op::Unsqueeze { .. } | Op::Squeeze { .. } => &[1],
        Op::Split { .. } => &[1],
        Op::Slice { .. } => &[1, 2, 3, 4],
        Op::Resize(_) => &[1, 2, 3],
        Op::Range => &[0, 1, 2],
        Op::ConstantOfShape(_) => &[0],
        _ => &[],
    }
}

impl Session {
    /// Prepares `graph` to run.
    pub fn new(graph: Graph) -> Session {
        let mut last_use = vec![0usize; graph.slots];
        for (i, node) in graph.nodes.iter().enumerate() {
            for &slot in node.inputs.iter().flatten() {
                last_use[slot] = i;
            }
        }
        last_use[graph.output] = usize::MAX;
        Session {
            graph,
            last_use,
            plans: Mutex::new(HashMap::new()),
        }
    }

    /// The graph.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// Runs the graph on `input` and returns its first output.
    pub fn run(&self, input: Tensor) -> Result<Tensor, DetectError> {
        self.run_with(input, None)
    }

    /// [`Session::run`], also timing each node: `(node name, operator, input and output
    /// shapes, seconds)` in execution order (nodes folded for the shape are not listed).
    pub fn run_timed(&self, input: Tensor) -> Result<(Tensor, Vec<NodeTime>), DetectError> {
        let mut times = Vec::new();
        let out = self.run_with(input, Some(&mut times))?;
        Ok((out, times))
    }

    fn run_with(
        &self,
        input: Tensor,
        times: Option<&mut Vec<NodeTime>>,
    ) -> Result<Tensor, DetectError> {
        // On one of rayon's threads (already there if the caller is): every operator's
        // parallel loop then starts on the thread that runs the graph, instead of
        // handing its work to a pool thread that has gone to sleep during the operator
        // before — at one thread, that wake-up cost more than many small operators.
        rayon::scope(|_| self.run_here(input, times))
    }

    fn run_here(
        &self,
        input: Tensor,
        times: Option<&mut Vec<NodeTime>>,
    ) -> Result<Tensor, DetectError> {
        let known = self
            .plans
            .lock()
            .map_err(|_| DetectError::run("a previous run panicked"))?
            .get(&input.shape)
            .cloned();
        let shape = input.shape.clone();
        match known {
            Some(plan) => self.execute(input, &plan, None, times),
            None => {
                let mut plan = Plan::default();
                let out = self.execute(input, &Plan::default(), Some(&mut plan), times)?;
                if let Ok(mut plans) = self.plans.lock() {
                    plans.insert(shape, Arc::new(plan));
                }
                Ok(out)
            }
        }
    }

    /// One run; `learn` collects the shape-only values when given.
    fn execute(
        &self,
        input: Tensor,
        plan: &Plan,
        mut learn: Option<&mut Plan>,
        mut times: Option<&mut Vec<NodeTime>>,
    ) -> Result<Tensor, DetectError> {
        let g = &self.graph;
        let mut values: Vec<Option<Arc<Tensor>>> = vec![None; g.slots];
        for (slot, value) in g.constants.iter().chain(&plan.folded) {
            values[*slot] = Some(value.clone());
        }
        values[g.input] = Some(Arc::new(input));
        // While learning: which values are fixed by the shape, and which shapes are.
        let mut fixed = vec![false; g.slots];
        let mut shape_fixed = vec![false; g.slots];
        if learn.is_some() {
            for (slot, _) in &g.constants {
                fixed[*slot] = true;
                shape_fixed[*slot] = true;
            }
            shape_fixed[g.input] = true;
        }
        let mut skip = vec![false; g.nodes.len()];
        for (i, node) in g.nodes.iter().enumerate() {
            if plan.skip.get(i).copied().unwrap_or(false) {
                continue;
            }
            let inputs: Vec<Option<&Tensor>> = node
                .inputs
                .iter()
                .map(|s| s.and_then(|s| values[s].as_deref()))
                .collect();
            if node
                .inputs
                .iter()
                .zip(&inputs)
                .any(|(s, v)| s.is_some() && v.is_none())
            {
                return Err(DetectError::run(format!(
                    "node {:?} reads a value that was not computed",
                    node.name
                )));
            }
            let started = times.is_some().then(Instant::now);
            let outputs = eval(&node.op, &inputs).map_err(|e| match e {
                DetectError::Run(m) => DetectError::Run(format!("node {:?}: {m}", node.name)),
                other => other,
            })?;
            if let (Some(times), Some(started)) = (times.as_deref_mut(), started) {
                let shapes: Vec<String> = inputs
                    .iter()
                    .map(|t| t.map_or("-".into(), |t| format!("{:?}", t.shape)))
                    .collect();
                let first_out = outputs
                    .first()
                    .map_or("-".into(), |t| format!("{:?}", t.shape));
                times.push(NodeTime {
                    node: node.name.clone(),
                    what: format!("{} {} -> {first_out}", node.op.name(), shapes.join(" ")),
                    seconds: started.elapsed().as_secs_f64(),
                });
            }
            if learn.is_some() {
                let all_fixed = node.inputs.iter().flatten().all(|&s| fixed[s]);
                let shaped = node.inputs.iter().flatten().all(|&s| shape_fixed[s])
                    && shaping_inputs(&node.op).iter().all(|&k| {
                        node.inputs
                            .get(k)
                            .copied()
                            .flatten()
                            .is_none_or(|s| fixed[s])
                    });
                let value_fixed = all_fixed || (matches!(node.op, Op::Shape { .. }) && shaped);
                for &out in &node.outputs {
                    fixed[out] = value_fixed;
                    shape_fixed[out] = shaped || value_fixed;
                }
                skip[i] = value_fixed;
            }
            for (&slot, value) in node.outputs.iter().zip(outputs) {
                values[slot] = Some(Arc::new(value));
            }
            if let Some(plan) = learn.as_deref_mut()
                && skip[i]
            {
                for &slot in &node.outputs {
                    if let Some(v) = &values[slot] {
                        plan.folded.push((slot, v.clone()));
                    }
                }
            }
            for &slot in node.inputs.iter().flatten() {
                if self.last_use[slot] == i {
                    values[slot] = None;
                }
            }
        }
        if let Some(plan) = learn {
            plan.skip = skip;
        }
        values[g.output]
            .take()
            .map(|v| Arc::try_unwrap(v).unwrap_or_else(|shared| (*shared).clone()))
            .ok_or_else(|| DetectError::run("the graph's output was not computed"))
    }
}
