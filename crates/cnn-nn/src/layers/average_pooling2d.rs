//! `AveragePooling2D`: the mean of each window (`same` padding averages over the window's
//! part inside the image, as Keras does).

use cnn_ops::Var;
use serde::{Deserialize, Serialize};

use super::pooling::Pooling;
use super::{Build, Built, Cx, LayerType};
use crate::error::Result;

/// `AveragePooling2D(pool_size=2, strides=None, padding='valid')`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AveragePooling2D(pub Pooling);

impl LayerType for AveragePooling2D {
    const PREFIX: &'static str = "average_pooling2d";

    fn build(&self, b: &Build<'_>) -> Result<Built> {
        self.0.build(b)
    }

    fn forward<'a>(&self, cx: &mut Cx<'_, 'a>, x: &[Var]) -> Result<Var> {
        Ok(cx.g.avg_pool2d(x[0], &self.0.options())?)
    }
}
