//! Finite-difference gradient checks of every differentiable op, through the autograd graph.
//!
//! Each op's output is contracted with a fixed random tensor `R` (loss = Σ y·R) so every output
//! element contributes; analytic gradients from `Graph::backward` are compared with central
//! differences in f32, element by element (within 2e-3 of the gradient's scale plus 2 %) and
//! as a whole (relative error `‖a − n‖ / max(‖a‖, ‖n‖)` below 1e-2).

use cnn_ops::*;
use cnn_tensor::Tensor;
use proptest::prelude::*;

fn rand_vec(len: usize, seed: u64, lo: f32, hi: f32) -> Vec<f32> {
    let mut s = seed ^ 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            lo + (hi - lo) * ((s >> 40) as f32 / (1u64 << 24) as f32)
        })
        .collect()
}

fn rand_tensor(dims: &[usize], seed: u64) -> Tensor {
    let n = dims.iter().product();
    Tensor::new(dims, rand_vec(n, seed, -1.0, 1.0)).unwrap()
}

/// Values at least `gap` away from zero and from each other (for relu / max kinks).
fn spread_tensor(dims: &[usize], seed: u64, gap: f32) -> Tensor {
    let n: usize = dims.iter().product();
    let mut vals: Vec<f32> = (0..n)
        .map(|i| (i as f32 - (n / 2) as f32 + 0.5) * gap)
        .collect();
    // Deterministic shuffle.
    let keys = rand_vec(n, seed, 0.0, 1.0);
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by(|&a, &b| keys[a].total_cmp(&keys[b]));
    vals = idx.iter().map(|&i| vals[i]).collect();
    Tensor::new(dims, vals).unwrap()
}

/// Per-element tolerance of a gradient check: absolute (relative to the gradient's largest
/// entry, for f32 central differences) and relative.
const ELEMENT_ATOL: f32 = 2e-3;
const ELEMENT_RTOL: f32 = 2e-2;

