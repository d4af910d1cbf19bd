//! Direct convolution for thin layers — few input channels or few filters — where an im2col
//! GEMM spends its time unfolding patches and packing operands rather than multiplying:
//! LeNet-5's one-channel 5x5 layer, the RGB first layer of every image network, ResNet-20's
//! 16-channel 3x3s.
//!
//! Each task takes a band of output rows of one sample and copies the input rows it reads,
//! zero-padded, into this thread's scratch buffer. A register-blocked micro-kernel then computes
//! `P` consecutive output pixels of a row for a block of `L` filters: for every tap (kernel row,
//! then the window row's `kw·C` values, the kernel's own `[kh][kw][C][F]` order) it loads `L`
//! weights once and multiplies them by one input value per pixel, read straight from the band.
//! Every output is one fixed-order sum (bias, then the taps in order) computed by one task, so
//! the bits depend neither on the thread count nor on how the rows are banded.

use cnn_tensor::Tensor;
use rayon::prelude::*;

use crate::activation::Activation;
use crate::scratch::with_scratch;

use super::geometry::Conv2dGeometry;

/// Whether the direct kernel computes `g`: no dilation, and not a pointwise convolution (whose
/// patches are the input pixels themselves, a plain GEMM).
pub(super) fn applies(g: &Conv2dGeometry) -> bool {
    g.window.dil_h == 1 && g.window.dil_w == 1 && !g.is_pointwise()
}

/// Whether the direct kernel beats the GEMM paths on `g`: few input channels and at most 8
/// filters (LeNet-5's first layer), where an im2col GEMM's reduction (`kh·kw·C` taps) and
/// output width are both too short for its unfolding and packing to pay. Measured (zoo
/// bench and per-layer profiles, batch 64–128, 2 threads, alternating runs): LeNet-5's
/// one-channel 5x5 layer with 6 filters 2.6–2.8 → 1.6–2.2 ms forward and 2.6–2.9 → 1.5–2.0 ms
/// backward, training 13,606 → 16,909 samples/s; but its 6-channel layer with 16 filters
/// was slower (backward 1.5–1.7 → 3.0–3.5 ms), and so were the first layers with 16–32
/// filters (Fashion-MNIST's convnet 11,310 → 7,673 and cifar-cnn 3,237 → 2,466 samples/s in
/// inference): this kernel reloads the weights for every pixel, which only pays when there
/// are few of them.
pub(super) fn pays(g: &Conv2dGeometry) -> bool {
    g.channels <= 4 && g.filters <= 8
}

/// Filters per block: 8 lanes for up to 8 filters (LeNet-5's 6), else 16.
pub(super) fn lanes_for(filters: usize) -> usize {
    if filters <= 8 { 8 } else { 16 }
}

/// The filters of one convolution in blocks of `lanes`, zero-padded: `[block][tap][lane]`,
/// with the bias the same way (`[block][lane]`).
struct Packed {
    w: Vec<f32>,
    b: Vec<f32>,
    lanes: usize,
}

impl Packed {
    fn new(g: &Conv2dGeometry, w: &[f32], b: Option<&[f32]>) -> Packed {
        let (f, k) = (g.filters, g.patch_len());
        let lanes = lanes_for(f);
        let blocks = f.div_ceil(lanes);
        let mut pw = vec![0.0f32; blocks * k * lanes];
        for (blk, dst) in pw.chunks_exact_mut(k * lanes).enumerate() {
            let f0 = blk * lanes;
            let fl = (f - f0).min(lanes);
            for (tap, d) in dst.chunks_exact_mut(lanes).enumerate() {
                d[..fl].copy_from_slice(&w[tap * f + f0..][..fl]);
            }
        }
        let mut pb = vec![0.0f32; blocks * lanes];
        if let Some(b) = b {
            pb[..f].copy_from_slice(b);
        }
        Packed {
            w: pw,
            b: pb,
            lanes,
        }
    }
}

/// The sizes the micro-kernel needs, in floats.
#[derive(Clone, Copy)]
struct Shape {
    /// Kernel rows.
    kh: usize,
    /// One window row: `kw·C`.
    span: usize,
    /// From one output pixel's window to the next one's: `stride_w·C`.
    step: usize,
    /// From one input row of the band to the next.
    row_stride: usize,
    /// Output pixels per row.
    out_w: usize,
    /// Filters.
    f: usize,
}

