//! Learning-rate schedule: linear warmup, then cosine decay (a pure function of the step, so it
//! needs no state in a checkpoint).

use serde::{Deserialize, Serialize};

/// Linear warmup from 0 to `peak` over the first `warmup` steps, then cosine decay to
/// `peak * min_ratio` at the last step.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LrSchedule {
    /// Peak learning rate.
    pub peak: f64,
    /// Warmup steps (at least 1 when `total > 0`).
    pub warmup: u64,
    /// Total optimisation steps of the run.
    pub total: u64,
    /// Final learning rate as a fraction of the peak.
    pub min_ratio: f64,
}

impl LrSchedule {
    /// A schedule whose warmup is `warmup_frac` of `total` steps, at least one step.
    pub fn new(peak: f64, total: u64, warmup_frac: f64, min_ratio: f64) -> Self {
        let warmup = ((warmup_frac * total as f64).round() as u64).clamp(1, total.max(1));
        Self { peak, warmup, total, min_ratio }
    }

    /// Learning rate at optimisation step `step` (0-based).
    pub fn lr_at(&self, step: u64) -> f64 {
        if step < self.warmup {
            return self.peak * (step + 1) as f64 / self.warmup as f64;
        }
        let decay_steps = self.total.saturating_sub(self.warmup).max(1) as f64;
        let progress = ((step - self.warmup) as f64 / decay_steps).min(1.0);
        let cosine = 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
        self.peak * (self.min_ratio + (1.0 - self.min_ratio) * cosine)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_then_cosine() {
        let s = LrSchedule::new(1.0, 100, 0.1, 0.1);
        assert_eq!(s.warmup, 10);
        assert!((s.lr_at(0) - 0.1).abs() < 1e-12);
        assert!((s.lr_at(9) - 1.0).abs() < 1e-12);
        assert!((s.lr_at(10) - 1.0).abs() < 1e-12);
        // Half-way through the decay the cosine factor is one half.
        assert!((s.lr_at(55) - (0.1 + 0.9 * 0.5)).abs() < 1e-12);
        assert!((s.lr_at(100) - 0.1).abs() < 1e-12);
        for step in 10..100 {
            assert!(s.lr_at(step + 1) <= s.lr_at(step));
        }
    }

    #[test]
    fn one_step_run() {
        let s = LrSchedule::new(3e-3, 1, 0.02, 0.1);
        assert_eq!(s.warmup, 1);
        assert!((s.lr_at(0) - 3e-3).abs() < 1e-15);
    }
}
