//! Resolving a `--dataset` argument into images and labels.

use std::path::{Path, PathBuf};

use cnn_datasets::{
    Cifar100Labels, Dataset, FileReport, FolderIndex, FolderOptions, ImageSet, LoadOptions,
    Skipped, cifar10, cifar100, fashion_mnist, fashion_mnist_sample, idx_pair, image_folder, mnist,
    zip_folder,
};

use crate::error::{UserError, bad_input};

/// Dataset names accepted by `--dataset`.
pub const DATASETS: &str = "fashion-mnist, fashion-mnist-sample, mnist, cifar10, cifar100, a directory of IDX files, \
     an image-folder directory (train/<class>/..., test/<class>/...), or a .zip of that layout";

/// Where and how to fetch named datasets.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct DataFlags {
    /// Where datasets are cached (default: $CNN_DATA_DIR, else ~/.cache/cnn).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Download missing dataset files from this base URL instead of the official mirrors
    /// (default: $CNN_DATASET_MIRROR when set).
    #[arg(long)]
    pub mirror: Option<String>,
    /// Never download; use local copies only.
    #[arg(long)]
    pub offline: bool,
}

impl DataFlags {
    fn options(&self) -> LoadOptions {
        LoadOptions {
            data_dir: self.data_dir.clone(),
            mirror: self.mirror.clone(),
            offline: self.offline,
            progress: true,
            ..Default::default()
        }
    }
}

/// A dataset ready for training, with a description of where it came from.
pub struct Loaded {
    /// The data.
    pub dataset: Dataset,
    /// One line per source file (or skipped image), for the user.
    pub notes: Vec<String>,
}

fn notes(rs: &[FileReport]) -> Vec<String> {
    rs.iter().map(|r| r.to_string()).collect()
}

type FolderLoad = Result<(ImageSet, FolderIndex, Vec<Skipped>), UserError>;

/// A train/test pair of image folders loaded by `load(split)` (`None` when the split is absent).
fn folder_dataset(
    name: &str,
    load: impl Fn(&str) -> Option<FolderLoad>,
) -> Result<Loaded, UserError> {
    let Some(train) = load("train") else {
        return Err(UserError::new(
            "bad dataset",
            name.into(),
            "no train/ folder of class folders".into(),
        ));
    };
    let (train, idx, skipped) = train?;
    let mut n = vec![format!(
        "{name}: {} training images in {} classes",
        train.len(),
        idx.class_names.len()
    )];
    n.extend(
        skipped
            .iter()
            .map(|s| format!("skipped {}: {}", s.file.display(), s.reason)),
    );
    let test = match load("test") {
        Some(t) => {
            let (t, _, sk) = t?;
            n.push(format!("{name}: {} test images", t.len()));
            n.extend(
                sk.iter()
                    .map(|s| format!("skipped {}: {}", s.file.display(), s.reason)),
            );
            Some(t)
        }
        None => None,
    };
    Ok(Loaded {
        dataset: Dataset {
            name: name.into(),
            train,
            test,
            class_names: idx.class_names,
        },
        notes: n,
    })
}

fn find(dir: &Path, stem: &str) -> Option<PathBuf> {
    [format!("{stem}.gz"), stem.to_string()]
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
}

