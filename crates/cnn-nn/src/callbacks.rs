//! Training callbacks with Keras's names and defaults.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

use crate::error::Result;
use crate::history::History;
use crate::io::save_model_with;
use crate::model::Model;
use crate::optimizer::Optimizer;

/// What `fit` knows at the start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrainInfo {
    /// Last epoch (exclusive end of `initial_epoch..epochs`).
    pub epochs: usize,
    /// First epoch.
    pub initial_epoch: usize,
    /// Steps per epoch.
    pub steps: usize,
    /// Training samples per epoch.
    pub samples: usize,
}

/// Running metrics after a batch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchLogs {
    /// Step (1-based).
    pub step: usize,
    /// Steps in the epoch.
    pub steps: usize,
    /// Mean loss so far this epoch.
    pub loss: f32,
    /// Accuracy so far this epoch.
    pub accuracy: f32,
    /// Seconds since the epoch began.
    pub elapsed: f64,
}

/// Metrics at the end of an epoch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EpochLogs {
    /// Epoch (1-based).
    pub epoch: usize,
    /// Mean training loss.
    pub loss: f32,
    /// Training accuracy.
    pub accuracy: f32,
    /// Validation loss.
    pub val_loss: Option<f32>,
    /// Validation accuracy.
    pub val_accuracy: Option<f32>,
    /// Learning rate.
    pub learning_rate: f32,
    /// Wall time.
    pub seconds: f64,
    /// Training throughput.
    pub samples_per_second: f64,
    /// Steps run.
    pub steps: usize,
}

/// The quantity a callback watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Monitor {
    /// Validation loss (lower is better).
    ValLoss,
    /// Validation accuracy (higher is better).
    ValAccuracy,
    /// Training loss.
    Loss,
    /// Training accuracy.
    Accuracy,
}

impl Monitor {
    /// Parses a Keras monitor name (`val_loss`, `val_accuracy`, `loss`, `accuracy`).
    pub fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "val_loss" => Monitor::ValLoss,
            "val_accuracy" | "val_acc" => Monitor::ValAccuracy,
            "loss" => Monitor::Loss,
            "accuracy" | "acc" => Monitor::Accuracy,
            _ => return None,
        })
    }

    fn value(self, l: &EpochLogs) -> Option<f32> {
        match self {
            Monitor::ValLoss => l.val_loss,
            Monitor::ValAccuracy => l.val_accuracy,
            Monitor::Loss => Some(l.loss),
            Monitor::Accuracy => Some(l.accuracy),
        }
    }

    fn higher_is_better(self) -> bool {
        matches!(self, Monitor::ValAccuracy | Monitor::Accuracy)
    }

    /// Whether `v` improves on `best` by more than `min_delta` (Keras's `mode='auto'`).
    fn improves(self, v: f32, best: Option<f32>, min_delta: f32) -> bool {
        match best {
            None => v.is_finite(),
            Some(b) if self.higher_is_better() => v - min_delta > b,
            Some(b) => v + min_delta < b,
        }
    }
}

/// Whether training goes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Go on.
    Continue,
    /// Stop after this epoch.
    Stop,
}

/// What an epoch-end callback may touch.
pub struct EpochContext<'m> {
    /// The model being trained.
    pub model: &'m mut Model,
    /// Its optimizer.
    pub optimizer: &'m mut Optimizer,
    /// History so far (this epoch included).
    pub history: &'m History,
    /// The epoch just finished (1-based).
    pub epoch: usize,
    /// The state of the callbacks called before this one at this epoch's end, by key (what
    /// [`ModelCheckpoint`] saves so a resumed run can restore them).
    pub states: &'m CallbackStates,
}

/// Callbacks' states by key ([`Callback::state`]).
pub type CallbackStates = BTreeMap<String, Value>;

/// The metadata key under which [`ModelCheckpoint`] stores the callbacks' states.
pub const CALLBACK_STATES: &str = "callbacks";

