//! Local response normalisation across channels (TensorFlow's definition; AlexNet's values by
//! default).

use cnn_ops::{LrnOptions, Var};
use serde::{Deserialize, Serialize};

use super::{Build, Built, Cx, LayerType};
use crate::error::Result;

fn lrn_radius() -> usize {
    2
}
fn lrn_bias() -> f32 {
    2.0
}
fn lrn_alpha() -> f32 {
    1e-4
}
fn lrn_beta() -> f32 {
    0.75
}

/// `LocalResponseNormalization(depth_radius=2, bias=2, alpha=1e-4, beta=0.75)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalResponseNormalization {
    /// Half-width of the channel window.
    #[serde(default = "lrn_radius")]
    pub depth_radius: usize,
    /// Additive constant.
    #[serde(default = "lrn_bias")]
    pub bias: f32,
    /// Scale.
    #[serde(default = "lrn_alpha")]
    pub alpha: f32,
    /// Exponent.
    #[serde(default = "lrn_beta")]
    pub beta: f32,
}

impl Default for LocalResponseNormalization {
    fn default() -> Self {
        LocalResponseNormalization {
            depth_radius: lrn_radius(),
            bias: lrn_bias(),
            alpha: lrn_alpha(),
            beta: lrn_beta(),
        }
    }
}

impl LayerType for LocalResponseNormalization {
    const PREFIX: &'static str = "local_response_normalization";

    fn build(&self, b: &Build<'_>) -> Result<Built> {
        Ok(Built::shape(b.input().to_vec()))
    }

    fn forward<'a>(&self, cx: &mut Cx<'_, 'a>, x: &[Var]) -> Result<Var> {
        let o = LrnOptions {
            depth_radius: self.depth_radius,
            bias: self.bias,
            alpha: self.alpha,
            beta: self.beta,
        };
        Ok(cx.g.lrn(x[0], &o)?)
    }
}
