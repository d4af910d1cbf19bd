//! Large buffers filled in parallel.
//!
//! `vec![0.0; n]` fills a reused allocation with one thread: for the tens of megabytes of a
//! training step's activations that serial pass held back the other core (about 3 % of a
//! `mnist-cnn` step went to `memset`). Above [`PARALLEL_FILL`] elements the fill is shared
//! across the rayon pool instead; the contents are the same either way.

use rayon::prelude::*;

/// Elements from which [`filled`] fills in parallel.
pub const PARALLEL_FILL: usize = 1 << 18;

/// A vector of `n` copies of `value`, written in parallel when `n ≥` [`PARALLEL_FILL`].
pub fn filled<T: Copy + Send + Sync>(n: usize, value: T) -> Vec<T> {
    if n < PARALLEL_FILL {
        return vec![value; n];
    }
    let mut v = Vec::with_capacity(n);
    v.par_extend(rayon::iter::repeat_n(value, n));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_and_large_fills_hold_the_value() {
        for n in [
            0,
            1,
            PARALLEL_FILL - 1,
            PARALLEL_FILL,
            3 * PARALLEL_FILL + 7,
        ] {
            let v = filled(n, 2.5f32);
            assert_eq!(v.len(), n);
            assert!(v.iter().all(|&x| x == 2.5));
            let u = filled(n, 7u32);
            assert!(u.len() == n && u.iter().all(|&x| x == 7));
        }
    }
}
