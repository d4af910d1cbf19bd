//! Inverted dropout: in training each element is zeroed with probability `rate` and the rest
//! are scaled by `1 / (1 − rate)`; at inference it is the identity (Keras semantics).

use cnn_tensor::{Tensor, seeded_rng};
use rand::RngExt;
use rayon::prelude::*;

use crate::error::{Result, option_err};

/// Elements per parallel block of the mask: each block seeks the one random stream to its own
/// start, so the mask does not depend on the thread count.
const BLOCK: usize = 1 << 14;

/// The keep-mask (already scaled by `1 / (1 − rate)`) for `len` elements, drawn from `seed`:
/// element `i` is kept when the `i`-th uniform draw of `seeded_rng(seed)` is `≥ rate`.
pub fn dropout_mask(len: usize, rate: f32, seed: u64) -> Result<Vec<f32>> {
    if !(0.0..1.0).contains(&rate) {
        return Err(option_err(
            "dropout",
            "rate",
            format!("{rate} is not in [0, 1)"),
        ));
    }
    let scale = 1.0 / (1.0 - rate);
    let mut mask = cnn_tensor::filled(len, 0.0f32);
    mask.par_chunks_mut(BLOCK)
        .enumerate()
        .for_each(|(b, block)| {
            let mut rng = seeded_rng(seed);
            // One 32-bit word per f32 draw: block `b` starts at word `b · BLOCK`.
            rng.set_word_pos((b * BLOCK) as u128);
            for m in block {
                *m = if rng.random::<f32>() >= rate {
                    scale
                } else {
                    0.0
                };
            }
        });
    Ok(mask)
}

/// Applies a mask from [`dropout_mask`] (forward and backward are the same product).
pub fn apply_mask(x: &Tensor, mask: &[f32]) -> Tensor {
    let mut y = x.clone();
    y.data_mut()
        .par_chunks_mut(BLOCK)
        .zip(mask.par_chunks(BLOCK))
        .for_each(|(yb, mb)| yb.iter_mut().zip(mb).for_each(|(v, m)| *v *= m));
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parallel_mask_is_the_serial_stream() {
        for (len, rate, seed) in [(0, 0.5, 1), (7, 0.2, 3), (BLOCK * 3 + 5, 0.3, 9)] {
            let mut rng = seeded_rng(seed);
            let scale = 1.0 / (1.0 - rate);
            let serial: Vec<f32> = (0..len)
                .map(|_| {
                    if rng.random::<f32>() >= rate {
                        scale
                    } else {
                        0.0
                    }
                })
                .collect();
            assert_eq!(dropout_mask(len, rate, seed).unwrap(), serial, "{len}");
        }
        let m = dropout_mask(BLOCK * 4, 0.25, 5).unwrap();
        let kept = m.iter().filter(|&&v| v > 0.0).count() as f64 / m.len() as f64;
        assert!((kept - 0.75).abs() < 0.01, "{kept}");
        assert!(dropout_mask(4, 1.0, 0).is_err());
    }
}
