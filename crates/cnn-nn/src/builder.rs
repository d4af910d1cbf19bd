//! [`GraphBuilder`]: graph models (Keras's functional API) written in code.

use std::collections::{HashMap, HashSet};

use crate::spec::{LayerSpec, ModelSpec};

/// A value in a model under construction: the model input or a layer's output, by name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Node(String);

impl Node {
    /// The name layers use to read this value.
    pub fn name(&self) -> &str {
        &self.0
    }
}

/// Builds a graph model the way Keras's functional API does: each layer is applied to the
/// values it reads and gives a new value; several layers may read one value.
///
/// ```
/// use cnn_nn::{Architecture, GraphBuilder, layers::Add, spec::layers::*};
/// let mut b = GraphBuilder::new("residual", [8, 8, 3]);
/// let x = b.input();
/// let h = b.apply(conv2d(4, 3, "relu").same(), &[&x]);
/// let y = b.apply(conv2d(4, 3, "linear").same(), &[&h]);
/// let s = b.apply(Add {}, &[&h, &y]);
/// let out = b.chain(&s, [global_avg_pool(), dense(2, "softmax")]);
/// let arch = Architecture::from_spec(&b.build(&[&out])).unwrap();
/// assert_eq!(arch.layers[2].name, "add");
/// assert!(!arch.is_sequential());
/// ```
#[derive(Clone, Debug)]
pub struct GraphBuilder {
    spec: ModelSpec,
    counters: HashMap<&'static str, usize>,
    taken: HashSet<String>,
}

impl GraphBuilder {
    /// A model called `name` taking inputs of `input_shape` (without the batch dimension).
    pub fn new(name: impl Into<String>, input_shape: impl Into<Vec<usize>>) -> Self {
        GraphBuilder {
            spec: ModelSpec::new(name, input_shape),
            counters: HashMap::new(),
            taken: HashSet::new(),
        }
    }

    /// The model input.
    pub fn input(&self) -> Node {
        Node(self.spec.input_name.clone())
    }

    /// Applies `layer` to `inputs` and returns its output. A layer without a name gets the
    /// next automatic one of its kind (`conv2d`, `conv2d_1`, ...), as Keras names them.
    pub fn apply(&mut self, layer: impl Into<LayerSpec>, inputs: &[&Node]) -> Node {
        let mut layer = layer.into();
        let name = match layer.name() {
            Some(n) => n.to_string(),
            None => loop {
                let prefix = layer.auto_prefix();
                let c = self.counters.entry(prefix).or_insert(0);
                let n = if *c == 0 {
                    prefix.to_string()
                } else {
                    format!("{prefix}_{c}")
                };
                *c += 1;
                if !self.taken.contains(&n) && n != self.spec.input_name {
                    break n;
                }
            },
        };
        self.taken.insert(name.clone());
        layer.name = Some(name.clone());
        layer.inputs = Some(inputs.iter().map(|n| n.0.clone()).collect());
        self.spec.layers.push(layer);
        Node(name)
    }

    /// Applies `layers` one after the other, starting from `x`, and returns the last output.
    pub fn chain(&mut self, x: &Node, layers: impl IntoIterator<Item = LayerSpec>) -> Node {
        layers
            .into_iter()
            .fold(x.clone(), |h, l| self.apply(l, &[&h]))
    }

    /// The finished spec with `outputs` as the model's outputs (checked when the spec is
    /// resolved by [`crate::Architecture::from_spec`]).
    pub fn build(mut self, outputs: &[&Node]) -> ModelSpec {
        self.spec.outputs = outputs.iter().map(|n| n.0.clone()).collect();
        self.spec
    }
}
