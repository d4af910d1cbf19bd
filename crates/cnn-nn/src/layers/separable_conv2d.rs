//! `SeparableConv2D`: a depthwise convolution followed by a pointwise (1x1) convolution that
//! mixes the channels (Xception's building block), then the activation.

use cnn_ops::{Conv2dOptions, Padding, Var};
use serde::{Deserialize, Serialize};

use super::common::{activation_of, glorot, linear, one, pair, padding, yes, zeros};
use super::depthwise_conv2d::depthwise_geometry;
use super::{ActivationKind, Build, Built, Cx, LayerType};
use crate::arch::MAX_PARAMS;
use crate::error::Result;
use crate::spec::{PaddingSpec, Size2};

fn one_usize() -> usize {
    1
}

/// `SeparableConv2D(filters, kernel_size, strides=1, padding='valid', depth_multiplier=1,
/// dilation_rate=1, activation=None, use_bias=True, ...)`. Weights: `depthwise_kernel`
/// `[kh, kw, C, M]`, `pointwise_kernel` `[1, 1, C·M, filters]`, `bias` `[filters]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeparableConv2D {
    /// Output channels.
    pub filters: usize,
    /// Depthwise kernel height and width.
    pub kernel_size: Size2,
    /// Strides (of the depthwise step).
    #[serde(default = "one")]
    pub strides: Size2,
    /// Padding (of the depthwise step).
    #[serde(default)]
    pub padding: PaddingSpec,
    /// Depthwise filters per input channel.
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
    /// Depthwise kernel initialiser name.
    #[serde(default = "glorot")]
    pub depthwise_initializer: String,
    /// Pointwise kernel initialiser name.
    #[serde(default = "glorot")]
    pub pointwise_initializer: String,
    /// Bias initialiser name.
    #[serde(default = "zeros")]
    pub bias_initializer: String,
}

impl SeparableConv2D {
    /// `SeparableConv2D(filters, kernel_size, activation=...)` with Keras's other defaults.
    pub fn new(filters: usize, kernel_size: impl Into<Size2>, activation: &str) -> Self {
        SeparableConv2D {
            filters,
            kernel_size: kernel_size.into(),
            strides: one(),
            padding: PaddingSpec::Valid,
            depth_multiplier: 1,
            dilation_rate: one(),
            activation: activation.into(),
            use_bias: true,
            depthwise_initializer: glorot(),
            pointwise_initializer: glorot(),
            bias_initializer: zeros(),
        }
    }

    fn options(&self) -> Conv2dOptions {
        Conv2dOptions {
            strides: pair(self.strides),
            padding: padding(self.padding),
            dilation: pair(self.dilation_rate),
        }
    }
}

const POINTWISE: Conv2dOptions = Conv2dOptions {
    strides: (1, 1),
    padding: Padding::Valid,
    dilation: (1, 1),
};

impl LayerType for SeparableConv2D {
    const PREFIX: &'static str = "separable_conv2d";

    fn build(&self, b: &Build<'_>) -> Result<Built> {
        if self.filters == 0 {
            return Err(b.err("filters must be at least 1"));
        }
        let (g, kshape) =
            depthwise_geometry(b, self.kernel_size, self.depth_multiplier, &self.options())?;
        let cm = kshape[2] * kshape[3];
        let pparams = (cm as u64).saturating_mul(self.filters as u64);
        if pparams > MAX_PARAMS {
            return Err(b.err(format!(
                "pointwise kernel [1, 1, {cm}, {}] has {pparams} parameters, over the limit of \
                 {MAX_PARAMS}",
                self.filters
            )));
        }
        let mut params = vec![
            b.weight(
                "depthwise_kernel",
                kshape.to_vec(),
                &self.depthwise_initializer,
            )?,
            b.weight(
                "pointwise_kernel",
                vec![1, 1, cm, self.filters],
                &self.pointwise_initializer,
            )?,
        ];
        if self.use_bias {
            params.push(b.weight("bias", vec![self.filters], &self.bias_initializer)?);
        }
        b.activation(&self.activation)?;
        let (oh, ow) = (g.window.out_h, g.window.out_w);
        Ok(Built {
            output_shape: vec![oh, ow, self.filters],
            params,
            macs: g
                .macs()
                .saturating_add(((oh * ow) as u64).saturating_mul(pparams)),
        })
    }

    fn forward<'a>(&self, cx: &mut Cx<'_, 'a>, x: &[Var]) -> Result<Var> {
        let d = cx
            .g
            .depthwise_conv2d(x[0], cx.params[0], None, &self.options())?;
        let b = self.use_bias.then(|| cx.params[2]);
        let y = cx.g.conv2d(d, cx.params[1], b, &POINTWISE)?;
        cx.pre = Some(y);
        cx.activate(y, activation_of(&self.activation))
    }

    fn final_activation(&self) -> Option<ActivationKind> {
        ActivationKind::parse(&self.activation)
    }
}
