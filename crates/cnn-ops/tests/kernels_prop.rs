//! Property tests: every kernel against the naive reference on random shapes, strides,
//! paddings, dilations, channel counts and batch sizes.
#![allow(clippy::needless_range_loop)]

mod reference;

use cnn_ops::*;
use cnn_tensor::Tensor;
use proptest::prelude::*;
use reference::{RefPad, close};

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

fn data(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

#[derive(Debug, Clone)]
struct ConvCase {
    n: usize,
    h: usize,
    w: usize,
    c: usize,
    f: usize,
    kh: usize,
    kw: usize,
    sh: usize,
    sw: usize,
    dh: usize,
    dw: usize,
    pad: (Padding, RefPad),
    bias: bool,
    seed: u64,
}

/// Batches of 1–3 take the small-batch path of im2col (one GEMM per sample, threaded by the
/// GEMM), batches of 8–10 the tiled one (tiles in parallel).
fn conv_case() -> impl Strategy<Value = ConvCase> {
    (
        (
            prop_oneof![1usize..4, 8usize..11],
            1usize..10,
            1usize..10,
            1usize..5,
            1usize..6,
        ),
        (
            1usize..5,
            1usize..5,
            1usize..4,
            1usize..4,
            1usize..3,
            1usize..3,
        ),
        padding(),
        any::<bool>(),
        any::<u64>(),
    )
        .prop_map(
            |((n, h, w, c, f), (kh, kw, sh, sw, dh, dw), pad, bias, seed)| ConvCase {
                n,
                h,
                w,
                c,
                f,
                kh,
                kw,
                sh,
                sw,
                dh,
                dw,
                pad,
                bias,
                seed,
            },
        )
}

/// One input channel and up to 39 filters: a first layer on grayscale images, whose im2col
/// GEMM reduces over only `kh·kw` values (the general strategy stops at 5 filters).
fn one_channel_case() -> impl Strategy<Value = ConvCase> {
    (
        (1usize..3, 1usize..12, 1usize..12, 1usize..40),
        (
            1usize..5,
            1usize..5,
            1usize..3,
            1usize..3,
            1usize..3,
            1usize..3,
        ),
        padding(),
        any::<bool>(),
        any::<u64>(),
    )
        .prop_map(
            |((n, h, w, f), (kh, kw, sh, sw, dh, dw), pad, bias, seed)| ConvCase {
                n,
                h,
                w,
                c: 1,
                f,
                kh,
                kw,
                sh,
                sw,
                dh,
                dw,
                pad,
                bias,
                seed,
            },
        )
}

/// 3x3, stride 1, no dilation, at least 5 channels (fewer with up to 8 filters take the direct
/// kernel) and 4 filters, and enough samples for 32 tiles of 4x4 outputs: the Winograd path
/// (with fewer tiles im2col takes the convolution).
fn winograd_case() -> impl Strategy<Value = ConvCase> {
    (
        (1usize..3, 1usize..11, 1usize..11, 5usize..10, 4usize..10),
        padding(),
        any::<bool>(),
        any::<u64>(),
    )
        .prop_map(|((n, h, w, c, f), pad, bias, seed)| {
            conv3x3(
                (winograd_batch(n, (h, w), pad.0), h, w, c, f),
                pad,
                bias,
                seed,
            )
        })
}

/// At least `n` samples, and enough for 32 tiles of 4x4 outputs (F(2x2, 3x3)'s smaller tiles
/// only make more).
fn winograd_batch(n: usize, (h, w): (usize, usize), pad: Padding) -> usize {
    let (ph, pw) = match pad {
        Padding::Valid => (0, 0),
        Padding::Explicit {
            top,
            bottom,
            left,
            right,
        } => (top + bottom, left + right),
        _ => (2, 2),
    };
    let out = |s: usize, p: usize| (s + p).saturating_sub(2).max(1);
    let tiles = out(h, ph).div_ceil(4) * out(w, pw).div_ceil(4);
    n.max(32usize.div_ceil(tiles))
}

/// A single sample large enough for the Winograd path (at least 32 tiles): its group's GEMMs
/// run side by side on the threads.
fn winograd_single_case() -> impl Strategy<Value = ConvCase> {
    (
        (22usize..30, 22usize..30, 5usize..10, 4usize..10),
        padding(),
        any::<bool>(),
        any::<u64>(),
    )
        .prop_map(|((h, w, c, f), pad, bias, seed)| conv3x3((1, h, w, c, f), pad, bias, seed))
}

/// A 3x3 stride-1 convolution case of `n x h x w x c` inputs and `f` filters.
fn conv3x3(
    (n, h, w, c, f): (usize, usize, usize, usize, usize),
    pad: (Padding, RefPad),
    bias: bool,
    seed: u64,
) -> ConvCase {
    ConvCase {
        n,
        h,
        w,
        c,
        f,
        kh: 3,
        kw: 3,
        sh: 1,
        sw: 1,
        dh: 1,
        dw: 1,
        pad,
        bias,
        seed,
    }
}

fn check_conv(t: &ConvCase) -> Result<(), TestCaseError> {
    check_conv_within(t, 1e-4)
}

/// [`check_conv`] within `tol` (relative to `1 + |reference|`).
fn check_conv_within(t: &ConvCase, tol: f32) -> Result<(), TestCaseError> {
    let x = data(t.n * t.h * t.w * t.c, t.seed);
    let k = data(t.kh * t.kw * t.c * t.f, t.seed ^ 1);
    let b = data(t.f, t.seed ^ 2);
    let opts = Conv2dOptions {
        strides: (t.sh, t.sw),
        padding: t.pad.0,
        dilation: (t.dh, t.dw),
    };
    let xt = Tensor::new([t.n, t.h, t.w, t.c], x.clone()).unwrap();
    let kt = Tensor::new([t.kh, t.kw, t.c, t.f], k.clone()).unwrap();
    let bt = Tensor::new([t.f], b.clone()).unwrap();
    let want = reference::conv2d(
        &x,
        (t.n, t.h, t.w, t.c),
        &k,
        (t.kh, t.kw, t.f),
        t.bias.then_some(&b[..]),
        (t.sh, t.sw),
        (t.dh, t.dw),
        t.pad.1,
    );
    let got = conv2d_forward(&xt, &kt, t.bias.then_some(&bt), &opts);
    match (want, got) {
        (None, Err(_)) => {}
        (None, Ok(y)) => prop_assert!(false, "reference rejects but kernel gave {:?}", y.shape()),
        (Some(_), Err(e)) => prop_assert!(false, "kernel rejected a valid case: {e}"),
        (Some(r), Ok(y)) => {
            prop_assert_eq!(y.dims(), &[t.n, r.oh, r.ow, t.f]);
            if let Err(m) = close(y.data(), &r.out, tol) {
                prop_assert!(false, "forward: {m}");
            }
            // With an activation applied tile by tile: the bits of the output activated after.
            let act = Activation::ReluMax(0.5);
            let fused = conv2d_forward_act(&xt, &kt, t.bias.then_some(&bt), &opts, act).unwrap();
            let mut after = y.clone();
            act.apply_inplace(after.data_mut());
            prop_assert!(
                fused == after,
                "conv2d_forward_act differs from conv2d_forward + act"
            );
            // Backward against the reference with a random output gradient.
            let dy = data(y.len(), t.seed ^ 3);
            let dyt = Tensor::new(y.dims(), dy.clone()).unwrap();
            let g = conv2d_backward(
                &xt,
                &kt,
                &dyt,
                &opts,
                ConvNeeds {
                    input: true,
                    kernel: true,
                    bias: true,
                },
            )
            .unwrap();
            let (dx, dk, db) = reference::conv2d_grads(
                &x,
                (t.n, t.h, t.w, t.c),
                &k,
                (t.kh, t.kw, t.f),
                &dy,
                (r.oh, r.ow),
                (r.pt, r.pl),
                (t.sh, t.sw),
                (t.dh, t.dw),
            );
            if let Err(m) = close(g.input.unwrap().data(), &dx, tol) {
                prop_assert!(false, "dx: {m}");
            }
            if let Err(m) = close(g.kernel.unwrap().data(), &dk, tol) {
                prop_assert!(false, "dk: {m}");
            }
            if let Err(m) = close(g.bias.unwrap().data(), &db, tol) {
                prop_assert!(false, "db: {m}");
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn conv2d_one_channel_matches_reference(t in one_channel_case()) {
        check_conv(&t)?;
    }

    #[test]
    fn conv3x3_winograd_matches_reference(t in winograd_case()) {
        check_conv(&t)?;
    }

    #[test]
    fn conv3x3_winograd_single_samples_match_reference(t in winograd_single_case()) {
        // The kernel gradient sums up to 900 products, through F(4x4, 3x3)'s transforms.
        check_conv_within(&t, 1e-3)?;
    }

    #[test]
    fn conv_max_pool_fused_matches_reference(t in winograd_case()) {
        let x = data(t.n * t.h * t.w * t.c, t.seed);
        let k = data(9 * t.c * t.f, t.seed ^ 1);
        let b = data(t.f, t.seed ^ 2);
        let opts = Conv2dOptions { strides: (1, 1), padding: t.pad.0, dilation: (1, 1) };
        let pool = Pool2dOptions::square(2);
        let xt = Tensor::new([t.n, t.h, t.w, t.c], x.clone()).unwrap();
        let kt = Tensor::new([3, 3, t.c, t.f], k.clone()).unwrap();
        let bt = Tensor::new([t.f], b.clone()).unwrap();
        let bias = t.bias.then_some(&bt);
        let Ok(conv) = conv2d_forward(&xt, &kt, bias, &opts) else {
            prop_assert!(conv2d_max_pool_forward(&xt, &kt, bias, &opts, &pool).is_err());
            return Ok(());
        };
        let fused = conv2d_max_pool_forward(&xt, &kt, bias, &opts, &pool).unwrap();
        let (oh, ow) = (conv.dims()[1], conv.dims()[2]);
        let Some((y, idx, conv_dims)) = fused else {
            // Only a convolution output smaller than one window is left to the separate path.
            prop_assert!(oh < 2 || ow < 2, "{oh}x{ow} not fused");
            return Ok(());
        };
        prop_assert_eq!(&conv_dims[..], conv.dims());
        // The naive reference: direct convolution, then 2x2 max pooling.
        let r = reference::conv2d(&x, (t.n, t.h, t.w, t.c), &k, (3, 3, t.f),
            t.bias.then_some(&b[..]), (1, 1), (1, 1), t.pad.1).unwrap();
        let (want, ph, pw) = reference::pool2d(&r.out, (t.n, r.oh, r.ow, t.f), (2, 2), (2, 2),
            reference::RefPad::Valid, true).unwrap();
        prop_assert_eq!(y.dims(), &[t.n, ph, pw, t.f]);
        if let Err(m) = close(y.data(), &want, 1e-4) { prop_assert!(false, "{m}"); }
        // Exactly what the two kernels give one after the other: values and source indices.
        let (y2, idx2) = max_pool2d_forward(&conv, &pool).unwrap();
        prop_assert_eq!(y.data(), y2.data());
        prop_assert_eq!(&idx, &idx2);
        // Backward: the fused pass gives what the pool's backward followed by the
        // convolution's gives, bit for bit, for every subset of gradients asked for.
        let dy = Tensor::new(y.dims().to_vec(), data(y.len(), t.seed ^ 3)).unwrap();
        let dconv = max_pool2d_backward(&conv_dims, &idx, &dy).unwrap();
        for (input, kernel, bias) in [(true, true, true), (true, false, false), (false, true, false), (false, false, true)] {
            let needs = ConvNeeds { input, kernel, bias };
            let a = conv2d_max_pool_backward(&xt, &kt, (&dy, &idx, &conv_dims), &opts, needs).unwrap();
            let b = conv2d_backward(&xt, &kt, &dconv, &opts, needs).unwrap();
            let bits = |t: &Option<Tensor>| t.as_ref().map(|t| t.data().iter().map(|v| v.to_bits()).collect::<Vec<_>>());
            prop_assert_eq!(bits(&a.input), bits(&b.input));
            prop_assert_eq!(bits(&a.kernel), bits(&b.kernel));
            prop_assert_eq!(bits(&a.bias), bits(&b.bias));
        }
        // A pooled gradient of the wrong size is an error, not a panic.
        let short = Tensor::new([t.n, 1], vec![0.0; t.n]).unwrap();
        let all = ConvNeeds { input: true, kernel: true, bias: true };
        let bad = conv2d_max_pool_backward(&xt, &kt, (&short, &idx, &conv_dims), &opts, all);
        prop_assert!(bad.is_err());
    }

    #[test]
    fn conv2d_matches_reference(t in conv_case()) {
        check_conv(&t)?;
    }

    #[test]
    fn pools_match_reference(
        (n, h, w, c) in (1usize..4, 1usize..10, 1usize..10, 1usize..5),
        (kh, kw, sh, sw) in (1usize..4, 1usize..4, 1usize..4, 1usize..4),
        same in any::<bool>(), default_strides in any::<bool>(), seed in any::<u64>(),
    ) {
        let x = data(n * h * w * c, seed);
        let xt = Tensor::new([n, h, w, c], x.clone()).unwrap();
        let strides = if default_strides { (kh, kw) } else { (sh, sw) };
        let (pad, rpad) = if same { (Padding::Same, RefPad::Same) } else { (Padding::Valid, RefPad::Valid) };
        let opts = Pool2dOptions { pool_size: (kh, kw), strides: (!default_strides).then_some((sh, sw)), padding: pad };
        for max in [true, false] {
            let want = reference::pool2d(&x, (n, h, w, c), (kh, kw), strides, rpad, max);
            let got = if max { max_pool2d_forward(&xt, &opts).map(|r| r.0) } else { avg_pool2d_forward(&xt, &opts) };
            match (want, got) {
                (None, Err(_)) => {}
                (Some((r, oh, ow)), Ok(y)) => {
                    prop_assert_eq!(y.dims(), &[n, oh, ow, c]);
                    if let Err(m) = close(y.data(), &r, 1e-5) { prop_assert!(false, "max={max}: {m}"); }
                }
                (w, g) => prop_assert!(false, "reference {:?} vs kernel {:?}", w.is_some(), g.is_ok()),
            }
        }
    }

    #[test]
    fn dense_matches_reference((n, i, o) in (1usize..6, 1usize..40, 1usize..20), seed in any::<u64>()) {
        let x = data(n * i, seed);
        let w = data(i * o, seed ^ 1);
        let b = data(o, seed ^ 2);
        let y = dense_forward(&Tensor::new([n, i], x.clone()).unwrap(), &Tensor::new([i, o], w.clone()).unwrap(),
            Some(&Tensor::new([o], b.clone()).unwrap())).unwrap();
        let mut want = vec![0.0f32; n * o];
        for r in 0..n { for j in 0..o {
            let mut s = b[j] as f64;
            for p in 0..i { s += x[r * i + p] as f64 * w[p * o + j] as f64; }
            want[r * o + j] = s as f32;
        } }
        if let Err(m) = close(y.data(), &want, 1e-4) { prop_assert!(false, "{m}"); }
    }

    #[test]
    fn softmax_rows_sum_to_one_and_are_stable((n, k) in (1usize..5, 1usize..12), shift in -500f32..500.0, seed in any::<u64>()) {
        let x: Vec<f32> = data(n * k, seed).iter().map(|v| v * 20.0 + shift).collect();
        let y = softmax_forward(&Tensor::new([n, k], x.clone()).unwrap()).unwrap();
        for (r, xr) in y.data().chunks(k).zip(x.chunks(k)) {
            let s: f32 = r.iter().sum();
            prop_assert!((s - 1.0).abs() < 1e-5);
            let m = xr.iter().copied().fold(f32::MIN, f32::max);
            let denom: f64 = xr.iter().map(|v| ((v - m) as f64).exp()).sum();
            for (p, v) in r.iter().zip(xr) {
                let want = (((v - m) as f64).exp() / denom) as f32;
                prop_assert!((p - want).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn global_avg_pool_matches_mean((n, h, w, c) in (1usize..4, 1usize..7, 1usize..7, 1usize..5), seed in any::<u64>()) {
        let x = data(n * h * w * c, seed);
        let y = global_avg_pool2d_forward(&Tensor::new([n, h, w, c], x.clone()).unwrap()).unwrap();
        for ni in 0..n { for ci in 0..c {
            let s: f64 = (0..h * w).map(|p| x[(ni * h * w + p) * c + ci] as f64).sum();
            prop_assert!((y.data()[ni * c + ci] as f64 - s / (h * w) as f64).abs() < 1e-5);
        } }
    }

    #[test]
    fn lrn_matches_reference((n, c) in (1usize..4, 1usize..12), r in 0usize..4, seed in any::<u64>()) {
        let x = data(n * c, seed);
        let o = LrnOptions { depth_radius: r, bias: 2.0, alpha: 0.1, beta: 0.75 };
        let y = lrn_forward(&Tensor::new([n, c], x.clone()).unwrap(), &o).unwrap();
        for ni in 0..n { for j in 0..c {
            let lo = j.saturating_sub(r); let hi = (j + r).min(c - 1);
            let s: f64 = (lo..=hi).map(|i| (x[ni * c + i] as f64).powi(2)).sum();
            let want = x[ni * c + j] as f64 / (2.0 + 0.1 * s).powf(0.75);
            prop_assert!((y.data()[ni * c + j] as f64 - want).abs() < 1e-5);
        } }
    }

    #[test]
    fn batch_norm_training_normalises((rows, c) in (2usize..1500, 1usize..6), seed in any::<u64>()) {
        let x = data(rows * c, seed);
        let xt = Tensor::new([rows, c], x.clone()).unwrap();
        let (mut mm, mut mv) = (Tensor::zeros([c]).unwrap(), Tensor::full([c], 1.0).unwrap());
        let (y, _) = batch_norm_forward(&xt, &Tensor::full([c], 1.0).unwrap(), &Tensor::zeros([c]).unwrap(),
            &mut mm, &mut mv, true, &BatchNormOptions::default()).unwrap();
        for ch in 0..c {
            let col: Vec<f64> = (0..rows).map(|r| x[r * c + ch] as f64).collect();
            let mean = col.iter().sum::<f64>() / rows as f64;
            let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / rows as f64;
            for r in 0..rows {
                let want = (col[r] - mean) / (var + 1e-3).sqrt();
                prop_assert!((y.data()[r * c + ch] as f64 - want).abs() < 1e-4);
            }
            // Keras momentum update: 0.99·old + 0.01·batch.
            prop_assert!((mm.data()[ch] as f64 - 0.01 * mean).abs() < 1e-6);
            prop_assert!((mv.data()[ch] as f64 - (0.99 + 0.01 * var)).abs() < 1e-5);
        }
    }

    #[test]
    fn batch_norm_backward_matches_the_formula((rows, c) in (2usize..1500, 1usize..5), seed in any::<u64>()) {
        // dx = γ/σ · (dy − mean(dy) − x̂·mean(dy·x̂)), per channel, in f64 from the definition.
        let x = data(rows * c, seed);
        let dy = data(rows * c, seed ^ 0x5eed);
        let gamma: Vec<f32> = (0..c).map(|i| 0.5 + i as f32).collect();
        let xt = Tensor::new([rows, c], x.clone()).unwrap();
        let gt = Tensor::new([c], gamma.clone()).unwrap();
        let (mut mm, mut mv) = (Tensor::zeros([c]).unwrap(), Tensor::full([c], 1.0).unwrap());
        let (_, saved) = batch_norm_forward(&xt, &gt, &Tensor::zeros([c]).unwrap(),
            &mut mm, &mut mv, true, &BatchNormOptions::default()).unwrap();
        let (dx, dgamma, dbeta) = batch_norm_backward(&gt, &saved, &Tensor::new([rows, c], dy.clone()).unwrap()).unwrap();
        for ch in 0..c {
            let col: Vec<f64> = (0..rows).map(|r| x[r * c + ch] as f64).collect();
            let g: Vec<f64> = (0..rows).map(|r| dy[r * c + ch] as f64).collect();
            let n = rows as f64;
            let mean = col.iter().sum::<f64>() / n;
            let sd = (col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n + 1e-3).sqrt();
            let xh: Vec<f64> = col.iter().map(|v| (v - mean) / sd).collect();
            let db: f64 = g.iter().sum();
            let dg: f64 = g.iter().zip(&xh).map(|(a, b)| a * b).sum();
            prop_assert!((dbeta.data()[ch] as f64 - db).abs() < 1e-3 * (1.0 + db.abs()));
            prop_assert!((dgamma.data()[ch] as f64 - dg).abs() < 1e-3 * (1.0 + dg.abs()));
            for r in 0..rows {
                let want = gamma[ch] as f64 / sd * (g[r] - db / n - xh[r] * dg / n);
                let got = dx.data()[r * c + ch] as f64;
                prop_assert!((got - want).abs() < 1e-3 * (1.0 + want.abs()), "row {r} ch {ch}: {got} vs {want}");
            }
        }
    }
}

#[test]
fn batch_norm_is_independent_of_thread_count() {
    let x = Tensor::new([3000, 7], data(3000 * 7, 11)).unwrap();
    let dy = Tensor::new([3000, 7], data(3000 * 7, 12)).unwrap();
    let g = Tensor::full([7], 1.5).unwrap();
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let (mut mm, mut mv) = (Tensor::zeros([7]).unwrap(), Tensor::zeros([7]).unwrap());
            let (y, saved) = batch_norm_forward(
                &x,
                &g,
                &Tensor::zeros([7]).unwrap(),
                &mut mm,
                &mut mv,
                true,
                &BatchNormOptions::default(),
            )
            .unwrap();
            let (dx, dg, db) = batch_norm_backward(&g, &saved, &dy).unwrap();
            (y, mm, mv, dx, dg, db)
        })
    };
    assert_eq!(run(1), run(3));
}

#[test]
fn conv_is_independent_of_thread_count() {
    let x = Tensor::new([5, 13, 11, 3], data(5 * 13 * 11 * 3, 7)).unwrap();
    let k = Tensor::new([3, 3, 3, 8], data(3 * 3 * 3 * 8, 8)).unwrap();
    let opts = Conv2dOptions {
        padding: Padding::Same,
        ..Default::default()
    };
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let y = conv2d_forward(&x, &k, None, &opts).unwrap();
            let g = conv2d_backward(
                &x,
                &k,
                &y,
                &opts,
                ConvNeeds {
                    input: true,
                    kernel: true,
                    bias: true,
                },
            )
            .unwrap();
            (y, g.input.unwrap(), g.kernel.unwrap(), g.bias.unwrap())
        })
    };
    let a = run(1);
    let b = run(3);
    assert_eq!(a.0, b.0);
    assert_eq!(a.1, b.1);
    assert_eq!(a.2, b.2);
    assert_eq!(a.3, b.3);
}

/// The dense layer's forward and backward products on a long reduction and a small output
/// (where the forward pass splits its reduction) give the same bits on 1, 2 and 3 threads.
#[test]
fn dense_is_independent_of_thread_count() {
    for (n, i, o) in [
        (32, 2048, 64),
        (128, 9216, 128),
        (3, 5000, 7),
        (64, 300, 50),
    ] {
        let x = Tensor::new([n, i], data(n * i, 11)).unwrap();
        let w = Tensor::new([i, o], data(i * o, 12)).unwrap();
        let b = Tensor::new([o], data(o, 13)).unwrap();
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let y = dense_forward(&x, &w, Some(&b)).unwrap();
                let (dx, dw, db) = dense_backward(&x, &w, &y, (true, true, true)).unwrap();
                (y, dx.unwrap(), dw.unwrap(), db.unwrap())
            })
        };
        let one = run(1);
        for t in [2, 3] {
            let other = run(t);
            let differ = one
                .0
                .data()
                .iter()
                .zip(other.0.data())
                .filter(|(a, b)| a.to_bits() != b.to_bits())
                .count();
            assert_eq!(
                differ, 0,
                "[{n}x{i}]·[{i}x{o}]: {differ} outputs differ at {t} threads"
            );
            assert!(
                other == one,
                "[{n}x{i}]·[{i}x{o}]: gradients differ at {t} threads"
            );
        }
    }
}

/// Winograd convolutions with small outputs and many channels, whose kernel gradient takes the
/// chunked path (`kernel_grad_chunked`: few tiles per sample, so the usual sample groups would
/// reduce over a handful of tiles): airbench's 7x7 and 3x3 stages, ResNet-50's last.
#[test]
fn winograd_short_reductions_match_reference() {
    for (n, hw, c, f, pad, seed) in [
        (9, 7, 96, 160, (Padding::Same, RefPad::Same), 1),
        (21, 3, 128, 96, (Padding::Same, RefPad::Same), 2),
        (4, 5, 200, 72, (Padding::Valid, RefPad::Valid), 3),
        // 221 KB of transforms per sample: two chunks of 16 MB, the second accumulating.
        (80, 5, 192, 192, (Padding::Same, RefPad::Same), 4),
    ] {
        let t = conv3x3((n, hw, hw, c, f), pad, true, seed);
        // Sums of up to 1,800 products: F(4x4, 3x3)'s transforms round more than a direct sum.
        if let Err(e) = check_conv_within(&t, 1e-3) {
            panic!("{n}x{hw}x{hw}x{c} -> {f}: {e}");
        }
    }
}
