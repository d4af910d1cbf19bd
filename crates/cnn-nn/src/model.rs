//! A model: an [`Architecture`] with its weights, run through the autograd [`Graph`].

use std::ops::Range;

use cnn_ops::{Graph, Var};
use cnn_tensor::{Tensor, seeded_rng};
use rayon::prelude::*;

use crate::arch::{Architecture, Source};
use crate::error::{NnError, Result};
use crate::fold::{self, Folds};
use crate::layers::{ActivationKind, Cx, Fold, LayerConfig};
use crate::spec::{ModelSpec, PaddingSpec};

/// Where a layer's weights live in the model's parameter and state vectors.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Slots {
    params: Range<usize>,
    state: Range<usize>,
}

/// A model (a Sequential chain or a graph of layers) with its weights. Trainable weights (`params`) and non-trainable state
/// (batch-norm moving statistics) are kept apart so a forward pass can borrow the first while
/// updating the second.
#[derive(Clone, Debug)]
pub struct Model {
    arch: Architecture,
    slots: Vec<Slots>,
    params: Vec<Tensor>,
    param_names: Vec<String>,
    state: Vec<Tensor>,
    state_names: Vec<String>,
    /// The batch norms folded into their convolutions for [`Model::predict`], made on first
    /// use and dropped whenever a weight may change.
    folds: Option<Folds>,
}

/// How to run a forward pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ForwardMode {
    /// Training behaviour: dropout active, batch statistics for batch norm (and updates of the
    /// moving statistics).
    pub training: bool,
    /// Leave a final softmax out so a fused cross-entropy can take the logits.
    pub logits: bool,
    /// Seed for this pass's dropout masks.
    pub seed: u64,
    /// Fuse where the results stay the same, for speed: a convolution's ReLU is applied in
    /// place to its output ([`cnn_ops::Graph::conv2d_relu`]: one tensor instead of two), or,
    /// when a max pool follows directly, the convolution and the pool are one operation
    /// ([`cnn_ops::Graph::conv2d_max_pool`]: for 2x2 pools after Winograd convolutions the
    /// convolution's output is never stored) with the ReLU after the pool (max and ReLU
    /// commute, and the ReLU runs on a quarter of the data); a zero padding read only by a
    /// `valid` convolution is left to it (the convolution pads its input itself).
    /// Outputs are bit-identical either way, and so are gradients but for rounding through a
    /// padding left to a Winograd convolution (its input gradient's tiles start elsewhere);
    /// those convolutions' and paddings' entries in
    /// [`Forward::layer_outputs`] and [`Forward::pre_activations`] are not what the names say
    /// (a convolution fused with its pool records the pool's output, and the pool the same;
    /// the fused ReLU has no separate pre-activation): leave this off where they are looked at
    /// (activation grids, Grad-CAM).
    pub fused: bool,
}

impl ForwardMode {
    /// Inference: no dropout, moving statistics, probabilities out.
    pub fn inference() -> Self {
        ForwardMode {
            training: false,
            logits: false,
            seed: 0,
            fused: false,
        }
    }
}

/// The result of [`Model::forward`].
#[derive(Clone, Debug)]
pub struct Forward {
    /// The model's (first) output (logits when the final softmax was left out).
    pub output: Var,
    /// Every output of the model, in the order of [`Architecture::outputs`] (the one output of
    /// a prefix run by [`Model::forward_to`]).
    pub outputs: Vec<Var>,
    /// Each layer's output, in layer order (for activation grids and Grad-CAM).
    pub layer_outputs: Vec<Var>,
    /// Each layer's output before its activation function: for `Conv2D` and `Dense` the affine
    /// result, for an `Activation` layer its input, otherwise the output itself (filter
    /// patterns maximise these, so a filter silent after its ReLU still gets a gradient).
    pub pre_activations: Vec<Var>,
    /// The graph variables of the trainable parameters, in [`Model::param_names`] order.
    pub params: Vec<Var>,
    /// The final activation that was left out (softmax or sigmoid), if any.
    pub omitted: Option<ActivationKind>,
}

