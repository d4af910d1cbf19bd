//! Exported `.keras` files checked by Keras itself (`keras.saving.load_model` in safe mode,
//! through `scripts/keras/check_keras.py`): every zoo model Keras can express at its smallest
//! input (Sequential chains, residual ResNets, MobileNetV2), the every-layer graph and a
//! ResNet without its top load with the layer order their weight paths assume, and predict
//! what `Model::predict` does within 1e-4.
//!
//! Needs a Python with keras 3 and tensorflow-cpu, named by `CNN_VERIFY_PYTHON` (`.ci/run`
//! installs one). Without it the test says so and passes locally, but fails under `CI=true`,
//! so CI cannot skip it silently.

mod common;

use cnn_nn::ModelSpec;
use common::*;

#[test]
fn keras_loads_exports_with_equal_predictions() {
    let Some(python) = python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut cases = Vec::new();
    let mut add = |label: &str, spec: &ModelSpec| {
        let (mut model, x) = model_and_input(spec);
        cases.push(write_case(dir.path(), label, &mut model, &x));
    };
    for (name, spec) in zoo_models() {
        if keras_can(&spec) {
            add(name, &spec);
        }
    }
    add("every-layer", &every_layer_with(false));
    let no_top = cnn_nn::no_top(&cnn_nn::zoo("resnet20-cifar", None, None).unwrap()).unwrap();
    add("resnet20-no-top", &no_top);
    // Transfer learning's shape: a frozen base (batch norm included) under a new head.
    let mut frozen = no_top.clone();
    for l in &mut frozen.layers {
        l.trainable = false;
    }
    let base_out = frozen.layers.last().and_then(|l| l.name.clone()).unwrap();
    frozen.layers.push(
        cnn_nn::spec::layers::flatten()
            .named("head_flat")
            .reading([base_out]),
    );
    frozen.layers.push(
        cnn_nn::spec::layers::dense(2, "linear")
            .named("head")
            .reading(["head_flat"]),
    );
    frozen.outputs = vec!["head".into()];
    add("resnet20-frozen-base", &frozen);
    let report = run_check(&python, &cases);
    for kind in [r#""model": "Sequential""#, r#""model": "Functional""#] {
        assert!(report.contains(kind), "no {kind} model checked");
    }
}
