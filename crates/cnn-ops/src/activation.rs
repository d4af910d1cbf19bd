//! Element-wise activations and the softmax, forward and backward.
//!
//! Backward passes are written in terms of the forward *output* where that is cheaper
//! (sigmoid, tanh, ELU, softmax), so the graph keeps outputs rather than recomputing.

use cnn_tensor::Tensor;
use rayon::prelude::*;

use crate::error::{Result, shape_err};

/// The element-wise activation functions (Keras names).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    /// Identity (`"linear"`).
    Linear,
    /// `max(x, 0)`.
    Relu,
    /// `x` if `x > 0` else `alpha·(eˣ − 1)` (Keras default alpha 1.0).
    Elu(f32),
    /// `x` if `x > 0` else `alpha·x`. The name `leaky_relu` is Keras 3's activation function
    /// (`negative_slope` 0.2); Keras's `LeakyReLU` layer (default 0.3) imports as `ReLU`.
    LeakyRelu(f32),
    /// `1 / (1 + e⁻ˣ)`.
    Sigmoid,
    /// `tanh(x)`.
    Tanh,
    /// `min(max(x, 0), max_value)` (Keras `ReLU(max_value)`; `relu6` is `max_value = 6`).
    ReluMax(f32),
    /// `x · sigmoid(x)` (Keras `swish`, also called `silu`).
    Swish,
    /// `x · Φ(x) = 0.5·x·(1 + erf(x/√2))` (Keras `gelu`, exact form).
    Gelu,
    /// `relu6(x + 3) / 6` (Keras 3 `hard_sigmoid`).
    HardSigmoid,
}

