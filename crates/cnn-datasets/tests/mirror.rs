//! Dataset-level fetching from a mirror on a loopback server, with the real files.

mod common;

use std::path::Path;

use cnn_datasets::*;
use common::{Server, require};

#[test]
fn fashion_mnist_downloads_from_a_mirror_and_verifies() {
    let sys = Path::new(FASHION_SYSTEM_DIR);
    if !require(sys) {
        return;
    }
    let s = Server::start();
    for f in catalog::FASHION_MNIST.files {
        s.route(
            &format!("/fm/{}", f.name),
            std::fs::read(sys.join(f.name)).unwrap(),
            vec![common::Fault::CutAfter(4096)],
        );
    }
    let data = tempfile::tempdir().unwrap();
    let opts = LoadOptions {
        data_dir: Some(data.path().into()),
        mirror: Some(s.url("/fm/")),
        ..Default::default()
    };
    let (ds, reports) = fashion_mnist(&opts).unwrap();
    assert_eq!((ds.train.len(), ds.test.unwrap().len()), (60_000, 10_000));
    for r in &reports {
        assert!(
            matches!(&r.origin, Origin::Download(u) if u.starts_with(&s.url("/fm/"))),
            "{r}"
        );
        // Debian's copies are recompressed: the payload digest is what matches.
        assert!(
            matches!(r.verification, Verification::PayloadSha256(_)),
            "{r}"
        );
        assert!(r.path.starts_with(data.path().join("fashion-mnist")));
        assert!(r.to_string().contains("downloaded from"), "{r}");
    }
    // Every file was cut once and resumed with a Range request.
    assert_eq!(
        s.requests()
            .iter()
            .filter(|l| !l.ends_with("range=-"))
            .count(),
        4,
        "{:?}",
        s.requests()
    );
    // Now cached: offline works and reports the cache.
    let (_, again) = fashion_mnist(&LoadOptions {
        data_dir: Some(data.path().into()),
        offline: true,
        no_system: true,
        ..Default::default()
    })
    .unwrap();
    assert!(again.iter().all(|r| r.origin == Origin::Cache));
}

#[test]
fn files_that_are_not_the_official_ones_are_refused() {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/mnist-sample");
    if !require(&sample) {
        return;
    }
    let s = Server::start();
    // The 10,000-digit sample is real MNIST data but not the official files.
    s.route(
        "/m/train-images-idx3-ubyte.gz",
        std::fs::read(sample.join("images-idx3-ubyte.gz")).unwrap(),
        vec![],
    );
    let data = tempfile::tempdir().unwrap();
    let opts = LoadOptions {
        data_dir: Some(data.path().into()),
        mirror: Some(s.url("/m")),
        ..Default::default()
    };
    let err = mnist(&opts).unwrap_err();
    assert!(matches!(err, DatasetError::Checksum { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("MD5 f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        "{err}"
    );
    assert!(
        !data
            .path()
            .join("mnist/train-images-idx3-ubyte.gz")
            .exists()
    );
}

#[test]
fn no_network_and_no_copy_names_every_file() {
    let s = Server::start(); // serves nothing: every file is a 404
    let data = tempfile::tempdir().unwrap();
    let opts = LoadOptions {
        data_dir: Some(data.path().into()),
        mirror: Some(s.url("/none")),
        ..Default::default()
    };
    let err = mnist(&opts).unwrap_err().to_string();
    for f in catalog::MNIST.files {
        assert!(err.contains(f.name), "{err}");
    }
    assert!(
        err.contains("404") && err.contains(&data.path().join("mnist").display().to_string()),
        "{err}"
    );
}

/// `CNN_DATASET_MIRROR` stands in for `--mirror` (run as a child process so the variable does
/// not leak into other tests).
#[test]
fn the_mirror_can_come_from_the_environment() {
    if std::env::var("CNN_MIRROR_CHILD").is_ok() {
        let data = std::env::var("CNN_MIRROR_DATA").unwrap();
        let err = mnist(&LoadOptions {
            data_dir: Some(data.into()),
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains(&std::env::var(MIRROR_ENV).unwrap()), "{err}");
        return;
    }
    let s = Server::start();
    let data = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "the_mirror_can_come_from_the_environment",
            "--exact",
            "--nocapture",
        ])
        .env("CNN_MIRROR_CHILD", "1")
        .env("CNN_MIRROR_DATA", data.path())
        .env(MIRROR_ENV, s.url("/env-mirror"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        s.requests()
            .iter()
            .any(|r| r.contains("/env-mirror/train-images-idx3-ubyte.gz")),
        "{:?}",
        s.requests()
    );
}