/// `y = act(conv(x, w) + b)` into `y` (output-shaped), the activation applied to each band of
/// rows as soon as it is computed.
pub(super) fn forward(
    g: &Conv2dGeometry,
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    y: &mut Tensor,
    act: Activation,
) {
    let win = &g.window;
    let packed = Packed::new(g, w.data(), b.map(|b| b.data()));
    let sample_in = g.pixels_in() * g.channels;
    let row_out = win.out_w * g.filters;
    if row_out == 0 || win.out_h == 0 || g.batch == 0 {
        return;
    }
    // Enough bands for every thread to have several even at batch 1; whole samples otherwise.
    let tasks = 4 * rayon::current_num_threads();
    let bands = tasks.div_ceil(g.batch).clamp(1, win.out_h);
    let band_rows = win.out_h.div_ceil(bands);
    let xs = x.data();
    y.data_mut()
        .par_chunks_mut(win.out_h * row_out)
        .enumerate()
        .flat_map(|(n, yn)| {
            yn.par_chunks_mut(band_rows * row_out)
                .enumerate()
                .map(move |(bi, out)| (n, bi, out))
        })
        .for_each(|(n, bi, out)| {
            let xn = &xs[n * sample_in..(n + 1) * sample_in];
            band(g, xn, bi * band_rows, &packed, out, act);
        });
}

/// Output rows `oh0..` of one sample (as many as `out` holds).
fn band(
    g: &Conv2dGeometry,
    xn: &[f32],
    oh0: usize,
    packed: &Packed,
    out: &mut [f32],
    act: Activation,
) {
    let win = &g.window;
    let c = g.channels;
    let rows = out.len() / (win.out_w * g.filters);
    let cols = (win.out_w - 1) * win.stride_w + win.k_w;
    let in_rows = (rows - 1) * win.stride_h + win.k_h;
    let s = Shape {
        kh: win.k_h,
        span: win.k_w * c,
        step: win.stride_w * c,
        row_stride: cols * c,
        out_w: win.out_w,
        f: g.filters,
    };
    // The sums run in a function compiled for the CPU's features, never inside this closure
    // (a closure does not inherit them: `mul_add` would become a library call).
    with_scratch(in_rows * s.row_stride, |buf| {
        fill_band(g, xn, oh0, cols, buf);
        compute_rows(buf, &s, win.stride_h, packed, out);
        act.apply_serial(out);
    });
}

/// Copies the input rows that output rows `oh0..` read into `buf` (`cols·C` floats a row, as
/// many rows as `buf` holds), zero where the window reads padding: band column `j` is padded
/// input column `j`.
pub(super) fn fill_band(g: &Conv2dGeometry, xn: &[f32], oh0: usize, cols: usize, buf: &mut [f32]) {
    let win = &g.window;
    let c = g.channels;
    buf.fill(0.0);
    for (i, dst) in buf.chunks_exact_mut(cols * c).enumerate() {
        let Some(ih) = (oh0 * win.stride_h + i).checked_sub(win.pad_top) else {
            continue;
        };
        if ih >= win.in_h {
            continue;
        }
        let n = win.in_w.min(cols.saturating_sub(win.pad_left));
        dst[win.pad_left * c..][..n * c].copy_from_slice(&xn[ih * win.in_w * c..][..n * c]);
    }
}

/// Every output row of `out` from the padded band `buf` (row `r`'s windows start at input
/// row `r·stride_h` of the band), compiled for the CPU's features: fused multiply-adds where
/// it has them (AVX2 or AVX-512), separate ones on baseline x86-64.
#[multiversion::multiversion(targets("x86_64+avx512f+avx2+fma", "x86_64+avx2+fma"))]
fn compute_rows(buf: &[f32], s: &Shape, stride_h: usize, packed: &Packed, out: &mut [f32]) {
    macro_rules! with_lanes {
        ($fma:literal) => {
            if packed.lanes == 8 {
                rows_of::<8, $fma>(buf, s, stride_h, packed, out)
            } else {
                rows_of::<16, $fma>(buf, s, stride_h, packed, out)
            }
        };
    }
    multiversion::target::match_target! {
        "x86_64+avx2+fma" => with_lanes!(true),
        _ => with_lanes!(false),
    }
}

