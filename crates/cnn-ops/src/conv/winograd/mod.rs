//! Winograd convolution for 3x3 kernels with stride 1 and no dilation (Lavin & Gray, 2016):
//! each `m x m` block of outputs comes from an `(m + 2) x (m + 2)` block of inputs as
//! `Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A`; summing the elementwise products over input channels is
//! `(m + 2)²` GEMMs of `[tiles x C] · [C x F]`. Two algorithms ([`variants`]): F(4x4, 3x3),
//! 36 multiplications per channel pair for 16 outputs (2.25 per output, 9 directly), and
//! F(2x2, 3x3), 16 for 4, used where an output is too small for 4x4 tiles to pay
//! ([`Plan::new`] picks the one with fewer transformed elements).
//!
//! The same routine computes the input gradient: a stride-1 convolution of the output
//! gradient with the kernel turned 180° and its channel axes swapped. The kernel gradient is
//! `Gᵀ [Σ_tiles V ⊙ (A dY Aᵀ)] G`, the same GEMMs with the tiles as the reduction axis.
//!
//! Rounding differs from the direct path by a few ulps for F(2x2, 3x3) and somewhat more for
//! F(4x4, 3x3) (its transforms scale by up to 8); the property tests compare both with the
//! naive reference. Every sample is computed on its own, so results do not depend on the
//! thread count.

mod variants;

use rayon::prelude::*;

use crate::gemm::{Trans, sgemm};
use variants::{F2, F4, MAX_ALPHA, Variant};

/// Whether the Winograd path serves a convolution with this geometry: a 3x3 kernel, stride 1,
/// no dilation, and at least 4 input channels and 4 filters (with fewer, the GEMMs are too
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

/// Which Winograd algorithm a [`Plan`] uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tile {
    /// F(2x2, 3x3).
    F2,
    /// F(4x4, 3x3).
    F4,
}

/// Runs the generic function `$f` for the variant of `$tile`.
macro_rules! by_tile {
    ($tile:expr, $f:ident($($arg:expr),* $(,)?)) => {
        match $tile {
            Tile::F2 => $f::<F2>($($arg),*),
            Tile::F4 => $f::<F4>($($arg),*),
        }
    };
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
    /// The algorithm.
    pub tile: Tile,
}

impl Plan {
    /// A plan with the algorithm that transforms fewer elements for this output size
    /// (F(4x4, 3x3) unless the output is smaller than about 3x3); `CNN_WINOGRAD_TILE=2` or `4`
    /// in the environment forces one (for comparisons).
    pub(crate) fn new(
        in_hw: (usize, usize),
        (c, f): (usize, usize),
        pad: (isize, isize),
        out_hw: (usize, usize),
    ) -> Plan {
        static FORCED: std::sync::OnceLock<Option<Tile>> = std::sync::OnceLock::new();
        let forced = *FORCED.get_or_init(|| match std::env::var("CNN_WINOGRAD_TILE").as_deref() {
            Ok("2") => Some(Tile::F2),
            Ok("4") => Some(Tile::F4),
            _ => None,
        });
        let cost = |m: usize| out_hw.0.div_ceil(m) * out_hw.1.div_ceil(m) * (m + 2) * (m + 2);
        let tile = forced.unwrap_or(if cost(4) < cost(2) {
            Tile::F4
        } else {
            Tile::F2
        });
        Plan {
            in_hw,
            c,
            f,
            pad,
            out_hw,
            tile,
        }
    }

    /// Outputs per tile side.
    fn m(&self) -> usize {
        match self.tile {
            Tile::F2 => F2::M,
            Tile::F4 => F4::M,
        }
    }

    /// Transformed elements per tile: `(m + 2)²`, the number of GEMMs.
    pub(crate) fn elements(&self) -> usize {
        (self.m() + 2) * (self.m() + 2)
    }

    /// Tiles per sample down and across.
    pub(crate) fn tiles_hw(&self) -> (usize, usize) {
        (
            self.out_hw.0.div_ceil(self.m()),
            self.out_hw.1.div_ceil(self.m()),
        )
    }
}

/// Where a Winograd routine reads its samples from (`H x W x C` each, shapes of the plan).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Source<'a> {
    /// Stored one after another.
    Dense(&'a [f32]),
    /// Built on the fly, one sample at a time, from the gradient of a 2x2 max pooling: each
    /// sample's `pooled` values of `dy` go to the flat positions `idx` names, zeros elsewhere —
    /// what [`crate::max_pool2d_backward`] stores for the whole batch, without the batch-sized
    /// buffer ever being written and read back.
    Unpooled {
        /// The pooled gradient, `pooled` values per sample.
        dy: &'a [f32],
        /// Where each value came from, as [`crate::max_pool2d_forward`] returns it.
        idx: &'a [u32],
        /// Values per sample.
        pooled: usize,
    },
}

