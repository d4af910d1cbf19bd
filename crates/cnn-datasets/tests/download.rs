//! The downloader against a loopback server: completion, Range resume after a cut, retry after
//! a 500, 404 and fallback to the next URL, a wrong checksum, a stalled server, concurrent
//! fetchers sharing a directory.

mod common;

use std::time::{Duration, Instant};

use cnn_datasets::*;
use common::{Fault, Server};

fn payload(n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| (i.wrapping_mul(2654435761) >> 7) as u8)
        .collect()
}

fn file(server: &Server, path: &str, body: &[u8]) -> RemoteFile {
    RemoteFile {
        name: "data.bin".into(),
        urls: vec![server.url(path)],
        pins: Pins {
            archive: vec![Digest::Sha256(sha256_hex(body))],
            payload_sha256: None,
        },
    }
}

fn quick() -> Downloader {
    let mut d = Downloader::new(Duration::from_secs(2), Duration::from_millis(800)).unwrap();
    d.backoff = Duration::from_millis(20);
    d.progress = false;
    d
}

#[test]
fn completes_verifies_and_caches() {
    let s = Server::start();
    let body = payload(300_000);
    s.route("/d", body.clone(), vec![]);
    let dir = tempfile::tempdir().unwrap();
    let (path, v, url) = quick().fetch(&file(&s, "/d", &body), dir.path()).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), body);
    assert!(matches!(v, Verification::ArchiveSha256(_)));
    assert_eq!(url, Some(s.url("/d")));
    // Second time: verified from the directory, no request.
    let (_, _, url) = quick().fetch(&file(&s, "/d", &body), dir.path()).unwrap();
    assert_eq!(url, None);
    assert_eq!(s.requests().len(), 1);
    assert!(!dir.path().join("data.bin.part").exists());
}

#[test]
fn a_cut_connection_resumes_with_range() {
    let s = Server::start();
    let body = payload(500_000);
    s.route("/d", body.clone(), vec![Fault::CutAfter(123_456)]);
    let dir = tempfile::tempdir().unwrap();
    let (path, _, _) = quick().fetch(&file(&s, "/d", &body), dir.path()).unwrap();
    assert_eq!(std::fs::read(path).unwrap(), body);
    let log = s.requests();
    assert_eq!(
        log,
        vec![
            "GET /d range=-".to_string(),
            "GET /d range=123456".to_string()
        ],
        "{log:?}"
    );
}

#[test]
fn a_server_ignoring_range_restarts_cleanly() {
    let s = Server::start();
    let body = payload(200_000);
    s.route(
        "/d",
        body.clone(),
        vec![Fault::CutAfter(50_000), Fault::IgnoreRange],
    );
    let dir = tempfile::tempdir().unwrap();
    let (path, _, _) = quick().fetch(&file(&s, "/d", &body), dir.path()).unwrap();
    assert_eq!(std::fs::read(path).unwrap(), body);
}

#[test]
fn a_500_is_retried() {
    let s = Server::start();
    let body = payload(10_000);
    s.route(
        "/d",
        body.clone(),
        vec![Fault::Status(500), Fault::Status(503)],
    );
    let dir = tempfile::tempdir().unwrap();
    let (path, _, _) = quick().fetch(&file(&s, "/d", &body), dir.path()).unwrap();
    assert_eq!(std::fs::read(path).unwrap(), body);
    assert_eq!(s.requests().len(), 3);
}

#[test]
fn a_404_fails_clearly_and_the_next_mirror_is_tried() {
    let s = Server::start();
    let body = payload(10_000);
    let dir = tempfile::tempdir().unwrap();
    let err = quick()
        .fetch(&file(&s, "/missing", &body), dir.path())
        .unwrap_err()
        .to_string();
    assert!(err.contains("data.bin") && err.contains("404"), "{err}");
    assert!(!dir.path().join("data.bin").exists());
    assert_eq!(s.requests().len(), 1, "a 404 must not be retried");
    s.route("/good", body.clone(), vec![]);
    let mut f = file(&s, "/missing", &body);
    f.urls.push(s.url("/good"));
    let (_, _, url) = quick().fetch(&f, dir.path()).unwrap();
    assert_eq!(url, Some(s.url("/good")));
}

#[test]
fn a_wrong_checksum_is_removed_and_reported() {
    let s = Server::start();
    let body = payload(10_000);
    let mut tampered = body.clone();
    tampered[5000] ^= 1;
    s.route("/d", tampered, vec![]);
    let dir = tempfile::tempdir().unwrap();
    let err = quick()
        .fetch(&file(&s, "/d", &body), dir.path())
        .unwrap_err();
    assert!(matches!(err, DatasetError::Checksum { .. }), "{err}");
    assert!(err.to_string().contains("SHA-256"), "{err}");
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| !n.to_string_lossy().ends_with(".lock"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn a_stalled_server_times_out() {
    let s = Server::start();
    let body = payload(10_000);
    s.route(
        "/d",
        body.clone(),
        vec![
            Fault::Stall(Duration::from_secs(10)),
            Fault::Stall(Duration::from_secs(10)),
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let mut d = quick();
    d.retries = 1;
    let t0 = Instant::now();
    let err = d
        .fetch(&file(&s, "/d", &body), dir.path())
        .unwrap_err()
        .to_string();
    assert!(
        t0.elapsed() < Duration::from_secs(6),
        "took {:?}",
        t0.elapsed()
    );
    assert!(err.contains("timed out") || err.contains("time"), "{err}");
    assert!(!dir.path().join("data.bin").exists());
}

#[test]
fn concurrent_fetchers_share_one_download() {
    let s = Server::start();
    let body = payload(2_000_000);
    s.route("/d", body.clone(), vec![]);
    let dir = tempfile::tempdir().unwrap();
    let f = file(&s, "/d", &body);
    let results: Vec<_> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..3)
            .map(|_| sc.spawn(|| quick().fetch(&f, dir.path())))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for r in &results {
        let (p, _, _) = r.as_ref().unwrap();
        assert_eq!(std::fs::read(p).unwrap(), body);
    }
    assert_eq!(s.requests().len(), 1, "{:?}", s.requests());
}

#[test]
fn a_size_cap_refuses_huge_files() {
    let s = Server::start();
    let body = payload(100_000);
    s.route("/d", body.clone(), vec![]);
    let dir = tempfile::tempdir().unwrap();
    let mut d = quick();
    d.max_bytes = 10_000;
    let err = d
        .fetch(&file(&s, "/d", &body), dir.path())
        .unwrap_err()
        .to_string();
    assert!(err.contains("limit"), "{err}");
}
