//! Patch-whitening initialisation of a first convolution (airbench, Jordan 2024, arXiv
//! 2404.00498, §3.2; after Coates & Ng 2011's ZCA on patches).
//!
//! The `k×k×c` patches of a sample of training images have a mean `μ` and a covariance `Σ`.
//! With its eigenvectors `v_i` and eigenvalues `λ_i`, the filters `v_i / √(λ_i + ε)` and their
//! negations, with biases `−filter·μ`, make a convolution with `2·k²·c` outputs whose responses
//! are centred, decorrelated and of unit variance on the sample: the network starts from
//! whitened inputs whatever the pixel scale, and the layer is usually frozen. (airbench
//! normalises the images per channel first and takes no mean out; the bias does that here, so
//! the layer reads pixels as they come.) The eigen-decomposition is `nalgebra`'s symmetric one.

use cnn_tensor::Tensor;
use nalgebra::DMatrix;

use crate::error::{NnError, Result};

/// Kernel and bias of a `k×k` `valid` patch-whitening convolution for NHWC `images`, as a
/// Keras Conv2D's `[k, k, c, 2·k²·c]` and `[2·k²·c]`: the eigenvectors of the patch covariance
/// scaled by `1/√(λ + ε)`, largest eigenvalue first, then the same filters negated; each bias
/// is minus its filter's response to the mean patch.
///
/// # Errors
/// If `images` is not a non-empty NHWC batch at least `k` high and wide, `k` is 0, or
/// `epsilon` is not positive.
pub fn patch_whitening(images: &Tensor, k: usize, epsilon: f32) -> Result<(Tensor, Tensor)> {
    let &[n, h, w, c] = images.dims() else {
        return Err(NnError::Data(format!(
            "patch whitening needs an NHWC batch of images, got shape {}",
            images.shape()
        )));
    };
    if k == 0 || n == 0 || c == 0 || h < k || w < k {
        return Err(NnError::Data(format!(
            "patch whitening of {k}x{k} patches needs images at least that large, got {}",
            images.shape()
        )));
    }
    if !(epsilon.is_finite() && epsilon > 0.0) {
        return Err(NnError::Data(format!(
            "patch whitening epsilon {epsilon} must be positive"
        )));
    }
    let d = k * k * c;
    let x = images.data();
    // Σ accumulated in f64 over every patch, entries in (row, column, channel) order.
    let mut cov = vec![0.0f64; d * d];
    let mut sum = vec![0.0f64; d];
    let mut patch = vec![0.0f64; d];
    let mut count = 0u64;
    for img in x.chunks_exact(h * w * c) {
        for y0 in 0..=h - k {
            for x0 in 0..=w - k {
                for dy in 0..k {
                    let row = ((y0 + dy) * w + x0) * c;
                    for (j, v) in img[row..row + k * c].iter().enumerate() {
                        patch[dy * k * c + j] = *v as f64;
                    }
                }
                sum.iter_mut().zip(&patch).for_each(|(s, p)| *s += p);
                for (i, &a) in patch.iter().enumerate() {
                    for (cv, &b) in cov[i * d..(i + 1) * d].iter_mut().zip(&patch) {
                        *cv += a * b;
                    }
                }
                count += 1;
            }
        }
    }
    if cov.iter().any(|v| !v.is_finite()) {
        return Err(NnError::Data(
            "patch whitening: the images hold a NaN or an infinity".into(),
        ));
    }
    let mean: Vec<f64> = sum.iter().map(|s| s / count as f64).collect();
    let mut sigma = DMatrix::from_row_slice(d, d, &cov) / count as f64;
    for i in 0..d {
        for j in 0..d {
            sigma[(i, j)] -= mean[i] * mean[j];
        }
    }
    let eig = sigma.symmetric_eigen();
    let mut order: Vec<usize> = (0..d).collect();
    order.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
    // Keras layout [k, k, c, out]: the patch index (dy, dx, ch) is the first three axes.
    let out = 2 * d;
    let mut kernel = vec![0.0f32; d * out];
    let mut bias = vec![0.0f32; out];
    for (f, &e) in order.iter().enumerate() {
        let scale = 1.0 / (eig.eigenvalues[e].max(0.0) + epsilon as f64).sqrt();
        let mut response = 0.0f64;
        for p in 0..d {
            let v = eig.eigenvectors[(p, e)] * scale;
            response += v * mean[p];
            kernel[p * out + f] = v as f32;
            kernel[p * out + d + f] = -v as f32;
        }
        bias[f] = -response as f32;
        bias[d + f] = response as f32;
    }
    Ok((
        Tensor::new(vec![k, k, c, out], kernel)?,
        Tensor::new(vec![out], bias)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Correlated images: each pixel mixes a shared value with its neighbour's noise.
    fn images(n: usize) -> Tensor {
        let mut state = 12345u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        };
        let (h, w, c) = (6, 6, 2);
        let mut x = Vec::with_capacity(n * h * w * c);
        for _ in 0..n {
            let base = next();
            for _ in 0..h * w {
                let a = next();
                x.extend([base + a, 0.5 * base - a + 0.3 * next()]);
            }
        }
        Tensor::new(vec![n, h, w, c], x).unwrap()
    }

    /// The first `d` filters' responses on every patch: their means and second moments.
    fn response_moments(
        x: &Tensor,
        kernel: &Tensor,
        bias: &Tensor,
        k: usize,
    ) -> (Vec<f64>, Vec<f64>) {
        let &[_, h, w, c] = x.dims() else { panic!() };
        let d = k * k * c;
        let out = 2 * d;
        let mut cov = vec![0.0f64; d * d];
        let mut mean = vec![0.0f64; d];
        let mut count = 0.0;
        for img in x.data().chunks(h * w * c) {
            for y0 in 0..=h - k {
                for x0 in 0..=w - k {
                    let r: Vec<f64> = (0..d)
                        .map(|f| {
                            let mut s = bias.data()[f] as f64;
                            for dy in 0..k {
                                for dx in 0..k {
                                    for ch in 0..c {
                                        let p = (dy * k + dx) * c + ch;
                                        let v = img[((y0 + dy) * w + x0 + dx) * c + ch];
                                        s += v as f64 * kernel.data()[p * out + f] as f64;
                                    }
                                }
                            }
                            s
                        })
                        .collect();
                    for i in 0..d {
                        mean[i] += r[i];
                        for j in 0..d {
                            cov[i * d + j] += r[i] * r[j];
                        }
                    }
                    count += 1.0;
                }
            }
        }
        (
            mean.iter().map(|v| v / count).collect(),
            cov.iter().map(|v| v / count).collect(),
        )
    }

    #[test]
    fn responses_are_decorrelated_with_unit_variance() {
        let x = images(40);
        let (kernel, bias) = patch_whitening(&x, 2, 1e-6).unwrap();
        assert_eq!(kernel.dims(), [2, 2, 2, 16]);
        assert_eq!(bias.dims(), [16]);
        let (mean, cov) = response_moments(&x, &kernel, &bias, 2);
        assert!(mean.iter().all(|m| m.abs() < 1e-4), "{mean:?}");
        for i in 0..8 {
            for j in 0..8 {
                let want = if i == j { 1.0 } else { 0.0 };
                assert!(
                    (cov[i * 8 + j] - want).abs() < 1e-3,
                    "cov[{i}][{j}] = {}",
                    cov[i * 8 + j]
                );
            }
        }
        // The second half is the first negated.
        for f in 0..8 {
            assert_eq!(bias.data()[f], -bias.data()[8 + f]);
        }
        for p in 0..8 {
            for f in 0..8 {
                let row = &kernel.data()[p * 16..(p + 1) * 16];
                assert_eq!(row[f], -row[8 + f]);
            }
        }
    }

    #[test]
    fn epsilon_bounds_the_gain_and_bad_input_is_refused() {
        // Constant images have no variance: every direction gets 1/√ε.
        let x = Tensor::full(vec![3, 4, 4, 1], 0.5).unwrap();
        let (kernel, _) = patch_whitening(&x, 2, 1e-2).unwrap();
        let largest = kernel.data().iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(largest <= 10.0 + 1e-3, "{largest}");
        assert!(patch_whitening(&x, 5, 1e-3).is_err());
        assert!(patch_whitening(&x, 0, 1e-3).is_err());
        assert!(patch_whitening(&x, 2, 0.0).is_err());
        let flat = Tensor::zeros(vec![3, 16]).unwrap();
        assert!(patch_whitening(&flat, 2, 1e-3).is_err());
        let mut nan = images(2);
        nan.data_mut()[3] = f32::NAN;
        assert!(patch_whitening(&nan, 2, 1e-3).is_err());
    }
}
