//! `cnn visualize`: activation grids, filter patterns, first-layer kernels and Grad-CAM
//! heatmaps of a saved model (Chollet's §5.4 recipes, built on `cnn-viz`).

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use clap::{Args, Subcommand};
use cnn_nn::{Preprocess, Saved};
use cnn_tensor::Tensor;
use cnn_viz::{
    ActivationGridOptions, CamScore, GradCamOptions, GridOptions, PatternOptions, RgbImage, Tile,
    activation_grid, activations, default_activation_layers, default_cam_layer, filter_patterns,
    grad_cam, image_grid, kernel_grid, layer_indices, mass_inside, overlay, pattern_grid,
    resize_heatmap,
};
use image::imageops::{self, FilterType};

use crate::data_arg::{DataFlags, load};
use crate::error::{CliResult, UserError, bad_input};
use crate::predict_cmd::{decode_image, model_input};

/// Pictures of what a trained model computes.
#[derive(Subcommand, Debug)]
pub enum VisualizeCmd {
    /// Every channel of chosen layers for one image, 16 per row, normalised like Chollet's
    /// (x − mean)/std·64 + 128 and coloured with viridis; one PNG per layer.
    Activations(ActivationsArgs),
    /// What filters respond to: patterns grown by gradient ascent on the input from grey noise
    /// (40 steps of 1 on the RMS-normalised gradient), or with --raw the kernels themselves.
    Filters(FiltersArgs),
    /// Grad-CAM: where in the image the evidence for a class is, as a jet heatmap over it.
    Gradcam(GradcamArgs),
}

/// The model and the image to look at.
#[derive(Args, Debug)]
pub struct InputArgs {
    /// A model saved by `cnn train` (or an exercise).
    #[arg(long, short)]
    model: PathBuf,
    /// An image file (PNG/JPEG/BMP), converted and resized to the model's input.
    #[arg(long, short, conflicts_with = "dataset")]
    image: Option<PathBuf>,
    /// Or take the image from a dataset's test split (e.g. fashion-mnist).
    #[arg(long, short)]
    dataset: Option<String>,
    /// Which test image of --dataset.
    #[arg(long, default_value_t = 0)]
    index: usize,
    /// Invert grey levels of --image (dark-on-light pictures for a Fashion-MNIST/MNIST model).
    #[arg(long)]
    invert: bool,
    #[command(flatten)]
    data: DataFlags,
}

/// `cnn visualize activations`.
#[derive(Args, Debug)]
pub struct ActivationsArgs {
    #[command(flatten)]
    input: InputArgs,
    /// Layers to show, by name (default: every convolution and pooling layer).
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    layers: Vec<String>,
    /// Channels per row.
    #[arg(long, default_value_t = 16)]
    per_row: usize,
    /// Directory for the PNGs (one per layer, named after it).
    #[arg(long, short)]
    out: PathBuf,
}

/// `cnn visualize filters`.
#[derive(Args, Debug)]
pub struct FiltersArgs {
    /// A model saved by `cnn train` (or an exercise).
    #[arg(long, short)]
    model: PathBuf,
    /// The layer (default: the last convolution block's output; with --raw, the first
    /// convolution).
    #[arg(long, short)]
    layer: Option<String>,
    /// How many filters, from the first (default 64, or all when the layer has fewer).
    #[arg(long, default_value_t = 64)]
    filters: usize,
    /// Side of the pattern in pixels (default: the model's input size; other sizes work for
    /// layers before Flatten).
    #[arg(long)]
    size: Option<usize>,
    /// Gradient-ascent steps.
    #[arg(long, default_value_t = 40)]
    steps: usize,
    /// Step size in pixel units on the RMS-normalised gradient.
    #[arg(long, default_value_t = 1.0)]
    step: f32,
    /// Seed of the starting noise.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Patterns per row.
    #[arg(long, default_value_t = 8)]
    per_row: usize,
    /// Draw the layer's kernels themselves instead (a first layer's kernels are images).
    #[arg(long)]
    raw: bool,
    /// The PNG to write.
    #[arg(long, short)]
    out: PathBuf,
}

