//! Every layer in one home. `layers/<layer>.rs` holds everything about a layer: its
//! configuration with Keras's names and defaults (serde), how it builds on its input shapes
//! (output shape, weights, multiply-adds), its forward pass on the autograd graph, and what it
//! tells the loss (its final activation). Architecture, model, summary and training dispatch
//! to it through [`LayerConfig`].
//!
//! Adding a layer is one new file implementing [`LayerType`] plus one line in the `layers!`
//! list below (see `docs/architecture.md`, "Adding a layer").

use cnn_ops::Var;
use serde::{Deserialize, Serialize};

use crate::error::Result;

mod common;
mod merge;
mod pooling;
pub use pooling::Pooling;
pub use zero_padding2d::Padding2;

pub use common::ActivationKind;
pub use common::shape_str;
pub(crate) use common::{Build, Built, Cx, Fold, activation_of};

/// What each layer file implements (crate-internal: the public face is [`LayerConfig`]).
pub(crate) trait LayerType {
    /// The prefix of automatic names (`conv2d`, `max_pooling2d`), as Keras derives them.
    const PREFIX: &'static str;
    /// Fewest inputs the layer reads.
    const MIN_INPUTS: usize = 1;
    /// Most inputs the layer reads.
    const MAX_INPUTS: usize = 1;
    /// Checks the configuration against the input shapes and gives the output shape, the
    /// weights and the cost; errors name the layer.
    fn build(&self, b: &Build<'_>) -> Result<Built>;
    /// Records the forward pass of `x` (one value per input).
    fn forward<'a>(&self, cx: &mut Cx<'_, 'a>, x: &[Var]) -> Result<Var>;
    /// The activation the layer applies last, if it has one (`linear` included): the loss
    /// reads it to know whether the model outputs probabilities or logits.
    fn final_activation(&self) -> Option<ActivationKind> {
        None
    }
}

macro_rules! layers {
    ($($(#[$doc:meta])* $variant:ident => $module:ident,)*) => {
        $(mod $module; pub use $module::$variant;)*

        /// A layer's configuration, tagged by its Keras class name (`"type": "Conv2D"`).
        /// Omitted fields take Keras's defaults; unknown fields are errors (a typo is never
        /// silently ignored).
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "type")]
        pub enum LayerConfig {
            $($(#[$doc])* $variant($variant),)*
        }

        $(impl From<$variant> for LayerConfig {
            fn from(l: $variant) -> Self {
                LayerConfig::$variant(l)
            }
        })*

        impl LayerConfig {
            /// Every layer class name, in the order of the list.
            pub const CLASSES: &'static [&'static str] = &[$(stringify!($variant)),*];

            /// The Keras class name (`"Conv2D"`).
            pub fn class_name(&self) -> &'static str {
                match self { $(LayerConfig::$variant(_) => stringify!($variant),)* }
            }

            /// The prefix of automatic names (`conv2d`, `max_pooling2d`, ...).
            pub fn auto_prefix(&self) -> &'static str {
                match self { $(LayerConfig::$variant(_) => <$variant as LayerType>::PREFIX,)* }
            }

            /// `(fewest, most)` inputs the layer reads.
            pub fn arity(&self) -> (usize, usize) {
                match self {
                    $(LayerConfig::$variant(_) =>
                        (<$variant as LayerType>::MIN_INPUTS, <$variant as LayerType>::MAX_INPUTS),)*
                }
            }

            /// The activation the layer applies last, if it has one.
            pub fn final_activation(&self) -> Option<ActivationKind> {
                match self { $(LayerConfig::$variant(l) => l.final_activation(),)* }
            }

            pub(crate) fn build(&self, b: &Build<'_>) -> Result<Built> {
                match self { $(LayerConfig::$variant(l) => l.build(b),)* }
            }

            pub(crate) fn forward<'a>(&self, cx: &mut Cx<'_, 'a>, x: &[Var]) -> Result<Var> {
                match self { $(LayerConfig::$variant(l) => l.forward(cx, x),)* }
            }
        }
    };
}

layers! {
    /// `Conv2D(filters, kernel_size, ...)`.
    Conv2D => conv2d,
    /// `MaxPooling2D(pool_size=2, strides=None, padding='valid')`.
    MaxPooling2D => max_pooling2d,
    /// `AveragePooling2D(pool_size=2, strides=None, padding='valid')`.
    AveragePooling2D => average_pooling2d,
    /// `GlobalAveragePooling2D()`.
    GlobalAveragePooling2D => global_average_pooling2d,
    /// `Flatten()`.
    Flatten => flatten,
    /// `Dense(units, ...)`.
    Dense => dense,
    /// `Dropout(rate)`.
    Dropout => dropout,
    /// `BatchNormalization(momentum=0.99, epsilon=0.001)`.
    BatchNormalization => batch_normalization,
    /// `Activation(activation)`.
    Activation => activation,
    /// Local response normalisation (AlexNet).
    LocalResponseNormalization => local_response_normalization,
    /// `Add()`: the element-wise sum of its inputs.
    Add => add,
    /// `Multiply()`: the element-wise product of its inputs.
    Multiply => multiply,
    /// `Concatenate(axis=-1)`: its inputs side by side along the channel axis.
    Concatenate => concatenate,
    /// `ZeroPadding2D(padding=1)`: zeros around each image.
    ZeroPadding2D => zero_padding2d,
    /// `DepthwiseConv2D(kernel_size, ...)`: one filter set per input channel.
    DepthwiseConv2D => depthwise_conv2d,
    /// `SeparableConv2D(filters, kernel_size, ...)`: depthwise, then pointwise.
    SeparableConv2D => separable_conv2d,
    /// `ReLU(max_value=None)`.
    ReLU => relu,
    /// `Rescaling(scale, offset=0)`.
    Rescaling => rescaling,
    /// `Reshape(target_shape)`.
    Reshape => reshape,
    /// `GlobalMaxPooling2D()`.
    GlobalMaxPooling2D => global_max_pooling2d,
}

