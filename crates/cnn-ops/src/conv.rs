//! 2-D convolution (cross-correlation, as in every DL framework) on NHWC tensors.
//!
//! Input `[N, H, W, C]`, kernel `[kh, kw, C, F]` (Keras layout), bias `[F]`, output
//! `[N, OH, OW, F]`. The kernel reshaped to `[kh·kw·C, F]` is already the GEMM's right operand,
//! so the forward pass is `im2col(x) · W`, tile by tile: each tile of output pixels is
//! unfolded into a scratch buffer sized to stay in L2 and multiplied by the kernel. Tiles run
//! in parallel; reductions (kernel and bias gradients) use a fixed grouping of tiles, so results
//! do not depend on the thread count.

use cnn_tensor::Tensor;
use rayon::prelude::*;

use crate::error::{Result, shape_err};
use crate::gemm::{Trans, sgemm};
use crate::geometry::{Padding, Window2d};
use crate::scratch::with_scratch;
use crate::winograd;

/// Options of a 2-D convolution (Keras defaults: strides 1, `valid`, dilation 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dOptions {
    /// `(vertical, horizontal)` strides.
    pub strides: (usize, usize),
    /// Padding rule.
    pub padding: Padding,
    /// `(vertical, horizontal)` dilation rates.
    pub dilation: (usize, usize),
}

impl Default for Conv2dOptions {
    fn default() -> Self {
        Conv2dOptions {
            strides: (1, 1),
            padding: Padding::Valid,
            dilation: (1, 1),
        }
    }
}

/// The resolved shapes of one convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dGeometry {
    /// Batch size N.
    pub batch: usize,
    /// Input channels C.
    pub channels: usize,
    /// Filters F (output channels).
    pub filters: usize,
    /// The window geometry.
    pub window: Window2d,
}

impl Conv2dGeometry {
    /// Checks an input shape `[N, H, W, C]` against a kernel shape `[kh, kw, C, F]`.
    pub fn new(x: &[usize], w: &[usize], opts: &Conv2dOptions) -> Result<Self> {
        let [n, h, wd, c] = *x else {
            return Err(shape_err(
                "conv2d",
                format!("input must be rank 4 NHWC, got {x:?}"),
            ));
        };
        let [kh, kw, kc, f] = *w else {
            return Err(shape_err(
                "conv2d",
                format!("kernel must be rank 4 [kh, kw, in, out], got {w:?}"),
            ));
        };
        if kc != c {
            return Err(shape_err(
                "conv2d",
                format!("kernel {w:?} expects {kc} input channels but the input {x:?} has {c}"),
            ));
        }
        if f == 0 || c == 0 {
            return Err(shape_err(
                "conv2d",
                format!("zero channels or filters: input {x:?}, kernel {w:?}"),
            ));
        }
        let window = Window2d::new(
            "conv2d",
            (h, wd),
            (kh, kw),
            opts.strides,
            opts.dilation,
            opts.padding,
        )?;
        Ok(Conv2dGeometry {
            batch: n,
            channels: c,
            filters: f,
            window,
        })
    }

    /// The output shape `[N, OH, OW, F]`.
    pub fn output_dims(&self) -> [usize; 4] {
        [
            self.batch,
            self.window.out_h,
            self.window.out_w,
            self.filters,
        ]
    }

    /// Rows of the unfolded patch matrix: `kh·kw·C`.
    pub fn patch_len(&self) -> usize {
        self.window.k_h * self.window.k_w * self.channels
    }

    fn pixels_out(&self) -> usize {
        self.window.out_h * self.window.out_w
    }

    fn pixels_in(&self) -> usize {
        self.window.in_h * self.window.in_w
    }

    /// A 1x1 kernel with stride 1 and no padding: the input pixels are the patches.
    fn is_pointwise(&self) -> bool {
        let g = &self.window;
        g.k_h == 1
            && g.k_w == 1
            && g.stride_h == 1
            && g.stride_w == 1
            && g.pad_top + g.pad_bottom + g.pad_left + g.pad_right == 0
    }

    /// Multiply-adds of the forward pass.
    pub fn macs(&self) -> u64 {
        (self.batch * self.pixels_out()) as u64 * self.patch_len() as u64 * self.filters as u64
    }

    /// Splits every sample's output pixels into tiles whose patch matrix fits the budget.
    fn tiles(&self) -> Vec<Tile> {
        const TILE_FLOATS: usize = 1 << 16;
        let p = self.pixels_out();
        let rows = (TILE_FLOATS / self.patch_len().max(1))
            .clamp(16, 4096)
            .min(p);
        let mut tiles = Vec::new();
        for n in 0..self.batch {
            let mut p0 = 0;
            while p0 < p {
                let p1 = (p0 + rows).min(p);
                tiles.push(Tile { n, p0, p1 });
                p0 = p1;
            }
        }
        tiles
    }
}

