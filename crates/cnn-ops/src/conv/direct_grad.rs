//! The gradients of a direct (thin) convolution without im2col.
//!
//! - `dL/dx` of a stride-1 convolution is itself a direct convolution: the output gradient,
//!   padded by `k − 1 − pad` on each side, correlated with the kernel flipped in both axes and
//!   with its channels and filters swapped.
//! - `dL/dw` sums, over every output pixel, the pixel's window times its gradient. A
//!   register-blocked kernel keeps `T` taps × `L` filters of sums in registers while it runs
//!   over a band of output rows, reading the windows from a padded band of input rows (as the
//!   forward pass does) and the gradient from a lane-padded copy. Bands belong to a fixed number
//!   of row groups whose partial sums are added in order, so the bits do not depend on the
//!   thread count.

use cnn_tensor::Tensor;
use rayon::prelude::*;

use crate::activation::Activation;
use crate::error::Result;
use crate::geometry::Padding;
use crate::scratch::with_scratch;

use super::Conv2dOptions;
use super::direct::{self, fill_band, lanes_for, madd_row};
use super::geometry::Conv2dGeometry;
use super::im2col::{REDUCE_GROUPS, sum_partials};

/// `dL/dx` for a stride-1 convolution whose gradient is a thin convolution too, or `None`
/// (strides, a padding as large as the kernel, a wide transposed convolution): im2col then.
pub(super) fn input_grad(g: &Conv2dGeometry, w: &Tensor, dy: &Tensor) -> Result<Option<Tensor>> {
    let win = &g.window;
    let (kh, kw) = (win.k_h, win.k_w);
    if win.stride_h != 1 || win.stride_w != 1 {
        return Ok(None);
    }
    let flip = |k: usize, p: usize| (k - 1).checked_sub(p);
    let (Some(top), Some(bottom), Some(left), Some(right)) = (
        flip(kh, win.pad_top),
        flip(kh, win.pad_bottom),
        flip(kw, win.pad_left),
        flip(kw, win.pad_right),
    ) else {
        return Ok(None);
    };
    let (c, f) = (g.channels, g.filters);
    let opts = Conv2dOptions {
        strides: (1, 1),
        padding: Padding::Explicit {
            top,
            bottom,
            left,
            right,
        },
        dilation: (1, 1),
    };
    let tg = Conv2dGeometry::new(dy.dims(), &[kh, kw, f, c], &opts)?;
    if !direct::applies(&tg)
        || !direct::pays(&tg)
        || tg.output_dims() != [g.batch, win.in_h, win.in_w, c]
    {
        return Ok(None);
    }
    // flipped[i][j][f][c] = w[kh-1-i][kw-1-j][c][f]
    let ws = w.data();
    let mut flipped = vec![0.0f32; ws.len()];
    for (tap, dst) in flipped.chunks_exact_mut(f * c).enumerate() {
        let (i, j) = (tap / kw, tap % kw);
        let src = &ws[((kh - 1 - i) * kw + (kw - 1 - j)) * c * f..][..c * f];
        for (ci, row) in src.chunks_exact(f).enumerate() {
            for (fi, &v) in row.iter().enumerate() {
                dst[fi * c + ci] = v;
            }
        }
    }
    let wt = Tensor::new([kh, kw, f, c], flipped)?;
    let mut dx = Tensor::zeros(tg.output_dims())?;
    direct::forward(&tg, dy, &wt, None, &mut dx, Activation::Linear);
    Ok(Some(dx))
}

/// Most floats of lane-padded output gradient one band holds.
const BAND_GRAD_FLOATS: usize = 1 << 15;

/// `dL/dw` (as `[kh·kw·C, F]`, when `want_kernel`) and `dL/db`.
pub(super) fn kernel_bias_grad(
    g: &Conv2dGeometry,
    x: &Tensor,
    dy: &Tensor,
    want_kernel: bool,
) -> Result<(Tensor, Tensor)> {
    let win = &g.window;
    let (f, k) = (g.filters, g.patch_len());
    let (out_h, row_out) = (win.out_h, win.out_w * f);
    let sample_in = g.pixels_in() * g.channels;
    let units = g.batch * out_h;
    let groups = REDUCE_GROUPS.min(units).max(1);
    let padded_row = win.out_w * lanes_for(f) * f.div_ceil(lanes_for(f));
    let max_rows = (BAND_GRAD_FLOATS / padded_row.max(1)).max(1);
    let (xs, dys) = (x.data(), dy.data());
    let partials: Vec<(Vec<f32>, Vec<f32>)> = (0..groups)
        .into_par_iter()
        .map(|gi| {
            let (lo, hi) = (gi * units / groups, (gi + 1) * units / groups);
            let mut dw = vec![0.0f32; if want_kernel { k * f } else { 0 }];
            let mut db = vec![0.0f32; f];
            let mut u = lo;
            while u < hi {
                let (n, oh0) = (u / out_h, u % out_h);
                let rows = (hi - u).min(out_h - oh0).min(max_rows);
                let dyb = &dys[u * row_out..][..rows * row_out];
                for r in dyb.chunks_exact(f) {
                    db.iter_mut().zip(r).for_each(|(d, v)| *d += v);
                }
                if want_kernel {
                    let xn = &xs[n * sample_in..][..sample_in];
                    kernel_band(g, xn, oh0, rows, dyb, &mut dw);
                }
                u += rows;
            }
            (dw, db)
        })
        .collect();
    sum_partials(&partials, k, f, want_kernel)
}