impl Model {
    /// The most samples [`Model::predict`] runs through the network at once.
    pub const MAX_INFERENCE_CHUNK: usize = 128;

    /// Builds a model from a spec with weights drawn from `seed` (layer by layer, in order).
    pub fn new(spec: &ModelSpec, seed: u64) -> Result<Self> {
        let arch = Architecture::from_spec(spec)?;
        let mut rng = seeded_rng(seed);
        Self::with_weights(arch, |p| Ok(p.init.init(p.shape.clone(), &mut rng)?))
    }

    /// Builds a model taking each weight by name from `tensors` (removing it), e.g. from a
    /// model file. Names and shapes must match the architecture.
    pub fn from_tensors(
        arch: Architecture,
        tensors: &mut std::collections::HashMap<String, Tensor>,
    ) -> Result<Self> {
        Self::with_weights(arch, |p| match tensors.remove(&p.name) {
            Some(t) if t.dims() == p.shape.as_slice() => Ok(t),
            Some(t) => Err(NnError::Data(format!(
                "`{}` has shape {} but the architecture needs {:?}",
                p.name,
                t.shape(),
                p.shape
            ))),
            None => Err(NnError::Data(format!("`{}` is missing", p.name))),
        })
    }

    /// Builds a model whose weights are all zero (to be filled by a loader).
    pub fn zeroed(arch: Architecture) -> Result<Self> {
        Self::with_weights(arch, |p| Ok(Tensor::zeros(p.shape.clone())?))
    }

    fn with_weights(
        arch: Architecture,
        mut make: impl FnMut(&crate::ParamSpec) -> Result<Tensor>,
    ) -> Result<Self> {
        let (mut params, mut param_names, mut state, mut state_names, mut slots) =
            (vec![], vec![], vec![], vec![], vec![]);
        for layer in &arch.layers {
            let (p0, s0) = (params.len(), state.len());
            for p in &layer.params {
                let t = make(p)?;
                if p.trainable {
                    params.push(t);
                    param_names.push(p.name.clone());
                } else {
                    state.push(t);
                    state_names.push(p.name.clone());
                }
            }
            slots.push(Slots {
                params: p0..params.len(),
                state: s0..state.len(),
            });
        }
        Ok(Model {
            arch,
            slots,
            params,
            param_names,
            state,
            state_names,
            folds: None,
        })
    }

    /// The architecture.
    pub fn architecture(&self) -> &Architecture {
        &self.arch
    }

    /// Keras's `model.summary()` text (see [`crate::summary()`]).
    pub fn summary(&self) -> String {
        crate::summary::summary(&self.arch, false)
    }

    /// The trainable weights, in layer order.
    pub fn params(&self) -> &[Tensor] {
        &self.params
    }

    /// The trainable weights, mutable (optimizers update them).
    pub fn params_mut(&mut self) -> &mut [Tensor] {
        self.folds = None;
        &mut self.params
    }

    /// Per trainable weight (in [`Model::params`] order): whether its layer is frozen
    /// ([`crate::LayerSpec::trainable`]), so training leaves it as it is.
    pub fn frozen_params(&self) -> Vec<bool> {
        let mut out = vec![false; self.params.len()];
        for (layer, slot) in self.arch.layers.iter().zip(&self.slots) {
            if !layer.is_trainable() {
                out[slot.params.clone()].iter_mut().for_each(|f| *f = true);
            }
        }
        out
    }

    /// Names of the trainable weights (`conv2d/kernel`, ...).
    pub fn param_names(&self) -> &[String] {
        &self.param_names
    }

    /// The non-trainable state (batch-norm moving statistics).
    pub fn state(&self) -> &[Tensor] {
        &self.state
    }

    /// The non-trainable state, writable (data parallelism averages it over the ranks).
    pub fn state_mut(&mut self) -> &mut [Tensor] {
        self.folds = None;
        &mut self.state
    }

    /// Names of the state tensors.
    pub fn state_names(&self) -> &[String] {
        &self.state_names
    }

