//! `cargo xtask fetch-data vgg16-imagenet | vgg16-imagenet-notop | resnet50-imagenet |
//! resnet50-imagenet-notop`: the Keras applications' ImageNet weights through the datasets'
//! verified, resumable download and cache (`cnn_datasets::catalog::PRETRAINED`, Keras's URLs
//! and MD5s), then converted to a `.cnn` model next to them — the zoo architecture with Keras's
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
}

/// Every pretrained entry (MobileNetV2's weights have no digest Keras publishes, so they are not
/// downloaded: `cnn import FILE --arch mobilenetv2 --preprocess tf --imagenet`).
pub const PRETRAINED: [Pretrained; 4] = [
    Pretrained {
        name: "vgg16-imagenet",
        zoo: "vgg16",
        top: true,
        preprocess: Preprocess::Caffe,
    },
    Pretrained {
        name: "vgg16-imagenet-notop",
        zoo: "vgg16",
        top: false,
        preprocess: Preprocess::Caffe,
    },
    Pretrained {
        name: "resnet50-imagenet",
        zoo: "resnet50",
        top: true,
        preprocess: Preprocess::Caffe,
    },
    Pretrained {
        name: "resnet50-imagenet-notop",
        zoo: "resnet50",
        top: false,
        preprocess: Preprocess::Caffe,
    },
];

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
