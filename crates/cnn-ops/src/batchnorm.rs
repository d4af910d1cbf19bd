//! Batch normalisation over the last (channel) axis, Keras semantics.
//!
//! Training normalises with the batch mean and (biased) variance over every axis but the last,
//! and updates the moving statistics as `moving = moving·momentum + batch·(1 − momentum)`
//! (Keras defaults: momentum 0.99, epsilon 1e-3). Inference uses the moving statistics.

use cnn_tensor::Tensor;
use rayon::prelude::*;

use crate::error::{OpError, Result, option_err, shape_err};

/// Hyper-parameters of batch normalisation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchNormOptions {
    /// Moving-average momentum (Keras 0.99).
    pub momentum: f32,
    /// Added to the variance (Keras 1e-3).
    pub epsilon: f32,
}

impl Default for BatchNormOptions {
    fn default() -> Self {
        BatchNormOptions {
            momentum: 0.99,
            epsilon: 1e-3,
        }
    }
}

/// What the backward pass needs from a batch-normalisation forward pass.
#[derive(Clone, Debug)]
pub struct BatchNormSaved {
    /// The normalised input `x̂`.
    pub xhat: Tensor,
    /// `1 / sqrt(var + ε)` per channel.
    pub inv_std: Vec<f32>,
    /// Whether batch statistics were used (training).
    pub training: bool,
    /// Rows of every replica together, when the statistics were synchronised.
    pub synced_rows: Option<f64>,
}

fn channels(x: &Tensor, gamma: &Tensor, beta: &Tensor) -> Result<usize> {
    let c = *x
        .dims()
        .last()
        .ok_or_else(|| shape_err("batch_norm", "input is a scalar"))?;
    if gamma.dims() != [c] || beta.dims() != [c] {
        return Err(shape_err(
            "batch_norm",
            format!(
                "gamma {} / beta {} do not match {c} channels",
                gamma.shape(),
                beta.shape()
            ),
        ));
    }
    if c == 0 || x.is_empty() {
        return Err(shape_err(
            "batch_norm",
            format!("empty input {}", x.shape()),
        ));
    }
    Ok(c)
}

/// Forward pass. In training, updates `moving_mean` / `moving_var` in place.
pub fn batch_norm_forward(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    moving_mean: &mut Tensor,
    moving_var: &mut Tensor,
    training: bool,
    opts: &BatchNormOptions,
) -> Result<(Tensor, BatchNormSaved)> {
    batch_norm_forward_synced(
        x,
        gamma,
        beta,
        moving_mean,
        moving_var,
        training,
        opts,
        None,
    )
}

/// Adds per-channel statistics over the replicas of a data-parallel run, the same result on
/// every replica (synchronised batch normalisation: the batch statistics of the global batch).
pub trait ReplicaSum: Send + Sync {
    /// Replaces `values` by their element-wise sum over the replicas.
    fn sum(&self, values: &mut [f64]) -> std::result::Result<(), String>;
}

fn replica_sum(sync: Option<&dyn ReplicaSum>, values: &mut [f64]) -> Result<()> {
    match sync {
        Some(s) => s.sum(values).map_err(|message| OpError::Replicas {
            op: "batch_norm",
            message,
        }),
        None => Ok(()),
    }
}

/// [`batch_norm_forward`] whose training statistics (mean, variance, and so the moving
/// statistics) are those of every replica's rows together when `sync` is given.
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_forward_synced(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    moving_mean: &mut Tensor,
    moving_var: &mut Tensor,
    training: bool,
    opts: &BatchNormOptions,
    sync: Option<&dyn ReplicaSum>,
) -> Result<(Tensor, BatchNormSaved)> {
    forward(
        x,
        gamma,
        beta,
        (moving_mean, moving_var),
        training,
        opts,
        sync,
        true,
    )
}

