//! The model file: one safetensors file holding the architecture (JSON), the weights (named
//! like `conv2d/kernel`), the optimizer state and the epoch, written atomically.
//!
//! Loading parses only JSON and raw little-endian floats — no code runs — and checks, before
//! building anything, that the architecture is valid and within size limits, then that every
//! tensor is present with the right name, dtype and shape; extra or missing tensors are errors.

use std::collections::HashMap;
use std::path::Path;

use cnn_tensor::Tensor;
use cnn_tensor::io::{
    from_safetensors_bytes, load_safetensors, to_safetensors_bytes, write_atomic,
};

use crate::arch::Architecture;
use crate::error::{NnError, Result};
use crate::history::History;
use crate::model::Model;
use crate::optimizer::{Optimizer, OptimizerConfig};
use crate::spec::ModelSpec;

/// The format tag of a Sequential model's file (readable by every version of cnn).
pub const FORMAT: &str = "cnn-model/1";

/// The format tag of a graph model's file: its architecture names each layer's `inputs`,
/// which readers of `cnn-model/1` do not know, so they refuse it by its tag instead of
/// failing on the JSON.
pub const FORMAT_GRAPH: &str = "cnn-model/2";

/// Largest model file read (4 GiB + headers); larger claims are refused before reading.
pub const MAX_MODEL_FILE: u64 = (1 << 32) + (1 << 20);

/// A loaded model file.
#[derive(Debug)]
pub struct Saved {
    /// The model with its weights.
    pub model: Model,
    /// The optimizer with its state, when the file holds one.
    pub optimizer: Option<Optimizer>,
    /// Epochs completed when it was saved.
    pub epoch: usize,
    /// Training history, when saved.
    pub history: Option<History>,
    /// Free-form metadata (e.g. class names, training options), as saved.
    pub extra: HashMap<String, String>,
}

/// Writes `model` (and optionally its optimizer state, epoch and history) to `path` atomically.
pub fn save_model(
    path: &Path,
    model: &Model,
    optimizer: Option<&Optimizer>,
    epoch: usize,
    history: Option<&History>,
) -> Result<()> {
    save_model_with(path, model, optimizer, epoch, history, &HashMap::new())
}

/// Like [`save_model`], with extra metadata entries (keys must not start with `cnn.`).
pub fn save_model_with(
    path: &Path,
    model: &Model,
    optimizer: Option<&Optimizer>,
    epoch: usize,
    history: Option<&History>,
    extra: &HashMap<String, String>,
) -> Result<()> {
    let json = |v: &dyn erased::Ser| v.to_json();
    let mut meta: HashMap<String, String> = extra
        .iter()
        .map(|(k, v)| (format!("user.{k}"), v.clone()))
        .collect();
    let format = if model.architecture().is_sequential() {
        FORMAT
    } else {
        FORMAT_GRAPH
    };
    meta.insert("cnn.format".into(), format.into());
    meta.insert(
        "cnn.architecture".into(),
        json(&model.architecture().to_spec()),
    );
    meta.insert("cnn.epoch".into(), epoch.to_string());
    if let Some(h) = history {
        meta.insert("cnn.history".into(), json(h));
    }
    let mut tensors: Vec<(String, &Tensor)> = model
        .named_weights()
        .map(|(n, t)| (n.to_string(), t))
        .collect();
    if let Some(o) = optimizer {
        meta.insert("cnn.optimizer".into(), json(&o.config()));
        tensors.extend(o.named_slots(model.param_names()));
    }
    let bytes = to_safetensors_bytes(tensors.iter().map(|(n, t)| (n.as_str(), *t)), Some(meta))?;
    write_atomic(path, &bytes)?;
    Ok(())
}

mod erased {
    pub trait Ser {
        fn to_json(&self) -> String;
    }
    impl<T: serde::Serialize> Ser for T {
        fn to_json(&self) -> String {
            serde_json::to_string(self).unwrap_or_default()
        }
    }
}

/// Reads a model file written by [`save_model`].
pub fn load_model(path: &Path) -> Result<Saved> {
    let file_err = |message: String| NnError::File {
        path: path.to_path_buf(),
        message,
    };
    let io = |source| NnError::Io {
        path: path.to_path_buf(),
        source,
    };
    let len = std::fs::metadata(path).map_err(io)?.len();
    if len > MAX_MODEL_FILE {
        return Err(file_err(format!(
            "{len} bytes is over the model file limit of {MAX_MODEL_FILE}"
        )));
    }
    // Each tensor read from the file into its own buffer: no second copy of a large model.
    from_named(load_safetensors(path)?, path)
}

/// [`load_model`] from bytes already in memory; `path` names the source in errors.
pub fn load_model_bytes(bytes: &[u8], path: &Path) -> Result<Saved> {
    from_named(
        from_safetensors_bytes(bytes, &path.display().to_string())?,
        path,
    )
}

