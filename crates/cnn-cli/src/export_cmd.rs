//! `cnn export`: a model out to another framework's format (ONNX, Keras 3).

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use cnn_nn::Model;
use cnn_onnx::{DEFAULT_OPSET, ExportOptions, OPSETS, export_onnx};

use crate::error::{CliResult, UserError, bad_input};
use crate::model_arg::{ModelSource, parse_shape, resolve};

/// The formats `cnn export` writes.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// ONNX (ONNX Runtime, TensorRT, browsers, phones).
    Onnx,
    /// A Keras 3 `.keras` file (`keras.saving.load_model`).
    Keras,
}

impl Format {
    /// The format an output file's extension names: `.keras` is Keras, anything else ONNX.
    fn of(path: &std::path::Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("keras") => Format::Keras,
            _ => Format::Onnx,
        }
    }
}

/// Export a model for another framework: ONNX with NHWC input (as you feed images) or NCHW, a
/// dynamic batch dimension, class names and preprocessing in its metadata; or a Keras 3
/// `.keras` file that `keras.saving.load_model` opens (to continue training in Keras, on a GPU
/// say, and come back with `cnn import`).
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    cnn export fashion.cnn -o fashion.onnx\n  \
    cnn export fashion.cnn -o fashion-nchw.onnx --nchw --opset 13\n  \
    cnn export fashion.cnn -o fashion.keras          (Keras 3; the format follows the extension)\n  \
    cnn export resnet50 -o resnet50.onnx            (a zoo model with fresh random weights)\n\n\
    Check an export: python scripts/onnx/check_onnx.py (needs onnx and onnxruntime) or \
    scripts/keras/check_keras.py (needs keras); docs/interop.md has the layer mapping.")]
pub struct ExportArgs {
    /// A model saved by `cnn train` (a zoo name or JSON spec exports fresh random weights).
    model: String,
    /// The file to write.
    #[arg(short, long)]
    out: PathBuf,
    /// Output format [default: keras for a `.keras` file, onnx otherwise].
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// ONNX opset (13 to 21).
    #[arg(long, default_value_t = DEFAULT_OPSET)]
    opset: i64,
    /// Images in (and image outputs out) as NCHW instead of Keras's NHWC.
    #[arg(long)]
    nchw: bool,
    /// Input shape HxWxC for zoo models and specs.
    #[arg(long)]
    input_shape: Option<String>,
    /// Number of classes for zoo models.
    #[arg(long)]
    classes: Option<usize>,
    /// Seed of the fresh weights of a zoo model or spec.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

/// Runs the command.
pub fn run(a: &ExportArgs) -> CliResult<String> {
    if !OPSETS.contains(&a.opset) {
        return Err(UserError::new(
            "bad option",
            "--opset".into(),
            format!(
                "{} is not supported: choose {} to {}",
                a.opset,
                OPSETS.start(),
                OPSETS.end()
            ),
        )
        .into());
    }
    if let Some(dir) = a.out.parent()
        && !dir.as_os_str().is_empty()
        && !dir.is_dir()
    {
        return Err(UserError::new(
            "cannot write",
            a.out.display().to_string(),
            format!("no directory {}", dir.display()),
        )
        .into());
    }
    let format = a.format.unwrap_or_else(|| Format::of(&a.out));
    if format == Format::Keras && a.nchw {
        return Err(UserError::new(
            "bad option",
            "--nchw".into(),
            "Keras models take NHWC images (channels_last); --nchw is for ONNX".into(),
        )
        .into());
    }
    let shape = a.input_shape.as_deref().map(parse_shape).transpose()?;
    let (model, mut metadata) = match resolve(&a.model, shape.as_deref(), a.classes)? {
        ModelSource::Spec(spec) => (
            Model::new(&spec, a.seed).map_err(|e| bad_input("impossible model", &a.model, e))?,
            vec![(
                "cnn.weights".to_string(),
                format!("random, seed {}", a.seed),
            )],
        ),
        ModelSource::Saved(s) => {
            let mut extra: Vec<(String, String)> = s.extra.into_iter().collect();
            extra.sort();
            (s.model, extra)
        }
    };
    metadata.push(("cnn.source".into(), a.model.clone()));
    let opts = ExportOptions {
        opset: a.opset,
        nchw: a.nchw,
        metadata,
    };
    let described = match format {
        Format::Onnx => {
            export_onnx(&model, &opts, &a.out).map_err(|e| match e {
                cnn_onnx::OnnxError::Write(w) => {
                    bad_input("cannot write", a.out.display().to_string(), w)
                }
                e => bad_input("cannot export", &a.model, e),
            })?;
            format!("ONNX opset {}", a.opset)
        }
        Format::Keras => {
            let extra = opts.metadata.iter().cloned().collect();
            cnn_keras::export_keras(&model, &a.out, &extra).map_err(|e| match e {
                cnn_keras::KerasError::Write(w) => {
                    bad_input("cannot write", a.out.display().to_string(), w)
                }
                e => bad_input("cannot export to Keras", &a.model, e),
            })?;
            format!("Keras {}", cnn_keras::KERAS_VERSION)
        }
    };
    let arch = model.architecture();
    let bytes = std::fs::metadata(&a.out).map(|m| m.len()).unwrap_or(0);
    let image = arch.input_shape.len() == 3;
    let layout = if image && a.nchw && format == Format::Onnx {
        "NCHW"
    } else {
        "NHWC"
    };
    let outputs: Vec<String> = arch
        .outputs
        .iter()
        .map(|&o| {
            let l = &arch.layers[o];
            format!(
                "`{}` {}",
                l.name,
                cnn_nn::layers::shape_str(&l.output_shape)
            )
        })
        .collect();
    Ok(format!(
        "{} ({} layers, {} parameters) -> {} ({described}, {:.1} MB)\n  input `{}` {} {layout}, \
         batch dimension `{}`\n  output {}\n",
        arch.name,
        arch.layers.len(),
        model
            .params()
            .iter()
            .chain(model.state())
            .map(|t| t.len())
            .sum::<usize>(),
        a.out.display(),
        bytes as f64 / 1e6,
        arch.input_name,
        cnn_nn::layers::shape_str(&arch.input_shape),
        match format {
            Format::Onnx => cnn_onnx::BATCH_DIM,
            Format::Keras => "None",
        },
        outputs.join(", ")
    ))
}
