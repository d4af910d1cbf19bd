//! `cargo xtask bench --quick --profile` runs end to end and reports sane figures (speed itself
//! is never asserted: the machine is shared).

use xtask::bench::{BenchArgs, run};

/// A quick run's options for zoo model `model`, writing into `out`.
fn quick(model: &str, steps: usize, out: &std::path::Path) -> BenchArgs {
    BenchArgs {
        steps,
        warmup: 1,
        threads: 2,
        profile: true,
        peers: false,
        python: None,
        peers_dir: None,
        seed: 0,
        out: out.to_path_buf(),
        quick: true,
        train_only: false,
        repeat: 1,
        model: model.into(),
        batch_size: None,
        zoo: false,
        zoo_only: Vec::new(),
        zoo_model: None,
    }
}

#[test]
fn the_zoo_table_measures_each_model() {
    use xtask::bench::zoo;
    let rows: Vec<zoo::ZooRow> = ["lenet5", "resnet20-cifar"]
        .iter()
        .map(|m| zoo::measure(m, true).unwrap())
        .collect();
    for r in &rows {
        assert!(
            r.train_per_second > 0.0 && r.inference_per_second > 0.0,
            "{r:?}"
        );
        assert!(r.latency_ms > 0.0 && r.peak_rss_mib > 1.0, "{r:?}");
        assert!(r.macs > 0 && r.train_gflops > 0.0, "{r:?}");
    }
    assert_eq!(rows[0].params, 61_706, "LeNet-5 on 32x32x1");
    let md = zoo::markdown(&rows, 100.0, 2, "a CPU");
    assert!(md.contains("| lenet5 | 32x32x1 | 61,706 | 128 |"), "{md}");
    assert!(zoo::measure("not-a-model", true).is_err());
}

#[test]
fn quick_bench_reports_every_figure() {
    let out = tempfile::tempdir().unwrap();
    let args = quick("mnist-cnn", 2, out.path());
    let b = run(&args).unwrap();
    assert!(
        b.gemm_gflops.0 > 1.0 && b.gemm_gflops.1 > 1.0,
        "{:?}",
        b.gemm_gflops
    );
    assert!(b.train_per_second > 1.0 && b.train_per_second_1t > 1.0);
    assert!(b.inference_per_second.0 > 1.0 && b.inference_per_second.1 > 1.0);
    assert!(b.latency_batch1_ms > 0.0);
    let names: Vec<&str> = b.profile.iter().map(|p| p.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "conv2d",
            "conv2d_1",
            "max_pooling2d",
            "flatten",
            "dense",
            "dense_1",
            "loss",
            "optimizer (Adam)",
            "total"
        ]
    );
    // The layers' times add up to no more than the step.
    let parts: f64 = b.profile[..8].iter().map(|p| p.1 + p.2).sum();
    let total = b.profile[8].1;
    assert!(parts <= total * 1.001, "{parts} > {total}");
    let md = std::fs::read_to_string(out.path().join("bench.md")).unwrap();
    assert!(md.contains("training, batch 128"), "{md}");
    assert!(md.contains("| whole step | "), "{md}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("bench.json")).unwrap())
            .unwrap();
    assert!(json["train_per_second"].as_f64().unwrap() > 1.0);
}

#[test]
fn another_zoo_model_gets_its_profile_only() {
    let out = tempfile::tempdir().unwrap();
    let args = quick("cifar-cnn", 1, out.path());
    let b = run(&args).unwrap();
    assert_eq!(b.train_per_second, 0.0, "only the profile runs");
    let names: Vec<&str> = b.profile.iter().map(|p| p.0.as_str()).collect();
    assert_eq!(names.len(), 23 + 3, "{names:?}");
    assert_eq!(names[1], "batch_normalization");
    let md = std::fs::read_to_string(out.path().join("bench.md")).unwrap();
    assert!(md.starts_with("# cargo xtask bench: cifar-cnn"), "{md}");
    assert!(!md.contains("training, batch 128"), "{md}");
    assert!(md.contains("| conv2d_5 | "), "{md}");
    // An unknown model is an error naming it, not a panic.
    let bad = BenchArgs {
        model: "resnet-9000".into(),
        ..args
    };
    let e = run(&bad).unwrap_err().to_string();
    assert!(e.contains("resnet-9000"), "{e}");
}

#[test]
fn graph_models_profile_layer_by_layer_at_their_batch() {
    let out = tempfile::tempdir().unwrap();
    let args = BenchArgs {
        batch_size: Some(4),
        ..quick("resnet20-cifar", 1, out.path())
    };
    let b = run(&args).unwrap();
    let names: Vec<&str> = b.profile.iter().map(|p| p.0.as_str()).collect();
    // 71 layers, then loss, optimizer and the whole step.
    assert_eq!(names.len(), 71 + 3, "{names:?}");
    assert!(names.contains(&"add_8"), "{names:?}");
    let md = std::fs::read_to_string(out.path().join("bench.md")).unwrap();
    assert!(md.contains("(batch 4, ms per step)"), "{md}");
    assert!(md.contains("samples/s at batch 4"), "{md}");
    // The big applications default to batch 8.
    let big = BenchArgs {
        batch_size: None,
        ..quick("mobilenetv2", 1, out.path())
    };
    assert_eq!(xtask::bench::batch_size(&big).unwrap(), 8);
}

#[test]
fn zoo_peers_build_the_same_architectures() {
    use xtask::bench::{zoo, zoo_peers::PeerSetup};
    // PyTorch is a peer for measurements, not a CI dependency: without a Python that has torch
    // and onnxruntime ($CNN_PEER_PYTHON) there is nothing to compare with.
    let setup = match PeerSetup::new(None, 2, true) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("skipped: {e}");
            return;
        }
    };
    // Every model of the table: `measure` fails unless PyTorch's model has this engine's
    // parameter count and output shape, and ONNX Runtime runs this engine's export.
    for e in zoo::ZOO_TABLE {
        let (torch, ort) = setup.measure(e).unwrap();
        assert!(
            torch.train_per_second.is_some_and(|t| t > 0.0) && torch.inference_per_second > 0.0,
            "{}: {torch:?}",
            e.name
        );
        assert!(
            ort.inference_per_second > 0.0 && ort.latency_ms > 0.0,
            "{}: {ort:?}",
            e.name
        );
    }
}
