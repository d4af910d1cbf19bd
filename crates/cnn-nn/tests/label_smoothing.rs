//! Label smoothing: the loss against `(1 − ε)·y + ε/K`, from integer or one-hot labels.

use cnn_nn::spec::layers::*;
use cnn_nn::*;
use cnn_tensor::Tensor;

fn model() -> Model {
    let spec = ModelSpec {
        name: "tiny".into(),
        input_shape: vec![4, 4, 2],
        layers: vec![flatten(), dense(5, "softmax")],
        ..ModelSpec::default()
    };
    Model::new(&spec, 9).unwrap()
}

fn data() -> (Tensor, Vec<usize>) {
    let x = Tensor::from_fn(vec![6, 4, 4, 2], |i| ((i * 29) % 17) as f32 / 8.0 - 1.0).unwrap();
    (x, vec![0, 4, 2, 2, 1, 3])
}

#[test]
fn smoothed_loss_is_the_cross_entropy_against_smoothed_targets() {
    let mut m = model();
    let (x, labels) = data();
    let p = m.predict(&x, 6).unwrap();
    let e = 0.2f32;
    let want: f64 = p
        .data()
        .chunks(5)
        .zip(&labels)
        .map(|(row, &c)| {
            row.iter()
                .enumerate()
                .map(|(k, &q)| {
                    let t = if k == c { 1.0 - e + e / 5.0 } else { e / 5.0 };
                    -(t as f64) * (q as f64).ln()
                })
                .sum::<f64>()
        })
        .sum::<f64>()
        / 6.0;
    let smoothed = Loss::SmoothedCrossentropy { label_smoothing: e };
    let sparse = Targets::Sparse(labels.clone());
    let got = m.evaluate_arrays(&x, &sparse, smoothed, 6).unwrap();
    assert!(
        (got.loss as f64 - want).abs() < 1e-5,
        "{} vs {want}",
        got.loss
    );
    // One-hot labels give the same loss.
    let mut onehot = Tensor::zeros(vec![6, 5]).unwrap();
    for (row, &c) in onehot.data_mut().chunks_mut(5).zip(&labels) {
        row[c] = 1.0;
    }
    let dense = m
        .evaluate_arrays(&x, &Targets::Dense(onehot), smoothed, 6)
        .unwrap();
    assert_eq!(dense.loss, got.loss);
    // No smoothing is the plain cross-entropy, which differs from the smoothed one.
    let none = Loss::SmoothedCrossentropy {
        label_smoothing: 0.0,
    };
    let plain = m
        .evaluate_arrays(&x, &sparse, Loss::SparseCategoricalCrossentropy, 6)
        .unwrap();
    let zero = m.evaluate_arrays(&x, &sparse, none, 6).unwrap();
    assert!((plain.loss - zero.loss).abs() < 1e-6);
    assert!((plain.loss - got.loss).abs() > 1e-3);
}

#[test]
fn smoothing_trains_and_bad_settings_are_refused() {
    let (x, labels) = data();
    let y = Targets::Sparse(labels);
    let mut m = model();
    let mut opt = Optimizer::adam(0.05);
    let smoothed = Loss::SmoothedCrossentropy {
        label_smoothing: 0.1,
    };
    let first = m.train_step(&x, &y, smoothed, &mut opt, 1).unwrap().loss;
    let mut last = first;
    for s in 0..30 {
        last = m.train_step(&x, &y, smoothed, &mut opt, s).unwrap().loss;
    }
    assert!(last < first, "{first} -> {last}");
    for bad in [-0.1, 1.5, f32::NAN] {
        let l = Loss::SmoothedCrossentropy {
            label_smoothing: bad,
        };
        assert!(m.train_step(&x, &y, l, &mut opt, 0).is_err(), "{bad}");
    }
    let short = Targets::Sparse(vec![0, 1]);
    assert!(m.train_step(&x, &short, smoothed, &mut opt, 0).is_err());
    let out_of_range = Targets::Sparse(vec![0, 1, 2, 3, 4, 5]);
    assert!(
        m.train_step(&x, &out_of_range, smoothed, &mut opt, 0)
            .is_err()
    );
}
