//! [`Fit`]: Keras's `model.fit(...)` keyword arguments as a builder, so code reads
//! `Fit::new(&mut opt, loss).epochs(5).validation(&mut val).run(&mut model, &mut train)`
//! instead of positional `None, &mut []` arguments.

use crate::callbacks::Callback;
use crate::data::BatchSource;
use crate::error::Result;
use crate::history::History;
use crate::model::Model;
use crate::optimizer::Optimizer;
use crate::parallel::DataParallel;
use crate::train::{FitOptions, Loss};

/// One call of [`Model::fit`], built up argument by argument.
///
/// ```
/// use cnn_nn::{ArrayData, Fit, Loss, Model, ModelSpec, Optimizer, Targets, Tensor};
/// use cnn_nn::spec::layers::*;
/// let spec = ModelSpec::new("tiny", [4]).add(dense(8, "relu")).add(dense(2, "softmax"));
/// let mut model = Model::new(&spec, 0)?;
/// let x = Tensor::new([6, 4], (0..24).map(|i| (i % 5) as f32 / 5.0).collect())?;
/// let y = Targets::Sparse(vec![0, 1, 0, 1, 0, 1]);
/// let mut train = ArrayData::new(&x, &y, 3, true, 0)?;
/// let mut opt = Optimizer::adam(1e-2);
/// let history = Fit::new(&mut opt, Loss::SparseCategoricalCrossentropy)
///     .epochs(3)
///     .seed(1)
///     .run(&mut model, &mut train)?;
/// assert_eq!(history.epoch, [1, 2, 3]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Fit<'a> {
    opt: &'a mut Optimizer,
    loss: Loss,
    options: FitOptions,
    validation: Option<&'a mut dyn BatchSource>,
    callbacks: Vec<&'a mut dyn Callback>,
    parallel: DataParallel<'a>,
}

impl<'a> Fit<'a> {
    /// Training with `opt` on `loss`, one epoch, no validation, no callbacks.
    pub fn new(opt: &'a mut Optimizer, loss: Loss) -> Self {
        Fit {
            opt,
            loss,
            options: FitOptions::default(),
            validation: None,
            callbacks: Vec::new(),
            parallel: DataParallel::single(),
        }
    }

    /// Train until this epoch (Keras's `epochs`).
    pub fn epochs(mut self, epochs: usize) -> Self {
        self.options.epochs = epochs;
        self
    }

    /// Start from this epoch (Keras's `initial_epoch`, for resuming).
    pub fn initial_epoch(mut self, epoch: usize) -> Self {
        self.options.initial_epoch = epoch;
        self
    }

    /// Steps of the first epoch already done (resuming mid-epoch; see
    /// [`FitOptions::initial_step`]).
    pub fn initial_step(mut self, step: usize) -> Self {
        self.options.initial_step = step;
        self
    }

    /// Batches per epoch (default: the whole source once).
    pub fn steps_per_epoch(mut self, steps: usize) -> Self {
        self.options.steps_per_epoch = Some(steps);
        self
    }

    /// Validation batches per evaluation (default: all).
    pub fn validation_steps(mut self, steps: usize) -> Self {
        self.options.validation_steps = Some(steps);
        self
    }

    /// Seed of the dropout masks.
    pub fn seed(mut self, seed: u64) -> Self {
        self.options.seed = seed;
        self
    }

    /// All options at once.
    pub fn options(mut self, options: FitOptions) -> Self {
        self.options = options;
        self
    }

    /// Evaluate on `data` after each epoch (Keras's `validation_data`).
    pub fn validation(mut self, data: &'a mut dyn BatchSource) -> Self {
        self.validation = Some(data);
        self
    }

    /// Add a callback (Keras's `callbacks=[...]`), called in the order added.
    pub fn callback(mut self, callback: &'a mut dyn Callback) -> Self {
        self.callbacks.push(callback);
        self
    }

    /// Share every batch among ranks, or compute it in parts (see [`DataParallel`]).
    pub fn data_parallel(mut self, parallel: DataParallel<'a>) -> Self {
        self.parallel = parallel;
        self
    }

    /// Trains `model` on `train` and returns the history.
    pub fn run(self, model: &mut Model, train: &mut dyn BatchSource) -> Result<History> {
        let Fit {
            opt,
            loss,
            options,
            validation,
            mut callbacks,
            mut parallel,
        } = self;
        model.fit_parallel(
            opt,
            loss,
            train,
            validation,
            &options,
            &mut callbacks,
            &mut parallel,
        )
    }
}
