//! `cnn evaluate`: loss, accuracy, per-class accuracy and the confusion matrix on a test set.

use std::path::PathBuf;

use anyhow::anyhow;
use clap::Args;
use cnn_nn::{ConfusionMatrix, Loss, Targets, argmax, top_k_accuracy};
use serde_json::json;

use crate::data_arg::{DataFlags, load};
use crate::error::{CliResult, UserError, bad_input};

/// Evaluate a saved model on a dataset's test split.
#[derive(Args, Debug)]
pub struct EvaluateArgs {
    /// A model saved by `cnn train`.
    #[arg(long, short)]
    model: PathBuf,
    /// Dataset (as for `cnn train`); its test split is used.
    #[arg(long, short)]
    dataset: String,
    #[command(flatten)]
    data: DataFlags,
    /// Test-time augmentation: `mirror` classifies each image by the mean of the class
    /// probabilities for the image and its left–right mirror (models trained with horizontal
    /// flips); `mirror-translate` adds that pair moved one pixel down-right and up-left, borders
    /// reflected (six views, airbench's second level: models trained with translations too)
    #[arg(long, value_enum)]
    tta: Option<Tta>,
    /// The same as `--tta mirror`.
    #[arg(long, conflicts_with = "tta")]
    mirror_tta: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// Test-time augmentation views.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Tta {
    /// The image and its mirror.
    Mirror,
    /// The mirrored pair, and the pair moved one pixel down-right and up-left.
    MirrorTranslate,
}

/// Runs the command.
pub fn run(a: &EvaluateArgs) -> CliResult<String> {
    let tta = if a.mirror_tta {
        Some(Tta::Mirror)
    } else {
        a.tta
    };
    let name = a.model.display().to_string();
    let mut saved = crate::model_arg::load_saved(&a.model)?;
    let loaded = load(&a.dataset, &a.data)?;
    let ds = loaded.dataset;
    let test = ds.test.as_ref().ok_or_else(|| {
        UserError::new(
            "no test split",
            a.dataset.clone(),
            "the dataset has no test images".into(),
        )
    })?;
    let x = test.images_f32(1.0 / 255.0).map_err(|e| anyhow!(e))?;
    saved
        .model
        .check_input(&x)
        .map_err(|e| bad_input("model does not fit the data", &name, e))?;
    let labels: Vec<usize> = test.labels.iter().map(|&l| l as usize).collect();
    let probs = match tta {
        Some(Tta::Mirror) => saved.model.predict_mirrored(&x, 500),
        Some(Tta::MirrorTranslate) => saved.model.predict_mirrored_translated(&x, 500),
        None => saved.model.predict(&x, 500),
    }
    .map_err(|e| bad_input("cannot evaluate", &name, e))?;
    let k = probs.dims()[1];
    let pred: Vec<usize> = probs.data().chunks(k).map(argmax).collect();
    let cm = ConfusionMatrix::new(&labels, &pred, k.max(ds.class_names.len()))
        .map_err(|e| anyhow!(e))?;
    let (loss, accuracy) = if tta.is_some() {
        let loss = mean_cross_entropy(probs.data(), k, &labels)
            .map_err(|e| bad_input("cannot evaluate", &name, e))?;
        (loss, cm.accuracy())
    } else {
        let y = Targets::Sparse(labels.clone());
        let e = saved
            .model
            .evaluate_arrays(&x, &y, Loss::SparseCategoricalCrossentropy, 500)
            .map_err(|e| bad_input("cannot evaluate", &name, e))?;
        (e.loss, e.accuracy)
    };
    let top5 = top_k_accuracy(&probs, &labels, 5.min(k)).map_err(|e| anyhow!(e))?;
    let names: Vec<String> = saved
        .extra
        .get("class_names")
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_else(|| ds.class_names.clone());
    if a.json {
        let per_class: Vec<_> = cm
            .per_class_accuracy()
            .iter()
            .zip(&names)
            .map(|(acc, n)| json!({"class": n, "accuracy": acc}))
            .collect();
        let v = json!({"model": name, "dataset": ds.name, "samples": labels.len(), "mirror_tta": tta.is_some(), "tta": tta.map(|t| match t { Tta::Mirror => "mirror", Tta::MirrorTranslate => "mirror-translate" }), "loss": loss, "accuracy": accuracy,
            "top5_accuracy": top5, "per_class": per_class, "confusion_matrix": cm.counts});
        return Ok(serde_json::to_string_pretty(&v).unwrap_or_default() + "\n");
    }
    Ok(format!(
        "{} on {} ({} test images{}): loss {:.4}, accuracy {:.4}, top-5 accuracy {:.4}\n\n{}",
        name,
        ds.name,
        labels.len(),
        match tta {
            Some(Tta::Mirror) => ", each averaged with its mirror image",
            Some(Tta::MirrorTranslate) =>
                ", each averaged over six views: with its mirror, and both moved one pixel each way",
            None => "",
        },
        loss,
        accuracy,
        top5,
        cm.to_text(&names)
    ))
}

/// Mean cross-entropy of class probabilities (rows of `k`) against sparse labels, with
/// probabilities clipped at 1e-7 as Keras does; a label the model has no class for is an error.
fn mean_cross_entropy(probs: &[f32], k: usize, labels: &[usize]) -> Result<f32, String> {
    let mut total = 0.0f64;
    for (i, (row, &t)) in probs.chunks(k.max(1)).zip(labels).enumerate() {
        let p = row
            .get(t)
            .ok_or_else(|| format!("label {t} of sample {i} is out of range for {k} classes"))?;
        total -= (p.clamp(1e-7, 1.0) as f64).ln();
    }
    Ok((total / labels.len().max(1) as f64) as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cross_entropy_of_probabilities_and_labels_out_of_range() {
        let probs = [0.5, 0.5, 0.0, 1.0];
        let l = mean_cross_entropy(&probs, 2, &[0, 1]).unwrap();
        assert!((l - 0.5 * 2f32.ln()).abs() < 1e-6, "{l}");
        // A zero probability is clipped, not infinite.
        let l = mean_cross_entropy(&probs, 2, &[0, 0]).unwrap();
        assert!((l - 0.5 * (2f32.ln() - 1e-7f32.ln())).abs() < 1e-3, "{l}");
        let err = mean_cross_entropy(&probs, 2, &[0, 7]).unwrap_err();
        assert_eq!(err, "label 7 of sample 1 is out of range for 2 classes");
    }
}
