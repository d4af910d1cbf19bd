//! A model spec resolved into layers with names, connections, output shapes, parameter shapes
//! and costs — without allocating any weights (so a 138M-parameter VGG summary is instant).
//!
//! **Connections**: a layer reads the model input or layers listed before it, by name; a layer
//! without `inputs` reads the layer before it (the first one the input), so a spec without
//! `inputs` is a Sequential chain.
//!
//! **Automatic names** follow tf.keras 2.x: the first layer of a kind is `conv2d`, the next
//! `conv2d_1`, then `conv2d_2`, counted per model. (Standalone Keras 2.2, used in Chollet's first
//! edition, started at `conv2d_1`.) Explicit names must be unique.

use std::collections::HashMap;

use cnn_tensor::Initializer;

use crate::error::{NnError, Result};
use crate::layers::{Build, LayerConfig, shape_str};
use crate::spec::{LayerSpec, ModelSpec};

/// Largest number of parameters a model may have (2^31, 8 GiB of `f32`).
pub const MAX_PARAMS: u64 = 1 << 31;
/// Largest number of activation values per sample for any layer output (2^28).
pub const MAX_ACTIVATIONS: u64 = 1 << 28;
/// Largest size of one input dimension (2^20), from a flag, a JSON spec or a model file.
pub const MAX_DIM: usize = cnn_ops::MAX_WINDOW_DIM;

/// One weight tensor of a layer.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamSpec {
    /// Full name, `layer/kernel`.
    pub name: String,
    /// Shape.
    pub shape: Vec<usize>,
    /// Initialiser.
    pub init: Initializer,
    /// Trainable (false for batch-norm moving statistics).
    pub trainable: bool,
}

/// Where a layer's input comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The model input.
    Input,
    /// The output of the layer at this index.
    Layer(usize),
}

/// A layer resolved against its input shapes.
#[derive(Clone, Debug, PartialEq)]
pub struct Layer {
    /// Unique name.
    pub name: String,
    /// The spec it came from, with the resolved name filled in and without `inputs` (the
    /// connections are in [`Layer::inputs`]).
    pub spec: LayerSpec,
    /// What it reads, in order.
    pub inputs: Vec<Source>,
    /// Its input shapes without the batch dimension, in the order of `inputs`.
    pub input_shapes: Vec<Vec<usize>>,
    /// Output shape without the batch dimension.
    pub output_shape: Vec<usize>,
    /// Its weights (trainable first, then non-trainable).
    pub params: Vec<ParamSpec>,
    /// Multiply-adds per sample in the forward pass.
    pub macs: u64,
}

impl Layer {
    /// What the layer is (its configuration).
    pub fn config(&self) -> &LayerConfig {
        &self.spec.config
    }

    /// Whether training may change the layer (see [`LayerSpec::trainable`]).
    pub fn is_trainable(&self) -> bool {
        self.spec.trainable
    }

    /// Trainable parameter count (none for a frozen layer, as Keras counts).
    pub fn trainable_params(&self) -> u64 {
        self.params
            .iter()
            .filter(|p| p.trainable && self.spec.trainable)
            .map(|p| p.shape.iter().product::<usize>() as u64)
            .sum()
    }

    /// All parameters, trainable or not.
    pub fn total_params(&self) -> u64 {
        self.params
            .iter()
            .map(|p| p.shape.iter().product::<usize>() as u64)
            .sum()
    }

    /// Output values per sample.
    pub fn output_len(&self) -> u64 {
        self.output_shape.iter().map(|&d| d as u64).product()
    }
}

/// A resolved architecture: a Sequential chain or a graph of layers.
#[derive(Clone, Debug, PartialEq)]
pub struct Architecture {
    /// The model's name.
    pub name: String,
    /// Input shape without the batch dimension.
    pub input_shape: Vec<usize>,
    /// The name layers use to read the input.
    pub input_name: String,
    /// The layers, each after every layer it reads.
    pub layers: Vec<Layer>,
    /// The output layers' indices (one or more).
    pub outputs: Vec<usize>,
}

