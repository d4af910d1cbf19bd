//! `Graph::backward_to`: only the paths from the wanted values to the loss are differentiated,
//! and the wanted gradients are `Graph::backward`'s, bit for bit.

use cnn_ops::{Conv2dOptions, Graph};
use cnn_tensor::Tensor;

fn ramp(dims: &[usize], scale: f32) -> Tensor {
    let n: usize = dims.iter().product();
    Tensor::new(
        dims,
        (0..n)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) * scale)
            .collect(),
    )
    .unwrap()
}

#[test]
fn only_the_paths_from_the_wanted_values_are_differentiated() {
    let x = ramp(&[2, 6, 6, 3], 0.02);
    let w1 = ramp(&[3, 3, 3, 4], 0.01);
    let w2 = ramp(&[3, 3, 4, 5], 0.01);
    let d = ramp(&[2 * 2 * 5, 3], 0.01);
    let run = |to: bool| {
        let mut g = Graph::new();
        let xv = g.constant(&x);
        let (w1v, w2v, dv) = (g.variable(&w1), g.variable(&w2), g.variable(&d));
        let a = g.conv2d(xv, w1v, None, &Conv2dOptions::default()).unwrap();
        let a = g.relu(a).unwrap();
        g.retain_grad(a);
        let b = g.conv2d(a, w2v, None, &Conv2dOptions::default()).unwrap();
        let b = g.relu(b).unwrap();
        let f = g.flatten(b).unwrap();
        let y = g.dense(f, dv, None).unwrap();
        let loss = g.sum(y).unwrap();
        let grads = if to {
            g.backward_to(loss, &[a]).unwrap()
        } else {
            g.backward(loss).unwrap()
        };
        (
            grads.get(a).cloned(),
            grads.get(w1v).is_some(),
            grads.get(w2v).is_some(),
            grads.get(dv).is_some(),
        )
    };
    let (all, w1_all, w2_all, d_all) = run(false);
    let (to, w1_to, w2_to, d_to) = run(true);
    assert!(
        w1_all && w2_all && d_all,
        "backward differentiates every parameter"
    );
    assert!(!w1_to, "w1 lies before the wanted value");
    assert!(
        !w2_to && !d_to,
        "parameters off the path from the wanted value"
    );
    let (all, to) = (all.unwrap(), to.unwrap());
    assert!(all.data().iter().any(|v| *v != 0.0));
    assert_eq!(
        all.data().iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        to.data().iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
}
