//! Models Keras 3 saved itself (`scripts/keras/import_fixtures.py`, committed with Keras's own
//! predictions) come in with the same outputs within 1e-4: a Sequential convnet and a
//! Functional graph with every layer class cnn imports. A layer cnn does not have is an error
//! naming its class and layer; damaged files are errors, never panics.

use std::path::{Path, PathBuf};

use cnn_keras::{H5Kind, KerasError, import_h5, import_keras, import_keras_bytes, open_h5};
use cnn_tensor::Tensor;
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures")).join(name)
}

fn expected() -> Value {
    serde_json::from_slice(&std::fs::read(fixture("expected.json")).unwrap()).unwrap()
}

fn tensor(v: &Value) -> Tensor {
    let shape: Vec<usize> = serde_json::from_value(v["shape"].clone()).unwrap();
    let data: Vec<f32> = serde_json::from_value(v["data"].clone()).unwrap();
    Tensor::new(shape, data).unwrap()
}

fn check(name: &str) {
    let imported = import_keras(&fixture(&format!("{name}.keras"))).unwrap();
    assert_eq!(
        imported.keras_version.as_deref(),
        expected()["keras_version"].as_str()
    );
    check_model(name, imported);
}

/// `imported` predicts what Keras predicted for fixture `name`.
fn check_model(name: &str, mut imported: cnn_keras::Imported) {
    let want = &expected()[name];
    let model = &mut imported.model;
    let x = tensor(&want["input"]);
    let y = model.predict(&x, 2).unwrap();
    let k = tensor(&want["output"]);
    assert_eq!(y.dims(), k.dims(), "{name}");
    let worst = y
        .data()
        .iter()
        .zip(k.data())
        .map(|(a, b)| (a - b).abs() / b.abs().max(1.0))
        .fold(0.0f32, f32::max);
    eprintln!("{name}: max |cnn - keras| = {worst:e}");
    assert!(worst <= 1e-4, "{name}: {worst}");
    let params = model
        .params()
        .iter()
        .chain(model.state())
        .map(|t| t.len())
        .sum::<usize>();
    assert_eq!(
        params as u64,
        want["params"].as_u64().unwrap(),
        "{name}: count_params"
    );
    // The outputs are not all alike (a comparison of constants would prove little).
    let (lo, hi) = k
        .data()
        .iter()
        .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    assert!(hi - lo > 0.05, "{name}: spread {}", hi - lo);
}

#[test]
fn legacy_hdf5_models_predict_as_in_keras() {
    for name in ["sequential", "functional"] {
        let path = fixture(&format!("{name}.h5"));
        assert_eq!(open_h5(&path).unwrap().1, H5Kind::LegacyModel);
        let imported = import_h5(&path, None).unwrap();
        assert_eq!(
            imported.keras_version.as_deref(),
            expected()["keras_version"].as_str()
        );
        check_model(name, imported);
        // From bytes in memory (the fuzz target's way in): the same model.
        let bytes = std::fs::read(&path).unwrap();
        let from_bytes = cnn_keras::import_h5_bytes(&bytes, &path, None).unwrap();
        check_model(name, from_bytes);
    }
}

/// The architecture of fixture `name`, as cnn reads it from the `.keras` file.
fn spec_of(name: &str) -> cnn_nn::ModelSpec {
    import_keras(&fixture(&format!("{name}.keras")))
        .unwrap()
        .model
        .architecture()
        .to_spec()
}

#[test]
fn weights_only_files_take_an_architecture() {
    // Keras 3 `.weights.h5`: variables by path, counted in Keras's layer order.
    let path = fixture("functional.weights.h5");
    assert_eq!(open_h5(&path).unwrap().1, H5Kind::Keras3Weights);
    check_model(
        "functional",
        import_h5(&path, Some(&spec_of("functional"))).unwrap(),
    );
    // Keras 2's layout with byte-string names (as the Keras applications publish).
    let path = fixture("keras2-sequential-weights.h5");
    assert_eq!(open_h5(&path).unwrap().1, H5Kind::LegacyWeights);
    let imported = import_h5(&path, Some(&spec_of("sequential"))).unwrap();
    assert_eq!(imported.keras_version.as_deref(), Some("2.2.4"));
    assert!(imported.notes.is_empty(), "{:?}", imported.notes);
    check_model("sequential", imported);
    // Other layer names: matched in order, as Keras's load_weights does, and said so.
    let mut renamed = spec_of("sequential");
    for (i, l) in renamed.layers.iter_mut().enumerate() {
        l.name = Some(format!("layer{i}"));
    }
    let imported = import_h5(&path, Some(&renamed)).unwrap();
    assert!(
        imported.notes.iter().any(|n| n.contains("in order")),
        "{:?}",
        imported.notes
    );
    check_model("sequential", imported);
}

