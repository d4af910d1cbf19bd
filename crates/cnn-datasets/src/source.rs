//! Where dataset files come from, in order: the cache/data directory, then known system copies.
//! (Downloads are added by the downloader; see `docs/cnn-datasets.md`.)

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Where one file was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// In the data directory (`--data-dir`, `CNN_DATA_DIR` or the platform cache dir).
    Cache,
    /// A copy installed by the system (e.g. Debian's `dataset-fashion-mnist`).
    System,
    /// A directory the caller named explicitly.
    Directory,
    /// Downloaded from this URL into the data directory.
    Download(String),
}

/// How a file's integrity was established.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verification {
    /// The SHA-256 of the decompressed payload matched the pinned digest.
    PayloadSha256(String),
    /// The file's SHA-256 matched the pinned digest.
    ArchiveSha256(String),
    /// The file's MD5 matched the digest its publisher gives.
    ArchiveMd5(String),
    /// No digest is pinned for this file (a user-supplied directory); only the format was checked.
    FormatOnly,
}

/// What the loader reports for each file, so the user sees where data came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileReport {
    /// The file name.
    pub name: String,
    /// The path read.
    pub path: PathBuf,
    /// Where it was found.
    pub origin: Origin,
    /// How it was verified.
    pub verification: Verification,
}

impl std::fmt::Display for FileReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let from = match &self.origin {
            Origin::Cache => "cache".to_string(),
            Origin::System => "system copy".to_string(),
            Origin::Directory => "directory".to_string(),
            Origin::Download(url) => format!("downloaded from {url} to"),
        };
        let check = match &self.verification {
            Verification::PayloadSha256(d) => format!(
                "SHA-256 of the payload matches ({}…)",
                &d[..12.min(d.len())]
            ),
            Verification::ArchiveSha256(d) => {
                format!("SHA-256 matches ({}…)", &d[..12.min(d.len())])
            }
            Verification::ArchiveMd5(d) => format!(
                "MD5 matches the published digest ({}…)",
                &d[..12.min(d.len())]
            ),
            Verification::FormatOnly => "format checked (no pinned digest)".to_string(),
        };
        write!(
            f,
            "{}: {} {}; {}",
            self.name,
            from,
            self.path.display(),
            check
        )
    }
}

/// The data directory: `explicit`, else `$CNN_DATA_DIR`, else `$XDG_CACHE_HOME/cnn`, else
/// `$HOME/.cache/cnn`, else `./cnn-data`.
pub fn data_dir(explicit: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_path_buf();
    }
    if let Some(p) = std::env::var_os("CNN_DATA_DIR").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    if let Some(p) = std::env::var_os("XDG_CACHE_HOME").filter(|p| !p.is_empty()) {
        return PathBuf::from(p).join("cnn");
    }
    if let Some(h) = std::env::var_os("HOME").filter(|p| !p.is_empty()) {
        return PathBuf::from(h).join(".cache").join("cnn");
    }
    PathBuf::from("cnn-data")
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
