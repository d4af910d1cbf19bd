//! MaxPool / AveragePool with Keras's windows (`same` as explicit pads; average pooling never
//! counts the padding, as Keras's `same` does), and the global poolings followed by a Flatten
//! to Keras's `(None, C)`.

use cnn_nn::layers::Pooling;

use super::{LayerCx, image_input, pads};
use crate::error::Result;
use crate::writer::{Attr, GraphWriter, Layout, Value};

/// `MaxPooling2D` / `AveragePooling2D` as `op`.
pub(crate) fn pool(w: &mut GraphWriter, cx: &LayerCx<'_>, p: &Pooling, op: &str) -> Result<Value> {
    image_input(cx)?;
    let k = p.pool_size;
    let s = p.strides.unwrap_or(k);
    let mut attrs = vec![
        ("kernel_shape", Attr::Ints(vec![k.0 as i64, k.1 as i64])),
        ("strides", Attr::Ints(vec![s.0 as i64, s.1 as i64])),
        (
            "pads",
            Attr::Ints(pads(cx, p.padding, (k.0, k.1), (s.0, s.1), (1, 1))?),
        ),
    ];
    if op == "AveragePool" {
        attrs.push(("count_include_pad", Attr::Int(0)));
    }
    let y = w.node(op, cx.name(), &[&cx.x().name], attrs);
    Ok(cx.out(y, Layout::Nchw))
}

/// `GlobalAveragePooling2D` / `GlobalMaxPooling2D`: `[N, C, 1, 1]`, flattened to `[N, C]`.
pub(crate) fn global(w: &mut GraphWriter, cx: &LayerCx<'_>, op: &str) -> Result<Value> {
    image_input(cx)?;
    let g = w.node(op, cx.name(), &[&cx.x().name], vec![]);
    let y = w.node("Flatten", cx.name(), &[&g], vec![("axis", Attr::Int(1))]);
    Ok(cx.out(y, Layout::Keras))
}
