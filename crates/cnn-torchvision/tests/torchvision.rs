//! torchvision models with random weights, saved and run by PyTorch itself
//! (`scripts/torchvision/make_fixtures.py`): imported here, they compute torchvision's logits.

use std::path::{Path, PathBuf};

use cnn_nn::{ForwardMode, Model, Tensor};
use cnn_torchvision::{Torchvision, import_safetensors, import_safetensors_bytes};
use safetensors::SafeTensors;
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn manifest() -> Value {
    let text = std::fs::read_to_string(fixtures().join("manifest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn spec_of(entry: &Value) -> Torchvision {
    let shape: Vec<usize> = entry["input_shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    Torchvision {
        name: entry["arch"].as_str().unwrap().into(),
        input_shape: shape,
        classes: entry["classes"].as_u64().unwrap() as usize,
        include_top: true,
        width_divisor: entry["width_divisor"].as_u64().unwrap() as usize,
    }
}

/// The fixture's images (bytes / 255, NHWC) and torchvision's logits.
fn io(name: &str) -> (Tensor, Tensor) {
    let bytes = std::fs::read(fixtures().join(format!("{name}.io.safetensors"))).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let pixels = st.tensor("pixels").unwrap();
    let x = Tensor::new(
        pixels.shape().to_vec(),
        pixels
            .data()
            .iter()
            .map(|&b| f32::from(b) / 255.0)
            .collect(),
    )
    .unwrap();
    let logits = st.tensor("logits").unwrap();
    let y = Tensor::new(
        logits.shape().to_vec(),
        logits
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    )
    .unwrap();
    (x, y)
}

fn logits(model: &mut Model, x: &Tensor) -> Tensor {
    let mut g = cnn_ops::Graph::inference();
    let xv = g.constant(x.clone());
    let mode = ForwardMode {
        logits: true,
        ..ForwardMode::inference()
    };
    let f = model.forward(&mut g, xv, mode).unwrap();
    g.value(f.output).clone()
}

fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims());
    a.data()
        .iter()
        .zip(b.data())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn every_fixture_computes_torchvisions_logits() {
    let m = manifest();
    let models = m["models"].as_object().unwrap();
    assert_eq!(models.len(), 5);
    for (name, entry) in models {
        let t = spec_of(entry);
        let path = fixtures().join(format!("{name}.safetensors"));
        let mut imported = import_safetensors(&path, &t).unwrap();
        let trainable: u64 = imported.model.architecture().param_counts().1;
        assert_eq!(
            trainable,
            entry["params"].as_u64().unwrap(),
            "{name}: parameters"
        );
        let (x, want) = io(name);
        let got = logits(&mut imported.model, &x);
        let scale = want.data().iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let d = max_diff(&got, &want);
        println!("{name}: max |difference| {d:.2e} (logits up to {scale:.2})");
        assert!(d <= 1e-4, "{name}: {d}");
        // predict gives the softmax of those logits, to the logits' tolerance (it folds the
        // batch norms into the convolutions: rounding differs from the layer-by-layer pass).
        let p = imported.model.predict(&x, 8).unwrap();
        for (row, l) in p
            .data()
            .chunks(t.classes)
            .zip(want.data().chunks(t.classes))
        {
            let mx = l.iter().fold(f32::MIN, |a, &b| a.max(b));
            let z: f32 = l.iter().map(|v| (v - mx).exp()).sum();
            for (pi, li) in row.iter().zip(l) {
                let d = (pi - (li - mx).exp() / z).abs();
                assert!(d <= 1e-4, "{name}: probability {pi} differs by {d}");
            }
        }
        if name.ends_with("bf16") {
            assert!(
                imported.notes.iter().any(|n| n.contains("BF16")),
                "{:?}",
                imported.notes
            );
        } else {
            assert!(imported.notes.is_empty(), "{name}: {:?}", imported.notes);
        }
    }
}

#[test]
fn without_the_top_the_features_are_torchvisions_and_the_classifier_is_left_out() {
    let entry = &manifest()["models"]["vgg16-mini"];
    let mut t = spec_of(entry);
    t.include_top = false;
    t.input_shape = vec![64, 64, 3];
    let imported = import_safetensors(&fixtures().join("vgg16-mini.safetensors"), &t).unwrap();
    assert_eq!(imported.model.architecture().output_shape(), &[2, 2, 16]);
    assert!(
        imported.notes[0].contains("classifier"),
        "{:?}",
        imported.notes
    );
}

fn err(bytes: &[u8], t: &Torchvision) -> String {
    import_safetensors_bytes(bytes, t, "w.safetensors")
        .map(|_| ())
        .unwrap_err()
        .to_string()
}

#[test]
fn files_of_another_model_are_refused_naming_the_tensor() {
    let m = manifest();
    let vgg16 = std::fs::read(fixtures().join("vgg16-mini.safetensors")).unwrap();
    let mut t = spec_of(&m["models"]["vgg16-mini"]);
    // VGG16's weights are not VGG11's: there are tensors left over.
    t.name = "vgg11".into();
    let e = err(&vgg16, &t);
    assert!(
        e.starts_with("w.safetensors: ") && e.contains("vgg11"),
        "{e}"
    );
    // Nor VGG19's: one is missing.
    t.name = "vgg19".into();
    let e = err(&vgg16, &t);
    assert!(e.contains("`features.") && e.contains("missing"), "{e}");
    // At another width every shape is wrong.
    t.name = "vgg16".into();
    t.width_divisor = 16;
    let e = err(&vgg16, &t);
    assert!(
        e.contains("`features.0.weight` has shape [2, 3, 3, 3]"),
        "{e}"
    );
    // Another class count: the last Linear's shape.
    let mut t = spec_of(&m["models"]["vgg16-mini"]);
    t.classes = 1000;
    let e = err(&vgg16, &t);
    assert!(e.contains("classifier.6.weight"), "{e}");
    // ResNet's file as AlexNet.
    let r = std::fs::read(fixtures().join("resnet50-mini.safetensors")).unwrap();
    let mut t = spec_of(&m["models"]["alexnet-mini"]);
    t.input_shape = vec![224, 224, 3];
    let e = err(&r, &t);
    assert!(e.contains("missing"), "{e}");
}

#[test]
fn damaged_files_are_errors_never_panics() {
    let m = manifest();
    let t = spec_of(&m["models"]["resnet50-mini"]);
    let good = std::fs::read(fixtures().join("resnet50-mini.safetensors")).unwrap();
    import_safetensors_bytes(&good, &t, "w").unwrap();
    // Every truncation, at a spread of lengths.
    for len in (0..good.len())
        .step_by(997)
        .chain([1, 7, 8, 9, good.len() - 1])
    {
        let e = err(&good[..len], &t);
        assert!(e.contains("not a valid safetensors file"), "{len}: {e}");
    }
    // Bit flips in the header and in the data: an error or (in the data) other weights.
    let header = u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
    let mut rng = 0x9e3779b97f4a7c15u64;
    for i in 0..2000 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let at = if i % 2 == 0 {
            (rng as usize) % (header + 8)
        } else {
            (rng as usize) % good.len()
        };
        let mut bad = good.clone();
        bad[at] ^= 1 << (rng >> 60 & 7);
        let _ = import_safetensors_bytes(&bad, &t, "w");
    }
    // An absurd length in the header.
    let mut bad = good.clone();
    bad[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(err(&bad, &t).contains("not a valid safetensors file"));
    // A tensor of integers where floats belong.
    let st = SafeTensors::deserialize(&good).unwrap();
    let mut tensors: Vec<(String, safetensors::tensor::TensorView<'_>)> = st.tensors();
    let ints: Vec<u8> = vec![0; 4 * 4];
    for (name, view) in &mut tensors {
        if name == "bn1.running_var" {
            *view = safetensors::tensor::TensorView::new(safetensors::Dtype::I32, vec![4], &ints)
                .unwrap();
        }
    }
    let bytes = safetensors::serialize(tensors, None).unwrap();
    let e = err(&bytes, &t);
    assert!(e.contains("`bn1.running_var`: stored as I32"), "{e}");
    // A missing file.
    let e = import_safetensors(Path::new("/nonexistent/w.safetensors"), &t)
        .unwrap_err()
        .to_string();
    assert!(e.contains("/nonexistent/w.safetensors"), "{e}");
}
