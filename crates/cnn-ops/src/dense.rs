//! Fully connected layer: `y = x · W + b` with `x: [N, in]`, `W: [in, out]`, `b: [out]`.

use cnn_tensor::Tensor;

use crate::error::{Result, shape_err};
use crate::gemm::{Trans, sgemm, sgemm_split_k, threads_for};

/// Outputs (`batch x units`) up to which the forward product splits its reduction across
/// threads rather than its output.
const SMALL_OUTPUT: usize = 256 * 256;

/// Inputs each part of a split reduction must reach to be worth a partial product.
const MIN_INPUTS_PER_PART: usize = 1024;

/// Most parts a reduction is split into: two, the split this project's 2-core machine made
/// when the parts were its threads, so results measured there (the exercises' reports) keep
/// their bits.
const MAX_PARTS: usize = 2;

/// Products (`batch x inputs x units`) from which the forward pass runs on several threads.
const PARALLEL_WORK: usize = 1 << 21;

/// How many parts the forward product's reduction is split into: fixed by the shape alone,
/// never by the thread pool, so the sum is grouped the same way — and the bits are the same —
/// on any number of threads. 1 means no split.
fn reduction_parts(n: usize, o: usize, i: usize) -> usize {
    let big = n.saturating_mul(o).saturating_mul(i) >= PARALLEL_WORK;
    if !big || n.saturating_mul(o) > SMALL_OUTPUT || i < 2 * MIN_INPUTS_PER_PART {
        return 1;
    }
    (i / MIN_INPUTS_PER_PART).min(MAX_PARTS)
}

fn dims(x: &Tensor, w: &Tensor) -> Result<(usize, usize, usize)> {
    match (x.dims(), w.dims()) {
        (&[n, i], &[wi, o]) if i == wi => Ok((n, i, o)),
        (&[_, i], &[wi, _]) => Err(shape_err(
            "dense",
            format!(
                "input has {i} features but the kernel {} expects {wi}",
                w.shape()
            ),
        )),
        (xd, _) if xd.len() != 2 => Err(shape_err(
            "dense",
            format!(
                "input must be rank 2 [N, features], got {} (flatten it first)",
                x.shape()
            ),
        )),
        _ => Err(shape_err(
            "dense",
            format!("kernel must be rank 2 [in, out], got {}", w.shape()),
        )),
    }
}

/// Forward: `y = x · w + b`.
pub fn dense_forward(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    let (n, i, o) = dims(x, w)?;
    let mut y = Tensor::zeros([n, o])?;
    if let Some(b) = b {
        if b.dims() != [o] {
            return Err(shape_err(
                "dense",
                format!("bias {} does not match {o} units", b.shape()),
            ));
        }
        y.data_mut()
            .chunks_exact_mut(o.max(1))
            .for_each(|r| r.copy_from_slice(b.data()));
    }
    let parts = reduction_parts(n, o, i);
    if parts > 1 {
        // A small output with a long reduction (mnist-cnn: 128 x 128 from 9,216 inputs):
        // the GEMM's own threading splits the output and synchronises per reduction block;
        // splitting the reduction instead is 10-20 % faster here. The parts run side by side
        // on however many threads there are and are added in order.
        sgemm_split_k(
            n,
            o,
            i,
            x.data(),
            w.data(),
            y.data_mut(),
            b.is_some(),
            parts,
        );
    } else {
        let threads = threads_for(n, o, i);
        sgemm(
            n,
            o,
            i,
            x.data(),
            Trans::No,
            w.data(),
            Trans::No,
            y.data_mut(),
            b.is_some(),
            threads,
        );
    }
    Ok(y)
}

/// Backward: returns `(dx, dw, db)`, each computed only when asked for.
pub fn dense_backward(
    x: &Tensor,
    w: &Tensor,
    dy: &Tensor,
    (need_x, need_w, need_b): (bool, bool, bool),
) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
    let (n, i, o) = dims(x, w)?;
    if dy.dims() != [n, o] {
        return Err(shape_err(
            "dense",
            format!("gradient {} does not match [{n}, {o}]", dy.shape()),
        ));
    }
    // The two products are independent: with two or more threads they run side by side, each
    // on half the pool, instead of one after the other each split across the pool (fewer
    // synchronisations inside the GEMMs; the same values, since neither splits its reduction).
    let pool = rayon::current_num_threads();
    let side_by_side = need_x && need_w && pool >= 2;
    let share = |m, n, k| {
        let t = threads_for(m, n, k);
        if side_by_side { t.div_ceil(2) } else { t }
    };
    let input_grad = || {
        need_x
            .then(|| {
                let mut dx = Tensor::zeros([n, i])?;
                sgemm(
                    n,
                    i,
                    o,
                    dy.data(),
                    Trans::No,
                    w.data(),
                    Trans::Yes,
                    dx.data_mut(),
                    false,
                    share(n, i, o),
                );
                Ok::<_, crate::OpError>(dx)
            })
            .transpose()
    };
    let kernel_grad = || {
        need_w
            .then(|| {
                let mut dw = Tensor::zeros([i, o])?;
                sgemm(
                    i,
                    o,
                    n,
                    x.data(),
                    Trans::Yes,
                    dy.data(),
                    Trans::No,
                    dw.data_mut(),
                    false,
                    share(i, o, n),
                );
                Ok::<_, crate::OpError>(dw)
            })
            .transpose()
    };
    let (dx, dw) = if side_by_side {
        rayon::join(input_grad, kernel_grad)
    } else {
        (input_grad(), kernel_grad())
    };
    let (dx, dw) = (dx?, dw?);
    let db = need_b
        .then(|| {
            let mut db = vec![0.0f32; o];
            for r in dy.data().chunks_exact(o.max(1)) {
                db.iter_mut().zip(r).for_each(|(d, v)| *d += v);
            }
            Tensor::new([o], db)
        })
        .transpose()?;
    Ok((dx, dw, db))
}
