//! Max and average pooling over NHWC tensors, and global average pooling.
//!
//! Windows use the same [`Window2d`] geometry as convolutions. Padded positions are ignored:
//! for max pooling they act as −∞ (TensorFlow's rule); average pooling with `same` padding
//! divides by the number of real, unpadded pixels in each window (Keras's rule).
//!
//! **Tie rule.** When several elements of a max-pool window hold the maximum, the first one in
//! row-major window order (top row first, then left to right) is the output's source and gets
//! the whole gradient, like PyTorch and TensorFlow.

use cnn_tensor::Tensor;
use rayon::prelude::*;

use crate::error::{Result, option_err, shape_err};
use crate::geometry::{Padding, Window2d};

/// Options of a pooling layer (Keras: `pool_size=(2, 2)`, `strides=None` = pool size,
/// `padding='valid'`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool2dOptions {
    /// `(height, width)` of the window.
    pub pool_size: (usize, usize),
    /// `(vertical, horizontal)` strides; `None` means the pool size.
    pub strides: Option<(usize, usize)>,
    /// Padding rule.
    pub padding: Padding,
}

impl Default for Pool2dOptions {
    fn default() -> Self {
        Pool2dOptions {
            pool_size: (2, 2),
            strides: None,
            padding: Padding::Valid,
        }
    }
}

impl Pool2dOptions {
    /// A square `size × size` pool with stride equal to the size and `valid` padding.
    pub fn square(size: usize) -> Self {
        Pool2dOptions {
            pool_size: (size, size),
            ..Default::default()
        }
    }

    /// Resolves the window over an NHWC input shape; returns `(N, C, window)`.
    pub fn resolve(&self, op: &'static str, x: &[usize]) -> Result<(usize, usize, Window2d)> {
        let [n, h, w, c] = *x else {
            return Err(shape_err(
                op,
                format!("input must be rank 4 NHWC, got {x:?}"),
            ));
        };
        let win = Window2d::new(
            op,
            (h, w),
            self.pool_size,
            self.strides.unwrap_or(self.pool_size),
            (1, 1),
            self.padding,
        )?;
        if !win.windows_touch_input() {
            return Err(option_err(
                op,
                "padding",
                format!("{:?} leaves windows that see only padding", self.padding),
            ));
        }
        Ok((n, c, win))
    }
}

/// Max pooling forward. Returns the output and, for each output element, the flat index
/// within its sample (`(ih·W + iw)·C + c`) of the input element it came from.
pub fn max_pool2d_forward(x: &Tensor, opts: &Pool2dOptions) -> Result<(Tensor, Vec<u32>)> {
    let (n, c, g) = opts.resolve("max_pool2d", x.dims())?;
    let in_len = g.in_h * g.in_w * c;
    if in_len > u32::MAX as usize {
        return Err(shape_err(
            "max_pool2d",
            "sample too large for 32-bit indices",
        ));
    }
    let out_len = g.out_h * g.out_w * c;
    let mut y = Tensor::zeros([n, g.out_h, g.out_w, c])?;
    let mut idx = cnn_tensor::filled(n * out_len, 0u32);
    y.data_mut()
        .par_chunks_mut(out_len.max(1))
        .zip(idx.par_chunks_mut(out_len.max(1)))
        .zip(x.data().par_chunks(in_len.max(1)))
        .for_each(|((yn, idn), xn)| max_pool_sample(xn, yn, idn, &g, c));
    Ok((y, idx))
}

/// One sample's max pooling: `yn` gets each window's maximum and `idn` the flat index of the
/// first element holding it. Compiled for AVX2 as well (chosen at run time): the
/// compare-and-select over channels vectorises there, while baseline x86-64 (SSE2, no blend)
/// turned it into per-lane branches — about 10 ms for a batch of mnist-cnn before.
#[multiversion::multiversion(targets("x86_64+avx2+fma"))]
fn max_pool_sample(xn: &[f32], yn: &mut [f32], idn: &mut [u32], g: &Window2d, c: usize) {
    for oh in 0..g.out_h {
        for ow in 0..g.out_w {
            let o = (oh * g.out_w + ow) * c;
            let (yo, io) = (&mut yn[o..o + c], &mut idn[o..o + c]);
            let mut first = true;
            for kh in 0..g.k_h {
                let Some(ih) = g.in_row(oh, kh) else { continue };
                for kw in 0..g.k_w {
                    let Some(iw) = g.in_col(ow, kw) else { continue };
                    let base = (ih * g.in_w + iw) * c;
                    let src = &xn[base..base + c];
                    if first {
                        yo.copy_from_slice(src);
                        for (ch, i) in io.iter_mut().enumerate() {
                            *i = (base + ch) as u32;
                        }
                        first = false;
                        continue;
                    }
                    // Selects, not branches: which element wins is data-dependent.
                    for (ch, ((m, i), &v)) in yo.iter_mut().zip(io.iter_mut()).zip(src).enumerate()
                    {
                        let gt = v > *m;
                        *m = if gt { v } else { *m };
                        *i = if gt { (base + ch) as u32 } else { *i };
                    }
                }
            }
        }
    }
}

