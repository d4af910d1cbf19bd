//! BatchNormalization in its inference form, LRN, Rescaling.

use cnn_nn::layers::{BatchNormalization, LocalResponseNormalization, Rescaling};

use super::{LayerCx, image_input};
use crate::error::Result;
use crate::writer::{Attr, GraphWriter, Layout, Value};

/// `BatchNormalization` with the moving statistics: ONNX's `BatchNormalization` (inference
/// mode), which normalises axis 1 — the channels of an NCHW image or the features of a flat
/// value.
pub(crate) fn batch_norm(
    w: &mut GraphWriter,
    cx: &LayerCx<'_>,
    l: &BatchNormalization,
) -> Result<Value> {
    let x = cx.x();
    if !(x.layout == Layout::Nchw || x.shape.len() == 1) {
        return Err(cx.err(format!(
            "normalises the last axis of {:?}, which ONNX's BatchNormalization (axis 1) cannot \
             express without transposes; supported are images and flat inputs",
            x.shape
        )));
    }
    let name = cx.name();
    let mut inputs = vec![x.name.clone()];
    for p in ["gamma", "beta", "moving_mean", "moving_variance"] {
        inputs.push(cx.initializer(w, p)?);
    }
    let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let y = w.node(
        "BatchNormalization",
        name,
        &refs,
        vec![("epsilon", Attr::Float(l.epsilon))],
    );
    Ok(cx.out(y, x.layout))
}

/// `LocalResponseNormalization` (TensorFlow's definition) as ONNX `LRN`: the window is
/// `2·depth_radius + 1` channels and ONNX divides `alpha` by the window size, so it gets
/// `alpha · size`.
pub(crate) fn lrn(
    w: &mut GraphWriter,
    cx: &LayerCx<'_>,
    l: &LocalResponseNormalization,
) -> Result<Value> {
    image_input(cx)?;
    let size = 2 * l.depth_radius + 1;
    let y = w.node(
        "LRN",
        cx.name(),
        &[&cx.x().name],
        vec![
            ("size", Attr::Int(size as i64)),
            ("alpha", Attr::Float(l.alpha * size as f32)),
            ("beta", Attr::Float(l.beta)),
            ("bias", Attr::Float(l.bias)),
        ],
    );
    Ok(cx.out(y, Layout::Nchw))
}

/// `Rescaling(scale, offset)`: `x · scale + offset`.
pub(crate) fn rescaling(w: &mut GraphWriter, cx: &LayerCx<'_>, l: &Rescaling) -> Result<Value> {
    let name = cx.name();
    let s = w.scalar(&format!("{name}/scale"), l.scale);
    let mut y = w.node("Mul", name, &[&cx.x().name, &s], vec![]);
    if l.offset != 0.0 {
        let o = w.scalar(&format!("{name}/offset"), l.offset);
        y = w.node("Add", name, &[&y, &o], vec![]);
    }
    Ok(cx.out(y, cx.x().layout))
}
