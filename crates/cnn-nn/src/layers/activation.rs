//! `Activation`: an activation function as a layer of its own.

use cnn_ops::Var;
use serde::{Deserialize, Serialize};

use super::{ActivationKind, Build, Built, Cx, LayerType};
use crate::error::Result;

/// `Activation(activation)`: `relu`, `softmax`, ...
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Activation {
    /// Activation name.
    pub activation: String,
}

impl LayerType for Activation {
    const PREFIX: &'static str = "activation";

    fn build(&self, b: &Build<'_>) -> Result<Built> {
        b.activation(&self.activation)?;
        Ok(Built::shape(b.input().to_vec()))
    }

    fn forward<'a>(&self, cx: &mut Cx<'_, 'a>, x: &[Var]) -> Result<Var> {
        cx.pre = Some(x[0]);
        let act = super::common::activation_of(self.activation.as_str());
        cx.activate(x[0], act)
    }

    fn final_activation(&self) -> Option<ActivationKind> {
        ActivationKind::parse(&self.activation)
    }
}
