//! # cnn
//!
//! Convolutional neural networks on the CPU with Keras semantics. This crate re-exports the
//! layer crates of the workspace so that a project can depend on everything at once:
//!
//! - [`tensor`] (`cnn-tensor`): tensors, initialisers, safetensors I/O.
//! - [`ops`] (`cnn-ops`): convolution, pooling, dense and other kernels with reverse-mode
//!   autograd.
//! - [`nn`] (`cnn-nn`): Keras layers, Sequential and graph models, `summary()`, training,
//!   save/load, the model zoo.
//! - [`datasets`] (`cnn-datasets`): MNIST, Fashion-MNIST, CIFAR like `keras.datasets`, image
//!   folders, the bundled Fashion-MNIST sample.
//! - [`augment`] (`cnn-augment`): Keras's `ImageDataGenerator`.
//! - [`viz`] (`cnn-viz`): training curves, confusion matrices, activations, filter patterns,
//!   Grad-CAM.
//! - [`onnx`] (`cnn-onnx`): ONNX export.
//! - [`keras`] (`cnn-keras`): Keras 3 `.keras` export and import.
//! - [`tensorboard`] (`cnn-tensorboard`): TensorBoard logs and callback.
//!
//! ```
//! let spec = cnn::nn::zoo("resnet50", None, None)?;
//! let arch = cnn::nn::Architecture::from_spec(&spec)?;
//! assert_eq!(arch.param_counts().0, 25_636_712);
//! let sample = cnn::datasets::fashion_mnist_sample()?;
//! assert_eq!(sample.train.len(), 3000);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub use cnn_augment as augment;
pub use cnn_datasets as datasets;
pub use cnn_keras as keras;
pub use cnn_nn as nn;
pub use cnn_onnx as onnx;
pub use cnn_ops as ops;
pub use cnn_tensor as tensor;
pub use cnn_tensorboard as tensorboard;
pub use cnn_viz as viz;
