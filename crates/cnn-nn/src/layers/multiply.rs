//! `Multiply`: the element-wise product of two or more inputs of one shape (gates,
//! squeeze-and-excitation).

use cnn_ops::Var;
use serde::{Deserialize, Serialize};

use super::{Build, Built, Cx, LayerType, merge};
use crate::error::Result;

/// `Multiply()`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Multiply {}

impl LayerType for Multiply {
    const PREFIX: &'static str = "multiply";
    const MIN_INPUTS: usize = 2;
    const MAX_INPUTS: usize = usize::MAX;

    fn build(&self, b: &Build<'_>) -> Result<Built> {
        merge::same_shapes(b)
    }

    fn forward<'a>(&self, cx: &mut Cx<'_, 'a>, x: &[Var]) -> Result<Var> {
        let mut y = x[0];
        for &v in &x[1..] {
            y = cx.g.mul(y, v)?;
        }
        Ok(y)
    }
}
