//! Padding rules and the resolved geometry of a 2-D sliding window (convolution or pooling).

use crate::error::{Result, option_err, shape_err};

/// How the input is padded before a window slides over it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Padding {
    /// No padding; windows must fit entirely (`out = floor((in - k) / s) + 1`).
    #[default]
    Valid,
    /// TensorFlow's `SAME`: `out = ceil(in / s)`, total padding
    /// `max((out - 1)·s + k - in, 0)`, the odd pixel on the bottom/right.
    Same,
    /// Explicit padding `(top, bottom, left, right)` in pixels.
    Explicit {
        /// Rows added above.
        top: usize,
        /// Rows added below.
        bottom: usize,
        /// Columns added on the left.
        left: usize,
        /// Columns added on the right.
        right: usize,
    },
}

impl Padding {
    /// The same padding on all four sides.
    pub fn uniform(p: usize) -> Self {
        Padding::Explicit {
            top: p,
            bottom: p,
            left: p,
            right: p,
        }
    }
}

/// The fully resolved geometry of a 2-D window over an `in_h × in_w` input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window2d {
    /// Input height.
    pub in_h: usize,
    /// Input width.
    pub in_w: usize,
    /// Window (kernel) height.
    pub k_h: usize,
    /// Window (kernel) width.
    pub k_w: usize,
    /// Vertical stride.
    pub stride_h: usize,
    /// Horizontal stride.
    pub stride_w: usize,
    /// Vertical dilation.
    pub dil_h: usize,
    /// Horizontal dilation.
    pub dil_w: usize,
    /// Padding rows above.
    pub pad_top: usize,
    /// Padding rows below.
    pub pad_bottom: usize,
    /// Padding columns on the left.
    pub pad_left: usize,
    /// Padding columns on the right.
    pub pad_right: usize,
    /// Output height.
    pub out_h: usize,
    /// Output width.
    pub out_w: usize,
}

/// Largest input side, kernel side, stride, dilation or padding a window accepts (2^20): sizes
/// from files and flags beyond it are refused before any arithmetic can overflow.
pub const MAX_WINDOW_DIM: usize = 1 << 20;

#[allow(clippy::too_many_arguments)]
fn resolve_axis(
    op: &'static str,
    axis: &str,
    input: usize,
    k: usize,
    stride: usize,
    dil: usize,
    padding: Padding,
    explicit: (usize, usize),
) -> Result<(usize, usize, usize)> {
    let overflow = || shape_err(op, format!("window {axis} sizes overflow"));
    let k_eff = (k - 1)
        .checked_mul(dil)
        .and_then(|v| v.checked_add(1))
        .ok_or_else(overflow)?;
    match padding {
        Padding::Same => {
            let out = input.div_ceil(stride);
            let total = (out.max(1) - 1)
                .checked_mul(stride)
                .and_then(|v| v.checked_add(k_eff))
                .ok_or_else(overflow)?
                .saturating_sub(input);
            Ok((total / 2, total - total / 2, out))
        }
        Padding::Valid | Padding::Explicit { .. } => {
            let (before, after) = explicit;
            let padded = input
                .checked_add(before)
                .and_then(|v| v.checked_add(after))
                .ok_or_else(overflow)?;
            if padded < k_eff {
                return Err(shape_err(
                    op,
                    format!(
                        "window {axis} {k_eff} is larger than the padded input {axis} {padded} \
                         (input {input}, padding {before}+{after})"
                    ),
                ));
            }
            Ok((before, after, (padded - k_eff) / stride + 1))
        }
    }
}

