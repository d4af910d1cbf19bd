//! The CIFAR-10 exercise: airbench's convnet (conv–BN–GELU groups and pooling, the lecture's
//! AlexNet-inspired structure) trained by airbench's recipe without and with the
//! `ImageDataGenerator` equivalent (flips, 2-pixel translations), from the binary batches when
//! downloaded or from JPEG class folders through `flow_from_directory` (`DirectoryFlow`);
//! `--classes` trains on a subset; ResNet-20 and the lecture-sized `cifar-cnn` on request.
//! The report compares with and without augmentation and with Fashion-MNIST, and says how the
//! recipe was chosen.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use cnn_augment::{
    AugmentConfig, ClassMode, DirectoryFlow, DirectoryOptions, ImageDataGenerator, Prefetch,
    ShiftRange, Subset,
};
use cnn_datasets::{
    CIFAR10_CLASSES, ColorMode, Dataset, FolderOptions, ImageSet, Interpolation, LoadOptions,
    archive, cifar10, image_folder,
};
use cnn_nn::{BatchSource, LayerConfig, Lookahead, Model, ModelSpec, Optimizer, Schedule, zoo};
use cnn_tensor::Tensor;

use super::Common;
use super::data::{Split, Splits};
use super::report::Report;
use super::run::{Recipe, RunReport, Sources, array_sources, train_from};
use super::stats::McNemar;

const BATCH: usize = 64;
/// Training and test images per class in a `--quick` run.
const QUICK: (usize, usize) = (100, 30);
/// Epochs of a `--quick` run (unless `--epochs`): enough steps for the batch-norm moving
/// statistics, at [`QUICK_BN_MOMENTUM`], to settle, so test accuracy means something.
const QUICK_EPOCHS: usize = 10;
/// Batch-norm momentum in a `--quick` run. At Keras's 0.99 the moving statistics are still
/// mostly their initial values (mean 0, variance 1) after the few dozen steps of a quick run,
/// and the model predicts one class for every test image however well it trained; at 0.9
/// they settle in about 50 steps.
pub const QUICK_BN_MOMENTUM: f32 = 0.9;
/// Epochs of the Adam recipes (`cifar-cnn`, `residual`): 27 epochs of `cifar-cnn` fitted the
/// earlier goal's 45 minutes on the reference machine (2 cores, shared).
pub const EPOCHS: usize = 27;

/// Where the images come from.
pub enum CifarData {
    /// In memory (binary batches), with validation held out.
    Arrays(Box<Splits>),
    /// JPEG class folders: `root/train/<class>/…`, `root/test/<class>/…`.
    Folders {
        /// The folder holding `train/` and `test/`.
        root: PathBuf,
        /// The test split, in memory.
        test: Split,
        /// Classes in label order.
        class_names: Vec<String>,
        /// Where the data came from.
        source: String,
    },
}

/// The exercise's models, by label: the airbench recipe without and with augmentation,
/// ResNet-20, and the lecture-sized `cifar-cnn` (Adam, dropout, the earlier recipe).
pub const MODELS: [&str; 4] = ["plain", "augmented", "residual", "cifar-cnn"];

/// The models a run trains when `--models` is not given (the residual network is asked for).
pub const DEFAULT_MODELS: [&str; 2] = ["plain", "augmented"];

/// Parses `--models` (a comma-separated subset of [`MODELS`]; [`DEFAULT_MODELS`] when
/// `None`).
pub fn parse_models(list: Option<&str>) -> Result<Vec<&'static str>> {
    let Some(list) = list else {
        return Ok(DEFAULT_MODELS.to_vec());
    };
    let mut out = Vec::new();
    for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let Some(m) = MODELS.iter().find(|m| **m == name) else {
            bail!("unknown model {name:?} (known: {})", MODELS.join(", "));
        };
        if !out.contains(m) {
            out.push(*m);
        }
    }
    if out.is_empty() {
        bail!("--models names no model (known: {})", MODELS.join(", "));
    }
    Ok(out)
}

/// Parses `--classes` against the CIFAR-10 names (all ten when `None`).
pub fn parse_classes(list: Option<&str>) -> Result<Vec<String>> {
    let Some(list) = list else {
        return Ok(CIFAR10_CLASSES.iter().map(|s| s.to_string()).collect());
    };
    let mut out: Vec<String> = Vec::new();
    for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if !CIFAR10_CLASSES.contains(&name) {
            bail!(
                "unknown CIFAR-10 class {name:?} (known: {})",
                CIFAR10_CLASSES.join(", ")
            );
        }
        if !out.iter().any(|o| o == name) {
            out.push(name.to_string());
        }
    }
    if out.len() < 2 {
        bail!("--classes needs at least two classes");
    }
    Ok(out)
}

