//! What every layer file uses: Keras's default values, the activation kinds, the build context
//! (input shapes in, output shape, weights and cost out) and the forward context.

use cnn_ops::{Activation, Conv2dOptions, Graph, Pad2d, Padding, Pool2dOptions, Var};
use cnn_tensor::{Initializer, Tensor};

use crate::arch::ParamSpec;
use crate::error::{NnError, Result};
use crate::model::ForwardMode;
use crate::spec::{PaddingSpec, Size2};

pub(crate) fn one() -> Size2 {
    Size2(1, 1)
}
pub(crate) fn two() -> Size2 {
    Size2(2, 2)
}
pub(crate) fn yes() -> bool {
    true
}
pub(crate) fn glorot() -> String {
    "glorot_uniform".into()
}
pub(crate) fn zeros() -> String {
    "zeros".into()
}
pub(crate) fn linear() -> String {
    "linear".into()
}
pub(crate) fn minus_one() -> i64 {
    -1
}

/// A layer's activation, including the softmax (which is not element-wise).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ActivationKind {
    /// An element-wise activation (`linear` included).
    Elementwise(Activation),
    /// Softmax over the last axis.
    Softmax,
}

impl ActivationKind {
    /// The activation called `name` (`relu`, `softmax`, ...), if known.
    pub fn parse(name: &str) -> Option<Self> {
        if name == "softmax" {
            return Some(ActivationKind::Softmax);
        }
        Activation::from_name(name).map(ActivationKind::Elementwise)
    }

    /// The identity.
    pub fn is_linear(&self) -> bool {
        *self == ActivationKind::Elementwise(Activation::Linear)
    }
}

/// The activation called `name`; `linear` for a name that building the layer already refused.
pub(crate) fn activation_of(name: &str) -> ActivationKind {
    ActivationKind::parse(name).unwrap_or(ActivationKind::Elementwise(Activation::Linear))
}

/// `(None, 26, 26, 32)` for a shape without its batch dimension.
pub fn shape_str(s: &[usize]) -> String {
    cnn_tensor::Shape::new(
        std::iter::once(0)
            .chain(s.iter().copied())
            .collect::<Vec<_>>(),
    )
    .keras_batch()
}

pub(crate) fn padding(p: PaddingSpec) -> Padding {
    match p {
        PaddingSpec::Valid => Padding::Valid,
        PaddingSpec::Same => Padding::Same,
    }
}

pub(crate) fn pair(s: Size2) -> (usize, usize) {
    (s.0, s.1)
}

/// What a layer is built against: its name and class (for errors) and its input shapes
/// (without the batch dimension).
pub(crate) struct Build<'s> {
    pub name: &'s str,
    pub class: &'static str,
    pub inputs: &'s [Vec<usize>],
}

/// What building a layer gives: its output shape, its weights and its multiply-adds per sample.
#[derive(Debug, Default)]
pub(crate) struct Built {
    pub output_shape: Vec<usize>,
    pub params: Vec<ParamSpec>,
    pub macs: u64,
}

impl Built {
    /// A layer without weights or cost that outputs `shape`.
    pub fn shape(shape: Vec<usize>) -> Self {
        Built {
            output_shape: shape,
            ..Built::default()
        }
    }
}

impl Build<'_> {
    /// An error naming this layer.
    pub fn err(&self, message: impl Into<String>) -> NnError {
        NnError::Layer {
            layer: self.name.into(),
            class: self.class,
            message: message.into(),
        }
    }

    /// The (first) input's shape.
    pub fn input(&self) -> &[usize] {
        self.inputs.first().map_or(&[][..], |s| &s[..])
    }

    /// The input as an image `(H, W, C)`, or an error saying the layer needs one.
    pub fn image(&self) -> Result<(usize, usize, usize)> {
        match *self.input() {
            [h, w, c] => Ok((h, w, c)),
            _ => Err(self.err(format!(
                "{} needs an image input (None, H, W, C), got {}",
                self.class,
                shape_str(self.input())
            ))),
        }
    }

    /// Values per sample of the input.
    pub fn input_len(&self) -> u64 {
        self.input().iter().map(|&d| d as u64).product()
    }

    /// The activation called `name`, or an error listing the known ones.
    pub fn activation(&self, name: &str) -> Result<ActivationKind> {
        ActivationKind::parse(name).ok_or_else(|| {
            self.err(format!(
                "unknown activation `{name}` (known: linear, relu, relu6, elu, leaky_relu, sigmoid, \
                 hard_sigmoid, tanh, swish, silu, gelu, softmax)"
            ))
        })
    }

    /// A trainable weight `name/<param>` drawn by the initialiser called `init`.
    pub fn weight(&self, param: &str, shape: Vec<usize>, init: &str) -> Result<ParamSpec> {
        let init = Initializer::from_name(init).ok_or_else(|| {
            self.err(format!(
                "unknown initializer `{init}` (known: zeros, ones, glorot_uniform, glorot_normal, he_normal, \
                 he_uniform, lecun_normal, lecun_uniform, random_normal, random_uniform)"
            ))
        })?;
        Ok(self.fixed(param, shape, init, true))
    }

    /// A weight `name/<param>` with a fixed initialiser.
    pub fn fixed(
        &self,
        param: &str,
        shape: Vec<usize>,
        init: Initializer,
        trainable: bool,
    ) -> ParamSpec {
        ParamSpec {
            name: format!("{}/{param}", self.name),
            shape,
            init,
            trainable,
        }
    }

    /// The op error's message without the op prefix (the layer is named instead).
    pub fn op_message(e: &cnn_ops::OpError) -> String {
        match e {
            cnn_ops::OpError::Shape { message, .. } => message.clone(),
            cnn_ops::OpError::Option {
                option, message, ..
            } => format!("invalid {option}: {message}"),
            other => other.to_string(),
        }
    }
}

