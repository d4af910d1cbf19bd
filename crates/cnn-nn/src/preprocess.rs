//! What a model expects its input pixels to be, stored in its file: Keras's `rescale` (pixels
//! times a factor, 1/255 for models trained here) or one of Keras's `preprocess_input` modes
//! for ImageNet models (`keras.applications.imagenet_utils`):
//!
//! - `caffe` (VGG16, ResNet50): RGB → BGR, then the ImageNet channel means subtracted
//!   (103.939, 116.779, 123.68 for B, G, R), no scaling;
//! - `tf` (MobileNetV2): `x / 127.5 − 1`, into [−1, 1];
//! - `torch` (torchvision): `x / 255`, then `(x − mean) / std` with mean (0.485, 0.456, 0.406)
//!   and std (0.229, 0.224, 0.225) for R, G, B.
//!
//! Each is a per-channel affine map of 0–255 pixels, with a channel reversal for `caffe`:
//! model channel `k` = `scale[k] · pixel[source(k)] + offset[k]`.

use std::collections::HashMap;

use crate::error::{NnError, Result};

/// The metadata key of the mode (`caffe`, `tf`, `torch`); absent: `rescale`.
pub const PREPROCESS_KEY: &str = "preprocess";
/// The metadata key of the rescale factor.
pub const RESCALE_KEY: &str = "rescale";

/// How 0–255 pixels become model input.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Preprocess {
    /// `pixel · factor` (Keras's `rescale`; 1/255 for models trained here).
    Rescale(f32),
    /// Keras's `caffe` mode: BGR, ImageNet means subtracted.
    Caffe,
    /// Keras's `tf` mode: `pixel / 127.5 − 1`.
    Tf,
    /// Keras's `torch` mode: `pixel / 255`, normalised by ImageNet's mean and std.
    Torch,
}

impl Default for Preprocess {
    /// `rescale = 1/255`, what `cnn train` uses.
    fn default() -> Self {
        Preprocess::Rescale(1.0 / 255.0)
    }
}

const CAFFE_MEAN_BGR: [f32; 3] = [103.939, 116.779, 123.68];
const TORCH_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
const TORCH_STD: [f32; 3] = [0.229, 0.224, 0.225];

