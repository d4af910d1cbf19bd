//! Inverted dropout: in training each element is zeroed with probability `rate` and the rest
//! are scaled by `1 / (1 − rate)`; at inference it is the identity (Keras semantics).

use cnn_tensor::{Tensor, seeded_rng};
use rand::RngExt;

use crate::error::{Result, option_err};

/// The keep-mask (already scaled by `1 / (1 − rate)`) for `len` elements, drawn from `seed`.
pub fn dropout_mask(len: usize, rate: f32, seed: u64) -> Result<Vec<f32>> {
    if !(0.0..1.0).contains(&rate) {
        return Err(option_err(
            "dropout",
            "rate",
            format!("{rate} is not in [0, 1)"),
        ));
    }
    let mut rng = seeded_rng(seed);
    let scale = 1.0 / (1.0 - rate);
    Ok((0..len)
        .map(|_| {
            if rng.random::<f32>() >= rate {
                scale
            } else {
                0.0
            }
        })
        .collect())
}

/// Applies a mask from [`dropout_mask`] (forward and backward are the same product).
pub fn apply_mask(x: &Tensor, mask: &[f32]) -> Tensor {
    let mut y = x.clone();
    y.data_mut().iter_mut().zip(mask).for_each(|(v, m)| *v *= m);
    y
}
