//! `cnn import`: a model from another framework's file into a `.cnn` model.

use std::path::PathBuf;

use clap::Args;

use crate::error::{CliResult, UserError, bad_input};
use crate::model_arg::{ModelSource, parse_shape, resolve};

/// Import a model from another framework: a Keras 3 `.keras` file or a legacy Keras `.h5`
/// model (Sequential or Functional, the layers cnn has) becomes a `.cnn` model with the same
/// weights, for `cnn evaluate`, `predict`, `visualize`, `export` and training; Keras weights
/// files (`.weights.h5`, or legacy `.h5` weights such as the Keras applications publish) come in
/// onto the architecture `--arch` names; a PyTorch `.safetensors` state_dict of a torchvision model
/// comes in onto torchvision's architecture `--torchvision` names.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    cnn import model.keras -o model.cnn\n  \
    cnn import model.h5 -o model.cnn                          (Keras 2's model.save)\n  \
    cnn import vgg16_weights_tf_dim_ordering_tf_kernels.h5 --arch vgg16 -o vgg16.cnn\n  \
    cnn import resnet50.weights.h5 --arch resnet50 -o resnet50.cnn\n  \
    cnn import --torchvision vgg16 vgg16.safetensors -o vgg16.cnn\n  \
    cnn summary model.keras                (any command also takes a .keras file directly)\n\n\
    A layer cnn does not have is an error naming its class and layer; what cnn ignores \
    (regularisers, constraints, frozen layers) is listed.\n\n\
    A torchvision state_dict is saved for cnn in Python with\n  \
    safetensors.torch.save_file(model.state_dict(), \"vgg16.safetensors\")\n\
    (.pt/.pth checkpoints are pickles, which cnn never reads).")]
pub struct ImportArgs {
    /// The file to import (`.keras`, `.h5`, `.weights.h5`, `.safetensors`).
    file: PathBuf,
    /// The `.cnn` model to write.
    #[arg(short, long)]
    out: PathBuf,
    /// The architecture of a weights-only file: a zoo name (vgg16, resnet50, mobilenetv2, …) or a
    /// JSON spec.
    #[arg(long, conflicts_with = "torchvision")]
    arch: Option<String>,
    /// The torchvision architecture of a `.safetensors` state_dict: vgg11, vgg13, vgg16, vgg19,
    /// alexnet or resnet50 (torchvision's layouts; 224x224x3 and 1000 ImageNet classes unless
    /// --input-shape / --classes say otherwise).
    #[arg(long, value_name = "ARCH", value_parser = clap::builder::PossibleValuesParser::new(cnn_torchvision::ARCHITECTURES))]
    torchvision: Option<String>,
    /// Input shape HxWxC for --arch or --torchvision (e.g. 150x150x3 for a VGG16 base).
    #[arg(long)]
    input_shape: Option<String>,
    /// Number of classes for --arch or --torchvision.
    #[arg(long)]
    classes: Option<usize>,
    /// With --arch or --torchvision: the convolutional base only (Keras's include_top=False),
    /// for `_notop` weights; any --input-shape then works (e.g. 32x32x3 for CIFAR-10).
    #[arg(long)]
    no_top: bool,
    /// The input preprocessing the weights were trained with, stored in the model so that
    /// predict and visualize apply it: Keras's `caffe` (VGG16, ResNet50), `tf` (MobileNetV2),
    /// `torch` (torchvision: the default with --torchvision), or `none`.
    #[arg(long, value_parser = ["caffe", "tf", "torch", "none"])]
    preprocess: Option<String>,
    /// Name the 1000 outputs with ImageNet's classes (as Keras's decode_predictions; the
    /// default for torchvision models with 1000 outputs).
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
    } else if head.len() > 8
        && head[8] == b'{'
        && u64::from_le_bytes(head[..8].try_into().unwrap_or_default()) > 1
    {
        "safetensors"
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
        "hdf5" | "safetensors" => {}
        _ => {
            return Err(UserError::new(
                "not imported",
                name,
                "not a file cnn imports (a Keras .keras or .h5 file, a torchvision .safetensors)"
                    .into(),
            )
            .into());
        }
    }
    if a.no_top && a.arch.is_none() && a.torchvision.is_none() {
        return Err(UserError::new(
            "bad option",
            "--no-top".into(),
            "needs --arch or --torchvision (a full model file keeps its own layers)".into(),
        )
        .into());
    }
    let torch = kind(&head) == "safetensors";
    let imported = if torch {
        import_torchvision(a, &name)?
    } else if a.torchvision.is_some() {
        return Err(UserError::new(
            "bad option",
            "--torchvision".into(),
            format!("{name} is not a safetensors file; --torchvision reads torchvision state_dicts saved with safetensors"),
        )
        .into());
    } else {
        import_keras(a, &name, kind(&head))?
    };
    let mut extra: std::collections::HashMap<String, String> =
        imported.extra.clone().into_iter().collect();
    let preprocess = a.preprocess.as_deref().or(torch.then_some("torch"));
    if let Some(mode) = preprocess {
        let p = cnn_nn::Preprocess::parse(mode).unwrap_or_default();
        extra.remove(cnn_nn::RESCALE_KEY);
        extra.remove(cnn_nn::PREPROCESS_KEY);
        let (k, v) = p.metadata();
        extra.insert(k, v);
    }
    let outputs = imported.model.architecture().output_shape().to_vec();
    if a.imagenet && outputs != [1000] {
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
    let mut notes = imported.notes.clone();
    if a.imagenet || (torch && outputs == [1000]) {
        extra.extend(cnn_datasets::imagenet_class_metadata());
        if !a.imagenet {
            notes.push("outputs named with ImageNet's 1000 classes".into());
        }
    }
    if torch && a.preprocess.is_none() {
        notes.push("inputs preprocessed as torchvision's (/255, ImageNet mean and std)".into());
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
        "{} ({}, {} layers, {} parameters, input {}) -> {}\n",
        arch.name,
        imported.origin,
        arch.layers.len(),
        params,
        cnn_nn::layers::shape_str(&arch.input_shape),
        a.out.display()
    );
    for note in &notes {
        out.push_str(&format!("  note: {note}\n"));
    }
    Ok(out)
}

/// What an importer brought in.
struct Brought {
    model: cnn_nn::Model,
    notes: Vec<String>,
    extra: std::collections::BTreeMap<String, String>,
    /// Where it came from, for the report ("Keras 3.15.1", "torchvision").
    origin: String,
}

/// The architecture `--arch` names (with --input-shape, --classes, --no-top), if given.
fn arch_spec(a: &ImportArgs) -> CliResult<Option<cnn_nn::ModelSpec>> {
    let Some(arg) = &a.arch else {
        return Ok(None);
    };
    let shape = a.input_shape.as_deref().map(parse_shape).transpose()?;
    let spec = match resolve(arg, shape.as_deref(), a.classes)? {
        ModelSource::Spec(spec) => spec,
        ModelSource::Saved(s) => s.model.architecture().to_spec(),
    };
    Ok(Some(if a.no_top {
        cnn_nn::no_top(&spec).map_err(|e| bad_input("bad option", "--no-top", e))?
    } else {
        spec
    }))
}

/// A Keras file: `.keras` (zip) or HDF5.
fn import_keras(a: &ImportArgs, name: &str, kind: &str) -> CliResult<Brought> {
    let arch = arch_spec(a)?;
    let imported = if kind == "zip" {
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
        let err = bad_input("cannot import", name, e);
        if weights_only {
            err.with_hint("pass --arch with the zoo model or JSON spec they were saved from")
        } else {
            err
        }
    })?;
    Ok(Brought {
        origin: format!(
            "Keras {}",
            imported
                .keras_version
                .as_deref()
                .unwrap_or("version unknown")
        ),
        model: imported.model,
        notes: imported.notes,
        extra: imported.extra,
    })
}

/// A torchvision state_dict in a safetensors file.
fn import_torchvision(a: &ImportArgs, name: &str) -> CliResult<Brought> {
    let Some(arch) = &a.torchvision else {
        return Err(UserError::new(
            "not imported",
            name.into(),
            "a safetensors file, but which architecture's weights?".into(),
        )
        .with_hint(format!(
            "for a torchvision state_dict pass --torchvision with one of {}; a .cnn model needs no import",
            cnn_torchvision::ARCHITECTURES.join(", ")
        ))
        .into());
    };
    let mut t = cnn_torchvision::Torchvision::new(arch);
    if let Some(shape) = a.input_shape.as_deref() {
        t.input_shape = parse_shape(shape)?;
    }
    if let Some(k) = a.classes {
        t.classes = k;
    }
    t.include_top = !a.no_top;
    let imported = cnn_torchvision::import_safetensors(&a.file, &t)
        .map_err(|e| bad_input("cannot import", name, e))?;
    Ok(Brought {
        model: imported.model,
        notes: imported.notes,
        extra: Default::default(),
        origin: "torchvision".into(),
    })
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
