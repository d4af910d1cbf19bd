//! One training run of an exercise: build the model, train it (optionally on augmented
//! batches), evaluate it on the test split, and save the model, its training curves and its
//! confusion matrix.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, anyhow};
use cnn_augment::{Flow, FlowOptions, ImageDataGenerator, Prefetch};
use cnn_nn::{
    ArrayData, BatchSource, Callback, ConfusionMatrix, FitOptions, History, Loss, Model, ModelSpec,
    Optimizer, ProgressBar, argmax, save_model_with,
};
use serde::Serialize;

use super::Common;
use super::data::{Split, Splits};

/// What to train and how.
pub struct Recipe {
    /// Short name used in tables and file names (`dense`, `convnet`).
    pub label: String,
    /// The network.
    pub spec: ModelSpec,
    /// The optimizer, with its schedule.
    pub optimizer: Optimizer,
    /// How the learning rate changes, in words.
    pub schedule: String,
    /// Epochs.
    pub epochs: usize,
    /// Samples per step.
    pub batch_size: usize,
    /// Augment training batches with this generator (pixels 0–255 in, rescaled by 1/255
    /// after augmenting, as Keras does).
    pub augment: Option<ImageDataGenerator>,
    /// Augmentation in words, for the report.
    pub augment_text: Option<String>,
    /// Also report test accuracy with test-time augmentation: class probabilities averaged
    /// over each image and its left–right mirror ([`Model::predict_mirrored`]).
    pub mirror_tta: bool,
    /// Also report test accuracy over six views: the mirrored pair, and both moved one pixel
    /// down-right and up-left ([`Model::predict_mirrored_translated`]).
    pub translate_tta: bool,
    /// The loss to train with.
    pub loss: Loss,
}

/// The files a run wrote, relative to the report directory.
#[derive(Clone, Debug, Serialize)]
pub struct RunFiles {
    /// The trained model.
    pub model: String,
    /// Training curves (PNG).
    pub curves: String,
    /// Confusion matrix on the test split (PNG).
    pub confusion: String,
}

/// The measured outcome of a run.
#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    /// The recipe's label.
    pub label: String,
    /// The model's name.
    pub model: String,
    /// Trainable and non-trainable parameters.
    pub params: u64,
    /// Epochs trained.
    pub epochs: usize,
    /// The optimizer.
    pub optimizer: String,
    /// The learning-rate schedule.
    pub schedule: String,
    /// Samples per step.
    pub batch_size: usize,
    /// Augmentation, if any.
    pub augmentation: Option<String>,
    /// Training samples.
    pub train_samples: usize,
    /// Wall time of training (validation included), seconds.
    pub train_seconds: f64,
    /// Mean training throughput.
    pub samples_per_second: f64,
    /// Training accuracy of the last epoch (running mean over its batches, as Keras reports).
    pub train_accuracy: f32,
    /// Validation accuracy after the last epoch.
    pub val_accuracy: f32,
    /// Test accuracy.
    pub test_accuracy: f32,
    /// Test accuracy with left–right mirror test-time augmentation, when the recipe asks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_accuracy_mirrored: Option<f32>,
    /// Test accuracy over the mirrored and translated views, when the recipe asks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_accuracy_translated: Option<f32>,
    /// Test loss (cross-entropy).
    pub test_loss: f32,
    /// Accuracy on each class of the test split.
    pub per_class_accuracy: Vec<f32>,
    /// Test confusion matrix.
    pub confusion: ConfusionMatrix,
    /// Per-epoch history.
    pub history: History,
    /// Files written.
    pub files: RunFiles,
    /// The predicted class of every test sample, in order.
    #[serde(skip)]
    pub test_predictions: Vec<usize>,
    /// Whether each test sample was classified right, in order (for paired comparisons).
    #[serde(skip)]
    pub test_correct: Vec<bool>,
}

/// Predicts `split` in batches: the predicted classes and the mean cross-entropy (probabilities
/// clipped at 1e-7, as Keras does).
pub fn predict(model: &mut Model, split: &Split) -> Result<(Vec<usize>, f32)> {
    let scores = model.predict(&split.x, 500).map_err(|e| anyhow!(e))?;
    let k = scores.dims()[1];
    let mut preds = Vec::with_capacity(split.len());
    let mut loss = 0.0f64;
    for (row, &t) in scores.data().chunks(k).zip(&split.labels) {
        preds.push(argmax(row));
        loss -= (row[t].clamp(1e-7, 1.0) as f64).ln();
    }
    Ok((preds, (loss / split.len().max(1) as f64) as f32))
}

