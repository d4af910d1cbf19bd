//! The general path: each tile of output pixels is unfolded (im2col) into a scratch buffer
//! sized to stay in L2 and multiplied by the kernel reshaped to `[kh·kw·C, F]` — already the
//! GEMM's right operand. Tiles run in parallel; the kernel and bias gradients add the partial
//! sums of a fixed number of tile groups in order, so the bits do not depend on the thread
//! count. A pointwise (1x1, stride 1, unpadded) convolution multiplies the input pixels
//! directly, without unfolding.

use cnn_tensor::Tensor;
use rayon::prelude::*;

use crate::activation::Activation;
use crate::error::Result;
use crate::gemm::{Trans, sgemm};
use crate::scratch::with_scratch;

use super::geometry::{Conv2dGeometry, Tile};

/// Unfolds the patches of output pixels `p0..p1` of one sample into `cols` (`rows × kh·kw·C`).
fn im2col(x: &[f32], g: &Conv2dGeometry, p0: usize, p1: usize, cols: &mut [f32]) {
    let w = &g.window;
    let c = g.channels;
    let k = g.patch_len();
    let span = w.k_w * c;
    for (p, row) in (p0..p1).zip(cols.chunks_exact_mut(k)) {
        let (oh, ow) = (p / w.out_w, p % w.out_w);
        for (kh, seg) in row.chunks_exact_mut(span).enumerate() {
            let Some(ih) = w.in_row(oh, kh) else {
                seg.fill(0.0);
                continue;
            };
            let base = ih * w.in_w;
            // Fast path: the whole window row lies inside the input and is contiguous.
            let start = (ow * w.stride_w).wrapping_sub(w.pad_left);
            if w.dil_w == 1 && ow * w.stride_w >= w.pad_left && start + w.k_w <= w.in_w {
                copy_run(seg, &x[(base + start) * c..(base + start + w.k_w) * c]);
                continue;
            }
            for (kw, dst) in seg.chunks_exact_mut(c).enumerate() {
                match w.in_col(ow, kw) {
                    Some(iw) => copy_run(dst, &x[(base + iw) * c..(base + iw + 1) * c]),
                    None => dst.fill(0.0),
                }
            }
        }
    }
}

/// `dst.copy_from_slice(src)`, with the short runs of few-channel inputs (a one-channel
/// 5x5 window row is 5 floats) copied inline: `copy_from_slice` of a length known only at run
/// time is a `memmove` call, which took a tenth of a LeNet-5 training step (and the bias rows
/// of a few-filter convolution, one call per output pixel, 8 % of its inference).
#[inline(always)]
fn copy_run(dst: &mut [f32], src: &[f32]) {
    macro_rules! fixed {
        ($($n:literal)*) => {
            match dst.len() {
                $($n => {
                    if let (Ok(d), Ok(s)) =
                        (<&mut [f32; $n]>::try_from(&mut *dst), <&[f32; $n]>::try_from(src))
                    {
                        *d = *s;
                        return;
                    }
                })*
                _ => {}
            }
        };
    }
    fixed!(1 2 3 4 5 6 7 8 9 10 11 12 15 16);
    // Longer runs up to 64 floats (a 5x5 window row of 6 channels is 30): blocks of 8, the
    // last one overlapping the one before — an irregular stride, so the compiler keeps the
    // moves inline instead of turning the loop back into a `memmove` call.
    let len = dst.len();
    if (8..=64).contains(&len) && src.len() == len {
        for i in 0..len.div_ceil(8) {
            let o = (i * 8).min(len - 8);
            if let (Ok(a), Ok(b)) = (
                <&mut [f32; 8]>::try_from(&mut dst[o..o + 8]),
                <&[f32; 8]>::try_from(&src[o..o + 8]),
            ) {
                *a = *b;
            }
        }
        return;
    }
    dst.copy_from_slice(src);
}

/// Adds the patch gradients `cols` of output pixels `p0..p1` back into one sample's `dx`.
fn col2im_add(cols: &[f32], g: &Conv2dGeometry, p0: usize, p1: usize, dx: &mut [f32]) {
    let w = &g.window;
    let c = g.channels;
    let k = g.patch_len();
    let span = w.k_w * c;
    for (p, row) in (p0..p1).zip(cols.chunks_exact(k)) {
        let (oh, ow) = (p / w.out_w, p % w.out_w);
        for (kh, seg) in row.chunks_exact(span).enumerate() {
            let Some(ih) = w.in_row(oh, kh) else { continue };
            let base = ih * w.in_w;
            let start = (ow * w.stride_w).wrapping_sub(w.pad_left);
            if w.dil_w == 1 && ow * w.stride_w >= w.pad_left && start + w.k_w <= w.in_w {
                let dst = &mut dx[(base + start) * c..(base + start + w.k_w) * c];
                dst.iter_mut().zip(seg).for_each(|(d, s)| *d += s);
                continue;
            }
            for (kw, src) in seg.chunks_exact(c).enumerate() {
                if let Some(iw) = w.in_col(ow, kw) {
                    let dst = &mut dx[(base + iw) * c..(base + iw + 1) * c];
                    dst.iter_mut().zip(src).for_each(|(d, s)| *d += s);
                }
            }
        }
    }
}

