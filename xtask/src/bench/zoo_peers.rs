//! `cargo xtask bench --zoo --peers`: every zoo model also in PyTorch eager (built from this
//! engine's own spec by `scripts/bench/zoo_peer.py`, layer for layer) and in ONNX Runtime
//! (running this engine's `.onnx` export of the same model), each in a process of its own, run
//! right after this engine's measurement of the model.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, anyhow, bail};
use cnn_nn::{Model, zoo};
use serde::{Deserialize, Serialize};

use super::zoo::{Entry, json_result};

/// A peer framework's figures for one model.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct PeerRow {
    /// `torch` or `onnxruntime`.
    pub framework: String,
    /// Its version.
    pub version: String,
    /// Training samples/s at the model's batch (PyTorch only).
    #[serde(default)]
    pub train_per_second: Option<f64>,
    /// Inference samples/s at batch 64.
    pub inference_per_second: f64,
    /// Median milliseconds of a batch-1 prediction.
    pub latency_ms: f64,
    /// Peak resident memory of the process while training, MiB (PyTorch only).
    #[serde(default)]
    pub peak_rss_mib: Option<f64>,
    /// Peak resident memory while predicting, MiB.
    #[serde(default)]
    pub inference_rss_mib: Option<f64>,
    /// Parameters counted as Keras does, moving statistics included (PyTorch only): checked
    /// against this engine's count, so the peer is the same architecture.
    #[serde(default)]
    pub params: Option<u64>,
}

/// Where the peers run: the Python (with torch and onnxruntime), the script, a scratch folder.
pub struct PeerSetup {
    /// The Python interpreter.
    pub python: PathBuf,
    /// `scripts/bench/zoo_peer.py`.
    pub script: PathBuf,
    /// Scratch folder for the specs and `.onnx` files (removed with it).
    pub dir: tempfile::TempDir,
    /// Threads for every framework.
    pub threads: usize,
    /// One timed step of each kind (a smoke test).
    pub quick: bool,
}

impl PeerSetup {
    /// The setup for `python` (default: `$CNN_PEER_PYTHON`, else `python3`), checking that it
    /// imports torch and onnxruntime.
    pub fn new(python: Option<&Path>, threads: usize, quick: bool) -> Result<Self> {
        let python = python
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("CNN_PEER_PYTHON").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("python3"));
        let ok = Command::new(&python)
            .args(["-c", "import torch, onnxruntime"])
            .output()
            .with_context(|| format!("starting {}", python.display()))?;
        if !ok.status.success() {
            bail!(
                "--zoo --peers needs a Python with torch and onnxruntime ({} says: {}); \
                 name one with --python or CNN_PEER_PYTHON",
                python.display(),
                String::from_utf8_lossy(&ok.stderr).trim()
            );
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/bench/zoo_peer.py");
        if !script.is_file() {
            bail!("{} is missing", script.display());
        }
        Ok(PeerSetup {
            python,
            script,
            dir: tempfile::tempdir().context("making a scratch folder for the peers")?,
            threads,
            quick,
        })
    }

    /// PyTorch's and ONNX Runtime's figures for `e`.
    pub fn measure(&self, e: &Entry) -> Result<(PeerRow, PeerRow)> {
        let classes = cnn_nn::default_classes(e.name);
        let spec = zoo(e.name, Some(&e.input), Some(classes)).map_err(|e| anyhow!(e))?;
        let spec_path = self.dir.path().join(format!("{}.json", e.name));
        std::fs::write(&spec_path, serde_json::to_vec(&spec)?)?;
        let model = Model::new(&spec, 1).map_err(|e| anyhow!(e))?;
        let ours = model.architecture().param_counts().0;
        let onnx_path = self.dir.path().join(format!("{}.onnx", e.name));
        cnn_onnx::export_onnx(&model, &cnn_onnx::ExportOptions::default(), &onnx_path)
            .map_err(|err| anyhow!("exporting {} to ONNX: {err}", e.name))?;
        drop(model);
        let torch = self.run("torch", e, classes, &spec_path, &onnx_path)?;
        if torch.params != Some(ours) {
            bail!(
                "{}: the PyTorch model has {:?} parameters, this engine's {ours}: not the same \
                 architecture (scripts/bench/zoo_peer.py)",
                e.name,
                torch.params
            );
        }
        let ort = self.run("onnxruntime", e, classes, &spec_path, &onnx_path)?;
        Ok((torch, ort))
    }

