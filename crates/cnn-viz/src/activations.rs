//! Intermediate activations (Chollet, *Deep Learning with Python*, §5.4.1): every channel of a
//! layer's output for one image, normalised per channel and laid out 16 to a row in viridis.

use cnn_nn::{ForwardMode, Layer, LayerConfig, Model};
use cnn_ops::Graph;
use cnn_tensor::Tensor;
use image::{Rgb, RgbImage};

use crate::colormap::viridis;
use crate::error::{Result, input_err, model_err};
use crate::grid::{GridOptions, Tile, image_grid};

const WHAT: &str = "activations";

/// One layer's output for one image: `height x width x channels`, channels last.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerActivations {
    /// The layer's name (`conv2d_1`).
    pub layer: String,
    /// Its index in the model.
    pub index: usize,
    /// Height of the feature map.
    pub height: usize,
    /// Width of the feature map.
    pub width: usize,
    /// Number of channels.
    pub channels: usize,
    /// The values, `height * width * channels`, channels last.
    pub data: Vec<f32>,
}

impl LayerActivations {
    /// Channel `c` as a row-major `height x width` plane.
    pub fn channel(&self, c: usize) -> Vec<f32> {
        self.data
            .iter()
            .skip(c)
            .step_by(self.channels.max(1))
            .copied()
            .collect()
    }
}

/// The indices of the layers whose outputs are feature maps worth looking at by default: every
/// convolution and pooling layer (what Chollet shows), in order.
pub fn default_activation_layers(model: &Model) -> Vec<usize> {
    model
        .architecture()
        .layers
        .iter()
        .enumerate()
        .filter(|(_, l)| {
            l.output_shape.len() == 3
                && matches!(
                    l.config(),
                    LayerConfig::Conv2D(_)
                        | LayerConfig::MaxPooling2D(_)
                        | LayerConfig::AveragePooling2D(_)
                )
        })
        .map(|(i, _)| i)
        .collect()
}

/// Resolves layer names to indices, with an error naming an unknown layer and the known ones.
pub fn layer_indices(model: &Model, names: &[String]) -> Result<Vec<usize>> {
    let arch = model.architecture();
    names
        .iter()
        .map(|n| {
            arch.layer_index(n).ok_or_else(|| {
                let known: Vec<&str> = arch.layers.iter().map(|l| l.name.as_str()).collect();
                input_err(
                    WHAT,
                    format!("no layer named `{n}`; the model has {}", known.join(", ")),
                )
            })
        })
        .collect()
}

/// Layer `li` of `model`, which must output a feature map (height, width, channels); errors
/// about `what` otherwise.
pub(crate) fn feature_map_layer<'m>(model: &'m Model, li: usize, what: &str) -> Result<&'m Layer> {
    let l = model
        .architecture()
        .layers
        .get(li)
        .ok_or_else(|| input_err(what, format!("no layer {li}")))?;
    if l.output_shape.len() != 3 {
        return Err(input_err(
            what,
            format!(
                "layer {} outputs {:?}, not a feature map (height, width, channels)",
                l.name, l.output_shape
            ),
        ));
    }
    Ok(l)
}

/// Checks that `image` is one `H x W x C` (or `1 x H x W x C`) input for `model` and returns it
/// with the batch axis.
pub(crate) fn one_image(model: &Model, image: &Tensor, what: &str) -> Result<Tensor> {
    let dims = image.dims();
    let body = match dims.len() {
        3 => dims,
        4 if dims[0] == 1 => &dims[1..],
        _ => {
            return Err(input_err(
                what,
                format!("expected one H x W x C image, got shape {}", image.shape()),
            ));
        }
    };
    let mut with_batch = vec![1];
    with_batch.extend_from_slice(body);
    let x = Tensor::new(with_batch, image.data().to_vec()).map_err(model_err(what))?;
    model.check_input(&x).map_err(model_err(what))?;
    Ok(x)
}

/// The outputs of `layers` (indices; see [`default_activation_layers`]) for one image, in
/// inference mode. Layers whose output is not a feature map (`Flatten`, `Dense`) are refused.
pub fn activations(
    model: &mut Model,
    image: &Tensor,
    layers: &[usize],
) -> Result<Vec<LayerActivations>> {
    let x = one_image(model, image, WHAT)?;
    let names = layers
        .iter()
        .map(|&i| Ok(feature_map_layer(model, i, WHAT)?.name.clone()))
        .collect::<Result<Vec<String>>>()?;
    let Some(&last) = layers.iter().max() else {
        return Ok(Vec::new());
    };
    let mut g = Graph::inference();
    let xv = g.constant(x);
    let f = model
        .forward_to(&mut g, xv, ForwardMode::inference(), last + 1)
        .map_err(model_err(WHAT))?;
    Ok(layers
        .iter()
        .zip(names)
        .map(|(&i, layer)| {
            let t = g.value(f.layer_outputs[i]);
            let d = t.dims();
            LayerActivations {
                layer,
                index: i,
                height: d[1],
                width: d[2],
                channels: d[3],
                data: t.data().to_vec(),
            }
        })
        .collect())
}

