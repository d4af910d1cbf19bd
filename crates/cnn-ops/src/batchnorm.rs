//! Batch normalisation over the last (channel) axis, Keras semantics.
//!
//! Training normalises with the batch mean and (biased) variance over every axis but the last,
//! and updates the moving statistics as `moving = moving·momentum + batch·(1 − momentum)`
//! (Keras defaults: momentum 0.99, epsilon 1e-3). Inference uses the moving statistics.

use cnn_tensor::Tensor;

use crate::error::{Result, option_err, shape_err};

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
    let rows = x.len() / c;
    let (mean, var) = if training {
        let mut sum = vec![0.0f64; c];
        for r in x.data().chunks_exact(c) {
            sum.iter_mut().zip(r).for_each(|(s, &v)| *s += v as f64);
        }
        let mean: Vec<f64> = sum.iter().map(|s| s / rows as f64).collect();
        let mut sq = vec![0.0f64; c];
        for r in x.data().chunks_exact(c) {
            sq.iter_mut()
                .zip(r)
                .zip(&mean)
                .for_each(|((s, &v), m)| *s += (v as f64 - m).powi(2));
        }
        let var: Vec<f32> = sq.iter().map(|s| (s / rows as f64) as f32).collect();
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
    let mut xhat = x.clone();
    let mut y = x.clone();
    for (xr, yr) in xhat
        .data_mut()
        .chunks_exact_mut(c)
        .zip(y.data_mut().chunks_exact_mut(c))
    {
        for ch in 0..c {
            let h = (xr[ch] - mean[ch]) * inv_std[ch];
            xr[ch] = h;
            yr[ch] = gamma.data()[ch] * h + beta.data()[ch];
        }
    }
    Ok((
        y,
        BatchNormSaved {
            xhat,
            inv_std,
            training,
        },
    ))
}

/// Backward pass: returns `(dx, dgamma, dbeta)`.
pub fn batch_norm_backward(
    gamma: &Tensor,
    saved: &BatchNormSaved,
    dy: &Tensor,
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
    let mut dgamma = vec![0.0f32; c];
    let mut dbeta = vec![0.0f32; c];
    for (g, h) in dy
        .data()
        .chunks_exact(c)
        .zip(saved.xhat.data().chunks_exact(c))
    {
        for ch in 0..c {
            dbeta[ch] += g[ch];
            dgamma[ch] += g[ch] * h[ch];
        }
    }
    let mut dx = dy.clone();
    let gm = gamma.data();
    let m = rows as f32;
    for (d, h) in dx
        .data_mut()
        .chunks_exact_mut(c)
        .zip(saved.xhat.data().chunks_exact(c))
    {
        for ch in 0..c {
            let k = gm[ch] * saved.inv_std[ch];
            d[ch] = if saved.training {
                k * (d[ch] - dbeta[ch] / m - h[ch] * dgamma[ch] / m)
            } else {
                k * d[ch]
            };
        }
    }
    Ok((dx, Tensor::new([c], dgamma)?, Tensor::new([c], dbeta)?))
}