/// A range `[p0, p1)` of output pixels of sample `n`.
#[derive(Clone, Copy, Debug)]
struct Tile {
    n: usize,
    p0: usize,
    p1: usize,
}

impl Tile {
    fn rows(&self) -> usize {
        self.p1 - self.p0
    }
}

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
                seg.copy_from_slice(&x[(base + start) * c..(base + start + w.k_w) * c]);
                continue;
            }
            for (kw, dst) in seg.chunks_exact_mut(c).enumerate() {
                match w.in_col(ow, kw) {
                    Some(iw) => dst.copy_from_slice(&x[(base + iw) * c..(base + iw + 1) * c]),
                    None => dst.fill(0.0),
                }
            }
        }
    }
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

/// Checks `bias` against the filter count.
fn check_bias(b: Option<&Tensor>, f: usize) -> Result<()> {
    match b {
        Some(b) if b.dims() != [f] => Err(shape_err(
            "conv2d",
            format!("bias shape {} does not match {f} filters", b.shape()),
        )),
        _ => Ok(()),
    }
}

/// Forward convolution: `y = conv(x, w) + b`.
pub fn conv2d_forward(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    opts: &Conv2dOptions,
) -> Result<Tensor> {
    let g = Conv2dGeometry::new(x.dims(), w.dims(), opts)?;
    check_bias(b, g.filters)?;
    let mut y = Tensor::zeros(g.output_dims())?;
    if uses_winograd(&g) {
        let plan = forward_plan(&g);
        let u = winograd::transform_kernel(w.data(), &plan);
        let xs = winograd::Source::Dense(x.data());
        winograd::conv3x3(xs, &u, b.map(|b| b.data()), &plan, y.data_mut());
        return Ok(y);
    }
    let (f, k) = (g.filters, g.patch_len());
    let (pin, pout) = (g.pixels_in(), g.pixels_out());
    let tiles = g.tiles();
    let xs = x.data();
    let ws = w.data();
    let slices = split_by_tiles(y.data_mut(), &tiles, f);
    tiles.par_iter().zip(slices).for_each(|(t, out)| {
        let xn = &xs[t.n * pin * g.channels..(t.n + 1) * pin * g.channels];
        if let Some(b) = b {
            out.chunks_exact_mut(f)
                .for_each(|r| r.copy_from_slice(b.data()));
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
    });
    debug_assert_eq!(pout * g.batch * f, y.len());
    Ok(y)
}

/// A convolution followed by 2x2 max pooling with stride 2 and `valid` padding, computed in one
/// pass when the convolution takes the Winograd path (3x3, stride 1): the convolution's output
/// is never stored. Returns the pooled output `N x ⌊OH/2⌋ x ⌊OW/2⌋ x F` and, as
/// [`crate::max_pool2d_forward`] does, each maximum's flat index within its sample of the
/// convolution's output (`N x OH x OW x F`, whose dimensions come third). `Ok(None)` when the
/// pair is not fusable (another kernel or pool shape): compute them one after the other then.
#[allow(clippy::type_complexity)]
pub fn conv2d_max_pool_forward(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    opts: &Conv2dOptions,
    pool: &crate::Pool2dOptions,
) -> Result<Option<(Tensor, Vec<u32>, Vec<usize>)>> {
    let g = Conv2dGeometry::new(x.dims(), w.dims(), opts)?;
    check_bias(b, g.filters)?;
    let win = &g.window;
    let pool_2x2 = pool.pool_size == (2, 2)
        && pool.strides.unwrap_or((2, 2)) == (2, 2)
        && pool.padding == Padding::Valid;
    let conv_len = win.out_h * win.out_w * g.filters;
    if !uses_winograd(&g) || !pool_2x2 || win.out_h < 2 || win.out_w < 2 {
        return Ok(None);
    }
    if conv_len > u32::MAX as usize {
        return Err(shape_err(
            "max_pool2d",
            "sample too large for 32-bit indices",
        ));
    }
    let (ph, pw) = (win.out_h / 2, win.out_w / 2);
    let mut y = Tensor::zeros([g.batch, ph, pw, g.filters])?;
    let mut idx = cnn_tensor::filled(y.len(), 0u32);
    let plan = forward_plan(&g);
    let u = winograd::transform_kernel(w.data(), &plan);
    winograd::conv3x3_max_pool(
        x.data(),
        &u,
        b.map(|b| b.data()),
        &plan,
        y.data_mut(),
        &mut idx,
    );
    Ok(Some((y, idx, g.output_dims().to_vec())))
}

/// Which gradients a convolution's backward pass should compute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvNeeds {
    /// Gradient with respect to the input.
    pub input: bool,
    /// Gradient with respect to the kernel.
    pub kernel: bool,
    /// Gradient with respect to the bias.
    pub bias: bool,
}

