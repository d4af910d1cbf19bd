//! Data parallelism: every global batch is cut into parts; each rank of a run (an MPI process,
//! see the `cnn-mpi` crate) computes the gradient of its part, and the parts' gradients are
//! added **in rank order** — `((g0 + g1) + g2) …` — so every rank applies the same update and
//! the run has the same bits whatever the machines, thread counts or timing.
//!
//! The same parts can be computed in turn by one process ([`DataParallel::emulated`]): it gives
//! the weights of an N-rank run bit for bit, which is how the MPI runs are checked, and doubles
//! as gradient accumulation (a large batch in small pieces).

use std::ops::Range;

use crate::error::Result;

/// Part `index` of `count` equal parts of every global batch (the first `n % count` parts one
/// sample larger), the way ranks share a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Part {
    /// Which part (the rank).
    pub index: usize,
    /// How many parts (the number of ranks).
    pub count: usize,
}

impl Part {
    /// The whole batch.
    pub const WHOLE: Part = Part { index: 0, count: 1 };

    /// The samples of this part in a batch of `n` (may be empty when `n < count`).
    pub fn range(&self, n: usize) -> Range<usize> {
        let count = self.count.max(1);
        let index = self.index.min(count - 1);
        let (base, extra) = (n / count, n % count);
        let lo = index * base + index.min(extra);
        lo..lo + base + usize::from(index < extra)
    }

    /// Whether this is the whole batch.
    pub fn is_whole(&self) -> bool {
        self.count <= 1
    }
}

/// Collective operations among the ranks of a data-parallel run. Implemented over MPI by the
/// `cnn-mpi` crate; any transport works that keeps the summation order.
pub trait Collective: Send {
    /// This process's rank, `0..size()`.
    fn rank(&self) -> usize;
    /// Number of ranks.
    fn size(&self) -> usize;
    /// Element-wise sum of every rank's `values`, added in rank order (`((r0 + r1) + r2) …`),
    /// left in `values` on every rank. Every rank passes the same length.
    fn sum_f32(&mut self, values: &mut [f32]) -> Result<()>;
    /// [`Collective::sum_f32`] for `f64` (metrics).
    fn sum_f64(&mut self, values: &mut [f64]) -> Result<()>;
    /// Rank `root`'s `bytes` on every rank (the others' are replaced).
    fn broadcast(&mut self, bytes: &mut Vec<u8>, root: usize) -> Result<()>;
}

/// How `fit` shares each batch: the number of parts, the parts this process computes, and the
/// collective that adds the parts of the other ranks.
pub struct DataParallel<'a> {
    /// Parts per global batch (the number of ranks).
    pub parts: usize,
    /// The parts this process computes, in order.
    pub mine: Range<usize>,
    /// The other ranks (`None`: this process computes every part).
    pub collective: Option<&'a mut dyn Collective>,
    /// Time spent in the collective's sums: moving the bytes, and waiting for slower ranks.
    pub exchange_time: std::time::Duration,
    /// Synchronised batch normalisation: training batch norms normalise with the statistics
    /// of the whole global batch (every rank's rows), not of the rank's part. Needs ranks
    /// (one part per process).
    pub sync_batch_norm: bool,
    /// A stop asked on this rank, sent with the next step's sums.
    pub(crate) stop_asked: bool,
    /// Whether the last step's sums carried a stop from any rank.
    pub(crate) stop_agreed: bool,
}

impl<'a> DataParallel<'a> {
    /// One process, whole batches: what `fit` does by default.
    pub fn single() -> Self {
        DataParallel {
            parts: 1,
            mine: 0..1,
            collective: None,
            exchange_time: std::time::Duration::ZERO,
            sync_batch_norm: false,
            stop_asked: false,
            stop_agreed: false,
        }
    }

    /// One process computing all `parts` parts of every batch in turn: the weights of a
    /// `parts`-rank run, bit for bit.
    pub fn emulated(parts: usize) -> Self {
        let parts = parts.max(1);
        DataParallel {
            parts,
            mine: 0..parts,
            collective: None,
            exchange_time: std::time::Duration::ZERO,
            sync_batch_norm: false,
            stop_asked: false,
            stop_agreed: false,
        }
    }

    /// This rank's part of a run over `collective`.
    pub fn ranks(collective: &'a mut dyn Collective) -> Self {
        let (rank, size) = (collective.rank(), collective.size().max(1));
        DataParallel {
            parts: size,
            mine: rank..rank + 1,
            collective: Some(collective),
            exchange_time: std::time::Duration::ZERO,
            sync_batch_norm: false,
            stop_asked: false,
            stop_agreed: false,
        }
    }

    /// With synchronised batch normalisation (see [`DataParallel::sync_batch_norm`]).
    pub fn with_sync_batch_norm(mut self, on: bool) -> Self {
        self.sync_batch_norm = on;
        self
    }

