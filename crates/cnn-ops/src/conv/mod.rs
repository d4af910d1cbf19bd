//! 2-D convolution (cross-correlation, as in every DL framework) on NHWC tensors.
//!
//! Input `[N, H, W, C]`, kernel `[kh, kw, C, F]` (Keras layout), bias `[F]`, output
//! `[N, OH, OW, F]`. Three algorithms compute it, chosen in one place, `algorithm`:
//!
//! - `direct`: thin convolutions (few channels or few filters, no dilation) — a
//!   register-blocked kernel reading windows straight from a padded band of input rows, and
//!   its gradients likewise (`direct_grad`);
//! - `im2col`: any kernel, stride, dilation and padding — patches unfolded tile by tile and
//!   multiplied by the kernel with a GEMM;
//! - `winograd_path` (transforms in `winograd`): 3x3 kernels with stride 1 — Winograd
//!   F(2x2, 3x3) or F(4x4, 3x3), and a max pool fused into the same pass when one follows.
//!
//! All give the same results up to rounding and all are independent of the thread count.
//! `CNN_WINOGRAD=0` in the environment turns the Winograd path off, `CNN_DIRECT=0` the direct
//! one (for comparisons).

mod direct;
mod direct_grad;
mod geometry;
mod im2col;
pub(crate) mod winograd;
mod winograd_path;

use cnn_tensor::Tensor;

use crate::activation::Activation;
use crate::error::{Result, shape_err};
use crate::geometry::Padding;

pub use geometry::Conv2dGeometry;

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

/// The algorithm that computes a convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Algorithm {
    /// Tiled im2col and GEMM (any geometry).
    Im2col,
    /// Winograd transforms (3x3, stride 1).
    Winograd,
    /// The direct kernels (thin convolutions, no dilation).
    Direct,
}

/// The one place where a convolution's algorithm is chosen: the direct kernel for thin
/// convolutions (unless `CNN_DIRECT` is `0`), Winograd where its transforms apply (unless
/// `CNN_WINOGRAD` is `0`), im2col everywhere else. Forward pass, input gradient and kernel
/// gradient of one convolution take the same path (but for the input gradient of a strided
/// direct convolution, which im2col computes).
fn algorithm(g: &Conv2dGeometry) -> Algorithm {
    static DIRECT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    static WINOGRAD: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let enabled = |cell: &std::sync::OnceLock<bool>, var: &str| {
        *cell.get_or_init(|| std::env::var(var).map_or(true, |v| v != "0"))
    };
    if enabled(&DIRECT, "CNN_DIRECT") && direct::applies(g) && direct::pays(g) {
        Algorithm::Direct
    } else if enabled(&WINOGRAD, "CNN_WINOGRAD")
        && winograd_path::applies(g)
        && winograd_path::pays(g)
    {
        Algorithm::Winograd
    } else {
        Algorithm::Im2col
    }
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
    conv2d_forward_act(x, w, b, opts, Activation::Linear)
}

/// `act(conv(x, w) + b)`, the activation applied to each tile of the output right after its
/// GEMM, while it is in cache (im2col; after the whole convolution on the Winograd path): the
/// same bits as [`conv2d_forward`] then [`Activation::apply_inplace`], one pass over the
/// output fewer. For inference: no gradient goes through it.
pub fn conv2d_forward_act(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    opts: &Conv2dOptions,
    act: Activation,
) -> Result<Tensor> {
    let g = Conv2dGeometry::new(x.dims(), w.dims(), opts)?;
    check_bias(b, g.filters)?;
    let mut y = Tensor::zeros(g.output_dims())?;
    match algorithm(&g) {
        Algorithm::Winograd => {
            winograd_path::forward(&g, x, w, b, &mut y);
            act.apply_inplace(y.data_mut());
        }
        Algorithm::Direct => direct::forward(&g, x, w, b, &mut y, act),
        Algorithm::Im2col => im2col::forward(&g, x, w, b, &mut y, act)?,
    }
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
    if algorithm(&g) != Algorithm::Winograd || !pool_2x2 || win.out_h < 2 || win.out_w < 2 {
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
    let plan = winograd_path::forward_plan(&g);
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
    let alg = algorithm(&g);
    if needs.input {
        grads.input = Some(match alg {
            Algorithm::Winograd => {
                winograd_path::input_grad(&g, w, winograd::Source::Dense(dy.data()), x.dims())?
            }
            Algorithm::Direct => match direct_grad::input_grad(&g, w, dy)? {
                Some(dx) => dx,
                None => im2col::input_grad(&g, w, dy, x.dims())?,
            },
            Algorithm::Im2col => im2col::input_grad(&g, w, dy, x.dims())?,
        });
    }
    if needs.kernel || needs.bias {
        // The Winograd kernel gradient brings the bias's with it; a bias alone is a sum.
        let (dw, db) = match alg {
            Algorithm::Winograd if needs.kernel => {
                winograd_path::kernel_bias_grad(&g, x, winograd::Source::Dense(dy.data()))?
            }
            Algorithm::Direct => direct_grad::kernel_bias_grad(&g, x, dy, needs.kernel)?,
            _ => im2col::kernel_bias_grad(&g, x, dy, needs.kernel)?,
        };
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
    if algorithm(&g) != Algorithm::Winograd || (needs.bias && !needs.kernel) {
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
        grads.input = Some(winograd_path::input_grad(&g, w, src, x.dims())?);
    }
    if needs.kernel {
        let (dw, db) = winograd_path::kernel_bias_grad(&g, x, src)?;
        grads.kernel = Some(dw.reshape(w.dims())?);
        grads.bias = needs.bias.then_some(db);
    }
    Ok(grads)
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
