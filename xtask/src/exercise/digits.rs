//! The digits exercise: `mnist-cnn` trained on MNIST with and without augmentation, then tested
//! on *real-world* digit images (photos or scans, or the bundled set in `examples/digits/`)
//! prepared like MNIST (`cnn_datasets::load_digit`, the same as `cnn predict
//! --digit-preprocess`). Answers: does augmentation help on images unlike the training data,
//! and which augmentations?

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use cnn_augment::{AugmentConfig, ImageDataGenerator, ShiftRange, stroke};
use cnn_datasets::{DigitOptions, IMAGE_EXTENSIONS, LoadOptions, load_digit, mnist, mnist_sample};
use cnn_nn::{Optimizer, Targets, zoo};
use cnn_tensor::Tensor;
use cnn_viz::{GridOptions, Tile, image_grid, save_png};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::Common;
use super::data::{Split, Splits, quick_slice};
use super::report::Report;
use super::run::{Recipe, RunReport, predict, train};
use super::stats::McNemar;

const QUICK: (usize, usize) = (2000, 500);
const BATCH: usize = 128;

/// The bundled real-world test images.
pub fn default_images() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/digits")
}

/// One labelled real-world image, prepared like MNIST.
pub struct Photo {
    /// The file.
    pub path: PathBuf,
    /// Its label.
    pub label: usize,
    /// A group for the report (the pen, from `D_pen_N.png` names), else `""`.
    pub group: String,
    /// 28x28 pixels in [0, 1].
    pub pixels: Vec<f32>,
}

/// Reads `dir`'s images with labels from `labels.csv` (`file,label` lines) when present, else
/// from the leading digit of each file name. Unlabelled or unusable images are reported and
/// skipped.
pub fn load_photos(dir: &Path) -> Result<Vec<Photo>> {
    let mut csv: BTreeMap<String, usize> = BTreeMap::new();
    let csv_path = dir.join("labels.csv");
    if csv_path.is_file() {
        let text = std::fs::read_to_string(&csv_path)
            .with_context(|| format!("reading {}", csv_path.display()))?;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || (i == 0 && line.contains("label")) {
                continue;
            }
            let (f, l) = line.split_once(',').ok_or_else(|| {
                anyhow!("{}:{}: expected `file,label`", csv_path.display(), i + 1)
            })?;
            let l: usize = l.trim().parse().ok().filter(|&l| l < 10).ok_or_else(|| {
                anyhow!("{}:{}: label {l:?} is not 0-9", csv_path.display(), i + 1)
            })?;
            csv.insert(f.trim().to_string(), l);
        }
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        })
        .collect();
    files.sort();
    let mut photos = Vec::new();
    let mut skipped = Vec::new();
    for path in files {
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let label = csv.get(&name).copied().or_else(|| {
            if csv.is_empty() {
                name.chars()
                    .next()
                    .and_then(|c| c.to_digit(10))
                    .map(|d| d as usize)
            } else {
                None
            }
        });
        let Some(label) = label else {
            skipped.push(format!("{name}: no label"));
            continue;
        };
        match load_digit(&path, &DigitOptions::default()) {
            Ok(pixels) => {
                let parts: Vec<&str> = name.split('_').collect();
                let group = if parts.len() >= 3 {
                    parts[1].to_string()
                } else {
                    String::new()
                };
                photos.push(Photo {
                    path,
                    label,
                    group,
                    pixels,
                });
            }
            Err(e) => skipped.push(format!("{name}: {e}")),
        }
    }
    if !skipped.is_empty() {
        eprintln!(
            "skipped {} image(s):\n  {}",
            skipped.len(),
            skipped.join("\n  ")
        );
    }
    if photos.is_empty() {
        bail!(
            "no usable labelled images in {} (name them with a leading digit, e.g. 7_mine.jpg, or add labels.csv)",
            dir.display()
        );
    }
    Ok(photos)
}

