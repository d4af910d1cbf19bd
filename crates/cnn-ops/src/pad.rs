//! Zero padding of NHWC images (Keras's `ZeroPadding2D`): rows above and below, columns left
//! and right, set to zero; the gradient is the inner part of the output's gradient.

use cnn_tensor::Tensor;

use crate::error::{Result, shape_err};

/// Rows and columns of zeros added around an image: `(top, bottom)`, `(left, right)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pad2d {
    /// Rows above and below.
    pub rows: (usize, usize),
    /// Columns left and right.
    pub cols: (usize, usize),
}

impl From<Pad2d> for crate::geometry::Padding {
    /// The same padding as a convolution's explicit padding.
    fn from(p: Pad2d) -> Self {
        crate::geometry::Padding::Explicit {
            top: p.rows.0,
            bottom: p.rows.1,
            left: p.cols.0,
            right: p.cols.1,
        }
    }
}

impl Pad2d {
    /// The padded size of an `h`×`w` image, or `None` if it overflows.
    pub fn output_size(&self, h: usize, w: usize) -> Option<(usize, usize)> {
        let oh = h.checked_add(self.rows.0)?.checked_add(self.rows.1)?;
        let ow = w.checked_add(self.cols.0)?.checked_add(self.cols.1)?;
        Some((oh, ow))
    }
}

fn dims4(x: &Tensor, op: &'static str) -> Result<[usize; 4]> {
    match *x.dims() {
        [n, h, w, c] => Ok([n, h, w, c]),
        _ => Err(shape_err(
            op,
            format!("needs NHWC input, got {}", x.shape()),
        )),
    }
}

/// `x` `[N, H, W, C]` → `[N, H + top + bottom, W + left + right, C]` with zeros around.
pub fn zero_pad2d_forward(x: &Tensor, pad: &Pad2d) -> Result<Tensor> {
    let [n, h, w, c] = dims4(x, "zero_pad2d")?;
    let (oh, ow) = pad
        .output_size(h, w)
        .ok_or_else(|| shape_err("zero_pad2d", "padded size overflows"))?;
    let len = [n, oh, ow, c]
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| shape_err("zero_pad2d", "padded size overflows"))?;
    let mut out = vec![0.0f32; len];
    let row = w * c;
    if row > 0 {
        for (img_in, img_out) in x
            .data()
            .chunks_exact(h * row)
            .zip(out.chunks_exact_mut(oh * ow * c))
        {
            for (r, src) in img_in.chunks_exact(row).enumerate() {
                let at = ((r + pad.rows.0) * ow + pad.cols.0) * c;
                img_out[at..at + row].copy_from_slice(src);
            }
        }
    }
    Ok(Tensor::new([n, oh, ow, c], out)?)
}

/// The gradient of [`zero_pad2d_forward`]: the part of `dy` that lies over the input.
pub fn zero_pad2d_backward(dy: &Tensor, input_dims: &[usize], pad: &Pad2d) -> Result<Tensor> {
    let [n, h, w, c] = match *input_dims {
        [n, h, w, c] => [n, h, w, c],
        _ => return Err(shape_err("zero_pad2d", "needs NHWC input")),
    };
    let (oh, ow) = pad
        .output_size(h, w)
        .ok_or_else(|| shape_err("zero_pad2d", "padded size overflows"))?;
    if dy.dims() != [n, oh, ow, c] {
        return Err(shape_err(
            "zero_pad2d",
            format!("gradient {} does not match the padded input", dy.shape()),
        ));
    }
    let row = w * c;
    let mut dx = Vec::with_capacity(n * h * row);
    if row > 0 && h > 0 {
        for img in dy.data().chunks_exact(oh * ow * c) {
            for r in 0..h {
                let at = ((r + pad.rows.0) * ow + pad.cols.0) * c;
                dx.extend_from_slice(&img[at..at + row]);
            }
        }
    }
    Ok(Tensor::new(input_dims, dx)?)
}
