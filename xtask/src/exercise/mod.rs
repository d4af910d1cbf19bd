//! `cargo xtask exercise fashion-mnist | cifar10 | digits`: the lecture's exercises end to end.
//! Each trains its models, evaluates them, and writes a report (`report.md`, `report.json`,
//! training curves and confusion matrices as PNG, the trained models) to `--out`.

pub mod cifar;
pub mod data;
pub mod digits;
pub mod fashion;
pub mod handwriting;
pub mod report;
pub mod run;

use std::path::PathBuf;

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