fn load_mnist(c: &Common) -> Result<(cnn_datasets::Dataset, String)> {
    if c.quick {
        let d = quick_slice(mnist_sample().map_err(|e| anyhow!(e))?, QUICK.0, QUICK.1)?;
        return Ok((
            d,
            format!(
                "the bundled MNIST sample (quick: {} training / {} test digits)",
                QUICK.0, QUICK.1
            ),
        ));
    }
    let opts = LoadOptions {
        data_dir: c.data_dir.clone(),
        offline: true,
        progress: !c.quiet,
        ..Default::default()
    };
    match mnist(&opts) {
        Ok((d, reports)) => {
            for r in reports {
                eprintln!("{r}");
            }
            Ok((d, "MNIST (60,000 training / 10,000 test digits)".into()))
        }
        Err(_) => {
            eprintln!(
                "the full MNIST is not in the data directory; using the bundled sample of 10,000 real \
                 MNIST digits (run `cargo xtask fetch-data mnist` for the full set)"
            );
            let d = mnist_sample().map_err(|e| anyhow!(e))?;
            let s = format!(
                "the bundled MNIST sample ({} training / {} test real MNIST digits)",
                d.train.len(),
                d.test.as_ref().map_or(0, |t| t.len())
            );
            Ok((d, s))
        }
    }
}

/// Small rotations, shifts and zoom: the usual MNIST augmentation (no flips: a flipped 2 is not
/// a 2).
fn affine() -> AugmentConfig {
    AugmentConfig {
        rotation_range: 10.0,
        width_shift_range: ShiftRange::Float(0.1),
        height_shift_range: ShiftRange::Float(0.1),
        zoom_range: (0.9, 1.1),
        ..Default::default()
    }
}

/// What photos and scans do to strokes: thicker or thinner pens (dilation or erosion, a third
/// of the images each), blur (σ up to 1 pixel), and elastic wobble (Simard's α = 34, σ = 4).
fn strokes(img: &mut cnn_augment::Image, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    match rng.random_range(0..3) {
        0 => stroke::dilate(img),
        1 => stroke::erode(img),
        _ => {}
    }
    let sigma: f32 = rng.random_range(0.0..1.0);
    if sigma > 0.3 {
        stroke::gaussian_blur(img, sigma);
    }
    stroke::elastic(img, 34.0, 4.0, rng.random());
}

fn recipes(c: &Common, epochs_recipe: usize) -> Result<Vec<Recipe>> {
    let spec = zoo("mnist-cnn", None, None).map_err(|e| anyhow!(e))?;
    let epochs = c.epochs_or(epochs_recipe);
    let base = |label: &str, augment: Option<ImageDataGenerator>, text: Option<&str>| Recipe {
        label: label.into(),
        spec: spec.clone(),
        optimizer: Optimizer::adam(1e-3),
        schedule: "constant".into(),
        epochs,
        batch_size: BATCH,
        augment,
        augment_text: text.map(String::from),
        mirror_tta: false,
        translate_tta: false,
        loss: cnn_nn::Loss::SparseCategoricalCrossentropy,
    };
    Ok(vec![
        base("plain", None, None),
        base(
            "affine",
            Some(ImageDataGenerator::new(affine())),
            Some("rotation ±10°, shifts ±10%, zoom ±10%"),
        ),
        base(
            "affine+strokes",
            Some(ImageDataGenerator::new(affine()).with_random_preprocessing(strokes)),
            Some("the affine ones plus stroke dilation/erosion, blur σ ≤ 1, elastic α 34 σ 4"),
        ),
    ])
}

/// Accuracy of one model on the photos, overall and per group, and the misclassified ones.
struct PhotoResult {
    correct: usize,
    predictions: Vec<usize>,
}

fn photo_tensor(photos: &[Photo]) -> Result<Split> {
    let mut data = Vec::with_capacity(photos.len() * 784);
    for p in photos {
        data.extend_from_slice(&p.pixels);
    }
    let labels: Vec<usize> = photos.iter().map(|p| p.label).collect();
    Ok(Split {
        x: Tensor::new([photos.len(), 28, 28, 1], data).map_err(|e| anyhow!(e))?,
        y: Targets::Sparse(labels.clone()),
        labels,
    })
}