    /// The parts this process computes.
    pub fn my_parts(&self) -> impl Iterator<Item = Part> + '_ {
        self.mine.clone().map(|index| Part {
            index,
            count: self.parts,
        })
    }

    /// Adds the other ranks' `values` to these, in rank order (nothing without a collective).
    pub fn sum_f32(&mut self, values: &mut [f32]) -> Result<()> {
        let t0 = std::time::Instant::now();
        let r = match self.collective.as_deref_mut() {
            Some(c) => c.sum_f32(values),
            None => return Ok(()),
        };
        self.exchange_time += t0.elapsed();
        r
    }

    /// [`DataParallel::sum_f32`] for `f64`.
    pub fn sum_f64(&mut self, values: &mut [f64]) -> Result<()> {
        let t0 = std::time::Instant::now();
        let r = match self.collective.as_deref_mut() {
            Some(c) => c.sum_f64(values),
            None => return Ok(()),
        };
        self.exchange_time += t0.elapsed();
        r
    }

    /// Whether this process is rank 0 (the one that writes files).
    pub fn is_root(&self) -> bool {
        self.mine.start == 0
    }
}

impl Default for DataParallel<'_> {
    fn default() -> Self {
        DataParallel::single()
    }
}

/// Checks that every rank passes the same `mine` (e.g. its command-line arguments), before any
/// work: rank 0's bytes are broadcast and compared. Every rank gets the same answer: `Ok`, or
/// an error listing the ranks whose `what` differ from rank 0's.
pub fn check_same(c: &mut dyn Collective, what: &str, mine: &[u8]) -> Result<()> {
    let mut root = mine.to_vec();
    c.broadcast(&mut root, 0)?;
    let mut differs = vec![0.0f64; c.size()];
    if let Some(d) = differs.get_mut(c.rank()) {
        *d = f64::from(u8::from(root != mine));
    }
    c.sum_f64(&mut differs)?;
    let bad: Vec<String> = differs
        .iter()
        .enumerate()
        .filter(|(_, d)| **d > 0.0)
        .map(|(r, _)| r.to_string())
        .collect();
    if bad.is_empty() {
        return Ok(());
    }
    // The rank that differs says how (for text, the comma-separated fields that differ).
    let how = match (std::str::from_utf8(&root), std::str::from_utf8(mine)) {
        (Ok(r), Ok(m)) if r != m => {
            let fields: Vec<String> = r
                .split(", ")
                .zip(m.split(", "))
                .filter(|(a, b)| a != b)
                .take(3)
                .map(|(a, b)| format!("{b} (rank 0: {a})"))
                .collect();
            format!("; here: {}", fields.join(", "))
        }
        _ => String::new(),
    };
    Err(crate::NnError::Parallel(format!(
        "the {what} of rank(s) {} differ from rank 0's{how}; every rank must be started with the same",
        bad.join(", ")
    )))
}

/// Rank 0's weights (trainable and state) on every rank.
pub fn broadcast_weights(c: &mut dyn Collective, model: &mut crate::Model) -> Result<()> {
    let mut bytes = Vec::new();
    if c.rank() == 0 {
        for t in model.params().iter().chain(model.state()) {
            bytes.extend_from_slice(bytemuck::cast_slice(t.data()));
        }
    }
    c.broadcast(&mut bytes, 0)?;
    let want: usize = model
        .params()
        .iter()
        .chain(model.state())
        .map(|t| t.len() * 4)
        .sum();
    if bytes.len() != want {
        return Err(crate::NnError::Parallel(format!(
            "rank 0 sent {} bytes of weights, this rank's model holds {want}",
            bytes.len()
        )));
    }
    let mut at = 0;
    let mut fill = |t: &mut cnn_tensor::Tensor| {
        let n = t.len() * 4;
        for (v, b) in t
            .data_mut()
            .iter_mut()
            .zip(bytes[at..at + n].chunks_exact(4))
        {
            *v = f32::from_ne_bytes([b[0], b[1], b[2], b[3]]);
        }
        at += n;
    };
    model.params_mut().iter_mut().for_each(&mut fill);
    model.state_mut().iter_mut().for_each(&mut fill);
    Ok(())
}

/// The collective as batch norm's [`cnn_ops::ReplicaSum`] (one lock: the graph's backward
/// closures share it; the calls come one at a time from the training thread).
pub(crate) struct Replicas<'c>(pub(crate) std::sync::Mutex<&'c mut dyn Collective>);

impl cnn_ops::ReplicaSum for Replicas<'_> {
    fn sum(&self, values: &mut [f64]) -> std::result::Result<(), String> {
        let mut c = self
            .0
            .lock()
            .map_err(|_| "a rank's lock was poisoned".to_string())?;
        c.sum_f64(values).map_err(|e| e.to_string())
    }
}

