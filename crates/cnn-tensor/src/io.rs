//! Reading and writing named tensors in the safetensors format, and atomic file writes.
//!
//! safetensors is a JSON header plus raw little-endian data: loading it never executes code.
//! Every tensor read here must be `F32`; sizes are validated by the safetensors crate before
//! anything is copied.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView as StView};

use crate::{Result, Tensor, TensorError};

/// Named tensors in file order, plus the file's free-form string metadata.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NamedTensors {
    /// `(name, tensor)` pairs, sorted by name.
    pub tensors: Vec<(String, Tensor)>,
    /// The `__metadata__` map of the file.
    pub metadata: HashMap<String, String>,
}

impl NamedTensors {
    /// The tensor called `name`, if present.
    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.tensors.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }
}

/// Serialises named tensors (and optional metadata) to safetensors bytes.
pub fn to_safetensors_bytes<'a>(
    tensors: impl IntoIterator<Item = (&'a str, &'a Tensor)>,
    metadata: Option<HashMap<String, String>>,
) -> Result<Vec<u8>> {
    let bytes: Vec<(String, Vec<u8>, Vec<usize>)> = tensors
        .into_iter()
        .map(|(name, t)| {
            let raw: Vec<u8> = t.data().iter().flat_map(|x| x.to_le_bytes()).collect();
            (name.to_string(), raw, t.dims().to_vec())
        })
        .collect();
    let views = bytes
        .iter()
        .map(|(name, raw, dims)| {
            StView::new(Dtype::F32, dims.clone(), raw)
                .map(|v| (name.clone(), v))
                .map_err(|e| st_error("buffer", e))
        })
        .collect::<Result<Vec<_>>>()?;
    safetensors::serialize(views, metadata).map_err(|e| st_error("buffer", e))
}

/// Parses safetensors bytes; `context` names the source in errors (a path or "buffer").
pub fn from_safetensors_bytes(bytes: &[u8], context: &str) -> Result<NamedTensors> {
    let (_, meta) = SafeTensors::read_metadata(bytes).map_err(|e| st_error(context, e))?;
    let st = SafeTensors::deserialize(bytes).map_err(|e| st_error(context, e))?;
    let mut tensors = Vec::new();
    for (name, view) in st.tensors() {
        if view.dtype() != Dtype::F32 {
            return Err(TensorError::DType {
                context: context.to_string(),
                name,
                dtype: format!("{:?}", view.dtype()),
            });
        }
        let data: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let t = Tensor::new(view.shape(), data).map_err(|e| TensorError::Safetensors {
            context: context.to_string(),
            message: format!("tensor `{name}`: {e}"),
        })?;
        tensors.push((name, t));
    }
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(NamedTensors {
        tensors,
        metadata: meta.metadata().clone().unwrap_or_default(),
    })
}

/// Writes named tensors to `path` atomically (see [`write_atomic`]).
pub fn save_safetensors<'a>(
    path: &Path,
    tensors: impl IntoIterator<Item = (&'a str, &'a Tensor)>,
    metadata: Option<HashMap<String, String>>,
) -> Result<()> {
    let bytes = to_safetensors_bytes(tensors, metadata)?;
    write_atomic(path, &bytes)
}

/// The largest safetensors header read (the safetensors crate's own limit).
const MAX_HEADER: u64 = 100_000_000;