#[inline]
fn sigmoid(x: f32) -> f32 {
    // Stable for large |x|.
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

impl Activation {
    /// The activation with this Keras name and default parameters (`softmax` is not
    /// element-wise; see [`softmax_forward`]).
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "linear" | "None" | "none" => Activation::Linear,
            "relu" => Activation::Relu,
            "elu" => Activation::Elu(1.0),
            "leaky_relu" => Activation::LeakyRelu(0.2),
            "sigmoid" => Activation::Sigmoid,
            "tanh" => Activation::Tanh,
            "relu6" => Activation::ReluMax(6.0),
            "swish" | "silu" => Activation::Swish,
            "gelu" => Activation::Gelu,
            "hard_sigmoid" => Activation::HardSigmoid,
            _ => return None,
        })
    }

    /// The Keras name.
    pub fn name(&self) -> &'static str {
        match self {
            Activation::Linear => "linear",
            Activation::Relu => "relu",
            Activation::Elu(_) => "elu",
            Activation::LeakyRelu(_) => "leaky_relu",
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::ReluMax(_) => "relu6",
            Activation::Swish => "swish",
            Activation::Gelu => "gelu",
            Activation::HardSigmoid => "hard_sigmoid",
        }
    }

    #[inline]
    fn f(self, x: f32) -> f32 {
        match self {
            Activation::Linear => x,
            Activation::Relu => x.max(0.0),
            Activation::Elu(a) => {
                if x > 0.0 {
                    x
                } else {
                    a * x.exp_m1()
                }
            }
            Activation::LeakyRelu(a) => {
                if x > 0.0 {
                    x
                } else {
                    a * x
                }
            }
            Activation::Sigmoid => sigmoid(x),
            Activation::Tanh => crate::tanh::tanh(x),
            Activation::ReluMax(m) => x.max(0.0).min(m),
            Activation::Swish => x * sigmoid(x),
            Activation::Gelu => crate::gelu::gelu(x),
            Activation::HardSigmoid => (x + 3.0).clamp(0.0, 6.0) / 6.0,
        }
    }

    /// Derivative from input `x` and output `y`.
    #[inline]
    fn df(self, x: f32, y: f32) -> f32 {
        match self {
            Activation::Linear => 1.0,
            Activation::Relu => (x > 0.0) as u8 as f32,
            Activation::Elu(a) => {
                if x > 0.0 {
                    1.0
                } else {
                    y + a
                }
            }
            Activation::LeakyRelu(a) => {
                if x > 0.0 {
                    1.0
                } else {
                    a
                }
            }
            Activation::Sigmoid => y * (1.0 - y),
            Activation::Tanh => 1.0 - y * y,
            Activation::ReluMax(m) => (x > 0.0 && x < m) as u8 as f32,
            Activation::Swish => {
                let s = sigmoid(x);
                s + x * s * (1.0 - s)
            }
            Activation::Gelu => crate::gelu::gelu_derivative(x),
            Activation::HardSigmoid => (x > -3.0 && x < 3.0) as u8 as f32 / 6.0,
        }
    }

    /// Applies the activation in place, in parallel pieces.
    pub fn apply_inplace(self, data: &mut [f32]) {
        if self == Activation::Linear {
            return;
        }
        data.par_chunks_mut(CHUNK)
            .for_each(|c| self.apply_serial(c));
    }

    /// Applies the activation in place on this thread (to a piece of a larger tensor while it
    /// is in cache: a convolution's output tile). The same bits as [`Activation::apply_inplace`].
    pub fn apply_serial(self, data: &mut [f32]) {
        fn each(data: &mut [f32], f: impl Fn(f32) -> f32) {
            data.iter_mut().for_each(|v| *v = f(*v));
        }
        // GELU, tanh and the ReLUs get loops of their own, free of the per-element `match`, so they
        // vectorise (the same operations, so the same bits).
        match self {
            Activation::Linear => {}
            Activation::Gelu => gelu_slice(data),
            Activation::Relu => each(data, |v| v.max(0.0)),
            Activation::Tanh => tanh_slice(data),
            Activation::ReluMax(m) => each(data, move |v| v.max(0.0).min(m)),
            other => each(data, |v| other.f(v)),
        }
    }

    /// Forward pass.
    pub fn forward(self, x: &Tensor) -> Tensor {
        // One pass over the input after a parallel zero fill (not a copy followed by a
        // second read-modify-write pass).
        fn map(y: &mut [f32], x: &[f32], f: impl Fn(f32) -> f32 + Sync) {
            y.par_chunks_mut(CHUNK)
                .zip(x.par_chunks(CHUNK))
                .for_each(|(yc, xc)| {
                    for (o, &v) in yc.iter_mut().zip(xc) {
                        *o = f(v);
                    }
                });
        }
        let mut y = cnn_tensor::filled(x.len(), 0.0f32);
        match self {
            Activation::Gelu => {
                y.par_chunks_mut(CHUNK)
                    .zip(x.data().par_chunks(CHUNK))
                    .for_each(|(yc, xc)| gelu_map(yc, xc));
            }
            Activation::Relu => map(&mut y, x.data(), |v| v.max(0.0)),
            Activation::Tanh => {
                y.par_chunks_mut(CHUNK)
                    .zip(x.data().par_chunks(CHUNK))
                    .for_each(|(yc, xc)| tanh_map(yc, xc));
            }
            Activation::ReluMax(m) => map(&mut y, x.data(), move |v| v.max(0.0).min(m)),
            other => map(&mut y, x.data(), |v| other.f(v)),
        }
        Tensor::new(x.shape().clone(), y).expect("same length as x")
    }

    /// Backward pass: `dx = dy · f'(x)`, given the forward input `x` and output `y`.
    pub fn backward(self, x: &Tensor, y: &Tensor, dy: &Tensor) -> Result<Tensor> {
        if x.shape() != dy.shape() || y.shape() != dy.shape() {
            return Err(shape_err(
                self.name(),
                format!("gradient {} does not match {}", dy.shape(), x.shape()),
            ));
        }
        // One pass over the inputs after a parallel zero fill; the ReLU's derivative gets its
        // own loop so the per-element `match` on the activation does not stay inside it.
        let mut dx = cnn_tensor::filled(dy.len(), 0.0f32);
        match self {
            Activation::Relu => scale_by(&mut dx, dy, x, y, |x, _| (x > 0.0) as u8 as f32),
            Activation::ReluMax(m) => scale_by(&mut dx, dy, x, y, move |x, _| {
                (x > 0.0 && x < m) as u8 as f32
            }),
            Activation::Gelu => {
                dx.par_chunks_mut(CHUNK)
                    .zip(dy.data().par_chunks(CHUNK))
                    .zip(x.data().par_chunks(CHUNK))
                    .for_each(|((d, gs), xs)| gelu_grad(d, gs, xs));
            }
            other => scale_by(&mut dx, dy, x, y, |x, y| other.df(x, y)),
        }
        Ok(Tensor::new(dy.shape().clone(), dx)?)
    }
}

// GELU and tanh (with the exponential inside both) compiled for AVX2 as well, chosen at run
// time: 8 lanes instead of baseline x86-64's 4. The same operations in the same order (Rust
// never fuses a multiply and an add on its own), so the same bits on either path.

#[multiversion::multiversion(targets("x86_64+avx2+fma"))]
fn tanh_slice(data: &mut [f32]) {
    data.iter_mut().for_each(|v| *v = crate::tanh::tanh(*v));
}

#[multiversion::multiversion(targets("x86_64+avx2+fma"))]
fn gelu_slice(data: &mut [f32]) {
    data.iter_mut().for_each(|v| *v = crate::gelu::gelu(*v));
}

