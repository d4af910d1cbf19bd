//! Add, Multiply and Concatenate.

use cnn_nn::layers::Concatenate;

use super::LayerCx;
use crate::error::Result;
use crate::writer::{Attr, GraphWriter, Value};

/// `Add` / `Multiply` of every input, as a chain of binary `op`s in input order.
pub(crate) fn elementwise(w: &mut GraphWriter, cx: &LayerCx<'_>, op: &str) -> Result<Value> {
    let mut acc = cx.inputs[0].name.clone();
    for x in &cx.inputs[1..] {
        acc = w.node(op, cx.name(), &[&acc, &x.name], vec![]);
    }
    Ok(cx.out(acc, cx.x().layout))
}

/// `Concatenate(axis)`, with the Keras axis mapped to the stored layout.
pub(crate) fn concatenate(w: &mut GraphWriter, cx: &LayerCx<'_>, l: &Concatenate) -> Result<Value> {
    let axis = cx
        .x()
        .stored_axis(l.axis)
        .ok_or_else(|| cx.err(format!("axis {} is outside the input's rank", l.axis)))?;
    let names: Vec<&str> = cx.inputs.iter().map(|v| v.name.as_str()).collect();
    let y = w.node("Concat", cx.name(), &names, vec![("axis", Attr::Int(axis))]);
    Ok(cx.out(y, cx.x().layout))
}
