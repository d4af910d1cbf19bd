//! `cargo xtask bench --quick --profile` runs end to end and reports sane figures (speed itself
//! is never asserted: the machine is shared).

use xtask::bench::{BenchArgs, run};

#[test]
fn quick_bench_reports_every_figure() {
    let out = tempfile::tempdir().unwrap();
    let args = BenchArgs {
        steps: 2,
        warmup: 1,
        threads: 2,
        profile: true,
        peers: false,
        python: None,
        peers_dir: None,
        seed: 0,
        out: out.path().to_path_buf(),
        quick: true,
        train_only: false,
        repeat: 1,
    };
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