/// Restores each callback's state from a checkpoint's metadata (the `extra` of a loaded
/// [`crate::Saved`]); returns how many were restored. A checkpoint without states restores
/// none.
///
/// # Errors
/// If the stored states are not valid JSON, or a callback refuses its state.
pub fn restore_callbacks(
    callbacks: &mut [&mut dyn Callback],
    extra: &HashMap<String, String>,
) -> Result<usize> {
    let Some(text) = extra.get(CALLBACK_STATES) else {
        return Ok(0);
    };
    let states: CallbackStates = serde_json::from_str(text)
        .map_err(|e| crate::NnError::Data(format!("callback states: {e}")))?;
    let mut n = 0;
    for c in callbacks.iter_mut() {
        if let Some((key, _)) = c.state()
            && let Some(v) = states.get(key)
        {
            c.restore_state(v)?;
            n += 1;
        }
    }
    Ok(n)
}

fn opt_f32(v: &Value, key: &str) -> Option<f32> {
    v.get(key).and_then(Value::as_f64).map(|x| x as f32)
}

fn usize_of(v: &Value, key: &str) -> usize {
    v.get(key).and_then(Value::as_u64).unwrap_or(0) as usize
}

/// Hooks called by `fit`.
pub trait Callback {
    /// Before the first epoch.
    fn on_train_begin(&mut self, _info: &TrainInfo) -> Result<()> {
        Ok(())
    }
    /// Before each epoch (1-based).
    fn on_epoch_begin(&mut self, _epoch: usize, _info: &TrainInfo) -> Result<()> {
        Ok(())
    }
    /// After each batch.
    fn on_batch_end(&mut self, _epoch: usize, _logs: &BatchLogs) {}
    /// Checked after every batch: `true` stops training right there (e.g. on Ctrl-C); the
    /// interrupted epoch is not recorded and `History::interrupted` says where it stopped.
    fn stop_requested(&self) -> bool {
        false
    }
    /// After each epoch; may stop training.
    fn on_epoch_end(&mut self, _ctx: &mut EpochContext<'_>, _logs: &EpochLogs) -> Result<Control> {
        Ok(Control::Continue)
    }
    /// After the last epoch.
    fn on_train_end(&mut self, _ctx: &mut EpochContext<'_>) -> Result<()> {
        Ok(())
    }
    /// What a resumed run needs to continue this callback where it was, under a key naming
    /// the callback; saved in checkpoints by [`ModelCheckpoint`] when it comes later in the
    /// list. `None`: nothing to keep.
    fn state(&self) -> Option<(&'static str, Value)> {
        None
    }
    /// Restores what [`Callback::state`] gave.
    fn restore_state(&mut self, _state: &Value) -> Result<()> {
        Ok(())
    }
}

/// Stops when the monitored value has not improved for `patience` epochs
/// (Keras: `monitor='val_loss', min_delta=0, patience=0, restore_best_weights=False`).
pub struct EarlyStopping {
    /// Watched value.
    pub monitor: Monitor,
    /// Epochs without improvement before stopping.
    pub patience: usize,
    /// Smallest change that counts as an improvement.
    pub min_delta: f32,
    /// Put the best epoch's weights back when stopping.
    pub restore_best_weights: bool,
    best: Option<f32>,
    wait: usize,
    best_weights: Option<Model>,
    /// The epoch at which training was stopped, if it was.
    pub stopped_epoch: Option<usize>,
}

impl EarlyStopping {
    /// Keras's defaults for `monitor`.
    pub fn new(monitor: Monitor, patience: usize) -> Self {
        EarlyStopping {
            monitor,
            patience,
            min_delta: 0.0,
            restore_best_weights: false,
            best: None,
            wait: 0,
            best_weights: None,
            stopped_epoch: None,
        }
    }
}

