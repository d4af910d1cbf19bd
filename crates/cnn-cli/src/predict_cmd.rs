//! `cnn predict`: classify image files with a saved model.

use std::path::PathBuf;

use anyhow::anyhow;
use clap::Args;
use cnn_nn::load_model;
use cnn_tensor::Tensor;
use image::imageops::FilterType;
use serde_json::json;

use crate::error::{CliResult, UserError, bad_input};

/// Largest image side accepted, in pixels.
const MAX_SIDE: u32 = 16_384;
/// Largest decoder allocation, in bytes.
const MAX_ALLOC: u64 = 512 << 20;

/// Classify PNG/JPEG/BMP images with a saved model: each is converted to the model's channels,
/// resized to its input size and scaled like the training data.
#[derive(Args, Debug)]
pub struct PredictArgs {
    /// A model saved by `cnn train`.
    #[arg(long, short)]
    model: PathBuf,
    /// Image files.
    #[arg(required = true)]
    images: Vec<PathBuf>,
    /// How many classes to show per image.
    #[arg(long, default_value_t = 3)]
    top: usize,
    /// Invert grey levels (for dark-on-light pictures given to a model trained on
    /// light-on-dark data such as MNIST and Fashion-MNIST).
    #[arg(long)]
    invert: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

fn load_image(
    path: &PathBuf,
    h: usize,
    w: usize,
    c: usize,
    scale: f32,
    invert: bool,
) -> Result<Vec<f32>, UserError> {
    let name = path.display().to_string();
    let mut reader =
        image::ImageReader::open(path).map_err(|e| bad_input("cannot read image", &name, e))?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    reader.limits(limits);
    let img = reader
        .with_guessed_format()
        .map_err(|e| bad_input("cannot read image", &name, e))?
        .decode()
        .map_err(|e| {
            bad_input("cannot decode image", &name, e).with_hint(format!(
                "PNG, JPEG and BMP up to {MAX_SIDE}x{MAX_SIDE} pixels are accepted"
            ))
        })?;
    let img = img.resize_exact(w as u32, h as u32, FilterType::Triangle);
    let px: Vec<u8> = match c {
        1 => img.to_luma8().into_raw(),
        3 => img.to_rgb8().into_raw(),
        _ => {
            return Err(UserError::new(
                "unsupported model",
                name,
                format!("{c} input channels (1 or 3 supported)"),
            ));
        }
    };
    Ok(px
        .into_iter()
        .map(|p| if invert { 255 - p } else { p } as f32 * scale)
        .collect())
}

/// Runs the command.
pub fn run(a: &PredictArgs) -> CliResult<String> {
    let name = a.model.display().to_string();
    let mut saved = load_model(&a.model).map_err(|e| bad_input("cannot load model", &name, e))?;
    let shape = saved.model.architecture().input_shape.clone();
    let [h, w, c] = shape[..] else {
        return Err(UserError::new(
            "unsupported model",
            name,
            format!("input shape {shape:?} is not an image"),
        )
        .into());
    };
    let scale: f32 = saved
        .extra
        .get("rescale")
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0 / 255.0);
    let names: Vec<String> = saved
        .extra
        .get("class_names")
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default();
    let mut data = Vec::with_capacity(a.images.len() * h * w * c);
    for p in &a.images {
        data.extend(load_image(p, h, w, c, scale, a.invert)?);
    }
    let x = Tensor::new([a.images.len(), h, w, c], data).map_err(|e| anyhow!(e))?;
    let probs = saved.model.predict(&x, 64).map_err(|e| anyhow!(e))?;
    let k = probs.dims()[1];
    let mut out = String::new();
    let mut rows = Vec::new();
    for (p, row) in a.images.iter().zip(probs.data().chunks(k)) {
        let mut idx: Vec<usize> = (0..k).collect();
        idx.sort_by(|&i, &j| row[j].total_cmp(&row[i]).then(i.cmp(&j)));
        let top: Vec<(String, f32)> = idx
            .iter()
            .take(a.top.max(1))
            .map(|&i| {
                (
                    names.get(i).cloned().unwrap_or_else(|| i.to_string()),
                    row[i],
                )
            })
            .collect();
        if a.json {
            rows.push(json!({"image": p.display().to_string(), "top": top.iter().map(|(n, s)| json!({"class": n, "probability": s})).collect::<Vec<_>>()}));
        } else {
            let parts: Vec<String> = top
                .iter()
                .map(|(n, s)| format!("{n} {:.1}%", s * 100.0))
                .collect();
            out.push_str(&format!("{}: {}\n", p.display(), parts.join(", ")));
        }
    }
    if a.json {
        out = serde_json::to_string_pretty(&rows).unwrap_or_default() + "\n";
    }
    Ok(out)
}
