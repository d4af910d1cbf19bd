//! `cargo xtask bench`: how fast this engine trains and runs `mnist-cnn` on Fashion-MNIST, and
//! (with `--peers`) how that compares with PyTorch and Keras run in the same command on the
//! same machine, from the same initial weights and batch order.

mod ours;
mod peers;
mod table;
pub mod zoo;
pub mod zoo_peers;

use std::path::PathBuf;

use anyhow::{Result, anyhow};
use cnn_tensor::Tensor;
use serde::Serialize;

pub use ours::FWD_FLOP_PER_SAMPLE;
use ours::{Data, Epoch};
use peers::PeerResult;

/// Options of `cargo xtask bench`.
#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    /// Timed training steps per measurement (after the warm-up).
    #[arg(long, default_value_t = 60)]
    pub steps: usize,
    /// Untimed steps before each measurement.
    #[arg(long, default_value_t = 5)]
    pub warmup: usize,
    /// Threads for the main figures (the scaling line also runs 1 thread).
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Also time each layer's forward and backward pass.
    #[arg(long)]
    pub profile: bool,
    /// Also run PyTorch and Keras (`peer_convnet.py`) for one epoch each, and this engine for
    /// one epoch from their initial weights and batch order, and print the ratio table. With
    /// --zoo: every model also in PyTorch eager (built from this engine's spec by
    /// scripts/bench/zoo_peer.py) and in ONNX Runtime (this engine's .onnx export), back to
    /// back, with a ratio table against issue 21's goals.
    #[arg(long)]
    pub peers: bool,
    /// The Python with torch, tensorflow and keras (with --zoo: torch and onnxruntime)
    /// (default: $CNN_PEER_PYTHON, else python3).
    #[arg(long)]
    pub python: Option<PathBuf>,
    /// Where peer_convnet.py is (default: ../shared/peers beside the workspace).
    #[arg(long)]
    pub peers_dir: Option<PathBuf>,
    /// Seed of the initial weights and batch order (shared with the peers).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Where to write bench.md and bench.json.
    #[arg(long, default_value = "reports/bench")]
    pub out: PathBuf,
    /// Fewer steps and no sweep (a smoke test of the command).
    #[arg(long)]
    pub quick: bool,
    /// Only the training throughput at batch 128, `--repeat` times (for A/B comparisons of
    /// engine changes).
    #[arg(long)]
    pub train_only: bool,
    /// With --train-only: how many measurements.
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    /// The zoo model that --train-only and --profile measure, e.g. cifar-cnn (on random
    /// images of its input shape unless it is mnist-cnn); with another model than mnist-cnn
    /// only those two measurements run.
    #[arg(long, default_value = ours::DEFAULT_MODEL)]
    pub model: String,
    /// Batch size of --train-only and --profile for another model than mnist-cnn (default:
    /// 128, or 8 for inputs larger than 64x64 such as vgg16, resnet50 and mobilenetv2 at
    /// 224x224).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Measure every model users train (lenet5 … resnet50): training samples/s at its usual
    /// batch, inference samples/s at batch 64, batch-1 latency, peak memory and effective
    /// GFLOP/s against the measured GEMM peak, each model in a process of its own; writes
    /// zoo.md and zoo.json.
    #[arg(long)]
    pub zoo: bool,
    /// With --zoo: only these models (comma-separated).
    #[arg(long, value_delimiter = ',', requires = "zoo")]
    pub zoo_only: Vec<String>,
    /// Internal: measure one zoo model in this process and print its figures as JSON.
    #[arg(long, hide = true)]
    pub zoo_model: Option<String>,
}

/// The batch size --train-only and --profile use for `a.model`.
pub fn batch_size(a: &BenchArgs) -> Result<usize> {
    if let Some(b) = a.batch_size {
        return Ok(b.max(1));
    }
    let shape = cnn_nn::default_input_shape(&a.model)
        .ok_or_else(|| anyhow!("unknown model {}", a.model))?;
    let pixels: usize = shape.iter().take(2).product();
    Ok(if pixels > 64 * 64 { 8 } else { 128 })
}

