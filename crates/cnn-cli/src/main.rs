//! `cnn`: build, train, inspect and run convolutional networks on the CPU, with Keras semantics.
//!
//! Exit codes: 0 success, 2 bad input (files, flags, models that cannot be built), 1 failures
//! while doing the work, 130 interrupted by Ctrl-C (after saving a checkpoint).
#![forbid(unsafe_code)]

mod augment_cmd;
mod data_arg;
mod error;
mod evaluate_cmd;
mod export_cmd;
mod import_cmd;
mod matrix;
mod model_arg;
mod ops_cmd;
mod plot_cmd;
mod predict_cmd;
mod summary_cmd;
mod train_cmd;
mod visualize_cmd;

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::error::{CliError, CliResult};

#[derive(Parser)]
#[command(
    name = "cnn",
    version,
    about = "Convolutional neural networks on the CPU, with Keras semantics",
    long_about = "Convolutional neural networks on the CPU, with Keras semantics.\n\n\
                  Examples:\n  \
                  cnn summary vgg16\n  \
                  cnn train --model mnist-cnn --dataset fashion-mnist --epochs 1 --batch-size 128 --out fashion.cnn\n  \
                  cnn evaluate --model fashion.cnn --dataset fashion-mnist\n  \
                  cnn predict --model fashion.cnn shirt.png --invert\n  \
                  cnn visualize gradcam --model fashion.cnn --dataset fashion-mnist --per-class --out gradcam.png\n  \
                  cnn plot report.json --out curves.png --confusion confusion.png\n  \
                  cnn export fashion.cnn -o fashion.onnx\n  \
                  cnn export fashion.cnn -o fashion.keras\n  \
                  cnn import model.keras -o model.cnn\n  \
                  cnn augment cat.jpg --rotation 40 --width-shift 0.2 --height-shift 0.2 --zoom 0.2 --horizontal-flip --out grid.png\n  \
                  cnn ops conv2d --input examples/edge-8x8.txt --kernel examples/vertical-edge-3x3.txt --explain"
)]
struct Cli {
    /// Worker threads (default: all cores).
    #[arg(long, global = true)]
    threads: Option<usize>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print a model's layers and parameter counts like Keras's model.summary().
    Summary(summary_cmd::SummaryArgs),
    /// Train a model on a dataset.
    Train(train_cmd::TrainArgs),
    /// Evaluate a saved model: accuracy, per-class accuracy, confusion matrix.
    Evaluate(evaluate_cmd::EvaluateArgs),
    /// Classify image files with a saved model.
    Predict(predict_cmd::PredictArgs),
    /// Preview ImageDataGenerator augmentations of an image as a grid.
    Augment(augment_cmd::AugmentArgs),
    /// Plot training curves and confusion matrices from history CSVs and JSON reports.
    Plot(plot_cmd::PlotArgs),
    /// Export a model for another framework (ONNX, Keras 3).
    Export(export_cmd::ExportArgs),
    /// Import a model from another framework (Keras .keras/.h5, torchvision .safetensors).
    Import(import_cmd::ImportArgs),
    /// Look inside a trained model: activation grids, filter patterns, Grad-CAM heatmaps.
    #[command(subcommand)]
    Visualize(visualize_cmd::VisualizeCmd),
    /// Worked examples: convolution and pooling of plain-text matrices.
    #[command(subcommand)]
    Ops(ops_cmd::OpsCmd),
}

fn run(cli: &Cli, mpi: Option<&mut cnn_mpi::Mpi>) -> CliResult<String> {
    match &cli.command {
        Command::Summary(a) => summary_cmd::run(a),
        Command::Train(a) => train_cmd::run(a, mpi),
        Command::Evaluate(a) => evaluate_cmd::run(a),
        Command::Predict(a) => predict_cmd::run(a),
        Command::Augment(a) => augment_cmd::run(a),
        Command::Plot(a) => plot_cmd::run(a),
        Command::Export(a) => export_cmd::run(a),
        Command::Import(a) => import_cmd::run(a),
        Command::Visualize(cmd) => visualize_cmd::run(cmd),
        Command::Ops(cmd) => ops_cmd::run(cmd).map_err(CliError::from),
    }
}

fn main() -> ExitCode {
    // mimalloc, keeping what one batch frees for the next (see cnn-alloc).
    cnn_alloc::keep_freed_memory();
    let cli = Cli::parse();
    // `mpirun -np N cnn train …`: join the MPI job (data-parallel training).
    let mut mpi = None;
    if matches!(cli.command, Command::Train(_)) {
        match cnn_mpi::Mpi::init() {
            Ok(m) => mpi = m,
            Err(e) => {
                eprintln!("error: cannot join the MPI job (cnn train): {e}");
                return ExitCode::from(2);
            }
        }
    }
    // Ranks sharing a machine share its cores.
    let threads = cli.threads.or_else(|| {
        let local = cnn_mpi::launched()?.local_size.filter(|&l| l > 1)?;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Some((cores / local).max(1))
    });
    if let Some(n) = threads
        && (n == 0
            || rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build_global()
                .is_err())
    {
        eprintln!("error: bad option (--threads): {n} is not a usable thread count");
        return ExitCode::from(2);
    }
    let result = run(&cli, mpi.as_mut());
    if let (Some(m), Err(e)) = (&mpi, &result)
        && cnn_nn::Collective::size(m) > 1
    {
        // One rank's error ends the job: the others would wait for it forever.
        let code = match e {
            CliError::User(_) => 2,
            CliError::Interrupted(_) => 130,
            CliError::Failure(_) => 1,
        };
        report(e, Some(cnn_nn::Collective::rank(m)));
        m.abort(code);
    }
    match result {
        Ok(text) => {
            // A closed pipe (`cnn ... | head`) is not an error worth reporting.
            let _ = std::io::stdout().write_all(text.as_bytes());
            ExitCode::SUCCESS
        }
        Err(e) => {
            report(&e, None);
            ExitCode::from(match e {
                CliError::User(_) => 2,
                CliError::Interrupted(_) => 130,
                CliError::Failure(_) => 1,
            })
        }
    }
}

/// Prints an error (naming the MPI rank, when there is one).
fn report(e: &CliError, rank: Option<usize>) {
    let who = rank.map_or(String::new(), |r| format!(" (rank {r})"));
    match e {
        CliError::User(e) => {
            eprintln!("error{who}: {e}");
            if let Some(h) = e.hint() {
                eprintln!("hint: {h}");
            }
        }
        CliError::Interrupted(msg) => eprintln!("{msg}"),
        CliError::Failure(e) => eprintln!("error{who}: {e:#}"),
    }
}
