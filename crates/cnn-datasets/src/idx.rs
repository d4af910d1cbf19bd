//! The IDX format of MNIST and Fashion-MNIST (raw or gzip-compressed).
//!
//! Layout: two zero bytes, an element-type byte, a dimension count `d`, then `d` big-endian
//! `u32` sizes, then the data in row-major order. Only unsigned bytes (`0x08`) are accepted,
//! which is what every image and label file of these datasets uses. Sizes are checked against
//! the bytes actually present before anything is allocated; trailing bytes are an error.

use std::io::Read;
use std::path::Path;

use crate::error::{DatasetError, Result};

/// Largest decompressed IDX payload accepted (1 GiB; the MNIST training images are 47 MB).
/// Override with the `CNN_MAX_IDX_BYTES` environment variable.
pub const DEFAULT_MAX_IDX_BYTES: u64 = 1 << 30;

/// A parsed IDX array of bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxArray {
    /// The dimensions, outermost first.
    pub dims: Vec<usize>,
    /// The elements, row-major.
    pub data: Vec<u8>,
}

fn fmt_err(file: &str, at: impl Into<String>, message: impl Into<String>) -> DatasetError {
    DatasetError::Format {
        file: file.to_string(),
        at: at.into(),
        message: message.into(),
    }
}

/// Parses IDX bytes (already decompressed); `file` names the source in errors.
pub fn parse_idx(bytes: &[u8], file: &str) -> Result<IdxArray> {
    if bytes.len() < 4 {
        return Err(fmt_err(
            file,
            "offset 0",
            format!("{} bytes is too short for an IDX header", bytes.len()),
        ));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(fmt_err(
            file,
            "offset 0",
            format!(
                "bad magic {:02x} {:02x} (expected 00 00)",
                bytes[0], bytes[1]
            ),
        ));
    }
    if bytes[2] != 0x08 {
        return Err(fmt_err(
            file,
            "offset 2",
            format!(
                "element type 0x{:02x} is not unsigned byte (0x08)",
                bytes[2]
            ),
        ));
    }
    let ndims = bytes[3] as usize;
    if ndims == 0 {
        return Err(fmt_err(file, "offset 3", "zero dimensions"));
    }
    let header = 4 + 4 * ndims;
    if bytes.len() < header {
        return Err(fmt_err(
            file,
            "offset 4",
            format!(
                "header claims {ndims} dimensions but the file ends at byte {}",
                bytes.len()
            ),
        ));
    }
    let dims: Vec<usize> = bytes[4..header]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let claimed = dims.iter().try_fold(1u64, |a, &d| a.checked_mul(d as u64));
    let present = (bytes.len() - header) as u64;
    match claimed {
        Some(n) if n == present => {}
        Some(n) => {
            return Err(fmt_err(
                file,
                format!("offset {header}"),
                format!(
                    "dimensions {dims:?} need {n} data bytes but {present} are present{}",
                    if n > present {
                        " (truncated?)"
                    } else {
                        " (trailing bytes)"
                    }
                ),
            ));
        }
        None => {
            return Err(fmt_err(
                file,
                "offset 4",
                format!("dimensions {dims:?} overflow"),
            ));
        }
    }
    Ok(IdxArray {
        dims,
        data: bytes[header..].to_vec(),
    })
}

/// Serialises an array in IDX format (unsigned bytes).
pub fn write_idx(dims: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, dims.len() as u8];
    for &d in dims {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

/// The decompression limit in force (`CNN_MAX_IDX_BYTES` or the default).
pub fn max_idx_bytes() -> u64 {
    std::env::var("CNN_MAX_IDX_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_MAX_IDX_BYTES)
}

/// Reads a file, gunzipping it when it starts with the gzip magic, without ever holding more
/// than `limit` decompressed bytes.
pub fn read_maybe_gz(path: &Path, limit: u64) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|source| DatasetError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let name = path.display().to_string();
    if raw.len() as u64 > limit {
        return Err(DatasetError::TooLarge {
            file: name,
            what: "file",
            size: raw.len() as u64,
            limit,
            how: "CNN_MAX_IDX_BYTES",
        });
    }
    if !raw.starts_with(&[0x1f, 0x8b]) {
        return Ok(raw);
    }
    gunzip(&raw, &name, limit)
}

/// Gunzips in-memory bytes under the global decompression limit; `name` labels errors.
pub fn read_gz_bytes(gz: &[u8], name: &str) -> Result<Vec<u8>> {
    gunzip(gz, name, max_idx_bytes())
}

fn gunzip(gz: &[u8], name: &str, limit: u64) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(gz)
        .take(limit + 1)
        .read_to_end(&mut out)
        .map_err(|e| {
            fmt_err(
                name,
                "gzip stream",
                format!("corrupt or truncated gzip data: {e}"),
            )
        })?;
    if out.len() as u64 > limit {
        return Err(DatasetError::TooLarge {
            file: name.into(),
            what: "decompressed data",
            size: out.len() as u64,
            limit,
            how: "CNN_MAX_IDX_BYTES",
        });
    }
    Ok(out)
}

/// Reads and parses an IDX file (raw or `.gz`).
pub fn read_idx(path: &Path) -> Result<IdxArray> {
    let bytes = read_maybe_gz(path, max_idx_bytes())?;
    parse_idx(&bytes, &path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let data: Vec<u8> = (0..24).collect();
        let bytes = write_idx(&[2, 3, 4], &data);
        assert_eq!(
            parse_idx(&bytes, "t").unwrap(),
            IdxArray {
                dims: vec![2, 3, 4],
                data
            }
        );
    }

    #[test]
    fn errors_name_offsets() {
        let mut b = write_idx(&[2, 2], &[1, 2, 3, 4]);
        b[2] = 0x0d;
        assert!(
            parse_idx(&b, "x.idx")
                .unwrap_err()
                .to_string()
                .contains("x.idx (offset 2): element type 0x0d")
        );
        let b = write_idx(&[2, 2], &[1, 2, 3]);
        assert!(
            parse_idx(&b, "x")
                .unwrap_err()
                .to_string()
                .contains("truncated")
        );
        let b = write_idx(
            &[u32::MAX as usize, u32::MAX as usize, u32::MAX as usize],
            &[],
        );
        assert!(parse_idx(&b, "x").is_err());
    }
}
