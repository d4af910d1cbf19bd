//! The work behind `cargo xtask` (which runs the light `xtask` package in `xtask/gate` and
//! hands every command but `test` to this binary, built in release): `fetch-data` fetches and
//! verifies datasets; `exercise …` runs the lecture's exercises (see [`xtask::exercise`]);
//! `bench`; `make-digit-images`.
#![forbid(unsafe_code)]

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use xtask::exercise::Common;

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Workspace automation for the cnn project",
    after_help = "cargo xtask test: formatting, clippy with warnings as errors, then every test \
                  (the CI gate; runs without building this binary)."
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Fetch datasets into the data directory, verifying every file's checksum, and say where
    /// each file came from (cache, system copy, download).
    FetchData {
        /// all (the datasets), mnist, fashion-mnist, cifar10, cifar100; or the Keras
        /// applications' ImageNet weights, converted to a .cnn model next to them:
        /// vgg16-imagenet, vgg16-imagenet-notop, resnet50-imagenet, resnet50-imagenet-notop, or
        /// pretrained (those four); mobilenetv2-imagenet and mobilenetv2-imagenet-notop with
        /// --sha256.
        #[arg(default_value = "all")]
        dataset: String,
        /// The SHA-256 of the file, for weights Keras publishes no digest for (MobileNetV2's):
        /// a digest you trust (from a copy you verified); a download that does not match it is
        /// refused.
        #[arg(long, value_name = "HEX")]
        sha256: Option<String>,
        /// Where to keep the files (default: $CNN_DATA_DIR, else ~/.cache/cnn).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Base URL holding the upstream file names; missing files come from there (system
        /// copies are then not used). Default: $CNN_DATASET_MIRROR when set.
        #[arg(long)]
        mirror: Option<String>,
        /// Never touch the network: report what is present and what is missing.
        #[arg(long)]
        offline: bool,
    },
    /// Run one of the lecture's exercises end to end and write its report.
    Exercise {
        #[command(subcommand)]
        which: Exercise,
    },
    /// Render the bundled test digits (examples/digits): pen strokes with random slant, size and
    /// wobble on uneven, blurred, noisy "paper" — synthetic, not real handwriting.
    MakeDigitImages {
        /// Output folder (default: examples/digits).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Images per digit (cycling through four pens and two writing styles).
        #[arg(long, default_value_t = 12)]
        per_digit: usize,
        /// Seed.
        #[arg(long, default_value_t = 2026)]
        seed: u64,
    },
    /// Measure training and inference speed of mnist-cnn on Fashion-MNIST; with --peers, next
    /// to PyTorch and Keras run in the same command (ratio table in reports/bench/bench.md).
    Bench(xtask::bench::BenchArgs),
    /// Import full-size models made by Keras (VGG16, ResNet50, MobileNetV2 in the applications'
    /// published .h5 layout) and PyTorch (torchvision vgg16, alexnet, resnet50 as safetensors),
    /// all with random weights, and check cnn computes the frameworks' own logits (≤ 1e-4;
    /// table in reports/pretrained/equality.md). Needs Python with keras/tensorflow/h5py and
    /// torch/torchvision/safetensors; about 1.2 GB of temporary files.
    VerifyPretrained(xtask::verify_pretrained::VerifyArgs),
}

#[derive(Subcommand)]
enum Exercise {
    /// Fashion-MNIST: the dense baseline against a convnet ("can you beat your dense network?").
    FashionMnist {
        #[command(flatten)]
        common: Common,
    },
    /// CIFAR-10: an AlexNet-inspired convnet with and without augmentation.
    Cifar10 {
        #[command(flatten)]
        common: Common,
        /// A folder with train/<class>/ and test/<class>/ images (or a .tar.gz of one,
        /// extracted once into the data directory), read through flow_from_directory.
        /// Default: the binary batches in the data directory.
        #[arg(long)]
        images: Option<PathBuf>,
        /// Train on these classes only, e.g. airplane,cat,ship (default: all ten).
        #[arg(long)]
        classes: Option<String>,
        /// Train only these of the exercise's models: plain and augmented (airbench's network
        /// and recipe without and with flips and translations), residual (ResNet-20), cifar-cnn
        /// (the lecture-sized network, Adam, the earlier recipe) (default: plain,augmented).
        #[arg(long)]
        models: Option<String>,
    },
    /// Transfer learning: the CIFAR network pretrained on eight CIFAR-10 classes, then ship and
    /// truck learnt from 100 images each — from scratch, by feature extraction and by
    /// fine-tuning — three seeds each.
    Transfer {
        #[command(flatten)]
        common: Common,
        /// A folder with train/<class>/ and test/<class>/ images (or a .tar.gz of one).
        /// Default: the binary batches in the data directory.
        #[arg(long)]
        images: Option<PathBuf>,
    },
    /// Handwritten digits: mnist-cnn with and without augmentation, tested on real-world
    /// images (photos, scans, or the bundled set) prepared like MNIST.
    Digits {
        #[command(flatten)]
        common: Common,
        /// A folder of digit images (labels from labels.csv or each name's first digit).
        /// Default: the bundled examples/digits.
        #[arg(long)]
        images: Option<PathBuf>,
    },
}

