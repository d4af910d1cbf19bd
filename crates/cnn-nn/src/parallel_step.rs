//! One data-parallel training step and evaluation: this process's parts of a batch, the
//! ranks' sums added in rank order, the same update on every rank.

use cnn_tensor::Tensor;

use crate::data::BatchSource;
use crate::error::{NnError, Result};
use crate::model::Model;
use crate::optimizer::Optimizer;
use crate::parallel::{DataParallel, Part, Replicas, part_seed};
use crate::train::{Evaluation, Loss, StepResult};

impl DataParallel<'_> {
    /// Whether `fit` can take whole batches in this process alone (the default path).
    pub(crate) fn is_single(&self) -> bool {
        self.parts <= 1 && self.collective.is_none()
    }
}

/// `acc += part` element by element (or `acc = part` for the first), the rank-order sum's step.
fn accumulate(acc: &mut Option<Vec<f32>>, part: &[f32]) {
    match acc {
        None => *acc = Some(part.to_vec()),
        Some(a) => a.iter_mut().zip(part).for_each(|(a, &p)| *a += p),
    }
}

impl Model {
    /// One step of data-parallel training on batch `step` of `epoch`: the gradient of each of
    /// this process's parts, weighted by its share of the batch, added to the other parts'
    /// in rank order; batch-norm moving statistics averaged over the parts that held samples.
    /// Every rank applies the same update. With one part it is [`Model::train_step`] exactly.
    pub fn train_step_parallel(
        &mut self,
        train: &mut dyn BatchSource,
        (epoch, step): (usize, usize),
        loss: Loss,
        opt: &mut Optimizer,
        seed: u64,
        dp: &mut DataParallel<'_>,
    ) -> Result<StepResult> {
        let parts: Vec<Part> = dp.my_parts().collect();
        if dp.sync_batch_norm && (parts.len() != 1 || dp.collective.is_none()) {
            return Err(NnError::Parallel(
                "synchronised batch normalisation needs every part's statistics at once: one \
                 part per rank, not parts computed in turn"
                    .into(),
            ));
        }
        // A batch smaller than the number of ranks leaves some empty: those cannot join the
        // batch norms' sums, so that step normalises each part by itself (every rank sees the
        // same batch size and decides alike).
        let mut sync = false;
        let n_params: usize = self.params().iter().map(Tensor::len).sum();
        let n_state: usize = self.state().iter().map(Tensor::len).sum();
        let start_state = (parts.len() > 1 && n_state > 0).then(|| self.state().to_vec());
        // Gradients, moving statistics, then the step's metrics: one vector per part, one
        // sum per step.
        const METRICS: usize = 6;
        let len = n_params + n_state + METRICS;
        let mut acc: Option<Vec<f32>> = None;
        let mut flat = Vec::with_capacity(len);
        for part in parts {
            let (x, y, whole) = train.batch_part(epoch, step, part)?;
            sync = dp.sync_batch_norm && whole >= dp.parts;
            flat.clear();
            if y.is_empty() {
                flat.resize(len, 0.0);
                accumulate(&mut acc, &flat);
                continue;
            }
            if let Some(s) = &start_state {
                self.state_mut().clone_from_slice(s);
            }
            // The part's mean loss weighted by its share of the batch: the batch's mean loss
            // is the sum over the parts.
            let share = y.len() as f32 / whole as f32;
            let (lv, c, grads) = match (sync, dp.collective.as_deref_mut()) {
                (true, Some(col)) => {
                    let replicas = Replicas(std::sync::Mutex::new(col));
                    let r = &replicas as &dyn cnn_ops::ReplicaSum;
                    self.gradients(
                        &x,
                        &y,
                        loss,
                        part_seed(seed, part),
                        None,
                        &[],
                        share,
                        Some(r),
                    )?
                }
                _ => self.gradients(&x, &y, loss, part_seed(seed, part), None, &[], share, None)?,
            };
            for g in &grads {
                flat.extend_from_slice(g.data());
            }
            for s in self.state() {
                flat.extend_from_slice(s.data());
            }
            // loss × samples, correct, samples, parts with samples, a non-finite loss, a stop
            // asked on this rank (its first part carries it).
            flat.extend([
                lv * y.len() as f32,
                c as f32,
                y.len() as f32,
                1.0,
                f32::from(u8::from(!lv.is_finite())),
                0.0,
            ]);
            accumulate(&mut acc, &flat);
        }
        let mut total = acc.unwrap_or_else(|| vec![0.0; len]);
        if dp.stop_asked {
            total[len - 1] += 1.0;
        }
        dp.sum_f32(&mut total)?;
        let (total, m) = total.split_at(n_params + n_state);
        dp.stop_agreed = m[5] > 0.0;
        let loss_value = m[0] / m[2].max(1.0);
        if m[4] > 0.0 || !loss_value.is_finite() {
            return Err(NnError::NonFinite {
                value: if loss_value.is_finite() {
                    f32::NAN
                } else {
                    loss_value
                },
                epoch: 0,
                step: 0,
            });
        }
        let (g_flat, s_flat) = total.split_at(n_params);
        let mut grads = Vec::with_capacity(self.params().len());
        let mut at = 0;
        for (i, p) in self.params().iter().enumerate() {
            let g = &g_flat[at..at + p.len()];
            at += p.len();
            if g.iter().any(|v| !v.is_finite()) {
                return Err(NnError::Data(format!(
                    "the gradient of {} is not finite",
                    self.param_names()[i]
                )));
            }
            grads.push(Tensor::new(p.dims(), g.to_vec())?);
        }
        if n_state > 0 && !sync {
            let holders = m[3];
            let mut at = 0;
            for s in self.state_mut() {
                let len = s.len();
                for (v, &t) in s.data_mut().iter_mut().zip(&s_flat[at..at + len]) {
                    *v = t / holders;
                }
                at += len;
            }
        }
        let frozen = self.frozen_params();
        let names = self.param_names().to_vec();
        opt.step_named(self.params_mut(), &grads, &frozen, &names)?;
        Ok(StepResult {
            loss: loss_value,
            correct: m[1] as usize,
            count: m[2] as usize,
        })
    }

    /// [`Model::evaluate`] with each batch shared among the ranks: every rank gets the same
    /// totals (added in rank order).
    pub fn evaluate_parallel(
        &mut self,
        data: &mut dyn BatchSource,
        loss: Loss,
        steps: Option<usize>,
        dp: &mut DataParallel<'_>,
    ) -> Result<Evaluation> {
        if dp.is_single() {
            return self.evaluate(data, loss, steps);
        }
        let steps = steps.unwrap_or(data.steps()).min(data.steps().max(1));
        let parts: Vec<Part> = dp.my_parts().collect();
        let mut sums = [0.0f64; 3];
        for s in 0..steps {
            for &part in &parts {
                let (x, y, _) = data.batch_part(0, s, part)?;
                if y.is_empty() {
                    continue;
                }
                let (l, c, k) = self.batch_totals(&x, &y, loss)?;
                sums[0] += l;
                sums[1] += c as f64;
                sums[2] += k as f64;
            }
        }
        dp.sum_f64(&mut sums)?;
        Ok(Evaluation {
            loss: (sums[0] / sums[2].max(1.0)) as f32,
            accuracy: (sums[1] / sums[2].max(1.0)) as f32,
            samples: sums[2] as usize,
        })
    }
}
