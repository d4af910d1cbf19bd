//! The two Winograd algorithms: F(2x2, 3x3) and F(4x4, 3x3) (Lavin & Gray, 2016), each as
//! its three one-dimensional transforms (`Bᵀ`, `Aᵀ`, `A`) and its kernel matrix `G`.
//!
//! A two-dimensional transform applies the one-dimensional one down the columns of a tile and
//! then along its rows. Every "element" of a tile is a vector along the contiguous channel
//! (or filter) axis, so each transform is a handful of vector additions and scalings that the
//! compiler vectorises.

/// One Winograd algorithm F(m x m, 3x3): an `m x m` block of outputs from an
/// `(m + 2) x (m + 2)` block of inputs as `Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A`.
pub(crate) trait Variant {
    /// Outputs per tile side (`m`).
    const M: usize;
    /// Inputs per tile side (`m + 2`).
    const ALPHA: usize;
    /// `G`, `ALPHA x 3`.
    const G: &'static [[f32; 3]];
    /// `o = Bᵀ d`: `ALPHA` vectors in, `ALPHA` out.
    fn input_1d(d: &[&[f32]], o: &mut [&mut [f32]]);
    /// `o = Aᵀ m`: `ALPHA` vectors in, `M` out.
    fn output_1d(m: &[&[f32]], o: &mut [&mut [f32]]);
    /// `o = A d`: `M` vectors in, `ALPHA` out (the transpose of [`Variant::output_1d`]).
    fn gradient_1d(d: &[&[f32]], o: &mut [&mut [f32]]);
}

/// The largest `ALPHA` of the variants (sizes the stack arrays of slices).
pub(crate) const MAX_ALPHA: usize = 6;

/// F(2x2, 3x3): 16 multiplications per channel pair for 4 outputs (36 directly), exact up to
/// a few ulps.
pub(crate) struct F2;

/// F(4x4, 3x3): 36 multiplications per channel pair for 16 outputs (144 directly). The
/// transforms scale by up to 8 (interpolation points 0, ±1, ±2, ∞), so rounding is a little
/// larger than F(2x2, 3x3)'s, still far below what training notices.
pub(crate) struct F4;

impl Variant for F2 {
    const M: usize = 2;
    const ALPHA: usize = 4;
    const G: &'static [[f32; 3]] = &[
        [1.0, 0.0, 0.0],
        [0.5, 0.5, 0.5],
        [0.5, -0.5, 0.5],
        [0.0, 0.0, 1.0],
    ];

    #[inline(always)]
    fn input_1d(d: &[&[f32]], o: &mut [&mut [f32]]) {
        // Bᵀ = [[1,0,-1,0],[0,1,1,0],[0,-1,1,0],[0,1,0,-1]]
        let [o0, o1, o2, o3] = o else { unreachable!() };
        let n = o0.len();
        let (o0, o1, o2, o3) = (&mut o0[..n], &mut o1[..n], &mut o2[..n], &mut o3[..n]);
        let (d0, d1, d2, d3) = (&d[0][..n], &d[1][..n], &d[2][..n], &d[3][..n]);
        for i in 0..n {
            o0[i] = d0[i] - d2[i];
            o1[i] = d1[i] + d2[i];
            o2[i] = d2[i] - d1[i];
            o3[i] = d1[i] - d3[i];
        }
    }

    #[inline(always)]
    fn output_1d(m: &[&[f32]], o: &mut [&mut [f32]]) {
        // Aᵀ = [[1,1,1,0],[0,1,-1,-1]]
        let [o0, o1] = o else { unreachable!() };
        let n = o0.len();
        let (o0, o1) = (&mut o0[..n], &mut o1[..n]);
        let (m0, m1, m2, m3) = (&m[0][..n], &m[1][..n], &m[2][..n], &m[3][..n]);
        for i in 0..n {
            o0[i] = m0[i] + m1[i] + m2[i];
            o1[i] = m1[i] - m2[i] - m3[i];
        }
    }

    #[inline(always)]
    fn gradient_1d(d: &[&[f32]], o: &mut [&mut [f32]]) {
        // A = [[1,0],[1,1],[1,-1],[0,-1]]
        let [o0, o1, o2, o3] = o else { unreachable!() };
        let n = o0.len();
        let (o0, o1, o2, o3) = (&mut o0[..n], &mut o1[..n], &mut o2[..n], &mut o3[..n]);
        let (d0, d1) = (&d[0][..n], &d[1][..n]);
        for i in 0..n {
            o0[i] = d0[i];
            o1[i] = d0[i] + d1[i];
            o2[i] = d0[i] - d1[i];
            o3[i] = -d1[i];
        }
    }
}

