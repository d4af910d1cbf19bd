//! Keras's `TensorBoard` callback: `log_dir/train` and `log_dir/validation` event files with
//! `epoch_loss`, `epoch_accuracy`, `epoch_learning_rate` per epoch (step = epoch, from 0, as
//! Keras counts), `batch_loss` / `batch_accuracy` every `update_freq` batches (step = global
//! batch), histograms of every weight every `histogram_freq` epochs, and — given validation
//! images — a confusion matrix and the first convolution's activation grid as images.

use std::path::PathBuf;

use cnn_nn::callbacks::{BatchLogs, EpochContext, EpochLogs, TrainInfo};
use cnn_nn::metrics::ConfusionMatrix;
use cnn_nn::{Callback, Control, Model, NnError, argmax};
use cnn_tensor::Tensor;

use crate::error::{Result, TbError};
use crate::writer::EventWriter;

/// Images to draw each epoch: a confusion matrix on them, and the activations of the first
/// feature-map layer for the first of them.
struct Images {
    x: Tensor,
    labels: Vec<usize>,
    class_names: Vec<String>,
}

/// Writes TensorBoard logs during `fit` (Keras's `keras.callbacks.TensorBoard`).
pub struct TensorBoard {
    log_dir: PathBuf,
    update_freq: Option<usize>,
    histogram_freq: usize,
    images: Option<Images>,
    train: Option<EventWriter>,
    validation: Option<EventWriter>,
    steps: usize,
}

fn nn_err(e: TbError) -> NnError {
    match e {
        TbError::Io { path, source } => NnError::Io { path, source },
        TbError::Model(e) => e,
        e => NnError::Data(format!("TensorBoard: {e}")),
    }
}

impl TensorBoard {
    /// Logs into `log_dir` per epoch, with weight histograms every epoch.
    pub fn new(log_dir: impl Into<PathBuf>) -> Self {
        TensorBoard {
            log_dir: log_dir.into(),
            update_freq: None,
            histogram_freq: 1,
            images: None,
            train: None,
            validation: None,
            steps: 0,
        }
    }

    /// Also logs the running loss and accuracy every `n` batches (Keras's integer
    /// `update_freq`); `0` turns it off.
    pub fn update_freq(mut self, n: usize) -> Self {
        self.update_freq = (n > 0).then_some(n);
        self
    }

    /// Weight histograms every `n` epochs; `0` turns them off.
    pub fn histogram_freq(mut self, n: usize) -> Self {
        self.histogram_freq = n;
        self
    }

    /// Draws, each epoch, the confusion matrix of the model on `x` (`[N, H, W, C]`) against
    /// `labels`, and the first feature-map layer's activations for `x`'s first image.
    pub fn with_images(mut self, x: Tensor, labels: Vec<usize>, class_names: Vec<String>) -> Self {
        self.images = Some(Images {
            x,
            labels,
            class_names,
        });
        self
    }

    /// The event file of the training logs, once training began.
    pub fn train_file(&self) -> Option<&std::path::Path> {
        self.train.as_ref().map(EventWriter::path)
    }

    /// The event file of the validation logs, once training began.
    pub fn validation_file(&self) -> Option<&std::path::Path> {
        self.validation.as_ref().map(EventWriter::path)
    }

    fn draw_images(&mut self, model: &mut Model, step: i64) -> Result<()> {
        let (Some(img), Some(w)) = (&self.images, self.validation.as_mut()) else {
            return Ok(());
        };
        let probs = model.predict(&img.x, 64)?;
        let k = probs.dims().last().copied().unwrap_or(1).max(1);
        let predicted: Vec<usize> = probs.data().chunks_exact(k).map(argmax).collect();
        let k = k.max(img.labels.iter().max().map_or(0, |&m| m + 1));
        let cm = ConfusionMatrix::new(&img.labels, &predicted, k)?;
        let chart = cnn_viz::confusion_chart(&cm, &img.class_names, "validation")?;
        let size = (chart.height(), chart.width(), 3);
        w.image("confusion_matrix", step, cnn_viz::encode_png(&chart)?, size)?;
        // `predict` checked the images' shape; an empty batch has no first image to show.
        let d = img.x.dims();
        let per_image: usize = d[1..].iter().product();
        if let Some(&layer) = cnn_viz::default_activation_layers(model).first()
            && d[0] > 0
        {
            let first = Tensor::new(d[1..].to_vec(), img.x.data()[..per_image].to_vec())
                .map_err(NnError::from)?;
            let acts = cnn_viz::activations(model, &first, &[layer])?;
            let grid = cnn_viz::activation_grid(&acts[0], &Default::default())?;
            let size = (grid.height(), grid.width(), 3);
            let tag = format!("activations/{}", acts[0].layer);
            w.image(&tag, step, cnn_viz::encode_png(&grid)?, size)?;
        }
        Ok(())
    }

    fn epoch_end(&mut self, ctx: &mut EpochContext<'_>, logs: &EpochLogs) -> Result<()> {
        let step = logs.epoch as i64 - 1;
        if let Some(w) = self.train.as_mut() {
            w.scalar("epoch_loss", step, logs.loss)?;
            w.scalar("epoch_accuracy", step, logs.accuracy)?;
            w.scalar("epoch_learning_rate", step, logs.learning_rate)?;
            if self.histogram_freq > 0 && logs.epoch.is_multiple_of(self.histogram_freq) {
                for (name, t) in ctx.model.named_weights() {
                    w.histogram(name, step, t.data())?;
                }
            }
        }
        if let Some(w) = self.validation.as_mut() {
            if let Some(v) = logs.val_loss {
                w.scalar("epoch_loss", step, v)?;
            }
            if let Some(v) = logs.val_accuracy {
                w.scalar("epoch_accuracy", step, v)?;
            }
        }
        self.draw_images(ctx.model, step)?;
        for w in [self.train.as_mut(), self.validation.as_mut()]
            .into_iter()
            .flatten()
        {
            w.flush()?;
        }
        Ok(())
    }
}

impl Callback for TensorBoard {
    fn on_train_begin(&mut self, info: &TrainInfo) -> cnn_nn::Result<()> {
        self.steps = info.steps;
        if self.train.is_none() {
            self.train = Some(EventWriter::create(&self.log_dir.join("train")).map_err(nn_err)?);
            self.validation =
                Some(EventWriter::create(&self.log_dir.join("validation")).map_err(nn_err)?);
        }
        Ok(())
    }

    fn on_batch_end(&mut self, epoch: usize, logs: &BatchLogs) {
        let (Some(n), Some(w)) = (self.update_freq, self.train.as_mut()) else {
            return;
        };
        if logs.step.is_multiple_of(n) {
            let global = ((epoch - 1) * self.steps + logs.step) as i64;
            // A failed write here is reported at the epoch's end, when the next one fails too.
            let _ = w.scalar("batch_loss", global, logs.loss);
            let _ = w.scalar("batch_accuracy", global, logs.accuracy);
        }
    }

    fn on_epoch_end(
        &mut self,
        ctx: &mut EpochContext<'_>,
        logs: &EpochLogs,
    ) -> cnn_nn::Result<Control> {
        self.epoch_end(ctx, logs).map_err(nn_err)?;
        Ok(Control::Continue)
    }

    fn on_train_end(&mut self, _ctx: &mut EpochContext<'_>) -> cnn_nn::Result<()> {
        for w in [self.train.as_mut(), self.validation.as_mut()]
            .into_iter()
            .flatten()
        {
            w.flush().map_err(nn_err)?;
        }
        Ok(())
    }
}
