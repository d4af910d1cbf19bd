//! One image through Keras's pipeline: `apply_transform` (one affine resample, channel shift,
//! horizontal flip, vertical flip, brightness) then `standardize` (preprocessing function,
//! rescale, samplewise centre/std, featurewise centre/std).

use crate::affine::{Affine, resample};
use crate::params::{AugmentConfig, TransformParams};

/// An `h × w × c` image of `f32` (0–255 before rescaling, like Keras's `img_to_array`).
#[derive(Clone, Debug, PartialEq)]
pub struct Image {
    /// Height.
    pub h: usize,
    /// Width.
    pub w: usize,
    /// Channels.
    pub c: usize,
    /// Pixels, HWC.
    pub data: Vec<f32>,
}

/// Per-channel dataset statistics for featurewise standardisation (from `fit`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FeatureStats {
    /// Mean per channel.
    pub mean: Vec<f32>,
    /// Standard deviation per channel (after centring).
    pub std: Vec<f32>,
}

/// Applies `p` to `img` (Keras's `apply_transform`).
pub fn apply_transform(img: &Image, p: &TransformParams, cfg: &AugmentConfig) -> Image {
    let mut data = vec![0.0f32; img.data.len()];
    apply_transform_into(&img.data, (img.h, img.w, img.c), p, cfg, &mut data);
    Image {
        h: img.h,
        w: img.w,
        c: img.c,
        data,
    }
}

/// [`apply_transform`] from an HWC slice into `data` (same length), without allocating.
pub fn apply_transform_into(
    src: &[f32],
    (h, w, c): (usize, usize, usize),
    p: &TransformParams,
    cfg: &AugmentConfig,
    data: &mut [f32],
) {
    let m = Affine::keras(p, h, w);
    if m.is_identity() {
        data.copy_from_slice(src);
    } else {
        resample(
            src,
            h,
            w,
            c,
            &m,
            cfg.fill_mode,
            cfg.cval,
            cfg.interpolation_order,
            cfg.axes,
            data,
        );
    }
    if let Some(i) = p.channel_shift_intensity {
        let (lo, hi) = data
            .iter()
            .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
        data.iter_mut().for_each(|v| *v = (*v + i).clamp(lo, hi));
    }
    if p.flip_horizontal {
        for row in data.chunks_exact_mut(w * c) {
            for x in 0..w / 2 {
                for k in 0..c {
                    row.swap(x * c + k, (w - 1 - x) * c + k);
                }
            }
        }
    }
    if p.flip_vertical {
        for y in 0..h / 2 {
            let (top, bottom) = data.split_at_mut((h - 1 - y) * w * c);
            top[y * w * c..(y + 1) * w * c].swap_with_slice(&mut bottom[..w * c]);
        }
    }
    if let Some(b) = p.brightness {
        brightness(data, b);
    }
}

/// Keras 3's brightness shift (`apply_brightness_shift(x, b, scale=False)` through PIL's
/// `ImageEnhance.Brightness`), element by element:
/// - to 8 bits as `array_to_img` does: an image inside `[0, 255]` is truncated as it is; one
///   outside is first mapped onto `[0, 255]` by its own range (`(x − min) / (max − min) · 255`);
/// - PIL blends with black: `trunc(b · px)`, clipped to `[0, 255]`;
/// - back to `f32`, and onto the original range when it was mapped.
///
/// Keras accepts 1, 3 or 4 channels here; other counts get the same per-element rule.
fn brightness(data: &mut [f32], b: f32) {
    let (lo, hi) = data
        .iter()
        .fold((f32::MAX, f32::MIN), |(a, m), &v| (a.min(v), m.max(v)));
    let mapped = lo < 0.0 || hi > 255.0;
    let span = hi - lo;
    for v in data.iter_mut() {
        let px = if mapped {
            let t = *v - lo;
            (if span != 0.0 { t / span } else { t }) * 255.0
        } else {
            *v
        };
        // `as u8` truncates (and saturates), like NumPy's `astype("uint8")` and PIL's cast.
        let px = px as u8 as f32;
        let out = (b * px).clamp(0.0, 255.0) as u8 as f32;
        *v = if mapped { out / 255.0 * span + lo } else { out };
    }
}

/// Keras's `standardize`, in its order. `pre` is the preprocessing function, if any.
pub fn standardize(
    img: &mut Image,
    cfg: &AugmentConfig,
    stats: Option<&FeatureStats>,
    pre: Option<&(dyn Fn(&mut Image) + Sync)>,
) {
    if let Some(f) = pre {
        f(img);
    }
    standardize_slice(&mut img.data, img.c, cfg, stats);
}

/// The steps of [`standardize`] after the preprocessing function, on an HWC slice.
pub fn standardize_slice(
    data: &mut [f32],
    c: usize,
    cfg: &AugmentConfig,
    stats: Option<&FeatureStats>,
) {
    if let Some(r) = cfg.rescale {
        data.iter_mut().for_each(|v| *v *= r);
    }
    let n = data.len() as f64;
    if cfg.samplewise_center || cfg.samplewise_std_normalization {
        let mean = data.iter().map(|&v| v as f64).sum::<f64>() / n;
        data.iter_mut().for_each(|v| *v -= mean as f32);
    }
    if cfg.samplewise_std_normalization {
        let std = (data.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / n).sqrt();
        data.iter_mut().for_each(|v| *v /= (std + 1e-6) as f32);
    }
    if let Some(s) = stats {
        if (cfg.featurewise_center || cfg.featurewise_std_normalization) && s.mean.len() == c {
            data.chunks_exact_mut(c)
                .for_each(|px| px.iter_mut().zip(&s.mean).for_each(|(v, m)| *v -= m));
        }
        if cfg.featurewise_std_normalization && s.std.len() == c {
            data.chunks_exact_mut(c).for_each(|px| {
                px.iter_mut()
                    .zip(&s.std)
                    .for_each(|(v, sd)| *v /= sd + 1e-6)
            });
        }
    }
}
