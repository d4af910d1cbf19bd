//! Measurements of this engine: training and inference throughput, thread scaling, batch
//! sweep, per-layer profile, one epoch from given weights, and the GEMM's own throughput.

use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use cnn_nn::{Loss, Model, Optimizer, StepProfile, Targets, argmax, zoo};
use cnn_tensor::Tensor;
use serde::Serialize;

/// Forward FLOPs (2 × multiply-adds) per sample of `mnist-cnn`, counted like the peer script:
/// the two convolutions and the two dense layers (bias, ReLU and pooling left out).
pub const FWD_FLOP_PER_SAMPLE: f64 =
    (26 * 26 * 32 * 9 * 2 + 24 * 24 * 64 * 288 * 2 + 9216 * 128 * 2 + 128 * 10 * 2) as f64;

/// Training data as tensors.
pub struct Data {
    /// Training images `[N, 28, 28, 1]` in [0, 1].
    pub x: Tensor,
    /// Training labels.
    pub y: Vec<usize>,
    /// Test images.
    pub test_x: Tensor,
    /// Test labels.
    pub test_y: Vec<usize>,
}

/// `n` random images of zoo model `model`'s input shape (uniform in [0, 1), 10 random
/// classes, fixed seed): data for timing models whose input is not Fashion-MNIST's.
pub fn synthetic(model: &str, n: usize) -> Result<Data> {
    use rand::{RngExt, SeedableRng};
    let spec = zoo(model, None, Some(10)).map_err(|e| anyhow!(e))?;
    let per: usize = spec.input_shape.iter().product();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut images = |n: usize| -> Result<(Tensor, Vec<usize>)> {
        let data = (0..n * per).map(|_| rng.random::<f32>()).collect();
        let dims: Vec<usize> = std::iter::once(n)
            .chain(spec.input_shape.iter().copied())
            .collect();
        let labels = (0..n).map(|_| rng.random_range(0..10)).collect();
        Ok((Tensor::new(dims, data).map_err(|e| anyhow!(e))?, labels))
    };
    let (x, y) = images(n)?;
    let (test_x, test_y) = images(n.min(1000))?;
    Ok(Data {
        x,
        y,
        test_x,
        test_y,
    })
}

/// `n` consecutive samples starting at sample `start` (wrapping), as a batch.
pub fn batch(x: &Tensor, y: &[usize], start: usize, n: usize) -> Result<(Tensor, Targets)> {
    let per = x.len() / y.len();
    let total = y.len();
    let mut data = Vec::with_capacity(n * per);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let s = (start + i) % total;
        data.extend_from_slice(&x.data()[s * per..(s + 1) * per]);
        labels.push(y[s]);
    }
    let mut dims = x.dims().to_vec();
    dims[0] = n;
    Ok((
        Tensor::new(dims, data).map_err(|e| anyhow!(e))?,
        Targets::Sparse(labels),
    ))
}

/// The model every figure measures unless `--model` names another.
pub const DEFAULT_MODEL: &str = "mnist-cnn";

/// A fresh zoo model `name` (Keras initialisers, `seed`, 10 classes) and Adam 1e-3 with
/// Keras's epsilon.
pub fn fresh(name: &str, seed: u64) -> Result<(Model, Optimizer)> {
    let spec = zoo(name, None, Some(10)).map_err(|e| anyhow!(e))?;
    Ok((
        Model::new(&spec, seed).map_err(|e| anyhow!(e))?,
        Optimizer::adam(1e-3),
    ))
}

/// Training samples per second over `steps` steps of `batch_size` after `warmup` steps, on
/// the current rayon pool.
pub fn train_throughput(
    d: &Data,
    model: &str,
    batch_size: usize,
    warmup: usize,
    steps: usize,
    seed: u64,
) -> Result<f64> {
    let (mut m, mut opt) = fresh(model, seed)?;
    let mut at = 0;
    let mut step = |m: &mut Model, opt: &mut Optimizer, i: usize| -> Result<Duration> {
        let (x, y) = batch(&d.x, &d.y, at, batch_size)?;
        at += batch_size;
        let t = Instant::now();
        m.train_step(&x, &y, Loss::SparseCategoricalCrossentropy, opt, i as u64)
            .map_err(|e| anyhow!(e))?;
        Ok(t.elapsed())
    };
    for i in 0..warmup {
        step(&mut m, &mut opt, i)?;
    }
    let mut total = Duration::ZERO;
    for i in 0..steps {
        total += step(&mut m, &mut opt, warmup + i)?;
    }
    Ok((steps * batch_size) as f64 / total.as_secs_f64())
}

/// Inference samples per second over the test set in batches of `batch_size` (after one
/// untimed batch).
pub fn inference_throughput(m: &mut Model, d: &Data, batch_size: usize) -> Result<f64> {
    let n = d.test_y.len();
    let (x0, _) = batch(&d.test_x, &d.test_y, 0, batch_size.min(n))?;
    m.predict(&x0, batch_size).map_err(|e| anyhow!(e))?;
    let t = Instant::now();
    m.predict(&d.test_x, batch_size).map_err(|e| anyhow!(e))?;
    Ok(n as f64 / t.elapsed().as_secs_f64())
}

