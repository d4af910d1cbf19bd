//! Optimizers with Keras 3's update rules and defaults, and learning-rate schedules.
//!
//! | optimizer | defaults | update |
//! |---|---|---|
//! | SGD | lr 0.01, momentum 0, nesterov false | `m = μm − lr·g; w += m` (Nesterov: `w += μm − lr·g`) |
//! | RMSprop | lr 0.001, rho 0.9, momentum 0, ε 1e-7 | `v = ρv + (1−ρ)g²; w −= lr·g / sqrt(v + ε)` |
//! | Adam | lr 0.001, β 0.9/0.999, ε 1e-7 | `α = lr·sqrt(1−β₂ᵗ)/(1−β₁ᵗ); w −= α·m / (sqrt(v) + ε)` |
//! | AdamW | Adam's, weight decay 0.004 | `w −= w·wd·lr`, then Adam |
//!
//! Every optimizer also takes Keras 3's base-class `weight_decay` ([`Optimizer::weight_decay`],
//! 0 by default): `w −= w·wd·lr` before the update, on every trainable weight (AdamW's own
//! decay is that one).

use cnn_tensor::Tensor;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{NnError, Result};
use crate::lookahead::{Lookahead, synchronise};

/// The update rule and its hyper-parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum OptimizerKind {
    /// Stochastic gradient descent, optionally with (Nesterov) momentum.
    Sgd {
        /// Momentum μ.
        momentum: f32,
        /// Nesterov momentum.
        nesterov: bool,
    },
    /// RMSprop.
    Rmsprop {
        /// Discount ρ.
        rho: f32,
        /// Momentum.
        momentum: f32,
        /// ε (inside the square root, as Keras 3).
        epsilon: f32,
        /// Divide by the gradient's estimated variance rather than its second moment.
        #[serde(default)]
        centered: bool,
    },
    /// Adam.
    Adam {
        /// β₁.
        beta_1: f32,
        /// β₂.
        beta_2: f32,
        /// ε.
        epsilon: f32,
        /// Use the largest second-moment estimate so far (AMSGrad).
        #[serde(default)]
        amsgrad: bool,
    },
    /// AdamW (decoupled weight decay).
    Adamw {
        /// β₁.
        beta_1: f32,
        /// β₂.
        beta_2: f32,
        /// ε.
        epsilon: f32,
        /// Weight decay.
        weight_decay: f32,
        /// AMSGrad.
        #[serde(default)]
        amsgrad: bool,
    },
    /// Adagrad: steps shrink with the sum of squared gradients.
    Adagrad {
        /// The accumulator's starting value.
        initial_accumulator_value: f32,
        /// ε (inside the square root).
        epsilon: f32,
    },
    /// Adadelta: steps scaled by running averages of past steps and gradients.
    Adadelta {
        /// Decay ρ.
        rho: f32,
        /// ε (inside both square roots).
        epsilon: f32,
    },
    /// Nadam: Adam with Nesterov momentum (Keras 3's momentum schedule).
    Nadam {
        /// β₁.
        beta_1: f32,
        /// β₂.
        beta_2: f32,
        /// ε.
        epsilon: f32,
    },
}

/// A learning-rate schedule as a function of the step count (Keras's `schedules`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Schedule {
    /// The base rate throughout.
    #[default]
    Constant,
    /// `lr · rate^(step / decay_steps)` (floored exponent with `staircase`).
    ExponentialDecay {
        /// Steps per decay period.
        decay_steps: u64,
        /// Factor per period.
        decay_rate: f32,
        /// Decay in whole periods.
        staircase: bool,
    },
    /// Cosine decay from the base rate to `alpha·lr` over `decay_steps`.
    CosineDecay {
        /// Length of the decay.
        decay_steps: u64,
        /// Final fraction of the base rate.
        alpha: f32,
    },
    /// Keras's `CosineDecay` with warm-up: a linear rise from `warmup_start·lr` to the base
    /// rate over `warmup_steps`, then cosine decay to `alpha·lr` over `decay_steps` (Keras's
    /// `CosineDecay(initial_learning_rate=warmup_start·lr, warmup_target=lr, warmup_steps,
    /// decay_steps, alpha)`; Goyal et al. 2017's gradual warm-up).
    CosineDecayWarmup {
        /// Length of the rise.
        warmup_steps: u64,
        /// Fraction of the base rate at step 0.
        warmup_start: f32,
        /// Length of the decay after the rise.
        decay_steps: u64,
        /// Final fraction of the base rate.
        alpha: f32,
    },
    /// Piecewise constant factors of the base rate, as Keras's `PiecewiseConstantDecay`:
    /// `factors[i]` applies up to and including step `boundaries[i]`, the last factor after the
    /// last boundary.
    Piecewise {
        /// Step boundaries, increasing.
        boundaries: Vec<u64>,
        /// One more factor than boundaries.
        factors: Vec<f32>,
    },
}

impl Schedule {
    /// The multiplier of the base rate at `step`.
    pub fn factor(&self, step: u64) -> f32 {
        match self {
            Schedule::Constant => 1.0,
            Schedule::ExponentialDecay {
                decay_steps,
                decay_rate,
                staircase,
            } => {
                let p = step as f64 / (*decay_steps).max(1) as f64;
                let p = if *staircase { p.floor() } else { p };
                (*decay_rate as f64).powf(p) as f32
            }
            Schedule::CosineDecay { decay_steps, alpha } => {
                let p = (step.min(*decay_steps) as f64) / (*decay_steps).max(1) as f64;
                let c = 0.5 * (1.0 + (std::f64::consts::PI * p).cos());
                ((1.0 - *alpha as f64) * c + *alpha as f64) as f32
            }
            Schedule::CosineDecayWarmup {
                warmup_steps,
                warmup_start,
                decay_steps,
                alpha,
            } => {
                let step = step.min(warmup_steps + decay_steps);
                if step < *warmup_steps {
                    let p = step as f64 / *warmup_steps as f64;
                    let start = *warmup_start as f64;
                    ((1.0 - start) * p + start) as f32
                } else {
                    Schedule::CosineDecay {
                        decay_steps: *decay_steps,
                        alpha: *alpha,
                    }
                    .factor(step - warmup_steps)
                }
            }
            Schedule::Piecewise {
                boundaries,
                factors,
            } => {
                // Keras: values[i] while step ≤ boundaries[i] (the boundary step itself
                // still takes the earlier value).
                let i = boundaries.iter().take_while(|&&b| step > b).count();
                factors.get(i).or(factors.last()).copied().unwrap_or(1.0)
            }
        }
    }
}

