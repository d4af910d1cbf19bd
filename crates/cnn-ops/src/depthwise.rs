//! Depthwise 2-D convolution (Keras's `DepthwiseConv2D`, TensorFlow's
//! `depthwise_conv2d`): every input channel is convolved with its own `depth_multiplier`
//! filters, `y[n, i, j, c·M + m] = b[c·M + m] + Σ x[n, i·s + di·d, j·s + dj·d, c] · w[di, dj, c, m]`.
//!
//! Direct loops over the window with the channels innermost (NHWC keeps a pixel's channels
//! contiguous, so each window tap is one vectorisable run of `C·M` products). The forward pass
//! runs output rows in parallel, the backward samples; the kernel gradient sums per-sample
//! partial sums in sample order, so results do not depend on the thread count.

use cnn_tensor::Tensor;
use rayon::prelude::*;

use crate::activation::Activation;
use crate::conv::{Conv2dGeometry, Conv2dOptions};
use crate::error::{OpError, Result, option_err, shape_err};
use crate::geometry::Window2d;

/// The resolved shapes of one depthwise convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DepthwiseGeometry {
    /// Batch size N.
    pub batch: usize,
    /// Input channels C.
    pub channels: usize,
    /// Filters per input channel M (the depth multiplier).
    pub multiplier: usize,
    /// The window geometry.
    pub window: Window2d,
}

impl DepthwiseGeometry {
    /// Checks an input shape `[N, H, W, C]` against a kernel shape `[kh, kw, C, M]`: the
    /// checks of a convolution whose kernel has `M` filters (ranks, channels, window), with
    /// errors naming `depthwise_conv2d`.
    pub fn new(x: &[usize], w: &[usize], opts: &Conv2dOptions) -> Result<Self> {
        let g = Conv2dGeometry::new(x, w, opts).map_err(|e| match e {
            OpError::Shape { message, .. } => shape_err("depthwise_conv2d", message),
            OpError::Option {
                option, message, ..
            } => option_err("depthwise_conv2d", option, message),
            other => other,
        })?;
        Ok(DepthwiseGeometry {
            batch: g.batch,
            channels: g.channels,
            multiplier: g.filters,
            window: g.window,
        })
    }

    /// The output shape `[N, OH, OW, C·M]`.
    pub fn output_dims(&self) -> [usize; 4] {
        [
            self.batch,
            self.window.out_h,
            self.window.out_w,
            self.channels * self.multiplier,
        ]
    }

    /// Multiply-adds per sample.
    pub fn macs(&self) -> u64 {
        let w = &self.window;
        [
            w.out_h,
            w.out_w,
            self.channels,
            self.multiplier,
            w.k_h,
            w.k_w,
        ]
        .iter()
        .fold(1u64, |a, &d| a.saturating_mul(d as u64))
    }

    /// The input row and column read by output `(oi, oj)` at tap `(di, dj)`, if inside.
    #[inline]
    fn tap(&self, oi: usize, oj: usize, di: usize, dj: usize) -> Option<(usize, usize)> {
        let w = &self.window;
        let i = (oi * w.stride_h + di * w.dil_h).checked_sub(w.pad_top)?;
        let j = (oj * w.stride_w + dj * w.dil_w).checked_sub(w.pad_left)?;
        (i < w.in_h && j < w.in_w).then_some((i, j))
    }
}

/// `out[c·M + m] += x[c] · w[c·M + m]` over one pixel's channels.
#[inline]
fn accumulate(out: &mut [f32], x: &[f32], w: &[f32], m: usize) {
    if m == 1 {
        out.iter_mut()
            .zip(x.iter().zip(w))
            .for_each(|(o, (&a, &b))| *o += a * b);
    } else {
        for ((o, &a), wk) in out.chunks_exact_mut(m).zip(x).zip(w.chunks_exact(m)) {
            o.iter_mut().zip(wk).for_each(|(o, &b)| *o += a * b);
        }
    }
}

/// `dx[c] += Σₘ dy[c·M + m] · w[c·M + m]` over one input pixel's channels.
#[inline]
fn input_tap(dx: &mut [f32], dy: &[f32], w: &[f32], m: usize) {
    if m == 1 {
        dx.iter_mut()
            .zip(dy.iter().zip(w))
            .for_each(|(o, (&a, &b))| *o += a * b);
    } else {
        for ((o, dk), wk) in dx.iter_mut().zip(dy.chunks_exact(m)).zip(w.chunks_exact(m)) {
            *o += dk.iter().zip(wk).map(|(a, b)| a * b).sum::<f32>();
        }
    }
}

/// Depthwise convolution of NHWC `x` with kernel `w` `[kh, kw, C, M]` and optional bias
/// `[C·M]`.
pub fn depthwise_conv2d_forward(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    opts: &Conv2dOptions,
) -> Result<Tensor> {
    depthwise_conv2d_forward_act(x, w, b, opts, Activation::Linear)
}