#[multiversion::multiversion(targets("x86_64+avx2+fma"))]
fn tanh_map(y: &mut [f32], x: &[f32]) {
    y.iter_mut()
        .zip(x)
        .for_each(|(o, &v)| *o = crate::tanh::tanh(v));
}

#[multiversion::multiversion(targets("x86_64+avx2+fma"))]
fn gelu_map(y: &mut [f32], x: &[f32]) {
    y.iter_mut()
        .zip(x)
        .for_each(|(o, &v)| *o = crate::gelu::gelu(v));
}

#[multiversion::multiversion(targets("x86_64+avx2+fma"))]
fn gelu_grad(dx: &mut [f32], dy: &[f32], x: &[f32]) {
    dx.iter_mut()
        .zip(dy)
        .zip(x)
        .for_each(|((d, &g), &v)| *d = g * crate::gelu::gelu_derivative(v));
}

/// `dx = dy · df(x, y)`, element by element, in parallel chunks.
fn scale_by(
    dx: &mut [f32],
    dy: &Tensor,
    x: &Tensor,
    y: &Tensor,
    df: impl Fn(f32, f32) -> f32 + Sync,
) {
    dx.par_chunks_mut(CHUNK)
        .zip(dy.data().par_chunks(CHUNK))
        .zip(x.data().par_chunks(CHUNK).zip(y.data().par_chunks(CHUNK)))
        .for_each(|((d, gs), (xs, ys))| {
            for (((d, &g), &xv), &yv) in d.iter_mut().zip(gs).zip(xs).zip(ys) {
                *d = g * df(xv, yv);
            }
        });
}

/// Elements per parallel chunk for element-wise work.
pub(crate) const CHUNK: usize = 1 << 14;

fn last_axis(op: &'static str, t: &Tensor) -> Result<usize> {
    match t.dims().last() {
        Some(&k) if k > 0 => Ok(k),
        _ => Err(shape_err(
            op,
            format!("needs a non-empty last axis, got {}", t.shape()),
        )),
    }
}

/// Numerically stable softmax over the last axis.
pub fn softmax_forward(x: &Tensor) -> Result<Tensor> {
    let k = last_axis("softmax", x)?;
    let mut y = x.clone();
    y.data_mut().par_chunks_mut(k).for_each(softmax_row);
    Ok(y)
}

pub(crate) fn softmax_row(r: &mut [f32]) {
    let m = r.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut s = 0.0;
    for v in r.iter_mut() {
        *v = (*v - m).exp();
        s += *v;
    }
    let inv = 1.0 / s;
    r.iter_mut().for_each(|v| *v *= inv);
}

/// Softmax backward from the output `y`: `dx = y ⊙ (dy − Σ dy·y)` per row.
pub fn softmax_backward(y: &Tensor, dy: &Tensor) -> Result<Tensor> {
    let k = last_axis("softmax", y)?;
    if y.shape() != dy.shape() {
        return Err(shape_err(
            "softmax",
            format!("gradient {} does not match {}", dy.shape(), y.shape()),
        ));
    }
    let mut dx = dy.clone();
    dx.data_mut()
        .par_chunks_mut(k)
        .zip(y.data().par_chunks(k))
        .for_each(|(d, yr)| {
            let dot: f32 = d.iter().zip(yr).map(|(a, b)| a * b).sum();
            d.iter_mut().zip(yr).for_each(|(g, &p)| *g = p * (*g - dot));
        });
    Ok(dx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keras_activations_have_their_values() {
        let at = |a: Activation, x: f32| a.forward(&Tensor::scalar(x)).data()[0];
        // Keras: relu6, swish (x·sigmoid x), gelu (exact, approximate=False), hard_sigmoid
        // (Keras 3: relu6(x + 3) / 6).
        assert_eq!(at(Activation::from_name("relu6").unwrap(), 7.5), 6.0);
        assert_eq!(at(Activation::ReluMax(6.0), -1.0), 0.0);
        assert!((at(Activation::Swish, 1.0) - 0.731_058_6).abs() < 1e-6);
        assert!((at(Activation::Gelu, 1.0) - 0.841_344_7).abs() < 1e-6);
        assert!((at(Activation::Gelu, -2.0) + 0.045_500_26).abs() < 1e-6);
        assert_eq!(at(Activation::HardSigmoid, 0.0), 0.5);
        assert_eq!(at(Activation::HardSigmoid, 4.0), 1.0);
        assert_eq!(at(Activation::HardSigmoid, -3.5), 0.0);
        assert!((at(Activation::HardSigmoid, 1.5) - 0.75).abs() < 1e-7);
        assert_eq!(Activation::from_name("silu"), Some(Activation::Swish));
    }
}