impl<'a> Source<'a> {
    /// The same source from sample `s` on (`len` elements per sample).
    pub(crate) fn skip(self, s: usize, len: usize) -> Source<'a> {
        match self {
            Source::Dense(x) => Source::Dense(&x[(s * len).min(x.len())..]),
            Source::Unpooled { dy, idx, pooled } => {
                let o = (s * pooled).min(dy.len()).min(idx.len());
                Source::Unpooled {
                    dy: &dy[o..],
                    idx: &idx[o..],
                    pooled,
                }
            }
        }
    }

    /// Sample `s` (`len` elements): borrowed when dense, else built in `buf`.
    fn sample<'b>(&'b self, s: usize, len: usize, buf: &'b mut Vec<f32>) -> &'b [f32] {
        match *self {
            Source::Dense(x) => &x[s * len..(s + 1) * len],
            Source::Unpooled { dy, idx, pooled } => {
                buf.clear();
                buf.resize(len, 0.0);
                let (dy, idx) = (&dy[s * pooled..][..pooled], &idx[s * pooled..][..pooled]);
                // Adds, as the pooling's own backward pass does (bit for bit the same).
                for (&g, &i) in dy.iter().zip(idx) {
                    if let Some(d) = buf.get_mut(i as usize) {
                        *d += g;
                    }
                }
                buf
            }
        }
    }
}

/// `U = G g Gᵀ` for every (input channel, filter) pair: `[(m+2)²][C][F]` from a kernel
/// stored `[3][3][C][F]` (`C` and `F` as in `p`). Large kernels are transformed a row of
/// planes per task (each plane is written by one task, so the bits do not depend on the
/// thread count): at batch 1 this transform is a large share of a Winograd convolution.
pub(crate) fn transform_kernel(w: &[f32], p: &Plan) -> Vec<f32> {
    let (cf, a) = (p.c * p.f, p.m() + 2);
    let mut u = vec![0.0f32; a * a * cf];
    if cf == 0 {
        return u;
    }
    if a * a * cf >= PARALLEL_KERNEL_TRANSFORM {
        u.par_chunks_mut(a * cf)
            .enumerate()
            .for_each(|(i, ui)| by_tile!(p.tile, transform_kernel_row(w, cf, i, ui)));
    } else {
        u.chunks_mut(a * cf)
            .enumerate()
            .for_each(|(i, ui)| by_tile!(p.tile, transform_kernel_row(w, cf, i, ui)));
    }
    u
}

/// Kernel transforms with at least this many outputs run in parallel.
const PARALLEL_KERNEL_TRANSFORM: usize = 1 << 16;

/// Row `i` of `U` (`ALPHA` planes of `cf` values, into `ui`): `t_b = Σ_k G[i][k] g[k][b]`
/// for the three columns `b`, then `U[i][j] = Σ_b G[j][b] t_b`. Every loop runs along the
/// contiguous (channel, filter) axis so it vectorises.
#[multiversion::multiversion(targets("x86_64+avx2+fma"))]
fn transform_kernel_row<V: Variant>(w: &[f32], cf: usize, i: usize, ui: &mut [f32]) {
    let mut t = vec![0.0f32; 3 * cf];
    for (b, dst) in t.chunks_exact_mut(cf).enumerate() {
        for (k, &gk) in V::G[i].iter().enumerate() {
            if gk != 0.0 {
                let src = &w[(k * 3 + b) * cf..][..cf];
                dst.iter_mut().zip(src).for_each(|(d, &s)| *d += gk * s);
            }
        }
    }
    for (j, dst) in ui.chunks_exact_mut(cf).enumerate() {
        for (b, &gb) in V::G[j].iter().enumerate() {
            if gb != 0.0 {
                let src = &t[b * cf..][..cf];
                dst.iter_mut().zip(src).for_each(|(d, &s)| *d += gb * s);
            }
        }
    }
}

/// `dL/dg = Gᵀ (dL/dU) G` for every (input channel, filter) pair: `[3][3][C][F]` from
/// `du` (`[(m+2)²][C][F]`), the inverse direction of [`transform_kernel`].
pub(crate) fn inverse_kernel_transform(du: &[f32], p: &Plan) -> Vec<f32> {
    by_tile!(p.tile, inverse_kernel_transform_with(du, p.c, p.f))
}

