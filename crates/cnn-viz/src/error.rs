//! The crate's error type.

use std::path::PathBuf;

/// What can go wrong when drawing or saving a picture.
#[derive(Debug, thiserror::Error)]
pub enum VizError {
    /// The data cannot be drawn (empty history, mismatched sizes, absurd dimensions).
    #[error("cannot draw {what}: {why}")]
    Input {
        /// The picture being drawn.
        what: String,
        /// Why not.
        why: String,
    },
    /// The drawing backend failed.
    #[error("drawing {what} failed: {why}")]
    Draw {
        /// The picture being drawn.
        what: String,
        /// The backend's message.
        why: String,
    },
    /// The model cannot be run as asked (unknown layer, wrong input shape, failed operation).
    #[error("{what}: {source}")]
    Model {
        /// What was being computed.
        what: String,
        /// The model's error.
        #[source]
        source: cnn_nn::NnError,
    },
    /// Encoding or writing the file failed (the previous file, if any, is intact).
    #[error("cannot write {}: {why}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why not.
        why: String,
    },
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, VizError>;

/// Wraps a plotters error as [`VizError::Draw`].
pub(crate) fn draw_err<E: std::fmt::Display>(what: &str) -> impl Fn(E) -> VizError + '_ {
    move |e| VizError::Draw {
        what: what.into(),
        why: e.to_string(),
    }
}

/// Wraps a model or engine error as [`VizError::Model`].
pub(crate) fn model_err<E: Into<cnn_nn::NnError>>(what: &str) -> impl Fn(E) -> VizError + '_ {
    move |e| VizError::Model {
        what: what.into(),
        source: e.into(),
    }
}

/// A [`VizError::Input`] about `what`.
pub(crate) fn input_err(what: &str, why: impl Into<String>) -> VizError {
    VizError::Input {
        what: what.into(),
        why: why.into(),
    }
}
