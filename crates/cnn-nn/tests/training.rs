//! fit / evaluate / predict, determinism, save/load, resume, NaN handling, callbacks.

use cnn_nn::spec::layers::*;
use cnn_nn::*;
use cnn_tensor::{Tensor, seeded_rng};
use rand::RngExt;

/// 10x10 images with a vertical (0), horizontal (1) or diagonal (2) bar, plus noise.
fn bars(n: usize, seed: u64) -> (Tensor, Targets) {
    let mut rng = seeded_rng(seed);
    let mut x = vec![0.0f32; n * 100];
    let mut y = Vec::with_capacity(n);
    for i in 0..n {
        let c = rng.random_range(0..3usize);
        let p = rng.random_range(1..9usize);
        for t in 0..10 {
            let (r, col) = match c {
                0 => (t, p),
                1 => (p, t),
                _ => (t, t),
            };
            x[i * 100 + r * 10 + col] = 1.0;
        }
        for v in &mut x[i * 100..(i + 1) * 100] {
            *v += 0.1 * rng.random::<f32>();
        }
        y.push(c);
    }
    (Tensor::new([n, 10, 10, 1], x).unwrap(), Targets::Sparse(y))
}

fn small_cnn() -> ModelSpec {
    ModelSpec {
        name: "small".into(),
        input_shape: vec![10, 10, 1],
        layers: vec![
            conv2d(6, 3, "relu"),
            max_pool(2),
            batch_norm(),
            dropout(0.1),
            flatten(),
            dense(16, "relu"),
            dense(3, "softmax"),
        ],
        ..ModelSpec::default()
    }
}

fn train(seed: u64, epochs: usize) -> (Model, History) {
    let (x, y) = bars(240, 1);
    let mut m = Model::new(&small_cnn(), seed).unwrap();
    let mut opt = Optimizer::adam(0.01);
    let mut data = ArrayData::new(&x, &y, 32, true, seed).unwrap();
    let opts = FitOptions {
        epochs,
        seed,
        ..Default::default()
    };
    let h = m
        .fit(
            &mut opt,
            Loss::SparseCategoricalCrossentropy,
            &mut data,
            None,
            &opts,
            &mut [],
        )
        .unwrap();
    (m, h)
}

