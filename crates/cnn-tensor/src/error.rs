//! The error type of this crate.

use std::path::PathBuf;

use crate::Shape;

/// Everything that can go wrong when building, reshaping, reading or writing tensors.
#[derive(Debug, thiserror::Error)]
pub enum TensorError {
    /// The data length does not match the number of elements the shape implies.
    #[error("shape {shape} holds {expected} elements but {got} values were given")]
    DataLength {
        /// The requested shape.
        shape: Shape,
        /// Elements implied by the shape.
        expected: usize,
        /// Values actually supplied.
        got: usize,
    },
    /// A reshape to a shape with a different element count.
    #[error("cannot reshape {from} into {to}: element counts differ")]
    Reshape {
        /// Original shape.
        from: Shape,
        /// Requested shape.
        to: Shape,
    },
    /// The product of the dimensions overflows `usize` or exceeds the element limit.
    #[error("shape {dims:?} has too many elements (limit {limit})")]
    TooLarge {
        /// The offending dimensions.
        dims: Vec<usize>,
        /// The limit in force.
        limit: usize,
    },
    /// An index or axis outside the tensor.
    #[error("index {index} out of range for axis of length {len}")]
    OutOfRange {
        /// The requested index.
        index: usize,
        /// The axis length.
        len: usize,
    },
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Another process is writing this output file (it holds its [`OutputLock`]).
    ///
    /// [`OutputLock`]: crate::OutputLock
    #[error(
        "{} is being written by another process (its lock is held); wait for it to finish or choose another output",
        path.display()
    )]
    Busy {
        /// The output file.
        path: PathBuf,
    },
    /// A safetensors file or buffer is malformed.
    #[error("{context}: invalid safetensors data: {message}")]
    Safetensors {
        /// The file (or "buffer") concerned.
        context: String,
        /// What is wrong.
        message: String,
    },
    /// A stored tensor has a dtype other than `F32`.
    #[error("{context}: tensor `{name}` has dtype {dtype}, expected F32")]
    DType {
        /// The file (or "buffer") concerned.
        context: String,
        /// The tensor name.
        name: String,
        /// The dtype found.
        dtype: String,
    },
}

/// Shorthand for results of this crate.
pub type Result<T, E = TensorError> = std::result::Result<T, E>;