/// Nadam's factors at step `t` (1-based), as Keras 3 computes them: with
/// `u_i = β₁(1 − ½·0.96^i)` and `P_t = u_1·…·u_t`, the momentum's factor `u_{t+1} / (1 − P_t·u_{t+1})`,
/// the gradient's `(1 − u_t) / (1 − P_t)`, and the velocity's bias correction `1 − β₂^t`.
/// Past step 1,000, `0.96^i` is below f64's resolution next to 1, so `u_i = β₁` exactly and
/// the product needs at most 1,000 terms.
fn nadam_factors(beta_1: f32, beta_2: f32, t: f64) -> (f32, f32, f32) {
    const EXACT: u64 = 1000;
    let b1 = beta_1 as f64;
    let u = |step: f64| b1 * (1.0 - 0.5 * 0.96f64.powf(step));
    let steps = t as u64;
    let mut product: f64 = (1..=steps.min(EXACT)).map(|i| u(i as f64)).product();
    if steps > EXACT {
        product *= b1.powf((steps - EXACT) as f64);
    }
    let (u_t, u_next) = (u(t), u(t + 1.0));
    (
        (u_next / (1.0 - product * u_next)) as f32,
        ((1.0 - u_t) / (1.0 - product)) as f32,
        (1.0 - (beta_2 as f64).powf(t)) as f32,
    )
}

/// Runs `f` on every weight not `frozen` and its last slot (the moving average or lookahead's
/// slow weights), in parallel.
fn with_last_slot(
    params: &mut [Tensor],
    slots: &mut [Vec<Tensor>],
    frozen: &[bool],
    f: impl Fn(&mut Tensor, &mut Tensor) + Sync,
) {
    params
        .par_iter_mut()
        .zip(slots.par_iter_mut())
        .enumerate()
        .for_each(|(i, (p, slots))| {
            if frozen.get(i).copied().unwrap_or(false) {
                return;
            }
            if let Some(last) = slots.last_mut() {
                f(p, last);
            }
        });
}

/// Keras 3's `use_ema`: an exponential moving average of every trainable weight, updated
/// after each step (`a = m·a + (1 − m)·w`; the first step copies `w`), optionally written over
/// the weights every `overwrite_frequency` steps (a lookahead, as airbench uses), and written
/// over them when training ends ([`Optimizer::finalize_variable_values`], which `fit` calls).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ema {
    /// `ema_momentum` (Keras default 0.99).
    pub momentum: f32,
    /// `ema_overwrite_frequency`: copy the averages into the weights after every this many
    /// steps (`None`: only at the end).
    #[serde(default)]
    pub overwrite_frequency: Option<u64>,
}

/// An optimizer: rule, base learning rate, schedule, step count and per-weight slots.
#[derive(Clone, Debug, PartialEq)]
pub struct Optimizer {
    /// The update rule.
    pub kind: OptimizerKind,
    /// The base learning rate (callbacks such as ReduceLROnPlateau change it).
    pub learning_rate: f32,
    /// The schedule applied on top of the base rate.
    pub schedule: Schedule,
    /// Steps taken so far.
    pub iterations: u64,
    /// Keras's base-class `weight_decay`: `w −= w·wd·lr` before each update (0: none; AdamW
    /// decays by its own setting, not this one).
    pub weight_decay: f32,
    /// Keras's `use_ema` settings (`None`: no moving average).
    pub ema: Option<Ema>,
    /// Lookahead's slow weights (`None`: none; see [`Lookahead`]). Not combined with `ema`.
    pub lookahead: Option<Lookahead>,
    /// Keras's `exclude_from_weight_decay(var_names=…)`: weights whose name contains one of
    /// these strings are not decayed (see [`Optimizer::step_named`]).
    pub exclude_from_weight_decay: Vec<String>,
    /// Learning-rate multipliers by weight name (see [`Optimizer::with_lr_multiplier`]): the
    /// first fragment a weight's name contains sets its factor; other weights use 1.
    pub lr_multipliers: Vec<(String, f32)>,
    /// Per trainable weight, the slot tensors (momentum, velocity; the moving average last).
    slots: Vec<Vec<Tensor>>,
}

/// The serialisable part of an optimizer (everything but the slot tensors).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OptimizerConfig {
    /// The rule.
    pub kind: OptimizerKind,
    /// Base learning rate.
    pub learning_rate: f32,
    /// Schedule.
    #[serde(default)]
    pub schedule: Schedule,
    /// Steps taken.
    #[serde(default)]
    pub iterations: u64,
    /// Decoupled weight decay of every optimizer but AdamW.
    #[serde(default)]
    pub weight_decay: f32,
    /// Moving average of the weights.
    #[serde(default)]
    pub ema: Option<Ema>,
    /// Lookahead.
    #[serde(default)]
    pub lookahead: Option<Lookahead>,
    /// Name fragments of the weights weight decay leaves alone.
    #[serde(default)]
    pub exclude_from_weight_decay: Vec<String>,
    /// Learning-rate multipliers by weight-name fragment.
    #[serde(default)]
    pub lr_multipliers: Vec<(String, f32)>,
}

