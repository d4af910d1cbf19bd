//! Seeded weight initialisers with Keras's names and formulas.
//!
//! Fan computation follows Keras: a kernel `[kh, kw, in, out]` has
//! `fan_in = kh·kw·in` and `fan_out = kh·kw·out`; a matrix `[in, out]` has `fan_in = in`,
//! `fan_out = out`; a vector has `fan_in = fan_out = len`. Truncated normals redraw values more
//! than two standard deviations from the mean, and the variance-scaling ones divide the standard
//! deviation by 0.87962566103423978 (the std of a unit normal truncated at ±2), as Keras does.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use crate::{Result, Shape, Tensor};

/// The random number generator used across the workspace: ChaCha8, seeded from a `u64`, the same
/// stream on every platform.
pub type Rng = ChaCha8Rng;

/// A generator seeded from `seed`.
pub fn seeded_rng(seed: u64) -> Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// How a weight tensor is filled. Names and defaults follow `keras.initializers`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Initializer {
    /// All zeros (Keras's default bias initialiser).
    Zeros,
    /// All ones.
    Ones,
    /// A constant.
    Constant(f32),
    /// `U(-l, l)` with `l = sqrt(6 / (fan_in + fan_out))` (Keras's default kernel initialiser).
    GlorotUniform,
    /// Truncated normal with `std = sqrt(2 / (fan_in + fan_out))`.
    GlorotNormal,
    /// Truncated normal with `std = sqrt(2 / fan_in)`.
    HeNormal,
    /// `U(-l, l)` with `l = sqrt(6 / fan_in)`.
    HeUniform,
    /// Truncated normal with `std = sqrt(1 / fan_in)`.
    LecunNormal,
    /// `U(-l, l)` with `l = sqrt(3 / fan_in)`.
    LecunUniform,
    /// Normal with the given mean and standard deviation (Keras default 0, 0.05).
    RandomNormal {
        /// Mean.
        mean: f32,
        /// Standard deviation.
        stddev: f32,
    },
    /// Uniform in `[min, max)` (Keras default -0.05, 0.05).
    RandomUniform {
        /// Lower bound.
        min: f32,
        /// Upper bound.
        max: f32,
    },
}

/// The standard deviation of a unit normal truncated to `[-2, 2]`.
const TRUNCATED_STD: f64 = 0.879_625_661_034_239_8;

/// Keras's `(fan_in, fan_out)` of a weight shape.
pub fn fans(shape: &Shape) -> (f64, f64) {
    let d = shape.dims();
    match d.len() {
        0 => (1.0, 1.0),
        1 => (d[0] as f64, d[0] as f64),
        2 => (d[0] as f64, d[1] as f64),
        n => {
            let receptive: usize = d[..n - 2].iter().product();
            ((receptive * d[n - 2]) as f64, (receptive * d[n - 1]) as f64)
        }
    }
}