/// [`batch_norm_forward_synced`]; without `save` the normalised input, which only the
/// backward pass reads, is neither computed nor stored (inference: one pass instead of two
/// arrays written) and the returned [`BatchNormSaved`] must not be used for a backward pass.
#[allow(clippy::too_many_arguments)]
pub(crate) fn forward(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    (moving_mean, moving_var): (&mut Tensor, &mut Tensor),
    training: bool,
    opts: &BatchNormOptions,
    sync: Option<&dyn ReplicaSum>,
    save: bool,
) -> Result<(Tensor, BatchNormSaved)> {
    let c = channels(x, gamma, beta)?;
    if moving_mean.dims() != [c] || moving_var.dims() != [c] {
        return Err(shape_err(
            "batch_norm",
            format!("moving statistics do not match {c} channels"),
        ));
    }
    if !(0.0..=1.0).contains(&opts.momentum) {
        return Err(option_err(
            "batch_norm",
            "momentum",
            format!("{} is not in [0, 1]", opts.momentum),
        ));
    }
    let mut rows = (x.len() / c) as f64;
    let sync = sync.filter(|_| training);
    let (mean, var) = if training {
        let mut sum = channel_sums(x.data(), c, None);
        if sync.is_some() {
            sum.push(rows);
            replica_sum(sync, &mut sum)?;
            rows = sum.pop().unwrap_or(rows);
        }
        let mean: Vec<f64> = sum.iter().map(|s| s / rows).collect();
        let mut sq = channel_sums(x.data(), c, Some(&mean));
        replica_sum(sync, &mut sq)?;
        let var: Vec<f32> = sq.iter().map(|s| (s / rows) as f32).collect();
        let mean: Vec<f32> = mean.iter().map(|&m| m as f32).collect();
        let mo = opts.momentum;
        for (mm, &m) in moving_mean.data_mut().iter_mut().zip(&mean) {
            *mm = *mm * mo + m * (1.0 - mo);
        }
        for (mv, &v) in moving_var.data_mut().iter_mut().zip(&var) {
            *mv = *mv * mo + v * (1.0 - mo);
        }
        (mean, var)
    } else {
        (moving_mean.data().to_vec(), moving_var.data().to_vec())
    };
    let inv_std: Vec<f32> = var
        .iter()
        .map(|v| 1.0 / (v + opts.epsilon).sqrt())
        .collect();
    // y = x·scale + shift with scale = γ/σ, shift = β − μ·γ/σ; x̂ = (x − μ)/σ.
    let (scale, shift) = affine((gamma.data(), beta.data()), &mean, &var, opts.epsilon);
    let mut y = cnn_tensor::filled(x.len(), 0.0f32);
    let block = BLOCK_ROWS * c;
    if !save {
        y.par_chunks_mut(block)
            .zip(x.data().par_chunks(block))
            .for_each(|(yb, xb)| {
                for (yr, xr) in yb.chunks_exact_mut(c).zip(xb.chunks_exact(c)) {
                    for (((y, &x), &sc), &sh) in yr.iter_mut().zip(xr).zip(&scale).zip(&shift) {
                        *y = x * sc + sh;
                    }
                }
            });
        return Ok((
            Tensor::new(x.shape().clone(), y)?,
            BatchNormSaved {
                xhat: Tensor::zeros([0])?,
                inv_std,
                training,
                synced_rows: sync.map(|_| rows),
            },
        ));
    }
    let mut xhat = cnn_tensor::filled(x.len(), 0.0f32);
    xhat.par_chunks_mut(block)
        .zip(y.par_chunks_mut(block))
        .zip(x.data().par_chunks(block))
        .for_each(|((hb, yb), xb)| {
            for ((hr, yr), xr) in hb
                .chunks_exact_mut(c)
                .zip(yb.chunks_exact_mut(c))
                .zip(xb.chunks_exact(c))
            {
                for (((h, &x), &m), &is) in hr.iter_mut().zip(xr).zip(&mean).zip(&inv_std) {
                    *h = (x - m) * is;
                }
                for (((y, &x), &sc), &sh) in yr.iter_mut().zip(xr).zip(&scale).zip(&shift) {
                    *y = x * sc + sh;
                }
            }
        });
    Ok((
        Tensor::new(x.shape().clone(), y)?,
        BatchNormSaved {
            xhat: Tensor::new(x.shape().clone(), xhat)?,
            inv_std,
            training,
            synced_rows: sync.map(|_| rows),
        },
    ))
}

