//! Resolving a `--dataset` argument into images and labels.

use std::path::{Path, PathBuf};

use cnn_datasets::{Dataset, ImageSet, LoadOptions, fashion_mnist, fashion_mnist_sample, idx_pair};

use crate::error::{UserError, bad_input};

/// Dataset names accepted by `--dataset` (or a directory of IDX files).
pub const DATASETS: &str = "fashion-mnist, fashion-mnist-sample, or a directory of IDX files";

/// A dataset ready for training, with a description of where it came from.
pub struct Loaded {
    /// The data.
    pub dataset: Dataset,
    /// One line per source file, for the user.
    pub notes: Vec<String>,
}

fn find(dir: &Path, stem: &str) -> Option<PathBuf> {
    [format!("{stem}.gz"), stem.to_string()]
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
}

/// Loads `name`; `data_dir` overrides the cache directory.
pub fn load(name: &str, data_dir: Option<&Path>) -> Result<Loaded, UserError> {
    match name {
        "fashion-mnist" => {
            let opts = LoadOptions {
                data_dir: data_dir.map(Path::to_path_buf),
                ..Default::default()
            };
            let (dataset, reports) = fashion_mnist(&opts).map_err(|e| {
                bad_input("dataset unavailable", "fashion-mnist", e)
                    .with_hint("on Debian: apt-get install dataset-fashion-mnist; or use --dataset fashion-mnist-sample (bundled, 3,000 + 1,000 images)")
            })?;
            Ok(Loaded {
                dataset,
                notes: reports.iter().map(|r| r.to_string()).collect(),
            })
        }
        "fashion-mnist-sample" => {
            let dataset =
                fashion_mnist_sample().map_err(|e| bad_input("dataset unavailable", name, e))?;
            Ok(Loaded { dataset, notes: vec!["fashion-mnist-sample: bundled real sample (3,000 train + 1,000 test images); figures are sample figures".into()] })
        }
        "mnist" | "cifar10" | "cifar100" => Err(UserError::new(
            "dataset unavailable",
            name.into(),
            "downloading is not implemented yet".into(),
        )
        .with_hint("use fashion-mnist, fashion-mnist-sample, or a directory of IDX files")),
        dir => {
            let d = Path::new(dir);
            if !d.is_dir() {
                return Err(UserError::new(
                    "unknown dataset",
                    dir.into(),
                    format!("expected {DATASETS}"),
                ));
            }
            let pair = |a: &str, b: &str| Some((find(d, a)?, find(d, b)?));
            let classes = 256;
            let load_set =
                |(i, l): (PathBuf, PathBuf)| -> Result<(ImageSet, Vec<String>), UserError> {
                    let (set, rep) =
                        idx_pair(&i, &l, classes).map_err(|e| bad_input("bad dataset", dir, e))?;
                    Ok((set, rep.iter().map(|r| r.to_string()).collect()))
                };
            let (train, test, mut notes) = if let Some(tr) =
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
                // A single set: hold out the last sixth as the test split.
                let (train, test) = all
                    .split_validation(1.0 / 6.0)
                    .map_err(|e| bad_input("bad dataset", dir, e))?;
                (train, Some(test), n)
            } else {
                return Err(UserError::new("bad dataset", dir.into(), "no IDX files (train-images-idx3-ubyte[.gz] + train-labels-idx1-ubyte[.gz], or images-idx3-ubyte[.gz] + labels-idx1-ubyte[.gz])".into()));
            };
            let k = train.labels.iter().copied().max().unwrap_or(0) as usize + 1;
            if test.is_some() && !notes.iter().any(|n| n.contains("t10k")) {
                notes.push("no separate test files: the last sixth of the images is held out as the test split".into());
            }
            Ok(Loaded {
                dataset: Dataset {
                    name: dir.to_string(),
                    train,
                    test,
                    class_names: (0..k).map(|c| c.to_string()).collect(),
                },
                notes,
            })
        }
    }
}
