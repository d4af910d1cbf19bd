//! Keras's HDF5 weight files other than `.keras` archives:
//!
//! - **legacy HDF5** (Keras 2's `model.save("m.h5")` and `save_weights("w.h5")`, and the Keras
//!   applications' published ImageNet weights): a root (or `model_weights`) group whose
//!   `layer_names` attribute lists the layers, each layer's group listing its variables in
//!   `weight_names` (`block1_conv1/kernel:0`, …) in the layer's own order; full-model files also
//!   carry the architecture as JSON in the root attribute `model_config`;
//! - **Keras 3 `.weights.h5`** (`model.save_weights("w.weights.h5")`): the layout of the
//!   `.keras` archive's weights file, without an architecture.
//!
//! A file without an architecture needs one from the caller (a zoo name or spec). Legacy
//! weights are matched to layers by name when every weighted layer's name is in the file, else
//! in order (what Keras's `load_weights` does for HDF5 files); Keras 3 weights by their paths.
//! Files on disk are read lazily (`open_streaming`): memory holds the model's weights, not the
//! file besides.

use std::collections::HashMap;
use std::path::Path;

use cnn_nn::{Architecture, Model, ModelSpec};
use cnn_tensor::Tensor;
use hdf5_pure::{AttrValue, File, Group};
use serde_json::Value;

use crate::archive::Imported;
use crate::config::read::parse_model;
use crate::config::write::keras_order;
use crate::error::{KerasError, Result};
use crate::weights::{Slot, read_checked, read_weights};

/// What kind of HDF5 file Keras wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum H5Kind {
    /// A legacy full model: architecture (`model_config`) and weights.
    LegacyModel,
    /// Legacy weights only (`layer_names` at the root), as the Keras applications publish.
    LegacyWeights,
    /// Keras 3 `.weights.h5`: weights only, by variable path.
    Keras3Weights,
}

