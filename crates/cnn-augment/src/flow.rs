//! `flow(x, y)`: augmented batches of in-memory arrays, as a [`BatchSource`] for `fit`.

use std::sync::Arc;

use cnn_nn::{BatchSource, Part, Targets};
use cnn_tensor::{Tensor, seeded_rng};
use rand::seq::SliceRandom;
use rayon::prelude::*;

use crate::error::{AugmentError, Result};
use crate::generator::{ImageDataGenerator, image_seed};
use crate::transform::Image;

/// Which part of a `validation_split` to iterate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subset {
    /// The training part.
    Training,
    /// The validation part.
    Validation,
}

/// Options of `flow` (Keras: `batch_size=32, shuffle=True, seed=None, subset=None`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowOptions {
    /// Images per batch.
    pub batch_size: usize,
    /// Reshuffle every epoch.
    pub shuffle: bool,
    /// Seed for shuffling and transforms.
    pub seed: u64,
    /// Part of a `validation_split`.
    pub subset: Option<Subset>,
}

impl Default for FlowOptions {
    fn default() -> Self {
        FlowOptions {
            batch_size: 32,
            shuffle: true,
            seed: 0,
            subset: None,
        }
    }
}

/// Augmented batches of `x` (`[N, H, W, C]`, pixel values as given, e.g. 0–255) and `y`.
/// Batch `step` of `epoch` is a pure function of them and the seed; the last batch of an epoch
/// is smaller; steps beyond `steps()` wrap into the next pass, so `fit` never runs out of data.
pub struct Flow {
    generator: Arc<ImageDataGenerator>,
    x: Arc<Tensor>,
    y: Arc<Targets>,
    indices: Vec<usize>,
    opts: FlowOptions,
}

impl Flow {
    /// A flow over `x` and `y` with `generator`'s transforms.
    pub fn new(
        generator: Arc<ImageDataGenerator>,
        x: Arc<Tensor>,
        y: Arc<Targets>,
        opts: FlowOptions,
    ) -> Result<Self> {
        generator.validate()?;
        let d = x.dims();
        if d.len() != 4 {
            return Err(AugmentError::Shape(format!(
                "flow needs [N, H, W, C] images, got {}",
                x.shape()
            )));
        }
        if d[0] != y.len() {
            return Err(AugmentError::Shape(format!(
                "{} images but {} targets",
                d[0],
                y.len()
            )));
        }
        if opts.batch_size == 0 {
            return Err(AugmentError::Config("batch_size must be at least 1".into()));
        }
        let n = d[0];
        let split = (n as f64 * generator.config.validation_split as f64) as usize;
        let indices: Vec<usize> = match opts.subset {
            None => (0..n).collect(),
            Some(_) if generator.config.validation_split == 0.0 => {
                return Err(AugmentError::Config(
                    "subset needs validation_split > 0".into(),
                ));
            }
            Some(Subset::Validation) => (0..split).collect(),
            Some(Subset::Training) => (split..n).collect(),
        };
        if indices.is_empty() {
            return Err(AugmentError::Shape("the subset holds no images".into()));
        }
        Ok(Flow {
            generator,
            x,
            y,
            indices,
            opts,
        })
    }

    /// The images of batch `step` of `epoch` and their sample indices.
    pub fn images(&self, epoch: usize, step: usize) -> Result<(Tensor, Vec<usize>)> {
        let (x, idx, _) = self.images_part(epoch, step, Part::WHOLE)?;
        Ok((x, idx))
    }

    /// [`Flow::images`] for `part` of the batch only (each rank augments its own images), and
    /// the whole batch's size.
    pub fn images_part(
        &self,
        epoch: usize,
        step: usize,
        part: Part,
    ) -> Result<(Tensor, Vec<usize>, usize)> {
        let d = self.x.dims();
        let (h, w, c) = (d[1], d[2], d[3]);
        let per = h * w * c;
        let xs = self.x.data();
        let (plan, whole) = BatchPlan::new(&self.indices, self.opts, epoch, step).part(part);
        let x = plan.augment_slices(&self.generator, (h, w, c), |i| &xs[i * per..(i + 1) * per])?;
        Ok((x, plan.idx, whole))
    }
}

