//! `cargo xtask exercise cifar10 --quick` on the real CIFAR-10 JPEG archive (from
//! `../shared/data`, required in CI): extraction into the data directory, training through
//! `flow_from_directory`, the report; and `--classes`.

mod common;
#[path = "../../crates/cnn-onnx/tests/common/ort.rs"]
mod ort;

use xtask::exercise::run as cifar_report;
use xtask::exercise::{Common, cifar};

use common::cifar_archive as archive;

/// An airbench run: its recipe, both TTA levels, the frozen whitening layer, the Dirac start.
fn check_airbench_run(r: &cifar_report::RunReport, out: &std::path::Path) {
    assert_eq!(r.model, "airbench-cifar");
    assert!(r.test_accuracy_mirrored.is_some() && r.test_accuracy_translated.is_some());
    assert!(r.optimizer.contains("nesterov") && r.optimizer.contains("weight_decay"));
    assert!(r.optimizer.contains("lookahead"), "{}", r.optimizer);
    let saved = cnn_nn::load_model(&out.join(&r.files.model)).unwrap();
    // The whitening layer stayed as computed (frozen): its kernel's halves are opposite.
    let (_, kernel) = saved
        .model
        .named_weights()
        .find(|(n, _)| *n == "whiten/kernel")
        .unwrap();
    assert_eq!(kernel.dims(), [2, 2, 3, 24]);
    for row in kernel.data().chunks(24) {
        for f in 0..12 {
            assert_eq!(row[f], -row[12 + f]);
        }
    }
    assert!(
        kernel.data().iter().any(|v| v.abs() > 1.0),
        "scaled by 1/√λ"
    );
    // The 3x3 convolutions started as partial identities; training moved them.
    let (_, conv) = saved
        .model
        .named_weights()
        .find(|(n, _)| *n == "conv2d_1/kernel")
        .unwrap();
    assert_eq!(conv.dims(), [3, 3, 64, 64]);
    let centre = conv.data()[4 * 64 * 64];
    assert!(
        centre != 1.0 && centre.abs() > 0.1,
        "filter 0, channel 0: {centre}"
    );
}

#[test]
fn quick_run_from_the_jpeg_archive_with_a_class_subset() {
    let Some(tgz) = archive() else { return };
    let dir = tempfile::tempdir().unwrap();
    let c = Common {
        quick: true,
        quiet: true,
        data_dir: Some(dir.path().join("data")),
        ..Common::new(dir.path().join("out"))
    };
    let (report, out) = cifar::run(&c, Some(tgz), Some("ship,cat,airplane"), None).unwrap();
    // Extracted once, atomically, into the data directory.
    assert!(dir.path().join("data/cifar10-jpg/train/cat").is_dir());
    assert_eq!(report.class_names, ["ship", "cat", "airplane"]);
    assert_eq!(report.runs.len(), 2);
    for r in &report.runs {
        // Ten quick epochs with batch-norm momentum 0.9 learn something; a model that predicts
        // one class (what momentum 0.99 gives after 50 steps) scores 1/3, chance.
        assert_eq!(r.epochs, 10);
        assert!(r.test_accuracy > 0.5, "{}: {}", r.label, r.test_accuracy);
        let mirrored = r.test_accuracy_mirrored.unwrap();
        assert!(mirrored > 0.5, "{}: mirror TTA {mirrored}", r.label);
        // 100 training images per class, 30 test images per class.
        assert_eq!(r.train_samples, 300);
        assert_eq!(r.confusion.counts.len(), 3);
        assert_eq!(r.confusion.counts.iter().flatten().sum::<u64>(), 90);
        assert!(out.join(&r.files.confusion).is_file());
    }
    // The trained models go out as ONNX and ONNX Runtime gives their predictions.
    ort::check_saved(report.runs.iter().map(|r| out.join(&r.files.model)));
    check_airbench_run(&report.runs[1], &out);
    assert!(
        report.runs[1]
            .augmentation
            .as_deref()
            .unwrap()
            .contains("flips")
    );
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("CIFAR-10 (3 classes)"), "{md}");
    assert!(
        md.contains("--quick --images ") && md.contains(" --classes ship,cat,airplane`"),
        "the command line reproduces the run: {md}"
    );
    assert!(md.contains("Harder or easier than Fashion-MNIST?"));
    assert!(md.contains("Did augmentation help?"));
    assert!(md.contains("mirror + translate TTA"), "{md}");
    assert!(md.contains("How was the recipe chosen?"), "{md}");
    // No machine paths: the data is named, not its temporary directory.
    let tmp = dir.path().to_str().unwrap();
    assert!(!md.contains(tmp), "the report names {tmp}: {md}");
    assert!(md.contains("class folders in cifar10-jpg"), "{md}");
    // One model (the cheapest): the report answers what it can.
    let (report, out) = cifar::run(&c, Some(tgz), Some("ship,cat"), Some("cifar-cnn")).unwrap();
    assert_eq!(report.runs.len(), 1);
    assert_eq!(report.runs[0].label, "cifar-cnn");
    assert!(
        report.runs[0].test_accuracy > 0.5,
        "{}",
        report.runs[0].test_accuracy
    );
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(!md.contains("Did augmentation help?"), "{md}");
    assert!(md.contains("Did it reach the goal?"));
}