/// The gradients of a convolution (each present when it was asked for).
#[derive(Clone, Debug, Default)]
pub struct Conv2dGrads {
    /// `dL/dx`, shaped like the input.
    pub input: Option<Tensor>,
    /// `dL/dw`, shaped like the kernel.
    pub kernel: Option<Tensor>,
    /// `dL/db`, shape `[F]`.
    pub bias: Option<Tensor>,
}

/// Backward convolution: gradients of the loss with respect to the input, kernel and bias,
/// given `dy = dL/dy`.
pub fn conv2d_backward(
    x: &Tensor,
    w: &Tensor,
    dy: &Tensor,
    opts: &Conv2dOptions,
    needs: ConvNeeds,
) -> Result<Conv2dGrads> {
    let g = Conv2dGeometry::new(x.dims(), w.dims(), opts)?;
    if dy.dims() != g.output_dims() {
        return Err(shape_err(
            "conv2d",
            format!(
                "output gradient shape {} does not match output {:?}",
                dy.shape(),
                g.output_dims()
            ),
        ));
    }
    let mut grads = Conv2dGrads::default();
    if needs.input {
        grads.input = Some(input_grad(&g, w, dy, x.dims())?);
    }
    if needs.kernel || needs.bias {
        let (dw, db) = kernel_bias_grad(&g, x, dy, needs.kernel)?;
        if needs.kernel {
            grads.kernel = Some(dw.reshape(w.dims())?);
        }
        if needs.bias {
            grads.bias = Some(db);
        }
    }
    Ok(grads)
}

/// Backward pass of [`conv2d_max_pool_forward`]: the convolution's gradients given `dy`, the
/// gradient of the pooled output, and the indices and convolution dimensions the forward pass
/// returned. On the Winograd path each sample's pooled gradient is routed to the
/// convolution's output inside the convolution's own passes, in a per-thread buffer, so the
/// batch-sized gradient of the convolution's output is never stored; the values are those of
/// [`crate::max_pool2d_backward`] followed by [`conv2d_backward`], bit for bit.
pub fn conv2d_max_pool_backward(
    x: &Tensor,
    w: &Tensor,
    (dy, idx, conv_dims): (&Tensor, &[u32], &[usize]),
    opts: &Conv2dOptions,
    needs: ConvNeeds,
) -> Result<Conv2dGrads> {
    let g = Conv2dGeometry::new(x.dims(), w.dims(), opts)?;
    if conv_dims != g.output_dims() || dy.len() != idx.len() || dy.dims().first() != Some(&g.batch)
    {
        return Err(shape_err(
            "conv2d",
            format!(
                "pooled gradient {} with {} indices does not match the output {:?}",
                dy.shape(),
                idx.len(),
                g.output_dims()
            ),
        ));
    }
    if !uses_winograd(&g) || (needs.bias && !needs.kernel) {
        let dconv = crate::max_pool2d_backward(conv_dims, idx, dy)?;
        return conv2d_backward(x, w, &dconv, opts, needs);
    }
    let pooled = dy.len() / g.batch.max(1);
    let src = winograd::Source::Unpooled {
        dy: dy.data(),
        idx,
        pooled,
    };
    let mut grads = Conv2dGrads::default();
    if needs.input {
        grads.input = Some(winograd_input_grad(&g, w, src, x.dims())?);
    }
    if needs.kernel {
        let (dw, db) = winograd_kernel_bias_grad(&g, x, src)?;
        grads.kernel = Some(dw.reshape(w.dims())?);
        grads.bias = needs.bias.then_some(db);
    }
    Ok(grads)
}

/// The Winograd plan of the forward convolution of `g`.
fn forward_plan(g: &Conv2dGeometry) -> winograd::Plan {
    let win = &g.window;
    winograd::Plan::new(
        (win.in_h, win.in_w),
        (g.channels, g.filters),
        (win.pad_top as isize, win.pad_left as isize),
        (win.out_h, win.out_w),
    )
}

/// Whether this convolution goes through Winograd (forward, input and kernel gradients).
/// `CNN_WINOGRAD=0` in the environment turns the path off (for comparisons).
fn uses_winograd(g: &Conv2dGeometry) -> bool {
    static ENABLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let on = *ENABLED.get_or_init(|| std::env::var("CNN_WINOGRAD").map_or(true, |v| v != "0"));
    let w = &g.window;
    on && winograd::applies(
        (w.k_h, w.k_w),
        (w.stride_h, w.stride_w),
        (w.dil_h, w.dil_w),
        g.channels,
        g.filters,
    )
}