/// `cnn visualize gradcam`.
#[derive(Args, Debug)]
pub struct GradcamArgs {
    #[command(flatten)]
    input: InputArgs,
    /// The class to explain, by name or index (default: the top prediction).
    #[arg(long, short, conflicts_with = "top")]
    class: Option<String>,
    /// Explain the top prediction (the default).
    #[arg(long)]
    top: bool,
    /// The feature map to weight (default: the last convolution block's output).
    #[arg(long, short)]
    layer: Option<String>,
    /// Differentiate the class's probability (Chollet) instead of its logit (the paper).
    #[arg(long)]
    probability: bool,
    /// Heatmap opacity over the picture.
    #[arg(long, default_value_t = 0.4)]
    intensity: f32,
    /// With --dataset: one test image of each class in a grid (picture, then heatmap over it),
    /// each explaining its true class.
    #[arg(long, requires = "dataset")]
    per_class: bool,
    /// With --dataset: measure, over the first N test images (explaining their true class), the
    /// mean share of the heatmap that falls on the item's non-background pixels (value > 0),
    /// beside the share of the image those pixels cover. Writes no picture.
    #[arg(
        long,
        requires = "dataset",
        conflicts_with = "per_class",
        value_name = "N"
    )]
    measure: Option<usize>,
    /// The PNG to write.
    #[arg(long, short, required_unless_present = "measure")]
    out: Option<PathBuf>,
}

/// Runs a visualize subcommand.
pub fn run(cmd: &VisualizeCmd) -> CliResult<String> {
    match cmd {
        VisualizeCmd::Activations(a) => run_activations(a),
        VisualizeCmd::Filters(a) => run_filters(a),
        VisualizeCmd::Gradcam(a) => run_gradcam(a),
    }
}

fn load_saved(path: &Path) -> CliResult<Saved> {
    Ok(crate::model_arg::load_saved(path)?)
}

/// The model's image input size, or an error naming the model.
fn image_shape(saved: &Saved, path: &Path) -> Result<(usize, usize, usize), UserError> {
    match saved.model.architecture().input_shape[..] {
        [h, w, c] => Ok((h, w, c)),
        ref s => Err(UserError::new(
            "unsupported model",
            path.display().to_string(),
            format!("input shape {s:?} is not an image"),
        )),
    }
}

/// The model's preprocessing (from its metadata), checked against its input channels.
fn preprocess(saved: &Saved, path: &Path) -> Result<Preprocess, UserError> {
    let name = path.display().to_string();
    let p =
        Preprocess::from_metadata(&saved.extra).map_err(|e| bad_input("bad model", &name, e))?;
    let c = *saved.model.architecture().input_shape.last().unwrap_or(&0);
    p.check_channels(c)
        .map_err(|e| bad_input("bad model", &name, e))?;
    Ok(p)
}

fn class_names(saved: &Saved, k: usize) -> Vec<String> {
    let names: Vec<String> = saved
        .extra
        .get("class_names")
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default();
    (0..k)
        .map(|i| names.get(i).cloned().unwrap_or_else(|| i.to_string()))
        .collect()
}

/// One input: the tensor the model sees, the picture to draw on, and its label if known.
struct Input {
    x: Tensor,
    picture: RgbImage,
    label: Option<usize>,
    name: String,
}

/// Test images of `--dataset` as inputs for `saved` (`indices` picks them from the labels).
fn dataset_inputs(
    a: &InputArgs,
    saved: &Saved,
    indices: impl Fn(&[u8]) -> Vec<usize>,
) -> CliResult<Vec<Input>> {
    let Some(name) = a.dataset.as_deref() else {
        return Err(UserError::new(
            "missing input",
            "--image/--dataset".into(),
            "give an image file with --image, or --dataset NAME [--index N]".into(),
        )
        .into());
    };
    let shape = image_shape(saved, &a.model)?;
    let pre = preprocess(saved, &a.model)?;
    let ds = load(name, &a.data)?.dataset;
    let set = ds.test.as_ref().unwrap_or(&ds.train);
    let (h, w, c) = shape;
    let (sh, sw, sc) = (set.height, set.width, set.channels);
    if (sh, sw, sc) != (h, w, c) {
        return Err(UserError::new(
            "model does not fit the data",
            name.to_string(),
            format!("images are {sh}x{sw}x{sc}, the model takes {h}x{w}x{c}"),
        )
        .into());
    }
    let per = h * w * c;
    let mut out = Vec::new();
    for i in indices(&set.labels) {
        if i >= set.len() {
            return Err(UserError::new(
                "bad option",
                "--index".into(),
                format!("{name} has {} test images", set.len()),
            )
            .into());
        }
        let px = &set.images[i * per..(i + 1) * per];
        let picture = RgbImage::from_fn(w as u32, h as u32, |x, y| {
            let o = (y as usize * w + x as usize) * c;
            if c == 3 {
                image::Rgb([px[o], px[o + 1], px[o + 2]])
            } else {
                image::Rgb([px[o]; 3])
            }
        });
        out.push(Input {
            x: Tensor::new(
                [h, w, c],
                pre.apply(&px.iter().map(|&p| p as f32).collect::<Vec<_>>(), c),
            )
            .map_err(|e| anyhow!(e))?,
            picture,
            label: Some(set.labels[i] as usize),
            name: format!("{name} test image {i}"),
        });
    }
    Ok(out)
}

