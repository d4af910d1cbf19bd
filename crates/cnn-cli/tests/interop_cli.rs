//! `cnn train --tensorboard`, `cnn export` and `cnn import` as a user runs them. TensorBoard:
//! event files under `train/` and `validation/` with the epoch scalars, read back with our
//! reader. Export: a model trained by `cnn train` goes out as ONNX with its class names in the
//! metadata, NHWC and NCHW, and ONNX Runtime gives the saved model's own predictions; it goes
//! out as a Keras 3 `.keras` file that Keras loads with the same predictions, and comes back
//! through `cnn import` with the same weights bit for bit (the Python checks run when
//! `CNN_VERIFY_PYTHON` names a Python with onnx, onnxruntime and keras; required under
//! `CI=true`). Bad requests are refused with exit code 2 and nothing written.

mod common;
#[path = "../../cnn-keras/tests/common/mod.rs"]
mod keras;
#[path = "../../cnn-onnx/tests/common/ort.rs"]
mod ort;

use std::path::Path;

use common::{cnn_in, text};

use cnn_onnx::ExportOptions;
use cnn_onnx::proto::onnx::ModelProto;
use prost::Message;
use rand::{RngExt, SeedableRng};

/// `cnn train -m MODEL` for one or more epochs on 256 images of the bundled sample, batch 64,
/// writing `out` in `dir`, with `extra` flags; asserts it succeeded.
fn train_sample(dir: &Path, model: &str, epochs: &str, out: &str, extra: &[&str]) {
    let mut args = vec![
        "train",
        "-m",
        model,
        "-d",
        "fashion-mnist-sample",
        "--epochs",
        epochs,
        "--limit",
        "256",
        "--batch-size",
        "64",
        "--out",
        out,
        "--quiet",
    ];
    args.extend_from_slice(extra);
    let o = cnn_in(dir, &args);
    assert!(o.status.success(), "{}", text(&o.stderr));
}