impl Callback for EarlyStopping {
    fn on_epoch_end(&mut self, ctx: &mut EpochContext<'_>, logs: &EpochLogs) -> Result<Control> {
        let Some(v) = self.monitor.value(logs) else {
            return Ok(Control::Continue);
        };
        if self.monitor.improves(v, self.best, self.min_delta) {
            self.best = Some(v);
            self.wait = 0;
            if self.restore_best_weights {
                self.best_weights = Some(ctx.model.clone());
            }
            return Ok(Control::Continue);
        }
        self.wait += 1;
        if self.wait > self.patience || (self.patience == 0 && self.wait >= 1) {
            self.stopped_epoch = Some(ctx.epoch);
            if let Some(best) = &self.best_weights {
                ctx.model.copy_weights_from(best);
            }
            return Ok(Control::Stop);
        }
        Ok(Control::Continue)
    }

    /// The best value and the epochs since. The best weights themselves are not part of it:
    /// after a resume, `restore_best_weights` restores the best weights seen since the resume.
    fn state(&self) -> Option<(&'static str, Value)> {
        Some((
            "early_stopping",
            json!({"best": self.best, "wait": self.wait, "stopped_epoch": self.stopped_epoch}),
        ))
    }

    fn restore_state(&mut self, v: &Value) -> Result<()> {
        self.best = opt_f32(v, "best");
        self.wait = usize_of(v, "wait");
        self.stopped_epoch = v
            .get("stopped_epoch")
            .and_then(Value::as_u64)
            .map(|e| e as usize);
        Ok(())
    }
}

impl EarlyStopping {
    /// The best monitored value so far and the epochs since it.
    pub fn progress(&self) -> (Option<f32>, usize) {
        (self.best, self.wait)
    }
}

/// Multiplies the learning rate by `factor` when the monitored value plateaus
/// (Keras: `monitor='val_loss', factor=0.1, patience=10, min_delta=1e-4, cooldown=0, min_lr=0`).
pub struct ReduceLrOnPlateau {
    /// Watched value.
    pub monitor: Monitor,
    /// Multiplier.
    pub factor: f32,
    /// Epochs without improvement before reducing.
    pub patience: usize,
    /// Smallest change that counts.
    pub min_delta: f32,
    /// Epochs to wait after a reduction.
    pub cooldown: usize,
    /// Floor of the learning rate.
    pub min_lr: f32,
    best: Option<f32>,
    wait: usize,
    cooldown_left: usize,
}

impl Default for ReduceLrOnPlateau {
    fn default() -> Self {
        ReduceLrOnPlateau {
            monitor: Monitor::ValLoss,
            factor: 0.1,
            patience: 10,
            min_delta: 1e-4,
            cooldown: 0,
            min_lr: 0.0,
            best: None,
            wait: 0,
            cooldown_left: 0,
        }
    }
}

impl Callback for ReduceLrOnPlateau {
    fn on_epoch_end(&mut self, ctx: &mut EpochContext<'_>, logs: &EpochLogs) -> Result<Control> {
        let Some(v) = self.monitor.value(logs) else {
            return Ok(Control::Continue);
        };
        if self.cooldown_left > 0 {
            self.cooldown_left -= 1;
            self.wait = 0;
        }
        if self.monitor.improves(v, self.best, self.min_delta) {
            self.best = Some(v);
            self.wait = 0;
        } else if self.cooldown_left == 0 {
            self.wait += 1;
            if self.wait >= self.patience {
                let lr = ctx.optimizer.learning_rate;
                let new = (lr * self.factor).max(self.min_lr);
                if new < lr {
                    ctx.optimizer.learning_rate = new;
                    self.cooldown_left = self.cooldown;
                }
                self.wait = 0;
            }
        }
        Ok(Control::Continue)
    }

    fn state(&self) -> Option<(&'static str, Value)> {
        Some((
            "reduce_lr_on_plateau",
            json!({"best": self.best, "wait": self.wait, "cooldown_left": self.cooldown_left}),
        ))
    }

    fn restore_state(&mut self, v: &Value) -> Result<()> {
        self.best = opt_f32(v, "best");
        self.wait = usize_of(v, "wait");
        self.cooldown_left = usize_of(v, "cooldown_left");
        Ok(())
    }
}

