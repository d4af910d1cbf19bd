//! A safe row-major wrapper over the `gemm` crate's SGEMM.
//!
//! `gemm` was chosen by measurement: on this project's reference machine it ran 1.6x faster
//! than `matrixmultiply` on the tall-skinny shapes im2col produces (see `docs/cnn-ops.md`).

#![allow(unsafe_code)]

use rayon::prelude::*;

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
    check_lengths((m, n, k), a, b, c);
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
    // SAFETY: the slices hold at least m·k, k·n and m·n elements (checked above) and the
    // strides address exactly those elements; `c` does not alias `a` or `b` (distinct borrows).
    unsafe {
        raw(
            (m, n, k),
            (a.as_ptr(), a_rs, a_cs),
            (b.as_ptr(), b_rs, b_cs),
            c.as_mut_ptr(),
            accumulate,
            threads,
        )
    }
}

/// `c[m×n] (+)= a[m×k] · b[k×n]`, all row-major and as stored, with the reduction split into
/// `parts` contiguous ranges multiplied side by side (one thread each) and added in order.
///
/// For products too small in `m x n` for the GEMM's own threading (which splits the output,
/// and synchronises once per reduction block) but long in `k`, such as a dense layer's
/// forward pass at training batch sizes. The result depends on `parts`, not on the pool.
#[allow(clippy::too_many_arguments)]
pub fn sgemm_split_k(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    accumulate: bool,
    parts: usize,
) {
    check_lengths((m, n, k), a, b, c);
    let parts = parts.clamp(1, k.max(1)).min(1 << 16);
    if parts == 1 || m == 0 || n == 0 {
        return sgemm(m, n, k, a, Trans::No, b, Trans::No, c, accumulate, 1);
    }
    // Part p covers ⌊p·k/parts⌋..⌊(p+1)·k/parts⌋, computed without forming p·k.
    let range = |p: usize| (split_point(k, parts, p), split_point(k, parts, p + 1));
    // Part p: columns k0..k1 of `a` (row stride k) times rows k0..k1 of `b`.
    let part = |p: usize, dst: &mut [f32], acc: bool| {
        let (k0, k1) = range(p);
        // SAFETY: row i of the slice of `a` spans a[i·k + k0 .. i·k + k1], within m·k; rows
        // k0..k1 of `b` are b[k0·n .. k1·n], within k·n; `dst` holds m·n elements and is a
        // distinct buffer from `a` and `b`.
        unsafe {
            raw(
                (m, n, k1 - k0),
                (a.as_ptr().add(k0), k as isize, 1),
                (b.as_ptr().add(k0 * n), n as isize, 1),
                dst.as_mut_ptr(),
                acc,
                1,
            )
        }
    };
    let c = &mut c[..m * n];
    let (_, rest) = rayon::join(
        || part(0, c, accumulate),
        || {
            (1..parts)
                .into_par_iter()
                .map(|p| {
                    let mut t = vec![0.0f32; m * n];
                    part(p, &mut t, false);
                    t
                })
                .collect::<Vec<_>>()
        },
    );
    for t in &rest {
        c.iter_mut().zip(t).for_each(|(c, &t)| *c += t);
    }
}

/// `⌊p·k / parts⌋` without forming `p·k` (which can overflow for huge `k`).
fn split_point(k: usize, parts: usize, p: usize) -> usize {
    let (q, r) = (k / parts, k % parts);
    // p·k/parts = p·q + p·r/parts, with p ≤ parts and r < parts, so p·r < parts².
    p * q + (p * r) / parts
}

/// Panics unless the operands hold an `m×k`, a `k×n` and an `m×n` matrix whose sizes and
/// strides fit in `isize`: the bounds the unsafe calls below rely on (a caller's bug, never
/// data-dependent). The products are checked, so huge dimensions with short slices cannot
/// wrap around to a size that passes.
fn check_lengths((m, n, k): (usize, usize, usize), a: &[f32], b: &[f32], c: &[f32]) {
    let fits = |x: usize| isize::try_from(x).is_ok();
    let size = |p: usize, q: usize| p.checked_mul(q).filter(|&s| fits(s));
    assert!(
        fits(m) && fits(n) && fits(k),
        "sgemm: dimensions {m}x{n}x{k} do not fit in isize"
    );
    let (Some(ak), Some(bk), Some(cn)) = (size(m, k), size(k, n), size(m, n)) else {
        panic!("sgemm: dimensions {m}x{n}x{k} overflow");
    };
    assert!(a.len() >= ak, "sgemm: lhs too short");
    assert!(b.len() >= bk, "sgemm: rhs too short");
    assert!(c.len() >= cn, "sgemm: dst too short");
}