/// Checks d(Σ op(inputs)·R)/d(inputs[i]) for every input against central differences, each
/// element on its own and the whole gradient's relative error.
fn check<F>(inputs: &[Tensor], eps: f32, op: F) -> Result<(), String>
where
    F: Fn(&mut Graph, &[Var]) -> Result<Var>,
{
    let loss_of = |vals: &[Tensor], record: bool| -> (f32, Vec<Option<Tensor>>) {
        let mut g = if record {
            Graph::new()
        } else {
            Graph::inference()
        };
        let vars: Vec<Var> = vals.iter().map(|t| g.variable(t)).collect();
        let y = op(&mut g, &vars).expect("op");
        let yv = g.value(y).clone();
        let r = g.constant(rand_tensor(yv.dims(), 12345));
        let prod = g.mul(y, r).unwrap();
        let loss = g.sum(prod).unwrap();
        let l = g.value(loss).item().unwrap();
        if !record {
            return (l, Vec::new());
        }
        let grads = g.backward(loss).unwrap();
        (l, vars.iter().map(|&v| grads.get(v).cloned()).collect())
    };
    let (_, analytic) = loss_of(inputs, true);
    for (i, a) in analytic.iter().enumerate() {
        let a = a.as_ref().ok_or(format!("no gradient for input {i}"))?;
        let mut numeric = vec![0.0f32; inputs[i].len()];
        for (j, nj) in numeric.iter_mut().enumerate() {
            let mut plus = inputs.to_vec();
            plus[i].data_mut()[j] += eps;
            let mut minus = inputs.to_vec();
            minus[i].data_mut()[j] -= eps;
            *nj = (loss_of(&plus, false).0 - loss_of(&minus, false).0) / (2.0 * eps);
        }
        // Element by element: one wrong entry among many right ones must not hide in a norm.
        let scale = a
            .data()
            .iter()
            .chain(&numeric)
            .fold(0.0f32, |m, v| m.max(v.abs()));
        for (j, (&x, &y)) in a.data().iter().zip(&numeric).enumerate() {
            let tol = ELEMENT_ATOL * scale.max(1.0) + ELEMENT_RTOL * x.abs().max(y.abs());
            if (x - y).abs() > tol {
                return Err(format!(
                    "input {i}, element {j}: analytic {x} vs numeric {y} (tolerance {tol})"
                ));
            }
        }
        let diff: f32 = a
            .data()
            .iter()
            .zip(&numeric)
            .map(|(x, y)| (x - y).powi(2))
            .sum::<f32>()
            .sqrt();
        let na: f32 = a.data().iter().map(|x| x * x).sum::<f32>().sqrt();
        let nn: f32 = numeric.iter().map(|x| x * x).sum::<f32>().sqrt();
        let rel = diff / na.max(nn).max(1e-6);
        if rel >= 1e-2 {
            return Err(format!(
                "input {i}: relative error {rel} (analytic {:?} vs numeric {:?})",
                &a.data()[..a.len().min(6)],
                &numeric[..numeric.len().min(6)]
            ));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn conv2d_gradients(
        (n, h, w, c, f) in (1usize..3, 3usize..7, 3usize..7, 1usize..4, 1usize..4),
        (k, s, d) in (1usize..4, 1usize..3, 1usize..3),
        same in any::<bool>(), seed in any::<u64>(),
    ) {
        let opts = Conv2dOptions { strides: (s, s), dilation: (d, d),
            padding: if same { Padding::Same } else { Padding::Explicit { top: 1, bottom: 0, left: 0, right: 1 } } };
        let x = rand_tensor(&[n, h, w, c], seed);
        let kt = rand_tensor(&[k, k, c, f], seed ^ 1);
        let b = rand_tensor(&[f], seed ^ 2);
        prop_assume!(conv2d_forward(&x, &kt, None, &opts).is_ok());
        let r = check(&[x, kt, b], 1e-2, |g, v| g.conv2d(v[0], v[1], Some(v[2]), &opts));
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    #[test]
    fn conv_max_pool_fused_gradients_are_the_separate_ops(
        // At least 32 samples (enough tiles) and 5 channels (not the direct path's few): the
        // Winograd path, which the fusion needs.
        (n, h, w, c, f) in (32usize..35, 4usize..8, 4usize..8, 5usize..7, 4usize..6),
        same in any::<bool>(), relu in any::<bool>(), seed in any::<u64>(),
    ) {
        let opts = Conv2dOptions { padding: if same { Padding::Same } else { Padding::Valid },
            ..Default::default() };
        let pool = Pool2dOptions::square(2);
        let x = rand_tensor(&[n, h, w, c], seed);
        let kt = rand_tensor(&[3, 3, c, f], seed ^ 1);
        let b = rand_tensor(&[f], seed ^ 2);
        // The fused path is the one under test.
        let fused = conv2d_max_pool_forward(&x, &kt, Some(&b), &opts, &pool).unwrap();
        prop_assert!(fused.is_some());
        // Its gradients are exactly those of the separate operations, each of which is checked
        // against central differences above and below. (Differencing the fused op itself
        // fails by kinks, not by errors: a step of 1e-2 or 1e-3 moves some window's maximum
        // or the ReLU's zero crossing.)
        let grads = |fuse: bool| {
            let mut g = Graph::new();
            let v: Vec<Var> = [&x, &kt, &b].into_iter().map(|t| g.variable(t)).collect();
            let y = if fuse {
                g.conv2d_max_pool(v[0], v[1], Some(v[2]), &opts, &pool, relu).unwrap()
            } else {
                let c = g.conv2d(v[0], v[1], Some(v[2]), &opts).unwrap();
                let p = g.max_pool2d(c, &pool).unwrap();
                if relu { g.relu(p).unwrap() } else { p }
            };
            let r = g.constant(rand_tensor(g.value(y).dims(), 7));
            let prod = g.mul(y, r).unwrap();
            let loss = g.sum(prod).unwrap();
            let gr = g.backward(loss).unwrap();
            v.iter().map(|&v| gr.get(v).unwrap().data().to_vec()).collect::<Vec<_>>()
        };
        prop_assert_eq!(grads(true), grads(false));
    }

    #[test]
    fn pool_gradients((n, h, w, c) in (1usize..3, 2usize..7, 2usize..7, 1usize..4), k in 1usize..4, s in 1usize..3,
                      same in any::<bool>(), seed in any::<u64>()) {
        let opts = Pool2dOptions { pool_size: (k, k), strides: Some((s, s)),
            padding: if same { Padding::Same } else { Padding::Valid } };
        let x = spread_tensor(&[n, h, w, c], seed, 0.05);
        prop_assume!(avg_pool2d_forward(&x, &opts).is_ok());
        let r = check(std::slice::from_ref(&x), 1e-2, |g, v| g.max_pool2d(v[0], &opts));
        prop_assert!(r.is_ok(), "max: {}", r.unwrap_err());
        let r = check(&[x], 1e-2, |g, v| g.avg_pool2d(v[0], &opts));
        prop_assert!(r.is_ok(), "avg: {}", r.unwrap_err());
    }

    #[test]
    fn dense_gradients((n, i, o) in (1usize..5, 1usize..8, 1usize..6), seed in any::<u64>()) {
        let r = check(&[rand_tensor(&[n, i], seed), rand_tensor(&[i, o], seed ^ 1), rand_tensor(&[o], seed ^ 2)],
            1e-2, |g, v| g.dense(v[0], v[1], Some(v[2])));
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }
}

#[test]
fn activation_gradients() {
    let x = spread_tensor(&[3, 7], 3, 0.11);
    for act in [
        Activation::Relu,
        Activation::Elu(1.0),
        Activation::LeakyRelu(0.3),
        Activation::Sigmoid,
        Activation::Tanh,
        // Between the inputs ±0.495 and ±0.605, so both of its kinks are crossed by none.
        Activation::ReluMax(0.55),
        Activation::Swish,
        Activation::Gelu,
        Activation::HardSigmoid,
    ] {
        check(std::slice::from_ref(&x), 1e-2, |g, v| {
            g.activation(v[0], act)
        })
        .unwrap_or_else(|e| panic!("{act:?}: {e}"));
    }
}

#[test]
fn softmax_and_structural_gradients() {
    let x = rand_tensor(&[4, 6], 5);
    check(std::slice::from_ref(&x), 1e-2, |g, v| g.softmax(v[0])).unwrap();
    let x4 = rand_tensor(&[2, 3, 3, 2], 6);
    check(std::slice::from_ref(&x4), 1e-2, |g, v| g.flatten(v[0])).unwrap();
    check(std::slice::from_ref(&x4), 1e-2, |g, v| {
        g.global_avg_pool2d(v[0])
    })
    .unwrap();
    check(std::slice::from_ref(&x4), 1e-2, |g, v| {
        g.select_last(v[0], 1)
    })
    .unwrap();
    check(std::slice::from_ref(&x4), 1e-2, |g, v| g.scale(v[0], -2.5)).unwrap();
    check(std::slice::from_ref(&x4), 1e-2, |g, v| g.mean(v[0])).unwrap();
    check(
        &[x4.clone(), rand_tensor(&[2, 3, 3, 2], 7)],
        1e-2,
        |g, v| g.add(v[0], v[1]),
    )
    .unwrap();
    check(
        &[x4.clone(), rand_tensor(&[2, 3, 3, 2], 7)],
        1e-2,
        |g, v| g.mul(v[0], v[1]),
    )
    .unwrap();
    check(&[x4], 1e-2, |g, v| g.dropout(v[0], 0.4, 99)).unwrap();
}

#[test]
fn batch_norm_gradients() {
    let x = rand_tensor(&[2, 3, 3, 4], 8);
    let gamma = rand_tensor(&[4], 9);
    let beta = rand_tensor(&[4], 10);
    for training in [true, false] {
        check(&[x.clone(), gamma.clone(), beta.clone()], 1e-2, |g, v| {
            let (mut mm, mut mv) = (
                Tensor::full([4], 0.1).unwrap(),
                Tensor::full([4], 0.8).unwrap(),
            );
            g.batch_norm(
                v[0],
                v[1],
                v[2],
                &mut mm,
                &mut mv,
                training,
                &BatchNormOptions::default(),
            )
        })
        .unwrap_or_else(|e| panic!("training={training}: {e}"));
    }
}

#[test]
fn lrn_gradients() {
    let x = rand_tensor(&[2, 2, 2, 7], 11);
    let o = LrnOptions {
        depth_radius: 2,
        bias: 1.0,
        alpha: 0.5,
        beta: 0.75,
    };
    check(&[x], 1e-2, |g, v| g.lrn(v[0], &o)).unwrap();
}

#[test]
fn loss_gradients() {
    let z = rand_tensor(&[5, 4], 12);
    check(std::slice::from_ref(&z), 1e-2, |g, v| {
        g.softmax_cross_entropy(v[0], &Labels::Sparse(vec![0, 3, 1, 2, 3]))
    })
    .unwrap();
    let onehot = Tensor::from_fn([5, 4], |i| if i % 4 == (i / 4) % 4 { 1.0 } else { 0.0 }).unwrap();
    check(std::slice::from_ref(&z), 1e-2, |g, v| {
        g.softmax_cross_entropy(v[0], &Labels::OneHot(onehot.clone()))
    })
    .unwrap();
    let t = Tensor::new([5, 4], rand_vec(20, 13, 0.0, 1.0)).unwrap();
    check(std::slice::from_ref(&z), 1e-2, |g, v| {
        g.binary_cross_entropy_with_logits(v[0], &t)
    })
    .unwrap();
    let p = Tensor::new([5, 4], rand_vec(20, 14, 0.1, 0.9)).unwrap();
    check(&[p], 1e-3, |g, v| g.binary_cross_entropy(v[0], &t)).unwrap();
}

/// A whole small convnet: conv → relu → maxpool → flatten → dense → softmax cross-entropy,
/// with the gradient of the *input image* (what filter visualisation needs) and of a retained
/// intermediate (what Grad-CAM needs).
#[test]
fn composite_network_gradients_including_input() {
    let x = rand_tensor(&[2, 6, 6, 1], 20);
    let k = rand_tensor(&[3, 3, 1, 3], 21);
    let w = rand_tensor(&[12, 4], 22);
    let run = |g: &mut Graph, v: &[Var]| -> Result<Var> {
        let c = g.conv2d(v[0], v[1], None, &Conv2dOptions::default())?;
        let r = g.relu(c)?;
        let p = g.max_pool2d(r, &Pool2dOptions::square(2))?;
        let f = g.flatten(p)?;
        g.dense(f, v[2], None)
    };
    check(&[x.clone(), k.clone(), w.clone()], 1e-3, run).unwrap();

    let mut g = Graph::new();
    let xv = g.variable(&x);
    let kv = g.constant(&k);
    let c = g.conv2d(xv, kv, None, &Conv2dOptions::default()).unwrap();
    g.retain_grad(c);
    let s = g.select_last(c, 0).unwrap();
    let loss = g.sum(s).unwrap();
    let grads = g.backward(loss).unwrap();
    assert_eq!(grads.get(xv).unwrap().dims(), &[2, 6, 6, 1]);
    let gc = grads.get(c).unwrap();
    // d(sum of channel 0)/d(conv output) is 1 on channel 0 and 0 elsewhere.
    assert!(gc.data().chunks(3).all(|r| r == [1.0, 0.0, 0.0]));
    // The constant kernel gets no gradient.
    assert!(grads.get(kv).is_none());
}

#[test]
fn inference_graph_records_nothing_and_backward_needs_scalar() {
    let x = rand_tensor(&[1, 4], 30);
    let mut g = Graph::inference();
    let v = g.variable(&x);
    let y = g.softmax(v).unwrap();
    assert!(!g.is_recording());
    let grads = g.backward(y);
    assert!(matches!(grads, Err(OpError::NotScalar(_))));
    let mut g = Graph::inference();
    let v = g.variable(&x);
    let s = g.sum(v).unwrap();
    assert!(g.backward(s).unwrap().get(v).is_none());
}

#[test]
fn merge_and_padding_gradients() {
    let a = rand_tensor(&[2, 3, 3, 2], 1);
    let b = rand_tensor(&[2, 3, 3, 1], 2);
    let c = rand_tensor(&[2, 3, 3, 3], 3);
    check(&[a.clone(), b, c], 1e-2, |g, v| g.concat_last(v)).unwrap();
    // One value read twice: the gradients of both readers add up.
    check(std::slice::from_ref(&a), 1e-2, |g, v| {
        let t = g.activation(v[0], Activation::Tanh)?;
        let cat = g.concat_last(&[t, v[0]])?;
        let s = g.add(v[0], t)?;
        let p = g.mul(s, v[0])?;
        let both = g.concat_last(&[cat, p])?;
        Ok(both)
    })
    .unwrap();
    for pad in [
        Pad2d {
            rows: (1, 1),
            cols: (1, 1),
        },
        Pad2d {
            rows: (0, 1),
            cols: (2, 0),
        },
        Pad2d {
            rows: (3, 0),
            cols: (0, 0),
        },
    ] {
        check(std::slice::from_ref(&a), 1e-2, |g, v| {
            g.zero_pad2d(v[0], &pad)
        })
        .unwrap();
    }
}

#[test]
fn zero_padding_puts_the_image_inside_zeros() {
    let x = Tensor::new([1, 2, 2, 1], vec![1.0, 2.0, 3.0, 4.0]).unwrap();
    let pad = Pad2d {
        rows: (0, 1),
        cols: (1, 0),
    };
    let y = zero_pad2d_forward(&x, &pad).unwrap();
    assert_eq!(y.dims(), &[1, 3, 3, 1]);
    assert_eq!(y.data(), &[0.0, 1.0, 2.0, 0.0, 3.0, 4.0, 0.0, 0.0, 0.0]);
    let back = zero_pad2d_backward(&y, x.dims(), &pad).unwrap();
    assert_eq!(back, x);
    assert!(zero_pad2d_forward(&Tensor::zeros([2, 2]).unwrap(), &pad).is_err());
    let huge = Pad2d {
        rows: (usize::MAX, 1),
        cols: (0, 0),
    };
    assert!(zero_pad2d_forward(&x, &huge).is_err());
}

#[test]
fn depthwise_global_max_and_affine_gradients() {
    for (m, s, pad, bias) in [
        (1, 1, Padding::Same, true),
        (2, 2, Padding::Valid, false),
        (3, 1, Padding::uniform(1), true),
    ] {
        let opts = Conv2dOptions {
            strides: (s, s),
            padding: pad,
            dilation: (1, 1),
        };
        let mut inputs = vec![
            rand_tensor(&[2, 5, 5, 3], 11),
            rand_tensor(&[3, 3, 3, m], 12),
        ];
        if bias {
            inputs.push(rand_tensor(&[3 * m], 13));
        }
        check(&inputs, 1e-2, |g, v| {
            g.depthwise_conv2d(v[0], v[1], v.get(2).copied(), &opts)
        })
        .unwrap_or_else(|e| panic!("multiplier {m}, stride {s}: {e}"));
    }
    // Distinct values, so no maximum changes under the perturbation.
    let x = spread_tensor(&[2, 3, 3, 2], 14, 0.05);
    check(std::slice::from_ref(&x), 1e-2, |g, v| {
        g.global_max_pool2d(v[0])
    })
    .unwrap();
    check(std::slice::from_ref(&x), 1e-2, |g, v| {
        g.affine(v[0], 1.0 / 127.5, -1.0)
    })
    .unwrap();
}
