//! Checking exports with the ONNX project's own tools (`onnx.checker`, ONNX Runtime) through
//! `scripts/onnx/check_onnx.py`. Shared by the tests of cnn-onnx, cnn-cli and xtask
//! (`#[path]`-included), so every crate checks the same way.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use cnn_nn::Model;
use cnn_onnx::{ExportOptions, export_onnx};
use cnn_tensor::Tensor;

/// The Python with `onnx` and `onnxruntime` named by `CNN_VERIFY_PYTHON`. Unset: `None` locally
/// (the caller skips, saying so), a failure under `CI=true`, so CI cannot skip silently.
pub fn python() -> Option<String> {
    match std::env::var("CNN_VERIFY_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ => {
            assert!(
                std::env::var("CI").is_err(),
                "CI must set CNN_VERIFY_PYTHON to a Python with onnx and onnxruntime"
            );
            eprintln!("CNN_VERIFY_PYTHON is not set: ONNX Runtime check skipped");
            None
        }
    }
}

/// NHWC → NCHW for rank-4 tensors (through `Tensor`'s ndarray view); others unchanged.
pub fn nchw(x: &Tensor) -> Tensor {
    if x.dims().len() != 4 {
        return x.clone();
    }
    Tensor::from_ndarray(&x.as_ndarray().permuted_axes(&[0, 3, 1, 2][..])).unwrap()
}

/// Exports `model` to `dir/label.onnx` and writes `dir/label.json`: the input `x` and
/// `model.predict(x)` as the expected output (both NCHW when `opts.nchw`). Returns the case
/// file.
pub fn write_case(
    dir: &Path,
    label: &str,
    model: &mut Model,
    x: &Tensor,
    opts: &ExportOptions,
) -> PathBuf {
    let want = model.predict(x, x.dims()[0]).unwrap();
    let onnx = dir.join(format!("{label}.onnx"));
    export_onnx(model, opts, &onnx).unwrap();
    let (x, want) = if opts.nchw {
        (nchw(x), nchw(&want))
    } else {
        (x.clone(), want)
    };
    let case = serde_json::json!({
        "model": onnx,
        "input": {"shape": x.dims(), "data": x.data()},
        "expected": {"shape": want.dims(), "data": want.data()},
        "tolerance": 1e-4,
    });
    let path = dir.join(format!("{label}.json"));
    std::fs::write(&path, case.to_string()).unwrap();
    path
}

/// Runs the check on `cases` with `python`; panics with its report unless every case passed.
pub fn run_check(python: &str, cases: &[PathBuf]) -> String {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/onnx/check_onnx.py"
    );
    let script = if Path::new(script).exists() {
        PathBuf::from(script)
    } else {
        // xtask sits one level below the repository root, not two.
        PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../scripts/onnx/check_onnx.py"
        ))
    };
    let out = Command::new(python)
        .arg(&script)
        .args(cases)
        .output()
        .expect("runs the Python check");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!("{stdout}");
    assert!(
        out.status.success(),
        "ONNX check failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.lines().count(), cases.len(), "one result per case");
    assert!(stdout.lines().all(|l| l.contains(r#""ok": true"#)));
    stdout
}

/// A deterministic batch of 2 inputs in `[0, 1)` of `model`'s input shape.
pub fn batch_for(model: &Model) -> Tensor {
    let mut shape = vec![2];
    shape.extend(&model.architecture().input_shape);
    let n: usize = shape.iter().product();
    let data = (0..n)
        .map(|i| ((i as f32 * 0.618_034).sin() * 0.5 + 0.5).fract())
        .collect();
    Tensor::new(shape, data).unwrap()
}

/// Exports each saved model file (NHWC) and checks it with ONNX Runtime against its own
/// predictions; skips locally without `CNN_VERIFY_PYTHON`.
pub fn check_saved(paths: impl IntoIterator<Item = PathBuf>) {
    let Some(python) = python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<PathBuf> = paths
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            let mut saved = cnn_nn::load_model(&p).unwrap();
            let x = batch_for(&saved.model);
            let label = format!("{i}-{}", p.file_stem().unwrap().to_string_lossy());
            write_case(
                dir.path(),
                &label,
                &mut saved.model,
                &x,
                &ExportOptions::default(),
            )
        })
        .collect();
    run_check(&python, &cases);
}
