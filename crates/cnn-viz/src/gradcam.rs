//! Grad-CAM class-activation heatmaps (Selvaraju et al. 2017; Chollet, *Deep Learning with
//! Python*, §5.4.3): where in the image the evidence for a class is.
//!
//! The gradient of the class score with respect to a late feature map gives one weight per
//! channel (its spatial mean); the heatmap is the ReLU of the weighted channel mean, scaled to
//! `[0, 1]`, resized bilinearly to the picture and drawn over it in jet at 0.4.

use cnn_nn::{ForwardMode, LayerConfig, Model, Source};
use cnn_ops::Graph;
use cnn_tensor::Tensor;
use image::{ImageBuffer, Luma, Rgb, RgbImage, imageops};

use crate::activations::{feature_map_layer, one_image};
use crate::colormap::jet;
use crate::error::{Result, input_err, model_err};

const WHAT: &str = "Grad-CAM";

/// Which score to differentiate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CamScore {
    /// The class's score before the softmax, as in the Grad-CAM paper (default: it does not
    /// saturate when the model is confident).
    #[default]
    Logit,
    /// The class's probability after the softmax, as in Chollet's notebook.
    Probability,
}

/// What to explain.
#[derive(Clone, Debug, Default)]
pub struct GradCamOptions {
    /// The feature map to weight (index of a layer); `None` picks [`default_cam_layer`].
    pub layer: Option<usize>,
    /// The class to explain; `None` explains the top prediction.
    pub class: Option<usize>,
    /// The score to differentiate.
    pub score: CamScore,
}

/// A Grad-CAM result.
#[derive(Clone, Debug)]
pub struct GradCam {
    /// The layer whose output was weighted.
    pub layer: String,
    /// The class explained.
    pub class: usize,
    /// Class probabilities for the image.
    pub probabilities: Vec<f32>,
    /// Channel weights (the mean gradient of each channel).
    pub weights: Vec<f32>,
    /// The heatmap at the feature map's resolution, row-major, in `[0, 1]` (all zeros when no
    /// location has positive evidence).
    pub heatmap: Vec<f32>,
    /// Heatmap height.
    pub height: usize,
    /// Heatmap width.
    pub width: usize,
}

/// The layer Grad-CAM weights by default: the last convolution, followed through the
/// batch-norm and activation layers directly after it (so the map is the block's rectified
/// output, as Keras examples pick `..._act` layers), before any pooling.
pub fn default_cam_layer(model: &Model) -> Option<usize> {
    let layers = &model.architecture().layers;
    let conv = layers
        .iter()
        .rposition(|l| matches!(l.config(), LayerConfig::Conv2D(_)))?;
    let mut i = conv;
    while i + 1 < layers.len()
        && matches!(
            layers[i + 1].config(),
            LayerConfig::BatchNormalization(_) | LayerConfig::Activation(_)
        )
        && layers[i + 1].inputs == [Source::Layer(i)]
        && layers[i + 1].output_shape.len() == 3
    {
        i += 1;
    }
    Some(i)
}

/// Computes Grad-CAM for one `H x W x C` image (scaled as the model expects).
pub fn grad_cam(model: &mut Model, image: &Tensor, opts: &GradCamOptions) -> Result<GradCam> {
    let x = one_image(model, image, WHAT)?;
    let li = match opts.layer {
        Some(i) => i,
        None => default_cam_layer(model)
            .ok_or_else(|| input_err(WHAT, "the model has no convolution layer"))?,
    };
    let layer_name = feature_map_layer(model, li, WHAT)?.name.clone();
    let mut g = Graph::new();
    let xv = g.constant(x);
    let f = model
        .forward(
            &mut g,
            xv,
            ForwardMode {
                logits: opts.score == CamScore::Logit,
                ..ForwardMode::inference()
            },
        )
        .map_err(model_err(WHAT))?;
    let fmap = f.layer_outputs[li];
    g.retain_grad(fmap);
    let out = g.value(f.output).data().to_vec();
    let probabilities = if f.omitted.is_some() {
        softmax(&out)
    } else {
        out.clone()
    };
    let class = match opts.class {
        Some(c) if c < out.len() => c,
        Some(c) => {
            return Err(input_err(
                WHAT,
                format!("class {c} is out of range for {} classes", out.len()),
            ));
        }
        None => cnn_nn::argmax(&probabilities),
    };
    let score = g.select_last(f.output, class).map_err(model_err(WHAT))?;
    let score = g.sum(score).map_err(model_err(WHAT))?;
    // Only the layers after the feature map are differentiated: no parameter gradients (VGG-16's
    // fc1 alone would be 411 MB), nothing before the map.
    let grads = g.backward_to(score, &[fmap]).map_err(model_err(WHAT))?;
    let fv = g.value(fmap);
    let (h, w, c) = (fv.dims()[1], fv.dims()[2], fv.dims()[3]);
    let zeros;
    let grad = match grads.get(fmap) {
        Some(t) => t.data(),
        // The score does not depend on the map (e.g. all-zero ReLU outputs): no evidence.
        None => {
            zeros = vec![0.0; h * w * c];
            &zeros
        }
    };
    let mut weights = vec![0.0f64; c];
    for px in grad.chunks_exact(c) {
        weights
            .iter_mut()
            .zip(px)
            .for_each(|(a, &v)| *a += v as f64);
    }
    let weights: Vec<f32> = weights
        .iter()
        .map(|&s| (s / (h * w) as f64) as f32)
        .collect();
    let mut heatmap: Vec<f32> = fv
        .data()
        .chunks_exact(c)
        .map(|px| {
            let s: f64 = px
                .iter()
                .zip(&weights)
                .map(|(&a, &b)| a as f64 * b as f64)
                .sum();
            ((s / c as f64) as f32).max(0.0)
        })
        .collect();
    let max = heatmap.iter().copied().fold(0.0f32, f32::max);
    if max > 0.0 && max.is_finite() {
        heatmap.iter_mut().for_each(|v| *v /= max);
    } else {
        heatmap.iter_mut().for_each(|v| *v = 0.0);
    }
    Ok(GradCam {
        layer: layer_name,
        class,
        probabilities,
        weights,
        heatmap,
        height: h,
        width: w,
    })
}