fn sheet(photos: &[Photo], preds: Option<&[usize]>, title: &str) -> Result<cnn_viz::RgbImage> {
    let mut tiles = Vec::new();
    for (i, p) in photos.iter().enumerate() {
        let (caption, colour) = match preds {
            Some(pr) => (format!("{}→{}", p.label, pr[i]), [200, 0, 0]),
            None => (p.label.to_string(), [0, 0, 0]),
        };
        if preds.is_some_and(|pr| pr[i] == p.label) {
            continue;
        }
        tiles.push(Tile::from_f32(&p.pixels, 28, 28, 1, 0.0, 1.0)?.captioned(caption, colour));
    }
    if tiles.is_empty() {
        tiles
            .push(Tile::from_f32(&[0.0; 784], 28, 28, 1, 0.0, 1.0)?.captioned("none", [0, 128, 0]));
    }
    Ok(image_grid(
        &tiles,
        &GridOptions {
            columns: 12,
            scale: 2,
            margin: 6,
            caption_height: 16,
            title: Some(title.into()),
            ..Default::default()
        },
    )?)
}

/// Runs the exercise on the photos in `images` (default: the bundled set).
pub fn run(c: &Common, images: Option<&Path>) -> Result<(Report, PathBuf)> {
    c.init_threads();
    let dir = c.out_dir("digits")?;
    let images = images.map(Path::to_path_buf).unwrap_or_else(default_images);
    let photos = load_photos(&images)?;
    eprintln!(
        "{} real-world test images from {}",
        photos.len(),
        images.display()
    );
    let (ds, source) = load_mnist(c)?;
    let test = ds.test.as_ref().ok_or_else(|| anyhow!("no test split"))?;
    let data = Splits::new(&ds.train, test, 0.1, ds.class_names.clone(), source)?;
    eprintln!(
        "data: {}; {} for training, {} for validation",
        data.source,
        data.train.len(),
        data.val.len()
    );
    let full = data.train.len() > 20_000;
    let recipes = recipes(c, if full { 4 } else { 12 })?;
    let photo_split = photo_tensor(&photos)?;
    save_png(
        &sheet(
            &photos,
            None,
            "The real-world test images, prepared like MNIST (label under each)",
        )?,
        &dir.join("photos-prepared.png"),
    )?;
    let mut runs: Vec<RunReport> = Vec::new();
    let mut results = Vec::new();
    for r in &recipes {
        let (run, mut model) = train(r, &data, c, &dir)?;
        let (preds, _) = predict(&mut model, &photo_split)?;
        let correct = preds
            .iter()
            .zip(&photo_split.labels)
            .filter(|(p, t)| p == t)
            .count();
        eprintln!(
            "[{}] real-world images: {correct}/{} correct ({:.1}%)",
            r.label,
            photos.len(),
            100.0 * correct as f64 / photos.len() as f64
        );
        save_png(
            &sheet(
                &photos,
                Some(&preds),
                &format!(
                    "{}: misclassified real-world images (true→predicted)",
                    r.label
                ),
            )?,
            &dir.join(format!("{}-misclassified.png", r.label)),
        )?;
        runs.push(run);
        results.push(PhotoResult {
            correct,
            predictions: preds,
        });
    }
    let answers = answers(&runs, &results, &photos, &images, c.quick);
    let report = Report::new(
        "Exercise: handwritten digits — MNIST-trained convnets on real-world images",
        "digits",
        c,
        data.source.clone(),
        data.class_names.clone(),
        runs,
        answers,
    );
    report.write(&dir)?;
    Ok((report, dir))
}

fn pct(n: usize, d: usize) -> String {
    format!("{:.1}%", 100.0 * n as f64 / d.max(1) as f64)
}

