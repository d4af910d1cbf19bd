//! What a filter responds to (Chollet, *Deep Learning with Python*, §5.4.2): gradient ascent on
//! the input from grey noise to maximise one channel's mean activation; and a first layer's
//! kernels drawn as images.

use cnn_nn::{ForwardMode, LayerConfig, Model};
use cnn_ops::Graph;
use cnn_tensor::{Tensor, seeded_rng};
use image::{Rgb, RgbImage};
use rand::RngExt;
use rayon::prelude::*;

use crate::activations::feature_map_layer;
use crate::error::{Result, input_err, model_err};
use crate::grid::{GridOptions, Tile, image_grid};

const WHAT: &str = "filter pattern";
/// The largest pattern side accepted, in pixels.
pub const MAX_PATTERN_SIDE: usize = 1024;

/// How a pattern is grown.
#[derive(Clone, Debug)]
pub struct PatternOptions {
    /// Side of the square input in pixels; `None` uses the model's own input size.
    pub size: Option<usize>,
    /// Gradient-ascent steps (Chollet: 40).
    pub steps: usize,
    /// Step size in pixel units (0–255) applied to the RMS-normalised gradient (Chollet: 1).
    pub step: f32,
    /// How pixels (0–255) become model input: the model's preprocessing (1/255 for models
    /// trained here, Keras's `caffe`/`tf`/`torch` modes for ImageNet models).
    pub preprocess: cnn_nn::Preprocess,
    /// Seed of the starting noise.
    pub seed: u64,
}

impl Default for PatternOptions {
    fn default() -> Self {
        PatternOptions {
            size: None,
            steps: 40,
            step: 1.0,
            preprocess: cnn_nn::Preprocess::default(),
            seed: 0,
        }
    }
}

/// A grown pattern.
#[derive(Clone, Debug)]
pub struct FilterPattern {
    /// The filter (channel) index.
    pub filter: usize,
    /// The input, `size x size x C` in pixel units (0–255 scale, not clipped).
    pub image: Vec<f32>,
    /// Side of the pattern.
    pub size: usize,
    /// Channels of the pattern (the model's input channels).
    pub channels: usize,
    /// The filter's mean activation (the layer's output) on the starting noise.
    pub start_activation: f32,
    /// The filter's mean activation (the layer's output) on the final pattern.
    pub final_activation: f32,
}

/// Channel `filter` of layer `li` for the input `x` (`1 x size x size x C`, already scaled for
/// the model): the mean of its output, and the gradient of that mean with respect to `x`. Where
/// the filter is silent everywhere (a ReLU output of zeros has no gradient at all), the gradient
/// of the mean of its pre-activation instead, so the ascent can start.
fn objective(model: &mut Model, x: Tensor, li: usize, filter: usize) -> Result<(f32, Tensor)> {
    let mut g = Graph::new();
    let xv = g.variable(x);
    let f = model
        .forward_to(&mut g, xv, ForwardMode::inference(), li + 1)
        .map_err(model_err(WHAT))?;
    let out = g.select_last(f.output, filter).map_err(model_err(WHAT))?;
    let out = g.mean(out).map_err(model_err(WHAT))?;
    let value = g.value(out).item().unwrap_or(0.0);
    let input_grad = |g: &Graph, loss| -> Result<Option<Tensor>> {
        // The input's gradient only: no parameter gradients.
        let mut grads = g.backward_to(loss, &[xv]).map_err(model_err(WHAT))?;
        Ok(grads
            .take(xv)
            .filter(|t| t.data().iter().any(|&v| v != 0.0)))
    };
    let grad = match input_grad(&g, out)? {
        Some(t) => t,
        None => {
            let pre = g
                .select_last(f.pre_activations[li], filter)
                .map_err(model_err(WHAT))?;
            let pre = g.mean(pre).map_err(model_err(WHAT))?;
            match input_grad(&g, pre)? {
                Some(t) => t,
                None => Tensor::zeros(g.value(xv).shape()).map_err(model_err(WHAT))?,
            }
        }
    };
    Ok((value, grad))
}

