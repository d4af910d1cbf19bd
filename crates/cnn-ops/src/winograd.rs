//! Winograd F(2x2, 3x3) for 3x3 convolutions with stride 1 and no dilation (Lavin & Gray,
//! 2016): each 2x2 block of outputs comes from a 4x4 block of inputs with 16 multiplications
//! per channel pair instead of 36, done as 16 GEMMs of `[tiles x C] · [C x F]`.
//!
//! With `d` a 4x4 input tile, `g` a 3x3 kernel and
//! `Bᵀ = [[1,0,-1,0],[0,1,1,0],[0,-1,1,0],[0,1,0,-1]]`, `G = [[1,0,0],[½,½,½],[½,-½,½],[0,0,1]]`,
//! `Aᵀ = [[1,1,1,0],[0,1,-1,-1]]`, the 2x2 output is `Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A`; summing the
//! elementwise products over channels is the GEMM. The same routine computes the input
//! gradient: a stride-1 convolution of the output gradient with the kernel turned 180° and its
//! channel axes swapped.
//!
//! Rounding differs from the direct path by a few ulps (the transforms add and subtract); the
//! property tests compare both with the naive reference at the same tolerance. Every sample is
//! computed on its own, so results do not depend on the thread count.

use rayon::prelude::*;

use crate::gemm::{Trans, sgemm};

/// Whether the Winograd path serves a convolution with this geometry: a 3x3 kernel, stride 1,
/// no dilation, and at least 4 input channels and 4 filters (with fewer, the 16 GEMMs are too
/// thin to beat im2col).
pub(crate) fn applies(
    (k_h, k_w): (usize, usize),
    strides: (usize, usize),
    dilation: (usize, usize),
    channels: usize,
    filters: usize,
) -> bool {
    (k_h, k_w) == (3, 3) && strides == (1, 1) && dilation == (1, 1) && channels >= 4 && filters >= 4
}

/// `U = G g Gᵀ` for every (input channel, filter) pair: `[16][C][F]` from a kernel stored
/// `[3][3][C][F]`.
#[multiversion::multiversion(targets("x86_64+avx2+fma"))]
pub(crate) fn transform_kernel(w: &[f32], c: usize, f: usize) -> Vec<f32> {
    let cf = c * f;
    let plane = |i: usize, j: usize| &w[(i * 3 + j) * cf..][..cf];
    // t = G g (4x3 planes), then U = t Gᵀ (4x4 planes); every loop runs along the contiguous
    // (channel, filter) axis so it vectorises.
    let mut t = vec![0.0f32; 12 * cf];
    for j in 0..3 {
        let (g0, g1, g2) = (plane(0, j), plane(1, j), plane(2, j));
        let (t0, rest) = t[j * cf..].split_at_mut(3 * cf);
        let (t1, rest) = rest.split_at_mut(3 * cf);
        let (t2, rest) = rest.split_at_mut(3 * cf);
        let t3 = &mut rest[..cf];
        for k in 0..cf {
            t0[k] = g0[k];
            t1[k] = 0.5 * (g0[k] + g1[k] + g2[k]);
            t2[k] = 0.5 * (g0[k] - g1[k] + g2[k]);
            t3[k] = g2[k];
        }
    }
    let mut u = vec![0.0f32; 16 * cf];
    for i in 0..4 {
        let row = |j: usize| &t[(i * 3 + j) * cf..][..cf];
        let (a, b, d) = (row(0), row(1), row(2));
        let (u0, rest) = u[i * 4 * cf..].split_at_mut(cf);
        let (u1, rest) = rest.split_at_mut(cf);
        let (u2, rest) = rest.split_at_mut(cf);
        let u3 = &mut rest[..cf];
        for k in 0..cf {
            u0[k] = a[k];
            u1[k] = 0.5 * (a[k] + b[k] + d[k]);
            u2[k] = 0.5 * (a[k] - b[k] + d[k]);
            u3[k] = d[k];
        }
    }
    u
}

