//! # cnn-nn
//!
//! Keras-style models on the `cnn-ops` engine: what a lecture writes in Keras, written in Rust,
//! with the same shapes, parameter counts and training behaviour.
//!
//! ```
//! use cnn_nn::layers::Add;
//! use cnn_nn::spec::layers::*;
//! use cnn_nn::{ArrayData, Fit, GraphBuilder, Loss, Model, Optimizer, Targets, Tensor};
//!
//! // A residual block, Keras's functional API style.
//! let mut b = GraphBuilder::new("tiny-resnet", [8, 8, 1]);
//! let x = b.input();
//! let h = b.apply(conv2d(4, 3, "relu").same(), &[&x]);
//! let y = b.apply(conv2d(4, 3, "linear").same(), &[&h]);
//! let s = b.apply(Add {}, &[&h, &y]);
//! let out = b.chain(&s, [activation("relu"), global_avg_pool(), dense(2, "softmax")]);
//! let mut model = Model::new(&b.build(&[&out]), 42)?;
//! assert!(model.summary().contains("Connected to"));
//!
//! // Bright images are class 1, dark ones class 0.
//! let x = Tensor::new([8, 8, 8, 1], (0..512).map(|i| (i / 64 % 2) as f32).collect())?;
//! let y = Targets::Sparse((0..8).map(|i| i % 2).collect());
//! let mut train = ArrayData::new(&x, &y, 4, true, 0)?;
//! let mut opt = Optimizer::adam(0.05);
//! let history = Fit::new(&mut opt, Loss::SparseCategoricalCrossentropy)
//!     .epochs(20)
//!     .run(&mut model, &mut train)?;
//! assert!(history.loss[19] < history.loss[0]);
//! assert_eq!(model.predict(&x, 8)?.dims(), &[8, 2]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! - [`ModelSpec`] / [`LayerSpec`]: layers with Keras's names, arguments and defaults (one file
//!   each in [`layers`]), serialisable to and from a JSON spec file; short constructors in
//!   [`spec::layers`]. A spec is a Sequential chain or, with named `inputs`, a graph
//!   ([`GraphBuilder`] writes graphs in code).
//! - [`Architecture`]: a spec resolved with automatic names (tf.keras 2.x scheme: `conv2d`,
//!   `conv2d_1`, ...), connections, shape inference and clear errors naming the layer,
//!   without allocating weights.
//! - [`summary()`]: Keras's `model.summary()` text (Sequential or functional layout),
//!   optionally with multiply-adds and activation memory per layer.
//! - [`Model`]: weights, `forward` on the autograd graph, `predict`, `fit` ([`Fit`]),
//!   `evaluate`, save/load ([`io`]), callbacks ([`callbacks`]).
//! - [`zoo()`]: `mnist-cnn`, `dense-mnist`, `lenet5`, `alexnet`, `alexnet-cifar`, VGG A–E,
//!   `resnet50`, `mobilenetv2`, `resnet20-cifar`.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod arch;
mod builder;
pub mod callbacks;
mod data;
mod dirac;
mod error;
mod fit;
mod fold;
mod history;
pub mod io;
pub mod layers;
mod lookahead;
pub mod metrics;
mod model;
mod optimizer;
mod parallel;
mod parallel_step;
mod preprocess;
mod profile;
pub mod spec;
mod summary;
mod train;
mod transfer;
mod tta;
mod whitening;
mod zoo;

pub use arch::{Architecture, Layer, MAX_ACTIVATIONS, MAX_DIM, MAX_PARAMS, ParamSpec, Source};
pub use builder::{GraphBuilder, Node};
pub use callbacks::{
    CALLBACK_STATES, Callback, CallbackStates, Control, EarlyStopping, ModelCheckpoint, Monitor,
    ProgressBar, ReduceLrOnPlateau, StopFlag, restore_callbacks,
};
pub use data::{ArrayData, BatchSource, Targets, argmax, gather};
pub use dirac::dirac_identity;
pub use error::{NnError, Result};
pub use fit::Fit;
pub use history::History;
pub use io::{Saved, load_model, load_model_bytes, save_model, save_model_with};
pub use layers::{ActivationKind, LayerConfig};
pub use lookahead::Lookahead;
pub use metrics::{ConfusionMatrix, accuracy, top_k_accuracy};
pub use model::{Forward, ForwardMode, Model};
pub use optimizer::{Ema, OPTIMIZERS, Optimizer, OptimizerConfig, OptimizerKind, Schedule};
pub use parallel::{Collective, DataParallel, Part, ThreadRanks, broadcast_weights, check_same};
pub use preprocess::{PREPROCESS_KEY, Preprocess, RESCALE_KEY};
pub use profile::{LayerTime, StepProfile};
pub use spec::{DEFAULT_INPUT_NAME, LayerSpec, ModelSpec, PaddingSpec, Size2};
pub use summary::{bytes, commas, si, summary};
pub use train::{Evaluation, FitOptions, Loss, StepResult};
pub use transfer::{NEW_HEAD, transfer};
pub use tta::{mirror_width, translate_reflect};
pub use whitening::patch_whitening;
pub use zoo::{ZOO, default_classes, default_input_shape, no_top, zoo};

/// The tensor type and seeded generator that this crate's signatures use, so a project can
/// depend on `cnn-nn` alone.
pub use cnn_tensor::{Rng, Shape, Tensor, seeded_rng};
