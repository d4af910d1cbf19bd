//! `GlobalMaxPooling2D`: the largest value of each channel over the whole image.

use cnn_ops::Var;
use serde::{Deserialize, Serialize};

use super::{Build, Built, Cx, LayerType};
use crate::error::Result;

/// `GlobalMaxPooling2D()`: `(None, H, W, C)` → `(None, C)`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalMaxPooling2D {}

impl LayerType for GlobalMaxPooling2D {
    const PREFIX: &'static str = "global_max_pooling2d";

    fn build(&self, b: &Build<'_>) -> Result<Built> {
        let (h, w, c) = b.image()?;
        Ok(Built {
            output_shape: vec![c],
            params: vec![],
            macs: (h * w * c) as u64,
        })
    }

    fn forward<'a>(&self, cx: &mut Cx<'_, 'a>, x: &[Var]) -> Result<Var> {
        Ok(cx.g.global_max_pool2d(x[0])?)
    }
}