/// Assigns every layer its name: the explicit one, or the next free automatic name of its kind
/// (`conv2d`, `conv2d_1`, ...), with errors for duplicates.
fn names(spec: &ModelSpec) -> Result<Vec<String>> {
    let model_err = |message: String| NnError::Model {
        model: spec.name.clone(),
        message,
    };
    let mut counters: HashMap<&str, usize> = HashMap::new();
    let mut taken: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::with_capacity(spec.layers.len());
    for (i, ls) in spec.layers.iter().enumerate() {
        let name = match ls.name() {
            Some(n) => n.to_string(),
            None => loop {
                let prefix = ls.auto_prefix();
                let c = counters.entry(prefix).or_insert(0);
                let n = if *c == 0 {
                    prefix.to_string()
                } else {
                    format!("{prefix}_{c}")
                };
                *c += 1;
                if !taken.contains_key(&n) && n != spec.input_name {
                    break n;
                }
            },
        };
        if name == spec.input_name {
            return Err(model_err(format!(
                "layer {} is named `{name}`, the name of the model input",
                i + 1
            )));
        }
        if let Some(j) = taken.insert(name.clone(), i) {
            return Err(model_err(format!(
                "layers {} and {} are both named `{name}`",
                j + 1,
                i + 1
            )));
        }
        out.push(name);
    }
    Ok(out)
}