/// Names accepted by [`Optimizer::from_name`].
pub const OPTIMIZERS: &str =
    "sgd, momentum, nesterov, rmsprop, adam, amsgrad, adamw, adagrad, adadelta, nadam";

impl Optimizer {
    fn with(kind: OptimizerKind, lr: f32) -> Self {
        Optimizer {
            kind,
            learning_rate: lr,
            schedule: Schedule::Constant,
            iterations: 0,
            weight_decay: 0.0,
            ema: None,
            lookahead: None,
            exclude_from_weight_decay: Vec::new(),
            lr_multipliers: Vec::new(),
            slots: Vec::new(),
        }
    }

    /// SGD, Keras defaults (lr 0.01, no momentum).
    pub fn sgd(lr: f32) -> Self {
        Self::with(
            OptimizerKind::Sgd {
                momentum: 0.0,
                nesterov: false,
            },
            lr,
        )
    }

    /// SGD with momentum, optionally Nesterov.
    pub fn sgd_momentum(lr: f32, momentum: f32, nesterov: bool) -> Self {
        Self::with(OptimizerKind::Sgd { momentum, nesterov }, lr)
    }

    /// RMSprop, Keras defaults.
    pub fn rmsprop(lr: f32) -> Self {
        Self::with(
            OptimizerKind::Rmsprop {
                rho: 0.9,
                momentum: 0.0,
                epsilon: 1e-7,
                centered: false,
            },
            lr,
        )
    }

    /// Adam, Keras defaults.
    pub fn adam(lr: f32) -> Self {
        Self::with(
            OptimizerKind::Adam {
                beta_1: 0.9,
                beta_2: 0.999,
                epsilon: 1e-7,
                amsgrad: false,
            },
            lr,
        )
    }

    /// AdamW, Keras defaults (weight decay 0.004 unless given).
    pub fn adamw(lr: f32, weight_decay: f32) -> Self {
        Self::with(
            OptimizerKind::Adamw {
                beta_1: 0.9,
                beta_2: 0.999,
                epsilon: 1e-7,
                weight_decay,
                amsgrad: false,
            },
            lr,
        )
    }

    /// Adagrad, Keras defaults (initial accumulator 0.1, ε 1e-7).
    pub fn adagrad(lr: f32) -> Self {
        Self::with(
            OptimizerKind::Adagrad {
                initial_accumulator_value: 0.1,
                epsilon: 1e-7,
            },
            lr,
        )
    }

    /// Adadelta, Keras defaults (ρ 0.95, ε 1e-7).
    pub fn adadelta(lr: f32) -> Self {
        Self::with(
            OptimizerKind::Adadelta {
                rho: 0.95,
                epsilon: 1e-7,
            },
            lr,
        )
    }

    /// Nadam, Keras defaults.
    pub fn nadam(lr: f32) -> Self {
        Self::with(
            OptimizerKind::Nadam {
                beta_1: 0.9,
                beta_2: 0.999,
                epsilon: 1e-7,
            },
            lr,
        )
    }

    /// An optimizer by name with Keras's default learning rate unless `lr` is given:
    /// `sgd` (0.01), `momentum` (SGD, 0.9), `nesterov` (SGD, Nesterov 0.9), `rmsprop` (0.001),
    /// `adam` (0.001), `amsgrad` (Adam with AMSGrad, 0.001), `adamw` (0.001), `adagrad` (0.001),
    /// `adadelta` (0.001), `nadam` (0.001).
    pub fn from_name(name: &str, lr: Option<f32>) -> Result<Self> {
        let o = match name.to_ascii_lowercase().as_str() {
            "sgd" => Self::sgd(lr.unwrap_or(0.01)),
            "momentum" => Self::sgd_momentum(lr.unwrap_or(0.01), 0.9, false),
            "nesterov" => Self::sgd_momentum(lr.unwrap_or(0.01), 0.9, true),
            "rmsprop" => Self::rmsprop(lr.unwrap_or(0.001)),
            "adam" => Self::adam(lr.unwrap_or(0.001)),
            "adamw" => Self::adamw(lr.unwrap_or(0.001), 0.004),
            "amsgrad" => {
                let mut o = Self::adam(lr.unwrap_or(0.001));
                if let OptimizerKind::Adam { amsgrad, .. } = &mut o.kind {
                    *amsgrad = true;
                }
                o
            }
            "adagrad" => Self::adagrad(lr.unwrap_or(0.001)),
            "adadelta" => Self::adadelta(lr.unwrap_or(0.001)),
            "nadam" => Self::nadam(lr.unwrap_or(0.001)),
            _ => {
                return Err(NnError::Unknown {
                    kind: "optimizer",
                    name: name.into(),
                    known: OPTIMIZERS.into(),
                });
            }
        };
        if !(o.learning_rate.is_finite() && o.learning_rate > 0.0) {
            return Err(NnError::Data(format!(
                "learning rate {} must be positive",
                o.learning_rate
            )));
        }
        Ok(o)
    }

    /// The same optimizer with Keras's `weight_decay` (see [`Optimizer::weight_decay`]).
    pub fn with_weight_decay(mut self, weight_decay: f32) -> Self {
        self.weight_decay = weight_decay;
        self
    }

    /// The same optimizer keeping a moving average of the weights (Keras's `use_ema=True`,
    /// `ema_momentum`, `ema_overwrite_frequency`; see [`Ema`]).
    pub fn with_ema(mut self, momentum: f32, overwrite_frequency: Option<u64>) -> Self {
        self.ema = Some(Ema {
            momentum,
            overwrite_frequency,
        });
        self.lookahead = None;
        self.slots.clear();
        self
    }