/// Reads a safetensors file of `F32` tensors. The header is parsed and validated by the
/// safetensors crate (offsets contiguous, sizes consistent with shapes and types, no overflow)
/// and checked against the file's length before anything else is read; then each tensor's
/// bytes go from the file straight into its own buffer — the file is never held in memory
/// as a whole (VGG-16's 553 MB: half the pages, no conversion pass).
pub fn load_safetensors(path: &Path) -> Result<NamedTensors> {
    use std::io::Read;
    let context = path.display().to_string();
    let io = |source| TensorError::Io {
        path: path.to_path_buf(),
        source,
    };
    let bad = |message: String| TensorError::Safetensors {
        context: context.clone(),
        message,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    let mut n = [0u8; 8];
    file.read_exact(&mut n)
        .map_err(|_| bad("shorter than a safetensors header".into()))?;
    let n = u64::from_le_bytes(n);
    if n > MAX_HEADER || n > len - 8 {
        return Err(bad(format!(
            "header length {n} does not fit a file of {len} bytes"
        )));
    }
    let mut header = vec![0u8; n as usize];
    file.read_exact(&mut header).map_err(io)?;
    let meta: safetensors::tensor::Metadata =
        serde_json::from_slice(&header).map_err(|e| bad(format!("invalid header: {e}")))?;
    if meta.data_len() as u64 != len - 8 - n {
        return Err(bad(format!(
            "the header describes {} bytes of tensors but the file holds {}",
            meta.data_len(),
            len - 8 - n
        )));
    }
    let mut tensors = Vec::new();
    // In offset order: the reads go through the file once, front to back.
    for name in meta.offset_keys() {
        let info = meta
            .info(&name)
            .ok_or_else(|| bad(format!("tensor `{name}` has no entry")))?;
        if info.dtype != Dtype::F32 {
            return Err(TensorError::DType {
                context: context.clone(),
                name,
                dtype: format!("{:?}", info.dtype),
            });
        }
        let numel = (info.data_offsets.1 - info.data_offsets.0) / 4;
        let mut data = vec![0f32; numel];
        file.read_exact(bytemuck::cast_slice_mut(&mut data))
            .map_err(io)?;
        if cfg!(target_endian = "big") {
            for v in &mut data {
                *v = f32::from_bits(u32::from_le(v.to_bits()));
            }
        }
        let t = Tensor::new(info.shape.clone(), data)
            .map_err(|e| bad(format!("tensor `{name}`: {e}")))?;
        tensors.push((name, t));
    }
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(NamedTensors {
        tensors,
        metadata: meta.metadata().clone().unwrap_or_default(),
    })
}

/// The name prefix of [`write_atomic`]'s temporary files for a file named `file_name` (they
/// end in `.tmp`).
pub(crate) fn temp_prefix(file_name: &str) -> String {
    format!(".{file_name}.")
}

/// Writes `bytes` to `path` so that a crash leaves either the old file or the new one, never a
/// torn file: the data goes to a temporary file in the same directory, is flushed to disk, and
/// is renamed over `path`. On any error the temporary file is removed and `path` is untouched.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |source| TensorError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let prefix = temp_prefix(&file_name);
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    // Temporary files are private (0600) by default; the file a user gets must have the same
    // permissions as one made by `File::create` (0666 less the umask), so models and pictures
    // can be shared and served.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let mut tmp = builder.tempfile_in(dir).map_err(io)?;
    tmp.write_all(bytes).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    // Make the rename itself durable where the platform allows it.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

fn st_error(context: &str, e: safetensors::SafeTensorError) -> TensorError {
    TensorError::Safetensors {
        context: context.to_string(),
        message: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn atomic_files_get_the_permissions_of_a_created_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain");
        std::fs::File::create(&plain).unwrap();
        let atomic = dir.path().join("atomic");
        write_atomic(&atomic, b"x").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&atomic), mode(&plain));
        assert_ne!(
            mode(&atomic) & 0o044,
            0,
            "readable by others under a usual umask"
        );
    }

    #[test]
    fn round_trip_with_metadata() {
        let a = Tensor::from_fn([3, 3, 1, 2], |i| i as f32 * 0.5 - 1.0).unwrap();
        let b = Tensor::from_fn([2], |i| i as f32).unwrap();
        let mut meta = HashMap::new();
        meta.insert("epoch".to_string(), "3".to_string());
        let bytes =
            to_safetensors_bytes([("conv2d/kernel", &a), ("conv2d/bias", &b)], Some(meta)).unwrap();
        let back = from_safetensors_bytes(&bytes, "buffer").unwrap();
        assert_eq!(back.get("conv2d/kernel"), Some(&a));
        assert_eq!(back.get("conv2d/bias"), Some(&b));
        assert_eq!(back.metadata["epoch"], "3");
        assert_eq!(back.tensors[0].0, "conv2d/bias");
    }

    /// Both readers on `bytes`: from memory, and from a file (streamed tensor by tensor).
    fn both(bytes: &[u8]) -> (Result<NamedTensors>, Result<NamedTensors>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.safetensors");
        std::fs::write(&path, bytes).unwrap();
        (
            from_safetensors_bytes(bytes, "buffer"),
            load_safetensors(&path),
        )
    }

    #[test]
    fn the_file_reader_reads_what_the_buffer_reader_reads() {
        let a = Tensor::from_fn([3, 3, 1, 2], |i| i as f32 * 0.5 - 1.0).unwrap();
        let b = Tensor::from_fn([7], |i| -(i as f32)).unwrap();
        let meta = HashMap::from([("k".to_string(), "v".to_string())]);
        let bytes = to_safetensors_bytes([("z", &a), ("b", &b)], Some(meta)).unwrap();
        let (m, f) = both(&bytes);
        let (m, f) = (m.unwrap(), f.unwrap());
        assert_eq!(m, f);
        assert_eq!(f.get("z"), Some(&a));
        assert_eq!(f.metadata["k"], "v");
    }

    #[test]
    fn truncated_or_garbage_bytes_are_errors() {
        let a = Tensor::from_fn([4, 4], |i| i as f32).unwrap();
        let bytes = to_safetensors_bytes([("w", &a)], None).unwrap();
        for cut in 0..bytes.len() {
            let (m, f) = both(&bytes[..cut]);
            assert!(m.is_err() && f.is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.extend_from_slice(&[0; 4]);
        let (m, f) = both(&longer);
        assert!(m.is_err() && f.is_err(), "trailing bytes");
        let mut huge_header = bytes.clone();
        huge_header[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        let (m, f) = both(&huge_header);
        assert!(m.is_err() && f.is_err());
    }

    #[test]
    fn other_dtypes_and_lying_headers_are_errors() {
        // An F64 tensor (wrong dtype), an F16 one, and a header claiming more data than exists.
        for dtype in [Dtype::F64, Dtype::F16, Dtype::I64] {
            let raw = vec![0u8; 4 * dtype.bitsize() / 8];
            let v = StView::new(dtype, vec![2, 2], &raw).unwrap();
            let bytes = safetensors::serialize([("w", v)], None).unwrap();
            let (m, f) = both(&bytes);
            for e in [m.unwrap_err(), f.unwrap_err()] {
                assert!(e.to_string().contains(&format!("{dtype:?}")), "{e}");
            }
        }
        let a = Tensor::from_fn([2, 2], |i| i as f32).unwrap();
        let mut bytes = to_safetensors_bytes([("w", &a)], None).unwrap();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let at = text.find("[2,2]").unwrap();
        bytes[at..at + 5].copy_from_slice(b"[9,9]");
        let (m, f) = both(&bytes);
        assert!(m.is_err() && f.is_err());
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.safetensors");
        let a = Tensor::scalar(1.0);
        save_safetensors(&path, [("a", &a)], None).unwrap();
        let b = Tensor::scalar(2.0);
        save_safetensors(&path, [("a", &b)], None).unwrap();
        assert_eq!(load_safetensors(&path).unwrap().get("a"), Some(&b));
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "temporary files left behind");
    }

    #[test]
    fn atomic_write_into_missing_dir_fails_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no/such/dir/m.safetensors");
        let err = write_atomic(&path, b"x").unwrap_err();
        assert!(err.to_string().contains("m.safetensors"));
    }
}
