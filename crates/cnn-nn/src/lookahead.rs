//! Lookahead (Zhang, Lucas, Hinton & Ba 2019, "Lookahead Optimizer: k steps forward, 1 step
//! back", arXiv 1907.08610), with the ramped decay airbench uses (Jordan 2024, arXiv
//! 2404.00498, §3.5).
//!
//! Beside the weights the inner optimizer moves (the *fast* weights), a copy of *slow* weights
//! starts at the initial weights. Every `period` steps the slow weights move towards the fast
//! ones, `slow = d·slow + (1 − d)·fast`, and the fast weights restart from them: `fast = slow`.
//! Zhang et al. use a constant `d` (their step size `α` is `1 − d`, 0.5 by default, `k = 5`);
//! airbench ramps it with the progress of training, `d = 0.95⁵·(t/T)³` at step `t` of `T`, so
//! that early training runs at full speed and the last steps are averaged over. When training
//! ends the weights are the slow weights (as airbench's final update with `d = 1`). Only the
//! trainable weights are averaged (airbench also averages batch-norm moving statistics).

use serde::{Deserialize, Serialize};

/// Lookahead settings: see the module documentation.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Lookahead {
    /// Steps between synchronisations (`k`; Zhang et al. and airbench: 5).
    pub period: u64,
    /// The decay `d` of the slow weights at a synchronisation, or its final value when ramped
    /// (Zhang et al.: 0.5; airbench: 0.95⁵ ≈ 0.774).
    pub decay: f32,
    /// Ramp length in steps (usually the whole run): the decay at step `t` is
    /// `decay·(t / ramp_steps)^ramp_power`, capped at `decay`. 0: no ramp.
    #[serde(default)]
    pub ramp_steps: u64,
    /// Power of the ramp (airbench: 3).
    #[serde(default = "default_power")]
    pub ramp_power: f32,
}

fn default_power() -> f32 {
    3.0
}

impl Lookahead {
    /// Zhang et al.'s lookahead: every `period` steps, the slow weights take `1 − decay` of the
    /// way to the fast ones.
    pub fn new(period: u64, decay: f32) -> Self {
        Lookahead {
            period,
            decay,
            ramp_steps: 0,
            ramp_power: default_power(),
        }
    }

    /// airbench's: every 5 steps, decay `0.95⁵·(t/total_steps)³`.
    pub fn airbench(total_steps: u64) -> Self {
        Lookahead::new(5, 0.95f32.powi(5)).ramped(total_steps, 3.0)
    }

    /// The same lookahead with its decay ramped over `steps` steps by `(t/steps)^power`.
    pub fn ramped(mut self, steps: u64, power: f32) -> Self {
        self.ramp_steps = steps;
        self.ramp_power = power;
        self
    }

    /// After step `step` (counted from 1): the decay to synchronise with, or `None` when the
    /// step is not a synchronisation.
    pub fn decay_after(&self, step: u64) -> Option<f32> {
        if self.period == 0 || step == 0 || !step.is_multiple_of(self.period) {
            return None;
        }
        if self.ramp_steps == 0 {
            return Some(self.decay);
        }
        let progress = (step as f64 / self.ramp_steps as f64).min(1.0);
        Some((self.decay as f64 * progress.powf(self.ramp_power as f64)) as f32)
    }

    /// Checks the settings: a positive period, a decay in `[0, 1]`, a finite ramp power.
    pub fn validate(&self) -> Result<(), String> {
        if self.period == 0 {
            return Err("lookahead period must be at least 1 step".into());
        }
        if !(0.0..=1.0).contains(&self.decay) {
            return Err(format!("lookahead decay {} must be in [0, 1]", self.decay));
        }
        if !self.ramp_power.is_finite() || self.ramp_power < 0.0 {
            return Err(format!(
                "lookahead ramp power {} must be a non-negative number",
                self.ramp_power
            ));
        }
        Ok(())
    }
}

/// One synchronisation: `slow = d·slow + (1 − d)·fast`, then `fast = slow`.
pub(crate) fn synchronise(fast: &mut [f32], slow: &mut [f32], decay: f32) {
    for (f, s) in fast.iter_mut().zip(slow.iter_mut()) {
        *s = decay * *s + (1.0 - decay) * *f;
        *f = *s;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synchronises_every_period_steps_only() {
        let l = Lookahead::new(5, 0.5);
        let steps: Vec<u64> = (0..=20).filter(|&s| l.decay_after(s).is_some()).collect();
        assert_eq!(steps, vec![5, 10, 15, 20]);
        assert_eq!(l.decay_after(10), Some(0.5));
    }

    #[test]
    fn airbench_ramp_is_cubic_in_progress_and_capped() {
        let l = Lookahead::airbench(100);
        let d = |s| l.decay_after(s).unwrap() as f64;
        let top = 0.95f64.powi(5);
        assert!((d(50) - top * 0.125).abs() < 1e-6, "{}", d(50));
        assert!((d(100) - top).abs() < 1e-6);
        assert!((d(200) - top).abs() < 1e-6, "capped after the ramp");
        assert!(d(5) < 1e-3, "early synchronisations barely average");
    }

    #[test]
    fn synchronise_moves_slow_towards_fast_and_restarts_fast() {
        let (mut fast, mut slow) = (vec![1.0, 4.0], vec![3.0, 0.0]);
        synchronise(&mut fast, &mut slow, 0.25);
        assert_eq!(slow, vec![1.5, 3.0]);
        assert_eq!(fast, slow);
    }

    #[test]
    fn rejects_bad_settings() {
        assert!(Lookahead::new(0, 0.5).validate().is_err());
        assert!(Lookahead::new(5, 1.5).validate().is_err());
        assert!(
            Lookahead::new(5, 0.5)
                .ramped(10, f32::NAN)
                .validate()
                .is_err()
        );
        assert!(Lookahead::airbench(10).validate().is_ok());
    }
}
