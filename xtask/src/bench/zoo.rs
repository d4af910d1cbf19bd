//! `cargo xtask bench --zoo`: training and inference speed, latency and memory of every model
//! users train, each measured in a process of its own (so its peak memory is its own), on
//! random images of the model's input shape.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use cnn_nn::{Loss, Model, Optimizer, zoo};
use serde::{Deserialize, Serialize};

use super::ours;
use super::zoo_peers::{PeerRow, PeerSetup, ratio_table};

/// A model of the table: zoo name, input shape, training batch.
pub struct Entry {
    /// Zoo name.
    pub name: &'static str,
    /// Input shape (height, width, channels).
    pub input: [usize; 3],
    /// The batch size the model is usually trained at.
    pub batch: usize,
}

/// The models of the table (issue 21's list), at their usual batch sizes.
pub const ZOO_TABLE: &[Entry] = &[
    Entry {
        name: "lenet5",
        input: [32, 32, 1],
        batch: 128,
    },
    Entry {
        name: "mnist-cnn",
        input: [28, 28, 1],
        batch: 128,
    },
    Entry {
        name: "fashion-cnn",
        input: [28, 28, 1],
        batch: 128,
    },
    Entry {
        name: "cifar-cnn",
        input: [32, 32, 3],
        batch: 64,
    },
    Entry {
        name: "alexnet-cifar",
        input: [32, 32, 3],
        batch: 64,
    },
    Entry {
        name: "airbench-cifar",
        input: [32, 32, 3],
        batch: 512,
    },
    Entry {
        name: "resnet20-cifar",
        input: [32, 32, 3],
        batch: 128,
    },
    Entry {
        name: "mobilenetv2",
        input: [128, 128, 3],
        batch: 32,
    },
    Entry {
        name: "vgg16",
        input: [224, 224, 3],
        batch: 8,
    },
    Entry {
        name: "resnet50",
        input: [224, 224, 3],
        batch: 8,
    },
];

/// Inference batch of the throughput column.
pub const INFERENCE_BATCH: usize = 64;

/// One model's figures.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ZooRow {
    /// Zoo name.
    pub model: String,
    /// Input shape.
    pub input: Vec<usize>,
    /// Parameters.
    pub params: u64,
    /// Forward multiply-adds per sample.
    pub macs: u64,
    /// Training batch.
    pub batch: usize,
    /// Training samples/s.
    pub train_per_second: f64,
    /// Inference samples/s at batch 64.
    pub inference_per_second: f64,
    /// Median milliseconds of a batch-1 prediction.
    pub latency_ms: f64,
    /// Peak resident memory of the process while training, MiB.
    pub peak_rss_mib: f64,
    /// Peak resident memory while predicting (batch 64 and batch 1), MiB.
    pub inference_rss_mib: f64,
    /// Training GFLOP/s (3 × 2 × multiply-adds per sample: forward, input and weight
    /// gradients).
    pub train_gflops: f64,
    /// Inference GFLOP/s (2 × multiply-adds per sample).
    pub inference_gflops: f64,
    /// PyTorch eager's figures for the same model (`--peers`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub torch: Option<PeerRow>,
    /// ONNX Runtime's figures for this engine's `.onnx` export of the model (`--peers`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onnxruntime: Option<PeerRow>,
}

/// Runs `f` until at least `min` has passed and `min_runs` were done; returns (runs, time).
fn timed(
    min: Duration,
    min_runs: usize,
    mut f: impl FnMut() -> Result<()>,
) -> Result<(usize, f64)> {
    let t0 = Instant::now();
    let mut runs = 0;
    while runs < min_runs || t0.elapsed() < min {
        f()?;
        runs += 1;
    }
    Ok((runs, t0.elapsed().as_secs_f64()))
}

