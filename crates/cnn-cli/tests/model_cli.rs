//! `cnn summary | train | evaluate | predict` as a user runs them.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{cnn_in, text};

fn cnn(args: &[&str]) -> Output {
    cnn_in(Path::new("."), args)
}

fn ok(args: &[&str]) -> String {
    let o = cnn(args);
    assert!(o.status.success(), "{args:?} failed: {}", text(&o.stderr));
    text(&o.stdout)
}

fn user_error(args: &[&str], needle: &str) {
    // Refused input writes nothing: not the default output, not a lock, not a temporary.
    let dir = tempfile::tempdir().unwrap();
    let o = cnn_in(dir.path(), args);
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "{args:?} left {left:?} behind");
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
    assert!(err.lines().any(|l| l.starts_with("error: ")), "{err}");
    assert!(err.contains(needle), "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn summary_of_zoo_and_spec_files() {
    let s = ok(&["summary", "mnist-cnn"]);
    assert!(
        s.contains("conv2d_1 (Conv2D)            (None, 24, 24, 64)        18496"),
        "{s}"
    );
    assert!(s.contains("Total params: 1,199,882"), "{s}");
    assert!(ok(&["summary", "vgg16"]).contains("Total params: 138,357,544"));
    let s = ok(&[
        "summary",
        "mnist-cnn",
        "--input-shape",
        "32x32x3",
        "--classes",
        "5",
    ]);
    assert!(
        s.contains("(None, 30, 30, 32)") && s.contains("(None, 5)"),
        "{s}"
    );
    assert!(ok(&["summary", "lenet5", "--flops"]).contains("Multiply-adds per sample"));
    // Graph models print Keras's functional layout; --no-top keeps the convolutional base.
    let s = ok(&["summary", "resnet50"]);
    assert!(
        s.contains("Connected to") && s.contains("Total params: 25,636,712"),
        "{s}"
    );
    assert!(
        s.contains("conv2_block1_add (Add)          (None, 56, 56, 256)  0           conv2_block1_0_bn[0][0]"),
        "{s}"
    );
    let s = ok(&["summary", "vgg16", "--no-top", "--input-shape", "150x150x3"]);
    assert!(s.contains("Total params: 14,714,688"), "{s}");
    assert!(
        s.contains("block5_pool (MaxPooling2D)   (None, 4, 4, 512)"),
        "{s}"
    );

    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("m.json");
    std::fs::write(
        &spec,
        r#"{"name": "tiny", "input_shape": [8, 8, 1], "layers": [
        {"type": "Conv2D", "filters": 4, "kernel_size": 3, "activation": "relu"},
        {"type": "Flatten"}, {"type": "Dense", "units": 2, "activation": "softmax"}]}"#,
    )
    .unwrap();
    let s = ok(&["summary", spec.to_str().unwrap()]);
    assert!(
        s.contains("Model: \"tiny\"") && s.contains("Total params: 330"),
        "{s}"
    );

    std::fs::write(&spec, r#"{"input_shape": [4, 4, 1], "layers": [{"type": "Conv2D", "filters": 4, "kernel_size": 5}]}"#).unwrap();
    user_error(
        &["summary", spec.to_str().unwrap()],
        "layer conv2d (Conv2D)",
    );
    std::fs::write(
        &spec,
        r#"{"input_shape": [4, 4, 1], "layers": [{"type": "Dense", "unit": 4}]}"#,
    )
    .unwrap();
    user_error(&["summary", spec.to_str().unwrap()], "unit");
    user_error(&["summary", "resnet-9000"], "unknown model");
    user_error(
        &["summary", "mnist-cnn", "--input-shape", "28x0x1"],
        "--input-shape",
    );
    user_error(
        &["summary", "mnist-cnn", "--input-shape", "5x5x1"],
        "larger than the padded input",
    );
}