/// Everything one run measured.
#[derive(Debug, Default, Serialize)]
pub struct Bench {
    /// The command line.
    pub command: String,
    /// The zoo model measured.
    pub model: String,
    /// CPU model.
    pub cpu: String,
    /// Threads of the main figures.
    pub threads: usize,
    /// Training samples (Fashion-MNIST, or the bundled sample).
    pub data: String,
    /// SGEMM GFLOP/s on 1024³ at `threads` and at 1 thread.
    pub gemm_gflops: (f64, f64),
    /// Training samples/s, batch 128, `threads` threads (median of `scaling_pairs` runs).
    pub train_per_second: f64,
    /// Training samples/s, batch 128, 1 thread (median of `scaling_pairs` runs, each right
    /// after one of the runs above).
    pub train_per_second_1t: f64,
    /// How many alternating pairs of training runs the two figures above are medians of.
    pub scaling_pairs: usize,
    /// Inference samples/s at batch 128 and 1000.
    pub inference_per_second: (f64, f64),
    /// Median milliseconds per single-image prediction.
    pub latency_batch1_ms: f64,
    /// `(batch size, training samples/s)`.
    pub batch_sweep: Vec<(usize, f64)>,
    /// Per-layer profile, milliseconds per step: `(layer, forward, backward)`, then loss,
    /// optimizer, total.
    pub profile: Vec<(String, f64, f64)>,
    /// The batch size of the profile.
    pub profile_batch: usize,
    /// Peak resident memory of this process, MiB (measured after the throughput runs, before
    /// the peers' epoch).
    pub peak_rss_mib: Option<f64>,
    /// One epoch from the peers' initial weights and batch order.
    pub epoch: Option<Epoch>,
    /// The peers' figures.
    pub peers: Vec<PeerResult>,
    /// Peak resident memory after the one-epoch run, MiB.
    pub peak_rss_epoch_mib: Option<f64>,
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// Fashion-MNIST (installed, cached or downloaded), else the bundled sample; and the directory
/// of its IDX files for the peers.
fn load_data() -> Result<(Data, String, Option<PathBuf>)> {
    let opts = cnn_datasets::LoadOptions {
        progress: true,
        ..Default::default()
    };
    let (ds, dir) = match cnn_datasets::fashion_mnist(&opts) {
        Ok((ds, reports)) => {
            let dir = reports
                .first()
                .and_then(|r| r.path.parent().map(|p| p.to_path_buf()));
            (ds, dir)
        }
        Err(e) => {
            eprintln!("bench: full Fashion-MNIST unavailable ({e}); using the bundled sample");
            (
                cnn_datasets::fashion_mnist_sample().map_err(|e| anyhow!(e))?,
                None,
            )
        }
    };
    let test = ds.test.as_ref().ok_or_else(|| anyhow!("no test split"))?;
    let conv = |x: &cnn_datasets::ImageSet| -> Result<(Tensor, Vec<usize>)> {
        Ok((
            x.images_f32(1.0 / 255.0).map_err(|e| anyhow!(e))?,
            x.labels.iter().map(|&l| l as usize).collect(),
        ))
    };
    let (x, y) = conv(&ds.train)?;
    let (test_x, test_y) = conv(test)?;
    let name = format!("{} ({} train / {} test)", ds.name, y.len(), test_y.len());
    Ok((
        Data {
            x,
            y,
            test_x,
            test_y,
        },
        name,
        dir,
    ))
}

/// Runs the benchmark and writes its report.
pub fn run(a: &BenchArgs) -> Result<Bench> {
    if let Some(name) = &a.zoo_model {
        let row = ours::with_threads(a.threads, || zoo::measure(name, a.quick))??;
        println!("{}", serde_json::to_string(&row)?);
        return Ok(Bench::default());
    }
    if a.zoo {
        eprintln!("bench: GEMM peak");
        let peak = ours::with_threads(a.threads, ours::gemm_gflops)?;
        let peers = if a.peers {
            Some(zoo_peers::PeerSetup::new(
                a.python.as_deref(),
                a.threads,
                a.quick,
            )?)
        } else {
            None
        };
        let rows = zoo::run_all(a.threads, a.quick, &a.zoo_only, peers.as_ref())?;
        let md = zoo::markdown(&rows, peak, a.threads, &cpu_model());
        println!("{md}");
        std::fs::create_dir_all(&a.out)?;
        cnn_tensor::io::write_atomic(&a.out.join("zoo.md"), md.as_bytes())?;
        cnn_tensor::io::write_atomic(
            &a.out.join("zoo.json"),
            serde_json::to_string_pretty(&serde_json::json!({
                "command": std::env::args().collect::<Vec<_>>().join(" "),
                "cpu": cpu_model(),
                "threads": a.threads,
                "gemm_gflops": peak,
                "models": rows,
            }))?
            .as_bytes(),
        )?;
        eprintln!("bench: wrote {}", a.out.join("zoo.md").display());
        return Ok(Bench::default());
    }
    let (steps, warmup) = if a.quick {
        (a.steps.min(4), a.warmup.min(1))
    } else {
        (a.steps, a.warmup)
    };
    let other = a.model != ours::DEFAULT_MODEL;
    let bs = if other { batch_size(a)? } else { 128 };
    let (d, data_name, idx_dir) = if other {
        let name = format!("random images for {}", a.model);
        (ours::synthetic(&a.model, bs * 16)?, name, None)
    } else {
        load_data()?
    };
    if a.train_only || (other && !a.profile) {
        let mut runs = Vec::new();
        for _ in 0..a.repeat.max(1) {
            let sps = ours::with_threads(a.threads, || {
                ours::train_throughput(&d, &a.model, bs, warmup, steps, 1)
            })??;
            runs.push(format!("{sps:.1}"));
        }
        println!("training samples/s, batch {bs}: {}", runs.join(" "));
        return Ok(Bench::default());
    }
    let mut b = Bench {
        command: std::env::args().collect::<Vec<_>>().join(" "),
        cpu: cpu_model(),
        threads: a.threads,
        model: a.model.clone(),
        data: data_name,
        ..Default::default()
    };
    let t = a.threads;
    if other {
        profile_into(a, &d, bs, warmup, steps, &mut b)?;
        b.peak_rss_mib = ours::peak_rss_mib();
        return write(a, b);
    }
    eprintln!("bench: GEMM");
    b.gemm_gflops = (
        ours::with_threads(t, ours::gemm_gflops)?,
        ours::with_threads(1, ours::gemm_gflops)?,
    );
    // The machine is shared: one pair of measurements can catch another tenant in one of
    // them, so the scaling line takes the median of alternating pairs.
    let pairs = if a.quick { 1 } else { SCALING_PAIRS };
    let (mut many, mut one) = (Vec::new(), Vec::new());
    for i in 0..pairs {
        eprintln!(
            "bench: training, batch 128, {t} threads, then 1 ({}/{pairs})",
            i + 1
        );
        many.push(ours::with_threads(t, || {
            ours::train_throughput(&d, &a.model, 128, warmup, steps, 1)
        })??);
        one.push(ours::with_threads(1, || {
            ours::train_throughput(&d, &a.model, 128, warmup, steps.div_ceil(2), 1)
        })??);
    }
    b.scaling_pairs = pairs;
    b.train_per_second = ours::median(&mut many);
    b.train_per_second_1t = ours::median(&mut one);
    eprintln!("bench: inference");
    let (mut m, _) = ours::fresh(&a.model, 1)?;
    b.inference_per_second = ours::with_threads(t, || -> Result<(f64, f64)> {
        Ok((
            ours::inference_throughput(&mut m, &d, 128)?,
            ours::inference_throughput(&mut m, &d, 1000)?,
        ))
    })??;
    b.latency_batch1_ms = ours::with_threads(t, || {
        ours::latency_batch1(&mut m, &d, if a.quick { 5 } else { 200 })
    })??;
    if !a.quick {
        for bs in [32usize, 64, 128, 256] {
            eprintln!("bench: batch sweep, batch {bs}");
            let n = (steps * 128).div_ceil(bs).max(2);
            let sps =
                ours::with_threads(t, || ours::train_throughput(&d, &a.model, bs, warmup, n, 1))??;
            b.batch_sweep.push((bs, sps));
        }
    }
    if a.profile {
        profile_into(a, &d, 128, warmup, steps, &mut b)?;
    }
    b.peak_rss_mib = ours::peak_rss_mib();
    if a.peers {
        run_with_peers(a, &d, idx_dir, &mut b)?;
    }
    write(a, b)
}

/// Alternating (all threads, one thread) training measurements the main figures take the
/// median of.
const SCALING_PAIRS: usize = 3;

/// Prints and writes the report.
fn write(a: &BenchArgs, b: Bench) -> Result<Bench> {
    let md = table::markdown(&b);
    println!("{md}");
    std::fs::create_dir_all(&a.out)?;
    cnn_tensor::io::write_atomic(&a.out.join("bench.md"), md.as_bytes())?;
    cnn_tensor::io::write_atomic(
        &a.out.join("bench.json"),
        serde_json::to_string_pretty(&b)?.as_bytes(),
    )?;
    eprintln!("bench: wrote {}", a.out.join("bench.md").display());
    Ok(b)
}

/// The per-layer profile of `a.model` at batch `bs` into `b.profile`.
fn profile_into(
    a: &BenchArgs,
    d: &Data,
    bs: usize,
    warmup: usize,
    steps: usize,
    b: &mut Bench,
) -> Result<()> {
    eprintln!("bench: per-layer profile of {} at batch {bs}", a.model);
    b.profile_batch = bs;
    let p = ours::with_threads(a.threads, || {
        ours::profile(d, &a.model, bs, warmup, steps.min(30))
    })??;
    let ms = |x: std::time::Duration| x.as_secs_f64() * 1e3;
    for l in &p.layers {
        b.profile
            .push((l.name.clone(), ms(l.forward), ms(l.backward)));
    }
    b.profile.push(("loss".into(), ms(p.loss), 0.0));
    b.profile
        .push(("optimizer (Adam)".into(), ms(p.optimizer), 0.0));
    b.profile.push(("total".into(), ms(p.total), 0.0));
    Ok(())
}

fn run_with_peers(a: &BenchArgs, d: &Data, idx_dir: Option<PathBuf>, b: &mut Bench) -> Result<()> {
    let python = a
        .python
        .clone()
        .or_else(|| std::env::var_os("CNN_PEER_PYTHON").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("python3"));
    let dir = peers::peers_dir(a.peers_dir.as_deref());
    let idx_dir = idx_dir.ok_or_else(|| {
        anyhow!("--peers needs the full Fashion-MNIST (cargo xtask fetch-data fashion-mnist)")
    })?;
    // This engine first, from the peers' initial weights and batch order.
    let tmp = std::env::temp_dir().join(format!("cnn-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let shared = peers::export_shared(&python, &dir, a.seed, d.y.len(), &tmp);
    let _ = std::fs::remove_dir_all(&tmp);
    let shared = shared?;
    let (mut m, mut opt) = ours::fresh(&a.model, a.seed)?;
    for (name, values) in &shared.weights {
        let ours_name =
            peers::our_name(name).ok_or_else(|| anyhow!("unknown peer weight {name}"))?;
        let w = m
            .weight_mut(ours_name)
            .ok_or_else(|| anyhow!("mnist-cnn has no {ours_name}"))?;
        if w.len() != values.len() {
            return Err(anyhow!(
                "{name}: {} values for {ours_name} of {}",
                values.len(),
                w.len()
            ));
        }
        w.data_mut().copy_from_slice(values);
    }
    eprintln!(
        "bench: one epoch from the peers' initial weights ({} steps)",
        shared.order.len().div_ceil(128)
    );
    b.epoch = Some(ours::with_threads(a.threads, || {
        ours::one_epoch(&mut m, &mut opt, d, &shared.order, 128)
    })??);
    b.peak_rss_epoch_mib = ours::peak_rss_mib();
    for fw in ["torch", "keras"] {
        match peers::run_peer(&python, &dir, fw, &idx_dir, a.threads, a.seed) {
            Ok(r) => b.peers.push(r),
            Err(e) => eprintln!("bench: the {fw} peer did not run: {e:#}"),
        }
    }
    Ok(())
}
