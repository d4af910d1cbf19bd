//! `fit`, `evaluate` and one training step, Keras style.

use std::time::Instant;

use cnn_ops::{Activation, Graph, Labels};
use cnn_tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::profile::{self, StepProfile};

use crate::callbacks::{
    BatchLogs, Callback, CallbackStates, Control, EpochContext, EpochLogs, TrainInfo,
};
use crate::data::{ArrayData, BatchSource, Targets, argmax, gather};
use crate::error::{NnError, Result};
use crate::history::History;
use crate::layers::ActivationKind;
use crate::model::{ForwardMode, Model};
use crate::optimizer::Optimizer;
use crate::parallel::DataParallel;

/// The loss to minimise (Keras names).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    /// Integer labels against a softmax output.
    SparseCategoricalCrossentropy,
    /// One-hot targets against a softmax output.
    CategoricalCrossentropy,
    /// Targets in `[0, 1]` against a sigmoid output.
    BinaryCrossentropy,
    /// Categorical cross-entropy against smoothed targets `(1 − ε)·y + ε/K` for `K` classes,
    /// from integer or one-hot labels: Keras's `CategoricalCrossentropy(label_smoothing=ε)`,
    /// PyTorch's `CrossEntropyLoss(label_smoothing=ε)` (Szegedy et al. 2016, §7). The loss
    /// reported includes the smoothing, as both report it.
    SmoothedCrossentropy {
        /// ε, in `[0, 1]`.
        label_smoothing: f32,
    },
}

impl Loss {
    /// The Keras name.
    pub fn name(&self) -> &'static str {
        match self {
            Loss::SparseCategoricalCrossentropy => "sparse_categorical_crossentropy",
            Loss::CategoricalCrossentropy => "categorical_crossentropy",
            Loss::BinaryCrossentropy => "binary_crossentropy",
            Loss::SmoothedCrossentropy { .. } => "categorical_crossentropy",
        }
    }

    /// The loss of that Keras name.
    pub fn from_name(name: &str) -> Result<Self> {
        Ok(match name {
            "sparse_categorical_crossentropy" => Loss::SparseCategoricalCrossentropy,
            "categorical_crossentropy" => Loss::CategoricalCrossentropy,
            "binary_crossentropy" => Loss::BinaryCrossentropy,
            _ => {
                return Err(NnError::Unknown {
                    kind: "loss",
                    name: name.into(),
                    known: "sparse_categorical_crossentropy, categorical_crossentropy, binary_crossentropy".into(),
                });
            }
        })
    }
}

/// Options of [`Model::fit`] (Keras's `fit` arguments).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FitOptions {
    /// Index of the last epoch to run (Keras counts `initial_epoch..epochs`).
    pub epochs: usize,
    /// Epoch to start from (for resuming).
    pub initial_epoch: usize,
    /// Steps of epoch `initial_epoch + 1` already done (resuming a run interrupted mid-epoch):
    /// that epoch continues from this step, drawing the batches and dropout masks the
    /// uninterrupted run would have drawn, so it ends with the same weights. Its logged loss
    /// and accuracy cover the remaining steps only.
    #[serde(default)]
    pub initial_step: usize,
    /// Batches per epoch; `None` = the whole source once (`ceil(n / batch)`).
    pub steps_per_epoch: Option<usize>,
    /// Validation batches per evaluation; `None` = all.
    pub validation_steps: Option<usize>,
    /// Seed of the dropout masks (shuffling is the source's).
    pub seed: u64,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            epochs: 1,
            initial_epoch: 0,
            initial_step: 0,
            steps_per_epoch: None,
            validation_steps: None,
            seed: 0,
        }
    }
}

/// Loss and accuracy over a dataset.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Mean loss.
    pub loss: f32,
    /// Fraction of correct predictions.
    pub accuracy: f32,
    /// Samples evaluated.
    pub samples: usize,
}

/// The result of one training step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepResult {
    /// Mean loss of the batch (before the update).
    pub loss: f32,
    /// Correct predictions in the batch.
    pub correct: usize,
    /// Batch size.
    pub count: usize,
}

fn correct(pred: &Tensor, targets: &Targets, binary: bool) -> usize {
    let truth = targets.classes();
    let k = pred.dims().get(1).copied().unwrap_or(1).max(1);
    pred.data()
        .chunks(k)
        .zip(&truth)
        .filter(|&(r, &t)| {
            if binary || k == 1 {
                ((r[0] >= 0.0) as usize) == t
            } else {
                argmax(r) == t
            }
        })
        .count()
}