fn take_per_class(set: &ImageSet, per_class: usize) -> ImageSet {
    let mut seen = vec![0usize; 256];
    let keep: Vec<usize> = (0..set.len())
        .filter(|&i| {
            let c = set.labels[i] as usize;
            seen[c] += 1;
            seen[c] <= per_class
        })
        .collect();
    set.select(&keep)
}

/// The folder of `train/` and `test/` class folders that `--images` names: the folder itself,
/// or a `.tar.gz` of one extracted once (atomically) into the data directory.
pub fn images_root(c: &Common, path: &Path) -> Result<PathBuf> {
    let data_dir = cnn_datasets::data_dir(c.data_dir.as_deref());
    let root = if path.is_file() {
        let dest = data_dir.join("cifar10-jpg");
        if !dest.join("train").is_dir() {
            eprintln!(
                "extracting {} into {} (once)",
                path.display(),
                dest.display()
            );
            let tmp = data_dir.join(format!(".cifar10-jpg.{}.tmp", std::process::id()));
            let moved = (|| -> Result<()> {
                archive::extract(path, &tmp, archive::Limits::default()).map_err(|e| anyhow!(e))?;
                // The archive holds train/ and test/ at its top or one level down.
                let inner = if tmp.join("train").is_dir() {
                    tmp.clone()
                } else {
                    std::fs::read_dir(&tmp)?
                        .filter_map(|e| e.ok().map(|e| e.path()))
                        .find(|p| p.join("train").is_dir())
                        .ok_or_else(|| anyhow!("{} has no train/ folder", path.display()))?
                };
                std::fs::rename(&inner, &dest)
                    .with_context(|| format!("moving the images to {}", dest.display()))
            })();
            // Removed on success and on error alike: no half-extracted tree stays behind.
            let _ = std::fs::remove_dir_all(&tmp);
            moved?;
        }
        dest
    } else {
        path.to_path_buf()
    };
    if !root.join("train").is_dir() || !root.join("test").is_dir() {
        bail!(
            "{} needs train/<class>/ and test/<class>/ folders",
            root.display()
        );
    }
    Ok(root)
}

/// Finds the data: `--images` (a folder of `train/` and `test/` class folders, or a `.tar.gz`
/// of one, extracted once into the data directory), else the binary batches when they are in
/// the data directory (or downloadable unless `--offline`).
pub fn load(c: &Common, images: Option<&Path>, classes: &[String]) -> Result<CifarData> {
    let data_dir = cnn_datasets::data_dir(c.data_dir.as_deref());
    if let Some(path) = images {
        let root = images_root(c, path)?;
        let opts = FolderOptions {
            target_size: Some((32, 32)),
            color: ColorMode::Rgb,
            classes: Some(classes.to_vec()),
            interpolation: Interpolation::Bilinear,
            ..Default::default()
        };
        let (mut test, idx, skipped) =
            image_folder(&root.join("test"), &opts).map_err(|e| anyhow!(e))?;
        for s in &skipped {
            eprintln!("skipped {}: {}", s.file.display(), s.reason);
        }
        if c.quick {
            test = take_per_class(&test, QUICK.1);
        }
        let source = format!(
            "CIFAR-10 JPEG class folders in {} ({} classes; training through flow_from_directory)",
            super::shown(&root),
            idx.class_names.len()
        );
        return Ok(CifarData::Folders {
            root,
            test: Split::from_set(&test)?,
            class_names: idx.class_names,
            source,
        });
    }
    let opts = LoadOptions {
        data_dir: Some(data_dir),
        offline: c.offline || c.quick,
        progress: !c.quiet,
        ..Default::default()
    };
    let (ds, reports): (Dataset, _) = cifar10(&opts).map_err(|e| {
        anyhow!(
            "CIFAR-10 is not available ({e}). Fetch the binary batches with \
             `cargo xtask fetch-data cifar10`, or pass --images with a folder (or .tar.gz) of \
             train/<class>/ and test/<class>/ images"
        )
    })?;
    for r in reports {
        eprintln!("{r}");
    }
    let ids: Vec<u8> = classes
        .iter()
        .map(|n| CIFAR10_CLASSES.iter().position(|c| c == n).unwrap_or(0) as u8)
        .collect();
    let mut train = ds.train.keep_classes(&ids);
    let mut test = ds
        .test
        .ok_or_else(|| anyhow!("no test split"))?
        .keep_classes(&ids);
    if c.quick {
        train = take_per_class(&train, QUICK.0);
        test = take_per_class(&test, QUICK.1);
    }
    let source = format!(
        "CIFAR-10 binary batches ({} training / {} test images, {} classes)",
        train.len(),
        test.len(),
        classes.len()
    );
    // Shuffle before holding out validation: the binary batches are not class-balanced at the end.
    let train = train.shuffled(c.seed);
    let splits = Splits::new(&train, &test, 0.1, classes.to_vec(), source)?;
    Ok(CifarData::Arrays(Box::new(splits)))
}