/// Accuracy on `split` of the probabilities averaged over each image and its left–right mirror.
pub fn mirrored_accuracy(model: &mut Model, split: &Split) -> Result<f32> {
    let scores = model
        .predict_mirrored(&split.x, 500)
        .map_err(|e| anyhow!(e))?;
    cnn_nn::accuracy(&scores, &split.labels).map_err(|e| anyhow!("mirror TTA accuracy: {e}"))
}

/// Where a run's batches come from.
pub struct Sources<'d> {
    /// Training batches (shuffled, possibly augmented).
    pub train: Box<dyn BatchSource + 'd>,
    /// Validation batches.
    pub val: Box<dyn BatchSource + 'd>,
}

/// Training and validation batches from in-memory splits; training batches go through the
/// recipe's generator (prefetched on a worker thread) when it has one.
pub fn array_sources<'d>(r: &Recipe, data: &'d Splits, seed: u64) -> Result<Sources<'d>> {
    let train: Box<dyn BatchSource + 'd> = match &r.augment {
        Some(generator) => {
            let mut generator = generator.clone();
            generator.config.rescale = Some(1.0 / 255.0);
            let mut x255 = data.train.x.clone();
            x255.map_inplace(|v| v * 255.0);
            let flow = Flow::new(
                Arc::new(generator),
                Arc::new(x255),
                Arc::new(data.train.y.clone()),
                FlowOptions {
                    batch_size: r.batch_size,
                    shuffle: true,
                    seed,
                    subset: None,
                },
            )
            .map_err(|e| anyhow!("augmentation: {e}"))?;
            Box::new(Prefetch::new(flow, 4))
        }
        None => Box::new(
            ArrayData::new(&data.train.x, &data.train.y, r.batch_size, true, seed)
                .map_err(|e| anyhow!(e))?,
        ),
    };
    let val = ArrayData::new(&data.val.x, &data.val.y, 500, false, 0).map_err(|e| anyhow!(e))?;
    Ok(Sources {
        train,
        val: Box::new(val),
    })
}

/// A run label as a file-name stem (`affine+strokes`, `plain`).
fn slug(label: &str) -> String {
    label.to_lowercase().replace([' ', '/'], "-")
}

/// Trains `r` on `data`, writing the model and pictures into `dir`; returns the report and
/// the trained model.
pub fn train(r: &Recipe, data: &Splits, c: &Common, dir: &Path) -> Result<(RunReport, Model)> {
    let sources = array_sources(r, data, c.seed)?;
    train_with(
        r,
        sources,
        &data.test,
        &data.class_names,
        &data.source,
        c,
        dir,
    )
}

/// Trains `r` on batches from `sources`, then evaluates on `test`, writing the model and
/// pictures into `dir`; returns the report and the trained model.
pub fn train_with(
    r: &Recipe,
    sources: Sources<'_>,
    test: &Split,
    class_names: &[String],
    data_source: &str,
    c: &Common,
    dir: &Path,
) -> Result<(RunReport, Model)> {
    let model =
        Model::new(&r.spec, c.seed).map_err(|e| anyhow!("building {}: {e}", r.spec.name))?;
    train_from(model, r, sources, test, class_names, data_source, c, dir)
}

