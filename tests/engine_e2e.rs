//! End-to-end: the engine trains a small convnet with plain SGD written against the public API
//! (tensors, initialisers, Graph), and the same seed gives bit-identical weights.

use cnn::ops::{Conv2dOptions, Graph, Labels, Padding, Pool2dOptions};
use cnn::tensor::{Initializer, Tensor, seeded_rng};

/// 8x8 images with a vertical bar (class 0) or a horizontal bar (class 1) at a random place.
fn bars(n: usize, seed: u64) -> (Tensor, Vec<usize>) {
    use rand::RngExt;
    let mut rng = seeded_rng(seed);
    let mut x = vec![0.0f32; n * 64];
    let mut y = Vec::with_capacity(n);
    for i in 0..n {
        let class = rng.random_range(0..2usize);
        let pos = rng.random_range(1..7usize);
        for t in 0..8 {
            let (r, c) = if class == 0 { (t, pos) } else { (pos, t) };
            x[i * 64 + r * 8 + c] = 1.0;
        }
        y.push(class);
    }
    (Tensor::new([n, 8, 8, 1], x).unwrap(), y)
}

struct Params {
    k: Tensor,
    kb: Tensor,
    w: Tensor,
    b: Tensor,
}

fn forward_loss(p: &Params, x: &Tensor, y: &[usize]) -> (f32, f32, Vec<Tensor>) {
    let mut g = Graph::new();
    let xv = g.constant(x);
    let vars = [
        g.variable(&p.k),
        g.variable(&p.kb),
        g.variable(&p.w),
        g.variable(&p.b),
    ];
    let opts = Conv2dOptions {
        padding: Padding::Same,
        ..Default::default()
    };
    let c = g.conv2d(xv, vars[0], Some(vars[1]), &opts).unwrap();
    let r = g.relu(c).unwrap();
    let m = g.max_pool2d(r, &Pool2dOptions::square(2)).unwrap();
    let f = g.flatten(m).unwrap();
    let logits = g.dense(f, vars[2], Some(vars[3])).unwrap();
    let preds: Vec<usize> = g
        .value(logits)
        .data()
        .chunks(2)
        .map(|r| if r[1] > r[0] { 1 } else { 0 })
        .collect();
    let acc = preds.iter().zip(y).filter(|(a, b)| a == b).count() as f32 / y.len() as f32;
    let loss = g
        .softmax_cross_entropy(logits, &Labels::Sparse(y.to_vec()))
        .unwrap();
    let l = g.value(loss).item().unwrap();
    let mut grads = g.backward(loss).unwrap();
    (
        l,
        acc,
        vars.iter().map(|&v| grads.take(v).unwrap()).collect(),
    )
}

fn train(seed: u64, steps: usize) -> (Params, f32, f32, f32) {
    let mut rng = seeded_rng(seed);
    let mut p = Params {
        k: Initializer::GlorotUniform
            .init([3, 3, 1, 4], &mut rng)
            .unwrap(),
        kb: Tensor::zeros([4]).unwrap(),
        w: Initializer::GlorotUniform.init([64, 2], &mut rng).unwrap(),
        b: Tensor::zeros([2]).unwrap(),
    };
    let (x, y) = bars(64, seed + 1);
    let (first, _, _) = forward_loss(&p, &x, &y);
    for _ in 0..steps {
        let (_, _, grads) = forward_loss(&p, &x, &y);
        for (t, g) in [&mut p.k, &mut p.kb, &mut p.w, &mut p.b]
            .into_iter()
            .zip(&grads)
        {
            t.data_mut()
                .iter_mut()
                .zip(g.data())
                .for_each(|(w, d)| *w -= 0.5 * d);
        }
    }
    let (xt, yt) = bars(200, seed + 2);
    let (last, test_acc, _) = forward_loss(&p, &xt, &yt);
    (p, first, last, test_acc)
}

#[test]
fn sgd_learns_bar_orientation() {
    let (_, first, last, acc) = train(7, 60);
    assert!(first > 0.6, "initial loss {first} should be near ln 2");
    assert!(last < 0.2, "held-out loss {last} after training");
    assert!(acc >= 0.95, "held-out accuracy {acc}");
}

#[test]
fn same_seed_same_weights() {
    let (a, ..) = train(3, 5);
    let (b, ..) = train(3, 5);
    let (c, ..) = train(4, 5);
    assert_eq!(a.k, b.k);
    assert_eq!(a.w, b.w);
    assert_ne!(a.k, c.k);
}
