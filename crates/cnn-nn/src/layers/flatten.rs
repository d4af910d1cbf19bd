//! `Flatten`: one feature vector per sample, in NHWC order (as Keras flattens channels-last).

use cnn_ops::Var;
use serde::{Deserialize, Serialize};

use super::{Build, Built, Cx, LayerType};
use crate::error::Result;

/// `Flatten()`: `(None, H, W, C)` → `(None, H·W·C)`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flatten {}

impl LayerType for Flatten {
    const PREFIX: &'static str = "flatten";

    fn build(&self, b: &Build<'_>) -> Result<Built> {
        Ok(Built::shape(vec![b.input().iter().product()]))
    }

    fn forward<'a>(&self, cx: &mut Cx<'_, 'a>, x: &[Var]) -> Result<Var> {
        Ok(cx.g.flatten(x[0])?)
    }
}
