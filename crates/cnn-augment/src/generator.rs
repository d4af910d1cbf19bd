//! `ImageDataGenerator`: configuration, dataset statistics (`fit`) and the per-image pipeline
//! with deterministic per-image seeds.

use std::sync::Arc;

use cnn_tensor::Tensor;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::error::{AugmentError, Result};
use crate::params::{AugmentConfig, TransformParams};
use crate::transform::{
    FeatureStats, Image, apply_transform, apply_transform_into, standardize, standardize_slice,
};

/// A user function applied first in `standardize` (Keras's `preprocessing_function`).
pub type PreprocessFn = Arc<dyn Fn(&mut Image) + Send + Sync>;

/// A seeded per-image function applied right after the random affine transform (for
/// augmentations Keras lacks, e.g. [`crate::stroke`]); the `u64` is a seed derived from the
/// image's seed, so results do not depend on the thread count.
pub type RandomPreprocessFn = Arc<dyn Fn(&mut Image, u64) + Send + Sync>;

/// Salt mixed into an image's seed for its random preprocessing.
const RANDOM_PREPROCESS_SALT: u64 = 0xD1CE_5EED_0000_0001;

/// Keras's `ImageDataGenerator`.
#[derive(Clone, Default)]
pub struct ImageDataGenerator {
    /// The options.
    pub config: AugmentConfig,
    /// Featurewise statistics from [`ImageDataGenerator::fit`].
    pub stats: Option<FeatureStats>,
    /// Applied first in standardisation.
    pub preprocessing_function: Option<PreprocessFn>,
    /// Applied after the random transform, with a seed (not in Keras).
    pub random_preprocessing: Option<RandomPreprocessFn>,
}

impl std::fmt::Debug for ImageDataGenerator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageDataGenerator")
            .field("config", &self.config)
            .field("stats", &self.stats)
            .field(
                "preprocessing_function",
                &self.preprocessing_function.is_some(),
            )
            .field("random_preprocessing", &self.random_preprocessing.is_some())
            .finish()
    }
}