/// Shifts, flips, small rotation and zoom: the usual CIFAR augmentation. Rotation and zoom
/// are kept small (±5°, ±5 %): at ±10° and ±10 % the augmented model was still far from fitted
/// after 20 epochs (79.9 % test against 83.1 % without augmentation).
pub fn augmentation() -> AugmentConfig {
    AugmentConfig {
        rotation_range: 5.0,
        width_shift_range: ShiftRange::Float(0.1),
        height_shift_range: ShiftRange::Float(0.1),
        zoom_range: (0.95, 1.05),
        horizontal_flip: true,
        ..Default::default()
    }
}

/// Dropout of the augmented model's dense head.
pub const AUGMENTED_HEAD_DROPOUT: f32 = 0.3;
/// Dropout of the augmented model after each convolution group.
pub const AUGMENTED_GROUP_DROPOUT: f32 = 0.1;

/// `cifar-cnn` with lighter dropout for the augmented model: [`AUGMENTED_GROUP_DROPOUT`] after
/// each convolution group and [`AUGMENTED_HEAD_DROPOUT`] before the output. With augmentation
/// and batch norm also regularising, the full dropout (0.2, 0.3, 0.4, 0.5) left the augmented
/// model underfitted — training accuracy below validation accuracy through 28 epochs (82.1 %
/// against 83.8 %) — and none after the groups overfitted (89.9 % against 85.4 % after 24).
pub fn light_dropout(mut spec: ModelSpec) -> ModelSpec {
    let last = spec
        .layers
        .iter()
        .rposition(|l| matches!(l.config, LayerConfig::Dropout(_)));
    for (i, l) in spec.layers.iter_mut().enumerate() {
        if let LayerConfig::Dropout(d) = &mut l.config {
            d.rate = if Some(i) == last {
                AUGMENTED_HEAD_DROPOUT
            } else {
                AUGMENTED_GROUP_DROPOUT
            };
        }
    }
    spec
}

/// `spec` with every batch normalisation's moving-average momentum set to `momentum`.
pub fn with_bn_momentum(mut spec: ModelSpec, momentum: f32) -> ModelSpec {
    for l in &mut spec.layers {
        if let LayerConfig::BatchNormalization(bn) = &mut l.config {
            bn.momentum = momentum;
        }
    }
    spec
}

/// Batch of the airbench recipe (airbench94 uses 1024; half keeps twice the steps per epoch
/// on a CPU, with the learning rate halved — the same rate per sample).
pub const AIRBENCH_BATCH: usize = 512;
/// Epochs of the airbench recipe: what fits the goal's 45 minutes here.
pub const AIRBENCH_EPOCHS: usize = 12;
/// Peak learning rate of the airbench recipe at [`AIRBENCH_BATCH`] (Keras's SGD on the mean
/// loss): airbench94's 11.5 per 1024·(1 + 1/(1 − 0.85)) on a summed loss is 1.465e-3 per
/// sample, ×512.
pub const AIRBENCH_LR: f32 = 0.75;
/// Decoupled weight decay of the airbench recipe (Keras's `w −= w·wd·lr`). airbench94 gives
/// PyTorch's SGD `weight_decay = wd / lr` with `wd = 0.0153·512/7850 ≈ 1e-3`, so each step adds
/// `1e-3·w` to the gradient inside Nesterov momentum 0.85, which multiplies steady steps by
/// `1/(1 − 0.85)`: about `6.65e-3·w` per step at the peak rate, which is `8.9e-3 × 0.75`.
/// (A first run with 1.3e-5, a thousand times weaker, overfitted: 95.8 % training against
/// 88.9 % validation accuracy.)
pub const AIRBENCH_WEIGHT_DECAY: f32 = 8.9e-3;
/// Fraction of the steps the learning rate rises over (airbench94: 23 %).
pub const AIRBENCH_WARMUP: f64 = 0.23;
/// How much faster the batch norms' shifts (`beta`) learn than the other weights, at the same
/// decay (airbench94's `bias_scaler`: a parameter group with `lr × 64` and `weight_decay / 64`).
pub const AIRBENCH_BIAS_SCALER: f32 = 64.0;
/// Label smoothing of the airbench recipe.
pub const AIRBENCH_LABEL_SMOOTHING: f32 = 0.2;
/// Images the whitening layer is computed from (airbench: 5,000).
pub const WHITENING_SAMPLE: usize = 5000;