/// A kernel `[3][3][C][F]` turned 180° with its channel axes swapped: `[3][3][F][C]`, the
/// kernel whose stride-1 convolution of `dL/dy` is `dL/dx`.
pub(crate) fn flip_kernel(w: &[f32], c: usize, f: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; 9 * c * f];
    for i in 0..3 {
        for j in 0..3 {
            let src = &w[((2 - i) * 3 + (2 - j)) * c * f..][..c * f];
            let dst = &mut out[(i * 3 + j) * c * f..][..c * f];
            for ci in 0..c {
                for fi in 0..f {
                    dst[fi * c + ci] = src[ci * f + fi];
                }
            }
        }
    }
    out
}

/// Shapes of one Winograd convolution.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Plan {
    /// Input height and width.
    pub in_hw: (usize, usize),
    /// Input channels.
    pub c: usize,
    /// Output channels.
    pub f: usize,
    /// Rows and columns of zeros before the input (negative: the input is cropped).
    pub pad: (isize, isize),
    /// Output height and width.
    pub out_hw: (usize, usize),
}

/// `y = conv(x, g) (+ bias)` for every sample, with `u` from [`transform_kernel`]; `x` is
/// `N x H x W x C`, `y` is `N x OH x OW x F` and is overwritten.
pub(crate) fn conv3x3(x: &[f32], u: &[f32], bias: Option<&[f32]>, p: &Plan, y: &mut [f32]) {
    let (oh, ow) = p.out_hw;
    let per_out = oh * ow * p.f;
    if per_out == 0 {
        return;
    }
    let group = samples_per_group(p);
    let per_in = p.in_hw.0 * p.in_hw.1 * p.c;
    y.par_chunks_mut(per_out * group)
        .zip(x.par_chunks((per_in * group).max(1)))
        .for_each(|(yg, xg)| one_group(xg, u, bias, p, Out::Full(yg)));
}

/// [`conv3x3`] followed by 2x2 max pooling with stride 2 (`valid`), without the convolution's
/// output ever being stored: each 2x2 output tile of the Winograd transform is one pooling
/// window. `y` is `N x ⌊OH/2⌋ x ⌊OW/2⌋ x F`; `idx` gets, like
/// [`crate::max_pool2d_forward`], the flat index within the sample of the convolution output
/// each maximum came from (`(oy·OW + ox)·F + f`), ties going to the first in row-major order.
pub(crate) fn conv3x3_max_pool(
    x: &[f32],
    u: &[f32],
    bias: Option<&[f32]>,
    p: &Plan,
    y: &mut [f32],
    idx: &mut [u32],
) {
    let (oh, ow) = p.out_hw;
    let per_out = (oh / 2) * (ow / 2) * p.f;
    if per_out == 0 {
        return;
    }
    let group = samples_per_group(p);
    let per_in = p.in_hw.0 * p.in_hw.1 * p.c;
    y.par_chunks_mut(per_out * group)
        .zip(idx.par_chunks_mut(per_out * group))
        .zip(x.par_chunks((per_in * group).max(1)))
        .for_each(|((yg, ig), xg)| one_group(xg, u, bias, p, Out::Pooled(yg, ig)));
}

/// Samples are grouped so that each of the 16 GEMMs has a few hundred rows: thin GEMMs (one
/// sample's tiles) spend their time packing, not multiplying.
fn samples_per_group(p: &Plan) -> usize {
    let tiles = p.out_hw.0.div_ceil(2) * p.out_hw.1.div_ceil(2);
    (GEMM_ROWS / tiles.max(1)).clamp(1, 16)
}

/// Rows aimed at for each of the 16 GEMMs.
const GEMM_ROWS: usize = 512;

/// Where a group's output goes.
enum Out<'o> {
    /// The convolution's output, `n x OH x OW x F`.
    Full(&'o mut [f32]),
    /// Its 2x2 max pooling and the pooling's source indices, `n x ⌊OH/2⌋ x ⌊OW/2⌋ x F` each.
    Pooled(&'o mut [f32], &'o mut [u32]),
}

