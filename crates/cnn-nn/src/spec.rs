//! Serialisable layer and model descriptions with Keras's names, arguments and defaults.
//!
//! A model spec is what a JSON spec file holds and what a saved model stores as its
//! architecture:
//!
//! ```json
//! {"name": "mnist-cnn", "input_shape": [28, 28, 1], "layers": [
//!   {"type": "Conv2D", "filters": 32, "kernel_size": 3, "activation": "relu"},
//!   {"type": "MaxPooling2D"},
//!   {"type": "Flatten"},
//!   {"type": "Dense", "units": 10, "activation": "softmax"}]}
//! ```

use serde::{Deserialize, Serialize};

pub use crate::layers::LayerSpec;

/// A pair of sizes written as one number (`3`) or a pair (`[3, 5]`), like Keras's
/// `kernel_size=3` or `(3, 5)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Size2Repr", into = "Size2Repr")]
pub struct Size2(pub usize, pub usize);

#[derive(Clone, Copy, Serialize, Deserialize)]
#[serde(untagged)]
enum Size2Repr {
    One(usize),
    Two([usize; 2]),
}

impl From<Size2Repr> for Size2 {
    fn from(r: Size2Repr) -> Self {
        match r {
            Size2Repr::One(a) => Size2(a, a),
            Size2Repr::Two([a, b]) => Size2(a, b),
        }
    }
}

impl From<Size2> for Size2Repr {
    fn from(s: Size2) -> Self {
        if s.0 == s.1 {
            Size2Repr::One(s.0)
        } else {
            Size2Repr::Two([s.0, s.1])
        }
    }
}

impl From<usize> for Size2 {
    fn from(a: usize) -> Self {
        Size2(a, a)
    }
}

impl From<(usize, usize)> for Size2 {
    fn from((a, b): (usize, usize)) -> Self {
        Size2(a, b)
    }
}

/// Keras's `padding` argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PaddingSpec {
    /// No padding.
    #[default]
    Valid,
    /// Output size `ceil(input / stride)` (TensorFlow's rule).
    Same,
}

/// A whole model: a name, the input shape without the batch dimension, the layers in order,
/// and which layers are its outputs.
///
/// A spec whose layers have no `inputs` is a Sequential chain. A graph (Keras's functional
/// API) names what each layer reads: the model input (`input_name`, `input_1` by default) or
/// layers listed before it; `outputs` names the output layers (default: the last layer).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// The model's name (Keras: `sequential`).
    #[serde(default = "default_model_name")]
    pub name: String,
    /// Input shape without the batch dimension, e.g. `[28, 28, 1]`.
    pub input_shape: Vec<usize>,
    /// The name layers use to read the model input.
    #[serde(
        default = "default_input_name",
        skip_serializing_if = "is_default_input"
    )]
    pub input_name: String,
    /// The layers, in order (a layer reads only the input or layers before it).
    pub layers: Vec<LayerSpec>,
    /// The output layers by name; empty: the last layer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<String>,
}

/// The model input's default name (`input_1`, as tf.keras 2 names the first `Input`).
pub const DEFAULT_INPUT_NAME: &str = "input_1";

fn default_input_name() -> String {
    DEFAULT_INPUT_NAME.into()
}

fn is_default_input(name: &str) -> bool {
    name == DEFAULT_INPUT_NAME
}

impl Default for ModelSpec {
    /// A model called `sequential` with no input shape and no layers yet (fill in both).
    fn default() -> Self {
        ModelSpec::new(default_model_name(), Vec::new())
    }
}

fn default_model_name() -> String {
    "sequential".into()
}

impl ModelSpec {
    /// An empty Sequential model taking inputs of `input_shape` (without the batch dimension),
    /// to be filled with [`ModelSpec::add`]:
    ///
    /// ```
    /// use cnn_nn::{ModelSpec, spec::layers::*};
    /// let spec = ModelSpec::new("mnist-cnn", [28, 28, 1])
    ///     .add(conv2d(32, 3, "relu"))
    ///     .add(conv2d(64, 3, "relu"))
    ///     .add(max_pool(2))
    ///     .add(flatten())
    ///     .add(dense(128, "relu"))
    ///     .add(dense(10, "softmax"));
    /// let arch = cnn_nn::Architecture::from_spec(&spec).unwrap();
    /// assert_eq!(arch.param_counts().0, 1_199_882);
    /// ```
    pub fn new(name: impl Into<String>, input_shape: impl Into<Vec<usize>>) -> Self {
        ModelSpec {
            name: name.into(),
            input_shape: input_shape.into(),
            input_name: default_input_name(),
            layers: Vec::new(),
            outputs: Vec::new(),
        }
    }