/// Flips and translations by up to two pixels with reflected borders: airbench's augmentation
/// through the `ImageDataGenerator` equivalent (Keras's integer `width_shift_range=3` draws
/// whole shifts in −2…2), with airbench's alternating flips.
pub fn translate_flip() -> AugmentConfig {
    AugmentConfig {
        width_shift_range: ShiftRange::Int(3),
        height_shift_range: ShiftRange::Int(3),
        fill_mode: cnn_augment::FillMode::Reflect,
        horizontal_flip: true,
        alternating_flip: true,
        ..Default::default()
    }
}

/// The airbench recipe (Jordan 2024, arXiv 2404.00498, airbench94) in this library's terms:
/// the `airbench-cifar` network with a frozen patch-whitening first layer, Nesterov SGD
/// (momentum 0.85) with decoupled weight decay, linear warm-up over the first fifth then cosine
/// decay to 7 %, label smoothing 0.2, flips and 2-pixel translations, mirror + translate TTA.
fn airbench_recipe(
    c: &Common,
    classes: usize,
    train_samples: usize,
    augmented: bool,
) -> Result<Recipe> {
    let mut spec =
        zoo("airbench-cifar", Some(&[32, 32, 3]), Some(classes)).map_err(|e| anyhow!(e))?;
    spec.layers[0].trainable = false;
    let batch = if c.quick { 64 } else { AIRBENCH_BATCH };
    let epochs = c
        .epochs
        .unwrap_or(if c.quick {
            QUICK_EPOCHS
        } else {
            AIRBENCH_EPOCHS
        })
        .max(1);
    let total = (epochs * train_samples.div_ceil(batch)) as u64;
    let warmup = (total as f64 * AIRBENCH_WARMUP) as u64;
    let lr = AIRBENCH_LR * batch as f32 / AIRBENCH_BATCH as f32;
    // airbench freezes the batch norms' scales at 1 (no step, no decay) and moves their shifts
    // 64x faster than the other weights.
    let opt = Optimizer::sgd_momentum(lr, 0.85, true)
        .with_weight_decay(AIRBENCH_WEIGHT_DECAY)
        .excluding_from_weight_decay(["gamma"])
        .with_lr_multiplier(["gamma"], 0.0)
        .with_lr_multiplier(["beta"], AIRBENCH_BIAS_SCALER)
        .with_schedule(Schedule::CosineDecayWarmup {
            warmup_steps: warmup,
            warmup_start: 0.2,
            decay_steps: total - warmup,
            alpha: 0.07,
        })
        .with_lookahead(Lookahead::airbench(total));
    Ok(Recipe {
        label: if augmented { "augmented" } else { "plain" }.into(),
        spec,
        optimizer: opt,
        schedule: "warm-up from 20 % over 23 % of the steps, cosine decay to 7 %".into(),
        epochs,
        batch_size: batch,
        augment: augmented.then(|| ImageDataGenerator::new(translate_flip())),
        augment_text: augmented.then(|| {
            "alternating horizontal flips, translations by up to 2 pixels (reflected borders)"
                .into()
        }),
        mirror_tta: true,
        translate_tta: true,
        loss: cnn_nn::Loss::SmoothedCrossentropy {
            label_smoothing: AIRBENCH_LABEL_SMOOTHING,
        },
    })
}

