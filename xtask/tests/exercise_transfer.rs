//! `cargo xtask exercise transfer --quick` on the real CIFAR-10 JPEG archive (from
//! `../shared/data`, required in CI): pretraining on eight classes, ship and truck from 100
//! images each three ways, the report.

mod common;

use xtask::exercise::{Common, transfer};

#[test]
fn quick_transfer_run_from_the_jpeg_archive() {
    let Some(tgz) = common::cifar_archive() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let c = Common {
        quick: true,
        quiet: true,
        data_dir: Some(dir.path().join("data")),
        ..Common::new(dir.path().join("out"))
    };
    let (report, out) = transfer::run(&c, Some(tgz)).unwrap();
    assert_eq!(report.class_names, ["ship", "truck"]);
    let labels: Vec<&str> = report.runs.iter().map(|r| r.label.as_str()).collect();
    assert_eq!(
        labels,
        ["from scratch", "feature extraction", "fine-tuning"]
    );
    for r in &report.runs {
        // 100 training images per class; 30 test images per class in a quick run.
        assert_eq!(r.train_samples, 200);
        assert_eq!(r.confusion.counts.iter().flatten().sum::<u64>(), 60);
        assert!(out.join(&r.files.curves).is_file());
        assert!(out.join(&r.files.confusion).is_file());
    }
    // Even ten quick epochs of pretraining on 800 images give features worth more than 200
    // images from scratch (on this seed: 88 % against 50 %).
    let fe = &report.runs[1];
    assert!(
        fe.test_accuracy > 0.7,
        "feature extraction {}",
        fe.test_accuracy
    );
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("What did transfer buy?"), "{md}");
    assert!(md.contains("frozen up to `flatten`"), "{md}");
    // The feature-extraction model's convolutional base is the pretrained one, bit for bit.
    let pre = cnn_nn::load_model(&out.join("pretrained-on-8-classes.cnn")).unwrap();
    let fe_model = cnn_nn::load_model(&out.join(&fe.files.model)).unwrap();
    let pre_w: std::collections::HashMap<&str, &cnn_nn::Tensor> =
        pre.model.named_weights().collect();
    let mut compared = 0;
    for (name, w) in fe_model.model.named_weights() {
        if name.starts_with("conv2d") {
            assert_eq!(w, pre_w[name], "{name} changed while frozen");
            compared += 1;
        }
    }
    assert_eq!(compared, 12, "six convolutions, kernel and bias");
}
