//! `cnn summary`: Keras's `model.summary()` for a zoo model, a JSON spec or a saved model.

use clap::Args;
use cnn_nn::{Architecture, no_top, summary};

use crate::error::{CliResult, bad_input};
use crate::model_arg::{ModelSource, parse_shape, resolve};

/// Print a model's layers, output shapes and parameter counts like Keras's `model.summary()`.
#[derive(Args, Debug)]
pub struct SummaryArgs {
    /// A zoo name (mnist-cnn, dense-mnist, lenet5, alexnet, alexnet-cifar, vgg-a … vgg-e,
    /// vgg16, vgg19, resnet50, resnet20-cifar), a JSON spec file, or a model saved by
    /// `cnn train`.
    model: String,
    /// Input shape HxWxC for zoo models and specs (e.g. 64x64x3).
    #[arg(long)]
    input_shape: Option<String>,
    /// Number of classes for zoo models.
    #[arg(long)]
    classes: Option<usize>,
    /// Without the classifier (Keras's include_top=False): the layers up to the last one that
    /// outputs an image, e.g. VGG16's convolutional base.
    #[arg(long)]
    no_top: bool,
    /// Add multiply-adds and activation memory per sample for every layer.
    #[arg(long)]
    flops: bool,
}

/// Runs the command.
pub fn run(a: &SummaryArgs) -> CliResult<String> {
    let shape = a.input_shape.as_deref().map(parse_shape).transpose()?;
    let spec = match resolve(&a.model, shape.as_deref(), a.classes)? {
        ModelSource::Spec(spec) => spec,
        ModelSource::Saved(s) => s.model.architecture().to_spec(),
    };
    let spec = if a.no_top {
        no_top(&spec).map_err(|e| bad_input("impossible model", &a.model, e))?
    } else {
        spec
    };
    let arch =
        Architecture::from_spec(&spec).map_err(|e| bad_input("impossible model", &a.model, e))?;
    Ok(summary(&arch, a.flops))
}
