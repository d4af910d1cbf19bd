//! # cnn-ops
//!
//! The compute layer of the `cnn` workspace: kernels on NHWC `f32` [`Tensor`]s with Keras
//! semantics, and a reverse-mode autograd [`Graph`] over them.
//!
//! - Convolution ([`conv2d_forward`], [`conv2d_backward`]): any kernel size, strides,
//!   dilation, `valid` / `same` (TensorFlow's rule) / explicit [`Padding`]; tiled im2col feeding
//!   the `gemm` crate, parallel with rayon, deterministic for any thread count.
//! - Pooling ([`max_pool2d_forward`], [`avg_pool2d_forward`], [`global_avg_pool2d_forward`]):
//!   first-maximum tie rule, Keras's `same` averaging over real pixels only.
//! - Depthwise convolution ([`depthwise_conv2d_forward`]): direct, channels innermost.
//! - Zero padding ([`zero_pad2d_forward`]), concatenation along channels
//!   ([`Graph::concat_last`]), element-wise sums and products.
//! - Dense, activations ([`Activation`]), [`softmax_forward`], dropout, batch normalisation,
//!   local response normalisation, fused losses ([`softmax_cross_entropy`],
//!   [`binary_cross_entropy_with_logits`], [`binary_cross_entropy`]).
//! - [`Graph`]: record a forward pass, [`Graph::backward`] from a scalar loss, gradients of
//!   parameters, inputs and retained intermediates; [`Graph::inference`] records nothing.
//!
//! Every kernel is checked against a naive direct-loop reference by property tests and every
//! differentiable op by finite differences (`tests/`).
//!
//! [`Tensor`]: cnn_tensor::Tensor
//!
//! ```
//! use cnn_ops::{Conv2dOptions, Graph, Labels, Padding, Pool2dOptions};
//! use cnn_tensor::Tensor;
//! // One 6x6 image, a 3x3 `same` convolution, a 2x2 max pool, a loss and its gradients.
//! let x = Tensor::new([1, 6, 6, 1], (0..36).map(|i| i as f32 / 36.0).collect())?;
//! let k = Tensor::full([3, 3, 1, 2], 0.1)?;
//! let mut g = Graph::new();
//! let (xv, kv) = (g.constant(&x), g.variable(&k));
//! let conv = Conv2dOptions { strides: (1, 1), padding: Padding::Same, dilation: (1, 1) };
//! let y = g.conv2d(xv, kv, None, &conv)?;
//! let p = g.max_pool2d(y, &Pool2dOptions { pool_size: (2, 2), strides: None, padding: Padding::Valid })?;
//! assert_eq!(g.value(p).dims(), &[1, 3, 3, 2]);
//! let logits = g.global_avg_pool2d(p)?;
//! let loss = g.softmax_cross_entropy(logits, &Labels::Sparse(vec![1]))?;
//! let grads = g.backward(loss)?;
//! assert_eq!(grads.get(kv).unwrap().dims(), &[3, 3, 1, 2]);
//! # Ok::<(), cnn_ops::OpError>(())
//! ```
#![warn(missing_docs)]
// Only the GEMM wrapper calls unsafe code (the `gemm` crate takes raw pointers).
#![deny(unsafe_code)]

mod activation;
mod batchnorm;
mod conv;
mod dense;
mod depthwise;
mod dropout;
mod error;
mod gelu;
pub mod gemm;
mod geometry;
mod graph;
mod loss;
mod lrn;
mod pad;
mod pool;
mod scratch;
mod tanh;

pub use activation::{Activation, softmax_backward, softmax_forward};
pub use batchnorm::affine as batch_norm_affine;
pub use batchnorm::{
    BatchNormOptions, BatchNormSaved, ReplicaSum, batch_norm_backward, batch_norm_backward_synced,
    batch_norm_forward, batch_norm_forward_synced,
};
pub use conv::{
    Conv2dGeometry, Conv2dGrads, Conv2dOptions, ConvNeeds, conv2d_backward, conv2d_forward,
    conv2d_forward_act, conv2d_max_pool_backward, conv2d_max_pool_forward,
};
pub use dense::{dense_backward, dense_forward};
pub use depthwise::{
    DepthwiseGeometry, DepthwiseGrads, depthwise_conv2d_backward, depthwise_conv2d_forward,
    depthwise_conv2d_forward_act,
};
pub use dropout::{apply_mask, dropout_mask};
pub use error::{OpError, Result};
pub use geometry::{MAX_WINDOW_DIM, Padding, Window2d};
pub use graph::{Gradients, Graph, Var};
pub use loss::{
    EPSILON, Labels, binary_cross_entropy, binary_cross_entropy_with_logits, softmax_cross_entropy,
};
pub use lrn::{LrnOptions, lrn_backward, lrn_forward};
pub use pad::{Pad2d, zero_pad2d_backward, zero_pad2d_forward};
pub use pool::{
    Pool2dOptions, avg_pool2d_backward, avg_pool2d_forward, global_avg_pool2d_backward,
    global_avg_pool2d_forward, global_max_pool2d_backward, global_max_pool2d_forward,
    max_pool2d_backward, max_pool2d_forward,
};
