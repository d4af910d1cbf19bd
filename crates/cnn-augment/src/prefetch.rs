//! Batches produced ahead on a background thread while the model trains, with bounded memory
//! (at most `depth` batches in flight), and the time the training loop waits for data.

use std::collections::VecDeque;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cnn_nn::{BatchSource, Part, Result, Targets};
use cnn_tensor::Tensor;

type Batch = Result<(Tensor, Targets, usize)>;
/// (epoch, step, part): what the worker computes.
type Key = (usize, usize, Part);

/// Wraps a batch source, computing the next `depth` batches (in `fit`'s order: steps, then the
/// next epoch; with data parallelism, this process's parts of each batch) on a worker thread.
/// Results are identical to the wrapped source's.
pub struct Prefetch {
    requests: Option<SyncSender<Key>>,
    results: Receiver<(Key, Batch)>,
    inflight: VecDeque<Key>,
    depth: usize,
    mine: std::ops::Range<usize>,
    samples: usize,
    steps: usize,
    waited: Duration,
    worker: Option<JoinHandle<()>>,
}

impl Prefetch {
    /// Prefetches up to `depth` batches of `source`.
    pub fn new<S: BatchSource + Send + 'static>(mut source: S, depth: usize) -> Self {
        let depth = depth.max(1);
        let (samples, steps) = (source.samples(), source.steps());
        let (req_tx, req_rx) = sync_channel::<Key>(depth + 1);
        let (res_tx, res_rx) = sync_channel(depth);
        let worker = std::thread::spawn(move || {
            for key in req_rx {
                if res_tx
                    .send((key, source.batch_part(key.0, key.1, key.2)))
                    .is_err()
                {
                    break;
                }
            }
        });
        Prefetch {
            requests: Some(req_tx),
            results: res_rx,
            inflight: VecDeque::new(),
            depth,
            mine: 0..1,
            samples,
            steps,
            waited: Duration::ZERO,
            worker: Some(worker),
        }
    }

    /// Prefetch the parts `mine` of every batch (data parallelism: a rank's own part, or every
    /// part when one process computes them in turn) instead of whole batches.
    pub fn parts(mut self, mine: std::ops::Range<usize>) -> Self {
        self.mine = mine;
        self
    }

    /// Total time `batch` spent waiting for the worker.
    pub fn waited(&self) -> Duration {
        self.waited
    }

    fn next_key(&self, (e, s, p): Key) -> Key {
        if p.index + 1 < self.mine.end.min(p.count) {
            return (
                e,
                s,
                Part {
                    index: p.index + 1,
                    ..p
                },
            );
        }
        let first = Part {
            index: self.mine.start.min(p.count.saturating_sub(1)),
            ..p
        };
        if s + 1 >= self.steps {
            (e + 1, 0, first)
        } else {
            (e, s + 1, first)
        }
    }

    fn request(&mut self, key: Key) {
        if let Some(tx) = &self.requests
            && tx.send(key).is_ok()
        {
            self.inflight.push_back(key);
        }
    }
}

impl BatchSource for Prefetch {
    fn samples(&self) -> usize {
        self.samples
    }

    fn steps(&self) -> usize {
        self.steps
    }

    fn batch(&mut self, epoch: usize, step: usize) -> Result<(Tensor, Targets)> {
        let (x, y, _) = self.batch_part(epoch, step, Part::WHOLE)?;
        Ok((x, y))
    }

    fn batch_part(
        &mut self,
        epoch: usize,
        step: usize,
        part: Part,
    ) -> Result<(Tensor, Targets, usize)> {
        let want = (epoch, step, part);
        if self.inflight.front() != Some(&want) {
            // Out of order (e.g. validation restarting at step 0): drop what is in flight.
            while self.inflight.pop_front().is_some() {
                let _ = self.results.recv();
            }
            self.request(want);
        }
        while self.inflight.len() < self.depth + 1 {
            let last = *self.inflight.back().unwrap_or(&want);
            let next = self.next_key(last);
            self.request(next);
        }
        let t0 = Instant::now();
        let got = self.results.recv();
        self.waited += t0.elapsed();
        self.inflight.pop_front();
        match got {
            Ok((key, batch)) if key == want => batch,
            _ => Err(cnn_nn::NnError::Data("the prefetch worker stopped".into())),
        }
    }
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        self.requests.take();
        while self.results.try_recv().is_ok() {}
        // Unblock a worker waiting to send, then join it.
        while self.inflight.pop_front().is_some() {
            let _ = self.results.recv_timeout(Duration::from_secs(5));
        }
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}