/// A directory of IDX files: train + t10k files, or one images/labels pair (last sixth held out).
fn idx_dir(dir: &str) -> Result<Loaded, UserError> {
    let d = Path::new(dir);
    let pair = |a: &str, b: &str| Some((find(d, a)?, find(d, b)?));
    let load_set = |(i, l): (PathBuf, PathBuf)| -> Result<(ImageSet, Vec<String>), UserError> {
        let (set, rep) = idx_pair(&i, &l, 256).map_err(|e| bad_input("bad dataset", dir, e))?;
        Ok((set, notes(&rep)))
    };
    let (train, test, mut n) = if let Some(tr) =
        pair("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
    {
        let (train, mut n) = load_set(tr)?;
        let test = match pair("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte") {
            Some(te) => {
                let (t, n2) = load_set(te)?;
                n.extend(n2);
                Some(t)
            }
            None => None,
        };
        (train, test, n)
    } else if let Some(p) = pair("images-idx3-ubyte", "labels-idx1-ubyte") {
        let (all, n) = load_set(p)?;
        let (train, test) = all
            .split_validation(1.0 / 6.0)
            .map_err(|e| bad_input("bad dataset", dir, e))?;
        (train, Some(test), n)
    } else {
        return Err(UserError::new(
            "bad dataset",
            dir.into(),
            "no train/ image folders and no IDX files (train-images-idx3-ubyte[.gz] + train-labels-idx1-ubyte[.gz], \
             or images-idx3-ubyte[.gz] + labels-idx1-ubyte[.gz])"
                .into(),
        ));
    };
    if test.is_some() && !n.iter().any(|x| x.contains("t10k")) {
        n.push(
            "no separate test files: the last sixth of the images is held out as the test split"
                .into(),
        );
    }
    let k = train.labels.iter().copied().max().unwrap_or(0) as usize + 1;
    Ok(Loaded {
        dataset: Dataset {
            name: dir.to_string(),
            train,
            test,
            class_names: (0..k).map(|c| c.to_string()).collect(),
        },
        notes: n,
    })
}

/// Loads `name` (see [`DATASETS`]).
pub fn load(name: &str, flags: &DataFlags) -> Result<Loaded, UserError> {
    let opts = flags.options();
    let unavailable = |e: cnn_datasets::DatasetError, hint: &str| {
        bad_input("dataset unavailable", name, e).with_hint(hint)
    };
    let named = |r: cnn_datasets::Result<(Dataset, Vec<FileReport>)>,
                 hint: &str|
     -> Result<Loaded, UserError> {
        let (dataset, rep) = r.map_err(|e| unavailable(e, hint))?;
        Ok(Loaded {
            dataset,
            notes: notes(&rep),
        })
    };
    match name {
        "fashion-mnist" => named(
            fashion_mnist(&opts),
            "on Debian: apt-get install dataset-fashion-mnist; or use --dataset fashion-mnist-sample (bundled, 3,000 + 1,000 images)",
        ),
        "fashion-mnist-sample" => {
            let dataset =
                fashion_mnist_sample().map_err(|e| bad_input("dataset unavailable", name, e))?;
            Ok(Loaded { dataset, notes: vec!["fashion-mnist-sample: bundled real sample (3,000 train + 1,000 test images); figures are sample figures".into()] })
        }
        "mnist" => named(
            mnist(&opts),
            "cargo xtask fetch-data mnist (or --mirror URL)",
        ),
        "cifar10" => named(
            cifar10(&opts),
            "cargo xtask fetch-data cifar10 (or --mirror URL)",
        ),
        "cifar100" => named(
            cifar100(&opts, Cifar100Labels::Fine),
            "cargo xtask fetch-data cifar100 (or --mirror URL)",
        ),
        zip if zip.ends_with(".zip") => {
            let p = Path::new(zip);
            let fo = FolderOptions::default();
            folder_dataset(zip, |split| match zip_folder(p, split, &fo, 64 << 20) {
                Ok(r) if !r.1.files.is_empty() => Some(Ok(r)),
                Ok(_) => None,
                Err(e) => Some(Err(bad_input("bad dataset", zip, e))),
            })
        }
        dir => {
            let d = Path::new(dir);
            if !d.is_dir() {
                return Err(UserError::new(
                    "unknown dataset",
                    dir.into(),
                    format!("expected {DATASETS}"),
                ));
            }
            if d.join("train").is_dir() {
                let fo = FolderOptions::default();
                return folder_dataset(dir, |split| {
                    let p = d.join(split);
                    p.is_dir().then(|| {
                        image_folder(&p, &fo).map_err(|e| bad_input("bad dataset", dir, e))
                    })
                });
            }
            idx_dir(dir)
        }
    }
}
