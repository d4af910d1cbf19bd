//! `Model::predict` folds each batch normalisation into the convolution before it (and the
//! activation after it into the convolution's output): its predictions are those of the plain
//! layer-by-layer pass to rounding, and follow every change of the weights.

use cnn_nn::layers::{Add, DepthwiseConv2D, ReLU};
use cnn_nn::spec::layers::*;
use cnn_nn::*;
use cnn_ops::Graph;
use cnn_tensor::Tensor;

/// Every folding case and its exceptions: conv (bias) → BN → ReLU(6); depthwise (no bias) →
/// BN → relu; 1x1 conv (no bias) → BN; a BN read twice (its activation is not folded); a conv
/// read by its BN and a shortcut (not folded).
fn model() -> ModelSpec {
    let mut b = GraphBuilder::new("folds", [8, 8, 3]);
    let x = b.input();
    let a = b.chain(
        &x,
        [
            conv2d(6, 3, "linear").same(),
            batch_norm(),
            ReLU::capped(6.0).into(),
        ],
    );
    let mut dw = DepthwiseConv2D::new(3);
    dw.padding = PaddingSpec::Same;
    dw.use_bias = false;
    let mut pw = cnn_nn::layers::Conv2D::new(6, 1, "linear");
    pw.use_bias = false;
    let c = b.chain(
        &a,
        [
            dw.into(),
            batch_norm(),
            activation("relu"),
            pw.into(),
            batch_norm(),
        ],
    );
    let s = b.apply(Add {}, &[&c, &a]);
    let d = b.chain(&s, [conv2d(6, 3, "linear").same(), batch_norm()]);
    let e = b.apply(activation("relu"), &[&d]);
    let s2 = b.apply(Add {}, &[&e, &d]);
    let f = b.apply(conv2d(6, 3, "linear").same(), &[&s2]);
    let g = b.apply(batch_norm(), &[&f]);
    let s3 = b.apply(Add {}, &[&f, &g]);
    let out = b.chain(&s3, [global_avg_pool(), dense(4, "linear")]);
    b.build(&[&out])
}

/// The plain pass: every layer on its own, nothing folded.
fn plain(m: &mut Model, x: &Tensor) -> Tensor {
    let mut g = Graph::inference();
    let xv = g.constant(x);
    let f = m.forward(&mut g, xv, ForwardMode::inference()).unwrap();
    g.value(f.output).clone()
}

/// The largest difference, relative to the largest output (the outputs are logits).
fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims());
    let scale = b.data().iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(scale > 0.1, "outputs too small to compare: {scale}");
    a.data()
        .iter()
        .zip(b.data())
        .fold(0.0f32, |m, (u, v)| m.max((u - v).abs()))
        / scale
}

#[test]
fn predict_folds_batch_norms_and_follows_weight_changes() {
    let mut m = Model::new(&model(), 4).unwrap();
    // Batch norms with statistics, scales and shifts far from the identity.
    let names = m.param_names().to_vec();
    for (k, (t, name)) in m.params_mut().iter_mut().zip(&names).enumerate() {
        if name.ends_with("gamma") || name.ends_with("beta") {
            *t = Tensor::from_fn([t.len()], |i| ((i * 3 + k) % 5) as f32 * 0.5 - 0.8).unwrap();
        }
    }
    for (k, t) in m.state_mut().iter_mut().enumerate() {
        *t = Tensor::from_fn([t.len()], |i| 0.3 + ((i * 5 + k) % 7) as f32 * 0.4).unwrap();
    }
    let x = Tensor::from_fn([5, 8, 8, 3], |i| ((i * 31) % 17) as f32 / 8.0 - 1.0).unwrap();
    let want = plain(&mut m, &x);
    let got = m.predict(&x, 5).unwrap();
    let d = max_diff(&got, &want);
    assert!(d < 1e-5, "folded predictions differ by {d}");
    // Folded: the products are scaled before they are summed, so some bits differ.
    assert_ne!(got, want, "nothing was folded");

    // Each way of changing the weights is seen by the next predict.
    type Change = (&'static str, fn(&mut Model));
    let changes: [Change; 3] = [
        ("params_mut", |m| {
            for p in m.params_mut() {
                p.map_inplace(|v| v * 1.5 - 0.01);
            }
        }),
        ("state_mut", |m| {
            for s in m.state_mut() {
                s.map_inplace(|v| v + 0.5);
            }
        }),
        ("weight_mut", |m| {
            let name = m.param_names()[2].clone();
            assert!(name.ends_with("gamma"), "{name}");
            m.weight_mut(&name).unwrap().map_inplace(|v| -3.0 * v);
        }),
    ];
    for (how, change) in changes {
        change(&mut m);
        let want = plain(&mut m, &x);
        let got = m.predict(&x, 5).unwrap();
        let d = max_diff(&got, &want);
        assert!(d < 1e-5, "after {how}: predictions differ by {d}");
    }
    // And copying another model's weights.
    let mut other = Model::new(&model(), 9).unwrap();
    m.copy_weights_from(&other);
    let d = max_diff(&m.predict(&x, 5).unwrap(), &plain(&mut other, &x));
    assert!(
        d < 1e-5,
        "after copy_weights_from: predictions differ by {d}"
    );
}