#[multiversion::multiversion(targets("x86_64+avx2+fma"))]
fn inverse_kernel_transform_with<V: Variant>(du: &[f32], c: usize, f: usize) -> Vec<f32> {
    let (cf, a) = (c * f, V::ALPHA);
    let mut out = vec![0.0f32; 9 * cf];
    let mut row = vec![0.0f32; cf];
    // Plane by plane, along the contiguous (channel, filter) axis.
    for i in 0..3 {
        for j in 0..3 {
            let o = &mut out[(i * 3 + j) * cf..][..cf];
            for (r, gr) in V::G.iter().enumerate() {
                if gr[i] == 0.0 {
                    continue;
                }
                row.fill(0.0);
                for (s, gs) in V::G.iter().enumerate() {
                    if gs[j] != 0.0 {
                        let d = &du[(r * a + s) * cf..][..cf];
                        row.iter_mut().zip(d).for_each(|(x, &d)| *x += d * gs[j]);
                    }
                }
                o.iter_mut().zip(&row).for_each(|(x, &v)| *x += gr[i] * v);
            }
        }
    }
    out
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

/// `y = conv(x, g) (+ bias)` for every sample, with `u` from [`transform_kernel`]; `x` holds
/// `N` samples `H x W x C`, `y` is `N x OH x OW x F` and is overwritten.
pub(crate) fn conv3x3(x: Source<'_>, u: &[f32], bias: Option<&[f32]>, p: &Plan, y: &mut [f32]) {
    let (oh, ow) = p.out_hw;
    let per_out = oh * ow * p.f;
    if per_out == 0 {
        return;
    }
    let group = samples_per_group(p);
    let per_in = p.in_hw.0 * p.in_hw.1 * p.c;
    let wide = few_groups(y.len() / per_out, group);
    y.par_chunks_mut(per_out * group)
        .enumerate()
        .for_each(|(gi, yg)| {
            one_group(x.skip(gi * group, per_in), u, bias, p, Out::Full(yg), wide)
        });
}

/// [`conv3x3`] followed by 2x2 max pooling with stride 2 (`valid`), without the convolution's
/// output ever being stored: each 2x2 block of an output tile is one pooling window. `y` is
/// `N x ⌊OH/2⌋ x ⌊OW/2⌋ x F`; `idx` gets, like [`crate::max_pool2d_forward`], the flat index
/// within the sample of the convolution output each maximum came from (`(oy·OW + ox)·F + f`),
/// ties going to the first in row-major order.
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
    let wide = few_groups(y.len() / per_out, group);
    y.par_chunks_mut(per_out * group)
        .zip(idx.par_chunks_mut(per_out * group))
        .zip(x.par_chunks((per_in * group).max(1)))
        .for_each(|((yg, ig), xg)| {
            one_group(Source::Dense(xg), u, bias, p, Out::Pooled(yg, ig), wide)
        });
}

/// Whether `samples` in groups of `group` leave threads idle (batch-1 inference): each
/// group's GEMMs then run side by side. Each GEMM is single-threaded either way, so the bits
/// are the same.
fn few_groups(samples: usize, group: usize) -> bool {
    samples.div_ceil(group.max(1)) < rayon::current_num_threads()
}

/// Samples are grouped so that a group's transformed inputs and products (`V` and `M`) stay
/// within about one core's L2 cache between the transforms and the GEMMs; with one sample
/// over that budget, groups are single samples.
///
/// Where that leaves a group's GEMMs fewer than [`LONG_REDUCTION`] rows of tiles (few tiles per
/// sample, many channels), groups take as many samples as make that many rows instead (at
/// most 16): `[tiles x C] · [C x F]` products over a dozen rows spend their time packing the
/// `C x F` operand.
fn samples_per_group(p: &Plan) -> usize {
    let (th, tw) = p.tiles_hw();
    cache_samples(p)
        .max(LONG_REDUCTION.div_ceil((th * tw).max(1)))
        .clamp(1, 16)
}

/// Samples whose transforms fit [`GROUP_BYTES`] (at least 1, at most 16).
fn cache_samples(p: &Plan) -> usize {
    let (th, tw) = p.tiles_hw();
    let per_sample = p.elements() * th * tw * (p.c + p.f) * std::mem::size_of::<f32>();
    (GROUP_BYTES / per_sample.max(1)).clamp(1, 16)
}

/// Bytes of `V` and `M` a group aims at. Measured on `mnist-cnn`'s second convolution
/// (F(4x4, 3x3), 36 tiles per sample): 1–4 samples per group trained at the same speed,
/// 14 (the earlier 512-row target) 10–15 % slower, 28 25 % slower.
const GROUP_BYTES: usize = 1 << 20;

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

/// Grows each buffer to at least its length.
fn ensure(bufs: [(&mut Vec<f32>, usize); 3]) {
    for (buf, len) in bufs {
        if buf.len() < len {
            buf.resize(len, 0.0);
        }
    }
}

fn one_group(x: Source<'_>, u: &[f32], bias: Option<&[f32]>, p: &Plan, y: Out<'_>, wide: bool) {
    let (c, f, e) = (p.c, p.f, p.elements());
    let (th, tw) = p.tiles_hw();
    let t = th * tw * y.samples(p);
    // The scratch is taken out of the thread-local for the call (and put back after), so a
    // task this thread runs while waiting for the parallel GEMMs finds the slot free.
    let mut b = BUFFERS.with(|b| std::mem::take(&mut *b.borrow_mut()));
    {
        let (v, m, q, sample) = &mut b;
        ensure([(v, e * t * c), (m, e * t * f), (q, e * c)]);
        let (v, m) = (&mut v[..e * t * c], &mut m[..e * t * f]);
        transform_and_multiply(x, u, bias, p, y, (v, m, q, sample), wide);
    }
    BUFFERS.with(|slot| *slot.borrow_mut() = b);
}

