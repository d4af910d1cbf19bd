//! The Fashion-MNIST exercise: "can you beat your dense network?" — the dense baseline
//! (`dense-mnist`) and a convnet of the lecture's structure, trained on the same data and
//! compared.

use std::path::PathBuf;

use anyhow::{Result, anyhow};
use cnn_augment::{AugmentConfig, ImageDataGenerator};
use cnn_datasets::{Dataset, LoadOptions, fashion_mnist, fashion_mnist_sample};
use cnn_nn::{Optimizer, Schedule, zoo};

use super::Common;
use super::data::{Splits, quick_slice};
use super::report::Report;
use super::run::{Recipe, RunReport, train};

/// Training samples and test samples of a `--quick` run (from the bundled sample).
const QUICK: (usize, usize) = (2000, 500);
/// The convnet's recipe: as many epochs as fit in about 9 minutes of training on the 2-core
/// reference machine (19 since the Winograd convolutions; 17 before).
pub const CONVNET_EPOCHS: usize = 19;
/// The dense baseline's epochs.
pub const DENSE_EPOCHS: usize = 15;
const BATCH: usize = 128;
/// The convnet's label smoothing: chosen on the validation split (seed 42, 19 epochs: 93.78 %
/// against 93.70 % without; 2-pixel translations on top of the flips lowered it to 93.25 %).
pub const LABEL_SMOOTHING: f32 = 0.1;

/// Loads the full Fashion-MNIST when it is cached, installed or downloadable, else the bundled
/// sample; `--quick` always takes a small slice of the sample.
pub fn load(c: &Common) -> Result<(Dataset, String)> {
    if c.quick {
        let d = quick_slice(
            fashion_mnist_sample().map_err(|e| anyhow!(e))?,
            QUICK.0,
            QUICK.1,
        )?;
        let src = format!(
            "the bundled Fashion-MNIST sample (quick: {} training / {} test images)",
            d.train.len(),
            QUICK.1
        );
        return Ok((d, src));
    }
    let opts = LoadOptions {
        data_dir: c.data_dir.clone(),
        offline: c.offline,
        progress: !c.quiet,
        ..Default::default()
    };
    match fashion_mnist(&opts) {
        Ok((d, reports)) => {
            for r in reports {
                eprintln!("{r}");
            }
            let src = format!(
                "Fashion-MNIST ({} training / {} test images)",
                d.train.len(),
                d.test.as_ref().map_or(0, |t| t.len())
            );
            Ok((d, src))
        }
        Err(e) => {
            eprintln!(
                "Fashion-MNIST is not available ({e});\nusing the bundled sample instead \
                 (run `cargo xtask fetch-data fashion-mnist` for the full set)"
            );
            let d = fashion_mnist_sample().map_err(|e| anyhow!(e))?;
            let src = format!(
                "the bundled Fashion-MNIST sample ({} training / {} test images; the full set was not available)",
                d.train.len(),
                d.test.as_ref().map_or(0, |t| t.len())
            );
            Ok((d, src))
        }
    }
}

/// The two recipes: the dense baseline and the convnet.
pub fn recipes(
    c: &Common,
    input: &[usize],
    classes: usize,
    steps_per_epoch: usize,
) -> Result<Vec<Recipe>> {
    let dense_epochs = c.epochs_or(DENSE_EPOCHS);
    let conv_epochs = c.epochs_or(CONVNET_EPOCHS);
    let decay_steps = (conv_epochs * steps_per_epoch) as u64;
    Ok(vec![
        Recipe {
            label: "dense".into(),
            spec: zoo("dense-mnist", Some(input), Some(classes)).map_err(|e| anyhow!(e))?,
            optimizer: Optimizer::adam(1e-3),
            schedule: "constant".into(),
            epochs: dense_epochs,
            batch_size: BATCH,
            augment: None,
            augment_text: None,
            mirror_tta: false,
            translate_tta: false,
            loss: cnn_nn::Loss::SparseCategoricalCrossentropy,
        },
        Recipe {
            label: "convnet".into(),
            spec: zoo("fashion-cnn", Some(input), Some(classes)).map_err(|e| anyhow!(e))?,
            optimizer: Optimizer::adam(1e-3).with_schedule(Schedule::CosineDecay {
                decay_steps,
                alpha: 0.0,
            }),
            schedule: "cosine decay to 0".into(),
            epochs: conv_epochs,
            batch_size: BATCH,
            augment: Some(ImageDataGenerator::new(AugmentConfig {
                horizontal_flip: true,
                ..Default::default()
            })),
            augment_text: Some("random horizontal flips".into()),
            mirror_tta: false,
            translate_tta: false,
            loss: cnn_nn::Loss::SmoothedCrossentropy {
                label_smoothing: LABEL_SMOOTHING,
            },
        },
    ])
}

