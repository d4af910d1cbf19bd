//! File digests as their publishers pin them (SHA-256, or MD5 where that is all a maintainer
//! publishes), and verification of archive and payload.

use md5::Md5;
use sha2::{Digest as _, Sha256};

use crate::error::{DatasetError, Result};
use crate::idx::read_gz_bytes;
use crate::source::Verification;

/// A pinned digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Digest {
    /// Lowercase hex SHA-256.
    Sha256(String),
    /// Lowercase hex MD5 (only where the publisher gives nothing stronger).
    Md5(String),
}

impl Digest {
    /// Whether `bytes` has this digest.
    pub fn matches(&self, bytes: &[u8]) -> bool {
        match self {
            Digest::Sha256(h) => hex::encode(Sha256::digest(bytes)) == h.to_ascii_lowercase(),
            Digest::Md5(h) => hex::encode(Md5::digest(bytes)) == h.to_ascii_lowercase(),
        }
    }

    fn describe(&self) -> String {
        match self {
            Digest::Sha256(h) => format!("SHA-256 {h}"),
            Digest::Md5(h) => format!("MD5 {h}"),
        }
    }
}

/// What a file must match: any of its archive digests, or the SHA-256 of its gunzipped payload.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pins {
    /// Digests of the file as published.
    pub archive: Vec<Digest>,
    /// SHA-256 of the decompressed payload (for `.gz` files recompressed by repackagers).
    pub payload_sha256: Option<String>,
}

impl Pins {
    /// Checks `bytes` (the file named `name`) against the pins. A file with no pins at all is
    /// refused: every official file has one.
    pub fn verify(&self, bytes: &[u8], name: &str) -> Result<Verification> {
        for d in &self.archive {
            if d.matches(bytes) {
                return Ok(match d {
                    Digest::Sha256(h) => Verification::ArchiveSha256(h.clone()),
                    Digest::Md5(h) => Verification::ArchiveMd5(h.clone()),
                });
            }
        }
        if let Some(p) = &self.payload_sha256
            && bytes.starts_with(&[0x1f, 0x8b])
            && let Ok(raw) = read_gz_bytes(bytes, name)
        {
            let actual = hex::encode(Sha256::digest(&raw));
            if &actual == p {
                return Ok(Verification::PayloadSha256(actual));
            }
        }
        let expected: Vec<String> = self
            .archive
            .iter()
            .map(Digest::describe)
            .chain(
                self.payload_sha256
                    .iter()
                    .map(|p| format!("payload SHA-256 {p}")),
            )
            .collect();
        Err(DatasetError::Checksum {
            path: name.into(),
            expected: if expected.is_empty() {
                "a pinned digest (none is known for this file)".into()
            } else {
                expected.join(" or ")
            },
            actual: format!("SHA-256 {}", hex::encode(Sha256::digest(bytes))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_or_payload() {
        let payload = b"hello world".to_vec();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, &payload).unwrap();
        let gz = gz.finish().unwrap();
        let pins = Pins {
            archive: vec![Digest::Md5("0".repeat(32))],
            payload_sha256: Some(hex::encode(Sha256::digest(&payload))),
        };
        assert!(matches!(
            pins.verify(&gz, "f.gz").unwrap(),
            Verification::PayloadSha256(_)
        ));
        let md5 = Pins {
            archive: vec![Digest::Md5("5eb63bbbe01eeed093cb22bb8f5acdc3".into())],
            payload_sha256: None,
        };
        assert!(matches!(
            md5.verify(&payload, "f").unwrap(),
            Verification::ArchiveMd5(_)
        ));
        let e = pins.verify(b"nope", "f").unwrap_err().to_string();
        assert!(
            e.contains("MD5 000") && e.contains("payload SHA-256"),
            "{e}"
        );
    }
}
