//! CIFAR-10 and CIFAR-100, binary versions.
//!
//! A record is the label byte(s) — one for CIFAR-10; coarse then fine for CIFAR-100 — followed by
//! 3,072 pixel bytes: the 1,024 red values of the 32x32 image row by row, then green, then blue.
//! Records are converted to NHWC. The archive is read in memory (nothing is extracted); an
//! already-extracted folder in the data directory is read too.

use std::collections::HashMap;
use std::path::Path;

use crate::archive::{Limits, read_members};
use crate::catalog::{CIFAR10, CIFAR100};
use crate::error::{DatasetError, Result};
use crate::fetch::{LoadOptions, fetch_entry};
use crate::source::{FileReport, data_dir};
use crate::{Dataset, ImageSet};

/// CIFAR-10's class names, by label (as in `batches.meta.txt`).
pub const CIFAR10_CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// Which CIFAR-100 labels to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cifar100Labels {
    /// The 100 fine classes.
    Fine,
    /// The 20 superclasses.
    Coarse,
}

const PIXELS: usize = 32 * 32;

/// Parses binary CIFAR records. `label_bytes` is 1 (CIFAR-10) or 2 (CIFAR-100); `label_at`
/// selects which of them is the label; labels must be below `classes`.
pub fn parse_records(
    bytes: &[u8],
    label_bytes: usize,
    label_at: usize,
    classes: usize,
    file: &str,
) -> Result<ImageSet> {
    let record = label_bytes + 3 * PIXELS;
    if bytes.is_empty() || !bytes.len().is_multiple_of(record) {
        return Err(DatasetError::Format {
            file: file.into(),
            at: format!("offset {}", bytes.len() - bytes.len() % record),
            message: format!(
                "{} bytes is not a whole number of {record}-byte records (truncated?)",
                bytes.len()
            ),
        });
    }
    let n = bytes.len() / record;
    let mut images = vec![0u8; n * 3 * PIXELS];
    let mut labels = Vec::with_capacity(n);
    for (i, (rec, out)) in bytes
        .chunks_exact(record)
        .zip(images.chunks_exact_mut(3 * PIXELS))
        .enumerate()
    {
        let l = rec[label_at];
        if l as usize >= classes {
            return Err(DatasetError::Format {
                file: file.into(),
                at: format!("record {i} (offset {})", i * record),
                message: format!("label {l} is out of range for {classes} classes"),
            });
        }
        labels.push(l);
        let px = &rec[label_bytes..];
        for (p, o) in out.chunks_exact_mut(3).enumerate() {
            o[0] = px[p];
            o[1] = px[PIXELS + p];
            o[2] = px[2 * PIXELS + p];
        }
    }
    Ok(ImageSet {
        images,
        labels,
        height: 32,
        width: 32,
        channels: 3,
    })
}

/// Serialises an image set as CIFAR-10 records (for tests and round trips).
pub fn write_records(set: &ImageSet) -> Vec<u8> {
    let mut out = Vec::with_capacity(set.len() * (1 + 3 * PIXELS));
    for (img, &l) in set.images.chunks_exact(3 * PIXELS).zip(&set.labels) {
        out.push(l);
        for c in 0..3 {
            out.extend(img.chunks_exact(3).map(|px| px[c]));
        }
    }
    out
}

fn concat(sets: Vec<ImageSet>) -> ImageSet {
    let mut it = sets.into_iter();
    let mut first = it.next().unwrap_or(ImageSet {
        images: vec![],
        labels: vec![],
        height: 32,
        width: 32,
        channels: 3,
    });
    for s in it {
        first.images.extend(s.images);
        first.labels.extend(s.labels);
    }
    first
}

