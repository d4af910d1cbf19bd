//! Exported models run in tract (a pure-Rust ONNX runtime, independent of our writer) and give
//! the outputs of `Model::predict` within 1e-4: every zoo model at the smallest input it
//! allows, and a graph with every layer and option, NHWC and NCHW, several opsets.

mod common;

use cnn_nn::{ModelSpec, zoo};
use cnn_onnx::{ExportOptions, to_onnx_bytes};
use cnn_tensor::Tensor;
use common::*;
use tract_onnx::prelude::*;

/// Runs `bytes` in tract on `x`; the first output's values.
fn run_tract(bytes: &[u8], x: &Tensor) -> Vec<f32> {
    let plan = tract_onnx::onnx()
        .model_for_read(&mut &bytes[..])
        .expect("tract reads the model")
        .with_input_fact(0, f32::fact(x.dims()).into())
        .unwrap()
        .into_optimized()
        .expect("tract optimizes the model")
        .into_runnable()
        .unwrap();
    let input: tract_onnx::prelude::Tensor =
        tract_ndarray::ArrayD::from_shape_vec(x.dims().to_vec(), x.data().to_vec())
            .unwrap()
            .into();
    let out = plan.run(tvec!(input.into())).expect("tract runs the model");
    out[0]
        .to_plain_array_view::<f32>()
        .unwrap()
        .iter()
        .copied()
        .collect()
}

/// Exports `spec` and compares tract with `predict` on a batch of 2; returns the worst error.
fn check(spec: &ModelSpec, opts: &ExportOptions) -> f32 {
    let (mut model, x) = model_and_input(spec);
    let want = model.predict(&x, 2).unwrap();
    assert!(
        spread(want.data()) > 0.05,
        "{}: outputs spread only {}",
        spec.name,
        spread(want.data())
    );
    let bytes = to_onnx_bytes(&model, opts).unwrap();
    let fed = if opts.nchw { ort::nchw(&x) } else { x };
    let got = run_tract(&bytes, &fed);
    let want = if opts.nchw { ort::nchw(&want) } else { want };
    worst(&got, want.data())
}

#[test]
fn every_zoo_model_runs_in_tract_with_our_outputs() {
    let mut failures = Vec::new();
    for (name, spec) in zoo_models() {
        let e = check(&spec, &ExportOptions::default());
        eprintln!("{name}: max difference {e:.2e}");
        if e.is_nan() || e > 1e-4 {
            failures.push(format!("{name}: {e}"));
        }
    }
    assert!(failures.is_empty(), "{failures:?}");
}

#[test]
fn every_layer_and_option_runs_in_tract_nhwc_and_nchw_and_across_opsets() {
    let spec = every_layer();
    for (opset, nchw) in [(17, false), (17, true), (13, false), (21, false)] {
        let e = check(
            &spec,
            &ExportOptions {
                opset,
                nchw,
                ..Default::default()
            },
        );
        assert!(e <= 1e-4, "opset {opset}, nchw {nchw}: max difference {e}");
    }
}

#[test]
fn an_image_output_comes_out_nhwc_or_nchw() {
    let spec = cnn_nn::no_top(&zoo("resnet20-cifar", None, None).unwrap()).unwrap();
    for nchw in [false, true] {
        let e = check(
            &spec,
            &ExportOptions {
                nchw,
                ..Default::default()
            },
        );
        assert!(e <= 1e-4, "nchw {nchw}: {e}");
    }
}
