//! `cargo xtask exercise fashion-mnist | cifar10 | digits | transfer`: the lecture's exercises end to end.
//! Each trains its models, evaluates them, and writes a report (`report.md`, `report.json`,
//! training curves and confusion matrices as PNG, the trained models) to `--out`.

pub mod cifar;
pub mod data;
pub mod digits;
pub mod fashion;
pub mod handwriting;
pub mod report;
pub mod run;
pub mod stats;
pub mod transfer;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Options every exercise takes.
#[derive(Clone, Debug, clap::Args)]
pub struct Common {
    /// Small subsets (of the bundled samples where they exist) and one epoch (CIFAR-10: ten,
    /// with faster batch-norm statistics): runs in seconds
    /// (what CI runs).
    #[arg(long)]
    pub quick: bool,
    /// Epochs for every model (default: the exercise's recipe).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Seed for weights, shuffling, dropout and augmentation.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Worker threads (default: one per core). Results are the same for any thread count.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Where the report, plots and models go (default: reports/<exercise>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Dataset directory (default: $CNN_DATA_DIR, else ~/.cache/cnn).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Never download: use what is cached or installed (else the bundled sample, where the
    /// exercise has one).
    #[arg(long)]
    pub offline: bool,
    /// No progress bars.
    #[arg(long, short)]
    pub quiet: bool,
    /// Write TensorBoard logs, one directory per model (`DIR/<model>/train`, `…/validation`:
    /// loss, accuracy, learning rate per epoch and every 10 batches, weight histograms, the
    /// confusion matrix and activations of validation images); `tensorboard --logdir DIR`.
    #[arg(long)]
    pub tensorboard: Option<PathBuf>,
}

impl Common {
    /// Default options (for tests and library use): the full recipe, seed 42.
    pub fn new(out: impl Into<PathBuf>) -> Self {
        Common {
            quick: false,
            epochs: None,
            seed: 42,
            threads: None,
            out: Some(out.into()),
            data_dir: None,
            offline: false,
            quiet: false,
            tensorboard: None,
        }
    }

    /// The output directory, created.
    pub fn out_dir(&self, exercise: &str) -> Result<PathBuf> {
        let dir = self
            .out
            .clone()
            .unwrap_or_else(|| PathBuf::from("reports").join(exercise));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(dir)
    }

    /// Sets the global rayon pool's size (once per process; later calls keep the first size).
    pub fn init_threads(&self) {
        if let Some(n) = self.threads {
            let _ = rayon::ThreadPoolBuilder::new()
                .num_threads(n.max(1))
                .build_global();
        }
    }

    /// The command line that reproduces this run, for reports.
    pub fn command(&self, exercise: &str) -> String {
        format!(
            "cargo xtask exercise {exercise}{}{}",
            if self.quick { " --quick" } else { "" },
            self.epochs
                .map(|e| format!(" --epochs {e}"))
                .unwrap_or_default()
        )
    }

    /// The epochs to train: `--epochs`, else 1 with `--quick`, else the recipe's.
    pub fn epochs_or(&self, recipe: usize) -> usize {
        self.epochs
            .unwrap_or(if self.quick { 1 } else { recipe })
            .max(1)
    }
}

/// How reports and picture titles name a path: relative to the repository or the working
/// directory when it lies inside one of them (`examples/digits`), else by its last component
/// (`cifar10-jpg`) — never a machine's absolute path or a temporary directory.
pub fn shown(path: &Path) -> String {
    if path.is_relative() && !path.starts_with("..") {
        return path.display().to_string();
    }
    let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let bases = [
        std::fs::canonicalize(repo).ok(),
        std::env::current_dir().ok(),
    ];
    for base in bases.into_iter().flatten() {
        if let Ok(rel) = abs.strip_prefix(&base)
            && !rel.as_os_str().is_empty()
        {
            return rel.display().to_string();
        }
    }
    abs.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}