fn names(text: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(text)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

/// The CIFAR-10 members of `cifar-10-binary.tar.gz`.
fn cifar10_members() -> Vec<String> {
    let mut m: Vec<String> = (1..=5)
        .map(|i| format!("cifar-10-batches-bin/data_batch_{i}.bin"))
        .collect();
    m.push("cifar-10-batches-bin/test_batch.bin".into());
    m.push("cifar-10-batches-bin/batches.meta.txt".into());
    m
}

fn cifar100_members() -> Vec<String> {
    [
        "train.bin",
        "test.bin",
        "fine_label_names.txt",
        "coarse_label_names.txt",
    ]
    .iter()
    .map(|f| format!("cifar-100-binary/{f}"))
    .collect()
}

/// Reads members from an extracted folder (`root` holds `cifar-10-batches-bin/` etc.).
fn read_dir_members(root: &Path, members: &[String]) -> Result<HashMap<String, Vec<u8>>> {
    members
        .iter()
        .map(|m| {
            let p = root.join(m);
            std::fs::read(&p)
                .map(|b| (m.clone(), b))
                .map_err(|source| DatasetError::Io { path: p, source })
        })
        .collect()
}

/// CIFAR-10 from `cifar-10-binary.tar.gz` (or its extracted `cifar-10-batches-bin/` folder when
/// `archive` is a directory): 50,000 train and 10,000 test images, class names from
/// `batches.meta.txt`.
pub fn cifar10_from(archive: &Path) -> Result<Dataset> {
    let members = cifar10_members();
    let wanted: Vec<&str> = members.iter().map(String::as_str).collect();
    let m = if archive.is_dir() {
        read_dir_members(archive, &members)?
    } else {
        read_members(archive, &wanted, Limits::default())?
    };
    let get = |k: &str| m.get(k).map(Vec::as_slice).unwrap_or(&[]);
    let train = concat(
        (1..=5)
            .map(|i| {
                let k = format!("cifar-10-batches-bin/data_batch_{i}.bin");
                parse_records(get(&k), 1, 0, 10, &k)
            })
            .collect::<Result<Vec<_>>>()?,
    );
    let test = parse_records(
        get("cifar-10-batches-bin/test_batch.bin"),
        1,
        0,
        10,
        "test_batch.bin",
    )?;
    let mut class_names = names(get("cifar-10-batches-bin/batches.meta.txt"));
    if class_names.len() != 10 {
        class_names = CIFAR10_CLASSES.iter().map(|s| s.to_string()).collect();
    }
    Ok(Dataset {
        name: "cifar10".into(),
        train,
        test: Some(test),
        class_names,
    })
}

/// CIFAR-100 from `cifar-100-binary.tar.gz` (or its extracted folder), with fine or coarse labels.
pub fn cifar100_from(archive: &Path, labels: Cifar100Labels) -> Result<Dataset> {
    let members = cifar100_members();
    let wanted: Vec<&str> = members.iter().map(String::as_str).collect();
    let m = if archive.is_dir() {
        read_dir_members(archive, &members)?
    } else {
        read_members(archive, &wanted, Limits::default())?
    };
    let get = |k: &str| m.get(k).map(Vec::as_slice).unwrap_or(&[]);
    let (at, classes, names_file) = match labels {
        Cifar100Labels::Fine => (1, 100, "cifar-100-binary/fine_label_names.txt"),
        Cifar100Labels::Coarse => (0, 20, "cifar-100-binary/coarse_label_names.txt"),
    };
    let train = parse_records(
        get("cifar-100-binary/train.bin"),
        2,
        at,
        classes,
        "train.bin",
    )?;
    let test = parse_records(get("cifar-100-binary/test.bin"), 2, at, classes, "test.bin")?;
    let mut class_names = names(get(names_file));
    if class_names.len() != classes {
        class_names = (0..classes).map(|c| c.to_string()).collect();
    }
    Ok(Dataset {
        name: "cifar100".into(),
        train,
        test: Some(test),
        class_names,
    })
}

/// CIFAR-10 like `keras.datasets.cifar10.load_data()`: an extracted folder in the data
/// directory's `cifar10/`, else the verified archive there (downloaded if missing and allowed).
pub fn cifar10(opts: &LoadOptions) -> Result<(Dataset, Vec<FileReport>)> {
    let dir = data_dir(opts.data_dir.as_deref()).join("cifar10");
    if dir.join("cifar-10-batches-bin").is_dir() {
        return Ok((cifar10_from(&dir)?, Vec::new()));
    }
    let reports = fetch_entry(&CIFAR10, opts)?;
    Ok((cifar10_from(&reports[0].path)?, reports))
}

/// CIFAR-100, as [`cifar10`].
pub fn cifar100(opts: &LoadOptions, labels: Cifar100Labels) -> Result<(Dataset, Vec<FileReport>)> {
    let dir = data_dir(opts.data_dir.as_deref()).join("cifar100");
    if dir.join("cifar-100-binary").is_dir() {
        return Ok((cifar100_from(&dir, labels)?, Vec::new()));
    }
    let reports = fetch_entry(&CIFAR100, opts)?;
    Ok((cifar100_from(&reports[0].path, labels)?, reports))
}