    fn run(
        &self,
        framework: &str,
        e: &Entry,
        classes: usize,
        spec: &Path,
        onnx: &Path,
    ) -> Result<PeerRow> {
        eprintln!("bench: zoo: {} in {framework}", e.name);
        let mut c = Command::new(&self.python);
        c.arg(&self.script)
            .args(["--framework", framework, "--spec"])
            .arg(spec)
            .arg("--onnx")
            .arg(onnx)
            .args([
                "--batch",
                &e.batch.to_string(),
                "--classes",
                &classes.to_string(),
                "--threads",
                &self.threads.to_string(),
            ]);
        if self.quick {
            c.arg("--quick");
        }
        let out = c
            .output()
            .with_context(|| format!("starting {}", self.python.display()))?;
        json_result(&out, &format!("{} in {framework}", e.name))
    }
}

/// `a / b`, or `None` when either is missing or `b` is not positive.
fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

/// One ratio cell: the ratio and whether it meets `goal` (`≥` when `at_least`, else `≤`).
fn cell(r: Option<f64>, goal: f64, at_least: bool) -> String {
    match r {
        Some(r) => {
            let met = if at_least { r >= goal } else { r <= goal };
            format!("{r:.2}x {}", if met { "✓" } else { "✗" })
        }
        None => "–".into(),
    }
}

/// The ratio table against the goals of issue 21, for the rows that have peers.
pub fn ratio_table(rows: &[super::zoo::ZooRow]) -> String {
    let mut s = String::from(
        "\n## Against PyTorch eager and ONNX Runtime\n\n\
         The same architecture in PyTorch (built from this engine's spec by \
         `scripts/bench/zoo_peer.py`, TensorFlow's `same` padding made explicit) and this \
         engine's `.onnx` export in ONNX Runtime, each model's three measurements run back to \
         back, same threads. Goals (issue 21): training ≥ 2x PyTorch; inference at batch 64 \
         ≥ 1x ONNX Runtime and ≥ 3x PyTorch; batch-1 latency ≤ ONNX Runtime's (a ratio ≤ 1); \
         training peak memory ≤ 0.5x PyTorch's. ✓ met, ✗ not.\n\n\
         | model | training samples/s: cnn / PyTorch | inference: cnn / ONNX Runtime | \
         inference: cnn / PyTorch | batch-1 latency: cnn / ONNX Runtime | training memory: \
         cnn / PyTorch | PyTorch train · infer samples/s | ONNX Runtime infer samples/s · latency |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        let (Some(t), Some(o)) = (&r.torch, &r.onnxruntime) else {
            continue;
        };
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {:.1} · {:.1} | {:.1} · {:.2} ms |\n",
            r.model,
            cell(
                ratio(Some(r.train_per_second), t.train_per_second),
                2.0,
                true
            ),
            cell(
                ratio(Some(r.inference_per_second), Some(o.inference_per_second)),
                1.0,
                true
            ),
            cell(
                ratio(Some(r.inference_per_second), Some(t.inference_per_second)),
                3.0,
                true
            ),
            cell(ratio(Some(r.latency_ms), Some(o.latency_ms)), 1.0, false),
            cell(ratio(Some(r.peak_rss_mib), t.peak_rss_mib), 0.5, false),
            t.train_per_second.unwrap_or(0.0),
            t.inference_per_second,
            o.inference_per_second,
            o.latency_ms,
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_say_whether_a_goal_is_met() {
        assert_eq!(cell(Some(2.5), 2.0, true), "2.50x ✓");
        assert_eq!(cell(Some(1.5), 2.0, true), "1.50x ✗");
        assert_eq!(cell(Some(0.4), 0.5, false), "0.40x ✓");
        assert_eq!(cell(ratio(Some(1.0), Some(0.0)), 1.0, true), "–");
        assert_eq!(cell(ratio(None, Some(1.0)), 1.0, true), "–");
    }
}