/// Inference-mode batch norm applied to `x` in place: `x·scale + shift` with the moving
/// statistics, the same arithmetic as [`forward`] (the same bits).
pub(crate) fn apply_inplace(
    x: &mut Tensor,
    (gamma, beta): (&Tensor, &Tensor),
    (moving_mean, moving_var): (&Tensor, &Tensor),
    opts: &BatchNormOptions,
) -> Result<()> {
    let c = channels(x, gamma, beta)?;
    if moving_mean.dims() != [c] || moving_var.dims() != [c] {
        return Err(shape_err(
            "batch_norm",
            format!("moving statistics do not match {c} channels"),
        ));
    }
    let (scale, shift) = affine(
        (gamma.data(), beta.data()),
        moving_mean.data(),
        moving_var.data(),
        opts.epsilon,
    );
    x.data_mut()
        .par_chunks_mut(BLOCK_ROWS * c)
        .for_each(|block| {
            for row in block.chunks_exact_mut(c) {
                for ((v, &sc), &sh) in row.iter_mut().zip(&scale).zip(&shift) {
                    *v = *v * sc + sh;
                }
            }
        });
    Ok(())
}

/// The per-channel affine map of an inference-mode batch norm, `y = scale·x + shift`:
/// `(scale, shift)` with `scale = γ/σ` and `shift = β − μ·γ/σ`, `σ = √(var + ε)` — as the
/// forward pass computes them (cnn-nn folds them into convolutions). Each output is as long as
/// the shortest input.
pub fn affine(
    (g, b): (&[f32], &[f32]),
    mean: &[f32],
    var: &[f32],
    epsilon: f32,
) -> (Vec<f32>, Vec<f32>) {
    let scale: Vec<f32> = g
        .iter()
        .zip(var)
        .map(|(g, v)| g * (1.0 / (v + epsilon).sqrt()))
        .collect();
    let shift: Vec<f32> = b
        .iter()
        .zip(mean)
        .zip(&scale)
        .map(|((b, m), s)| b - m * s)
        .collect();
    (scale, shift)
}

/// Rows per block of the parallel passes. Blocks are fixed (not per thread), and block sums are
/// combined in block order, so results do not depend on the thread count.
const BLOCK_ROWS: usize = 512;

/// Per-channel sums over the rows of `data` (`c` values per row): of `(value − centre)²` when
/// a centre is given, else of the values.
fn channel_sums(data: &[f32], c: usize, centre: Option<&[f64]>) -> Vec<f64> {
    let square = centre.is_some();
    let centre: Vec<f32> = centre.map_or(vec![0.0; c], |m| m.iter().map(|&v| v as f32).collect());
    let partial: Vec<Vec<f64>> = data
        .par_chunks(BLOCK_ROWS * c)
        .map(|block| {
            // f32 within a row group of 16, f64 across groups: fast and accurate enough.
            let mut acc = vec![0.0f64; c];
            let mut part = vec![0.0f32; c];
            for (i, r) in block.chunks_exact(c).enumerate() {
                if square {
                    for ((p, &v), &m) in part.iter_mut().zip(r).zip(&centre) {
                        let d = v - m;
                        *p += d * d;
                    }
                } else {
                    for (p, &v) in part.iter_mut().zip(r) {
                        *p += v;
                    }
                }
                if i % 16 == 15 {
                    for (a, p) in acc.iter_mut().zip(part.iter_mut()) {
                        *a += *p as f64;
                        *p = 0.0;
                    }
                }
            }
            for (a, p) in acc.iter_mut().zip(&part) {
                *a += *p as f64;
            }
            acc
        })
        .collect();
    let mut total = vec![0.0f64; c];
    for p in partial {
        total.iter_mut().zip(p).for_each(|(t, v)| *t += v);
    }
    total
}

/// Backward pass: returns `(dx, dgamma, dbeta)`.
pub fn batch_norm_backward(
    gamma: &Tensor,
    saved: &BatchNormSaved,
    dy: &Tensor,
) -> Result<(Tensor, Tensor, Tensor)> {
    batch_norm_backward_synced(gamma, saved, dy, None)
}