impl Out<'_> {
    fn samples(&self, p: &Plan) -> usize {
        let (oh, ow) = p.out_hw;
        match self {
            Out::Full(y) => y.len() / (oh * ow * p.f),
            Out::Pooled(y, _) => y.len() / ((oh / 2) * (ow / 2) * p.f),
        }
    }
}

fn one_group(x: &[f32], u: &[f32], bias: Option<&[f32]>, p: &Plan, y: Out<'_>) {
    let (oh, ow) = p.out_hw;
    let (c, f) = (p.c, p.f);
    let samples = y.samples(p);
    let t = oh.div_ceil(2) * ow.div_ceil(2) * samples;
    BUFFERS.with(|b| {
        let mut b = b.borrow_mut();
        let (v, m, q) = &mut *b;
        for (buf, len) in [
            (&mut *v, 16 * t * c),
            (&mut *m, 16 * t * f),
            (&mut *q, 16 * c),
        ] {
            if buf.len() < len {
                buf.resize(len, 0.0);
            }
        }
        transform_and_multiply(
            x,
            u,
            bias,
            p,
            y,
            (&mut v[..16 * t * c], &mut m[..16 * t * f], &mut q[..16 * c]),
        );
    });
}

thread_local! {
    /// Per-thread V, M and row scratch, reused across calls (every element is written before
    /// it is read, so they are never cleared).
    static BUFFERS: std::cell::RefCell<(Vec<f32>, Vec<f32>, Vec<f32>)> =
        const { std::cell::RefCell::new((Vec::new(), Vec::new(), Vec::new())) };
}

fn transform_and_multiply(
    x: &[f32],
    u: &[f32],
    bias: Option<&[f32]>,
    p: &Plan,
    y: Out<'_>,
    (v, m, q): (&mut [f32], &mut [f32], &mut [f32]),
) {
    let (oh, ow) = p.out_hw;
    let (c, f) = (p.c, p.f);
    let (th, tw) = (oh.div_ceil(2), ow.div_ceil(2));
    let samples = y.samples(p);
    let t = th * tw * samples;
    input_transform(x, p, samples, q, v);
    for k in 0..16 {
        sgemm(
            t,
            f,
            c,
            &v[k * t * c..(k + 1) * t * c],
            Trans::No,
            &u[k * c * f..(k + 1) * c * f],
            Trans::No,
            &mut m[k * t * f..(k + 1) * t * f],
            false,
            1,
        );
    }
    match y {
        Out::Full(y) => output_transform(m, bias, p, t, y),
        Out::Pooled(y, idx) => output_transform_max_pool(m, bias, p, t, y, idx),
    }
}

/// `(Aᵀ M A)` of one tile, its four outputs in row-major order into `out` (`[4][F]`), plus
/// `bias`; `tt` is scratch of `8·F`.
#[inline(always)]
fn output_tile(
    m: &[f32],
    bias: Option<&[f32]>,
    (t, tile, f): (usize, usize, usize),
    tt: &mut [f32],
    out: &mut [f32],
) {
    let e = |k: usize| &m[(k * t + tile) * f..][..f];
    {
        let (t0, t1) = tt.split_at_mut(4 * f);
        for col in 0..4 {
            add3(e(col), e(4 + col), e(8 + col), &mut t0[col * f..][..f]);
            sub3(e(4 + col), e(8 + col), e(12 + col), &mut t1[col * f..][..f]);
        }
    }
    for (o, (r, s)) in [(0, 0), (0, 1), (1, 0), (1, 1)].into_iter().enumerate() {
        let dst = &mut out[o * f..][..f];
        let row = |col: usize| &tt[(r * 4 + col) * f..][..f];
        if s == 0 {
            add3(row(0), row(1), row(2), dst);
        } else {
            sub3(row(1), row(2), row(3), dst);
        }
        if let Some(b) = bias {
            add_in_place(dst, b);
        }
    }
}