#[test]
fn fit_learns_and_history_is_complete() {
    let (x, y) = bars(240, 1);
    let (xv, yv) = bars(200, 2);
    let mut m = Model::new(&small_cnn(), 3).unwrap();
    let mut opt = Optimizer::adam(0.01);
    let mut data = ArrayData::new(&x, &y, 32, true, 3).unwrap();
    let mut val = ArrayData::new(&xv, &yv, 50, false, 0).unwrap();
    let opts = FitOptions {
        epochs: 8,
        seed: 3,
        ..Default::default()
    };
    let h = m
        .fit(
            &mut opt,
            Loss::SparseCategoricalCrossentropy,
            &mut data,
            Some(&mut val),
            &opts,
            &mut [],
        )
        .unwrap();
    assert_eq!(h.epoch, (1..=8).collect::<Vec<_>>());
    assert_eq!(h.val_accuracy.len(), 8);
    assert!(h.loss[7] < h.loss[0] * 0.5, "loss {:?}", h.loss);
    let e = m
        .evaluate_arrays(&xv, &yv, Loss::SparseCategoricalCrossentropy, 64)
        .unwrap();
    assert!(e.accuracy > 0.95, "held-out accuracy {}", e.accuracy);
    assert_eq!(e.samples, 200);
    // predict gives probabilities.
    let p = m.predict(&xv, 64).unwrap();
    assert_eq!(p.dims(), &[200, 3]);
    for r in p.data().chunks(3) {
        assert!((r.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    }
    // The CSV round-trips.
    let back = History::from_csv(&h.to_csv()).unwrap();
    assert_eq!(back.epoch, h.epoch);
    assert!((back.val_accuracy[3] - h.val_accuracy[3]).abs() < 1e-6);
}

#[test]
fn same_seed_gives_bit_identical_weights() {
    let (a, ha) = train(11, 2);
    let (b, hb) = train(11, 2);
    let (c, _) = train(12, 2);
    assert_eq!(a.params(), b.params());
    assert_eq!(a.state(), b.state());
    assert_eq!(ha.loss, hb.loss);
    assert_ne!(a.params(), c.params());
}

#[test]
fn save_load_predict_is_identical() {
    let (mut m, h) = train(5, 1);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.cnn");
    save_model(&path, &m, None, 1, Some(&h)).unwrap();
    let mut saved = load_model(&path).unwrap();
    let (x, _) = bars(50, 9);
    assert_eq!(
        m.predict(&x, 16).unwrap(),
        saved.model.predict(&x, 16).unwrap()
    );
    assert_eq!(saved.epoch, 1);
    assert_eq!(saved.history.unwrap().loss, h.loss);
    assert_eq!(saved.model.architecture(), m.architecture());
}

#[test]
fn resume_after_epoch_one_equals_two_uninterrupted_epochs() {
    let (x, y) = bars(240, 1);
    let spec = small_cnn();
    let run = |m: &mut Model, opt: &mut Optimizer, from: usize, to: usize| {
        let mut data = ArrayData::new(&x, &y, 32, true, 21).unwrap();
        let opts = FitOptions {
            epochs: to,
            initial_epoch: from,
            seed: 21,
            ..Default::default()
        };
        m.fit(
            opt,
            Loss::SparseCategoricalCrossentropy,
            &mut data,
            None,
            &opts,
            &mut [],
        )
        .unwrap()
    };
    let mut straight = Model::new(&spec, 21).unwrap();
    let mut o1 = Optimizer::adam(0.01);
    run(&mut straight, &mut o1, 0, 2);

    let mut first = Model::new(&spec, 21).unwrap();
    let mut o2 = Optimizer::adam(0.01);
    run(&mut first, &mut o2, 0, 1);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ckpt.cnn");
    save_model(&path, &first, Some(&o2), 1, None).unwrap();
    let saved = load_model(&path).unwrap();
    let mut resumed = saved.model;
    let mut o3 = saved.optimizer.unwrap();
    assert_eq!(o3.iterations, 8);
    run(&mut resumed, &mut o3, saved.epoch, 2);
    assert_eq!(resumed.params(), straight.params());
    assert_eq!(resumed.state(), straight.state());
}

#[test]
fn diverging_training_stops_with_a_clear_error() {
    let (x, y) = bars(64, 1);
    let mut m = Model::new(&small_cnn(), 1).unwrap();
    let mut opt = Optimizer::sgd(1e30);
    let mut data = ArrayData::new(&x, &y, 32, false, 0).unwrap();
    let err = m
        .fit(
            &mut opt,
            Loss::SparseCategoricalCrossentropy,
            &mut data,
            None,
            &FitOptions {
                epochs: 3,
                ..Default::default()
            },
            &mut [],
        )
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, NnError::NonFinite { .. }) || msg.contains("not finite"),
        "{msg}"
    );
    assert!(
        m.params().iter().all(|p| p.all_finite()),
        "non-finite weights were kept"
    );
}

#[test]
fn early_stopping_and_lr_reduction() {
    let (x, y) = bars(120, 1);
    let mut m = Model::new(&small_cnn(), 2).unwrap();
    let mut opt = Optimizer::adam(1e-9); // learns nothing: the monitored value plateaus
    let mut data = ArrayData::new(&x, &y, 40, false, 0).unwrap();
    let mut es = EarlyStopping::new(Monitor::Loss, 1);
    es.min_delta = 0.01;
    let mut rl = ReduceLrOnPlateau::default();
    (rl.monitor, rl.patience, rl.min_delta) = (Monitor::Loss, 1, 0.01);
    let h = m
        .fit(
            &mut opt,
            Loss::SparseCategoricalCrossentropy,
            &mut data,
            None,
            &FitOptions {
                epochs: 20,
                ..Default::default()
            },
            &mut [&mut es, &mut rl],
        )
        .unwrap();
    assert!(
        h.epoch.len() < 20,
        "early stopping did not stop: {} epochs",
        h.epoch.len()
    );
    assert!(es.stopped_epoch.is_some());
    assert!(
        opt.learning_rate < 1e-9,
        "lr was not reduced: {}",
        opt.learning_rate
    );
}