/// Measures one model in this process (called in a child process per model).
pub fn measure(name: &str, quick: bool) -> Result<ZooRow> {
    let e = ZOO_TABLE
        .iter()
        .find(|e| e.name == name)
        .ok_or_else(|| anyhow!("{name} is not in the zoo table"))?;
    let classes = cnn_nn::default_classes(name);
    let spec = zoo(name, Some(&e.input), Some(classes)).map_err(|e| anyhow!(e))?;
    let mut m = Model::new(&spec, 1).map_err(|e| anyhow!(e))?;
    let macs: u64 = m.architecture().layers.iter().map(|l| l.macs).sum();
    let params = m.architecture().param_counts().0;
    let per: usize = e.input.iter().product();
    let images = |n: usize, seed: u64| -> Result<cnn_tensor::Tensor> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let data = (0..n * per)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 40) as f32 / (1u64 << 24) as f32
            })
            .collect();
        cnn_tensor::Tensor::new([n, e.input[0], e.input[1], e.input[2]], data)
            .map_err(|e| anyhow!(e))
    };
    let (min, runs) = if quick {
        (Duration::ZERO, 1)
    } else {
        (Duration::from_secs(8), 3)
    };
    // Training: Adam, the usual batch, after two untimed steps. The optimizer state and the
    // batch go at the end of the block: inference keeps only the weights.
    let train_per_second = {
        let x = images(e.batch, 3)?;
        let y = cnn_nn::Targets::Sparse((0..e.batch).map(|i| i % classes).collect());
        let mut opt = Optimizer::adam(1e-3);
        let mut step = 0u64;
        let mut train = |m: &mut Model| -> Result<()> {
            step += 1;
            m.train_step(&x, &y, Loss::SparseCategoricalCrossentropy, &mut opt, step)
                .map(|_| ())
                .map_err(|e| anyhow!(e))
        };
        for _ in 0..if quick { 1 } else { 2 } {
            train(&mut m)?;
        }
        let (n, secs) = timed(min, runs, || train(&mut m))?;
        (n * e.batch) as f64 / secs
    };
    let peak_rss_mib = ours::peak_rss_mib().unwrap_or(0.0);
    // Start inference's peak afresh (writing 5 to clear_refs resets VmHWM, Linux 4.0+).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    // Inference at batch 64, then batch-1 latency.
    let xi = images(INFERENCE_BATCH, 4)?;
    m.predict(&xi, INFERENCE_BATCH).map_err(|e| anyhow!(e))?;
    let (n, secs) = timed(min, runs, || {
        m.predict(&xi, INFERENCE_BATCH)
            .map(|_| ())
            .map_err(|e| anyhow!(e))
    })?;
    let inference_per_second = (n * INFERENCE_BATCH) as f64 / secs;
    let x1 = images(1, 5)?;
    m.predict(&x1, 1).map_err(|e| anyhow!(e))?;
    let mut lat = Vec::new();
    let t0 = Instant::now();
    while lat.len() < if quick { 1 } else { 5 } || (t0.elapsed() < min / 2 && lat.len() < 200) {
        let t = Instant::now();
        m.predict(&x1, 1).map_err(|e| anyhow!(e))?;
        lat.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let flops = 2.0 * macs as f64;
    Ok(ZooRow {
        model: name.into(),
        input: e.input.to_vec(),
        params,
        macs,
        batch: e.batch,
        train_per_second,
        inference_per_second,
        latency_ms: ours::median(&mut lat),
        peak_rss_mib,
        inference_rss_mib: ours::peak_rss_mib().unwrap_or(0.0),
        train_gflops: 3.0 * flops * train_per_second / 1e9,
        inference_gflops: flops * inference_per_second / 1e9,
        torch: None,
        onnxruntime: None,
    })
}

/// Every model of the table, each in a child process (`--zoo-model NAME`) on `threads`
/// threads; with `peers`, PyTorch and ONNX Runtime right after each.
pub fn run_all(
    threads: usize,
    quick: bool,
    only: &[String],
    peers: Option<&PeerSetup>,
) -> Result<Vec<ZooRow>> {
    let exe = std::env::current_exe().context("finding the xtask binary")?;
    let mut rows = Vec::new();
    for e in ZOO_TABLE {
        if !only.is_empty() && !only.iter().any(|o| o == e.name) {
            continue;
        }
        eprintln!(
            "bench: zoo: {} ({}x{}x{}, batch {})",
            e.name, e.input[0], e.input[1], e.input[2], e.batch
        );
        let mut c = Command::new(&exe);
        c.args([
            "bench",
            "--zoo-model",
            e.name,
            "--threads",
            &threads.to_string(),
        ]);
        if quick {
            c.arg("--quick");
        }
        let out = c
            .output()
            .with_context(|| format!("running {}", exe.display()))?;
        let mut row: ZooRow = json_result(&out, &format!("measuring {}", e.name))?;
        if let Some(p) = peers {
            let (torch, ort) = p.measure(e)?;
            row.torch = Some(torch);
            row.onnxruntime = Some(ort);
        }
        rows.push(row);
    }
    Ok(rows)
}

/// The JSON object on the last `{`-line of a finished measuring process's output; an error
/// naming `what` (with the process's stderr) when it failed or printed no such line.
pub(super) fn json_result<T: serde::de::DeserializeOwned>(
    out: &std::process::Output,
    what: &str,
) -> Result<T> {
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .ok_or_else(|| anyhow!("{what}: no result line"))?;
    serde_json::from_str(line).with_context(|| format!("{what}: reading {line}"))
}

/// The table as markdown, with the GEMM peak it is a share of.
pub fn markdown(rows: &[ZooRow], gemm_gflops: f64, threads: usize, cpu: &str) -> String {
    let mut s = format!(
        "# The zoo: training and inference speed\n\n{cpu}, {threads} threads; random images of \
         each model's input shape; Adam; each model in a process of its own. GEMM peak \
         measured here: {gemm_gflops:.0} GFLOP/s (1024³ SGEMM). Effective GFLOP/s count 2 \
         FLOPs per multiply-add of the forward pass as a direct convolution computes it, three passes \
         for training (Winograd convolutions do fewer, so a share can pass 100 %).\n\n\
         | model | input | params | train batch | train samples/s | train GFLOP/s (share of peak) | \
         inference samples/s (batch {INFERENCE_BATCH}) | inference GFLOP/s (share) | batch-1 latency | peak memory: training | inference |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    );
    for r in rows {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {:.1} | {:.1} ({:.0} %) | {:.1} | {:.1} ({:.0} %) | {:.2} ms | {:.0} MiB | {:.0} MiB |\n",
            r.model,
            r.input.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("x"),
            cnn_nn::commas(r.params),
            r.batch,
            r.train_per_second,
            r.train_gflops,
            100.0 * r.train_gflops / gemm_gflops,
            r.inference_per_second,
            r.inference_gflops,
            100.0 * r.inference_gflops / gemm_gflops,
            r.latency_ms,
            r.peak_rss_mib,
            r.inference_rss_mib
        ));
    }
    if rows.iter().any(|r| r.torch.is_some()) {
        s.push_str(&ratio_table(rows));
    }
    s
}