/// Up to [`WHITENING_SAMPLE`] training images (pixels scaled by 1/255) for the whitening layer.
fn whitening_sample(data: &CifarData, classes: &[String], c: &Common) -> Result<Tensor> {
    match data {
        CifarData::Arrays(s) => {
            let &[n, h, w, ch] = s.train.x.dims() else {
                bail!("training images are not NHWC");
            };
            let keep = n.min(WHITENING_SAMPLE);
            let x = s.train.x.data()[..keep * h * w * ch].to_vec();
            Tensor::new(vec![keep, h, w, ch], x).map_err(|e| anyhow!(e))
        }
        CifarData::Folders { root, .. } => {
            let mut plain = ImageDataGenerator::new(AugmentConfig::default());
            plain.config.rescale = Some(1.0 / 255.0);
            plain.config.validation_split = 0.1;
            let opts = DirectoryOptions {
                target_size: (32, 32),
                color: ColorMode::Rgb,
                classes: Some(classes.to_vec()),
                class_mode: ClassMode::Sparse,
                batch_size: 500,
                shuffle: true,
                seed: c.seed,
                subset: Some(Subset::Training),
                interpolation: Interpolation::Bilinear,
                verbose: false,
                max_per_class: c.quick.then_some(QUICK.0),
                ..Default::default()
            };
            let mut flow = DirectoryFlow::new(Arc::new(plain), &root.join("train"), opts)
                .map_err(|e| anyhow!(e))?;
            let mut x = Vec::new();
            let mut n = 0;
            for step in 0..flow.steps() {
                if n >= WHITENING_SAMPLE {
                    break;
                }
                let (b, _) = flow.batch(0, step).map_err(|e| anyhow!(e))?;
                n += b.dims()[0];
                x.extend_from_slice(b.data());
            }
            Tensor::new(vec![n, 32, 32, 3], x).map_err(|e| anyhow!(e))
        }
    }
}

/// A model of `r.spec` whose frozen first layer whitens 2x2 patches of `sample` and whose 3x3
/// convolutions start with their first `C_in` filters the identity (`dirac_identity`, as
/// airbench initialises them). Epsilon is airbench's 5e-4 relative to the pixel variance
/// (airbench whitens images normalised to unit variance per channel).
fn whitened_model(r: &Recipe, sample: &Tensor, seed: u64) -> Result<Model> {
    let mut model = Model::new(&r.spec, seed).map_err(|e| anyhow!(e))?;
    let convs: Vec<String> = model
        .param_names()
        .iter()
        .zip(model.params())
        .filter(|(n, p)| n.ends_with("/kernel") && p.dims().len() == 4 && p.dims()[0] == 3)
        .map(|(n, _)| n.clone())
        .collect();
    for name in &convs {
        if let Some(k) = model.weight_mut(name) {
            cnn_nn::dirac_identity(k).map_err(|e| anyhow!("{name}: {e}"))?;
        }
    }
    let v = sample.data();
    let mean = v.iter().map(|&x| x as f64).sum::<f64>() / v.len().max(1) as f64;
    let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / v.len().max(1) as f64;
    let (kernel, bias) = cnn_nn::patch_whitening(sample, 2, (5e-4 * var.max(1e-6)) as f32)
        .map_err(|e| anyhow!(e))?;
    for (name, value) in [("whiten/kernel", kernel), ("whiten/bias", bias)] {
        let w = model
            .weight_mut(name)
            .ok_or_else(|| anyhow!("{} has no weight {name}", r.spec.name))?;
        if w.dims() != value.dims() {
            bail!("{name}: {} against whitening {}", w.shape(), value.shape());
        }
        *w = value;
    }
    Ok(model)
}

/// Every recipe of the exercise, in [`MODELS`] order.
fn recipes(c: &Common, classes: usize, train_samples: usize) -> Result<Vec<Recipe>> {
    let mut spec = zoo("cifar-cnn", Some(&[32, 32, 3]), Some(classes)).map_err(|e| anyhow!(e))?;
    if c.quick {
        spec = with_bn_momentum(spec, QUICK_BN_MOMENTUM);
    }
    let epochs = c
        .epochs
        .unwrap_or(if c.quick { QUICK_EPOCHS } else { EPOCHS })
        .max(1);
    let opt = Optimizer::adam(1e-3).with_schedule(Schedule::CosineDecay {
        decay_steps: (epochs * train_samples.div_ceil(BATCH)) as u64,
        alpha: 0.0,
    });
    let adam = |label: &str, spec: ModelSpec, text: &str| Recipe {
        label: label.into(),
        spec,
        optimizer: opt.clone(),
        schedule: "cosine decay to 0".into(),
        epochs,
        batch_size: BATCH,
        augment: Some(ImageDataGenerator::new(augmentation())),
        augment_text: Some(text.into()),
        mirror_tta: true,
        translate_tta: false,
        loss: cnn_nn::Loss::SparseCategoricalCrossentropy,
    };
    let mut resnet =
        zoo("resnet20-cifar", Some(&[32, 32, 3]), Some(classes)).map_err(|e| anyhow!(e))?;
    if c.quick {
        resnet = with_bn_momentum(resnet, QUICK_BN_MOMENTUM);
    }
    Ok(vec![
        airbench_recipe(c, classes, train_samples, false)?,
        airbench_recipe(c, classes, train_samples, true)?,
        adam(
            "residual",
            resnet,
            "ResNet-20 (residual shortcuts, no dropout); shifts ±10%, horizontal flips, \
             rotation ±5°, zoom ±5%",
        ),
        adam(
            "cifar-cnn",
            light_dropout(spec),
            "shifts ±10%, horizontal flips, rotation ±5°, zoom ±5%; \
             dropout 0.1 after each convolution group, 0.3 before the output",
        ),
    ])
}