impl Initializer {
    /// The Keras name (`"glorot_uniform"`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Initializer::Zeros => "zeros",
            Initializer::Ones => "ones",
            Initializer::Constant(_) => "constant",
            Initializer::GlorotUniform => "glorot_uniform",
            Initializer::GlorotNormal => "glorot_normal",
            Initializer::HeNormal => "he_normal",
            Initializer::HeUniform => "he_uniform",
            Initializer::LecunNormal => "lecun_normal",
            Initializer::LecunUniform => "lecun_uniform",
            Initializer::RandomNormal { .. } => "random_normal",
            Initializer::RandomUniform { .. } => "random_uniform",
        }
    }

    /// The initialiser of that Keras name, with Keras's default arguments.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "zeros" => Initializer::Zeros,
            "ones" => Initializer::Ones,
            "glorot_uniform" => Initializer::GlorotUniform,
            "glorot_normal" => Initializer::GlorotNormal,
            "he_normal" => Initializer::HeNormal,
            "he_uniform" => Initializer::HeUniform,
            "lecun_normal" => Initializer::LecunNormal,
            "lecun_uniform" => Initializer::LecunUniform,
            "random_normal" => Initializer::RandomNormal {
                mean: 0.0,
                stddev: 0.05,
            },
            "random_uniform" => Initializer::RandomUniform {
                min: -0.05,
                max: 0.05,
            },
            _ => return None,
        })
    }

    /// A new tensor of `shape` filled by this initialiser from `rng`.
    pub fn init(&self, shape: impl Into<Shape>, rng: &mut Rng) -> Result<Tensor> {
        let shape = shape.into();
        let n = shape.checked_numel()?;
        let (fan_in, fan_out) = fans(&shape);
        let uniform = |rng: &mut Rng, lo: f64, hi: f64| -> Vec<f32> {
            (0..n)
                .map(|_| (lo + (hi - lo) * rng.random::<f64>()) as f32)
                .collect()
        };
        let truncated = |rng: &mut Rng, std: f64| -> Vec<f32> {
            (0..n)
                .map(|_| {
                    loop {
                        let z: f64 = rng.sample(StandardNormal);
                        if z.abs() <= 2.0 {
                            break (z * std / TRUNCATED_STD) as f32;
                        }
                    }
                })
                .collect()
        };
        let data = match *self {
            Initializer::Zeros => vec![0.0; n],
            Initializer::Ones => vec![1.0; n],
            Initializer::Constant(c) => vec![c; n],
            Initializer::GlorotUniform => {
                let l = (6.0 / (fan_in + fan_out)).sqrt();
                uniform(rng, -l, l)
            }
            Initializer::GlorotNormal => truncated(rng, (2.0 / (fan_in + fan_out)).sqrt()),
            Initializer::HeNormal => truncated(rng, (2.0 / fan_in).sqrt()),
            Initializer::HeUniform => {
                let l = (6.0 / fan_in).sqrt();
                uniform(rng, -l, l)
            }
            Initializer::LecunNormal => truncated(rng, (1.0 / fan_in).sqrt()),
            Initializer::LecunUniform => {
                let l = (3.0 / fan_in).sqrt();
                uniform(rng, -l, l)
            }
            Initializer::RandomNormal { mean, stddev } => (0..n)
                .map(|_| mean + stddev * rng.sample::<f32, _>(StandardNormal))
                .collect(),
            Initializer::RandomUniform { min, max } => uniform(rng, min as f64, max as f64),
        };
        Tensor::new(shape, data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(t: &Tensor) -> (f64, f64, f32) {
        let n = t.len() as f64;
        let mean = t.data().iter().map(|&x| x as f64).sum::<f64>() / n;
        let var = t
            .data()
            .iter()
            .map(|&x| (x as f64 - mean).powi(2))
            .sum::<f64>()
            / n;
        let max = t.data().iter().fold(0.0f32, |m, x| m.max(x.abs()));
        (mean, var.sqrt(), max)
    }

    #[test]
    fn fans_follow_keras() {
        assert_eq!(fans(&Shape::new([3, 3, 32, 64])), (288.0, 576.0));
        assert_eq!(fans(&Shape::new([9216, 128])), (9216.0, 128.0));
        assert_eq!(fans(&Shape::new([10])), (10.0, 10.0));
    }

    #[test]
    fn glorot_uniform_bounds_and_spread() {
        let mut rng = seeded_rng(1);
        let t = Initializer::GlorotUniform
            .init([3, 3, 32, 64], &mut rng)
            .unwrap();
        let l = (6.0f64 / (288.0 + 576.0)).sqrt();
        let (mean, std, max) = stats(&t);
        assert!(max as f64 <= l);
        assert!(mean.abs() < 0.01);
        // std of U(-l, l) is l/sqrt(3).
        assert!((std - l / 3f64.sqrt()).abs() < 0.05 * l);
    }

    #[test]
    fn he_normal_is_truncated_with_target_std() {
        let mut rng = seeded_rng(2);
        let t = Initializer::HeNormal.init([100, 400], &mut rng).unwrap();
        let target = (2.0f64 / 100.0).sqrt();
        let (_, std, max) = stats(&t);
        assert!(
            (std - target).abs() < 0.03 * target,
            "std {std} vs {target}"
        );
        assert!(max as f64 <= 2.0 * target / TRUNCATED_STD + 1e-6);
    }

    #[test]
    fn same_seed_same_values() {
        let a = Initializer::GlorotNormal
            .init([5, 7], &mut seeded_rng(9))
            .unwrap();
        let b = Initializer::GlorotNormal
            .init([5, 7], &mut seeded_rng(9))
            .unwrap();
        let c = Initializer::GlorotNormal
            .init([5, 7], &mut seeded_rng(10))
            .unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn names_round_trip() {
        for name in [
            "zeros",
            "ones",
            "glorot_uniform",
            "glorot_normal",
            "he_normal",
            "he_uniform",
            "lecun_normal",
            "lecun_uniform",
            "random_normal",
            "random_uniform",
        ] {
            assert_eq!(Initializer::from_name(name).unwrap().name(), name);
        }
        assert!(Initializer::from_name("glorot").is_none());
    }
}