/// Max pooling backward: routes each output gradient to its source element.
pub fn max_pool2d_backward(x_dims: &[usize], indices: &[u32], dy: &Tensor) -> Result<Tensor> {
    let [n, h, w, c] = *x_dims else {
        return Err(shape_err(
            "max_pool2d",
            format!("input must be rank 4, got {x_dims:?}"),
        ));
    };
    if dy.len() != indices.len() || dy.dims().first() != Some(&n) {
        return Err(shape_err(
            "max_pool2d",
            format!("gradient {} does not match the forward pass", dy.shape()),
        ));
    }
    let in_len = h * w * c;
    let out_len = dy.len() / n.max(1);
    // Above `cnn_tensor::PARALLEL_FILL` elements `Tensor::zeros` writes its zeros (in
    // parallel) instead of handing out untouched calloc memory: adding into untouched memory
    // reads first, which maps the kernel's shared zero page and then copies it on the write —
    // a second page fault with a TLB flush on every core (5–8 % of a CIFAR training profile
    // once, before the zeros were written here per sample; now they are not written twice).
    let mut dx = Tensor::zeros(x_dims)?;
    dx.data_mut()
        .par_chunks_mut(in_len.max(1))
        .zip(dy.data().par_chunks(out_len.max(1)))
        .zip(indices.par_chunks(out_len.max(1)))
        .for_each(|((dxn, dyn_), idn)| {
            for (&g, &i) in dyn_.iter().zip(idn) {
                if let Some(d) = dxn.get_mut(i as usize) {
                    *d += g;
                }
            }
        });
    Ok(dx)
}

/// Per output pixel, `1 / (number of real pixels in its window)`.
fn avg_weights(g: &Window2d) -> Vec<f32> {
    let mut wts = Vec::with_capacity(g.out_h * g.out_w);
    for oh in 0..g.out_h {
        let rows = (0..g.k_h).filter(|&kh| g.in_row(oh, kh).is_some()).count();
        for ow in 0..g.out_w {
            let cols = (0..g.k_w).filter(|&kw| g.in_col(ow, kw).is_some()).count();
            wts.push(1.0 / (rows * cols) as f32);
        }
    }
    wts
}

/// Average pooling forward.
pub fn avg_pool2d_forward(x: &Tensor, opts: &Pool2dOptions) -> Result<Tensor> {
    let (n, c, g) = opts.resolve("avg_pool2d", x.dims())?;
    let in_len = g.in_h * g.in_w * c;
    let out_len = g.out_h * g.out_w * c;
    let wts = avg_weights(&g);
    let mut y = Tensor::zeros([n, g.out_h, g.out_w, c])?;
    y.data_mut()
        .par_chunks_mut(out_len.max(1))
        .zip(x.data().par_chunks(in_len.max(1)))
        .for_each(|(yn, xn)| {
            for oh in 0..g.out_h {
                for ow in 0..g.out_w {
                    let o = (oh * g.out_w + ow) * c;
                    let yo = &mut yn[o..o + c];
                    for kh in 0..g.k_h {
                        let Some(ih) = g.in_row(oh, kh) else { continue };
                        for kw in 0..g.k_w {
                            let Some(iw) = g.in_col(ow, kw) else { continue };
                            let base = (ih * g.in_w + iw) * c;
                            yo.iter_mut()
                                .zip(&xn[base..base + c])
                                .for_each(|(a, v)| *a += v);
                        }
                    }
                    let s = wts[oh * g.out_w + ow];
                    yo.iter_mut().for_each(|a| *a *= s);
                }
            }
        });
    Ok(y)
}