/// As [`train_with`], starting from `model` (a pretrained one, say) instead of `r.spec` drawn
/// from the seed.
#[allow(clippy::too_many_arguments)]
pub fn train_from(
    mut model: Model,
    r: &Recipe,
    mut sources: Sources<'_>,
    test: &Split,
    class_names: &[String],
    data_source: &str,
    c: &Common,
    dir: &Path,
) -> Result<(RunReport, Model)> {
    let mut opt = r.optimizer.clone();
    let train_samples = sources.train.samples();
    let mut bar = ProgressBar::default();
    let mut tensorboard = match &c.tensorboard {
        Some(dir) => {
            // The validation set's first batch (up to 500 images) for the confusion matrix
            // and activations: never the test set, which only gives the final figure.
            let (x, y) = sources.val.batch(0, 0).map_err(|e| anyhow!(e))?;
            let tb = cnn_tensorboard::TensorBoard::new(dir.join(slug(&r.label))).update_freq(10);
            Some(match y {
                cnn_nn::Targets::Sparse(y) => tb.with_images(x, y, class_names.to_vec()),
                cnn_nn::Targets::Dense(_) => tb,
            })
        }
        None => None,
    };
    let mut callbacks: Vec<&mut dyn Callback> = Vec::new();
    if !c.quiet {
        callbacks.push(&mut bar);
    }
    if let Some(tb) = tensorboard.as_mut() {
        callbacks.push(tb);
    }
    let params = model.architecture().param_counts().0;
    eprintln!(
        "\n[{}] {} ({} params): {} epoch(s), {}, {}, batch {}{}, {} training samples, {} threads",
        r.label,
        r.spec.name,
        cnn_nn::commas(params),
        r.epochs,
        opt.describe(),
        r.schedule,
        r.batch_size,
        r.augment_text
            .as_deref()
            .map(|a| format!(", augmented: {a}"))
            .unwrap_or_default(),
        train_samples,
        rayon::current_num_threads()
    );
    let t0 = Instant::now();
    let history = model
        .fit(
            &mut opt,
            r.loss,
            sources.train.as_mut(),
            Some(sources.val.as_mut()),
            &FitOptions {
                epochs: r.epochs,
                seed: c.seed,
                ..Default::default()
            },
            &mut callbacks,
        )
        .map_err(|e| anyhow!("training {}: {e}", r.label))?;
    let train_seconds = t0.elapsed().as_secs_f64();
    let (preds, test_loss) = predict(&mut model, test)?;
    let test_accuracy_mirrored = if r.mirror_tta {
        Some(mirrored_accuracy(&mut model, test)?)
    } else {
        None
    };
    let test_accuracy_translated = if r.translate_tta {
        let scores = model
            .predict_mirrored_translated(&test.x, 500)
            .map_err(|e| anyhow!(e))?;
        Some(
            cnn_nn::accuracy(&scores, &test.labels)
                .map_err(|e| anyhow!("mirror and translate TTA accuracy: {e}"))?,
        )
    } else {
        None
    };
    let k = class_names.len();
    let confusion = ConfusionMatrix::new(&test.labels, &preds, k).map_err(|e| anyhow!(e))?;
    let slug = slug(&r.label);
    let files = RunFiles {
        model: format!("{slug}.cnn"),
        curves: format!("{slug}-curves.png"),
        confusion: format!("{slug}-confusion.png"),
    };
    let mut extra = HashMap::new();
    extra.insert(
        "class_names".to_string(),
        serde_json::to_string(class_names)?,
    );
    extra.insert("rescale".to_string(), (1.0f32 / 255.0).to_string());
    extra.insert("dataset".to_string(), data_source.to_string());
    save_model_with(
        &dir.join(&files.model),
        &model,
        Some(&opt),
        history.epoch.len(),
        Some(&history),
        &extra,
    )
    .with_context(|| format!("saving {}", files.model))?;
    let title = format!("{} ({}) on {}", r.label, r.spec.name, data_source);
    cnn_viz::save_png(
        &cnn_viz::history_chart(&history, &title)?,
        &dir.join(&files.curves),
    )?;
    cnn_viz::save_png(
        &cnn_viz::confusion_chart(
            &confusion,
            class_names,
            &format!("{}: test confusion matrix", r.label),
        )?,
        &dir.join(&files.confusion),
    )?;
    let n = history.samples_per_second.len().max(1) as f64;
    let report = RunReport {
        label: r.label.clone(),
        model: r.spec.name.clone(),
        params,
        epochs: history.epoch.len(),
        optimizer: opt.describe(),
        schedule: r.schedule.clone(),
        batch_size: r.batch_size,
        augmentation: r.augment_text.clone(),
        train_samples,
        train_seconds,
        samples_per_second: history.samples_per_second.iter().sum::<f64>() / n,
        train_accuracy: history.accuracy.last().copied().unwrap_or(f32::NAN),
        val_accuracy: history.val_accuracy.last().copied().unwrap_or(f32::NAN),
        test_accuracy: confusion.accuracy(),
        test_accuracy_mirrored,
        test_accuracy_translated,
        test_loss,
        per_class_accuracy: confusion.per_class_accuracy(),
        confusion,
        history,
        files,
        test_correct: preds
            .iter()
            .zip(&test.labels)
            .map(|(p, l)| p == l)
            .collect(),
        test_predictions: preds,
    };
    Ok((report, model))
}