/// The sizes the kernel-gradient loop needs, in floats.
#[derive(Clone, Copy)]
struct Band {
    /// Output rows and pixels per row.
    rows: usize,
    out_w: usize,
    /// Input rows between two output rows, and floats between two output pixels' windows.
    stride_h: usize,
    step: usize,
    /// One window row (`kw·C`), and one row of the padded input band.
    span: usize,
    row_stride: usize,
    /// Filters, and the lane-padded width of a gradient row.
    f: usize,
    padded_f: usize,
}

/// Adds this band's `dL/dw` (output rows `oh0..oh0 + rows` of one sample, gradient `dyb`) into
/// `dw`.
fn kernel_band(
    g: &Conv2dGeometry,
    xn: &[f32],
    oh0: usize,
    rows: usize,
    dyb: &[f32],
    dw: &mut [f32],
) {
    let win = &g.window;
    let (c, f) = (g.channels, g.filters);
    let lanes = lanes_for(f);
    let cols = (win.out_w - 1) * win.stride_w + win.k_w;
    let in_rows = (rows - 1) * win.stride_h + win.k_h;
    let s = Band {
        rows,
        out_w: win.out_w,
        stride_h: win.stride_h,
        step: win.stride_w * c,
        span: win.k_w * c,
        row_stride: cols * c,
        f,
        padded_f: f.div_ceil(lanes) * lanes,
    };
    let band_len = in_rows * s.row_stride;
    // The sums run in a function compiled for the CPU's features, not in this closure.
    with_scratch(band_len + rows * s.out_w * s.padded_f, |buf| {
        let (band, dyp) = buf.split_at_mut(band_len);
        fill_band(g, xn, oh0, cols, band);
        dyp.fill(0.0);
        for (dst, src) in dyp.chunks_exact_mut(s.padded_f).zip(dyb.chunks_exact(f)) {
            dst[..f].copy_from_slice(src);
        }
        band_sums(band, dyp, &s, win.k_h, lanes, dw);
    });
}

/// [`taps`] with the best kernel this CPU has: 12 taps of sums in registers with AVX-512, 6
/// with AVX2, 4 on baseline x86-64.
#[multiversion::multiversion(targets("x86_64+avx512f+avx2+fma", "x86_64+avx2+fma"))]
fn band_sums(band: &[f32], dyp: &[f32], s: &Band, kh: usize, lanes: usize, dw: &mut [f32]) {
    macro_rules! with_lanes {
        ($t:literal, $fma:literal) => {
            if lanes == 8 {
                taps::<8, $t, $fma>(band, dyp, s, kh, dw)
            } else {
                taps::<16, $t, $fma>(band, dyp, s, kh, dw)
            }
        };
    }
    multiversion::target::match_target! {
        "x86_64+avx512f" => with_lanes!(12, true),
        "x86_64+avx2+fma" => with_lanes!(6, true),
        _ => with_lanes!(4, false),
    }
}

