//! The transfer-learning exercise (Chollet §5.3 at CIFAR size): the CIFAR network is pretrained
//! on eight CIFAR-10 classes (airplane … horse), then the other two — ship and truck — are
//! learnt from 100 training images each, three ways: from scratch, by feature extraction (the
//! pretrained convolutional base frozen, the dense classifier retrained under a new head) and
//! by fine-tuning (the feature-extraction model with its top convolution group unfrozen, at a
//! tenth of the learning rate). Each target recipe runs with three seeds; the report says what
//! transfer bought, measured on the test images of the two classes.

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow};
use cnn_datasets::{
    CIFAR10_CLASSES, ColorMode, FolderOptions, ImageSet, Interpolation, LoadOptions, cifar10,
    load_folder_index, scan_folder,
};
use cnn_nn::{LayerConfig, Model, Optimizer, Schedule, zoo};

use super::Common;
use super::cifar::{QUICK_BN_MOMENTUM, images_root, with_bn_momentum};
use super::data::{Split, Splits};
use super::report::Report;
use super::run::{Recipe, RunReport, array_sources, train_from, train_with};
use super::stats::McNemar;

/// The pretraining classes: CIFAR-10's first eight (airplane … horse).
pub fn base_classes() -> &'static [&'static str] {
    &CIFAR10_CLASSES[..8]
}
/// The new task's classes: CIFAR-10's last two.
pub fn target_classes() -> &'static [&'static str] {
    &CIFAR10_CLASSES[8..]
}
/// Training images per target class (and as many other ones for validation).
pub const PER_CLASS: usize = 100;
/// Pretraining epochs (plain `cifar-cnn`, cosine decay).
pub const PRETRAIN_EPOCHS: usize = 12;
/// Epochs of each target recipe (7 steps of 32 images each).
pub const TARGET_EPOCHS: usize = 40;
/// Seeds per target recipe: the run's `--seed` and the next ones.
pub const SEEDS: u64 = 3;
/// The target runs' batch size.
const BATCH: usize = 32;
/// Pretraining batch size (the CIFAR exercise's).
const PRETRAIN_BATCH: usize = 64;
/// Batch-norm momentum of the models trained on the 200 images: at Keras's 0.99 the moving
/// statistics would still be near their initial values after a few hundred steps.
const SMALL_DATA_BN_MOMENTUM: f32 = 0.9;
/// Images per class of a `--quick` run: pretraining, test.
const QUICK: (usize, usize) = (100, 30);

/// Where the images come from.
enum Images {
    /// `train/<class>/`, `test/<class>/` JPEG folders.
    Folders(PathBuf),
    /// The binary batches, in memory.
    Batches(Box<(ImageSet, ImageSet)>),
}

impl Images {
    fn find(c: &Common, images: Option<&Path>) -> Result<(Images, String)> {
        if let Some(p) = images {
            let root = images_root(c, p)?;
            let said = format!("CIFAR-10 JPEG class folders in {}", super::shown(&root));
            return Ok((Images::Folders(root), said));
        }
        let opts = LoadOptions {
            data_dir: Some(cnn_datasets::data_dir(c.data_dir.as_deref())),
            offline: c.offline || c.quick,
            progress: !c.quiet,
            ..Default::default()
        };
        let (ds, _) = cifar10(&opts).map_err(|e| {
            anyhow!(
                "CIFAR-10 is not available ({e}). Fetch the binary batches with `cargo xtask \
                 fetch-data cifar10`, or pass --images with a folder (or .tar.gz) of \
                 train/<class>/ and test/<class>/ images"
            )
        })?;
        let test = ds
            .test
            .ok_or_else(|| anyhow!("CIFAR-10 has no test split"))?;
        Ok((
            Images::Batches(Box::new((ds.train, test))),
            "CIFAR-10 binary batches".into(),
        ))
    }

