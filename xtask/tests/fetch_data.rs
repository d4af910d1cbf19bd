//! `cargo xtask fetch-data` reports each file's source and checksum, and fails clearly.

use std::process::Command;

fn xtask(args: &[&str]) -> (bool, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_xtask-tasks"))
        .args(args)
        .output()
        .unwrap();
    (
        o.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

#[test]
fn reports_sources_and_checksums() {
    let data = tempfile::tempdir().unwrap();
    let d = data.path().to_str().unwrap();
    if std::path::Path::new("/usr/share/datasets/fashion-mnist").exists() {
        let (ok, out) = xtask(&["fetch-data", "fashion-mnist", "--data-dir", d, "--offline"]);
        assert!(ok, "{out}");
        assert_eq!(out.matches("system copy").count(), 4, "{out}");
        assert_eq!(
            out.matches("SHA-256 of the payload matches").count(),
            4,
            "{out}"
        );
    } else {
        assert!(
            std::env::var("CI").is_err(),
            "dataset-fashion-mnist is required in CI"
        );
    }
    let (ok, out) = xtask(&["fetch-data", "mnist", "--data-dir", d, "--offline"]);
    assert!(!ok);
    assert!(
        out.contains("train-images-idx3-ubyte.gz")
            && out.contains("offline")
            && out.contains("error: not fetched: mnist"),
        "{out}"
    );
    assert!(!out.contains("Stack backtrace"), "{out}");
    let (ok, out) = xtask(&["fetch-data", "imagenet", "--data-dir", d, "--offline"]);
    assert!(!ok && out.contains("unknown dataset `imagenet`"), "{out}");
}
