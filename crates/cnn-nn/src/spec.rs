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

fn one() -> Size2 {
    Size2(1, 1)
}
fn two() -> Size2 {
    Size2(2, 2)
}
fn yes() -> bool {
    true
}
fn glorot() -> String {
    "glorot_uniform".into()
}
fn zeros() -> String {
    "zeros".into()
}
fn linear() -> String {
    "linear".into()
}
fn bn_momentum() -> f32 {
    0.99
}
fn bn_epsilon() -> f32 {
    1e-3
}
fn lrn_radius() -> usize {
    2
}
fn lrn_bias() -> f32 {
    2.0
}
fn lrn_alpha() -> f32 {
    1e-4
}
fn lrn_beta() -> f32 {
    0.75
}

/// One layer, tagged by its Keras class name (`"type": "Conv2D"`). Omitted fields take Keras's
/// defaults; unknown fields are errors (a typo is never silently ignored).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum LayerSpec {
    /// `Conv2D(filters, kernel_size, strides=1, padding='valid', dilation_rate=1,
    /// activation=None, use_bias=True, kernel_initializer='glorot_uniform',
    /// bias_initializer='zeros')`.
    Conv2D {
        /// Layer name (automatic when omitted).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// Number of filters (output channels).
        filters: usize,
        /// Kernel height and width.
        kernel_size: Size2,
        /// Strides.
        #[serde(default = "one")]
        strides: Size2,
        /// Padding.
        #[serde(default)]
        padding: PaddingSpec,
        /// Dilation rate.
        #[serde(default = "one")]
        dilation_rate: Size2,
        /// Activation name (`linear` when omitted).
        #[serde(default = "linear")]
        activation: String,
        /// Whether the layer has a bias.
        #[serde(default = "yes")]
        use_bias: bool,
        /// Kernel initialiser name.
        #[serde(default = "glorot")]
        kernel_initializer: String,
        /// Bias initialiser name.
        #[serde(default = "zeros")]
        bias_initializer: String,
    },
    /// `MaxPooling2D(pool_size=2, strides=None, padding='valid')`.
    MaxPooling2D {
        /// Layer name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// Window size.
        #[serde(default = "two")]
        pool_size: Size2,
        /// Strides (`None` = pool size).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        strides: Option<Size2>,
        /// Padding.
        #[serde(default)]
        padding: PaddingSpec,
    },
    /// `AveragePooling2D(pool_size=2, strides=None, padding='valid')`.
    AveragePooling2D {
        /// Layer name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// Window size.
        #[serde(default = "two")]
        pool_size: Size2,
        /// Strides (`None` = pool size).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        strides: Option<Size2>,
        /// Padding.
        #[serde(default)]
        padding: PaddingSpec,
    },
    /// `GlobalAveragePooling2D()`.
    GlobalAveragePooling2D {
        /// Layer name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
    /// `Flatten()`.
    Flatten {
        /// Layer name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
    /// `Dense(units, activation=None, use_bias=True, kernel_initializer='glorot_uniform',
    /// bias_initializer='zeros')`.
    Dense {
        /// Layer name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// Output features.
        units: usize,
        /// Activation name.
        #[serde(default = "linear")]
        activation: String,
        /// Whether the layer has a bias.
        #[serde(default = "yes")]
        use_bias: bool,
        /// Kernel initialiser name.
        #[serde(default = "glorot")]
        kernel_initializer: String,
        /// Bias initialiser name.
        #[serde(default = "zeros")]
        bias_initializer: String,
    },
    /// `Dropout(rate)`.
    Dropout {
        /// Layer name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// Fraction of inputs dropped in training.
        rate: f32,
    },
    /// `BatchNormalization(momentum=0.99, epsilon=0.001)` over the last axis.
    BatchNormalization {
        /// Layer name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// Moving-average momentum.
        #[serde(default = "bn_momentum")]
        momentum: f32,
        /// Variance epsilon.
        #[serde(default = "bn_epsilon")]
        epsilon: f32,
    },
    /// `Activation(activation)`: `relu`, `softmax`, ...
    Activation {
        /// Layer name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// Activation name.
        activation: String,
    },
    /// Local response normalisation (TensorFlow's definition; AlexNet's values by default).
    LocalResponseNormalization {
        /// Layer name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// Half-width of the channel window.
        #[serde(default = "lrn_radius")]
        depth_radius: usize,
        /// Additive constant.
        #[serde(default = "lrn_bias")]
        bias: f32,
        /// Scale.
        #[serde(default = "lrn_alpha")]
        alpha: f32,
        /// Exponent.
        #[serde(default = "lrn_beta")]
        beta: f32,
    },
}

impl LayerSpec {
    /// The Keras class name (`"Conv2D"`).
    pub fn class_name(&self) -> &'static str {
        match self {
            LayerSpec::Conv2D { .. } => "Conv2D",
            LayerSpec::MaxPooling2D { .. } => "MaxPooling2D",
            LayerSpec::AveragePooling2D { .. } => "AveragePooling2D",
            LayerSpec::GlobalAveragePooling2D { .. } => "GlobalAveragePooling2D",
            LayerSpec::Flatten { .. } => "Flatten",
            LayerSpec::Dense { .. } => "Dense",
            LayerSpec::Dropout { .. } => "Dropout",
            LayerSpec::BatchNormalization { .. } => "BatchNormalization",
            LayerSpec::Activation { .. } => "Activation",
            LayerSpec::LocalResponseNormalization { .. } => "LocalResponseNormalization",
        }
    }

    /// The prefix of automatic names (`conv2d`, `max_pooling2d`, ...), as Keras derives them.
    pub fn auto_prefix(&self) -> &'static str {
        match self {
            LayerSpec::Conv2D { .. } => "conv2d",
            LayerSpec::MaxPooling2D { .. } => "max_pooling2d",
            LayerSpec::AveragePooling2D { .. } => "average_pooling2d",
            LayerSpec::GlobalAveragePooling2D { .. } => "global_average_pooling2d",
            LayerSpec::Flatten { .. } => "flatten",
            LayerSpec::Dense { .. } => "dense",
            LayerSpec::Dropout { .. } => "dropout",
            LayerSpec::BatchNormalization { .. } => "batch_normalization",
            LayerSpec::Activation { .. } => "activation",
            LayerSpec::LocalResponseNormalization { .. } => "local_response_normalization",
        }
    }

    /// The explicit name, if one was given.
    pub fn name(&self) -> Option<&str> {
        match self {
            LayerSpec::Conv2D { name, .. }
            | LayerSpec::MaxPooling2D { name, .. }
            | LayerSpec::AveragePooling2D { name, .. }
            | LayerSpec::GlobalAveragePooling2D { name }
            | LayerSpec::Flatten { name }
            | LayerSpec::Dense { name, .. }
            | LayerSpec::Dropout { name, .. }
            | LayerSpec::BatchNormalization { name, .. }
            | LayerSpec::Activation { name, .. }
            | LayerSpec::LocalResponseNormalization { name, .. } => name.as_deref(),
        }
    }

    /// The same layer with an explicit name.
    pub fn named(mut self, new: impl Into<String>) -> Self {
        match &mut self {
            LayerSpec::Conv2D { name, .. }
            | LayerSpec::MaxPooling2D { name, .. }
            | LayerSpec::AveragePooling2D { name, .. }
            | LayerSpec::GlobalAveragePooling2D { name }
            | LayerSpec::Flatten { name }
            | LayerSpec::Dense { name, .. }
            | LayerSpec::Dropout { name, .. }
            | LayerSpec::BatchNormalization { name, .. }
            | LayerSpec::Activation { name, .. }
            | LayerSpec::LocalResponseNormalization { name, .. } => *name = Some(new.into()),
        }
        self
    }

    /// The same layer with `same` padding (convolution and pooling layers; others unchanged).
    pub fn same(mut self) -> Self {
        match &mut self {
            LayerSpec::Conv2D { padding, .. }
            | LayerSpec::MaxPooling2D { padding, .. }
            | LayerSpec::AveragePooling2D { padding, .. } => *padding = PaddingSpec::Same,
            _ => {}
        }
        self
    }

    /// The same layer with these strides (convolution and pooling layers; others unchanged).
    pub fn strides(mut self, s: impl Into<Size2>) -> Self {
        let s = s.into();
        match &mut self {
            LayerSpec::Conv2D { strides, .. } => *strides = s,
            LayerSpec::MaxPooling2D { strides, .. }
            | LayerSpec::AveragePooling2D { strides, .. } => *strides = Some(s),
            _ => {}
        }
        self
    }
}