    /// The same optimizer wrapped in lookahead (see [`Lookahead`]; replaces a moving average
    /// set by [`Optimizer::with_ema`]). The slow weights start at the weights of the first
    /// step and are written over the weights when training ends
    /// ([`Optimizer::finalize_variable_values`]).
    pub fn with_lookahead(mut self, lookahead: Lookahead) -> Self {
        self.lookahead = Some(lookahead);
        self.ema = None;
        self.slots.clear();
        self
    }

    /// Keras's `finalize_variable_values`: with a moving average (or lookahead's slow
    /// weights), writes it over the weights (those not `frozen`); otherwise nothing. `fit`
    /// calls it after the last epoch.
    pub fn finalize_variable_values(&self, params: &mut [Tensor], frozen: &[bool]) {
        if (self.ema.is_none() && self.lookahead.is_none()) || self.slots.len() != params.len() {
            return;
        }
        for (i, (p, slots)) in params.iter_mut().zip(&self.slots).enumerate() {
            if frozen.get(i).copied().unwrap_or(false) {
                continue;
            }
            if let Some(avg) = slots.last().filter(|a| a.shape() == p.shape()) {
                p.data_mut().copy_from_slice(avg.data());
            }
        }
    }

    /// The same optimizer leaving out of weight decay every weight whose name contains one of
    /// `names` (Keras's `exclude_from_weight_decay(var_names=…)`, e.g. `["batch_normalization"]`
    /// or `["gamma", "beta", "bias"]`). Names reach the optimizer through
    /// [`Optimizer::step_named`], which `fit` and `train_step` use.
    pub fn excluding_from_weight_decay<S: Into<String>>(
        mut self,
        names: impl IntoIterator<Item = S>,
    ) -> Self {
        self.exclude_from_weight_decay = names.into_iter().map(Into::into).collect();
        self
    }

    /// The same optimizer scaling the gradient step of every weight whose name contains one of
    /// `names` by `factor` — PyTorch's parameter groups with their own `lr`, which Keras has no
    /// counterpart for. The factor scales the step only, not the weight decay (which stays
    /// `weight_decay · lr`): airbench94's batch-norm shifts learn 64x faster at the same decay
    /// (`with_lr_multiplier(["beta"], 64.0)`), and a factor of 0 freezes a weight where it
    /// starts (its batch-norm scales, Keras's `BatchNormalization(scale=False)`, when they are
    /// also spared the decay). Calls add up; the first fragment a name contains wins. Names
    /// reach the optimizer through [`Optimizer::step_named`], which `fit` and `train_step` use.
    pub fn with_lr_multiplier<S: Into<String>>(
        mut self,
        names: impl IntoIterator<Item = S>,
        factor: f32,
    ) -> Self {
        self.lr_multipliers
            .extend(names.into_iter().map(|n| (n.into(), factor)));
        self
    }

    /// The same optimizer with a schedule.
    pub fn with_schedule(mut self, schedule: Schedule) -> Self {
        self.schedule = schedule;
        self
    }

    /// The learning rate the next step will use.
    pub fn current_lr(&self) -> f32 {
        self.learning_rate * self.schedule.factor(self.iterations)
    }

    /// A short description (`adam(lr=0.001)`).
    pub fn describe(&self) -> String {
        let name = match &self.kind {
            OptimizerKind::Sgd { momentum, nesterov } if *momentum > 0.0 => {
                format!(
                    "sgd(momentum={momentum}{})",
                    if *nesterov { ", nesterov" } else { "" }
                )
            }
            OptimizerKind::Sgd { .. } => "sgd".into(),
            OptimizerKind::Rmsprop { centered: true, .. } => "rmsprop(centered)".into(),
            OptimizerKind::Rmsprop { .. } => "rmsprop".into(),
            OptimizerKind::Adam { amsgrad: true, .. } => "adam(amsgrad)".into(),
            OptimizerKind::Adam { .. } => "adam".into(),
            OptimizerKind::Adamw {
                weight_decay,
                amsgrad,
                ..
            } => format!(
                "adamw(weight_decay={weight_decay}{})",
                if *amsgrad { ", amsgrad" } else { "" }
            ),
            OptimizerKind::Adagrad { .. } => "adagrad".into(),
            OptimizerKind::Adadelta { .. } => "adadelta".into(),
            OptimizerKind::Nadam { .. } => "nadam".into(),
        };
        let mut text = if self.weight_decay != 0.0 {
            format!(
                "{name}, lr={}, weight_decay={}",
                self.learning_rate, self.weight_decay
            )
        } else {
            format!("{name}, lr={}", self.learning_rate)
        };
        for (fragment, factor) in &self.lr_multipliers {
            text.push_str(&format!(", lr x{factor} for {fragment}"));
        }
        if let Some(l) = &self.lookahead {
            text.push_str(&format!(", lookahead(k={}, decay={:.3}", l.period, l.decay));
            if l.ramp_steps > 0 {
                text.push_str(&format!(" x (step/{})^{}", l.ramp_steps, l.ramp_power));
            }
            text.push(')');
        }
        text
    }

