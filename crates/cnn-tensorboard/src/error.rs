//! Errors of writing and reading event files.

use std::path::PathBuf;

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum TbError {
    /// Creating or writing a log file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A record of an event file is damaged or cut short.
    #[error("record {index}: {message}")]
    Record {
        /// Which record (0-based).
        index: usize,
        /// What is wrong with it.
        message: String,
    },
    /// A record's payload is not an `Event`.
    #[error("record {index}: not an Event: {source}")]
    Decode {
        /// Which record.
        index: usize,
        /// The protobuf error.
        source: prost::DecodeError,
    },
    /// Drawing an image failed.
    #[error(transparent)]
    Viz(#[from] cnn_viz::VizError),
    /// The model could not produce what an image needs.
    #[error(transparent)]
    Model(#[from] cnn_nn::NnError),
}

/// `Result` with [`TbError`].
pub type Result<T> = std::result::Result<T, TbError>;