/// Which samples make up batch `step` of `epoch` (steps past the end wrap into the next pass),
/// in a deterministic order.
pub(crate) struct BatchPlan {
    /// Sample indices of the batch.
    pub idx: Vec<usize>,
    pass_epoch: usize,
    start: usize,
    seed: u64,
}

impl BatchPlan {
    pub(crate) fn new(indices: &[usize], opts: FlowOptions, epoch: usize, step: usize) -> Self {
        let steps = indices.len().div_ceil(opts.batch_size).max(1);
        let pass = epoch * steps + step;
        let (pass_epoch, pass_step) = (pass / steps, pass % steps);
        let mut order = indices.to_vec();
        if opts.shuffle {
            order.shuffle(&mut seeded_rng(opts.seed.wrapping_add(pass_epoch as u64)));
        }
        let start = pass_step * opts.batch_size;
        let idx = order[start..(start + opts.batch_size).min(order.len())].to_vec();
        BatchPlan {
            idx,
            pass_epoch,
            start,
            seed: opts.seed,
        }
    }

    /// Only the samples of `part` (data parallelism), with the positions — and so the
    /// transforms — they have in the whole batch; also returns the whole batch's size.
    pub(crate) fn part(mut self, part: Part) -> (Self, usize) {
        let whole = self.idx.len();
        let r = part.range(whole);
        self.start += r.start;
        self.idx = self.idx[r].to_vec();
        (self, whole)
    }

    /// Augments in-memory images (`src(i)` is sample `i`'s HWC slice) in parallel, each written
    /// straight into its place in the batch.
    pub(crate) fn augment_slices<'s>(
        &self,
        generator: &ImageDataGenerator,
        (h, w, c): (usize, usize, usize),
        src: impl Fn(usize) -> &'s [f32] + Sync,
    ) -> Result<Tensor> {
        let per = h * w * c;
        let mut data = vec![0.0f32; self.idx.len() * per];
        data.par_chunks_mut(per.max(1))
            .zip(self.idx.par_iter())
            .enumerate()
            .for_each(|(k, (out, &i))| {
                generator.augment_into_flipped(
                    src(i),
                    (h, w, c),
                    image_seed(self.seed, self.pass_epoch, self.start + k),
                    generator.flip_of(self.seed, self.pass_epoch, i),
                    out,
                );
            });
        Ok(Tensor::new([self.idx.len(), h, w, c], data)?)
    }

    /// Loads and augments the batch's images in parallel into one `[B, H, W, C]` tensor.
    pub(crate) fn augment(
        &self,
        generator: &ImageDataGenerator,
        (h, w, c): (usize, usize, usize),
        load: impl Fn(usize) -> Result<Image> + Sync,
    ) -> Result<Tensor> {
        let out: Vec<Result<Vec<f32>>> = self
            .idx
            .par_iter()
            .enumerate()
            .map(|(k, &i)| {
                let img = load(i)?;
                Ok(generator
                    .augment_flipped(
                        &img,
                        image_seed(self.seed, self.pass_epoch, self.start + k),
                        generator.flip_of(self.seed, self.pass_epoch, i),
                    )
                    .data)
            })
            .collect();
        let mut data = Vec::with_capacity(self.idx.len() * h * w * c);
        for o in out {
            data.extend(o?);
        }
        Ok(Tensor::new([self.idx.len(), h, w, c], data)?)
    }
}

impl BatchSource for Flow {
    fn samples(&self) -> usize {
        self.indices.len()
    }

    fn steps(&self) -> usize {
        self.indices.len().div_ceil(self.opts.batch_size)
    }

    fn batch(&mut self, epoch: usize, step: usize) -> cnn_nn::Result<(Tensor, Targets)> {
        let (x, idx) = self.images(epoch, step)?;
        Ok((x, self.y.select(&idx)?))
    }

    fn batch_part(
        &mut self,
        epoch: usize,
        step: usize,
        part: Part,
    ) -> cnn_nn::Result<(Tensor, Targets, usize)> {
        let (x, idx, whole) = self.images_part(epoch, step, part)?;
        Ok((x, self.y.select(&idx)?, whole))
    }
}