#[inline(always)]
fn rows_of<const L: usize, const FMA: bool>(
    buf: &[f32],
    s: &Shape,
    stride_h: usize,
    packed: &Packed,
    out: &mut [f32],
) {
    let taps = s.kh * s.span;
    for (r, orow) in out.chunks_exact_mut(s.out_w * s.f).enumerate() {
        let r0 = r * stride_h * s.row_stride;
        for (ow, opix) in orow.chunks_exact_mut(s.f).enumerate() {
            let x0 = r0 + ow * s.step;
            for ((wb, bb), o) in packed
                .w
                .chunks_exact(taps * L)
                .zip(packed.b.chunks_exact(L))
                .zip(opix.chunks_mut(L))
            {
                pixel::<L, FMA>(buf, x0, s, (wb, bb), o);
            }
        }
    }
}

/// One output pixel (window starting at `x0`) for a block of `L` filters, into `o` (at most
/// `L` values): the taps in four interleaved partial sums (four independent chains of
/// multiply-adds), then `bias + ((s0 + s1) + (s2 + s3))`.
#[inline(always)]
fn pixel<const L: usize, const FMA: bool>(
    buf: &[f32],
    x0: usize,
    s: &Shape,
    (wb, bb): (&[f32], &[f32]),
    o: &mut [f32],
) {
    let (mut a0, mut a1, mut a2, mut a3) = ([0.0f32; L], [0.0f32; L], [0.0f32; L], [0.0f32; L]);
    for (r, wr) in wb.chunks_exact(s.span * L).enumerate().take(s.kh) {
        let xw = &buf[x0 + r * s.row_stride..][..s.span];
        let mut xc = xw.chunks_exact(4);
        let mut wc = wr.chunks_exact(4 * L);
        for (x4, w4) in (&mut xc).zip(&mut wc) {
            let (w01, w23) = w4.split_at(2 * L);
            let (w0, w1) = w01.split_at(L);
            let (w2, w3) = w23.split_at(L);
            madd_row::<L, FMA>(&mut a0, x4[0], w0);
            madd_row::<L, FMA>(&mut a1, x4[1], w1);
            madd_row::<L, FMA>(&mut a2, x4[2], w2);
            madd_row::<L, FMA>(&mut a3, x4[3], w3);
        }
        for (&xv, w) in xc.remainder().iter().zip(wc.remainder().chunks_exact(L)) {
            madd_row::<L, FMA>(&mut a0, xv, w);
        }
    }
    for (l, v) in o.iter_mut().enumerate().take(L) {
        *v = bb[l] + ((a0[l] + a1[l]) + (a2[l] + a3[l]));
    }
}

