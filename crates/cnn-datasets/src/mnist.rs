//! MNIST-family loaders (IDX image + label files): Fashion-MNIST with pinned digests, and any
//! directory of IDX files (e.g. an MNIST sample).

use std::path::{Path, PathBuf};

use crate::error::{DatasetError, Result};
use crate::idx::{max_idx_bytes, parse_idx, read_maybe_gz};
use crate::source::{FileReport, Origin, Verification, data_dir, sha256_hex};
use crate::{Dataset, ImageSet};

/// Fashion-MNIST's class names, by label.
pub const FASHION_MNIST_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// MNIST's class names (the digits).
pub const MNIST_CLASSES: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

/// One official file with the SHA-256 of its decompressed payload.
struct Pinned {
    name: &'static str,
    payload_sha256: &'static str,
}

/// Fashion-MNIST files and the SHA-256 of their decompressed payloads. They equal upstream's
/// decompressed bytes (zalandoresearch/fashion-mnist) and Debian's recompressed copies, whose
/// gzip headers differ, so the payload rather than the archive is pinned.
const FASHION: [Pinned; 4] = [
    Pinned {
        name: "train-images-idx3-ubyte.gz",
        payload_sha256: "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    },
    Pinned {
        name: "train-labels-idx1-ubyte.gz",
        payload_sha256: "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    },
    Pinned {
        name: "t10k-images-idx3-ubyte.gz",
        payload_sha256: "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    },
    Pinned {
        name: "t10k-labels-idx1-ubyte.gz",
        payload_sha256: "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
];

/// Where Debian's `dataset-fashion-mnist` installs the original files.
pub const FASHION_SYSTEM_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// Options for the loaders.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// The data directory (else `CNN_DATA_DIR`, else the platform cache dir).
    pub data_dir: Option<PathBuf>,
    /// Extra system directories to look in after the defaults (tests use this).
    pub system_dirs: Vec<PathBuf>,
    /// Do not look at system copies.
    pub no_system: bool,
}

/// A file's decompressed bytes and its report, if it was found.
type Found = Option<(Vec<u8>, FileReport)>;

/// Reads one pinned file from the first place it exists, verifying its payload digest.
fn read_pinned(p: &Pinned, places: &[(PathBuf, Origin)]) -> Result<Found> {
    for (dir, origin) in places {
        let path = dir.join(p.name);
        if !path.is_file() {
            continue;
        }
        let bytes = read_maybe_gz(&path, max_idx_bytes())?;
        let digest = sha256_hex(&bytes);
        if digest != p.payload_sha256 {
            return Err(DatasetError::Checksum {
                path,
                expected: p.payload_sha256.to_string(),
                actual: digest,
            });
        }
        let report = FileReport {
            name: p.name.to_string(),
            path,
            origin: origin.clone(),
            verification: Verification::PayloadSha256(digest),
        };
        return Ok(Some((bytes, report)));
    }
    Ok(None)
}

/// Builds an image set from IDX image bytes `[N, H, W]` and label bytes `[N]`.
pub(crate) fn image_set(
    img: &[u8],
    img_name: &str,
    lab: &[u8],
    lab_name: &str,
    classes: usize,
) -> Result<ImageSet> {
    let images = parse_idx(img, img_name)?;
    let labels = parse_idx(lab, lab_name)?;
    let [n, h, w] = images.dims[..] else {
        return Err(DatasetError::Format {
            file: img_name.into(),
            at: "dimensions".into(),
            message: format!("expected [N, H, W] images, got {:?}", images.dims),
        });
    };
    if labels.dims != [n] {
        return Err(DatasetError::Mismatch(format!(
            "{img_name} holds {n} images but {lab_name} has label dimensions {:?}",
            labels.dims
        )));
    }
    if let Some((i, &l)) = labels
        .data
        .iter()
        .enumerate()
        .find(|(_, l)| **l as usize >= classes)
    {
        return Err(DatasetError::Format {
            file: lab_name.into(),
            at: format!("label {i}"),
            message: format!("class {l} is out of range for {classes} classes"),
        });
    }
    Ok(ImageSet {
        images: images.data,
        labels: labels.data,
        height: h,
        width: w,
        channels: 1,
    })
}

/// Loads Fashion-MNIST (60,000 train + 10,000 test 28x28 grayscale images, 10 classes) from the
/// data directory's `fashion-mnist/` folder or Debian's system copy, verifying every file's
/// payload SHA-256. Returns the dataset and a report line per file.
pub fn fashion_mnist(opts: &LoadOptions) -> Result<(Dataset, Vec<FileReport>)> {
    let cache = data_dir(opts.data_dir.as_deref()).join("fashion-mnist");
    let mut places = vec![(cache.clone(), Origin::Cache)];
    if !opts.no_system {
        places.push((PathBuf::from(FASHION_SYSTEM_DIR), Origin::System));
        places.extend(opts.system_dirs.iter().map(|d| (d.clone(), Origin::System)));
    }
    // The four files are independent: decompress and hash them in parallel.
    let results: Vec<Result<Found>> = std::thread::scope(|s| {
        let handles: Vec<_> = FASHION
            .iter()
            .map(|p| s.spawn(|| read_pinned(p, &places)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or(Err(DatasetError::Mismatch(
                    "a reader thread panicked".into(),
                )))
            })
            .collect()
    });
    let mut files = Vec::new();
    let mut missing = Vec::new();
    for (p, r) in FASHION.iter().zip(results) {
        match r? {
            Some(f) => files.push(f),
            None => missing.push(p.name.to_string()),
        }
    }
    if !missing.is_empty() {
        return Err(DatasetError::Missing {
            dataset: "fashion-mnist".into(),
            files: missing,
            place: cache,
        });
    }
    let names: Vec<String> = files
        .iter()
        .map(|(_, r)| r.path.display().to_string())
        .collect();
    let train = image_set(&files[0].0, &names[0], &files[1].0, &names[1], 10)?;
    let test = image_set(&files[2].0, &names[2], &files[3].0, &names[3], 10)?;
    let reports = files.into_iter().map(|(_, r)| r).collect();
    Ok((
        Dataset {
            name: "fashion-mnist".into(),
            train,
            test: Some(test),
            class_names: FASHION_MNIST_CLASSES
                .iter()
                .map(|s| s.to_string())
                .collect(),
        },
        reports,
    ))
}

/// Loads one IDX image file and its label file (raw or `.gz`) as an image set, checking the
/// format, that the counts agree and that labels are below `classes`. No digest is pinned for
/// arbitrary files; the report says so.
pub fn idx_pair(
    images: &Path,
    labels: &Path,
    classes: usize,
) -> Result<(ImageSet, Vec<FileReport>)> {
    let limit = max_idx_bytes();
    let img = read_maybe_gz(images, limit)?;
    let lab = read_maybe_gz(labels, limit)?;
    let set = image_set(
        &img,
        &images.display().to_string(),
        &lab,
        &labels.display().to_string(),
        classes,
    )?;
    let report = |p: &Path| FileReport {
        name: p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        path: p.to_path_buf(),
        origin: Origin::Directory,
        verification: Verification::FormatOnly,
    };
    Ok((set, vec![report(images), report(labels)]))
}
