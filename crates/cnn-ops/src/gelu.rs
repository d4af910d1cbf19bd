//! GELU's error function and normal density in branch-free arithmetic the compiler
//! vectorises: `libm::erff` and `f32::exp` are calls with branches, one element at a time,
//! which made GELU a fifth of a training step of the airbench CIFAR-10 network.
//!
//! - `erf`: the rational approximation XLA and Eigen use for single precision (odd degree-13
//!   numerator over an even degree-8 denominator in `x`, on `x` clamped to `[-4, 4]` where
//!   `erf` is ±1 in f32 beyond; TensorFlow's CPU `erf`); within 5e-7 of `libm::erff`
//!   everywhere (tested), so GELU is within 1.5e-6 of the exact form.
//! - `exp` of a non-positive argument: `2ⁿ · p(r)` with `n` the nearest integer to `a·log₂e`
//!   (rounded by the 1.5·2²³ trick), `r = a − n·ln 2` in two parts (Cody–Waite) and `p` the
//!   degree-6 Taylor polynomial on `|r| ≤ ln 2 / 2`; within 4 ulp of `f32::exp` (tested).

/// `erf(x)` (see the module documentation).
#[inline(always)]
pub(crate) fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = -2.726_142_3e-10_f32;
    p = p * x2 + 2.770_681_4e-8;
    p = p * x2 - 2.101_024e-6;
    p = p * x2 - 5.692_506_4e-5;
    p = p * x2 - 7.349_906_3e-4;
    p = p * x2 - 2.954_600_1e-3;
    p = p * x2 - 1.609_603_3e-2;
    let mut q = -1.456_607_2e-5_f32;
    q = q * x2 - 2.133_740_6e-4;
    q = q * x2 - 1.682_827e-3;
    q = q * x2 - 7.373_329e-3;
    q = q * x2 - 1.426_473_9e-2;
    x * p / q
}

/// `eᵃ` for `a ≤ 0` (arguments below −87 give `e⁻⁸⁷`, about 1.6e-38: the densities this
/// serves are then negligible).
#[inline(always)]
pub(crate) fn exp_nonpositive(a: f32) -> f32 {
    const ROUND: f32 = 12_582_912.0; // 1.5 · 2²³
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let a = a.clamp(-87.0, 0.0);
    // Adding 1.5 · 2²³ rounds to a whole number, which then sits in the low mantissa bits.
    let t = a * std::f32::consts::LOG2_E + ROUND;
    let n = t - ROUND;
    let r = (a - n * LN2_HI) - n * LN2_LO;
    let mut p = 1.0 / 720.0_f32;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    // n is a whole number in [-126, 0]: 2ⁿ built from its exponent bits. n is read from t's
    // mantissa in integer arithmetic (t − 1.5 · 2²³ stays in t's binade): `n as i32`, a
    // saturating conversion, compiled to one scalar instruction per element and kept the
    // loops that call this from vectorising.
    let n_int = t.to_bits().wrapping_sub(ROUND.to_bits());
    let scale = f32::from_bits(n_int.wrapping_add(127) << 23);
    p * scale
}

/// `x · Φ(x)`.
#[inline(always)]
pub(crate) fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// `d/dx x · Φ(x) = Φ(x) + x · φ(x)`.
#[inline(always)]
pub(crate) fn gelu_derivative(x: f32) -> f32 {
    const INV_SQRT_2PI: f32 = 0.398_942_3;
    0.5 * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
        + x * INV_SQRT_2PI * exp_nonpositive(-0.5 * x * x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid() -> impl Iterator<Item = f32> {
        (-200_000..=200_000).map(|i| i as f32 * 5e-5)
    }

    #[test]
    fn erf_within_5e7_of_libm() {
        let worst = grid()
            .chain([-30.0, -5.0, 5.0, 30.0, 1e-30, -1e-30, 0.0])
            .map(|x| (erf(x) - libm::erff(x)).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 5e-7, "worst {worst}");
        assert_eq!(erf(0.0), 0.0);
        assert!((erf(10.0) - 1.0).abs() < 2e-7 && (erf(-10.0) + 1.0).abs() < 2e-7);
    }

    #[test]
    fn exp_within_4_ulp_of_std() {
        for i in 0..=870_000 {
            let a = -(i as f32) * 1e-4;
            let (got, want) = (exp_nonpositive(a), a.exp());
            let ulp = (want.to_bits() as i64 - got.to_bits() as i64).abs();
            assert!(ulp <= 4, "exp({a}) = {got}, want {want} ({ulp} ulp)");
        }
        assert!(exp_nonpositive(-1000.0) < 2e-38);
    }

    #[test]
    fn exp_scale_from_mantissa_bits_equals_the_float_to_int_conversion() {
        // 2ⁿ read from t's mantissa must be the 2ⁿ of `n as i32`, for every n the clamp allows.
        const ROUND: f32 = 12_582_912.0;
        for i in 0..=1_000_000 {
            let a = (-(i as f32) * 9e-5).clamp(-87.0, 0.0);
            let t = a * std::f32::consts::LOG2_E + ROUND;
            let n = t - ROUND;
            let want = f32::from_bits(((n as i32 + 127) as u32) << 23);
            let got =
                f32::from_bits(t.to_bits().wrapping_sub(ROUND.to_bits()).wrapping_add(127) << 23);
            assert_eq!(got.to_bits(), want.to_bits(), "a = {a}, n = {n}");
        }
        assert!(exp_nonpositive(f32::NAN).is_nan());
    }

    #[test]
    fn gelu_and_derivative_match_the_exact_forms() {
        for x in grid() {
            let exact = 0.5 * x * (1.0 + libm::erff(x * std::f32::consts::FRAC_1_SQRT_2));
            assert!((gelu(x) - exact).abs() <= 1.5e-6, "{x}");
            let pdf = 0.398_942_3 * (-0.5 * x * x).exp();
            let d = 0.5 * (1.0 + libm::erff(x * std::f32::consts::FRAC_1_SQRT_2)) + x * pdf;
            assert!((gelu_derivative(x) - d).abs() < 1e-6, "{x}");
        }
    }
}
