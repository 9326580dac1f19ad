//! Verdicts: whether a prediction and a measurement agree, said only when it can be said.
//!
//! Every "agrees" a report prints comes from [`compare`], which checks, in this order:
//!
//! 1. **Preconditions** of the theory being tested (each a [`Precondition`]: a statement and
//!    whether it holds). Any that fails gives [`Verdict::NotTestable`], naming it.
//! 2. **Finite estimates and intervals.** Otherwise also "not testable".
//! 3. **Resolution.** An interval whose half-width exceeds `max_relative_half_width` times
//!    the magnitude of its value agrees with almost anything; the verdict is
//!    [`Verdict::NotResolved`] rather than a hollow "agrees".
//! 4. **The difference.** With each interval read as a normal 95% interval (its half-width on
//!    the side facing the other value, divided by 1.96, is a standard error), the difference
//!    has standard error `√(s_p² + s_m²)`; the two agree when `|p − m| ≤ 1.96 · s`, at the 95%
//!    level, and disagree otherwise. (Overlap of two 95% intervals, the rule this replaces, is a
//!    test at about the 99.4% level: it calls too much "agreement".)
//!
//! When the prediction and measurement estimate the same value, [`compare`] says "agrees" in
//! about 95% of repeats; the coverage test in this module checks it by simulation.

use serde::{Deserialize, Serialize};

/// z for a two-sided 95% normal interval.
const Z95: f64 = 1.959_963_984_540_054;

/// An estimate with its 95% interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// The value.
    pub value: f64,
    /// Lower end of the 95% interval.
    pub lo: f64,
    /// Upper end of the 95% interval.
    pub hi: f64,
}

impl Estimate {
    /// `value ± half_width` (a symmetric 95% interval).
    pub fn symmetric(value: f64, half_width: f64) -> Estimate {
        Estimate { value, lo: value - half_width, hi: value + half_width }
    }

    /// An estimate with an interval `(lo, hi)`, or with no interval (`None`: infinite width).
    pub fn with_interval(value: f64, interval: Option<(f64, f64)>) -> Estimate {
        let (lo, hi) = interval.unwrap_or((f64::NEG_INFINITY, f64::INFINITY));
        Estimate { value, lo, hi }
    }

    fn finite(&self) -> bool {
        self.value.is_finite() && self.lo.is_finite() && self.hi.is_finite() && self.lo <= self.hi
    }

    /// The larger half-width of the interval.
    pub fn half_width(&self) -> f64 {
        (self.hi - self.value).max(self.value - self.lo)
    }

    /// Standard error on the side facing `other`.
    fn se_towards(&self, other: f64) -> f64 {
        let half = if other >= self.value { self.hi - self.value } else { self.value - self.lo };
        half.max(0.0) / Z95
    }
}

/// A condition the theory needs, and whether the data meet it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Precondition {
    /// What must hold, e.g. "the context horizon n*(P) stays inside the context (128)".
    pub statement: String,
    /// Whether it holds.
    pub holds: bool,
    /// What was measured, e.g. "n*(2^20) = 887".
    pub measured: String,
}

impl Precondition {
    /// A precondition.
    pub fn new(statement: impl Into<String>, holds: bool, measured: impl Into<String>) -> Self {
        Precondition { statement: statement.into(), holds, measured: measured.into() }
    }
}

/// The outcome of a comparison.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Verdict {
    /// Prediction and measurement agree at the 95% level, each resolved.
    Agrees,
    /// They differ by more than their combined 95% uncertainty.
    Disagrees,
    /// An interval is too wide for the comparison to mean anything (the reason says which).
    NotResolved(String),
    /// A precondition fails, or an estimate is missing (the reason says which).
    NotTestable(String),
}

impl Verdict {
    /// The verdict in two words, for a table cell (the reason goes beside the table).
    pub fn short(&self) -> &'static str {
        match self {
            Verdict::Agrees => "agrees (95%)",
            Verdict::Disagrees => "disagrees (95%)",
            Verdict::NotResolved(_) => "not resolved",
            Verdict::NotTestable(_) => "not testable",
        }
    }

    /// Whether the comparison was resolved (agrees or disagrees).
    pub fn is_resolved(&self) -> bool {
        matches!(self, Verdict::Agrees | Verdict::Disagrees)
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verdict::Agrees => write!(f, "agrees (95%)"),
            Verdict::Disagrees => write!(f, "disagrees (95%)"),
            Verdict::NotResolved(why) => write!(f, "not resolved: {why}"),
            Verdict::NotTestable(why) => write!(f, "not testable: {why}"),
        }
    }
}

