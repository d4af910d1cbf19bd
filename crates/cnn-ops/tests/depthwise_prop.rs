//! Depthwise convolution against the naive reference: channel `c` of a depthwise convolution
//! is a one-channel convolution of input channel `c` with the kernel's `[.., .., c, ..]` slice,
//! written into output channels `c·M .. c·M + M`. Forward and all three gradients, on random
//! shapes, strides, dilations, paddings and depth multipliers; and the same bits on any thread
//! count.

mod reference;

use cnn_ops::*;
use cnn_tensor::Tensor;
use proptest::prelude::*;
use reference::{RefPad, close};

fn data(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed ^ 0x2545_F491_4F6C_DD1D;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

fn padding() -> impl Strategy<Value = (Padding, RefPad)> {
    prop_oneof![
        Just((Padding::Valid, RefPad::Valid)),
        Just((Padding::Same, RefPad::Same)),
        (0usize..3, 0usize..3, 0usize..3, 0usize..3).prop_map(|(t, b, l, r)| (
            Padding::Explicit {
                top: t,
                bottom: b,
                left: l,
                right: r
            },
            RefPad::Explicit(t, b, l, r)
        )),
    ]
}

/// Channel `ch` of an NHWC buffer with `c` channels.
fn channel(x: &[f32], c: usize, ch: usize) -> Vec<f32> {
    x.iter().skip(ch).step_by(c).copied().collect()
}

/// The `[kh, kw, 1, M]` slice of a `[kh, kw, C, M]` kernel for channel `ch`.
fn kernel_slice(k: &[f32], c: usize, m: usize, ch: usize) -> Vec<f32> {
    k.chunks_exact(c * m)
        .flat_map(|tap| tap[ch * m..(ch + 1) * m].to_vec())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn depthwise_matches_per_channel_convolutions(
        (n, h, w, c, m) in (1usize..3, 1usize..9, 1usize..9, 1usize..6, 1usize..4),
        (kh, kw, s, d) in (1usize..4, 1usize..4, 1usize..3, 1usize..3),
        pad in padding(),
        bias in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let x = data(n * h * w * c, seed);
        let k = data(kh * kw * c * m, seed ^ 1);
        let b = data(c * m, seed ^ 2);
        let opts = Conv2dOptions { strides: (s, s), padding: pad.0, dilation: (d, d) };
        let xt = Tensor::new([n, h, w, c], x.clone()).unwrap();
        let kt = Tensor::new([kh, kw, c, m], k.clone()).unwrap();
        let bt = Tensor::new([c * m], b.clone()).unwrap();
        let got = depthwise_conv2d_forward(&xt, &kt, bias.then_some(&bt), &opts);
        let per: Vec<_> = (0..c)
            .map(|ch| {
                let bs = b[ch * m..(ch + 1) * m].to_vec();
                reference::conv2d(
                    &channel(&x, c, ch), (n, h, w, 1),
                    &kernel_slice(&k, c, m, ch), (kh, kw, m),
                    bias.then_some(&bs[..]), (s, s), (d, d), pad.1,
                )
            })
            .collect();
        let Some(first) = per[0].as_ref() else {
            prop_assert!(got.is_err(), "the reference rejects this window");
            return Ok(());
        };
        let (oh, ow) = (first.oh, first.ow);
        let y = got.unwrap();
        prop_assert_eq!(y.dims(), &[n, oh, ow, c * m]);
        let mut want = vec![0.0f32; y.len()];
        for (ch, r) in per.iter().enumerate() {
            let r = r.as_ref().unwrap();
            for (p, vals) in r.out.chunks_exact(m).enumerate() {
                want[p * c * m + ch * m..][..m].copy_from_slice(vals);
            }
        }
        if let Err(e) = close(y.data(), &want, 1e-4) {
            prop_assert!(false, "forward: {e}");
        }
        // With an activation applied pixel by pixel: the bits of the output activated after.
        let act = Activation::ReluMax(0.5);
        let fused = depthwise_conv2d_forward_act(&xt, &kt, bias.then_some(&bt), &opts, act).unwrap();
        let mut after = y.clone();
        act.apply_inplace(after.data_mut());
        prop_assert!(fused == after, "depthwise_conv2d_forward_act differs from the forward + act");
        // Gradients against the per-channel reference gradients.
        let dy = data(y.len(), seed ^ 3);
        let dyt = Tensor::new(y.dims(), dy.clone()).unwrap();
        let g = depthwise_conv2d_backward(&xt, &kt, &dyt, &opts, (true, true, true)).unwrap();
        let (mut dx, mut dk, mut db) = (vec![0.0f32; x.len()], vec![0.0f32; k.len()], vec![0.0f32; c * m]);
        for ch in 0..c {
            let dy_ch: Vec<f32> = dy
                .chunks_exact(c * m)
                .flat_map(|px| px[ch * m..(ch + 1) * m].to_vec())
                .collect();
            let r = per[ch].as_ref().unwrap();
            let (gx, gk, gb) = reference::conv2d_grads(
                &channel(&x, c, ch), (n, h, w, 1),
                &kernel_slice(&k, c, m, ch), (kh, kw, m),
                &dy_ch, (r.oh, r.ow), (r.pt, r.pl), (s, s), (d, d),
            );
            for (p, v) in gx.into_iter().enumerate() {
                dx[p * c + ch] = v;
            }
            for (t, vals) in gk.chunks_exact(m).enumerate() {
                dk[t * c * m + ch * m..][..m].copy_from_slice(vals);
            }
            db[ch * m..(ch + 1) * m].copy_from_slice(&gb);
        }
        if let Err(e) = close(g.input.unwrap().data(), &dx, 1e-4) {
            prop_assert!(false, "dx: {e}");
        }
        if let Err(e) = close(g.kernel.unwrap().data(), &dk, 1e-4) {
            prop_assert!(false, "dk: {e}");
        }
        if let Err(e) = close(g.bias.unwrap().data(), &db, 1e-4) {
            prop_assert!(false, "db: {e}");
        }
    }
}

#[test]
fn depthwise_is_independent_of_thread_count() {
    let x = Tensor::new([7, 9, 9, 8], data(7 * 81 * 8, 1)).unwrap();
    let k = Tensor::new([3, 3, 8, 2], data(3 * 3 * 16, 2)).unwrap();
    let opts = Conv2dOptions {
        strides: (2, 2),
        padding: Padding::Same,
        dilation: (1, 1),
    };
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let y = depthwise_conv2d_forward(&x, &k, None, &opts).unwrap();
            let dy = Tensor::new(y.dims(), data(y.len(), 3)).unwrap();
            let g = depthwise_conv2d_backward(&x, &k, &dy, &opts, (true, true, true)).unwrap();
            (y, g.input.unwrap(), g.kernel.unwrap(), g.bias.unwrap())
        })
    };
    let one = run(1);
    for t in [2, 3] {
        assert!(run(t) == one, "{t} threads differ from 1");
    }
}

#[test]
fn depthwise_rejects_mismatched_shapes() {
    let x = Tensor::zeros([1, 4, 4, 3]).unwrap();
    let opts = Conv2dOptions {
        strides: (1, 1),
        padding: Padding::Valid,
        dilation: (1, 1),
    };
    let k = Tensor::zeros([3, 3, 2, 1]).unwrap();
    assert!(depthwise_conv2d_forward(&x, &k, None, &opts).is_err());
    let k = Tensor::zeros([5, 5, 3, 1]).unwrap();
    assert!(depthwise_conv2d_forward(&x, &k, None, &opts).is_err());
    let k = Tensor::zeros([3, 3, 3, 2]).unwrap();
    let b = Tensor::zeros([3]).unwrap();
    assert!(depthwise_conv2d_forward(&x, &k, Some(&b), &opts).is_err());
}
