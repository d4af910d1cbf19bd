//! # cnn
//!
//! Convolutional neural networks on the CPU with Keras semantics. This crate re-exports the
//! layer crates of the workspace so that a project can depend on everything at once:
//!
//! - [`tensor`] (`cnn-tensor`): tensors, initialisers, safetensors I/O.
//! - [`ops`] (`cnn-ops`): convolution, pooling, dense and other kernels with reverse-mode
//!   autograd.
#![warn(missing_docs)]

pub use cnn_ops as ops;
pub use cnn_tensor as tensor;