/// The pooled output: each whole 2x2 tile's maximum per filter and where it was (tiles past
/// `⌊OH/2⌋ x ⌊OW/2⌋` are computed and dropped, as `valid` pooling drops an odd last row).
#[multiversion::multiversion(targets("x86_64+avx2+fma"))]
fn output_transform_max_pool(
    m: &[f32],
    bias: Option<&[f32]>,
    p: &Plan,
    t: usize,
    y: &mut [f32],
    idx: &mut [u32],
) {
    let (oh, ow) = p.out_hw;
    let f = p.f;
    let (th, tw) = (oh.div_ceil(2), ow.div_ceil(2));
    let (ph, pw) = (oh / 2, ow / 2);
    let per_out = ph * pw * f;
    let mut tt = vec![0.0f32; 8 * f];
    let mut four = vec![0.0f32; 4 * f];
    for (sn, (yn, idn)) in y
        .chunks_mut(per_out)
        .zip(idx.chunks_mut(per_out))
        .enumerate()
    {
        for ty in 0..ph {
            for tx in 0..pw {
                let tile = (sn * th + ty) * tw + tx;
                output_tile(m, bias, (t, tile, f), &mut tt, &mut four);
                let o = (ty * pw + tx) * f;
                let (yo, io) = (&mut yn[o..o + f], &mut idn[o..o + f]);
                // Window positions in row-major order, as flat indices of the first filter.
                let base = |r: usize, s: usize| (((2 * ty + r) * ow + 2 * tx + s) * f) as u32;
                yo.copy_from_slice(&four[..f]);
                let b0 = base(0, 0);
                for (ch, i) in io.iter_mut().enumerate() {
                    *i = b0 + ch as u32;
                }
                for (k, (r, s)) in [(0, 1), (1, 0), (1, 1)].into_iter().enumerate() {
                    let src = &four[(k + 1) * f..][..f];
                    let bk = base(r, s);
                    // Selects, not branches, as in max pooling's own kernel.
                    for (ch, ((mx, i), &v)) in yo.iter_mut().zip(io.iter_mut()).zip(src).enumerate()
                    {
                        let gt = v > *mx;
                        *mx = if gt { v } else { *mx };
                        *i = if gt { bk + ch as u32 } else { *i };
                    }
                }
            }
        }
    }
}

/// `Y = Aᵀ M A + bias` for each 2x2 output tile, all filters at once (tiles past the output's
/// edge are computed and dropped).
#[multiversion::multiversion(targets("x86_64+avx2+fma"))]
fn output_transform(m: &[f32], bias: Option<&[f32]>, p: &Plan, t: usize, y: &mut [f32]) {
    let (oh, ow) = p.out_hw;
    let f = p.f;
    let (th, tw) = (oh.div_ceil(2), ow.div_ceil(2));
    let per_out = oh * ow * f;
    let mut tt = vec![0.0f32; 8 * f];
    let mut four = vec![0.0f32; 4 * f];
    for (sn, yn) in y.chunks_mut(per_out).enumerate() {
        for ty in 0..th {
            for tx in 0..tw {
                let tile = (sn * th + ty) * tw + tx;
                output_tile(m, bias, (t, tile, f), &mut tt, &mut four);
                let (oy, ox) = (2 * ty, 2 * tx);
                for (o, (r, s)) in [(0, 0), (0, 1), (1, 0), (1, 1)].into_iter().enumerate() {
                    if oy + r < oh && ox + s < ow {
                        yn[((oy + r) * ow + ox + s) * f..][..f]
                            .copy_from_slice(&four[o * f..][..f]);
                    }
                }
            }
        }
    }
}

