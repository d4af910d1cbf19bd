//! # cnn-tensor
//!
//! The tensor type of the `cnn` workspace: an owned, contiguous, row-major `f32` buffer with a
//! [`Shape`]. Images are NHWC (channels last, like Keras); convolution kernels use Keras's
//! `[kh, kw, in, out]` layout; dense kernels `[in, out]`.
//!
//! - [`Tensor`] / [`TensorView`]: owned data and borrowed views; reshapes move, never copy.
//! - `ndarray` interop: [`Tensor::as_ndarray`], [`Tensor::into_ndarray`], [`Tensor::from_ndarray`].
//! - [`Initializer`]: Keras's initialisers, drawn from a seeded [`Rng`] (ChaCha8).
//! - [`io`]: safetensors read/write of named tensors and [`io::write_atomic`].
//! - [`OutputLock`]: one writer per output file, and cleanup after a writer that was killed.
//! - [`filled`]: large buffers filled in parallel (what [`Tensor::zeros`] uses).
//!
//! ```
//! use cnn_tensor::{Initializer, Tensor, seeded_rng};
//! let mut rng = seeded_rng(42);
//! let kernel = Initializer::GlorotUniform.init([3, 3, 1, 32], &mut rng).unwrap();
//! assert_eq!(kernel.shape().to_string(), "(3, 3, 1, 32)");
//! let x = Tensor::zeros([8, 28, 28, 1]).unwrap().reshape([8, 784]).unwrap();
//! assert_eq!(x.dims(), &[8, 784]);
//! ```
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod error;
mod fill;
mod init;
pub mod io;
mod ndarray_interop;
mod output;
mod shape;
mod tensor;

pub use error::{Result, TensorError};
pub use fill::{PARALLEL_FILL, filled};
pub use init::{Initializer, Rng, fans, seeded_rng};
pub use output::OutputLock;
pub use shape::{MAX_ELEMENTS, Shape, checked_numel};
pub use tensor::{Tensor, TensorView};
