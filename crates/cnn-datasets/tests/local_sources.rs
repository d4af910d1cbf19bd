//! Loading real data from local sources: Debian's Fashion-MNIST copy, the shared MNIST sample,
//! and the failure modes (corrupt copy, missing files).
//!
//! The real-data tests need `dataset-fashion-mnist` (installed by `.ci/run`) and the shared
//! data folder beside the repository; they fail under `CI=true` when either is missing and are
//! skipped with a message elsewhere.

mod common;

use std::path::{Path, PathBuf};

use cnn_datasets::*;
use common::require;

fn system_only() -> LoadOptions {
    // An empty data dir, so the system copy is what gets used.
    let dir = std::env::temp_dir().join(format!("cnn-empty-data-{}", std::process::id()));
    LoadOptions {
        data_dir: Some(dir),
        ..Default::default()
    }
}

#[test]
fn fashion_mnist_from_the_debian_copy() {
    if !require(Path::new(FASHION_SYSTEM_DIR)) {
        return;
    }
    let (ds, reports) = fashion_mnist(&system_only()).unwrap();
    assert_eq!(ds.train.len(), 60_000);
    assert_eq!(ds.test.as_ref().unwrap().len(), 10_000);
    assert_eq!(
        (ds.train.height, ds.train.width, ds.train.channels),
        (28, 28, 1)
    );
    assert_eq!(ds.class_names[9], "Ankle boot");
    // Balanced classes: 6,000 per class in train.
    for c in 0..10u8 {
        assert_eq!(ds.train.labels.iter().filter(|&&l| l == c).count(), 6000);
    }
    assert_eq!(reports.len(), 4);
    for r in &reports {
        assert_eq!(r.origin, Origin::System);
        assert!(matches!(r.verification, Verification::PayloadSha256(_)));
        assert!(
            r.to_string().contains("SHA-256 of the payload matches"),
            "{r}"
        );
    }
}

#[test]
fn cache_wins_and_a_corrupt_cached_file_is_refused() {
    if !require(Path::new(FASHION_SYSTEM_DIR)) {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let cache = data.path().join("fashion-mnist");
    std::fs::create_dir_all(&cache).unwrap();
    for f in [
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ] {
        std::fs::copy(Path::new(FASHION_SYSTEM_DIR).join(f), cache.join(f)).unwrap();
    }
    let opts = LoadOptions {
        data_dir: Some(data.path().to_path_buf()),
        ..Default::default()
    };
    let (_, reports) = fashion_mnist(&opts).unwrap();
    assert!(reports.iter().all(|r| r.origin == Origin::Cache));

    // Flip one label byte inside the (uncompressed) payload: the digest must catch it.
    let labels = cache.join("t10k-labels-idx1-ubyte.gz");
    let mut raw = cnn_datasets::idx::read_maybe_gz(&labels, 1 << 30).unwrap();
    raw[100] ^= 1;
    std::fs::write(&labels, raw).unwrap();
    let err = fashion_mnist(&opts).unwrap_err();
    assert!(matches!(err, DatasetError::Checksum { .. }), "{err}");
    assert!(
        err.to_string().contains("t10k-labels-idx1-ubyte.gz"),
        "{err}"
    );
}

#[test]
fn missing_files_are_named_with_where_to_put_them() {
    let data = tempfile::tempdir().unwrap();
    let opts = LoadOptions {
        data_dir: Some(data.path().to_path_buf()),
        no_system: true,
        ..Default::default()
    };
    let err = fashion_mnist(&opts).unwrap_err().to_string();
    for f in [
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ] {
        assert!(err.contains(f), "{err}");
    }
    assert!(
        err.contains(&data.path().join("fashion-mnist").display().to_string()),
        "{err}"
    );
}

fn shared_sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/mnist-sample")
}

#[test]
fn mnist_sample_loads_with_the_same_idx_code() {
    let dir = shared_sample();
    if !require(&dir) {
        return;
    }
    let (set, reports) = idx_pair(
        &dir.join("images-idx3-ubyte.gz"),
        &dir.join("labels-idx1-ubyte.gz"),
        10,
    )
    .unwrap();
    assert_eq!(set.len(), 10_000);
    assert_eq!((set.height, set.width), (28, 28));
    // Every digit is well represented (the sample's counts are near, not exactly, 1,000).
    for c in 0..10u8 {
        let n = set.labels.iter().filter(|&&l| l == c).count();
        assert!((800..=1200).contains(&n), "digit {c}: {n} images");
    }
    assert!(
        reports
            .iter()
            .all(|r| r.verification == Verification::FormatOnly)
    );
    // Ink is 255 on a 0 background.
    assert_eq!(set.images.iter().copied().max(), Some(255));
    assert_eq!(set.images[0], 0);
}

#[test]
fn mismatched_counts_are_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("i.idx");
    let lab = dir.path().join("l.idx");
    std::fs::write(&img, idx::write_idx(&[3, 2, 2], &[0; 12])).unwrap();
    std::fs::write(&lab, idx::write_idx(&[2], &[0, 1])).unwrap();
    let err = idx_pair(&img, &lab, 10).unwrap_err().to_string();
    assert!(err.contains("holds 3 images"), "{err}");
    std::fs::write(&lab, idx::write_idx(&[3], &[0, 1, 12])).unwrap();
    let err = idx_pair(&img, &lab, 10).unwrap_err().to_string();
    assert!(err.contains("class 12 is out of range"), "{err}");
}
