//! Each layer as ONNX operators. One function per layer family; [`export_layer`] is the one
//! dispatch, an exhaustive match, so a layer added to cnn-nn without an ONNX mapping does not
//! compile.

mod activation;
mod conv;
mod merge;
mod norm;
mod pool;
mod shape;

use cnn_nn::{Layer, LayerConfig};
use cnn_tensor::Tensor;

pub(crate) use activation::activation;

use crate::error::{OnnxError, Result};
use crate::writer::{GraphWriter, Value};

/// What a layer's mapping can see.
pub(crate) struct LayerCx<'a> {
    /// The layer.
    pub layer: &'a Layer,
    /// Its inputs, in order.
    pub inputs: Vec<Value>,
    /// The model's weights by full name (`conv2d/kernel`).
    pub weights: &'a std::collections::HashMap<&'a str, &'a Tensor>,
    /// The opset being written.
    pub opset: i64,
}

impl LayerCx<'_> {
    /// The layer's name.
    pub fn name(&self) -> &str {
        &self.layer.name
    }

    /// The first input.
    pub fn x(&self) -> &Value {
        &self.inputs[0]
    }

    /// The layer's weight `param` (`kernel`, `bias`, ...).
    pub fn weight(&self, param: &str) -> Result<&Tensor> {
        let full = format!("{}/{param}", self.layer.name);
        self.weights
            .get(full.as_str())
            .copied()
            .ok_or_else(|| self.err(format!("the model has no weight `{full}`")))
    }

    /// Stores the layer's weight `param` as it is (shape and values) as an initializer named
    /// `layer/param`; returns its name.
    pub fn initializer(&self, w: &mut GraphWriter, param: &str) -> Result<String> {
        let t = self.weight(param)?;
        Ok(w.f32s(&format!("{}/{param}", self.layer.name), t.dims(), t.data()))
    }

    /// An error naming this layer.
    pub fn err(&self, message: impl Into<String>) -> OnnxError {
        OnnxError::Layer {
            layer: self.layer.name.clone(),
            class: self.layer.config().class_name(),
            message: message.into(),
        }
    }

    /// The output value: `name` in `layout`, with the layer's output shape.
    pub fn out(&self, name: String, layout: crate::writer::Layout) -> Value {
        Value {
            name,
            layout,
            shape: self.layer.output_shape.clone(),
        }
    }
}

/// Writes `cx.layer` and returns its output value.
pub(crate) fn export_layer(w: &mut GraphWriter, cx: &LayerCx<'_>) -> Result<Value> {
    match cx.layer.config() {
        LayerConfig::Conv2D(l) => conv::conv2d(w, cx, l),
        LayerConfig::DepthwiseConv2D(l) => conv::depthwise(w, cx, l),
        LayerConfig::SeparableConv2D(l) => conv::separable(w, cx, l),
        LayerConfig::MaxPooling2D(l) => pool::pool(w, cx, &l.0, "MaxPool"),
        LayerConfig::AveragePooling2D(l) => pool::pool(w, cx, &l.0, "AveragePool"),
        LayerConfig::GlobalAveragePooling2D(_) => pool::global(w, cx, "GlobalAveragePool"),
        LayerConfig::GlobalMaxPooling2D(_) => pool::global(w, cx, "GlobalMaxPool"),
        LayerConfig::Flatten(_) => shape::flatten(w, cx),
        LayerConfig::Reshape(l) => shape::reshape(w, cx, l),
        LayerConfig::ZeroPadding2D(l) => shape::zero_padding(w, cx, l),
        LayerConfig::Dense(l) => conv::dense(w, cx, l),
        // Inference: dropout is the identity.
        LayerConfig::Dropout(_) => Ok(cx.out(cx.x().name.clone(), cx.x().layout)),
        LayerConfig::BatchNormalization(l) => norm::batch_norm(w, cx, l),
        LayerConfig::LocalResponseNormalization(l) => norm::lrn(w, cx, l),
        LayerConfig::Activation(l) => activation::activation_layer(w, cx, l),
        LayerConfig::ReLU(l) => activation::relu_layer(w, cx, l),
        LayerConfig::Rescaling(l) => norm::rescaling(w, cx, l),
        LayerConfig::Add(_) => merge::elementwise(w, cx, "Add"),
        LayerConfig::Multiply(_) => merge::elementwise(w, cx, "Mul"),
        LayerConfig::Concatenate(l) => merge::concatenate(w, cx, l),
    }
}

/// Keras's `same` padding on one axis as explicit `(before, after)` pads: the output has
/// `ceil(n / stride)` positions and the odd pixel goes after (TensorFlow's rule).
pub(crate) fn same_pads(n: usize, kernel: usize, stride: usize, dilation: usize) -> (i64, i64) {
    let effective = (kernel - 1) * dilation + 1;
    let out = n.div_ceil(stride);
    let total = ((out - 1) * stride + effective).saturating_sub(n);
    ((total / 2) as i64, (total - total / 2) as i64)
}

/// ONNX `pads` (`[top, left, bottom, right]`) for a 2-D window on an image `cx.x()`.
pub(crate) fn pads(
    cx: &LayerCx<'_>,
    padding: cnn_nn::spec::PaddingSpec,
    kernel: (usize, usize),
    strides: (usize, usize),
    dilation: (usize, usize),
) -> Result<Vec<i64>> {
    let [h, w, _] = cx.x().shape[..] else {
        return Err(cx.err(format!(
            "needs an image input (H, W, C), got {:?}",
            cx.x().shape
        )));
    };
    Ok(match padding {
        cnn_nn::spec::PaddingSpec::Valid => vec![0; 4],
        cnn_nn::spec::PaddingSpec::Same => {
            let (t, b) = same_pads(h, kernel.0, strides.0, dilation.0);
            let (l, r) = same_pads(w, kernel.1, strides.1, dilation.1);
            vec![t, l, b, r]
        }
    })
}

/// Checks that the layer's input is an image stored NCHW.
pub(crate) fn image_input(cx: &LayerCx<'_>) -> Result<()> {
    if cx.x().layout != crate::writer::Layout::Nchw {
        return Err(cx.err(format!(
            "needs an image input (H, W, C), got {:?}",
            cx.x().shape
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::same_pads;

    #[test]
    fn same_pads_follow_tensorflow() {
        // 5 wide, kernel 3, stride 1: one each side.
        assert_eq!(same_pads(5, 3, 1, 1), (1, 1));
        // 224, kernel 7, stride 2 (ResNet's stem): 2 before, 3 after.
        assert_eq!(same_pads(224, 7, 2, 1), (2, 3));
        // 6, kernel 2, stride 2: none.
        assert_eq!(same_pads(6, 2, 2, 1), (0, 0));
        // 5, kernel 2, stride 2: ceil(5/2) = 3 outputs need 1 more, after.
        assert_eq!(same_pads(5, 2, 2, 1), (0, 1));
        // Dilation 2 makes a 3-kernel span 5: two each side.
        assert_eq!(same_pads(9, 3, 1, 2), (2, 2));
    }
}