/// How strict [`compare`] is about resolution.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VerdictOptions {
    /// An interval whose half-width exceeds this fraction of its value's magnitude is "not
    /// resolved". Default 0.5.
    pub max_relative_half_width: f64,
}

impl Default for VerdictOptions {
    fn default() -> Self {
        VerdictOptions { max_relative_half_width: 0.5 }
    }
}

/// The verdict on `predicted` against `measured` under `preconditions` (see the module
/// documentation for the rules).
pub fn compare(
    predicted: &Estimate,
    measured: &Estimate,
    preconditions: &[Precondition],
    opts: &VerdictOptions,
) -> Verdict {
    let failed: Vec<String> = preconditions
        .iter()
        .filter(|p| !p.holds)
        .map(|p| format!("“{}” does not hold ({})", p.statement, p.measured))
        .collect();
    if !failed.is_empty() {
        return Verdict::NotTestable(failed.join("; "));
    }
    for (name, e) in [("the prediction", predicted), ("the measurement", measured)] {
        if !e.finite() {
            return Verdict::NotTestable(format!("{name} has no finite value and interval"));
        }
    }
    let limit = opts.max_relative_half_width;
    for (name, e) in [("the prediction", predicted), ("the measurement", measured)] {
        if e.half_width() > limit * e.value.abs() {
            return Verdict::NotResolved(format!(
                "{name}'s interval [{:.3}, {:.3}] is wider than ±{:.0}% of its value {:.3}",
                e.lo,
                e.hi,
                limit * 100.0,
                e.value
            ));
        }
    }
    let s = predicted.se_towards(measured.value).hypot(measured.se_towards(predicted.value));
    if (predicted.value - measured.value).abs() <= Z95 * s {
        Verdict::Agrees
    } else {
        Verdict::Disagrees
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::synth::normal;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha12Rng;

    #[test]
    fn equal_truths_agree_in_about_95_percent_of_repeats_and_different_ones_rarely() {
        let mut rng = ChaCha12Rng::seed_from_u64(7);
        let opts = VerdictOptions::default();
        let (repeats, truth) = (2000, 0.5);
        let (mut agree_same, mut agree_far) = (0, 0);
        for _ in 0..repeats {
            // Unequal standard errors, as a prediction and a measurement usually have.
            let (sp, sm) = (0.02 + 0.03 * rng.random::<f64>(), 0.05);
            let p = Estimate::symmetric(truth + sp * normal(&mut rng), Z95 * sp);
            let m = Estimate::symmetric(truth + sm * normal(&mut rng), Z95 * sm);
            agree_same += usize::from(compare(&p, &m, &[], &opts) == Verdict::Agrees);
            // Four combined standard errors apart: disagreement should be found nearly always.
            let far = truth + 4.0 * sp.hypot(sm);
            let m = Estimate::symmetric(far + sm * normal(&mut rng), Z95 * sm);
            agree_far += usize::from(compare(&p, &m, &[], &opts) == Verdict::Agrees);
        }
        let same = agree_same as f64 / repeats as f64;
        let far = agree_far as f64 / repeats as f64;
        eprintln!(
            "verdict: agrees {same:.3} of repeats at equal truth (nominal 0.95), {far:.3} at 4 s apart"
        );
        assert!((0.93..=0.97).contains(&same), "{same}");
        assert!(far < 0.1, "{far}");
    }

    #[test]
    fn a_failed_precondition_or_a_wide_interval_is_never_agreement() {
        let opts = VerdictOptions::default();
        let p = Estimate::symmetric(0.3, 0.03);
        let m = Estimate::symmetric(0.31, 0.03);
        assert_eq!(compare(&p, &m, &[], &opts), Verdict::Agrees);
        let pre = [
            Precondition::new("the horizon stays inside the context", false, "n* = 8770 > 128"),
            Precondition::new("γ is not at its bound", true, "H∞ = 0.4"),
        ];
        let v = compare(&p, &m, &pre, &opts);
        assert!(matches!(&v, Verdict::NotTestable(w) if w.contains("n* = 8770")), "{v}");
        let wide = Estimate::symmetric(0.31, 0.2);
        assert!(matches!(compare(&p, &wide, &[], &opts), Verdict::NotResolved(_)));
        let none = Estimate::with_interval(0.31, None);
        assert!(matches!(compare(&p, &none, &[], &opts), Verdict::NotTestable(_)));
        let nan = Estimate::symmetric(f64::NAN, 0.1);
        assert!(matches!(compare(&nan, &m, &[], &opts), Verdict::NotTestable(_)));
        assert_eq!(compare(&p, &Estimate::symmetric(0.5, 0.03), &[], &opts), Verdict::Disagrees);
    }
}