/// Chollet's per-channel normalisation for display: `(x − mean) / std · 64 + 128`, clipped to
/// 0–255. A constant channel (e.g. all zeros after a ReLU) has no contrast to show and maps to
/// 0 everywhere, where Keras's code would produce NaN.
pub fn chollet_normalize(channel: &[f32]) -> Vec<u8> {
    let n = channel.len().max(1) as f64;
    let mean = channel.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = channel
        .iter()
        .map(|&v| (v as f64 - mean).powi(2))
        .sum::<f64>()
        / n;
    let std = var.sqrt();
    if std.is_nan() || std <= 1e-12 {
        return vec![0; channel.len()];
    }
    channel
        .iter()
        .map(|&v| {
            let t = (v as f64 - mean) / std * 64.0 + 128.0;
            t.clamp(0.0, 255.0) as u8
        })
        .collect()
}

/// How an activation grid is drawn.
#[derive(Clone, Debug)]
pub struct ActivationGridOptions {
    /// Channels per row (Chollet: 16).
    pub per_row: usize,
    /// Each channel is scaled up by whole pixels until it is at least this many pixels wide.
    pub min_tile: usize,
    /// Pixels between channels.
    pub margin: u32,
}

impl Default for ActivationGridOptions {
    fn default() -> Self {
        ActivationGridOptions {
            per_row: 16,
            min_tile: 48,
            margin: 2,
        }
    }
}

/// One channel normalised with [`chollet_normalize`] and coloured with viridis.
pub fn channel_image(a: &LayerActivations, c: usize) -> RgbImage {
    let v = chollet_normalize(&a.channel(c));
    RgbImage::from_fn(a.width as u32, a.height as u32, |x, y| {
        Rgb(viridis(v[y as usize * a.width + x as usize] as f32 / 255.0))
    })
}

/// The grid of every channel of `a` (channel `k` at row `k / per_row`, column `k % per_row`),
/// titled with the layer's name and shape.
pub fn activation_grid(a: &LayerActivations, opts: &ActivationGridOptions) -> Result<RgbImage> {
    if a.channels == 0 || a.height == 0 || a.width == 0 {
        return Err(input_err(WHAT, format!("layer {} is empty", a.layer)));
    }
    let tiles: Vec<Tile> = (0..a.channels)
        .map(|c| Tile {
            image: channel_image(a, c),
            caption: String::new(),
            caption_color: [0, 0, 0],
        })
        .collect();
    let scale = opts.min_tile.div_ceil(a.width.max(a.height)).max(1) as u32;
    image_grid(
        &tiles,
        &GridOptions {
            columns: opts.per_row.max(1),
            scale,
            margin: opts.margin,
            caption_height: 0,
            title: Some(format!(
                "{} ({}, {}, {})",
                a.layer, a.height, a.width, a.channels
            )),
            background: [255, 255, 255],
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_matches_chollet_and_blanks_constant_channels() {
        // mean 2, std sqrt(2/3): (x - 2) / 0.8165 * 64 + 128.
        let v = chollet_normalize(&[1.0, 2.0, 3.0]);
        assert_eq!(v, vec![49, 128, 206]);
        assert_eq!(chollet_normalize(&[0.0; 9]), vec![0; 9]);
        assert_eq!(chollet_normalize(&[5.0; 4]), vec![0; 4]);
        // Far outliers clip instead of wrapping.
        let mut big = vec![0.0; 99];
        big.push(1000.0);
        let v = chollet_normalize(&big);
        assert_eq!(v[99], 255);
        assert!(v[0] > 100 && v[0] < 128);
    }

    fn fake(channels: usize, h: usize, w: usize) -> LayerActivations {
        // Channel k holds a ramp scaled by k, so every channel except 0 has contrast.
        let mut data = vec![0.0; h * w * channels];
        for p in 0..h * w {
            for k in 0..channels {
                data[p * channels + k] = (p * k) as f32;
            }
        }
        LayerActivations {
            layer: "conv2d".into(),
            index: 0,
            height: h,
            width: w,
            channels,
            data,
        }
    }

    #[test]
    fn channel_extraction_is_channels_last() {
        let a = fake(3, 2, 2);
        assert_eq!(a.channel(2), vec![0.0, 2.0, 4.0, 6.0]);
        assert_eq!(a.channel(0), vec![0.0; 4]);
    }

    #[test]
    fn grid_places_channels_16_per_row_with_margins() {
        let a = fake(20, 4, 4);
        let opts = ActivationGridOptions {
            per_row: 16,
            min_tile: 8,
            margin: 2,
        };
        let img = activation_grid(&a, &opts).unwrap();
        // Tiles 8 px (4 px scaled by 2); 16 columns, 2 rows, margins of 2, a title band.
        let title = img.height() - (2 + 2 * (8 + 2));
        assert_eq!(img.width(), 2 + 16 * (8 + 2));
        assert!(title > 10, "title band reserved");
        // Channel 0 is constant: blank (viridis(0)) everywhere in its tile.
        let blank = viridis(0.0);
        assert_eq!(img.get_pixel(2, title + 2).0, blank);
        assert_eq!(img.get_pixel(9, title + 9).0, blank);
        // Channel 17 is row 1, column 1: its ramp runs from dark (top-left) to bright.
        let (x0, y0) = (2 + 10, title + 2 + 10);
        let first = img.get_pixel(x0, y0).0;
        let last = img.get_pixel(x0 + 7, y0 + 7).0;
        assert_ne!(first, last);
        assert_eq!(
            last,
            viridis(chollet_normalize(&a.channel(17))[15] as f32 / 255.0)
        );
        // Channels 20..32 of row 1 are empty cells: background.
        assert_eq!(img.get_pixel(2 + 4 * 10 + 3, y0 + 3).0, [255, 255, 255]);
        // Margins between tiles are background.
        assert_eq!(img.get_pixel(10, title + 4).0, [255, 255, 255]);
    }
}