/// Per-thread scratch: V, M, a tile's intermediate rows and a sample built from a
/// [`Source::Unpooled`].
type Buffers = (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>);

thread_local! {
    /// Per-thread scratch, reused across calls (every element of V, M and the tile rows is
    /// written before it is read, so they are never cleared).
    static BUFFERS: std::cell::RefCell<Buffers> =
        const { std::cell::RefCell::new((Vec::new(), Vec::new(), Vec::new(), Vec::new())) };
}

fn transform_and_multiply(
    x: Source<'_>,
    u: &[f32],
    bias: Option<&[f32]>,
    p: &Plan,
    y: Out<'_>,
    (v, m, q, sample): (&mut [f32], &mut [f32], &mut Vec<f32>, &mut Vec<f32>),
    wide: bool,
) {
    let (c, f) = (p.c, p.f);
    let (th, tw) = p.tiles_hw();
    let samples = y.samples(p);
    let t = th * tw * samples;
    by_tile!(
        p.tile,
        input_transform(x, p, samples, (q.as_mut_slice(), sample), v)
    );
    let v = &*v;
    let product = |k: usize, mk: &mut [f32]| {
        let (vk, uk) = (&v[k * t * c..][..t * c], &u[k * c * f..][..c * f]);
        sgemm(t, f, c, vk, Trans::No, uk, Trans::No, mk, false, 1);
    };
    if wide && t * f > 0 {
        m.par_chunks_mut(t * f)
            .enumerate()
            .for_each(|(k, mk)| product(k, mk));
    } else if t * f > 0 {
        m.chunks_mut(t * f)
            .enumerate()
            .for_each(|(k, mk)| product(k, mk));
    }
    match y {
        Out::Full(y) => by_tile!(p.tile, output_transform(m, bias, p, t, q, y)),
        Out::Pooled(y, idx) => {
            by_tile!(p.tile, output_transform_max_pool(m, bias, p, t, q, y, idx))
        }
    }
}

/// `count` disjoint pieces `buf[first + i·stride..][..len]` (`stride ≥ len`).
#[inline(always)]
fn pieces(
    buf: &mut [f32],
    first: usize,
    stride: usize,
    count: usize,
    len: usize,
) -> [&mut [f32]; MAX_ALPHA] {
    let mut out: [&mut [f32]; MAX_ALPHA] = Default::default();
    let mut rest = &mut buf[first..];
    for (i, slot) in out.iter_mut().enumerate().take(count) {
        let cut = if i + 1 < count { stride } else { len };
        let (head, tail) = std::mem::take(&mut rest).split_at_mut(cut);
        *slot = &mut head[..len];
        rest = tail;
    }
    out
}

/// `count` slices `get(i)` for `i < count` (empty after).
#[inline(always)]
fn gather<'s>(count: usize, get: impl Fn(usize) -> &'s [f32]) -> [&'s [f32]; MAX_ALPHA] {
    std::array::from_fn(|i| if i < count { get(i) } else { &[] })
}

/// `(Aᵀ M A) + bias` of one tile: its `m x m` outputs in row-major order into `out`
/// (`[m²][F]`); `tt` is scratch of `m·(m+2)·F`.
#[inline(always)]
fn output_tile<V: Variant>(
    m: &[f32],
    bias: Option<&[f32]>,
    (t, tile, f): (usize, usize, usize),
    tt: &mut [f32],
    out: &mut [f32],
) {
    let (mo, a) = (V::M, V::ALPHA);
    // tt[r][s] = (Aᵀ M)[r][s], column by column.
    for s in 0..a {
        let ins = gather(a, |r| &m[((r * a + s) * t + tile) * f..][..f]);
        let mut outs = pieces(tt, s * f, a * f, mo, f);
        V::output_1d(&ins[..a], &mut outs[..mo]);
    }
    // out[r][k] = (tt A)[r][k], row by row.
    for r in 0..mo {
        let ins = gather(a, |s| &tt[(r * a + s) * f..][..f]);
        let mut outs = pieces(out, r * mo * f, f, mo, f);
        V::output_1d(&ins[..a], &mut outs[..mo]);
    }
    if let Some(b) = bias {
        for o in out[..mo * mo * f].chunks_exact_mut(f) {
            o.iter_mut().zip(b).for_each(|(o, &b)| *o += b);
        }
    }
}