/// A layer's forward pass on the autograd graph: the graph, this layer's weights, the mode and
/// what the model tells it; the layer reports back what it left out or fused.
pub(crate) struct Cx<'g, 'a> {
    /// The graph being recorded.
    pub g: &'g mut Graph<'a>,
    /// This layer's trainable weights, as graph variables, in [`Built::params`] order.
    pub params: &'g [Var],
    /// This layer's non-trainable state (batch-norm moving statistics), mutable.
    pub state: &'g mut [Tensor],
    /// Training or inference, logits, dropout seed, fusion.
    pub mode: ForwardMode,
    /// The layer's position in the model (dropout seeds derive from it).
    pub index: usize,
    /// Leave a final softmax or sigmoid out (the model's output, with `mode.logits`).
    pub omit_final: bool,
    /// A max pool that reads only this layer's output comes next and may be computed with it.
    pub next_pool: Option<Pool2dOptions>,
    /// Out: the final activation that was left out.
    pub omitted: Option<ActivationKind>,
    /// Out: the output before the activation function, when it differs from the output.
    pub pre: Option<Var>,
    /// Out: the layer computed `next_pool` too (its output is the pool's).
    pub absorbed_next: bool,
    /// This zero padding's only reader is a `valid` convolution that pads its input itself:
    /// pass the input through unpadded.
    pub pad_into_next: bool,
    /// The zero padding this convolution's input still needs (the layer before passed it on).
    pub input_pad: Option<Pad2d>,
    /// This convolution's weights with the batch norm after it folded in, for inference.
    pub fold: Option<Fold>,
}

/// A convolution's folded weights (see `crate::fold`), as graph values, and the activation
/// to apply to its output.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fold {
    /// The scaled kernel.
    pub kernel: Var,
    /// The scaled and shifted bias.
    pub bias: Var,
    /// The activation layer computed with it (`Linear` when none).
    pub activation: Activation,
}

impl Cx<'_, '_> {
    /// Whether a convolution may apply its elementwise activation to its output as it makes it
    /// (`Graph::conv2d_act`): a fused inference pass that records nothing and keeps the final
    /// activation.
    pub fn fuses_activation(&self) -> bool {
        self.mode.fused && !self.g.is_recording() && !self.omit_final
    }

    /// `opts` with the zero padding the layer before passed on (see [`Cx::input_pad`]), for a
    /// convolution whose own padding is `valid`.
    pub fn padded(&self, mut opts: Conv2dOptions) -> Conv2dOptions {
        if let Some(p) = self.input_pad {
            opts.padding = p.into();
        }
        opts
    }

    /// Applies `a` to `v`, or leaves it out when it is the model's final softmax or sigmoid
    /// and the loss takes logits.
    pub fn activate(&mut self, v: Var, a: ActivationKind) -> Result<Var> {
        let fusable = matches!(
            a,
            ActivationKind::Softmax | ActivationKind::Elementwise(Activation::Sigmoid)
        );
        if self.omit_final && fusable {
            self.omitted = Some(a);
            return Ok(v);
        }
        Ok(match a {
            ActivationKind::Softmax => self.g.softmax(v)?,
            ActivationKind::Elementwise(e) => self.g.activation(v, e)?,
        })
    }
}
