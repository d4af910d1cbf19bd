//! `cnn plot`: training curves and confusion matrices from the files training and evaluation
//! write (history CSV, `cnn train --report`, `cnn evaluate --json`, exercise `report.json`).

use std::path::{Path, PathBuf};

use clap::Args;
use cnn_nn::{ConfusionMatrix, History};
use cnn_viz::{confusion_chart, history_chart};
use serde_json::Value;

use crate::error::{CliResult, UserError, bad_input};

/// Plot training and validation loss and accuracy per epoch (like Chollet's plots), and confusion
/// matrices as labelled heat maps.
///
/// Reads a history CSV (`cnn train` checkpoints' CSV or Keras's CSVLogger), a `cnn train
/// --report` JSON, a `cnn evaluate --json` output, or an exercise's `report.json` (one chart per
/// model, named `<out>-<label>.png`).
#[derive(Args, Debug)]
pub struct PlotArgs {
    /// The history or report file (.csv or .json).
    file: PathBuf,
    /// The PNG to write (curves; a confusion matrix when the file only has one).
    #[arg(long, short)]
    out: PathBuf,
    /// Also write the confusion matrix here, when the file has one.
    #[arg(long)]
    confusion: Option<PathBuf>,
    /// The chart's title (default: the file's name).
    #[arg(long)]
    title: Option<String>,
}

/// What one file holds.
struct Plottable {
    label: String,
    history: Option<History>,
    confusion: Option<ConfusionMatrix>,
}

fn history_from(v: &Value, file: &str) -> Result<Option<History>, UserError> {
    if v.get("loss").is_none() {
        return Ok(None);
    }
    serde_json::from_value::<History>(v.clone())
        .map(Some)
        .map_err(|e| bad_input("not a training history", file, e))
}

fn confusion_from(v: &Value, file: &str) -> Result<Option<ConfusionMatrix>, UserError> {
    let counts = match v {
        Value::Object(o) if o.contains_key("counts") => &o["counts"],
        Value::Array(_) => v,
        _ => return Ok(None),
    };
    let counts: Vec<Vec<u64>> = serde_json::from_value(counts.clone())
        .map_err(|e| bad_input("not a confusion matrix", file, e))?;
    Ok(Some(ConfusionMatrix { counts }))
}

fn read(path: &Path) -> CliResult<(Vec<Plottable>, Vec<String>)> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| bad_input("cannot read", &file, e))?;
    let is_csv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    if is_csv {
        let h = History::from_csv(&text).map_err(|e| bad_input("bad history CSV", &file, e))?;
        return Ok((
            vec![Plottable {
                label: String::new(),
                history: Some(h),
                confusion: None,
            }],
            Vec::new(),
        ));
    }
    let v: Value = serde_json::from_str(&text).map_err(|e| {
        bad_input("not JSON", &file, e).with_hint("give a .csv history or a .json report")
    })?;
    let mut names: Vec<String> = v
        .get("class_names")
        .and_then(|n| serde_json::from_value(n.clone()).ok())
        .unwrap_or_default();
    if names.is_empty()
        && let Some(pc) = v.get("per_class").and_then(Value::as_array)
    {
        names = pc
            .iter()
            .map(|c| {
                c.get("class")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            })
            .collect();
    }
    let mut out = Vec::new();
    if let Some(runs) = v.get("runs").and_then(Value::as_array) {
        for r in runs {
            out.push(Plottable {
                label: r
                    .get("label")
                    .and_then(Value::as_str)
                    .unwrap_or("run")
                    .to_string(),
                history: match r.get("history") {
                    Some(h) => history_from(h, &file)?,
                    None => None,
                },
                confusion: match r.get("confusion") {
                    Some(c) => confusion_from(c, &file)?,
                    None => None,
                },
            });
        }
    } else {
        let history = match v.get("history") {
            Some(h) => history_from(h, &file)?,
            None => history_from(&v, &file)?,
        };
        let confusion = match v.get("confusion_matrix").or_else(|| v.get("confusion")) {
            Some(c) => confusion_from(c, &file)?,
            None => None,
        };
        out.push(Plottable {
            label: String::new(),
            history,
            confusion,
        });
    }
    if out
        .iter()
        .all(|p| p.history.is_none() && p.confusion.is_none())
    {
        return Err(UserError::new(
            "nothing to plot",
            file,
            "no training history (loss per epoch) or confusion matrix found".into(),
        )
        .with_hint(
            "use a history CSV, `cnn train --report` JSON, `cnn evaluate --json` output or an \
             exercise's report.json",
        )
        .into());
    }
    Ok((out, names))
}

/// `base` with `-suffix` before its extension.
fn suffixed(base: &Path, suffix: &str) -> PathBuf {
    if suffix.is_empty() {
        return base.to_path_buf();
    }
    let stem = base.file_stem().unwrap_or_default().to_string_lossy();
    let ext = base
        .extension()
        .map(|e| e.to_string_lossy().to_string())
        .unwrap_or_else(|| "png".into());
    base.with_file_name(format!("{stem}-{suffix}.{ext}"))
}

/// Runs the command.
pub fn run(a: &PlotArgs) -> CliResult<String> {
    let (items, names) = read(&a.file)?;
    let title = a.title.clone().unwrap_or_else(|| {
        a.file
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string()
    });
    let many = items.len() > 1;
    let only_confusion = items.iter().all(|p| p.history.is_none());
    let mut out = String::new();
    for p in &items {
        let label = if many { p.label.as_str() } else { "" };
        let t = if label.is_empty() {
            title.clone()
        } else {
            format!("{title}: {label}")
        };
        if let Some(h) = &p.history {
            let img = history_chart(h, &t).map_err(|e| bad_input("cannot plot", &t, e))?;
            let path = suffixed(&a.out, label);
            crate::error::save_png_creating(&img, &path)?;
            out.push_str(&format!(
                "training curves ({} epochs) -> {}\n",
                h.epoch.len(),
                path.display()
            ));
        }
        if let Some(cm) = &p.confusion {
            let target = match (&a.confusion, only_confusion) {
                (Some(c), _) => Some(suffixed(c, label)),
                (None, true) => Some(suffixed(&a.out, label)),
                (None, false) => None,
            };
            if let Some(path) = target {
                let img =
                    confusion_chart(cm, &names, &t).map_err(|e| bad_input("cannot plot", &t, e))?;
                crate::error::save_png_creating(&img, &path)?;
                out.push_str(&format!(
                    "confusion matrix ({} classes, accuracy {:.4}) -> {}\n",
                    cm.counts.len(),
                    cm.accuracy(),
                    path.display()
                ));
            }
        }
    }
    Ok(out)
}