#[test]
fn models_are_picked_by_label() {
    assert_eq!(cifar::parse_models(None).unwrap(), ["plain", "augmented"]);
    assert_eq!(
        cifar::parse_models(Some("augmented, plain,augmented")).unwrap(),
        ["augmented", "plain"]
    );
    assert!(cifar::parse_models(Some("resnet")).is_err());
    assert!(cifar::parse_models(Some(" , ")).is_err());
}

#[test]
fn unknown_or_too_few_classes_are_refused() {
    assert!(cifar::parse_classes(Some("ship,unicorn")).is_err());
    assert!(cifar::parse_classes(Some("ship")).is_err());
    assert_eq!(cifar::parse_classes(None).unwrap().len(), 10);
    assert_eq!(
        cifar::parse_classes(Some(" cat , dog,cat")).unwrap(),
        ["cat", "dog"]
    );
}

#[test]
fn the_augmented_model_has_lighter_dropout() {
    let spec = cnn_nn::zoo("cifar-cnn", None, Some(10)).unwrap();
    let rates = |s: &cnn_nn::ModelSpec| -> Vec<(usize, f32)> {
        s.layers
            .iter()
            .enumerate()
            .filter_map(|(i, l)| match &l.config {
                cnn_nn::LayerConfig::Dropout(d) => Some((i, d.rate)),
                _ => None,
            })
            .collect()
    };
    let light = cifar::light_dropout(spec.clone());
    let (full, lighter) = (rates(&spec), rates(&light));
    assert_eq!(full.len(), 4);
    // The same layers at the same places; the groups' dropout and the head's replaced.
    let g = cifar::AUGMENTED_GROUP_DROPOUT;
    let at: Vec<usize> = full.iter().map(|r| r.0).collect();
    assert_eq!(
        lighter,
        [
            (at[0], g),
            (at[1], g),
            (at[2], g),
            (at[3], cifar::AUGMENTED_HEAD_DROPOUT)
        ]
    );
    assert_eq!(
        at[3],
        spec.layers.len() - 2,
        "the head's dropout precedes the output"
    );
    assert_eq!(light.layers.len(), spec.layers.len());
}

#[test]
fn quick_runs_use_faster_batch_norm_statistics() {
    let spec = cnn_nn::zoo("cifar-cnn", None, Some(10)).unwrap();
    let momenta = |s: &cnn_nn::ModelSpec| -> Vec<f32> {
        s.layers
            .iter()
            .filter_map(|l| match &l.config {
                cnn_nn::LayerConfig::BatchNormalization(bn) => Some(bn.momentum),
                _ => None,
            })
            .collect()
    };
    assert_eq!(momenta(&spec), [0.99; 7]);
    let quick = cifar::with_bn_momentum(spec.clone(), cifar::QUICK_BN_MOMENTUM);
    assert_eq!(momenta(&quick), [0.9; 7]);
    assert_eq!(quick.layers.len(), spec.layers.len());
    assert_eq!(
        serde_json::to_string(&cifar::with_bn_momentum(quick, 0.99)).unwrap(),
        serde_json::to_string(&spec).unwrap(),
        "only the momentum changes"
    );
}

#[test]
fn quick_residual_network_learns_three_classes() {
    let Some(tgz) = archive() else { return };
    let dir = tempfile::tempdir().unwrap();
    let c = Common {
        quick: true,
        quiet: true,
        data_dir: Some(dir.path().join("data")),
        ..Common::new(dir.path().join("out"))
    };
    let (report, _) =
        cifar::run(&c, Some(tgz), Some("ship,cat,airplane"), Some("residual")).unwrap();
    assert_eq!(report.runs.len(), 1);
    let r = &report.runs[0];
    assert_eq!(r.params, 273_987, "ResNet-20 with a 3-class head");
    // Chance is 1/3; a network whose shortcuts or merges were broken stays near it.
    assert!(r.test_accuracy > 0.5, "ResNet-20: {}", r.test_accuracy);
    assert!(
        report
            .answers
            .iter()
            .any(|(q, _)| q == "What do residual shortcuts give?")
    );
}
