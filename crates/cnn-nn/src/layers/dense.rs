//! `Dense`: a fully connected layer, `y = x · kernel + bias`, then its activation.

use cnn_ops::Var;
use serde::{Deserialize, Serialize};

use super::common::{glorot, linear, yes, zeros};
use super::{ActivationKind, Build, Built, Cx, LayerType, shape_str};
use crate::arch::MAX_PARAMS;
use crate::error::Result;

/// `Dense(units, activation=None, use_bias=True, kernel_initializer='glorot_uniform',
/// bias_initializer='zeros')`. Weights: `kernel` `[in, units]`, `bias` `[units]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dense {
    /// Output features.
    pub units: usize,
    /// Activation name.
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

impl Dense {
    /// `Dense(units, activation=...)` with Keras's other defaults.
    pub fn new(units: usize, activation: &str) -> Self {
        Dense {
            units,
            activation: activation.into(),
            use_bias: true,
            kernel_initializer: glorot(),
            bias_initializer: zeros(),
        }
    }
}

impl LayerType for Dense {
    const PREFIX: &'static str = "dense";

    fn build(&self, b: &Build<'_>) -> Result<Built> {
        let [features] = *b.input() else {
            return Err(b.err(format!(
                "Dense needs a flat input (None, features), got {}; add a Flatten layer before it",
                shape_str(b.input())
            )));
        };
        if self.units == 0 {
            return Err(b.err("units must be at least 1"));
        }
        let kparams = (features as u64).saturating_mul(self.units as u64);
        if kparams > MAX_PARAMS {
            return Err(b.err(format!(
                "kernel [{features}, {}] has {kparams} parameters, over the limit of {MAX_PARAMS}",
                self.units
            )));
        }
        let mut params = vec![b.weight(
            "kernel",
            vec![features, self.units],
            &self.kernel_initializer,
        )?];
        if self.use_bias {
            params.push(b.weight("bias", vec![self.units], &self.bias_initializer)?);
        }
        b.activation(&self.activation)?;
        Ok(Built {
            output_shape: vec![self.units],
            params,
            macs: kparams,
        })
    }

    fn forward<'a>(&self, cx: &mut Cx<'_, 'a>, x: &[Var]) -> Result<Var> {
        let b = self.use_bias.then(|| cx.params[1]);
        let y = cx.g.dense(x[0], cx.params[0], b)?;
        cx.pre = Some(y);
        let act = super::common::activation_of(self.activation.as_str());
        cx.activate(y, act)
    }

    fn final_activation(&self) -> Option<ActivationKind> {
        ActivationKind::parse(&self.activation)
    }
}
