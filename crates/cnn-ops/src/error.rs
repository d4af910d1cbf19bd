//! The error type of this crate.

use cnn_tensor::TensorError;

/// What can go wrong when running an op: mostly shapes that do not fit together.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    /// Operand shapes or options that the op cannot use; `op` names it.
    #[error("{op}: {message}")]
    Shape {
        /// The op (`"conv2d"`, `"dense"`, ...).
        op: &'static str,
        /// What is wrong, with the shapes involved.
        message: String,
    },
    /// An invalid option value (rate out of range, zero stride, ...).
    #[error("{op}: invalid {option}: {message}")]
    Option {
        /// The op.
        op: &'static str,
        /// The option name.
        option: &'static str,
        /// What is wrong.
        message: String,
    },
    /// `backward` was called on a value that is not a scalar.
    #[error("backward needs a scalar loss, got shape {0}")]
    NotScalar(cnn_tensor::Shape),
    /// A variable handle from another graph or out of range.
    #[error("variable #{0} does not belong to this graph")]
    UnknownVar(usize),
    /// Adding statistics over the replicas of a data-parallel run failed (synchronised batch
    /// normalisation).
    #[error("{op}: summing over the replicas failed: {message}")]
    Replicas {
        /// The op.
        op: &'static str,
        /// What went wrong.
        message: String,
    },
    /// A tensor-level error.
    #[error(transparent)]
    Tensor(#[from] TensorError),
}

/// Shorthand for results of this crate.
pub type Result<T, E = OpError> = std::result::Result<T, E>;

pub(crate) fn shape_err(op: &'static str, message: impl Into<String>) -> OpError {
    OpError::Shape {
        op,
        message: message.into(),
    }
}

pub(crate) fn option_err(
    op: &'static str,
    option: &'static str,
    message: impl Into<String>,
) -> OpError {
    OpError::Option {
        op,
        option,
        message: message.into(),
    }
}
