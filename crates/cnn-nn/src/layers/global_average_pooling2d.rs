//! `GlobalAveragePooling2D`: the mean of each channel over the whole image.

use cnn_ops::Var;
use serde::{Deserialize, Serialize};

use super::{Build, Built, Cx, LayerType};
use crate::error::Result;

/// `GlobalAveragePooling2D()`: `(None, H, W, C)` → `(None, C)`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalAveragePooling2D {}

impl LayerType for GlobalAveragePooling2D {
    const PREFIX: &'static str = "global_average_pooling2d";

    fn build(&self, b: &Build<'_>) -> Result<Built> {
        let (h, w, c) = b.image()?;
        Ok(Built {
            output_shape: vec![c],
            params: vec![],
            macs: (h * w * c) as u64,
        })
    }

    fn forward<'a>(&self, cx: &mut Cx<'_, 'a>, x: &[Var]) -> Result<Var> {
        Ok(cx.g.global_avg_pool2d(x[0])?)
    }
}
