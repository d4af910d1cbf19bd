//! `cargo bench -p cnn-augment`: random-affine augmentation of 32x32x3 images, with the
//! parameters of the peer script `shared/peers/augment_peer.py` (rotation 15°, shifts 0.1,
//! zoom 0.1, horizontal flip, nearest fill, rescale 1/255), in images per second through
//! `flow` (batches of 128, all threads) and per image on one thread.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cnn_augment::*;
use cnn_nn::{BatchSource, Targets};
use cnn_tensor::Tensor;
use criterion::{Criterion, Throughput};

const N: usize = 20_000;

fn generator() -> ImageDataGenerator {
    ImageDataGenerator::new(AugmentConfig {
        rotation_range: 15.0,
        width_shift_range: ShiftRange::Float(0.1),
        height_shift_range: ShiftRange::Float(0.1),
        zoom_range: AugmentConfig::zoom(0.1),
        horizontal_flip: true,
        fill_mode: FillMode::Nearest,
        rescale: Some(1.0 / 255.0),
        ..Default::default()
    })
}

fn data() -> (Arc<Tensor>, Arc<Targets>) {
    let x = Tensor::from_fn([N, 32, 32, 3], |i| {
        ((i as u64).wrapping_mul(2654435761) >> 11) as u8 as f32
    })
    .unwrap();
    (Arc::new(x), Arc::new(Targets::Sparse(vec![0; N])))
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let (x, y) = data();
    let g = Arc::new(generator());
    let mut group = c.benchmark_group("augment-32x32x3");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(N as u64));
    group.bench_function("flow-batch128-all-threads", |b| {
        let mut f = Flow::new(
            g.clone(),
            x.clone(),
            y.clone(),
            FlowOptions {
                batch_size: 128,
                ..Default::default()
            },
        )
        .unwrap();
        let steps = f.steps();
        let mut epoch = 0;
        b.iter(|| {
            for s in 0..steps {
                std::hint::black_box(f.batch(epoch, s).unwrap());
            }
            epoch += 1;
        })
    });
    let img = Image {
        h: 32,
        w: 32,
        c: 3,
        data: x.data()[..3072].to_vec(),
    };
    group.throughput(Throughput::Elements(1));
    group.bench_function("one-image-one-thread", |b| {
        let mut seed = 0;
        b.iter(|| {
            seed += 1;
            std::hint::black_box(g.augment(&img, seed))
        })
    });
    group.finish();
    c.final_summary();

    // A plain wall-clock line in the peer script's units, for the ratio table.
    let mut f = Flow::new(
        g,
        x,
        y,
        FlowOptions {
            batch_size: 128,
            ..Default::default()
        },
    )
    .unwrap();
    let t = Instant::now();
    for s in 0..f.steps() {
        std::hint::black_box(f.batch(7, s).unwrap());
    }
    let dt = t.elapsed().as_secs_f64();
    println!(
        "\n{{\"framework\": \"cnn-augment\", \"images\": {N}, \"seconds\": {dt:.3}, \"images_per_s\": {:.1}, \"threads\": {}}}",
        N as f64 / dt,
        rayon::current_num_threads()
    );
}