fn softmax(z: &[f32]) -> Vec<f32> {
    let m = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f64> = z.iter().map(|&v| ((v - m) as f64).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|&v| (v / s) as f32).collect()
}

/// Resizes a heatmap bilinearly (half-pixel centres, like OpenCV's `resize`) to
/// `height x width`.
pub fn resize_heatmap(
    heat: &[f32],
    h: usize,
    w: usize,
    height: usize,
    width: usize,
) -> Result<Vec<f32>> {
    let bad = || {
        input_err(
            WHAT,
            format!("{} values are not a {h}x{w} heatmap", heat.len()),
        )
    };
    if heat.len() != h * w {
        return Err(bad());
    }
    let src: ImageBuffer<Luma<f32>, Vec<f32>> =
        ImageBuffer::from_raw(w as u32, h as u32, heat.to_vec()).ok_or_else(bad)?;
    if height == 0 || width == 0 {
        return Err(input_err(WHAT, "cannot resize to an empty image"));
    }
    let out = imageops::resize(
        &src,
        width as u32,
        height as u32,
        imageops::FilterType::Triangle,
    );
    Ok(out.into_raw())
}

/// Superimposes a `[0, 1]` heatmap (already at the picture's size) in jet:
/// `picture + 0.4 · 255 · jet(heat)`, saturating at 255, as Chollet's recipe does.
pub fn overlay(picture: &RgbImage, heat: &[f32], intensity: f32) -> Result<RgbImage> {
    let (w, h) = picture.dimensions();
    if heat.len() != (w * h) as usize {
        return Err(input_err(
            WHAT,
            format!("heatmap of {} values for a {w}x{h} picture", heat.len()),
        ));
    }
    Ok(RgbImage::from_fn(w, h, |x, y| {
        let j = jet(heat[(y * w + x) as usize]);
        let p = picture.get_pixel(x, y).0;
        Rgb(std::array::from_fn(|k| {
            (p[k] as f32 + intensity * j[k] as f32).round().min(255.0) as u8
        }))
    }))
}

/// The heatmap alone in jet, at its own resolution.
pub fn heatmap_image(cam: &GradCam) -> RgbImage {
    RgbImage::from_fn(cam.width as u32, cam.height as u32, |x, y| {
        Rgb(jet(cam.heatmap[y as usize * cam.width + x as usize]))
    })
}