/// Average pooling backward.
pub fn avg_pool2d_backward(x_dims: &[usize], dy: &Tensor, opts: &Pool2dOptions) -> Result<Tensor> {
    let (_, c, g) = opts.resolve("avg_pool2d", x_dims)?;
    if dy.dims() != [x_dims[0], g.out_h, g.out_w, c] {
        return Err(shape_err(
            "avg_pool2d",
            format!("gradient {} does not match the forward pass", dy.shape()),
        ));
    }
    let in_len = g.in_h * g.in_w * c;
    let out_len = g.out_h * g.out_w * c;
    let wts = avg_weights(&g);
    let mut dx = Tensor::zeros(x_dims)?;
    dx.data_mut()
        .par_chunks_mut(in_len.max(1))
        .zip(dy.data().par_chunks(out_len.max(1)))
        .for_each(|(dxn, dyn_)| {
            for oh in 0..g.out_h {
                for ow in 0..g.out_w {
                    let o = (oh * g.out_w + ow) * c;
                    let s = wts[oh * g.out_w + ow];
                    let go = &dyn_[o..o + c];
                    for kh in 0..g.k_h {
                        let Some(ih) = g.in_row(oh, kh) else { continue };
                        for kw in 0..g.k_w {
                            let Some(iw) = g.in_col(ow, kw) else { continue };
                            let base = (ih * g.in_w + iw) * c;
                            dxn[base..base + c]
                                .iter_mut()
                                .zip(go)
                                .for_each(|(d, v)| *d += v * s);
                        }
                    }
                }
            }
        });
    Ok(dx)
}

fn nhwc(op: &'static str, x: &[usize]) -> Result<(usize, usize, usize)> {
    match *x {
        [n, h, w, c] if h * w > 0 => Ok((n, h * w, c)),
        _ => Err(shape_err(
            op,
            format!("input must be non-empty rank 4 NHWC, got {x:?}"),
        )),
    }
}

/// Global average pooling: `[N, H, W, C]` → `[N, C]`.
pub fn global_avg_pool2d_forward(x: &Tensor) -> Result<Tensor> {
    let (n, hw, c) = nhwc("global_avg_pool2d", x.dims())?;
    let mut y = Tensor::zeros([n, c])?;
    let s = 1.0 / hw as f32;
    y.data_mut()
        .par_chunks_mut(c.max(1))
        .zip(x.data().par_chunks((hw * c).max(1)))
        .for_each(|(yn, xn)| {
            for px in xn.chunks_exact(c) {
                yn.iter_mut().zip(px).for_each(|(a, v)| *a += v);
            }
            yn.iter_mut().for_each(|a| *a *= s);
        });
    Ok(y)
}

/// Global average pooling backward.
pub fn global_avg_pool2d_backward(x_dims: &[usize], dy: &Tensor) -> Result<Tensor> {
    let (n, hw, c) = nhwc("global_avg_pool2d", x_dims)?;
    if dy.dims() != [n, c] {
        return Err(shape_err(
            "global_avg_pool2d",
            format!("gradient {} does not match [N, C] = [{n}, {c}]", dy.shape()),
        ));
    }
    let s = 1.0 / hw as f32;
    let mut dx = Tensor::zeros(x_dims)?;
    dx.data_mut()
        .par_chunks_mut((hw * c).max(1))
        .zip(dy.data().par_chunks(c.max(1)))
        .for_each(|(dxn, g)| {
            for px in dxn.chunks_exact_mut(c) {
                px.iter_mut().zip(g).for_each(|(d, v)| *d = v * s);
            }
        });
    Ok(dx)
}

