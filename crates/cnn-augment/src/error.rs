//! The error type of this crate.

/// What can go wrong when augmenting.
#[derive(Debug, thiserror::Error)]
pub enum AugmentError {
    /// Inconsistent options.
    #[error("augmentation options: {0}")]
    Config(String),
    /// Data of the wrong shape.
    #[error("augmentation data: {0}")]
    Shape(String),
    /// A dataset problem (image folders).
    #[error(transparent)]
    Dataset(#[from] cnn_datasets::DatasetError),
    /// A tensor problem.
    #[error(transparent)]
    Tensor(#[from] cnn_tensor::TensorError),
}

impl From<AugmentError> for cnn_nn::NnError {
    fn from(e: AugmentError) -> Self {
        cnn_nn::NnError::Data(e.to_string())
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = AugmentError> = std::result::Result<T, E>;