impl ReduceLrOnPlateau {
    /// The best monitored value, the epochs since it, and the cooldown epochs left.
    pub fn progress(&self) -> (Option<f32>, usize, usize) {
        (self.best, self.wait, self.cooldown_left)
    }
}

/// Saves the model (with optimizer state and epoch, so training can resume) after each epoch,
/// or only when the monitored value improves (`save_best_only`). Writes are atomic.
pub struct ModelCheckpoint {
    /// Destination file.
    pub path: PathBuf,
    /// Watched value for `save_best_only`.
    pub monitor: Monitor,
    /// Save only improvements.
    pub save_best_only: bool,
    /// Extra metadata stored in every checkpoint (class names, preprocessing).
    pub extra: HashMap<String, String>,
    best: Option<f32>,
}

impl ModelCheckpoint {
    /// A checkpoint at `path`.
    pub fn new(path: impl Into<PathBuf>, monitor: Monitor, save_best_only: bool) -> Self {
        ModelCheckpoint {
            path: path.into(),
            monitor,
            save_best_only,
            extra: HashMap::new(),
            best: None,
        }
    }
}

impl Callback for ModelCheckpoint {
    fn on_epoch_end(&mut self, ctx: &mut EpochContext<'_>, logs: &EpochLogs) -> Result<Control> {
        if self.save_best_only {
            let Some(v) = self.monitor.value(logs) else {
                return Ok(Control::Continue);
            };
            if !self.monitor.improves(v, self.best, 0.0) {
                return Ok(Control::Continue);
            }
            self.best = Some(v);
        }
        // The states of the callbacks before this one, and its own, go into the file.
        let mut states = ctx.states.clone();
        if let Some((k, v)) = self.state() {
            states.insert(k.to_string(), v);
        }
        let mut extra = self.extra.clone();
        extra.insert(
            CALLBACK_STATES.to_string(),
            serde_json::to_string(&states).unwrap_or_default(),
        );
        save_model_with(
            &self.path,
            ctx.model,
            Some(ctx.optimizer),
            ctx.epoch,
            Some(ctx.history),
            &extra,
        )?;
        Ok(Control::Continue)
    }

    fn state(&self) -> Option<(&'static str, Value)> {
        Some(("model_checkpoint", json!({"best": self.best})))
    }

    fn restore_state(&mut self, v: &Value) -> Result<()> {
        self.best = opt_f32(v, "best");
        Ok(())
    }
}

/// Rewrites a CSV of the history after every epoch (atomically).
pub struct CsvLogger {
    /// Destination file.
    pub path: PathBuf,
}

impl Callback for CsvLogger {
    fn on_epoch_end(&mut self, ctx: &mut EpochContext<'_>, _logs: &EpochLogs) -> Result<Control> {
        cnn_tensor::io::write_atomic(&self.path, ctx.history.to_csv().as_bytes())?;
        Ok(Control::Continue)
    }
}

/// Keras's number format in logs: `%.4f`, or `%.4e` for tiny magnitudes.
pub fn keras_number(v: f32) -> String {
    if v != 0.0 && v.abs() < 1e-3 {
        format!("{v:.4e}")
    } else {
        format!("{v:.4}")
    }
}

/// Keras's 30-character progress bar for `current` of `target`.
pub fn keras_bar(current: usize, target: usize) -> String {
    let width = 30;
    let filled = (width * current)
        .checked_div(target)
        .unwrap_or(width)
        .min(width);
    let mut bar = String::from("[");
    if filled > 0 {
        bar.push_str(&"=".repeat(filled - 1));
        bar.push(if current < target { '>' } else { '=' });
    }
    bar.push_str(&".".repeat(width - filled));
    bar.push(']');
    bar
}

/// Draws Keras's progress output on standard error: `Epoch 1/5`, then
/// `469/469 [==============================] - 14s 30ms/step - loss: 0.3100 - accuracy: 0.8890 - val_loss: ...`.
/// On a terminal the line is redrawn as batches finish (with an ETA); elsewhere only the final
/// line of each epoch is written.
pub struct ProgressBar {
    tty: bool,
    epochs: usize,
    last_draw: Option<Instant>,
    out: Box<dyn Write + Send>,
}