/// A model from a file's named tensors and metadata.
fn from_named(mut named: cnn_tensor::io::NamedTensors, path: &Path) -> Result<Saved> {
    let file_err = |message: String| NnError::File {
        path: path.to_path_buf(),
        message,
    };
    let meta = std::mem::take(&mut named.metadata);
    match meta.get("cnn.format").map(String::as_str) {
        Some(FORMAT | FORMAT_GRAPH) => {}
        Some(other) => {
            return Err(file_err(format!(
                "format `{other}` is not one this build reads ({FORMAT}, {FORMAT_GRAPH}); \
                 a newer cnn wrote it: load it with that version, or update"
            )));
        }
        None => {
            return Err(file_err(
                "not a cnn model file (no cnn.format metadata; is it a bare safetensors file?)"
                    .into(),
            ));
        }
    }
    let arch_json = meta
        .get("cnn.architecture")
        .ok_or_else(|| file_err("no architecture".into()))?;
    let spec: ModelSpec =
        serde_json::from_str(arch_json).map_err(|e| file_err(format!("architecture JSON: {e}")))?;
    let arch =
        Architecture::from_spec(&spec).map_err(|e| file_err(format!("architecture: {e}")))?;
    let epoch = match meta.get("cnn.epoch") {
        Some(e) => e
            .parse()
            .map_err(|_| file_err(format!("epoch `{e}` is not a number")))?,
        None => 0,
    };
    let history = match meta.get("cnn.history") {
        Some(h) => {
            Some(serde_json::from_str(h).map_err(|e| file_err(format!("history JSON: {e}")))?)
        }
        None => None,
    };
    let optimizer = match meta.get("cnn.optimizer") {
        Some(o) => Some(Optimizer::from_config(
            serde_json::from_str::<OptimizerConfig>(o)
                .map_err(|e| file_err(format!("optimizer JSON: {e}")))?,
        )),
        None => None,
    };
    let mut by_name: HashMap<String, Tensor> = named.tensors.into_iter().collect();
    // Check every weight against the architecture before building anything, so memory use is
    // bounded by the file's own tensors, whatever the architecture claims.
    let (mut problems, mut missing) = (Vec::new(), Vec::new());
    for p in arch.params() {
        match by_name.get(&p.name) {
            Some(t) if t.dims() != p.shape.as_slice() => problems.push(format!(
                "`{}` has shape {} but the architecture needs {}",
                p.name,
                t.shape(),
                cnn_tensor::Shape::new(p.shape.clone())
            )),
            Some(_) => {}
            None => missing.push(format!("`{}` is missing", p.name)),
        }
    }
    // Shape mismatches say the most; list them first.
    problems.append(&mut missing);
    if !problems.is_empty() {
        let known: std::collections::HashSet<&str> =
            arch.params().map(|p| p.name.as_str()).collect();
        let mut unexpected: Vec<String> = by_name
            .keys()
            .filter(|k| !known.contains(k.as_str()) && !k.starts_with("optimizer/"))
            .cloned()
            .collect();
        unexpected.sort();
        return Err(mismatch(path, &problems, &unexpected));
    }
    let model = Model::from_tensors(arch, &mut by_name)?;
    let optimizer = match optimizer {
        Some(mut o) => {
            let expected = o.expected_slots(model.param_names());
            let per = expected.len() / model.param_names().len().max(1);
            let mut slots = Vec::new();
            for (i, chunk) in expected.chunks(per.max(1)).enumerate() {
                let mut ts = Vec::new();
                for n in chunk {
                    match by_name.remove(n) {
                        Some(t) if t.shape() == model.params()[i].shape() => ts.push(t),
                        Some(t) => problems.push(format!(
                            "`{n}` has shape {} but its weight has {}",
                            t.shape(),
                            model.params()[i].shape()
                        )),
                        None if o.iterations > 0 => problems.push(format!("`{n}` is missing")),
                        None => {}
                    }
                }
                slots.push(ts);
            }
            if per > 0 && slots.iter().all(|s| s.len() == per) {
                o.set_slots(slots);
            }
            Some(o)
        }
        None => None,
    };
    let mut unexpected: Vec<String> = by_name.into_keys().collect();
    unexpected.sort();
    if !problems.is_empty() || !unexpected.is_empty() {
        return Err(mismatch(path, &problems, &unexpected));
    }
    let extra = meta
        .iter()
        .filter_map(|(k, v)| k.strip_prefix("user.").map(|k| (k.to_string(), v.clone())))
        .collect();
    Ok(Saved {
        model,
        optimizer,
        epoch,
        history,
        extra,
    })
}

/// The "weights do not match" error, listing up to five problems and unexpected tensors.
fn mismatch(path: &Path, problems: &[String], unexpected: &[String]) -> NnError {
    let all: Vec<String> = problems
        .iter()
        .cloned()
        .chain(
            unexpected
                .iter()
                .map(|n| format!("unexpected tensor `{n}`")),
        )
        .collect();
    let shown: Vec<String> = all.iter().take(5).cloned().collect();
    let more = if all.len() > 5 {
        format!(" (and {} more)", all.len() - 5)
    } else {
        String::new()
    };
    NnError::File {
        path: path.to_path_buf(),
        message: format!(
            "weights do not match the architecture: {}{more}",
            shown.join("; ")
        ),
    }
}