fn print_report(report: &xtask::exercise::report::Report, dir: &std::path::Path) {
    println!("\n{}", report.table());
    for (q, a) in &report.answers {
        println!("{q}\n{a}\n");
    }
    println!("report: {}", dir.join("report.md").display());
}

fn fetch_data(
    dataset: &str,
    data_dir: Option<PathBuf>,
    mirror: Option<String>,
    offline: bool,
    sha256: Option<&str>,
) -> Result<()> {
    let names: Vec<&str> = match dataset {
        "all" => vec!["mnist", "fashion-mnist", "cifar10", "cifar100"],
        "pretrained" => xtask::pretrained::PRETRAINED
            .iter()
            .filter(|p| p.pinned)
            .map(|p| p.name)
            .collect(),
        d => vec![d],
    };
    if sha256.is_some()
        && !names
            .iter()
            .all(|n| xtask::pretrained::find(n).is_some_and(|p| !p.pinned))
    {
        bail!(
            "--sha256 is for weights Keras publishes no digest for (mobilenetv2-imagenet, \
             mobilenetv2-imagenet-notop); the others are checked against Keras's own pins"
        );
    }
    let opts = cnn_datasets::LoadOptions {
        data_dir,
        mirror,
        offline,
        progress: true,
        ..Default::default()
    };
    let mut failed = Vec::new();
    for name in names {
        println!("{name}:");
        if let Some(p) = xtask::pretrained::find(name) {
            let listed = cnn_datasets::catalog::entry(name).context("catalog entry")?;
            let entry = match (p.pinned, sha256) {
                (true, _) => *listed,
                (false, Some(hex)) => xtask::pretrained::with_sha256(listed, hex)?,
                (false, None) => {
                    println!(
                        "  error: Keras publishes no digest for {}, and cnn never accepts an \
                         unverified download: pass --sha256 with the SHA-256 of a copy you \
                         trust, or fetch the file yourself and `cnn import FILE --arch {} \
                         --preprocess tf --imagenet`",
                        listed.files[0].name, p.zoo
                    );
                    failed.push(name);
                    continue;
                }
            };
            let entry = &entry;
            match p
                .spec()
                .and_then(|spec| xtask::pretrained::fetch_and_convert(p, entry, &spec, &opts))
            {
                Ok((reports, _, said)) => {
                    for r in reports {
                        println!("  {r}");
                    }
                    println!("  {said}");
                }
                Err(e) => {
                    println!("  error: {e:#}");
                    failed.push(name);
                }
            }
            continue;
        }
        match cnn_datasets::fetch(name, &opts) {
            Ok(reports) => {
                for r in reports {
                    println!("  {r}");
                }
            }
            Err(e) => {
                println!("  error: {e}");
                failed.push(name);
            }
        }
    }
    if !failed.is_empty() {
        bail!("not fetched: {}", failed.join(", "));
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    // mimalloc, keeping what one batch frees for the next (see cnn-alloc).
    cnn_alloc::keep_freed_memory();
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    match Cli::parse().command {
        Cmd::FetchData {
            dataset,
            data_dir,
            mirror,
            offline,
            sha256,
        } => fetch_data(&dataset, data_dir, mirror, offline, sha256.as_deref())?,
        Cmd::Exercise { which } => match which {
            Exercise::FashionMnist { common } => {
                let (report, dir) = xtask::exercise::fashion::run(&common)?;
                print_report(&report, &dir);
            }
            Exercise::Cifar10 {
                common,
                images,
                classes,
                models,
            } => {
                let (report, dir) = xtask::exercise::cifar::run(
                    &common,
                    images.as_deref(),
                    classes.as_deref(),
                    models.as_deref(),
                )?;
                print_report(&report, &dir);
            }
            Exercise::Transfer { common, images } => {
                let (report, dir) = xtask::exercise::transfer::run(&common, images.as_deref())?;
                print_report(&report, &dir);
            }
            Exercise::Digits { common, images } => {
                let (report, dir) = xtask::exercise::digits::run(&common, images.as_deref())?;
                print_report(&report, &dir);
            }
        },
        Cmd::Bench(a) => {
            xtask::bench::run(&a)?;
        }
        Cmd::VerifyPretrained(a) => {
            xtask::verify_pretrained::run(&a)?;
        }
        Cmd::MakeDigitImages {
            out,
            per_digit,
            seed,
        } => {
            let out = out.unwrap_or_else(xtask::exercise::digits::default_images);
            let n = xtask::exercise::handwriting::make_images(&out, per_digit, seed)?;
            println!("wrote {n} images to {}", out.display());
        }
    }
    Ok(())
}