/// Grows the pattern of channel `filter` of layer `li` by gradient ascent (Chollet's recipe):
/// start from grey plus noise (`128 + U(0, 20)` in pixel units), then `steps` times add
/// `step ·` the input gradient divided by its RMS (+ 1e-5), the gradient of the channel's mean
/// activation. While the filter is silent everywhere (after a ReLU it then has no gradient at
/// all) the step follows its pre-activation instead (see
/// [`cnn_nn::Forward::pre_activations`]), so silent filters start too.
/// The layer must come before any `Flatten` when `size` differs from the model's input.
pub fn filter_pattern(
    model: &mut Model,
    li: usize,
    filter: usize,
    opts: &PatternOptions,
) -> Result<FilterPattern> {
    let channels_out = feature_map_layer(model, li, WHAT)?.output_shape[2];
    if filter >= channels_out {
        return Err(input_err(
            WHAT,
            format!("filter {filter} is out of range: the layer has {channels_out}"),
        ));
    }
    let input = model.architecture().input_shape.clone();
    let [ih, _, c] = input[..] else {
        return Err(input_err(
            WHAT,
            format!("the model's input {input:?} is not an image"),
        ));
    };
    let size = opts.size.unwrap_or(ih);
    if size == 0 || size > MAX_PATTERN_SIDE {
        return Err(input_err(
            WHAT,
            format!("size {size} must be between 1 and {MAX_PATTERN_SIDE}"),
        ));
    }
    let mut rng = seeded_rng(opts.seed ^ (filter as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut img: Vec<f32> = (0..size * size * c)
        .map(|_| 128.0 + rng.random_range(0.0f32..20.0))
        .collect();
    opts.preprocess
        .check_channels(c)
        .map_err(|e| input_err(WHAT, e.to_string()))?;
    let to_input = |img: &[f32]| {
        Tensor::new([1, size, size, c], opts.preprocess.apply(img, c)).map_err(model_err(WHAT))
    };
    // Chollet's epsilon (1e-5) is in model-input units: carried to pixel units with the
    // gradient, so a model trained on pixels/255 ascends exactly as it did on input gradients.
    let eps = 1e-5
        * (0..c)
            .map(|k| opts.preprocess.channel(k, c).1.abs())
            .sum::<f32>()
        / c as f32;
    let mut start = None;
    for _ in 0..opts.steps {
        let (value, grad) = objective(model, to_input(&img)?, li, filter)?;
        start.get_or_insert(value);
        // The ascent is in pixel space: the input gradient through the preprocessing.
        let g = &opts.preprocess.pixel_gradient(grad.data(), c)[..];
        let rms = (g.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / g.len().max(1) as f64)
            .sqrt() as f32;
        let k = opts.step / (rms + eps);
        img.iter_mut().zip(g).for_each(|(p, &d)| *p += k * d);
    }
    let (last, _) = objective(model, to_input(&img)?, li, filter)?;
    Ok(FilterPattern {
        filter,
        image: img,
        size,
        channels: c,
        start_activation: start.unwrap_or(last),
        final_activation: last,
    })
}

/// [`filter_pattern`] for several filters of one layer, in parallel (each worker runs its own
/// copy of the model); the result is the same for any thread count.
pub fn filter_patterns(
    model: &Model,
    li: usize,
    filters: &[usize],
    opts: &PatternOptions,
) -> Result<Vec<FilterPattern>> {
    filters
        .par_iter()
        .map(|&f| filter_pattern(&mut model.clone(), li, f, opts))
        .collect()
}

/// Chollet's `deprocess_image`: centre, divide by the std (+ 1e-5), scale by 0.1, shift to
/// 0.5, clip to `[0, 1]`, times 255.
pub fn deprocess(x: &[f32]) -> Vec<u8> {
    let n = x.len().max(1) as f64;
    let mean = x.iter().map(|&v| v as f64).sum::<f64>() / n;
    let std = (x.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n).sqrt();
    x.iter()
        .map(|&v| {
            let t = ((v as f64 - mean) / (std + 1e-5) * 0.1 + 0.5).clamp(0.0, 1.0);
            (t * 255.0) as u8
        })
        .collect()
}

fn rgb_tile(px: &[u8], h: usize, w: usize, c: usize, caption: String) -> Tile {
    let image = RgbImage::from_fn(w as u32, h as u32, |x, y| {
        let i = (y as usize * w + x as usize) * c;
        if c == 3 {
            Rgb([px[i], px[i + 1], px[i + 2]])
        } else {
            Rgb([px[i]; 3])
        }
    });
    Tile {
        image,
        caption,
        caption_color: [230, 230, 230],
    }
}

/// Patterns in a grid on black with margins (Chollet: 8 per row, margin 5), each deprocessed
/// and captioned with its filter index; `title` above.
pub fn pattern_grid(patterns: &[FilterPattern], per_row: usize, title: &str) -> Result<RgbImage> {
    let tiles: Vec<Tile> = patterns
        .iter()
        .map(|p| {
            let px = deprocess(&p.image);
            let px: Vec<u8> = if p.channels == 3 {
                px
            } else {
                // Multi-channel non-RGB inputs show their first channel.
                px.iter().step_by(p.channels.max(1)).copied().collect()
            };
            let c = if p.channels == 3 { 3 } else { 1 };
            rgb_tile(&px, p.size, p.size, c, format!("{}", p.filter))
        })
        .collect();
    let side = patterns.iter().map(|p| p.size).max().unwrap_or(1);
    image_grid(
        &tiles,
        &GridOptions {
            columns: per_row.max(1),
            scale: 64usize.div_ceil(side).max(1) as u32,
            margin: 5,
            caption_height: 14,
            title: Some(title.to_string()),
            background: [0, 0, 0],
        },
    )
}

/// The first layer's kernels (`[kh, kw, C, F]`) as `F` tiles, each min–max scaled on its own
/// (grey for one input channel, RGB for three), in a grid of `per_row`.
pub fn kernel_grid(model: &Model, li: usize, per_row: usize) -> Result<RgbImage> {
    let arch = model.architecture();
    let layer = arch
        .layers
        .get(li)
        .ok_or_else(|| input_err("kernels", format!("no layer {li}")))?;
    if !matches!(layer.config(), LayerConfig::Conv2D(_)) {
        return Err(input_err(
            "kernels",
            format!("layer {} is not a convolution", layer.name),
        ));
    }
    let name = format!("{}/kernel", layer.name);
    let w = model
        .named_weights()
        .find(|(n, _)| *n == name)
        .map(|(_, t)| t)
        .ok_or_else(|| input_err("kernels", format!("no weight {name}")))?;
    let [kh, kw, c, f] = w.dims()[..] else {
        return Err(input_err("kernels", format!("{name} is not 4-D")));
    };
    let shown_c = if c == 3 { 3 } else { 1 };
    let tiles: Vec<Tile> = (0..f)
        .map(|k| {
            let vals: Vec<f32> = (0..kh * kw)
                .flat_map(|p| (0..shown_c).map(move |ch| (p, ch)))
                .map(|(p, ch)| w.data()[(p * c + ch) * f + k])
                .collect();
            let lo = vals.iter().copied().fold(f32::INFINITY, f32::min);
            let hi = vals.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let span = if hi > lo { hi - lo } else { 1.0 };
            let px: Vec<u8> = vals
                .iter()
                .map(|&v| ((v - lo) / span * 255.0).round() as u8)
                .collect();
            rgb_tile(&px, kh, kw, shown_c, format!("{k}"))
        })
        .collect();
    image_grid(
        &tiles,
        &GridOptions {
            columns: per_row.max(1),
            scale: 48usize.div_ceil(kh.max(kw)).max(1) as u32,
            margin: 4,
            caption_height: 14,
            title: Some(format!("{name} ({kh}x{kw}x{c}, {f} filters)")),
            background: [0, 0, 0],
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deprocess_matches_chollet() {
        // mean 0, std 1 (+ 1e-5): x * 0.1 + 0.5, times 255, truncated like `astype('uint8')`.
        let v = deprocess(&[-1.0, 1.0, -1.0, 1.0]);
        assert_eq!(v, vec![102, 152, 102, 152]);
        // Constant input: no contrast, mid grey.
        assert_eq!(deprocess(&[3.0; 3]), vec![127; 3]);
        // Far outliers clip.
        let mut x = vec![0.0; 200];
        x[0] = 1e4;
        assert_eq!(deprocess(&x)[0], 255);
    }
}