/// The seed of image `index` (position in the epoch's order) in `epoch`: a pure function, so
/// the same seed gives the same transforms whatever the thread count.
pub fn image_seed(seed: u64, epoch: usize, index: usize) -> u64 {
    let mut z = seed
        ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (index as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Salt of the first-epoch draw of [`alternating_flip`].
const FLIP_SALT: u64 = 0x5DEE_CE66_D1CE_F11B;

/// Whether sample `index` (its place in the dataset, not in the epoch's order) is flipped in
/// `epoch` under [`AugmentConfig::alternating_flip`]: a seeded coin in epoch 0, then the
/// opposite of the epoch before.
pub fn alternating_flip(seed: u64, epoch: usize, index: usize) -> bool {
    let first = image_seed(seed ^ FLIP_SALT, 0, index) & 1 == 1;
    first ^ (epoch % 2 == 1)
}

impl ImageDataGenerator {
    /// The flip [`AugmentConfig::alternating_flip`] decides for sample `index` in `epoch`
    /// (`None`: flips stay random).
    pub(crate) fn flip_of(&self, seed: u64, epoch: usize, index: usize) -> Option<bool> {
        (self.config.horizontal_flip && self.config.alternating_flip)
            .then(|| alternating_flip(seed, epoch, index))
    }

    /// The transform drawn from `seed`, its left-right flip replaced by `flip` when `Some`.
    fn draw_flipped(&self, h: usize, w: usize, seed: u64, flip: Option<bool>) -> TransformParams {
        let mut p = self.config.draw(h, w, &mut ChaCha8Rng::seed_from_u64(seed));
        if let Some(f) = flip {
            p.flip_horizontal = f;
        }
        p
    }

    /// A generator with these options.
    pub fn new(config: AugmentConfig) -> Self {
        ImageDataGenerator {
            config,
            stats: None,
            preprocessing_function: None,
            random_preprocessing: None,
        }
    }

    /// Sets a seeded per-image function run right after the random transform (before
    /// `preprocessing_function` and standardisation).
    pub fn with_random_preprocessing(
        mut self,
        f: impl Fn(&mut Image, u64) + Send + Sync + 'static,
    ) -> Self {
        self.random_preprocessing = Some(Arc::new(f));
        self
    }

    /// Sets the preprocessing function.
    pub fn with_preprocessing(mut self, f: impl Fn(&mut Image) + Send + Sync + 'static) -> Self {
        self.preprocessing_function = Some(Arc::new(f));
        self
    }

    /// Computes the per-channel mean and std of `x` (`[N, H, W, C]`, rescaled first as Keras
    /// does) for featurewise standardisation.
    pub fn fit(&mut self, x: &Tensor) -> Result<()> {
        let d = x.dims();
        if d.len() != 4 || d[0] == 0 {
            return Err(AugmentError::Shape(format!(
                "fit needs a non-empty [N, H, W, C] batch, got {}",
                x.shape()
            )));
        }
        let c = d[3];
        let r = self.config.rescale.unwrap_or(1.0) as f64;
        let n = (x.len() / c) as f64;
        let mut mean = vec![0.0f64; c];
        for px in x.data().chunks_exact(c) {
            mean.iter_mut()
                .zip(px)
                .for_each(|(m, &v)| *m += v as f64 * r);
        }
        mean.iter_mut().for_each(|m| *m /= n);
        let mut var = vec![0.0f64; c];
        for px in x.data().chunks_exact(c) {
            var.iter_mut()
                .zip(px)
                .zip(&mean)
                .for_each(|((s, &v), m)| *s += (v as f64 * r - m).powi(2));
        }
        self.stats = Some(FeatureStats {
            mean: mean.iter().map(|&m| m as f32).collect(),
            std: var.iter().map(|&s| (s / n).sqrt() as f32).collect(),
        });
        Ok(())
    }

    /// The full per-image pipeline (random transform, then standardisation) with the
    /// transform drawn from `seed`.
    pub fn augment(&self, img: &Image, seed: u64) -> Image {
        self.augment_flipped(img, seed, None)
    }

    /// [`ImageDataGenerator::augment`] with the left-right flip decided by `flip` when `Some`
    /// (the other draws are unchanged), for flows with [`AugmentConfig::alternating_flip`].
    pub(crate) fn augment_flipped(&self, img: &Image, seed: u64, flip: Option<bool>) -> Image {
        let p = self.draw_flipped(img.h, img.w, seed, flip);
        let mut out = apply_transform(img, &p, &self.config);
        if let Some(f) = &self.random_preprocessing {
            f(&mut out, seed ^ RANDOM_PREPROCESS_SALT);
        }
        self.standardize(&mut out);
        out
    }

    /// [`ImageDataGenerator::augment`] from an HWC slice straight into `out` (same length),
    /// allocating nothing unless a preprocessing function needs an [`Image`].
    pub fn augment_into(
        &self,
        src: &[f32],
        shape: (usize, usize, usize),
        seed: u64,
        out: &mut [f32],
    ) {
        self.augment_into_flipped(src, shape, seed, None, out);
    }

    /// [`ImageDataGenerator::augment_into`] with the flip decided by `flip` when `Some`.
    pub(crate) fn augment_into_flipped(
        &self,
        src: &[f32],
        shape: (usize, usize, usize),
        seed: u64,
        flip: Option<bool>,
        out: &mut [f32],
    ) {
        let p = self.draw_flipped(shape.0, shape.1, seed, flip);
        apply_transform_into(src, shape, &p, &self.config, out);
        if self.preprocessing_function.is_some() || self.random_preprocessing.is_some() {
            let mut img = Image {
                h: shape.0,
                w: shape.1,
                c: shape.2,
                data: out.to_vec(),
            };
            if let Some(f) = &self.random_preprocessing {
                f(&mut img, seed ^ RANDOM_PREPROCESS_SALT);
            }
            if let Some(f) = &self.preprocessing_function {
                f(&mut img);
            }
            out.copy_from_slice(&img.data);
        }
        standardize_slice(out, shape.2, &self.config, self.stats.as_ref());
    }

    /// Only the random transform (no standardisation), as Keras's `random_transform`.
    pub fn random_transform(&self, img: &Image, seed: u64) -> Image {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let p = self.config.draw(img.h, img.w, &mut rng);
        apply_transform(img, &p, &self.config)
    }

    /// Keras's `standardize` with this generator's statistics and preprocessing function.
    pub fn standardize(&self, img: &mut Image) {
        let pre = self
            .preprocessing_function
            .as_deref()
            .map(|f| f as &(dyn Fn(&mut Image) + Sync));
        standardize(img, &self.config, self.stats.as_ref(), pre);
    }

    /// Checks options that need data or ranges.
    pub fn validate(&self) -> Result<()> {
        let c = &self.config;
        if (c.featurewise_center || c.featurewise_std_normalization) && self.stats.is_none() {
            return Err(AugmentError::Config(
                "featurewise standardisation needs fit() on data first".into(),
            ));
        }
        if !(0.0..1.0).contains(&c.validation_split) {
            return Err(AugmentError::Config(format!(
                "validation_split {} must be in [0, 1)",
                c.validation_split
            )));
        }
        if c.zoom_range.0 <= 0.0 || c.zoom_range.0 > c.zoom_range.1 {
            return Err(AugmentError::Config(format!(
                "zoom_range {:?} must be (lo, hi) with 0 < lo <= hi",
                c.zoom_range
            )));
        }
        if c.interpolation_order > 1 {
            return Err(AugmentError::Config(format!(
                "interpolation_order {} (0 nearest or 1 bilinear)",
                c.interpolation_order
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_preprocessing_is_seeded_per_image_and_same_on_both_paths() {
        let g = ImageDataGenerator::new(AugmentConfig::default())
            .with_random_preprocessing(|img, seed| img.data[0] = (seed % 1000) as f32);
        let img = Image {
            h: 2,
            w: 2,
            c: 1,
            data: vec![0.5; 4],
        };
        let a = g.augment(&img, 7);
        assert_eq!(a, g.augment(&img, 7));
        assert_ne!(a.data[0], g.augment(&img, 8).data[0]);
        assert_eq!(a.data[1..], [0.5; 3]);
        let mut out = vec![0.0; 4];
        g.augment_into(&img.data, (2, 2, 1), 7, &mut out);
        assert_eq!(out, a.data);
    }
}