/// `Y = Aᵀ M A + bias` for each output tile, all filters at once (outputs past the edge are
/// computed and dropped); `q` is scratch.
#[multiversion::multiversion(targets("x86_64+avx2+fma"))]
fn output_transform<V: Variant>(
    m: &[f32],
    bias: Option<&[f32]>,
    p: &Plan,
    t: usize,
    q: &mut Vec<f32>,
    y: &mut [f32],
) {
    let (oh, ow) = p.out_hw;
    let (f, mo) = (p.f, V::M);
    let (th, tw) = p.tiles_hw();
    let per_out = oh * ow * f;
    let (tt, out) = scratch(q, mo * V::ALPHA * f, mo * mo * f);
    for (sn, yn) in y.chunks_mut(per_out).enumerate() {
        for ty in 0..th {
            for tx in 0..tw {
                let tile = (sn * th + ty) * tw + tx;
                output_tile::<V>(m, bias, (t, tile, f), tt, out);
                let (oy, ox) = (mo * ty, mo * tx);
                for r in 0..mo.min(oh - oy) {
                    for s in 0..mo.min(ow - ox) {
                        yn[((oy + r) * ow + ox + s) * f..][..f]
                            .copy_from_slice(&out[(r * mo + s) * f..][..f]);
                    }
                }
            }
        }
    }
}

/// Two disjoint scratch slices of these lengths from `q` (grown when short).
fn scratch(q: &mut Vec<f32>, a: usize, b: usize) -> (&mut [f32], &mut [f32]) {
    if q.len() < a + b {
        q.resize(a + b, 0.0);
    }
    let (x, y) = q.split_at_mut(a);
    (x, &mut y[..b])
}

