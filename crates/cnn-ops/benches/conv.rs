//! `cargo bench -p cnn-ops`: kernel throughput at the layer shapes of the classic Keras MNIST
//! convnet (28x28x1 → Conv 32 3x3 → Conv 64 3x3 → MaxPool 2 → Dense 128 → Dense 10) at batch
//! 128, next to the GEMM's own 1024³ figure measured in the same run.
//!
//! Criterion's `thrpt` is in Gelem/s where one element is one floating-point operation, i.e.
//! GFLOP/s. A summary table with ratios to the GEMM is printed at the end.

use std::hint::black_box;
use std::time::Duration;

use cnn_ops::gemm::{Trans, sgemm};
use cnn_ops::*;
use cnn_tensor::{Initializer, Tensor, seeded_rng};
use criterion::{BenchmarkId, Criterion, Throughput};

const BATCH: usize = 128;

fn rand(dims: &[usize], seed: u64) -> Tensor {
    Initializer::RandomUniform {
        min: -1.0,
        max: 1.0,
    }
    .init(dims, &mut seeded_rng(seed))
    .unwrap()
}

/// (group, id, flops) of every benchmark, for the summary.
fn catalogue() -> Vec<(&'static str, &'static str, f64)> {
    let conv1 =
        Conv2dGeometry::new(&[BATCH, 28, 28, 1], &[3, 3, 1, 32], &Default::default()).unwrap();
    let conv2 =
        Conv2dGeometry::new(&[BATCH, 26, 26, 32], &[3, 3, 32, 64], &Default::default()).unwrap();
    let m1 = 2.0 * conv1.macs() as f64;
    let m2 = 2.0 * conv2.macs() as f64;
    let dense = 2.0 * (BATCH * 9216 * 128) as f64;
    vec![
        ("gemm", "gemm-1024", 2.0 * 1024f64.powi(3)),
        ("gemm", "matrixmultiply-1024", 2.0 * 1024f64.powi(3)),
        (
            "gemm",
            "gemm-im2col-73728x288x64",
            2.0 * 73728.0 * 288.0 * 64.0,
        ),
        (
            "gemm",
            "matrixmultiply-im2col-73728x288x64",
            2.0 * 73728.0 * 288.0 * 64.0,
        ),
        ("conv", "conv1-forward", m1),
        ("conv", "conv1-backward-kernel", m1),
        ("conv", "conv2-forward", m2),
        ("conv", "conv2-backward", 2.0 * m2),
        ("conv", "conv2-forward+backward", 3.0 * m2),
        ("dense", "dense-9216x128-forward", dense),
        ("dense", "dense-9216x128-backward", 2.0 * dense),
    ]
}

fn flops_of(id: &str) -> f64 {
    catalogue()
        .into_iter()
        .find(|c| c.1 == id)
        .map(|c| c.2)
        .unwrap_or(0.0)
}

fn bench_gemm(c: &mut Criterion) {
    let mut g = c.benchmark_group("gemm");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    let threads = rayon::current_num_threads();
    for (m, n, k, tag) in [
        (1024, 1024, 1024, "1024"),
        (73728, 64, 288, "im2col-73728x288x64"),
    ] {
        let a = rand(&[m, k], 1);
        let b = rand(&[k, n], 2);
        let mut out = vec![0.0f32; m * n];
        let id = format!("gemm-{tag}");
        g.throughput(Throughput::Elements(flops_of(&id) as u64));
        g.bench_function(BenchmarkId::from_parameter(&id), |bch| {
            bch.iter(|| {
                sgemm(
                    m,
                    n,
                    k,
                    a.data(),
                    Trans::No,
                    b.data(),
                    Trans::No,
                    &mut out,
                    false,
                    threads,
                )
            })
        });
        let id = format!("matrixmultiply-{tag}");
        g.bench_function(BenchmarkId::from_parameter(&id), |bch| {
            bch.iter(|| unsafe {
                matrixmultiply::sgemm(
                    m,
                    k,
                    n,
                    1.0,
                    a.data().as_ptr(),
                    k as isize,
                    1,
                    b.data().as_ptr(),
                    n as isize,
                    1,
                    0.0,
                    out.as_mut_ptr(),
                    n as isize,
                    1,
                )
            })
        });
    }
    g.finish();
}