/// The fraction of the heatmap's mass (after resizing to the mask's size) that falls on
/// `mask` (true = inside the object) — how well the map points at the object.
pub fn mass_inside(heat: &[f32], mask: &[bool]) -> Option<f32> {
    let total: f64 = heat.iter().map(|&v| v.max(0.0) as f64).sum();
    if heat.len() != mask.len() || total <= 0.0 {
        return None;
    }
    let inside: f64 = heat
        .iter()
        .zip(mask)
        .filter(|(_, m)| **m)
        .map(|(&v, _)| v.max(0.0) as f64)
        .sum();
    Some((inside / total) as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resize_keeps_constant_maps_and_the_centre_of_a_peak() {
        let flat = resize_heatmap(&[0.5; 4], 2, 2, 8, 8).unwrap();
        assert!(flat.iter().all(|&v| (v - 0.5).abs() < 1e-6));
        let mut peak = vec![0.0; 9];
        peak[4] = 1.0;
        let big = resize_heatmap(&peak, 3, 3, 9, 9).unwrap();
        let (i, _) = big
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .unwrap();
        assert_eq!((i / 9, i % 9), (4, 4));
        assert!(big[0] < 1e-6, "corners stay cold");
        assert!(resize_heatmap(&[0.0; 5], 2, 2, 4, 4).is_err());
    }

    #[test]
    fn overlay_adds_jet_at_the_intensity_and_saturates() {
        let pic = RgbImage::from_pixel(2, 1, Rgb([100, 100, 250]));
        let o = overlay(&pic, &[0.0, 1.0], 0.4).unwrap();
        let j0 = jet(0.0);
        let expect = |p: u8, j: u8| (p as f32 + 0.4 * j as f32).round().min(255.0) as u8;
        assert_eq!(
            o.get_pixel(0, 0).0,
            [expect(100, j0[0]), expect(100, j0[1]), expect(250, j0[2])]
        );
        // jet(1) is dark red: red rises, blue saturates at most at 255.
        assert!(o.get_pixel(1, 0).0[0] > 150);
        assert!(overlay(&pic, &[0.0], 0.4).is_err());
    }

    /// A model where Grad-CAM has a closed form: a linear 1x1 conv with kernel [1, 2] makes
    /// channels x and 2x; the dense layer gives class 0 the weight p on channel 0 at pixel p
    /// (0..5) and ±0.5 alternating on channel 1 (class 1: zero). The gradient changes from
    /// pixel to pixel, so Grad-CAM (channel weights = the gradient's mean over positions,
    /// [2.5, 0], map relu(2.5·x)) differs from gradient × activation (Σ per-pixel weight ×
    /// activation, relu(p·x + ±x)): the test tells them apart.
    fn linear_model() -> Model {
        use cnn_nn::ModelSpec;
        use cnn_nn::spec::layers::{conv2d, dense, flatten};
        let spec = ModelSpec {
            name: "linear".into(),
            input_shape: vec![2, 3, 1],
            layers: vec![conv2d(2, 1, "linear"), flatten(), dense(2, "softmax")],
            ..ModelSpec::default()
        };
        let mut m = Model::new(&spec, 0).unwrap();
        let set = |m: &mut Model, name: &str, v: Vec<f32>| {
            let w = m.weight_mut(name).unwrap();
            w.data_mut().copy_from_slice(&v);
        };
        set(&mut m, "conv2d/kernel", vec![1.0, 2.0]);
        set(&mut m, "conv2d/bias", vec![0.0, 0.0]);
        // Flattened features are (pixel, channel); dense kernel is [12, 2].
        let mut k = vec![0.0; 12 * 2];
        for p in 0..6 {
            k[(p * 2) * 2] = p as f32;
            k[(p * 2 + 1) * 2] = if p % 2 == 0 { 0.5 } else { -0.5 };
        }
        set(&mut m, "dense/kernel", k);
        set(&mut m, "dense/bias", vec![0.0, 0.0]);
        m
    }

    #[test]
    fn grad_cam_matches_its_closed_form() {
        let mut m = linear_model();
        let x = Tensor::new([2, 3, 1], vec![1.0, -2.0, 4.0, 0.0, 2.0, -1.0]).unwrap();
        let cam = grad_cam(
            &mut m,
            &x,
            &GradCamOptions {
                class: Some(0),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(cam.layer, "conv2d");
        assert_eq!((cam.height, cam.width), (2, 3));
        assert!((cam.weights[0] - 2.5).abs() < 1e-6 && cam.weights[1].abs() < 1e-6);
        // relu(2.5·x) / max; gradient × activation would give [1/12, 0, 1, 0, 10/12, 0].
        let want = [0.25, 0.0, 1.0, 0.0, 0.5, 0.0];
        for (h, w) in cam.heatmap.iter().zip(want) {
            assert!((h - w).abs() < 1e-6, "{:?}", cam.heatmap);
        }
        // Class 1 has no evidence anywhere: an all-zero map, not NaN.
        let cam = grad_cam(
            &mut m,
            &x,
            &GradCamOptions {
                class: Some(1),
                ..Default::default()
            },
        )
        .unwrap();
        assert!(cam.heatmap.iter().all(|&v| v == 0.0));
        // The top prediction is class 0 (logit Σ p·x + Σ ±0.5·2x = 9 + 10 vs 0).
        let cam = grad_cam(&mut m, &x, &GradCamOptions::default()).unwrap();
        assert_eq!(cam.class, 0);
        assert!(cam.probabilities[0] > 0.98);
    }

    #[test]
    fn mass_inside_counts_the_masked_share() {
        let heat = [1.0, 3.0, 0.0, -1.0];
        let mask = [false, true, true, false];
        assert_eq!(mass_inside(&heat, &mask), Some(0.75));
        assert_eq!(mass_inside(&[0.0; 4], &mask), None);
    }
}
