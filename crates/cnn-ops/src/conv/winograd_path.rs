//! The Winograd path for 3x3 stride-1 convolutions: the glue between a convolution's
//! geometry and the transforms in `super::winograd` — plans, the input gradient as a
//! convolution with the flipped kernel, and kernel gradients summed over fixed groups of
//! samples in order (the same bits on any thread count).

use cnn_tensor::Tensor;
use rayon::prelude::*;

use crate::error::Result;

use super::geometry::Conv2dGeometry;
use super::im2col::REDUCE_GROUPS;
use super::winograd;

/// The Winograd plan of the forward convolution of `g`.
pub(super) fn forward_plan(g: &Conv2dGeometry) -> winograd::Plan {
    let win = &g.window;
    winograd::Plan::new(
        (win.in_h, win.in_w),
        (g.channels, g.filters),
        (win.pad_top as isize, win.pad_left as isize),
        (win.out_h, win.out_w),
    )
}

/// Whether the Winograd transforms apply to `g` (3x3, stride 1, no dilation, enough
/// channels and filters to pay).
pub(super) fn applies(g: &Conv2dGeometry) -> bool {
    let w = &g.window;
    winograd::applies(
        (w.k_h, w.k_w),
        (w.stride_h, w.stride_w),
        (w.dil_h, w.dil_w),
        g.channels,
        g.filters,
    )
}

/// Whether the whole batch has enough tiles for Winograd to pay: its kernel transform writes
/// `(m+2)² x C x F` values and the GEMMs read them all, which a handful of tiles (batch-1
/// inference on small maps) cannot amortise — im2col reads the kernel once. Measured at batch
/// 1 (2 threads): airbench-cifar 8.6 → 4.5 ms, alexnet-cifar 7.9 → 6.4 ms with im2col below
/// 32 tiles; 64 measured the same.
pub(super) fn pays(g: &Conv2dGeometry) -> bool {
    let (th, tw) = forward_plan(g).tiles_hw();
    g.batch.saturating_mul(th * tw) >= MIN_TILES
}

/// Tiles a batch needs for the Winograd path.
const MIN_TILES: usize = 32;

/// `y = conv(x, w) + b` into `y` (output-shaped).
pub(super) fn forward(
    g: &Conv2dGeometry,
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    y: &mut Tensor,
) {
    let plan = forward_plan(g);
    let u = winograd::transform_kernel(w.data(), &plan);
    let xs = winograd::Source::Dense(x.data());
    winograd::conv3x3(xs, &u, b.map(|b| b.data()), &plan, y.data_mut());
}

/// `dL/dx` through Winograd: the stride-1 convolution of `dL/dy` with the kernel turned 180°
/// and its channel axes swapped, padded by `2 - pad` on the top and left.
pub(super) fn input_grad(
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

/// Kernel and bias gradients through Winograd: fixed groups of samples each sum
/// `dL/dU` (and the bias gradient), the groups are added in order, and `dL/dU` is turned
/// back into `dL/dw` once. Where a group's GEMMs would reduce over few tiles (small outputs,
/// many channels), chunks of the whole batch instead, parallel over `dL/dU`'s slices
/// ([`winograd::kernel_grad_chunked`]).
pub(super) fn kernel_bias_grad(
    g: &Conv2dGeometry,
    x: &Tensor,
    dy: winograd::Source<'_>,
) -> Result<(Tensor, Tensor)> {
    let (c, f) = (g.channels, g.filters);
    let plan = forward_plan(g);
    let (per_in, per_out) = (g.pixels_in() * c, g.pixels_out() * f);
    let xs = x.data();
    if winograd::short_reduction(&plan) {
        let mut du = vec![0.0f32; plan.elements() * c * f];
        let mut db = vec![0.0f32; f];
        winograd::kernel_grad_chunked((xs, dy), g.batch, &plan, (&mut du, &mut db));
        let dw = winograd::inverse_kernel_transform(&du, &plan);
        return Ok((Tensor::new([g.patch_len(), f], dw)?, Tensor::new([f], db)?));
    }
    let groups = REDUCE_GROUPS.min(g.batch).max(1);
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
