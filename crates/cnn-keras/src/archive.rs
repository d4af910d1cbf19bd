//! The `.keras` file: a zip of `metadata.json`, `config.json` and `model.weights.h5` (Keras 3's
//! `saving_lib`), written atomically and read with size limits (no entry may claim or inflate
//! past its limit: zip bombs are refused).

use std::collections::BTreeMap;
use std::io::{Cursor, Read, Write};
use std::path::Path;

use cnn_nn::{Architecture, Model};
use serde_json::{Value, json};
use zip::ZipArchive;
use zip::write::SimpleFileOptions;

use crate::config::{read::parse_model, write::keras_order, write::model_config};
use crate::error::{KerasError, Result};
use crate::weights::{Slot, read_weights, write_weights};

/// The Keras version whose file layout is written (and checked against in the tests).
pub const KERAS_VERSION: &str = "3.15.1";

/// Largest `config.json` / `metadata.json` read (64 MiB: a ResNet-152's config is ~0.5 MiB).
pub const MAX_CONFIG_BYTES: u64 = 64 << 20;

/// A model read from a Keras file.
#[derive(Debug)]
pub struct Imported {
    /// The model with its weights.
    pub model: Model,
    /// What was ignored on the way in (regularisers, constraints, frozen layers, ...).
    pub notes: Vec<String>,
    /// The Keras version that wrote the file, when it says.
    pub keras_version: Option<String>,
    /// cnn's own entries (class names, preprocessing), when cnn wrote the file.
    pub extra: BTreeMap<String, String>,
}