/// [`batch_norm_backward`] of a synchronised forward pass: the input gradient uses the sums of
/// `dy` and `dy·x̂` over every replica (they were normalised together); the returned `γ` and
/// `β` gradients are this replica's own, to be summed with the other parameter gradients.
pub fn batch_norm_backward_synced(
    gamma: &Tensor,
    saved: &BatchNormSaved,
    dy: &Tensor,
    sync: Option<&dyn ReplicaSum>,
) -> Result<(Tensor, Tensor, Tensor)> {
    let c = gamma.len();
    if dy.shape() != saved.xhat.shape() {
        return Err(shape_err(
            "batch_norm",
            format!(
                "gradient {} does not match {}",
                dy.shape(),
                saved.xhat.shape()
            ),
        ));
    }
    let rows = dy.len() / c;
    let block = BLOCK_ROWS * c;
    let partial: Vec<(Vec<f64>, Vec<f64>)> = dy
        .data()
        .par_chunks(block)
        .zip(saved.xhat.data().par_chunks(block))
        .map(|(gb, hb)| {
            let (mut db, mut dg) = (vec![0.0f64; c], vec![0.0f64; c]);
            let (mut pb, mut pg) = (vec![0.0f32; c], vec![0.0f32; c]);
            for (i, (g, h)) in gb.chunks_exact(c).zip(hb.chunks_exact(c)).enumerate() {
                for (((b, gg), &g), &h) in pb.iter_mut().zip(pg.iter_mut()).zip(g).zip(h) {
                    *b += g;
                    *gg += g * h;
                }
                if i % 16 == 15 || i == gb.len() / c - 1 {
                    for (((d, p), e), q) in db
                        .iter_mut()
                        .zip(pb.iter_mut())
                        .zip(dg.iter_mut())
                        .zip(pg.iter_mut())
                    {
                        *d += *p as f64;
                        *e += *q as f64;
                        *p = 0.0;
                        *q = 0.0;
                    }
                }
            }
            (db, dg)
        })
        .collect();
    let (mut dbeta, mut dgamma) = (vec![0.0f64; c], vec![0.0f64; c]);
    for (db, dg) in partial {
        dbeta.iter_mut().zip(db).for_each(|(t, v)| *t += v);
        dgamma.iter_mut().zip(dg).for_each(|(t, v)| *t += v);
    }
    let (dbeta, dgamma, mean_db, mean_dg) = match (sync, saved.synced_rows) {
        (Some(_), Some(total)) => {
            let mut both: Vec<f64> = dbeta.iter().chain(&dgamma).copied().collect();
            replica_sum(sync, &mut both)?;
            let m = total as f32;
            let mean = |v: &[f64]| -> Vec<f32> { v.iter().map(|&s| s as f32 / m).collect() };
            let (mean_db, mean_dg) = (mean(&both[..c]), mean(&both[c..]));
            let own = |v: Vec<f64>| -> Vec<f32> { v.into_iter().map(|s| s as f32).collect() };
            (own(dbeta), own(dgamma), mean_db, mean_dg)
        }
        _ => {
            let dbeta: Vec<f32> = dbeta.into_iter().map(|v| v as f32).collect();
            let dgamma: Vec<f32> = dgamma.into_iter().map(|v| v as f32).collect();
            let m = rows as f32;
            let mean_db: Vec<f32> = dbeta.iter().map(|v| v / m).collect();
            let mean_dg: Vec<f32> = dgamma.iter().map(|v| v / m).collect();
            (dbeta, dgamma, mean_db, mean_dg)
        }
    };
    let gm = gamma.data();
    let k: Vec<f32> = (0..c).map(|ch| gm[ch] * saved.inv_std[ch]).collect();
    let mut dx = cnn_tensor::filled(dy.len(), 0.0f32);
    dx.par_chunks_mut(block)
        .zip(dy.data().par_chunks(block))
        .zip(saved.xhat.data().par_chunks(block))
        .for_each(|((db, gb), hb)| {
            for ((d, g), h) in db
                .chunks_exact_mut(c)
                .zip(gb.chunks_exact(c))
                .zip(hb.chunks_exact(c))
            {
                if saved.training {
                    for (((((d, &g), &h), &k), &mb), &mg) in d
                        .iter_mut()
                        .zip(g)
                        .zip(h)
                        .zip(&k)
                        .zip(&mean_db)
                        .zip(&mean_dg)
                    {
                        *d = k * (g - mb - h * mg);
                    }
                } else {
                    for ((d, &g), &k) in d.iter_mut().zip(g).zip(&k) {
                        *d = k * g;
                    }
                }
            }
        });
    let dx = Tensor::new(dy.shape().clone(), dx)?;
    Ok((dx, Tensor::new([c], dgamma)?, Tensor::new([c], dbeta)?))
}
