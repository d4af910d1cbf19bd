//! Image folders: Keras's discovery order, skipping bad files, size guards, zip archives, and
//! the real CIFAR-10 JPEG folders.

use std::io::Write;
use std::path::{Path, PathBuf};

use cnn_datasets::archive::{Limits, extract};
use cnn_datasets::*;

fn png(path: &Path, w: u32, h: u32, v: u8) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image::RgbImage::from_pixel(w, h, image::Rgb([v, v / 2, 255 - v]))
        .save(path)
        .unwrap();
}

fn tree(root: &Path) {
    png(&root.join("2/b.png"), 4, 3, 10);
    png(&root.join("2/a.PNG"), 4, 3, 20);
    png(&root.join("10/x.png"), 4, 3, 30);
    png(&root.join("10/sub/y.png"), 4, 3, 40);
    png(&root.join("10/a-sub/z.png"), 4, 3, 50);
    png(&root.join("a/only.png"), 4, 3, 60);
    std::fs::write(root.join("a/notes.txt"), "ignored").unwrap();
    std::fs::write(root.join("stray.png"), "not in a class folder").unwrap();
}

#[test]
fn discovery_follows_keras() {
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path());
    let idx = scan_folder(dir.path(), &FolderOptions::default()).unwrap();
    assert_eq!(idx.class_names, ["10", "2", "a"]);
    let files: Vec<String> = idx.files.iter().map(|p| p.display().to_string()).collect();
    assert_eq!(
        files,
        [
            "10/x.png",
            "10/a-sub/z.png",
            "10/sub/y.png",
            "2/a.PNG",
            "2/b.png",
            "a/only.png"
        ]
    );
    assert_eq!(idx.classes, [0, 0, 0, 1, 1, 2]);
    // An explicit class list defines the indices and may leave classes out.
    let opts = FolderOptions {
        classes: Some(vec!["a".into(), "2".into()]),
        ..Default::default()
    };
    let idx = scan_folder(dir.path(), &opts).unwrap();
    assert_eq!(idx.classes, [0, 1, 1]);
    let opts = FolderOptions {
        classes: Some(vec!["zebra".into()]),
        ..Default::default()
    };
    assert!(
        scan_folder(dir.path(), &opts)
            .unwrap_err()
            .to_string()
            .contains("zebra")
    );
}

#[test]
fn loads_in_file_order_and_skips_bad_images() {
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path());
    std::fs::write(
        dir.path().join("2/broken.jpg"),
        b"\xff\xd8\xff\xe0 not a jpeg",
    )
    .unwrap();
    png(&dir.path().join("a/big.png"), 8, 8, 70);
    let (set, kept, skipped) = image_folder(dir.path(), &FolderOptions::default()).unwrap();
    assert_eq!((set.height, set.width, set.channels), (3, 4, 3));
    assert_eq!(set.len(), 6);
    assert_eq!(set.images[0], 30); // 10/x.png first
    assert_eq!(kept.files.len(), 6);
    let bad: Vec<String> = skipped
        .iter()
        .map(|s| s.file.display().to_string())
        .collect();
    assert_eq!(bad, ["2/broken.jpg", "a/big.png"], "{skipped:?}");
    assert!(skipped[1].reason.contains("8x8"), "{skipped:?}");
    // With a target size every image fits; grayscale has one channel.
    let opts = FolderOptions {
        target_size: Some((8, 8)),
        color: ColorMode::Grayscale,
        ..Default::default()
    };
    let (set, _, skipped) = image_folder(dir.path(), &opts).unwrap();
    assert_eq!((set.len(), set.channels, skipped.len()), (7, 1, 1));
    // Strict mode fails on the corrupt file, naming it.
    let strict = FolderOptions {
        strict: true,
        target_size: Some((8, 8)),
        ..Default::default()
    };
    assert!(
        image_folder(dir.path(), &strict)
            .unwrap_err()
            .to_string()
            .contains("broken.jpg")
    );
}