#[test]
fn weights_only_files_refuse_a_missing_or_wrong_architecture() {
    let path = fixture("keras2-sequential-weights.h5");
    let msg = import_h5(&path, None).unwrap_err().to_string();
    assert!(msg.contains("weights only"), "{msg}");
    let lenet = cnn_nn::zoo("lenet5", None, None).unwrap();
    let msg = import_h5(&path, Some(&lenet)).unwrap_err().to_string();
    assert!(
        msg.contains("`conv1/kernel:0`: has shape [3, 3, 3, 6]"),
        "{msg}"
    );
    let vgg = cnn_nn::zoo("vgg16", None, None).unwrap();
    let msg = import_h5(&path, Some(&vgg)).unwrap_err().to_string();
    assert!(
        msg.contains("holds weights for 5 layers, the architecture has 16"),
        "{msg}"
    );
    let path = fixture("functional.weights.h5");
    let msg = import_h5(&path, Some(&spec_of("sequential")))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("functional.weights.h5"), "{msg}");
    // Not HDF5 at all.
    let msg = import_h5(&fixture("expected.json"), None)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("not an HDF5 file"), "{msg}");
}

#[test]
fn keras_sequential_model_predicts_as_in_keras() {
    check("sequential");
}

#[test]
fn keras_functional_model_with_every_class_predicts_as_in_keras() {
    check("functional");
    // Every class cnn reads appears in the fixture, so none goes unchecked.
    let bytes = std::fs::read(fixture("functional.keras")).unwrap();
    let mut zip = zip_names(&bytes);
    zip.sort();
    assert!(zip.contains(&"config.json".to_string()));
    let config = config_text(&bytes);
    let seq = config_text(&std::fs::read(fixture("sequential.keras")).unwrap());
    for class in cnn_keras::SUPPORTED {
        assert!(
            config.contains(&format!("\"class_name\": \"{class}\""))
                || seq.contains(&format!("\"class_name\": \"{class}\"")),
            "{class} is in no fixture"
        );
    }
}

fn zip_names(bytes: &[u8]) -> Vec<String> {
    let z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    z.file_names().map(|n| n.unwrap().into_owned()).collect()
}

fn config_text(bytes: &[u8]) -> String {
    use std::io::Read;
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut s = String::new();
    z.by_name("config.json")
        .unwrap()
        .read_to_string(&mut s)
        .unwrap();
    let v: Value = serde_json::from_str(&s).unwrap();
    serde_json::to_string_pretty(&v).unwrap()
}

#[test]
fn unsupported_layer_is_named_with_its_class() {
    let err = import_keras(&fixture("unsupported.keras")).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, KerasError::Layer { .. }), "{msg}");
    assert!(
        msg.contains("`layer_norm`") && msg.contains("LayerNormalization"),
        "{msg}"
    );
}

#[test]
fn damaged_files_are_errors_not_panics() {
    let good = std::fs::read(fixture("functional.keras")).unwrap();
    // Truncations at many points, and bytes flipped all over the file.
    let mut cases: Vec<Vec<u8>> = (1..40)
        .map(|i| good[..good.len() * i / 40].to_vec())
        .collect();
    for i in 0..200 {
        let mut b = good.clone();
        let at = (i * 7919 + 13) % b.len();
        b[at] ^= 0x5a;
        cases.push(b);
    }
    let mut errors = 0;
    for (i, bytes) in cases.iter().enumerate() {
        let r = std::panic::catch_unwind(|| import_keras_bytes(bytes, "damaged.keras".as_ref()));
        match r {
            Err(_) => panic!("case {i} panicked"),
            Ok(Err(_)) => errors += 1,
            Ok(Ok(m)) => {
                // A flipped byte in data the zip does not checksum could still load: then it
                // must at least be the same architecture.
                assert_eq!(m.model.architecture().layers.len(), 21, "case {i}");
            }
        }
    }
    assert!(errors >= 39, "only {errors} damaged files refused");
}

