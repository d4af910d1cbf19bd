//! The same seed gives the same weights, bit for bit, on 1, 2 and 3 threads: training steps of
//! mnist-cnn (a long dense reduction, a Winograd convolution of 32 → 64 channels), of a
//! residual network with batch norm and dropout, and of depthwise and separable
//! convolutions; and predictions at batch 1 and 64, where convolutions take their small-batch
//! paths (im2col with one threaded GEMM per sample, Winograd groups whose GEMMs run side by
//! side).

use cnn_nn::spec::layers::*;
use cnn_nn::*;

fn images(n: usize, dims: &[usize], seed: u64) -> Tensor {
    let per: usize = dims.iter().product();
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let data = (0..n * per)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 24) as f32
        })
        .collect();
    let mut d = vec![n];
    d.extend_from_slice(dims);
    Tensor::new(d, data).unwrap()
}

/// Runs `f` in a pool of `threads` threads.
fn on_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(f)
}

/// Every weight and state tensor after `steps` training steps on `threads` threads.
fn train(spec: &ModelSpec, threads: usize, steps: usize) -> Vec<Vec<u32>> {
    on_threads(threads, || {
        let mut m = Model::new(spec, 7).unwrap();
        let x = images(32, &spec.input_shape, 3);
        let y = Targets::Sparse((0..32).map(|i| i % 10).collect());
        let mut data = ArrayData::new(&x, &y, 16, true, 5).unwrap();
        let mut opt = Optimizer::adam(1e-3);
        Fit::new(&mut opt, Loss::SparseCategoricalCrossentropy)
            .epochs(1)
            .steps_per_epoch(steps)
            .seed(11)
            .run(&mut m, &mut data)
            .unwrap();
        m.named_weights()
            .map(|(_, t)| t.data().iter().map(|v| v.to_bits()).collect())
            .collect()
    })
}

fn same_bits_on_any_thread_count(spec: &ModelSpec, steps: usize) {
    let one = train(spec, 1, steps);
    for threads in [2, 3] {
        let other = train(spec, threads, steps);
        let names: Vec<String> = Model::new(spec, 7)
            .unwrap()
            .named_weights()
            .map(|(n, _)| n.to_string())
            .collect();
        for ((a, b), name) in one.iter().zip(&other).zip(&names) {
            let differ = a.iter().zip(b).filter(|(p, q)| p != q).count();
            assert_eq!(
                differ,
                0,
                "{}: {name}: {differ} of {} values differ between 1 and {threads} threads",
                spec.name,
                a.len()
            );
        }
    }
}

#[test]
fn mnist_cnn_trains_to_the_same_bits_on_any_thread_count() {
    same_bits_on_any_thread_count(&zoo("mnist-cnn", None, None).unwrap(), 2);
}

#[test]
fn a_residual_network_trains_to_the_same_bits_on_any_thread_count() {
    let mut b = GraphBuilder::new("residual", [12, 12, 3]);
    let x = b.input();
    let h = b.chain(
        &x,
        [
            conv2d(8, 3, "linear").same(),
            batch_norm(),
            activation("relu"),
        ],
    );
    let y = b.chain(
        &h,
        [
            conv2d(8, 3, "relu").same(),
            dropout(0.3),
            conv2d(8, 3, "linear").same(),
            batch_norm(),
        ],
    );
    let s = b.apply(cnn_nn::layers::Add {}, &[&h, &y]);
    let out = b.chain(
        &s,
        [
            activation("relu"),
            max_pool(2),
            flatten(),
            dense(10, "softmax"),
        ],
    );
    same_bits_on_any_thread_count(&b.build(&[&out]), 3);
}

#[test]
fn depthwise_and_separable_convolutions_train_to_the_same_bits_on_any_thread_count() {
    let spec = ModelSpec::from_json(
        r#"{"name": "mobile", "input_shape": [16, 16, 8], "layers": [
        {"type": "DepthwiseConv2D", "kernel_size": 3, "padding": "same", "depth_multiplier": 2},
        {"type": "BatchNormalization"},
        {"type": "ReLU", "max_value": 6},
        {"type": "SeparableConv2D", "filters": 12, "kernel_size": 3, "strides": 2},
        {"type": "GlobalAveragePooling2D"},
        {"type": "Dense", "units": 10, "activation": "softmax"}]}"#,
    )
    .unwrap();
    same_bits_on_any_thread_count(&spec, 3);
}

/// The bits of `predict` at batch sizes 1 and 64 on `threads` threads.
fn predictions(spec: &ModelSpec, threads: usize) -> Vec<Vec<u32>> {
    on_threads(threads, || {
        let mut m = Model::new(spec, 7).unwrap();
        let x = images(64, &spec.input_shape, 5);
        [1, 64]
            .into_iter()
            .map(|bs| {
                let p = m.predict(&x, bs).unwrap();
                p.data().iter().map(|v| v.to_bits()).collect()
            })
            .collect()
    })
}

#[test]
fn predictions_have_the_same_bits_on_any_thread_count() {
    // 3x3 convolutions with enough tiles for Winograd at batch 1 (32x32: one group, its GEMMs
    // side by side) and too few (16x16, 8x8: im2col, one GEMM per sample), a pointwise and a
    // strided one; linear outputs, so that rounding differences would show.
    let spec = ModelSpec::from_json(
        r#"{"name": "paths", "input_shape": [32, 32, 3], "layers": [
        {"type": "Conv2D", "filters": 16, "kernel_size": 3, "padding": "same", "activation": "relu"},
        {"type": "Conv2D", "filters": 16, "kernel_size": 3, "padding": "same", "activation": "relu"},
        {"type": "MaxPooling2D", "pool_size": 2},
        {"type": "Conv2D", "filters": 32, "kernel_size": 3, "padding": "same", "activation": "relu"},
        {"type": "Conv2D", "filters": 24, "kernel_size": 1, "activation": "relu"},
        {"type": "Conv2D", "filters": 32, "kernel_size": 3, "strides": 2, "activation": "relu"},
        {"type": "Conv2D", "filters": 32, "kernel_size": 3, "padding": "same", "activation": "relu"},
        {"type": "Flatten"},
        {"type": "Dense", "units": 10}]}"#,
    )
    .unwrap();
    let one = predictions(&spec, 1);
    for threads in [2, 3] {
        let other = predictions(&spec, threads);
        for (bs, (a, b)) in [1, 64].iter().zip(one.iter().zip(&other)) {
            let differ = a.iter().zip(b).filter(|(p, q)| p != q).count();
            assert_eq!(differ, 0, "batch {bs}: 1 and {threads} threads differ");
        }
    }
}
