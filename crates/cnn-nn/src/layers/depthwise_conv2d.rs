//! `DepthwiseConv2D`: each input channel convolved with its own `depth_multiplier` filters
//! (MobileNet's spatial filtering), then the activation.

use cnn_ops::{Conv2dOptions, DepthwiseGeometry, Var};
use serde::{Deserialize, Serialize};

use super::common::{activation_of, glorot, linear, one, pair, padding, yes, zeros};
use super::{ActivationKind, Build, Built, Cx, LayerType, shape_str};
use crate::arch::MAX_PARAMS;
use crate::error::Result;
use crate::spec::{PaddingSpec, Size2};

/// `DepthwiseConv2D(kernel_size, strides=1, padding='valid', depth_multiplier=1,
/// dilation_rate=1, activation=None, use_bias=True, depthwise_initializer='glorot_uniform',
/// bias_initializer='zeros')`. Weights: `depthwise_kernel` `[kh, kw, C, M]`, `bias` `[C·M]`;
/// output channel `c·M + m` is input channel `c`'s filter `m`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DepthwiseConv2D {
    /// Kernel height and width.
    pub kernel_size: Size2,
    /// Strides.
    #[serde(default = "one")]
    pub strides: Size2,
    /// Padding.
    #[serde(default)]
    pub padding: PaddingSpec,
    /// Filters per input channel.
    #[serde(default = "one_usize")]
    pub depth_multiplier: usize,
    /// Dilation rate.
    #[serde(default = "one")]
    pub dilation_rate: Size2,
    /// Activation name (`linear` when omitted).
    #[serde(default = "linear")]
    pub activation: String,
    /// Whether the layer has a bias.
    #[serde(default = "yes")]
    pub use_bias: bool,
    /// Kernel initialiser name.
    #[serde(default = "glorot")]
    pub depthwise_initializer: String,
    /// Bias initialiser name.
    #[serde(default = "zeros")]
    pub bias_initializer: String,
}

fn one_usize() -> usize {
    1
}

impl DepthwiseConv2D {
    /// `DepthwiseConv2D(kernel_size)` with Keras's other defaults.
    pub fn new(kernel_size: impl Into<Size2>) -> Self {
        DepthwiseConv2D {
            kernel_size: kernel_size.into(),
            strides: one(),
            padding: PaddingSpec::Valid,
            depth_multiplier: 1,
            dilation_rate: one(),
            activation: linear(),
            use_bias: true,
            depthwise_initializer: glorot(),
            bias_initializer: zeros(),
        }
    }

    /// The kernel options (strides, padding, dilation).
    pub fn options(&self) -> Conv2dOptions {
        Conv2dOptions {
            strides: pair(self.strides),
            padding: padding(self.padding),
            dilation: pair(self.dilation_rate),
        }
    }
}

/// Builds a depthwise kernel `[kh, kw, C, M]` on the input image: output shape, cost and the
/// kernel's shape (shared with `SeparableConv2D`).
pub(crate) fn depthwise_geometry(
    b: &Build<'_>,
    kernel_size: Size2,
    multiplier: usize,
    options: &Conv2dOptions,
) -> Result<(DepthwiseGeometry, [usize; 4])> {
    let (h, w, c) = b.image()?;
    if multiplier == 0 {
        return Err(b.err("depth_multiplier must be at least 1"));
    }
    let (kh, kw) = pair(kernel_size);
    let kshape = [kh, kw, c, multiplier];
    let kparams = kshape
        .iter()
        .try_fold(1u64, |a, &d| a.checked_mul(d as u64))
        .unwrap_or(u64::MAX);
    if kparams > MAX_PARAMS {
        return Err(b.err(format!(
            "kernel {kshape:?} has {kparams} parameters, over the limit of {MAX_PARAMS}"
        )));
    }
    let g = DepthwiseGeometry::new(&[1, h, w, c], &kshape, options).map_err(|e| {
        b.err(format!(
            "{} with kernel {kh}x{kw} on input {}",
            Build::op_message(&e),
            shape_str(b.input())
        ))
    })?;
    Ok((g, kshape))
}

impl LayerType for DepthwiseConv2D {
    const PREFIX: &'static str = "depthwise_conv2d";

    fn build(&self, b: &Build<'_>) -> Result<Built> {
        let (g, kshape) =
            depthwise_geometry(b, self.kernel_size, self.depth_multiplier, &self.options())?;
        let cm = kshape[2] * kshape[3];
        let mut params = vec![b.weight(
            "depthwise_kernel",
            kshape.to_vec(),
            &self.depthwise_initializer,
        )?];
        if self.use_bias {
            params.push(b.weight("bias", vec![cm], &self.bias_initializer)?);
        }
        b.activation(&self.activation)?;
        Ok(Built {
            output_shape: vec![g.window.out_h, g.window.out_w, cm],
            params,
            macs: g.macs(),
        })
    }

    fn forward<'a>(&self, cx: &mut Cx<'_, 'a>, x: &[Var]) -> Result<Var> {
        let options = cx.padded(self.options());
        if let Some(f) = cx.fold {
            let (w, b) = (f.kernel, Some(f.bias));
            return Ok(cx
                .g
                .depthwise_conv2d_act(x[0], w, b, &options, f.activation)?);
        }
        let b = self.use_bias.then(|| cx.params[1]);
        let act = activation_of(&self.activation);
        // At inference, an elementwise activation is applied to each output pixel.
        if let ActivationKind::Elementwise(e) = act
            && cx.fuses_activation()
        {
            return Ok(cx.g.depthwise_conv2d_act(x[0], cx.params[0], b, &options, e)?);
        }
        let y = cx
            .g
            .depthwise_conv2d(x[0], cx.params[0], b, &options)?;
        cx.pre = Some(y);
        cx.activate(y, act)
    }

    fn final_activation(&self) -> Option<ActivationKind> {
        ActivationKind::parse(&self.activation)
    }
}
