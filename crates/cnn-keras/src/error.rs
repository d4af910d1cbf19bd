//! Keras file errors: each names the file, layer or variable at fault.

use std::path::PathBuf;

/// Why a model could not be written to or read from a Keras file.
#[derive(Debug, thiserror::Error)]
pub enum KerasError {
    /// A layer cannot be expressed in (export) or taken from (import) a Keras file.
    #[error("layer `{layer}` ({class}): {message}")]
    Layer {
        /// The layer's name.
        layer: String,
        /// Its Keras class name.
        class: String,
        /// What is wrong.
        message: String,
    },
    /// The model as a whole cannot be expressed or read (inputs, outputs, nesting).
    #[error("{0}")]
    Model(String),
    /// A weight is missing, misshapen or of the wrong type.
    #[error("weights: `{path}`: {message}")]
    Weight {
        /// Its path in the weights file (`layers/conv2d/vars/0`).
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The file is not what it claims (not a zip, no `config.json`, bad JSON, bad HDF5).
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A weights-only file was given without the architecture it belongs to.
    #[error("{}: holds weights only: name the architecture they belong to (a zoo model or a spec)", path.display())]
    WeightsOnly {
        /// The file.
        path: PathBuf,
    },
    /// Reading the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The model built from the file is invalid.
    #[error(transparent)]
    Nn(#[from] cnn_nn::NnError),
    /// Writing the file failed.
    #[error(transparent)]
    Write(#[from] cnn_tensor::TensorError),
}

/// `Result` with [`KerasError`].
pub type Result<T> = std::result::Result<T, KerasError>;

/// An error about layer `layer` of class `class`.
pub(crate) fn layer_err(layer: &str, class: &str, message: impl Into<String>) -> KerasError {
    KerasError::Layer {
        layer: layer.into(),
        class: class.into(),
        message: message.into(),
    }
}
