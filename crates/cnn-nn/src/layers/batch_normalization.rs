//! `BatchNormalization` over the last (channel) axis: batch statistics in training (updating
//! the moving ones), moving statistics in inference.

use cnn_ops::{BatchNormOptions, Var};
use cnn_tensor::Initializer;
use serde::{Deserialize, Serialize};

use super::{Build, Built, Cx, LayerType};
use crate::error::Result;

fn bn_momentum() -> f32 {
    0.99
}
fn bn_epsilon() -> f32 {
    1e-3
}

/// `BatchNormalization(momentum=0.99, epsilon=0.001)`. Weights: `gamma`, `beta` (trainable),
/// `moving_mean`, `moving_variance` (not trainable), each `[channels]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchNormalization {
    /// Moving-average momentum.
    #[serde(default = "bn_momentum")]
    pub momentum: f32,
    /// Variance epsilon.
    #[serde(default = "bn_epsilon")]
    pub epsilon: f32,
}

impl Default for BatchNormalization {
    fn default() -> Self {
        BatchNormalization {
            momentum: bn_momentum(),
            epsilon: bn_epsilon(),
        }
    }
}

impl LayerType for BatchNormalization {
    const PREFIX: &'static str = "batch_normalization";

    fn build(&self, b: &Build<'_>) -> Result<Built> {
        let c = *b.input().last().unwrap_or(&0);
        let (momentum, epsilon) = (self.momentum, self.epsilon);
        if !(0.0..=1.0).contains(&momentum) || epsilon.is_nan() || epsilon <= 0.0 {
            return Err(b.err(format!(
                "momentum {momentum} must be in [0, 1] and epsilon {epsilon} positive"
            )));
        }
        let params = [
            ("gamma", Initializer::Ones, true),
            ("beta", Initializer::Zeros, true),
            ("moving_mean", Initializer::Zeros, false),
            ("moving_variance", Initializer::Ones, false),
        ]
        .into_iter()
        .map(|(p, init, trainable)| b.fixed(p, vec![c], init, trainable))
        .collect();
        Ok(Built {
            output_shape: b.input().to_vec(),
            params,
            macs: 2 * b.input_len(),
        })
    }

    fn forward<'a>(&self, cx: &mut Cx<'_, 'a>, x: &[Var]) -> Result<Var> {
        let o = BatchNormOptions {
            momentum: self.momentum,
            epsilon: self.epsilon,
        };
        let (mm, mv) = cx.state.split_at_mut(1);
        let (gamma, beta) = (cx.params[0], cx.params[1]);
        Ok(cx
            .g
            .batch_norm(x[0], gamma, beta, &mut mm[0], &mut mv[0], cx.mode.training, &o)?)
    }
}