/// One layer of a model: its configuration plus what every layer has — an optional name
/// (automatic when omitted), the names of the layers (or the model input) it reads (omitted:
/// the layer before it, so a list without `inputs` is a Sequential chain), and whether training
/// may change it.
///
/// In JSON they are one object:
/// `{"type": "Add", "name": "block1_add", "inputs": ["block1_conv2", "input_1"]}`; a frozen
/// layer says `"trainable": false`.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerSpec {
    /// The layer's name (automatic when `None`).
    pub name: Option<String>,
    /// The layers or model input it reads, by name; `None` reads the layer before it.
    pub inputs: Option<Vec<String>>,
    /// What the layer is.
    pub config: LayerConfig,
    /// Keras's `layer.trainable`: `false` freezes the layer — training never changes its
    /// weights, its weights count as non-trainable, and a frozen `BatchNormalization` runs in
    /// inference mode (its moving statistics, not the batch's), as in Keras 3.
    pub trainable: bool,
}

impl<C: Into<LayerConfig>> From<C> for LayerSpec {
    fn from(config: C) -> Self {
        LayerSpec {
            name: None,
            inputs: None,
            config: config.into(),
            trainable: true,
        }
    }
}

#[derive(Serialize)]
struct LayerRepr<'a> {
    #[serde(flatten)]
    config: &'a LayerConfig,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    inputs: Option<&'a [String]>,
    #[serde(skip_serializing_if = "is_true")]
    trainable: bool,
}

fn is_true(b: &bool) -> bool {
    *b
}

impl Serialize for LayerSpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        LayerRepr {
            config: &self.config,
            name: self.name.as_deref(),
            inputs: self.inputs.as_deref(),
            trainable: self.trainable,
        }
        .serialize(s)
    }
}

/// `inputs` written as one name or a list of names.
#[derive(Deserialize)]
#[serde(untagged)]
enum InputsRepr {
    One(String),
    Many(Vec<String>),
}

impl<'de> Deserialize<'de> for LayerSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error;
        let mut map = serde_json::Map::<String, serde_json::Value>::deserialize(d)?;
        let name = match map.remove("name") {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(s)) => Some(s),
            Some(other) => {
                return Err(D::Error::custom(format!(
                    "layer name must be a string, got {other}"
                )));
            }
        };
        let inputs = match map.remove("inputs") {
            None | Some(serde_json::Value::Null) => None,
            Some(v) => Some(
                match InputsRepr::deserialize(v).map_err(|_| {
                    D::Error::custom("`inputs` must be a layer name or a list of layer names")
                })? {
                    InputsRepr::One(s) => vec![s],
                    InputsRepr::Many(v) => v,
                },
            ),
        };
        let trainable = match map.remove("trainable") {
            None | Some(serde_json::Value::Null) => true,
            Some(serde_json::Value::Bool(b)) => b,
            Some(other) => {
                return Err(D::Error::custom(format!(
                    "`trainable` must be true or false, got {other}"
                )));
            }
        };
        let config = LayerConfig::deserialize(serde_json::Value::Object(map)).map_err(|e| {
            let who = name
                .as_deref()
                .map(|n| format!("layer {n}: "))
                .unwrap_or_default();
            D::Error::custom(format!("{who}{e}"))
        })?;
        Ok(LayerSpec {
            name,
            inputs,
            config,
            trainable,
        })
    }
}

impl LayerSpec {
    /// The Keras class name (`"Conv2D"`).
    pub fn class_name(&self) -> &'static str {
        self.config.class_name()
    }

    /// The prefix of automatic names (`conv2d`, `max_pooling2d`, ...), as Keras derives them.
    pub fn auto_prefix(&self) -> &'static str {
        self.config.auto_prefix()
    }

    /// The explicit name, if one was given.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The same layer frozen (Keras's `layer.trainable = False`): see [`LayerSpec::trainable`].
    pub fn frozen(mut self) -> Self {
        self.trainable = false;
        self
    }

    /// The same layer with an explicit name.
    pub fn named(mut self, new: impl Into<String>) -> Self {
        self.name = Some(new.into());
        self
    }

    /// The same layer reading these layers (or the model input) by name.
    pub fn reading<S: Into<String>>(mut self, inputs: impl IntoIterator<Item = S>) -> Self {
        self.inputs = Some(inputs.into_iter().map(Into::into).collect());
        self
    }

    /// The same layer with `same` padding (convolution and pooling layers; others unchanged).
    pub fn same(mut self) -> Self {
        use crate::spec::PaddingSpec::Same;
        match &mut self.config {
            LayerConfig::Conv2D(l) => l.padding = Same,
            LayerConfig::MaxPooling2D(l) => l.0.padding = Same,
            LayerConfig::AveragePooling2D(l) => l.0.padding = Same,
            _ => {}
        }
        self
    }

    /// The same layer with these strides (convolution and pooling layers; others unchanged).
    pub fn strides(mut self, s: impl Into<crate::spec::Size2>) -> Self {
        let s = s.into();
        match &mut self.config {
            LayerConfig::Conv2D(l) => l.strides = s,
            LayerConfig::MaxPooling2D(l) => l.0.strides = Some(s),
            LayerConfig::AveragePooling2D(l) => l.0.strides = Some(s),
            _ => {}
        }
        self
    }
}