/// `a += x·w` over `L` lanes.
#[inline(always)]
pub(super) fn madd_row<const L: usize, const FMA: bool>(a: &mut [f32; L], x: f32, w: &[f32]) {
    let Ok(w) = <&[f32; L]>::try_from(w) else {
        return;
    };
    for (al, &wl) in a.iter_mut().zip(w) {
        *al = if FMA {
            x.mul_add(wl, *al)
        } else {
            x * wl + *al
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conv::Conv2dOptions;
    use crate::geometry::Padding;
    use proptest::prelude::*;

    /// The naive sum over every tap, in f64.
    fn naive(g: &Conv2dGeometry, x: &[f32], w: &[f32], b: Option<&[f32]>) -> Vec<f32> {
        let win = &g.window;
        let (c, f) = (g.channels, g.filters);
        let mut y = vec![0.0f32; g.batch * win.out_h * win.out_w * f];
        for n in 0..g.batch {
            for oh in 0..win.out_h {
                for ow in 0..win.out_w {
                    for fi in 0..f {
                        let mut s = b.map_or(0.0, |b| b[fi] as f64);
                        for kh in 0..win.k_h {
                            for kw in 0..win.k_w {
                                let (Some(ih), Some(iw)) = (win.in_row(oh, kh), win.in_col(ow, kw))
                                else {
                                    continue;
                                };
                                for ci in 0..c {
                                    let xv = x[((n * win.in_h + ih) * win.in_w + iw) * c + ci];
                                    let wv = w[((kh * win.k_w + kw) * c + ci) * f + fi];
                                    s += xv as f64 * wv as f64;
                                }
                            }
                        }
                        y[((n * win.out_h + oh) * win.out_w + ow) * f + fi] = s as f32;
                    }
                }
            }
        }
        y
    }

    fn values(len: usize, seed: u64) -> Vec<f32> {
        (0..len)
            .map(|i| {
                let h = (i as u64 ^ seed).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                ((h >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    fn run(dims: [usize; 4], k: [usize; 4], opts: &Conv2dOptions, bias: bool, seed: u64) {
        let g = Conv2dGeometry::new(&dims, &k, opts).unwrap();
        assert!(applies(&g));
        let x = Tensor::new(dims, values(dims.iter().product(), seed)).unwrap();
        let w = Tensor::new(k, values(k.iter().product(), seed ^ 7)).unwrap();
        let b = Tensor::new([k[3]], values(k[3], seed ^ 9)).unwrap();
        let b = bias.then_some(&b);
        let mut y = Tensor::zeros(g.output_dims()).unwrap();
        forward(&g, &x, &w, b, &mut y, Activation::Linear);
        let want = naive(&g, x.data(), w.data(), b.map(|b| b.data()));
        for (i, (a, r)) in y.data().iter().zip(&want).enumerate() {
            assert!(
                (a - r).abs() <= 1e-5 * (1.0 + r.abs()),
                "output {i}: {a} vs {r}"
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Any stride, padding, window and channel count; filter counts across one and several
        /// blocks of 8 and 16 lanes; rows that do and do not fill the pixel blocks.
        #[test]
        fn direct_matches_naive(
            (n, h, wd, c, f) in (1usize..4, 1usize..14, 1usize..30, 1usize..7, 1usize..40),
            (kh, kw, sh, sw) in (1usize..6, 1usize..6, 1usize..4, 1usize..4),
            (pt, pb, pl, pr) in (0usize..3, 0usize..3, 0usize..3, 0usize..3),
            same in any::<bool>(),
            bias in any::<bool>(),
            seed in any::<u64>(),
        ) {
            let padding = if same {
                Padding::Same
            } else {
                Padding::Explicit { top: pt, bottom: pb, left: pl, right: pr }
            };
            let opts = Conv2dOptions { strides: (sh, sw), padding, dilation: (1, 1) };
            let Ok(g) = Conv2dGeometry::new(&[n, h, wd, c], &[kh, kw, c, f], &opts) else {
                return Ok(());
            };
            if !applies(&g) {
                return Ok(());
            }
            run([n, h, wd, c], [kh, kw, c, f], &opts, bias, seed);
        }
    }

    #[test]
    fn lenet_shapes_match_naive() {
        let valid = Conv2dOptions::default();
        run([3, 32, 32, 1], [5, 5, 1, 6], &valid, true, 1);
        run([2, 14, 14, 6], [5, 5, 6, 16], &valid, true, 2);
        let same = Conv2dOptions {
            padding: Padding::Same,
            ..valid
        };
        run([2, 32, 32, 3], [3, 3, 3, 32], &same, false, 3);
        let s2 = Conv2dOptions {
            strides: (2, 2),
            ..same
        };
        run([1, 33, 31, 3], [3, 3, 3, 24], &s2, true, 4);
    }

    #[test]
    fn bits_do_not_depend_on_threads() {
        let opts = Conv2dOptions {
            padding: Padding::Same,
            ..Default::default()
        };
        let g = Conv2dGeometry::new(&[3, 17, 19, 3], &[3, 3, 3, 20], &opts).unwrap();
        let x = Tensor::new([3, 17, 19, 3], values(3 * 17 * 19 * 3, 5)).unwrap();
        let w = Tensor::new([3, 3, 3, 20], values(540, 6)).unwrap();
        let on = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let mut y = Tensor::zeros(g.output_dims()).unwrap();
                forward(&g, &x, &w, None, &mut y, Activation::Tanh);
                y
            })
        };
        assert_eq!(on(1), on(3));
    }
}
