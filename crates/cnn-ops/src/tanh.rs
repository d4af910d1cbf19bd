//! `tanh` in branch-free arithmetic the compiler vectorises (`f32::tanh` is a libm call, one
//! element at a time, which made it most of a LeNet-5 training step): near 0 the 13/6-degree
//! rational interpolant of TensorFlow's CPU kernels (Eigen's `generic_fast_tanh_float`),
//! elsewhere `(1 − e) / (1 + e)` with `e = e^(−2|x|)` from [`crate::gelu::exp_nonpositive`].
//! Within 2e-7 of `f32::tanh` everywhere, odd, bounded by 1 and monotone (tested).

/// `tanh(x)` (see the module documentation).
#[inline(always)]
pub(crate) fn tanh(x: f32) -> f32 {
    let a = x.abs();
    // Away from 0: (1 − e) / (1 + e) with e = e^(−2|x|), monotone and exactly ±1 where tanh
    // rounds to it (the interpolant alone wiggles in its last bits near ±1).
    let e = crate::gelu::exp_nonpositive(-2.0 * a);
    let far = ((1.0 - e) / (1.0 + e)).copysign(x);
    // Near 0, where 1 − e would cancel: the interpolant.
    let x2 = x * x;
    // Odd numerator p(x)/x and even denominator q(x), in x².
    let mut p = -2.760_768_5e-16_f32;
    p = p * x2 + 2.000_188e-13;
    p = p * x2 - 8.604_672e-11;
    p = p * x2 + 5.122_297e-8;
    p = p * x2 + 1.485_722_4e-5;
    p = p * x2 + 6.372_619_3e-4;
    p = p * x2 + 4.893_524_6e-3;
    let mut q = 1.198_258_4e-6_f32;
    q = q * x2 + 1.185_347_1e-4;
    q = q * x2 + 2.268_434_6e-3;
    q = q * x2 + 4.893_525e-3;
    let near = x * p / q;
    // Tiny arguments: tanh x = x to the last bit, where the quotient's rounding would show.
    if a < 4e-4 {
        x
    } else if a < 0.55 {
        near
    } else {
        far
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn within_2e7_of_libm_and_exact_near_zero() {
        let grid = (-400_000..=400_000).map(|i| i as f32 * 2.5e-5);
        let mut worst = 0.0f32;
        for x in grid.chain([-30.0, -9.5, 9.5, 30.0, f32::MAX, f32::MIN]) {
            let d = (tanh(x) - x.tanh()).abs();
            worst = worst.max(d);
        }
        assert!(worst < 2e-7, "largest difference {worst}");
        for x in [1e-30f32, -1e-20, 1e-6, -3e-4, 0.0] {
            assert_eq!(tanh(x), x.tanh(), "{x}");
        }
        // Odd, bounded by 1 and monotone over a fine grid.
        let mut prev = -1.0f32;
        for i in -20_000..=20_000 {
            let x = i as f32 * 5e-4;
            let y = tanh(x);
            assert_eq!(y, -tanh(-x));
            assert!(y.abs() <= 1.0 && y >= prev, "{x}: {y} after {prev}");
            prev = y;
        }
    }
}
