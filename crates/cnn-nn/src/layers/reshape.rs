//! `Reshape`: the same values in another shape (row-major, as Keras reshapes channels-last
//! tensors); one dimension may be `-1`, inferred from the others.

use cnn_ops::Var;
use serde::{Deserialize, Serialize};

use super::{Build, Built, Cx, LayerType, shape_str};
use crate::error::Result;

/// `Reshape(target_shape)`, without the batch dimension.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reshape {
    /// The new shape; at most one entry may be `-1`.
    pub target_shape: Vec<i64>,
}

impl Reshape {
    fn resolve(&self, b: &Build<'_>) -> Result<Vec<usize>> {
        let len = b.input_len();
        let bad = |why: &str| {
            b.err(format!(
                "cannot reshape {} to {:?}: {why}",
                shape_str(b.input()),
                self.target_shape
            ))
        };
        if self.target_shape.is_empty() {
            return Err(bad("the target shape is empty"));
        }
        let unknown = self.target_shape.iter().filter(|&&d| d == -1).count();
        if unknown > 1 || self.target_shape.iter().any(|&d| d == 0 || d < -1) {
            return Err(bad("dimensions must be positive, with at most one -1"));
        }
        let known = self
            .target_shape
            .iter()
            .filter(|&&d| d > 0)
            .try_fold(1u64, |a, &d| a.checked_mul(d as u64))
            .ok_or_else(|| bad("the size overflows"))?;
        let fill = if unknown == 1 {
            if known == 0 || !len.is_multiple_of(known) {
                return Err(bad("the sizes do not divide"));
            }
            len / known
        } else if known != len {
            return Err(bad(&format!("{len} values do not fit {known}")));
        } else {
            1
        };
        Ok(self
            .target_shape
            .iter()
            .map(|&d| if d == -1 { fill as usize } else { d as usize })
            .collect())
    }
}

impl LayerType for Reshape {
    const PREFIX: &'static str = "reshape";

    fn build(&self, b: &Build<'_>) -> Result<Built> {
        Ok(Built::shape(self.resolve(b)?))
    }

    fn forward<'a>(&self, cx: &mut Cx<'_, 'a>, x: &[Var]) -> Result<Var> {
        let xv = cx.g.value(x[0]);
        let n = xv.dims()[0];
        let per = xv.len() / n.max(1);
        let known: usize = self
            .target_shape
            .iter()
            .filter(|&&d| d > 0)
            .map(|&d| d as usize)
            .product();
        let mut dims = vec![n];
        dims.extend(self.target_shape.iter().map(|&d| {
            if d == -1 {
                per / known.max(1)
            } else {
                d as usize
            }
        }));
        Ok(cx.g.reshape(x[0], &dims)?)
    }
}
