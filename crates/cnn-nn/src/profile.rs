//! Where the time of one training step goes, layer by layer.

use std::time::{Duration, Instant};

use cnn_ops::{Gradients, Graph, Var};

/// The time of one layer in one training step.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerTime {
    /// The layer's name.
    pub name: String,
    /// Forward pass.
    pub forward: Duration,
    /// Backward pass (its gradients with respect to its input and weights).
    pub backward: Duration,
}

/// One training step, timed: per layer, the loss, the optimizer update, and the whole.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StepProfile {
    /// Each layer, in order.
    pub layers: Vec<LayerTime>,
    /// The loss (forward and backward).
    pub loss: Duration,
    /// The optimizer's update of the weights.
    pub optimizer: Duration,
    /// The whole step.
    pub total: Duration,
}

impl StepProfile {
    /// Adds another step's times (for averaging over steps).
    pub fn add(&mut self, other: &StepProfile) {
        if self.layers.is_empty() {
            self.layers = other.layers.clone();
        } else {
            for (a, b) in self.layers.iter_mut().zip(&other.layers) {
                a.forward += b.forward;
                a.backward += b.backward;
            }
        }
        self.loss += other.loss;
        self.optimizer += other.optimizer;
        self.total += other.total;
    }

    /// Reads the layers' times off a profiled graph: layer `i` spans the nodes after layer
    /// `i - 1`'s output (or the input) up to its own output; the loss is what follows.
    pub(crate) fn from_graph(
        g: &Graph<'_>,
        grads: &Gradients,
        input: Var,
        outputs: &[Var],
        names: &[String],
        loss: Var,
    ) -> StepProfile {
        let (Some(stamps), times) = (g.stamps(), grads.backward_times()) else {
            return StepProfile::default();
        };
        let bw = |lo: usize, hi: usize| -> Duration {
            times
                .get(lo + 1..=hi)
                .map(|t| t.iter().sum())
                .unwrap_or_default()
        };
        let mut prev = input.index();
        let mut layers = Vec::with_capacity(outputs.len());
        for (o, name) in outputs.iter().zip(names) {
            let i = o.index();
            let forward = if i > prev {
                stamps[i].saturating_duration_since(stamps[prev])
            } else {
                Duration::ZERO
            };
            layers.push(LayerTime {
                name: name.clone(),
                forward,
                backward: if i > prev {
                    bw(prev, i)
                } else {
                    Duration::ZERO
                },
            });
            prev = prev.max(i);
        }
        let l = loss.index();
        let loss = stamps[l].saturating_duration_since(stamps[prev]) + bw(prev, l);
        StepProfile {
            layers,
            loss,
            ..Default::default()
        }
    }
}

/// A stopwatch that is free when not asked for.
pub(crate) fn start(on: bool) -> Option<Instant> {
    on.then(Instant::now)
}