#[test]
fn train_resume_evaluate_predict_on_the_bundled_sample() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("fm.cnn");
    let report = dir.path().join("r.json");
    let m = model.to_str().unwrap();
    let out = ok(&[
        "train",
        "-m",
        "dense-mnist",
        "-d",
        "fashion-mnist-sample",
        "--epochs",
        "1",
        "--batch-size",
        "64",
        "--out",
        m,
        "--report",
        report.to_str().unwrap(),
        "--quiet",
        "--seed",
        "7",
    ]);
    assert!(out.contains("test accuracy"), "{out}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let acc = r["test"]["accuracy"].as_f64().unwrap();
    // Ten classes: chance is 0.1; a working model is far above it after one epoch.
    assert!(acc > 0.55, "test accuracy {acc}");
    assert_eq!(r["epochs"], 1);

    // Resuming with other settings than the run that wrote the checkpoint (here the default
    // seed, 42, instead of 7) would not continue that run: refused, naming the difference.
    let resume = |extra: &[&'static str]| -> Vec<&str> {
        let mut args = vec![
            "train",
            "-m",
            "dense-mnist",
            "-d",
            "fashion-mnist-sample",
            "--epochs",
            "2",
            "--out",
            m,
            "--resume",
            "--quiet",
        ];
        args.extend_from_slice(extra);
        args
    };
    user_error(&resume(&["--batch-size", "64"]), "--seed was 7, now 42");
    user_error(
        &resume(&["--seed", "7", "--batch-size", "32"]),
        "--batch-size was 64, now 32",
    );
    assert_eq!(
        cnn_nn::load_model(&model).unwrap().epoch,
        1,
        "nothing was trained"
    );
    // --force resumes anyway, and says what differs (on a copy, to keep the run below).
    let copy = dir.path().join("forced.cnn");
    std::fs::copy(&model, &copy).unwrap();
    let o = cnn(&[
        "train",
        "-m",
        "dense-mnist",
        "-d",
        "fashion-mnist-sample",
        "--epochs",
        "2",
        "--out",
        copy.to_str().unwrap(),
        "--resume",
        "--force",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("resuming with other settings (--force): --batch-size was 64"),
        "{}",
        text(&o.stderr)
    );
    let o = cnn(&resume(&["--batch-size", "64", "--seed", "7"]));
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("resuming from") && text(&o.stderr).contains("after epoch 1"),
        "{}",
        text(&o.stderr)
    );
    assert!(
        ok(&[
            "train",
            "-m",
            "dense-mnist",
            "-d",
            "fashion-mnist-sample",
            "--epochs",
            "2",
            "--out",
            m,
            "--resume"
        ])
        .contains("nothing to do")
    );

    let ev: serde_json::Value = serde_json::from_str(&ok(&[
        "evaluate",
        "-m",
        m,
        "-d",
        "fashion-mnist-sample",
        "--json",
    ]))
    .unwrap();
    let cm_total: u64 = ev["confusion_matrix"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap())
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(cm_total, 1000);
    assert_eq!(ev["per_class"][9]["class"], "Ankle boot");
    assert!(ok(&["evaluate", "-m", m, "-d", "fashion-mnist-sample"]).contains("[9] Ankle boot"));
    // Mirror test-time augmentation: every test image, other probabilities, still a classifier.
    let mirrored: serde_json::Value = serde_json::from_str(&ok(&[
        "evaluate",
        "-m",
        m,
        "-d",
        "fashion-mnist-sample",
        "--mirror-tta",
        "--json",
    ]))
    .unwrap();
    assert_eq!(mirrored["mirror_tta"], true);
    assert_eq!(ev["mirror_tta"], false);
    assert_eq!(mirrored["samples"], 1000);
    let (l1, l2) = (
        ev["loss"].as_f64().unwrap(),
        mirrored["loss"].as_f64().unwrap(),
    );
    assert!(
        (l1 - l2).abs() > 1e-4,
        "mirrored loss {l2} equals single-view loss {l1}"
    );
    assert!(mirrored["accuracy"].as_f64().unwrap() > 0.4, "{mirrored}");
    // Six views (mirror and one-pixel translations): other probabilities again.
    let six: serde_json::Value = serde_json::from_str(&ok(&[
        "evaluate",
        "-m",
        m,
        "-d",
        "fashion-mnist-sample",
        "--tta",
        "mirror-translate",
        "--json",
    ]))
    .unwrap();
    assert_eq!(six["tta"], "mirror-translate");
    assert_eq!(mirrored["tta"], "mirror");
    assert!((six["loss"].as_f64().unwrap() - l2).abs() > 1e-5, "{six}");
    assert!(six["accuracy"].as_f64().unwrap() > 0.4, "{six}");
    assert!(
        ok(&[
            "evaluate",
            "-m",
            m,
            "-d",
            "fashion-mnist-sample",
            "--mirror-tta"
        ])
        .contains("averaged with its mirror image")
    );

    // Predict on real test images written as PNG files.
    let data = cnn_datasets::fashion_mnist_sample().unwrap();
    let test = data.test.unwrap();
    let mut paths = Vec::new();
    for i in 0..20 {
        let px = test.images[i * 784..(i + 1) * 784].to_vec();
        let p = dir.path().join(format!("item{i}.png"));
        image::GrayImage::from_raw(28, 28, px)
            .unwrap()
            .save(&p)
            .unwrap();
        paths.push(p.to_str().unwrap().to_string());
    }
    let mut args = vec!["predict", "-m", m, "--json", "--top", "2"];
    args.extend(paths.iter().map(String::as_str));
    let preds: serde_json::Value = serde_json::from_str(&ok(&args)).unwrap();
    let right = (0..20)
        .filter(|&i| preds[i]["top"][0]["class"] == data.class_names[test.labels[i] as usize])
        .count();
    assert!(right >= 10, "only {right}/20 test images classified right");
    let s = ok(&["predict", "-m", m, &paths[0]]);
    assert!(s.contains("item0.png: ") && s.contains('%'), "{s}");

    // Hostile inputs.
    let bad = dir.path().join("bad.png");
    std::fs::write(&bad, b"\x89PNG\r\n\x1a\nnot really").unwrap();
    user_error(
        &["predict", "-m", m, bad.to_str().unwrap()],
        "cannot decode image",
    );
    let trunc = dir.path().join("trunc.cnn");
    let bytes = std::fs::read(&model).unwrap();
    std::fs::write(&trunc, &bytes[..bytes.len() / 2]).unwrap();
    user_error(
        &[
            "evaluate",
            "-m",
            trunc.to_str().unwrap(),
            "-d",
            "fashion-mnist-sample",
        ],
        "cannot load model",
    );
    user_error(
        &["train", "-m", "mnist-cnn", "-d", "imagenet"],
        "unknown dataset",
    );
    user_error(
        &[
            "train",
            "-m",
            "mnist-cnn",
            "-d",
            "fashion-mnist-sample",
            "--optimizer",
            "lion",
        ],
        "unknown optimizer `lion`",
    );
    user_error(
        &["train", "-m", "alexnet", "-d", "fashion-mnist-sample"],
        "alexnet",
    );
}