impl Architecture {
    /// Resolves a spec: names every layer, connects it, infers every output shape, and checks
    /// that the model can run, with errors that name the layer and the shapes.
    pub fn from_spec(spec: &ModelSpec) -> Result<Self> {
        let model_err = |message: String| NnError::Model {
            model: spec.name.clone(),
            message,
        };
        if spec.input_shape.is_empty() || spec.input_shape.contains(&0) {
            return Err(model_err(format!(
                "input shape {:?} must have positive dimensions",
                spec.input_shape
            )));
        }
        if let Some(d) = spec.input_shape.iter().find(|&&d| d > MAX_DIM) {
            return Err(model_err(format!(
                "input dimension {d} is over the limit of {MAX_DIM} (input shape {:?})",
                spec.input_shape
            )));
        }
        let in_len = spec
            .input_shape
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d as u64));
        if in_len.is_none_or(|n| n > MAX_ACTIVATIONS) {
            return Err(model_err(format!(
                "input shape {:?} is too large (limit {MAX_ACTIVATIONS} values per sample)",
                spec.input_shape
            )));
        }
        if spec.layers.is_empty() {
            return Err(model_err("has no layers".into()));
        }
        let names = names(spec)?;
        let index: HashMap<&str, usize> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i))
            .collect();
        let mut layers: Vec<Layer> = Vec::with_capacity(spec.layers.len());
        let mut total_params = 0u64;
        for (i, (ls, name)) in spec.layers.iter().zip(&names).enumerate() {
            let class = ls.class_name();
            let err = |message: String| NnError::Layer {
                layer: name.clone(),
                class,
                message,
            };
            let inputs: Vec<Source> = match &ls.inputs {
                None if i == 0 => vec![Source::Input],
                None => vec![Source::Layer(i - 1)],
                Some(list) => list
                    .iter()
                    .map(|n| match index.get(n.as_str()) {
                        _ if *n == spec.input_name => Ok(Source::Input),
                        Some(&j) if j < i => Ok(Source::Layer(j)),
                        Some(_) => Err(err(format!(
                            "reads `{n}`, which is not listed before it (list each layer after \
                             the layers it reads)"
                        ))),
                        None => Err(err(format!(
                            "reads `{n}`, which is neither a layer of the model nor its input \
                             `{}`",
                            spec.input_name
                        ))),
                    })
                    .collect::<Result<_>>()?,
            };
            let (min, max) = ls.config.arity();
            if inputs.len() < min || inputs.len() > max {
                let want = if min == max {
                    format!("{min} input{}", if min == 1 { "" } else { "s" })
                } else {
                    format!("at least {min} inputs")
                };
                return Err(err(format!("needs {want}, got {}", inputs.len())));
            }
            let input_shapes: Vec<Vec<usize>> = inputs
                .iter()
                .map(|s| match *s {
                    Source::Input => spec.input_shape.clone(),
                    Source::Layer(j) => layers[j].output_shape.clone(),
                })
                .collect();
            let built = ls.config.build(&Build {
                name,
                class,
                inputs: &input_shapes,
            })?;
            let layer = Layer {
                name: name.clone(),
                spec: LayerSpec {
                    name: Some(name.clone()),
                    inputs: None,
                    config: ls.config.clone(),
                    trainable: ls.trainable,
                },
                inputs,
                input_shapes,
                output_shape: built.output_shape,
                params: built.params,
                macs: built.macs,
            };
            let out_len = layer
                .output_shape
                .iter()
                .try_fold(1u64, |a, &d| a.checked_mul(d as u64))
                .unwrap_or(u64::MAX);
            if out_len == 0 || out_len > MAX_ACTIVATIONS {
                return Err(err(format!(
                    "output {} has {out_len} values per sample (limit {MAX_ACTIVATIONS})",
                    shape_str(&layer.output_shape)
                )));
            }
            total_params = total_params.saturating_add(layer.total_params());
            if total_params > MAX_PARAMS {
                return Err(err(format!(
                    "the model reaches {total_params} parameters here, over the limit of {MAX_PARAMS}"
                )));
            }
            layers.push(layer);
        }
        let outputs: Vec<usize> = if spec.outputs.is_empty() {
            vec![layers.len() - 1]
        } else {
            spec.outputs
                .iter()
                .map(|n| {
                    index.get(n.as_str()).copied().ok_or_else(|| {
                        model_err(format!("output `{n}` is not a layer of the model"))
                    })
                })
                .collect::<Result<_>>()?
        };
        let arch = Architecture {
            name: spec.name.clone(),
            input_shape: spec.input_shape.clone(),
            input_name: spec.input_name.clone(),
            layers,
            outputs,
        };
        let readers = arch.readers();
        if let Some(i) =
            (0..arch.layers.len()).find(|&i| readers[i] == 0 && !arch.outputs.contains(&i))
        {
            return Err(model_err(format!(
                "the output of layer `{}` is never used: no layer reads it and it is not an \
                 output of the model",
                arch.layers[i].name
            )));
        }
        Ok(arch)
    }

    /// How many layers read each layer's output.
    pub fn readers(&self) -> Vec<usize> {
        let mut n = vec![0; self.layers.len()];
        for l in &self.layers {
            for s in &l.inputs {
                if let Source::Layer(j) = *s {
                    n[j] += 1;
                }
            }
        }
        n
    }

    /// Whether layer `i`'s output is read by layer `i + 1` alone (which reads nothing else) and
    /// is not a model output — so the two may be computed as one. `readers` is
    /// [`Architecture::readers`].
    pub(crate) fn only_next_reads(&self, readers: &[usize], i: usize) -> bool {
        readers.get(i) == Some(&1)
            && !self.outputs.contains(&i)
            && self
                .layers
                .get(i + 1)
                .is_some_and(|n| n.inputs == [Source::Layer(i)])
    }

    /// Whether the model is a plain chain: each layer reads the one before it (the first one
    /// the input), and the last layer is the only output.
    pub fn is_sequential(&self) -> bool {
        self.outputs == [self.layers.len() - 1]
            && self.layers.iter().enumerate().all(|(i, l)| {
                l.inputs
                    == [if i == 0 {
                        Source::Input
                    } else {
                        Source::Layer(i - 1)
                    }]
            })
    }

    /// The name of what `s` refers to.
    pub fn source_name(&self, s: Source) -> &str {
        match s {
            Source::Input => &self.input_name,
            Source::Layer(j) => &self.layers[j].name,
        }
    }

    /// The spec with every layer's resolved name written in (what a saved model stores). A
    /// Sequential model's spec has no `inputs`; a graph's names every connection.
    pub fn to_spec(&self) -> ModelSpec {
        let sequential = self.is_sequential();
        ModelSpec {
            name: self.name.clone(),
            input_shape: self.input_shape.clone(),
            input_name: self.input_name.clone(),
            layers: self
                .layers
                .iter()
                .map(|l| LayerSpec {
                    inputs: (!sequential).then(|| {
                        l.inputs
                            .iter()
                            .map(|&s| self.source_name(s).to_string())
                            .collect()
                    }),
                    ..l.spec.clone()
                })
                .collect(),
            outputs: if sequential {
                Vec::new()
            } else {
                self.outputs
                    .iter()
                    .map(|&i| self.layers[i].name.clone())
                    .collect()
            },
        }
    }

    /// Output shape of the model's (first) output without the batch dimension.
    pub fn output_shape(&self) -> &[usize] {
        &self.layers[self.outputs[0]].output_shape
    }

    /// Every parameter, in layer order.
    pub fn params(&self) -> impl Iterator<Item = &ParamSpec> {
        self.layers.iter().flat_map(|l| l.params.iter())
    }

    /// `(total, trainable, non-trainable)` parameter counts.
    pub fn param_counts(&self) -> (u64, u64, u64) {
        let total: u64 = self.layers.iter().map(Layer::total_params).sum();
        let trainable: u64 = self.layers.iter().map(Layer::trainable_params).sum();
        (total, trainable, total - trainable)
    }

    /// The index of the layer called `name`.
    pub fn layer_index(&self, name: &str) -> Option<usize> {
        self.layers.iter().position(|l| l.name == name)
    }
}
