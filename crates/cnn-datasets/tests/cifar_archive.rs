//! CIFAR binary parsing and archive safety.

use std::io::Write;
use std::path::Path;

use cnn_datasets::archive::{Limits, extract, read_members};
use cnn_datasets::*;
use proptest::prelude::*;

fn set(n: usize, seed: u8) -> ImageSet {
    ImageSet {
        images: (0..n * 3072)
            .map(|i| (i as u8).wrapping_mul(seed | 1).wrapping_add(seed))
            .collect(),
        labels: (0..n).map(|i| ((i + seed as usize) % 10) as u8).collect(),
        height: 32,
        width: 32,
        channels: 3,
    }
}

/// A tar.gz with the given (path, bytes) members; raw header names allow hostile paths.
fn tar_gz(path: &Path, members: &[(&str, &[u8])]) {
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(path).unwrap(),
        flate2::Compression::fast(),
    );
    let mut b = tar::Builder::new(gz);
    for (name, data) in members {
        let mut h = tar::Header::new_gnu();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        b.append(&h, *data).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap().flush().unwrap();
}

fn fake_cifar10(path: &Path) -> (Vec<ImageSet>, ImageSet) {
    let batches: Vec<ImageSet> = (1..=5).map(|i| set(3, i)).collect();
    let test = set(2, 9);
    let bytes: Vec<Vec<u8>> = batches.iter().map(write_cifar_records).collect();
    let names: Vec<String> = (1..=5)
        .map(|i| format!("cifar-10-batches-bin/data_batch_{i}.bin"))
        .collect();
    let mut members: Vec<(&str, &[u8])> = names
        .iter()
        .map(String::as_str)
        .zip(bytes.iter().map(Vec::as_slice))
        .collect();
    let t = write_cifar_records(&test);
    let meta = CIFAR10_CLASSES.join("\n") + "\n";
    members.push(("cifar-10-batches-bin/test_batch.bin", &t));
    members.push(("cifar-10-batches-bin/batches.meta.txt", meta.as_bytes()));
    tar_gz(path, &members);
    (batches, test)
}

proptest! {
    #[test]
    fn records_round_trip(n in 1usize..6, seed in any::<u8>()) {
        let s = set(n, seed);
        let back = parse_cifar_records(&write_cifar_records(&s), 1, 0, 10, "t").unwrap();
        prop_assert_eq!(back, s);
    }

    #[test]
    fn truncated_records_are_errors(n in 1usize..4, cut in 1usize..3073) {
        let b = write_cifar_records(&set(n, 3));
        let e = parse_cifar_records(&b[..b.len() - cut], 1, 0, 10, "x.bin").unwrap_err().to_string();
        prop_assert!(e.contains("x.bin (offset"), "{}", e);
    }

    /// A truncated archive is an error, or (when the cut only removes tar padding or the gzip
    /// trailer) exactly the complete data: never a partial dataset presented as whole.
    #[test]
    fn truncated_archives_never_give_partial_data(cut in any::<prop::sample::Index>()) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.tar.gz");
        fake_cifar10(&p);
        let full = cifar10_from(&p).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        let at = cut.index(bytes.len() - 1);
        std::fs::write(&p, &bytes[..at]).unwrap();
        if let Ok(d) = cifar10_from(&p) {
            prop_assert_eq!(d, full);
        }
    }
}

#[test]
fn pixels_go_from_planes_to_nhwc() {
    let mut rec = vec![7u8];
    rec.extend(std::iter::repeat_n(10u8, 1024));
    rec.extend(std::iter::repeat_n(20u8, 1024));
    rec.extend(std::iter::repeat_n(30u8, 1024));
    rec[1 + 33] = 99; // red of pixel (row 1, col 1)
    let s = parse_cifar_records(&rec, 1, 0, 10, "t").unwrap();
    assert_eq!(s.labels, vec![7]);
    assert_eq!(&s.images[..3], &[10, 20, 30]);
    assert_eq!(&s.images[33 * 3..33 * 3 + 3], &[99, 20, 30]);
    let e = parse_cifar_records(
        &{
            let mut r = rec.clone();
            r[0] = 12;
            r
        },
        1,
        0,
        10,
        "t",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("record 0") && e.contains("label 12"), "{e}");
}

#[test]
fn cifar10_archive_and_extracted_folder() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("cifar-10-binary.tar.gz");
    let (batches, test) = fake_cifar10(&p);
    let d = cifar10_from(&p).unwrap();
    assert_eq!(d.train.len(), 15);
    assert_eq!(d.train.images[..3072 * 3], batches[0].images[..]);
    assert_eq!(d.test.as_ref().unwrap(), &test);
    assert_eq!(d.class_names[3], "cat");
    let out = dir.path().join("x");
    extract(&p, &out, Limits::default()).unwrap();
    assert_eq!(cifar10_from(&out).unwrap(), d);
}

#[test]
fn missing_members_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.tar.gz");
    tar_gz(
        &p,
        &[(
            "cifar-10-batches-bin/data_batch_1.bin",
            &write_cifar_records(&set(1, 1)),
        )],
    );
    let e = cifar10_from(&p).unwrap_err().to_string();
    assert!(
        e.contains("missing") && e.contains("data_batch_2.bin") && e.contains("test_batch.bin"),
        "{e}"
    );
}

#[test]
fn hostile_archives_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    for evil in [
        "../escape.txt",
        "a/../../escape.txt",
        "/tmp/cnn-absolute-escape.txt",
    ] {
        let p = dir.path().join("evil.tar.gz");
        tar_gz(&p, &[("ok.txt", b"fine"), (evil, b"pwned")]);
        let e = extract(&p, &out, Limits::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("refusing"), "{evil}: {e}");
        assert!(!dir.path().join("escape.txt").exists());
        assert!(!Path::new("/tmp/cnn-absolute-escape.txt").exists());
        assert!(read_members(&p, &["ok.txt"], Limits::default()).is_err());
    }
    // A symbolic link pointing outside.
    let p = dir.path().join("link.tar.gz");
    {
        let gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&p).unwrap(),
            flate2::Compression::fast(),
        );
        let mut b = tar::Builder::new(gz);
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, "link", "/etc/passwd").unwrap();
        b.into_inner().unwrap().finish().unwrap();
    }
    let e = extract(&p, &out, Limits::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("refusing a link"), "{e}");
    // A bomb: 64 MiB of zeros under a 1 MiB per-entry limit.
    let p = dir.path().join("bomb.tar.gz");
    tar_gz(&p, &[("zeros.bin", &vec![0u8; 64 << 20])]);
    let small = Limits {
        max_entry: 1 << 20,
        ..Limits::default()
    };
    assert!(
        extract(&p, &out, small)
            .unwrap_err()
            .to_string()
            .contains("over the archive limits")
    );
    assert!(read_members(&p, &["zeros.bin"], small).is_err());
    let few = Limits {
        max_entries: 1,
        ..Limits::default()
    };
    let p2 = dir.path().join("many.tar.gz");
    tar_gz(&p2, &[("a", b"1"), ("b", b"2")]);
    assert!(
        extract(&p2, &out, few)
            .unwrap_err()
            .to_string()
            .contains("more than 1 entries")
    );
}