/// A whole Sequential model: a name, the input shape without the batch dimension, the layers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// The model's name (Keras: `sequential`).
    #[serde(default = "default_model_name")]
    pub name: String,
    /// Input shape without the batch dimension, e.g. `[28, 28, 1]`.
    pub input_shape: Vec<usize>,
    /// The layers, in order.
    pub layers: Vec<LayerSpec>,
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
            layers: Vec::new(),
        }
    }

    /// Appends a layer (Keras's `model.add`; the name is kept for parity, not `ops::Add`).
    #[allow(clippy::should_implement_trait)]
    pub fn add(mut self, layer: LayerSpec) -> Self {
        self.layers.push(layer);
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
    use super::*;

    /// `Conv2D(filters, kernel_size, activation=...)`.
    pub fn conv2d(filters: usize, kernel_size: impl Into<Size2>, activation: &str) -> LayerSpec {
        LayerSpec::Conv2D {
            name: None,
            filters,
            kernel_size: kernel_size.into(),
            strides: one(),
            padding: PaddingSpec::Valid,
            dilation_rate: one(),
            activation: activation.into(),
            use_bias: true,
            kernel_initializer: glorot(),
            bias_initializer: zeros(),
        }
    }

    /// `MaxPooling2D(pool_size)`.
    pub fn max_pool(size: impl Into<Size2>) -> LayerSpec {
        LayerSpec::MaxPooling2D {
            name: None,
            pool_size: size.into(),
            strides: None,
            padding: PaddingSpec::Valid,
        }
    }

    /// `AveragePooling2D(pool_size)`.
    pub fn avg_pool(size: impl Into<Size2>) -> LayerSpec {
        LayerSpec::AveragePooling2D {
            name: None,
            pool_size: size.into(),
            strides: None,
            padding: PaddingSpec::Valid,
        }
    }

    /// `GlobalAveragePooling2D()`.
    pub fn global_avg_pool() -> LayerSpec {
        LayerSpec::GlobalAveragePooling2D { name: None }
    }

    /// `Flatten()`.
    pub fn flatten() -> LayerSpec {
        LayerSpec::Flatten { name: None }
    }

    /// `Dense(units, activation=...)`.
    pub fn dense(units: usize, activation: &str) -> LayerSpec {
        LayerSpec::Dense {
            name: None,
            units,
            activation: activation.into(),
            use_bias: true,
            kernel_initializer: glorot(),
            bias_initializer: zeros(),
        }
    }

    /// `Dropout(rate)`.
    pub fn dropout(rate: f32) -> LayerSpec {
        LayerSpec::Dropout { name: None, rate }
    }

    /// `BatchNormalization()`.
    pub fn batch_norm() -> LayerSpec {
        LayerSpec::BatchNormalization {
            name: None,
            momentum: bn_momentum(),
            epsilon: bn_epsilon(),
        }
    }

    /// `Activation(name)`.
    pub fn activation(name: &str) -> LayerSpec {
        LayerSpec::Activation {
            name: None,
            activation: name.into(),
        }
    }

    /// Local response normalisation with AlexNet's values.
    pub fn lrn() -> LayerSpec {
        LayerSpec::LocalResponseNormalization {
            name: None,
            depth_radius: lrn_radius(),
            bias: lrn_bias(),
            alpha: lrn_alpha(),
            beta: lrn_beta(),
        }
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
