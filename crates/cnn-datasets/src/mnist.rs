//! MNIST-family loaders (IDX image + label files): Fashion-MNIST with pinned digests, and any
//! directory of IDX files (e.g. an MNIST sample).

use std::path::Path;

use crate::catalog::{CatalogEntry, FASHION_MNIST, MNIST};
use crate::error::{DatasetError, Result};
use crate::fetch::{LoadOptions, fetch_entry};
use crate::idx::{max_idx_bytes, parse_idx, read_maybe_gz};
use crate::source::{FileReport, Origin, Verification};
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

/// Where Debian's `dataset-fashion-mnist` installs the original files.
pub const FASHION_SYSTEM_DIR: &str = "/usr/share/datasets/fashion-mnist";

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

/// Loads an IDX dataset (train images, train labels, test images, test labels, in catalog
/// order) after locating and verifying its files.
fn idx_dataset(
    e: &CatalogEntry,
    opts: &LoadOptions,
    classes: &[&str],
) -> Result<(Dataset, Vec<FileReport>)> {
    let reports = fetch_entry(e, opts)?;
    let limit = max_idx_bytes();
    let payloads: Vec<Result<Vec<u8>>> = std::thread::scope(|s| {
        let hs: Vec<_> = reports
            .iter()
            .map(|r| s.spawn(move || read_maybe_gz(&r.path, limit)))
            .collect();
        hs.into_iter()
            .map(|h| {
                h.join().unwrap_or(Err(DatasetError::Mismatch(
                    "a reader thread panicked".into(),
                )))
            })
            .collect()
    });
    let p: Vec<Vec<u8>> = payloads.into_iter().collect::<Result<_>>()?;
    let names: Vec<String> = reports
        .iter()
        .map(|r| r.path.display().to_string())
        .collect();
    let k = classes.len();
    let train = image_set(&p[0], &names[0], &p[1], &names[1], k)?;
    let test = image_set(&p[2], &names[2], &p[3], &names[3], k)?;
    let dataset = Dataset {
        name: e.name.into(),
        train,
        test: Some(test),
        class_names: classes.iter().map(|s| s.to_string()).collect(),
    };
    Ok((dataset, reports))
}

/// Fashion-MNIST (60,000 train + 10,000 test 28x28 grayscale images, 10 classes), like
/// `keras.datasets.fashion_mnist.load_data()`: from the data directory's `fashion-mnist/`,
/// Debian's system copy, or a download, every file verified. Returns a report per file.
pub fn fashion_mnist(opts: &LoadOptions) -> Result<(Dataset, Vec<FileReport>)> {
    idx_dataset(&FASHION_MNIST, opts, &FASHION_MNIST_CLASSES)
}

/// MNIST (60,000 + 10,000 handwritten digits), from the data directory's `mnist/` or a
/// download, every file verified against the digests torchvision pins.
pub fn mnist(opts: &LoadOptions) -> Result<(Dataset, Vec<FileReport>)> {
    idx_dataset(&MNIST, opts, &MNIST_CLASSES)
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