/// Training and validation flows over the JPEG folder (Keras's `validation_split` subsets).
fn folder_sources(
    r: &Recipe,
    root: &Path,
    classes: &[String],
    c: &Common,
) -> Result<Sources<'static>> {
    let mut g = r
        .augment
        .clone()
        .unwrap_or_else(|| ImageDataGenerator::new(AugmentConfig::default()));
    g.config.rescale = Some(1.0 / 255.0);
    g.config.validation_split = 0.1;
    let mut plain = ImageDataGenerator::new(AugmentConfig::default());
    plain.config.rescale = Some(1.0 / 255.0);
    plain.config.validation_split = 0.1;
    let opts = |subset, shuffle| DirectoryOptions {
        target_size: (32, 32),
        color: ColorMode::Rgb,
        classes: Some(classes.to_vec()),
        class_mode: ClassMode::Sparse,
        batch_size: r.batch_size,
        shuffle,
        seed: c.seed,
        subset: Some(subset),
        interpolation: Interpolation::Bilinear,
        verbose: !c.quiet,
        max_per_class: c.quick.then_some(QUICK.0),
        ..Default::default()
    };
    let dir = root.join("train");
    let train = DirectoryFlow::new(Arc::new(g), &dir, opts(Subset::Training, true))
        .map_err(|e| anyhow!(e))?;
    let val = DirectoryFlow::new(Arc::new(plain), &dir, opts(Subset::Validation, false))
        .map_err(|e| anyhow!(e))?;
    let train: Box<dyn BatchSource> = Box::new(Prefetch::new(train, 4));
    Ok(Sources {
        train,
        val: Box::new(val),
    })
}

/// Runs the exercise.
///
/// `models` picks some of the recipes by label (`plain`, `augmented`, `residual`,
/// `cifar-cnn`; default: `plain` and `augmented`).
pub fn run(
    c: &Common,
    images: Option<&Path>,
    classes: Option<&str>,
    models: Option<&str>,
) -> Result<(Report, PathBuf)> {
    let labels = parse_models(models)?;
    c.init_threads();
    let dir = c.out_dir("cifar10")?;
    let classes_arg = classes;
    let classes = parse_classes(classes)?;
    let data = load(c, images, &classes)?;
    let mut runs: Vec<RunReport> = Vec::new();
    let (source, class_names) = match &data {
        CifarData::Arrays(s) => (s.source.clone(), s.class_names.clone()),
        CifarData::Folders {
            source,
            class_names,
            ..
        } => (source.clone(), class_names.clone()),
    };
    eprintln!("data: {source}");
    let train_samples = match &data {
        CifarData::Arrays(s) => s.train.len(),
        CifarData::Folders { .. } => {
            if c.quick {
                QUICK.0 * classes.len()
            } else {
                (5000.0 * 0.9) as usize * classes.len()
            }
        }
    };
    for r in recipes(c, classes.len(), train_samples)?
        .into_iter()
        .filter(|r| labels.contains(&r.label.as_str()))
    {
        let model = if r.spec.name == "airbench-cifar" {
            let sample = whitening_sample(&data, &classes, c)?;
            whitened_model(&r, &sample, c.seed)?
        } else {
            Model::new(&r.spec, c.seed).map_err(|e| anyhow!("building {}: {e}", r.spec.name))?
        };
        let run = match &data {
            CifarData::Arrays(s) => {
                let sources = array_sources(&r, s, c.seed)?;
                train_from(
                    model,
                    &r,
                    sources,
                    &s.test,
                    &s.class_names,
                    &s.source,
                    c,
                    &dir,
                )?
                .0
            }
            CifarData::Folders {
                root,
                test,
                class_names,
                source,
            } => {
                let sources = folder_sources(&r, root, class_names, c)?;
                train_from(model, &r, sources, test, class_names, source, c, &dir)?.0
            }
        };
        runs.push(run);
    }
    let answers = answers(&runs, c.quick);
    let title = format!(
        "Exercise: CIFAR-10{} — an AlexNet-inspired convnet (airbench's), with and without augmentation",
        if classes.len() < 10 {
            format!(" ({} classes)", classes.len())
        } else {
            String::new()
        }
    );
    let mut report = Report::new(title, "cifar10", c, source, class_names, runs, answers);
    // The command line that reproduces the run names the data and the subsets too.
    for (flag, value) in [
        ("--images", images.map(super::shown)),
        ("--classes", classes_arg.map(String::from)),
        ("--models", models.map(String::from)),
    ] {
        if let Some(v) = value {
            report.command.push_str(&format!(" {flag} {v}"));
        }
    }
    report.write(&dir)?;
    Ok((report, dir))
}

