//! `cargo xtask exercise digits --quick` end to end on generated images, and the image
//! folder's labelling rules.

#[path = "../../crates/cnn-onnx/tests/common/ort.rs"]
mod ort;

use xtask::exercise::{Common, digits, handwriting};

#[test]
fn quick_run_trains_three_models_and_tests_them_on_the_images() {
    let dir = tempfile::tempdir().unwrap();
    let imgs = dir.path().join("imgs");
    assert_eq!(handwriting::make_images(&imgs, 2, 5).unwrap(), 20);
    let out = dir.path().join("out");
    let tb = dir.path().join("tb");
    let c = Common {
        quick: true,
        quiet: true,
        tensorboard: Some(tb.clone()),
        ..Common::new(&out)
    };
    let (report, out) = digits::run(&c, Some(&imgs)).unwrap();
    // TensorBoard logs per model: the epoch's loss as the report has it, validation images.
    for r in &report.runs {
        let events = |run: &str| {
            let d = tb.join(&r.label).join(run);
            let files: Vec<_> = std::fs::read_dir(&d)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            assert_eq!(files.len(), 1, "{}", d.display());
            cnn_tensorboard::read_events(&std::fs::read(&files[0]).unwrap()).unwrap()
        };
        let tags = |run: &str| -> Vec<String> {
            events(run)
                .iter()
                .filter_map(|e| match &e.what {
                    Some(cnn_tensorboard::proto::tensorboard::event::What::Summary(s)) => {
                        Some(s.value[0].tag.clone())
                    }
                    _ => None,
                })
                .collect()
        };
        let train = tags("train");
        assert!(train.contains(&"epoch_loss".to_string()), "{train:?}");
        assert!(train.contains(&"batch_loss".to_string()), "{train:?}");
        let val = tags("validation");
        assert!(val.contains(&"confusion_matrix".to_string()), "{val:?}");
    }
    let labels: Vec<&str> = report.runs.iter().map(|r| r.label.as_str()).collect();
    assert_eq!(labels, ["plain", "affine", "affine+strokes"]);
    for r in &report.runs {
        // 1,800 real MNIST digits, one epoch: well above chance on MNIST's own test digits.
        assert!(r.test_accuracy > 0.5, "{}: {}", r.label, r.test_accuracy);
        let sheet = out.join(format!("{}-misclassified.png", r.label));
        assert!(image::open(&sheet).is_ok(), "{}", sheet.display());
    }
    // The trained models go out as ONNX and ONNX Runtime gives their predictions.
    ort::check_saved(report.runs.iter().map(|r| out.join(&r.files.model)));
    assert!(report.runs[0].augmentation.is_none());
    assert!(
        report.runs[2]
            .augmentation
            .as_deref()
            .unwrap()
            .contains("elastic")
    );
    let prepared = image::open(out.join("photos-prepared.png")).unwrap();
    assert!(prepared.width() > 12 * 56);
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("Did augmentation help?"));
    assert!(md.contains("| pen | images |"), "groups by pen");
    assert!(md.contains("/20) |"), "accuracy on the 20 images: {md}");
    // The images are named without the machine's path to them.
    let tmp = dir.path().to_str().unwrap();
    assert!(!md.contains(tmp), "the report names {tmp}: {md}");
    assert!(md.contains("20 images from `imgs`"), "{md}");
}

#[test]
fn labels_come_from_labels_csv_or_the_leading_digit() {
    let dir = tempfile::tempdir().unwrap();
    handwriting::make_images(dir.path(), 1, 1).unwrap();
    // An unlabelled file and a non-image are ignored.
    std::fs::copy(
        dir.path().join("3_ballpoint_00.png"),
        dir.path().join("mystery.png"),
    )
    .unwrap();
    std::fs::write(dir.path().join("notes.txt"), "hi").unwrap();
    let photos = digits::load_photos(dir.path()).unwrap();
    assert_eq!(photos.len(), 10);
    assert!(photos.iter().all(|p| p.pixels.len() == 784));
    assert_eq!(photos[3].label, 3);
    assert_eq!(photos[3].group, "ballpoint");
    // With labels.csv, only the files it lists count, with its labels.
    std::fs::write(
        dir.path().join("labels.csv"),
        "file,label\nmystery.png,8\n3_ballpoint_00.png,5\n",
    )
    .unwrap();
    let photos = digits::load_photos(dir.path()).unwrap();
    let got: Vec<(String, usize)> = photos
        .iter()
        .map(|p| {
            (
                p.path.file_name().unwrap().to_string_lossy().into_owned(),
                p.label,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("3_ballpoint_00.png".to_string(), 5),
            ("mystery.png".to_string(), 8)
        ]
    );
    std::fs::write(dir.path().join("labels.csv"), "mystery.png,12\n").unwrap();
    let e = digits::load_photos(dir.path()).err().unwrap().to_string();
    assert!(e.contains("labels.csv:1") && e.contains("not 0-9"), "{e}");
    let empty = tempfile::tempdir().unwrap();
    assert!(digits::load_photos(empty.path()).is_err());
}
