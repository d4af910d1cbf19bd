//! Exported models checked by the ONNX project's own tools: `onnx.checker` (full check) and
//! ONNX Runtime (CPU, 2 threads) through `scripts/onnx/check_onnx.py`, whose outputs must equal
//! `Model::predict`'s within 1e-4 — every zoo model at its smallest input and the every-layer
//! graph, NHWC and NCHW.
//!
//! Needs a Python with `onnx` and `onnxruntime`, named by `CNN_VERIFY_PYTHON` (`.ci/run` installs
//! one). Without it the test says so and passes locally, but fails under `CI=true`, so CI
//! cannot skip it silently.

mod common;

use cnn_nn::ModelSpec;
use cnn_onnx::ExportOptions;
use common::*;

#[test]
fn onnx_checker_and_onnxruntime_agree_with_predict() {
    let Some(python) = ort::python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut cases = Vec::new();
    let mut add = |label: &str, spec: &ModelSpec, nchw: bool| {
        let (mut model, x) = model_and_input(spec);
        let opts = ExportOptions {
            nchw,
            ..Default::default()
        };
        cases.push(ort::write_case(dir.path(), label, &mut model, &x, &opts));
    };
    for (name, spec) in zoo_models() {
        add(name, &spec, false);
    }
    let every = every_layer();
    add("every-layer", &every, false);
    add("every-layer-nchw", &every, true);
    let no_top = cnn_nn::no_top(&cnn_nn::zoo("resnet20-cifar", None, None).unwrap()).unwrap();
    add("resnet20-no-top", &no_top, false);
    add("resnet20-no-top-nchw", &no_top, true);
    ort::run_check(&python, &cases);
}