/// For every block of `T` taps and `L` filters: the sums over the band's pixels, added to `dw`.
#[inline(always)]
fn taps<const L: usize, const T: usize, const FMA: bool>(
    band: &[f32],
    dyp: &[f32],
    s: &Band,
    kh: usize,
    dw: &mut [f32],
) {
    let total = kh * s.span;
    for t0 in (0..total).step_by(T) {
        let nt = (total - t0).min(T);
        // Offset of each tap within a window (the block's spare taps repeat its last one).
        let off: [usize; T] = std::array::from_fn(|t| {
            let tap = (t0 + t).min(total - 1);
            (tap / s.span) * s.row_stride + tap % s.span
        });
        for f0 in (0..s.f).step_by(L) {
            let mut acc = [[0.0f32; L]; T];
            for r in 0..s.rows {
                let row = r * s.stride_h * s.row_stride;
                let grads = &dyp[r * s.out_w * s.padded_f..][..s.out_w * s.padded_f];
                for (ow, gr) in grads.chunks_exact(s.padded_f).enumerate() {
                    let dv: [f32; L] = std::array::from_fn(|l| gr[f0 + l]);
                    let po = row + ow * s.step;
                    for (a, &o) in acc.iter_mut().zip(&off) {
                        madd_row::<L, FMA>(a, band[po + o], &dv);
                    }
                }
            }
            let fl = (s.f - f0).min(L);
            for (t, a) in acc.iter().enumerate().take(nt) {
                let dst = &mut dw[(t0 + t) * s.f + f0..][..fl];
                dst.iter_mut().zip(a).for_each(|(d, v)| *d += v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conv::im2col;
    use proptest::prelude::*;

    fn values(len: usize, seed: u64) -> Vec<f32> {
        (0..len)
            .map(|i| {
                let h = (i as u64 ^ seed).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                ((h >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    fn close(a: &[f32], b: &[f32]) -> std::result::Result<(), String> {
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            if (x - y).abs() > 1e-4 * (1.0 + y.abs()) {
                return Err(format!("element {i}: {x} vs {y}"));
            }
        }
        (a.len() == b.len())
            .then_some(())
            .ok_or_else(|| format!("lengths {} and {}", a.len(), b.len()))
    }

    /// Both gradients against im2col's (itself checked against the naive reference and by
    /// finite differences in the crate's tests).
    fn check(
        dims: [usize; 4],
        k: [usize; 4],
        opts: &Conv2dOptions,
        seed: u64,
    ) -> std::result::Result<(), String> {
        let g = Conv2dGeometry::new(&dims, &k, opts).map_err(|e| e.to_string())?;
        let x = Tensor::new(dims, values(dims.iter().product(), seed)).unwrap();
        let w = Tensor::new(k, values(k.iter().product(), seed ^ 3)).unwrap();
        let dy = Tensor::new(
            g.output_dims(),
            values(g.output_dims().iter().product(), seed ^ 5),
        )
        .unwrap();
        let (dw, db) = kernel_bias_grad(&g, &x, &dy, true).unwrap();
        let (rw, rb) = im2col::kernel_bias_grad(&g, &x, &dy, true).unwrap();
        close(dw.data(), rw.data()).map_err(|e| format!("dw: {e}"))?;
        close(db.data(), rb.data()).map_err(|e| format!("db: {e}"))?;
        if let Some(dx) = input_grad(&g, &w, &dy).unwrap() {
            let rx = im2col::input_grad(&g, &w, &dy, &dims).unwrap();
            close(dx.data(), rx.data()).map_err(|e| format!("dx: {e}"))?;
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn gradients_match_im2col(
            (n, h, wd, c, f) in (1usize..4, 1usize..12, 1usize..20, 1usize..7, 1usize..40),
            (kh, kw, sh, sw) in (1usize..6, 1usize..6, 1usize..3, 1usize..3),
            (pt, pb, pl, pr) in (0usize..4, 0usize..4, 0usize..4, 0usize..4),
            seed in any::<u64>(),
        ) {
            let opts = Conv2dOptions {
                strides: (sh, sw),
                padding: Padding::Explicit { top: pt, bottom: pb, left: pl, right: pr },
                dilation: (1, 1),
            };
            let Ok(g) = Conv2dGeometry::new(&[n, h, wd, c], &[kh, kw, c, f], &opts) else {
                return Ok(());
            };
            if !direct::applies(&g) {
                return Ok(());
            }
            if let Err(m) = check([n, h, wd, c], [kh, kw, c, f], &opts, seed) {
                prop_assert!(false, "{m}");
            }
        }
    }

    #[test]
    fn input_gradient_takes_the_direct_path_where_it_applies() {
        let same = Conv2dOptions {
            padding: Padding::Same,
            ..Default::default()
        };
        // 3 channels, 4 filters: its gradient is a 4-channel, 3-filter direct convolution.
        let g = Conv2dGeometry::new(&[2, 8, 8, 3], &[3, 3, 3, 4], &same).unwrap();
        let w = Tensor::new([3, 3, 3, 4], values(108, 1)).unwrap();
        let dy = Tensor::new([2, 8, 8, 4], values(512, 2)).unwrap();
        assert!(input_grad(&g, &w, &dy).unwrap().is_some());
        check([2, 8, 8, 3], [3, 3, 3, 4], &same, 4).unwrap();
        // Strided: im2col's.
        let s2 = Conv2dOptions {
            strides: (2, 2),
            ..same
        };
        let g = Conv2dGeometry::new(&[2, 8, 8, 3], &[3, 3, 3, 4], &s2).unwrap();
        let dy = Tensor::new(g.output_dims(), values(128, 2)).unwrap();
        assert!(input_grad(&g, &w, &dy).unwrap().is_none());
    }

    #[test]
    fn kernel_gradient_bits_do_not_depend_on_threads() {
        let opts = Conv2dOptions {
            padding: Padding::Same,
            ..Default::default()
        };
        let g = Conv2dGeometry::new(&[5, 13, 11, 3], &[3, 3, 3, 20], &opts).unwrap();
        let x = Tensor::new([5, 13, 11, 3], values(5 * 13 * 11 * 3, 7)).unwrap();
        let dy = Tensor::new(g.output_dims(), values(5 * 13 * 11 * 20, 8)).unwrap();
        let on = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| kernel_bias_grad(&g, &x, &dy, true).unwrap())
        };
        let (a, b) = (on(1), on(3));
        assert_eq!(a.0, b.0);
        assert_eq!(a.1, b.1);
    }
}