/// The dropout seed of part `part` of a step whose whole-batch seed is `seed`: the seed itself
/// for a whole batch (single-process runs keep their masks), a mix of both otherwise.
pub(crate) fn part_seed(seed: u64, part: Part) -> u64 {
    if part.is_whole() {
        seed
    } else {
        let mut z = seed ^ (part.index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// A [`Collective`] of threads in one process (for tests of the rank-order sums): create the
/// ranks with [`ThreadRanks::new`], move one into each thread.
pub struct ThreadRanks {
    rank: usize,
    size: usize,
    shared: std::sync::Arc<Shared>,
}

struct Shared {
    barrier: std::sync::Barrier,
    slots: std::sync::Mutex<Vec<Vec<u8>>>,
}

impl ThreadRanks {
    /// `size` connected ranks.
    pub fn new(size: usize) -> Vec<ThreadRanks> {
        let size = size.max(1);
        let shared = std::sync::Arc::new(Shared {
            barrier: std::sync::Barrier::new(size),
            slots: std::sync::Mutex::new(vec![Vec::new(); size]),
        });
        (0..size)
            .map(|rank| ThreadRanks {
                rank,
                size,
                shared: shared.clone(),
            })
            .collect()
    }

    /// Every rank's bytes, in rank order.
    fn all_gather(&mut self, mine: Vec<u8>) -> Vec<Vec<u8>> {
        self.shared.slots.lock().unwrap_or_else(|e| e.into_inner())[self.rank] = mine;
        self.shared.barrier.wait();
        let all = self
            .shared
            .slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        self.shared.barrier.wait();
        all
    }
}

impl Collective for ThreadRanks {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.size
    }

    fn sum_f32(&mut self, values: &mut [f32]) -> Result<()> {
        let all = self.all_gather(bytemuck::cast_slice(values).to_vec());
        sum_in_rank_order(values, &all, f32::from_ne_bytes)
    }

    fn sum_f64(&mut self, values: &mut [f64]) -> Result<()> {
        let all = self.all_gather(bytemuck::cast_slice(values).to_vec());
        sum_in_rank_order(values, &all, f64::from_ne_bytes)
    }

    fn broadcast(&mut self, bytes: &mut Vec<u8>, root: usize) -> Result<()> {
        let all = self.all_gather(std::mem::take(bytes));
        *bytes = all.get(root).cloned().unwrap_or_default();
        Ok(())
    }
}

fn sum_in_rank_order<T, const N: usize>(
    values: &mut [T],
    all: &[Vec<u8>],
    from: fn([u8; N]) -> T,
) -> Result<()>
where
    T: Copy + std::ops::AddAssign,
{
    for (r, bytes) in all.iter().enumerate() {
        if bytes.len() != values.len() * N {
            return Err(crate::NnError::Parallel(format!(
                "rank {r} sent {} bytes for {} values",
                bytes.len(),
                values.len()
            )));
        }
        for (v, chunk) in values.iter_mut().zip(bytes.chunks_exact(N)) {
            let mut a = [0u8; N];
            a.copy_from_slice(chunk);
            if r == 0 {
                *v = from(a);
            } else {
                *v += from(a);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cover_the_batch_once_in_order() {
        for n in 0..40 {
            for count in 1..6 {
                let mut next = 0;
                for index in 0..count {
                    let r = Part { index, count }.range(n);
                    assert_eq!(r.start, next);
                    assert!(r.len() == n / count || r.len() == n / count + 1);
                    next = r.end;
                }
                assert_eq!(next, n);
            }
        }
    }

    #[test]
    fn thread_ranks_add_in_rank_order() {
        // 1e8 + 1 - 1e8 in f32 depends on the order: rank order gives (1e8 + 1) - 1e8 = 0.
        let ranks = ThreadRanks::new(3);
        let inputs = [1.0e8f32, 1.0, -1.0e8];
        let out: Vec<f32> = std::thread::scope(|s| {
            let hs: Vec<_> = ranks
                .into_iter()
                .map(|mut r| {
                    s.spawn(move || {
                        let mut v = [inputs[r.rank()]];
                        r.sum_f32(&mut v).unwrap();
                        v[0]
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(out, vec![(1.0e8f32 + 1.0) - 1.0e8; 3]);
        assert_eq!(out[0], 0.0);
    }

    #[test]
    fn whole_batch_keeps_its_seed() {
        assert_eq!(part_seed(77, Part::WHOLE), 77);
        let a = part_seed(77, Part { index: 0, count: 2 });
        let b = part_seed(77, Part { index: 1, count: 2 });
        assert_ne!(a, b);
        assert_ne!(a, 77);
    }
}