/// Global max pooling: `[N, H, W, C]` → `[N, C]`, the largest value of each channel (the
/// first one on ties), with the flat position of each maximum within its sample.
pub fn global_max_pool2d_forward(x: &Tensor) -> Result<(Tensor, Vec<u32>)> {
    let (n, hw, c) = nhwc("global_max_pool2d", x.dims())?;
    if hw == 0 {
        return Err(shape_err("global_max_pool2d", "needs a non-empty image"));
    }
    let mut y = Tensor::zeros([n, c])?;
    let mut at = vec![0u32; n * c];
    y.data_mut()
        .par_chunks_mut(c.max(1))
        .zip(at.par_chunks_mut(c.max(1)))
        .zip(x.data().par_chunks((hw * c).max(1)))
        .for_each(|((yn, an), xn)| {
            yn.copy_from_slice(&xn[..c]);
            an.iter_mut().enumerate().for_each(|(k, a)| *a = k as u32);
            for (p, px) in xn.chunks_exact(c).enumerate().skip(1) {
                for (k, &v) in px.iter().enumerate() {
                    if v > yn[k] {
                        yn[k] = v;
                        an[k] = (p * c + k) as u32;
                    }
                }
            }
        });
    Ok((y, at))
}

/// Global max pooling backward: each channel's gradient goes to its maximum.
pub fn global_max_pool2d_backward(x_dims: &[usize], dy: &Tensor, at: &[u32]) -> Result<Tensor> {
    let (n, hw, c) = nhwc("global_max_pool2d", x_dims)?;
    if dy.dims() != [n, c] || at.len() != n * c {
        return Err(shape_err(
            "global_max_pool2d",
            format!("gradient {} does not match [N, C] = [{n}, {c}]", dy.shape()),
        ));
    }
    let mut dx = Tensor::zeros(x_dims)?;
    dx.data_mut()
        .par_chunks_mut((hw * c).max(1))
        .zip(dy.data().par_chunks(c.max(1)).zip(at.par_chunks(c.max(1))))
        .for_each(|(dxn, (g, an))| {
            for (&v, &a) in g.iter().zip(an) {
                dxn[a as usize] += v;
            }
        });
    Ok(dx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_max_pool_takes_each_channels_first_maximum() {
        // 2x2 image, 2 channels: channel 0 has a tie (first wins), channel 1 a single max.
        let x = Tensor::new([1, 2, 2, 2], vec![5., 1., 2., 7., 5., 3., 0., -1.]).unwrap();
        let (y, at) = global_max_pool2d_forward(&x).unwrap();
        assert_eq!(y.data(), &[5., 7.]);
        assert_eq!(at, [0, 3]);
        let dy = Tensor::new([1, 2], vec![1., 2.]).unwrap();
        let dx = global_max_pool2d_backward(x.dims(), &dy, &at).unwrap();
        assert_eq!(dx.data(), &[1., 0., 0., 2., 0., 0., 0., 0.]);
        assert!(global_max_pool2d_forward(&Tensor::zeros([2, 3]).unwrap()).is_err());
    }

    #[test]
    fn classic_max_pool_example() {
        // 4x4 → 2x2 with 2x2 windows, stride 2.
        let x = Tensor::new(
            [1, 4, 4, 1],
            vec![
                1., 3., 2., 1., 2., 9., 1., 1., 1., 3., 2., 3., 5., 6., 1., 2.,
            ],
        )
        .unwrap();
        let (y, _) = max_pool2d_forward(&x, &Pool2dOptions::square(2)).unwrap();
        assert_eq!(y.data(), &[9., 2., 6., 3.]);
    }

    #[test]
    fn ties_go_to_the_first_maximum() {
        let x = Tensor::new([1, 2, 2, 1], vec![5., 5., 5., 5.]).unwrap();
        let (y, idx) = max_pool2d_forward(&x, &Pool2dOptions::square(2)).unwrap();
        assert_eq!(y.data(), &[5.]);
        assert_eq!(idx, vec![0]);
        let dx = max_pool2d_backward(
            x.dims(),
            &idx,
            &Tensor::new([1, 1, 1, 1], vec![1.]).unwrap(),
        )
        .unwrap();
        assert_eq!(dx.data(), &[1., 0., 0., 0.]);
    }

    #[test]
    fn same_avg_pool_divides_by_real_pixels() {
        // 3x3 input of ones, 2x2 pool stride 2 same → 2x2 output, all ones (not 1/4, 1/2).
        let x = Tensor::full([1, 3, 3, 1], 1.0).unwrap();
        let opts = Pool2dOptions {
            padding: Padding::Same,
            ..Pool2dOptions::square(2)
        };
        let y = avg_pool2d_forward(&x, &opts).unwrap();
        assert_eq!(y.dims(), &[1, 2, 2, 1]);
        assert_eq!(y.data(), &[1., 1., 1., 1.]);
    }
}