/// `act(depthwise_conv2d(x, w) + b)`, the activation applied to each output pixel as soon as
/// it is summed: the same bits as [`depthwise_conv2d_forward`] then
/// [`Activation::apply_inplace`], one pass over the output fewer. For inference.
pub fn depthwise_conv2d_forward_act(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    opts: &Conv2dOptions,
    act: Activation,
) -> Result<Tensor> {
    let g = DepthwiseGeometry::new(x.dims(), w.dims(), opts)?;
    let cm = g.channels * g.multiplier;
    if let Some(b) = b
        && b.dims() != [cm]
    {
        return Err(shape_err(
            "depthwise_conv2d",
            format!("bias {} does not match {cm} output channels", b.shape()),
        ));
    }
    let win = g.window;
    let (c, m) = (g.channels, g.multiplier);
    let in_img = win.in_h * win.in_w * c;
    let out_img = win.out_h * win.out_w * cm;
    let mut out = vec![0.0f32; g.batch * out_img];
    let wd = w.data();
    let xd = x.data();
    let out_row = win.out_w * cm;
    // Output rows in parallel (not samples: batch-1 inference uses every thread); each output
    // value is summed by one thread in a fixed order.
    out.par_chunks_mut(out_row.max(1))
        .enumerate()
        .for_each(|(r, y)| {
            let (n, oi) = (r / win.out_h.max(1), r % win.out_h.max(1));
            let xi = &xd[n * in_img..(n + 1) * in_img];
            for (oj, o) in y.chunks_exact_mut(cm).enumerate() {
                if let Some(b) = b {
                    o.copy_from_slice(b.data());
                }
                for di in 0..win.k_h {
                    for dj in 0..win.k_w {
                        if let Some((i, j)) = g.tap(oi, oj, di, dj) {
                            let xs = &xi[(i * win.in_w + j) * c..][..c];
                            let ws = &wd[(di * win.k_w + dj) * cm..][..cm];
                            accumulate(o, xs, ws, m);
                        }
                    }
                }
                act.apply_serial(o);
            }
        });
    Ok(Tensor::new(g.output_dims(), out)?)
}

/// Gradients of a depthwise convolution.
#[derive(Clone, Debug)]
pub struct DepthwiseGrads {
    /// `dL/dx`, when asked for.
    pub input: Option<Tensor>,
    /// `dL/dw`.
    pub kernel: Option<Tensor>,
    /// `dL/db`.
    pub bias: Option<Tensor>,
}

/// The gradients of [`depthwise_conv2d_forward`] from `dy` `[N, OH, OW, C·M]`: the input's
/// when `need_input`, the kernel's when `need_kernel`, the bias's when `need_bias`.
pub fn depthwise_conv2d_backward(
    x: &Tensor,
    w: &Tensor,
    dy: &Tensor,
    opts: &Conv2dOptions,
    (need_input, need_kernel, need_bias): (bool, bool, bool),
) -> Result<DepthwiseGrads> {
    let g = DepthwiseGeometry::new(x.dims(), w.dims(), opts)?;
    if dy.dims() != g.output_dims() {
        return Err(shape_err(
            "depthwise_conv2d",
            format!(
                "gradient {} does not match the output {:?}",
                dy.shape(),
                g.output_dims()
            ),
        ));
    }
    let win = g.window;
    let (c, m) = (g.channels, g.multiplier);
    let cm = c * m;
    let in_img = win.in_h * win.in_w * c;
    let out_img = win.out_h * win.out_w * cm;
    let wd = w.data();
    let input = need_input
        .then(|| {
            let mut dx = vec![0.0f32; g.batch * in_img];
            dx.par_chunks_mut(in_img.max(1))
                .zip(dy.data().par_chunks(out_img.max(1)))
                .for_each(|(dxi, dyi)| {
                    for oi in 0..win.out_h {
                        for oj in 0..win.out_w {
                            let d = &dyi[(oi * win.out_w + oj) * cm..][..cm];
                            for di in 0..win.k_h {
                                for dj in 0..win.k_w {
                                    if let Some((i, j)) = g.tap(oi, oj, di, dj) {
                                        let ws = &wd[(di * win.k_w + dj) * cm..][..cm];
                                        let xs = &mut dxi[(i * win.in_w + j) * c..][..c];
                                        input_tap(xs, d, ws, m);
                                    }
                                }
                            }
                        }
                    }
                });
            Tensor::new(x.dims(), dx)
        })
        .transpose()?;
    let klen = w.len();
    let kernel = need_kernel
        .then(|| {
            // One partial sum per sample, added in sample order: the same bits on any
            // number of threads.
            let partials: Vec<Vec<f32>> = x
                .data()
                .par_chunks(in_img.max(1))
                .zip(dy.data().par_chunks(out_img.max(1)))
                .map(|(xi, dyi)| {
                    let mut dw = vec![0.0f32; klen];
                    for oi in 0..win.out_h {
                        for oj in 0..win.out_w {
                            let d = &dyi[(oi * win.out_w + oj) * cm..][..cm];
                            for di in 0..win.k_h {
                                for dj in 0..win.k_w {
                                    if let Some((i, j)) = g.tap(oi, oj, di, dj) {
                                        let xs = &xi[(i * win.in_w + j) * c..][..c];
                                        let acc = &mut dw[(di * win.k_w + dj) * cm..][..cm];
                                        accumulate(acc, xs, d, m);
                                    }
                                }
                            }
                        }
                    }
                    dw
                })
                .collect();
            let mut dw = vec![0.0f32; klen];
            for p in &partials {
                dw.iter_mut().zip(p).for_each(|(a, b)| *a += b);
            }
            Tensor::new(w.dims(), dw)
        })
        .transpose()?;
    let bias = need_bias
        .then(|| {
            let mut db = vec![0.0f32; cm];
            for row in dy.data().chunks_exact(cm) {
                db.iter_mut().zip(row).for_each(|(a, b)| *a += b);
            }
            Tensor::new([cm], db)
        })
        .transpose()?;
    Ok(DepthwiseGrads {
        input,
        kernel,
        bias,
    })
}