/// Milliseconds per single-image prediction (median of `n`).
pub fn latency_batch1(m: &mut Model, d: &Data, n: usize) -> Result<f64> {
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let (x, _) = batch(&d.test_x, &d.test_y, i, 1)?;
        let t = Instant::now();
        m.predict(&x, 1).map_err(|e| anyhow!(e))?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    Ok(median(&mut times))
}

/// The median of `v` (the upper one of an even count); 0 when empty.
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// The mean profile of `steps` training steps of zoo model `model` after `warmup`.
pub fn profile(
    d: &Data,
    model: &str,
    batch_size: usize,
    warmup: usize,
    steps: usize,
) -> Result<StepProfile> {
    let (mut m, mut opt) = fresh(model, 1)?;
    let mut sum = StepProfile::default();
    for i in 0..warmup + steps {
        let (x, y) = batch(&d.x, &d.y, i * batch_size, batch_size)?;
        let (_, p) = m
            .train_step_profiled(
                &x,
                &y,
                Loss::SparseCategoricalCrossentropy,
                &mut opt,
                i as u64,
            )
            .map_err(|e| anyhow!(e))?;
        if i >= warmup {
            sum.add(&p);
        }
    }
    let k = steps.max(1) as u32;
    for l in &mut sum.layers {
        l.forward /= k;
        l.backward /= k;
    }
    sum.loss /= k;
    sum.optimizer /= k;
    sum.total /= k;
    Ok(sum)
}

/// The result of one epoch from given weights and batch order.
#[derive(Clone, Debug, Serialize)]
pub struct Epoch {
    /// Training samples per second over the epoch.
    pub samples_per_second: f64,
    /// Test accuracy after the epoch.
    pub test_accuracy: f64,
    /// Inference samples per second (batch 1000) on the test set after the epoch.
    pub inference_per_second: f64,
}

/// Trains `m` for one epoch in the order `perm` (batches of `batch_size`, the last smaller),
/// then measures test accuracy.
pub fn one_epoch(
    m: &mut Model,
    opt: &mut Optimizer,
    d: &Data,
    perm: &[usize],
    batch_size: usize,
) -> Result<Epoch> {
    let per = d.x.len() / d.y.len();
    let mut timed = Duration::ZERO;
    for (step, idx) in perm.chunks(batch_size).enumerate() {
        let mut data = Vec::with_capacity(idx.len() * per);
        for &i in idx {
            data.extend_from_slice(&d.x.data()[i * per..(i + 1) * per]);
        }
        let mut dims = d.x.dims().to_vec();
        dims[0] = idx.len();
        let x = Tensor::new(dims, data).map_err(|e| anyhow!(e))?;
        let y = Targets::Sparse(idx.iter().map(|&i| d.y[i]).collect());
        let t = Instant::now();
        m.train_step(
            &x,
            &y,
            Loss::SparseCategoricalCrossentropy,
            opt,
            step as u64,
        )
        .map_err(|e| anyhow!(e))?;
        timed += t.elapsed();
    }
    let t = Instant::now();
    let probs = m.predict(&d.test_x, 1000).map_err(|e| anyhow!(e))?;
    let infer = t.elapsed().as_secs_f64();
    let k = probs.dims()[1];
    let correct = probs
        .data()
        .chunks(k)
        .zip(&d.test_y)
        .filter(|(p, y)| argmax(p) == **y)
        .count();
    Ok(Epoch {
        samples_per_second: perm.len() as f64 / timed.as_secs_f64(),
        test_accuracy: correct as f64 / d.test_y.len() as f64,
        inference_per_second: d.test_y.len() as f64 / infer,
    })
}

/// GFLOP/s of the engine's SGEMM on a 1024³ product (best of 5) on the current pool.
pub fn gemm_gflops() -> f64 {
    let n = 1024;
    let a: Vec<f32> = (0..n * n).map(|i| (i % 7) as f32 * 0.1).collect();
    let b: Vec<f32> = (0..n * n).map(|i| (i % 5) as f32 * 0.1).collect();
    let mut c = vec![0.0f32; n * n];
    let threads = rayon::current_num_threads();
    let mut best = f64::INFINITY;
    for _ in 0..6 {
        let t = Instant::now();
        cnn_ops::gemm::sgemm(
            n,
            n,
            n,
            &a,
            cnn_ops::gemm::Trans::No,
            &b,
            cnn_ops::gemm::Trans::No,
            &mut c,
            false,
            threads,
        );
        best = best.min(t.elapsed().as_secs_f64());
    }
    2.0 * (n * n * n) as f64 / best / 1e9
}

/// Peak resident memory of this process so far, in MiB (`VmHWM`).
pub fn peak_rss_mib() -> Option<f64> {
    rss_of("self")
}

/// Peak resident memory of process `pid` ("self" for this one), in MiB.
pub fn rss_of(pid: &str) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Runs `f` on a rayon pool of `threads` threads.
pub fn with_threads<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> Result<T> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| anyhow!(e))?;
    Ok(pool.install(f))
}
