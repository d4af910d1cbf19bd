//! A safe row-major wrapper over the `gemm` crate's SGEMM.
//!
//! `gemm` was chosen by measurement: on this project's reference machine it ran 1.6x faster
//! than `matrixmultiply` on the tall-skinny shapes im2col produces (see `docs/cnn-ops.md`).

/// Whether an operand is used as stored or transposed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trans {
    /// Use the matrix as stored (row-major).
    No,
    /// Use its transpose.
    Yes,
}

/// `c[m×n] (+)= op(a)[m×k] · op(b)[k×n]`, all row-major.
///
/// `a` is stored `m×k` (or `k×m` when transposed), `b` `k×n` (or `n×k`). With `accumulate`
/// the product is added to `c`, else it replaces it. `threads > 1` lets the GEMM split the
/// work over the rayon pool (deterministic for a fixed thread count).
#[allow(clippy::too_many_arguments)]
pub fn sgemm(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    ta: Trans,
    b: &[f32],
    tb: Trans,
    c: &mut [f32],
    accumulate: bool,
    threads: usize,
) {
    assert!(a.len() >= m * k, "sgemm: lhs too short");
    assert!(b.len() >= k * n, "sgemm: rhs too short");
    assert!(c.len() >= m * n, "sgemm: dst too short");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            c[..m * n].fill(0.0);
        }
        return;
    }
    let (a_rs, a_cs) = match ta {
        Trans::No => (k as isize, 1),
        Trans::Yes => (1, m as isize),
    };
    let (b_rs, b_cs) = match tb {
        Trans::No => (n as isize, 1),
        Trans::Yes => (1, k as isize),
    };
    let par = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the slices hold at least m·k, k·n and m·n elements (checked above) and the
    // strides address exactly those elements; `c` does not alias `a` or `b` (distinct borrows).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.as_ptr(),
            a_cs,
            a_rs,
            b.as_ptr(),
            b_cs,
            b_rs,
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            par,
        );
    }
}

/// Threads to give a GEMM of this size: the whole pool for big products, one for small ones.
pub fn threads_for(m: usize, n: usize, k: usize) -> usize {
    if (m as u64) * (n as u64) * (k as u64) >= 1 << 21 {
        rayon::current_num_threads()
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(m: usize, n: usize, k: usize, a: &[f32], ta: Trans, b: &[f32], tb: Trans) -> Vec<f32> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut s = 0.0;
                for p in 0..k {
                    let av = if ta == Trans::No {
                        a[i * k + p]
                    } else {
                        a[p * m + i]
                    };
                    let bv = if tb == Trans::No {
                        b[p * n + j]
                    } else {
                        b[j * k + p]
                    };
                    s += av * bv;
                }
                c[i * n + j] = s;
            }
        }
        c
    }

    #[test]
    fn all_transpositions_match_naive() {
        let (m, n, k) = (5, 7, 3);
        let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.91).cos()).collect();
        for ta in [Trans::No, Trans::Yes] {
            for tb in [Trans::No, Trans::Yes] {
                let want = naive(m, n, k, &a, ta, &b, tb);
                let mut c = vec![1.0; m * n];
                sgemm(m, n, k, &a, ta, &b, tb, &mut c, false, 1);
                for (x, y) in c.iter().zip(&want) {
                    assert!((x - y).abs() < 1e-5);
                }
                let mut c2 = vec![1.0; m * n];
                sgemm(m, n, k, &a, ta, &b, tb, &mut c2, true, 2);
                for (x, y) in c2.iter().zip(&want) {
                    assert!((x - (y + 1.0)).abs() < 1e-5);
                }
            }
        }
    }
}
