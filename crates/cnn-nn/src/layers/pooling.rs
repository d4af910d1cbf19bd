//! The configuration max and average pooling share, and how both build.

use cnn_ops::Pool2dOptions;
use serde::{Deserialize, Serialize};

use super::common::{padding, pair, two};
use super::{Build, Built, shape_str};
use crate::error::Result;
use crate::spec::{PaddingSpec, Size2};

/// `pool_size=2, strides=None, padding='valid'`: a pooling window, Keras's defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pooling {
    /// Window size.
    #[serde(default = "two")]
    pub pool_size: Size2,
    /// Strides (`None` = pool size).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strides: Option<Size2>,
    /// Padding.
    #[serde(default)]
    pub padding: PaddingSpec,
}

impl Pooling {
    /// A `size` window with strides equal to it and no padding.
    pub fn new(size: impl Into<Size2>) -> Self {
        Pooling {
            pool_size: size.into(),
            strides: None,
            padding: PaddingSpec::Valid,
        }
    }

    /// The kernel options.
    pub fn options(&self) -> Pool2dOptions {
        Pool2dOptions {
            pool_size: pair(self.pool_size),
            strides: self.strides.map(pair),
            padding: padding(self.padding),
        }
    }

    /// Output shape and cost (one operation per window element) on the input image.
    pub(crate) fn build(&self, b: &Build<'_>) -> Result<Built> {
        let (h, w, c) = b.image()?;
        let (_, _, win) = self.options().resolve("pool", &[1, h, w, c]).map_err(|e| {
            b.err(format!(
                "{} with pool {}x{} on input {}",
                Build::op_message(&e),
                self.pool_size.0,
                self.pool_size.1,
                shape_str(b.input())
            ))
        })?;
        Ok(Built {
            output_shape: vec![win.out_h, win.out_w, c],
            params: vec![],
            macs: [win.out_h, win.out_w, c, self.pool_size.0, self.pool_size.1]
                .iter()
                .fold(1u64, |a, &d| a.saturating_mul(d as u64)),
        })
    }
}

impl Default for Pooling {
    fn default() -> Self {
        Pooling::new(2)
    }
}