fn one_input(a: &InputArgs, saved: &Saved) -> CliResult<Input> {
    if let Some(p) = &a.image {
        let shape = image_shape(saved, &a.model)?;
        let img = decode_image(p)?;
        let data = model_input(&img, p, shape, &preprocess(saved, &a.model)?, a.invert)?;
        return Ok(Input {
            x: Tensor::new([shape.0, shape.1, shape.2], data).map_err(|e| anyhow!(e))?,
            picture: img.to_rgb8(),
            label: None,
            name: p.display().to_string(),
        });
    }
    let idx = a.index;
    Ok(dataset_inputs(a, saved, |_| vec![idx])?.remove(0))
}

fn resolve_layer(saved: &Saved, name: &str, path: &Path) -> CliResult<usize> {
    Ok(layer_indices(&saved.model, &[name.to_string()])
        .map_err(|e| bad_input("bad layer", path.display().to_string(), e))?[0])
}

fn run_activations(a: &ActivationsArgs) -> CliResult<String> {
    let mut saved = load_saved(&a.input.model)?;
    let input = one_input(&a.input, &saved)?;
    let layers = if a.layers.is_empty() {
        default_activation_layers(&saved.model)
    } else {
        layer_indices(&saved.model, &a.layers)
            .map_err(|e| bad_input("bad --layers", a.input.model.display().to_string(), e))?
    };
    let acts = activations(&mut saved.model, &input.x, &layers)
        .map_err(|e| bad_input("cannot compute activations", &input.name, e))?;
    std::fs::create_dir_all(&a.out)
        .map_err(|e| bad_input("cannot create", a.out.display().to_string(), e))?;
    let opts = ActivationGridOptions {
        per_row: a.per_row.max(1),
        ..Default::default()
    };
    let mut out = format!("activations of {}:\n", input.name);
    for act in &acts {
        let img = activation_grid(act, &opts).map_err(|e| anyhow!(e))?;
        let path = a.out.join(format!("{:02}-{}.png", act.index, act.layer));
        crate::error::save_png_creating(&img, &path)?;
        let dead = (0..act.channels)
            .filter(|&k| {
                let ch = act.channel(k);
                ch.iter().all(|&v| v == ch[0])
            })
            .count();
        out.push_str(&format!(
            "  {:<20} ({}, {}, {}) {dead} blank channel(s) -> {}\n",
            act.layer,
            act.height,
            act.width,
            act.channels,
            path.display()
        ));
    }
    Ok(out)
}

