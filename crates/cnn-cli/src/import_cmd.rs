//! `cnn import`: a model from another framework's file into a `.cnn` model.

use std::path::PathBuf;

use clap::Args;

use crate::error::{CliResult, UserError, bad_input};
use crate::model_arg::{ModelSource, parse_shape, resolve};

/// Import a model from another framework: a Keras 3 `.keras` file or a legacy Keras `.h5`
/// model (Sequential or Functional, the layers cnn has) becomes a `.cnn` model with the same
/// weights, for `cnn evaluate`, `predict`, `visualize`, `export` and training; Keras weights
/// files (`.weights.h5`, or legacy `.h5` weights such as the Keras applications publish) come in
/// onto the architecture `--arch` names.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    cnn import model.keras -o model.cnn\n  \
    cnn import model.h5 -o model.cnn                          (Keras 2's model.save)\n  \
    cnn import vgg16_weights_tf_dim_ordering_tf_kernels.h5 --arch vgg16 -o vgg16.cnn\n  \
    cnn import resnet50.weights.h5 --arch resnet50 -o resnet50.cnn\n  \
    cnn summary model.keras                (any command also takes a .keras file directly)\n\n\
    A layer cnn does not have is an error naming its class and layer; what cnn ignores \
    (regularisers, constraints, frozen layers) is listed.")]
pub struct ImportArgs {
    /// The file to import (`.keras`, `.h5`, `.weights.h5`).
    file: PathBuf,
    /// The `.cnn` model to write.
    #[arg(short, long)]
    out: PathBuf,
    /// The architecture of a weights-only file: a zoo name (vgg16, resnet50, mobilenetv2, …) or a
    /// JSON spec.
    #[arg(long)]
    arch: Option<String>,
    /// Input shape HxWxC for --arch (e.g. 150x150x3 for a VGG16 base).
    #[arg(long)]
    input_shape: Option<String>,
    /// Number of classes for --arch.
    #[arg(long)]
    classes: Option<usize>,
    /// With --arch: its convolutional base only (Keras's include_top=False), for `_notop`
    /// weights; any --input-shape then works (e.g. 32x32x3 for CIFAR-10).
    #[arg(long, requires = "arch")]
    no_top: bool,
    /// The input preprocessing the weights were trained with, stored in the model so that
    /// predict and visualize apply it: Keras's `caffe` (VGG16, ResNet50), `tf` (MobileNetV2),
    /// `torch` (torchvision), or `none`.
    #[arg(long, value_parser = ["caffe", "tf", "torch", "none"])]
    preprocess: Option<String>,
    /// Name the 1000 outputs with ImageNet's classes (as Keras's decode_predictions).
    #[arg(long)]
    imagenet: bool,
}

/// What a file's first bytes say it is.
fn kind(head: &[u8]) -> &'static str {
    if head.starts_with(b"PK\x03\x04") {
        "zip"
    } else if head.starts_with(b"\x89HDF\r\n\x1a\n") {
        "hdf5"
    } else if head.first() == Some(&0x80) {
        "pickle"
    } else {
        "unknown"
    }
}

