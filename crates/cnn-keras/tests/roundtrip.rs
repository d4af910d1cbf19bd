//! `import(export(m))` in pure Rust: every zoo model Keras can express, at its smallest input,
//! and the every-layer graph come back with the same architecture, the same weights bit for bit
//! and the same predictions; what Keras cannot express is an error naming the layer.

mod common;

use cnn_keras::{KerasError, import_keras, import_keras_bytes, to_keras_bytes};
use cnn_nn::{Model, ModelSpec};
use common::*;

fn round_trip(label: &str, spec: &ModelSpec) {
    let (mut model, x) = model_and_input(spec);
    let bytes = to_keras_bytes(&model, &Default::default()).unwrap();
    let mut back = import_keras_bytes(&bytes, label.as_ref())
        .unwrap_or_else(|e| panic!("{label}: {e}"))
        .model;
    // Same graph (a Functional model comes back in Keras's layer order, so compare by name).
    let (a, b) = (model.architecture(), back.architecture());
    assert_eq!(a.layers.len(), b.layers.len(), "{label}");
    for la in &a.layers {
        let lb = &b.layers[b
            .layer_index(&la.name)
            .unwrap_or_else(|| panic!("{label}: {}", la.name))];
        let names = |arch: &cnn_nn::Architecture, l: &cnn_nn::Layer| {
            l.inputs
                .iter()
                .map(|&s| arch.source_name(s).to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(a, la), names(b, lb), "{label}: {}", la.name);
        assert_eq!(la.output_shape, lb.output_shape, "{label}: {}", la.name);
        assert_eq!(la.config(), lb.config(), "{label}: {}", la.name);
    }
    let outputs = |arch: &cnn_nn::Architecture| {
        arch.outputs
            .iter()
            .map(|&o| arch.layers[o].name.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(outputs(a), outputs(b), "{label}");
    assert_eq!(a.input_name, b.input_name, "{label}");
    let wb: std::collections::HashMap<&str, &cnn_tensor::Tensor> = back.named_weights().collect();
    assert_eq!(model.named_weights().count(), wb.len(), "{label}");
    let bits = |t: &cnn_tensor::Tensor| t.data().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    for (name, ta) in model.named_weights() {
        let tb = wb
            .get(name)
            .unwrap_or_else(|| panic!("{label}: {name} missing"));
        assert_eq!(ta.dims(), tb.dims(), "{label}: {name}");
        assert_eq!(bits(ta), bits(tb), "{label}: {name} differs");
    }
    let (pa, pb) = (model.predict(&x, 2).unwrap(), back.predict(&x, 2).unwrap());
    assert_eq!(pa.data(), pb.data(), "{label}");
}

#[test]
fn zoo_models_round_trip_bit_for_bit() {
    let mut n = 0;
    for (name, spec) in zoo_models() {
        if keras_can(&spec) {
            round_trip(name, &spec);
            n += 1;
        }
    }
    assert!(n >= 12, "only {n} zoo models checked");
}

#[test]
fn every_layer_graph_round_trips() {
    round_trip("every-layer", &every_layer_with(false));
    let no_top = cnn_nn::no_top(&cnn_nn::zoo("resnet20-cifar", None, None).unwrap()).unwrap();
    round_trip("resnet20-no-top", &no_top);
}

#[test]
fn files_are_written_atomically_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.keras");
    let model = Model::new(&cnn_nn::zoo("lenet5", None, None).unwrap(), 1).unwrap();
    let mut extra = std::collections::BTreeMap::new();
    extra.insert("class_names".to_string(), "[\"a\",\"b\"]".to_string());
    cnn_keras::export_keras(&model, &path, &extra).unwrap();
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["m.keras"], "no temporary file left");
    let back = import_keras(&path).unwrap();
    assert_eq!(back.extra, extra);
    assert_eq!(
        back.keras_version.as_deref(),
        Some(cnn_keras::KERAS_VERSION)
    );
}

#[test]
fn lrn_is_an_error_naming_the_layer() {
    let spec = every_layer_with(true);
    let model = Model::new(&spec, 1).unwrap();
    let err = to_keras_bytes(&model, &Default::default()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, KerasError::Layer { .. }), "{msg}");
    assert!(msg.contains("local_response_normalization"), "{msg}");
    assert!(
        msg.contains("LocalResponseNormalization") && msg.contains("Keras"),
        "{msg}"
    );
}
