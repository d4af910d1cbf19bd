//! `Dropout`: zeroes a fraction of its inputs in training (scaling the rest), nothing in
//! inference.

use cnn_ops::Var;
use serde::{Deserialize, Serialize};

use super::{Build, Built, Cx, LayerType};
use crate::error::Result;

/// `Dropout(rate)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dropout {
    /// Fraction of inputs dropped in training.
    pub rate: f32,
}

impl LayerType for Dropout {
    const PREFIX: &'static str = "dropout";

    fn build(&self, b: &Build<'_>) -> Result<Built> {
        if !(0.0..1.0).contains(&self.rate) {
            return Err(b.err(format!("rate {} is not in [0, 1)", self.rate)));
        }
        Ok(Built::shape(b.input().to_vec()))
    }

    fn forward<'a>(&self, cx: &mut Cx<'_, 'a>, x: &[Var]) -> Result<Var> {
        if cx.mode.training && self.rate > 0.0 {
            // Each dropout layer draws its own masks from the step's seed and its position.
            let seed = cx.mode.seed ^ (cx.index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            Ok(cx.g.dropout(x[0], self.rate, seed)?)
        } else {
            Ok(x[0])
        }
    }
}
