//! `cnn visualize activations | filters | gradcam` and `cnn plot` as a user runs them, on a
//! small convnet trained for one epoch on the bundled Fashion-MNIST sample.

use std::path::Path;
use std::process::{Command, Output};

fn cnn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cnn"))
        .args(args)
        .output()
        .expect("run cnn")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ok(args: &[&str]) -> String {
    let o = cnn(args);
    assert!(o.status.success(), "{args:?} failed: {}", text(&o.stderr));
    text(&o.stdout)
}

fn user_error(args: &[&str], needle: &str) {
    let o = cnn(args);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains(needle), "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

fn png_size(p: &Path) -> (u32, u32) {
    image::image_dimensions(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

const SPEC: &str = r#"{"name": "tiny", "input_shape": [28, 28, 1], "layers": [
  {"type": "Conv2D", "filters": 8, "kernel_size": 3, "activation": "relu"},
  {"type": "MaxPooling2D", "pool_size": 2},
  {"type": "Conv2D", "filters": 16, "kernel_size": 3, "activation": "relu"},
  {"type": "MaxPooling2D", "pool_size": 2},
  {"type": "Flatten"},
  {"type": "Dense", "units": 10, "activation": "softmax"}]}"#;

#[test]
fn visualize_and_plot_a_trained_model() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let spec = d.join("tiny.json");
    std::fs::write(&spec, SPEC).unwrap();
    let model = d.join("tiny.cnn");
    let report = d.join("report.json");
    let m = model.to_str().unwrap();
    ok(&[
        "train",
        "-m",
        spec.to_str().unwrap(),
        "-d",
        "fashion-mnist-sample",
        "--epochs",
        "2",
        "--batch-size",
        "32",
        "--out",
        m,
        "--report",
        report.to_str().unwrap(),
        "--quiet",
    ]);

    // Activations: one grid per conv and pool layer, 16 channels per row.
    let acts = d.join("acts");
    let out = ok(&[
        "visualize",
        "activations",
        "-m",
        m,
        "-d",
        "fashion-mnist-sample",
        "--index",
        "3",
        "--out",
        acts.to_str().unwrap(),
    ]);
    assert!(out.contains("conv2d_1"), "{out}");
    let mut files: Vec<String> = std::fs::read_dir(&acts)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "00-conv2d.png",
            "01-max_pooling2d.png",
            "02-conv2d_1.png",
            "03-max_pooling2d_1.png"
        ]
    );
    // 8 channels of 26x26 (scaled x2 to 52 px): one row of 8.
    let (w, _) = png_size(&acts.join("00-conv2d.png"));
    assert_eq!(w, 2 + 8 * (52 + 2));

    // An image file works too, and --layers picks layers by name.
    let pic = d.join("item.png");
    image::GrayImage::from_fn(40, 40, |x, y| {
        image::Luma([if (10..30).contains(&x) && (5..35).contains(&y) {
            200
        } else {
            0
        }])
    })
    .save(&pic)
    .unwrap();
    let one = d.join("one");
    ok(&[
        "visualize",
        "activations",
        "-m",
        m,
        "-i",
        pic.to_str().unwrap(),
        "--layers",
        "conv2d_1",
        "--out",
        one.to_str().unwrap(),
    ]);
    assert!(one.join("02-conv2d_1.png").exists());

    // Filter patterns and raw kernels.
    let pat = d.join("patterns.png");
    let out = ok(&[
        "visualize",
        "filters",
        "-m",
        m,
        "--filters",
        "4",
        "--steps",
        "10",
        "--size",
        "40",
        "--out",
        pat.to_str().unwrap(),
    ]);
    assert!(out.contains("4 filter patterns of conv2d_1"), "{out}");
    assert!(png_size(&pat).0 > 4 * 40);
    let raw = d.join("kernels.png");
    let out = ok(&[
        "visualize",
        "filters",
        "-m",
        m,
        "--raw",
        "--out",
        raw.to_str().unwrap(),
    ]);
    assert!(out.contains("kernels of conv2d"), "{out}");

    // Grad-CAM of one image, then one per class.
    let heat = d.join("heat.png");
    let out = ok(&[
        "visualize",
        "gradcam",
        "-m",
        m,
        "-i",
        pic.to_str().unwrap(),
        "--class",
        "Trouser",
        "--out",
        heat.to_str().unwrap(),
    ]);
    assert!(out.contains("heatmap of `Trouser`"), "{out}");
    // A 40x40 picture is scaled by 6 to at least 224 pixels.
    assert_eq!(png_size(&heat), (240, 240));
    let grid = d.join("per-class.png");
    let out = ok(&[
        "visualize",
        "gradcam",
        "-m",
        m,
        "-d",
        "fashion-mnist-sample",
        "--per-class",
        "--out",
        grid.to_str().unwrap(),
    ]);
    assert_eq!(out.matches("(true: ").count(), 10, "{out}");
    let out = ok(&[
        "visualize",
        "gradcam",
        "-m",
        m,
        "-d",
        "fashion-mnist-sample",
        "--measure",
        "20",
    ]);
    assert!(out.contains("over the first 20 test images"), "{out}");
    assert!(
        out.contains("% of the heatmap on the item's pixels"),
        "{out}"
    );

    // Plots from the training report.
    let curves = d.join("plots/curves.png");
    let out = ok(&[
        "plot",
        report.to_str().unwrap(),
        "--out",
        curves.to_str().unwrap(),
    ]);
    assert!(out.contains("training curves (2 epochs)"), "{out}");
    assert!(curves.exists());

    // Bad input: a clear error with exit code 2.
    user_error(
        &[
            "visualize",
            "activations",
            "-m",
            m,
            "-d",
            "fashion-mnist-sample",
            "--layers",
            "conv9",
            "--out",
            one.to_str().unwrap(),
        ],
        "conv2d_1",
    );
    user_error(
        &[
            "visualize",
            "gradcam",
            "-m",
            m,
            "--out",
            heat.to_str().unwrap(),
        ],
        "--image/--dataset",
    );
    user_error(
        &[
            "visualize",
            "gradcam",
            "-m",
            m,
            "-d",
            "fashion-mnist-sample",
            "--class",
            "Hat",
            "--out",
            heat.to_str().unwrap(),
        ],
        "Ankle boot",
    );
    user_error(
        &[
            "visualize",
            "filters",
            "-m",
            m,
            "--layer",
            "dense",
            "--out",
            pat.to_str().unwrap(),
        ],
        "not a feature map",
    );
    user_error(
        &[
            "plot",
            spec.to_str().unwrap(),
            "--out",
            curves.to_str().unwrap(),
        ],
        "nothing to plot",
    );
}