/// The goal: test accuracy with test-time augmentation (issue 23).
pub const GOAL_TTA: f32 = 0.93;
/// The goal: single-view test accuracy.
pub const GOAL_SINGLE: f32 = 0.91;
/// The goal: minutes of training (validation passes included).
pub const GOAL_MINUTES: f64 = 45.0;

/// How the airbench recipe was chosen, for the report.
pub const RECIPE_CHOICE: &str = "The network, augmentation, optimizer settings, label \
    smoothing, whitening and Dirac initialisations are airbench94's (Jordan 2024, arXiv \
    2404.00498; 94 % in about 10 epochs on an A100), translated to Keras's conventions: \
    batch 512 with the learning rate per sample kept (0.75 on the mean loss), the weight decay \
    made decoupled (8.9e-3 per unit of learning rate, the same shrinkage per step), batch-norm \
    momentum 0.4 (PyTorch's 0.6), probabilities rather than logits averaged over the TTA views. \
    airbench keeps batch-norm scales at 1 and gives their shifts a 64 times larger rate, which \
    Keras cannot express: the library's per-weight learning-rate multipliers (PyTorch's \
    parameter groups) do it (factor 0 and no decay for the scales, 64 for the shifts). The \
    epochs are what fits 45 minutes here. Choices were made on the validation split (5,000 \
    training images held out), augmented model, 12 epochs: a first run with a thousand times \
    weaker decay overfitted (95.8 % training, 88.9 % validation accuracy after 10 epochs); with \
    the decay corrected and the scales trained (spared the decay) and the shifts at the common \
    rate, 94.6 % training and 90.02 % validation (seed 42); airbench's frozen scales and fast \
    shifts, 95.9 % and 89.46 % (seed 7) — no difference beyond a seed's noise, so airbench's \
    setting stays. Session 18 added airbench's ramped lookahead and alternating flips: \
    validation accuracy 90.18 % before (an earlier engine build), 90.46 % with the lookahead, \
    90.42 % with both — within a seed's noise (seeds 42 and 7 differ by 0.7 points); kept \
    because they are airbench's and cost nothing. airbench94 trained in PyTorch itself on the \
    same JPEG files reaches 90.39 % with six-view TTA (docs/exercises/cifar10/pytorch-reference): \
    the gap to its published 94 % is the JPEG data's. The test set gave only the final figures.";