impl Window2d {
    /// Resolves the geometry of a `k_h × k_w` window with the given strides, dilations and
    /// padding over an `in_h × in_w` input. `op` names the caller in errors.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        op: &'static str,
        (in_h, in_w): (usize, usize),
        (k_h, k_w): (usize, usize),
        (stride_h, stride_w): (usize, usize),
        (dil_h, dil_w): (usize, usize),
        padding: Padding,
    ) -> Result<Self> {
        if k_h == 0 || k_w == 0 {
            return Err(option_err(
                op,
                "kernel size",
                format!("{k_h}x{k_w} has a zero side"),
            ));
        }
        if stride_h == 0 || stride_w == 0 {
            return Err(option_err(
                op,
                "strides",
                format!("({stride_h}, {stride_w}) must be ≥ 1"),
            ));
        }
        if dil_h == 0 || dil_w == 0 {
            return Err(option_err(
                op,
                "dilation",
                format!("({dil_h}, {dil_w}) must be ≥ 1"),
            ));
        }
        if in_h == 0 || in_w == 0 {
            return Err(shape_err(op, format!("input is empty ({in_h}x{in_w})")));
        }
        let explicit = match padding {
            Padding::Explicit {
                top,
                bottom,
                left,
                right,
            } => [top, bottom, left, right],
            _ => [0; 4],
        };
        for (what, v) in [
            ("input height", in_h),
            ("input width", in_w),
            ("kernel height", k_h),
            ("kernel width", k_w),
            ("vertical stride", stride_h),
            ("horizontal stride", stride_w),
            ("vertical dilation", dil_h),
            ("horizontal dilation", dil_w),
            ("padding", explicit.into_iter().max().unwrap_or(0)),
        ] {
            if v > MAX_WINDOW_DIM {
                return Err(option_err(
                    op,
                    "size",
                    format!("{what} {v} is over the limit of {MAX_WINDOW_DIM}"),
                ));
            }
        }
        let (ev, eh) = match padding {
            Padding::Explicit {
                top,
                bottom,
                left,
                right,
            } => ((top, bottom), (left, right)),
            _ => ((0, 0), (0, 0)),
        };
        let (pad_top, pad_bottom, out_h) =
            resolve_axis(op, "height", in_h, k_h, stride_h, dil_h, padding, ev)?;
        let (pad_left, pad_right, out_w) =
            resolve_axis(op, "width", in_w, k_w, stride_w, dil_w, padding, eh)?;
        Ok(Window2d {
            in_h,
            in_w,
            k_h,
            k_w,
            stride_h,
            stride_w,
            dil_h,
            dil_w,
            pad_top,
            pad_bottom,
            pad_left,
            pad_right,
            out_h,
            out_w,
        })
    }

    /// Whether every window position overlaps at least one real (unpadded) pixel, which pooling
    /// needs. `Valid` and `Same` always satisfy it.
    pub fn windows_touch_input(&self) -> bool {
        let eff_h = (self.k_h - 1) * self.dil_h + 1;
        let eff_w = (self.k_w - 1) * self.dil_w + 1;
        self.pad_top < eff_h
            && self.pad_left < eff_w
            && (self.out_h - 1) * self.stride_h < self.in_h + self.pad_top
            && (self.out_w - 1) * self.stride_w < self.in_w + self.pad_left
    }

    /// The input row of output row `oh` and window row `kh`, or `None` if it falls in padding.
    #[inline]
    pub fn in_row(&self, oh: usize, kh: usize) -> Option<usize> {
        (oh * self.stride_h + kh * self.dil_h)
            .checked_sub(self.pad_top)
            .filter(|&r| r < self.in_h)
    }

    /// The input column of output column `ow` and window column `kw`, or `None` if padding.
    #[inline]
    pub fn in_col(&self, ow: usize, kw: usize) -> Option<usize> {
        (ow * self.stride_w + kw * self.dil_w)
            .checked_sub(self.pad_left)
            .filter(|&c| c < self.in_w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(inp: usize, k: usize, s: usize, p: Padding) -> Window2d {
        Window2d::new("test", (inp, inp), (k, k), (s, s), (1, 1), p).unwrap()
    }

    #[test]
    fn same_padding_follows_tensorflow() {
        // in=28, k=3, s=2 → out 14, pad 0 top / 1 bottom.
        let g = w(28, 3, 2, Padding::Same);
        assert_eq!((g.out_h, g.pad_top, g.pad_bottom), (14, 0, 1));
        // in=13, k=6, s=5 → out 3, pad 1 / 2.
        let g = w(13, 6, 5, Padding::Same);
        assert_eq!((g.out_h, g.pad_top, g.pad_bottom), (3, 1, 2));
        // stride 1, odd k: symmetric.
        let g = w(7, 5, 1, Padding::Same);
        assert_eq!((g.out_h, g.pad_top, g.pad_bottom), (7, 2, 2));
        // Kernel larger than input is fine with SAME.
        let g = w(2, 5, 1, Padding::Same);
        assert_eq!((g.out_h, g.pad_top, g.pad_bottom), (2, 2, 2));
    }

    #[test]
    fn valid_floors_and_rejects_large_kernels() {
        assert_eq!(w(28, 3, 1, Padding::Valid).out_h, 26);
        assert_eq!(w(15, 2, 2, Padding::Valid).out_h, 7);
        assert_eq!(w(227, 11, 4, Padding::Valid).out_h, 55);
        let e =
            Window2d::new("conv2d", (2, 2), (3, 3), (1, 1), (1, 1), Padding::Valid).unwrap_err();
        assert!(
            e.to_string().contains("larger than the padded input"),
            "{e}"
        );
        assert_eq!(w(2, 3, 1, Padding::uniform(1)).out_h, 2);
    }

    #[test]
    fn dilation_widens_the_window() {
        let g = Window2d::new("t", (10, 10), (3, 3), (1, 1), (2, 2), Padding::Valid).unwrap();
        assert_eq!(g.out_h, 6);
        assert!(Window2d::new("t", (4, 4), (3, 3), (1, 1), (2, 2), Padding::Valid).is_err());
    }

    #[test]
    fn zero_strides_and_kernels_are_errors() {
        assert!(Window2d::new("t", (4, 4), (0, 3), (1, 1), (1, 1), Padding::Valid).is_err());
        assert!(Window2d::new("t", (4, 4), (3, 3), (0, 1), (1, 1), Padding::Valid).is_err());
        assert!(Window2d::new("t", (0, 4), (3, 3), (1, 1), (1, 1), Padding::Same).is_err());
    }
}