fn bench_conv(c: &mut Criterion) {
    let mut g = c.benchmark_group("conv");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    let opts = Conv2dOptions::default();
    let x1 = rand(&[BATCH, 28, 28, 1], 3);
    let w1 = rand(&[3, 3, 1, 32], 4);
    let b1 = rand(&[32], 5);
    let x2 = rand(&[BATCH, 26, 26, 32], 6);
    let w2 = rand(&[3, 3, 32, 64], 7);
    let b2 = rand(&[64], 8);
    let dy1 = rand(&[BATCH, 26, 26, 32], 9);
    let dy2 = rand(&[BATCH, 24, 24, 64], 10);
    let all = ConvNeeds {
        input: true,
        kernel: true,
        bias: true,
    };
    let first = ConvNeeds {
        input: false,
        kernel: true,
        bias: true,
    };

    g.throughput(Throughput::Elements(flops_of("conv1-forward") as u64));
    g.bench_function("conv1-forward", |b| {
        b.iter(|| conv2d_forward(&x1, &w1, Some(&b1), &opts).unwrap())
    });
    g.throughput(Throughput::Elements(
        flops_of("conv1-backward-kernel") as u64
    ));
    g.bench_function("conv1-backward-kernel", |b| {
        b.iter(|| conv2d_backward(&x1, &w1, &dy1, &opts, first).unwrap())
    });
    g.throughput(Throughput::Elements(flops_of("conv2-forward") as u64));
    g.bench_function("conv2-forward", |b| {
        b.iter(|| conv2d_forward(&x2, &w2, Some(&b2), &opts).unwrap())
    });
    g.throughput(Throughput::Elements(flops_of("conv2-backward") as u64));
    g.bench_function("conv2-backward", |b| {
        b.iter(|| conv2d_backward(&x2, &w2, &dy2, &opts, all).unwrap())
    });
    g.throughput(Throughput::Elements(
        flops_of("conv2-forward+backward") as u64
    ));
    g.bench_function("conv2-forward+backward", |b| {
        b.iter(|| {
            let y = conv2d_forward(&x2, &w2, Some(&b2), &opts).unwrap();
            black_box(&y);
            conv2d_backward(&x2, &w2, &dy2, &opts, all).unwrap()
        })
    });
    g.finish();

    let mut g = c.benchmark_group("dense");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    let xd = rand(&[BATCH, 9216], 11);
    let wd = rand(&[9216, 128], 12);
    let bd = rand(&[128], 13);
    let dyd = rand(&[BATCH, 128], 14);
    g.throughput(Throughput::Elements(
        flops_of("dense-9216x128-forward") as u64
    ));
    g.bench_function("dense-9216x128-forward", |b| {
        b.iter(|| dense_forward(&xd, &wd, Some(&bd)).unwrap())
    });
    g.throughput(Throughput::Elements(
        flops_of("dense-9216x128-backward") as u64
    ));
    g.bench_function("dense-9216x128-backward", |b| {
        b.iter(|| dense_backward(&xd, &wd, &dyd, (true, true, true)).unwrap())
    });
    g.finish();

    let mut g = c.benchmark_group("pool");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    let xp = rand(&[BATCH, 24, 24, 64], 15);
    let po = Pool2dOptions::square(2);
    g.bench_function("maxpool-forward", |b| {
        b.iter(|| max_pool2d_forward(&xp, &po).unwrap())
    });
    let (yp, idx) = max_pool2d_forward(&xp, &po).unwrap();
    g.bench_function("maxpool-backward", |b| {
        b.iter(|| max_pool2d_backward(xp.dims(), &idx, &yp).unwrap())
    });
    g.finish();
}

/// Mean time in seconds that criterion recorded for `group/id` in this run.
fn mean_seconds(group: &str, id: &str) -> Option<f64> {
    let root = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/../../target").into());
    let path = root
        .join("criterion")
        .join(group)
        .join(id)
        .join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    Some(v["mean"]["point_estimate"].as_f64()? * 1e-9)
}

fn summary() {
    let gemm = mean_seconds("gemm", "gemm-1024").map(|t| flops_of("gemm-1024") / t / 1e9);
    println!(
        "\nSummary ({} rayon threads, batch {BATCH}):",
        rayon::current_num_threads()
    );
    println!(
        "{:<40} {:>10} {:>12} {:>10}",
        "benchmark", "ms", "GFLOP/s", "vs GEMM"
    );
    for (group, id, flops) in catalogue() {
        let Some(t) = mean_seconds(group, id) else {
            continue;
        };
        let gf = flops / t / 1e9;
        let ratio = gemm
            .map(|g| format!("{:.0}%", 100.0 * gf / g))
            .unwrap_or_default();
        println!(
            "{:<40} {:>10.2} {:>12.1} {:>10}",
            format!("{group}/{id}"),
            t * 1e3,
            gf,
            ratio
        );
    }
    println!("(goal: conv2-forward+backward at >= 60% of gemm-1024)");
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench_gemm(&mut c);
    bench_conv(&mut c);
    c.final_summary();
    summary();
}
