//! What the Keras export tests share: cnn-onnx's test models (one set of models for every
//! export check) and the Keras check through `scripts/keras/check_keras.py`.
#![allow(dead_code)]

#[path = "../../../cnn-onnx/tests/common/models.rs"]
pub mod models;

pub use models::*;

use std::path::{Path, PathBuf};
use std::process::Command;

use cnn_nn::{LayerConfig, Model, ModelSpec};

/// Whether Keras can express `spec` (it has no local response normalisation).
pub fn keras_can(spec: &ModelSpec) -> bool {
    !spec
        .layers
        .iter()
        .any(|l| matches!(l.config, LayerConfig::LocalResponseNormalization(_)))
}

/// The Python with Keras named by `CNN_VERIFY_PYTHON`. Unset: `None` locally (the caller skips,
/// saying so), a failure under `CI=true`, so CI cannot skip silently.
pub fn python() -> Option<String> {
    match std::env::var("CNN_VERIFY_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ => {
            assert!(
                std::env::var("CI").is_err(),
                "CI must set CNN_VERIFY_PYTHON to a Python with keras"
            );
            eprintln!("CNN_VERIFY_PYTHON is not set: Keras check skipped");
            None
        }
    }
}

/// The names of `model`'s layers as Keras lists them (the input first in a Functional model).
pub fn keras_layer_names(model: &Model) -> Vec<String> {
    let arch = model.architecture();
    if arch.is_sequential() {
        return arch.layers.iter().map(|l| l.name.clone()).collect();
    }
    cnn_keras::naming::functional_order(arch)
        .into_iter()
        .map(|e| e.map_or(arch.input_name.clone(), |i| arch.layers[i].name.clone()))
        .collect()
}

/// Exports `model` to `dir/label.keras` and writes `dir/label.json`: the input `x`,
/// `model.predict(x)` as the expected output and the layer order. Returns the case file.
pub fn write_case(dir: &Path, label: &str, model: &mut Model, x: &cnn_tensor::Tensor) -> PathBuf {
    let want = model.predict(x, x.dims()[0]).unwrap();
    let file = dir.join(format!("{label}.keras"));
    cnn_keras::export_keras(model, &file, &Default::default()).unwrap();
    let case = serde_json::json!({
        "model": file,
        "input": {"shape": x.dims(), "data": x.data()},
        "expected": {"shape": want.dims(), "data": want.data()},
        "tolerance": 1e-4,
        "layers": keras_layer_names(model),
        "trainable_params": model.architecture().param_counts().1,
    });
    let path = dir.join(format!("{label}.json"));
    std::fs::write(&path, case.to_string()).unwrap();
    path
}

/// Runs Keras on `cases` with `python`; panics with its report unless every case passed.
pub fn run_check(python: &str, cases: &[PathBuf]) -> String {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/keras/check_keras.py"
    );
    let out = Command::new(python)
        .arg(script)
        .args(cases)
        .output()
        .expect("runs the Keras check");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!("{stdout}");
    assert!(
        out.status.success(),
        "Keras check failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.lines().count(), cases.len(), "one result per case");
    assert!(stdout.lines().all(|l| l.contains(r#""ok": true"#)));
    stdout
}