/// Runs `f` on the patch matrix (`rows × kh·kw·C`) of a tile: the input pixels themselves for a
/// pointwise convolution, else the tile unfolded into this thread's scratch buffer.
fn with_patches<R>(g: &Conv2dGeometry, xn: &[f32], t: &Tile, f: impl FnOnce(&[f32]) -> R) -> R {
    let k = g.patch_len();
    if g.is_pointwise() {
        return f(&xn[t.p0 * k..t.p1 * k]);
    }
    with_scratch(t.rows() * k, |cols| {
        im2col(xn, g, t.p0, t.p1, cols);
        f(cols)
    })
}

/// Splits `buf` into one mutable slice per tile, `len_of(tile)` elements each, in tile order.
fn split_by_tiles<'b>(
    mut buf: &'b mut [f32],
    tiles: &[Tile],
    per_row: usize,
) -> Vec<&'b mut [f32]> {
    let mut out = Vec::with_capacity(tiles.len());
    for t in tiles {
        let (head, tail) = std::mem::take(&mut buf).split_at_mut(t.rows() * per_row);
        out.push(head);
        buf = tail;
    }
    out
}

/// Below this many tiles (small batches: batch-1 inference), the tiles of a sample cannot keep
/// the threads busy and each would pack the whole kernel for a few rows: each sample is then
/// one GEMM that the GEMM itself spreads over the threads.
const MIN_PARALLEL_TILES: usize = 8;

/// The largest patch matrix of one sample (floats) that [`forward_by_sample`] unfolds at once.
const MAX_SAMPLE_PATCHES: usize = 1 << 22;

/// [`forward`] for few tiles: each sample's patches unfolded at once (in parallel pieces) and
/// multiplied by the kernel in one GEMM threaded over its output. The GEMM's threads split the
/// output, not the reduction, so the bits do not depend on the thread count.
fn forward_by_sample(
    g: &Conv2dGeometry,
    xs: &[f32],
    ws: &[f32],
    b: Option<&Tensor>,
    ys: &mut [f32],
    act: Activation,
) {
    let (f, k) = (g.filters, g.patch_len());
    let (pin, pout) = (g.pixels_in(), g.pixels_out());
    if pout * f == 0 {
        return;
    }
    let mut cols = Vec::new();
    for (n, out) in ys.chunks_exact_mut(pout * f).enumerate() {
        let xn = &xs[n * pin * g.channels..(n + 1) * pin * g.channels];
        if let Some(b) = b {
            out.chunks_exact_mut(f).for_each(|r| copy_run(r, b.data()));
        }
        let a = if g.is_pointwise() || k == 0 {
            &xn[..pout * k]
        } else {
            cols.resize(pout * k, 0.0);
            let rows = (PIECE_FLOATS / k.max(1)).max(1);
            cols.par_chunks_mut(rows * k)
                .enumerate()
                .for_each(|(i, piece)| {
                    let p0 = i * rows;
                    im2col(xn, g, p0, p0 + piece.len() / k, piece)
                });
            &cols[..]
        };
        let threads = crate::gemm::threads_for(pout, f, k);
        sgemm(
            pout,
            f,
            k,
            a,
            Trans::No,
            ws,
            Trans::No,
            out,
            b.is_some(),
            threads,
        );
        act.apply_inplace(out);
    }
}

/// Floats of patches one task of [`forward_by_sample`] unfolds.
const PIECE_FLOATS: usize = 1 << 15;

/// `y = act(conv(x, w) + b)` into `y` (zeroed, output-shaped), the activation applied to each
/// tile right after its GEMM.
pub(super) fn forward(
    g: &Conv2dGeometry,
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    y: &mut Tensor,
    act: Activation,
) -> Result<()> {
    let g = *g;
    let (f, k) = (g.filters, g.patch_len());
    let (pin, pout) = (g.pixels_in(), g.pixels_out());
    let tiles = g.tiles();
    let xs = x.data();
    let ws = w.data();
    if tiles.len() < MIN_PARALLEL_TILES && pout.saturating_mul(k) <= MAX_SAMPLE_PATCHES {
        forward_by_sample(&g, xs, ws, b, y.data_mut(), act);
        return Ok(());
    }
    let slices = split_by_tiles(y.data_mut(), &tiles, f);
    tiles.par_iter().zip(slices).for_each(|(t, out)| {
        let xn = &xs[t.n * pin * g.channels..(t.n + 1) * pin * g.channels];
        if let Some(b) = b {
            out.chunks_exact_mut(f).for_each(|r| copy_run(r, b.data()));
        }
        with_patches(&g, xn, t, |a| {
            sgemm(
                t.rows(),
                f,
                k,
                a,
                Trans::No,
                ws,
                Trans::No,
                out,
                b.is_some(),
                1,
            )
        });
        act.apply_serial(out);
    });
    debug_assert_eq!(pout * g.batch * f, y.len());
    Ok(())
}