/// What the loss needs to know about the model's output, taken before a graph borrows it.
struct OutputInfo {
    model: String,
    last_linear: bool,
}

impl OutputInfo {
    fn of(m: &Model) -> Result<Self> {
        let a = m.architecture();
        if a.outputs.len() != 1 {
            return Err(NnError::Model {
                model: a.name.clone(),
                message: format!(
                    "has {} outputs; training and evaluation take a model with one output \
                     (predict gives every output)",
                    a.outputs.len()
                ),
            });
        }
        let last_linear = a.layers[a.outputs[0]]
            .config()
            .final_activation()
            .is_some_and(|act| act.is_linear());
        Ok(OutputInfo {
            model: a.name.clone(),
            last_linear,
        })
    }

    /// The loss node of a forward pass whose final softmax/sigmoid was left out (fused).
    fn loss(
        &self,
        g: &mut Graph<'_>,
        out: cnn_ops::Var,
        omitted: Option<ActivationKind>,
        targets: &Targets,
        loss: Loss,
    ) -> Result<cnn_ops::Var> {
        let logits_ok = |want: ActivationKind| -> Result<()> {
            if omitted == Some(want) || self.last_linear {
                Ok(())
            } else {
                let need = if want == ActivationKind::Softmax {
                    "softmax"
                } else {
                    "sigmoid"
                };
                Err(NnError::Model {
                    model: self.model.clone(),
                    message: format!("{} needs a final {need} (or linear) layer", loss.name()),
                })
            }
        };
        Ok(match (loss, targets) {
            (Loss::SparseCategoricalCrossentropy, Targets::Sparse(l)) => {
                logits_ok(ActivationKind::Softmax)?;
                g.softmax_cross_entropy(out, &Labels::Sparse(l.clone()))?
            }
            (Loss::CategoricalCrossentropy, Targets::Dense(t)) => {
                logits_ok(ActivationKind::Softmax)?;
                g.softmax_cross_entropy(out, &Labels::OneHot(t.clone()))?
            }
            (Loss::SmoothedCrossentropy { label_smoothing: e }, targets) => {
                logits_ok(ActivationKind::Softmax)?;
                if !(0.0..=1.0).contains(&e) {
                    return Err(NnError::Data(format!(
                        "label smoothing {e} is outside [0, 1]"
                    )));
                }
                let dims = g.value(out).dims().to_vec();
                let k = dims.get(1).copied().unwrap_or(1);
                let mut t = match targets {
                    Targets::Dense(t) => t.clone(),
                    Targets::Sparse(l) if l.len() != dims[0] => {
                        return Err(NnError::Data(format!(
                            "{} labels for a batch of {}",
                            l.len(),
                            dims[0]
                        )));
                    }
                    Targets::Sparse(l) => {
                        let mut t = Tensor::zeros(dims.clone())?;
                        for (row, &c) in t.data_mut().chunks_exact_mut(k).zip(l) {
                            match row.get_mut(c) {
                                Some(v) => *v = 1.0,
                                None => {
                                    return Err(NnError::Data(format!(
                                        "label {c} is out of range for {k} classes"
                                    )));
                                }
                            }
                        }
                        t
                    }
                };
                let floor = e / k as f32;
                t.data_mut()
                    .iter_mut()
                    .for_each(|v| *v = *v * (1.0 - e) + floor);
                g.softmax_cross_entropy(out, &Labels::OneHot(t))?
            }
            (Loss::BinaryCrossentropy, Targets::Dense(t)) => {
                logits_ok(ActivationKind::Elementwise(Activation::Sigmoid))?;
                g.binary_cross_entropy_with_logits(out, t)?
            }
            (Loss::BinaryCrossentropy, Targets::Sparse(l)) => {
                logits_ok(ActivationKind::Elementwise(Activation::Sigmoid))?;
                let t = Tensor::new(g.value(out).dims(), l.iter().map(|&v| v as f32).collect())?;
                g.binary_cross_entropy_with_logits(out, &t)?
            }
            (l, _) => {
                let kind = if l == Loss::SparseCategoricalCrossentropy {
                    "integer"
                } else {
                    "one-hot"
                };
                return Err(NnError::Data(format!("{} needs {kind} targets", l.name())));
            }
        })
    }
}

