//! Export errors: each names the layer or setting at fault.

/// Why a model could not be exported.
#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    /// A layer has no ONNX form with these settings.
    #[error("layer `{layer}` ({class}): {message}")]
    Layer {
        /// The layer's name.
        layer: String,
        /// Its Keras class name.
        class: &'static str,
        /// What is wrong.
        message: String,
    },
    /// An export option is out of range.
    #[error("{0}")]
    Option(String),
    /// Writing the file failed.
    #[error(transparent)]
    Write(#[from] cnn_tensor::TensorError),
}

/// `Result` with [`OnnxError`].
pub type Result<T> = std::result::Result<T, OnnxError>;