/// `functional.keras` with its weights file replaced by `h5` (a valid zip around damaged HDF5).
fn rezip_with_weights(h5: &[u8]) -> Vec<u8> {
    use std::io::{Read, Write};
    let good = std::fs::read(fixture("functional.keras")).unwrap();
    let mut src = zip::ZipArchive::new(std::io::Cursor::new(&good[..])).unwrap();
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let o = zip::write::SimpleFileOptions::default();
    for name in ["metadata.json", "config.json"] {
        let mut b = Vec::new();
        src.by_name(name).unwrap().read_to_end(&mut b).unwrap();
        z.start_file(name, o).unwrap();
        z.write_all(&b).unwrap();
    }
    z.start_file("model.weights.h5", o).unwrap();
    z.write_all(h5).unwrap();
    z.finish().unwrap().into_inner()
}

/// A zip bomb: a deflated `model.weights.h5` of 200 MB of zeros (200 KB in the archive) for a
/// model whose weights are kilobytes. Refused once it inflates past what the model can need
/// (its values as f64 plus 64 MiB), not after 200 MB — nor after the 4 GiB model-file limit.
#[test]
fn a_zip_bomb_is_refused_at_the_models_own_size() {
    use std::io::{Read, Write};
    let good = std::fs::read(fixture("functional.keras")).unwrap();
    let mut src = zip::ZipArchive::new(std::io::Cursor::new(&good[..])).unwrap();
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for name in ["metadata.json", "config.json"] {
        let mut b = Vec::new();
        src.by_name(name).unwrap().read_to_end(&mut b).unwrap();
        z.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        z.write_all(&b).unwrap();
    }
    let deflate = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    z.start_file("model.weights.h5", deflate).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..200 {
        z.write_all(&zeros).unwrap();
    }
    let bomb = z.finish().unwrap().into_inner();
    assert!(bomb.len() < 1 << 20, "{} bytes", bomb.len());
    let e = import_keras_bytes(&bomb, Path::new("bomb.keras"))
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("model.weights.h5 claims") || e.contains("inflates past the limit of"),
        "{e}"
    );
    let limit: u64 = e
        .split("limit of ")
        .nth(1)
        .and_then(|t| t.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(limit < 70 << 20, "limit {limit}");
}

#[test]
fn damaged_hdf5_inside_a_valid_zip_is_an_error_not_a_panic() {
    use std::io::Read;
    let good = std::fs::read(fixture("functional.keras")).unwrap();
    let mut src = zip::ZipArchive::new(std::io::Cursor::new(&good[..])).unwrap();
    let mut h5 = Vec::new();
    src.by_name("model.weights.h5")
        .unwrap()
        .read_to_end(&mut h5)
        .unwrap();
    assert!(import_keras_bytes(&rezip_with_weights(&h5), "ok.keras".as_ref()).is_ok());
    let mut cases: Vec<Vec<u8>> = (0..60).map(|i| h5[..h5.len() * i / 60].to_vec()).collect();
    // Flips in the first 4 KiB (superblock, object headers, B-trees, heaps) and anywhere.
    for i in 0..400usize {
        let mut b = h5.clone();
        let at = if i < 300 {
            (i * 37 + 5) % 4096.min(b.len())
        } else {
            (i * 7919) % b.len()
        };
        b[at] ^= 1 << (i % 8);
        cases.push(b);
    }
    let (mut errors, mut loaded) = (0, 0);
    for (i, h5) in cases.iter().enumerate() {
        let bytes = rezip_with_weights(h5);
        match std::panic::catch_unwind(|| import_keras_bytes(&bytes, "damaged.keras".as_ref())) {
            Err(_) => panic!("damaged HDF5 case {i} panicked"),
            Ok(Err(_)) => errors += 1,
            Ok(Ok(_)) => loaded += 1,
        }
    }
    eprintln!("{errors} refused, {loaded} loaded (flips in float data or unused bytes)");
    assert!(errors >= 60, "only {errors} refused");
}