fn run_filters(a: &FiltersArgs) -> CliResult<String> {
    let saved = load_saved(&a.model)?;
    let model_name = a.model.display().to_string();
    let arch = saved.model.architecture();
    if a.raw {
        let li = match &a.layer {
            Some(n) => resolve_layer(&saved, n, &a.model)?,
            None => arch
                .layers
                .iter()
                .position(|l| matches!(l.config(), cnn_nn::LayerConfig::Conv2D(_)))
                .ok_or_else(|| {
                    UserError::new(
                        "no convolution",
                        model_name.clone(),
                        "the model has no Conv2D layer".into(),
                    )
                })?,
        };
        let img = kernel_grid(&saved.model, li, a.per_row)
            .map_err(|e| bad_input("cannot draw kernels", &model_name, e))?;
        crate::error::save_png_creating(&img, &a.out)?;
        return Ok(format!(
            "kernels of {} -> {}\n",
            arch.layers[li].name,
            a.out.display()
        ));
    }
    let li = match &a.layer {
        Some(n) => resolve_layer(&saved, n, &a.model)?,
        None => default_cam_layer(&saved.model).ok_or_else(|| {
            UserError::new(
                "no convolution",
                model_name.clone(),
                "the model has no Conv2D layer".into(),
            )
        })?,
    };
    let layer = &arch.layers[li];
    let channels = match layer.output_shape[..] {
        [_, _, c] => c,
        _ => {
            return Err(UserError::new(
                "bad layer",
                format!("{model_name}: {}", layer.name),
                format!("outputs {:?}, not a feature map", layer.output_shape),
            )
            .into());
        }
    };
    let n = a.filters.clamp(1, channels);
    let opts = PatternOptions {
        size: a.size,
        steps: a.steps,
        step: a.step,
        preprocess: preprocess(&saved, &a.model)?,
        seed: a.seed,
    };
    let filters: Vec<usize> = (0..n).collect();
    let patterns = filter_patterns(&saved.model, li, &filters, &opts)
        .map_err(|e| bad_input("cannot grow filter patterns", &model_name, e))?;
    let title = format!("{}: filters 0–{} of {channels}", layer.name, n - 1);
    let img = pattern_grid(&patterns, a.per_row, &title).map_err(|e| anyhow!(e))?;
    crate::error::save_png_creating(&img, &a.out)?;
    let mut factors: Vec<f32> = patterns
        .iter()
        .map(|p| p.final_activation / p.start_activation.abs().max(1e-3))
        .collect();
    factors.sort_by(f32::total_cmp);
    Ok(format!(
        "{n} filter patterns of {} ({} steps): mean activation raised by a median factor of {:.1} \
         over the starting noise -> {}\n",
        layer.name,
        a.steps,
        factors[factors.len() / 2],
        a.out.display()
    ))
}

/// The picture at a size for looking at: small ones scaled up by whole pixels until the longer
/// side is at least 224, large ones scaled down to at most 1024 (so a 16-megapixel photo does not
/// make gigabyte heatmaps).
fn display_picture(p: &RgbImage) -> RgbImage {
    let side = p.width().max(p.height()).max(1);
    if side > 1024 {
        let (w, h) = (
            (p.width() as u64 * 1024 / side as u64).max(1) as u32,
            (p.height() as u64 * 1024 / side as u64).max(1) as u32,
        );
        return imageops::resize(p, w, h, FilterType::Triangle);
    }
    let k = 224u32.div_ceil(side).max(1);
    if k == 1 {
        return p.clone();
    }
    imageops::resize(p, p.width() * k, p.height() * k, FilterType::Nearest)
}

fn parse_class(c: &str, names: &[String]) -> Result<usize, UserError> {
    if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(c)) {
        return Ok(i);
    }
    match c.parse::<usize>() {
        Ok(i) if i < names.len() => Ok(i),
        _ => Err(UserError::new(
            "bad option",
            "--class".into(),
            format!("`{c}` is not a class; known: {}", names.join(", ")),
        )),
    }
}