fn answers(
    runs: &[RunReport],
    results: &[PhotoResult],
    photos: &[Photo],
    dir: &Path,
    quick: bool,
) -> Vec<(String, String)> {
    let n = photos.len();
    let mut table = String::from(
        "| model | augmentation | MNIST test | real-world images |\n|---|---|---:|---:|\n",
    );
    for (r, p) in runs.iter().zip(results) {
        table.push_str(&format!(
            "| {} | {} | {:.2}% | **{}** ({}/{n}) |\n",
            r.label,
            r.augmentation.as_deref().unwrap_or("none"),
            r.test_accuracy * 100.0,
            pct(p.correct, n),
            p.correct
        ));
    }
    let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, p) in photos.iter().enumerate() {
        groups.entry(p.group.as_str()).or_default().push(i);
    }
    if groups.len() > 1 {
        table.push_str("\nBy pen (real-world images):\n\n| pen | images |");
        for r in runs {
            table.push_str(&format!(" {} |", r.label));
        }
        table.push_str("\n|---|---:|");
        table.push_str(&"---:|".repeat(runs.len()));
        table.push('\n');
        for (g, idx) in &groups {
            table.push_str(&format!(
                "| {} | {} |",
                if g.is_empty() { "other" } else { g },
                idx.len()
            ));
            for res in results {
                let ok = idx
                    .iter()
                    .filter(|&&i| res.predictions[i] == photos[i].label)
                    .count();
                table.push_str(&format!(" {} |", pct(ok, idx.len())));
            }
            table.push('\n');
        }
    }
    let acc: Vec<f64> = results
        .iter()
        .map(|r| r.correct as f64 / n as f64 * 100.0)
        .collect();
    let right: Vec<Vec<bool>> = results
        .iter()
        .map(|r| {
            r.predictions
                .iter()
                .zip(photos)
                .map(|(&p, ph)| p == ph.label)
                .collect()
        })
        .collect();
    let bundled = super::shown(dir) == "examples/digits";
    // A difference is called one only when McNemar's exact test on the same images finds it
    // (p < 0.05); on the bundled images, which we drew ourselves, it says nothing about real
    // handwriting.
    let verdict = |first: usize, second: usize, what: &str| {
        let gain = acc[second] - acc[first];
        let t = McNemar::of(&right[first], &right[second]);
        let test = t.describe(&runs[first].label, &runs[second].label);
        if quick {
            format!("{what}: {gain:+.1} points (quick run: not meaningful).")
        } else if !t.significant() {
            format!("{what}: {gain:+.1} points — no measurable difference on {n} images ({test}).")
        } else if gain > 0.0 {
            format!("{what}: **helped**, {gain:+.1} points ({test}).")
        } else {
            format!("{what}: **did not help**, {gain:+.1} points ({test}).")
        }
    };
    let helped = format!(
        "{}\n\n{}\n\n{} {}\n\nOn MNIST's own test set the three are within {:.2} points of each other: \
         augmentation matters where the test images differ from the training images. The \
         misclassified images of each model are in `<model>-misclassified.png`; \
         `photos-prepared.png` shows every image as the models see it.",
        table,
        verdict(0, 1, "Small rotations, shifts and zoom"),
        verdict(1, 2, "Stroke thickness, blur and elastic distortion on top"),
        if bundled {
            "These are the bundled images, which we drew ourselves: whatever they show is a \
             finding about them, not about real handwriting — run the exercise on photos of \
             real digits (`--images DIR`) for that."
        } else {
            ""
        },
        runs.iter()
            .map(|r| r.test_accuracy * 100.0)
            .fold(f32::NEG_INFINITY, f32::max)
            - runs
                .iter()
                .map(|r| r.test_accuracy * 100.0)
                .fold(f32::INFINITY, f32::min)
    );
    let about = format!(
        "{n} images from `{}`, each prepared like the MNIST digits (`cnn predict --digit-preprocess`): \
         grey, inverted when the paper is light, faint noise dropped, cropped to the ink, scaled \
         into 20x20 keeping the aspect ratio, centred by centre of mass in 28x28. The bundled set \
         (`examples/digits/`) is our own, made by `cargo xtask make-digit-images`: pen \
         trajectories drawn with random slant, size, position and wobble by four pens \
         (ballpoint, felt-tip, marker, pencil) on uneven paper, blurred and noisy like a scan — \
         synthetic, not real handwriting. Point `--images DIR` at your own photos (labels from \
         `labels.csv` or the first digit of each file name).",
        super::shown(dir)
    );
    vec![
        ("The real-world images".to_string(), about),
        ("Did augmentation help?".to_string(), helped),
    ]
}