#[test]
fn train_from_image_folders_and_zip() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("fm");
    let data = cnn_datasets::fashion_mnist_sample().unwrap();
    let write = |split: &str, set: &cnn_datasets::ImageSet, n: usize| {
        for i in 0..n {
            let class = &data.class_names[set.labels[i] as usize].replace('/', "-");
            let p = root.join(split).join(class).join(format!("{i:04}.png"));
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            image::GrayImage::from_raw(28, 28, set.images[i * 784..(i + 1) * 784].to_vec())
                .unwrap()
                .save(&p)
                .unwrap();
        }
    };
    write("train", &data.train, 600);
    write("test", data.test.as_ref().unwrap(), 200);
    std::fs::write(root.join("train/Bag/broken.png"), b"nope").unwrap();
    let model = dir.path().join("m.cnn");
    let r = dir.path().join("r.json");
    let o = cnn(&[
        "train",
        "-m",
        "dense-mnist",
        "-d",
        root.to_str().unwrap(),
        "--epochs",
        "3",
        "--out",
        model.to_str().unwrap(),
        "--report",
        r.to_str().unwrap(),
        "--quiet",
    ]);
    let err = text(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("600 training images in 10 classes") && err.contains("skipped Bag/broken.png"),
        "{err}"
    );
    let rep: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&r).unwrap()).unwrap();
    assert!(rep["test"]["accuracy"].as_f64().unwrap() > 0.4, "{rep}");
    // The same tree as a zip.
    let z = dir.path().join("fm.zip");
    let status = Command::new("python3")
        .args([
            "-c",
            "import shutil,sys; shutil.make_archive(sys.argv[1], 'zip', sys.argv[2])",
            z.with_extension("").to_str().unwrap(),
            root.to_str().unwrap(),
        ])
        .status();
    if status.is_ok_and(|s| s.success()) {
        let o = cnn(&[
            "train",
            "-m",
            "dense-mnist",
            "-d",
            z.to_str().unwrap(),
            "--epochs",
            "1",
            "--out",
            model.to_str().unwrap(),
            "--quiet",
        ]);
        assert!(o.status.success(), "{}", text(&o.stderr));
        assert!(
            text(&o.stderr).contains("600 training images"),
            "{}",
            text(&o.stderr)
        );
    }
    user_error(
        &[
            "train",
            "-m",
            "dense-mnist",
            "-d",
            "mnist",
            "--offline",
            "--data-dir",
            dir.path().to_str().unwrap(),
        ],
        "offline",
    );
}

