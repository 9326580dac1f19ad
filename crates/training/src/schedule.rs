//! Learning-rate schedules: linear warmup, then cosine decay, or a constant rate with a final
//! linear cooldown (warmup-stable-decay). Pure functions of the step, so they need no state in
//! a checkpoint.

use serde::{Deserialize, Serialize};

/// The shape after warmup.
///
/// Deserialised through [`scalinglab_data::deserialize_tagged!`] rather than serde's
/// `tag = "kind"`, so that a wrong value (`cooldown_frac = "much"`) is reported at its field and
/// line; `Serialize` writes the same format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ScheduleKind {
    /// Cosine decay from the peak to `peak × min_ratio` at the last step.
    #[default]
    Cosine,
    /// The peak held constant, then a linear cooldown to `peak × min_ratio` over the last
    /// `cooldown_frac` of the steps (Hägele et al. 2024: matches cosine at each length).
    ConstantCooldown {
        /// Fraction of the run's steps spent cooling down. Default in configs: 0.2.
        cooldown_frac: f64,
    },
}

scalinglab_data::deserialize_tagged! {
    ScheduleKind, tag = "kind",
    expecting = "a schedule: kind = \"cosine\", or kind = \"constant_cooldown\" with cooldown_frac",
    Cosine {},
    ConstantCooldown { cooldown_frac: f64 },
}

/// Linear warmup from 0 to `peak` over the first `warmup` steps, then cosine decay (or a
/// constant rate and a final cooldown, see [`ScheduleKind`]) to `peak * min_ratio` at the last
/// step.
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
    /// Shape after warmup.
    pub kind: ScheduleKind,
}

impl LrSchedule {
    /// A schedule whose warmup is `warmup_frac` of `total` steps, at least one step.
    pub fn new(peak: f64, total: u64, warmup_frac: f64, min_ratio: f64) -> Self {
        let warmup = ((warmup_frac * total as f64).round() as u64).clamp(1, total.max(1));
        Self { peak, warmup, total, min_ratio, kind: ScheduleKind::Cosine }
    }

    /// The same schedule with another shape after warmup.
    pub fn with_kind(mut self, kind: ScheduleKind) -> Self {
        self.kind = kind;
        self
    }

    /// Learning rate at optimisation step `step` (0-based).
    pub fn lr_at(&self, step: u64) -> f64 {
        if step < self.warmup {
            return self.peak * (step + 1) as f64 / self.warmup as f64;
        }
        if let ScheduleKind::ConstantCooldown { cooldown_frac } = self.kind {
            let cool = ((cooldown_frac * self.total as f64).round() as u64).max(1);
            let start = self.total.saturating_sub(cool).max(self.warmup);
            if step < start {
                return self.peak;
            }
            let progress =
                ((step - start + 1) as f64 / (self.total - start).max(1) as f64).min(1.0);
            return self.peak * (1.0 - (1.0 - self.min_ratio) * progress);
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
    fn constant_then_linear_cooldown() {
        let s = LrSchedule::new(1.0, 100, 0.1, 0.0)
            .with_kind(ScheduleKind::ConstantCooldown { cooldown_frac: 0.2 });
        assert!((s.lr_at(9) - 1.0).abs() < 1e-12);
        assert_eq!(s.lr_at(50), 1.0);
        assert_eq!(s.lr_at(79), 1.0);
        assert!((s.lr_at(80) - 0.95).abs() < 1e-12); // first cooldown step
        assert!((s.lr_at(89) - 0.5).abs() < 1e-12);
        assert!(s.lr_at(99).abs() < 1e-12); // reaches min_ratio × peak at the last step
    }

    #[test]
    fn schedule_errors_name_the_field_and_the_line() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Train {
            schedule: ScheduleKind,
        }
        let ok: Train =
            toml::from_str("[schedule]\nkind = \"constant_cooldown\"\ncooldown_frac = 0.2\n")
                .unwrap();
        assert_eq!(ok.schedule, ScheduleKind::ConstantCooldown { cooldown_frac: 0.2 });
        let ok: Train = toml::from_str("schedule = { kind = \"cosine\" }\n").unwrap();
        assert_eq!(ok.schedule, ScheduleKind::Cosine);
        let back: Train =
            toml::from_str(&format!("[schedule]\n{}", toml::to_string(&ok.schedule).unwrap()))
                .unwrap();
        assert_eq!(back.schedule, ScheduleKind::Cosine);
        let text = "[schedule]\nkind = \"constant_cooldown\"\ncooldown_frac = \"much\"\n";
        let e = toml::from_str::<Train>(text).unwrap_err().to_string();
        // The toml crate lists `cooldown_frac` before `kind`: the field is named (at its table).
        assert!(e.contains("[schedule]") && e.contains("`cooldown_frac`"), "{e}");
        assert!(e.contains("invalid type: string \"much\""), "{e}");
        let e = toml::from_str::<Train>("[schedule]\nkind = \"linear\"\n").unwrap_err().to_string();
        assert!(
            e.contains("line 2") && e.contains("linear") && e.contains("constant_cooldown"),
            "{e}"
        );
        let e = toml::from_str::<Train>("[schedule]\nkind = \"cosine\"\nfrac = 1\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `frac`"), "{e}");
    }

    #[test]
    fn one_step_run() {
        let s = LrSchedule::new(3e-3, 1, 0.02, 0.1);
        assert_eq!(s.warmup, 1);
        assert!((s.lr_at(0) - 3e-3).abs() < 1e-15);
    }
}