/// The pooled output: each 2x2 block of a tile whose pooling window lies inside
/// `⌊OH/2⌋ x ⌊OW/2⌋`, its maximum per filter and where it was (the rest is computed and
/// dropped, as `valid` pooling drops an odd last row); `q` is scratch.
#[multiversion::multiversion(targets("x86_64+avx2+fma"))]
fn output_transform_max_pool<V: Variant>(
    m: &[f32],
    bias: Option<&[f32]>,
    p: &Plan,
    t: usize,
    q: &mut Vec<f32>,
    y: &mut [f32],
    idx: &mut [u32],
) {
    let (oh, ow) = p.out_hw;
    let (f, mo) = (p.f, V::M);
    let half = mo / 2;
    let (th, tw) = p.tiles_hw();
    let (ph, pw) = (oh / 2, ow / 2);
    let per_out = ph * pw * f;
    let (tt, out) = scratch(q, mo * V::ALPHA * f, mo * mo * f);
    for (sn, (yn, idn)) in y
        .chunks_mut(per_out)
        .zip(idx.chunks_mut(per_out))
        .enumerate()
    {
        for ty in 0..ph.div_ceil(half) {
            for tx in 0..pw.div_ceil(half) {
                let tile = (sn * th + ty) * tw + tx;
                output_tile::<V>(m, bias, (t, tile, f), tt, out);
                for a in 0..half.min(ph - ty * half) {
                    for b in 0..half.min(pw - tx * half) {
                        let (py, px) = (ty * half + a, tx * half + b);
                        let o = (py * pw + px) * f;
                        let (yo, io) = (&mut yn[o..o + f], &mut idn[o..o + f]);
                        // Window positions in row-major order, as flat indices of the first
                        // filter, and their values in the tile.
                        let base =
                            |r: usize, s: usize| (((2 * py + r) * ow + 2 * px + s) * f) as u32;
                        let val =
                            |r: usize, s: usize| &out[((2 * a + r) * mo + 2 * b + s) * f..][..f];
                        yo.copy_from_slice(val(0, 0));
                        let b0 = base(0, 0);
                        for (ch, i) in io.iter_mut().enumerate() {
                            *i = b0 + ch as u32;
                        }
                        for (r, s) in [(0, 1), (1, 0), (1, 1)] {
                            let (src, bk) = (val(r, s), base(r, s));
                            // Selects, not branches, as in max pooling's own kernel.
                            for (ch, ((mx, i), &v)) in
                                yo.iter_mut().zip(io.iter_mut()).zip(src).enumerate()
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
    }
}

/// `V[k][tile][c] = Bᵀ d B` for every input tile `d` of the first `samples` samples of `x`,
/// all channels at once; `q` is scratch of at least `(m+2)²·C`, `sample` holds a sample built
/// from an unpooled source.
#[multiversion::multiversion(targets("x86_64+avx2+fma"))]
fn input_transform<V: Variant>(
    x: Source<'_>,
    p: &Plan,
    samples: usize,
    (q, sample): (&mut [f32], &mut Vec<f32>),
    v: &mut [f32],
) {
    let (h, w) = p.in_hw;
    let (c, mo, a) = (p.c, V::M, V::ALPHA);
    let (th, tw) = p.tiles_hw();
    let t = th * tw * samples;
    let zeros = vec![0.0f32; c];
    for sn in 0..samples {
        let xn = x.sample(sn, h * w * c, sample);
        for ty in 0..th {
            for tx in 0..tw {
                let tile = (sn * th + ty) * tw + tx;
                let y0 = (mo * ty) as isize - p.pad.0;
                let x0 = (mo * tx) as isize - p.pad.1;
                let at = |r: usize, s: usize| {
                    let (iy, ix) = (y0 + r as isize, x0 + s as isize);
                    if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                        &xn[(iy as usize * w + ix as usize) * c..][..c]
                    } else {
                        &zeros[..]
                    }
                };
                // q[r][s] = (Bᵀ d)[r][s], column by column.
                for s in 0..a {
                    let ins = gather(a, |r| at(r, s));
                    let mut outs = pieces(q, s * c, a * c, a, c);
                    V::input_1d(&ins[..a], &mut outs[..a]);
                }
                // V[r][k] = (q B)[r][k], row by row.
                for r in 0..a {
                    let ins = gather(a, |s| &q[(r * a + s) * c..][..c]);
                    let mut outs = pieces(v, (r * a * t + tile) * c, t * c, a, c);
                    V::input_1d(&ins[..a], &mut outs[..a]);
                }
            }
        }
    }
}

/// Kernel and bias gradients, Winograd side: adds `Σ_tiles V ⊙ (A dY Aᵀ)` over the first
/// `samples` samples of `x` and `dy` (`H x W x C` and `OH x OW x F` each, shapes of `p` as
/// in the forward pass) to `du` (`[(m+2)²][C][F]`), and the sum of `dy`'s rows, in order, to
/// `db`. [`inverse_kernel_transform`] turns the total into `dL/dw`.
///
/// The forward pass is `Y = Aᵀ [U ⊙ V] A` with `U = G g Gᵀ`, so `dL/dU = Σ V ⊙ (A dY Aᵀ)`
/// over tiles and `dL/dg = Gᵀ (dL/dU) G`. Samples are taken a few at a time (as in the
/// forward pass) for each GEMM `[C x tiles] · [tiles x F]`.
pub(crate) fn kernel_grad(
    (x, dy): (&[f32], Source<'_>),
    samples: usize,
    p: &Plan,
    (du, db): (&mut [f32], &mut [f32]),
) {
    let (h, w) = p.in_hw;
    let (oh, ow) = p.out_hw;
    let (c, f, e) = (p.c, p.f, p.elements());
    let (per_in, per_out) = (h * w * c, oh * ow * f);
    if per_out == 0 || per_in == 0 {
        return;
    }
    let (th, tw) = p.tiles_hw();
    let tiles = th * tw;
    let step = samples_per_group(p);
    BUFFERS.with(|b| {
        let mut b = b.borrow_mut();
        let (v, m, q, sample) = &mut *b;
        for s0 in (0..samples).step_by(step) {
            let n = step.min(samples - s0);
            let t = tiles * n;
            ensure([(v, e * t * c), (m, e * t * f), (q, e * c)]);
            let (v, m) = (&mut v[..e * t * c], &mut m[..e * t * f]);
            let xs = Source::Dense(&x[s0 * per_in..]);
            by_tile!(
                p.tile,
                input_transform(xs, p, n, (q.as_mut_slice(), &mut *sample), v)
            );
            let dys = dy.skip(s0, per_out);
            by_tile!(
                p.tile,
                gradient_transform(dys, n, p, (&mut *q, &mut *sample), (m, &mut *db))
            );
            for k in 0..e {
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

/// Whether [`kernel_grad`]'s GEMMs would reduce over fewer than [`LONG_REDUCTION`] tiles:
/// small outputs with many channels (airbench's 7x7 and 3x3 stages, ResNet-50's last), whose
/// `[C x tiles] · [tiles x F]` products read and write a whole `C x F` slice of `dL/dU` for a
/// few multiply-adds per element. [`kernel_grad_chunked`] takes those.
pub(crate) fn short_reduction(p: &Plan) -> bool {
    let (th, tw) = p.tiles_hw();
    th * tw * cache_samples(p) < LONG_REDUCTION
}

/// Tiles a kernel-gradient GEMM should reduce over at least.
const LONG_REDUCTION: usize = 64;

/// Bytes of `V` and `M` one chunk of [`kernel_grad_chunked`] transforms at once.
const CHUNK_BYTES: usize = 16 << 20;

/// [`kernel_grad`] for short reductions, over all `samples` at once: chunks of samples (as
/// many as [`CHUNK_BYTES`] of transforms hold, in order) are transformed — inputs and output
/// gradients side by side — and each of the `(m+2)²` slices of `du` then takes one GEMM over
/// the chunk's tiles, the slices in parallel. Which chunk a sample falls in depends on the
/// shapes only, and each slice is summed by one task, so the bits do not depend on the
/// thread count; no per-thread partial sums are kept or added.
pub(crate) fn kernel_grad_chunked(
    (x, dy): (&[f32], Source<'_>),
    samples: usize,
    p: &Plan,
    (du, db): (&mut [f32], &mut [f32]),
) {
    let (h, w) = p.in_hw;
    let (oh, ow) = p.out_hw;
    let (c, f, e) = (p.c, p.f, p.elements());
    let (per_in, per_out) = (h * w * c, oh * ow * f);
    if per_out == 0 || per_in == 0 || samples == 0 {
        return;
    }
    let (th, tw) = p.tiles_hw();
    let tiles = th * tw;
    let per_sample = e * tiles * (c + f) * std::mem::size_of::<f32>();
    let step = (CHUNK_BYTES / per_sample.max(1)).clamp(1, samples);
    let (mut v, mut m) = (Vec::new(), Vec::new());
    for s0 in (0..samples).step_by(step) {
        let n = step.min(samples - s0);
        let t = tiles * n;
        if v.len() < e * t * c {
            v.resize(e * t * c, 0.0);
        }
        if m.len() < e * t * f {
            m.resize(e * t * f, 0.0);
        }
        let (vs, ms) = (&mut v[..e * t * c], &mut m[..e * t * f]);
        let xs = Source::Dense(&x[s0 * per_in..]);
        let dys = dy.skip(s0, per_out);
        let dbs = &mut *db;
        rayon::join(
            || {
                let (mut q, mut sample) = (vec![0.0f32; e * c], Vec::new());
                by_tile!(
                    p.tile,
                    input_transform(xs, p, n, (q.as_mut_slice(), &mut sample), vs)
                );
            },
            || {
                let (mut q, mut sample) = (Vec::new(), Vec::new());
                by_tile!(
                    p.tile,
                    gradient_transform(dys, n, p, (&mut q, &mut sample), (ms, dbs))
                );
            },
        );
        let (vs, ms) = (&v[..e * t * c], &m[..e * t * f]);
        du.par_chunks_mut(c * f).enumerate().for_each(|(k, duk)| {
            sgemm(
                c,
                f,
                t,
                &vs[k * t * c..(k + 1) * t * c],
                Trans::Yes,
                &ms[k * t * f..(k + 1) * t * f],
                Trans::No,
                duk,
                true,
                1,
            );
        });
    }
}

/// `Z[k][tile][f] = A dY Aᵀ` for every output-gradient tile of the first `samples` samples
/// of `dy` (positions past the output's edge count as zero), and `db +=` the sum of their
/// rows, in order; `q` and `sample` are scratch.
#[multiversion::multiversion(targets("x86_64+avx2+fma"))]
fn gradient_transform<V: Variant>(
    dy: Source<'_>,
    samples: usize,
    p: &Plan,
    (q, sample): (&mut Vec<f32>, &mut Vec<f32>),
    (z, db): (&mut [f32], &mut [f32]),
) {
    let (oh, ow) = p.out_hw;
    let (f, mo, a) = (p.f, V::M, V::ALPHA);
    let (th, tw) = p.tiles_hw();
    let per_out = oh * ow * f;
    let t = th * tw * samples;
    let zeros = vec![0.0f32; f];
    let (cols, _) = scratch(q, a * mo * f, 0);
    for sn in 0..samples {
        let dn = dy.sample(sn, per_out, sample);
        for r in dn.chunks_exact(f) {
            db.iter_mut().zip(r).for_each(|(d, &v)| *d += v);
        }
        for ty in 0..th {
            for tx in 0..tw {
                let tile = (sn * th + ty) * tw + tx;
                let at = |r: usize, s: usize| {
                    let (oy, ox) = (mo * ty + r, mo * tx + s);
                    if oy < oh && ox < ow {
                        &dn[(oy * ow + ox) * f..][..f]
                    } else {
                        &zeros[..]
                    }
                };
                // cols[r][s] = (A dY)[r][s], column by column.
                for s in 0..mo {
                    let ins = gather(mo, |r| at(r, s));
                    let mut outs = pieces(cols, s * f, mo * f, a, f);
                    V::gradient_1d(&ins[..mo], &mut outs[..a]);
                }
                // Z[r][k] = (cols Aᵀ)[r][k], row by row.
                for r in 0..a {
                    let ins = gather(mo, |s| &cols[(r * mo + s) * f..][..f]);
                    let mut outs = pieces(z, (r * a * t + tile) * f, t * f, a, f);
                    V::gradient_1d(&ins[..mo], &mut outs[..a]);
                }
            }
        }
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
    fn plan(h: usize, w: usize, c: usize, f: usize, pad: (isize, isize), tile: Tile) -> Plan {
        let oh = (h as isize + 2 * pad.0 - 2) as usize;
        let ow = (w as isize + 2 * pad.1 - 2) as usize;
        Plan {
            in_hw: (h, w),
            c,
            f,
            pad,
            out_hw: (oh, ow),
            tile,
        }
    }

    #[test]
    fn matches_direct_convolution_for_odd_sizes_and_paddings() {
        let mut s = 7u64;
        let mut rnd = |n: usize| uniform(&mut s, n);
        for ((h, w, c, f, pad), tile) in [
            (5, 7, 4, 5, (0isize, 0isize)),
            (6, 6, 5, 4, (1, 1)),
            (4, 9, 6, 7, (2, 2)),
            (3, 3, 4, 4, (2, 0)),
            (8, 5, 4, 6, (-1, 1)),
            (11, 10, 5, 4, (1, 1)),
        ]
        .into_iter()
        .flat_map(|case| [(case, Tile::F2), (case, Tile::F4)])
        {
            let p = plan(h, w, c, f, pad, tile);
            let (oh, ow) = p.out_hw;
            let x = rnd(h * w * c);
            let k = rnd(9 * c * f);
            let want = direct(&x, &k, &p);
            let mut got = vec![f32::NAN; oh * ow * f];
            conv3x3(
                Source::Dense(&x),
                &transform_kernel(&k, &p),
                None,
                &p,
                &mut got,
            );
            for (a, b) in got.iter().zip(&want) {
                assert!(
                    (a - b).abs() < 1e-5 * (1.0 + b.abs()),
                    "{h}x{w} pad {pad:?} {tile:?}: {a} vs {b}"
                );
            }
        }
    }

    #[test]
    fn kernel_gradient_matches_direct_sums_for_odd_sizes_and_paddings() {
        let mut s = 11u64;
        let mut rnd = |n: usize| uniform(&mut s, n);
        for ((n, h, w, c, f, pad), tile) in [
            (1, 5, 7, 4, 5, (0isize, 0isize)),
            (3, 6, 6, 5, 4, (1, 1)),
            (2, 4, 9, 6, 7, (2, 2)),
            (40, 3, 3, 4, 4, (1, 0)),
            (3, 11, 9, 4, 5, (1, 1)),
        ]
        .into_iter()
        .flat_map(|case| [(case, Tile::F2), (case, Tile::F4)])
        {
            let p = plan(h, w, c, f, pad, tile);
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
            let mut du = vec![0.0f32; p.elements() * c * f];
            let mut db = vec![0.0f32; f];
            kernel_grad((&x, Source::Dense(&dy)), n, &p, (&mut du, &mut db));
            for (fi, &got) in db.iter().enumerate() {
                let want: f32 = dy.iter().skip(fi).step_by(f).sum();
                assert!((got - want).abs() < 1e-4 * (1.0 + want.abs()), "bias {fi}");
            }
            let got = inverse_kernel_transform(&du, &p);
            for (a, b) in got.iter().zip(&want) {
                assert!(
                    (a - b).abs() < 1e-4 * (1.0 + b.abs()),
                    "{n}x{h}x{w} pad {pad:?} {tile:?}: {a} vs {b}"
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

    #[test]
    fn unpooled_sources_match_the_scattered_gradient_bit_for_bit() {
        let mut s = 5u64;
        let (n, h, w, c, f) = (3, 9, 8, 5, 6);
        for tile in [Tile::F2, Tile::F4] {
            let p = plan(h, w, c, f, (1, 1), tile);
            let (oh, ow) = p.out_hw;
            let per_out = oh * ow * f;
            // A pooled gradient and, per sample, distinct positions in the convolution's
            // output (every 3rd one), scattered the way max pooling's backward pass does.
            let pooled = per_out / 3;
            let dy = uniform(&mut s, n * pooled);
            let idx: Vec<u32> = (0..n * pooled).map(|i| ((i % pooled) * 3) as u32).collect();
            let mut dense = vec![0.0f32; n * per_out];
            for (i, (&g, &j)) in dy.iter().zip(&idx).enumerate() {
                dense[(i / pooled) * per_out + j as usize] += g;
            }
            let src = Source::Unpooled {
                dy: &dy,
                idx: &idx,
                pooled,
            };
            // As the input of a convolution (the input gradient's use).
            let q = plan(oh, ow, f, c, (2, 2), tile);
            let k = uniform(&mut s, 9 * f * c);
            let u = transform_kernel(&k, &q);
            let len = q.out_hw.0 * q.out_hw.1 * c * n;
            let (mut a, mut b) = (vec![0.0f32; len], vec![1.0f32; len]);
            conv3x3(Source::Dense(&dense), &u, None, &q, &mut a);
            conv3x3(src, &u, None, &q, &mut b);
            assert_eq!(a, b, "{tile:?} convolution");
            assert!(a.iter().any(|&v| v != 0.0));
            // As the output gradient of the kernel gradient.
            let x = uniform(&mut s, n * h * w * c);
            let e = p.elements() * c * f;
            let (mut du1, mut db1) = (vec![0.0f32; e], vec![0.0f32; f]);
            let (mut du2, mut db2) = (vec![0.0f32; e], vec![0.0f32; f]);
            kernel_grad((&x, Source::Dense(&dense)), n, &p, (&mut du1, &mut db1));
            kernel_grad((&x, src), n, &p, (&mut du2, &mut db2));
            assert_eq!((du1, db1), (du2, db2), "{tile:?} kernel gradient");
        }
    }
}