    /// Appends a layer (Keras's `model.add`; the name is kept for parity, not `ops::Add`).
    #[allow(clippy::should_implement_trait)]
    pub fn add(mut self, layer: impl Into<LayerSpec>) -> Self {
        self.layers.push(layer.into());
        self
    }

    /// Parses a JSON spec.
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The spec as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

/// Short constructors for the common layers, with Keras's defaults.
pub mod layers {
    use super::Size2;
    use crate::layers::*;

    /// `Conv2D(filters, kernel_size, activation=...)`.
    pub fn conv2d(filters: usize, kernel_size: impl Into<Size2>, activation: &str) -> LayerSpec {
        Conv2D::new(filters, kernel_size, activation).into()
    }

    /// `MaxPooling2D(pool_size)`.
    pub fn max_pool(size: impl Into<Size2>) -> LayerSpec {
        MaxPooling2D(Pooling::new(size)).into()
    }

    /// `AveragePooling2D(pool_size)`.
    pub fn avg_pool(size: impl Into<Size2>) -> LayerSpec {
        AveragePooling2D(Pooling::new(size)).into()
    }

    /// `GlobalAveragePooling2D()`.
    pub fn global_avg_pool() -> LayerSpec {
        GlobalAveragePooling2D {}.into()
    }

    /// `Flatten()`.
    pub fn flatten() -> LayerSpec {
        Flatten {}.into()
    }

    /// `Dense(units, activation=...)`.
    pub fn dense(units: usize, activation: &str) -> LayerSpec {
        Dense::new(units, activation).into()
    }

    /// `Dropout(rate)`.
    pub fn dropout(rate: f32) -> LayerSpec {
        Dropout { rate }.into()
    }

    /// `BatchNormalization()`.
    pub fn batch_norm() -> LayerSpec {
        BatchNormalization::default().into()
    }

    /// `Activation(name)`.
    pub fn activation(name: &str) -> LayerSpec {
        Activation {
            activation: name.into(),
        }
        .into()
    }

    /// Local response normalisation with AlexNet's values.
    pub fn lrn() -> LayerSpec {
        LocalResponseNormalization::default().into()
    }

    /// `ZeroPadding2D(((top, bottom), (left, right)))`.
    pub fn zero_pad(rows: (usize, usize), cols: (usize, usize)) -> LayerSpec {
        ZeroPadding2D::new(rows, cols).into()
    }

    /// `Add()` of the layers (or model input) called `inputs`.
    pub fn add<S: Into<String>>(inputs: impl IntoIterator<Item = S>) -> LayerSpec {
        LayerSpec::from(Add {}).reading(inputs)
    }

    /// `Multiply()` of the layers (or model input) called `inputs`.
    pub fn multiply<S: Into<String>>(inputs: impl IntoIterator<Item = S>) -> LayerSpec {
        LayerSpec::from(Multiply {}).reading(inputs)
    }

    /// `Concatenate()` of the layers (or model input) called `inputs`, along the channels.
    pub fn concatenate<S: Into<String>>(inputs: impl IntoIterator<Item = S>) -> LayerSpec {
        LayerSpec::from(Concatenate::default()).reading(inputs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_uses_keras_names_and_defaults() {
        let spec: ModelSpec = serde_json::from_str(
            r#"{"input_shape": [28, 28, 1], "layers": [
                {"type": "Conv2D", "filters": 32, "kernel_size": 3, "activation": "relu"},
                {"type": "MaxPooling2D"},
                {"type": "Conv2D", "filters": 8, "kernel_size": [3, 5], "padding": "same", "strides": 2},
                {"type": "Flatten"},
                {"type": "Dense", "units": 10, "activation": "softmax"}]}"#,
        )
        .unwrap();
        assert_eq!(spec.name, "sequential");
        assert_eq!(spec.layers[0], layers::conv2d(32, 3, "relu"));
        assert_eq!(spec.layers[1], layers::max_pool(2));
        assert_eq!(
            spec.layers[2],
            layers::conv2d(8, (3, 5), "linear").same().strides(2)
        );
        let back: ModelSpec = serde_json::from_str(&serde_json::to_string(&spec).unwrap()).unwrap();
        assert_eq!(back, spec);
    }

    #[test]
    fn typos_are_errors() {
        let e = serde_json::from_str::<LayerSpec>(r#"{"type": "Dense", "unit": 10}"#).unwrap_err();
        assert!(e.to_string().contains("unit"), "{e}");
        assert!(serde_json::from_str::<LayerSpec>(r#"{"type": "Conv3D", "filters": 1}"#).is_err());
        assert!(serde_json::from_str::<LayerSpec>(r#"{"type": "Dense", "units": -5}"#).is_err());
    }
}