#[test]
fn checkpoint_and_progress_callbacks_write() {
    let (x, y) = bars(64, 1);
    let dir = tempfile::tempdir().unwrap();
    let mut m = Model::new(&small_cnn(), 2).unwrap();
    let mut opt = Optimizer::adam(0.01);
    let mut data = ArrayData::new(&x, &y, 32, false, 0).unwrap();
    let mut ck = ModelCheckpoint::new(dir.path().join("best.cnn"), Monitor::Loss, true);
    let mut csv = cnn_nn::callbacks::CsvLogger {
        path: dir.path().join("h.csv"),
    };
    let buf = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    struct W(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for W {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut pb = ProgressBar::new(Box::new(W(buf.clone())), false);
    m.fit(
        &mut opt,
        Loss::SparseCategoricalCrossentropy,
        &mut data,
        None,
        &FitOptions {
            epochs: 2,
            ..Default::default()
        },
        &mut [&mut ck, &mut csv, &mut pb],
    )
    .unwrap();
    let saved = load_model(&dir.path().join("best.cnn")).unwrap();
    assert!(saved.epoch >= 1 && saved.optimizer.is_some());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("h.csv"))
            .unwrap()
            .lines()
            .count(),
        3
    );
    let text = String::from_utf8(buf.lock().unwrap().clone()).unwrap();
    assert!(
        text.starts_with("Epoch 1/2\n2/2 [==============================] - "),
        "{text}"
    );
    assert!(
        text.contains(" - loss: ") && text.contains(" - accuracy: "),
        "{text}"
    );
}

#[test]
fn hostile_model_files_are_errors_not_panics() {
    let (m, _) = train(5, 1);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.cnn");
    save_model(&path, &m, Some(&Optimizer::adam(0.01)), 1, None).unwrap();
    let good = std::fs::read(&path).unwrap();
    let bad = dir.path().join("bad.cnn");
    // Every truncation.
    for cut in (0..good.len()).step_by(97) {
        std::fs::write(&bad, &good[..cut]).unwrap();
        assert!(load_model(&bad).is_err(), "truncated at {cut} loaded");
    }
    // Bit flips anywhere: either an error or a model that loads (a flipped weight value is
    // still a valid float), never a panic.
    for i in (0..good.len()).step_by(131) {
        let mut b = good.clone();
        b[i] ^= 0x40;
        std::fs::write(&bad, &b).unwrap();
        let _ = load_model(&bad);
    }
    // An absurd architecture is refused before any allocation.
    let mut huge = cnn_nn::zoo("dense-mnist", None, None).unwrap();
    huge.layers[1] = dense(1_000_000_000_000, "relu");
    let meta: std::collections::HashMap<String, String> = [
        ("cnn.format".to_string(), "cnn-model/1".to_string()),
        (
            "cnn.architecture".to_string(),
            serde_json::to_string(&huge).unwrap(),
        ),
    ]
    .into();
    let bytes = cnn_tensor::io::to_safetensors_bytes([], Some(meta)).unwrap();
    std::fs::write(&bad, bytes).unwrap();
    let e = load_model(&bad).unwrap_err().to_string();
    assert!(e.contains("over the limit"), "{e}");
    // Negative or zero sizes in the architecture are errors too.
    for bad_layer in [
        r#"{"type": "Dense", "units": -5}"#,
        r#"{"type": "Dense", "units": 0}"#,
        r#"{"type": "Conv2D", "filters": 4, "kernel_size": -3}"#,
    ] {
        let spec = format!(
            r#"{{"name": "x", "input_shape": [28, 28, 1], "layers": [{{"type": "Flatten"}}, {bad_layer}]}}"#
        );
        let meta: std::collections::HashMap<String, String> = [
            ("cnn.format".to_string(), "cnn-model/1".to_string()),
            ("cnn.architecture".to_string(), spec),
        ]
        .into();
        let bytes = cnn_tensor::io::to_safetensors_bytes([], Some(meta)).unwrap();
        std::fs::write(&bad, bytes).unwrap();
        assert!(load_model(&bad).is_err(), "{bad_layer} loaded");
    }
    // Weights that do not fit the architecture are reported by name.
    let other = Model::new(&cnn_nn::zoo("dense-mnist", None, None).unwrap(), 0).unwrap();
    let mut meta2: std::collections::HashMap<String, String> =
        [("cnn.format".to_string(), "cnn-model/1".to_string())].into();
    meta2.insert(
        "cnn.architecture".into(),
        serde_json::to_string(&small_cnn()).unwrap(),
    );
    let bytes = cnn_tensor::io::to_safetensors_bytes(other.named_weights(), Some(meta2)).unwrap();
    std::fs::write(&bad, bytes).unwrap();
    let e = load_model(&bad).unwrap_err().to_string();
    assert!(
        e.contains("`conv2d/kernel` is missing")
            && e.contains(
                "`dense/kernel` has shape (784, 100) but the architecture needs (96, 16)"
            ),
        "{e}"
    );
    // A bare safetensors file is not mistaken for a model.
    std::fs::write(
        &bad,
        cnn_tensor::io::to_safetensors_bytes([("w", &Tensor::scalar(1.0))], None).unwrap(),
    )
    .unwrap();
    assert!(
        load_model(&bad)
            .unwrap_err()
            .to_string()
            .contains("not a cnn model file")
    );
}