/// `dL/dx`: `dL/dy · Wᵀ` tile by tile, folded back into the input (col2im).
pub(super) fn input_grad(
    g: &Conv2dGeometry,
    w: &Tensor,
    dy: &Tensor,
    x_dims: &[usize],
) -> Result<Tensor> {
    let mut dx = Tensor::zeros(x_dims)?;
    let (f, k) = (g.filters, g.patch_len());
    let (pin, pout) = (g.pixels_in(), g.pixels_out());
    let tiles = g.tiles();
    let ws = w.data();
    let dys = dy.data();
    dx.data_mut()
        .par_chunks_mut(pin * g.channels)
        .enumerate()
        .for_each(|(n, dxn)| {
            // Written before `col2im_add` reads it (see `max_pool2d_backward`).
            dxn.fill(0.0);
            for t in tiles.iter().filter(|t| t.n == n) {
                let dyt = &dys[(n * pout + t.p0) * f..(n * pout + t.p1) * f];
                if g.is_pointwise() {
                    let dst = &mut dxn[t.p0 * k..t.p1 * k];
                    sgemm(
                        t.rows(),
                        k,
                        f,
                        dyt,
                        Trans::No,
                        ws,
                        Trans::Yes,
                        dst,
                        false,
                        1,
                    );
                } else {
                    with_scratch(t.rows() * k, |dcols| {
                        sgemm(
                            t.rows(),
                            k,
                            f,
                            dyt,
                            Trans::No,
                            ws,
                            Trans::Yes,
                            dcols,
                            false,
                            1,
                        );
                        col2im_add(dcols, g, t.p0, t.p1, dxn);
                    });
                }
            }
        });
    Ok(dx)
}

/// Number of fixed tile groups whose partial sums are reduced in order (thread-count free).
pub(super) const REDUCE_GROUPS: usize = 16;

/// `dL/dw` (as `[kh·kw·C, F]`, when `want_kernel`) and `dL/db`.
pub(super) fn kernel_bias_grad(
    g: &Conv2dGeometry,
    x: &Tensor,
    dy: &Tensor,
    want_kernel: bool,
) -> Result<(Tensor, Tensor)> {
    let (f, k) = (g.filters, g.patch_len());
    let (pin, pout) = (g.pixels_in(), g.pixels_out());
    let tiles = g.tiles();
    let groups = REDUCE_GROUPS.min(tiles.len()).max(1);
    let xs = x.data();
    let dys = dy.data();
    let partials: Vec<(Vec<f32>, Vec<f32>)> = (0..groups)
        .into_par_iter()
        .map(|gi| {
            let lo = gi * tiles.len() / groups;
            let hi = (gi + 1) * tiles.len() / groups;
            let mut dw = if want_kernel {
                vec![0.0f32; k * f]
            } else {
                Vec::new()
            };
            let mut db = vec![0.0f32; f];
            for t in &tiles[lo..hi] {
                let dyt = &dys[(t.n * pout + t.p0) * f..(t.n * pout + t.p1) * f];
                for r in dyt.chunks_exact(f) {
                    db.iter_mut().zip(r).for_each(|(d, v)| *d += v);
                }
                if !want_kernel {
                    continue;
                }
                let xn = &xs[t.n * pin * g.channels..(t.n + 1) * pin * g.channels];
                with_patches(g, xn, t, |a| {
                    sgemm(
                        k,
                        f,
                        t.rows(),
                        a,
                        Trans::Yes,
                        dyt,
                        Trans::No,
                        &mut dw,
                        true,
                        1,
                    )
                });
            }
            (dw, db)
        })
        .collect();
    sum_partials(&partials, k, f, want_kernel)
}

/// The kernel and bias gradients from fixed groups' partial sums (`[k·f]` and `[f]` each),
/// added in group order so the bits do not depend on the thread count: `dL/dw` as `[k, f]`
/// (empty unless `want_kernel`) and `dL/db`.
pub(super) fn sum_partials(
    partials: &[(Vec<f32>, Vec<f32>)],
    k: usize,
    f: usize,
    want_kernel: bool,
) -> Result<(Tensor, Tensor)> {
    let mut dw = vec![0.0f32; if want_kernel { k * f } else { 0 }];
    let mut db = vec![0.0f32; f];
    for (pw, pb) in partials {
        dw.iter_mut().zip(pw).for_each(|(d, v)| *d += v);
        db.iter_mut().zip(pb).for_each(|(d, v)| *d += v);
    }
    let dw = if want_kernel {
        Tensor::new([k, f], dw)?
    } else {
        Tensor::zeros([0])?
    };
    Ok((dw, Tensor::new([f], db)?))
}