fn answers(runs: &[RunReport], quick: bool) -> Vec<(String, String)> {
    let find = |label: &str| runs.iter().find(|r| r.label == label);
    let gap = |r: &RunReport| (r.train_accuracy - r.val_accuracy) * 100.0;
    let mut out = Vec::new();
    if let (Some(plain), Some(aug)) = (find("plain"), find("augmented")) {
        let test = McNemar::of(&aug.test_correct, &plain.test_correct);
        out.push((
            "Did augmentation help?".to_string(),
            format!(
                "Test accuracy {:.2}% without and {:.2}% with augmentation ({:+.2} points) after \
                 {} epochs — {} ({}); both at the same recipe (network, optimizer, schedule, \
                 epochs and seed), so the augmentation is the only difference. {}{}",
                plain.test_accuracy * 100.0,
                aug.test_accuracy * 100.0,
                (aug.test_accuracy - plain.test_accuracy) * 100.0,
                aug.epochs,
                if test.significant() {
                    "a real difference"
                } else {
                    "no measurable difference"
                },
                test.describe("with augmentation", "without"),
                if gap(plain) <= 0.0 && gap(aug) <= 0.0 {
                    "Neither run overfitted yet (training accuracy, a running mean over each \
                     epoch's batches, is below validation accuracy): augmentation makes the task \
                     harder to fit and pays off only in longer training, once the plain model \
                     starts to memorise."
                        .to_string()
                } else {
                    format!(
                        "The gap between training and validation accuracy in the last epoch was \
                         {:.1} points without and {:.1} with: augmentation {} overfitting.",
                        gap(plain),
                        gap(aug),
                        if gap(aug) < gap(plain) {
                            "reduced"
                        } else {
                            "did not reduce"
                        }
                    )
                },
                if quick {
                    " (Quick run: not meaningful.)"
                } else {
                    ""
                }
            ),
        ));
    }
    if let Some(res) = find("residual") {
        let others: Vec<String> = runs
            .iter()
            .filter(|r| r.label != "residual")
            .map(|r| format!("the {} model's {:.2}%", r.label, r.test_accuracy * 100.0))
            .collect();
        out.push((
            "What do residual shortcuts give?".to_string(),
            format!(
                "ResNet-20 ({} parameters: a 3x3 convolution, nine residual blocks of two 3x3 \
                 convolutions whose input is added to their output — through a 1x1 projection \
                 where the size halves — then average pooling and one Dense layer) reached \
                 {:.2}% in {} epochs{}.{}",
                cnn_nn::commas(res.params),
                res.test_accuracy * 100.0,
                res.epochs,
                if others.is_empty() {
                    String::new()
                } else {
                    format!(", against {}", others.join(" and "))
                },
                if quick {
                    " (Quick run: not meaningful.)"
                } else {
                    ""
                }
            ),
        ));
    }
    if runs.iter().any(|r| r.model == "airbench-cifar") {
        out.push((
            "How was the recipe chosen?".to_string(),
            RECIPE_CHOICE.to_string(),
        ));
    }
    let Some(best) = runs
        .iter()
        .max_by(|a, b| a.test_accuracy.total_cmp(&b.test_accuracy))
    else {
        return out;
    };
    out.push((
        "Harder or easier than Fashion-MNIST?".to_string(),
        format!(
            "Harder. The best model here reaches {:.2}% on colour 32x32 photos (compare the \
             Fashion-MNIST report's convnet on grey 28x28 garments). Fashion-MNIST's items are \
             centred, upright and alone on a blank background; CIFAR-10's objects can be \
             anywhere, at any size, partly hidden, on any background, and some classes look \
             alike at this resolution — the largest off-diagonal cells of the confusion \
             matrices show which.{}",
            best.test_accuracy * 100.0,
            if quick {
                " (Quick run: not meaningful.)"
            } else {
                ""
            }
        ),
    ));
    let goal = if quick {
        "Not measured in a quick run.".to_string()
    } else {
        let in_time = |r: &RunReport| r.train_seconds <= GOAL_MINUTES * 60.0;
        let tta = |r: &RunReport| {
            r.test_accuracy_translated
                .or(r.test_accuracy_mirrored)
                .unwrap_or(r.test_accuracy)
        };
        let met =
            |r: &RunReport| in_time(r) && tta(r) >= GOAL_TTA && r.test_accuracy >= GOAL_SINGLE;
        let each: Vec<String> = runs
            .iter()
            .map(|r| {
                format!(
                    "{}: {:.2}% single view{}{} after {:.1} minutes of training ({})",
                    r.label,
                    r.test_accuracy * 100.0,
                    r.test_accuracy_mirrored
                        .map(|a| format!(", {:.2}% with mirror TTA", a * 100.0))
                        .unwrap_or_default(),
                    r.test_accuracy_translated
                        .map(|a| format!(", {:.2}% with mirror + translate TTA", a * 100.0))
                        .unwrap_or_default(),
                    r.train_seconds / 60.0,
                    if met(r) {
                        "met"
                    } else if !in_time(r) {
                        "not met: over time"
                    } else {
                        "not met"
                    }
                )
            })
            .collect();
        format!(
            "Goal: ≥ {:.0}% test accuracy with test-time augmentation and ≥ {:.0}% from single \
             views, on all 10 classes, within {GOAL_MINUTES:.0} minutes of training. {} — **{}**.",
            GOAL_TTA * 100.0,
            GOAL_SINGLE * 100.0,
            each.join("; "),
            if runs.iter().any(met) {
                "met"
            } else {
                "not met"
            }
        )
    };
    out.push(("Did it reach the goal?".to_string(), goal));
    out
}