impl Default for ProgressBar {
    fn default() -> Self {
        ProgressBar::new(Box::new(std::io::stderr()), std::io::stderr().is_terminal())
    }
}

impl ProgressBar {
    /// A progress bar writing to `out`; `live` redraws the line after batches.
    pub fn new(out: Box<dyn Write + Send>, live: bool) -> Self {
        ProgressBar {
            tty: live,
            epochs: 0,
            last_draw: None,
            out,
        }
    }

    fn line(step: usize, steps: usize, elapsed: f64, done: bool, metrics: &str) -> String {
        let w = steps.to_string().len();
        let time = if done {
            let per = elapsed / step.max(1) as f64;
            let per = if per >= 1.0 {
                format!("{per:.0}s/step")
            } else {
                format!("{:.0}ms/step", per * 1e3)
            };
            format!("{:.0}s {per}", elapsed)
        } else {
            let eta = elapsed / step.max(1) as f64 * (steps - step) as f64;
            format!("ETA: {:.0}s", eta)
        };
        format!(
            "{step:>w$}/{steps} {} - {time}{metrics}",
            keras_bar(step, steps)
        )
    }
}

impl Callback for ProgressBar {
    fn on_train_begin(&mut self, info: &TrainInfo) -> Result<()> {
        self.epochs = info.epochs;
        Ok(())
    }

    fn on_epoch_begin(&mut self, epoch: usize, _info: &TrainInfo) -> Result<()> {
        let _ = writeln!(self.out, "Epoch {epoch}/{}", self.epochs);
        self.last_draw = None;
        Ok(())
    }

    fn on_batch_end(&mut self, _epoch: usize, l: &BatchLogs) {
        if !self.tty
            || l.step == l.steps
            || self
                .last_draw
                .is_some_and(|t| t.elapsed().as_millis() < 100)
        {
            return;
        }
        self.last_draw = Some(Instant::now());
        let m = format!(
            " - loss: {} - accuracy: {}",
            keras_number(l.loss),
            keras_number(l.accuracy)
        );
        let _ = write!(
            self.out,
            "\r{}",
            Self::line(l.step, l.steps, l.elapsed, false, &m)
        );
        let _ = self.out.flush();
    }

    fn on_epoch_end(&mut self, _ctx: &mut EpochContext<'_>, l: &EpochLogs) -> Result<Control> {
        let mut m = format!(
            " - loss: {} - accuracy: {}",
            keras_number(l.loss),
            keras_number(l.accuracy)
        );
        if let (Some(vl), Some(va)) = (l.val_loss, l.val_accuracy) {
            m.push_str(&format!(
                " - val_loss: {} - val_accuracy: {}",
                keras_number(vl),
                keras_number(va)
            ));
        }
        let prefix = if self.tty { "\r\x1b[2K" } else { "" };
        let _ = writeln!(
            self.out,
            "{prefix}{}",
            Self::line(l.steps, l.steps, l.seconds, true, &m)
        );
        Ok(Control::Continue)
    }
}

/// Stops training after the current step once `flag` is set (by a Ctrl-C handler, say).
pub struct StopFlag(pub std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Callback for StopFlag {
    fn stop_requested(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bar_and_numbers_like_keras() {
        assert_eq!(keras_bar(469, 469), format!("[{}]", "=".repeat(30)));
        assert_eq!(keras_bar(0, 469), format!("[{}]", ".".repeat(30)));
        assert_eq!(
            keras_bar(120, 469),
            format!("[{}>{}]", "=".repeat(6), ".".repeat(23))
        );
        assert_eq!(keras_number(0.31), "0.3100");
        assert_eq!(keras_number(0.0001234), "1.2340e-4");
        let l = ProgressBar::line(469, 469, 14.2, true, " - loss: 0.3100");
        assert_eq!(
            l,
            "469/469 [==============================] - 14s 30ms/step - loss: 0.3100"
        );
    }
}