#[test]
fn a_trained_model_exports_and_onnxruntime_agrees() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    train_sample(d, "fashion-cnn", "1", "fm.cnn", &[]);
    let o = cnn_in(d, &["export", "fm.cnn", "-o", "fm.onnx"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.contains("-> fm.onnx (ONNX opset 17"), "{out}");
    assert!(
        out.contains("input `input_1` (None, 28, 28, 1) NHWC"),
        "{out}"
    );
    let o = cnn_in(
        d,
        &[
            "export",
            "fm.cnn",
            "-o",
            "fm-nchw.onnx",
            "--nchw",
            "--opset",
            "13",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("NCHW"));
    // Nothing but the model, the two exports (and the training's own files) in the directory.
    let names: Vec<String> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");

    // The metadata carries what the training saved: class names, layout, where it came from.
    let proto = ModelProto::decode(&std::fs::read(d.join("fm.onnx")).unwrap()[..]).unwrap();
    let meta: std::collections::HashMap<_, _> = proto
        .metadata_props
        .iter()
        .map(|p| (p.key().to_string(), p.value().to_string()))
        .collect();
    assert!(meta["class_names"].contains("Ankle boot"), "{meta:?}");
    assert_eq!(meta["cnn.input_layout"], "NHWC");
    assert_eq!(meta["cnn.source"], "fm.cnn");
    let graph = proto.graph.unwrap();
    assert_eq!(graph.input[0].name(), "input_1");
    assert!(
        graph
            .node
            .iter()
            .any(|n| n.op_type() == "BatchNormalization")
    );

    // ONNX Runtime gives the saved model's own predictions, NHWC and NCHW.
    let Some(python) = ort::python() else {
        return;
    };
    let mut saved = cnn_nn::load_model(&d.join("fm.cnn")).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let x = cnn_tensor::Tensor::new(
        [3, 28, 28, 1],
        (0..3 * 784).map(|_| rng.random_range(0.0..1.0)).collect(),
    )
    .unwrap();
    let cases = [false, true].map(|nchw| {
        let opts = ExportOptions {
            nchw,
            ..Default::default()
        };
        let label = if nchw { "trained-nchw" } else { "trained" };
        ort::write_case(d, label, &mut saved.model, &x, &opts)
    });
    ort::run_check(&python, &cases);
}

#[test]
fn a_trained_model_goes_to_keras_and_comes_back_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    train_sample(d, "fashion-cnn", "1", "fm.cnn", &[]);
    let o = cnn_in(d, &["export", "fm.cnn", "-o", "fm.keras"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.contains("-> fm.keras (Keras 3."), "{out}");
    let o = cnn_in(d, &["import", "fm.keras", "-o", "back.cnn"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("-> back.cnn"),
        "{}",
        text(&o.stdout)
    );
    let (a, b) = (
        cnn_nn::load_model(&d.join("fm.cnn")).unwrap(),
        cnn_nn::load_model(&d.join("back.cnn")).unwrap(),
    );
    let wb: std::collections::HashMap<&str, &cnn_tensor::Tensor> =
        b.model.named_weights().collect();
    assert_eq!(a.model.named_weights().count(), wb.len());
    for (name, t) in a.model.named_weights() {
        let bits =
            |t: &cnn_tensor::Tensor| t.data().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(t), bits(wb[name]), "{name}");
    }
    // The class names travel through the .keras file.
    assert!(
        b.extra["class_names"].contains("Ankle boot"),
        "{:?}",
        b.extra
    );
    // Any command takes the .keras file itself.
    let o = cnn_in(d, &["summary", "fm.keras"]);
    assert!(
        o.status.success() && text(&o.stdout).contains("Total params"),
        "{}",
        text(&o.stderr)
    );

    // Keras itself loads the export and predicts what the saved model does.
    let Some(python) = keras::python() else {
        return;
    };
    let mut saved = a;
    let x = keras::random_input(&[3, 28, 28, 1], 5);
    let case = keras::write_case(d, "trained", &mut saved.model, &x);
    keras::run_check(&python, &[case]);
}

#[test]
fn keras_hdf5_files_come_in() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../cnn-keras/tests/fixtures");
    let f = |name: &str| fixtures.join(name).display().to_string();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A legacy full model: its architecture comes with it, and any command takes it.
    let o = cnn_in(d, &["import", &f("functional.h5"), "-o", "fn.cnn"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let o = cnn_in(d, &["summary", &f("functional.h5")]);
    assert!(
        text(&o.stdout).contains("Total params: 2,990"),
        "{}",
        text(&o.stderr)
    );
    // Weights only: refused without --arch (with the hint), imported onto one.
    let o = cnn_in(
        d,
        &["import", &f("keras2-sequential-weights.h5"), "-o", "w.cnn"],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("--arch"), "{}", text(&o.stderr));
    let o = cnn_in(d, &["import", &f("sequential.keras"), "-o", "seq.cnn"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let o = cnn_in(
        d,
        &[
            "import",
            &f("keras2-sequential-weights.h5"),
            "--arch",
            "seq.cnn",
            "-o",
            "w.cnn",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("Keras 2.2.4"),
        "{}",
        text(&o.stdout)
    );
    let (a, b) = (
        cnn_nn::load_model(&d.join("seq.cnn")).unwrap(),
        cnn_nn::load_model(&d.join("w.cnn")).unwrap(),
    );
    for ((na, ta), (nb, tb)) in a.model.named_weights().zip(b.model.named_weights()) {
        assert_eq!((na, ta.data()), (nb, tb.data()));
    }
    // The wrong architecture is named in the error.
    let o = cnn_in(
        d,
        &[
            "import",
            &f("keras2-sequential-weights.h5"),
            "--arch",
            "lenet5",
            "-o",
            "x.cnn",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("needs [5, 5, 1, 6]"),
        "{}",
        text(&o.stderr)
    );
    assert!(!d.join("x.cnn").exists());
}

#[test]
fn imported_imagenet_models_name_their_classes_and_preprocess() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = cnn_in(
        d,
        &[
            "export",
            "vgg-a",
            "--input-shape",
            "32x32x3",
            "--classes",
            "1000",
            "-o",
            "v.keras",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let o = cnn_in(
        d,
        &[
            "import",
            "v.keras",
            "--imagenet",
            "--preprocess",
            "caffe",
            "-o",
            "v.cnn",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let saved = cnn_nn::load_model(&d.join("v.cnn")).unwrap();
    assert_eq!(saved.extra["preprocess"], "caffe");
    assert!(saved.extra["class_names"].contains("African_elephant"));
    let image =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/digits/0_ballpoint_00.png");
    let o = cnn_in(
        d,
        &[
            "predict",
            "-m",
            "v.cnn",
            &image.display().to_string(),
            "--top",
            "5",
            "--save-inputs",
            "in",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert_eq!(
        out.matches("(n0").count() + out.matches("(n1").count(),
        5,
        "{out}"
    );
    // What the model saw, undone through the caffe mode, is the picture again.
    assert!(d.join("in/0_ballpoint_00.input.png").exists());
    // A model without 1000 outputs cannot take ImageNet's names.
    let o = cnn_in(d, &["export", "lenet5", "-o", "l.keras"]);
    assert!(o.status.success());
    let o = cnn_in(d, &["import", "l.keras", "--imagenet", "-o", "l.cnn"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("not ImageNet's 1000 classes"),
        "{}",
        text(&o.stderr)
    );
    // caffe on a grey model is refused when used.
    let o = cnn_in(
        d,
        &["import", "l.keras", "--preprocess", "caffe", "-o", "l.cnn"],
    );
    assert!(o.status.success());
    let o = cnn_in(d, &["predict", "-m", "l.cnn", &image.display().to_string()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("needs RGB images"),
        "{}",
        text(&o.stderr)
    );
}

/// Transfer learning from the command line: a trained base, its first two blocks frozen and
/// its classifier replaced, trains on; the frozen layers come out bit for bit as they went in.
#[test]
fn train_from_a_base_with_frozen_blocks_and_a_new_head() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    train_sample(d, "fashion-cnn", "1", "base.cnn", &[]);
    train_sample(
        d,
        "base.cnn",
        "1",
        "tl.cnn",
        &["--freeze-until", "max_pooling2d_1", "--new-head"],
    );
    let base = cnn_nn::load_model(&d.join("base.cnn")).unwrap();
    let tl = cnn_nn::load_model(&d.join("tl.cnn")).unwrap();
    let weights = |m: &cnn_nn::Model| -> std::collections::HashMap<String, Vec<u32>> {
        m.named_weights()
            .map(|(n, t)| {
                (
                    n.to_string(),
                    t.data().iter().map(|v| v.to_bits()).collect(),
                )
            })
            .collect()
    };
    let (wb, wt) = (weights(&base.model), weights(&tl.model));
    for (name, w) in &wt {
        let frozen = [
            "conv2d/",
            "batch_normalization/",
            "conv2d_1/",
            "batch_normalization_1/",
        ]
        .iter()
        .any(|p| name.starts_with(p));
        if frozen {
            assert_eq!(Some(w), wb.get(name), "{name} changed though frozen");
        } else if let Some(b) = wb.get(name) {
            assert_ne!(w, b, "{name} did not train");
        }
    }
    // The old classifier is gone, the new one has the dataset's 10 classes.
    assert!(!wt.contains_key("dense_1/kernel"));
    assert_eq!(tl.model.architecture().output_shape(), [10]);
    let arch = tl.model.architecture();
    let frozen: Vec<&str> = arch
        .layers
        .iter()
        .filter(|l| !l.is_trainable())
        .map(|l| l.name.as_str())
        .collect();
    assert_eq!(frozen.len(), 8, "{frozen:?}");
    assert!(arch.param_counts().2 > base.model.architecture().param_counts().2);
    // A base that expects Keras's `tf` preprocessing ([-1, 1]) trains with augmentation: the
    // pixels are augmented, then preprocessed (Keras's preprocessing_function), and the result
    // keeps the base's preprocessing.
    let mut extra = base.extra.clone();
    extra.remove("rescale");
    extra.insert("preprocess".into(), "tf".into());
    cnn_nn::save_model_with(&d.join("base-tf.cnn"), &base.model, None, 0, None, &extra).unwrap();
    train_sample(
        d,
        "base-tf.cnn",
        "1",
        "tl-tf.cnn",
        &["--new-head", "--rotation", "10", "--horizontal-flip"],
    );
    let tl_tf = cnn_nn::load_model(&d.join("tl-tf.cnn")).unwrap();
    assert_eq!(tl_tf.extra["preprocess"], "tf");
    // A layer that is not there is named with the ones that are.
    let o = cnn_in(
        d,
        &[
            "train",
            "-m",
            "base.cnn",
            "-d",
            "fashion-mnist-sample",
            "--limit",
            "64",
            "--freeze-until",
            "block9",
            "-o",
            "x.cnn",
            "--quiet",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("unknown layer to freeze until `block9`; known: conv2d,"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn imports_refuse_what_they_cannot_read_safely() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A pickle (what torch.save writes inside its zip) and a legacy Keras HDF5 file.
    std::fs::write(d.join("m.pth"), b"\x80\x02}q\x00.").unwrap();
    std::fs::write(d.join("m.h5"), b"\x89HDF\r\n\x1a\n\x00\x00").unwrap();
    std::fs::write(d.join("m.txt"), b"hello").unwrap();
    for (file, needle) in [
        ("m.pth", "never reads them"),
        ("m.h5", "not an HDF5 file Keras wrote"),
        ("m.txt", "not a file cnn imports"),
        ("missing.keras", "cannot read"),
    ] {
        let o = cnn_in(d, &["import", file, "-o", "out.cnn"]);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{file}: {err}");
        assert!(err.contains(needle), "{file}: {err}");
        assert!(!d.join("out.cnn").exists());
    }
}

/// A torchvision state_dict in safetensors: the features of torchvision's VGG11 (names and
/// shapes as `torchvision.models.vgg11().state_dict()` has them) come in with `--torchvision
/// vgg11 --no-top`, preprocessed as torchvision's. (Equality with PyTorch's own outputs is
/// `crates/cnn-torchvision/tests/torchvision.rs`, on files PyTorch wrote.)
#[test]
fn torchvision_safetensors_come_in() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut t = cnn_torchvision::Torchvision::new("vgg11");
    t.include_top = false;
    t.input_shape = vec![32, 32, 3];
    let layout = cnn_torchvision::layout(&t).unwrap();
    let arch = cnn_nn::Architecture::from_spec(&layout.spec).unwrap();
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for e in &layout.entries {
        let layer = &arch.layers[arch.layer_index(&e.layer).unwrap()];
        for p in &layer.params {
            let (key, shape) = match (p.name.rsplit('/').next().unwrap(), &p.shape[..]) {
                ("kernel", [kh, kw, i, o]) => ("weight", vec![*o, *i, *kh, *kw]),
                (_, s) => ("bias", s.to_vec()),
            };
            let n: usize = shape.iter().product();
            let bytes = (0..n)
                .flat_map(|v| (v as f32 * 1e-4).to_le_bytes())
                .collect();
            tensors.push((format!("{}.{key}", e.module), shape, bytes));
        }
    }
    // The classifier of the full model, which --no-top leaves out.
    tensors.push(("classifier.6.bias".into(), vec![2], vec![0; 8]));
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
        .iter()
        .map(|(k, s, b)| {
            let v = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b);
            (k.clone(), v.unwrap())
        })
        .collect();
    std::fs::write(
        d.join("vgg11.safetensors"),
        safetensors::serialize(views, None).unwrap(),
    )
    .unwrap();
    let args = [
        "import",
        "--torchvision",
        "vgg11",
        "vgg11.safetensors",
        "--no-top",
        "--input-shape",
        "32x32x3",
        "-o",
        "v.cnn",
    ];
    let o = cnn_in(d, &args);
    let out = text(&o.stdout);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        out.contains("torchvision") && out.contains("classifier"),
        "{out}"
    );
    let saved = cnn_nn::load_model(&d.join("v.cnn")).unwrap();
    assert_eq!(saved.extra["preprocess"], "torch");
    assert_eq!(saved.model.architecture().output_shape(), &[1, 1, 512]);
    // features.0.weight[o=1][i=0][0][0] is value 27 of the ramp; in HWIO it sits at o = 1.
    let k = saved
        .model
        .named_weights()
        .find(|(n, _)| *n == "block1_conv1/kernel")
        .unwrap()
        .1;
    assert_eq!(k.data()[1], 27.0 * 1e-4);
    // Refusals: no architecture named, the wrong one, --torchvision on a Keras file.
    for (args, needle) in [
        (
            vec!["import", "vgg11.safetensors", "-o", "x.cnn"],
            "--torchvision",
        ),
        (
            vec![
                "import",
                "--torchvision",
                "vgg13",
                "vgg11.safetensors",
                "--no-top",
                "-o",
                "x.cnn",
            ],
            "`features.2.weight` is missing: not torchvision's vgg13",
        ),
        (
            vec![
                "import",
                "--torchvision",
                "vgg11",
                "vgg11.safetensors",
                "-o",
                "x.cnn",
            ],
            "`classifier.0.weight` is missing",
        ),
        (
            vec![
                "import",
                "--torchvision",
                "densenet",
                "vgg11.safetensors",
                "-o",
                "x.cnn",
            ],
            "invalid value",
        ),
        (
            vec!["import", "v.cnn", "--no-top", "-o", "x.cnn"],
            "--no-top",
        ),
    ] {
        let o = cnn_in(d, &args);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!d.join("x.cnn").exists());
    }
}

#[test]
fn bad_requests_are_refused_and_write_nothing() {
    for (args, needle) in [
        (
            vec!["export", "lenet5", "-o", "x.onnx", "--opset", "9"],
            "9 is not supported",
        ),
        (
            vec!["export", "no-such-model", "-o", "x.onnx"],
            "unknown model",
        ),
        (
            vec!["export", "lenet5", "-o", "missing/x.onnx"],
            "no directory missing",
        ),
        (
            vec!["export", "lenet5", "-o", "x.onnx", "--format", "tflite"],
            "invalid value",
        ),
        (
            vec!["export", "alexnet", "-o", "x.keras"],
            "Keras has no local response normalisation layer",
        ),
        (
            vec!["export", "lenet5", "-o", "x.keras", "--nchw"],
            "Keras models take NHWC",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let o = cnn_in(dir.path(), &args);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "{args:?}"
        );
    }
}

#[test]
fn train_writes_tensorboard_logs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    train_sample(
        d,
        "dense-mnist",
        "2",
        "m.cnn",
        &[
            "--validation-split",
            "0.25",
            "--tensorboard",
            "logs",
            "--tensorboard-update-freq",
            "1",
        ],
    );
    for (run, tags) in [
        (
            "train",
            &[
                "epoch_loss",
                "epoch_learning_rate",
                "batch_loss",
                "dense/kernel",
            ][..],
        ),
        (
            "validation",
            &["epoch_loss", "epoch_accuracy", "confusion_matrix"][..],
        ),
    ] {
        let files: Vec<_> = std::fs::read_dir(d.join("logs").join(run))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files.len(), 1, "{run}: {files:?}");
        let events = cnn_tensorboard::read_events(&std::fs::read(&files[0]).unwrap()).unwrap();
        let seen: Vec<String> = events
            .iter()
            .filter_map(|e| match &e.what {
                Some(cnn_tensorboard::proto::tensorboard::event::What::Summary(s)) => {
                    Some(s.value[0].tag.clone())
                }
                _ => None,
            })
            .collect();
        for tag in tags {
            assert!(seen.iter().any(|t| t == tag), "{run} lacks {tag}: {seen:?}");
        }
        // Two epochs of 3 steps (192 of 256 samples, batch 64), a batch_loss every step.
        if run == "train" {
            assert_eq!(seen.iter().filter(|t| *t == "batch_loss").count(), 6);
            assert_eq!(seen.iter().filter(|t| *t == "epoch_loss").count(), 2);
        }
    }
    // --tensorboard-update-freq without --tensorboard is refused.
    let o = cnn_in(
        d,
        &[
            "train",
            "-m",
            "dense-mnist",
            "-d",
            "fashion-mnist-sample",
            "--tensorboard-update-freq",
            "5",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
}