    /// Every weight with its name: trainable first, then state.
    pub fn named_weights(&self) -> impl Iterator<Item = (&str, &Tensor)> {
        self.param_names
            .iter()
            .map(String::as_str)
            .zip(&self.params)
            .chain(self.state_names.iter().map(String::as_str).zip(&self.state))
    }

    /// Mutable access to the weight called `name`.
    pub fn weight_mut(&mut self, name: &str) -> Option<&mut Tensor> {
        self.folds = None;
        if let Some(i) = self.param_names.iter().position(|n| n == name) {
            return self.params.get_mut(i);
        }
        let i = self.state_names.iter().position(|n| n == name)?;
        self.state.get_mut(i)
    }

    /// Checks that `x` is a batch of the model's input shape.
    pub fn check_input(&self, x: &Tensor) -> Result<()> {
        let d = x.dims();
        if d.len() != self.arch.input_shape.len() + 1 || d[1..] != self.arch.input_shape[..] {
            let want = cnn_tensor::Shape::new(
                std::iter::once(0)
                    .chain(self.arch.input_shape.iter().copied())
                    .collect::<Vec<_>>(),
            );
            return Err(NnError::Data(format!(
                "model {} expects inputs of shape {}, got {}",
                self.arch.name,
                want.keras_batch(),
                x.shape()
            )));
        }
        Ok(())
    }