#[test]
fn wrong_inputs_are_data_errors() {
    let mut m = Model::new(&small_cnn(), 1).unwrap();
    let e = m
        .predict(&Tensor::zeros([2, 28, 28, 1]).unwrap(), 8)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("expects inputs of shape (None, 10, 10, 1)"),
        "{e}"
    );
    let (x, _) = bars(4, 1);
    let e = m
        .train_step(
            &x,
            &Targets::Sparse(vec![0, 1, 2, 7]),
            Loss::SparseCategoricalCrossentropy,
            &mut Optimizer::adam(0.01),
            0,
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("label 7"), "{e}");
    let e = m
        .train_step(
            &x,
            &Targets::Sparse(vec![0, 1, 2, 0]),
            Loss::BinaryCrossentropy,
            &mut Optimizer::adam(0.01),
            0,
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("needs a final sigmoid"), "{e}");
}

#[test]
fn a_profiled_step_is_the_same_step_with_times() {
    let (x, y) = bars(64, 9);
    let mut a = Model::new(&small_cnn(), 4).unwrap();
    let mut b = a.clone();
    let mut oa = Optimizer::adam(0.01);
    let mut ob = Optimizer::adam(0.01);
    let ra = a
        .train_step(&x, &y, Loss::SparseCategoricalCrossentropy, &mut oa, 5)
        .unwrap();
    let (rb, p) = b
        .train_step_profiled(&x, &y, Loss::SparseCategoricalCrossentropy, &mut ob, 5)
        .unwrap();
    assert_eq!(ra.loss, rb.loss);
    for (pa, pb) in a.params().iter().zip(b.params()) {
        assert_eq!(pa.data(), pb.data());
    }
    let names: Vec<&str> = p.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "conv2d",
            "max_pooling2d",
            "batch_normalization",
            "dropout",
            "flatten",
            "dense",
            "dense_1"
        ]
    );
    let parts: std::time::Duration = p
        .layers
        .iter()
        .map(|l| l.forward + l.backward)
        .sum::<std::time::Duration>()
        + p.loss
        + p.optimizer;
    assert!(parts <= p.total, "{parts:?} > {:?}", p.total);
    assert!(p.layers[0].forward > std::time::Duration::ZERO);
    assert!(p.layers[0].backward > std::time::Duration::ZERO);
    let mut sum = StepProfile::default();
    sum.add(&p);
    sum.add(&p);
    assert_eq!(sum.total, p.total * 2);
}

#[test]
fn predictions_barely_depend_on_the_batch_size() {
    let (m, _) = train(6, 1);
    let (x, _) = bars(300, 4);
    let mut m = m;
    let a = m.predict(&x, 1).unwrap();
    let b = m.predict(&x, 37).unwrap();
    let c = m.predict(&x, 300).unwrap();
    // The same up to the last bit or two: the GEMM's rounding may depend on how many rows it
    // multiplies at once (as in every BLAS).
    let diff = |p: &Tensor, q: &Tensor| {
        p.data()
            .iter()
            .zip(q.data())
            .map(|(u, v)| (u - v).abs())
            .fold(0.0f32, f32::max)
    };
    assert!(diff(&a, &b) < 1e-6 && diff(&a, &c) < 1e-6);
    // And batches beyond the inference chunk give what the chunk gives.
    let d = m.predict(&x, Model::MAX_INFERENCE_CHUNK).unwrap();
    assert_eq!(c.data(), d.data());
}

