//! `Concatenate`: inputs side by side along the channel (last) axis (Inception's branches,
//! DenseNet's blocks).

use cnn_ops::Var;
use serde::{Deserialize, Serialize};

use super::common::minus_one;
use super::{Build, Built, Cx, LayerType, shape_str};
use crate::error::Result;

/// `Concatenate(axis=-1)`. Only the last axis is supported (`-1`, or its index counting the
/// batch axis, as Keras numbers axes).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Concatenate {
    /// The axis to join along.
    #[serde(default = "minus_one")]
    pub axis: i64,
}

impl Default for Concatenate {
    fn default() -> Self {
        Concatenate { axis: -1 }
    }
}

impl LayerType for Concatenate {
    const PREFIX: &'static str = "concatenate";
    const MIN_INPUTS: usize = 2;
    const MAX_INPUTS: usize = usize::MAX;

    fn build(&self, b: &Build<'_>) -> Result<Built> {
        let first = b.input();
        let rank = first.len() as i64;
        if self.axis != -1 && self.axis != rank {
            return Err(b.err(format!(
                "axis {} is not supported: only the last axis (-1, or {rank} for inputs {}) \
                 can be joined",
                self.axis,
                shape_str(first)
            )));
        }
        let lead = &first[..first.len().saturating_sub(1)];
        let mut channels = 0usize;
        for s in b.inputs {
            if s.len() != first.len() || s[..s.len().saturating_sub(1)] != *lead {
                return Err(b.err(format!(
                    "Concatenate needs inputs that differ only in the last axis, got {} and {}",
                    shape_str(first),
                    shape_str(s)
                )));
            }
            channels = channels.saturating_add(*s.last().unwrap_or(&0));
        }
        let mut out = lead.to_vec();
        out.push(channels);
        Ok(Built::shape(out))
    }

    fn forward<'a>(&self, cx: &mut Cx<'_, 'a>, x: &[Var]) -> Result<Var> {
        Ok(cx.g.concat_last(x)?)
    }
}
