//! `cargo xtask exercise fashion-mnist --quick` end to end: report, pictures and models are
//! written and consistent, both networks learn, and the same seed gives the same result.

#[path = "../../crates/cnn-onnx/tests/common/ort.rs"]
mod ort;

use xtask::exercise::{Common, fashion};

fn quick(out: &std::path::Path) -> Common {
    Common {
        quick: true,
        quiet: true,
        ..Common::new(out)
    }
}

#[test]
fn quick_run_writes_a_complete_report_and_learns() {
    let dir = tempfile::tempdir().unwrap();
    let (report, out) = fashion::run(&quick(dir.path())).unwrap();
    assert_eq!(out, dir.path());
    assert_eq!(report.runs.len(), 2);
    assert_eq!(report.class_names.len(), 10);
    assert_eq!(report.class_names[9], "Ankle boot");
    // 1,800 training images, one epoch: the dense network is far above chance (10 %) on the
    // test set; the convnet learns too (its running training accuracy), but after 15 steps its
    // batch-norm moving statistics (momentum 0.99, as Keras) are not yet usable for inference.
    assert!(
        report.runs[0].test_accuracy > 0.4,
        "{}",
        report.runs[0].test_accuracy
    );
    assert!(
        report.runs[1].train_accuracy > 0.3,
        "{}",
        report.runs[1].train_accuracy
    );
    // Its test accuracy too must be well above chance (10 %): 44 % in this quick run (seed 42),
    // where a convnet that learnt nothing, or whose statistics were broken, scores about 10 %.
    assert!(
        report.runs[1].test_accuracy > 0.25,
        "{}",
        report.runs[1].test_accuracy
    );
    for r in &report.runs {
        assert!(r.test_accuracy < 0.95, "{}: {}", r.label, r.test_accuracy);
        assert_eq!(r.train_samples, 1800);
        assert_eq!(r.confusion.counts.iter().flatten().sum::<u64>(), 500);
        assert_eq!(r.history.epoch, vec![1]);
        for png in [&r.files.curves, &r.files.confusion] {
            let img = image::open(out.join(png)).unwrap();
            assert!(img.width() > 300 && img.height() > 300, "{png}");
        }
        let saved = cnn_nn::load_model(&out.join(&r.files.model)).unwrap();
        assert_eq!(saved.epoch, 1);
        assert_eq!(
            saved.model.architecture().param_counts().0,
            r.params,
            "{}",
            r.label
        );
    }
    // The trained models go out as ONNX and ONNX Runtime gives their predictions.
    ort::check_saved(report.runs.iter().map(|r| out.join(&r.files.model)));
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("| convnet (`fashion-cnn`) | 391,306 |"), "{md}");
    assert!(md.contains("Can you beat your dense network?"));
    assert!(md.contains("![convnet confusion matrix](convnet-confusion.png)"));
    assert!(md.contains("Quick run"));
    let js: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(js["runs"].as_array().unwrap().len(), 2);
    assert_eq!(js["runs"][1]["model"], "fashion-cnn");
    // No temporary files left behind.
    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn same_seed_same_result_other_seed_other_result() {
    let run = |seed: u64| {
        let dir = tempfile::tempdir().unwrap();
        let c = Common {
            seed,
            ..quick(dir.path())
        };
        let (r, _) = fashion::run(&c).unwrap();
        r.runs
            .iter()
            .map(|r| (r.test_accuracy, r.history.loss.clone()))
            .collect::<Vec<_>>()
    };
    let a = run(7);
    assert_eq!(a, run(7));
    assert_ne!(a, run(8));
}
