//! Data parallelism: N ranks (threads with a rank-order collective here; MPI processes in the
//! CLI's tests) give the weights of one process computing the same N parts in turn, bit for
//! bit — with batch norm, dropout, uneven and empty parts — and stay within rounding of plain
//! whole-batch training.

use cnn_nn::spec::layers::*;
use cnn_nn::*;

fn images(n: usize, dims: &[usize], seed: u64) -> Tensor {
    let per: usize = dims.iter().product();
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let data = (0..n * per)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 24) as f32
        })
        .collect();
    let mut d = vec![n];
    d.extend_from_slice(dims);
    Tensor::new(d, data).unwrap()
}

/// A small convnet with batch norm and dropout (their per-part statistics and masks must
/// follow the parts, not the process).
fn bn_dropout_net() -> ModelSpec {
    ModelSpec::new("bn-dropout", [10, 10, 2])
        .add(conv2d(6, 3, "linear"))
        .add(batch_norm())
        .add(activation("relu"))
        .add(max_pool(2))
        .add(flatten())
        .add(dropout(0.3))
        .add(dense(5, "softmax"))
}

/// No batch norm, no dropout: parts and whole batches differ only by rounding.
fn plain_net() -> ModelSpec {
    ModelSpec::new("plain", [10, 10, 2])
        .add(conv2d(6, 3, "relu"))
        .add(max_pool(2))
        .add(flatten())
        .add(dense(5, "softmax"))
}

type Weights = Vec<Vec<f32>>;

/// 23 samples in batches of 8: steps of 8, 8 and 7 samples (with 3 parts: 3+3+2, 3+2+2; with
/// 9 parts some are empty), two epochs, validation on 10 samples.
/// `parts`: `None` for whole batches, `Some(n)` for n parts in turn, or `rank`'s part.
fn run(
    spec: &ModelSpec,
    parts: Option<usize>,
    rank: Option<&mut ThreadRanks>,
) -> (Weights, History) {
    run_sync(spec, parts, rank, false)
}

/// [`run`], with synchronised batch norm when `sync`.
fn run_sync(
    spec: &ModelSpec,
    parts: Option<usize>,
    rank: Option<&mut ThreadRanks>,
    sync: bool,
) -> (Weights, History) {
    let x = images(23, &spec.input_shape, 3);
    let y = Targets::Sparse((0..23).map(|i| i % 5).collect());
    let vx = images(10, &spec.input_shape, 4);
    let vy = Targets::Sparse((0..10).map(|i| i % 5).collect());
    let mut m = Model::new(spec, 7).unwrap();
    let mut data = ArrayData::new(&x, &y, 8, true, 5).unwrap();
    let mut val = ArrayData::new(&vx, &vy, 4, false, 0).unwrap();
    let mut opt = Optimizer::adam(1e-2);
    let dp = match (rank, parts) {
        (Some(r), _) => DataParallel::ranks(r).with_sync_batch_norm(sync),
        (None, Some(n)) => DataParallel::emulated(n),
        (None, None) => DataParallel::single(),
    };
    let h = Fit::new(&mut opt, Loss::SparseCategoricalCrossentropy)
        .epochs(2)
        .seed(11)
        .validation(&mut val)
        .data_parallel(dp)
        .run(&mut m, &mut data)
        .unwrap();
    let w = m.named_weights().map(|(_, t)| t.data().to_vec()).collect();
    (w, h)
}

fn run_threads(spec: &ModelSpec, n: usize) -> Vec<(Weights, History)> {
    run_threads_sync(spec, n, false)
}