#[test]
fn augment_writes_a_preview_grid() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("item.png");
    let data = cnn_datasets::fashion_mnist_sample().unwrap();
    image::GrayImage::from_raw(28, 28, data.test.as_ref().unwrap().images[..784].to_vec())
        .unwrap()
        .save(&src)
        .unwrap();
    let out = dir.path().join("grid.png");
    let saved = dir.path().join("variants");
    let s = ok(&[
        "augment",
        src.to_str().unwrap(),
        "--rotation",
        "30",
        "--zoom",
        "0.2",
        "--horizontal-flip",
        "--count",
        "5",
        "--cell",
        "56",
        "--save-to-dir",
        saved.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(s.contains("5 variants"), "{s}");
    let grid = image::open(&out).unwrap();
    // Six cells (original + 5) in rows of three, 56 px each, with 6 px margins.
    assert_eq!(
        (grid.width(), grid.height()),
        (3 * (56 + 6) + 6, 2 * (56 + 6) + 6)
    );
    assert_eq!(std::fs::read_dir(&saved).unwrap().count(), 5);
    user_error(
        &[
            "augment",
            src.to_str().unwrap(),
            "--fill-mode",
            "mirror",
            "--out",
            out.to_str().unwrap(),
        ],
        "--fill-mode",
    );
    user_error(
        &[
            "augment",
            dir.path().join("none.png").to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        "none.png",
    );
}

#[test]
fn train_with_augmentation_reports_waiting() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("a.cnn");
    let r = dir.path().join("r.json");
    let out = ok(&[
        "train",
        "-m",
        "dense-mnist",
        "-d",
        "fashion-mnist-sample",
        "--epochs",
        "2",
        "--batch-size",
        "64",
        "--rotation",
        "10",
        "--width-shift",
        "0.1",
        "--height-shift",
        "2",
        "--zoom",
        "0.1",
        "--out",
        m.to_str().unwrap(),
        "--report",
        r.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(
        out.contains("augmentation: the training loop waited"),
        "{out}"
    );
    let rep: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&r).unwrap()).unwrap();
    assert!(rep["waited_for_data_seconds"].as_f64().is_some(), "{rep}");
    assert!(rep["test"]["accuracy"].as_f64().unwrap() > 0.5, "{rep}");
    user_error(
        &[
            "train",
            "-m",
            "dense-mnist",
            "-d",
            "fashion-mnist-sample",
            "--zoom",
            "1.5",
        ],
        "--zoom",
    );
}

#[test]
fn ctrl_c_saves_a_checkpoint_and_resume_continues() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("int.cnn");
    let args = [
        "train",
        "-m",
        "dense-mnist",
        "-d",
        "fashion-mnist-sample",
        "--epochs",
        "100000",
        "--batch-size",
        "64",
        "--quiet",
        "--out",
        m.to_str().unwrap(),
    ];
    let child = Command::new(env!("CARGO_BIN_EXE_cnn"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until training runs (the first checkpoint exists), then interrupt.
    let t0 = std::time::Instant::now();
    while !m.exists() && t0.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(
        err.contains("interrupted during epoch") && err.contains("--resume"),
        "{err}"
    );
    let saved = cnn_nn::load_model(&m).unwrap();
    assert!(saved.epoch >= 1 && saved.optimizer.is_some());
    let next = (saved.epoch + 1).to_string();
    let o = cnn(&[
        "train",
        "-m",
        "dense-mnist",
        "-d",
        "fashion-mnist-sample",
        "--epochs",
        &next,
        "--batch-size",
        "64",
        "--quiet",
        "--resume",
        "--out",
        m.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains(&format!("in epoch {} after step", saved.epoch + 1)),
        "the resume continues mid-epoch: {}",
        text(&o.stderr)
    );
    let resumed = cnn_nn::load_model(&m).unwrap();
    assert_eq!(resumed.epoch, saved.epoch + 1);
    // The interrupted and resumed run ends with the weights of a run never interrupted.
    let reference = dir.path().join("reference.cnn");
    let o = cnn(&[
        "train",
        "-m",
        "dense-mnist",
        "-d",
        "fashion-mnist-sample",
        "--epochs",
        &next,
        "--batch-size",
        "64",
        "--quiet",
        "--out",
        reference.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let reference = cnn_nn::load_model(&reference).unwrap();
    for ((name, a), (_, b)) in resumed
        .model
        .named_weights()
        .zip(reference.model.named_weights())
    {
        assert!(a == b, "{name} differs from the uninterrupted run");
    }
}

#[test]
fn predict_digit_preprocess_prepares_photos_like_mnist() {
    let dir = tempfile::tempdir().unwrap();
    let digits = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/digits");
    let seven = format!("{digits}/7_marker_02.png");
    let two = format!("{digits}/2_pencil_03.png");
    // A freshly initialised mnist-cnn saved as a model file (weights do not matter here).
    let model = dir.path().join("m.cnn");
    ok(&[
        "train",
        "-m",
        "mnist-cnn",
        "-d",
        "fashion-mnist-sample",
        "--limit",
        "64",
        "--batch-size",
        "64",
        "-q",
        "-o",
        model.to_str().unwrap(),
    ]);
    let inputs = dir.path().join("inputs");
    let out = ok(&[
        "predict",
        "-m",
        model.to_str().unwrap(),
        "--digit-preprocess",
        "--save-inputs",
        inputs.to_str().unwrap(),
        &seven,
        &two,
    ]);
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(out.starts_with(&seven), "{out}");
    // What the model saw: 28x28, ink bright on black, centre of mass in the middle.
    let img = image::open(inputs.join("7_marker_02.input.png"))
        .unwrap()
        .to_luma8();
    assert_eq!(img.dimensions(), (28, 28));
    assert_eq!(img.get_pixel(0, 0).0[0], 0);
    let (mut m, mut sx, mut sy) = (0.0, 0.0, 0.0);
    for (x, y, p) in img.enumerate_pixels() {
        let v = p.0[0] as f64;
        m += v;
        sx += v * (x as f64 + 0.5);
        sy += v * (y as f64 + 0.5);
    }
    assert!((sx / m - 14.0).abs() < 1.0 && (sy / m - 14.0).abs() < 1.0);
    // A blank image is a clear error naming the file.
    let blank = dir.path().join("blank.png");
    image::GrayImage::from_pixel(40, 40, image::Luma([230]))
        .save(&blank)
        .unwrap();
    user_error(
        &[
            "predict",
            "-m",
            model.to_str().unwrap(),
            "--digit-preprocess",
            blank.to_str().unwrap(),
        ],
        "no ink",
    );
    user_error(
        &[
            "predict",
            "-m",
            model.to_str().unwrap(),
            "--digit-preprocess",
            blank.to_str().unwrap(),
        ],
        "blank.png",
    );
}
