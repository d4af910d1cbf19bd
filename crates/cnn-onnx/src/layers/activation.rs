//! Activations: Relu, Clip (ReLU with a cap), Elu, LeakyRelu, Sigmoid, Tanh, HardSigmoid,
//! swish as `x · Sigmoid(x)`, gelu (the `Gelu` operator from opset 20, its erf form before),
//! Softmax on the channel axis.

use cnn_nn::ActivationKind;
use cnn_nn::layers::{Activation as ActivationLayer, ReLU};
use cnn_ops::Activation;

use super::LayerCx;
use crate::error::Result;
use crate::writer::{Attr, GraphWriter, Value};

/// Applies `a` to `x` (named after `base`); returns the new value (or `x` for `linear`).
pub(crate) fn activation(
    w: &mut GraphWriter,
    base: &str,
    x: &Value,
    a: ActivationKind,
    opset: i64,
) -> Value {
    let name = match a {
        ActivationKind::Softmax => {
            let axis = x.stored_axis(-1).unwrap_or(-1);
            w.node("Softmax", base, &[&x.name], vec![("axis", Attr::Int(axis))])
        }
        ActivationKind::Elementwise(f) => match elementwise(w, base, &x.name, f, opset) {
            Some(n) => n,
            None => return x.clone(),
        },
    };
    Value {
        name,
        layout: x.layout,
        shape: x.shape.clone(),
    }
}

/// An element-wise function of `x`; `None` for the identity.
fn elementwise(
    w: &mut GraphWriter,
    base: &str,
    x: &str,
    f: Activation,
    opset: i64,
) -> Option<String> {
    Some(match f {
        Activation::Linear => return None,
        Activation::Relu => w.node("Relu", base, &[x], vec![]),
        Activation::Sigmoid => w.node("Sigmoid", base, &[x], vec![]),
        Activation::Tanh => w.node("Tanh", base, &[x], vec![]),
        Activation::Elu(alpha) => w.node("Elu", base, &[x], vec![("alpha", Attr::Float(alpha))]),
        Activation::LeakyRelu(alpha) => {
            w.node("LeakyRelu", base, &[x], vec![("alpha", Attr::Float(alpha))])
        }
        Activation::ReluMax(cap) => {
            let lo = w.scalar(&format!("{base}/clip_min"), 0.0);
            let hi = w.scalar(&format!("{base}/clip_max"), cap);
            w.node("Clip", base, &[x, &lo, &hi], vec![])
        }
        // Keras 3: relu6(x + 3) / 6 = clip(x / 6 + 0.5, 0, 1).
        Activation::HardSigmoid => w.node(
            "HardSigmoid",
            base,
            &[x],
            vec![
                ("alpha", Attr::Float(1.0 / 6.0)),
                ("beta", Attr::Float(0.5)),
            ],
        ),
        Activation::Swish => {
            let s = w.node("Sigmoid", base, &[x], vec![]);
            w.node("Mul", base, &[x, &s], vec![])
        }
        Activation::Gelu if opset >= 20 => w.node("Gelu", base, &[x], vec![]),
        Activation::Gelu => {
            // 0.5 · x · (1 + erf(x / √2))
            let inv_sqrt2 = w.scalar(
                &format!("{base}/inv_sqrt2"),
                std::f32::consts::FRAC_1_SQRT_2,
            );
            let one = w.scalar(&format!("{base}/one"), 1.0);
            let half = w.scalar(&format!("{base}/half"), 0.5);
            let scaled = w.node("Mul", base, &[x, &inv_sqrt2], vec![]);
            let erf = w.node("Erf", base, &[&scaled], vec![]);
            let plus = w.node("Add", base, &[&erf, &one], vec![]);
            let xs = w.node("Mul", base, &[x, &plus], vec![]);
            w.node("Mul", base, &[&xs, &half], vec![])
        }
    })
}

/// `Activation(name)`.
pub(crate) fn activation_layer(
    w: &mut GraphWriter,
    cx: &LayerCx<'_>,
    l: &ActivationLayer,
) -> Result<Value> {
    let a = ActivationKind::parse(&l.activation)
        .ok_or_else(|| cx.err(format!("unknown activation `{}`", l.activation)))?;
    Ok(activation(w, cx.name(), cx.x(), a, cx.opset))
}

/// `ReLU(max_value, negative_slope, threshold)`.
pub(crate) fn relu_layer(w: &mut GraphWriter, cx: &LayerCx<'_>, l: &ReLU) -> Result<Value> {
    let f = match (l.max_value, l.negative_slope, l.threshold) {
        (None, s, t) if s == 0.0 && t == 0.0 => Activation::Relu,
        (None, s, t) if t == 0.0 && s.is_finite() => Activation::LeakyRelu(s),
        (Some(m), s, t) if s == 0.0 && t == 0.0 && m > 0.0 => Activation::ReluMax(m),
        _ => {
            return Err(cx.err(format!(
                "max_value {:?}, negative_slope {}, threshold {} has no ONNX mapping",
                l.max_value, l.negative_slope, l.threshold
            )));
        }
    };
    Ok(activation(
        w,
        cx.name(),
        cx.x(),
        ActivationKind::Elementwise(f),
        cx.opset,
    ))
}