fn run_threads_sync(spec: &ModelSpec, n: usize, sync: bool) -> Vec<(Weights, History)> {
    std::thread::scope(|s| {
        let hs: Vec<_> = ThreadRanks::new(n)
            .into_iter()
            .map(|mut r| s.spawn(move || run_sync(spec, None, Some(&mut r), sync)))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn bits(w: &Weights) -> Vec<Vec<u32>> {
    w.iter()
        .map(|t| t.iter().map(|v| v.to_bits()).collect())
        .collect()
}

#[test]
fn ranks_give_the_weights_of_their_parts_computed_in_turn_bit_for_bit() {
    for spec in [bn_dropout_net(), plain_net()] {
        for n in [2, 3, 9] {
            let (one, h1) = run(&spec, Some(n), None);
            let ranks = run_threads(&spec, n);
            for (r, (w, h)) in ranks.iter().enumerate() {
                assert_eq!(
                    bits(w),
                    bits(&one),
                    "{} with {n} ranks: rank {r}",
                    spec.name
                );
                assert_eq!(h.loss, h1.loss);
                assert_eq!(h.val_loss, h1.val_loss);
                assert_eq!(h.val_accuracy, h1.val_accuracy);
            }
        }
    }
}

#[test]
fn parts_change_the_weights_only_by_rounding_without_batch_statistics() {
    let spec = plain_net();
    let (whole, hw) = run(&spec, None, None);
    for n in [2, 3] {
        let (parts, hp) = run(&spec, Some(n), None);
        assert_ne!(bits(&parts), bits(&whole), "the test must see the rounding");
        for (a, b) in whole.iter().zip(&parts) {
            let scale = a.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
            let worst = a.iter().zip(b).fold(0f32, |m, (p, q)| m.max((p - q).abs()));
            // Six Adam steps (lr 1e-2) on gradients that differ in the last bits.
            assert!(worst <= 1e-4 * scale, "{n} parts: {worst} of {scale}");
        }
        for (a, b) in hw.loss.iter().zip(&hp.loss) {
            assert!((a - b).abs() < 1e-5, "loss {a} vs {b}");
        }
        assert_eq!(hw.val_accuracy, hp.val_accuracy);
    }
}

#[test]
fn one_part_is_the_plain_step() {
    let spec = bn_dropout_net();
    let x = images(8, &spec.input_shape, 3);
    let y = Targets::Sparse((0..8).map(|i| i % 5).collect());
    let mut a = Model::new(&spec, 7).unwrap();
    let mut b = Model::new(&spec, 7).unwrap();
    let (mut oa, mut ob) = (Optimizer::adam(1e-2), Optimizer::adam(1e-2));
    let mut data = ArrayData::new(&x, &y, 8, false, 0).unwrap();
    let mut one = ThreadRanks::new(1).pop().unwrap();
    for step in 0..3 {
        let ra = a
            .train_step(&x, &y, Loss::SparseCategoricalCrossentropy, &mut oa, step)
            .unwrap();
        let rb = b
            .train_step_parallel(
                &mut data,
                (0, 0),
                Loss::SparseCategoricalCrossentropy,
                &mut ob,
                step,
                &mut DataParallel::ranks(&mut one),
            )
            .unwrap();
        assert_eq!(ra, rb);
    }
    let wa: Weights = a.named_weights().map(|(_, t)| t.data().to_vec()).collect();
    let wb: Weights = b.named_weights().map(|(_, t)| t.data().to_vec()).collect();
    assert_eq!(bits(&wa), bits(&wb));
}

/// Batch norm without dropout: with synchronised statistics the ranks normalise as one
/// process does with whole batches. The convolution has no bias, as usual before a batch norm:
/// a bias there gets a gradient of pure rounding noise (the norm removes any shift), which
/// Adam turns into steps of the learning rate's size.
fn bn_net() -> ModelSpec {
    let mut conv = cnn_nn::layers::Conv2D::new(6, 3, "linear");
    conv.use_bias = false;
    ModelSpec::new("bn", [10, 10, 2])
        .add(conv)
        .add(batch_norm())
        .add(activation("relu"))
        .add(max_pool(2))
        .add(flatten())
        .add(dense(5, "softmax"))
}

/// Largest difference relative to the tensor's largest value, over every tensor.
fn worst(a: &Weights, b: &Weights) -> f32 {
    a.iter()
        .zip(b)
        .map(|(p, q)| {
            let scale = p.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
            p.iter().zip(q).fold(0f32, |m, (x, y)| m.max((x - y).abs())) / scale
        })
        .fold(0f32, f32::max)
}

#[test]
fn synchronised_batch_norm_trains_like_whole_batches() {
    let spec = bn_net();
    let (whole, _) = run(&spec, None, None);
    for n in [2, 3] {
        let ranks = run_threads_sync(&spec, n, true);
        for (r, (w, _)) in ranks.iter().enumerate() {
            assert_eq!(
                bits(w),
                bits(&ranks[0].0),
                "{n} ranks: rank {r} differs from rank 0"
            );
        }
        let synced = worst(&whole, &ranks[0].0);
        // Without synchronisation each rank normalises its own part: the moving variance
        // (the mean of the parts' variances) and the weights drift much further.
        let own = worst(&whole, &run_threads(&spec, n)[0].0);
        assert!(synced < 1e-4, "{n} ranks, synchronised: {synced}");
        assert!(
            own > 100.0 * synced,
            "{n} ranks: {own} per part vs {synced} synchronised"
        );
    }
}

#[test]
fn synchronised_batch_norm_needs_ranks() {
    let spec = bn_net();
    let x = images(8, &spec.input_shape, 3);
    let y = Targets::Sparse((0..8).map(|i| i % 5).collect());
    let mut m = Model::new(&spec, 7).unwrap();
    let mut data = ArrayData::new(&x, &y, 8, false, 0).unwrap();
    let e = m
        .train_step_parallel(
            &mut data,
            (0, 0),
            Loss::SparseCategoricalCrossentropy,
            &mut Optimizer::adam(1e-2),
            0,
            &mut DataParallel::emulated(2).with_sync_batch_norm(true),
        )
        .unwrap_err();
    assert!(e.to_string().contains("one part per rank"), "{e}");
}

/// Asks to stop after its `at`-th batch, on one rank only.
struct StopAfter {
    at: usize,
    seen: usize,
    active: bool,
}

impl Callback for StopAfter {
    fn on_batch_end(&mut self, _epoch: usize, _logs: &callbacks::BatchLogs) {
        self.seen += 1;
    }
    fn stop_requested(&self) -> bool {
        self.active && self.seen >= self.at
    }
}

#[test]
fn a_stop_asked_on_one_rank_stops_every_rank_at_the_same_step() {
    let spec = plain_net();
    let x = images(23, &spec.input_shape, 3);
    let y = Targets::Sparse((0..23).map(|i| i % 5).collect());
    type Outcome = (Option<(usize, usize)>, Vec<Vec<u32>>);
    let got: Vec<Outcome> = std::thread::scope(|s| {
        let hs: Vec<_> = ThreadRanks::new(3)
            .into_iter()
            .map(|mut r| {
                let (spec, x, y) = (&spec, &x, &y);
                s.spawn(move || {
                    let mut stop = StopAfter {
                        at: 4,
                        seen: 0,
                        active: r.rank() == 1,
                    };
                    let mut m = Model::new(spec, 7).unwrap();
                    let mut data = ArrayData::new(x, y, 8, true, 5).unwrap();
                    let mut opt = Optimizer::adam(1e-2);
                    let h = Fit::new(&mut opt, Loss::SparseCategoricalCrossentropy)
                        .epochs(5)
                        .callback(&mut stop)
                        .data_parallel(DataParallel::ranks(&mut r))
                        .run(&mut m, &mut data)
                        .unwrap();
                    let w = m.named_weights().map(|(_, t)| t.data().to_vec()).collect();
                    (h.interrupted, bits(&w))
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    // Asked after the 4th batch (epoch 2, step 1), carried by the 5th's sums: every rank
    // stops after epoch 2, step 2, with the same weights.
    for (interrupted, w) in &got {
        assert_eq!(*interrupted, Some((2, 2)));
        assert_eq!(*w, got[0].1);
    }
}
