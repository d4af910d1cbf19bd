//! Local response normalisation across channels (AlexNet, VGG A-LRN), with TensorFlow's
//! definition (`tf.nn.local_response_normalization`):
//!
//! `sqr_sum[c] = Σ_{c' = c−r}^{c+r} x[c']²`, `y[c] = x[c] / (bias + alpha·sqr_sum[c])^beta`.
//!
//! AlexNet's paper values are `depth_radius = 2` (n = 5), `bias = 2`, `alpha = 1e-4`,
//! `beta = 0.75` ([`LrnOptions::alexnet`]). PyTorch's `LocalResponseNorm` divides alpha by the
//! window size; this does not.

use cnn_tensor::Tensor;

use crate::error::{Result, shape_err};

/// LRN hyper-parameters (TensorFlow names).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LrnOptions {
    /// Half-width of the channel window.
    pub depth_radius: usize,
    /// Additive constant `k`.
    pub bias: f32,
    /// Scale of the squared sum.
    pub alpha: f32,
    /// Exponent.
    pub beta: f32,
}

impl LrnOptions {
    /// The values of Krizhevsky et al. (2012), also used by VGG A-LRN.
    pub fn alexnet() -> Self {
        LrnOptions {
            depth_radius: 2,
            bias: 2.0,
            alpha: 1e-4,
            beta: 0.75,
        }
    }
}

impl Default for LrnOptions {
    /// TensorFlow's defaults: radius 5, bias 1, alpha 1, beta 0.5.
    fn default() -> Self {
        LrnOptions {
            depth_radius: 5,
            bias: 1.0,
            alpha: 1.0,
            beta: 0.5,
        }
    }
}

fn last(x: &Tensor) -> Result<usize> {
    match x.dims().last() {
        Some(&c) if c > 0 => Ok(c),
        _ => Err(shape_err(
            "lrn",
            format!("needs a channel axis, got {}", x.shape()),
        )),
    }
}

/// `d[c] = bias + alpha · Σ x²` over each channel window, row by row.
fn denominators(x: &[f32], c: usize, o: &LrnOptions) -> Vec<f32> {
    let mut d = cnn_tensor::filled(x.len(), 0.0f32);
    for (xr, dr) in x.chunks_exact(c).zip(d.chunks_exact_mut(c)) {
        for (ch, dv) in dr.iter_mut().enumerate() {
            let lo = ch.saturating_sub(o.depth_radius);
            let hi = (ch + o.depth_radius).min(c - 1);
            let s: f32 = xr[lo..=hi].iter().map(|v| v * v).sum();
            *dv = o.bias + o.alpha * s;
        }
    }
    d
}

/// Forward pass.
pub fn lrn_forward(x: &Tensor, o: &LrnOptions) -> Result<Tensor> {
    let c = last(x)?;
    let d = denominators(x.data(), c, o);
    let mut y = x.clone();
    y.data_mut()
        .iter_mut()
        .zip(&d)
        .for_each(|(v, dv)| *v *= dv.powf(-o.beta));
    Ok(y)
}

/// Backward pass:
/// `dx[j] = dy[j]·d[j]^−β − 2αβ·x[j]·Σ_{i: |i−j| ≤ r} dy[i]·x[i]·d[i]^(−β−1)`.
pub fn lrn_backward(x: &Tensor, dy: &Tensor, o: &LrnOptions) -> Result<Tensor> {
    let c = last(x)?;
    if x.shape() != dy.shape() {
        return Err(shape_err(
            "lrn",
            format!("gradient {} does not match {}", dy.shape(), x.shape()),
        ));
    }
    let d = denominators(x.data(), c, o);
    let mut dx = dy.clone();
    let mut t = vec![0.0f32; c];
    for ((dxr, xr), (dr, gr)) in dx
        .data_mut()
        .chunks_exact_mut(c)
        .zip(x.data().chunks_exact(c))
        .zip(d.chunks_exact(c).zip(dy.data().chunks_exact(c)))
    {
        for i in 0..c {
            t[i] = gr[i] * xr[i] * dr[i].powf(-o.beta - 1.0);
        }
        for j in 0..c {
            let lo = j.saturating_sub(o.depth_radius);
            let hi = (j + o.depth_radius).min(c - 1);
            let s: f32 = t[lo..=hi].iter().sum();
            dxr[j] = gr[j] * dr[j].powf(-o.beta) - 2.0 * o.alpha * o.beta * xr[j] * s;
        }
    }
    Ok(dx)
}