impl Model {
    /// One optimisation step on a batch. The update is applied only if the loss and every
    /// gradient are finite; otherwise the weights are left as they were and an error says so.
    pub fn train_step(
        &mut self,
        x: &Tensor,
        y: &Targets,
        loss: Loss,
        opt: &mut Optimizer,
        seed: u64,
    ) -> Result<StepResult> {
        self.step(x, y, loss, opt, seed, None)
    }

    /// [`Model::train_step`], timed layer by layer (for `--profile` benchmarks). The result is
    /// identical to an unprofiled step.
    pub fn train_step_profiled(
        &mut self,
        x: &Tensor,
        y: &Targets,
        loss: Loss,
        opt: &mut Optimizer,
        seed: u64,
    ) -> Result<(StepResult, StepProfile)> {
        let mut p = StepProfile::default();
        let r = self.step(x, y, loss, opt, seed, Some(&mut p))?;
        Ok((r, p))
    }

    fn step(
        &mut self,
        x: &Tensor,
        y: &Targets,
        loss: Loss,
        opt: &mut Optimizer,
        seed: u64,
        mut profile: Option<&mut StepProfile>,
    ) -> Result<StepResult> {
        let t_step = profile::start(profile.is_some());
        let names: Vec<String> = if profile.is_some() {
            self.architecture()
                .layers
                .iter()
                .map(|l| l.name.clone())
                .collect()
        } else {
            Vec::new()
        };
        self.check_input(x)?;
        if y.len() != x.dims()[0] {
            return Err(NnError::Data(format!(
                "{} inputs but {} targets",
                x.dims()[0],
                y.len()
            )));
        }
        let (loss_value, correct_n, grads) =
            self.gradients(x, y, loss, seed, profile.as_deref_mut(), &names, 1.0, None)?;
        if !loss_value.is_finite() {
            return Err(NnError::NonFinite {
                value: loss_value,
                epoch: 0,
                step: 0,
            });
        }
        if let Some(i) = grads.iter().position(|g| !g.all_finite()) {
            return Err(NnError::Data(format!(
                "the gradient of {} is not finite",
                self.param_names()[i]
            )));
        }
        let t_opt = profile::start(profile.is_some());
        let frozen = self.frozen_params();
        let names = self.param_names().to_vec();
        opt.step_named(self.params_mut(), &grads, &frozen, &names)?;
        if let (Some(p), Some(t_opt), Some(t_step)) = (profile, t_opt, t_step) {
            p.optimizer = t_opt.elapsed();
            p.total = t_step.elapsed();
        }
        Ok(StepResult {
            loss: loss_value,
            correct: correct_n,
            count: y.len(),
        })
    }