impl Preprocess {
    /// The mode called `name` (`caffe`, `tf`, `torch`, `none` for no scaling at all).
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "caffe" => Preprocess::Caffe,
            "tf" => Preprocess::Tf,
            "torch" => Preprocess::Torch,
            "none" => Preprocess::Rescale(1.0),
            _ => return None,
        })
    }

    /// What a model file's metadata says (`preprocess`, else `rescale`, else 1/255).
    pub fn from_metadata(extra: &HashMap<String, String>) -> Result<Self> {
        if let Some(mode) = extra.get(PREPROCESS_KEY) {
            return Preprocess::parse(mode).ok_or_else(|| {
                NnError::Data(format!(
                    "unknown preprocessing `{mode}` in the model's metadata (caffe, tf, torch)"
                ))
            });
        }
        Ok(
            match extra.get(RESCALE_KEY).and_then(|s| s.parse::<f32>().ok()) {
                Some(f) if f.is_finite() => Preprocess::Rescale(f),
                _ => Preprocess::default(),
            },
        )
    }

    /// The metadata entry that stores it.
    pub fn metadata(&self) -> (String, String) {
        match self {
            Preprocess::Rescale(f) => (RESCALE_KEY.into(), f.to_string()),
            other => (PREPROCESS_KEY.into(), other.name().into()),
        }
    }

    /// The mode's name (`rescale`, `caffe`, `tf`, `torch`).
    pub fn name(&self) -> &'static str {
        match self {
            Preprocess::Rescale(_) => "rescale",
            Preprocess::Caffe => "caffe",
            Preprocess::Tf => "tf",
            Preprocess::Torch => "torch",
        }
    }

    /// Checks that the mode fits images of `channels` channels (the ImageNet modes need RGB).
    pub fn check_channels(&self, channels: usize) -> Result<()> {
        match self {
            Preprocess::Caffe | Preprocess::Torch if channels != 3 => Err(NnError::Data(format!(
                "`{}` preprocessing needs RGB images, the model takes {channels} channels",
                self.name()
            ))),
            _ => Ok(()),
        }
    }

    /// For model channel `k` of `channels`: the pixel channel it reads, its scale and offset.
    pub fn channel(&self, k: usize, channels: usize) -> (usize, f32, f32) {
        match self {
            Preprocess::Rescale(f) => (k, *f, 0.0),
            Preprocess::Tf => (k, 1.0 / 127.5, -1.0),
            Preprocess::Caffe => (channels - 1 - k, 1.0, -CAFFE_MEAN_BGR[k % 3]),
            Preprocess::Torch => {
                let s = 1.0 / (255.0 * TORCH_STD[k % 3]);
                (k, s, -TORCH_MEAN[k % 3] / TORCH_STD[k % 3])
            }
        }
    }

    /// Model input from pixels (0–255, channels last, `channels` per pixel).
    pub fn apply(&self, pixels: &[f32], channels: usize) -> Vec<f32> {
        let map: Vec<(usize, f32, f32)> =
            (0..channels).map(|k| self.channel(k, channels)).collect();
        let mut out = Vec::with_capacity(pixels.len());
        for px in pixels.chunks(channels) {
            out.extend(map.iter().map(|&(src, a, b)| a * px[src] + b));
        }
        out
    }

    /// Pixels (0–255, unclamped) from model input: the inverse of [`Preprocess::apply`].
    pub fn invert(&self, input: &[f32], channels: usize) -> Vec<f32> {
        let map: Vec<(usize, f32, f32)> =
            (0..channels).map(|k| self.channel(k, channels)).collect();
        let mut out = vec![0.0; input.len()];
        for (o, x) in out.chunks_mut(channels).zip(input.chunks(channels)) {
            for (k, &(src, a, b)) in map.iter().enumerate() {
                o[src] = (x[k] - b) / a;
            }
        }
        out
    }

    /// A gradient with respect to model input as one with respect to the pixels (chain rule
    /// through the affine map and the channel order).
    pub fn pixel_gradient(&self, grad: &[f32], channels: usize) -> Vec<f32> {
        let map: Vec<(usize, f32, f32)> =
            (0..channels).map(|k| self.channel(k, channels)).collect();
        let mut out = vec![0.0; grad.len()];
        for (o, g) in out.chunks_mut(channels).zip(grad.chunks(channels)) {
            for (k, &(src, a, _)) in map.iter().enumerate() {
                o[src] = a * g[k];
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_are_keras_preprocess_input() {
        let px = [10.0, 20.0, 30.0];
        // caffe: BGR minus the means.
        assert_eq!(
            Preprocess::Caffe.apply(&px, 3),
            [30.0 - 103.939, 20.0 - 116.779, 10.0 - 123.68]
        );
        // tf: into [-1, 1].
        let tf = Preprocess::Tf.apply(&[0.0, 127.5, 255.0], 3);
        assert!((tf[0] + 1.0).abs() < 1e-6 && tf[1].abs() < 1e-6 && (tf[2] - 1.0).abs() < 1e-6);
        // torch: /255, then mean and std.
        let t = Preprocess::Torch.apply(&px, 3);
        for (k, v) in t.iter().enumerate() {
            let want = (px[k] / 255.0 - TORCH_MEAN[k]) / TORCH_STD[k];
            assert!((v - want).abs() < 1e-5, "{k}: {v} vs {want}");
        }
        assert_eq!(Preprocess::Rescale(0.5).apply(&px, 3), [5.0, 10.0, 15.0]);
    }

    #[test]
    fn invert_undoes_apply_and_metadata_round_trips() {
        let px: Vec<f32> = (0..12).map(|i| i as f32 * 20.0).collect();
        for p in [
            Preprocess::Caffe,
            Preprocess::Tf,
            Preprocess::Torch,
            Preprocess::Rescale(0.25),
        ] {
            let back = p.invert(&p.apply(&px, 3), 3);
            for (a, b) in back.iter().zip(&px) {
                assert!((a - b).abs() < 1e-3, "{p:?}");
            }
            let (k, v) = p.metadata();
            let extra = HashMap::from([(k, v)]);
            assert_eq!(Preprocess::from_metadata(&extra).unwrap(), p);
        }
        assert!(Preprocess::Caffe.check_channels(1).is_err());
        let bad = HashMap::from([(PREPROCESS_KEY.to_string(), "mystery".to_string())]);
        assert!(Preprocess::from_metadata(&bad).is_err());
    }

    #[test]
    fn pixel_gradient_is_the_chain_rule() {
        // A finite difference through apply: d(sum w·apply(px))/d px.
        let w = [0.3f32, -1.2, 2.0, 0.7, 0.1, -0.4];
        let px = [50.0f32, 100.0, 150.0, 200.0, 25.0, 75.0];
        for p in [Preprocess::Caffe, Preprocess::Torch, Preprocess::Tf] {
            let f = |x: &[f32]| -> f32 { p.apply(x, 3).iter().zip(&w).map(|(a, b)| a * b).sum() };
            let g = p.pixel_gradient(&w, 3);
            for i in 0..px.len() {
                let mut hi = px;
                hi[i] += 1.0;
                let d = f(&hi) - f(&px);
                assert!((d - g[i]).abs() < 1e-3, "{p:?} {i}: {d} vs {}", g[i]);
            }
        }
    }
}