/// The `gemm` crate's SGEMM on row-major `c` (`m x n`, row stride `n`), operands given as
/// (pointer, row stride, column stride).
///
/// # Safety
/// Every element the strides address must lie within its operand's allocation, and `c` must
/// not overlap `a` or `b`.
unsafe fn raw(
    (m, n, k): (usize, usize, usize),
    (a, a_rs, a_cs): (*const f32, isize, isize),
    (b, b_rs, b_cs): (*const f32, isize, isize),
    c: *mut f32,
    accumulate: bool,
    threads: usize,
) {
    let par = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the caller's contract.
    unsafe {
        gemm::gemm(
            m, n, k, c, 1, n as isize, accumulate, a, a_cs, a_rs, b, b_cs, b_rs, 1.0f32, 1.0f32,
            false, false, false, par,
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
    use proptest::prelude::*;

    /// Runs `f`, which must panic (a refused call), without printing its panic.
    fn refuses(f: impl FnOnce() + std::panic::UnwindSafe) -> bool {
        std::panic::catch_unwind(f).is_err()
    }

    proptest! {
        /// Dimensions whose products wrap around (or pass isize) with short or empty slices
        /// are refused before any pointer is formed.
        #[test]
        fn huge_dimensions_are_refused(
            m in prop_oneof![Just(1usize << 62), Just(usize::MAX), Just(1usize << 33), 1usize..8],
            n in prop_oneof![Just(1usize << 62), Just(4usize), Just(1usize << 31)],
            k in prop_oneof![Just(4usize), Just(1usize << 62), Just(usize::MAX / 3)],
            parts in 1usize..5,
        ) {
            prop_assume!(m.checked_mul(k).is_none_or(|s| s > 64)
                || k.checked_mul(n).is_none_or(|s| s > 64)
                || m.checked_mul(n).is_none_or(|s| s > 64));
            let (a, b) = (vec![0.0f32; 64], vec![0.0f32; 64]);
            let mut c = vec![0.0f32; 64];
            let (a2, b2, mut c2) = (a.clone(), b.clone(), c.clone());
            prop_assert!(refuses(move || sgemm(m, n, k, &a, Trans::No, &b, Trans::Yes, &mut c, false, 1)));
            prop_assert!(refuses(move || sgemm_split_k(m, n, k, &a2, &b2, &mut c2, false, parts)));
        }
    }

    #[test]
    fn wrapping_products_no_longer_pass_the_length_check() {
        // 2^63 · 2 wraps to 0 in usize: the old check compared the empty slices against 0
        // (m·k and m·n), and k·n = 4 held, so the GEMM ran on 2^63 rows of nothing.
        let m = 1usize << 63;
        assert!(refuses(|| sgemm(
            m,
            2,
            2,
            &[],
            Trans::No,
            &[0.0; 4],
            Trans::No,
            &mut [],
            false,
            1
        )));
        assert!(refuses(|| sgemm_split_k(
            2,
            1usize << 63,
            2,
            &[0.0; 4],
            &[],
            &mut [],
            false,
            2
        )));
        // The split points are those of p·k/parts, without the product.
        for (k, parts) in [(9216, 2), (7, 3), (1_000_003, 4), (5, 5)] {
            for p in 0..=parts {
                assert_eq!(split_point(k, parts, p), p * k / parts);
            }
        }
    }

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

    #[test]
    fn split_reductions_match_naive_and_keep_the_accumulator() {
        let (m, n, k) = (6, 5, 37);
        let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.91).cos()).collect();
        let want = naive(m, n, k, &a, Trans::No, &b, Trans::No);
        for parts in [1, 2, 3, 7, 100] {
            let mut c = vec![f32::NAN; m * n];
            sgemm_split_k(m, n, k, &a, &b, &mut c, false, parts);
            let mut c2 = vec![1.0; m * n];
            sgemm_split_k(m, n, k, &a, &b, &mut c2, true, parts);
            for ((x, x2), y) in c.iter().zip(&c2).zip(&want) {
                assert!((x - y).abs() < 1e-4, "{parts} parts: {x} vs {y}");
                assert!((x2 - (y + 1.0)).abs() < 1e-4, "{parts} parts, accumulating");
            }
        }
    }

    /// The convolutions and dense layers give a GEMM several threads where the product is large
    /// and rely on the result not depending on how many: the GEMM splits its output, never its
    /// reduction. Checked bit for bit on shapes that span several blocks of every kind.
    #[test]
    fn threaded_products_have_the_single_threaded_bits() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        for (m, n, k) in [
            (49, 256, 2304),
            (1024, 64, 576),
            (300, 130, 1100),
            (7, 1000, 513),
        ] {
            let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.91).cos()).collect();
            let mut one = vec![0.5; m * n];
            sgemm(m, n, k, &a, Trans::No, &b, Trans::No, &mut one, true, 1);
            for threads in [2, 3] {
                let mut many = vec![0.5; m * n];
                pool.install(|| {
                    sgemm(
                        m,
                        n,
                        k,
                        &a,
                        Trans::No,
                        &b,
                        Trans::No,
                        &mut many,
                        true,
                        threads,
                    )
                });
                assert!(
                    one.iter()
                        .zip(&many)
                        .all(|(x, y)| x.to_bits() == y.to_bits()),
                    "{m}x{n}x{k} on {threads} threads"
                );
            }
        }
    }
}