    /// The images of `classes` (labelled `0..k` in that order) from the `train` or test split:
    /// at most `per_class` of each, chosen by `seed` (all, in file order, when `None`).
    fn load(
        &self,
        train: bool,
        classes: &[&str],
        per_class: Option<usize>,
        seed: u64,
    ) -> Result<ImageSet> {
        let pick = |labels: &[usize]| -> Vec<usize> {
            let mut order: Vec<usize> = (0..labels.len()).collect();
            if per_class.is_some() {
                use rand::seq::SliceRandom;
                order.shuffle(&mut cnn_nn::seeded_rng(seed));
            }
            let mut seen = vec![0usize; classes.len()];
            let mut keep: Vec<usize> = order
                .into_iter()
                .filter(|&i| {
                    seen[labels[i]] += 1;
                    seen[labels[i]] <= per_class.unwrap_or(usize::MAX)
                })
                .collect();
            keep.sort_unstable();
            keep
        };
        match self {
            Images::Folders(root) => {
                let opts = FolderOptions {
                    target_size: Some((32, 32)),
                    color: ColorMode::Rgb,
                    classes: Some(classes.iter().map(|s| s.to_string()).collect()),
                    interpolation: Interpolation::Bilinear,
                    ..Default::default()
                };
                let dir = root.join(if train { "train" } else { "test" });
                let mut index = scan_folder(&dir, &opts).map_err(|e| anyhow!(e))?;
                let keep = pick(&index.classes);
                index.files = keep.iter().map(|&i| index.files[i].clone()).collect();
                index.classes = keep.iter().map(|&i| index.classes[i]).collect();
                let (set, _, skipped) =
                    load_folder_index(&dir, &index, &opts).map_err(|e| anyhow!(e))?;
                for s in &skipped {
                    eprintln!("skipped {}: {}", s.file.display(), s.reason);
                }
                Ok(set)
            }
            Images::Batches(b) => {
                let ids: Vec<u8> = classes
                    .iter()
                    .map(|n| CIFAR10_CLASSES.iter().position(|c| c == n).unwrap_or(0) as u8)
                    .collect();
                let set = if train { &b.0 } else { &b.1 }.keep_classes(&ids);
                let labels: Vec<usize> = set.labels.iter().map(|&l| l as usize).collect();
                Ok(set.select(&pick(&labels)))
            }
        }
    }
}

fn names(classes: &[&str]) -> Vec<String> {
    classes.iter().map(|s| s.to_string()).collect()
}

/// The pretraining data: the eight base classes, 10 % of the training images held out for
/// validation.
fn base_data(c: &Common, img: &Images, source: &str) -> Result<Splits> {
    let (train_n, test_n) = if c.quick {
        (Some(QUICK.0), Some(QUICK.1))
    } else {
        (None, None)
    };
    let train = img.load(true, base_classes(), train_n, c.seed)?;
    let test = img.load(false, base_classes(), test_n, c.seed)?;
    let said = format!(
        "{source}, the eight classes {} ({} training images, {} test)",
        base_classes().join(", "),
        train.len(),
        test.len()
    );
    Splits::new(
        &train.shuffled(c.seed),
        &test,
        0.1,
        names(base_classes()),
        said,
    )
}

/// The new task: [`PER_CLASS`] training and [`PER_CLASS`] validation images of each target
/// class (other images, chosen by the seed), and the test images of the two classes.
fn target_data(c: &Common, img: &Images, source: &str) -> Result<Splits> {
    let both = img.load(true, target_classes(), Some(2 * PER_CLASS), c.seed ^ 0x7a11)?;
    let mut taken = [0usize; 2];
    let (mut tr, mut va) = (Vec::new(), Vec::new());
    for (i, &l) in both.labels.iter().enumerate() {
        taken[l as usize] += 1;
        if taken[l as usize] <= PER_CLASS {
            tr.push(i);
        } else {
            va.push(i);
        }
    }
    let test = img.load(false, target_classes(), c.quick.then_some(QUICK.1), c.seed)?;
    let said = format!(
        "{source}, ship and truck: {PER_CLASS} training and {PER_CLASS} validation images per \
         class, {} test images",
        test.len()
    );
    Ok(Splits {
        train: Split::from_set(&both.select(&tr).shuffled(c.seed))?,
        val: Split::from_set(&both.select(&va))?,
        test: Split::from_set(&test)?,
        class_names: names(target_classes()),
        source: said,
    })
}