    /// Records a forward pass of `x` on `g`. Parameters enter the graph as variables (borrowed,
    /// not copied) when `g` records, so their gradients come out of `g.backward`.
    pub fn forward<'a>(
        &'a mut self,
        g: &mut Graph<'a>,
        x: Var,
        mode: ForwardMode,
    ) -> Result<Forward> {
        let n = self.arch.layers.len();
        self.forward_to(g, x, mode, n)
    }

    /// Like [`Model::forward`] but stops after the first `layers` layers: `output` is the output
    /// of layer `layers - 1` (layers are listed after what they read, so the prefix holds
    /// everything that layer needs). Convolution, pooling, batch-norm and activation layers accept any
    /// spatial size, so a prefix of the model that stops before `Flatten` can run on inputs of
    /// another height and width (filter patterns at 64x64 for a 28x28 model).
    ///
    /// # Errors
    /// If `layers` is 0 or more than the model has, or an operation fails.
    pub fn forward_to<'a>(
        &'a mut self,
        g: &mut Graph<'a>,
        x: Var,
        mode: ForwardMode,
        layers: usize,
    ) -> Result<Forward> {
        self.run(g, x, mode, layers, false)
    }

    /// [`Model::forward_to`], with the batch norms folded into their convolutions when `fold`
    /// (for [`Model::predict`]; [`Model::fold`] made them).
    fn run<'a>(
        &'a mut self,
        g: &mut Graph<'a>,
        x: Var,
        mode: ForwardMode,
        layers: usize,
        fold: bool,
    ) -> Result<Forward> {
        if mode.training {
            // Training-mode batch norms update their moving statistics.
            self.folds = None;
        }
        if layers == 0 || layers > self.arch.layers.len() {
            return Err(NnError::Data(format!(
                "cannot run the first {layers} layers of a model with {}",
                self.arch.layers.len()
            )));
        }
        let Model {
            arch,
            slots,
            params,
            state,
            folds,
            ..
        } = self;
        let folds = folds
            .as_ref()
            .filter(|_| fold && mode.fused && !mode.training && !g.is_recording());
        let pvars: Vec<Var> = params.iter().map(|p| g.variable(p)).collect();
        let n = arch.layers.len();
        let readers = arch.readers();
        // A streaming inference graph frees each value once its last reader has run.
        let streaming = g.streaming();
        let mut unread = readers.clone();
        // The final softmax/sigmoid is left out only for a model with one output.
        let logits_at = (mode.logits && arch.outputs.len() == 1).then(|| arch.outputs[0]);
        let mut values: Vec<Var> = Vec::with_capacity(n);
        let mut pre_activations = Vec::with_capacity(n);
        let mut omitted = None;
        // How many layers the layer before computed with it (a convolution and its max pool;
        // a folded convolution and its batch norm and activation).
        let mut absorbed = 0;
        // The zero padding the layer before left to this one (a convolution).
        let mut pad_from_previous = None;
        for (i, (layer, slot)) in arch
            .layers
            .iter()
            .zip(slots.iter())
            .enumerate()
            .take(layers)
        {
            if absorbed > 0 {
                absorbed -= 1;
                // This layer (a pool, a batch norm, an activation) was computed with the one
                // before, its only reader.
                unread[i - 1] = unread[i - 1].saturating_sub(1);
                let v = values[i - 1];
                values.push(v);
                pre_activations.push(v);
                continue;
            }
            let xs: Vec<Var> = layer
                .inputs
                .iter()
                .map(|s| match *s {
                    Source::Input => x,
                    Source::Layer(j) => values[j],
                })
                .collect();
            // A max pool that alone reads this layer's output may be computed with it.
            let next = arch
                .layers
                .get(i + 1)
                .filter(|_| mode.fused && i + 1 < layers && arch.only_next_reads(&readers, i))
                .map(|l| l.config());
            let next_pool = match next {
                Some(LayerConfig::MaxPooling2D(p)) => Some(p.0.options()),
                _ => None,
            };
            // A zero padding that alone feeds a `valid` convolution is left to the convolution,
            // which reads the unpadded input with that much padding: one pass and one tensor
            // fewer, the same products.
            let pad_into_next = match (layer.config(), next) {
                (LayerConfig::ZeroPadding2D(p), Some(next)) if pads_itself(next) => Some(p.pad()),
                _ => None,
            };
            let input_pad = std::mem::take(&mut pad_from_previous);
            // A frozen batch normalisation runs in inference mode (Keras 3).
            let mode = match layer.config() {
                LayerConfig::BatchNormalization(_) if !layer.is_trainable() => ForwardMode {
                    training: false,
                    ..mode
                },
                _ => mode,
            };
            if streaming {
                // Inputs this layer reads last (and once) may be overwritten by it: batch norm
                // and activations then work in place. Not when the same value is still to be
                // read as another layer's output (a layer that passes its input through, such
                // as dropout at inference) or as the model's input.
                for s in &layer.inputs {
                    if let Source::Layer(j) = *s
                        && unread[j] == 1
                        && !arch.outputs.contains(&j)
                        && layer.inputs.iter().filter(|t| **t == *s).count() == 1
                        && !shared_elsewhere(&values, j, x, &unread, &arch.outputs)
                    {
                        g.donate(values[j]);
                    }
                }
            }
            let first_node = g.len();
            let folded = folds
                .and_then(|f| f.layers.get(i)?.as_ref())
                .filter(|f| i + f.absorbs < layers);
            let fold = folded.map(|f| Fold {
                kernel: g.constant(&f.kernel),
                bias: g.constant(&f.bias),
                activation: f.activation,
            });
            let mut cx = Cx {
                g: &mut *g,
                params: &pvars[slot.params.clone()],
                state: &mut state[slot.state.clone()],
                mode,
                index: i,
                omit_final: logits_at == Some(i),
                next_pool,
                omitted: None,
                pre: None,
                absorbed_next: false,
                pad_into_next: pad_into_next.is_some(),
                input_pad,
                fold,
            };
            let y = layer.config().forward(&mut cx, &xs)?;
            absorbed = match folded {
                Some(f) => f.absorbs,
                None => usize::from(cx.absorbed_next),
            };
            pad_from_previous = pad_into_next;
            if cx.omitted.is_some() {
                omitted = cx.omitted;
            }
            pre_activations.push(cx.pre.unwrap_or(y));
            values.push(y);
            if streaming {
                // The layer's intermediate values (before its bias or activation), and the
                // inputs it was the last to read.
                g.release_since(first_node, y);
                for s in &layer.inputs {
                    if let Source::Layer(j) = *s {
                        unread[j] -= 1;
                        if unread[j] == 0
                            && !arch.outputs.contains(&j)
                            && values[j] != y
                            && !shared_elsewhere(&values, j, x, &unread, &arch.outputs)
                        {
                            g.take_value(values[j])?;
                        }
                    }
                }
            }
        }
        let outputs = if layers == n {
            arch.outputs.iter().map(|&i| values[i]).collect()
        } else {
            vec![values[layers - 1]]
        };
        Ok(Forward {
            output: outputs[0],
            outputs,
            layer_outputs: values,
            pre_activations,
            params: pvars,
            omitted,
        })
    }

    /// Class probabilities (the model's output) for `x`, computed in batches without recording
    /// anything for backpropagation. Batches larger than [`Model::MAX_INFERENCE_CHUNK`] samples
    /// run that many at a time: inference treats samples independently, so the result is the
    /// same, and the activations of a chunk stay in the caches. Batch norms are folded into
    /// the convolutions before them (made once and kept until a weight changes), so the
    /// predictions equal [`Model::forward`]'s to rounding, not bit for bit.
    pub fn predict(&mut self, x: &Tensor, batch_size: usize) -> Result<Tensor> {
        self.check_input(x)?;
        let n = x.dims()[0];
        let per = x.len() / n.max(1);
        let out_len: usize = self.arch.output_shape().iter().product();
        let mut out = Vec::with_capacity(n * out_len);
        let bs = batch_size.clamp(1, Self::MAX_INFERENCE_CHUNK);
        self.fold()?;
        for start in (0..n).step_by(bs) {
            let end = (start + bs).min(n);
            let mut dims = x.dims().to_vec();
            dims[0] = end - start;
            let xb = Tensor::new(dims, x.data()[start * per..end * per].to_vec())?;
            let mut g = Graph::inference_streaming();
            let xv = g.constant(xb);
            let mode = ForwardMode {
                fused: true,
                ..ForwardMode::inference()
            };
            let layers = self.arch.layers.len();
            let f = self.run(&mut g, xv, mode, layers, true)?;
            out.extend_from_slice(g.value(f.output).data());
        }
        let mut dims = vec![n];
        dims.extend_from_slice(self.arch.output_shape());
        Ok(Tensor::new(dims, out)?)
    }

    /// Folds the batch norms into their convolutions for [`Model::predict`], unless done since
    /// the weights last changed.
    fn fold(&mut self) -> Result<()> {
        if self.folds.is_none() {
            let (params, state, slots) = (&self.params, &self.state, &self.slots);
            self.folds = Some(fold::fold(
                &self.arch,
                |i| &params[slots[i].params.clone()],
                |i| &state[slots[i].state.clone()],
            )?);
        }
        Ok(())
    }

    /// Copies every weight from `other` (same architecture).
    pub fn copy_weights_from(&mut self, other: &Model) {
        self.folds = None;
        self.params
            .par_iter_mut()
            .zip(&other.params)
            .for_each(|(a, b)| a.clone_from(b));
        self.state.clone_from(&other.state);
    }
}

/// Whether a layer pads its input itself when it reads a zero padding's output directly: a
/// convolution or depthwise convolution with `valid` padding.
fn pads_itself(c: &LayerConfig) -> bool {
    match c {
        LayerConfig::Conv2D(c) => c.padding == PaddingSpec::Valid,
        LayerConfig::DepthwiseConv2D(c) => c.padding == PaddingSpec::Valid,
        _ => false,
    }
}

/// Whether the value of layer `j` is also the model's input `x`, or the output of another
/// layer that is still to be read or is a model output (a layer that passes its input
/// through, such as dropout at inference, or a convolution and the max pool computed with
/// it): such a value must be neither freed nor overwritten when layer `j`'s readers are done.
fn shared_elsewhere(values: &[Var], j: usize, x: Var, unread: &[usize], outputs: &[usize]) -> bool {
    let v = values[j];
    v == x
        || values
            .iter()
            .enumerate()
            .any(|(m, &w)| m != j && w == v && (unread[m] > 0 || outputs.contains(&m)))
}