#[test]
fn fused_operations_give_the_same_outputs_and_gradients() {
    use cnn_ops::Graph;
    // Shifted inputs make many windows all-negative (where the two orders could differ if the
    // ReLU's gradient at the pool were routed wrongly).
    let (x, _) = bars(16, 3);
    let x = Tensor::from_fn(x.dims(), |i| x.data()[i] - 0.5).unwrap();
    // small_cnn: a one-channel conv → max pool (computed as conv, pool, ReLU); the second:
    // conv → conv → pool (the first ReLU is applied in place; the second conv has 5 channels,
    // takes the Winograd path and is one operation with its pool and ReLU).
    let mut deeper = small_cnn();
    deeper.layers.insert(0, conv2d(5, 3, "relu").same());
    for (spec, saved_nodes) in [(small_cnn(), 0), (deeper, 3)] {
        let run = |fused: bool| {
            let mut m = Model::new(&spec, 8).unwrap();
            let mut g = Graph::new();
            let xv = g.constant(&x);
            let mode = ForwardMode {
                training: true,
                logits: true,
                seed: 1,
                fused,
            };
            let f = m.forward(&mut g, xv, mode).unwrap();
            let out = g.value(f.output).data().to_vec();
            // Fused, the pooled convolution records the pool's output.
            let (conv, pool) = (spec.layers.len() - 7, spec.layers.len() - 6);
            assert_eq!(f.layer_outputs[conv] == f.layer_outputs[pool], fused);
            let s = g.sum(f.output).unwrap();
            let s = g.mul(s, s).unwrap();
            let grads = g.backward(s).unwrap();
            let gs: Vec<Vec<f32>> = f
                .params
                .iter()
                .map(|&p| grads.get(p).unwrap().data().to_vec())
                .collect();
            (out, gs, g.len())
        };
        let (ya, ga, na) = run(false);
        let (yb, gb, nb) = run(true);
        assert!(ya == yb, "outputs differ ({} layers)", spec.layers.len());
        assert!(ga.iter().flatten().any(|&v| v != 0.0));
        assert!(ga == gb, "gradients differ ({} layers)", spec.layers.len());
        assert_eq!(na - nb, saved_nodes);
    }
}

/// A zero padding read only by a `valid` convolution or depthwise convolution is left to that
/// layer (it pads its unpadded input itself): outputs are bit-identical to padding first and
/// gradients the same to rounding, in training and at inference, for the im2col and Winograd
/// convolutions and a strided depthwise one; not fused when the padding has another reader.
#[test]
fn zero_padding_left_to_the_convolution_gives_the_same_outputs_and_gradients() {
    use cnn_nn::layers::{Add, DepthwiseConv2D};
    use cnn_ops::Graph;
    let mut b = GraphBuilder::new("padded", [9, 9, 3]);
    let x = b.input();
    // Fused: pad → 3x3 conv with 3 channels (im2col) and with 8 (Winograd).
    let h = b.chain(&x, [zero_pad((1, 1), (1, 1)), conv2d(8, 3, "relu")]);
    let h = b.chain(&h, [zero_pad((1, 1), (1, 1)), conv2d(8, 3, "linear")]);
    // Fused: an asymmetric pad → strided depthwise convolution.
    let mut dw = DepthwiseConv2D::new(3);
    dw.strides = (2, 2).into();
    let d = b.chain(&h, [zero_pad((0, 1), (0, 1)), dw.into()]);
    // Not fused: a pad read by the convolution and by a shortcut.
    let p = b.apply(zero_pad((1, 1), (1, 1)), &[&d]);
    let c = b.apply(conv2d(8, 3, "linear").same(), &[&p]);
    let s = b.apply(Add {}, &[&p, &c]);
    let out = b.chain(&s, [global_avg_pool(), dense(3, "softmax")]);
    let spec = b.build(&[&out]);
    let x = Tensor::from_fn([4, 9, 9, 3], |i| ((i * 37) % 23) as f32 / 11.0 - 1.0).unwrap();
    let run = |fused: bool, training: bool| {
        let mut m = Model::new(&spec, 5).unwrap();
        let mut g = if training {
            Graph::new()
        } else {
            Graph::inference()
        };
        let xv = g.variable(&x);
        let mode = ForwardMode {
            training,
            logits: false,
            seed: 1,
            fused,
        };
        let f = m.forward(&mut g, xv, mode).unwrap();
        let out = g.value(f.output).data().to_vec();
        // Fused, the padding layers that were left to a convolution pass their input on.
        let passed: Vec<bool> = [0, 2, 4, 6]
            .iter()
            .map(|&i| {
                let from = if i == 0 { xv } else { f.layer_outputs[i - 1] };
                f.layer_outputs[i] == from
            })
            .collect();
        assert_eq!(passed, [fused, fused, fused, false]);
        if !training {
            return (out, Vec::new());
        }
        let s = g.sum(f.output).unwrap();
        let s = g.mul(s, s).unwrap();
        let grads = g.backward(s).unwrap();
        let mut gs: Vec<Vec<f32>> = f
            .params
            .iter()
            .map(|&p| grads.get(p).unwrap().data().to_vec())
            .collect();
        gs.push(grads.get(xv).unwrap().data().to_vec());
        (out, gs)
    };
    for training in [true, false] {
        let (ya, ga) = run(false, training);
        let (yb, gb) = run(true, training);
        assert!(ya == yb, "outputs differ (training {training})");
        // Gradients agree to rounding: a Winograd convolution's input gradient over the
        // unpadded input starts its tiles elsewhere than over the padded one.
        for (i, (a, b)) in ga.iter().zip(&gb).enumerate() {
            let scale = a.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let d = a
                .iter()
                .zip(b)
                .fold(0.0f32, |m, (u, v)| m.max((u - v).abs()));
            assert!(
                d <= 1e-5 * scale,
                "gradient {i} differs by {d} (of {scale})"
            );
        }
        if training {
            assert!(ga.iter().all(|g| g.iter().any(|&v| v != 0.0)));
        }
    }
    // And predict (streaming, fused) gives the plain pass's outputs.
    let mut m = Model::new(&spec, 5).unwrap();
    let streamed = m.predict(&x, 4).unwrap();
    assert_eq!(streamed.data(), &run(false, false).0[..]);
}

