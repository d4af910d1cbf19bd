//! The error type of this crate.

use std::path::PathBuf;

/// What can go wrong when reading or verifying a dataset.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// A file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A file is malformed; `at` names the byte offset or field.
    #[error("{file} ({at}): {message}")]
    Format {
        /// The file (or "buffer").
        file: String,
        /// Byte offset or field name.
        at: String,
        /// What is wrong.
        message: String,
    },
    /// A file's content does not match the digest pinned for it.
    #[error("{}: checksum mismatch: expected {expected}, got {actual} (corrupt or not the official file)", path.display())]
    Checksum {
        /// The file.
        path: PathBuf,
        /// The pinned digest.
        expected: String,
        /// The digest of what was read.
        actual: String,
    },
    /// Required files were found nowhere.
    #[error("{dataset}: missing {}; put them in {} (or set CNN_DATA_DIR / --data-dir){why}", files.join(", "), place.display())]
    Missing {
        /// The dataset.
        dataset: String,
        /// The file names not found.
        files: Vec<String>,
        /// Where to put them.
        place: PathBuf,
        /// Why they could not be fetched (empty, or `"; offline"`, or the download errors).
        why: String,
    },
    /// Two files that must agree do not (e.g. image and label counts).
    #[error("{0}")]
    Mismatch(String),
    /// A size exceeds a safety limit.
    #[error("{file}: {what} is {size} bytes, over the limit of {limit} (raise it with {how})")]
    TooLarge {
        /// The file.
        file: String,
        /// What is too large.
        what: &'static str,
        /// The size found or claimed.
        size: u64,
        /// The limit.
        limit: u64,
        /// How to raise the limit.
        how: &'static str,
    },
    /// A download failed on every URL; `message` lists what each one answered.
    #[error("downloading {file} failed: {message}")]
    Download {
        /// The file.
        file: String,
        /// What happened.
        message: String,
    },
    /// A tensor conversion failed.
    #[error(transparent)]
    Tensor(#[from] cnn_tensor::TensorError),
}

/// Shorthand for results of this crate.
pub type Result<T, E = DatasetError> = std::result::Result<T, E>;
