//! `cargo xtask fetch-data vgg16-imagenet | vgg16-imagenet-notop | resnet50-imagenet |
//! resnet50-imagenet-notop | mobilenetv2-imagenet[-notop] --sha256 HEX`: the Keras
//! applications' ImageNet weights through the datasets' verified, resumable download and cache
//! (`cnn_datasets::catalog::PRETRAINED`, Keras's URLs and MD5s; MobileNetV2's, which Keras
//! publishes no digest for, only with a SHA-256 the user supplies), then converted to a `.cnn` model next to them — the zoo architecture with Keras's
//! layer names, the weights by layer name, Keras's `caffe` preprocessing and, with the
//! classifier, ImageNet's class names — ready for `cnn predict` and `cnn visualize`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use cnn_datasets::catalog::CatalogEntry;
use cnn_datasets::{FileReport, LoadOptions};
use cnn_nn::{ModelSpec, Preprocess};

/// What a pretrained entry becomes.
#[derive(Clone, Copy, Debug)]
pub struct Pretrained {
    /// The catalog name (`vgg16-imagenet`).
    pub name: &'static str,
    /// The zoo architecture.
    pub zoo: &'static str,
    /// With the 1000-class classifier (else the convolutional base, Keras's `include_top=False`).
    pub top: bool,
    /// The input preprocessing the weights were trained with.
    pub preprocess: Preprocess,
    /// Keras pins a digest for the file (else the user must give one: [`with_sha256`]).
    pub pinned: bool,
}

/// Every pretrained entry. MobileNetV2's weights have no digest Keras publishes: they are
/// downloaded only with `--sha256` (or imported by hand: `cnn import FILE --arch mobilenetv2
/// --preprocess tf --imagenet`).
pub const PRETRAINED: [Pretrained; 6] = [
    Pretrained {
        name: "vgg16-imagenet",
        zoo: "vgg16",
        top: true,
        preprocess: Preprocess::Caffe,
        pinned: true,
    },
    Pretrained {
        name: "vgg16-imagenet-notop",
        zoo: "vgg16",
        top: false,
        preprocess: Preprocess::Caffe,
        pinned: true,
    },
    Pretrained {
        name: "resnet50-imagenet",
        zoo: "resnet50",
        top: true,
        preprocess: Preprocess::Caffe,
        pinned: true,
    },
    Pretrained {
        name: "resnet50-imagenet-notop",
        zoo: "resnet50",
        top: false,
        preprocess: Preprocess::Caffe,
        pinned: true,
    },
    Pretrained {
        name: "mobilenetv2-imagenet",
        zoo: "mobilenetv2",
        top: true,
        preprocess: Preprocess::Tf,
        pinned: false,
    },
    Pretrained {
        name: "mobilenetv2-imagenet-notop",
        zoo: "mobilenetv2",
        top: false,
        preprocess: Preprocess::Tf,
        pinned: false,
    },
];

/// `entry` (one file) pinned to `sha256`, a digest the caller vouches for — for files Keras
/// publishes none for. The digest is checked like any pin: a download that does not match is
/// refused and removed.
///
/// # Errors
/// `sha256` is not 64 hexadecimal digits, or the entry does not hold exactly one file.
pub fn with_sha256(entry: &CatalogEntry, sha256: &str) -> Result<CatalogEntry> {
    let hex = sha256.trim().to_ascii_lowercase();
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        anyhow::bail!("--sha256 wants 64 hexadecimal digits, got {sha256:?}");
    }
    let [file] = entry.files else {
        anyhow::bail!("{} holds {} files, not one", entry.name, entry.files.len());
    };
    // A command-line process pins one file once: leaking the two small values keeps the
    // catalog's `'static` types.
    let files: &'static [cnn_datasets::catalog::CatalogFile] =
        Box::leak(Box::new([cnn_datasets::catalog::CatalogFile {
            sha256: Some(Box::leak(hex.into_boxed_str())),
            ..*file
        }]));
    Ok(CatalogEntry { files, ..*entry })
}

/// The entry called `name`, if it is a pretrained one.
pub fn find(name: &str) -> Option<&'static Pretrained> {
    PRETRAINED.iter().find(|p| p.name == name)
}

impl Pretrained {
    /// The architecture the weights belong to (224x224x3, ImageNet's 1000 classes).
    pub fn spec(&self) -> Result<ModelSpec> {
        let spec = cnn_nn::zoo(self.zoo, Some(&[224, 224, 3]), Some(1000))?;
        Ok(if self.top {
            spec
        } else {
            cnn_nn::no_top(&spec)?
        })
    }
}

/// Converts the weights file `h5` onto `spec` and writes `out` (atomically): the weights,
/// `preprocess`, and ImageNet's class names and WordNet ids when `imagenet`.
pub fn convert(
    h5: &Path,
    spec: &ModelSpec,
    preprocess: Preprocess,
    imagenet: bool,
    out: &Path,
) -> Result<String> {
    let imported = cnn_keras::import_h5(h5, Some(spec))
        .with_context(|| format!("converting {}", h5.display()))?;
    let mut extra = std::collections::HashMap::new();
    let (k, v) = preprocess.metadata();
    extra.insert(k, v);
    extra.insert(
        "source".to_string(),
        h5.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    );
    if imagenet {
        extra.extend(cnn_datasets::imagenet_class_metadata());
    }
    cnn_nn::save_model_with(out, &imported.model, None, 0, None, &extra)?;
    let arch = imported.model.architecture();
    let mut said = format!(
        "{} -> {} ({} layers, {} parameters, {} preprocessing{})",
        h5.display(),
        out.display(),
        arch.layers.len(),
        arch.param_counts().0,
        preprocess.name(),
        if imagenet { ", ImageNet classes" } else { "" }
    );
    for n in &imported.notes {
        said.push_str(&format!("\n    note: {n}"));
    }
    Ok(said)
}

/// Fetches `entry`'s weights file (verified) and converts it to `<cache>/<entry>.cnn` unless a
/// converted model newer than the weights is already there. Returns the file reports and what
/// the conversion said.
pub fn fetch_and_convert(
    p: &Pretrained,
    entry: &CatalogEntry,
    spec: &ModelSpec,
    opts: &LoadOptions,
) -> Result<(Vec<FileReport>, PathBuf, String)> {
    let reports = cnn_datasets::fetch_entry(entry, opts)?;
    let h5 = reports
        .first()
        .map(|r| r.path.clone())
        .context("the entry lists no file")?;
    let out = h5.with_file_name(format!("{}.cnn", p.name));
    let fresh = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    if let (Some(model), Some(weights)) = (fresh(&out), fresh(&h5))
        && model >= weights
    {
        return Ok((
            reports,
            out.clone(),
            format!("{} (converted before)", out.display()),
        ));
    }
    let said = convert(&h5, spec, p.preprocess, p.top, &out)?;
    Ok((reports, out, said))
}
