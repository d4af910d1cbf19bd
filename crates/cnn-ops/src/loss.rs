//! Losses, averaged over the batch like Keras: fused softmax cross-entropy (one-hot or sparse
//! labels) and binary cross-entropy (from logits, stable; or from probabilities, clipped to
//! `[1e-7, 1 − 1e-7]` as Keras does).

use cnn_tensor::Tensor;

use crate::activation::softmax_row;
use crate::error::{Result, shape_err};

/// Keras's `epsilon()`, used to clip probabilities.
pub const EPSILON: f32 = 1e-7;

/// Class targets for a categorical loss.
#[derive(Clone, Debug, PartialEq)]
pub enum Labels {
    /// One class index per sample (`sparse_categorical_crossentropy`).
    Sparse(Vec<usize>),
    /// A target distribution per sample, `[N, K]` (`categorical_crossentropy`).
    OneHot(Tensor),
}

/// Softmax cross-entropy from logits `[N, K]`. Returns the mean loss and `dL/dlogits`
/// (`(softmax − target) / N`); the softmax itself is never materialised unstable.
pub fn softmax_cross_entropy(logits: &Tensor, labels: &Labels) -> Result<(f32, Tensor)> {
    let [n, k] = *logits.dims() else {
        return Err(shape_err(
            "softmax_cross_entropy",
            format!("logits must be [N, K], got {}", logits.shape()),
        ));
    };
    if n == 0 || k == 0 {
        return Err(shape_err(
            "softmax_cross_entropy",
            "empty batch or no classes",
        ));
    }
    match labels {
        Labels::Sparse(l) if l.len() != n => {
            return Err(shape_err(
                "softmax_cross_entropy",
                format!("{} labels for a batch of {n}", l.len()),
            ));
        }
        Labels::Sparse(l) => {
            if let Some((i, &c)) = l.iter().enumerate().find(|(_, c)| **c >= k) {
                return Err(shape_err(
                    "softmax_cross_entropy",
                    format!("label {c} of sample {i} is out of range for {k} classes"),
                ));
            }
        }
        Labels::OneHot(t) if t.dims() != [n, k] => {
            return Err(shape_err(
                "softmax_cross_entropy",
                format!(
                    "targets {} do not match logits {}",
                    t.shape(),
                    logits.shape()
                ),
            ));
        }
        Labels::OneHot(_) => {}
    }
    let mut grad = logits.clone();
    let mut total = 0.0f64;
    let inv_n = 1.0 / n as f32;
    for (i, (row, z)) in grad
        .data_mut()
        .chunks_exact_mut(k)
        .zip(logits.data().chunks_exact(k))
        .enumerate()
    {
        let m = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let lse = m + z.iter().map(|v| (v - m).exp()).sum::<f32>().ln();
        softmax_row(row);
        match labels {
            Labels::Sparse(l) => {
                total += (lse - z[l[i]]) as f64;
                row[l[i]] -= 1.0;
            }
            Labels::OneHot(t) => {
                let tr = &t.data()[i * k..(i + 1) * k];
                total += tr
                    .iter()
                    .zip(z)
                    .map(|(&y, &zv)| (y * (lse - zv)) as f64)
                    .sum::<f64>();
                row.iter_mut().zip(tr).for_each(|(g, y)| *g -= y);
            }
        }
        row.iter_mut().for_each(|g| *g *= inv_n);
    }
    Ok(((total / n as f64) as f32, grad))
}

fn check_same(op: &'static str, a: &Tensor, t: &Tensor) -> Result<()> {
    if a.shape() != t.shape() || a.is_empty() {
        return Err(shape_err(
            op,
            format!(
                "targets {} do not match predictions {}",
                t.shape(),
                a.shape()
            ),
        ));
    }
    Ok(())
}

/// Binary cross-entropy from logits (stable: `max(z,0) − z·t + ln(1 + e^−|z|)`), mean over all
/// elements. Returns the loss and `dL/dz = (σ(z) − t) / n`.
pub fn binary_cross_entropy_with_logits(z: &Tensor, t: &Tensor) -> Result<(f32, Tensor)> {
    check_same("binary_cross_entropy", z, t)?;
    let inv = 1.0 / z.len() as f32;
    let mut grad = z.clone();
    let mut total = 0.0f64;
    for (g, (&zv, &tv)) in grad
        .data_mut()
        .iter_mut()
        .zip(z.data().iter().zip(t.data()))
    {
        total += (zv.max(0.0) - zv * tv + (-zv.abs()).exp().ln_1p()) as f64;
        let s = if zv >= 0.0 {
            1.0 / (1.0 + (-zv).exp())
        } else {
            let e = zv.exp();
            e / (1.0 + e)
        };
        *g = (s - tv) * inv;
    }
    Ok(((total * inv as f64) as f32, grad))
}

/// Binary cross-entropy from probabilities, clipped to `[ε, 1 − ε]` like Keras, mean over all
/// elements. Returns the loss and `dL/dp` (zero where the clip is active).
pub fn binary_cross_entropy(p: &Tensor, t: &Tensor) -> Result<(f32, Tensor)> {
    check_same("binary_cross_entropy", p, t)?;
    let inv = 1.0 / p.len() as f32;
    let mut grad = p.clone();
    let mut total = 0.0f64;
    for (g, (&pv, &tv)) in grad
        .data_mut()
        .iter_mut()
        .zip(p.data().iter().zip(t.data()))
    {
        let pc = pv.clamp(EPSILON, 1.0 - EPSILON);
        total -= (tv * pc.ln() + (1.0 - tv) * (1.0 - pc).ln()) as f64;
        *g = if pv == pc {
            (pc - tv) / (pc * (1.0 - pc)) * inv
        } else {
            0.0
        };
    }
    Ok(((total * inv as f64) as f32, grad))
}