/// The names of the pretrained network's last layer before the classifier's `Flatten` and of
/// the dropout that ends its second convolution group: feature extraction freezes up to the
/// first, fine-tuning up to the second.
fn freeze_points(model: &Model) -> Result<(String, String)> {
    let layers = &model.architecture().layers;
    let flatten = layers
        .iter()
        .position(|l| matches!(l.config(), LayerConfig::Flatten(_)))
        .ok_or_else(|| anyhow!("the pretrained network has no Flatten"))?;
    let dropouts: Vec<&str> = layers[..flatten]
        .iter()
        .filter(|l| matches!(l.config(), LayerConfig::Dropout(_)))
        .map(|l| l.name.as_str())
        .collect();
    let group2 = dropouts
        .get(1)
        .ok_or_else(|| anyhow!("the pretrained network has fewer than two convolution groups"))?;
    Ok((layers[flatten].name.clone(), group2.to_string()))
}

/// One target recipe's results over the seeds.
struct Method {
    label: &'static str,
    /// Test accuracy per seed.
    test: Vec<f32>,
    /// Validation accuracy per seed.
    val: Vec<f32>,
    /// The first seed's run.
    first: RunReport,
}

fn mean(v: &[f32]) -> f32 {
    v.iter().sum::<f32>() / v.len().max(1) as f32
}

fn spread(v: &[f32]) -> (f32, f32) {
    (
        v.iter().copied().fold(f32::INFINITY, f32::min),
        v.iter().copied().fold(f32::NEG_INFINITY, f32::max),
    )
}

