//! `Graph::donate`: an inference graph may overwrite a donated value in the element-wise
//! operation that reads it (same results, the input's value gone); a recording graph ignores
//! the donation (its backward pass reads the values).

use cnn_ops::*;
use cnn_tensor::Tensor;

fn x() -> Tensor {
    Tensor::from_fn([2, 3, 3, 4], |i| (i as f32 * 0.37).sin() * 3.0).unwrap()
}

/// ReLU6 then batch norm (inference mode) of `x`, donating each input when `donate`; returns
/// the output and whether the inputs still hold their values.
fn run(g: &mut Graph<'_>, donate: bool) -> (Vec<f32>, bool) {
    let gamma = Tensor::from_fn([4], |i| 0.5 + i as f32).unwrap();
    let beta = Tensor::from_fn([4], |i| i as f32 - 1.0).unwrap();
    let (mut mean, mut var) = (
        Tensor::from_fn([4], |i| 0.1 * i as f32).unwrap(),
        Tensor::from_fn([4], |i| 1.0 + i as f32).unwrap(),
    );
    let xv = g.variable(x());
    let (gv, bv) = (g.constant(gamma), g.constant(beta));
    if donate {
        g.donate(xv);
    }
    let a = g.activation(xv, Activation::ReluMax(6.0)).unwrap();
    if donate {
        g.donate(a);
    }
    let opts = BatchNormOptions::default();
    let y = g
        .batch_norm(a, gv, bv, &mut mean, &mut var, false, &opts)
        .unwrap();
    let kept = !g.value(xv).is_empty() && !g.value(a).is_empty();
    (g.value(y).data().to_vec(), kept)
}

/// An addition overwrites whichever input was donated, with the bits of the plain sum.
#[test]
fn add_overwrites_a_donated_input_with_the_same_bits() {
    let y = Tensor::from_fn([2, 3, 3, 4], |i| (i as f32 * 0.11).cos() * 7.0).unwrap();
    let sum = |donate: Option<usize>| {
        let mut g = Graph::inference();
        let (a, b) = (g.constant(x()), g.constant(y.clone()));
        if let Some(k) = donate {
            g.donate([a, b][k]);
        }
        let s = g.add(a, b).unwrap();
        let gone = [a, b].map(|v| g.value(v).is_empty());
        (g.value(s).data().to_vec(), gone)
    };
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    let (want, gone) = sum(None);
    assert_eq!(gone, [false, false]);
    for (k, expect) in [(0, [true, false]), (1, [false, true])] {
        let (got, gone) = sum(Some(k));
        assert_eq!(gone, expect, "input {k} donated");
        assert_eq!(bits(&got), bits(&want));
    }
    // A value added to itself is never overwritten while it is read.
    let mut g = Graph::inference();
    let a = g.constant(x());
    g.donate(a);
    let s = g.add(a, a).unwrap();
    let twice: Vec<f32> = x().data().iter().map(|v| v + v).collect();
    assert_eq!(g.value(s).data(), &twice[..]);
}

#[test]
fn donated_values_are_overwritten_only_in_inference_graphs() {
    let (want, kept) = run(&mut Graph::inference(), false);
    assert!(kept);
    let (got, kept) = run(&mut Graph::inference(), true);
    assert!(
        !kept,
        "the inference graph did not reuse the donated values"
    );
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&got), bits(&want));
    let (got, kept) = run(&mut Graph::new(), true);
    assert!(
        kept,
        "a recording graph overwrote a value its backward pass needs"
    );
    assert_eq!(bits(&got), bits(&want));
}
