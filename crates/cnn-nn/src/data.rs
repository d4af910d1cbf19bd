//! Training data: targets, and batch sources that `fit` pulls from.

use cnn_tensor::{Tensor, seeded_rng};
use rand::seq::SliceRandom;

use crate::error::{NnError, Result};
use crate::parallel::Part;

/// Targets for a batch or a dataset.
#[derive(Clone, Debug, PartialEq)]
pub enum Targets {
    /// One class index per sample (sparse categorical cross-entropy).
    Sparse(Vec<usize>),
    /// A target row per sample: one-hot `[N, K]` (categorical) or `[N, 1]` / `[N, K]` values in
    /// `[0, 1]` (binary cross-entropy).
    Dense(Tensor),
}

impl Targets {
    /// Number of samples.
    pub fn len(&self) -> usize {
        match self {
            Targets::Sparse(v) => v.len(),
            Targets::Dense(t) => t.dims().first().copied().unwrap_or(0),
        }
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The targets at `indices`.
    pub fn select(&self, indices: &[usize]) -> Result<Targets> {
        Ok(match self {
            Targets::Sparse(v) => Targets::Sparse(indices.iter().map(|&i| v[i]).collect()),
            Targets::Dense(t) => Targets::Dense(gather(t, indices)?),
        })
    }

    /// The class index of each sample (argmax for dense targets).
    pub fn classes(&self) -> Vec<usize> {
        match self {
            Targets::Sparse(v) => v.clone(),
            Targets::Dense(t) => {
                let k = t.dims().get(1).copied().unwrap_or(1).max(1);
                if k == 1 {
                    return t.data().iter().map(|&v| (v >= 0.5) as usize).collect();
                }
                t.data().chunks(k).map(argmax).collect()
            }
        }
    }
}

/// Index of the largest value (first on ties).
pub fn argmax(r: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in r.iter().enumerate() {
        if v > r[best] {
            best = i;
        }
    }
    best
}

/// Rows `indices` of `t` along the first axis.
pub fn gather(t: &Tensor, indices: &[usize]) -> Result<Tensor> {
    let n = t.dims().first().copied().unwrap_or(0);
    let per = t.len() / n.max(1);
    let mut data = Vec::with_capacity(indices.len() * per);
    for &i in indices {
        if i >= n {
            return Err(NnError::Data(format!(
                "sample index {i} out of range for {n} samples"
            )));
        }
        data.extend_from_slice(&t.data()[i * per..(i + 1) * per]);
    }
    let mut dims = t.dims().to_vec();
    if let Some(d) = dims.first_mut() {
        *d = indices.len();
    }
    Ok(Tensor::new(dims, data)?)
}

/// Anything `fit` can pull batches from: in-memory arrays, or an augmenting generator.
pub trait BatchSource {
    /// Samples per epoch.
    fn samples(&self) -> usize;
    /// Batches per epoch (Keras: `ceil(samples / batch_size)`).
    fn steps(&self) -> usize;
    /// Batch `step` (0-based) of `epoch` (0-based). Must be deterministic in `(epoch, step)`.
    fn batch(&mut self, epoch: usize, step: usize) -> Result<(Tensor, Targets)>;

    /// The samples `part.range(n)` of batch `step` of `epoch`, and `n`, the whole batch's size
    /// (data parallelism: each rank takes its part). The same samples, augmented the same way,
    /// as in [`BatchSource::batch`]. The default makes the whole batch and keeps the part;
    /// sources override it to load and augment only the part.
    fn batch_part(
        &mut self,
        epoch: usize,
        step: usize,
        part: Part,
    ) -> Result<(Tensor, Targets, usize)> {
        let (x, y) = self.batch(epoch, step)?;
        let n = y.len();
        if part.is_whole() {
            return Ok((x, y, n));
        }
        let idx: Vec<usize> = part.range(n).collect();
        Ok((gather(&x, &idx)?, y.select(&idx)?, n))
    }
}

/// In-memory arrays served in batches; reshuffled every epoch from `seed + epoch` when
/// `shuffle` is on, the last batch of an epoch smaller when the batch size does not divide the
/// sample count (Keras's behaviour).
pub struct ArrayData<'d> {
    x: &'d Tensor,
    y: &'d Targets,
    batch_size: usize,
    shuffle: bool,
    seed: u64,
    order: Vec<usize>,
    order_epoch: Option<usize>,
}

impl<'d> ArrayData<'d> {
    /// Batches of `x` and `y`, which must hold the same number of samples.
    pub fn new(
        x: &'d Tensor,
        y: &'d Targets,
        batch_size: usize,
        shuffle: bool,
        seed: u64,
    ) -> Result<Self> {
        let n = x.dims().first().copied().unwrap_or(0);
        if n != y.len() {
            return Err(NnError::Data(format!("{n} inputs but {} targets", y.len())));
        }
        if n == 0 {
            return Err(NnError::Data("no samples".into()));
        }
        if batch_size == 0 {
            return Err(NnError::Data("batch size must be at least 1".into()));
        }
        Ok(ArrayData {
            x,
            y,
            batch_size,
            shuffle,
            seed,
            order: (0..n).collect(),
            order_epoch: None,
        })
    }
}

impl BatchSource for ArrayData<'_> {
    fn samples(&self) -> usize {
        self.order.len()
    }

    fn steps(&self) -> usize {
        self.order.len().div_ceil(self.batch_size)
    }

    fn batch(&mut self, epoch: usize, step: usize) -> Result<(Tensor, Targets)> {
        let (x, y, _) = self.batch_part(epoch, step, Part::WHOLE)?;
        Ok((x, y))
    }

    fn batch_part(
        &mut self,
        epoch: usize,
        step: usize,
        part: Part,
    ) -> Result<(Tensor, Targets, usize)> {
        if self.shuffle && self.order_epoch != Some(epoch) {
            self.order = (0..self.order.len()).collect();
            self.order
                .shuffle(&mut seeded_rng(self.seed.wrapping_add(epoch as u64)));
            self.order_epoch = Some(epoch);
        }
        let start = (step % self.steps()) * self.batch_size;
        let whole = &self.order[start..(start + self.batch_size).min(self.order.len())];
        let idx = &whole[part.range(whole.len())];
        Ok((gather(self.x, idx)?, self.y.select(idx)?, whole.len()))
    }
}