/// Runs the command.
pub fn run(a: &ImportArgs) -> CliResult<String> {
    let name = a.file.display().to_string();
    let head =
        crate::model_arg::file_head(&a.file).map_err(|e| bad_input("cannot read", &name, e))?;
    let pickle_hint = "PyTorch checkpoints are pickles, and loading one runs code from the file: \
                       cnn never reads them";
    match kind(&head) {
        "zip" if !zip_has(&a.file, "config.json") && zip_has_suffix(&a.file, "data.pkl") => {
            return Err(UserError::new(
                "not imported",
                name,
                "a PyTorch checkpoint (a zip of pickles)".into(),
            )
            .with_hint(pickle_hint)
            .into());
        }
        "zip" => {}
        "pickle" => {
            return Err(
                UserError::new("not imported", name, "a Python pickle".into())
                    .with_hint(pickle_hint)
                    .into(),
            );
        }
        "hdf5" => {}
        _ => {
            return Err(UserError::new(
                "not imported",
                name,
                "not a file cnn imports (a Keras .keras or .h5 file)".into(),
            )
            .into());
        }
    }
    let arch = match &a.arch {
        None => None,
        Some(arg) => {
            let shape = a.input_shape.as_deref().map(parse_shape).transpose()?;
            let spec = match resolve(arg, shape.as_deref(), a.classes)? {
                ModelSource::Spec(spec) => spec,
                ModelSource::Saved(s) => s.model.architecture().to_spec(),
            };
            Some(if a.no_top {
                cnn_nn::no_top(&spec).map_err(|e| bad_input("bad option", "--no-top", e))?
            } else {
                spec
            })
        }
    };
    let imported = if kind(&head) == "zip" {
        if a.arch.is_some() {
            return Err(UserError::new(
                "bad option",
                "--arch".into(),
                "a .keras file carries its architecture; --arch is for weights-only files".into(),
            )
            .into());
        }
        cnn_keras::import_keras(&a.file)
    } else {
        cnn_keras::import_h5(&a.file, arch.as_ref())
    }
    .map_err(|e| {
        let weights_only = matches!(e, cnn_keras::KerasError::WeightsOnly { .. });
        let err = bad_input("cannot import", &name, e);
        if weights_only {
            err.with_hint("pass --arch with the zoo model or JSON spec they were saved from")
        } else {
            err
        }
    })?;
    let mut extra: std::collections::HashMap<String, String> =
        imported.extra.clone().into_iter().collect();
    if let Some(mode) = &a.preprocess {
        let p = cnn_nn::Preprocess::parse(mode).unwrap_or_default();
        extra.remove(cnn_nn::RESCALE_KEY);
        extra.remove(cnn_nn::PREPROCESS_KEY);
        let (k, v) = p.metadata();
        extra.insert(k, v);
    }
    if a.imagenet {
        let outputs = imported.model.architecture().output_shape().to_vec();
        if outputs != [1000] {
            return Err(UserError::new(
                "bad option",
                "--imagenet".into(),
                format!(
                    "the model outputs {}, not ImageNet's 1000 classes",
                    cnn_nn::layers::shape_str(&outputs)
                ),
            )
            .into());
        }
        extra.extend(cnn_datasets::imagenet_class_metadata());
    }
    cnn_nn::save_model_with(&a.out, &imported.model, None, 0, None, &extra)
        .map_err(|e| bad_input("cannot write", a.out.display().to_string(), e))?;
    let model = &imported.model;
    let arch = model.architecture();
    let params: usize = model
        .params()
        .iter()
        .chain(model.state())
        .map(|t| t.len())
        .sum();
    let mut out = format!(
        "{} (Keras {}, {} layers, {} parameters, input {}) -> {}\n",
        arch.name,
        imported
            .keras_version
            .as_deref()
            .unwrap_or("version unknown"),
        arch.layers.len(),
        params,
        cnn_nn::layers::shape_str(&arch.input_shape),
        a.out.display()
    );
    for note in &imported.notes {
        out.push_str(&format!("  note: {note}\n"));
    }
    Ok(out)
}

/// The names in the zip archive at `path` (none if it is not one).
fn zip_names(path: &std::path::Path) -> Vec<String> {
    std::fs::File::open(path)
        .ok()
        .and_then(|f| zip::ZipArchive::new(std::io::BufReader::new(f)).ok())
        .map(|z| {
            z.file_names()
                .filter_map(|n| n.ok().map(|n| n.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

fn zip_has(path: &std::path::Path, name: &str) -> bool {
    zip_names(path).iter().any(|n| n == name)
}

fn zip_has_suffix(path: &std::path::Path, suffix: &str) -> bool {
    zip_names(path).iter().any(|n| n.ends_with(suffix))
}
