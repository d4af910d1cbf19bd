//! `Rescaling`: `x · scale + offset`, the preprocessing step inside a model (`1/255`, or
//! `1/127.5` with offset `-1` for inputs in `[-1, 1]`).

use cnn_ops::Var;
use serde::{Deserialize, Serialize};

use super::{Build, Built, Cx, LayerType};
use crate::error::Result;

/// `Rescaling(scale, offset=0.0)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rescaling {
    /// Multiplier.
    pub scale: f32,
    /// Added after scaling.
    #[serde(default)]
    pub offset: f32,
}

impl LayerType for Rescaling {
    const PREFIX: &'static str = "rescaling";

    fn build(&self, b: &Build<'_>) -> Result<Built> {
        if !self.scale.is_finite() || !self.offset.is_finite() {
            return Err(b.err(format!(
                "scale {} and offset {} must be finite",
                self.scale, self.offset
            )));
        }
        Ok(Built::shape(b.input().to_vec()))
    }

    fn forward<'a>(&self, cx: &mut Cx<'_, 'a>, x: &[Var]) -> Result<Var> {
        Ok(cx.g.affine(x[0], self.scale, self.offset)?)
    }
}
