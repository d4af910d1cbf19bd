//! The peer frameworks: `../shared/peers/peer_convnet.py` run with PyTorch and Keras in the same
//! bench run, their peak memory watched from `/proc`, and the peers' initial weights and batch
//! order exported so that this engine can start from the same point.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use serde::Serialize;
use serde_json::Value;

use super::ours::rss_of;

/// One peer's figures, read from the last line of its output.
#[derive(Clone, Debug, Serialize)]
pub struct PeerResult {
    /// `torch` or `keras`.
    pub framework: String,
    /// Versions it reported.
    pub versions: Value,
    /// Training samples per second (one epoch).
    pub train_per_second: f64,
    /// Inference samples per second at batch 1000.
    pub inference_per_second: f64,
    /// Test accuracy after the epoch.
    pub test_accuracy: f64,
    /// Peak resident memory of the peer's process, MiB.
    pub peak_rss_mib: Option<f64>,
}

/// Where the peer scripts are: `--peers-dir`, else `../shared/peers` beside the workspace.
pub fn peers_dir(given: Option<&Path>) -> PathBuf {
    given.map(Path::to_path_buf).unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/peers")
            .canonicalize()
            .unwrap_or_else(|_| PathBuf::from("../shared/peers"))
    })
}

/// Runs `peer_convnet.py --framework fw` for one epoch and watches its memory.
pub fn run_peer(
    python: &Path,
    dir: &Path,
    fw: &str,
    data: &Path,
    threads: usize,
    seed: u64,
) -> Result<PeerResult> {
    let script = dir.join("peer_convnet.py");
    eprintln!(
        "bench: {} {} --framework {fw} ...",
        python.display(),
        script.display()
    );
    let mut child = Command::new(python)
        .arg(&script)
        .args(["--framework", fw, "--epochs", "1", "--threads"])
        .arg(threads.to_string())
        .arg("--seed")
        .arg(seed.to_string())
        .arg("--data")
        .arg(data)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("starting {}", python.display()))?;
    let pid = child.id().to_string();
    let mut peak: Option<f64> = None;
    let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
    let reader = std::thread::spawn(move || std::io::read_to_string(stdout));
    while child.try_wait()?.is_none() {
        if let Some(r) = rss_of(&pid) {
            peak = Some(peak.map_or(r, |p: f64| p.max(r)));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = child.wait()?;
    let out = reader
        .join()
        .map_err(|_| anyhow!("reader panicked"))?
        .context("reading the peer's output")?;
    if !status.success() {
        bail!("{fw} peer failed ({status}); output:\n{out}");
    }
    let last = out.lines().last().unwrap_or_default();
    let v: Value = serde_json::from_str(last)
        .with_context(|| format!("the {fw} peer's last line is not JSON: {last}"))?;
    let epoch = &v["epochs"][0];
    let num = |x: &Value| {
        x.as_f64()
            .ok_or_else(|| anyhow!("missing figure in {fw}'s JSON"))
    };
    Ok(PeerResult {
        framework: fw.into(),
        versions: v["versions"].clone(),
        train_per_second: num(&v["mean_train_samples_per_s"])?,
        inference_per_second: num(&epoch["infer_samples_per_s"])?,
        test_accuracy: num(&v["final_test_acc"])?,
        peak_rss_mib: peak,
    })
}

/// The peers' initial weights (Keras layout, by their names) and first-epoch batch order,
/// exported with the peer script's own functions (`make_init_weights(seed)` and
/// `default_rng(seed + 1).permutation(n)`).
pub struct Shared {
    /// `(name, values)` in the peer's order: conv1_k, conv1_b, conv2_k, ..., dense2_b.
    pub weights: Vec<(String, Vec<f32>)>,
    /// The first epoch's sample order.
    pub order: Vec<usize>,
}

/// Exports [`Shared`] through `python` into `tmp`.
pub fn export_shared(python: &Path, dir: &Path, seed: u64, n: usize, tmp: &Path) -> Result<Shared> {
    // Paths and numbers go in as arguments, never pasted into the code.
    let code = "import sys, numpy as np\n\
                dir, tmp, seed, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])\n\
                sys.path.insert(0, dir)\n\
                import peer_convnet as pc\n\
                w = pc.make_init_weights(seed)\n\
                for k in pc.KERAS_ORDER: w[k].astype('<f4').tofile(tmp + '/' + k + '.f32')\n\
                np.random.default_rng(seed + 1).permutation(n).astype('<u4').tofile(tmp + '/order.u32')\n\
                print(' '.join(pc.KERAS_ORDER))\n";
    let out = Command::new(python)
        .arg("-c")
        .arg(code)
        .arg(dir)
        .arg(tmp)
        .arg(seed.to_string())
        .arg(n.to_string())
        .output()
        .with_context(|| format!("starting {}", python.display()))?;
    if !out.status.success() {
        bail!(
            "exporting the peers' initial weights failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let names = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let mut weights = Vec::new();
    for name in names.split_whitespace() {
        let bytes = std::fs::read(tmp.join(format!("{name}.f32")))?;
        let v = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        weights.push((name.to_string(), v));
    }
    let bytes = std::fs::read(tmp.join("order.u32"))?;
    let order = bytes
        .chunks_exact(4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .collect();
    Ok(Shared { weights, order })
}

/// Our `mnist-cnn` weight names for the peer's names (same layouts: HWIO kernels, `[in, out]`
/// dense kernels with rows in (h, w, c) order).
pub fn our_name(peer: &str) -> Option<&'static str> {
    Some(match peer {
        "conv1_k" => "conv2d/kernel",
        "conv1_b" => "conv2d/bias",
        "conv2_k" => "conv2d_1/kernel",
        "conv2_b" => "conv2d_1/bias",
        "dense1_k" => "dense/kernel",
        "dense1_b" => "dense/bias",
        "dense2_k" => "dense_1/kernel",
        "dense2_b" => "dense_1/bias",
        _ => return None,
    })
}
