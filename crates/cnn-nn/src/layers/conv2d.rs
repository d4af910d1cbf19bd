//! `Conv2D`: a 2-D convolution with Keras's arguments and defaults, then its activation.

use cnn_ops::{Activation, Conv2dGeometry, Conv2dOptions, Var};
use serde::{Deserialize, Serialize};

use super::common::{glorot, linear, one, pair, padding, yes, zeros};
use super::{ActivationKind, Build, Built, Cx, LayerType, shape_str};
use crate::arch::MAX_PARAMS;
use crate::error::Result;
use crate::spec::{PaddingSpec, Size2};

/// `Conv2D(filters, kernel_size, strides=1, padding='valid', dilation_rate=1,
/// activation=None, use_bias=True, kernel_initializer='glorot_uniform',
/// bias_initializer='zeros')`. Weights: `kernel` `[kh, kw, in, filters]`, `bias` `[filters]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conv2D {
    /// Number of filters (output channels).
    pub filters: usize,
    /// Kernel height and width.
    pub kernel_size: Size2,
    /// Strides.
    #[serde(default = "one")]
    pub strides: Size2,
    /// Padding.
    #[serde(default)]
    pub padding: PaddingSpec,
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
    pub kernel_initializer: String,
    /// Bias initialiser name.
    #[serde(default = "zeros")]
    pub bias_initializer: String,
}

impl Conv2D {
    /// `Conv2D(filters, kernel_size, activation=...)` with Keras's other defaults.
    pub fn new(filters: usize, kernel_size: impl Into<Size2>, activation: &str) -> Self {
        Conv2D {
            filters,
            kernel_size: kernel_size.into(),
            strides: one(),
            padding: PaddingSpec::Valid,
            dilation_rate: one(),
            activation: activation.into(),
            use_bias: true,
            kernel_initializer: glorot(),
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

impl LayerType for Conv2D {
    const PREFIX: &'static str = "conv2d";

    fn build(&self, b: &Build<'_>) -> Result<Built> {
        let (h, w, c) = b.image()?;
        if self.filters == 0 {
            return Err(b.err("filters must be at least 1"));
        }
        let (kh, kw) = pair(self.kernel_size);
        let kshape = [kh, kw, c, self.filters];
        let g = Conv2dGeometry::new(&[1, h, w, c], &kshape, &self.options()).map_err(|e| {
            b.err(format!(
                "{} with kernel {kh}x{kw} on input {}",
                Build::op_message(&e),
                shape_str(b.input())
            ))
        })?;
        let kparams = kshape
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d as u64))
            .unwrap_or(u64::MAX);
        if kparams > MAX_PARAMS {
            return Err(b.err(format!(
                "kernel {kshape:?} has {kparams} parameters, over the limit of {MAX_PARAMS}"
            )));
        }
        let mut params = vec![b.weight("kernel", kshape.to_vec(), &self.kernel_initializer)?];
        if self.use_bias {
            params.push(b.weight("bias", vec![self.filters], &self.bias_initializer)?);
        }
        b.activation(&self.activation)?;
        Ok(Built {
            output_shape: vec![g.window.out_h, g.window.out_w, self.filters],
            params,
            macs: g.macs(),
        })
    }

    fn forward<'a>(&self, cx: &mut Cx<'_, 'a>, x: &[Var]) -> Result<Var> {
        let (w, b) = (cx.params[0], self.use_bias.then(|| cx.params[1]));
        let act = super::common::activation_of(&self.activation);
        let relu = act == ActivationKind::Elementwise(Activation::Relu);
        let options = cx.padded(self.options());
        if let Some(f) = cx.fold {
            let (w, b) = (f.kernel, Some(f.bias));
            return Ok(cx.g.conv2d_act(x[0], w, b, &options, f.activation)?);
        }
        let inference = cx.fuses_activation();
        match (cx.next_pool, act) {
            // The pool is computed with the convolution (one pass where the kernels allow
            // it), the ReLU after the pool: max commutes with it.
            (Some(pool), _) if cx.mode.fused && (relu || act.is_linear()) => {
                cx.absorbed_next = true;
                Ok(cx.g.conv2d_max_pool(x[0], w, b, &options, &pool, relu)?)
            }
            // At inference, an elementwise activation is applied to each output tile.
            (_, ActivationKind::Elementwise(e)) if inference => {
                Ok(cx.g.conv2d_act(x[0], w, b, &options, e)?)
            }
            _ if cx.mode.fused && relu => Ok(cx.g.conv2d_relu(x[0], w, b, &options)?),
            _ => {
                let y = cx.g.conv2d(x[0], w, b, &options)?;
                cx.pre = Some(y);
                cx.activate(y, act)
            }
        }
    }

    fn final_activation(&self) -> Option<ActivationKind> {
        ActivationKind::parse(&self.activation)
    }
}
