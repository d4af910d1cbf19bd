//! `MaxPooling2D`: the largest value of each window.

use cnn_ops::Var;
use serde::{Deserialize, Serialize};

use super::pooling::Pooling;
use super::{Build, Built, Cx, LayerType};
use crate::error::Result;

/// `MaxPooling2D(pool_size=2, strides=None, padding='valid')`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MaxPooling2D(pub Pooling);

impl LayerType for MaxPooling2D {
    const PREFIX: &'static str = "max_pooling2d";

    fn build(&self, b: &Build<'_>) -> Result<Built> {
        self.0.build(b)
    }

    fn forward<'a>(&self, cx: &mut Cx<'_, 'a>, x: &[Var]) -> Result<Var> {
        Ok(cx.g.max_pool2d(x[0], &self.0.options())?)
    }
}