/// `V[k][tile][c] = Bᵀ d B` for every 4x4 input tile `d` of the first `samples` samples of `x`,
/// all channels at once; `q` is scratch of `16·C`.
#[multiversion::multiversion(targets("x86_64+avx2+fma"))]
fn input_transform(x: &[f32], p: &Plan, samples: usize, q: &mut [f32], v: &mut [f32]) {
    let (h, w) = p.in_hw;
    let (oh, ow) = p.out_hw;
    let c = p.c;
    let (th, tw) = (oh.div_ceil(2), ow.div_ceil(2));
    let t = th * tw * samples;
    let zeros = vec![0.0f32; c];
    for (sn, xn) in x.chunks(h * w * c).enumerate().take(samples) {
        for ty in 0..th {
            for tx in 0..tw {
                let tile = (sn * th + ty) * tw + tx;
                let y0 = (2 * ty) as isize - p.pad.0;
                let x0 = (2 * tx) as isize - p.pad.1;
                let d: [&[f32]; 16] = std::array::from_fn(|k| {
                    let (iy, ix) = (y0 + (k / 4) as isize, x0 + (k % 4) as isize);
                    if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                        let o = (iy as usize * w + ix as usize) * c;
                        &xn[o..o + c]
                    } else {
                        &zeros[..]
                    }
                });
                input_tile(&d, c, t, tile, q, v);
            }
        }
    }
}

/// Kernel gradient, Winograd side: adds `Σ_tiles V ⊙ (A dY Aᵀ)` over the samples of `x` and
/// `dy` (`N x H x W x C` and `N x OH x OW x F`, shapes of `p` as in the forward pass) to
/// `du` (`[16][C][F]`). [`inverse_kernel_transform`] turns the total into `dL/dw`.
///
/// The forward pass is `Y = Aᵀ [U ⊙ V] A` with `U = G g Gᵀ`, so `dL/dU = Σ V ⊙ (A dY Aᵀ)`
/// over tiles and `dL/dg = Gᵀ (dL/dU) G`. Samples are taken a few at a time so that each of
/// the 16 GEMMs (`[C x tiles] · [tiles x F]`) reduces over a few hundred tiles.
pub(crate) fn kernel_grad(x: &[f32], dy: &[f32], p: &Plan, du: &mut [f32]) {
    let (h, w) = p.in_hw;
    let (oh, ow) = p.out_hw;
    let (c, f) = (p.c, p.f);
    let (per_in, per_out) = (h * w * c, oh * ow * f);
    if per_out == 0 || per_in == 0 {
        return;
    }
    let samples = dy.len() / per_out;
    let tiles = oh.div_ceil(2) * ow.div_ceil(2);
    let step = (GEMM_ROWS / tiles.max(1)).clamp(1, 16);
    BUFFERS.with(|b| {
        let mut b = b.borrow_mut();
        let (v, m, q) = &mut *b;
        for s0 in (0..samples).step_by(step) {
            let n = step.min(samples - s0);
            let t = tiles * n;
            for (buf, len) in [
                (&mut *v, 16 * t * c),
                (&mut *m, 16 * t * f),
                (&mut *q, 16 * c),
            ] {
                if buf.len() < len {
                    buf.resize(len, 0.0);
                }
            }
            input_transform(
                &x[s0 * per_in..],
                p,
                n,
                &mut q[..16 * c],
                &mut v[..16 * t * c],
            );
            gradient_transform(
                &dy[s0 * per_out..(s0 + n) * per_out],
                p,
                &mut m[..16 * t * f],
            );
            for k in 0..16 {
                sgemm(
                    c,
                    f,
                    t,
                    &v[k * t * c..(k + 1) * t * c],
                    Trans::Yes,
                    &m[k * t * f..(k + 1) * t * f],
                    Trans::No,
                    &mut du[k * c * f..(k + 1) * c * f],
                    true,
                    1,
                );
            }
        }
    });
}