#[test]
fn hostile_configs_are_refused_before_building() {
    use std::io::Write;
    let make = |config: &str| {
        let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let o = zip::write::SimpleFileOptions::default();
        z.start_file("config.json", o).unwrap();
        z.write_all(config.as_bytes()).unwrap();
        z.start_file("model.weights.h5", o).unwrap();
        z.write_all(b"not hdf5").unwrap();
        z.finish().unwrap().into_inner()
    };
    for (config, want) in [
        (
            r#"{"class_name": "Sequential", "config": {"layers": [{"class_name": "InputLayer", "config": {"name": "i", "batch_shape": [null, 100000000, 100000000, 3]}}, {"class_name": "Flatten", "config": {"name": "f"}}]}}"#,
            "input shape",
        ),
        (
            r#"{"class_name": "Sequential", "config": {"layers": [{"class_name": "InputLayer", "config": {"name": "i", "batch_shape": [null, 4, 4, 3]}}, {"class_name": "Flatten", "config": {"name": "f"}}, {"class_name": "Dense", "config": {"name": "d", "units": 4000000000}}]}}"#,
            "layer d (Dense)",
        ),
        (
            r#"{"class_name": "Sequential", "config": {"layers": [{"class_name": "InputLayer", "config": {"name": "i", "batch_shape": [null, null, null, 3]}}]}}"#,
            "fixed positive sizes",
        ),
        (
            r#"{"class_name": "Sequential", "config": {"layers": [{"class_name": "InputLayer", "config": {"name": "i", "batch_shape": [null, 8, 8, 3]}}, {"class_name": "Lambda", "config": {"name": "code", "function": "..."}}]}}"#,
            "`Lambda`",
        ),
        (
            r#"{"class_name": "Functional", "config": {"layers": [], "input_layers": [["a", 0, 0], ["b", 0, 0]], "output_layers": ["c", 0, 0]}}"#,
            "2 inputs",
        ),
        (
            r#"{"class_name": "Sequential", "config": {"layers": [{"class_name": "InputLayer", "config": {"name": "i", "batch_shape": [null, 8, 8, 3]}}, {"class_name": "Conv2D", "config": {"name": "c", "filters": 2, "kernel_size": 3, "data_format": "channels_first"}}]}}"#,
            "channels_first",
        ),
        (r#"[1, 2, 3]"#, "config"),
    ] {
        let err = import_keras_bytes(&make(config), "hostile.keras".as_ref()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(want), "{want}: {msg}");
    }
}

/// cnn's preprocessing modes give what Keras's own `preprocess_input` gives (fixture made by
/// `scripts/keras/import_fixtures.py` with `keras.applications.imagenet_utils`).
#[test]
fn preprocess_modes_match_keras_preprocess_input() {
    let e = expected();
    let px: Vec<f32> = serde_json::from_value(e["preprocess"]["pixels"]["data"].clone()).unwrap();
    for mode in ["caffe", "tf", "torch"] {
        let want: Vec<f32> = serde_json::from_value(e["preprocess"][mode].clone()).unwrap();
        let got = cnn_nn::Preprocess::parse(mode).unwrap().apply(&px, 3);
        let worst = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-4, "{mode}: {worst}");
    }
}

/// Frozen layers stay frozen: cnn counts what trains as Keras does.
#[test]
fn frozen_layers_come_in_frozen() {
    let e = expected();
    let imported = import_keras(&fixture("frozen.keras")).unwrap();
    let (_, trainable, non_trainable) = imported.model.architecture().param_counts();
    assert_eq!(trainable, e["frozen"]["trainable"].as_u64().unwrap());
    assert_eq!(
        non_trainable,
        e["frozen"]["non_trainable"].as_u64().unwrap()
    );
    let frozen: Vec<&str> = imported
        .model
        .architecture()
        .layers
        .iter()
        .filter(|l| !l.is_trainable())
        .map(|l| l.name.as_str())
        .collect();
    assert_eq!(frozen, ["conv1", "bn1"]);
    assert!(imported.notes.is_empty(), "{:?}", imported.notes);
    check_model("frozen", imported);
}