impl Variant for F4 {
    const M: usize = 4;
    const ALPHA: usize = 6;
    const G: &'static [[f32; 3]] = &[
        [1.0 / 4.0, 0.0, 0.0],
        [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
        [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
        [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
        [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
        [0.0, 0.0, 1.0],
    ];

    #[inline(always)]
    fn input_1d(d: &[&[f32]], o: &mut [&mut [f32]]) {
        // Bᵀ = [[4,0,-5,0,1,0],[0,-4,-4,1,1,0],[0,4,-4,-1,1,0],
        //       [0,-2,-1,2,1,0],[0,2,-1,-2,1,0],[0,4,0,-5,0,1]]
        let [o0, o1, o2, o3, o4, o5] = o else {
            unreachable!()
        };
        let n = o0.len();
        let (o0, o1, o2) = (&mut o0[..n], &mut o1[..n], &mut o2[..n]);
        let (o3, o4, o5) = (&mut o3[..n], &mut o4[..n], &mut o5[..n]);
        let (d0, d1, d2) = (&d[0][..n], &d[1][..n], &d[2][..n]);
        let (d3, d4, d5) = (&d[3][..n], &d[4][..n], &d[5][..n]);
        for i in 0..n {
            let (a1, a2, a3, a4) = (d1[i], d2[i], d3[i], d4[i]);
            let s12 = a1 + a2;
            let d12 = a1 - a2;
            let s34 = a3 + a4;
            let e43 = a4 - a3;
            let e42 = a4 - a2;
            let e31 = a3 - a1;
            o0[i] = 4.0 * d0[i] - 5.0 * a2 + a4;
            o1[i] = s34 - 4.0 * s12;
            o2[i] = e43 + 4.0 * d12;
            o3[i] = e42 + 2.0 * e31;
            o4[i] = e42 - 2.0 * e31;
            o5[i] = 4.0 * a1 - 5.0 * a3 + d5[i];
        }
    }

    #[inline(always)]
    fn output_1d(m: &[&[f32]], o: &mut [&mut [f32]]) {
        // Aᵀ = [[1,1,1,1,1,0],[0,1,-1,2,-2,0],[0,1,1,4,4,0],[0,1,-1,8,-8,1]]
        let [o0, o1, o2, o3] = o else { unreachable!() };
        let n = o0.len();
        let (o0, o1, o2, o3) = (&mut o0[..n], &mut o1[..n], &mut o2[..n], &mut o3[..n]);
        let (m0, m1, m2) = (&m[0][..n], &m[1][..n], &m[2][..n]);
        let (m3, m4, m5) = (&m[3][..n], &m[4][..n], &m[5][..n]);
        for i in 0..n {
            let s12 = m1[i] + m2[i];
            let d12 = m1[i] - m2[i];
            let s34 = m3[i] + m4[i];
            let d34 = m3[i] - m4[i];
            o0[i] = m0[i] + s12 + s34;
            o1[i] = d12 + 2.0 * d34;
            o2[i] = s12 + 4.0 * s34;
            o3[i] = d12 + 8.0 * d34 + m5[i];
        }
    }

    #[inline(always)]
    fn gradient_1d(d: &[&[f32]], o: &mut [&mut [f32]]) {
        // A = Aᵀ transposed: rows [1,0,0,0],[1,1,1,1],[1,-1,1,-1],[1,2,4,8],[1,-2,4,-8],[0,0,0,1]
        let [o0, o1, o2, o3, o4, o5] = o else {
            unreachable!()
        };
        let n = o0.len();
        let (o0, o1, o2) = (&mut o0[..n], &mut o1[..n], &mut o2[..n]);
        let (o3, o4, o5) = (&mut o3[..n], &mut o4[..n], &mut o5[..n]);
        let (d0, d1, d2, d3) = (&d[0][..n], &d[1][..n], &d[2][..n], &d[3][..n]);
        for i in 0..n {
            let s02 = d0[i] + d2[i];
            let s13 = d1[i] + d3[i];
            let e02 = d0[i] + 4.0 * d2[i];
            let e13 = 2.0 * d1[i] + 8.0 * d3[i];
            o0[i] = d0[i];
            o1[i] = s02 + s13;
            o2[i] = s02 - s13;
            o3[i] = e02 + e13;
            o4[i] = e02 - e13;
            o5[i] = d3[i];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The matrix of a one-dimensional transform, read off by applying it to unit vectors.
    fn matrix(rows: usize, cols: usize, f: impl Fn(&[&[f32]], &mut [&mut [f32]])) -> Vec<Vec<f32>> {
        // One column per unit vector, then transposed.
        let columns: Vec<Vec<f32>> = (0..cols)
            .map(|j| {
                let unit: Vec<[f32; 1]> = (0..cols).map(|i| [(i == j) as u8 as f32]).collect();
                let ins: Vec<&[f32]> = unit.iter().map(|v| &v[..]).collect();
                let mut res = vec![[0.0f32; 1]; rows];
                let mut outs: Vec<&mut [f32]> = res.iter_mut().map(|v| &mut v[..]).collect();
                f(&ins, &mut outs);
                res.iter().map(|v| v[0]).collect()
            })
            .collect();
        (0..rows)
            .map(|i| columns.iter().map(|c| c[i]).collect())
            .collect()
    }

    /// `Aᵀ [(G g) ⊙ (Bᵀ d)]` must be the 1-D valid correlation of `d` with `g` (F(m, 3)),
    /// and `A` the transpose of `Aᵀ`.
    fn check<V: Variant>() {
        let (m, a) = (V::M, V::ALPHA);
        let bt = matrix(a, a, V::input_1d);
        let at = matrix(m, a, V::output_1d);
        let am = matrix(a, m, V::gradient_1d);
        for i in 0..a {
            for j in 0..m {
                assert_eq!(
                    am[i][j], at[j][i],
                    "A is not the transpose of Aᵀ at {i},{j}"
                );
            }
        }
        let d: Vec<f32> = (0..a).map(|i| (i as f32 * 0.7 - 1.1).sin()).collect();
        let g = [0.3f32, -1.2, 0.8];
        let bd: Vec<f32> = (0..a)
            .map(|i| (0..a).map(|j| bt[i][j] * d[j]).sum())
            .collect();
        let gg: Vec<f32> = (0..a)
            .map(|i| (0..3).map(|j| V::G[i][j] * g[j]).sum())
            .collect();
        for o in 0..m {
            let got: f32 = (0..a).map(|i| at[o][i] * gg[i] * bd[i]).sum();
            let want: f32 = (0..3).map(|j| d[o + j] * g[j]).sum();
            assert!((got - want).abs() < 1e-5, "output {o}: {got} vs {want}");
        }
    }

    #[test]
    fn f2_computes_a_one_dimensional_correlation() {
        check::<F2>();
    }

    #[test]
    fn f4_computes_a_one_dimensional_correlation() {
        check::<F4>();
    }
}