/// `Z[k][tile][f] = A dY Aᵀ` for every 2x2 output-gradient tile of `dy` (positions past the
/// output's edge count as zero), with `A = [[1,0],[1,1],[1,-1],[0,-1]]`.
#[multiversion::multiversion(targets("x86_64+avx2+fma"))]
fn gradient_transform(dy: &[f32], p: &Plan, z: &mut [f32]) {
    let (oh, ow) = p.out_hw;
    let f = p.f;
    let (th, tw) = (oh.div_ceil(2), ow.div_ceil(2));
    let per_out = oh * ow * f;
    let samples = dy.len() / per_out;
    let t = th * tw * samples;
    let zeros = vec![0.0f32; f];
    let mut cols = vec![0.0f32; 8 * f];
    for (sn, dn) in dy.chunks(per_out).enumerate() {
        for ty in 0..th {
            for tx in 0..tw {
                let tile = (sn * th + ty) * tw + tx;
                let at = |r: usize, s: usize| {
                    let (oy, ox) = (2 * ty + r, 2 * tx + s);
                    if oy < oh && ox < ow {
                        &dn[(oy * ow + ox) * f..][..f]
                    } else {
                        &zeros[..]
                    }
                };
                // cols[r][s] = (A dY)[r][s] for r in 0..4, s in 0..2.
                for s in 0..2 {
                    let (d0, d1) = (at(0, s), at(1, s));
                    cols[s * f..][..f].copy_from_slice(d0);
                    axpy(d0, 1.0, d1, &mut cols[(2 + s) * f..][..f]);
                    axpy(d0, -1.0, d1, &mut cols[(4 + s) * f..][..f]);
                    axpy(&zeros, -1.0, d1, &mut cols[(6 + s) * f..][..f]);
                }
                for r in 0..4 {
                    let (a, b) = (&cols[2 * r * f..][..f], &cols[(2 * r + 1) * f..][..f]);
                    let at = |k: usize| ((r * 4 + k) * t + tile) * f;
                    z[at(0)..][..f].copy_from_slice(a);
                    axpy(a, 1.0, b, &mut z[at(1)..][..f]);
                    axpy(a, -1.0, b, &mut z[at(2)..][..f]);
                    axpy(&zeros, -1.0, b, &mut z[at(3)..][..f]);
                }
            }
        }
    }
}

/// `dL/dg = Gᵀ (dL/dU) G` for every (input channel, filter) pair: `[3][3][C][F]` from
/// `du` (`[16][C][F]`), the inverse direction of [`transform_kernel`].
#[multiversion::multiversion(targets("x86_64+avx2+fma"))]
pub(crate) fn inverse_kernel_transform(du: &[f32], c: usize, f: usize) -> Vec<f32> {
    let cf = c * f;
    // Columns of G: G[r][i] for r in 0..4.
    const G: [[f32; 3]; 4] = [
        [1.0, 0.0, 0.0],
        [0.5, 0.5, 0.5],
        [0.5, -0.5, 0.5],
        [0.0, 0.0, 1.0],
    ];
    let mut out = vec![0.0f32; 9 * cf];
    let mut row = vec![0.0f32; cf];
    // Plane by plane, along the contiguous (channel, filter) axis.
    for i in 0..3 {
        for j in 0..3 {
            let o = &mut out[(i * 3 + j) * cf..][..cf];
            for (r, gr) in G.iter().enumerate() {
                if gr[i] == 0.0 {
                    continue;
                }
                row.fill(0.0);
                for (s, gs) in G.iter().enumerate() {
                    let g = gs[j];
                    let d = &du[(r * 4 + s) * cf..][..cf];
                    row.iter_mut().zip(d).for_each(|(a, &d)| *a += d * g);
                }
                o.iter_mut().zip(&row).for_each(|(a, &v)| *a += gr[i] * v);
            }
        }
    }
    out
}

/// `out = a + b + c`, elementwise.
#[inline(always)]
fn add3(a: &[f32], b: &[f32], c: &[f32], out: &mut [f32]) {
    let n = out.len();
    let (a, b, c) = (&a[..n], &b[..n], &c[..n]);
    for i in 0..n {
        out[i] = a[i] + b[i] + c[i];
    }
}