/// Runs the exercise: writes the report, pictures and models into `--out`
/// (default `reports/transfer`).
pub fn run(c: &Common, images: Option<&Path>) -> Result<(Report, PathBuf)> {
    c.init_threads();
    let dir = c.out_dir("transfer")?;
    let (img, source) = Images::find(c, images)?;
    let base = base_data(c, &img, &source)?;
    let target = target_data(c, &img, &source)?;
    eprintln!("pretraining: {}\nnew task: {}", base.source, target.source);
    let momentum = |spec| {
        if c.quick {
            with_bn_momentum(spec, QUICK_BN_MOMENTUM)
        } else {
            spec
        }
    };

    // 1. Pretraining on the eight classes.
    let epochs = c
        .epochs
        .unwrap_or(if c.quick { 10 } else { PRETRAIN_EPOCHS });
    let steps = base.train.len().div_ceil(PRETRAIN_BATCH);
    let spec = momentum(zoo("cifar-cnn", Some(&[32, 32, 3]), Some(8)).map_err(|e| anyhow!(e))?);
    let pre = Recipe {
        label: "pretrained on 8 classes".into(),
        spec,
        optimizer: Optimizer::adam(1e-3).with_schedule(Schedule::CosineDecay {
            decay_steps: (epochs * steps) as u64,
            alpha: 0.0,
        }),
        schedule: "cosine decay to 0".into(),
        epochs,
        batch_size: PRETRAIN_BATCH,
        augment: None,
        augment_text: None,
        mirror_tta: false,
        translate_tta: false,
        loss: cnn_nn::Loss::SparseCategoricalCrossentropy,
    };
    let sources = array_sources(&pre, &base, c.seed)?;
    let (pre_run, pretrained) = train_with(
        &pre,
        sources,
        &base.test,
        &base.class_names,
        &base.source,
        c,
        &dir,
    )?;
    let (flatten, group2) = freeze_points(&pretrained)?;

    // 2. The new task, three ways, several seeds.
    let epochs = c.epochs.unwrap_or(if c.quick { 5 } else { TARGET_EPOCHS });
    let steps = (target.train.len().div_ceil(BATCH) * epochs) as u64;
    let adam = |lr: f32| {
        Optimizer::adam(lr).with_schedule(Schedule::CosineDecay {
            decay_steps: steps,
            alpha: 0.0,
        })
    };
    let small = |spec| with_bn_momentum(spec, SMALL_DATA_BN_MOMENTUM);
    let recipe = |label: &str, spec, lr: f32| Recipe {
        label: label.into(),
        spec,
        optimizer: adam(lr),
        schedule: "cosine decay to 0".into(),
        epochs,
        batch_size: BATCH,
        augment: None,
        augment_text: None,
        mirror_tta: false,
        translate_tta: false,
        loss: cnn_nn::Loss::SparseCategoricalCrossentropy,
    };
    let scratch_spec =
        small(zoo("cifar-cnn", Some(&[32, 32, 3]), Some(2)).map_err(|e| anyhow!(e))?);
    let seeds = if c.quick { 1 } else { SEEDS };
    let mut methods: Vec<Method> = Vec::new();
    // The feature-extraction models, per seed: fine-tuning starts from them (the new head
    // trained first, as Chollet does).
    let mut extracted: Vec<Model> = Vec::new();
    for (label, lr) in [
        ("from scratch", 1e-3),
        ("feature extraction", 1e-3),
        ("fine-tuning", 1e-4),
    ] {
        let mut m: Option<Method> = None;
        for k in 0..seeds {
            let seed = c.seed + k;
            let cs = Common { seed, ..c.clone() };
            let model = match label {
                "from scratch" => Model::new(&scratch_spec, seed).map_err(|e| anyhow!(e))?,
                "feature extraction" => {
                    cnn_nn::transfer(pretrained.clone(), true, Some(&flatten), 2, seed)
                        .map_err(|e| anyhow!(e))?
                }
                _ => cnn_nn::transfer(extracted[k as usize].clone(), false, Some(&group2), 2, seed)
                    .map_err(|e| anyhow!(e))?,
            };
            let run_label = if k == 0 {
                label.to_string()
            } else {
                format!("{label} seed {seed}")
            };
            let r = recipe(&run_label, small(model.architecture().to_spec()), lr);
            // `small` changes only the batch norms' momentum, not the weights.
            let model = with_momentum_of(model, &r.spec)?;
            let sources = array_sources(&r, &target, seed)?;
            let (run, trained) = train_from(
                model,
                &r,
                sources,
                &target.test,
                &target.class_names,
                &target.source,
                &cs,
                &dir,
            )?;
            if label == "feature extraction" {
                extracted.push(trained);
            }
            match &mut m {
                None => {
                    m = Some(Method {
                        label,
                        test: vec![run.test_accuracy],
                        val: vec![run.val_accuracy],
                        first: run,
                    })
                }
                Some(m) => {
                    m.test.push(run.test_accuracy);
                    m.val.push(run.val_accuracy);
                }
            }
        }
        methods.extend(m);
    }
    let answers = answers(&pre_run, &methods, seeds, (&flatten, &group2), c.quick);
    let runs = methods.iter().map(|m| m.first.clone()).collect();
    let report = Report::new(
        "Exercise: transfer learning — ship and truck from 100 images each, with a network \
         pretrained on the other eight CIFAR-10 classes",
        "transfer",
        c,
        target.source.clone(),
        names(target_classes()),
        runs,
        answers,
    );
    let mut report = report;
    if let Some(p) = images {
        report
            .command
            .push_str(&format!(" --images {}", super::shown(p)));
    }
    report.write(&dir)?;
    Ok((report, dir))
}

/// `model`'s weights under `spec`'s configuration (the same layers; only settings that do not
/// change the weights, such as batch-norm momentum, may differ).
fn with_momentum_of(model: Model, spec: &cnn_nn::ModelSpec) -> Result<Model> {
    let mut out = Model::new(spec, 0).map_err(|e| anyhow!(e))?;
    out.copy_weights_from(&model);
    Ok(out)
}

fn pct(v: f32) -> String {
    format!("{:.1}%", v * 100.0)
}

