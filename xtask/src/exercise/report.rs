//! An exercise's report: a Markdown page for people (tables, answers, pictures) and the same
//! facts as JSON for programs, written atomically into the output directory.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use super::run::RunReport;

/// Everything an exercise reports.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Page title.
    pub title: String,
    /// The command that produced it.
    pub command: String,
    /// Where the data came from.
    pub data: String,
    /// Rayon threads used.
    pub threads: usize,
    /// Seed.
    pub seed: u64,
    /// Whether this was a `--quick` run (small subsets: figures are not meaningful).
    pub quick: bool,
    /// Class names, in label order.
    pub class_names: Vec<String>,
    /// The training runs.
    pub runs: Vec<RunReport>,
    /// Questions and answers, in order (Markdown).
    pub answers: Vec<(String, String)>,
}

fn pct(v: f32) -> String {
    if v.is_nan() {
        "–".into()
    } else {
        format!("{:.2}%", v * 100.0)
    }
}

fn duration(s: f64) -> String {
    if s >= 60.0 {
        format!("{}m {:02}s", (s / 60.0) as u64, (s % 60.0) as u64)
    } else {
        format!("{s:.1}s")
    }
}

impl Report {
    /// A report of `runs` of `exercise` run with options `c`.
    pub fn new(
        title: impl Into<String>,
        exercise: &str,
        c: &super::Common,
        data: impl Into<String>,
        class_names: Vec<String>,
        runs: Vec<RunReport>,
        answers: Vec<(String, String)>,
    ) -> Report {
        Report {
            title: title.into(),
            command: c.command(exercise),
            data: data.into(),
            threads: rayon::current_num_threads(),
            seed: c.seed,
            quick: c.quick,
            class_names,
            runs,
            answers,
        }
    }

    /// The summary table (Markdown), also printed at the end of a run. A column for test
    /// accuracy with mirror test-time augmentation appears when a run measured it.
    pub fn table(&self) -> String {
        let mirrored = self.runs.iter().any(|r| r.test_accuracy_mirrored.is_some());
        let translated = self
            .runs
            .iter()
            .any(|r| r.test_accuracy_translated.is_some());
        let mut s = String::from(
            "| model | params | epochs | optimizer, schedule | wall time | samples/s | train acc. | val. acc. | test acc. |",
        );
        let mut rule = String::from("|---|---:|---:|---|---:|---:|---:|---:|---:|");
        for (on, head) in [
            (mirrored, " test acc., mirror TTA |"),
            (translated, " test acc., mirror + translate TTA |"),
        ] {
            if on {
                s.push_str(head);
                rule.push_str("---:|");
            }
        }
        s.push('\n');
        s.push_str(&rule);
        s.push('\n');
        for r in &self.runs {
            s.push_str(&format!(
                "| {} (`{}`) | {} | {} | {}, {} | {} | {:.0} | {} | {} | **{}** |",
                r.label,
                r.model,
                cnn_nn::commas(r.params),
                r.epochs,
                r.optimizer,
                r.schedule,
                duration(r.train_seconds),
                r.samples_per_second,
                pct(r.train_accuracy),
                pct(r.val_accuracy),
                pct(r.test_accuracy),
            ));
            if mirrored {
                let m = r
                    .test_accuracy_mirrored
                    .map(pct)
                    .unwrap_or_else(|| "—".into());
                s.push_str(&format!(" **{m}** |"));
            }
            if translated {
                let m = r
                    .test_accuracy_translated
                    .map(pct)
                    .unwrap_or_else(|| "—".into());
                s.push_str(&format!(" **{m}** |"));
            }
            s.push('\n');
        }
        s
    }

    /// Test accuracy per class, one column per run.
    pub fn per_class_table(&self) -> String {
        let mut s = String::from("| class |");
        let mut rule = String::from("|---|");
        for r in &self.runs {
            s.push_str(&format!(" {} |", r.label));
            rule.push_str("---:|");
        }
        s.push('\n');
        s.push_str(&rule);
        s.push('\n');
        for (i, name) in self.class_names.iter().enumerate() {
            s.push_str(&format!("| [{i}] {name} |"));
            for r in &self.runs {
                s.push_str(&format!(
                    " {} |",
                    pct(r.per_class_accuracy.get(i).copied().unwrap_or(f32::NAN))
                ));
            }
            s.push('\n');
        }
        s
    }

    /// The whole page.
    pub fn to_markdown(&self) -> String {
        let mut s = format!("# {}\n\n", self.title);
        if self.quick {
            s.push_str(
                "> **Quick run** (`--quick`): small subsets and few epochs, to check that everything works. \
                 The figures below say nothing about what the models can do.\n\n",
            );
        }
        s.push_str(&format!(
            "Command: `{}` — data: {} — seed {}, {} threads.\n\n",
            self.command, self.data, self.seed, self.threads
        ));
        s.push_str("## Results\n\n");
        s.push_str(&self.table());
        s.push_str(
            "\nWall time is training plus the per-epoch validation pass; samples/s is training \
             throughput; training accuracy is the last epoch's running mean over its batches (as \
             Keras reports it, dropout active), validation and test accuracy are measured after \
             training.",
        );
        if self.runs.iter().any(|r| r.test_accuracy_mirrored.is_some()) {
            s.push_str(
                " *Mirror TTA* (test-time augmentation) classifies each test image by the mean of \
                 the class probabilities for the image and for its left–right mirror \
                 (`Model::predict_mirrored`, `cnn evaluate --mirror-tta`); per-class accuracy and the \
                 confusion matrices below are from single views.",
            );
        }
        if self
            .runs
            .iter()
            .any(|r| r.test_accuracy_translated.is_some())
        {
            s.push_str(
                " *Mirror + translate TTA* averages six views (airbench's second level): the \
                 mirrored pair with weight ½, and the mirrored pairs of the image moved one pixel \
                 down-right and up-left (borders reflected) with ¼ each \
                 (`Model::predict_mirrored_translated`).",
            );
        }
        s.push_str("\n\n");
        for (q, a) in &self.answers {
            s.push_str(&format!("### {q}\n\n{a}\n\n"));
        }
        s.push_str("## Accuracy per class (test set)\n\n");
        s.push_str(&self.per_class_table());
        s.push_str("\n## Training curves\n\n");
        for r in &self.runs {
            s.push_str(&format!(
                "![{} training curves]({})\n\n",
                r.label, r.files.curves
            ));
        }
        s.push_str("## Confusion matrices (test set)\n\n");
        for r in &self.runs {
            s.push_str(&format!(
                "### {}\n\n![{} confusion matrix]({})\n\n```text\n{}```\n\n",
                r.label,
                r.label,
                r.files.confusion,
                r.confusion.to_text(&self.class_names)
            ));
        }
        s.push_str("## Files\n\n");
        for r in &self.runs {
            s.push_str(&format!(
                "- `{}`: the trained {} (load it with `cnn evaluate`, `cnn predict`)\n",
                r.files.model, r.label
            ));
        }
        s.push_str("- `report.json`: everything above, with per-epoch histories\n");
        s
    }

    /// Writes `report.md` and `report.json` into `dir`.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let md = dir.join("report.md");
        cnn_tensor::io::write_atomic(&md, self.to_markdown().as_bytes())
            .with_context(|| format!("writing {}", md.display()))?;
        let js = dir.join("report.json");
        cnn_tensor::io::write_atomic(&js, serde_json::to_string_pretty(self)?.as_bytes())
            .with_context(|| format!("writing {}", js.display()))?;
        Ok(())
    }
}
