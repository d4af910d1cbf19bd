//! Flatten (in Keras's HWC order), Reshape and ZeroPadding2D.

use cnn_nn::layers::{Reshape, ZeroPadding2D};

use super::{LayerCx, image_input};
use crate::error::Result;
use crate::writer::{Attr, GraphWriter, Layout, Value};

/// The value in Keras's order: images go back from NCHW to NHWC.
fn keras_order(w: &mut GraphWriter, base: &str, x: &Value) -> String {
    match x.layout {
        Layout::Nchw => w.transpose(base, &x.name, [0, 2, 3, 1]),
        Layout::Keras => x.name.clone(),
    }
}

/// `Flatten`: `(None, H, W, C)` → `(None, H·W·C)` in Keras's (HWC) order, so the Dense after
/// it reads its rows as trained.
pub(crate) fn flatten(w: &mut GraphWriter, cx: &LayerCx<'_>) -> Result<Value> {
    let x = keras_order(w, cx.name(), cx.x());
    let y = w.node("Flatten", cx.name(), &[&x], vec![("axis", Attr::Int(1))]);
    Ok(cx.out(y, Layout::Keras))
}

/// `Reshape(target_shape)`: in Keras's order, with the batch dimension copied (`0`), back to
/// NCHW when the result is an image.
pub(crate) fn reshape(w: &mut GraphWriter, cx: &LayerCx<'_>, _l: &Reshape) -> Result<Value> {
    let x = keras_order(w, cx.name(), cx.x());
    let out_shape = &cx.layer.output_shape;
    let mut target = vec![0i64];
    target.extend(out_shape.iter().map(|&d| d as i64));
    let shape = w.i64s(&format!("{}/shape", cx.name()), &target);
    let y = w.node("Reshape", cx.name(), &[&x, &shape], vec![]);
    if out_shape.len() == 3 {
        let t = w.transpose(cx.name(), &y, [0, 3, 1, 2]);
        Ok(cx.out(t, Layout::Nchw))
    } else {
        Ok(cx.out(y, Layout::Keras))
    }
}

/// `ZeroPadding2D`: `Pad` with zeros around each image.
pub(crate) fn zero_padding(
    w: &mut GraphWriter,
    cx: &LayerCx<'_>,
    l: &ZeroPadding2D,
) -> Result<Value> {
    image_input(cx)?;
    let (t, b) = l.padding.rows;
    let (le, r) = l.padding.cols;
    let pads = w.i64s(
        &format!("{}/pads", cx.name()),
        &[0, 0, t as i64, le as i64, 0, 0, b as i64, r as i64],
    );
    let y = w.node(
        "Pad",
        cx.name(),
        &[&cx.x().name, &pads],
        vec![("mode", Attr::Str("constant"))],
    );
    Ok(cx.out(y, Layout::Nchw))
}