/// `seconds` since the Unix epoch as Keras's `date_saved` (`2026-11-30@01:53:51`, UTC).
fn date_saved(seconds: u64) -> String {
    let (days, rem) = ((seconds / 86_400) as i64, seconds % 86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}@{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The Keras objects of `arch` in Keras's list order, with their classes.
fn slots(arch: &Architecture) -> Vec<Slot<'static>> {
    keras_order(arch)
        .into_iter()
        .map(|e| {
            (
                e.map_or("InputLayer", |i| arch.layers[i].config().class_name()),
                e,
            )
        })
        .collect()
}

/// `model` as the bytes of a `.keras` file; `extra` (class names, preprocessing, ...) goes into
/// `metadata.json` under `cnn`.
pub fn to_keras_bytes(model: &Model, extra: &BTreeMap<String, String>) -> Result<Vec<u8>> {
    let arch = model.architecture();
    let config = model_config(arch)?;
    let weights = write_weights(model, &slots(arch))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let metadata = json!({
        "keras_version": KERAS_VERSION,
        "date_saved": date_saved(now),
        "cnn": {"version": env!("CARGO_PKG_VERSION"), "extra": extra},
    });
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let zerr = |e: zip::result::ZipError| KerasError::Model(format!("writing the zip: {e}"));
    for (name, bytes) in [
        ("metadata.json", metadata.to_string().into_bytes()),
        ("config.json", config.to_string().into_bytes()),
        ("model.weights.h5", weights),
    ] {
        zip.start_file(name, opts).map_err(zerr)?;
        zip.write_all(&bytes)
            .map_err(|e| KerasError::Model(format!("writing the zip: {e}")))?;
    }
    Ok(zip.finish().map_err(zerr)?.into_inner())
}

/// Writes `model` to `path` as a Keras 3 `.keras` file, atomically.
pub fn export_keras(model: &Model, path: &Path, extra: &BTreeMap<String, String>) -> Result<()> {
    let bytes = to_keras_bytes(model, extra)?;
    cnn_tensor::io::write_atomic(path, &bytes)?;
    Ok(())
}

/// Reads a `.keras` file (one Keras 3 saved, or one cnn exported). The weights file inside is
/// read in place when the archive stores it uncompressed (as Keras does): only the model's
/// weights are held in memory, not the file besides.
pub fn import_keras(path: &Path) -> Result<Imported> {
    let io = |source| KerasError::Io {
        path: path.to_path_buf(),
        source,
    };
    let len = std::fs::metadata(path).map_err(io)?.len();
    if len > cnn_nn::io::MAX_MODEL_FILE {
        return Err(KerasError::File {
            path: path.to_path_buf(),
            message: format!(
                "{len} bytes is over the model file limit of {}",
                cnn_nn::io::MAX_MODEL_FILE
            ),
        });
    }
    let file = std::fs::File::open(path).map_err(io)?;
    let (config, metadata, weights) = read_archive(std::io::BufReader::new(file), path)?;
    let open = || {
        match weights {
            Weights::Bytes(b) => hdf5_pure::File::from_bytes(b),
            Weights::Stored { start, len } => {
                let file = std::fs::File::open(path).map_err(io)?;
                hdf5_pure::File::from_source(FileSlice {
                    file: std::sync::Mutex::new(file),
                    start,
                    len,
                })
            }
        }
        .map_err(|e| h5_file_err(path, e))
    };
    finish(&config, &metadata, open, path)
}

/// [`import_keras`] from bytes in memory; `path` names the source in errors.
pub fn import_keras_bytes(bytes: &[u8], path: &Path) -> Result<Imported> {
    let (config, metadata, weights) = read_archive(Cursor::new(bytes), path)?;
    let open = || {
        let h5 = match weights {
            Weights::Bytes(b) => b,
            Weights::Stored { start, len } => usize::try_from(start)
                .ok()
                .zip(usize::try_from(start.saturating_add(len)).ok())
                .and_then(|(a, b)| bytes.get(a..b))
                .ok_or_else(|| KerasError::File {
                    path: path.to_path_buf(),
                    message: "model.weights.h5 lies outside the archive".into(),
                })?
                .to_vec(),
        };
        hdf5_pure::File::from_bytes(h5).map_err(|e| h5_file_err(path, e))
    };
    finish(&config, &metadata, open, path)
}

fn h5_file_err(path: &Path, e: hdf5_pure::Error) -> KerasError {
    KerasError::File {
        path: path.to_path_buf(),
        message: format!("model.weights.h5: {e}"),
    }
}

/// Where the weights file's bytes are: read out (a compressed entry), or stored as they are at
/// `start` in the archive.
enum Weights {
    Bytes(Vec<u8>),
    Stored { start: u64, len: u64 },
}

/// A stretch of a file as an HDF5 byte source.
struct FileSlice {
    file: std::sync::Mutex<std::fs::File>,
    start: u64,
    len: u64,
}

impl hdf5_pure::Source for FileSlice {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(
        &self,
        offset: u64,
        buf: &mut [u8],
    ) -> std::result::Result<(), hdf5_pure::FormatError> {
        use std::io::Seek;
        let end = offset.checked_add(buf.len() as u64);
        if end.is_none_or(|e| e > self.len) {
            return Err(hdf5_pure::FormatError::Source(format!(
                "read of {} bytes at {offset} past the end ({})",
                buf.len(),
                self.len
            )));
        }
        let mut f = self
            .file
            .lock()
            .map_err(|_| hdf5_pure::FormatError::Source("file lock poisoned".into()))?;
        f.seek(std::io::SeekFrom::Start(self.start + offset))
            .and_then(|_| f.read_exact(buf))
            .map_err(|e| hdf5_pure::FormatError::Source(e.to_string()))
    }
}

/// The most bytes `config`'s weights file can need: every value as f64 (Keras may store
/// float64 variables), plus 64 MiB for HDF5's own structures. A compressed entry inflating past
/// it is a zip bomb and is refused as soon as it does, so memory stays within the model's own
/// size. An invalid config gets the model-file limit (and fails when it is built).
fn weights_limit(config: &Value) -> u64 {
    parse_model(config)
        .ok()
        .and_then(|p| Architecture::from_spec(&p.spec).ok())
        .map_or(cnn_nn::io::MAX_MODEL_FILE, |a| {
            let (total, _, _) = a.param_counts();
            total
                .saturating_mul(8)
                .saturating_add(64 << 20)
                .min(cnn_nn::io::MAX_MODEL_FILE)
        })
}

/// The config, the metadata and where the weights are, from a `.keras` archive; every entry
/// within its limit, the stored weights' checksum verified.
fn read_archive<R: Read + std::io::Seek>(
    reader: R,
    path: &Path,
) -> Result<(Value, Value, Weights)> {
    let file_err = |message: String| KerasError::File {
        path: path.to_path_buf(),
        message,
    };
    let mut zip = ZipArchive::new(reader)
        .map_err(|e| file_err(format!("not a .keras file (a zip archive): {e}")))?;
    let read = |zip: &mut ZipArchive<R>, name: &str, limit: u64| read_entry(zip, name, limit, path);
    let config = read(&mut zip, "config.json", MAX_CONFIG_BYTES)?
        .ok_or_else(|| file_err("no config.json: not a Keras 3 .keras file".into()))?;
    let config: Value =
        serde_json::from_slice(&config).map_err(|e| file_err(format!("config.json: {e}")))?;
    let metadata: Value = match read(&mut zip, "metadata.json", MAX_CONFIG_BYTES)? {
        Some(m) => {
            serde_json::from_slice(&m).map_err(|e| file_err(format!("metadata.json: {e}")))?
        }
        None => Value::Null,
    };
    let limit = weights_limit(&config);
    let stored = match zip.by_name("model.weights.h5") {
        Ok(mut e) if e.compression() == zip::CompressionMethod::Stored && e.size() <= limit => {
            // Read through once for the zip's CRC-32 (HDF5 checks no data), holding nothing.
            let len = e.size();
            let start = e.data_start();
            let n = std::io::copy(&mut (&mut e).take(limit + 1), &mut std::io::sink())
                .map_err(|err| file_err(format!("model.weights.h5: {err}")))?;
            match start {
                Some(start) if n == len => Some(Weights::Stored { start, len }),
                _ => None,
            }
        }
        _ => None,
    };
    let weights = match stored {
        Some(w) => w,
        None => match read(&mut zip, "model.weights.h5", limit)? {
            Some(w) => Weights::Bytes(w),
            None if read(&mut zip, "model.weights.json", MAX_CONFIG_BYTES)?.is_some() => {
                return Err(file_err(
                    "the weights are sharded (model.weights.json); save without max_shard_size"
                        .into(),
                ));
            }
            None => return Err(file_err("no model.weights.h5 in the archive".into())),
        },
    };
    Ok((config, metadata, weights))
}

/// Entry `name` of `zip`, if present, refused if it claims or inflates past `limit` bytes.
fn read_entry<R: Read + std::io::Seek>(
    zip: &mut ZipArchive<R>,
    name: &str,
    limit: u64,
    path: &Path,
) -> Result<Option<Vec<u8>>> {
    let file_err = |message: String| KerasError::File {
        path: path.to_path_buf(),
        message,
    };
    let mut entry = match zip.by_name(name) {
        Ok(e) => e,
        Err(zip::result::ZipError::FileNotFound) => return Ok(None),
        Err(e) => return Err(file_err(format!("{name}: {e}"))),
    };
    if entry.size() > limit {
        return Err(file_err(format!(
            "{name} claims {} bytes, over the limit of {limit}",
            entry.size()
        )));
    }
    // Grown as it is read: a claimed size reserves at most 64 MiB up front.
    let mut out = Vec::with_capacity(entry.size().min(64 << 20) as usize);
    (&mut entry)
        .take(limit + 1)
        .read_to_end(&mut out)
        .map_err(|e| file_err(format!("{name}: {e}")))?;
    if out.len() as u64 > limit {
        return Err(file_err(format!(
            "{name} inflates past the limit of {limit} bytes"
        )));
    }
    Ok(Some(out))
}

/// The imported model, with the metadata's version and cnn entries.
fn finish(
    config: &Value,
    metadata: &Value,
    open: impl FnOnce() -> Result<hdf5_pure::File>,
    path: &Path,
) -> Result<Imported> {
    let mut imported = import_parts(config, open).map_err(|e| match e {
        KerasError::Weight { path: p, message } => KerasError::File {
            path: path.to_path_buf(),
            message: format!("model.weights.h5: `{p}`: {message}"),
        },
        other => other,
    })?;
    imported.keras_version = metadata
        .get("keras_version")
        .and_then(Value::as_str)
        .map(str::to_string);
    if let Some(extra) = metadata.pointer("/cnn/extra").and_then(Value::as_object) {
        imported.extra = extra
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
            .collect();
    }
    Ok(imported)
}

/// Builds the model of a config tree, then reads its weights from the Keras 3 weights file
/// `open` gives (opened only once the architecture is known to be valid).
pub(crate) fn import_parts(
    config: &Value,
    open: impl FnOnce() -> Result<hdf5_pure::File>,
) -> Result<Imported> {
    let parsed = parse_model(config)?;
    let arch = Architecture::from_spec(&parsed.spec)?;
    let weights = open()?;
    let slots: Vec<Slot<'_>> = parsed
        .order
        .iter()
        .map(|(class, name)| {
            (
                class.as_str(),
                if *name == arch.input_name {
                    None
                } else {
                    arch.layer_index(name)
                },
            )
        })
        .collect();
    let mut tensors = read_weights(&weights, &arch, &slots)?;
    drop(weights);
    let model = Model::from_tensors(arch, &mut tensors)?;
    Ok(Imported {
        model,
        notes: parsed.notes,
        keras_version: None,
        extra: BTreeMap::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::date_saved;

    #[test]
    fn dates_are_utc_calendar_dates() {
        assert_eq!(date_saved(0), "1970-01-01@00:00:00");
        assert_eq!(date_saved(951_782_400), "2000-02-29@00:00:00");
        assert_eq!(date_saved(1_796_003_631), "2026-11-30@01:53:51");
    }
}