fn run_gradcam(a: &GradcamArgs) -> CliResult<String> {
    let mut saved = load_saved(&a.input.model)?;
    let k = saved
        .model
        .architecture()
        .output_shape()
        .iter()
        .product::<usize>();
    let names = class_names(&saved, k);
    let layer = match &a.layer {
        Some(n) => Some(resolve_layer(&saved, n, &a.input.model)?),
        None => None,
    };
    let fixed_class = match &a.class {
        Some(c) => Some(parse_class(c, &names)?),
        None => None,
    };
    let score = if a.probability {
        CamScore::Probability
    } else {
        CamScore::Logit
    };
    if let Some(n) = a.measure {
        let inputs = dataset_inputs(&a.input, &saved, |labels| {
            (0..n.min(labels.len())).collect()
        })?;
        let ds = a.input.dataset.as_deref().unwrap_or_default();
        let channels = image_shape(&saved, &a.input.model)?.2;
        let mut layer_name = String::new();
        let (mut mass, mut area) = (0.0f64, 0.0f64);
        for input in &inputs {
            let cam = grad_cam(
                &mut saved.model,
                &input.x,
                &GradCamOptions {
                    layer,
                    class: input.label,
                    score,
                },
            )
            .map_err(|e| bad_input("cannot compute Grad-CAM", &input.name, e))?;
            let (h, w) = (input.x.dims()[0], input.x.dims()[1]);
            let heat = resize_heatmap(&cam.heatmap, cam.height, cam.width, h, w)
                .map_err(|e| anyhow!(e))?;
            layer_name = cam.layer;
            // A pixel is item when any of its channels is above 0.
            let mask: Vec<bool> = input
                .x
                .data()
                .chunks(channels)
                .map(|px| px.iter().any(|&v| v > 0.0))
                .collect();
            mass += mass_inside(&heat, &mask).unwrap_or(0.0) as f64;
            area += mask.iter().filter(|&&m| m).count() as f64 / mask.len() as f64;
        }
        let k = inputs.len().max(1) as f64;
        return Ok(format!(
            "Grad-CAM of `{layer_name}` ({} score) over the first {} test images of {ds}: \
             {:.1}% of the heatmap on the item's pixels, which cover {:.1}% of the image\n",
            if a.probability {
                "probability"
            } else {
                "logit"
            },
            inputs.len(),
            mass / k * 100.0,
            area / k * 100.0
        ));
    }
    let inputs = if a.per_class {
        dataset_inputs(&a.input, &saved, |labels| {
            (0..k)
                .filter_map(|c| labels.iter().position(|&l| l as usize == c))
                .collect()
        })?
    } else {
        vec![one_input(&a.input, &saved)?]
    };
    let mut out = String::new();
    let mut tiles = Vec::new();
    let mut single = None;
    for input in &inputs {
        let class = if a.per_class {
            input.label
        } else {
            fixed_class
        };
        let cam = grad_cam(
            &mut saved.model,
            &input.x,
            &GradCamOptions {
                layer,
                class,
                score,
            },
        )
        .map_err(|e| bad_input("cannot compute Grad-CAM", &input.name, e))?;
        let picture = display_picture(&input.picture);
        let (w, h) = picture.dimensions();
        let heat = resize_heatmap(&cam.heatmap, cam.height, cam.width, h as usize, w as usize)
            .map_err(|e| anyhow!(e))?;
        let over = overlay(&picture, &heat, a.intensity).map_err(|e| anyhow!(e))?;
        let mut top: Vec<usize> = (0..k).collect();
        top.sort_by(|&i, &j| cam.probabilities[j].total_cmp(&cam.probabilities[i]));
        let preds: Vec<String> = top
            .iter()
            .take(3)
            .map(|&i| format!("{} {:.1}%", names[i], cam.probabilities[i] * 100.0))
            .collect();
        let truth = input
            .label
            .map(|l| {
                let n = names.get(l).cloned().unwrap_or_else(|| l.to_string());
                format!(" (true: {n})")
            })
            .unwrap_or_default();
        out.push_str(&format!(
            "{}{truth}: {}; heatmap of `{}` from layer {}\n",
            input.name,
            preds.join(", "),
            names[cam.class],
            cam.layer
        ));
        if a.per_class {
            let pred = top[0];
            let color = if Some(pred) == input.label {
                [0, 110, 0]
            } else {
                [200, 0, 0]
            };
            tiles.push(Tile {
                image: picture,
                caption: names[cam.class].clone(),
                caption_color: [0, 0, 0],
            });
            tiles.push(Tile {
                image: over,
                caption: format!(
                    "pred {} {:.0}%",
                    names[pred],
                    cam.probabilities[pred] * 100.0
                ),
                caption_color: color,
            });
        } else {
            single = Some(over);
        }
    }
    let img = match single {
        Some(img) => img,
        None => image_grid(
            &tiles,
            &GridOptions {
                columns: 4,
                scale: 1,
                margin: 6,
                caption_height: 20,
                title: Some("Grad-CAM: one test image per class, explaining its true class".into()),
                background: [255, 255, 255],
            },
        )
        .map_err(|e| anyhow!(e))?,
    };
    let path = a
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("gradcam.png"));
    crate::error::save_png_creating(&img, &path)?;
    out.push_str(&format!("wrote {}\n", path.display()));
    Ok(out)
}
