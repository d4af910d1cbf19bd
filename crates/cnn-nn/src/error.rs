//! The error type of this crate.

use std::path::PathBuf;

/// What can go wrong when building, training, saving or loading a model.
#[derive(Debug, thiserror::Error)]
pub enum NnError {
    /// A layer cannot be built on its input; names the layer and the shapes.
    #[error("layer {layer} ({class}): {message}")]
    Layer {
        /// The layer's name.
        layer: String,
        /// Its Keras class.
        class: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The model as a whole is invalid (bad input shape, no layers, too large).
    #[error("model {model}: {message}")]
    Model {
        /// The model's name.
        model: String,
        /// What is wrong.
        message: String,
    },
    /// A name that is not known (model zoo entry, optimizer, loss, activation, initialiser).
    #[error("unknown {kind} `{name}`; known: {known}")]
    Unknown {
        /// What kind of name.
        kind: &'static str,
        /// The name given.
        name: String,
        /// The names that would work.
        known: String,
    },
    /// Training data that does not fit the model.
    #[error("data: {0}")]
    Data(String),
    /// The ranks of a data-parallel run disagree or cannot exchange their sums.
    #[error("data parallelism: {0}")]
    Parallel(String),
    /// The loss became NaN or infinite.
    #[error(
        "the loss became {value} at epoch {epoch}, step {step}; training stopped (weights are those before this step)"
    )]
    NonFinite {
        /// The loss value.
        value: f32,
        /// Epoch (1-based).
        epoch: usize,
        /// Step within the epoch (1-based).
        step: usize,
    },
    /// A model file is malformed or does not match its architecture.
    #[error("{}: {message}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// An op failed.
    #[error(transparent)]
    Op(#[from] cnn_ops::OpError),
    /// A tensor error.
    #[error(transparent)]
    Tensor(#[from] cnn_tensor::TensorError),
    /// I/O.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Shorthand for results of this crate.
pub type Result<T, E = NnError> = std::result::Result<T, E>;
