//! Partial identity ("Dirac") initialisation of a convolution, as airbench does (Jordan 2024,
//! arXiv 2404.00498; PyTorch's `nn.init.dirac_` applied to the first `C_in` filters): filter
//! `i < min(C_in, C_out)` becomes the identity on channel `i` — 1 at the window's centre for
//! that channel, 0 elsewhere — and the other filters keep their random values. A network of
//! such layers starts close to passing its input through, which speeds up the first epochs.

use cnn_tensor::Tensor;

use crate::error::{NnError, Result};

/// Makes the first `min(C_in, C_out)` filters of a Keras `[kh, kw, C_in, C_out]` kernel the
/// identity on their channel (see the module documentation).
///
/// # Errors
/// If `kernel` is not four-dimensional or its window has an even side (no centre).
pub fn dirac_identity(kernel: &mut Tensor) -> Result<()> {
    let &[kh, kw, cin, cout] = kernel.dims() else {
        return Err(NnError::Data(format!(
            "a Dirac initialisation needs a [kh, kw, C_in, C_out] kernel, got {}",
            kernel.shape()
        )));
    };
    if kh % 2 == 0 || kw % 2 == 0 {
        return Err(NnError::Data(format!(
            "a Dirac initialisation needs a window with a centre, got {kh}x{kw}"
        )));
    }
    let centre = (kh / 2) * kw + kw / 2;
    let w = kernel.data_mut();
    for tap in 0..kh * kw {
        for ci in 0..cin {
            for co in 0..cin.min(cout) {
                w[(tap * cin + ci) * cout + co] = if tap == centre && ci == co { 1.0 } else { 0.0 };
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_filters_pass_their_channel_the_rest_stay() {
        let mut k = Tensor::from_fn(vec![3, 3, 2, 3], |i| i as f32 + 100.0).unwrap();
        let before = k.clone();
        dirac_identity(&mut k).unwrap();
        let at = |t: &Tensor, kh: usize, kw: usize, ci: usize, co: usize| {
            t.data()[((kh * 3 + kw) * 2 + ci) * 3 + co]
        };
        for kh in 0..3 {
            for kw in 0..3 {
                for ci in 0..2 {
                    for co in 0..2 {
                        let want = if (kh, kw, ci) == (1, 1, co) { 1.0 } else { 0.0 };
                        assert_eq!(at(&k, kh, kw, ci, co), want);
                    }
                    // The third filter (beyond C_in) is untouched.
                    assert_eq!(at(&k, kh, kw, ci, 2), at(&before, kh, kw, ci, 2));
                }
            }
        }
    }

    #[test]
    fn fewer_filters_than_channels_and_bad_kernels() {
        let mut k = Tensor::full(vec![1, 1, 3, 2], 5.0).unwrap();
        dirac_identity(&mut k).unwrap();
        assert_eq!(k.data(), &[1.0, 0.0, 0.0, 1.0, 0.0, 0.0]);
        assert!(dirac_identity(&mut Tensor::zeros(vec![2, 2, 1, 1]).unwrap()).is_err());
        assert!(dirac_identity(&mut Tensor::zeros(vec![3, 3]).unwrap()).is_err());
    }
}