fn file_err(path: &Path, message: impl Into<String>) -> KerasError {
    KerasError::File {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// A list of names from a string attribute, in whichever string type the writer chose (h5py
/// writes Keras 2's as fixed-length bytes, Keras 3's as variable-length strings; an empty list
/// comes as an empty float array).
fn names(v: &AttrValue) -> Option<Vec<String>> {
    Some(match v {
        AttrValue::StringArray(a)
        | AttrValue::AsciiStringArray(a)
        | AttrValue::VarLenStringArray(a)
        | AttrValue::VarLenAsciiStringArray(a) => a.clone(),
        AttrValue::String(s)
        | AttrValue::AsciiString(s)
        | AttrValue::VarLenString(s)
        | AttrValue::VarLenAsciiString(s) => vec![s.clone()],
        AttrValue::F64Array(a) if a.is_empty() => Vec::new(),
        _ => return None,
    })
}

fn text(v: &AttrValue) -> Option<String> {
    match v {
        AttrValue::String(s)
        | AttrValue::AsciiString(s)
        | AttrValue::VarLenString(s)
        | AttrValue::VarLenAsciiString(s) => Some(s.clone()),
        _ => None,
    }
}

/// Opens `path` lazily and says what kind of Keras file it is.
pub fn open_h5(path: &Path) -> Result<(File, H5Kind)> {
    let file = File::open_streaming(path)
        .map_err(|e| file_err(path, format!("not an HDF5 file Keras wrote: {e}")))?;
    classify(file, path)
}

/// What kind of Keras file an open HDF5 file is.
fn classify(file: File, path: &Path) -> Result<(File, H5Kind)> {
    let attrs = file
        .root()
        .attrs()
        .map_err(|e| file_err(path, e.to_string()))?;
    let kind = if attrs.contains_key("model_config") {
        H5Kind::LegacyModel
    } else if attrs.contains_key("layer_names") {
        H5Kind::LegacyWeights
    } else if file.group("layers").is_ok() || file.group("vars").is_ok() {
        H5Kind::Keras3Weights
    } else {
        return Err(file_err(
            path,
            "an HDF5 file, but not one Keras wrote (no model_config, layer_names or layers/)",
        ));
    };
    Ok((file, kind))
}

/// The architecture stored in a legacy full-model file.
fn legacy_config(file: &File, path: &Path) -> Result<Value> {
    let attrs = file
        .root()
        .attrs()
        .map_err(|e| file_err(path, e.to_string()))?;
    let json = attrs
        .get("model_config")
        .and_then(text)
        .ok_or_else(|| file_err(path, "model_config is not a string"))?;
    if json.len() as u64 > crate::MAX_CONFIG_BYTES {
        return Err(file_err(path, "model_config is over the 64 MiB limit"));
    }
    serde_json::from_str(&json).map_err(|e| file_err(path, format!("model_config: {e}")))
}

/// One layer of a legacy weights group: its name and its variables' dataset paths, in order.
struct LegacyLayer {
    name: String,
    weights: Vec<String>,
}

fn legacy_layers(group: &Group, path: &Path) -> Result<Vec<LegacyLayer>> {
    let attrs = group.attrs().map_err(|e| file_err(path, e.to_string()))?;
    let layer_names = attrs
        .get("layer_names")
        .and_then(names)
        .ok_or_else(|| file_err(path, "layer_names is missing or not a list of names"))?;
    layer_names
        .into_iter()
        .map(|name| {
            let g = group.group(&name).map_err(|e| {
                file_err(
                    path,
                    format!("layer `{name}` is listed but has no group: {e}"),
                )
            })?;
            let a = g.attrs().map_err(|e| file_err(path, e.to_string()))?;
            let weights = match a.get("weight_names") {
                None => Vec::new(),
                Some(v) => names(v).ok_or_else(|| {
                    file_err(
                        path,
                        format!("layer `{name}`: weight_names is not a list of names"),
                    )
                })?,
            };
            Ok(LegacyLayer { name, weights })
        })
        .collect()
}

/// Reads one variable of a legacy layer group, checked against what the architecture needs.
fn read_var(group: &Group, ds_path: &str, want: &cnn_nn::ParamSpec, path: &Path) -> Result<Tensor> {
    let err = |m: String| file_err(path, format!("`{ds_path}`: {m}"));
    let ds = group.dataset(ds_path).map_err(|e| err(e.to_string()))?;
    read_checked(&ds, want).map_err(err)
}

/// The weights of `arch` from a legacy group: by layer name when every weighted layer's name is
/// in the file, else the weighted layers in order (Keras's topological `load_weights`).
fn read_legacy(
    group: &Group,
    arch: &Architecture,
    path: &Path,
) -> Result<(HashMap<String, Tensor>, bool)> {
    let file_layers = legacy_layers(group, path)?;
    let weighted_file: Vec<&LegacyLayer> = file_layers
        .iter()
        .filter(|l| !l.weights.is_empty())
        .collect();
    let weighted_arch: Vec<&cnn_nn::Layer> = arch
        .layers
        .iter()
        .filter(|l| !l.params.is_empty())
        .collect();
    let by_name: HashMap<&str, &LegacyLayer> = weighted_file
        .iter()
        .map(|l| (l.name.as_str(), *l))
        .collect();
    let named = weighted_arch
        .iter()
        .all(|l| by_name.contains_key(l.name.as_str()));
    if !named && weighted_file.len() != weighted_arch.len() {
        let missing: Vec<&str> = weighted_arch
            .iter()
            .filter(|l| !by_name.contains_key(l.name.as_str()))
            .map(|l| l.name.as_str())
            .take(5)
            .collect();
        return Err(file_err(
            path,
            format!(
                "the file holds weights for {} layers, the architecture has {} with weights, and \
                 layers such as {} are not in the file by name",
                weighted_file.len(),
                weighted_arch.len(),
                missing.join(", ")
            ),
        ));
    }
    let mut out = HashMap::new();
    for (i, layer) in weighted_arch.iter().enumerate() {
        let src = if named {
            by_name[layer.name.as_str()]
        } else {
            weighted_file[i]
        };
        if src.weights.len() != layer.params.len() {
            return Err(file_err(
                path,
                format!(
                    "layer `{}` in the file has {} variables but `{}` ({}) needs {}",
                    src.name,
                    src.weights.len(),
                    layer.name,
                    layer.config().class_name(),
                    layer.params.len()
                ),
            ));
        }
        let g = group
            .group(&src.name)
            .map_err(|e| file_err(path, format!("layer `{}`: {e}", src.name)))?;
        for (w, p) in src.weights.iter().zip(&layer.params) {
            out.insert(p.name.clone(), read_var(&g, w, p, path)?);
        }
    }
    Ok((out, named))
}

/// Imports a Keras HDF5 file. A legacy full model brings its architecture; weights-only files
/// take `arch` (e.g. a zoo model's spec), which must be given for them.
pub fn import_h5(path: &Path, arch: Option<&ModelSpec>) -> Result<Imported> {
    let (file, kind) = open_h5(path)?;
    import_open(file, kind, path, arch)
}

/// As [`import_h5`], from the file's bytes in memory; `path` names it in errors.
///
/// # Errors
/// As [`import_h5`].
pub fn import_h5_bytes(bytes: &[u8], path: &Path, arch: Option<&ModelSpec>) -> Result<Imported> {
    let file = File::from_bytes(bytes.to_vec())
        .map_err(|e| file_err(path, format!("not an HDF5 file Keras wrote: {e}")))?;
    let (file, kind) = classify(file, path)?;
    import_open(file, kind, path, arch)
}

fn import_open(
    file: File,
    kind: H5Kind,
    path: &Path,
    arch: Option<&ModelSpec>,
) -> Result<Imported> {
    let mut notes = Vec::new();
    let spec = match (kind, arch) {
        (_, Some(spec)) => spec.clone(),
        (H5Kind::LegacyModel, None) => {
            let parsed = parse_model(&legacy_config(&file, path)?)?;
            notes = parsed.notes;
            parsed.spec
        }
        (_, None) => {
            return Err(KerasError::WeightsOnly {
                path: path.to_path_buf(),
            });
        }
    };
    let keras_version = keras_version(&file);
    let arch = Architecture::from_spec(&spec)?;
    let root = file.root();
    let mut tensors = match kind {
        H5Kind::LegacyModel => {
            let g = root
                .group("model_weights")
                .map_err(|e| file_err(path, format!("model_weights: {e}")))?;
            let (t, named) = read_legacy(&g, &arch, path)?;
            if !named {
                notes.push("weights matched to layers in order (their names differ)".into());
            }
            t
        }
        H5Kind::LegacyWeights => {
            let (t, named) = read_legacy(&root, &arch, path)?;
            if !named {
                notes.push("weights matched to layers in order (their names differ)".into());
            }
            t
        }
        H5Kind::Keras3Weights => {
            let slots: Vec<Slot<'_>> = keras_order(&arch)
                .into_iter()
                .map(|e| {
                    (
                        e.map_or("InputLayer", |i| arch.layers[i].config().class_name()),
                        e,
                    )
                })
                .collect();
            read_weights(&file, &arch, &slots).map_err(|e| match e {
                KerasError::Weight { path: p, message } => {
                    file_err(path, format!("`{p}`: {message}"))
                }
                other => other,
            })?
        }
    };
    drop(file);
    let model = Model::from_tensors(arch, &mut tensors)?;
    Ok(Imported {
        model,
        notes,
        keras_version,
        extra: Default::default(),
    })
}

/// The Keras version a file says wrote it (at the root, or on `model_weights`).
fn keras_version(file: &File) -> Option<String> {
    let from = |g: Group| g.attrs().ok()?.get("keras_version").and_then(text);
    from(file.root()).or_else(|| from(file.group("model_weights").ok()?))
}
