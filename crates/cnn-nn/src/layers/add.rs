//! `Add`: the element-wise sum of two or more inputs of one shape (ResNet's shortcuts).

use cnn_ops::Var;
use serde::{Deserialize, Serialize};

use super::{Build, Built, Cx, LayerType, merge};
use crate::error::Result;

/// `Add()`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Add {}

impl LayerType for Add {
    const PREFIX: &'static str = "add";
    const MIN_INPUTS: usize = 2;
    const MAX_INPUTS: usize = usize::MAX;

    fn build(&self, b: &Build<'_>) -> Result<Built> {
        merge::same_shapes(b)
    }

    fn forward<'a>(&self, cx: &mut Cx<'_, 'a>, x: &[Var]) -> Result<Var> {
        let mut y = x[0];
        for &v in &x[1..] {
            y = cx.g.add(y, v)?;
        }
        Ok(y)
    }
}
