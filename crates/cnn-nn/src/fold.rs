//! Batch normalisation folded into the convolution before it, for inference.
//!
//! At inference a batch normalisation is a per-channel affine map `y = s·x + t` with
//! `s = γ/√(var + ε)` and `t = β − μ·s`. When it alone reads a convolution's output (and the
//! convolution has no activation of its own), `s·(conv(x, W) + b) + t = conv(x, s·W) + (s·b + t)`:
//! the convolution with a scaled kernel and a shifted bias computes both, and an elementwise
//! activation that alone reads the batch norm's output is applied to the convolution's output
//! in place. One pass over the activations instead of three. The results are those of the
//! separate layers to rounding (the products are scaled before they are summed), which is why
//! only [`crate::Model::predict`] folds, as ONNX Runtime and PyTorch's inference graphs do.

use cnn_ops::Activation;
use cnn_tensor::Tensor;

use crate::arch::Architecture;
use crate::error::Result;
use crate::layers::{ActivationKind, LayerConfig, activation_of};

/// A convolution with the batch normalisation after it folded in.
#[derive(Clone, Debug)]
pub(crate) struct FoldedConv {
    /// The kernel scaled per output channel.
    pub kernel: Tensor,
    /// The bias, scaled and shifted.
    pub bias: Tensor,
    /// The activation layer after the batch norm, applied with it (`Linear` when none).
    pub activation: Activation,
    /// How many layers after the convolution it computes (the batch norm, and the activation).
    pub absorbs: usize,
}

/// The folded convolutions of a model, by layer index.
#[derive(Clone, Debug, Default)]
pub(crate) struct Folds {
    /// `Some` for each convolution computed with the layers after it.
    pub layers: Vec<Option<FoldedConv>>,
}

/// The elementwise activation of an activation layer (`ReLU`, `Activation`), if it is one.
fn activation_layer(c: &LayerConfig) -> Option<Activation> {
    match c {
        LayerConfig::ReLU(r) => r.function(),
        LayerConfig::Activation(a) => match ActivationKind::parse(&a.activation) {
            Some(ActivationKind::Elementwise(e)) => Some(e),
            _ => None,
        },
        _ => None,
    }
}

/// Folds every batch normalisation that alone reads a linear convolution's output (with
/// channels last) into it. `params(i)` and `state(i)` are layer `i`'s weights and state.
pub(crate) fn fold<'m>(
    arch: &Architecture,
    params: impl Fn(usize) -> &'m [Tensor],
    state: impl Fn(usize) -> &'m [Tensor],
) -> Result<Folds> {
    let readers = arch.readers();
    let mut layers = vec![None; arch.layers.len()];
    for (i, layer) in arch.layers.iter().enumerate() {
        let (use_bias, linear) = match layer.config() {
            LayerConfig::Conv2D(c) => (c.use_bias, activation_of(&c.activation).is_linear()),
            LayerConfig::DepthwiseConv2D(c) => {
                (c.use_bias, activation_of(&c.activation).is_linear())
            }
            _ => continue,
        };
        let bn = match arch.layers.get(i + 1).map(|l| l.config()) {
            Some(LayerConfig::BatchNormalization(bn)) => bn,
            _ => continue,
        };
        if !linear || !arch.only_next_reads(&readers, i) {
            continue;
        }
        let (p, s) = (params(i + 1), state(i + 1));
        let [gamma, beta] = p else { continue };
        let [mean, var] = s else { continue };
        let [kernel, bias @ ..] = params(i) else {
            continue;
        };
        let filters = gamma.len();
        // y = s·x + t, as the batch norm computes them; bn(conv + b) = s·conv + (s·b + t).
        let (scale, shift) = cnn_ops::batch_norm_affine(
            (gamma.data(), beta.data()),
            mean.data(),
            var.data(),
            bn.epsilon,
        );
        // The kernel's last axes are `[.., C, M]` for a depthwise kernel (output channel
        // `c·M + m`) and `[.., F]` for a convolution: either way the output channel is the
        // index within each run of `filters` values.
        if filters == 0 || scale.len() != filters || !kernel.len().is_multiple_of(filters) {
            continue;
        }
        let mut k = kernel.clone();
        for run in k.data_mut().chunks_exact_mut(filters) {
            run.iter_mut().zip(&scale).for_each(|(w, s)| *w *= s);
        }
        let b = bias.first().filter(|_| use_bias).map(|b| b.data());
        let bias: Vec<f32> = match b {
            Some(b) => b
                .iter()
                .zip(&scale)
                .zip(&shift)
                .map(|((b, s), t)| b * s + t)
                .collect(),
            None => shift,
        };
        let act = arch
            .layers
            .get(i + 2)
            .and_then(|l| activation_layer(l.config()))
            .filter(|_| arch.only_next_reads(&readers, i + 1));
        layers[i] = Some(FoldedConv {
            kernel: k,
            bias: Tensor::new([filters], bias)?,
            activation: act.unwrap_or(Activation::Linear),
            absorbs: if act.is_some() { 2 } else { 1 },
        });
    }
    Ok(Folds { layers })
}