/// `out = a - b - c`, elementwise.
#[inline(always)]
fn sub3(a: &[f32], b: &[f32], c: &[f32], out: &mut [f32]) {
    let n = out.len();
    let (a, b, c) = (&a[..n], &b[..n], &c[..n]);
    for i in 0..n {
        out[i] = a[i] - b[i] - c[i];
    }
}

/// `out = a + s·b`, elementwise (`s` is ±1).
#[inline(always)]
fn axpy(a: &[f32], s: f32, b: &[f32], out: &mut [f32]) {
    let n = out.len();
    let (a, b) = (&a[..n], &b[..n]);
    for i in 0..n {
        out[i] = a[i] + s * b[i];
    }
}

/// `dst += b`, elementwise.
#[inline(always)]
fn add_in_place(dst: &mut [f32], b: &[f32]) {
    let n = dst.len();
    let b = &b[..n];
    for i in 0..n {
        dst[i] += b[i];
    }
}

/// `Bᵀ d B` of one 4x4 tile `d` (`[16][C]`), written to `V[k][tile][..]`; `q` is scratch.
#[inline(always)]
fn input_tile(d: &[&[f32]; 16], c: usize, t: usize, tile: usize, q: &mut [f32], v: &mut [f32]) {
    let at = |r: usize, s: usize| d[r * 4 + s];
    // q[r][s] = (Bᵀ d)[r][s], per column s.
    for s in 0..4 {
        let (d0, d1, d2, d3) = (at(0, s), at(1, s), at(2, s), at(3, s));
        axpy(d0, -1.0, d2, &mut q[s * c..][..c]);
        axpy(d1, 1.0, d2, &mut q[(4 + s) * c..][..c]);
        axpy(d2, -1.0, d1, &mut q[(8 + s) * c..][..c]);
        axpy(d1, -1.0, d3, &mut q[(12 + s) * c..][..c]);
    }
    for r in 0..4 {
        let row = |s: usize| &q[(r * 4 + s) * c..][..c];
        let mut out = |k: usize, a: &[f32], sign: f32, b: &[f32]| {
            axpy(a, sign, b, &mut v[((r * 4 + k) * t + tile) * c..][..c]);
        };
        out(0, row(0), -1.0, row(2));
        out(1, row(1), 1.0, row(2));
        out(2, row(2), -1.0, row(1));
        out(3, row(1), -1.0, row(3));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct 3x3 convolution with padding `(pt, pl)`, for checking.
    fn direct(x: &[f32], k: &[f32], p: &Plan) -> Vec<f32> {
        let (h, w) = p.in_hw;
        let (oh, ow) = p.out_hw;
        let (c, f) = (p.c, p.f);
        let mut y = vec![0.0f32; oh * ow * f];
        for oy in 0..oh {
            for ox in 0..ow {
                for i in 0..3 {
                    for j in 0..3 {
                        let iy = oy as isize + i as isize - p.pad.0;
                        let ix = ox as isize + j as isize - p.pad.1;
                        if iy < 0 || ix < 0 || iy as usize >= h || ix as usize >= w {
                            continue;
                        }
                        for ci in 0..c {
                            let xv = x[(iy as usize * w + ix as usize) * c + ci];
                            for fi in 0..f {
                                y[(oy * ow + ox) * f + fi] +=
                                    xv * k[((i * 3 + j) * c + ci) * f + fi];
                            }
                        }
                    }
                }
            }
        }
        y
    }

    /// `n` values in [-1, 1) from a linear congruential generator with state `s`.
    fn uniform(s: &mut u64, n: usize) -> Vec<f32> {
        (0..n)
            .map(|_| {
                *s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((*s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    /// The plan of a 3x3 stride-1 convolution of an `h x w x c` input padded by `pad`.
    fn plan(h: usize, w: usize, c: usize, f: usize, pad: (isize, isize)) -> Plan {
        let oh = (h as isize + 2 * pad.0 - 2) as usize;
        let ow = (w as isize + 2 * pad.1 - 2) as usize;
        Plan {
            in_hw: (h, w),
            c,
            f,
            pad,
            out_hw: (oh, ow),
        }
    }

    #[test]
    fn matches_direct_convolution_for_odd_sizes_and_paddings() {
        let mut s = 7u64;
        let mut rnd = |n: usize| uniform(&mut s, n);
        for (h, w, c, f, pad) in [
            (5, 7, 4, 5, (0isize, 0isize)),
            (6, 6, 5, 4, (1, 1)),
            (4, 9, 6, 7, (2, 2)),
            (3, 3, 4, 4, (2, 0)),
            (8, 5, 4, 6, (-1, 1)),
        ] {
            let p = plan(h, w, c, f, pad);
            let (oh, ow) = p.out_hw;
            let x = rnd(h * w * c);
            let k = rnd(9 * c * f);
            let want = direct(&x, &k, &p);
            let mut got = vec![f32::NAN; oh * ow * f];
            conv3x3(&x, &transform_kernel(&k, c, f), None, &p, &mut got);
            for (a, b) in got.iter().zip(&want) {
                assert!(
                    (a - b).abs() < 1e-5 * (1.0 + b.abs()),
                    "{h}x{w} pad {pad:?}: {a} vs {b}"
                );
            }
        }
    }

    #[test]
    fn kernel_gradient_matches_direct_sums_for_odd_sizes_and_paddings() {
        let mut s = 11u64;
        let mut rnd = |n: usize| uniform(&mut s, n);
        for (n, h, w, c, f, pad) in [
            (1, 5, 7, 4, 5, (0isize, 0isize)),
            (3, 6, 6, 5, 4, (1, 1)),
            (2, 4, 9, 6, 7, (2, 2)),
            (40, 3, 3, 4, 4, (1, 0)),
        ] {
            let p = plan(h, w, c, f, pad);
            let (oh, ow) = p.out_hw;
            let x = rnd(n * h * w * c);
            let dy = rnd(n * oh * ow * f);
            // dL/dw[i][j][ci][fi] = Σ x[oy + i - pad][ox + j - pad][ci] · dy[oy][ox][fi].
            let mut want = vec![0.0f32; 9 * c * f];
            for sn in 0..n {
                for oy in 0..oh {
                    for ox in 0..ow {
                        for i in 0..3 {
                            for j in 0..3 {
                                let iy = oy as isize + i as isize - pad.0;
                                let ix = ox as isize + j as isize - pad.1;
                                if iy < 0 || ix < 0 || iy as usize >= h || ix as usize >= w {
                                    continue;
                                }
                                for ci in 0..c {
                                    let xv = x[((sn * h + iy as usize) * w + ix as usize) * c + ci];
                                    for fi in 0..f {
                                        want[((i * 3 + j) * c + ci) * f + fi] +=
                                            xv * dy[((sn * oh + oy) * ow + ox) * f + fi];
                                    }
                                }
                            }
                        }
                    }
                }
            }
            let mut du = vec![0.0f32; 16 * c * f];
            kernel_grad(&x, &dy, &p, &mut du);
            let got = inverse_kernel_transform(&du, c, f);
            for (a, b) in got.iter().zip(&want) {
                assert!(
                    (a - b).abs() < 1e-4 * (1.0 + b.abs()),
                    "{n}x{h}x{w} pad {pad:?}: {a} vs {b}"
                );
            }
        }
    }

    #[test]
    fn flipped_kernel_swaps_axes_and_turns_180_degrees() {
        let (c, f) = (2, 3);
        let w: Vec<f32> = (0..9 * c * f).map(|i| i as f32).collect();
        let fl = flip_kernel(&w, c, f);
        // out[i][j][fi][ci] == w[2-i][2-j][ci][fi], here at i = 0, j = 1, fi = 2, ci = 1.
        assert_eq!(fl[(f + 2) * c + 1], w[((2 * 3 + 1) * c + 1) * f + 2]);
        assert_eq!(flip_kernel(&fl, f, c), w);
    }
}