/// A checkpoint holds the state of the callbacks before it (early stopping, learning-rate
/// reduction) and its own; restoring it into fresh callbacks continues them where they were,
/// so a resumed run stops and reduces the learning rate when the uninterrupted one would.
#[test]
fn checkpoints_keep_callback_state_for_a_resume() {
    let (x, y) = bars(240, 1);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ckpt.cnn");
    let mut m = Model::new(&small_cnn(), 3).unwrap();
    let mut opt = Optimizer::adam(0.01);
    let mut data = ArrayData::new(&x, &y, 32, true, 3).unwrap();
    // Patience 100 (never stops here); min_delta 10 makes every epoch after the first "not an
    // improvement", so the counters move.
    let mut early = EarlyStopping::new(Monitor::Loss, 100);
    early.min_delta = 10.0;
    let mut plateau = ReduceLrOnPlateau::default();
    plateau.monitor = Monitor::Loss;
    plateau.patience = 2;
    plateau.cooldown = 3;
    plateau.min_delta = 10.0;
    let mut ckpt = ModelCheckpoint::new(&path, Monitor::Loss, false);
    Fit::new(&mut opt, Loss::SparseCategoricalCrossentropy)
        .epochs(4)
        .callback(&mut early)
        .callback(&mut plateau)
        .callback(&mut ckpt)
        .run(&mut m, &mut data)
        .unwrap();
    let saved = load_model(&path).unwrap();
    assert!(saved.extra.contains_key(CALLBACK_STATES));
    let mut early2 = EarlyStopping::new(Monitor::Loss, 100);
    let mut plateau2 = ReduceLrOnPlateau::default();
    let restored = restore_callbacks(&mut [&mut early2, &mut plateau2], &saved.extra).unwrap();
    assert_eq!(restored, 2);
    assert_eq!(early2.progress(), early.progress());
    assert_eq!(early.progress().1, 3, "three epochs without improvement");
    assert_eq!(plateau2.progress(), plateau.progress());
    assert!(plateau.progress().2 > 0, "in cooldown after a reduction");
    // The optimizer's reduced learning rate is in the file too.
    assert_eq!(
        saved.optimizer.unwrap().learning_rate,
        opt.learning_rate,
        "the reduced rate"
    );
    assert!(opt.learning_rate < 0.01);
    // A checkpoint without states restores nothing, and says so.
    let none = std::collections::HashMap::new();
    assert_eq!(restore_callbacks(&mut [&mut early2], &none).unwrap(), 0);
}