/// A valid PNG whose header claims `w` x `h` pixels (the CRC is recomputed).
fn png_claiming(path: &Path, w: u32, h: u32) {
    let mut bytes = Vec::new();
    image::RgbImage::new(1, 1)
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .unwrap();
    bytes[16..20].copy_from_slice(&w.to_be_bytes());
    bytes[20..24].copy_from_slice(&h.to_be_bytes());
    let mut crc = flate2::Crc::new();
    crc.update(&bytes[12..29]);
    bytes[29..33].copy_from_slice(&crc.sum().to_be_bytes());
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_20000x20000_png_is_refused_before_decoding() {
    let dir = tempfile::tempdir().unwrap();
    png(&dir.path().join("c/ok.png"), 4, 4, 1);
    png_claiming(&dir.path().join("c/huge.png"), 20000, 20000);
    let t0 = std::time::Instant::now();
    let (set, _, skipped) = image_folder(dir.path(), &FolderOptions::default()).unwrap();
    assert!(t0.elapsed().as_secs() < 5);
    assert_eq!(set.len(), 1);
    assert!(
        skipped[0].reason.contains("20000x20000")
            && skipped[0].reason.contains("CNN_MAX_IMAGE_PIXELS"),
        "{skipped:?}"
    );
}

fn zip_of(root: &Path, zip_path: &Path, prefix: &str, extra: &[(&str, &[u8])]) {
    let mut z = zip::ZipWriter::new(std::fs::File::create(zip_path).unwrap());
    let o = zip::write::SimpleFileOptions::default();
    let mut files: Vec<PathBuf> = walk(root);
    files.sort();
    for f in files {
        let rel = f.strip_prefix(root).unwrap();
        z.start_file(format!("{prefix}/{}", rel.display()), o)
            .unwrap();
        z.write_all(&std::fs::read(&f).unwrap()).unwrap();
    }
    for (name, data) in extra {
        z.start_file(*name, o).unwrap();
        z.write_all(data).unwrap();
    }
    z.finish().unwrap();
}

fn walk(d: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(d).unwrap().flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()))
        } else {
            out.push(e.path())
        }
    }
    out
}

#[test]
fn zip_archives_give_the_same_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tree");
    tree(&root);
    std::fs::remove_file(root.join("stray.png")).unwrap();
    let z = dir.path().join("t.zip");
    zip_of(&root, &z, "train", &[]);
    let from_dir = image_folder(&root, &FolderOptions::default()).unwrap();
    let from_zip = zip_folder(&z, "train", &FolderOptions::default(), 1 << 20).unwrap();
    assert_eq!(from_zip.0, from_dir.0);
    assert_eq!(from_zip.1, from_dir.1);
    let evil = dir.path().join("evil.zip");
    zip_of(&root, &evil, "train", &[("../../escape.png", b"x")]);
    let e = zip_folder(&evil, "train", &FolderOptions::default(), 1 << 20)
        .unwrap_err()
        .to_string();
    assert!(e.contains("refusing entry"), "{e}");
    assert!(
        zip_folder(
            &dir.path().join("tree/a/notes.txt"),
            "train",
            &FolderOptions::default(),
            1 << 20
        )
        .is_err()
    );
}

#[test]
fn real_cifar10_jpeg_folders() {
    let tarball =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/cifar10-jpg.tar.gz");
    if !tarball.exists() {
        assert!(
            std::env::var("CI").is_err(),
            "{} is required in CI",
            tarball.display()
        );
        eprintln!("skipping: no {}", tarball.display());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    extract(&tarball, dir.path(), Limits::default()).unwrap();
    let top = if dir.path().join("train").is_dir() {
        dir.path().to_path_buf()
    } else {
        walk_dirs(dir.path())
    };
    std::fs::write(
        top.join("train/cat/zzzz-corrupt.jpg"),
        b"\xff\xd8\xff garbage",
    )
    .unwrap();
    let (train, idx, skipped) =
        image_folder(&top.join("train"), &FolderOptions::default()).unwrap();
    assert_eq!(
        idx.class_names,
        [
            "airplane",
            "automobile",
            "bird",
            "cat",
            "deer",
            "dog",
            "frog",
            "horse",
            "ship",
            "truck"
        ]
    );
    assert_eq!(train.len(), 50_000);
    assert_eq!((train.height, train.width, train.channels), (32, 32, 3));
    for c in 0..10u8 {
        assert_eq!(train.labels.iter().filter(|&&l| l == c).count(), 5000);
    }
    assert_eq!(skipped.len(), 1);
    assert!(
        skipped[0].file.ends_with("cat/zzzz-corrupt.jpg"),
        "{skipped:?}"
    );
    let (test, _, skipped) = image_folder(&top.join("test"), &FolderOptions::default()).unwrap();
    assert_eq!((test.len(), skipped.len()), (10_000, 0));
}

/// The folder holding `train/` inside an extracted archive.
fn walk_dirs(d: &Path) -> PathBuf {
    for e in std::fs::read_dir(d).unwrap().flatten() {
        if e.path().join("train").is_dir() {
            return e.path();
        }
    }
    panic!("no train/ folder in {}", d.display());
}