/// `dL/dx` through Winograd: the stride-1 convolution of `dL/dy` with the kernel turned 180°
/// and its channel axes swapped, padded by `2 - pad` on the top and left.
fn winograd_input_grad(
    g: &Conv2dGeometry,
    w: &Tensor,
    dy: winograd::Source<'_>,
    x_dims: &[usize],
) -> Result<Tensor> {
    let mut dx = Tensor::zeros(x_dims)?;
    let win = &g.window;
    let flipped = winograd::flip_kernel(w.data(), g.channels, g.filters);
    let plan = winograd::Plan::new(
        (win.out_h, win.out_w),
        (g.filters, g.channels),
        (2 - win.pad_top as isize, 2 - win.pad_left as isize),
        (win.in_h, win.in_w),
    );
    let u = winograd::transform_kernel(&flipped, &plan);
    winograd::conv3x3(dy, &u, None, &plan, dx.data_mut());
    Ok(dx)
}

fn input_grad(g: &Conv2dGeometry, w: &Tensor, dy: &Tensor, x_dims: &[usize]) -> Result<Tensor> {
    if uses_winograd(g) {
        return winograd_input_grad(g, w, winograd::Source::Dense(dy.data()), x_dims);
    }
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
const REDUCE_GROUPS: usize = 16;

fn kernel_bias_grad(
    g: &Conv2dGeometry,
    x: &Tensor,
    dy: &Tensor,
    want_kernel: bool,
) -> Result<(Tensor, Tensor)> {
    if want_kernel && uses_winograd(g) {
        return winograd_kernel_bias_grad(g, x, winograd::Source::Dense(dy.data()));
    }
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
    let mut dw = if want_kernel {
        vec![0.0f32; k * f]
    } else {
        Vec::new()
    };
    let mut db = vec![0.0f32; f];
    for (pw, pb) in &partials {
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

/// Kernel and bias gradients through Winograd: fixed groups of samples each sum
/// `dL/dU` (and the bias gradient), the groups are added in order, and `dL/dU` is turned
/// back into `dL/dw` once.
fn winograd_kernel_bias_grad(
    g: &Conv2dGeometry,
    x: &Tensor,
    dy: winograd::Source<'_>,
) -> Result<(Tensor, Tensor)> {
    let (c, f) = (g.channels, g.filters);
    let plan = forward_plan(g);
    let (per_in, per_out) = (g.pixels_in() * c, g.pixels_out() * f);
    let groups = REDUCE_GROUPS.min(g.batch).max(1);
    let xs = x.data();
    let partials: Vec<(Vec<f32>, Vec<f32>)> = (0..groups)
        .into_par_iter()
        .map(|gi| {
            let (lo, hi) = (gi * g.batch / groups, (gi + 1) * g.batch / groups);
            let mut du = vec![0.0f32; plan.elements() * c * f];
            let mut db = vec![0.0f32; f];
            let pair = (&xs[lo * per_in..hi * per_in], dy.skip(lo, per_out));
            winograd::kernel_grad(pair, hi - lo, &plan, (&mut du, &mut db));
            (du, db)
        })
        .collect();
    let mut du = vec![0.0f32; plan.elements() * c * f];
    let mut db = vec![0.0f32; f];
    for (pu, pb) in &partials {
        du.iter_mut().zip(pu).for_each(|(d, v)| *d += v);
        db.iter_mut().zip(pb).for_each(|(d, v)| *d += v);
    }
    let dw = winograd::inverse_kernel_transform(&du, &plan);
    Ok((Tensor::new([g.patch_len(), f], dw)?, Tensor::new([f], db)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vertical_edge_example() {
        // 8x8 image: left half 9, right half 0; kernel rows 1 0 -1.
        let x = Tensor::from_fn([1, 8, 8, 1], |i| if i % 8 < 4 { 9.0 } else { 0.0 }).unwrap();
        let w = Tensor::new([3, 3, 1, 1], vec![1., 0., -1., 1., 0., -1., 1., 0., -1.]).unwrap();
        let y = conv2d_forward(&x, &w, None, &Conv2dOptions::default()).unwrap();
        assert_eq!(y.dims(), &[1, 6, 6, 1]);
        for r in 0..6 {
            let row: Vec<f32> = y.data()[r * 6..r * 6 + 6].to_vec();
            assert_eq!(row, vec![0., 0., 27., 27., 0., 0.]);
        }
    }

    #[test]
    fn mismatched_channels_name_shapes() {
        let x = Tensor::zeros([1, 5, 5, 3]).unwrap();
        let w = Tensor::zeros([3, 3, 1, 4]).unwrap();
        let e = conv2d_forward(&x, &w, None, &Conv2dOptions::default()).unwrap_err();
        assert!(e.to_string().contains("expects 1 input channels"), "{e}");
        let w = Tensor::zeros([7, 7, 3, 4]).unwrap();
        let e = conv2d_forward(&x, &w, None, &Conv2dOptions::default()).unwrap_err();
        assert!(
            e.to_string().contains("larger than the padded input"),
            "{e}"
        );
    }
}
