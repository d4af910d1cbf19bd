//! # cnn-nn
//!
//! Keras-style models on the `cnn-ops` engine: what a lecture writes in Keras, written in Rust,
//! with the same shapes, parameter counts and training behaviour.
//!
//! - [`ModelSpec`] / [`LayerSpec`]: layers with Keras's names, arguments and defaults,
//!   serialisable to and from a JSON spec file; short constructors in [`spec::layers`].
//! - [`Architecture`]: a spec resolved with automatic names (tf.keras 2.x scheme: `conv2d`,
//!   `conv2d_1`, ...), shape inference and clear errors naming the layer, without allocating
//!   weights.
//! - [`summary()`]: Keras's `model.summary()` text, optionally with multiply-adds and activation
//!   memory per layer.
//! - [`zoo()`]: `mnist-cnn`, `dense-mnist`, `lenet5`, `alexnet`, `alexnet-cifar`, VGG A–E.
#![warn(missing_docs)]

mod arch;
mod builder;
pub mod callbacks;
mod data;
mod error;
mod history;
pub mod io;
pub mod layers;
pub mod metrics;
mod model;
mod optimizer;
mod profile;
pub mod spec;
mod summary;
mod train;
mod tta;
mod zoo;

pub use arch::{Architecture, Layer, MAX_ACTIVATIONS, MAX_PARAMS, ParamSpec, Source};
pub use builder::{GraphBuilder, Node};
pub use callbacks::{
    Callback, Control, EarlyStopping, ModelCheckpoint, Monitor, ProgressBar, ReduceLrOnPlateau,
    StopFlag,
};
pub use data::{ArrayData, BatchSource, Targets, argmax, gather};
pub use error::{NnError, Result};
pub use history::History;
pub use io::{Saved, load_model, load_model_bytes, save_model, save_model_with};
pub use layers::{ActivationKind, LayerConfig};
pub use metrics::{ConfusionMatrix, accuracy, top_k_accuracy};
pub use model::{Forward, ForwardMode, Model};
pub use optimizer::{OPTIMIZERS, Optimizer, OptimizerConfig, OptimizerKind, Schedule};
pub use profile::{LayerTime, StepProfile};
pub use spec::{DEFAULT_INPUT_NAME, LayerSpec, ModelSpec, PaddingSpec, Size2};
pub use summary::{bytes, commas, si, summary};
pub use train::{Evaluation, FitOptions, Loss, StepResult};
pub use tta::mirror_width;
pub use zoo::{ZOO, default_classes, default_input_shape, no_top, zoo};
