//! `ReLU`: the rectifier as a layer, with Keras's optional ceiling (`ReLU(6.)` in MobileNetV2)
//! and negative slope.

use cnn_ops::{Activation, Var};
use serde::{Deserialize, Serialize};

use super::{ActivationKind, Build, Built, Cx, LayerType};
use crate::error::Result;

/// `ReLU(max_value=None, negative_slope=0.0, threshold=0.0)`. A ceiling and a negative slope
/// together, or a non-zero threshold, are refused (no model in the zoo or Keras's
/// applications uses them).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReLU {
    /// Largest output (`None`: unbounded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_value: Option<f32>,
    /// Slope below zero.
    #[serde(default)]
    pub negative_slope: f32,
    /// Where the rectifier bends.
    #[serde(default)]
    pub threshold: f32,
}

impl ReLU {
    /// `ReLU(max_value)`.
    pub fn capped(max_value: f32) -> Self {
        ReLU {
            max_value: Some(max_value),
            ..ReLU::default()
        }
    }

    /// The activation function this layer computes, if supported.
    pub(crate) fn function(&self) -> Option<Activation> {
        if self.threshold != 0.0 || !self.negative_slope.is_finite() {
            return None;
        }
        match (self.max_value, self.negative_slope) {
            (None, 0.0) => Some(Activation::Relu),
            (None, s) => Some(Activation::LeakyRelu(s)),
            (Some(m), s) if s == 0.0 && m > 0.0 => Some(Activation::ReluMax(m)),
            _ => None,
        }
    }
}

impl LayerType for ReLU {
    const PREFIX: &'static str = "re_lu";

    fn build(&self, b: &Build<'_>) -> Result<Built> {
        if self.function().is_none() {
            return Err(b.err(format!(
                "max_value {:?}, negative_slope {}, threshold {}: supported are a positive \
                 max_value, or a finite negative_slope without max_value, with threshold 0",
                self.max_value, self.negative_slope, self.threshold
            )));
        }
        Ok(Built::shape(b.input().to_vec()))
    }

    fn forward<'a>(&self, cx: &mut Cx<'_, 'a>, x: &[Var]) -> Result<Var> {
        let f = self.function().unwrap_or(Activation::Relu);
        cx.pre = Some(x[0]);
        Ok(cx.g.activation(x[0], f)?)
    }

    fn final_activation(&self) -> Option<ActivationKind> {
        self.function().map(ActivationKind::Elementwise)
    }
}