    fn slot_names(&self) -> Vec<&'static str> {
        let mut names = self.kind_slot_names().to_vec();
        if self.ema.is_some() {
            names.push("average");
        }
        if self.lookahead.is_some() {
            names.push("slow");
        }
        names
    }

    fn kind_slot_names(&self) -> &'static [&'static str] {
        match &self.kind {
            OptimizerKind::Sgd { momentum, .. } if *momentum > 0.0 => &["momentum"],
            OptimizerKind::Sgd { .. } => &[],
            OptimizerKind::Rmsprop {
                momentum, centered, ..
            } => match (*momentum > 0.0, *centered) {
                (true, true) => &["velocity", "momentum", "average_gradient"],
                (true, false) => &["velocity", "momentum"],
                (false, true) => &["velocity", "average_gradient"],
                (false, false) => &["velocity"],
            },
            OptimizerKind::Adam { amsgrad: true, .. }
            | OptimizerKind::Adamw { amsgrad: true, .. } => {
                &["momentum", "velocity", "velocity_hat"]
            }
            OptimizerKind::Adam { .. }
            | OptimizerKind::Adamw { .. }
            | OptimizerKind::Nadam { .. } => &["momentum", "velocity"],
            OptimizerKind::Adagrad { .. } => &["accumulator"],
            OptimizerKind::Adadelta { .. } => &["accumulated_grad", "accumulated_delta_var"],
        }
    }

    fn ensure_slots(&mut self, params: &[Tensor]) -> Result<()> {
        let k = self.slot_names().len();
        if self.slots.len() != params.len() {
            self.slots = params
                .iter()
                .map(|p| {
                    (0..k)
                        .map(|_| match self.kind {
                            // Keras starts Adagrad's accumulator at a positive value.
                            OptimizerKind::Adagrad {
                                initial_accumulator_value: v,
                                ..
                            } => Tensor::full(p.shape().clone(), v),
                            _ => Tensor::zeros(p.shape().clone()),
                        })
                        .collect::<Result<Vec<_>, _>>()
                })
                .collect::<Result<_, _>>()?;
            if self.lookahead.is_some() {
                // The slow weights start at the weights training starts from.
                for (slots, p) in self.slots.iter_mut().zip(params) {
                    if let Some(slow) = slots.last_mut() {
                        slow.data_mut().copy_from_slice(p.data());
                    }
                }
            }
        }
        Ok(())
    }

    /// Applies one update to `params` from `grads` (same order and shapes).
    pub fn step(&mut self, params: &mut [Tensor], grads: &[Tensor]) -> Result<()> {
        self.step_except(params, grads, &[])
    }

    /// [`Optimizer::step`], leaving the weights `frozen` marks (by index; missing entries are
    /// not frozen) and their slots untouched, as Keras's optimizers never see a frozen layer's
    /// variables.
    pub fn step_except(
        &mut self,
        params: &mut [Tensor],
        grads: &[Tensor],
        frozen: &[bool],
    ) -> Result<()> {
        self.step_named(params, grads, frozen, &[])
    }

    /// [`Optimizer::step_except`] for weights called `names` (same order; may be empty), so
    /// that [`Optimizer::exclude_from_weight_decay`] can name the weights it spares.
    pub fn step_named(
        &mut self,
        params: &mut [Tensor],
        grads: &[Tensor],
        frozen: &[bool],
        names: &[String],
    ) -> Result<()> {
        let spared: Vec<bool> = (0..params.len())
            .map(|i| {
                names.get(i).is_some_and(|n| {
                    self.exclude_from_weight_decay
                        .iter()
                        .any(|e| n.contains(e.as_str()))
                })
            })
            .collect();
        let multiplier: Vec<f32> = (0..params.len())
            .map(|i| {
                names
                    .get(i)
                    .and_then(|n| {
                        self.lr_multipliers
                            .iter()
                            .find(|(e, _)| n.contains(e.as_str()))
                    })
                    .map_or(1.0, |&(_, f)| f)
            })
            .collect();
        if let Some((name, f)) = self
            .lr_multipliers
            .iter()
            .find(|(_, f)| !f.is_finite() || *f < 0.0)
        {
            return Err(NnError::Data(format!(
                "learning-rate multiplier {f} for \"{name}\" must be a non-negative number"
            )));
        }
        if params.len() != grads.len() {
            return Err(NnError::Data(format!(
                "{} gradients for {} weights",
                grads.len(),
                params.len()
            )));
        }
        for (p, g) in params.iter().zip(grads) {
            if p.shape() != g.shape() {
                return Err(NnError::Data(format!(
                    "gradient {} for a weight of shape {}",
                    g.shape(),
                    p.shape()
                )));
            }
        }
        if let Some(l) = &self.lookahead {
            l.validate().map_err(NnError::Data)?;
        }
        self.ensure_slots(params)?;
        let lr = self.current_lr();
        let t = (self.iterations + 1) as f64;
        let kind = self.kind.clone();
        // Nadam's step factors depend on the step only: once per step, not per weight.
        let nadam = match kind {
            OptimizerKind::Nadam { beta_1, beta_2, .. } => nadam_factors(beta_1, beta_2, t),
            _ => (0.0, 0.0, 1.0),
        };
        const CHUNK: usize = 1 << 14;
        let decay = match kind {
            OptimizerKind::Adamw { .. } => 0.0,
            _ => self.weight_decay * lr,
        };
        if !decay.is_finite() || decay < 0.0 {
            return Err(NnError::Data(format!(
                "weight decay {} must be a non-negative number",
                self.weight_decay
            )));
        }
        params
            .par_iter_mut()
            .zip(grads.par_iter())
            .zip(self.slots.par_iter_mut())
            .enumerate()
            .for_each(|(i, ((p, g), slots))| {
                if frozen.get(i).copied().unwrap_or(false) {
                    return;
                }
                let (w, g) = (p.data_mut(), g.data());
                if decay > 0.0 && !spared[i] {
                    w.iter_mut().for_each(|w| *w -= *w * decay);
                }
                // This weight's step size (its decay above and AdamW's below use the base rate).
                let base_lr = lr;
                let lr = lr * multiplier[i];
                match kind {
                    OptimizerKind::Sgd { momentum, nesterov } => {
                        if momentum > 0.0 {
                            let m = slots[0].data_mut();
                            for ((w, &g), m) in w.iter_mut().zip(g).zip(m) {
                                *m = momentum * *m - lr * g;
                                *w += if nesterov { momentum * *m - lr * g } else { *m };
                            }
                        } else {
                            w.iter_mut().zip(g).for_each(|(w, &g)| *w -= lr * g);
                        }
                    }
                    OptimizerKind::Rmsprop {
                        rho,
                        momentum,
                        epsilon,
                        centered,
                    } => {
                        let (v, rest) = slots.split_at_mut(1);
                        let v = v[0].data_mut();
                        let (mom, avg) = match (momentum > 0.0, centered) {
                            (true, true) => {
                                let (m, a) = rest.split_at_mut(1);
                                (Some(m[0].data_mut()), Some(a[0].data_mut()))
                            }
                            (true, false) => (Some(rest[0].data_mut()), None),
                            (false, true) => (None, Some(rest[0].data_mut())),
                            (false, false) => (None, None),
                        };
                        let (mut mom, mut avg) = (mom, avg);
                        for (i, (w, &g)) in w.iter_mut().zip(g).enumerate() {
                            v[i] = rho * v[i] + (1.0 - rho) * g * g;
                            let denominator = match avg.as_deref_mut() {
                                Some(a) => {
                                    a[i] = rho * a[i] + (1.0 - rho) * g;
                                    v[i] - a[i] * a[i] + epsilon
                                }
                                None => v[i] + epsilon,
                            };
                            let inc = lr * g / denominator.sqrt();
                            match mom.as_deref_mut() {
                                Some(m) => {
                                    m[i] = momentum * m[i] + inc;
                                    *w -= m[i];
                                }
                                None => *w -= inc,
                            }
                        }
                    }
                    OptimizerKind::Adagrad { epsilon, .. } => {
                        let acc = slots[0].data_mut();
                        for ((w, &g), a) in w.iter_mut().zip(g).zip(acc) {
                            *a += g * g;
                            *w -= lr * g / (*a + epsilon).sqrt();
                        }
                    }
                    OptimizerKind::Adadelta { rho, epsilon } => {
                        let (ag, ad) = slots.split_at_mut(1);
                        let (ag, ad) = (ag[0].data_mut(), ad[0].data_mut());
                        for (((w, &g), ag), ad) in w.iter_mut().zip(g).zip(ag).zip(ad) {
                            *ag = rho * *ag + (1.0 - rho) * g * g;
                            let delta = -((*ad + epsilon).sqrt() * g) / (*ag + epsilon).sqrt();
                            *ad = rho * *ad + (1.0 - rho) * delta * delta;
                            *w += lr * delta;
                        }
                    }
                    OptimizerKind::Nadam {
                        beta_1,
                        beta_2,
                        epsilon,
                    } => {
                        let (c1, c2, vc) = nadam;
                        let (m, v) = slots.split_at_mut(1);
                        let (m, v) = (m[0].data_mut(), v[0].data_mut());
                        for (((w, &g), m), v) in w.iter_mut().zip(g).zip(m).zip(v) {
                            *m += (g - *m) * (1.0 - beta_1);
                            *v += (g * g - *v) * (1.0 - beta_2);
                            let m_hat = c1 * *m + c2 * g;
                            let v_hat = *v / vc;
                            *w -= m_hat * lr / (v_hat.sqrt() + epsilon);
                        }
                    }
                    OptimizerKind::Adam {
                        beta_1,
                        beta_2,
                        epsilon,
                        amsgrad,
                    }
                    | OptimizerKind::Adamw {
                        beta_1,
                        beta_2,
                        epsilon,
                        amsgrad,
                        ..
                    } => {
                        if let OptimizerKind::Adamw { weight_decay, .. } = kind {
                            let k = weight_decay * base_lr;
                            w.iter_mut().for_each(|w| *w -= *w * k);
                        }
                        let alpha = (lr as f64 * (1.0 - (beta_2 as f64).powf(t)).sqrt()
                            / (1.0 - (beta_1 as f64).powf(t)))
                            as f32;
                        if amsgrad {
                            // v̂ = max(v̂, v) and the step divides by √v̂ (Keras 3's AMSGrad).
                            let (m, rest) = slots.split_at_mut(1);
                            let (v, vh) = rest.split_at_mut(1);
                            let (m, v, vh) = (m[0].data_mut(), v[0].data_mut(), vh[0].data_mut());
                            for (((w, &g), m), (v, vh)) in
                                w.iter_mut().zip(g).zip(m).zip(v.iter_mut().zip(vh))
                            {
                                *m += (g - *m) * (1.0 - beta_1);
                                *v += (g * g - *v) * (1.0 - beta_2);
                                *vh = vh.max(*v);
                                *w -= alpha * *m / (vh.sqrt() + epsilon);
                            }
                            return;
                        }
                        let (m, v) = slots.split_at_mut(1);
                        let (m, v) = (m[0].data_mut(), v[0].data_mut());
                        w.par_chunks_mut(CHUNK)
                            .zip(g.par_chunks(CHUNK))
                            .zip(m.par_chunks_mut(CHUNK).zip(v.par_chunks_mut(CHUNK)))
                            .for_each(|((w, g), (m, v))| {
                                for (((w, &g), m), v) in
                                    w.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut())
                                {
                                    *m += (g - *m) * (1.0 - beta_1);
                                    *v += (g * g - *v) * (1.0 - beta_2);
                                    *w -= alpha * *m / (v.sqrt() + epsilon);
                                }
                            });
                    }
                }
            });
        if let Some(ema) = self.ema {
            // Keras: the first step copies the weights; every `overwrite_frequency`-th step
            // (counting from 1) writes the averages back over them.
            let m = if self.iterations == 0 {
                0.0
            } else {
                ema.momentum
            };
            let overwrite = ema
                .overwrite_frequency
                .is_some_and(|f| f > 0 && (self.iterations + 1).is_multiple_of(f));
            with_last_slot(params, &mut self.slots, frozen, |p, avg| {
                for (a, &w) in avg.data_mut().iter_mut().zip(p.data()) {
                    *a = m * *a + (1.0 - m) * w;
                }
                if overwrite {
                    p.data_mut().copy_from_slice(avg.data());
                }
            });
        }
        if let Some(d) = self
            .lookahead
            .and_then(|l| l.decay_after(self.iterations + 1))
        {
            with_last_slot(params, &mut self.slots, frozen, |p, slow| {
                synchronise(p.data_mut(), slow.data_mut(), d)
            });
        }
        self.iterations += 1;
        Ok(())
    }

    /// The serialisable configuration.
    pub fn config(&self) -> OptimizerConfig {
        OptimizerConfig {
            kind: self.kind.clone(),
            learning_rate: self.learning_rate,
            schedule: self.schedule.clone(),
            iterations: self.iterations,
            weight_decay: self.weight_decay,
            ema: self.ema,
            lookahead: self.lookahead,
            exclude_from_weight_decay: self.exclude_from_weight_decay.clone(),
            lr_multipliers: self.lr_multipliers.clone(),
        }
    }

    /// Rebuilds an optimizer from its configuration (slots empty until [`Optimizer::set_slots`]
    /// or the first step).
    pub fn from_config(c: OptimizerConfig) -> Self {
        Optimizer {
            kind: c.kind,
            learning_rate: c.learning_rate,
            schedule: c.schedule,
            iterations: c.iterations,
            weight_decay: c.weight_decay,
            ema: c.ema,
            lookahead: c.lookahead,
            exclude_from_weight_decay: c.exclude_from_weight_decay,
            lr_multipliers: c.lr_multipliers,
            slots: Vec::new(),
        }
    }

    /// The slot tensors named `optimizer/<weight>/<slot>`, for saving.
    pub fn named_slots<'a>(&'a self, param_names: &'a [String]) -> Vec<(String, &'a Tensor)> {
        let names = self.slot_names();
        self.slots
            .iter()
            .zip(param_names)
            .flat_map(|(ts, p)| {
                ts.iter()
                    .zip(names.clone())
                    .map(move |(t, s)| (format!("optimizer/{p}/{s}"), t))
            })
            .collect()
    }

    /// The slot names this optimizer expects for `param_names`, for loading.
    pub fn expected_slots(&self, param_names: &[String]) -> Vec<String> {
        param_names
            .iter()
            .flat_map(|p| {
                self.slot_names()
                    .into_iter()
                    .map(move |s| format!("optimizer/{p}/{s}"))
            })
            .collect()
    }

    /// Installs slot tensors (per weight, in [`Optimizer::expected_slots`] order).
    pub fn set_slots(&mut self, slots: Vec<Vec<Tensor>>) {
        self.slots = slots;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: &[f32]) -> Tensor {
        Tensor::new([v.len()], v.to_vec()).unwrap()
    }

    #[test]
    fn weight_decay_spares_the_weights_named_for_exclusion() {
        let mut o = Optimizer::sgd(0.1)
            .with_weight_decay(0.5)
            .excluding_from_weight_decay(["gamma"]);
        let names = vec!["dense/kernel".to_string(), "bn/gamma".to_string()];
        let mut p = vec![t(&[2.0, -4.0]), t(&[1.0])];
        let g = vec![t(&[0.0, 0.0]), t(&[0.0])];
        o.step_named(&mut p, &g, &[], &names).unwrap();
        assert_eq!(p[0].data(), &[2.0 * 0.95, -4.0 * 0.95]);
        assert_eq!(p[1].data(), &[1.0]);
        // Without names nothing can be matched: every weight decays.
        o.step_except(&mut p, &g, &[]).unwrap();
        assert_eq!(p[1].data(), &[0.95]);
        // The setting survives the configuration round trip.
        let back = Optimizer::from_config(o.config());
        assert_eq!(back.exclude_from_weight_decay, ["gamma"]);
    }

    #[test]
    fn lookahead_pulls_the_weights_back_to_the_slow_weights_every_period() {
        // SGD at 0.1 on a constant gradient of 1: the fast weight falls by 0.1 a step; every
        // second step the slow weight (starting at 1) takes half the way to it.
        let mut o = Optimizer::sgd(0.1).with_lookahead(Lookahead::new(2, 0.5));
        let mut p = vec![t(&[1.0]), t(&[5.0])];
        let g = vec![t(&[1.0]), t(&[1.0])];
        let frozen = [false, true];
        let mut seen = Vec::new();
        for _ in 0..5 {
            o.step_except(&mut p, &g, &frozen).unwrap();
            seen.push(p[0].data()[0]);
        }
        let want = [0.9, 0.9, 0.8, 0.8, 0.7];
        for (s, w) in seen.iter().zip(want) {
            assert!((s - w).abs() < 1e-6, "{seen:?} against {want:?}");
        }
        assert_eq!(p[1].data(), &[5.0], "frozen weights are left alone");
        // Training ends on the slow weights (0.8), not the fast weight after step 5.
        o.finalize_variable_values(&mut p, &frozen);
        assert!((p[0].data()[0] - 0.8).abs() < 1e-6, "{}", p[0].data()[0]);
        assert_eq!(o.expected_slots(&["w".into()]), ["optimizer/w/slow"]);
        let back = Optimizer::from_config(o.config());
        assert_eq!(back.lookahead, Some(Lookahead::new(2, 0.5)));
        assert!(o.describe().contains("lookahead(k=2"), "{}", o.describe());
        // A bad setting is an error, not a silent no-op.
        let mut bad = Optimizer::sgd(0.1).with_lookahead(Lookahead::new(0, 0.5));
        assert!(bad.step(&mut p, &g).is_err());
    }

    #[test]
    fn lr_multipliers_scale_the_step_of_the_named_weights_only() {
        let mut o = Optimizer::sgd(0.1)
            .with_weight_decay(0.5)
            .excluding_from_weight_decay(["gamma"])
            .with_lr_multiplier(["beta"], 4.0)
            .with_lr_multiplier(["gamma"], 0.0);
        let names: Vec<String> = ["dense/kernel", "bn/beta", "bn/gamma"]
            .map(String::from)
            .to_vec();
        let mut p = vec![t(&[2.0]), t(&[1.0]), t(&[1.0])];
        let g = vec![t(&[1.0]), t(&[1.0]), t(&[1.0])];
        o.step_named(&mut p, &g, &[], &names).unwrap();
        // kernel: decayed by 0.5·0.1, stepped by 0.1; beta: the same decay, a 4x step;
        // gamma: spared the decay, no step.
        assert!((p[0].data()[0] - (2.0 * 0.95 - 0.1)).abs() < 1e-6);
        assert!((p[1].data()[0] - (0.95 - 0.4)).abs() < 1e-6);
        assert_eq!(p[2].data(), &[1.0]);
        assert!(o.describe().contains("lr x4 for beta"), "{}", o.describe());
        let back = Optimizer::from_config(o.config());
        assert_eq!(back.lr_multipliers, o.lr_multipliers);
        // A negative or non-finite factor is an error naming the fragment, not a step.
        let mut bad = Optimizer::sgd(0.1).with_lr_multiplier(["beta"], f32::NAN);
        let err = bad.step_named(&mut p, &g, &[], &names).unwrap_err();
        assert!(err.to_string().contains("beta"), "{err}");
        assert_eq!(bad.iterations, 0);
    }

    #[test]
    fn nadam_factors_need_only_the_first_thousand_steps_of_the_product() {
        let naive = |t: u64| {
            let u = |i: f64| 0.9 * (1.0 - 0.5 * 0.96f64.powf(i));
            let p: f64 = (1..=t).map(|i| u(i as f64)).product();
            let un = u(t as f64 + 1.0);
            (
                (un / (1.0 - p * un)) as f32,
                ((1.0 - u(t as f64)) / (1.0 - p)) as f32,
            )
        };
        for t in [1u64, 20, 999, 1000, 1001, 5000] {
            let (c1, c2, _) = nadam_factors(0.9, 0.999, t as f64);
            let (n1, n2) = naive(t);
            assert!((c1 - n1).abs() <= 1e-6 * n1.abs(), "step {t}: {c1} vs {n1}");
            assert!((c2 - n2).abs() <= 1e-6 * n2.abs(), "step {t}: {c2} vs {n2}");
        }
    }

    #[test]
    fn adam_first_step_moves_by_lr() {
        // With bias correction the first Adam step is lr·g/(|g| + ε') ≈ lr·sign(g).
        let mut p = vec![t(&[1.0, -2.0])];
        let mut o = Optimizer::adam(0.1);
        o.step(&mut p, &[t(&[0.5, -3.0])]).unwrap();
        assert!((p[0].data()[0] - 0.9).abs() < 1e-5);
        assert!((p[0].data()[1] + 1.9).abs() < 1e-5);
        assert_eq!(o.iterations, 1);
    }

    #[test]
    fn sgd_momentum_and_nesterov() {
        let mut p = vec![t(&[0.0])];
        let mut o = Optimizer::sgd_momentum(0.1, 0.9, false);
        o.step(&mut p, &[t(&[1.0])]).unwrap(); // m = -0.1, w = -0.1
        o.step(&mut p, &[t(&[1.0])]).unwrap(); // m = -0.19, w = -0.29
        assert!((p[0].data()[0] + 0.29).abs() < 1e-6);
        let mut p = vec![t(&[0.0])];
        let mut o = Optimizer::sgd_momentum(0.1, 0.9, true);
        o.step(&mut p, &[t(&[1.0])]).unwrap(); // m = -0.1, w += 0.9·(-0.1) - 0.1 = -0.19
        assert!((p[0].data()[0] + 0.19).abs() < 1e-6);
    }

    #[test]
    fn rmsprop_matches_keras_formula() {
        let mut p = vec![t(&[1.0])];
        let mut o = Optimizer::rmsprop(0.01);
        o.step(&mut p, &[t(&[2.0])]).unwrap();
        let v = 0.1 * 4.0f32;
        assert!((p[0].data()[0] - (1.0 - 0.01 * 2.0 / (v + 1e-7).sqrt())).abs() < 1e-6);
    }

    #[test]
    fn adamw_decays_weights() {
        let mut p = vec![t(&[1.0])];
        let mut o = Optimizer::adamw(0.1, 0.5);
        o.step(&mut p, &[t(&[0.0])]).unwrap();
        assert!((p[0].data()[0] - 0.95).abs() < 1e-6);
    }

    #[test]
    fn schedules() {
        let e = Schedule::ExponentialDecay {
            decay_steps: 10,
            decay_rate: 0.5,
            staircase: true,
        };
        assert_eq!(e.factor(9), 1.0);
        assert_eq!(e.factor(10), 0.5);
        let c = Schedule::CosineDecay {
            decay_steps: 100,
            alpha: 0.0,
        };
        assert!((c.factor(50) - 0.5).abs() < 1e-6);
        assert!(c.factor(100).abs() < 1e-6);
        let p = Schedule::Piecewise {
            boundaries: vec![5, 10],
            factors: vec![1.0, 0.1, 0.01],
        };
        // Keras's PiecewiseConstantDecay: the boundary step keeps the earlier value.
        assert_eq!(
            (p.factor(5), p.factor(6), p.factor(10), p.factor(11)),
            (1.0, 0.1, 0.1, 0.01)
        );
        assert!(Optimizer::from_name("lion", None).is_err());
        assert!(Optimizer::from_name("adam", Some(-1.0)).is_err());
    }
}