    /// The loss, the correct predictions and every parameter's gradient of `scale × loss` on
    /// a batch (training mode; batch-norm moving statistics are updated, over every replica's
    /// rows when `replicas` is given). No update is applied.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn gradients(
        &mut self,
        x: &Tensor,
        y: &Targets,
        loss: Loss,
        seed: u64,
        profile: Option<&mut StepProfile>,
        names: &[String],
        scale: f32,
        replicas: Option<&dyn cnn_ops::ReplicaSum>,
    ) -> Result<(f32, usize, Vec<Tensor>)> {
        let info = OutputInfo::of(self)?;
        let (loss_value, correct_n, grads) = {
            let mut g = Graph::new();
            if profile.is_some() {
                g.profile();
            }
            if let Some(r) = replicas {
                g.sync_batch_norm(r);
            }
            let xv = g.constant(x);
            let f = self.forward(
                &mut g,
                xv,
                ForwardMode {
                    training: true,
                    logits: true,
                    seed,
                    fused: true,
                },
            )?;
            let l = info.loss(&mut g, f.output, f.omitted, y, loss)?;
            let lv = g.value(l).item().unwrap_or(f32::NAN);
            let c = correct(g.value(f.output), y, loss == Loss::BinaryCrossentropy);
            let mut grads = g.backward_scaled(l, scale)?;
            if let Some(p) = profile {
                *p = StepProfile::from_graph(&g, &grads, xv, &f.layer_outputs, names, l);
            }
            let gs: Vec<Tensor> = f
                .params
                .iter()
                .map(|&v| {
                    grads
                        .take(v)
                        .ok_or_else(|| NnError::Data("a weight got no gradient".into()))
                })
                .collect::<Result<_>>()?;
            (lv, c, gs)
        };
        Ok((loss_value, correct_n, grads))
    }

    /// Mean loss and accuracy over a batch source, in inference mode.
    pub fn evaluate(
        &mut self,
        data: &mut dyn BatchSource,
        loss: Loss,
        steps: Option<usize>,
    ) -> Result<Evaluation> {
        let steps = steps.unwrap_or(data.steps()).min(data.steps().max(1));
        let (mut total, mut right, mut n) = (0.0f64, 0usize, 0usize);
        for s in 0..steps {
            let (x, y) = data.batch(0, s)?;
            let (l, c, k) = self.batch_totals(&x, &y, loss)?;
            total += l;
            right += c;
            n += k;
        }
        Ok(Evaluation {
            loss: (total / n.max(1) as f64) as f32,
            accuracy: right as f32 / n.max(1) as f32,
            samples: n,
        })
    }

    /// Loss × samples, correct predictions and samples of one batch, in inference mode.
    pub(crate) fn batch_totals(
        &mut self,
        x: &Tensor,
        y: &Targets,
        loss: Loss,
    ) -> Result<(f64, usize, usize)> {
        self.check_input(x)?;
        let info = OutputInfo::of(self)?;
        let mut g = Graph::inference();
        let xv = g.constant(x);
        let f = self.forward(
            &mut g,
            xv,
            ForwardMode {
                training: false,
                logits: true,
                seed: 0,
                fused: true,
            },
        )?;
        let l = info.loss(&mut g, f.output, f.omitted, y, loss)?;
        Ok((
            g.value(l).item().unwrap_or(f32::NAN) as f64 * y.len() as f64,
            correct(g.value(f.output), y, loss == Loss::BinaryCrossentropy),
            y.len(),
        ))
    }

    /// Evaluates in-memory arrays in batches.
    pub fn evaluate_arrays(
        &mut self,
        x: &Tensor,
        y: &Targets,
        loss: Loss,
        batch_size: usize,
    ) -> Result<Evaluation> {
        let mut d = ArrayData::new(x, y, batch_size, false, 0)?;
        self.evaluate(&mut d, loss, None)
    }

    /// Trains for `options.initial_epoch..options.epochs` epochs on `train`, evaluating on
    /// `validation` after each, calling the callbacks, and returns the history.
    pub fn fit(
        &mut self,
        opt: &mut Optimizer,
        loss: Loss,
        train: &mut dyn BatchSource,
        validation: Option<&mut dyn BatchSource>,
        options: &FitOptions,
        callbacks: &mut [&mut dyn Callback],
    ) -> Result<History> {
        let mut dp = DataParallel::single();
        self.fit_parallel(opt, loss, train, validation, options, callbacks, &mut dp)
    }

    /// [`Model::fit`] with every batch shared as `dp` says (see [`DataParallel`]). Every rank
    /// runs the same callbacks on the same logs (losses and accuracies are totals over the
    /// ranks), so they take the same decisions; a stop asked on any rank stops them all.
    #[allow(clippy::too_many_arguments)]
    pub fn fit_parallel(
        &mut self,
        opt: &mut Optimizer,
        loss: Loss,
        train: &mut dyn BatchSource,
        mut validation: Option<&mut dyn BatchSource>,
        options: &FitOptions,
        callbacks: &mut [&mut dyn Callback],
        dp: &mut DataParallel<'_>,
    ) -> Result<History> {
        let steps = options.steps_per_epoch.unwrap_or(train.steps()).max(1);
        let info = TrainInfo {
            epochs: options.epochs,
            initial_epoch: options.initial_epoch,
            steps,
            samples: train.samples(),
        };
        for c in callbacks.iter_mut() {
            c.on_train_begin(&info)?;
        }
        let mut history = History::default();
        'epochs: for epoch in options.initial_epoch..options.epochs {
            for c in callbacks.iter_mut() {
                c.on_epoch_begin(epoch + 1, &info)?;
            }
            let t0 = Instant::now();
            let (mut sum, mut right, mut count) = (0.0f64, 0usize, 0usize);
            let first = if epoch == options.initial_epoch {
                options.initial_step.min(steps - 1)
            } else {
                0
            };
            for step in first..steps {
                let seed = options.seed
                    ^ ((epoch as u64) << 32 | step as u64).wrapping_mul(0xD6E8_FEB8_6659_FD93);
                let r = if dp.is_single() {
                    let (x, y) = train.batch(epoch, step)?;
                    self.train_step(&x, &y, loss, opt, seed)
                } else {
                    self.train_step_parallel(train, (epoch, step), loss, opt, seed, dp)
                };
                let r = r.map_err(|e| match e {
                    NnError::NonFinite { value, .. } => NnError::NonFinite {
                        value,
                        epoch: epoch + 1,
                        step: step + 1,
                    },
                    e => e,
                })?;
                sum += r.loss as f64 * r.count as f64;
                right += r.correct;
                count += r.count;
                let logs = BatchLogs {
                    step: step + 1,
                    steps,
                    loss: (sum / count as f64) as f32,
                    accuracy: right as f32 / count as f32,
                    elapsed: t0.elapsed().as_secs_f64(),
                };
                for c in callbacks.iter_mut() {
                    c.on_batch_end(epoch + 1, &logs);
                }
                let mut stop = callbacks.iter().any(|c| c.stop_requested());
                if dp.collective.is_some() {
                    // Ranks stop together: a stop asked here travels with the next step's sums
                    // (one step later), and every rank stops after the step whose sums carry one.
                    dp.stop_asked = stop;
                    stop = dp.stop_agreed;
                }
                if stop {
                    history.interrupted = Some((epoch + 1, step + 1));
                    break 'epochs;
                }
            }
            let train_secs = t0.elapsed().as_secs_f64();
            let val = match validation.as_deref_mut() {
                Some(v) => Some(self.evaluate_parallel(v, loss, options.validation_steps, dp)?),
                None => None,
            };
            let logs = EpochLogs {
                epoch: epoch + 1,
                loss: (sum / count.max(1) as f64) as f32,
                accuracy: right as f32 / count.max(1) as f32,
                val_loss: val.map(|v| v.loss),
                val_accuracy: val.map(|v| v.accuracy),
                learning_rate: opt.current_lr(),
                seconds: t0.elapsed().as_secs_f64(),
                samples_per_second: count as f64 / train_secs.max(1e-9),
                steps,
            };
            record(&mut history, &logs);
            let mut stop = false;
            for i in 0..callbacks.len() {
                // Each callback sees the states of those before it (a checkpoint saves them).
                let (done, rest) = callbacks.split_at_mut(i);
                let states: CallbackStates = done
                    .iter()
                    .filter_map(|c| c.state())
                    .map(|(k, v)| (k.to_string(), v))
                    .collect();
                let mut ctx = EpochContext {
                    model: self,
                    optimizer: opt,
                    history: &history,
                    epoch: epoch + 1,
                    states: &states,
                };
                if rest[0].on_epoch_end(&mut ctx, &logs)? == Control::Stop {
                    stop = true;
                }
            }
            if stop {
                break;
            }
        }
        // Keras's fit ends with `optimizer.finalize_variable_values` (the moving average, if
        // the optimizer keeps one, replaces the weights), before `on_train_end`.
        if !history.epoch.is_empty() {
            let frozen = self.frozen_params();
            opt.finalize_variable_values(self.params_mut(), &frozen);
        }
        for c in callbacks.iter_mut() {
            let epoch = history
                .epoch
                .last()
                .copied()
                .unwrap_or(options.initial_epoch);
            let states = CallbackStates::new();
            let mut ctx = EpochContext {
                model: self,
                optimizer: opt,
                history: &history,
                epoch,
                states: &states,
            };
            c.on_train_end(&mut ctx)?;
        }
        Ok(history)
    }

    /// The sample indices of a Keras `validation_split`: the last `fraction` of the samples.
    pub fn validation_split(
        x: &Tensor,
        y: &Targets,
        fraction: f32,
    ) -> Result<((Tensor, Targets), (Tensor, Targets))> {
        let n = y.len();
        if !(0.0..1.0).contains(&fraction) {
            return Err(NnError::Data(format!(
                "validation_split {fraction} must be in [0, 1)"
            )));
        }
        let cut = n - (n as f64 * fraction as f64) as usize;
        let a: Vec<usize> = (0..cut).collect();
        let b: Vec<usize> = (cut..n).collect();
        Ok((
            (gather(x, &a)?, y.select(&a)?),
            (gather(x, &b)?, y.select(&b)?),
        ))
    }
}

/// Appends one epoch's logs to the history.
fn record(h: &mut History, l: &EpochLogs) {
    h.epoch.push(l.epoch);
    h.loss.push(l.loss);
    h.accuracy.push(l.accuracy);
    if let Some(v) = l.val_loss {
        h.val_loss.push(v);
    }
    if let Some(v) = l.val_accuracy {
        h.val_accuracy.push(v);
    }
    h.learning_rate.push(l.learning_rate);
    h.seconds.push(l.seconds);
    h.samples_per_second.push(l.samples_per_second);
}