fn answers(
    runs: &[RunReport],
    names: &[String],
    pixels: usize,
    quick: bool,
) -> Vec<(String, String)> {
    let (dense, conv) = (&runs[0], &runs[1]);
    let gain = (conv.test_accuracy - dense.test_accuracy) * 100.0;
    let err_cut = 1.0 - (1.0 - conv.test_accuracy) / (1.0 - dense.test_accuracy).max(1e-6);
    let verdict = if gain > 0.0 {
        format!(
            "**Yes.** The convnet reaches {:.2}% test accuracy against the dense network's {:.2}%: \
             {gain:.2} points more, {:.0}% fewer test errors ({} vs {} of {}).",
            conv.test_accuracy * 100.0,
            dense.test_accuracy * 100.0,
            err_cut * 100.0,
            errors(conv),
            errors(dense),
            conv.confusion.counts.iter().flatten().sum::<u64>()
        )
    } else {
        format!(
            "**Not in this run.** The convnet reaches {:.2}% against the dense network's {:.2}%.",
            conv.test_accuracy * 100.0,
            dense.test_accuracy * 100.0
        )
    };
    let why = format!(
        "The dense network sees each image as {} unrelated numbers; the convnet's 3x3 filters \
         look at neighbourhoods and reuse the same weights everywhere, so an edge or a texture \
         learned in one place is recognised in every place, and pooling makes it tolerant to \
         small shifts. It has {} parameters against {} and costs more computation per image \
         ({:.0} vs {:.0} training samples/s here).",
        pixels,
        cnn_nn::commas(conv.params),
        cnn_nn::commas(dense.params),
        conv.samples_per_second,
        dense.samples_per_second,
    );
    let mut out = vec![(
        "Can you beat your dense network?".to_string(),
        format!("{verdict}\n\n{why}"),
    )];
    let goal = if quick {
        "Not measured in a quick run.".to_string()
    } else {
        let minutes = conv.train_seconds / 60.0;
        format!(
            "Goal: ≥ 93% test accuracy within 10 minutes of training. This run: {:.2}% in {:.1} \
             minutes — **{}**. Recipe: {} epochs, batch {}, {}, {}, label smoothing {}, {}.",
            conv.test_accuracy * 100.0,
            minutes,
            if conv.test_accuracy >= 0.93 && minutes <= 10.0 {
                "met"
            } else {
                "not met"
            },
            conv.epochs,
            conv.batch_size,
            conv.optimizer,
            conv.schedule,
            LABEL_SMOOTHING,
            conv.augmentation.as_deref().unwrap_or("no augmentation")
        )
    };
    out.push(("Did the convnet reach the goal?".to_string(), goal));
    out.push((
        "Which classes are hardest?".to_string(),
        hardest(conv, names),
    ));
    out
}

fn errors(r: &RunReport) -> u64 {
    let c = &r.confusion.counts;
    c.iter().flatten().sum::<u64>() - (0..c.len()).map(|i| c[i][i]).sum::<u64>()
}

/// The three weakest classes and the three most frequent confusions, in words.
fn hardest(r: &RunReport, names: &[String]) -> String {
    let name = |i: usize| names.get(i).cloned().unwrap_or_else(|| i.to_string());
    let mut classes: Vec<usize> = (0..r.per_class_accuracy.len()).collect();
    classes.sort_by(|&a, &b| r.per_class_accuracy[a].total_cmp(&r.per_class_accuracy[b]));
    let weakest: Vec<String> = classes
        .iter()
        .take(3)
        .map(|&i| format!("{} ({:.1}%)", name(i), r.per_class_accuracy[i] * 100.0))
        .collect();
    let mut pairs: Vec<(u64, usize, usize)> = Vec::new();
    for (t, row) in r.confusion.counts.iter().enumerate() {
        for (p, &n) in row.iter().enumerate() {
            if t != p && n > 0 {
                pairs.push((n, t, p));
            }
        }
    }
    pairs.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let confusions: Vec<String> = pairs
        .iter()
        .take(3)
        .map(|&(n, t, p)| format!("{} taken for {} ({n} times)", name(t), name(p)))
        .collect();
    format!(
        "For the convnet the weakest classes are {}. The most frequent mistakes: {}.",
        weakest.join(", "),
        confusions.join("; ")
    )
}

/// Runs the exercise; returns the report (also written to the output directory).
pub fn run(c: &Common) -> Result<(Report, PathBuf)> {
    c.init_threads();
    let dir = c.out_dir("fashion-mnist")?;
    let (ds, source) = load(c)?;
    let test = ds
        .test
        .as_ref()
        .ok_or_else(|| anyhow!("the dataset has no test split"))?;
    let data = Splits::new(&ds.train, test, 0.1, ds.class_names.clone(), source)?;
    eprintln!(
        "data: {}; {} for training, the last {} held out for validation",
        data.source,
        data.train.len(),
        data.val.len()
    );
    let steps = data.train.len().div_ceil(BATCH);
    let recipes = recipes(c, &data.input_shape(), data.class_names.len(), steps)?;
    let mut runs = Vec::new();
    for r in &recipes {
        runs.push(train(r, &data, c, &dir)?.0);
    }
    let answers = answers(
        &runs,
        &data.class_names,
        data.input_shape().iter().product(),
        c.quick,
    );
    let report = Report::new(
        "Exercise: Fashion-MNIST — can you beat your dense network?",
        "fashion-mnist",
        c,
        data.source.clone(),
        data.class_names.clone(),
        runs,
        answers,
    );
    report.write(&dir)?;
    Ok((report, dir))
}