/// What a method trains, in words.
fn describe(label: &str, (flatten, group2): (&str, &str)) -> String {
    match label {
        "from scratch" => "random initial weights, every layer trained at lr 1e-3".into(),
        "feature extraction" => format!(
            "the pretrained network under a new 2-class head, frozen up to `{flatten}` (the \
             convolutional base, its batch norms in inference mode): the dense classifier \
             trained at lr 1e-3"
        ),
        _ => format!(
            "the feature-extraction model (its head trained first), frozen only up to \
             `{group2}`: the third convolution group and the classifier trained at lr 1e-4"
        ),
    }
}

fn answers(
    pre: &RunReport,
    methods: &[Method],
    seeds: u64,
    freeze: (&str, &str),
    quick: bool,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    out.push((
        "The pretrained network".to_string(),
        format!(
            "`cifar-cnn` trained on the eight other classes ({} images, {} epochs, {}, cosine \
             decay, no augmentation): {} test accuracy on those eight classes, trained in {:.0} \
             s (`{}`).\n\n![pretraining curves]({})\n\n![pretraining confusion matrix]({})",
            cnn_nn::commas(pre.train_samples as u64),
            pre.epochs,
            pre.optimizer,
            pct(pre.test_accuracy),
            pre.train_seconds,
            pre.files.model,
            pre.files.curves,
            pre.files.confusion
        ),
    ));
    let mut table = format!(
        "| method | what trains | test accuracy, mean of {seeds} seed{} | min – max | validation accuracy, mean |\n|---|---|---:|---:|---:|\n",
        if seeds == 1 { "" } else { "s" }
    );
    for m in methods {
        let (lo, hi) = spread(&m.test);
        table.push_str(&format!(
            "| {} | {} | **{}** | {} – {} | {} |\n",
            m.label,
            describe(m.label, freeze),
            pct(mean(&m.test)),
            pct(lo),
            pct(hi),
            pct(mean(&m.val))
        ));
    }
    let find = |l: &str| methods.iter().find(|m| m.label == l);
    if let (Some(s), Some(fe), Some(ft)) = (
        find("from scratch"),
        find("feature extraction"),
        find("fine-tuning"),
    ) {
        let t1 = McNemar::of(&fe.first.test_correct, &s.first.test_correct);
        let t2 = McNemar::of(&ft.first.test_correct, &fe.first.test_correct);
        table.push_str(&format!(
            "\nWith 200 training images, feature extraction scored {:+.1} points over training \
             from scratch ({} on the first seed: {}), and fine-tuning {:+.1} points over feature \
             extraction ({}: {}). The pretrained base learnt edges, textures and shapes from \
             {} images of other classes; a network trained from scratch must find them in \
             200.{}",
            (mean(&fe.test) - mean(&s.test)) * 100.0,
            if t1.significant() {
                "a real difference"
            } else {
                "not a measurable difference"
            },
            t1.describe("feature extraction", "from scratch"),
            (mean(&ft.test) - mean(&fe.test)) * 100.0,
            if t2.significant() {
                "a real difference"
            } else {
                "not a measurable difference"
            },
            t2.describe("fine-tuning", "feature extraction"),
            cnn_nn::commas(pre.train_samples as u64),
            if quick {
                " (Quick run: not meaningful.)"
            } else {
                ""
            }
        ));
    }
    out.push(("What did transfer buy?".to_string(), table));
    out.push((
        "How the recipes were chosen".to_string(),
        format!(
            "Before the run, from Chollet's recipe (§5.3: train the new head on a frozen base \
             first, then unfreeze the top block at a low learning rate), not tuned: 40 epochs, \
             Adam 1e-3 with cosine decay for the head, a tenth of that for fine-tuning, the \
             freeze points at the classifier and at the third convolution group. The validation \
             images (100 per class, never trained on) are reported beside the test figures but \
             chose nothing; the test images gave only the figures above. Batch norm keeps moving \
             statistics with momentum 0.9 in the models trained on 200 images (at Keras's 0.99 \
             they would still be near their initial values after {} steps); frozen batch norms \
             run in inference mode with the pretrained statistics (Keras 3's semantics).",
            methods
                .first()
                .map(|m| m.first.epochs * m.first.train_samples.div_ceil(BATCH))
                .unwrap_or(0)
        ),
    ));
    out
}
