//! The errors of this crate.

use std::path::PathBuf;

/// What can go wrong building a torchvision architecture or reading its weights.
#[derive(Debug, thiserror::Error)]
pub enum TorchvisionError {
    /// An unknown architecture, or one that cannot take the input size asked for.
    #[error("torchvision `{name}`: {message}")]
    Architecture {
        /// The architecture's name.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// A weights file that is not what the architecture needs (damaged, another model, a
    /// tensor of the wrong shape or type).
    #[error("{source_name}: {message}")]
    File {
        /// The file (or "buffer").
        source_name: String,
        /// What is wrong, naming the tensor.
        message: String,
    },
    /// The file cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The model cannot be built.
    #[error(transparent)]
    Nn(#[from] cnn_nn::NnError),
}

/// This crate's results.
pub type Result<T, E = TorchvisionError> = std::result::Result<T, E>;
