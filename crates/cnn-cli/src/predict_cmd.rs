//! `cnn predict`: classify image files with a saved model.

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use clap::Args;
use cnn_nn::Preprocess;
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
    /// Prepare photos or scans of single handwritten digits the way MNIST was made: grayscale,
    /// invert when the background is light, drop faint noise, crop to the ink, scale it to fit
    /// 20x20 keeping the aspect ratio, and centre its centre of mass in 28x28. For models with a
    /// 28x28x1 input (mnist-cnn).
    #[arg(long, conflicts_with = "invert")]
    digit_preprocess: bool,
    /// Also write the images as the model sees them (after preprocessing) into this directory.
    #[arg(long)]
    save_inputs: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// Decodes an image file with size and memory limits, naming the file in errors.
pub(crate) fn decode_image(path: &Path) -> Result<image::DynamicImage, UserError> {
    let name = path.display().to_string();
    let mut reader =
        image::ImageReader::open(path).map_err(|e| bad_input("cannot read image", &name, e))?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    reader.limits(limits);
    reader
        .with_guessed_format()
        .map_err(|e| bad_input("cannot read image", &name, e))?
        .decode()
        .map_err(|e| {
            bad_input("cannot decode image", &name, e).with_hint(format!(
                "PNG, JPEG and BMP up to {MAX_SIDE}x{MAX_SIDE} pixels are accepted"
            ))
        })
}

/// Loads an image as the model's input: `c` channels, resized to `h x w`, times `scale`.
fn load_image(
    path: &Path,
    (h, w, c): (usize, usize, usize),
    pre: &Preprocess,
    invert: bool,
) -> Result<Vec<f32>, UserError> {
    model_input(&decode_image(path)?, path, (h, w, c), pre, invert)
}

/// A decoded image (from `path`, named in errors) as the model's input: `c` channels, resized
/// to `h x w`, times `scale`, grey levels inverted if asked.
pub(crate) fn model_input(
    img: &image::DynamicImage,
    path: &Path,
    (h, w, c): (usize, usize, usize),
    pre: &Preprocess,
    invert: bool,
) -> Result<Vec<f32>, UserError> {
    let name = path.display().to_string();
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
    let px: Vec<f32> = px
        .into_iter()
        .map(|p| if invert { 255 - p } else { p } as f32)
        .collect();
    Ok(pre.apply(&px, c))
}

/// Writes each model input as a PNG named after its image (`<stem>.input.png`).
fn save_inputs(
    dir: &std::path::Path,
    images: &[PathBuf],
    data: &[f32],
    (h, w, c): (usize, usize, usize),
    pre: &Preprocess,
) -> CliResult<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| bad_input("cannot create", dir.display().to_string(), e))?;
    for (p, px) in images.iter().zip(data.chunks(h * w * c)) {
        let bytes: Vec<u8> = pre
            .invert(px, c)
            .iter()
            .map(|&v| v.round().clamp(0.0, 255.0) as u8)
            .collect();
        let stem = p.file_stem().unwrap_or_default().to_string_lossy();
        let out = dir.join(format!("{stem}.input.png"));
        let mut png = std::io::Cursor::new(Vec::new());
        let written = if c == 1 {
            image::GrayImage::from_raw(w as u32, h as u32, bytes)
                .map(|i| i.write_to(&mut png, image::ImageFormat::Png))
        } else {
            image::RgbImage::from_raw(w as u32, h as u32, bytes)
                .map(|i| i.write_to(&mut png, image::ImageFormat::Png))
        };
        match written {
            Some(Ok(())) => {}
            _ => return Err(anyhow!("encoding {}", out.display()).into()),
        }
        cnn_tensor::io::write_atomic(&out, png.get_ref())
            .map_err(|e| anyhow!("writing {}: {e}", out.display()))?;
    }
    Ok(())
}

/// Runs the command.
pub fn run(a: &PredictArgs) -> CliResult<String> {
    let name = a.model.display().to_string();
    let mut saved = crate::model_arg::load_saved(&a.model)?;
    let shape = saved.model.architecture().input_shape.clone();
    let [h, w, c] = shape[..] else {
        return Err(UserError::new(
            "unsupported model",
            name,
            format!("input shape {shape:?} is not an image"),
        )
        .into());
    };
    let pre = Preprocess::from_metadata(&saved.extra)
        .and_then(|p| p.check_channels(c).map(|_| p))
        .map_err(|e| bad_input("bad model", &name, e))?;
    let names: Vec<String> = saved
        .extra
        .get("class_names")
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default();
    // WordNet ids of ImageNet models (`cnn import --imagenet`), shown as decode_predictions does.
    let ids: Vec<String> = saved
        .extra
        .get("class_ids")
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default();
    if a.digit_preprocess && (h, w, c) != (28, 28, 1) {
        return Err(UserError::new(
            "--digit-preprocess needs a 28x28x1 model",
            name,
            format!("the model's input is {h}x{w}x{c}"),
        )
        .into());
    }
    let mut data = Vec::with_capacity(a.images.len() * h * w * c);
    for p in &a.images {
        if a.digit_preprocess {
            let d = cnn_datasets::load_digit(p, &cnn_datasets::DigitOptions::default())
                .map_err(|e| bad_input("cannot prepare digit", p.display().to_string(), e))?;
            // The digit is in [0, 1]; the model's preprocessing takes pixels in 0–255.
            let px: Vec<f32> = d.into_iter().map(|v| v * 255.0).collect();
            data.extend(pre.apply(&px, c));
        } else {
            data.extend(load_image(p, (h, w, c), &pre, a.invert)?);
        }
    }
    if let Some(dir) = &a.save_inputs {
        save_inputs(dir, &a.images, &data, (h, w, c), &pre)?;
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
                let name = names.get(i).cloned().unwrap_or_else(|| i.to_string());
                let name = match ids.get(i) {
                    Some(id) => format!("{name} ({id})"),
                    None => name,
                };
                (name, row[i])
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
